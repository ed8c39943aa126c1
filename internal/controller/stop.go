package controller

import (
	"context"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

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
	return !r.AliasIsOwn(rollout.Observation{Routing: alias.Routing, AliasUpdatedAt: alias.UpdatedAt, WriteWindow: c.writeWindow()})
}

// sendOutcomeWith answers a token other than the stored one (a retried register).
func (c *Controller) sendOutcomeWith(ctx context.Context, r rollout.Rollout, token string) {
	r.TaskToken = token
	c.sendOutcome(ctx, r)
}
