package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Register is called by the controller state machine's two waits. For "turn" it queues
// the upload behind the alias's active rollout; for "progress" it judges the pre-traffic
// tests, stores the task token, runs the first tick at once and creates the schedule of
// the following ticks.
//
// A throttled call is retried within the invocation (whileThrottled), then answered
// Throttled; once the rollout's deadline has passed, the rollout ends Failed instead.
func (c *Controller) Register(ctx context.Context, in RegisterInput) error {
	if in.TaskToken == "" || in.Prepare == nil || in.Prepare.RolloutID == "" {
		return &InvalidEvent{newCause(nil, "register needs taskToken and prepare.rolloutId")}
	}
	_, err := whileThrottled(ctx, c, func() string { return in.Prepare.RolloutID }, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.registerOnce(ctx, in)
	})
	return err
}

// registerOnce is one attempt of Register.
func (c *Controller) registerOnce(ctx context.Context, in RegisterInput) error {
	id := in.Prepare.RolloutID
	switch in.Wait {
	case WaitTurn:
		return c.waitTurn(ctx, id, in.TaskToken)
	case WaitProgress:
	default:
		return &InvalidEvent{newCause(nil, "register: unknown wait %q (want %q or %q)", in.Wait, WaitProgress, WaitTurn)}
	}

	r, err := c.Store.GetRollout(ctx, id)
	if err != nil {
		return c.notFound(id, err)
	}
	if r.Phase.Terminal() {
		c.sendOutcomeWith(ctx, r, in.TaskToken)
		return nil
	}
	if failed := failedTests(in.PreTraffic); len(failed) > 0 {
		_, err := c.stop(ctx, id, rollout.Failed, "PreTrafficFailed", "pre-traffic tests failed on "+rollout.VersionLabel(r.CandidateVersionArn)+": "+strings.Join(failed, "; "), "controller")
		if err != nil {
			return err
		}
		return &PreTrafficFailed{newCause(nil, "rollout %s: %s", id, strings.Join(failed, "; "))}
	}
	for i := 0; r.TaskToken != in.TaskToken; i++ {
		if i == maxAttempts {
			// Going on without the token would leave the wait with nobody to end it.
			return &Transient{newCause(nil, "store task token of %s: the record kept moving", id)}
		}
		next := r
		next.TaskToken = in.TaskToken
		saved, err := c.Store.SaveRollout(ctx, next)
		if err == nil {
			r = saved
			break
		}
		if !errors.Is(err, ErrConflict) {
			return transient(fmt.Errorf("store task token of %s: %w", id, err))
		}
		if r, err = c.Store.GetRollout(ctx, id); err != nil {
			return c.notFound(id, err)
		}
		if r.Phase.Terminal() {
			// Rolled back or aborted meanwhile (an alarm before the first tick).
			c.sendOutcomeWith(ctx, r, in.TaskToken)
			return nil
		}
	}
	if r.Policy.Strategy == rollout.BlueGreen && r.TestAliasArn == "" {
		// Whatever the phase (an operator may have paused the rollout during its
		// pre-traffic tests): the test window runs on this alias.
		if r, err = c.createTestAlias(ctx, r); err != nil {
			return err
		}
	}
	// The sweep's schedule comes before the first tick, which may end the rollout (an
	// alarm): the sweep is also the net under a Finalize that fails for good, since an
	// ended rollout stays in its index until Finalize settles it, and its tick releases
	// the alias when no Finalize came (Advance).
	if err := c.ensureSweep(ctx); err != nil {
		return err
	}
	// The first tick reads what a sweep would, without the tags: Prepare resolved the
	// policy with them a moment ago, and ListTagsForResource (1 a second for the account)
	// is what a burst of uploads' Prepares need.
	//
	// A read AWS throttled (a burst's DescribeAlarms, 9 a second for the account) is tried
	// again within half of the invocation's time, as Prepare's are: the next sweep is a
	// minute away. The budget's refusal is not: its wait would not end in time.
	_, err = retryCallWithin(ctx, c, retryBudget(ctx)/2, func() (rollout.Decision, error) {
		lk := c.look(ctx, []rollout.Rollout{r})
		clear(lk.full)
		_, d, err := c.decideWith(ctx, id, "controller", "", lk)
		return d, err
	})
	if throttling(err) {
		// The schedule exists: its tick, a minute from now, does what this one could not
		// (a tick that fails on throttling leaves its step to the next tick anyway).
		c.logFor(r).InfoContext(ctx, "first tick throttled: left to the schedule", "err", err)
		return nil
	}
	return err
}

