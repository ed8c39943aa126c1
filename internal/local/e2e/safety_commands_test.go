package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Issue 9, cases 3 (one command, one effect) and 8 (queued uploads can be steered),
// through local mode.

// invokeControl invokes the control function with a request of the caller's making (a
// command id, a reason), as the CLI does, and returns its answer or the named error.
func invokeControl(t *testing.T, env *localenv.Env, req map[string]string) (controller.ControlResult, *localenv.CommandError) {
	t.Helper()
	payload, _ := json.Marshal(req)
	out, err := env.Lambda.Invoke(context.Background(), &lambdasdk.InvokeInput{
		FunctionName: aws.String(topology.FunctionName(deploy.Prefix, "control")), Payload: payload,
	})
	if err != nil {
		t.Fatalf("invoke control: %v", err)
	}
	var res controller.ControlResult
	if out.FunctionError != nil {
		var fe core.FunctionError
		_ = json.Unmarshal(out.Payload, &fe)
		return res, &localenv.CommandError{Name: fe.Type, Message: fe.Message}
	}
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		t.Fatalf("control answered %s: %v", out.Payload, err)
	}
	return res, nil
}

func byOperator(evs []controller.Event, actor string) []controller.Event {
	var out []controller.Event
	for _, e := range evs {
		if e.Actor == actor {
			out = append(out, e)
		}
	}
	return out
}

// A promote whose alias update is throttled answers Transient; invoked again with the same
// command id it moves nothing further, the alias ends at the one step, and the ticks that
// follow see no drift (onDrift=rollback).
func TestRetriedCommandHasOneEffectThroughLocalMode(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, fastSpeed, 31)
	ctx := context.Background()
	m := newMachine(t, env, log, "command-retry")
	id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "LINEAR", "percentage": "10", "interval": "1h", "onDrift": "rollback"})
	m.waitWeight(id, rollout.Progressing, 10)

	if err := env.SetFaults(ctx, core.Fault{Service: "states", Operation: "UpdateStateMachineAlias", Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	promote := map[string]string{"rolloutId": id, "command": "promote", "actor": "alice", "commandId": "e2e-promote-1"}
	if _, cerr := invokeControl(t, env, promote); cerr == nil || cerr.Name != "Transient" {
		t.Fatalf("promote with every alias update throttled answered %v, want Transient", cerr)
	}
	if err := env.SetFaults(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, cerr := invokeControl(t, env, promote)
		if cerr != nil {
			t.Fatalf("retry %d of the promote: %v", i+1, cerr)
		}
		if res.Weights.Candidate != 20 || res.CommandID != "e2e-promote-1" {
			t.Errorf("retry %d answered %+v, want the first answer: candidate 20%% under e2e-promote-1", i+1, res)
		}
	}
	m.waitWeight(id, rollout.Progressing, 20)
	// Ticks come every virtual minute: let a few see the alias.
	time.Sleep(time.Duration(5 * float64(time.Minute) / fastSpeed))
	r, _, err := env.Rollout(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase != rollout.Progressing || r.CandidateWeight != 20 {
		t.Errorf("after a promote and its retries: %s at %d%% (%s), want Progressing at 20%%", r.Phase, r.CandidateWeight, r.Reason)
	}
	if got := m.routing(); got != "v1=80 v2=20" {
		t.Errorf("alias routes %q, want v1=80 v2=20", got)
	}
	evs := m.audit(id)
	wantWeights(t, evs, 0, 10, 20)
	if got := byOperator(evs, "operator:alice"); len(got) != 1 {
		t.Errorf("audit events by alice: %d, want 1 (one command id, one effect)\n%s", len(got), describeAudit(evs))
	}
}

// Two uploads with onBusy=queue; the queued one is aborted by an operator: it leaves the
// queue, its execution ends through Finalize with "Rollout Aborted", the first rollout
// finishes, and the aborted upload never deploys.
func TestAbortQueuedUploadThroughLocalMode(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	ctx := context.Background()
	m := newMachine(t, env, log, "queued-abort")
	watch := m.watch()
	first := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1h"})
	m.waitWeight(first, rollout.Progressing, 10)
	second := m.upload("v3", release(t, "v3"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1m", "onBusy": "queue"})
	m.waitFor(second, "the second upload to queue", func(r rollout.Rollout) bool { return r.QueuedBehind == first })
	deadline := time.Now().Add(timeout)
	for {
		q, err := env.Store.Queue(ctx, m.AliasArn)
		if err == nil && slices.ContainsFunc(q, func(q controller.Queued) bool { return q.RolloutID == second }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second upload never waited in the queue: %+v, %v", q, err)
		}
		time.Sleep(samplePeriod)
	}

	res, cerr := invokeControl(t, env, map[string]string{"rolloutId": second, "command": "abort", "actor": "alice", "reason": "wrong build", "commandId": "e2e-abort-queued"})
	if cerr != nil {
		t.Fatalf("abort of the queued upload: %v", cerr)
	}
	if res.Phase != rollout.Aborted {
		t.Errorf("abort answered %+v, want Aborted", res)
	}
	r2 := m.finalized(second)
	if r2.Phase != rollout.Aborted || !strings.Contains(r2.Reason, "wrong build (by alice)") || r2.CandidateVersionArn != "" {
		t.Errorf("queued upload ended %s %q with candidate %q; want Aborted, with who and why, and no candidate", r2.Phase, r2.Reason, r2.CandidateVersionArn)
	}
	wantOutcomeEvent(t, m.outcome(second, topology.DetailRolloutAborted), r2)
	if evs := m.audit(second); !hasAudit(evs, string(rollout.ActionRollback), "operator:alice") {
		t.Errorf("the audit trail of the queued upload has no abort by alice:\n%s", describeAudit(evs))
	}
	wantExecutions(t, m, second, 1)
	if q, err := env.Store.Queue(ctx, m.AliasArn); err != nil || len(q) != 0 {
		t.Errorf("queue after the abort: %+v, %v; want empty", q, err)
	}

	m.control(first, rollout.CommandPromoteFull, "bob")
	wantSucceeded(t, m, m.finalized(first), "operator:bob")
	// Finalize of the first woke nobody: the aborted upload never deploys.
	time.Sleep(time.Duration(3 * float64(time.Minute) / fastSpeed))
	wantRoutings(t, watch.Stop(), routings(m, []int{0, 10, 100}))
	if vs := m.versions(); strings.Join(vs, " ") != "v1 v2" {
		t.Errorf("versions %v, want v1 v2 (the aborted upload publishes none)", vs)
	}
	if r, _, _ := env.Rollout(ctx, second); r.Phase != rollout.Aborted {
		t.Errorf("the aborted upload is %s after the first rollout ended", r.Phase)
	}
}
