package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// EventBridge delivers an upload at least once: the same Object Created event starting the
// controller three times makes one rollout. PutEvents cannot send an aws.s3 event, so the
// event the recorder received is started again through StartExecution, twice at once.
func TestDuplicateUpload(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	ctx := context.Background()
	m := newMachine(t, env, log, "duplicate")
	id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "2m"})
	key := m.Name + "/prod/v2" + topology.DefinitionSuffix
	var upload json.RawMessage
	err := log.Wait(ctx, timeout, func(evs []localenv.RecordedEvent) bool {
		for _, ev := range evs {
			if ev.Source == "aws.s3" && strings.Contains(string(ev.Detail), `"key":"`+key+`"`) {
				upload = ev.Raw
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := env.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
				StateMachineArn: aws.String(env.Deployment.ControllerStateMachineArn), Input: aws.String(string(upload)),
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	r := m.finalized(id)
	wantSucceeded(t, m, r, "controller")
	xs := wantExecutions(t, m, id, 3)
	var finalized, duplicates int
	for _, x := range xs {
		var out struct {
			Phase   rollout.Phase             `json:"phase"`
			Prepare *controller.PrepareResult `json:"prepare"`
		}
		_ = json.Unmarshal([]byte(x.Output), &out)
		switch {
		case out.Phase == rollout.Succeeded:
			finalized++
		case out.Prepare != nil && out.Prepare.Action == controller.ActionDuplicate && out.Prepare.RolloutID == id:
			duplicates++
		default:
			t.Errorf("controller execution %s answered %s", x.Arn, x.Output)
		}
	}
	if finalized != 1 || duplicates != 2 {
		t.Errorf("%d executions finalized the rollout and %d answered duplicate; want 1 and 2", finalized, duplicates)
	}
	if vs := m.versions(); strings.Join(vs, " ") != "v1 v2" {
		t.Errorf("versions %v, want v1 v2", vs)
	}
	hist, err := env.Store.History(ctx, m.Arn, 10)
	if err != nil || len(hist) != 1 {
		t.Errorf("history of %s: %d rollouts (%v), want 1", m.Name, len(hist), err)
	}
	wantEvents(t, m, r, "Rollout Started", "Rollout Step", "Rollout Succeeded")
}

// A second upload for an alias that a rollout holds does as its onBusy says.
func TestBusyAlias(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	long := map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1h"}
	quick := func(onBusy string) map[string]string {
		return map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1m", "onBusy": onBusy}
	}
	// v3 is the second upload's candidate, over v2 or v1 as the case may be.
	v3 := func(m *machine, stable int, weights ...int) []string {
		out := make([]string, len(weights))
		for i, w := range weights {
			out[i] = routingOf(m.version(stable), 100-w, m.version(3), w)
		}
		return out
	}

	t.Run("reject", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "busy-reject")
		first := m.upload("v2", release(t, "v2"), long)
		m.waitWeight(first, rollout.Progressing, 10)
		watch := m.watch()
		second := m.upload("v3", release(t, "v3"), quick("reject"))
		r2 := m.finalized(second)
		if r2.Phase != rollout.Failed || r2.ErrorName != "RolloutInProgress" || !strings.Contains(r2.Reason, first) {
			t.Errorf("second upload: %s %s %q; want Failed RolloutInProgress naming %s", r2.Phase, r2.ErrorName, r2.Reason, first)
		}
		wantOutcomeEvent(t, m.outcome(second, topology.DetailRolloutFailed), r2)
		wantEvents(t, m, r2, topology.DetailRolloutFailed)
		if got := watch.Stop(); len(got) != 1 || got[0] != "v1=90 v2=10" {
			t.Errorf("alias routing while the second upload was refused %q, want only v1=90 v2=10", got)
		}
		if r1, _, _ := env.Rollout(t.Context(), first); r1.Phase != rollout.Progressing {
			t.Errorf("first rollout %s after the refusal, want Progressing", r1.Phase)
		}
		m.control(first, rollout.CommandPromoteFull, "alice")
		wantSucceeded(t, m, m.finalized(first), "operator:alice")
		if vs := m.versions(); strings.Join(vs, " ") != "v1 v2" {
			t.Errorf("versions %v, want v1 v2 (the refused upload publishes none)", vs)
		}
	})

	t.Run("queue", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "busy-queue")
		watch := m.watch()
		first := m.upload("v2", release(t, "v2"), long)
		m.waitWeight(first, rollout.Progressing, 10)
		second := m.upload("v3", release(t, "v3"), quick("queue"))
		m.waitFor(second, "the second upload to queue", func(r rollout.Rollout) bool { return strings.HasPrefix(r.Reason, "queued behind rollout "+first) })
		time.Sleep(time.Duration(3 * float64(time.Minute) / fastSpeed))
		if r2, _, _ := env.Rollout(t.Context(), second); r2.Phase != rollout.Pending || m.routing() != "v1=90 v2=10" {
			t.Errorf("while queued: second %s, alias %q; want Pending, v1=90 v2=10", r2.Phase, m.routing())
		}
		m.control(first, rollout.CommandPromoteFull, "alice")
		// The queued upload starts as soon as the first is finalized: the routing history
		// below shows v2=100 between the two.
		wantSucceededRecord(t, m, m.finalized(first), "operator:alice")

		r2 := m.finalized(second)
		wantRoutings(t, watch.Stop(), append(routings(m, []int{0, 10, 100}), v3(m, 2, 10, 100)...))
		wantSucceeded(t, m, r2, "controller")
		if r2.StableVersionArn != m.version(2) || r2.CandidateVersionArn != m.version(3) {
			t.Errorf("second rollout %s → %s, want v2 → v3", label(r2.StableVersionArn), label(r2.CandidateVersionArn))
		}
		wantEvents(t, m, r2, "Rollout Started", "Rollout Step", "Rollout Succeeded")
	})

	t.Run("supersede", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "busy-supersede")
		watch := m.watch()
		first := m.upload("v2", release(t, "v2"), long)
		m.waitWeight(first, rollout.Progressing, 10)
		second := m.upload("v3", release(t, "v3"), quick("supersede"))

		r1 := m.finalized(first)
		if r1.Phase != rollout.Aborted || !strings.Contains(r1.Reason, "superseded by rollout "+second) {
			t.Errorf("first rollout: %s %q; want Aborted, superseded by %s", r1.Phase, r1.Reason, second)
		}
		wantOutcomeEvent(t, m.outcome(first, topology.DetailRolloutAborted), r1)
		wantEvents(t, m, r1, "Rollout Started", "Rollout Aborted")
		wantAudit(t, m.audit(first), rollout.ActionRollback, "controller")

		r2 := m.finalized(second)
		wantRoutings(t, watch.Stop(), append(routings(m, []int{0, 10, 0}), v3(m, 1, 10, 100)...))
		wantSucceeded(t, m, r2, "controller")
		if r2.StableVersionArn != m.Version1 || r2.CandidateVersionArn != m.version(3) {
			t.Errorf("second rollout %s → %s, want v1 → v3", label(r2.StableVersionArn), label(r2.CandidateVersionArn))
		}
		wantEvents(t, m, r2, "Rollout Started", "Rollout Step", "Rollout Succeeded")
	})

	t.Run("queue, both at once", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "busy-together")
		var ids [2]string
		var wg sync.WaitGroup
		for i, lbl := range []string{"v2", "v3"} {
			wg.Go(func() {
				id, err := env.Upload(context.Background(), m.Name, "prod", lbl, release(t, lbl), quick("queue"))
				if err != nil {
					t.Error(err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		r := [2]rollout.Rollout{m.finalized(ids[0]), m.finalized(ids[1])}
		for _, x := range r {
			if x.Phase != rollout.Succeeded {
				t.Fatalf("rollout %s ended %s: %s", x.ID, x.Phase, x.Reason)
			}
		}
		// One ran, then the other from the version the first left.
		a, b := r[0], r[1]
		if a.FinishedAt.After(b.FinishedAt) {
			a, b = b, a
		}
		if a.StableVersionArn != m.Version1 || b.StableVersionArn != a.CandidateVersionArn || m.routing() != label(b.CandidateVersionArn)+"=100" {
			t.Errorf("first %s → %s, then %s → %s, alias %q", label(a.StableVersionArn), label(a.CandidateVersionArn), label(b.StableVersionArn), label(b.CandidateVersionArn), m.routing())
		}
	})
}
