package rollout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   string
	}{
		{name: "all at once", policy: `{"strategy":"ALL_AT_ONCE"}`, want: "weight:100"},
		{name: "canary default 10% for 5m", policy: `{"strategy":"CANARY"}`, want: "weight:10 pause:5m weight:100"},
		{name: "no strategy is the default canary", policy: `{}`, want: "weight:10 pause:5m weight:100"},
		{name: "canary explicit", policy: `{"strategy":"CANARY","percentage":20,"interval":"15m"}`, want: "weight:20 pause:15m weight:100"},
		{name: "linear 25", policy: `{"strategy":"LINEAR","percentage":25,"interval":"5m"}`,
			want: "weight:25 pause:5m weight:50 pause:5m weight:75 pause:5m weight:100"},
		{name: "linear 30 ends with a short last step", policy: `{"strategy":"LINEAR","percentage":30,"interval":"1m"}`,
			want: "weight:30 pause:1m weight:60 pause:1m weight:90 pause:1m weight:100"},
		{name: "linear 99", policy: `{"strategy":"LINEAR","percentage":99,"interval":"1m"}`, want: "weight:99 pause:1m weight:100"},
		{name: "exponential start 5 factor 2", policy: `{"strategy":"EXPONENTIAL","percentage":5,"growthFactor":2,"interval":"2m"}`,
			want: "weight:5 pause:2m weight:10 pause:2m weight:20 pause:2m weight:40 pause:2m weight:80 pause:2m weight:100"},
		{name: "exponential default factor is 2", policy: `{"strategy":"EXPONENTIAL","percentage":5,"interval":"2m"}`,
			want: "weight:5 pause:2m weight:10 pause:2m weight:20 pause:2m weight:40 pause:2m weight:80 pause:2m weight:100"},
		{name: "exponential factor 1.5 rounds up", policy: `{"strategy":"EXPONENTIAL","percentage":1,"growthFactor":1.5,"interval":"1m"}`,
			want: "weight:1 pause:1m weight:2 pause:1m weight:3 pause:1m weight:5 pause:1m weight:8 pause:1m weight:12 pause:1m weight:18 pause:1m weight:27 pause:1m weight:41 pause:1m weight:62 pause:1m weight:93 pause:1m weight:100"},
		{name: "blue/green at once", policy: `{"strategy":"BLUE_GREEN"}`, want: "weight:100"},
		{name: "blue/green with interval", policy: `{"strategy":"BLUE_GREEN","interval":"10m"}`, want: "pause:10m weight:100"},
		{name: "blue/green with approval", policy: `{"strategy":"BLUE_GREEN","approval":true}`, want: "approval weight:100"},
		{name: "blue/green with interval and approval", policy: `{"strategy":"BLUE_GREEN","interval":"10m","approval":true,"testAlias":"green"}`,
			want: "pause:10m approval weight:100"},
		{name: "custom with a final 100", policy: `{"strategy":"CUSTOM","steps":["weight:10","pause:5m","approval",{"setWeight":100}]}`,
			want: "weight:10 pause:5m approval weight:100"},
		{name: "custom without 100 gets it appended", policy: `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"pause":{"duration":"5m"}},{"setWeight":50},{"pause":{}}]}`,
			want: "weight:10 pause:5m weight:50 approval weight:100"},
		{name: "custom holding at 100 needs nothing appended", policy: `{"strategy":"CUSTOM","steps":["weight:50","weight:100","pause:10m"]}`,
			want: "weight:50 weight:100 pause:10m"},
		{name: "custom of holds only", policy: `{"strategy":"CUSTOM","steps":["pause:1m"]}`, want: "pause:1m weight:100"},
		{name: "canary with maxFailureRate analyses", policy: `{"strategy":"CANARY","maxFailureRate":5}`, want: "weight:10 analysis:5m weight:100"},
		{name: "linear with maxFailureRate analyses", policy: `{"strategy":"LINEAR","percentage":50,"interval":"90s","maxFailureRate":1.5}`,
			want: "weight:50 analysis:1m30s weight:100"},
		{name: "exponential with maxFailureRate analyses", policy: `{"strategy":"EXPONENTIAL","percentage":40,"interval":"1m","maxFailureRate":2}`,
			want: "weight:40 analysis:1m weight:80 analysis:1m weight:100"},
		{name: "blue/green with maxFailureRate analyses", policy: `{"strategy":"BLUE_GREEN","interval":"10m","maxFailureRate":2}`,
			want: "analysis:10m weight:100"},
		{name: "custom steps are kept as written with maxFailureRate", policy: `{"strategy":"CUSTOM","maxFailureRate":2,"steps":["weight:10","pause:1m","analysis:5m"]}`,
			want: "weight:10 pause:1m analysis:5m weight:100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shortForms(mustPolicy(t, tt.policy).Expand())
			if got != tt.want {
				t.Errorf("Expand()\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestExpandExponentialAlwaysGrows(t *testing.T) {
	tests := []struct {
		name   string
		start  int
		factor float64
		want   int // weight steps, 100 included
	}{
		{name: "factor 1.1 from 1 would not grow 1 without rounding up", start: 1, factor: 1.1, want: 31},
		{name: "factor 1.1 from 50", start: 50, factor: 1.1, want: 8},
		{name: "factor 10 from 1", start: 1, factor: 10, want: 3},
		{name: "factor 10 from 99", start: 99, factor: 10, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rollout.Policy{Strategy: rollout.Exponential, Percentage: tt.start, GrowthFactor: tt.factor, Interval: rollout.Duration(time.Minute)}
			var weights []int
			for _, s := range p.Expand() {
				if s.SetWeight != nil {
					weights = append(weights, *s.SetWeight)
				}
			}
			for i := 1; i < len(weights); i++ {
				if weights[i] <= weights[i-1] {
					t.Fatalf("weights %v do not grow strictly at %d", weights, i)
				}
			}
			if len(weights) != tt.want || weights[0] != tt.start || weights[len(weights)-1] != 100 {
				t.Errorf("weights %v: want %d of them, from %d to 100", weights, tt.want, tt.start)
			}
		})
	}
}

// An unvalidated policy still expands to a finite list that ends at 100.
func TestExpandUnvalidatedPolicyEnds(t *testing.T) {
	tests := []struct {
		name   string
		policy rollout.Policy
		want   string
	}{
		{name: "zero policy", policy: rollout.Policy{}, want: "weight:100"},
		{name: "linear 0%", policy: rollout.Policy{Strategy: rollout.Linear}, want: "weight:100"},
		{name: "linear -5%", policy: rollout.Policy{Strategy: rollout.Linear, Percentage: -5}, want: "weight:100"},
		{name: "exponential from -1000000", policy: rollout.Policy{Strategy: rollout.Exponential, Percentage: -1_000_000, GrowthFactor: 2}, want: "weight:100"},
		{name: "exponential factor 0.5", policy: rollout.Policy{Strategy: rollout.Exponential, Percentage: 97, GrowthFactor: 0.5, Interval: rollout.Duration(time.Minute)},
			want: "weight:97 pause:1m weight:98 pause:1m weight:99 pause:1m weight:100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan string, 1)
			go func() { done <- shortForms(tt.policy.Expand()) }()
			select {
			case got := <-done:
				if got != tt.want {
					t.Errorf("Expand() = %s, want %s", got, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Expand() did not return")
			}
		})
	}
}

func TestPlannedDuration(t *testing.T) {
	tests := []struct {
		name         string
		policy       string
		want         time.Duration
		wantApproval bool
	}{
		{name: "all at once", policy: `{"strategy":"ALL_AT_ONCE"}`, want: 0},
		{name: "linear 25 with bake", policy: `{"strategy":"LINEAR","percentage":25,"interval":"5m","bakeTime":"30m"}`, want: 45 * time.Minute},
		{name: "analysis counts like a pause", policy: `{"strategy":"CANARY","maxFailureRate":1,"interval":"10m"}`, want: 10 * time.Minute},
		{name: "approval has no planned end", policy: `{"strategy":"BLUE_GREEN","interval":"10m","approval":true}`, want: 10 * time.Minute, wantApproval: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, approval := mustPolicy(t, tt.policy).PlannedDuration()
			if got != tt.want || approval != tt.wantApproval {
				t.Errorf("PlannedDuration() = %s, %v; want %s, %v", got, approval, tt.want, tt.wantApproval)
			}
		})
	}
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // String() of the step
		wantErr string
	}{
		{name: "weight", in: "weight:20", want: "weight:20"},
		{name: "setWeight spelling", in: "setWeight:20", want: "weight:20"},
		{name: "upper case kind", in: "WEIGHT:100", want: "weight:100"},
		{name: "surrounding space", in: "  weight:5 ", want: "weight:5"},
		{name: "pause", in: "pause:5m", want: "pause:5m"},
		{name: "pause in seconds", in: "pause:90", want: "pause:1m30s"},
		{name: "pause without a duration waits for approval", in: "pause", want: "approval"},
		{name: "approval", in: "approval", want: "approval"},
		{name: "approve spelling", in: "approve", want: "approval"},
		{name: "analysis", in: "analysis:10m", want: "analysis:10m"},
		{name: "weight without a number", in: "weight", wantErr: "want weight:<0-100>"},
		{name: "weight not a number", in: "weight:ten", wantErr: "want weight:<0-100>"},
		{name: "pause with a bad duration", in: "pause:5x", wantErr: `step "pause:5x"`},
		{name: "pause with an empty duration", in: "pause:", wantErr: "empty duration"},
		{name: "approval with an argument", in: "approval:5m", wantErr: "takes no argument"},
		{name: "analysis without a duration", in: "analysis", wantErr: "want analysis:<duration>"},
		{name: "unknown kind", in: "sleep:5m", wantErr: "want weight:<n>, pause:<duration>, approval or analysis:<duration>"},
		{name: "empty", in: "", wantErr: "want weight:<n>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rollout.ParseStep(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStep(%q) error = %v, want one with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStep(%q): %v", tt.in, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("ParseStep(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestStepValidate(t *testing.T) {
	w := func(n int) *int { return &n }
	tests := []struct {
		name string
		step rollout.Step
		want string // "" for valid
	}{
		{name: "weight 0", step: rollout.Step{SetWeight: w(0)}},
		{name: "weight 100", step: rollout.Step{SetWeight: w(100)}},
		{name: "weight 101", step: rollout.Step{SetWeight: w(101)}, want: "setWeight must be 0–100, got 101"},
		{name: "weight -1", step: rollout.Step{SetWeight: w(-1)}, want: "setWeight must be 0–100, got -1"},
		{name: "approval", step: rollout.Step{Pause: &rollout.Pause{}}},
		{name: "pause under a second", step: rollout.Step{Pause: &rollout.Pause{Duration: rollout.Duration(500 * time.Millisecond)}}, want: "at least 1s, got 500ms"},
		{name: "analysis without a duration", step: rollout.Step{Analysis: &rollout.Analysis{}}, want: "analysis duration must be at least 1s, got 0s"},
		{name: "analysis rate over 100", step: rollout.Step{Analysis: &rollout.Analysis{Duration: rollout.Duration(time.Minute), MaxFailureRate: 101}}, want: "maxFailureRate must be 0–100"},
		{name: "analysis negative minExecutions", step: rollout.Step{Analysis: &rollout.Analysis{Duration: rollout.Duration(time.Minute), MinExecutions: -1}}, want: "minExecutions must be at least 0"},
		{name: "nothing set", step: rollout.Step{}, want: "exactly one of setWeight, pause, analysis; got 0"},
		{name: "two set", step: rollout.Step{SetWeight: w(10), Pause: &rollout.Pause{}}, want: "got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.step.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want one with %q", err, tt.want)
			}
		})
	}
}
