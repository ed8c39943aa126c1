package rollout_test

import (
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A tick that comes a moment before a hold's end must not add a whole tick to the hold.
func TestSlackEndsAHoldAtTheNearestTick(t *testing.T) {
	p, err := rollout.ParsePolicy([]byte(`{"strategy":"LINEAR","percentage":50,"interval":"1m","bakeTime":"2m"}`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := rollout.Rollout{ID: "r-1", StableVersionArn: "arn:aws:states:us-east-1:000000000000:stateMachine:o:1",
		CandidateVersionArn: "arn:aws:states:us-east-1:000000000000:stateMachine:o:2",
		Policy:              p, PolicyHash: p.Hash(), Steps: p.Expand(), Phase: rollout.Progressing,
		StepIndex: 1, CandidateWeight: 50, StepStartedAt: t0, TrafficStartedAt: t0}
	routing := []rollout.Route{{VersionArn: r.StableVersionArn, Weight: 50}, {VersionArn: r.CandidateVersionArn, Weight: 50}}
	early := t0.Add(time.Minute - 2*time.Second)

	tests := []struct {
		name       string
		r          rollout.Rollout
		slack      time.Duration
		now        time.Time
		wantAction rollout.Action
	}{
		{name: "pause 2s short, no slack: hold", r: r, now: early, wantAction: rollout.ActionWait},
		{name: "pause 2s short, 30s slack: next weight", r: r, slack: 30 * time.Second, now: early, wantAction: rollout.ActionPromote},
		{name: "pause 40s short, 30s slack: hold", r: r, slack: 30 * time.Second, now: t0.Add(20 * time.Second), wantAction: rollout.ActionWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.Decide(tt.r, rollout.Observation{Routing: routing, Slack: tt.slack}, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.wantAction {
				t.Errorf("action %s (%s), want %s", d.Action, d.Reason, tt.wantAction)
			}
		})
	}
}
