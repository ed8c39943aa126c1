package rollout_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Policies of the Decide and Apply tables. linear expands to
// weight:25 pause:5m weight:50 pause:5m weight:75 pause:5m weight:100 (indexes 0–6).
const (
	linearPolicy      = `{"strategy":"LINEAR","percentage":25,"interval":"5m","alarms":["orders-errors","orders-p99"]}`
	bakePolicy        = `{"strategy":"LINEAR","percentage":25,"interval":"5m","alarms":["orders-errors","orders-p99"],"bakeTime":"30m"}`
	analysisPolicy    = `{"strategy":"LINEAR","percentage":25,"interval":"5m","maxFailureRate":5,"minExecutions":20}`
	driftRollback     = `{"strategy":"LINEAR","percentage":25,"interval":"5m","alarms":["orders-errors","orders-p99"],"onDrift":"rollback"}`
	failurePause      = `{"strategy":"LINEAR","percentage":25,"interval":"5m","alarms":["orders-errors","orders-p99"],"maxFailureRate":5,"onFailure":"pause"}`
	blockPolicy       = `{"strategy":"CANARY","interval":"10m","alarms":["orders-errors"],"preexistingAlarms":"block"}`
	ignorePolicy      = `{"strategy":"CANARY","interval":"10m","alarms":["orders-errors"],"preexistingAlarms":"ignore"}`
	approvalPolicy    = `{"strategy":"BLUE_GREEN","interval":"10m","approval":true,"alarms":["orders-errors"]}`
	customApproval    = `{"strategy":"CUSTOM","steps":["weight:10","approval","weight:50","pause:5m","weight:100"]}`
	lastStepIndex     = 7 // len of the linear step list: all done
	alarmErrors       = "orders-errors"
	alarmP99          = "orders-p99"
	editedPolicyHash  = "0123456789abcdef"
	anotherPolicyHash = "fedcba9876543210"
)

// want is what a Decide or Apply row checks.
type want struct {
	action    rollout.Action
	phase     rollout.Phase
	pauseKind rollout.PauseKind
	weight    int
	stepIndex int
	setAlias  bool
	reason    []string // substrings of Decision.Reason, which is never empty
}

func checkDecision(t *testing.T, d rollout.Decision, w want) {
	t.Helper()
	got := want{action: d.Action, phase: d.Next.Phase, pauseKind: d.Next.PauseKind, weight: d.Next.CandidateWeight, stepIndex: d.Next.StepIndex, setAlias: d.SetAlias, reason: w.reason}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("decision\n got %+v\nwant %+v\nreason: %s", got, w, d.Reason)
	}
	if d.Reason == "" {
		t.Errorf("empty reason")
	}
	if m := missingFrom(d.Reason, w.reason...); m != "" {
		t.Errorf("reason %q lacks %q", d.Reason, m)
	}
	if d.Next.Phase.Terminal() && d.Next.FinishedAt.IsZero() {
		t.Errorf("terminal phase %s without FinishedAt", d.Next.Phase)
	}
}

