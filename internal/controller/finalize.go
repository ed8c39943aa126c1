package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Finalize runs once the progress wait is over, whatever ended it: a rollout that is not
// over yet (the wait timed out, a task failed) is failed with the alias on stable; then
// the alias is checked against the outcome, the schedule deleted, the lock released, old
// versions collected, the outcome announced, and the next queued upload woken.
//
// A throttled call is retried within the invocation (whileThrottled), then answered
// Throttled, which the controller state machine retries whatever the deadline: the
// outcome is settled by then, and only its clean-up waits.
func (c *Controller) Finalize(ctx context.Context, s State) (Outcome, error) {
	return whileThrottled(ctx, c, func() string { return "" }, func(ctx context.Context) (Outcome, error) {
		return c.finalizeOnce(ctx, s)
	})
}

// finalizeOnce is one attempt of Finalize.
func (c *Controller) finalizeOnce(ctx context.Context, s State) (Outcome, error) {
	id, err := rolloutIDOf(s)
	if err != nil {
		return Outcome{Phase: rollout.Failed, Reason: errorText(s.Error)}, nil
	}
	r, err := c.Store.GetRollout(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// Refused before a record existed (an event that is not an upload).
		return Outcome{RolloutID: id, Phase: rollout.Failed, Reason: errorText(s.Error)}, nil
	}
	if err != nil {
		return Outcome{}, transient(fmt.Errorf("read rollout %s: %w", id, err))
	}
	// Whether the rollout still holds its alias decides what is left to do. A retried
	// Finalize whose first attempt released the lock (and woke the next upload) must not
	// write the alias, nor touch the lock, which may be the next rollout's by now.
	holds, err := c.holdsLock(ctx, id, r.AliasArn)
	if err != nil {
		return Outcome{}, err
	}
	if !r.Phase.Terminal() {
		name, reason := "RolloutFailed", "the controller's wait ended without an outcome"
		if s.Error != nil {
			reason = s.Error.Error + ": " + truncate(s.Error.Cause, 500)
			switch s.Error.Error {
			case "States.Timeout":
				reason = fmt.Sprintf("timed out: the rollout ran past its deadline %s", r.Deadline.Format("2006-01-02T15:04:05Z"))
			case "Throttled":
				reason = "throttled until the controller state machine stopped retrying: " + truncate(s.Error.Cause, 500)
			}
			if s.Error.Error == "PreTrafficFailed" {
				name = "PreTrafficFailed"
			}
		}
		if r, err = c.stopAs(ctx, id, rollout.Failed, name, reason, "controller", holds); err != nil {
			return Outcome{}, err
		}
	}
	if holds && r.CandidateVersionArn != "" && r.FenceClosedAt.IsZero() {
		// Repairs an alias that a crash (or throttling) left behind the outcome. Its alias is
		// read only when the outcome's write is not confirmed: after a storm of rollbacks,
		// the account's alias reads are for those. A rollback's repair is a rollback.
		// A rollback whose own writer is still trying is left to it first (WriterUntil).
		r = c.awaitWriter(ctx, r)
		if c.continuationHolds(r) {
			// A continuation holds its turn far down a storm's line: the controller state
			// machine comes back after its delay, instead of this invocation reserving a
			// second turn, or waiting minutes in a slot of the account's concurrency.
			return Outcome{}, fmt.Errorf("%w: %w: rollout %s: its rollback's writer holds the alias until %s",
				ErrThrottled, budget.ErrExhausted, id, r.WriterUntil.Format(time.RFC3339))
		}
		pctx := budget.WithPriority(ctx, budget.Repair)
		if r.CandidateWeight == 0 {
			pctx = budget.WithPriority(ctx, budget.Rollback)
		}
		if r, _, err = c.decideWith(pctx, id, "controller", "", c.look(ctx, nil)); err != nil {
			return Outcome{}, err
		}
	}
	if ev, ok := auditLine(r); ok {
		// The outcome's line again (idempotent): a rollback writes it after the alias and
		// only logs a failure, so that the alias never waits on it.
		if err := c.appendEvent(ctx, id, ev); err != nil {
			return Outcome{}, transient(fmt.Errorf("audit the outcome of %s: %w", id, err))
		}
	}
	if err := c.Store.UnguardAlarms(ctx, id, r.Policy.Alarms); err != nil {
		return Outcome{}, transient(fmt.Errorf("unguard alarms of %s: %w", id, err))
	}
	if holds {
		// Deletes a BLUE_GREEN test alias too, once no late write can recreate it.
		if err := c.releaseAlias(ctx, id, r.AliasArn); err != nil {
			return Outcome{}, err
		}
	}
	if r.CandidateVersionArn != "" {
		if err := c.collect(ctx, r); err != nil {
			c.logFor(r).ErrorContext(ctx, "garbage-collect versions", "err", err)
		}
	}
	if err := c.Events.Put(ctx, outcomeDetailType(r.Phase), eventDetail(r)); err != nil {
		return Outcome{}, transient(fmt.Errorf("announce outcome of %s: %w", id, err))
	}
	if err := c.wakeNext(ctx, r.AliasArn); err != nil {
		return Outcome{}, err
	}
	// Last: until it is settled, the rollout is in the sweep's index, and its tick is the
	// net under a Finalize that fails for good (it releases the alias of an ended rollout
	// whose Finalize never completed, see Advance).
	if err := c.markSettled(ctx, id); err != nil {
		return Outcome{}, err
	}
	c.logFor(r).InfoContext(ctx, "finalized", "phase", r.Phase, "reason", r.Reason)
	return Outcome{RolloutID: id, Phase: r.Phase, Reason: r.Reason}, nil
}

