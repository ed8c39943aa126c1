package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// RollbackResult lists what an alarm did.
type RollbackResult struct {
	Alarm    string    `json:"alarm"`
	Rollouts []Outcome `json:"rollouts"`
}

// AlarmGuards say which active rollouts an alarm guards, so that Rollback finds them from
// the alarm alone: Prepare guards a rollout's alarms, advance and Finalize unguard them.
type AlarmGuards interface {
	GuardAlarms(ctx context.Context, rolloutID string, alarms []string) error
	UnguardAlarms(ctx context.Context, rolloutID string, alarms []string) error
	GuardedBy(ctx context.Context, alarm string) ([]string, error)
}

// Rollback reacts to an alarm entering ALARM: every active rollout the alarm guards is
// rolled back (or paused, with onFailure=pause) at once, without waiting for a tick.
func (c *Controller) Rollback(ctx context.Context, in RollbackInput) (RollbackResult, error) {
	if in.Continuation != nil {
		out, err := c.Continue(ctx, *in.Continuation)
		return RollbackResult{Rollouts: []Outcome{out}}, err
	}
	if in.Alarm == nil {
		return RollbackResult{}, Errorf(EInvalidEvent, "rollback input without an alarm state change or a continuation")
	}
	// First call on the write budget: a rollback never waits behind forward steps, and
	// hands a turn further than HandOverBeyond to a continuation of itself.
	ctx = budget.WithHandOver(budget.WithPriority(ctx, budget.Rollback), HandOverBeyond)
	ev := *in.Alarm
	res := RollbackResult{Alarm: ev.AlarmName, Rollouts: []Outcome{}}
	if ev.State.Value != string(rollout.AlarmAlarm) {
		return res, nil
	}
	ids, err := c.AlarmGuards.GuardedBy(ctx, ev.AlarmName)
	if err != nil {
		return res, transient(fmt.Errorf("rollouts guarded by %s: %w", ev.AlarmName, err))
	}
	var errs []error
	for _, id := range ids {
		r, d, err := c.rollbackOne(ctx, id, ev.AlarmName)
		if ErrorCode(err) == ERolloutNotFound {
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
		if err == nil || ErrorCode(err) != ETransient || i == rollbackAttempts-1 || retryBudget(ctx) < backoffDelay(i) || refusedByBudget(err) {
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
	r, err := c.Rollouts.GetRollout(ctx, id)
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
