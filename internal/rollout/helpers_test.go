package rollout_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// t0 is the fixed start of every rollout in these tests.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	smArn        = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders"
	stableArn    = smArn + ":3"
	candidateArn = smArn + ":4"
	foreignArn   = smArn + ":5"
)

// mustPolicy resolves a rollout.json or fails the test.
func mustPolicy(t testing.TB, policyJSON string) rollout.Policy {
	t.Helper()
	p, err := rollout.ParsePolicy([]byte(policyJSON))
	if err != nil {
		t.Fatalf("ParsePolicy(%s): %v", policyJSON, err)
	}
	return p
}

// newRollout is a Pending rollout of orders/prod from v3 to v4 under the policy.
func newRollout(t testing.TB, policyJSON string) rollout.Rollout {
	t.Helper()
	p := mustPolicy(t, policyJSON)
	return rollout.Rollout{
		ID:                  "r-1",
		StateMachineArn:     smArn,
		StateMachineName:    "orders",
		AliasName:           "prod",
		AliasArn:            smArn + ":prod",
		StableVersionArn:    stableArn,
		CandidateVersionArn: candidateArn,
		Policy:              p,
		PolicyHash:          p.Hash(),
		Steps:               p.Expand(),
		Phase:               rollout.Pending,
		CreatedAt:           t0,
		UpdatedAt:           t0,
		Rev:                 1,
	}
}

// atStep puts r where walking the step list leaves it with StepIndex i: Progressing, the
// weights of the last two weight steps before i, the step started at startedAt.
func atStep(r rollout.Rollout, i int, startedAt time.Time) rollout.Rollout {
	r.Phase = rollout.Progressing
	r.StepIndex = i
	r.CandidateWeight, r.PreviousWeight = 0, 0
	for _, s := range r.Steps[:i] {
		if s.SetWeight != nil {
			r.PreviousWeight, r.CandidateWeight = r.CandidateWeight, *s.SetWeight
		}
	}
	r.StepStartedAt = startedAt
	r.TrafficStartedAt = t0
	return r
}

// with returns a copy of r changed by f.
func with(r rollout.Rollout, f func(*rollout.Rollout)) rollout.Rollout {
	f(&r)
	return r
}

// routes is alias routing with the candidate at w%, without zero entries, as AWS keeps it.
func routes(w int) []rollout.Route {
	var out []rollout.Route
	if w < 100 {
		out = append(out, rollout.Route{VersionArn: stableArn, Weight: 100 - w})
	}
	if w > 0 {
		out = append(out, rollout.Route{VersionArn: candidateArn, Weight: w})
	}
	return out
}

// healthy is what a tick sees when all is well: the alias at the intent, every alarm OK,
// no executions yet, the policy unchanged.
func healthy(r rollout.Rollout) rollout.Observation {
	obs := rollout.Observation{Routing: r.Routing(), Alarms: map[string]rollout.AlarmState{}, PolicyHash: r.PolicyHash}
	for _, a := range r.Policy.Alarms {
		obs.Alarms[a] = rollout.AlarmOK
	}
	return obs
}

// observe returns a copy of obs changed by each of fs.
func observe(obs rollout.Observation, fs ...func(*rollout.Observation)) rollout.Observation {
	alarms := make(map[string]rollout.AlarmState, len(obs.Alarms))
	for k, v := range obs.Alarms {
		alarms[k] = v
	}
	obs.Alarms = alarms
	for _, f := range fs {
		f(&obs)
	}
	return obs
}

// shortForms is the step list as "weight:25 pause:5m …".
func shortForms(steps []rollout.Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// fieldErrors flattens the FieldErrors in an error tree (errors.Join nests them).
func fieldErrors(err error) []*rollout.FieldError {
	var out []*rollout.FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*rollout.FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// fieldError finds the FieldError about field, or fails the test.
func fieldError(t *testing.T, err error, field string) *rollout.FieldError {
	t.Helper()
	for _, fe := range fieldErrors(err) {
		if fe.Field == field {
			return fe
		}
	}
	var fe *rollout.FieldError
	if errors.As(err, &fe) {
		t.Fatalf("no FieldError for %q; first is %q: %v", field, fe.Field, err)
	}
	t.Fatalf("no FieldError for %q in %v", field, err)
	return nil
}

// missingFrom returns the first of subs that s lacks, or "".
func missingFrom(s string, subs ...string) string {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
