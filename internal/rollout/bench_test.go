package rollout_test

import (
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// BenchmarkDecide is one tick of a LINEAR rollout half way through, with two alarms and the
// candidate's failure rate watched.
func BenchmarkDecide(b *testing.B) {
	r := atStep(newRollout(b, `{"strategy":"LINEAR","percentage":10,"interval":"5m","alarms":["orders-errors","orders-p99"],"maxFailureRate":5,"bakeTime":"30m"}`), 9, t0)
	obs := healthy(r)
	obs.CandidateExecutions, obs.CandidateFailures = 500, 3
	now := t0.Add(6 * time.Minute)
	for b.Loop() {
		d, err := rollout.Decide(r, obs, now)
		if err != nil || d.Action != rollout.ActionSetWeights {
			b.Fatalf("Decide = %s, %v", d.Action, err)
		}
	}
}

// BenchmarkParsePolicy resolves a policy the way Prepare does: tags, a rollout.json and
// upload metadata layered through Resolve.
func BenchmarkParsePolicy(b *testing.B) {
	tags := map[string]string{
		"rollout:managed":   "true",
		"rollout:strategy":  "LINEAR",
		"rollout:alarms":    "orders-errors orders-p99 orders-throttled",
		"rollout:onDrift":   "rollback",
		"rollout:bake-time": "30m",
		"Name":              "orders",
	}
	file := []byte(`{"percentage":20,"interval":"5m","maxFailureRate":2.5,"minExecutions":50,"keepVersions":20}`)
	meta := map[string]string{"rollout-percentage": "25", "rollout-actor": "ci@example.com", "content-sha": "abc"}
	for b.Loop() {
		tl, err := rollout.ParsePolicyTags(tags)
		if err != nil {
			b.Fatal(err)
		}
		fl, err := rollout.ParsePolicyJSON(rollout.SourceFile, file)
		if err != nil {
			b.Fatal(err)
		}
		ml, err := rollout.ParsePolicyMetadata(meta)
		if err != nil {
			b.Fatal(err)
		}
		p, err := rollout.Resolve(tl, fl, ml)
		if err != nil || p.Percentage != 25 {
			b.Fatalf("Resolve = %d, %v", p.Percentage, err)
		}
	}
}
