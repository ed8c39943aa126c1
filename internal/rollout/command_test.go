package rollout_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestApply(t *testing.T) {
	linear := newRollout(t, linearPolicy)
	bake := newRollout(t, bakePolicy)
	mid := atStep(linear, 3, t0) // 50% (was 25%), pausing 5m from t0
	paused := func(r rollout.Rollout, kind rollout.PauseKind) rollout.Rollout {
		r.ResumePhase, r.Phase, r.PauseKind = r.Phase, rollout.Paused, kind
		return r
	}
	baking := with(atStep(bake, lastStepIndex, t0), func(r *rollout.Rollout) {
		r.Phase, r.BakeStartedAt = rollout.Baking, t0
	})
	approval := paused(atStep(newRollout(t, approvalPolicy), 1, t0), rollout.PauseApproval)   // pause:10m approval weight:100
	customAt10 := paused(atStep(newRollout(t, customApproval), 1, t0), rollout.PauseApproval) // weight:10 approval weight:50 pause:5m weight:100
	analysis := atStep(newRollout(t, analysisPolicy), 1, t0)
	now := t0.Add(time.Minute)

	tests := []struct {
		name    string
		r       rollout.Rollout
		cmd     rollout.Command
		want    want
		wantErr []string // a *CommandError with these in its message
		check   func(t *testing.T, d rollout.Decision)
	}{
		{name: "pause: progressing to paused, alias untouched", r: mid, cmd: rollout.CommandPause,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseManual, weight: 50, stepIndex: 3, reason: []string{"operator"}}},
		{name: "pause a bake", r: baking, cmd: rollout.CommandPause,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseManual, weight: 100, stepIndex: lastStepIndex, reason: []string{"operator"}},
			check: func(t *testing.T, d rollout.Decision) {
				if d.Next.ResumePhase != rollout.Baking {
					t.Errorf("ResumePhase %q", d.Next.ResumePhase)
				}
			}},
		{name: "pause before the start", r: linear, cmd: rollout.CommandPause,
			want: want{action: rollout.ActionPause, phase: rollout.Paused, pauseKind: rollout.PauseManual, weight: 0, stepIndex: 0, reason: []string{"operator"}}},
		{name: "pause when paused", r: paused(mid, rollout.PauseDrift), cmd: rollout.CommandPause, wantErr: []string{"already paused", "drift"}},

		{name: "resume a manual pause", r: paused(mid, rollout.PauseManual), cmd: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"resumed", "manual"}}},
		{name: "resume a paused bake", r: paused(baking, rollout.PauseManual), cmd: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"resumed"}}},
		{name: "resume a drift pause re-applies the intent", r: paused(mid, rollout.PauseDrift), cmd: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"drift"}}},
		{name: "resume a failure pause", r: paused(mid, rollout.PauseFailure), cmd: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"failure"}}},
		{name: "resume a pause before the start", r: paused(linear, rollout.PauseManual), cmd: rollout.CommandResume,
			want: want{action: rollout.ActionResume, phase: rollout.Pending, weight: 0, stepIndex: 0, setAlias: true, reason: []string{"resumed"}}},
		{name: "resume on approval", r: approval, cmd: rollout.CommandResume, wantErr: []string{"waits for approval", "approve it, or promote"}},
		{name: "resume when not paused", r: mid, cmd: rollout.CommandResume, wantErr: []string{"not paused", "Progressing"}},

		{name: "approve at an approval step: 100% at once", r: approval, cmd: rollout.CommandApprove,
			want: want{action: rollout.ActionPromote, phase: rollout.Progressing, weight: 100, stepIndex: 3, setAlias: true, reason: []string{"100%"}}},
		{name: "approve in a custom list: the next weight at once", r: customAt10, cmd: rollout.CommandApprove,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%", "was 10%"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.StepStartedAt.Equal(now) {
					t.Errorf("StepStartedAt %v: the pause after the weight starts now", d.Next.StepStartedAt)
				}
			}},
		{name: "approve while pausing on a step", r: mid, cmd: rollout.CommandApprove, wantErr: []string{"not waiting for approval", "step 4/7 (pause:5m)", "50%"}},
		{name: "approve while paused by an operator", r: paused(mid, rollout.PauseManual), cmd: rollout.CommandApprove, wantErr: []string{"not waiting for approval", "paused (manual)", "resume"}},
		{name: "approve while baking", r: baking, cmd: rollout.CommandApprove, wantErr: []string{"not waiting for approval", "baking"}},
		{name: "approve before the start", r: linear, cmd: rollout.CommandApprove, wantErr: []string{"not waiting for approval", "not started"}},

		{name: "promote skips a pause and sets the next weight at once", r: mid, cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%", "was 50%"}}},
		{name: "promote on the last pause", r: atStep(linear, 5, t0), cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionPromote, phase: rollout.Progressing, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%"}}},
		{name: "promote on the last pause with a bake time", r: atStep(bake, 5, t0), cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionPromote, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"baking 30m"}}},
		{name: "promote skips an analysis that has no data", r: analysis, cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"50%"}}},
		{name: "promote out of a manual pause", r: paused(mid, rollout.PauseManual), cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 75, stepIndex: 5, setAlias: true, reason: []string{"75%"}}},
		{name: "promote at an approval step", r: approval, cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionPromote, phase: rollout.Progressing, weight: 100, stepIndex: 3, setAlias: true, reason: []string{"100%"}}},
		{name: "promote while baking ends the bake", r: baking, cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"bake cut short"}}},
		{name: "promote a paused bake ends the bake", r: paused(baking, rollout.PauseManual), cmd: rollout.CommandPromote,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"bake cut short"}}},
		{name: "promote before the start", r: linear, cmd: rollout.CommandPromote, wantErr: []string{"has not started"}},
		{name: "promote when paused before the start", r: paused(linear, rollout.PauseManual), cmd: rollout.CommandPromote, wantErr: []string{"has not started"}},

		{name: "promote-full with a bake time: 100% and bake", r: atStep(bake, 1, t0), cmd: rollout.CommandPromoteFull,
			want: want{action: rollout.ActionPromote, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%", "baking 30m"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.BakeStartedAt.Equal(now) || d.Next.PreviousWeight != 25 {
					t.Errorf("BakeStartedAt %v, PreviousWeight %d", d.Next.BakeStartedAt, d.Next.PreviousWeight)
				}
			}},
		{name: "promote-full without a bake time: succeeded", r: mid, cmd: rollout.CommandPromoteFull,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%"}}},
		{name: "promote-full out of an approval", r: approval, cmd: rollout.CommandPromoteFull,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: 3, setAlias: true, reason: []string{"100%"}}},
		{name: "promote-full while baking ends the bake", r: baking, cmd: rollout.CommandPromoteFull,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%"}}},
		{name: "promote-full on a paused bake ends the bake, not restarts it", r: paused(baking, rollout.PauseManual), cmd: rollout.CommandPromoteFull,
			want: want{action: rollout.ActionFinish, phase: rollout.Succeeded, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%"}}},
		{name: "promote-full before the start counts traffic from now", r: bake, cmd: rollout.CommandPromoteFull,
			want: want{action: rollout.ActionPromote, phase: rollout.Baking, weight: 100, stepIndex: lastStepIndex, setAlias: true, reason: []string{"100%"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.TrafficStartedAt.Equal(now) {
					t.Errorf("TrafficStartedAt %v: the failure rate of the bake would not be watched", d.Next.TrafficStartedAt)
				}
			}},

		{name: "abort", r: mid, cmd: rollout.CommandAbort,
			want: want{action: rollout.ActionRollback, phase: rollout.Aborted, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"aborted"}},
			check: func(t *testing.T, d rollout.Decision) {
				if d.Next.PreviousWeight != 50 || !d.Next.FinishedAt.Equal(now) || d.Next.PauseKind != rollout.PauseNone {
					t.Errorf("PreviousWeight %d, FinishedAt %v, PauseKind %q", d.Next.PreviousWeight, d.Next.FinishedAt, d.Next.PauseKind)
				}
			}},
		{name: "abort a paused rollout", r: paused(mid, rollout.PauseFailure), cmd: rollout.CommandAbort,
			want: want{action: rollout.ActionRollback, phase: rollout.Aborted, weight: 0, stepIndex: 3, setAlias: true, reason: []string{"aborted"}}},
		{name: "abort a bake", r: baking, cmd: rollout.CommandAbort,
			want: want{action: rollout.ActionRollback, phase: rollout.Aborted, weight: 0, stepIndex: lastStepIndex, setAlias: true, reason: []string{"aborted"}}},
		{name: "abort before the start", r: linear, cmd: rollout.CommandAbort,
			want: want{action: rollout.ActionRollback, phase: rollout.Aborted, weight: 0, stepIndex: 0, setAlias: true, reason: []string{"aborted"}}},

		{name: "unknown command", r: mid, cmd: "rewind", wantErr: []string{`unknown command "rewind"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.Apply(tt.r, tt.cmd, now)
			if tt.wantErr != nil {
				var ce *rollout.CommandError
				if !errors.As(err, &ce) {
					t.Fatalf("Apply(%s) error = %v, want a *CommandError", tt.cmd, err)
				}
				if ce.Command != tt.cmd || ce.Phase != tt.r.Phase {
					t.Errorf("CommandError{Command: %q, Phase: %q}", ce.Command, ce.Phase)
				}
				if m := missingFrom(err.Error(), tt.wantErr...); m != "" {
					t.Errorf("error %q lacks %q", err, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply(%s): %v", tt.cmd, err)
			}
			checkDecision(t, d, tt.want)
			if !d.Next.UpdatedAt.Equal(now) {
				t.Errorf("UpdatedAt %v", d.Next.UpdatedAt)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestApplyOnEndedRollout(t *testing.T) {
	commands := []rollout.Command{rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote, rollout.CommandPromoteFull, rollout.CommandAbort, rollout.CommandApprove}
	for _, phase := range []rollout.Phase{rollout.Succeeded, rollout.RolledBack, rollout.Aborted, rollout.Failed} {
		for _, cmd := range commands {
			t.Run(string(phase)+"/"+string(cmd), func(t *testing.T) {
				r := atStep(newRollout(t, linearPolicy), 3, t0)
				r.Phase, r.FinishedAt = phase, t0
				_, err := rollout.Apply(r, cmd, t0.Add(time.Hour))
				var ce *rollout.CommandError
				if !errors.As(err, &ce) {
					t.Fatalf("Apply = %v, want a *CommandError", err)
				}
				if ce.Phase != phase || ce.Command != cmd || !strings.Contains(err.Error(), "has ended "+string(phase)) {
					t.Errorf("error %q (%+v)", err, ce)
				}
			})
		}
	}
}
