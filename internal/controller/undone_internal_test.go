package controller

import (
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A step whose alias update was overtaken by a newer record is announced unless the newer
// record took it back.
func TestUndone(t *testing.T) {
	step := rollout.Rollout{Phase: rollout.Progressing, CandidateWeight: 75}
	tests := []struct {
		name  string
		newer rollout.Rollout
		want  bool
	}{
		{name: "a concurrent tick moved on", newer: rollout.Rollout{Phase: rollout.Baking, CandidateWeight: 100}, want: false},
		{name: "a concurrent tick finished", newer: rollout.Rollout{Phase: rollout.Succeeded, CandidateWeight: 100}, want: false},
		{name: "an operator paused it", newer: rollout.Rollout{Phase: rollout.Paused, CandidateWeight: 75}, want: false},
		{name: "an alarm rolled it back", newer: rollout.Rollout{Phase: rollout.RolledBack, CandidateWeight: 0}, want: true},
		{name: "an operator aborted it", newer: rollout.Rollout{Phase: rollout.Aborted, CandidateWeight: 0}, want: true},
		{name: "the weight went down", newer: rollout.Rollout{Phase: rollout.Progressing, CandidateWeight: 50}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := undone(step, tt.newer); got != tt.want {
				t.Errorf("undone = %v, want %v", got, tt.want)
			}
		})
	}
}