func TestDecide(t *testing.T) {
	linear := newRollout(t, linearPolicy)
	bake := newRollout(t, bakePolicy)
	analysis := newRollout(t, analysisPolicy)
	baking := with(atStep(bake, lastStepIndex, t0), func(r *rollout.Rollout) {
		r.Phase, r.BakeStartedAt = rollout.Baking, t0
	})
	paused := func(r rollout.Rollout, kind rollout.PauseKind) rollout.Rollout {
		r.ResumePhase, r.Phase, r.PauseKind, r.Reason = r.Phase, rollout.Paused, kind, "held"
		return r
	}
	ended := func(r rollout.Rollout, phase rollout.Phase, candidate, previous int) rollout.Rollout {
		r = atStep(r, 3, t0)
		r.Phase, r.CandidateWeight, r.PreviousWeight, r.FinishedAt = phase, candidate, previous, t0
		return r
	}
	mid := atStep(linear, 3, t0) // 50% (was 25%), pausing 5m from t0
	alarm := func(name string, s rollout.AlarmState) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.Alarms[name] = s }
	}
	routing := func(rs ...rollout.Route) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.Routing = rs }
	}
	executions := func(n, failed int64) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.CandidateExecutions, o.CandidateFailures = n, failed }
	}
	policyHash := func(h string) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.PolicyHash = h }
	}

	tests := []struct {
		name  string
		r     rollout.Rollout
		obs   rollout.Observation
		now   time.Time
		want  want
		check func(t *testing.T, d rollout.Decision)
	}{
		// The step list.
		{name: "pending: the first step sets 25%", r: linear, obs: healthy(linear), now: t0,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"25%"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.TrafficStartedAt.Equal(t0) || !d.Next.StepStartedAt.Equal(t0) || d.Next.PreviousWeight != 0 {
					t.Errorf("TrafficStartedAt %v, StepStartedAt %v, PreviousWeight %d", d.Next.TrafficStartedAt, d.Next.StepStartedAt, d.Next.PreviousWeight)
				}
			}},
		{name: "middle: pause not over waits with the time left", r: mid, obs: healthy(mid), now: t0.Add(2 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"3m0s left", "50%"}}},
		{name: "middle: pause over sets the next weight", r: mid, obs: healthy(mid), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%", "was 50%"}},
			check: func(t *testing.T, d rollout.Decision) {
				if d.Next.PreviousWeight != 50 || !d.Next.StepStartedAt.Equal(t0.Add(5*time.Minute)) {
					t.Errorf("PreviousWeight %d, StepStartedAt %v", d.Next.PreviousWeight, d.Next.StepStartedAt)
				}
			}},
		{name: "last step: promote to 100%", r: atStep(linear, 5, t0), obs: healthy(atStep(linear, 5, t0)), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionPromote, phase: rollout.Progressing, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%"}}},
		{name: "after the last step, no bake: finish", r: atStep(linear, lastStepIndex, t0), obs: healthy(atStep(linear, lastStepIndex, t0)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, reason: []string{"100%"}}},
		{name: "last step with a bake time: promote and bake", r: atStep(bake, 5, t0), obs: healthy(atStep(bake, 5, t0)), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionPromote, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%", "baking 30m"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.BakeStartedAt.Equal(t0.Add(5 * time.Minute)) {
					t.Errorf("BakeStartedAt %v", d.Next.BakeStartedAt)
				}
			}},
		{name: "still baking: wait", r: baking, obs: healthy(baking), now: t0.Add(10 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, reason: []string{"20m0s left"}}},
		{name: "bake over: finish", r: baking, obs: healthy(baking), now: t0.Add(30 * time.Minute),
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, reason: []string{"baked 30m"}}},

		// Approval.
		{name: "approval step: pause for approval", r: atStep(newRollout(t, customApproval), 1, t0), obs: healthy(atStep(newRollout(t, customApproval), 1, t0)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseApproval, weight: 10, stepIndex: 1, reason: []string{"approval", "10%"}}},
		{name: "a weight and then an approval in one tick", r: newRollout(t, customApproval), obs: healthy(newRollout(t, customApproval)), now: t0,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseApproval, weight: 10, stepIndex: 1, setAlias: true, reason: []string{"approval"}}},
		{name: "waiting for approval: wait", r: paused(atStep(newRollout(t, customApproval), 1, t0), rollout.PauseApproval), obs: healthy(atStep(newRollout(t, customApproval), 1, t0)), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PauseApproval, weight: 10, stepIndex: 1, reason: []string{"approval"}}},

		// Alarms.
		{name: "alarm at step 4: roll back", r: mid, obs: observe(healthy(mid), alarm(alarmP99, rollout.AlarmAlarm)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{`"orders-p99"`, "ALARM"}},
			check: func(t *testing.T, d rollout.Decision) {
				if d.Next.PreviousWeight != 50 || !d.Next.FinishedAt.Equal(t0.Add(time.Minute)) {
					t.Errorf("PreviousWeight %d, FinishedAt %v", d.Next.PreviousWeight, d.Next.FinishedAt)
				}
			}},
		{name: "alarm during the bake: roll back", r: baking, obs: observe(healthy(baking), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0.Add(10 * time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: lastStepIndex, setAlias: true, reason: []string{`"orders-errors"`}}},
		{name: "alarm while paused by an operator: roll back", r: paused(mid, rollout.PauseManual), obs: observe(healthy(mid), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{`"orders-errors"`}}},
		{name: "missing alarm on the first tick: roll back before any traffic", r: linear, obs: observe(healthy(linear), func(o *rollout.Observation) { delete(o.Alarms, alarmP99) }), now: t0,
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 0, setAlias: true, reason: []string{`"orders-p99"`}}},
		{name: "missing alarm: roll back", r: mid, obs: observe(healthy(mid), func(o *rollout.Observation) { delete(o.Alarms, alarmP99) }), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{`"orders-p99" does not exist`}}},
		{name: "alarm reported MISSING: roll back", r: mid, obs: observe(healthy(mid), alarm(alarmErrors, rollout.AlarmMissing)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{`"orders-errors" does not exist`}}},
		{name: "no alarm states observed: roll back", r: mid, obs: observe(healthy(mid), func(o *rollout.Observation) { o.Alarms = nil }), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"does not exist"}}},
		{name: "INSUFFICIENT_DATA is not an alarm", r: mid, obs: observe(healthy(mid), alarm(alarmErrors, rollout.AlarmInsufficientData)), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%"}}},
		{name: "preexisting alarm with block: roll back at the start", r: newRollout(t, blockPolicy), obs: observe(healthy(newRollout(t, blockPolicy)), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0,
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 0, setAlias: true, reason: []string{`"orders-errors"`}}},
		{name: "preexisting alarm with ignore: prepared with it firing, start and keep it", r: with(newRollout(t, ignorePolicy), func(r *rollout.Rollout) { r.PreexistingAlarms = []string{alarmErrors} }), obs: observe(healthy(newRollout(t, ignorePolicy)), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 10, stepIndex: 1, setAlias: true, reason: []string{"10%"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !reflect.DeepEqual(d.Next.PreexistingAlarms, []string{alarmErrors}) {
					t.Errorf("PreexistingAlarms = %q", d.Next.PreexistingAlarms)
				}
			}},
		{name: "alarm firing since prepare (during pre-traffic tests): not preexisting, roll back before traffic", r: newRollout(t, ignorePolicy), obs: observe(healthy(newRollout(t, ignorePolicy)), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0,
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 0, setAlias: true, reason: []string{`"orders-errors" is in ALARM`}}},

		// The candidate's failure rate.
		{name: "failure rate over maxFailureRate: roll back", r: atStep(analysis, 1, t0), obs: observe(healthy(analysis), executions(40, 4)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 1, setAlias: true, reason: []string{"failure rate 10.0%", "4 of 40", "maxFailureRate 5%"}}},
		{name: "failure rate under maxFailureRate: the analysis passes", r: atStep(analysis, 1, t0), obs: observe(healthy(atStep(analysis, 1, t0)), executions(40, 1)), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
		{name: "failure rate exactly at maxFailureRate passes", r: atStep(analysis, 1, t0), obs: observe(healthy(atStep(analysis, 1, t0)), executions(20, 1)), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
		{name: "analysis not over: wait, even on good data", r: atStep(analysis, 1, t0), obs: observe(healthy(atStep(analysis, 1, t0)), executions(100, 0)), now: t0.Add(2 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 25, stepIndex: 1, reason: []string{"3m0s left"}}},
		{name: "too few executions: inconclusive, never promoted, long after the analysis", r: atStep(analysis, 1, t0), obs: observe(healthy(atStep(analysis, 1, t0)), executions(19, 19)), now: t0.Add(24 * time.Hour),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 25, stepIndex: 1, reason: []string{"inconclusive", "19 of 20"}}},
		{name: "no executions at all: inconclusive", r: atStep(analysis, 1, t0), obs: healthy(atStep(analysis, 1, t0)), now: t0.Add(24 * time.Hour),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 25, stepIndex: 1, reason: []string{"inconclusive", "0 of 20", "no data is never healthy"}}},

		// Drift.
		{name: "drift to a third version, onDrift=pause: pause and leave the alias", r: mid,
			obs: observe(healthy(mid), routing(rollout.Route{VersionArn: stableArn, Weight: 50}, rollout.Route{VersionArn: foreignArn, Weight: 50})), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseDrift, weight: 50, stepIndex: 3, reason: []string{"drift", "v5=50%"}}},
		{name: "a third version at weight 0 is no drift: it routes nothing", r: mid,
			obs: observe(healthy(mid), routing(append(routes(50), rollout.Route{VersionArn: foreignArn, Weight: 0})...)), now: t0.Add(2 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"3m0s left"}}},
		{name: "drift to weights that are neither the intent nor the previous step", r: mid, obs: observe(healthy(mid), routing(routes(40)...)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseDrift, weight: 50, stepIndex: 3, reason: []string{"drift", "v4=40%"}}},
		{name: "drift to an alias without routing", r: mid, obs: observe(healthy(mid), routing()), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseDrift, weight: 50, stepIndex: 3, reason: []string{"drift", "nothing"}}},
		{name: "drift with onDrift=rollback: roll back", r: atStep(newRollout(t, driftRollback), 3, t0), obs: observe(healthy(mid), routing(routes(40)...)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"drift"}}},
		{name: "still drifted while paused for drift: wait", r: paused(mid, rollout.PauseDrift), obs: observe(healthy(mid), routing(routes(40)...)), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PauseDrift, weight: 50, stepIndex: 3, reason: []string{"still paused", "drift"}}},
		{name: "drift before the first step", r: linear, obs: observe(healthy(linear), routing(rollout.Route{VersionArn: foreignArn, Weight: 100})), now: t0,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseDrift, weight: 0, stepIndex: 0, reason: []string{"drift"}}},

		// A crash (or a throttled update) between the record write and the alias update.
		{name: "crash repair: alias still at the previous weight", r: mid, obs: observe(healthy(mid), routing(routes(25)...)), now: t0.Add(2 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"repair", "25%", "50%"}}},
		{name: "crash repair after the pause ended: repair only, the pause starts again", r: mid, obs: observe(healthy(mid), routing(routes(25)...)), now: t0.Add(6 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"repair"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.StepStartedAt.Equal(t0.Add(6 * time.Minute)) {
					t.Errorf("StepStartedAt %v: the hold at 50%% counts from the repair", d.Next.StepStartedAt)
				}
			}},
		{name: "crash repair while baking restarts the bake", r: baking, obs: observe(healthy(baking), routing(routes(75)...)), now: t0.Add(40 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"repair"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.BakeStartedAt.Equal(t0.Add(40 * time.Minute)) {
					t.Errorf("BakeStartedAt %v", d.Next.BakeStartedAt)
				}
			}},
		{name: "crash repair while paused", r: paused(mid, rollout.PauseManual), obs: observe(healthy(mid), routing(routes(25)...)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Paused, pauseKind: rollout.PauseManual, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"repair"}}},
		{name: "alarm while the alias lags: roll back", r: mid, obs: observe(healthy(mid), routing(routes(25)...), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{`"orders-errors"`}}},

		// The policy edited mid-rollout.
		{name: "policy edited mid-rollout: pause", r: mid, obs: observe(healthy(mid), policyHash(editedPolicyHash)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PausePolicyChanged, weight: 50, stepIndex: 3, reason: []string{"policy changed", editedPolicyHash}},
			check: func(t *testing.T, d rollout.Decision) {
				if d.Next.SeenPolicyHash != editedPolicyHash || d.Next.PolicyHash != mid.PolicyHash {
					t.Errorf("SeenPolicyHash %q, PolicyHash %q", d.Next.SeenPolicyHash, d.Next.PolicyHash)
				}
			}},
		{name: "policy edited, resumed for that edit: no pause again", r: with(mid, func(r *rollout.Rollout) { r.SeenPolicyHash = editedPolicyHash }), obs: observe(healthy(mid), policyHash(editedPolicyHash)), now: t0.Add(2 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"left"}}},
		{name: "policy edited again after a resume: pause again", r: with(mid, func(r *rollout.Rollout) { r.SeenPolicyHash = editedPolicyHash }), obs: observe(healthy(mid), policyHash(anotherPolicyHash)), now: t0.Add(2 * time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PausePolicyChanged, weight: 50, stepIndex: 3, reason: []string{anotherPolicyHash}}},
		{name: "policy hash not observed: go on", r: mid, obs: observe(healthy(mid), policyHash("")), now: t0.Add(5 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%"}}},

		// onFailure=pause.
		{name: "onFailure=pause: an alarm freezes the weights", r: atStep(newRollout(t, failurePause), 3, t0), obs: observe(healthy(mid), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseFailure, weight: 50, stepIndex: 3, reason: []string{`"orders-errors"`, "onFailure=pause"}}},
		{name: "onFailure=pause: the failure rate freezes the weights", r: atStep(newRollout(t, failurePause), 3, t0), obs: observe(healthy(mid), executions(100, 50)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseFailure, weight: 50, stepIndex: 3, reason: []string{"failure rate 50.0%"}}},
		{name: "onFailure=pause: still paused while the alarm fires", r: paused(atStep(newRollout(t, failurePause), 3, t0), rollout.PauseFailure), obs: observe(healthy(mid), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PauseFailure, weight: 50, stepIndex: 3, reason: []string{"still paused on failure", `"orders-errors"`}}},

		// Paused by an operator.
		{name: "paused by an operator: wait past the pause's end", r: paused(mid, rollout.PauseManual), obs: healthy(mid), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PauseManual, weight: 50, stepIndex: 3, reason: []string{"paused (manual)"}}},

		// Ended rollouts.
		{name: "rolled back, alias right: nothing to do", r: ended(linear, rollout.RolledBack, 0, 50), obs: observe(healthy(linear), routing(routes(0)...)), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionNone, phase: rollout.RolledBack, weight: 0, stepIndex: 3, reason: []string{"RolledBack"}}},
		{name: "succeeded, alias right: nothing to do", r: ended(linear, rollout.Succeeded, 100, 75), obs: observe(healthy(linear), routing(routes(100)...)), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionNone, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"Succeeded"}}},
		{name: "rolled back, alias lagging at the previous weight: repair", r: ended(linear, rollout.RolledBack, 0, 50), obs: observe(healthy(linear), routing(routes(50)...)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"50%", "0%"}}},
		{name: "succeeded, alias lagging at the previous weight: repair", r: ended(linear, rollout.Succeeded, 100, 75), obs: observe(healthy(linear), routing(routes(75)...)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Succeeded, weight: 100, stepIndex: 3, setAlias: true, reason: []string{"75%", "100%"}}},
		{name: "rolled back, alias moved to a foreign version since: leave it", r: ended(linear, rollout.RolledBack, 0, 50), obs: observe(healthy(linear), routing(rollout.Route{VersionArn: foreignArn, Weight: 100})), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionNone, phase: rollout.RolledBack, weight: 0, stepIndex: 3, reason: []string{"ended"}}},
		{name: "aborted, alarms no longer matter", r: ended(linear, rollout.Aborted, 0, 50), obs: observe(healthy(linear), routing(routes(0)...), alarm(alarmErrors, rollout.AlarmAlarm)), now: t0.Add(time.Hour),
			want: want{action: rollout.ActionNone, phase: rollout.Aborted, weight: 0, stepIndex: 3, reason: []string{"Aborted"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.Decide(tt.r, tt.obs, tt.now)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			checkDecision(t, d, tt.want)
			if d.Next.Rev != tt.r.Rev {
				t.Errorf("Rev %d, want the input's %d (the store bumps it)", d.Next.Rev, tt.r.Rev)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestDecideRefusesBadRecords(t *testing.T) {
	linear := newRollout(t, linearPolicy)
	tests := []struct {
		name string
		r    rollout.Rollout
		want string
	}{
		{name: "no candidate", r: with(linear, func(r *rollout.Rollout) { r.CandidateVersionArn = "" }), want: "required"},
		{name: "stable is the candidate", r: with(linear, func(r *rollout.Rollout) { r.CandidateVersionArn = stableArn }), want: "same version"},
		{name: "no steps", r: with(linear, func(r *rollout.Rollout) { r.Steps = nil }), want: "no steps"},
		{name: "step index past the end", r: with(linear, func(r *rollout.Rollout) { r.StepIndex = 8 }), want: "step index 8"},
		{name: "weight over 100", r: with(linear, func(r *rollout.Rollout) { r.CandidateWeight = 101 }), want: "weight 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rollout.Decide(tt.r, healthy(linear), t0); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decide error = %v, want one with %q", err, tt.want)
			}
			if _, err := rollout.Apply(tt.r, rollout.CommandAbort, t0); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Apply error = %v, want one with %q", err, tt.want)
			}
		})
	}
}