// deleteTestAlias deletes the test alias this rollout created, and no other: not one it
// found (Prepare refuses a testAlias that exists), and never the alias rolled out.
func (c *Controller) deleteTestAlias(ctx context.Context, r rollout.Rollout) error {
	switch {
	case r.TestAliasArn == "":
		return nil
	case r.TestAliasArn == r.AliasArn:
		c.logFor(r).ErrorContext(ctx, "the record names the rolled-out alias as its test alias: not deleted", "test_alias", r.TestAliasArn)
		return nil
	}
	if err := c.Aliases.Delete(ctx, r.TestAliasArn); err != nil && !errors.Is(err, ErrNotFound) {
		return transient(fmt.Errorf("delete test alias %s of %s: %w", r.TestAliasArn, r.ID, err))
	}
	return nil
}

func rolloutIDOf(s State) (string, error) {
	if s.Prepare != nil && s.Prepare.RolloutID != "" {
		return s.Prepare.RolloutID, nil
	}
	u, err := parseUpload(s.Event)
	if err != nil {
		return "", err
	}
	return u.rollID, nil
}

func errorText(e *TaskError) string {
	if e == nil {
		return "no rollout"
	}
	return e.Error + ": " + truncate(e.Cause, 500)
}

// collect deletes the versions that no alias routes to, beyond the newest keepVersions of
// them. The versions of the state machine's active rollouts are kept too: another alias's
// candidate routes nothing while its pre-traffic tests run. A version an alias took
// meanwhile is refused by Step Functions and kept.
func (c *Controller) collect(ctx context.Context, r rollout.Rollout) error {
	ctx = budget.WithPriority(ctx, budget.GC) // last in line for the account's buckets
	versions, err := c.StateMachines.ListVersions(ctx, r.StateMachineArn)
	if err != nil {
		return err
	}
	aliases, err := c.Aliases.List(ctx, r.StateMachineArn)
	if err != nil {
		return err
	}
	active, err := c.Store.ListActive(ctx)
	if err != nil {
		return fmt.Errorf("active rollouts: %w", err)
	}
	routed := map[string]bool{r.StableVersionArn: true, r.CandidateVersionArn: true}
	for _, a := range aliases {
		for _, rt := range a.Routing {
			routed[rt.VersionArn] = true
		}
	}
	for _, o := range active {
		if o.StateMachineArn == r.StateMachineArn {
			routed[o.StableVersionArn], routed[o.CandidateVersionArn] = true, true
		}
	}
	sort.SliceStable(versions, func(i, j int) bool { return versions[i].Created.After(versions[j].Created) })
	kept := 0
	var errs []error
	for _, v := range versions {
		if routed[v.Arn] {
			continue
		}
		if kept < r.Policy.KeepVersions {
			kept++
			continue
		}
		if err := c.StateMachines.DeleteVersion(ctx, v.Arn); err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, fmt.Errorf("delete version %s: %w", v.Arn, err))
		}
	}
	return errors.Join(errs...)
}

