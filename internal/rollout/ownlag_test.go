package rollout_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// TestDecideOwnLateWrites: an alias write is checked against the newest record right
// before it and lands within the write window or never. So a weight the rollout itself
// asked for earlier, on an alias last updated no later than one window after the newest
// intent, is the controller's own late write: repaired, also after the end, never drift.
// The same weight on an alias updated later was set by someone else. 0% never counts.
func TestDecideOwnLateWrites(t *testing.T) {
	const window = 5 * time.Second
	linear := newRollout(t, linearPolicy)
	// Intents 25, 50, 75 were asked for; the last change (to the rollback's 0%, or to 75%)
	// was saved at t0.
	withIntents := func(r rollout.Rollout) rollout.Rollout {
		r.Intents, r.IntentAt = []int{25, 50, 75}, t0
		return r
	}
	rolledBack := withIntents(atStep(linear, 3, t0))
	rolledBack.Phase, rolledBack.CandidateWeight, rolledBack.PreviousWeight, rolledBack.FinishedAt = rollout.RolledBack, 0, 75, t0
	running := withIntents(atStep(linear, 3, t0))
	running.CandidateWeight, running.PreviousWeight = 75, 50

	at := func(r rollout.Rollout, weight int, updated time.Time) rollout.Observation {
		obs := healthy(r)
		obs.Routing, obs.AliasUpdatedAt, obs.WriteWindow = routes(weight), updated, window
		return obs
	}
	tests := []struct {
		name     string
		r        rollout.Rollout
		obs      rollout.Observation
		now      time.Time
		action   rollout.Action
		setAlias bool
	}{
		{"rolled back, an older step's write landed within the window: repaired", rolledBack, at(rolledBack, 25, t0.Add(3*time.Second)), t0.Add(time.Minute), rollout.ActionSetWeights, true},
		{"rolled back, the same weight set a minute later: someone else's, left alone", rolledBack, at(rolledBack, 25, t0.Add(time.Minute)), t0.Add(2 * time.Minute), rollout.ActionReportDrift, false},
		{"rolled back, a weight it never asked for: left alone", rolledBack, at(rolledBack, 40, t0.Add(time.Second)), t0.Add(time.Minute), rollout.ActionReportDrift, false},
		{"running, an older step's write landed late: repaired, not drift", running, at(running, 25, t0.Add(2*time.Second)), t0.Add(time.Minute), rollout.ActionSetWeights, true},
		{"running, the same weight set by hand later: drift", running, at(running, 25, t0.Add(time.Minute)), t0.Add(2 * time.Minute), rollout.ActionPause, false},
		{"running, unknown update time: only the step before is own", running, at(running, 25, time.Time{}), t0.Add(time.Minute), rollout.ActionPause, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.Decide(tt.r, tt.obs, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action || d.SetAlias != tt.setAlias {
				t.Errorf("Decide = %s (set alias %v): %s; want %s (set alias %v)", d.Action, d.SetAlias, d.Reason, tt.action, tt.setAlias)
			}
		})
	}
}

// TestWithIntent keeps the weights a rollout asked for and when it last changed them.
func TestWithIntent(t *testing.T) {
	r := newRollout(t, linearPolicy)
	next := r
	next.CandidateWeight = 25
	got := rollout.WithIntent(r, next, t0)
	if !slices.Equal(got.Intents, []int{25}) || !got.IntentAt.Equal(t0) {
		t.Fatalf("first step: intents %v at %s", got.Intents, got.IntentAt)
	}
	back := got
	back.CandidateWeight = 0
	got2 := rollout.WithIntent(got, back, t0.Add(time.Minute))
	if !slices.Equal(got2.Intents, []int{25}) || !got2.IntentAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("rollback: intents %v at %s (0%% is never an intent)", got2.Intents, got2.IntentAt)
	}
	same := rollout.WithIntent(got2, got2, t0.Add(time.Hour))
	if !same.IntentAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("no weight change moved IntentAt to %s", same.IntentAt)
	}
}