// tick is one decision in a scenario: the world as seen at an offset from t0, and what
// the decision must be. The alias follows every SetAlias unless lag says otherwise.
type tick struct {
	name    string
	at      time.Duration
	obs     func(*rollout.Observation)
	command rollout.Command // applied instead of Decide when set
	want    want
	check   func(t *testing.T, r rollout.Rollout)
}

func runScenario(t *testing.T, r rollout.Rollout, ticks []tick) rollout.Rollout {
	t.Helper()
	alias := routes(0)
	for _, tk := range ticks {
		obs := healthy(r)
		obs.Routing = alias
		if tk.obs != nil {
			tk.obs(&obs)
		}
		var d rollout.Decision
		var err error
		if tk.command != "" {
			d, err = rollout.Apply(r, tk.command, t0.Add(tk.at))
		} else {
			d, err = rollout.Decide(r, obs, t0.Add(tk.at))
		}
		if err != nil {
			t.Fatalf("%s: %v", tk.name, err)
		}
		t.Run(tk.name, func(t *testing.T) {
			checkDecision(t, d, tk.want)
			if tk.check != nil {
				tk.check(t, d.Next)
			}
		})
		r = d.Next
		if d.SetAlias {
			alias = r.Routing()
		}
	}
	return r
}

func TestScenarioLinearToSuccess(t *testing.T) {
	r := newRollout(t, linearPolicy)
	runScenario(t, r, []tick{
		{name: "25%", at: 0, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"25%"}}},
		{name: "waiting at 25%", at: 4 * time.Minute, want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 25, stepIndex: 1, reason: []string{"1m0s left"}}},
		{name: "50%", at: 5 * time.Minute, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
		{name: "75%", at: 10 * time.Minute, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%"}}},
		{name: "100%", at: 15 * time.Minute, want: want{action: rollout.ActionPromote, phase: rollout.Progressing, weight: 100, stepIndex: 7, setAlias: true, reason: []string{"100%"}}},
		{name: "done", at: 16 * time.Minute, want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: 7, reason: []string{"100%"}}},
		{name: "nothing after", at: 17 * time.Minute, want: want{action: rollout.ActionNone, phase: rollout.Succeeded, weight: 100, stepIndex: 7, reason: []string{"ended"}}},
	})
}

