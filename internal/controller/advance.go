package controller

import (
	"context"
	"fmt"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Advance is the advance function: a sweep (t.Sweep), or one tick of one rollout.
func (c *Controller) Advance(ctx context.Context, t Tick) (Outcome, error) {
	if t.Sweep != nil {
		_, err := c.Sweep(ctx, *t.Sweep)
		return Outcome{}, err
	}
	if t.RolloutID == "" {
		return Outcome{}, Errorf(EInvalidEvent, "tick without rolloutId or sweep")
	}
	return c.tickOne(ctx, t.RolloutID, nil)
}

// tickOne is one tick of one rollout, on what a sweep read (lk; nil reads everything).
func (c *Controller) tickOne(ctx context.Context, id string, lk *look) (Outcome, error) {
	r, d, err := c.decideWith(ctx, id, "controller", "", lk)
	if ErrorCode(err) == ERolloutNotFound {
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
	if err := c.AlarmGuards.UnguardAlarms(ctx, r.ID, r.Policy.Alarms); err != nil {
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
