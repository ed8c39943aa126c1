package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// UploadNeverStarted is how long isComplete waits for the record of an uploaded
// definition's rollout before it fails the deploy: the controller state machine creates it
// within seconds of the upload, unless the upload's event never reached it.
const UploadNeverStarted = 15 * time.Minute

// DeployStatus answers the provider framework's isComplete from onEvent's outcome, with
// one DynamoDB read of the rollout record a poll and no Step Functions call (the alias is
// read only while a stack rollback waits for an abort to land). Throttling answers "not
// complete": it delays the deploy and never fails it.
//
// A rollout that Succeeded completes the deploy with its candidate; one that was
// RolledBack, Aborted or Failed fails it with deployFailure's message; a NothingToDeploy
// refusal (the definition turned out to be stable's) completes it. With Wait "false" the
// deploy completes as soon as the rollout has its candidate (it has started), and fails
// only if it is refused before.
func (c *Controller) DeployStatus(ctx context.Context, ev DeployEvent) (DeployStatusResponse, error) {
	if ev.RequestType == RequestDelete {
		return DeployStatusResponse{IsComplete: true}, nil
	}
	switch outcome := ev.Data[topology.DeployDataOutcome]; outcome {
	case topology.DeployOutcomeCreated, topology.DeployOutcomeUnchanged:
		return DeployStatusResponse{IsComplete: true}, nil
	case topology.DeployOutcomeStarted:
		wait := true
		if w, ok := ev.ResourceProperties[topology.DeployPropWait].(string); ok && strings.EqualFold(w, "false") {
			wait = false
		}
		return c.rolloutStatus(ctx, ev, wait)
	case topology.DeployOutcomeAborting:
		return c.abortStatus(ctx, ev)
	default:
		return DeployStatusResponse{}, Errorf(EInvalidEvent, "isComplete request with Data.%s %q (want onEvent's Created, Unchanged, Started or Aborting)", topology.DeployDataOutcome, outcome)
	}
}

// notComplete is a poll's answer while the rollout goes on: no Data, as the framework
// refuses Data that is not complete.
var notComplete = DeployStatusResponse{}

// readForStatus reads a rollout record for a poll: found, not (yet) there, or an error
// that is not throttling. Throttling is "not found yet".
func (c *Controller) readForStatus(ctx context.Context, id string) (rollout.Rollout, bool, error) {
	if id == "" {
		return rollout.Rollout{}, false, Errorf(EInvalidEvent, "isComplete request without Data.%s", topology.DeployDataRolloutID)
	}
	r, err := c.Rollouts.GetRollout(ctx, id)
	switch {
	case err == nil:
		return r, true, nil
	case errors.Is(err, ErrNotFound):
		return r, false, nil
	case errors.Is(err, ErrThrottled):
		c.Log.WarnContext(ctx, "deploy status: throttled reading the rollout; polled again", "rollout_id", id, "err", err)
		return r, false, nil
	}
	return r, false, wrapf(EInternal, err, "read rollout %s", id)
}

// rolloutStatus is a poll of an uploaded definition's rollout.
func (c *Controller) rolloutStatus(ctx context.Context, ev DeployEvent, wait bool) (DeployStatusResponse, error) {
	id := ev.Data[topology.DeployDataRolloutID]
	r, found, err := c.readForStatus(ctx, id)
	if err != nil {
		return DeployStatusResponse{}, err
	}
	if !found {
		return notComplete, c.neverStarted(ev, id)
	}
	switch {
	case r.Phase == rollout.Succeeded:
		return complete(r, r.CandidateVersionArn), nil
	case r.Phase == rollout.Failed && r.ErrorName == ENothingToDeploy:
		c.logFor(r).InfoContext(ctx, "deploy status: nothing to deploy", "reason", r.Reason)
		res := complete(r, r.StableVersionArn)
		res.Data[topology.DeployDataOutcome] = topology.DeployOutcomeUnchanged
		return res, nil
	case r.Phase.Terminal():
		c.logFor(r).WarnContext(ctx, "deploy status: the rollout did not succeed", "phase", r.Phase, "error", outcomeErrorName(r), "reason", r.Reason)
		return DeployStatusResponse{}, deployFailure(r)
	case !wait && r.CandidateVersionArn != "":
		res := complete(r, "")
		res.Data[topology.DeployDataOutcome] = topology.DeployOutcomeStarted
		return res, nil
	}
	return notComplete, nil
}

