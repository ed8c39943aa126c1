package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// A flaky candidate (orders-v3-flaky fails about 30% of its executions, in real ASL) under
// steady traffic is rolled back by the alias-failures alarm, or by its own failure rate.
// At speed 120 a virtual minute is half a second; 80 executions a second put about 12 a
// minute on a 30% canary, so the alarm all but surely sees a failure in its first minute,
// and the failure rate has its 20 executions within two minutes, long before the canary's
// ten minutes are up.
const (
	trafficSpeed   = 120
	trafficPerSec  = 80
	flakyCanaryPct = 30
)

func TestRollbacks(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, trafficSpeed, 3)
	canary := map[string]string{"strategy": "CANARY", "percentage": "30", "interval": "10m"}

	t.Run("alarm", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		m := newMachine(t, env, log, "flaky-alarm")
		alarm, err := env.AliasFailuresAlarm(ctx, m.Managed, "prod")
		if err != nil {
			t.Fatal(err)
		}
		traffic := env.StartTraffic(ctx, m.AliasArn, trafficPerSec)
		defer traffic.Stop()
		watch := env.WatchAlias(ctx, m.AliasArn, alarm, 2*time.Millisecond)
		policy := map[string]string{"alarms": alarm}
		for k, v := range canary {
			policy[k] = v
		}
		id := m.upload("v2", example(t, "orders-v3-flaky.asl.json"), policy)
		r := m.finalized(id)
		watch.Stop()
		traffic.Stop()

		if r.Phase != rollout.RolledBack || !strings.Contains(r.Reason, alarm) {
			t.Fatalf("rollout ended %s: %q; want RolledBack naming %s", r.Phase, r.Reason, alarm)
		}
		wantRoutings(t, watch.Routings(), routings(m, []int{0, flakyCanaryPct, 0}))
		wantRolledBack(t, m, r, "alarm:"+alarm, "controller")
		logAlarmToStable(t, watch.Samples(), "v1=100")
		logExecutions(t, env, m)
	})

	t.Run("failure rate", func(t *testing.T) {
		t.Parallel()
		failureRateRollsBack(t, env, log, canary)
	})
}

// The e2e failure-rate scenarios again, with local mode writing AWS/States's Version
// dimension as the version ARN instead of the number: AWS does not document which form it
// writes, and the guard must work under both (the record remembers the form found).
func TestFailureRateGuardWithVersionAsARN(t *testing.T) {
	t.Parallel()
	env, log := ownEnvWith(t, localenv.Options{Speed: trafficSpeed, Seed: 5, VersionDimensionArn: true})
	t.Run("policy maxFailureRate", func(t *testing.T) {
		t.Parallel()
		r := failureRateRollsBack(t, env, log, map[string]string{"strategy": "CANARY", "percentage": "30", "interval": "10m"})
		if r.MetricsForm != rollout.MetricsFormArn {
			t.Errorf("record's MetricsForm %q, want %q", r.MetricsForm, rollout.MetricsFormArn)
		}
	})
	t.Run("analysis step", func(t *testing.T) {
		t.Parallel()
		r := stepAnalysisRollsBack(t, env, log)
		if r.MetricsForm != rollout.MetricsFormArn {
			t.Errorf("record's MetricsForm %q, want %q", r.MetricsForm, rollout.MetricsFormArn)
		}
	})
}

// failureRateRollsBack uploads the flaky candidate with maxFailureRate 10% under steady
// traffic and checks that its own failure rate rolls it back.
func failureRateRollsBack(t *testing.T, env *localenv.Env, log *localenv.EventLog, canary map[string]string) rollout.Rollout {
	t.Helper()
	ctx := context.Background()
	m := newMachine(t, env, log, "flaky-rate")
	traffic := env.StartTraffic(ctx, m.AliasArn, trafficPerSec)
	defer traffic.Stop()
	watch := m.watch()
	policy := map[string]string{"maxFailureRate": "10", "minExecutions": "20"}
	for k, v := range canary {
		policy[k] = v
	}
	id := m.upload("v2", example(t, "orders-v3-flaky.asl.json"), policy)
	r := m.finalized(id)
	traffic.Stop()

	if r.Phase != rollout.RolledBack || !strings.Contains(r.Reason, "failure rate") || !strings.Contains(r.Reason, "maxFailureRate 10%") {
		t.Fatalf("rollout ended %s: %q; want RolledBack on its failure rate", r.Phase, r.Reason)
	}
	wantRoutings(t, watch.Stop(), routings(m, []int{0, flakyCanaryPct, 0}))
	wantRolledBack(t, m, r, "controller")
	t.Logf("rolled back after %s of virtual time at %d%%: %s", r.FinishedAt.Sub(r.TrafficStartedAt).Round(time.Second), flakyCanaryPct, r.Reason)
	logExecutions(t, env, m)
	return r
}

// wantRolledBack checks the record, alias, events and audit trail of a rolled-back
// rollout, rolled back by one of actors: an alarm's rollback comes from its event, or from
// a tick that read the alarm in ALARM first.
func wantRolledBack(t *testing.T, m *machine, r rollout.Rollout, actors ...string) {
	t.Helper()
	if r.ErrorName != "" || r.IntendedWeights() != (rollout.Weights{Stable: 100}) || r.FinishedAt.IsZero() {
		t.Errorf("record of a rollback: error %q weights %+v finished %s", r.ErrorName, r.IntendedWeights(), r.FinishedAt)
	}
	if got := m.routing(); got != label(r.StableVersionArn)+"=100" {
		t.Errorf("alias routes %q after the rollback, want %s=100", got, label(r.StableVersionArn))
	}
	wantOutcomeEvent(t, m.outcome(r.ID, topology.DetailRolloutRolledBack), r)
	wantEvents(t, m, r, "Rollout Started", "Rollout RolledBack")
	evs := m.audit(r.ID)
	wantAudit(t, evs, rollout.ActionRollback, actors...)
	wantWeights(t, evs, 0, r.PreviousWeight, 0)
	wantExecutions(t, m, r.ID, 1)
}

// logAlarmToStable logs how long after the alarm was first read in ALARM the alias was
// first read back at stable, in wall-clock and virtual time.
func logAlarmToStable(t *testing.T, samples []localenv.RoutingSample, stable string) {
	t.Helper()
	var alarmed *localenv.RoutingSample
	for i, s := range samples {
		if alarmed == nil && s.Alarm == "ALARM" {
			alarmed = &samples[i]
		}
		if alarmed != nil && s.Routing == stable {
			t.Logf("alias back at %s %s (%s of virtual time) after the alarm was read in ALARM",
				stable, s.Real.Sub(alarmed.Real).Round(time.Millisecond), s.Virtual.Sub(alarmed.Virtual).Round(time.Second))
			return
		}
	}
	t.Errorf("no reading saw the alarm in ALARM and then the alias at %s", stable)
}

func logExecutions(t *testing.T, env *localenv.Env, m *machine) {
	t.Helper()
	counts, err := env.Executions(context.Background(), m.AliasArn)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("executions through %s:prod by version and status: %v", m.Name, counts)
	if counts["v2"]["FAILED"] == 0 {
		t.Errorf("the flaky candidate failed no execution: %v", counts)
	}
}
