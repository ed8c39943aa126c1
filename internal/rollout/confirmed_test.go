package rollout

import (
	"testing"
	"time"
)

// A confirmation holds for the intent it confirmed: a new weight is unconfirmed, even one
// that an earlier intent had (0 before the first step, then a rollback back to 0), since the
// writes in between may have landed.
func TestNewIntentIsUnconfirmed(t *testing.T) {
	zero, twenty := 0, 20
	prepared := Rollout{CandidateWeight: 0, AliasConfirmed: &zero}
	if !prepared.Confirmed() {
		t.Fatal("a rollout seen at 0% is not confirmed at its 0% intent")
	}
	step := prepared
	step.CandidateWeight = 20
	step = WithIntent(prepared, step, time.Unix(100, 0))
	if step.Confirmed() || step.AliasConfirmed != nil {
		t.Fatalf("a new step is confirmed: %v", *step.AliasConfirmed)
	}
	back := step
	back.CandidateWeight = 0
	back = WithIntent(step, back, time.Unix(200, 0))
	if back.Confirmed() {
		t.Fatal("a rollback to 0% reads as confirmed by the confirmation from before the step")
	}
	same := back
	same.AliasConfirmed = &twenty
	same.Reason = "paused"
	if got := WithIntent(back, same, time.Unix(300, 0)); got.AliasConfirmed != &twenty {
		t.Error("a save that keeps the weight dropped its confirmation")
	}
}
