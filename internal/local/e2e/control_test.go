package e2e_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Operators' commands go through the control function (Lambda's Invoke, as the CLI sends
// them) and take effect in the call: the record and the alias have moved when it returns,
// not at the next tick. The holds are an hour long (6 s at speed 600), so only commands
// move these rollouts.

// afterCommand checks the answer of a command, the record and the alias right after it.
func afterCommand(t *testing.T, m *machine, id string, res controller.ControlResult, phase rollout.Phase, weight int) {
	t.Helper()
	r, ok, err := m.env.Rollout(t.Context(), id)
	if err != nil || !ok {
		t.Fatalf("read %s: %v", id, err)
	}
	if res.Phase != phase || res.Weights.Candidate != weight || r.Phase != phase || r.CandidateWeight != weight {
		t.Errorf("right after the command: answered %s %d%%, record %s %d%%; want %s %d%%", res.Phase, res.Weights.Candidate, r.Phase, r.CandidateWeight, phase, weight)
	}
	if got, want := m.routing(), routingOf(m.Version1, 100-weight, m.version(2), weight); got != want {
		t.Errorf("right after the command the alias routes %q, want %q", got, want)
	}
	evs := withoutRepairs(m.audit(id))
	if last := evs[len(evs)-1]; last.Actor != "operator:alice" || last.Phase != phase || last.CandidateWeight != weight {
		t.Errorf("last audit decision %s by %s (%s %d%%), want alice's command\n%s", last.Action, last.Actor, last.Phase, last.CandidateWeight, describeAudit(m.audit(id)))
	}
}

func command(t *testing.T, m *machine, id string, cmd rollout.Command) controller.ControlResult {
	t.Helper()
	return m.control(id, cmd, "alice")
}

func TestControl(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	slow := map[string]string{"strategy": "LINEAR", "percentage": "20", "interval": "1h", "bakeTime": "1h"}

	t.Run("pause, resume, promote, promote-full, promote", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "control-walk")
		watch := m.watch()
		id := m.upload("v2", release(t, "v2"), slow)
		m.waitWeight(id, rollout.Progressing, 20)

		afterCommand(t, m, id, command(t, m, id, rollout.CommandPause), rollout.Paused, 20)
		// A paused rollout holds across ticks.
		time.Sleep(time.Duration(3 * float64(time.Minute) / fastSpeed))
		if r, _, _ := env.Rollout(t.Context(), id); r.Phase != rollout.Paused || r.PauseKind != rollout.PauseManual {
			t.Errorf("after three ticks the rollout is %s (%s), want Paused (manual)", r.Phase, r.PauseKind)
		}
		if _, err := env.Control(t.Context(), id, rollout.CommandPause, "alice"); !isCommandError(err, "CommandRejected") {
			t.Errorf("pause of a paused rollout: %v, want CommandRejected", err)
		}
		afterCommand(t, m, id, command(t, m, id, rollout.CommandResume), rollout.Progressing, 20)
		afterCommand(t, m, id, command(t, m, id, rollout.CommandPromote), rollout.Progressing, 40)
		afterCommand(t, m, id, command(t, m, id, rollout.CommandPromoteFull), rollout.Baking, 100)
		afterCommand(t, m, id, command(t, m, id, rollout.CommandPromote), rollout.Succeeded, 100)

		r := m.finalized(id)
		wantRoutings(t, watch.Stop(), routings(m, []int{0, 20, 40, 100}))
		wantSucceeded(t, m, r, "operator:alice")
		evs := m.audit(id)
		wantWeights(t, evs, 0, 20, 40, 100)
		var acts []string
		for _, e := range evs {
			if e.Actor == "operator:alice" {
				acts = append(acts, e.Action)
			}
		}
		if want := "[Pause Resume SetWeights Promote Finish]"; fmt.Sprint(acts) != want {
			t.Errorf("alice's audit events %v, want %s", acts, want)
		}
		wantEvents(t, m, r, "Rollout Started", "Rollout Paused", "Rollout Step", "Rollout Step", "Rollout Succeeded")
	})

	t.Run("abort", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "control-abort")
		watch := m.watch()
		id := m.upload("v2", release(t, "v2"), slow)
		m.waitWeight(id, rollout.Progressing, 20)
		if _, err := env.Control(t.Context(), id, rollout.CommandApprove, "alice"); !isCommandError(err, "CommandRejected") {
			t.Errorf("approve with nothing to approve: %v, want CommandRejected", err)
		}
		afterCommand(t, m, id, command(t, m, id, rollout.CommandAbort), rollout.Aborted, 0)
		r := m.finalized(id)
		if _, err := env.Control(t.Context(), id, rollout.CommandResume, "alice"); !isCommandError(err, "CommandRejected") {
			t.Errorf("resume after the abort: %v, want CommandRejected", err)
		}
		wantRoutings(t, watch.Stop(), routings(m, []int{0, 20, 0}))
		wantOutcomeEvent(t, m.outcome(id, topology.DetailRolloutAborted), r)
		wantEvents(t, m, r, "Rollout Started", "Rollout Aborted")
		evs := m.audit(id)
		wantAudit(t, evs, rollout.ActionRollback, "operator:alice")
		wantWeights(t, evs, 0, 20, 0)
		if m.routing() != "v1=100" || len(m.versions()) != 2 {
			t.Errorf("after the abort: alias %q, versions %v; want v1=100 and v1, v2 kept", m.routing(), m.versions())
		}
	})

	t.Run("abort as an event", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, env, log, "control-abort-event")
		id := m.upload("v2", release(t, "v2"), slow)
		m.waitWeight(id, rollout.Progressing, 20)
		sent := env.Now()
		if err := env.ControlEvent(t.Context(), id, rollout.CommandAbort, "carol"); err != nil {
			t.Fatal(err)
		}
		r := m.finalized(id)
		if r.Phase != rollout.Aborted || m.routing() != "v1=100" {
			t.Fatalf("after an abort event: %s, alias %q", r.Phase, m.routing())
		}
		// Effective at once, not at the next tick an hour away.
		if took := r.FinishedAt.Sub(sent); took > 10*time.Minute {
			t.Errorf("the abort took %s of virtual time", took)
		}
		wantAudit(t, m.audit(id), rollout.ActionRollback, "operator:carol")
	})

	t.Run("unknown rollout", func(t *testing.T) {
		t.Parallel()
		if _, err := env.Control(t.Context(), "r-000000000000", rollout.CommandPause, "alice"); !isCommandError(err, "RolloutNotFound") {
			t.Errorf("pause of an unknown rollout: %v, want RolloutNotFound", err)
		}
	})
}

func isCommandError(err error, name string) bool {
	var ce *localenv.CommandError
	return errors.As(err, &ce) && ce.Name == name
}
