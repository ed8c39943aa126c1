// Package controller holds sfn-rollout's use cases — prepare, register, advance, rollback,
// finalize, control, and deploy for CloudFormation — over small ports that internal/awsapi
// implements.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Config is what the controller needs besides its ports.
type Config struct {
	// TickRate is the schedule expression of each rollout's tick, rate(1 minute) on AWS.
	TickRate string
	// MinInterval is the shortest policy interval accepted (1m on AWS, where a tick is a
	// minute; local mode's virtual clock allows less).
	MinInterval time.Duration
	// DedupeTTL is how long an upload is remembered.
	DedupeTTL time.Duration
	// AliasWriteWindow bounds every alias write in time: the write, with its pre-check and
	// any SDK retries, runs under this deadline, so a write checked at t lands before t+W or
	// not at all. A lock is released only a whole window after its rollout's record was
	// fenced (see fence and releaseAlias). Zero is DefaultAliasWriteWindow.
	AliasWriteWindow time.Duration
	// SweepShards is how many sweep schedules split the running rollouts (zero:
	// topology.DefaultSweepShards); SweepWorkers how many rollouts one sweep ticks at once
	// (zero: 8; 1 ticks them one after another, in order).
	SweepShards  int
	SweepWorkers int
	// DriftReads is the sweep's drift budget: how many aliases (with their tags) it reads a
	// tick to find hand changes (zero: DefaultDriftReads). DriftEvery, when more than 1,
	// reads each rollout's alias at most every DriftEvery ticks even within the budget.
	DriftReads int
	DriftEvery int
	// Bucket is the artifacts bucket, where Deploy puts the definitions CloudFormation
	// hands over; only the deploy function needs it.
	Bucket string
}

// DefaultDriftReads is the sweep's drift budget: 10 DescribeStateMachineAlias (and 10
// ListTagsForResource) a minute, a sixth of each bucket's refill of 60 a minute.
const DefaultDriftReads = 10

// DefaultAliasWriteWindow is the alias write window on AWS.
const DefaultAliasWriteWindow = 5 * time.Second

// Ports are the controller's dependencies.
type Ports struct {
	StateMachines StateMachines
	Aliases       Aliases
	Alarms        Alarms
	Metrics       Metrics
	Rollouts      Rollouts
	Locks         Locks
	Queues        Queues
	AlarmGuards   AlarmGuards
	Uploads       Uploads
	Sweeps        Sweeps
	Artifacts     Artifacts
	Schedules     Schedules
	Tasks         Tasks
	Events        Events
	Clock         Clock
	Log           *slog.Logger
	// Sleep waits between retries; nil is the wall clock. Tests pass one that moves their
	// fake clock instead, so that retries neither slow them nor depend on the machine.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter picks the wait before a retry of a throttled call, between 0 and d (full
	// jitter); nil draws it at random. Tests pass one that draws from their seed.
	Jitter func(d time.Duration) time.Duration
}

// Controller runs the use cases.
type Controller struct {
	cfg Config
	// tick is the period of TickRate; half of it is the slack of a hold (Observation.Slack).
	tick time.Duration
	Ports
}

// New checks the configuration and the ports; it does no I/O.
func New(cfg Config, p Ports) (*Controller, error) {
	if cfg.TickRate == "" {
		cfg.TickRate = topology.DefaultTickRate
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Minute
	}
	if cfg.DedupeTTL <= 0 {
		cfg.DedupeTTL = 8 * 24 * time.Hour // topology.DefaultDedupeTTL
	}
	if cfg.AliasWriteWindow <= 0 {
		cfg.AliasWriteWindow = DefaultAliasWriteWindow
	}
	if cfg.SweepShards <= 0 {
		cfg.SweepShards = topology.DefaultSweepShards
	}
	if cfg.SweepWorkers <= 0 {
		cfg.SweepWorkers = 8
	}
	if cfg.DriftReads <= 0 {
		cfg.DriftReads = DefaultDriftReads
	}
	if p.Clock == nil {
		p.Clock = wallClock{}
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Sleep == nil {
		p.Sleep = budget.WallClock{}.Sleep // the wall clock, as the budget's
	}
	if p.Jitter == nil {
		p.Jitter = fullJitter
	}
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Interface && f.IsNil() {
			return nil, fmt.Errorf("controller: port %s is not set", v.Type().Field(i).Name)
		}
	}
	tick, err := RatePeriod(cfg.TickRate)
	if err != nil {
		return nil, fmt.Errorf("controller: tick rate: %w", err)
	}
	return &Controller{cfg: cfg, tick: tick, Ports: p}, nil
}

