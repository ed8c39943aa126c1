package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Finalize runs once the progress wait is over, whatever ended it: a rollout that is not
// over yet (the wait timed out, a task failed) is failed with the alias on stable; then
// the alias is checked against the outcome, the schedule deleted, the lock released, old
// versions collected, the outcome announced, and the next queued upload woken.
func (c *Controller) Finalize(ctx context.Context, s State) (Outcome, error) {
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
			if s.Error.Error == "States.Timeout" {
				reason = fmt.Sprintf("timed out: the rollout ran past its deadline %s", r.Deadline.Format("2006-01-02T15:04:05Z"))
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
		// Repairs an alias that a crash left behind the outcome.
		if r, _, err = c.decideAndCommit(ctx, id, "controller", ""); err != nil {
			return Outcome{}, err
		}
	}
	if err := c.Schedules.Delete(ctx, topology.ScheduleName(id)); err != nil {
		return Outcome{}, transient(fmt.Errorf("delete schedule of %s: %w", id, err))
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
	c.logFor(r).InfoContext(ctx, "finalized", "phase", r.Phase, "reason", r.Reason)
	return Outcome{RolloutID: id, Phase: r.Phase, Reason: r.Reason}, nil
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
func (c *Controller) Control(ctx context.Context, raw json.RawMessage) (ControlResult, error) {
	req, err := decodeControl(raw)
	if err != nil {
		return ControlResult{}, err
	}
	saved, d, err := c.update(ctx, req.RolloutID, "operator:"+req.Actor, func(r rollout.Rollout) (rollout.Decision, bool, error) {
		d, err := rollout.Apply(r, req.Command, c.now())
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
		return d, true, nil
	})
	var rejected *CommandRejected
	switch {
	case errors.As(err, &rejected):
		return ControlResult{RolloutID: saved.ID, Phase: saved.Phase, Weights: saved.IntendedWeights()}, err
	case err != nil:
		return ControlResult{}, err
	}
	return ControlResult{RolloutID: saved.ID, Phase: saved.Phase, Weights: saved.IntendedWeights(), Reason: d.Reason}, nil
}

func decodeControl(raw json.RawMessage) (ControlRequest, error) {
	var probe struct {
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
	return req, req.Validate()
}