// Two alias updates in a row that do not land must not read as drift.
func TestScenarioAliasUpdatesThatDoNotLand(t *testing.T) {
	r := newRollout(t, `{"strategy":"LINEAR","percentage":25,"interval":"1m","onDrift":"rollback"}`)
	lagAt := func(w int) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.Routing = routes(w) }
	}
	runScenario(t, r, []tick{
		{name: "25%", at: 0, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"25%"}}},
		{name: "50%, but the update is throttled", at: time.Minute, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
		{name: "alias still at 25%: repair, do not walk on", at: 2 * time.Minute, obs: lagAt(25),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"repair"}}},
		{name: "throttled again: still a repair, not drift", at: 3 * time.Minute, obs: lagAt(25),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"repair"}}},
		{name: "landed: the hold at 50% runs from the last repair", at: 3*time.Minute + 30*time.Second,
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"30s left"}}},
		{name: "75%", at: 4 * time.Minute, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%"}}},
	})
}

func TestScenarioPreexistingAlarmIgnored(t *testing.T) {
	r := newRollout(t, ignorePolicy)
	r.PreexistingAlarms = []string{alarmErrors} // as Prepare records it
	state := func(s rollout.AlarmState) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.Alarms[alarmErrors] = s }
	}
	preexisting := func(want ...string) func(t *testing.T, r rollout.Rollout) {
		return func(t *testing.T, r rollout.Rollout) {
			if len(r.PreexistingAlarms) != len(want) || len(want) > 0 && !reflect.DeepEqual(r.PreexistingAlarms, want) {
				t.Errorf("PreexistingAlarms = %q, want %q", r.PreexistingAlarms, want)
			}
		}
	}
	runScenario(t, r, []tick{
		{name: "in ALARM since before the rollout: ignored, the rollout starts", at: 0, obs: state(rollout.AlarmAlarm),
			want:  want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 10, stepIndex: 1, setAlias: true, reason: []string{"10%"}},
			check: preexisting(alarmErrors)},
		{name: "still in ALARM: ignored", at: time.Minute, obs: state(rollout.AlarmAlarm),
			want:  want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 10, stepIndex: 1, reason: []string{"left"}},
			check: preexisting(alarmErrors)},
		{name: "back to OK: dropped", at: 2 * time.Minute, obs: state(rollout.AlarmOK),
			want:  want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 10, stepIndex: 1, reason: []string{"left"}},
			check: preexisting()},
		{name: "fires again: counts", at: 3 * time.Minute, obs: state(rollout.AlarmAlarm),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 1, setAlias: true, reason: []string{`"orders-errors" is in ALARM`}}},
	})
}