// RatePeriod reads the period of a schedule expression "rate(N minute|minutes|hour|hours|day|days)".
func RatePeriod(expr string) (time.Duration, error) {
	var n int
	var unit string
	if _, err := fmt.Sscanf(expr, "rate(%d %s", &n, &unit); err != nil || n < 1 || !strings.HasSuffix(unit, ")") {
		return 0, fmt.Errorf("%q is not rate(N minute|minutes|hour|hours|day|days)", expr)
	}
	switch strings.TrimSuffix(unit, ")") {
	case "minute", "minutes":
		return time.Duration(n) * time.Minute, nil
	case "hour", "hours":
		return time.Duration(n) * time.Hour, nil
	case "day", "days":
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("%q is not rate(N minute|minutes|hour|hours|day|days)", expr)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now().UTC() }

func (c *Controller) now() time.Time { return c.Clock.Now().UTC() }

func (c *Controller) logFor(r rollout.Rollout) *slog.Logger {
	return c.Log.With("rollout_id", r.ID, "state_machine", r.StateMachineName, "alias", r.AliasName, "step", r.StepIndex)
}

// maxAttempts bounds the reload-and-decide loop when a concurrent writer moves the record.
const maxAttempts = 5

// commit saves a decision's record, records it in the audit trail, moves the alias, and
// tells the controller state machine when the rollout has ended. The record is written
// first: it is the intent, and a crash before the alias update is repaired by the next
// tick. It returns ErrConflict when another writer came first.
func (c *Controller) commit(ctx context.Context, prev rollout.Rollout, d rollout.Decision, actor string) (rollout.Rollout, error) {
	if prev.Phase.Terminal() {
		// Only the writer of the decision itself hands a far turn to a continuation, which
		// writes without reading as that writer does; a repair of an ended rollout read the
		// alias when its turn came, and a continuation would write long after that read.
		ctx = budget.WithoutHandOver(ctx)
	}
	d.Next = withOwedEvent(prev, rollout.WithIntent(prev, d.Next, c.now()), d)
	d.Next.Decided = &rollout.Decided{Rev: d.Next.Rev + 1, At: d.Next.UpdatedAt, Actor: actor, Action: d.Action, Reason: d.Reason}
	if d.SetAlias && d.Next.CandidateWeight == 0 {
		// A rollback's writer retries its write for the rest of its invocation: until then
		// the sweep and Finalize leave it to it (WriterUntil).
		d.Next.WriterUntil = c.writerUntil(ctx)
	}
	saved, err := c.Rollouts.SaveRollout(ctx, d.Next)
	if err != nil {
		return prev, fmt.Errorf("save rollout %s: %w", prev.ID, err)
	}
	log := c.logFor(saved)
	log.InfoContext(ctx, "decision", "action", d.Action, "phase", saved.Phase, "candidate_weight", saved.CandidateWeight, "reason", d.Reason, "actor", actor)
	ev, _ := auditLine(saved)
	rollback := d.SetAlias && saved.CandidateWeight == 0
	if !rollback {
		if err := c.appendEvent(ctx, saved.ID, ev); err != nil {
			// Every weight the alias takes is in the audit trail: a step whose line could
			// not be written is not applied. The record holds it, the alias stays at the
			// step before, and the next tick repairs the alias with a line of its own.
			return saved, transient(fmt.Errorf("audit %s of rollout %s: %w", d.Action, saved.ID, err))
		}
	}
	if rollback {
		// A rollback never waits on its audit line: the alias first, then the line, whatever
		// the alias write answered.
		// Its line is then worth the rest of the invocation's time (Finalize writes it
		// again, should even that fail).
		defer func() {
			if err := c.appendEventWithin(ctx, saved.ID, ev, retryBudget(ctx)); err != nil {
				log.ErrorContext(ctx, "append audit event of a rollback", "err", err)
			}
		}()
	}
	overtaken, confirmed, applied := false, false, saved
	if d.SetAlias {
		var err error
		applied, err = c.setAlias(ctx, saved, saved.Rev)
		if errors.Is(err, errHandedOver) {
			// The write is a continuation's, at the turn this writer kept: the decision is
			// done, and owes its events; the alias is confirmed when the continuation writes.
			c.announce(ctx, prev, saved, d)
			if saved.Phase.Terminal() && !prev.Phase.Terminal() {
				c.sendOutcome(ctx, saved)
			}
			return saved, nil
		}
		if err != nil && !saved.WriterUntil.IsZero() {
			// This writer gives up: the repairers need not wait for it.
			c.releaseWriter(ctx, saved)
		}
		if err != nil {
			if ErrorCode(err) == ELockLost && saved.Phase.Terminal() && !prev.Phase.Terminal() {
				// The alias is another rollout's: this one ends without writing it, and
				// its progress wait must still hear so.
				c.sendOutcome(ctx, saved)
			}
			return saved, err
		}
		// Another writer changed the intent while the alias was updated. When it took the
		// rollout back (an alarm's rollback, an abort), this step is undone and must not be
		// announced after it; when it only moved on (a concurrent tick), this step did
		// happen, and the other writer announces only its own.
		overtaken = applied.Rev != saved.Rev && undone(saved, applied)
		// The alias holds applied's routing. It is this decision's intent when no newer
		// revision came, or when the newer one only saved something else (a report after the
		// end, a token): confirmed on applied all the same, so that the writer's claim
		// (WriterUntil) does not hold Finalize and the sweep back after the write is done.
		confirmed = sameIntent(applied, saved)
	}
	announced := ""
	if !overtaken {
		announced = c.announce(ctx, prev, saved, d)
	}
	if saved.Phase.Terminal() && !prev.Phase.Terminal() {
		c.sendOutcome(ctx, saved)
	}
	if confirmed {
		// The write landed and no newer intent came meanwhile: sweeps take the alias to be
		// at this intent from now on, without reading it; its event, put, is owed no more.
		saved = c.confirm(ctx, applied, true, announced)
	} else if announced != "" && !d.SetAlias {
		// A decision that writes no alias (a blue/green start at 0%, a pause) owes its
		// event no more once it is put.
		saved = c.confirm(ctx, saved, false, announced)
	}
	return saved, nil
}

// writerUntil is when an invocation running under ctx stops retrying its alias write (its
// deadline less the reserve it keeps to answer), on the controller's clock; zero without a
// deadline. Local mode's clock runs faster than the wall clock its deadlines are in.
func (c *Controller) writerUntil(ctx context.Context) time.Time {
	if _, ok := ctx.Deadline(); !ok {
		return time.Time{}
	}
	return c.now().Add(c.onClock(retryBudget(ctx)))
}

// writeWindow is the alias write window (wall time) as a span of the controller's clock,
// for comparing with the records' and the alias's times.
func (c *Controller) writeWindow() time.Duration { return c.onClock(c.cfg.AliasWriteWindow) }

// onClock is the span of the controller's clock that wall time d takes (real's inverse):
// d itself, except in local mode, whose clock runs faster. A wall-time bound (the alias
// write window) is compared with the records' and the alias's times through it.
func (c *Controller) onClock(d time.Duration) time.Duration {
	const span = 24 * time.Hour // long, so that real's rounding to the nanosecond is lost
	if real := c.real(span); real > 0 && real != span {
		return time.Duration(float64(d) * float64(span) / float64(real))
	}
	return d
}

// real is the wall time that d takes on the controller's clock: d itself, except in local
// mode, whose clock runs faster. Waits (the Sleep port) and deadlines are wall time.
func (c *Controller) real(d time.Duration) time.Duration {
	if r, ok := c.Clock.(interface {
		Real(time.Duration) time.Duration
	}); ok {
		return r.Real(d)
	}
	return d
}

// releaseWriter clears the WriterUntil that saved set, unless the record moved since: a
// writer that stops trying says so, so that Finalize and the sweep do not wait out its
// time. It is bookkeeping: a failure only makes them wait.
func (c *Controller) releaseWriter(ctx context.Context, saved rollout.Rollout) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r, err := c.Rollouts.GetRollout(ctx, saved.ID)
	if err != nil || !r.WriterUntil.Equal(saved.WriterUntil) {
		return
	}
	r.WriterUntil = time.Time{}
	if _, err := c.Rollouts.SaveRollout(ctx, r); err != nil {
		c.logFor(r).DebugContext(ctx, "release the alias writer's claim", "err", err)
	}
}

