package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
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
	r, err := c.Rollouts.GetRollout(ctx, id)
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
		name, reason := ERolloutFailed, "the controller's wait ended without an outcome"
		if s.Error != nil {
			reason = s.Error.Error + ": " + truncate(s.Error.Cause, 500)
			switch s.Error.Error {
			case "States.Timeout":
				reason = fmt.Sprintf("timed out: the rollout ran past its deadline %s", r.Deadline.Format("2006-01-02T15:04:05Z"))
			case EThrottled:
				reason = "throttled until the controller state machine stopped retrying: " + truncate(s.Error.Cause, 500)
			}
			if s.Error.Error == EPreTrafficFailed {
				name = EPreTrafficFailed
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
	// The last save that was no decision (a refusal, the test alias), whose step may have
	// died before its line.
	if err := c.writeNoted(ctx, r); err != nil {
		return Outcome{}, err
	}
	if err := c.AlarmGuards.UnguardAlarms(ctx, id, r.Policy.Alarms); err != nil {
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
	active, err := c.Rollouts.ListActive(ctx)
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
