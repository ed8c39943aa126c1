package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Queues keep the uploads waiting for a busy alias (onBusy=queue): Prepare and waitTurn
// queue them, wakeNext hands the alias on, Control takes an aborted one out.
type Queues interface {
	Enqueue(ctx context.Context, q Queued) error
	Queue(ctx context.Context, aliasArn string) ([]Queued, error) // oldest first
	Dequeue(ctx context.Context, aliasArn, rolloutID string) error
}

// waitTurn queues a rollout behind the alias's active one. The lock may have come free
// between Prepare and now: then the turn is taken at once.
func (c *Controller) waitTurn(ctx context.Context, id, token string) error {
	r, err := c.Rollouts.GetRollout(ctx, id)
	if err != nil {
		return c.notFound(id, err)
	}
	if err := c.Queues.Enqueue(ctx, Queued{AliasArn: r.AliasArn, RolloutID: id, TaskToken: token, QueuedAt: c.now()}); err != nil {
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
	queue, err := c.Queues.Queue(ctx, aliasArn)
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
		_, acquired, err := c.Locks.AcquireLock(ctx, aliasArn, q.RolloutID)
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
			if rerr := c.Locks.ReleaseLock(ctx, aliasArn, q.RolloutID); rerr != nil {
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
	r, err := c.Rollouts.GetRollout(ctx, q.RolloutID)
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
	if err := c.Locks.ReleaseLock(ctx, aliasArn, q.RolloutID); err != nil {
		return false, transient(fmt.Errorf("release lock of %s: %w", q.RolloutID, err))
	}
	return true, c.dequeue(ctx, aliasArn, q.RolloutID)
}

// dequeue removes a rollout's queue entries; a failure is Transient, since an entry left
// behind is woken again (and then found stale).
func (c *Controller) dequeue(ctx context.Context, aliasArn, id string) error {
	if err := c.Queues.Dequeue(ctx, aliasArn, id); err != nil {
		return transient(fmt.Errorf("dequeue %s from %s: %w", id, aliasArn, err))
	}
	return nil
}

// markWoken stamps the record of a rollout whose turn came, so that the lock it now holds
// reads as fresh (see staleHolder) until its execution prepares it again.
func (c *Controller) markWoken(ctx context.Context, id string) {
	r, err := c.Rollouts.GetRollout(ctx, id)
	if err != nil || r.Phase.Terminal() {
		return
	}
	r.UpdatedAt = c.now()
	r.Reason = "its turn came: preparing"
	r.QueuedBehind = ""
	if _, err := c.Rollouts.SaveRollout(ctx, r); err != nil {
		c.Log.WarnContext(ctx, "stamp woken rollout", "rollout_id", id, "err", err)
	}
}