// writerBusy reports whether r's intent is not on the alias yet and the invocation that
// saved it is still trying to put it there (WriterUntil).
func (c *Controller) writerBusy(r rollout.Rollout) bool {
	return !r.Confirmed() && c.now().Before(r.WriterUntil)
}

// continuationHolds reports whether a continuation holds r's rollback turn (HandedTurn)
// and is still its writer (writerBusy).
func (c *Controller) continuationHolds(r rollout.Rollout) bool {
	return !r.HandedTurn.IsZero() && c.writerBusy(r)
}

// awaitWriter waits, reading only the record, while r's own writer is busy (writerBusy),
// for at most half of what is left of ctx's time: after a storm of rollbacks, Finalize
// repairs only the writes that did not land, and reads no alias for the others. It returns
// the newest record read.
func (c *Controller) awaitWriter(ctx context.Context, r rollout.Rollout) rollout.Rollout {
	patience := retryBudget(ctx) / 2
	if c.continuationHolds(r) && r.WriterUntil.Sub(c.now()) > patience {
		// A continuation holds a turn further away than this invocation would wait:
		// waiting would only hold a slot of the account's concurrency; the caller comes
		// back later.
		return r
	}
	// The reads back off (1 s, 2 s, … 15 s) and come right after the writer's time ends:
	// after a storm, a thousand Finalizes wait at once, and a read a second each would be
	// a thousand reads a second of the table for nothing (the writers are waiting for
	// their turns).
	poll := time.Second
	for c.writerBusy(r) && patience > 0 {
		// WriterUntil is on the controller's clock; the wait is wall time.
		wait := min(poll, patience, c.real(max(r.WriterUntil.Sub(c.now()), 0))+100*time.Millisecond)
		poll = min(2*poll, awaitWriterPollMax)
		if err := c.Sleep(ctx, wait); err != nil {
			return r
		}
		patience -= wait
		latest, err := c.Rollouts.GetRollout(ctx, r.ID)
		if err != nil {
			return r
		}
		r = latest
	}
	return r
}

// awaitWriterPollMax is the longest wait between awaitWriter's reads of the record.
const awaitWriterPollMax = 15 * time.Second

// auditLine is the audit trail's line of the decision that wrote r, if r says which.
// Saves that are no decision (closing the fence, recording a test alias, a task token) keep
// the weights and the phase, so the line is the same from any later revision; its Seq is
// the rev of the decision.
func auditLine(r rollout.Rollout) (Event, bool) {
	d := r.Decided
	if d == nil || d.Rev > r.Rev {
		return Event{}, false
	}
	return Event{
		Seq: d.Rev, Time: d.At, Actor: d.Actor, Action: string(d.Action),
		Phase: r.Phase, StepIndex: r.StepIndex, CandidateWeight: r.CandidateWeight, Reason: d.Reason,
	}, true
}

// auditAttempts bounds the tries of one audit line: DynamoDB's 5xx and throttling pass.
const auditAttempts = 4

// appendEvent writes one audit line, retried with backoff: the write is idempotent (the
// line's Seq is the record's rev).
func (c *Controller) appendEvent(ctx context.Context, id string, e Event) error {
	var err error
	for i := range auditAttempts {
		if err = c.Rollouts.AppendEvent(ctx, id, e); err == nil || i == auditAttempts-1 {
			break
		}
		if err := c.backoff(ctx, i); err != nil {
			return err
		}
	}
	return err
}

// note sets r's Noted line, for the save of r that follows: its Seq is the rev that save
// makes.
func note(r *rollout.Rollout, at time.Time, actor, action, reason string) {
	r.Noted = &Event{Seq: r.Rev + 1, Time: at, Actor: actor, Action: action, Phase: r.Phase, StepIndex: r.StepIndex, CandidateWeight: r.CandidateWeight, Reason: reason}
}