// createTestAlias creates the BLUE_GREEN test alias, all of its traffic on the candidate,
// and records its ARN: from then on it is this rollout's to delete. It creates, never
// updates: an alias that took the name since Prepare chose it belongs to someone else, and
// the rollout fails before any traffic moved. A replay after a crash is answered by Step
// Functions with the alias created the first time (same name, description and routing).
func (c *Controller) createTestAlias(ctx context.Context, r rollout.Rollout) (rollout.Rollout, error) {
	name := r.TestAlias
	if name == "" {
		// A record prepared before Prepare chose the name.
		var err error
		if name, err = c.chooseTestAlias(ctx, r.StateMachineArn, r.AliasName, r.Policy.TestAlias); err != nil {
			return r, err
		}
	}
	description := "sfn-rollout test alias of rollout " + r.ID
	arn, err := c.createFenced(ctx, r, name, description)
	if errors.Is(err, ErrConflict) {
		reason := fmt.Sprintf("test alias %s was created by someone else after Prepare chose it: the controller moves only a test alias it created", name)
		if r, err = c.stop(ctx, r.ID, rollout.Failed, "TestAliasExists", reason, "controller"); err != nil {
			return r, err
		}
		return r, &RolloutFailed{newCause(nil, "rollout %s: %s", r.ID, reason)}
	}
	if err != nil {
		return r, transient(fmt.Errorf("create test alias %s: %w", name, err))
	}
	for range maxAttempts {
		// Recorded even when the rollout ended meanwhile, so that Finalize deletes it.
		next := r
		next.TestAlias, next.TestAliasArn, next.UpdatedAt = name, arn, c.now()
		saved, err := c.Store.SaveRollout(ctx, next)
		if err == nil {
			_ = c.Store.AppendEvent(ctx, r.ID, Event{Seq: saved.Rev, Time: saved.UpdatedAt, Actor: "controller", Action: "TestAliasCreated", Phase: saved.Phase,
				StepIndex: saved.StepIndex, CandidateWeight: saved.CandidateWeight, Reason: fmt.Sprintf("test alias %s routes 100%% to %s", name, rollout.VersionLabel(r.CandidateVersionArn))})
			return saved, nil
		}
		if !errors.Is(err, ErrConflict) {
			return r, transient(fmt.Errorf("record test alias of %s: %w", r.ID, err))
		}
		id := r.ID
		if r, err = c.Store.GetRollout(ctx, id); err != nil {
			return r, c.notFound(id, err)
		}
	}
	return r, &Transient{newCause(nil, "record test alias of %s: the record kept moving", r.ID)}
}