func TestScenarioPreexistingAlarmIgnoredIsNotNew(t *testing.T) {
	// An alarm that goes to ALARM after the start was never preexisting.
	r := newRollout(t, ignorePolicy)
	runScenario(t, r, []tick{
		{name: "OK at the start", at: 0, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 10, stepIndex: 1, setAlias: true, reason: []string{"10%"}}},
		{name: "fires later: roll back", at: time.Minute, obs: func(o *rollout.Observation) { o.Alarms[alarmErrors] = rollout.AlarmAlarm },
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 1, setAlias: true, reason: []string{`"orders-errors"`}}},
	})
}

func TestScenarioApproval(t *testing.T) {
	r := newRollout(t, approvalPolicy) // pause:10m approval weight:100
	runScenario(t, r, []tick{
		{name: "start: hold at 0% while the test alias is tried", at: 0,
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 0, stepIndex: 0, reason: []string{"10m0s left"}}},
		{name: "wait for approval", at: 10 * time.Minute,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseApproval, weight: 0, stepIndex: 1, reason: []string{"approval"}}},
		{name: "still waiting", at: 2 * time.Hour,
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PauseApproval, weight: 0, stepIndex: 1, reason: []string{"approval"}}},
		{name: "approve: 100% at once", at: 2*time.Hour + time.Second, command: rollout.CommandApprove,
			want: want{action: rollout.ActionPromote, phase: rollout.Progressing, weight: 100, stepIndex: 3, setAlias: true, reason: []string{"100%"}}},
		{name: "done", at: 2*time.Hour + time.Minute,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"100%"}}},
	})
}

