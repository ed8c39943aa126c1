package e2e_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// strategyCases are the six strategies, each with bake time, as the unit scenarios run
// them (internal/controller/scenarios_test.go); the cost benchmark runs them too.
var strategyCases = []struct {
	name   string
	policy map[string]string
	// approve: a step waits for approval; it is given through the control function, or
	// with approveByEvent as a "Rollout Control Request" event.
	approve, approveByEvent bool
	alarm                   bool     // the cost benchmark adds the alias-failures alarm to the policy
	weights                 []int    // the candidate weights the audit trail walks through
	events                  []string // the controller's events, as a multiset
}{
	{
		name:    "ALL_AT_ONCE",
		policy:  map[string]string{"strategy": "ALL_AT_ONCE", "bakeTime": "2m"},
		weights: []int{0, 100},
		events:  []string{"Rollout Started", "Rollout Succeeded"},
	},
	{
		name:    "CANARY",
		policy:  map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "3m", "bakeTime": "2m"},
		weights: []int{0, 10, 100},
		events:  []string{"Rollout Started", "Rollout Step", "Rollout Succeeded"},
	},
	{
		name:    "LINEAR",
		policy:  map[string]string{"strategy": "LINEAR", "percentage": "25", "interval": "1m", "bakeTime": "2m"},
		weights: []int{0, 25, 50, 75, 100},
		events:  []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"},
	},
	{
		name:    "EXPONENTIAL",
		policy:  map[string]string{"strategy": "EXPONENTIAL", "percentage": "10", "growthFactor": "2", "interval": "1m", "bakeTime": "2m"},
		weights: []int{0, 10, 20, 40, 80, 100},
		events:  []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"},
	},
	{
		name:           "BLUE_GREEN",
		policy:         map[string]string{"strategy": "BLUE_GREEN", "approval": "true", "bakeTime": "2m"},
		approve:        true,
		approveByEvent: true,
		weights:        []int{0, 100},
		events:         []string{"Rollout Paused", "Rollout Step", "Rollout Succeeded"},
	},
	{
		name:    "CUSTOM",
		policy:  map[string]string{"strategy": "CUSTOM", "steps": "weight:20 pause:2m approval weight:60 pause:1m", "bakeTime": "2m"},
		approve: true,
		weights: []int{0, 20, 60, 100},
		events:  []string{"Rollout Started", "Rollout Paused", "Rollout Step", "Rollout Step", "Rollout Succeeded"},
	},
}

func routings(m *machine, weights []int) []string {
	out := make([]string, len(weights))
	for i, w := range weights {
		out[i] = routingOf(m.Version1, 100-w, m.version(2), w)
	}
	return out
}

func TestStrategies(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	for _, tc := range strategyCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := newMachine(t, env, log, "strategy-"+tc.name)
			watch := m.watch()
			id := m.upload("v2", release(t, "v2"), tc.policy)

			if tc.approve {
				r := m.waitFor(id, "the approval step", func(r rollout.Rollout) bool {
					return r.Phase == rollout.Paused && r.PauseKind == rollout.PauseApproval
				})
				if tc.name == "BLUE_GREEN" {
					// The candidate serves the test alias while prod waits for approval.
					testAlias := topology.AliasArn(m.Arn, "prod-test")
					got, err := env.Routing(ctx, testAlias)
					if err != nil || got != "v2=100" {
						t.Errorf("test alias routes %q (%v), want v2=100", got, err)
					}
				}
				want := routingOf(m.Version1, 100-r.CandidateWeight, m.version(2), r.CandidateWeight)
				// The approval holds the weights across ticks.
				time.Sleep(time.Duration(3 * float64(time.Minute) / fastSpeed))
				if got := m.routing(); got != want {
					t.Errorf("alias routes %q while waiting for approval, want %q", got, want)
				}
				if tc.approveByEvent {
					if err := env.ControlEvent(ctx, id, rollout.CommandApprove, "alice"); err != nil {
						t.Fatal(err)
					}
					m.waitFor(id, "the approval to land", func(r rollout.Rollout) bool { return r.Phase != rollout.Paused })
				} else {
					res := m.control(id, rollout.CommandApprove, "alice")
					// Effective at once: the alias has the next weight when the call returns.
					want := routingOf(m.Version1, res.Weights.Stable, m.version(2), res.Weights.Candidate)
					if got := m.routing(); got != want || res.Weights.Candidate <= r.CandidateWeight {
						t.Errorf("right after approve (answered %+v) the alias routes %q, want %q", res.Weights, got, want)
					}
				}
			}

			r := m.finalized(id)
			wantRoutings(t, watch.Stop(), routings(m, tc.weights))
			wantSucceeded(t, m, r, "controller")
			if r.StableVersionArn != m.Version1 || r.CandidateVersionArn != m.version(2) {
				t.Errorf("record %s → %s, want %s → %s", r.StableVersionArn, r.CandidateVersionArn, m.Version1, m.version(2))
			}
			evs := m.audit(id)
			wantWeights(t, evs, tc.weights...)
			if tc.approve && !slices.ContainsFunc(evs, func(e controller.Event) bool { return e.Actor == "operator:alice" }) {
				t.Errorf("no audit event of alice's approval:\n%s", describeAudit(evs))
			}
			wantEvents(t, m, r, tc.events...)
			// The bake ran its time, less the half tick a hold may end early by.
			if baked, want := r.FinishedAt.Sub(r.BakeStartedAt), r.Policy.BakeTime.D()-30*time.Second; baked < want {
				t.Errorf("baked %s, want at least %s", baked, want)
			}
			if tc.name == "BLUE_GREEN" {
				_, err := env.SFN.DescribeStateMachineAlias(ctx, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(topology.AliasArn(m.Arn, "prod-test"))})
				if var404 := new(sfntypes.ResourceNotFound); !errors.As(err, &var404) {
					t.Errorf("test alias after the rollout: %v, want ResourceNotFound", err)
				}
			}
			xs := wantExecutions(t, m, id, 1)
			n, err := env.StateTransitions(ctx, xs[0].Arn)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d audit events, %d controller state transitions, %s of virtual time", tc.name, len(evs), n, r.FinishedAt.Sub(r.CreatedAt).Round(time.Second))
		})
	}
}