// createFenced creates the test alias: an alias write of the rollout like any other, so
// fenced and bounded as writeAlias is.
func (c *Controller) createFenced(ctx context.Context, r rollout.Rollout, name, description string) (string, error) {
	ctx = withTokenSlot(ctx)
	if err := c.takeAhead(ctx, budget.CreateStateMachineAlias); err != nil {
		return "", fmt.Errorf("create alias %s: %w", name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.AliasWriteWindow)
	defer cancel()
	if _, err := c.fence(wctx, r); err != nil {
		return "", err
	}
	return c.Aliases.Create(wctx, r.StateMachineArn, name, description, []rollout.Route{{VersionArn: r.CandidateVersionArn, Weight: 100}})
}

// chooseTestAlias names the BLUE_GREEN test alias at Prepare. A testAlias the policy names
// must not exist yet: the controller would otherwise move, then delete, someone else's
// alias. A derived name is "<alias>-test", or "<alias>-test-2", -3, … when that is taken,
// the alias cut so that the name fits Step Functions' 80 characters; every alias of the
// state machine (the one rolled out among them) is taken.
func (c *Controller) chooseTestAlias(ctx context.Context, stateMachineArn, alias, named string) (string, error) {
	existing, err := retryCall(ctx, c, func() ([]Alias, error) { return c.Aliases.List(ctx, stateMachineArn) })
	if err != nil {
		return "", transient(fmt.Errorf("list aliases of %s: %w", stateMachineArn, err))
	}
	taken := map[string]bool{alias: true}
	for _, a := range existing {
		taken[a.Name] = true
	}
	if named != "" {
		if taken[named] {
			return "", &TestAliasExists{newCause(nil, "policy field %q: alias %s of %s already exists; the test alias must be one the rollout creates (and deletes)", "testAlias", named, stateMachineArn)}
		}
		return named, nil
	}
	for i := 1; ; i++ {
		suffix := "-test"
		if i > 1 {
			suffix = fmt.Sprintf("-test-%d", i)
		}
		base := alias
		if len(base)+len(suffix) > maxAliasName {
			base = base[:maxAliasName-len(suffix)]
		}
		if name := base + suffix; !taken[name] {
			return name, nil
		}
	}
}

// maxAliasName is Step Functions' limit on an alias name.
const maxAliasName = 80

// failedTests lists the pre-traffic tests that did not end as they expected. A test whose
// execution failed is caught by the Map as States.TaskFailed with the child's
// DescribeExecution in the cause; any other error means the test never ran to an end
// (permissions, throttling, its timeout), which fails it whatever it expected.
func failedTests(results []TestResult) []string {
	var failed []string
	for _, t := range results {
		expect := t.Expect
		if expect == "" {
			expect = "SUCCEEDED"
		}
		status := t.Status
		if status == "" {
			status = childStatus(t)
		}
		if status == "" {
			failed = append(failed, fmt.Sprintf("%s did not run to an end (%s: %s)", t.Name, t.Error, truncate(t.Cause, 200)))
			continue
		}
		if status != expect {
			msg := fmt.Sprintf("%s ended %s, expected %s", t.Name, status, expect)
			if t.Error != "" {
				msg += " (" + t.Error + ": " + truncate(t.Cause, 200) + ")"
			}
			failed = append(failed, msg)
		}
	}
	return failed
}

// childStatus reads the status of a failed child execution from a States.TaskFailed cause.
func childStatus(t TestResult) string {
	if t.Error != "States.TaskFailed" {
		return ""
	}
	var d struct {
		Status      string `json:"Status"`
		StatusLower string `json:"status"`
	}
	if json.Unmarshal([]byte(t.Cause), &d) != nil {
		return ""
	}
	if d.Status != "" {
		return d.Status
	}
	return d.StatusLower
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// waitTurn queues a rollout behind the alias's active one. The lock may have come free
// between Prepare and now: then the turn is taken at once.
func (c *Controller) waitTurn(ctx context.Context, id, token string) error {
	r, err := c.Store.GetRollout(ctx, id)
	if err != nil {
		return c.notFound(id, err)
	}
	if err := c.Store.Enqueue(ctx, Queued{AliasArn: r.AliasArn, RolloutID: id, TaskToken: token, QueuedAt: c.now()}); err != nil {
		return transient(fmt.Errorf("queue %s: %w", id, err))
	}
	return c.wakeNext(ctx, r.AliasArn)
}

// wakeNext hands a free alias to the oldest queued upload and resumes its execution. It
// gives back only a lock it took itself just now, for the entry it took it for: an entry
// whose rollout holds the lock already is stale (its turn came before, and a Dequeue
// failed or a WaitForTurn was retried), so it is only dequeued, and the running rollout
// keeps its lock. Failures are Transient, so that the caller is retried.
func (c *Controller) wakeNext(ctx context.Context, aliasArn string) error {
	queue, err := c.Store.Queue(ctx, aliasArn)
	if err != nil {
		return transient(fmt.Errorf("read queue of %s: %w", aliasArn, err))
	}
	for _, q := range queue {
		ended, err := c.endedInQueue(ctx, aliasArn, q)
		if err != nil {
			return err
		}
		if ended {
			continue
		}
		_, acquired, err := c.Store.AcquireLock(ctx, aliasArn, q.RolloutID)
		if errors.Is(err, ErrConflict) {
			return nil // busy: the holder's finalize wakes the queue
		}
		if err != nil {
			return transient(fmt.Errorf("lock %s for queued %s: %w", aliasArn, q.RolloutID, err))
		}
		if !acquired {
			c.Log.InfoContext(ctx, "stale queue entry: its rollout holds the alias already", "rollout_id", q.RolloutID, "alias", aliasArn)
			return c.dequeue(ctx, aliasArn, q.RolloutID)
		}
		c.markWoken(ctx, q.RolloutID)
		if err := c.Tasks.Succeed(ctx, q.TaskToken, mustJSON(map[string]string{"rolloutId": q.RolloutID})); err != nil {
			// Taken just now for this entry, so it is ours to give back.
			if rerr := c.Store.ReleaseLock(ctx, aliasArn, q.RolloutID); rerr != nil {
				return transient(fmt.Errorf("give back the lock taken for %s: %w", q.RolloutID, rerr))
			}
			if !errors.Is(err, ErrNotFound) {
				// The wait may still be open: wake it on a retry.
				return transient(fmt.Errorf("wake queued %s: %w", q.RolloutID, err))
			}
			c.Log.WarnContext(ctx, "queued rollout is gone", "rollout_id", q.RolloutID, "err", err)
			if err := c.dequeue(ctx, aliasArn, q.RolloutID); err != nil {
				return err
			}
			continue
		}
		return c.dequeue(ctx, aliasArn, q.RolloutID)
	}
	return nil
}

// endedInQueue drops the queue entry of a rollout that has ended: one aborted while queued
// (its own clean-up failed) has its wait ended and a lock an earlier wake took for it (an
// AcquireLock that timed out after it succeeded) given back — it never published, so it
// never wrote the alias; one that ran has only its stale entry dropped, and a lock a wake
// took for it again given up as Finalize does.
func (c *Controller) endedInQueue(ctx context.Context, aliasArn string, q Queued) (bool, error) {
	r, err := c.Store.GetRollout(ctx, q.RolloutID)
	switch {
	case errors.Is(err, ErrNotFound):
		r = rollout.Rollout{ID: q.RolloutID, Phase: rollout.Failed}
	case err != nil:
		return false, transient(fmt.Errorf("read queued %s: %w", q.RolloutID, err))
	}
	if !r.Phase.Terminal() {
		return false, nil
	}
	if r.CandidateVersionArn != "" {
		// It ran and ended; its entry outlived it (a Dequeue that failed). A lock it holds
		// is given up the fenced way once its Finalize began to (before that, Finalize does).
		if !r.FenceClosedAt.IsZero() {
			if holds, err := c.holdsLock(ctx, r.ID, aliasArn); err != nil {
				return false, err
			} else if holds {
				if err := c.releaseAlias(ctx, r.ID, aliasArn); err != nil {
					return false, err
				}
			}
		}
		return true, c.dequeue(ctx, aliasArn, q.RolloutID)
	}
	if err := c.Tasks.Fail(ctx, q.TaskToken, outcomeErrorName(r), r.Reason); err != nil && !errors.Is(err, ErrNotFound) {
		return false, transient(fmt.Errorf("end the wait of queued %s: %w", q.RolloutID, err))
	}
	if err := c.Store.ReleaseLock(ctx, aliasArn, q.RolloutID); err != nil {
		return false, transient(fmt.Errorf("release lock of %s: %w", q.RolloutID, err))
	}
	return true, c.dequeue(ctx, aliasArn, q.RolloutID)
}

// dequeue removes a rollout's queue entries; a failure is Transient, since an entry left
// behind is woken again (and then found stale).
func (c *Controller) dequeue(ctx context.Context, aliasArn, id string) error {
	if err := c.Store.Dequeue(ctx, aliasArn, id); err != nil {
		return transient(fmt.Errorf("dequeue %s from %s: %w", id, aliasArn, err))
	}
	return nil
}

// markWoken stamps the record of a rollout whose turn came, so that the lock it now holds
// reads as fresh (see staleHolder) until its execution prepares it again.
func (c *Controller) markWoken(ctx context.Context, id string) {
	r, err := c.Store.GetRollout(ctx, id)
	if err != nil || r.Phase.Terminal() {
		return
	}
	r.UpdatedAt = c.now()
	r.Reason = "its turn came: preparing"
	r.QueuedBehind = ""
	if _, err := c.Store.SaveRollout(ctx, r); err != nil {
		c.Log.WarnContext(ctx, "stamp woken rollout", "rollout_id", id, "err", err)
	}
}

// Advance is the advance function: a sweep (t.Sweep), or one tick of one rollout.
func (c *Controller) Advance(ctx context.Context, t Tick) (Outcome, error) {
	if t.Sweep != nil {
		_, err := c.Sweep(ctx, *t.Sweep)
		return Outcome{}, err
	}
	if t.RolloutID == "" {
		return Outcome{}, &InvalidEvent{newCause(nil, "tick without rolloutId or sweep")}
	}
	return c.tickOne(ctx, t.RolloutID, nil)
}

// tickOne is one tick of one rollout, on what a sweep read (lk; nil reads everything).
func (c *Controller) tickOne(ctx context.Context, id string, lk *look) (Outcome, error) {
	r, d, err := c.decideWith(ctx, id, "controller", "", lk)
	var missing *RolloutNotFound
	if errors.As(err, &missing) {
		// A schedule of the first version that outlived its record: stop it.
		return Outcome{RolloutID: id}, c.Schedules.Delete(ctx, topology.ScheduleName(id))
	}
	if err != nil {
		return Outcome{RolloutID: id}, err
	}
	if r.Phase.Terminal() && d.Action != rollout.ActionRollback && d.Action != rollout.ActionFinish {
		// Ended before this tick, and Finalize (which settles it) has not run: the outcome
		// may not have reached the state machine (a crash after the save), so say it again.
		// If Finalize still has not come long after, its execution is gone: do what the
		// alias needs of it — release the lock, stop guarding, wake the queue — and settle.
		c.sendOutcome(ctx, r)
		if c.now().Sub(r.FinishedAt) > staleLock && !r.Settled {
			if err := c.orphaned(ctx, r); err != nil {
				return Outcome{}, err
			}
		}
	}
	return Outcome{RolloutID: r.ID, Phase: r.Phase, Reason: d.Reason}, nil
}

// orphaned cleans up after an ended rollout whose Finalize never came.
func (c *Controller) orphaned(ctx context.Context, r rollout.Rollout) error {
	c.logFor(r).WarnContext(ctx, "finalize never ran: releasing the alias", "finished_at", r.FinishedAt)
	if err := c.Store.UnguardAlarms(ctx, r.ID, r.Policy.Alarms); err != nil {
		return transient(fmt.Errorf("unguard alarms of %s: %w", r.ID, err))
	}
	holds, err := c.holdsLock(ctx, r.ID, r.AliasArn)
	if err != nil {
		return err
	}
	if holds {
		if err := c.releaseAlias(ctx, r.ID, r.AliasArn); err != nil {
			return err
		}
	}
	if err := c.wakeNext(ctx, r.AliasArn); err != nil {
		return err
	}
	if err := c.Schedules.Delete(ctx, topology.ScheduleName(r.ID)); err != nil {
		// A leftover of the first version's one schedule per rollout.
		return transient(fmt.Errorf("delete schedule of %s: %w", r.ID, err))
	}
	return c.markSettled(ctx, r.ID)
}

// RollbackResult lists what an alarm did.
type RollbackResult struct {
	Alarm    string    `json:"alarm"`
	Rollouts []Outcome `json:"rollouts"`
}

// Rollback reacts to an alarm entering ALARM: every active rollout the alarm guards is
// rolled back (or paused, with onFailure=pause) at once, without waiting for a tick.
func (c *Controller) Rollback(ctx context.Context, raw json.RawMessage) (RollbackResult, error) {
	if isContinuation(raw) {
		in, err := DecodeContinuation(raw)
		if err != nil {
			return RollbackResult{}, err
		}
		out, err := c.Continue(ctx, in)
		return RollbackResult{Rollouts: []Outcome{out}}, err
	}
	// First call on the write budget: a rollback never waits behind forward steps, and
	// hands a turn further than HandOverBeyond to a continuation of itself.
	ctx = budget.WithHandOver(budget.WithPriority(ctx, budget.Rollback), HandOverBeyond)
	_, ev, err := DecodeAlarmStateChange(raw)
	if err != nil {
		return RollbackResult{}, err
	}
	res := RollbackResult{Alarm: ev.AlarmName, Rollouts: []Outcome{}}
	if ev.State.Value != string(rollout.AlarmAlarm) {
		return res, nil
	}
	ids, err := c.Store.GuardedBy(ctx, ev.AlarmName)
	if err != nil {
		return res, transient(fmt.Errorf("rollouts guarded by %s: %w", ev.AlarmName, err))
	}
	var errs []error
	for _, id := range ids {
		r, d, err := c.rollbackOne(ctx, id, ev.AlarmName)
		var missing *RolloutNotFound
		if errors.As(err, &missing) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rollout %s: %w", id, err))
			continue
		}
		res.Rollouts = append(res.Rollouts, Outcome{RolloutID: r.ID, Phase: r.Phase, Reason: d.Reason})
	}
	if len(errs) > 0 {
		return res, transient(errors.Join(errs...))
	}
	return res, nil
}

// rollbackAttempts bounds the retries of one alarm's rollback on a Transient error (a
// throttled or failed record read or write; the alias write retries on its own): with
// backoff they span about 1.5s, since waiting for EventBridge's retry or the next tick
// would leave the candidate serving for a minute or more. They stop early when the
// invocation's time is nearly out (retryBudget), so that it still answers.
const rollbackAttempts = 6

func (c *Controller) rollbackOne(ctx context.Context, id, alarm string) (rollout.Rollout, rollout.Decision, error) {
	for i := 0; ; i++ {
		r, d, err := c.rollbackStep(ctx, id, alarm)
		if err == nil || !errors.As(err, new(*Transient)) || i == rollbackAttempts-1 || retryBudget(ctx) < backoffDelay(i) || refusedByBudget(err) {
			// A read the budget refused (an ended rollout's repair after a storm) is not
			// asked again at once: the sweep, and this event's own retry, come back for it.
			return r, d, err
		}
		c.Log.WarnContext(ctx, "rollback retried", "rollout_id", id, "alarm", alarm, "attempt", i+1, "err", err)
		if err := c.backoff(ctx, i); err != nil {
			return r, d, err
		}
	}
}

// rollbackStep decides one guarded rollout on an alarm's ALARM. A rollout that has not
// taken traffic yet (its pre-traffic tests run) is rolled back without Decide: Decide's
// first tick counts every alarm in ALARM as preexisting, and would start the rollout from
// the alarm's own event. This alarm was quiet, or already counted, when Prepare read it.
// onFailure=pause does not apply: no traffic has moved, so there are no weights to freeze.
func (c *Controller) rollbackStep(ctx context.Context, id, alarm string) (rollout.Rollout, rollout.Decision, error) {
	r, err := c.Store.GetRollout(ctx, id)
	if err != nil {
		return r, rollout.Decision{}, c.notFound(id, err)
	}
	if r.Phase.Terminal() && r.Confirmed() {
		// Ended, and its outcome's write landed: a late or repeated event has nothing to
		// do, and reads nothing (after a storm, the account's alias reads are for the
		// rollouts whose write did not land).
		return r, rollout.Decision{Action: rollout.ActionNone, Next: r, Reason: "rollout has ended " + string(r.Phase)}, nil
	}
	if r.Phase.Terminal() && c.continuationHolds(r) {
		// Ended, and a continuation holds its rollback's turn: a second writer would only
		// take a second turn. (An invocation's own writer is not waited for here: Lambda
		// retries an event only once its invocation has ended, so that writer is gone.)
		return r, rollout.Decision{Action: rollout.ActionNone, Next: r, Reason: "a continuation holds its rollback's turn"}, nil
	}
	if r.Phase != rollout.Pending {
		return c.decideAndCommit(ctx, id, "alarm:"+alarm, alarm)
	}
	reason := fmt.Sprintf("alarm %q entered ALARM before traffic moved", alarm)
	r, err = c.stop(ctx, id, rollout.RolledBack, "", reason, "alarm:"+alarm)
	return r, rollout.Decision{Action: rollout.ActionRollback, Next: r, Reason: reason}, err
}

func without(list []string, s string) []string {
	var out []string
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

// stop ends a rollout that is not over yet with the alias on stable: phase Failed,
// RolledBack or Aborted, with an error name for Failed.
func (c *Controller) stop(ctx context.Context, id string, phase rollout.Phase, errorName, reason, actor string) (rollout.Rollout, error) {
	return c.stopAs(ctx, id, phase, errorName, reason, actor, true)
}

// stopAs is stop; with holdsAlias=false (the rollout no longer holds its alias's lock) the
// record is ended without an alias write, which its fence would refuse anyway.
func (c *Controller) stopAs(ctx context.Context, id string, phase rollout.Phase, errorName, reason, actor string, holdsAlias bool) (rollout.Rollout, error) {
	r, _, err := c.update(ctx, id, actor, func(r rollout.Rollout) (rollout.Decision, bool, error) {
		if r.Phase.Terminal() {
			return rollout.Decision{}, false, nil
		}
		d := rollout.Stop(r, phase, reason, c.now())
		d.Next.ErrorName = errorName
		if r.CandidateVersionArn == "" || r.Phase == rollout.Pending || !holdsAlias {
			// Refused before a candidate existed, or stopped before its first tick (tests
			// failed, an alarm, a timeout): the alias never moved, and an update would only
			// spend the account's one alias update a second that a rollback may need.
			d.SetAlias = false
		}
		if d.SetAlias && c.setByHand(ctx, r) {
			// Someone else set the alias (the rollout paused on drift, or a hand change it
			// has not looked at yet): a timeout or a superseding upload does not take it
			// back from them (an operator's abort or an alarm does).
			d.SetAlias = false
			d.Next.Reason += "; the alias is left as it was set by hand"
			d.Reason = d.Next.Reason
		}
		return d, true, nil
	})
	return r, err
}

// setByHand reports whether the alias of a rollout being stopped was set by someone else:
// the rollout paused on drift, or the alias routes to versions that are not the rollout's.
// Stops are rare, so the one DescribeStateMachineAlias is affordable; a failed read counts
// as not by hand, so that the stop still puts the alias on stable.
func (c *Controller) setByHand(ctx context.Context, r rollout.Rollout) bool {
	if r.Phase == rollout.Paused && r.PauseKind == rollout.PauseDrift {
		return true
	}
	alias, err := c.Aliases.Describe(ctx, r.AliasArn)
	if err != nil {
		c.logFor(r).WarnContext(ctx, "stop goes on without reading the alias", "err", err)
		return false
	}
	return !r.AliasIsOwn(rollout.Observation{Routing: alias.Routing, AliasUpdatedAt: alias.UpdatedAt, WriteWindow: c.cfg.AliasWriteWindow})
}

// sendOutcomeWith answers a token other than the stored one (a retried register).
func (c *Controller) sendOutcomeWith(ctx context.Context, r rollout.Rollout, token string) {
	r.TaskToken = token
	c.sendOutcome(ctx, r)
}