// Control carries out an operator's command at once, not at the next tick. The request
// comes directly or as the detail of a "Rollout Control Request" event.
//
// One command, one effect: every command has an id (the request's commandId, else the
// event's id, else the Lambda request id, which Lambda keeps across its retries of one
// asynchronous invocation), and the ids a rollout applied are saved on its record with
// their answers, in the same conditional write as the command's effect. A retry finds its
// command applied or not, never half of it; an applied one is answered with its first
// answer and changes nothing, except that an alias the first attempt failed to move is set
// to the record's intent (see settle).
func (c *Controller) Control(ctx context.Context, raw json.RawMessage) (ControlResult, error) {
	req, err := decodeControl(raw)
	if err != nil {
		return ControlResult{}, err
	}
	if req.CommandID == "" {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			req.CommandID = lc.AwsRequestID
		}
	}
	if req.CommandID == "" {
		return ControlResult{}, &InvalidEvent{newCause(nil, "control request without commandId, event id or Lambda request id: a command without an id is never applied")}
	}
	var first *rollout.AppliedCommand
	if req.Command == rollout.CommandAbort {
		// An operator's abort takes traffic away: it goes with the rollbacks.
		ctx = budget.WithPriority(ctx, budget.Rollback)
	}
	saved, d, err := c.update(ctx, req.RolloutID, "operator:"+req.Actor, func(r rollout.Rollout) (rollout.Decision, bool, error) {
		if applied, ok := r.AppliedCommand(req.CommandID); ok {
			first = &applied
			return rollout.Decision{Next: r}, false, nil
		}
		routing, err := c.liveRouting(ctx, r, req.Command)
		if err != nil {
			return rollout.Decision{}, false, err
		}
		d, err := rollout.ApplyObserved(r, req.Command, routing, c.now())
		if err != nil {
			var ce *rollout.CommandError
			if errors.As(err, &ce) {
				return d, false, &CommandRejected{newCause(err, "")}
			}
			return d, false, &Internal{newCause(err, "apply %s", req.Command)}
		}
		if req.Reason != "" {
			d.Reason += ": " + req.Reason
		}
		d.Reason = fmt.Sprintf("%s (by %s)", d.Reason, req.Actor)
		d.Next.Reason = d.Reason
		d.Next = d.Next.WithCommand(rollout.AppliedCommand{
			ID: req.CommandID, Command: req.Command, Actor: req.Actor, At: c.now(),
			Phase: d.Next.Phase, Weights: d.Next.IntendedWeights(), Reason: d.Reason,
		})
		return d, true, nil
	})
	var rejected *CommandRejected
	switch {
	case errors.As(err, &rejected):
		return ControlResult{RolloutID: saved.ID, Phase: saved.Phase, Weights: saved.IntendedWeights(), CommandID: req.CommandID}, err
	case err != nil:
		return ControlResult{}, err
	}
	if first != nil {
		c.logFor(saved).InfoContext(ctx, "command already applied", "command_id", first.ID, "command", first.Command, "applied_at", first.At)
		if err := c.settle(ctx, saved); err != nil {
			return ControlResult{}, err
		}
		return ControlResult{RolloutID: saved.ID, Phase: first.Phase, Weights: first.Weights, Reason: first.Reason, CommandID: first.ID}, nil
	}
	if err := c.endQueuedWait(ctx, saved); err != nil {
		return ControlResult{}, err
	}
	return ControlResult{RolloutID: saved.ID, Phase: saved.Phase, Weights: saved.IntendedWeights(), Reason: d.Reason, CommandID: req.CommandID}, nil
}

