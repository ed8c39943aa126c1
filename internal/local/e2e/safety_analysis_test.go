package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A CUSTOM analysis step with its own maxFailureRate, and none at the policy level, judges
// the flaky candidate (about 30% of its executions fail) on its metrics and rolls it back.
func TestStepAnalysisRollsBackAFailingCandidate(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, trafficSpeed, 31)
	r := stepAnalysisRollsBack(t, env, log)
	if r.MetricsForm != rollout.MetricsFormNumber {
		t.Errorf("record's MetricsForm %q, want %q", r.MetricsForm, rollout.MetricsFormNumber)
	}
}

func stepAnalysisRollsBack(t *testing.T, env *localenv.Env, log *localenv.EventLog) rollout.Rollout {
	t.Helper()
	ctx := context.Background()
	m := newMachine(t, env, log, "step-analysis")
	policy := `{"strategy":"CUSTOM","steps":[{"setWeight":30},{"analysis":{"duration":"3m","maxFailureRate":10,"minExecutions":20}},{"setWeight":100}]}`
	if err := env.Put(ctx, m.Name+"/prod/rollout.json", policy); err != nil {
		t.Fatal(err)
	}
	traffic := env.StartTraffic(ctx, m.AliasArn, trafficPerSec)
	defer traffic.Stop()
	watch := m.watch()
	id := m.upload("v2", example(t, "orders-v3-flaky.asl.json"), nil)
	r := m.finalized(id)
	traffic.Stop()
	if r.Phase != rollout.RolledBack || !strings.Contains(r.Reason, "failure rate") || !strings.Contains(r.Reason, "maxFailureRate 10%") {
		t.Fatalf("rollout ended %s: %q; want RolledBack on the analysis step's failure rate", r.Phase, r.Reason)
	}
	wantRoutings(t, watch.Stop(), routings(m, []int{0, 30, 0}))
	wantRolledBack(t, m, r, "controller")
	t.Logf("rolled back after %s of virtual time: %s", r.FinishedAt.Sub(r.TrafficStartedAt).Round(time.Second), r.Reason)
	return r
}
