package rollout_test

import (
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestNeedsMetrics(t *testing.T) {
	const (
		stepAnalysis = `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"analysis":{"duration":"5m","maxFailureRate":5}},{"setWeight":100}]}`
		lateAnalysis = `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"pause":{"duration":"5m"}},{"setWeight":50},{"analysis":{"duration":"5m","maxFailureRate":5}},{"setWeight":100}]}`
	)
	tests := []struct {
		name string
		r    rollout.Rollout
		want bool
	}{
		{name: "policy maxFailureRate", r: atStep(newRollout(t, analysisPolicy), 1, t0), want: true},
		{name: "policy maxFailureRate, before traffic", r: newRollout(t, analysisPolicy), want: false},
		{name: "no threshold anywhere", r: atStep(newRollout(t, linearPolicy), 1, t0), want: false},
		{name: "the current step is an analysis with its own threshold", r: atStep(newRollout(t, stepAnalysis), 1, t0), want: true},
		{name: "an analysis right after the next weight", r: atStep(newRollout(t, stepAnalysis), 0, t0), want: true},
		{name: "an analysis two weight changes away", r: atStep(newRollout(t, lateAnalysis), 0, t0), want: false},
		{name: "an analysis one weight change away", r: atStep(newRollout(t, lateAnalysis), 1, t0), want: true},
		{name: "past the analysis", r: atStep(newRollout(t, stepAnalysis), 2, t0), want: false},
		{name: "paused on the analysis", r: with(atStep(newRollout(t, stepAnalysis), 1, t0), func(r *rollout.Rollout) {
			r.ResumePhase, r.Phase, r.PauseKind = r.Phase, rollout.Paused, rollout.PauseManual
		}), want: true},
		{name: "ended", r: with(atStep(newRollout(t, stepAnalysis), 1, t0), func(r *rollout.Rollout) { r.Phase = rollout.RolledBack }), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.NeedsMetrics(); got != tt.want {
				t.Errorf("NeedsMetrics() = %v, want %v", got, tt.want)
			}
		})
	}
}