// liveRouting reads the alias for a command, so that the command takes the step before
// from the alias (rollout.ApplyObserved). Commands are rare: one DescribeStateMachineAlias
// (1 a second account-wide, shared with the ticks) per command is affordable. A rollout
// that has not started or has ended has no alias to read. An abort is a rollback and a
// throttled read must not hold it up: it goes on without the alias (nil routing), taking
// the step before from the record.
func (c *Controller) liveRouting(ctx context.Context, r rollout.Rollout, cmd rollout.Command) ([]rollout.Route, error) {
	if r.NotStarted() || r.Phase.Terminal() {
		return nil, nil
	}
	alias, err := c.Aliases.Describe(ctx, r.AliasArn)
	switch {
	case err != nil && cmd == rollout.CommandAbort:
		c.logFor(r).WarnContext(ctx, "abort goes on without reading the alias", "err", err)
		return nil, nil
	case err != nil:
		return nil, transient(fmt.Errorf("describe alias %s: %w", r.AliasArn, err))
	}
	return alias.Routing, nil
}

// settle finishes what an applied command's first attempt may have left undone: the wait
// of a queued upload it aborted, or an alias it failed to move (left exactly at the step
// before the intent: anything else is not this command's to change). A repaired alias owes
// the events and the outcome that the first attempt never sent.
func (c *Controller) settle(ctx context.Context, r rollout.Rollout) error {
	if r.CandidateVersionArn == "" {
		return c.endQueuedWait(ctx, r)
	}
	alias, err := c.Aliases.Describe(ctx, r.AliasArn)
	if err != nil {
		return transient(fmt.Errorf("describe alias %s: %w", r.AliasArn, err))
	}
	if !r.AliasLags(alias.Routing) {
		return nil
	}
	c.logFor(r).InfoContext(ctx, "repairing the alias of an applied command", "alias", rollout.DescribeRouting(alias.Routing), "intent", rollout.DescribeRouting(r.Routing()))
	applied, err := c.setAlias(ctx, r, 0)
	if err != nil {
		return err
	}
	if applied.Rev == r.Rev {
		c.announce(ctx, r, r, rollout.Decision{Action: rollout.ActionSetWeights, Next: r, SetAlias: true})
		if r.Phase.Terminal() {
			c.sendOutcome(ctx, r)
		}
	}
	return nil
}

// endQueuedWait ends the turn wait of an upload aborted while queued: its entry is taken
// off the alias's queue and its execution's wait fails with Aborted, so that Finalize
// records and announces it. It never deploys: were its turn to come first, Prepare finds
// it Aborted.
func (c *Controller) endQueuedWait(ctx context.Context, r rollout.Rollout) error {
	if !r.Phase.Terminal() || r.CandidateVersionArn != "" {
		return nil
	}
	queue, err := c.Store.Queue(ctx, r.AliasArn)
	if err != nil {
		return transient(fmt.Errorf("read queue of %s: %w", r.AliasArn, err))
	}
	for _, q := range queue {
		if q.RolloutID != r.ID {
			continue
		}
		if err := c.Tasks.Fail(ctx, q.TaskToken, outcomeErrorName(r), r.Reason); err != nil && !errors.Is(err, ErrNotFound) {
			return transient(fmt.Errorf("end the wait of queued %s: %w", r.ID, err))
		}
		if err := c.Store.Dequeue(ctx, r.AliasArn, r.ID); err != nil {
			return transient(fmt.Errorf("dequeue %s: %w", r.ID, err))
		}
	}
	return nil
}

func decodeControl(raw json.RawMessage) (ControlRequest, error) {
	var probe struct {
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return ControlRequest{}, &InvalidEvent{newCause(err, "decode control request")}
	}
	if probe.DetailType != "" {
		if probe.DetailType != topology.DetailControlRequest {
			return ControlRequest{}, &InvalidEvent{newCause(nil, "event %q is not a %q", probe.DetailType, topology.DetailControlRequest)}
		}
		raw = probe.Detail
	}
	var req ControlRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return req, &InvalidEvent{newCause(err, "decode control request")}
	}
	if req.CommandID == "" && probe.DetailType != "" {
		// EventBridge keeps an event's id across its retries of the delivery.
		req.CommandID = probe.ID
	}
	return req, req.Validate()
}
