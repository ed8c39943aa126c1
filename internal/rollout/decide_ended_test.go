package rollout_test

import (
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// TestDecideAfterTheEnd: an ended rollout repairs only its own lost write — the alias
// exactly at the weight of the step before, with only its stable and candidate versions.
// Anything else was set by hand (an operator's emergency rollback after a success, say):
// it is reported once and left alone.
func TestDecideAfterTheEnd(t *testing.T) {
	linear := newRollout(t, linearPolicy)
	ended := func(phase rollout.Phase, candidate, previous int) rollout.Rollout {
		r := atStep(linear, 3, t0)
		r.Phase, r.CandidateWeight, r.PreviousWeight, r.FinishedAt = phase, candidate, previous, t0
		return r
	}
	reported := func(r rollout.Rollout, routing string) rollout.Rollout {
		r.DriftAfterEnd = routing
		return r
	}
	at := func(rs ...rollout.Route) rollout.Observation {
		return rollout.Observation{Routing: rs}
	}
	tests := []struct {
		name      string
		r         rollout.Rollout
		obs       rollout.Observation
		want      want
		wantDrift string // Next.DriftAfterEnd
	}{
		{name: "succeeded, rolled back by hand to stable: reported, left alone", r: ended(rollout.Succeeded, 100, 75), obs: at(routes(0)...),
			want:      want{action: rollout.ActionReportDrift, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"v3=100%", "by hand", "left alone"}},
			wantDrift: "v3=100%"},
		{name: "succeeded, hand rollback already reported: nothing to do", r: reported(ended(rollout.Succeeded, 100, 75), "v3=100%"), obs: at(routes(0)...),
			want:      want{action: rollout.ActionNone, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"left alone"}},
			wantDrift: "v3=100%"},
		{name: "succeeded, split by hand: reported, left alone", r: ended(rollout.Succeeded, 100, 75), obs: at(routes(40)...),
			want:      want{action: rollout.ActionReportDrift, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"v3=60% v4=40%", "left alone"}},
			wantDrift: "v3=60% v4=40%"},
		{name: "succeeded, a second hand change is reported too", r: reported(ended(rollout.Succeeded, 100, 75), "v3=100%"), obs: at(routes(40)...),
			want:      want{action: rollout.ActionReportDrift, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"v3=60% v4=40%"}},
			wantDrift: "v3=60% v4=40%"},
		{name: "rolled back, promoted by hand: reported, left alone", r: ended(rollout.RolledBack, 0, 50), obs: at(routes(100)...),
			want:      want{action: rollout.ActionReportDrift, phase: rollout.RolledBack, weight: 0, stepIndex: 3, reason: []string{"v4=100%", "left alone"}},
			wantDrift: "v4=100%"},
		{name: "rolled back, the alias lags at the previous weight: our own lost write, repaired", r: ended(rollout.RolledBack, 0, 50), obs: at(routes(50)...),
			want: want{action: rollout.ActionSetWeights, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"50%", "0%"}}},
		{name: "once changed by hand, the alias is the operator's, even at the previous weight", r: reported(ended(rollout.Succeeded, 100, 75), "v3=100%"), obs: at(routes(75)...),
			want:      want{action: rollout.ActionReportDrift, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"v3=25% v4=75%", "left alone"}},
			wantDrift: "v3=25% v4=75%"},
		{name: "hand change undone by hand: nothing to do", r: reported(ended(rollout.Succeeded, 100, 75), "v3=100%"), obs: at(routes(100)...),
			want:      want{action: rollout.ActionNone, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"ended"}},
			wantDrift: "v3=100%"},
		{name: "another version on the alias (the next rollout): not ours, nothing to do", r: ended(rollout.Succeeded, 100, 75), obs: at(rollout.Route{VersionArn: candidateArn, Weight: 90}, rollout.Route{VersionArn: foreignArn, Weight: 10}),
			want: want{action: rollout.ActionNone, phase: rollout.Succeeded, weight: 100, stepIndex: 3, reason: []string{"ended"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.Decide(tt.r, tt.obs, t0.Add(time.Minute))
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			checkDecision(t, d, tt.want)
			if d.Next.DriftAfterEnd != tt.wantDrift {
				t.Errorf("DriftAfterEnd = %q, want %q", d.Next.DriftAfterEnd, tt.wantDrift)
			}
			if d.Action == rollout.ActionNone && d.Next.UpdatedAt != tt.r.UpdatedAt {
				t.Errorf("a decision that changes nothing moved UpdatedAt")
			}
		})
	}
}

// TestDecideSucceededThenRolledBackByHand: an ALL_AT_ONCE rollout goes from 0% to 100%, so
// the step before its end is 0% — the very routing of an operator's emergency rollback.
// Decide finishes only once it has seen the alias at 100%, so no write of its own can be
// outstanding then: the rollback by hand is drift, never a lost write to repair.
func TestDecideSucceededThenRolledBackByHand(t *testing.T) {
	r := newRollout(t, `{"strategy":"ALL_AT_ONCE"}`)
	d, err := rollout.Decide(r, healthy(r), t0)
	if err != nil || d.Next.CandidateWeight != 100 || !d.SetAlias {
		t.Fatalf("first tick: %+v, %v", d, err)
	}
	r = d.Next
	if d, err = rollout.Decide(r, healthy(r), t0.Add(time.Minute)); err != nil || d.Action != rollout.ActionFinish {
		t.Fatalf("second tick: %s (%s), %v", d.Action, d.Reason, err)
	}
	r = d.Next
	d, err = rollout.Decide(r, rollout.Observation{Routing: routes(0)}, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	checkDecision(t, d, want{action: rollout.ActionReportDrift, phase: rollout.Succeeded, weight: 100, stepIndex: 1, reason: []string{"v3=100%", "left alone"}})
}

// A rollback decided while the alias still lagged at the step before (its last update was
// lost) keeps that weight as the one a lost rollback write leaves: the rollback is still
// the rollout's own write to repair after the end, never a hand change to leave alone.
func TestDecideRollbackOverALaggingAlias(t *testing.T) {
	r := atStep(newRollout(t, linearPolicy), 3, t0) // intent 50%, step before 25%
	obs := healthy(r)
	obs.Routing = routes(25)
	obs.Alarms[alarmErrors] = rollout.AlarmAlarm
	d, err := rollout.Decide(r, obs, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	checkDecision(t, d, want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{alarmErrors}})
	if d.Next.PreviousWeight != 25 {
		t.Errorf("PreviousWeight %d, want 25: the weight the alias showed when the rollback was decided", d.Next.PreviousWeight)
	}
	// The rollback's alias update was lost too: the next look repairs it.
	d, err = rollout.Decide(d.Next, rollout.Observation{Routing: routes(25)}, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	checkDecision(t, d, want{action: rollout.ActionSetWeights, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"25%", "0%"}})
}
