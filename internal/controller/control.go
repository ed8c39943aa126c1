package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

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
func (c *Controller) Control(ctx context.Context, in ControlInput) (ControlResult, error) {
	req := in.Request
	if err := req.Validate(); err != nil {
		return ControlResult{}, err
	}
	if req.CommandID == "" {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			req.CommandID = lc.AwsRequestID
		}
	}
	if req.CommandID == "" {
		return ControlResult{}, Errorf(EInvalidEvent, "control request without commandId, event id or Lambda request id: a command without an id is never applied")
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
				return d, false, wrapf(ECommandRejected, err, "")
			}
			return d, false, wrapf(EInternal, err, "apply %s", req.Command)
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
	switch {
	case ErrorCode(err) == ECommandRejected:
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
		if put := c.announce(ctx, r, r, rollout.Decision{Action: rollout.ActionSetWeights, Next: r, SetAlias: true}); put != "" {
			// The write landed and its event is put: neither is owed any more.
			c.confirm(ctx, applied, true, put)
		}
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
	queue, err := c.Queues.Queue(ctx, r.AliasArn)
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
		if err := c.Queues.Dequeue(ctx, r.AliasArn, r.ID); err != nil {
			return transient(fmt.Errorf("dequeue %s: %w", r.ID, err))
		}
	}
	return nil
}

// decodeControl reads a control request sent directly or as an event's detail; Control
// validates it.
func decodeControl(raw json.RawMessage) (ControlRequest, error) {
	var probe struct {
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return ControlRequest{}, wrapf(EInvalidEvent, err, "decode control request")
	}
	if probe.DetailType != "" {
		if probe.DetailType != topology.DetailControlRequest {
			return ControlRequest{}, Errorf(EInvalidEvent, "event %q is not a %q", probe.DetailType, topology.DetailControlRequest)
		}
		raw = probe.Detail
	}
	var req ControlRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return req, wrapf(EInvalidEvent, err, "decode control request")
	}
	if req.CommandID == "" && probe.DetailType != "" {
		// EventBridge keeps an event's id across its retries of the delivery.
		req.CommandID = probe.ID
	}
	return req, nil
}
