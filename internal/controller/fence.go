package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Fencing alias writes (docs/architecture.md, "Fencing alias writes"). Step Functions has no
// conditional alias update, so a rollout's write can arrive after the rollout lost its
// alias. Two rules keep such a write off the next rollout's alias:
//   - every alias write of a rollout is checked right before it (fence) and runs under a
//     deadline of one write window W, so it lands before check+W or never;
//   - the lock is given up (releaseAlias) only after the record was fenced, W has passed,
//     and the alias was checked against the outcome.

// Locks are the aliases' locks: one active rollout per alias. Prepare and wakeNext take
// them, fence and Deploy read them, releaseAlias gives them up.
type Locks interface {
	// AcquireLock makes rolloutID the alias's one active rollout; when another holds it,
	// it returns that holder's id and ErrConflict. Acquiring a lock one already holds is fine;
	// on success the holder returned is rolloutID itself, and acquired tells whether this
	// call took the lock (true) or found it held by rolloutID already (false): only a lock
	// one took may be given back on the taker's behalf (see wakeNext).
	AcquireLock(ctx context.Context, aliasArn, rolloutID string) (holder string, acquired bool, err error)
	// ReleaseLock deletes the lock if rolloutID holds it; otherwise it does nothing.
	ReleaseLock(ctx context.Context, aliasArn, rolloutID string) error
	// LockHolder reads the lock, strongly consistent: the id of the rollout that holds the
	// alias, or "" when none does. Every alias write is checked against it (fence).
	LockHolder(ctx context.Context, aliasArn string) (string, error)
}

// writeAlias makes one alias write of rollout r, fenced: under a deadline of one write
// window (Config.AliasWriteWindow), it reads the alias's lock and r's newest record, both
// strongly consistent, and writes that record's routing only while r holds the lock and has
// not begun to give it up. So a write lands before its check + W or never, and after
// releaseAlias closed the fence no write of r passes its check: waiting one window after
// the close is enough for the alias to be quiet. It returns the newest record it read. The
// audit line of the record written is written too, unless it is the caller's (audited).
//
// Its token of the write budget is taken before the window opens (takeAhead): waiting for
// one is not part of the write.
func (c *Controller) writeAlias(ctx context.Context, r rollout.Rollout, audited int64) (rollout.Rollout, error) {
	ctx = withTokenSlot(ctx)
	if err := c.takeAhead(ctx, budget.UpdateStateMachineAlias); err != nil {
		return r, fmt.Errorf("update alias %s: %w", r.AliasArn, err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.AliasWriteWindow)
	defer cancel()
	latest, err := c.fence(wctx, r)
	if err != nil {
		return latest, err
	}
	if ev, ok := auditLine(latest); ok && ev.Seq != audited {
		// The routing of another decision than the one the caller audited: its writer may
		// have died or timed out after its save, before its audit line. The line is the same
		// whoever writes it, and comes before the weight it tells of; a forward step whose
		// line cannot be written is not applied (a rollback is, whatever its line does).
		if err := c.appendEvent(wctx, latest.ID, ev); err != nil {
			c.logFor(latest).ErrorContext(ctx, "append audit event", "err", err)
			if latest.CandidateWeight > 0 {
				return latest, err
			}
		}
	}
	if err := c.Aliases.Update(wctx, latest.AliasArn, latest.Routing()); err != nil {
		return latest, err
	}
	return latest, nil
}

// fence is the check before an alias write of r: the lock must name r, and r's newest
// record must not have begun to give the alias up (FenceClosedAt). It returns that newest
// record, whose routing is the one to write, or a LockLost Error.
func (c *Controller) fence(ctx context.Context, r rollout.Rollout) (rollout.Rollout, error) {
	latest, err := c.Rollouts.GetRollout(ctx, r.ID)
	if err != nil {
		return r, transient(fmt.Errorf("fence: read rollout %s: %w", r.ID, err))
	}
	holder, err := c.Locks.LockHolder(ctx, latest.AliasArn)
	if err != nil {
		return latest, transient(fmt.Errorf("fence: read lock of %s: %w", latest.AliasArn, err))
	}
	switch {
	case holder != r.ID:
		return latest, Errorf(ELockLost, "rollout %s (%s) may not write alias %s: its lock is held by %q", r.ID, latest.Phase, latest.AliasArn, holder)
	case !latest.FenceClosedAt.IsZero():
		return latest, Errorf(ELockLost, "rollout %s (%s) may not write alias %s: it is giving the alias up since %s", r.ID, latest.Phase, latest.AliasArn, latest.FenceClosedAt.Format(time.RFC3339Nano))
	}
	return latest, nil
}

// releaseAlias gives up the alias of rollout id, which has ended and holds its lock: it
// closes the record's fence (FenceClosedAt), so that no write of the rollout passes its
// check from then on; waits one write window, so that every write that passed its check
// has landed or died; puts right what a late write of the rollout's own left on the alias
// (it can only be the rollout's previous weight, which Decide repairs); deletes a
// BLUE_GREEN test alias; and only then releases the lock. Then the next holder never sees
// a write of this rollout. Any failure leaves the lock held: a retry starts over.
func (c *Controller) releaseAlias(ctx context.Context, id, aliasArn string) error {
	closed, err := c.closeFence(ctx, id)
	switch {
	case ErrorCode(err) == ERolloutNotFound:
		// No record: no write of it can be made (every write reads it first).
	case err != nil:
		return err
	default:
		aliasArn = closed.AliasArn
		if err := c.Sleep(ctx, c.cfg.AliasWriteWindow); err != nil {
			return transient(fmt.Errorf("wait out the alias writes of %s: %w", id, err))
		}
		if err := c.repairLate(ctx, closed); err != nil {
			return err
		}
	}
	if err := c.Locks.ReleaseLock(ctx, aliasArn, id); err != nil {
		return transient(fmt.Errorf("release lock of %s: %w", id, err))
	}
	return nil
}

// closeFence saves the ended record of id with FenceClosedAt set to now, and returns it.
func (c *Controller) closeFence(ctx context.Context, id string) (rollout.Rollout, error) {
	for range maxAttempts {
		r, err := c.Rollouts.GetRollout(ctx, id)
		if err != nil {
			return r, c.notFound(id, err)
		}
		if !r.Phase.Terminal() {
			return r, Errorf(EInternal, "rollout %s is %s: only an ended rollout gives its alias up", id, r.Phase)
		}
		r.FenceClosedAt = c.now()
		saved, err := c.Rollouts.SaveRollout(ctx, r)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return r, transient(fmt.Errorf("fence rollout %s: %w", id, err))
		}
		return saved, nil
	}
	return rollout.Rollout{}, Errorf(ETransient, "fence rollout %s: the record kept moving", id)
}

