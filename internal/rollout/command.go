package rollout

import (
	"fmt"
	"time"
)

// CommandError is an operator command that does not fit the rollout's phase.
type CommandError struct {
	Command Command
	Phase   Phase
	Msg     string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("cannot %s: %s", e.Command, e.Msg)
}

// Apply carries out an operator's command at once: the decision's Next is the record to
// save and SetAlias says whether the alias must follow now.
func Apply(r Rollout, cmd Command, now time.Time) (Decision, error) {
	reject := func(format string, args ...any) (Decision, error) {
		return Decision{}, &CommandError{Command: cmd, Phase: r.Phase, Msg: fmt.Sprintf(format, args...)}
	}
	if r.Phase.Terminal() {
		// Before the record's check: an upload refused or aborted before it had versions
		// has ended too, and a command on it is refused, not an internal error.
		return reject("rollout %s has ended %s", r.ID, r.Phase)
	}
	if r.NotStarted() {
		return applyNotStarted(r, cmd, now)
	}
	if err := r.check(); err != nil {
		return Decision{}, err
	}
	r.UpdatedAt = now
	switch cmd {
	case CommandPause:
		if r.Phase == Paused {
			return reject("rollout %s is already paused (%s)", r.ID, r.PauseKind)
		}
		return r.pause(PauseManual, "paused by an operator", false), nil

	case CommandResume:
		if r.Phase != Paused {
			return reject("rollout %s is not paused (phase %s)", r.ID, r.Phase)
		}
		if r.PauseKind == PauseApproval {
			return reject("rollout %s waits for approval: approve it, or promote", r.ID)
		}
		kind := r.PauseKind
		r.Phase, r.PauseKind, r.ResumePhase = resumeTo(r.ResumePhase), PauseNone, ""
		r.Reason = "resumed from a " + string(kind) + " pause"
		// Re-applying the intent undoes drift and repairs a lagging alias; it is a no-op
		// otherwise, since weights are absolute.
		return Decision{Action: ActionResume, Next: r, SetAlias: true, Reason: r.Reason}, nil

	case CommandApprove:
		if r.Phase != Paused || r.PauseKind != PauseApproval {
			return reject("rollout %s is not waiting for approval: %s", r.ID, r.waitingFor())
		}
		return r.skipStep(now), nil

	case CommandPromote:
		switch {
		case r.Phase == Pending || (r.Phase == Paused && r.ResumePhase == Pending):
			// Walking from here would set a weight on a record that Decide then starts
			// over from step 1.
			return reject("rollout %s has not started: it starts at its first tick (promote-full moves it to 100%% at once)", r.ID)
		case r.Phase == Baking:
			r.Phase = Succeeded
			r.FinishedAt = now
			r.Reason = "bake cut short by promote"
			return Decision{Action: ActionFinish, Next: r, SetAlias: true, Reason: r.Reason}, nil
		}
		return r.skipStep(now), nil

	case CommandPromoteFull:
		baking := r.Phase == Baking || (r.Phase == Paused && r.ResumePhase == Baking)
		r.PauseKind, r.ResumePhase = PauseNone, ""
		if !baking {
			if r.CandidateWeight != 100 {
				r.PreviousWeight, r.CandidateWeight = r.CandidateWeight, 100
			}
			r.StepIndex = len(r.Steps)
			if r.TrafficStartedAt.IsZero() {
				// From Pending: the candidate's failure rate counts from now.
				r.TrafficStartedAt = now
			}
			if r.Policy.BakeTime > 0 {
				r.Phase = Baking
				r.BakeStartedAt = now
				r.Reason = "promoted to 100% by an operator; baking " + r.Policy.BakeTime.String() + " with alarms watched"
				return Decision{Action: ActionPromote, Next: r, SetAlias: true, Reason: r.Reason}, nil
			}
		}
		r.Phase = Succeeded
		r.FinishedAt = now
		r.Reason = "promoted to 100% by an operator"
		return Decision{Action: ActionFinish, Next: r, SetAlias: true, Reason: r.Reason}, nil

	case CommandAbort:
		return Stop(r, Aborted, "aborted by an operator", now), nil
	}
	return reject("unknown command %q", cmd)
}

// skipStep ends the current hold (a pause, an analysis or an approval) and walks on at
// once, so that the next weight is applied now rather than at the next tick.
func (r Rollout) skipStep(now time.Time) Decision {
	resume := resumeTo(r.ResumePhase)
	if r.Phase != Paused {
		resume = r.Phase
	}
	r.Phase, r.PauseKind, r.ResumePhase = resume, PauseNone, ""
	if r.StepIndex < len(r.Steps) && r.Steps[r.StepIndex].SetWeight == nil {
		r.StepIndex++
	}
	r.StepStartedAt = now
	if r.Phase == Baking {
		r.Phase = Succeeded
		r.FinishedAt = now
		r.Reason = "bake cut short by promote"
		return Decision{Action: ActionFinish, Next: r, SetAlias: true, Reason: r.Reason}
	}
	// An operator's promote skips one hold; it does not skip the analysis of the next.
	d := r.walk(Observation{}, now)
	if d.Action == ActionWait {
		d.Action = ActionResume
	}
	d.SetAlias = true
	return d
}

func resumeTo(p Phase) Phase {
	if p == "" || p == Paused {
		return Progressing
	}
	return p
}

// waitingFor says what the rollout waits for instead, so that a refused command points
// the operator at the one that fits.
func (r Rollout) waitingFor() string {
	switch {
	case r.Phase == Pending:
		return "it has not started (it starts at its first tick)"
	case r.Phase == Paused:
		return fmt.Sprintf("it is paused (%s) at %d%%: resume or promote it", r.PauseKind, r.CandidateWeight)
	case r.Phase == Baking:
		return fmt.Sprintf("it is baking at 100%% for %s (promote ends the bake)", r.Policy.BakeTime)
	case r.StepIndex < len(r.Steps):
		return fmt.Sprintf("it is at step %d/%d (%s) with the candidate at %d%%", r.StepIndex+1, len(r.Steps), r.Steps[r.StepIndex], r.CandidateWeight)
	}
	return fmt.Sprintf("it is %s with the candidate at %d%%", r.Phase, r.CandidateWeight)
}
