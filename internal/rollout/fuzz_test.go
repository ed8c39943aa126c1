package rollout_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// checkExpansion fails unless the policy is valid and expands to a valid step list whose
// weights only grow and end at 100.
func checkExpansion(t *testing.T, p rollout.Policy) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("resolved policy %+v does not validate: %v", p, err)
	}
	steps := p.Expand()
	last, weights := -1, 0
	for i, s := range steps {
		if err := s.Validate(); err != nil {
			t.Fatalf("step %d %s of %+v: %v", i+1, s, p, err)
		}
		if s.SetWeight != nil {
			if *s.SetWeight < last {
				t.Fatalf("weights go down in %s", shortForms(steps))
			}
			last = *s.SetWeight
			weights++
		}
	}
	if last != 100 {
		t.Fatalf("expansion %s of %+v does not end at weight 100", shortForms(steps), p)
	}
	if len(steps) > 2*100+1 && p.Strategy != rollout.Custom {
		t.Fatalf("expansion of %+v has %d steps", p, len(steps))
	}
}

// checkFieldErrors fails unless every error in the tree is a FieldError from source.
func checkFieldErrors(t *testing.T, err error, source string) {
	t.Helper()
	fes := fieldErrors(err)
	if len(fes) == 0 {
		t.Fatalf("error without a FieldError: %v", err)
	}
	for _, fe := range fes {
		if fe.Reason() == "" || (source != "" && fe.Source != source) {
			t.Fatalf("FieldError %+v: want a message and source %q", fe, source)
		}
	}
}

func FuzzParsePolicyJSON(f *testing.F) {
	for _, p := range invariantPolicies {
		f.Add([]byte(p))
	}
	for _, s := range []string{
		linearPolicy, bakePolicy, analysisPolicy, approvalPolicy, customApproval,
		`{}`,
		`{"strategy":"EXPONENTIAL","percentage":1,"growthFactor":1.1,"interval":"1m"}`,
		`{"strategy":"LINEAR","percentage":1,"interval":1}`,
		`{"strategy":"CUSTOM","steps":[{"setWeight":10},{"pause":{"duration":"5m"}},{"analysis":{"duration":"10m","maxFailureRate":1,"minExecutions":100}},{"pause":{}}]}`,
		`{"strategy":"BLUE_GREEN","testAlias":"green","approval":true,"interval":"1h","keepVersions":1000,"onBusy":"supersede"}`,
		`{"strategy":"CANARY","percentage":100}`,
		`{"strategy":"CUSTOM","steps":["weight:50","weight:20"]}`,
		`{"strategy":"canary","maxFailureRatio":5}`,
		`{"interval":"1.5s"}`,
		`{"alarms":"a"}`,
		`{"steps":[null]}`,
		`{}}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := rollout.ParsePolicy(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkExpansion(t, p)

		// The record stores the policy as JSON; read back, it must be the same policy.
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", p, err)
		}
		back, err := rollout.ParsePolicy(b)
		if err != nil {
			t.Fatalf("the marshalled policy %s does not parse: %v", b, err)
		}
		if back.Hash() != p.Hash() {
			t.Fatalf("hash changed through %s", b)
		}

		// A rollout under the policy takes its first step.
		r := newRollout(t, string(data))
		d, err := rollout.Decide(r, healthy(r), t0)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if msg := broken(r, healthy(r), d, false); msg != "" {
			t.Fatalf("first decision of %s: %s", data, msg)
		}
	})
}

func FuzzParsePolicyTags(f *testing.F) {
	for _, kv := range [][2]string{
		{"rollout:strategy", "LINEAR"},
		{"rollout:strategy", "blue-green"},
		{"rollout:steps", "weight:10 pause:5m approval weight:100"},
		{"rollout:steps", "weight:10 analysis:5m"},
		{"rollout:alarms", "orders-errors orders-p99"},
		{"rollout:max-failure-rate", "2.5"},
		{"rollout:maxfailurerate", "NaN"},
		{"rollout:percentage", "150"},
		{"rollout:interval", "5x"},
		{"rollout:bake_time", "24h"},
		{"rollout:approval", "true"},
		{"rollout:testAlias", "green"},
		{"rollout:keepVersions", "+5"},
		{"rollout:growthFactor", "1e308"},
		{"rollout:managed", "true"},
		{"rollout:", ""},
		{"team", "payments"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		tags := map[string]string{key: value, rollout.ManagedTag: "true"}
		l, err := rollout.ParsePolicyTags(tags)
		if err != nil {
			checkFieldErrors(t, err, rollout.SourceTags)
			return
		}
		p, err := rollout.Resolve(l)
		if err != nil {
			checkFieldErrors(t, err, "")
			return
		}
		checkExpansion(t, p)

		// The same pair as upload metadata, where S3 keeps keys lower-case.
		if m, err := rollout.ParsePolicyMetadata(map[string]string{rollout.MetadataPrefix + key: value}); err != nil {
			checkFieldErrors(t, err, rollout.SourceMetadata)
		} else if p, err := rollout.Resolve(l, m); err == nil {
			checkExpansion(t, p)
		}
	})
}

func FuzzParseStep(f *testing.F) {
	for _, s := range []string{"weight:10", "setWeight:100", "WEIGHT:0", "pause:5m", "pause:90", "pause:0", "pause", "approval", "approve",
		"analysis:10m", "analysis:1h30m", "weight:-1", "weight:101", "pause:5x", "analysis", "approval:1m", "jump:1", "", " weight:5 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := rollout.ParseStep(tok)
		if err != nil {
			return
		}
		if s.Validate() != nil {
			return // weight:500 parses; Validate refuses it
		}
		short := s.String()
		back, err := rollout.ParseStep(short)
		if err != nil {
			t.Fatalf("ParseStep(%q) = %s, which does not parse: %v", tok, short, err)
		}
		if back.String() != short {
			t.Fatalf("ParseStep(%q) = %s, read back as %s", tok, short, back)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON rollout.Step
		if err := json.Unmarshal(b, &fromJSON); err != nil || fromJSON.String() != short {
			t.Fatalf("step %s through JSON %s: %s, %v", short, b, fromJSON, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "5m", "1h", "1h30m", "300", "0", "1.5m", "168h", "604800", "5x", "-1m", "1.5s", "500ms", "", " 5m ", "+5m", "9223372036854775807", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := rollout.ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDuration(%q) = %v with error %v", s, d.D(), err)
			}
			return
		}
		if d < 0 || d.D() > 7*24*time.Hour || d.D()%time.Second != 0 {
			t.Fatalf("ParseDuration(%q) = %v: outside whole seconds 0–7d", s, d.D())
		}
		back, err := rollout.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, String %q reads back as %v, %v", s, d.D(), d.String(), back.D(), err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON rollout.Duration
		if err := json.Unmarshal(b, &fromJSON); err != nil || fromJSON != d {
			t.Fatalf("%v through JSON %s: %v, %v", d.D(), b, fromJSON.D(), err)
		}
	})
}