// neverStarted fails a poll whose upload has had no record for UploadNeverStarted.
func (c *Controller) neverStarted(ev DeployEvent, id string) error {
	at, err := time.Parse(time.RFC3339, ev.Data[topology.DeployDataUploadedAt])
	if err != nil || c.now().Sub(at) < UploadNeverStarted {
		return nil
	}
	return Errorf(ERolloutNotFound, "%s never started a rollout: no record of %s %s after the upload (is the bucket's EventBridge rule to the controller in place?)",
		ev.Data[topology.DeployDataUpload], id, UploadNeverStarted)
}

// abortStatus is a poll of a stack rollback that aborted a running rollout: complete once
// the rollout has ended and the alias routes 100% to its stable version again.
func (c *Controller) abortStatus(ctx context.Context, ev DeployEvent) (DeployStatusResponse, error) {
	r, found, err := c.readForStatus(ctx, ev.Data[topology.DeployDataRolloutID])
	if err != nil || !found || !r.Phase.Terminal() {
		return notComplete, err
	}
	if r.Phase == rollout.Succeeded {
		return DeployStatusResponse{}, Errorf(ERolloutFailed,
			"rollout %s of %s/%s succeeded before the stack rollback could abort it: the alias routes 100%% to %s, not to the stable definition; deploy again",
			r.ID, r.StateMachineName, r.AliasName, rollout.VersionLabel(r.CandidateVersionArn))
	}
	alias, err := c.Aliases.Describe(ctx, r.AliasArn)
	if err != nil {
		if errors.Is(err, ErrThrottled) {
			return notComplete, nil
		}
		return DeployStatusResponse{}, wrapf(EInternal, err, "describe alias %s", r.AliasArn)
	}
	if v, ok := soleVersion(alias.Routing); !ok || v != r.StableVersionArn {
		return notComplete, nil
	}
	return complete(r, r.StableVersionArn), nil
}

// complete is a poll's answer once the deploy is over: the rollout's end and the version
// the alias routes to.
func complete(r rollout.Rollout, versionArn string) DeployStatusResponse {
	return DeployStatusResponse{IsComplete: true, Data: map[string]string{
		topology.DeployDataOutcome: string(r.Phase), topology.DeployDataRolloutID: r.ID,
		topology.DeployDataVersionArn: versionArn, topology.DeployDataAliasArn: r.AliasArn,
	}}
}

// deployFailure is the error that fails the custom resource when a rollout did not
// succeed. Its message is CloudFormation's status reason, which `cdk deploy` prints:
//
//	rollout r-1a2b3c4d5e6f of orders/prod ended RolledBack (RolledBack): <reason>; the alias routes 100% to the stable version v1
//
// It is kept well under the 4 KB of a custom resource's response.
func deployFailure(r rollout.Rollout) error {
	name := outcomeErrorName(r)
	msg := fmt.Sprintf("rollout %s of %s/%s ended %s (%s): %s", r.ID, r.StateMachineName, r.AliasName, r.Phase, name, truncate(r.Reason, 1000))
	switch {
	case r.CandidateVersionArn == "":
		msg += "; the alias is untouched"
	case r.Phase == rollout.RolledBack || r.Phase == rollout.Aborted:
		msg += "; the alias routes 100% to the stable version " + rollout.VersionLabel(r.StableVersionArn)
	}
	return FromCode(name, msg)
}