// writeNoted writes r's Noted line (see rollout.Rollout.Noted), retried as appendEvent
// does. An error is Transient: the step's retry writes the line.
func (c *Controller) writeNoted(ctx context.Context, r rollout.Rollout) error {
	if r.Noted == nil {
		return nil
	}
	if err := c.appendEvent(ctx, r.ID, *r.Noted); err != nil {
		return transient(fmt.Errorf("audit line %s of %s: %w", r.Noted.Action, r.ID, err))
	}
	return nil
}

// appendEventWithin writes one audit line, retried with backoff for as long as budget lasts.
func (c *Controller) appendEventWithin(ctx context.Context, id string, e Event, budget time.Duration) error {
	for i := 0; ; i++ {
		err := c.Rollouts.AppendEvent(ctx, id, e)
		wait := backoffDelay(i)
		if err == nil || wait > budget {
			return err
		}
		budget -= wait
		if err := c.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// setAlias moves the alias to the record's intent, then reads the record again: if another
// writer (an alarm's rollback, an operator) changed the intent meanwhile, its routing is
// applied too, so that the last alias update always follows the newest record. It returns
// the record whose routing the alias holds. audited is the rev whose audit line the caller
// wrote; the line of any other rev put on the alias is written here (writeAlias).
func (c *Controller) setAlias(ctx context.Context, r rollout.Rollout, audited int64) (rollout.Rollout, error) {
	for range maxAttempts {
		written, err := c.updateAlias(ctx, r, audited)
		if err != nil {
			return written, err
		}
		latest, err := c.Rollouts.GetRollout(ctx, r.ID)
		if err != nil {
			// The write landed: the decision is done and owes its event. A newer intent that
			// this read would have caught is applied by its own writer or the next tick.
			c.logFor(written).WarnContext(ctx, "confirm rollout after the alias update", "err", err)
			return written, nil
		}
		if latest.Rev == written.Rev || reflect.DeepEqual(latest.Routing(), written.Routing()) {
			return latest, nil
		}
		r = latest
	}
	return r, Errorf(ETransient, "rollout %s: the record kept moving while the alias was updated", r.ID)
}

// updateAlias sets the routing of the newest record of r, fenced (writeAlias). A rollback
// (candidate at 0) is retried on throttling, with backoff, for as long as the invocation may
// run (retryBudget) instead of waiting for the next tick: rollbacks come before forward
// steps. Each retry is checked again. It returns the record whose routing it wrote.
func (c *Controller) updateAlias(ctx context.Context, r rollout.Rollout, audited int64) (rollout.Rollout, error) {
	left := time.Duration(0)
	if r.CandidateWeight == 0 {
		left = retryBudget(ctx)
	}
	var err error
	for i := 0; ; i++ {
		var written rollout.Rollout
		if written, err = c.writeAlias(ctx, r, audited); err == nil {
			return written, nil
		}
		r = written
		var late *budget.LateTurn
		if errors.As(err, &late) {
			// The turn lies beyond what this writer waits: it keeps the turn and hands it
			// to a continuation of itself (handOver), or gives it back when it cannot.
			if err := c.handOver(ctx, r, late.At); !errors.Is(err, errHandedOver) {
				return r, transient(fmt.Errorf("set alias %s to %s: %w", r.AliasArn, rollout.DescribeRouting(r.Routing()), err))
			}
			return r, errHandedOver
		}
		if !errors.Is(err, ErrThrottled) || errors.Is(err, budget.ErrExhausted) {
			// A turn beyond this invocation's time was given back: the line only grows
			// later, so another try would only reserve and give back again (in a storm,
			// hundreds of writers doing so swamp the budget's store). The next attempt —
			// the event's retry, Finalize, the sweep — takes it up.
			break
		}
		wait := backoffDelay(i)
		if wait > left {
			break
		}
		left -= wait
		if err := c.Sleep(ctx, wait); err != nil {
			return r, err
		}
	}
	if ErrorCode(err) == ELockLost {
		c.logFor(r).WarnContext(ctx, "alias write fenced off: not written", "err", err)
		return r, err
	}
	return r, transient(fmt.Errorf("set alias %s to %s: %w", r.AliasArn, rollout.DescribeRouting(r.Routing()), err))
}

// backoff waits before retry i+1: 50ms, 100ms, 200ms, …
func (c *Controller) backoff(ctx context.Context, i int) error {
	return c.Sleep(ctx, time.Duration(1<<i)*50*time.Millisecond)
}

// maxBackoff caps backoffDelay: the alias update quota refills one a second, so a longer
// wait only delays the rollback.
const maxBackoff = 2 * time.Second

// backoffDelay is the wait before retry i+1: 50ms, 100ms, 200ms, … up to maxBackoff.
func backoffDelay(i int) time.Duration {
	if i >= 6 {
		return maxBackoff
	}
	return min(time.Duration(1<<i)*50*time.Millisecond, maxBackoff)
}

// noDeadlineBudget bounds the retries of a call whose context has no deadline (a caller
// other than Lambda, which always sets one).
const noDeadlineBudget = 30 * time.Second

// retryBudget is how long retries may wait in total: what is left of the invocation's
// time, less a tenth (at least a second) kept to save and answer.
func retryBudget(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return noDeadlineBudget
	}
	left := time.Until(deadline)
	return max(0, left-answerReserve(left))
}

// answerReserve is the part of an invocation's time left that retries never take: a tenth,
// at least a second, kept to save and answer.
func answerReserve(left time.Duration) time.Duration { return max(time.Second, left/10) }

// undone reports whether a newer record took back what r did: it ended other than
// Succeeded, or lowered the candidate's weight.
func undone(r, newer rollout.Rollout) bool {
	return (newer.Phase.Terminal() && newer.Phase != rollout.Succeeded) || newer.CandidateWeight < r.CandidateWeight
}

// announce publishes the EventBridge event of a decision that changed the phase or weight
// (eventOf), and returns its detail type once put ("" for none, or a failed put). The
// outcome's event is Finalize's, once the versions are settled. A lost notification must
// not stop a rollback, so failures are logged; the event stays owed on the record
// (OwedEvent) for the next tick.
func (c *Controller) announce(ctx context.Context, prev, next rollout.Rollout, d rollout.Decision) string {
	if detailType := eventOf(prev, next, d); detailType != "" && c.putEvent(ctx, next, detailType) {
		return detailType
	}
	return ""
}

// owedAtIntent reports whether r owes an event that can be put now: the rollout runs, and
// its alias is known to be at the intent (a read found it there, or it is confirmed).
func owedAtIntent(r rollout.Rollout, atIntent bool) bool {
	return r.OwedEvent != "" && !r.Phase.Terminal() && (atIntent || r.Confirmed())
}

// putEvent puts the event detailType of r, and reports whether it was put.
func (c *Controller) putEvent(ctx context.Context, r rollout.Rollout, detailType string) bool {
	if err := c.Events.Put(ctx, detailType, eventDetail(r)); err != nil {
		c.logFor(r).ErrorContext(ctx, "put event", "detail_type", detailType, "err", err)
		return false
	}
	return true
}

// eventOf is the detail type of the event a decision from prev to next owes, or "".
func eventOf(prev, next rollout.Rollout, d rollout.Decision) string {
	switch {
	case next.Phase.Terminal():
		return ""
	case next.Phase == rollout.Paused && prev.Phase != rollout.Paused:
		return topology.DetailRolloutPaused
	case prev.Phase == rollout.Pending && next.Phase != rollout.Pending:
		return topology.DetailRolloutStarted
	case next.CandidateWeight != prev.CandidateWeight:
		return topology.DetailRolloutStep
	case repaired(prev, next, d):
		return repairedDetailType(next)
	}
	return ""
}

// withOwedEvent is next with the event the decision owes (OwedEvent): its own; none once
// the rollout has ended or its weight moved without one; else the one still owed before.
func withOwedEvent(prev, next rollout.Rollout, d rollout.Decision) rollout.Rollout {
	switch dt := eventOf(prev, next, d); {
	case dt != "":
		next.OwedEvent = dt
	case next.Phase.Terminal() || next.CandidateWeight != prev.CandidateWeight:
		next.OwedEvent = ""
	}
	return next
}

// repaired reports a decision that only sets the alias to the intent the record already
// held: the decision that moved the weight saved it but never announced it, since its alias
// update failed (throttled) or its function died before it. Its event is owed now that the
// alias has the weight.
func repaired(prev, next rollout.Rollout, d rollout.Decision) bool {
	return d.Action == rollout.ActionSetWeights && d.SetAlias && next.Phase == prev.Phase &&
		next.StepIndex == prev.StepIndex && next.CandidateWeight == prev.CandidateWeight && next.CandidateWeight != next.PreviousWeight
}

// repairedDetailType is the event the lost decision would have sent: "Rollout Started" when
// it was the rollout's first tick, which set the weight of the first step, else "Rollout Step".
func repairedDetailType(r rollout.Rollout) string {
	for i := min(r.StepIndex, len(r.Steps)) - 1; i >= 0; i-- {
		if r.Steps[i].SetWeight != nil {
			if i == 0 {
				return topology.DetailRolloutStarted
			}
			break
		}
	}
	return topology.DetailRolloutStep
}

func outcomeDetailType(p rollout.Phase) string {
	switch p {
	case rollout.Succeeded:
		return topology.DetailRolloutSucceeded
	case rollout.RolledBack:
		return topology.DetailRolloutRolledBack
	case rollout.Aborted:
		return topology.DetailRolloutAborted
	}
	return topology.DetailRolloutFailed
}

// EventDetail is the detail of every event the controller emits, with the version ARNs so
// that applications can pin them.
type EventDetail struct {
	RolloutID           string          `json:"rolloutId"`
	StateMachineArn     string          `json:"stateMachineArn"`
	StateMachine        string          `json:"stateMachine"`
	Alias               string          `json:"alias"`
	AliasArn            string          `json:"aliasArn"`
	Phase               rollout.Phase   `json:"phase"`
	StableVersionArn    string          `json:"stableVersionArn"`
	CandidateVersionArn string          `json:"candidateVersionArn"`
	Weights             rollout.Weights `json:"weights"`
	Step                int             `json:"step"`
	Steps               int             `json:"steps"`
	Reason              string          `json:"reason,omitempty"`
	Error               string          `json:"error,omitempty"`
}

func eventDetail(r rollout.Rollout) EventDetail {
	return EventDetail{
		RolloutID: r.ID, StateMachineArn: r.StateMachineArn, StateMachine: r.StateMachineName,
		Alias: r.AliasName, AliasArn: r.AliasArn, Phase: r.Phase,
		StableVersionArn: r.StableVersionArn, CandidateVersionArn: r.CandidateVersionArn,
		Weights: r.IntendedWeights(), Step: r.StepIndex, Steps: len(r.Steps), Reason: r.Reason, Error: r.ErrorName,
	}
}

// outcomeErrorName is the named error of a rollout that did not succeed: the one on the
// record (a refusal) or the one its phase ends the progress wait with.
func outcomeErrorName(r rollout.Rollout) string {
	switch {
	case r.ErrorName != "":
		return r.ErrorName
	case r.Phase == rollout.RolledBack:
		return ERolledBack
	case r.Phase == rollout.Aborted:
		return EAborted
	}
	return ERolloutFailed
}

// sendOutcome ends the controller state machine's progress wait. A token that is gone
// (the wait timed out, or the outcome was sent before) is not an error.
func (c *Controller) sendOutcome(ctx context.Context, r rollout.Rollout) {
	if r.TaskToken == "" {
		return
	}
	var err error
	switch r.Phase {
	case rollout.Succeeded:
		err = c.Tasks.Succeed(ctx, r.TaskToken, mustJSON(Outcome{RolloutID: r.ID, Phase: r.Phase, Reason: r.Reason}))
	case rollout.RolledBack:
		err = c.Tasks.Fail(ctx, r.TaskToken, ERolledBack, r.Reason)
	case rollout.Aborted:
		err = c.Tasks.Fail(ctx, r.TaskToken, EAborted, r.Reason)
	default:
		err = c.Tasks.Fail(ctx, r.TaskToken, ERolloutFailed, r.Reason)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		// The next tick sees the ended rollout and sends it again.
		c.logFor(r).ErrorContext(ctx, "send task outcome", "err", err)
	}
}

// observe reads the world for Decide: the alias, the alarms (and their history when one
// changed since the last look), the candidate's executions since traffic started, and the
// policy as the state machine's tags resolve it now.
//
// firing names an alarm that an event says is in ALARM now. It is newer than whatever
// DescribeAlarms says, and it decides alone: Decide checks the alarms before anything
// else, so nothing is read (eventObservation), and no throttled read can hold up the
// rollback's alias write. An ended rollout (the event's retry after a write that failed)
// reads the alias, so that Decide repairs it.
//
// lk is what a sweep read for many rollouts at once (nil: read everything here). Within a
// sweep the alias (DescribeStateMachineAlias, 1 a second account-wide) is read only when
// its state is in doubt — the last write of the intent is not confirmed, the rollout has
// ended — or when the sweep's drift budget picks the rollout (lk.full), which also reads
// its tags; otherwise the alias is taken to be at the intent. withAlias forces the read:
// the controller reads the alias right before every write but a rollback's. It reports
// whether the alias was read.
func (c *Controller) observe(ctx context.Context, r rollout.Rollout, firing string, lk *look, withAlias bool) (rollout.Observation, bool, error) {
	obs := rollout.Observation{Slack: c.tick / 2}
	if firing != "" && !r.Phase.Terminal() {
		return eventObservation(r, firing, obs), false, nil
	}
	// Within a sweep, an ended rollout whose outcome's write landed (confirmed) is read only
	// when the drift budget picks it (a hand change after the end is reported, and its
	// Finalize reads the alias anyway once the write window has passed), so that after a
	// storm of rollbacks the account's alias reads go to those whose write did not land.
	readAlias := lk == nil || withAlias || !r.Confirmed() || lk.full[r.ID]
	if readAlias {
		alias, at, ok := lk.seen(r.ID)
		// An ended rollout's tick (a repair, or nothing) uses its triage's read of this
		// sweep if that read came after the record's last change. A rollout that ended
		// since (an abort, a superseding upload) would be judged on the alias before its
		// end's write, which reads as a hand change after the end, or as that write lost
		// (a second write). A running one reads afresh, right before its write.
		if !ok || withAlias || !r.Phase.Terminal() || c.now().Sub(at) > c.writeWindow() || !at.After(r.UpdatedAt) {
			var err error
			if alias, err = c.Aliases.Describe(ctx, r.AliasArn); err != nil {
				return obs, false, transient(fmt.Errorf("describe alias %s: %w", r.AliasArn, err))
			}
			lk.countAliasRead()
			lk.remember(r.ID, alias, c.now())
		}
		obs.Routing = alias.Routing
		obs.AliasUpdatedAt, obs.WriteWindow = alias.UpdatedAt, c.writeWindow()
	} else {
		obs.Routing = r.Routing()
	}
	if r.Phase.Terminal() {
		return obs, readAlias, nil
	}
	if len(r.Policy.Alarms) > 0 {
		if err := c.observeAlarms(ctx, r, &obs, lk); err != nil {
			return obs, readAlias, err
		}
	}
	if r.NeedsMetrics() {
		n, err := c.candidateCounts(ctx, r, lk)
		if err != nil {
			return obs, readAlias, transient(fmt.Errorf("candidate metrics: %w", err))
		}
		obs.CandidateExecutions, obs.CandidateFailures, obs.MetricsForm = n.Closed, n.Failed, n.Form
	}
	if lk != nil && !lk.full[r.ID] {
		return obs, readAlias, nil // tags are read with the drift budget's alias reads
	}
	tags, err := c.StateMachines.Tags(ctx, r.StateMachineArn)
	if err != nil {
		return obs, readAlias, transient(fmt.Errorf("tags of %s: %w", r.StateMachineArn, err))
	}
	obs.PolicyHash = currentPolicyHash(tags, r.Layers)
	return obs, readAlias, nil
}

// currentPolicyHash resolves the policy with today's tags; a policy that no longer
// resolves gets a hash of its own, so that the rollout pauses and says so.
func currentPolicyHash(tags map[string]string, layers []rollout.Layer) string {
	tagLayer, err := rollout.ParsePolicyTags(tags)
	if err != nil {
		return "invalid"
	}
	p, err := rollout.Resolve(append([]rollout.Layer{tagLayer}, layers...)...)
	if err != nil {
		return "invalid"
	}
	return p.Hash()
}

// decideAndCommit is one tick of one rollout: read, observe, decide, commit; again if a
// concurrent writer moved the record. firing is the alarm an event reported in ALARM, or "".
func (c *Controller) decideAndCommit(ctx context.Context, id, actor, firing string) (rollout.Rollout, rollout.Decision, error) {
	return c.decideWith(ctx, id, actor, firing, nil)
}

// decideWith is decideAndCommit on what a sweep read (lk; nil reads everything). A decision
// that writes the alias, taken on an alias that was not read, is taken again on a fresh
// read of it: the controller reads the alias right before every write (but a rollback's),
// so that drift is never overwritten. An alias read that finds the intent confirms it
// (AliasConfirmed), so that later sweeps need not read it.
func (c *Controller) decideWith(ctx context.Context, id, actor, firing string, lk *look) (rollout.Rollout, rollout.Decision, error) {
	ctx = withTokenSlot(ctx)
	defer c.giveBack(ctx)
	atIntent := false
	owedPut, owed := int64(-1), "" // the revision whose owed event this tick put, and that event
	r, d, err := c.update(ctx, id, actor, func(r rollout.Rollout) (rollout.Decision, bool, error) {
		atIntent = false
		if !r.FenceClosedAt.IsZero() {
			// The alias is being given up (releaseAlias): that repairs it after its wait,
			// and no write of this rollout would pass the fence any more.
			return rollout.Decision{Action: rollout.ActionNone, Next: r, Reason: "the rollout is giving its alias up"}, false, nil
		}
		if r.Phase.Terminal() && r.CandidateVersionArn == "" {
			// Refused before it published: it never wrote the alias.
			return rollout.Decision{Action: rollout.ActionNone, Next: r, Reason: "rollout has ended " + string(r.Phase)}, false, nil
		}
		if rollbackRepair(ctx, r) {
			// The repair of a rollback whose write did not land reads the alias first (a
			// hand change after the end is never overwritten), and reads it only once its
			// turn to write has come: after a storm, the account's alias reads (one a
			// second) go to the repairs that can write next, none to one that would then
			// wait past its invocation.
			// A repair is not handed to a continuation: a continuation writes without
			// reading, as the rollback's own writer does, and a hand change made after the
			// rollout ended must not be overwritten.
			if err := c.takeTurn(budget.WithoutHandOver(ctx)); err != nil {
				return rollout.Decision{}, false, transient(fmt.Errorf("repair alias %s: %w", r.AliasArn, err))
			}
		}
		obs, read, err := c.observe(ctx, r, firing, lk, false)
		if err != nil {
			return rollout.Decision{}, false, err
		}
		if firing != "" {
			// A firing that comes as an event is never the preexisting one.
			r.PreexistingAlarms = without(r.PreexistingAlarms, firing)
		}
		d, err := rollout.Decide(r, obs, c.now())
		if err != nil {
			return d, false, wrapf(EInternal, err, "decide")
		}
		if firing == "" && !read && d.SetAlias && !isRollback(d) {
			// The write's token first, then the read: the read stays right before the
			// write however long the token took to come.
			if err := c.takeAhead(ctx, budget.UpdateStateMachineAlias); err != nil {
				return rollout.Decision{}, false, transient(fmt.Errorf("set alias %s: %w", r.AliasArn, err))
			}
			if !c.freshRead(r) {
				if obs, read, err = c.observe(ctx, r, firing, lk, true); err != nil {
					return rollout.Decision{}, false, err
				}
				if d, err = rollout.Decide(r, obs, c.now()); err != nil {
					return d, false, wrapf(EInternal, err, "decide")
				}
			}
		}
		atIntent = read && sameRouting(obs.Routing, r.Routing())
		if owedAtIntent(r, atIntent) && owedPut != r.Rev && firing == "" && !isRollback(d) {
			// The alias is at the intent whose event was never put (its write's answer was
			// lost, or the put failed): put it now, before any event of this decision. Never
			// ahead of a rollback's write, whose end makes the step's event moot.
			if c.putEvent(ctx, r, r.OwedEvent) {
				owedPut, owed = r.Rev, r.OwedEvent
			}
		}
		if owedPut == r.Rev && d.Next.OwedEvent == owed {
			d.Next.OwedEvent = ""
		}
		if firing != "" && !r.Phase.Terminal() && d.Action != rollout.ActionRollback && d.Action != rollout.ActionPause {
			// An alarm's event only ever takes a rollout back or freezes it: it read nothing
			// (the alias is taken to be at the intent, the other alarms as last seen), so
			// any step forward is the next tick's, which looks. An alarm that no longer
			// guards the rollout (a guard left by an earlier attempt of Prepare) decides
			// nothing.
			return rollout.Decision{Action: rollout.ActionNone, Next: r, Reason: "alarm " + firing + " moves nothing forward"}, false, nil
		}
		if !changed(r, d) {
			c.logFor(r).DebugContext(ctx, "wait", "reason", d.Reason)
			return d, false, nil
		}
		return d, true, nil
	})
	paid := "" // the owed event this tick put, when no decision was saved since
	if owedPut == r.Rev {
		paid = owed
	}
	if err == nil && r.FenceClosedAt.IsZero() && (atIntent && !r.Confirmed() || paid != "") {
		r = c.confirm(ctx, r, atIntent, paid)
	}
	return r, d, err
}

// FreshRead is how recent Prepare's read of the alias (AliasReadAt) must be for the first
// step to write without reading it again. Step Functions has no conditional alias update, so
// every read before a write leaves a moment in which a hand change is overwritten; this
// makes that moment at most FreshRead for a first step, and lets a burst of uploads cost
// one read of DescribeStateMachineAlias (one a second for the account) each instead of two.
const FreshRead = 10 * time.Second

// freshRead reports whether r's alias was read at r's intent within FreshRead.
func (c *Controller) freshRead(r rollout.Rollout) bool {
	return r.Confirmed() && !r.AliasReadAt.IsZero() && c.now().Sub(r.AliasReadAt) <= FreshRead
}

// rollbackRepair reports whether a tick of r at ctx's priority repairs a rollback whose
// write did not land: r ended with its candidate at 0 and the alias unconfirmed.
func rollbackRepair(ctx context.Context, r rollout.Rollout) bool {
	return budget.PriorityOf(ctx) == budget.Rollback && r.Phase.Terminal() && r.CandidateWeight == 0 && !r.Confirmed()
}

// isRollback reports whether a decision takes the candidate's traffic away.
func isRollback(d rollout.Decision) bool {
	return d.Action == rollout.ActionRollback || d.SetAlias && d.Next.CandidateWeight == 0
}

// confirm records that the alias is at r's intent (AliasConfirmed). A save that came first
// and kept the intent (a report after the end, a token) gets the confirmation on its newer
// record. A newer intent, or a failed save, leaves it unconfirmed: the next sweep then reads
// the alias, and a rollback writer's claim (WriterUntil) stands until it runs out, which
// holds Finalize and the sweep back. It returns the record as saved, or r.
//
// seen is false when only the owed event was put (announced) on an intent already
// confirmed: the save then clears OwedEvent and confirms nothing.
func (c *Controller) confirm(ctx context.Context, r rollout.Rollout, seen bool, announced string) rollout.Rollout {
	weight := r.CandidateWeight
	current := r
	for range maxAttempts {
		next := current
		if seen {
			next.AliasConfirmed, next.AliasConfirmedAt = &weight, c.now()
		}
		if announced != "" && next.OwedEvent == announced {
			next.OwedEvent = ""
		}
		saved, err := c.Rollouts.SaveRollout(ctx, next)
		if err == nil {
			return saved
		}
		if !errors.Is(err, ErrConflict) {
			c.logFor(r).DebugContext(ctx, "confirm the alias", "err", err)
			return r
		}
		// Another save came first (a report after the end, a token): the confirmation
		// holds on the newer record as long as that keeps the intent the alias is at.
		latest, err := c.Rollouts.GetRollout(ctx, r.ID)
		if err != nil {
			c.logFor(r).DebugContext(ctx, "confirm the alias", "err", err)
			return r
		}
		if !sameIntent(latest, r) {
			return r
		}
		seen = seen && !latest.Confirmed()
		if latest.OwedEvent != announced {
			announced = ""
		}
		if !seen && announced == "" {
			return r
		}
		current = latest
	}
	return r
}

// sameIntent reports whether two revisions of a rollout hold the same intent for the alias:
// the phase, the candidate's weight and the routing. A save between them that kept it (a
// report after the end, a token) leaves a write of one a write of the other.
func sameIntent(a, b rollout.Rollout) bool {
	return a.Phase == b.Phase && a.CandidateWeight == b.CandidateWeight && sameRouting(a.Routing(), b.Routing())
}

// sameRouting reports whether two routings send the same weights to the same versions,
// whatever their order (a 0% entry counts as absent).
func sameRouting(a, b []rollout.Route) bool {
	weights := func(rs []rollout.Route) map[string]int {
		m := map[string]int{}
		for _, r := range rs {
			if r.Weight != 0 {
				m[r.VersionArn] += r.Weight
			}
		}
		return m
	}
	return reflect.DeepEqual(weights(a), weights(b))
}

// update reads a rollout, lets decide choose what comes next, and commits it; when another
// writer came first (the save lost its optimistic lock before writing anything), it reads
// again and decides again. decide answers write=false for a decision that needs no write.
func (c *Controller) update(ctx context.Context, id, actor string, decide func(rollout.Rollout) (d rollout.Decision, write bool, err error)) (rollout.Rollout, rollout.Decision, error) {
	for range maxAttempts {
		r, err := c.Rollouts.GetRollout(ctx, id)
		if err != nil {
			return r, rollout.Decision{}, c.notFound(id, err)
		}
		d, write, err := decide(r)
		if err != nil || !write {
			return r, d, err
		}
		saved, err := c.commit(ctx, r, d, actor)
		if errors.Is(err, ErrConflict) && saved.Rev == r.Rev {
			continue
		}
		return saved, d, transient(err)
	}
	return rollout.Rollout{}, rollout.Decision{}, Errorf(ETransient, "rollout %s: gave up after %d concurrent writes", id, maxAttempts)
}

// changed reports whether a decision needs a write: anything but the clock moved.
func changed(r rollout.Rollout, d rollout.Decision) bool {
	if d.SetAlias {
		return true
	}
	a, b := r, d.Next
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return !reflect.DeepEqual(a, b)
}

func (c *Controller) notFound(id string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return Errorf(ERolloutNotFound, "rollout %s does not exist", id)
	}
	return transient(fmt.Errorf("read rollout %s: %w", id, err))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}
