package rollout_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// invariantPolicies cover every strategy and reaction the generated rollouts run under.
var invariantPolicies = []string{
	`{"strategy":"ALL_AT_ONCE","alarms":["a"]}`,
	`{"strategy":"ALL_AT_ONCE","bakeTime":"10m"}`,
	`{"strategy":"CANARY","alarms":["a","b"],"bakeTime":"5m"}`,
	`{"strategy":"CANARY","maxFailureRate":5,"minExecutions":20,"onFailure":"pause"}`,
	`{"strategy":"LINEAR","percentage":25,"interval":"2m","alarms":["a"],"onDrift":"rollback"}`,
	`{"strategy":"LINEAR","percentage":30,"interval":"1m","maxFailureRate":10,"preexistingAlarms":"block","alarms":["a"]}`,
	`{"strategy":"EXPONENTIAL","percentage":5,"interval":"1m","alarms":["a","b"],"onFailure":"pause","bakeTime":"3m"}`,
	`{"strategy":"BLUE_GREEN","interval":"5m","approval":true,"alarms":["a"]}`,
	`{"strategy":"BLUE_GREEN","maxFailureRate":2,"interval":"5m"}`,
	`{"strategy":"CUSTOM","steps":["weight:10","approval","weight:10","analysis:2m","weight:60","pause:1m"],"maxFailureRate":3,"alarms":["a"]}`,
	`{"strategy":"CUSTOM","steps":["weight:0","pause:1m","weight:100","pause:5m"],"onDrift":"rollback","onFailure":"pause","alarms":["b"]}`,
}

var allCommands = []rollout.Command{rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote, rollout.CommandPromoteFull, rollout.CommandAbort, rollout.CommandApprove}

// randomObservation is mostly the world as the alias left it, with every kind of trouble
// mixed in: foreign or odd routing, alarms in any state or missing, failures, edits.
func randomObservation(rng *rand.Rand, r rollout.Rollout, alias []rollout.Route) rollout.Observation {
	obs := rollout.Observation{Routing: alias, Alarms: map[string]rollout.AlarmState{}, PolicyHash: r.PolicyHash}
	switch rng.IntN(12) {
	case 0:
		obs.Routing = routes(rng.IntN(101))
	case 1:
		obs.Routing = []rollout.Route{{VersionArn: foreignArn, Weight: 100}}
	case 2:
		obs.Routing = nil
	case 3:
		obs.Routing = routes(r.PreviousWeight)
	}
	states := []rollout.AlarmState{rollout.AlarmAlarm, rollout.AlarmInsufficientData, rollout.AlarmMissing, ""}
	for _, a := range r.Policy.Alarms {
		if rng.IntN(6) == 0 {
			if s := states[rng.IntN(len(states))]; s != "" {
				obs.Alarms[a] = s
			}
			continue
		}
		obs.Alarms[a] = rollout.AlarmOK
	}
	if rng.IntN(2) == 0 {
		obs.CandidateExecutions = rng.Int64N(200)
		if rng.IntN(4) == 0 {
			obs.CandidateFailures = rng.Int64N(obs.CandidateExecutions + 1)
		}
	}
	switch rng.IntN(15) {
	case 0:
		obs.PolicyHash = ""
	case 1:
		obs.PolicyHash = editedPolicyHash
	}
	return obs
}

// TestDecideInvariants drives generated rollouts through random observations, time steps,
// commands and alias updates that do not land, and checks what must hold after every step.
func TestDecideInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(20260302, 1))
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	seen := map[string]int{}
	for i := range iterations {
		policy := invariantPolicies[rng.IntN(len(invariantPolicies))]
		r := newRollout(t, policy)
		alias := routes(0)
		now := t0
		for tickNo := range 60 {
			now = now.Add(time.Duration(rng.IntN(6*60)) * time.Second)
			obs := randomObservation(rng, r, alias)
			var d rollout.Decision
			var err error
			byCommand := rng.IntN(8) == 0
			var cmd rollout.Command
			if byCommand {
				cmd = allCommands[rng.IntN(len(allCommands))]
				d, err = rollout.Apply(r, cmd, now)
				var ce *rollout.CommandError
				if errors.As(err, &ce) {
					continue
				}
			} else {
				d, err = rollout.Decide(r, obs, now)
			}
			if err != nil {
				t.Fatalf("rollout %d (%s), tick %d: %v\nrecord %+v", i, policy, tickNo, err, r)
			}
			if msg := broken(r, obs, d, byCommand); msg != "" {
				t.Fatalf("rollout %d (%s), tick %d (command %q): %s\nbefore %+v\nobs %+v\ndecision %s: %+v", i, policy, tickNo, cmd, msg, r, obs, d.Action, d.Next)
			}
			seen[string(d.Action)]++
			seen[string(d.Next.Phase)]++
			r = d.Next
			if d.SetAlias && rng.IntN(5) != 0 { // one in five alias updates does not land
				alias = r.Routing()
			}
			if r.Phase.Terminal() && rng.IntN(4) == 0 {
				break
			}
		}
	}
	// The generator must reach every action and phase, or the checks above prove little.
	for _, a := range []rollout.Action{rollout.ActionWait, rollout.ActionSetWeights, rollout.ActionPause, rollout.ActionResume, rollout.ActionPromote, rollout.ActionFinish, rollout.ActionRollback, rollout.ActionNone} {
		if seen[string(a)] == 0 {
			t.Errorf("no decision was %s", a)
		}
	}
	for _, p := range []rollout.Phase{rollout.Progressing, rollout.Paused, rollout.Baking, rollout.Succeeded, rollout.RolledBack, rollout.Aborted} {
		if seen[string(p)] == 0 {
			t.Errorf("no rollout reached %s", p)
		}
	}
}