// repairLate checks the alias against the fenced record's outcome once the write window
// has passed, and repairs it when Decide says so. The repair is written only if nothing
// moved the record since the fence closed (a concurrent attempt to give the alias up
// closes it again and takes over), under the same deadline as every write.
func (c *Controller) repairLate(ctx context.Context, closed rollout.Rollout) error {
	// An outcome confirmed on the alias after every earlier write's window had passed needs
	// no read: nothing of this rollout can land after it, and a hand change since is left
	// alone either way. After a storm, a thousand releases would otherwise each wait for an
	// alias read behind everything else (garbage collection's priority).
	if closed.CandidateVersionArn != "" && !closed.LateWritesOver(c.writeWindow()) {
		// Housekeeping after the outcome: the read waits behind every repair and step (after
		// a storm of rollbacks, the account's alias reads are theirs first).
		alias, err := c.Aliases.Describe(budget.WithPriority(ctx, budget.GC), closed.AliasArn)
		if err != nil {
			return transient(fmt.Errorf("describe alias %s: %w", closed.AliasArn, err))
		}
		d, err := rollout.Decide(closed, rollout.Observation{Routing: alias.Routing, AliasUpdatedAt: alias.UpdatedAt, WriteWindow: c.writeWindow(), Slack: c.tick / 2}, c.now())
		if err != nil {
			return wrapf(EInternal, err, "decide")
		}
		if d.SetAlias {
			// The outcome's own line first (its writer may have timed out after the save).
			if ev, ok := auditLine(closed); ok {
				if err := c.appendEvent(ctx, closed.ID, ev); err != nil {
					c.logFor(closed).ErrorContext(ctx, "append audit event", "err", err)
				}
			}
			if err := c.writeClosed(ctx, closed, budget.UpdateStateMachineAlias, func(wctx context.Context) error {
				return c.Aliases.Update(wctx, closed.AliasArn, closed.Routing())
			}); err != nil {
				return transient(fmt.Errorf("repair alias %s after the write window: %w", closed.AliasArn, err))
			}
			c.logFor(closed).WarnContext(ctx, "repaired a late alias write", "routing", rollout.DescribeRouting(alias.Routing), "reason", d.Reason)
			if err := c.Rollouts.AppendEvent(ctx, closed.ID, Event{
				Seq: closed.Rev, Time: c.now(), Actor: "controller", Action: string(d.Action),
				Phase: closed.Phase, StepIndex: closed.StepIndex, CandidateWeight: closed.CandidateWeight, Reason: d.Reason,
			}); err != nil {
				c.logFor(closed).ErrorContext(ctx, "append audit event", "err", err)
			}
		}
	}
	if closed.TestAliasArn != "" {
		// Only the test alias this rollout created (deleteTestAlias), once no late write of
		// the rollout can move it again.
		if err := c.writeClosed(ctx, closed, budget.DeleteStateMachineAlias, func(wctx context.Context) error {
			return c.deleteTestAlias(wctx, closed)
		}); err != nil {
			return transient(fmt.Errorf("delete test alias of %s: %w", closed.ID, err))
		}
	}
	return nil
}

// writeClosed makes a write (a call of api) of the one attempt that closed the fence at
// closed.Rev: under a deadline of one write window, with its token taken before the window
// opens, only while the lock still names the rollout and the record has not moved since.
func (c *Controller) writeClosed(ctx context.Context, closed rollout.Rollout, api budget.API, write func(context.Context) error) error {
	ctx = withTokenSlot(ctx)
	if err := c.takeAhead(ctx, api); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.AliasWriteWindow)
	defer cancel()
	latest, err := c.Rollouts.GetRollout(wctx, closed.ID)
	if err != nil {
		return fmt.Errorf("read rollout %s: %w", closed.ID, err)
	}
	holder, err := c.Locks.LockHolder(wctx, closed.AliasArn)
	if err != nil {
		return fmt.Errorf("read lock of %s: %w", closed.AliasArn, err)
	}
	if holder != closed.ID || latest.Rev != closed.Rev {
		return Errorf(ETransient, "rollout %s: another attempt is giving the alias up (lock %q, rev %d, fenced at rev %d)", closed.ID, holder, latest.Rev, closed.Rev)
	}
	return write(wctx)
}

// holdsLock reads whether rollout id holds the alias's lock.
func (c *Controller) holdsLock(ctx context.Context, id, aliasArn string) (bool, error) {
	holder, err := c.Locks.LockHolder(ctx, aliasArn)
	if err != nil {
		return false, transient(fmt.Errorf("read lock of %s: %w", aliasArn, err))
	}
	return holder == id, nil
}