func TestScenarioPolicyEditedThenResumed(t *testing.T) {
	r := newRollout(t, linearPolicy)
	edited := func(o *rollout.Observation) { o.PolicyHash = editedPolicyHash }
	runScenario(t, r, []tick{
		{name: "25%", at: 0, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"25%"}}},
		{name: "edited: pause", at: time.Minute, obs: edited,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PausePolicyChanged, weight: 25, stepIndex: 1, reason: []string{"policy changed"}}},
		{name: "still paused", at: 10 * time.Minute, obs: edited,
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PausePolicyChanged, weight: 25, stepIndex: 1, reason: []string{"paused (policy-changed)"}}},
		{name: "resume", at: 11 * time.Minute, command: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"resumed"}}},
		{name: "the same edit does not pause again: on with the original policy", at: 12 * time.Minute, obs: edited,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
	})
}

func TestScenarioOnFailurePause(t *testing.T) {
	r := newRollout(t, failurePause)
	good := func(o *rollout.Observation) { o.CandidateExecutions = 100 }
	firing := func(o *rollout.Observation) { good(o); o.Alarms[alarmP99] = rollout.AlarmAlarm }
	runScenario(t, r, []tick{
		{name: "25%", at: 0, want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"25%"}}},
		{name: "alarm: weights frozen", at: time.Minute, obs: firing,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseFailure, weight: 25, stepIndex: 1, reason: []string{`"orders-p99"`}}},
		{name: "still firing: still paused", at: 20 * time.Minute, obs: firing,
			want: want{action: rollout.ActionWait, phase: rollout.Paused, pauseKind: rollout.PauseFailure, weight: 25, stepIndex: 1, reason: []string{"still paused on failure"}}},
		{name: "resume", at: 21 * time.Minute, command: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Progressing, weight: 25, stepIndex: 1, setAlias: true, reason: []string{"failure pause"}}},
		{name: "alarm gone: on to the next weight", at: 22 * time.Minute, obs: good,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
		{name: "fires again after the resume: frozen again", at: 23 * time.Minute, obs: firing,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseFailure, weight: 50, stepIndex: 3, reason: []string{`"orders-p99"`}}},
	})
}

// The form of the Version dimension the metrics were found under is remembered on the
// record, so that later looks query that form alone; a look that found none keeps it.
func TestDecideRemembersTheMetricsForm(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := atStep(newRollout(t, analysisPolicy), 1, t0)
	obs := healthy(r)
	obs.CandidateExecutions = 3
	obs.MetricsForm = rollout.MetricsFormArn
	d, err := rollout.Decide(r, obs, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d.Next.MetricsForm != rollout.MetricsFormArn {
		t.Errorf("MetricsForm %q after a look that found the ARN form", d.Next.MetricsForm)
	}
	obs.MetricsForm = ""
	d, err = rollout.Decide(d.Next, obs, t0.Add(2*time.Minute))
	if err != nil || d.Next.MetricsForm != rollout.MetricsFormArn {
		t.Errorf("MetricsForm %q, %v after a look that found no series; want it kept", d.Next.MetricsForm, err)
	}
}