// broken names the first invariant a decision breaks, or returns "".
func broken(r rollout.Rollout, obs rollout.Observation, d rollout.Decision, byCommand bool) string {
	n := d.Next
	live, ours := liveWeight(r, obs.Routing)
	switch {
	case n.CandidateWeight < 0 || n.CandidateWeight > 100 || n.PreviousWeight < 0 || n.PreviousWeight > 100:
		return "weight outside 0–100"
	case n.StepIndex < 0 || n.StepIndex > len(n.Steps):
		return "step index outside the step list"
	case d.Reason == "":
		return "empty reason"
	case d.Action == rollout.ActionRollback && (n.CandidateWeight != 0 || !d.SetAlias):
		return "rollback without weight 0 and SetAlias"
	case d.Action == rollout.ActionRollback && n.Phase != rollout.RolledBack && n.Phase != rollout.Aborted:
		return "rollback to a phase that is not RolledBack or Aborted"
	case n.CandidateWeight < r.CandidateWeight && d.Action != rollout.ActionRollback:
		return "weight went down without a rollback"
	case n.Phase.Terminal() && n.FinishedAt.IsZero():
		return "terminal phase without FinishedAt"
	case !n.Phase.Terminal() && !n.FinishedAt.IsZero():
		return "FinishedAt on a rollout that goes on"
	case r.Phase.Terminal() && n.Phase != r.Phase:
		return "an ended rollout changed phase"
	case n.Phase == rollout.Succeeded && n.CandidateWeight != 100:
		return "succeeded below 100%"
	case (n.Phase == rollout.Paused) != (n.PauseKind != rollout.PauseNone):
		return "pause kind does not match the phase"
	case n.Rev != r.Rev:
		return "Rev changed"
	}
	if byCommand {
		return ""
	}
	drift := !ours || (live != r.CandidateWeight && live != r.PreviousWeight)
	switch {
	case !r.Phase.Terminal() && drift && d.SetAlias && d.Action != rollout.ActionRollback:
		return "a drifted alias overwritten without a rollback"
	case d.Action == rollout.ActionFinish && (d.SetAlias || !ours || live != 100):
		return "succeeded without the alias seen at 100%"
	case !r.Phase.Terminal() && d.Action != rollout.ActionRollback && alarmBad(r, obs):
		if n.Phase != rollout.Paused || n.PauseKind != rollout.PauseFailure {
			return "a firing or missing alarm neither rolled back nor paused"
		}
	}
	return ""
}

// alarmBad reports a policy alarm that is missing, or in ALARM and not preexisting.
func alarmBad(r rollout.Rollout, obs rollout.Observation) bool {
	for _, a := range r.Policy.Alarms {
		s, ok := obs.Alarms[a]
		if !ok || s == rollout.AlarmMissing {
			return true
		}
		if s == rollout.AlarmAlarm && r.Phase != rollout.Pending && !contains(r.PreexistingAlarms, a) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// liveWeight is the candidate's weight on the alias, and whether the routing is only the
// rollout's two versions adding up to 100.
func liveWeight(r rollout.Rollout, routing []rollout.Route) (int, bool) {
	w, sum := 0, 0
	for _, rt := range routing {
		switch rt.VersionArn {
		case r.CandidateVersionArn:
			w += rt.Weight
		case r.StableVersionArn:
		default:
			return 0, false
		}
		sum += rt.Weight
	}
	return w, sum == 100
}
