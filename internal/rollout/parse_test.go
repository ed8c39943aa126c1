package rollout_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want rollout.Policy
	}{
		{
			name: "every field",
			in: `{
				"strategy": "linear", "percentage": 20, "interval": "10m", "bakeTime": "1h",
				"alarms": ["orders-errors", "orders-p99"], "maxFailureRate": 2.5, "minExecutions": 50,
				"onDrift": "rollback", "onBusy": "queue", "onFailure": "pause",
				"preexistingAlarms": "block", "keepVersions": 5
			}`,
			want: rollout.Policy{
				Strategy: rollout.Linear, Percentage: 20, Interval: rollout.Duration(10 * time.Minute),
				BakeTime: rollout.Duration(time.Hour), Alarms: []string{"orders-errors", "orders-p99"},
				MaxFailureRate: 2.5, MinExecutions: 50, OnDrift: rollout.DriftRollback, OnBusy: rollout.BusyQueue,
				OnFailure: rollout.FailurePause, PreexistingAlarms: rollout.PreexistingBlock, KeepVersions: 5,
			},
		},
		{
			name: "defaults",
			in:   `{"strategy":"LINEAR","percentage":20,"interval":600}`,
			want: rollout.Policy{
				Strategy: rollout.Linear, Percentage: 20, Interval: rollout.Duration(10 * time.Minute),
				OnDrift: rollout.DriftPause, OnBusy: rollout.BusyReject, OnFailure: rollout.FailureRollback,
				PreexistingAlarms: rollout.PreexistingIgnore, KeepVersions: rollout.DefaultKeep,
			},
		},
		{
			name: "maxFailureRate brings a default minExecutions",
			in:   `{"strategy":"CANARY","maxFailureRate":1}`,
			want: rollout.Policy{
				Strategy: rollout.Canary, Percentage: 10, Interval: rollout.Duration(5 * time.Minute),
				MaxFailureRate: 1, MinExecutions: rollout.DefaultMinExec,
				OnDrift: rollout.DriftPause, OnBusy: rollout.BusyReject, OnFailure: rollout.FailureRollback,
				PreexistingAlarms: rollout.PreexistingIgnore, KeepVersions: rollout.DefaultKeep,
			},
		},
		{
			name: "blue/green with a test alias and approval, kebab strategy",
			in:   `{"strategy":"blue-green","testAlias":"green","approval":true}`,
			want: rollout.Policy{
				Strategy: rollout.BlueGreen, TestAlias: "green", Approval: true,
				OnDrift: rollout.DriftPause, OnBusy: rollout.BusyReject, OnFailure: rollout.FailureRollback,
				PreexistingAlarms: rollout.PreexistingIgnore, KeepVersions: rollout.DefaultKeep,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rollout.ParsePolicy([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePolicy\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePolicyJSONErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		field string // "" when the error is about the document, not a field
		want  []string
	}{
		{name: "unknown field", in: `{"strategy":"CANARY","maxFailureRatio":5}`, field: "maxFailureRatio", want: []string{"unknown field", "maxFailureRate"}},
		{name: "field names are exact in JSON", in: `{"Strategy":"CANARY"}`, field: "Strategy", want: []string{"unknown field"}},
		{name: "percentage as a string", in: `{"percentage":"ten"}`, field: "percentage", want: []string{"want a whole number", `"ten"`}},
		{name: "percentage with a fraction", in: `{"percentage":12.5}`, field: "percentage", want: []string{"want a whole number"}},
		{name: "maxFailureRate as a string", in: `{"maxFailureRate":"5%"}`, field: "maxFailureRate", want: []string{"want a number"}},
		{name: "strategy as a number", in: `{"strategy":3}`, field: "strategy", want: []string{"want a string"}},
		{name: "alarms as one string", in: `{"alarms":"orders-errors"}`, field: "alarms", want: []string{"want a list of strings"}},
		{name: "approval as a string", in: `{"approval":"yes"}`, field: "approval", want: []string{"want true or false"}},
		{name: "interval with a bad unit", in: `{"interval":"5x"}`, field: "interval", want: []string{`"5x"`, "like 90s, 5m or 1h"}},
		{name: "interval as a bool", in: `{"interval":true}`, field: "interval", want: []string{`want a duration like "5m"`}},
		{name: "steps with a misspelt key", in: `{"strategy":"CUSTOM","steps":[{"setWeigth":10}]}`, field: "steps", want: []string{"setWeigth"}},
		{name: "steps with a bad short form", in: `{"strategy":"CUSTOM","steps":["jump:10"]}`, field: "steps", want: []string{`"jump:10"`}},
		{name: "steps with a null", in: `{"strategy":"CUSTOM","steps":[null]}`, field: "steps", want: []string{"step"}},
		{name: "not JSON", in: `strategy: CANARY`, want: []string{"rollout.json: not a JSON object"}},
		{name: "an array", in: `[]`, want: []string{"not a JSON object"}},
		{name: "null", in: `null`, want: []string{"got null"}},
		{name: "empty", in: ``, want: []string{"not a JSON object"}},
		{name: "trailing value", in: `{} {}`, want: []string{"trailing data"}},
		{name: "trailing brace", in: `{"strategy":"CANARY"}}`, want: []string{"trailing data"}},
		{name: "trailing bracket", in: `{"strategy":"CANARY"}]`, want: []string{"trailing data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rollout.ParsePolicy([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParsePolicy(%s) = nil error", tt.in)
			}
			if tt.field != "" {
				fe := fieldError(t, err, tt.field)
				if fe.Source != rollout.SourceFile {
					t.Errorf("Source = %q, want %q", fe.Source, rollout.SourceFile)
				}
				if !strings.Contains(err.Error(), `"`+tt.field+`"`) {
					t.Errorf("error %q does not name the field %q", err, tt.field)
				}
			}
			if m := missingFrom(err.Error(), tt.want...); m != "" {
				t.Errorf("error %q lacks %q", err, m)
			}
		})
	}
}

// A value its decoder refuses keeps the decoder's error as its cause, and says it as before.
func TestFieldErrorWrapsItsCause(t *testing.T) {
	_, err := rollout.ParsePolicy([]byte(`{"interval":"soon"}`))
	fe := fieldError(t, err, "interval")
	if fe.Err == nil || !errors.Is(err, fe.Err) || fe.Error() != `policy field "interval" (from rollout.json): `+fe.Err.Error() {
		t.Errorf("FieldError %q with cause %v, want the decoder's error wrapped and its text kept", fe, fe.Err)
	}
}

func TestParsePolicyTags(t *testing.T) {
	tags := map[string]string{
		"rollout:managed":               "true",
		"rollout:strategy":              "CUSTOM",
		"rollout:steps":                 "weight:10 pause:5m approval  weight:100",
		"rollout:alarms":                " orders-errors  orders-p99 ",
		"rollout:bakeTime":              "15m",
		"rollout:max-failure-rate":      "2.5",
		"rollout:approval":              "false",
		"Name":                          "orders",
		"aws:cloudformation:stack-name": "orders-prod",
	}
	l, err := rollout.ParsePolicyTags(tags)
	if err != nil {
		t.Fatalf("ParsePolicyTags: %v", err)
	}
	if l.Source != rollout.SourceTags {
		t.Errorf("Source = %q", l.Source)
	}
	if _, ok := l.Fields["managed"]; ok {
		t.Errorf("rollout:managed read as a policy field")
	}
	p, err := rollout.Resolve(l)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got, want := shortForms(p.Steps), "weight:10 pause:5m approval weight:100"; got != want {
		t.Errorf("steps = %s, want %s", got, want)
	}
	if want := []string{"orders-errors", "orders-p99"}; !reflect.DeepEqual(p.Alarms, want) {
		t.Errorf("alarms = %q, want %q", p.Alarms, want)
	}
	if p.BakeTime.D() != 15*time.Minute || p.MaxFailureRate != 2.5 || p.MinExecutions != rollout.DefaultMinExec {
		t.Errorf("policy = %+v", p)
	}
}

func TestParsePolicyTagKeys(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		value   string
		want    string // canonical field name; "" when the key is no policy field
		wantErr string
	}{
		{name: "camel case", key: "rollout:maxFailureRate", value: "5", want: "maxFailureRate"},
		{name: "lower case", key: "rollout:maxfailurerate", value: "5", want: "maxFailureRate"},
		{name: "upper case", key: "rollout:MAXFAILURERATE", value: "5", want: "maxFailureRate"},
		{name: "kebab case", key: "rollout:max-failure-rate", value: "5", want: "maxFailureRate"},
		{name: "snake case", key: "rollout:max_failure_rate", value: "5", want: "maxFailureRate"},
		{name: "kebab bake time", key: "rollout:bake-time", value: "10m", want: "bakeTime"},
		{name: "managed is no field", key: "rollout:managed", value: "true"},
		{name: "other tags are not read", key: "team", value: "payments"},
		{name: "another prefix", key: "rollouts:strategy", value: "LINEAR"},
		{name: "unknown field", key: "rollout:colour", value: "blue", wantErr: "unknown field"},
		{name: "whole number", key: "rollout:percentage", value: "ten", wantErr: `want a whole number, got "ten"`},
		{name: "number", key: "rollout:growthFactor", value: "double", wantErr: "want a number"},
		{name: "bool", key: "rollout:approval", value: "yes", wantErr: "want true or false"},
		{name: "steps", key: "rollout:steps", value: "weight:10 jump:5", wantErr: `step "jump:5"`},
		{name: "float that JSON cannot hold", key: "rollout:maxFailureRate", value: "NaN", wantErr: "maxFailureRate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := rollout.ParsePolicyTags(map[string]string{tt.key: tt.value})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicyTags error = %v, want one with %q", err, tt.wantErr)
				}
				var fe *rollout.FieldError
				if !errors.As(err, &fe) || fe.Source != rollout.SourceTags {
					t.Errorf("error %v is not a FieldError from tags", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicyTags: %v", err)
			}
			var got []string
			for f := range l.Fields {
				got = append(got, f)
			}
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("fields = %v, want none", got)
			case tt.want != "" && !reflect.DeepEqual(got, []string{tt.want}):
				t.Errorf("fields = %v, want [%s]", got, tt.want)
			}
		})
	}
}

// Two spellings of one field: neither may quietly win.
func TestParsePolicyTagsFieldTwice(t *testing.T) {
	_, err := rollout.ParsePolicyTags(map[string]string{"rollout:maxFailureRate": "5", "rollout:max-failure-rate": "50"})
	fe := fieldError(t, err, "maxFailureRate")
	if m := missingFrom(fe.Msg, "set twice", "rollout:maxFailureRate", "rollout:max-failure-rate"); m != "" {
		t.Errorf("error %q lacks %q", fe, m)
	}
}

func TestIsManaged(t *testing.T) {
	tests := []struct {
		name string
		tags map[string]string
		want bool
	}{
		{name: "true", tags: map[string]string{"rollout:managed": "true"}, want: true},
		{name: "TRUE with spaces", tags: map[string]string{"rollout:managed": " TRUE "}, want: true},
		{name: "false", tags: map[string]string{"rollout:managed": "false"}},
		{name: "empty", tags: map[string]string{"rollout:managed": ""}},
		{name: "yes is not true", tags: map[string]string{"rollout:managed": "yes"}},
		{name: "missing", tags: map[string]string{"rollout:strategy": "CANARY"}},
		{name: "nil", tags: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.IsManaged(tt.tags); got != tt.want {
				t.Errorf("IsManaged(%v) = %v, want %v", tt.tags, got, tt.want)
			}
		})
	}
}

func TestParsePolicyMetadata(t *testing.T) {
	tests := []struct {
		name    string
		meta    map[string]string
		want    map[string]string // field -> JSON
		wantErr string
	}{
		{name: "lower-cased by S3", meta: map[string]string{"rollout-maxfailurerate": "2.5", "rollout-baketime": "30m", "rollout-onfailure": "pause"},
			want: map[string]string{"maxFailureRate": "2.5", "bakeTime": `"30m"`, "onFailure": `"pause"`}},
		{name: "as sent, with the header prefix", meta: map[string]string{"X-Amz-Meta-Rollout-Strategy": "LINEAR", "x-amz-meta-rollout-percentage": "20"},
			want: map[string]string{"strategy": `"LINEAR"`, "percentage": "20"}},
		{name: "kebab", meta: map[string]string{"rollout-max-failure-rate": "1"}, want: map[string]string{"maxFailureRate": "1"}},
		{name: "alarms space separated", meta: map[string]string{"rollout-alarms": "a b"}, want: map[string]string{"alarms": `["a","b"]`}},
		{name: "actor is no field", meta: map[string]string{"rollout-actor": "ci@example.com", "Rollout-Actor": "ci"}, want: map[string]string{}},
		{name: "other metadata is not read", meta: map[string]string{"content-sha": "abc"}, want: map[string]string{}},
		{name: "unknown field", meta: map[string]string{"rollout-speed": "fast"}, wantErr: "unknown field"},
		{name: "keys that differ only in case", meta: map[string]string{"Rollout-Strategy": "LINEAR", "rollout-strategy": "CANARY"}, wantErr: "set twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := rollout.ParsePolicyMetadata(tt.meta)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicyMetadata error = %v, want one with %q", err, tt.wantErr)
				}
				var fe *rollout.FieldError
				if !errors.As(err, &fe) || fe.Source != rollout.SourceMetadata {
					t.Errorf("error %v is not a FieldError from metadata", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicyMetadata: %v", err)
			}
			got := map[string]string{}
			for f, v := range l.Fields {
				got[f] = string(v)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResolveLayers(t *testing.T) {
	type want struct {
		strategy   rollout.Strategy
		percentage int
		interval   time.Duration
		onFailure  rollout.OnFailure
	}
	tests := []struct {
		name string
		tags map[string]string
		file string
		meta map[string]string
		want want
		// errField and errSource: the field and layer a resolve error must name.
		errField, errSource string
	}{
		{name: "default only", want: want{rollout.Canary, 10, 5 * time.Minute, rollout.FailureRollback}},
		{name: "tags over default", tags: map[string]string{"rollout:strategy": "LINEAR", "rollout:percentage": "20", "rollout:interval": "2m"},
			want: want{rollout.Linear, 20, 2 * time.Minute, rollout.FailureRollback}},
		{name: "rollout.json over tags", tags: map[string]string{"rollout:strategy": "LINEAR", "rollout:percentage": "20", "rollout:interval": "2m"},
			file: `{"percentage":25}`, want: want{rollout.Linear, 25, 2 * time.Minute, rollout.FailureRollback}},
		{name: "metadata over rollout.json over tags", tags: map[string]string{"rollout:strategy": "LINEAR", "rollout:percentage": "20", "rollout:interval": "2m", "rollout:onFailure": "pause"},
			file: `{"percentage":25,"interval":"3m"}`, meta: map[string]string{"rollout-percentage": "50"},
			want: want{rollout.Linear, 50, 3 * time.Minute, rollout.FailurePause}},
		{name: "a bad tag that rollout.json overrides is fine", tags: map[string]string{"rollout:percentage": "150"},
			file: `{"strategy":"LINEAR","percentage":30,"interval":"1m"}`, want: want{rollout.Linear, 30, time.Minute, rollout.FailureRollback}},
		{name: "a bad range from tags names tags", tags: map[string]string{"rollout:percentage": "150"},
			file: `{"strategy":"LINEAR","interval":"1m"}`, errField: "percentage", errSource: rollout.SourceTags},
		{name: "a bad range from metadata names metadata", tags: map[string]string{"rollout:percentage": "20"},
			file: `{"strategy":"LINEAR","interval":"1m"}`, meta: map[string]string{"rollout-percentage": "0"}, errField: "percentage", errSource: rollout.SourceMetadata},
		{name: "a bad range from rollout.json names rollout.json", file: `{"strategy":"CANARY","interval":"9999m"}`, errField: "interval", errSource: rollout.SourceFile},
		{name: "a bad duration from tags names tags", tags: map[string]string{"rollout:interval": "5x"}, errField: "interval", errSource: rollout.SourceTags},
		{name: "a bad enum from metadata names metadata", meta: map[string]string{"rollout-ondrift": "ignore"}, errField: "onDrift", errSource: rollout.SourceMetadata},
		{name: "a strategy from metadata makes a tag's steps wrong", tags: map[string]string{"rollout:strategy": "CUSTOM", "rollout:steps": "weight:50"},
			meta: map[string]string{"rollout-strategy": "ALL_AT_ONCE"}, errField: "steps", errSource: rollout.SourceTags},
		{name: "linear needs a percentage it has no default for", file: `{"strategy":"LINEAR","interval":"1m"}`, errField: "percentage", errSource: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []rollout.Layer
			tagLayer, err := rollout.ParsePolicyTags(tt.tags)
			if err != nil {
				t.Fatalf("ParsePolicyTags: %v", err)
			}
			layers = append(layers, tagLayer)
			if tt.file != "" {
				l, err := rollout.ParsePolicyJSON(rollout.SourceFile, []byte(tt.file))
				if err != nil {
					t.Fatalf("ParsePolicyJSON: %v", err)
				}
				layers = append(layers, l)
			}
			metaLayer, err := rollout.ParsePolicyMetadata(tt.meta)
			if err != nil {
				t.Fatalf("ParsePolicyMetadata: %v", err)
			}
			layers = append(layers, metaLayer)

			p, err := rollout.Resolve(layers...)
			if tt.errField != "" {
				fe := fieldError(t, err, tt.errField)
				if fe.Source != tt.errSource {
					t.Errorf("FieldError %q has Source %q, want %q", fe, fe.Source, tt.errSource)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			got := want{p.Strategy, p.Percentage, p.Interval.D(), p.OnFailure}
			if got != tt.want {
				t.Errorf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		field  string   // "" when the policy is valid
		want   []string // in the message: the range or the rule
	}{
		{name: "percentage 0", policy: `{"strategy":"LINEAR","interval":"1m","percentage":0}`, field: "percentage", want: []string{"between 1 and 99", "got 0"}},
		{name: "percentage 100", policy: `{"strategy":"CANARY","percentage":100}`, field: "percentage", want: []string{"between 1 and 99", "got 100"}},
		{name: "percentage 1 and 99 are fine", policy: `{"strategy":"CUSTOM","steps":["weight:1","weight:99"]}`},
		{name: "percentage 99", policy: `{"strategy":"LINEAR","interval":"1m","percentage":99}`},
		{name: "interval required", policy: `{"strategy":"EXPONENTIAL","percentage":5}`, field: "interval", want: []string{"required for EXPONENTIAL"}},
		{name: "interval over 2100m", policy: `{"strategy":"CANARY","interval":"2101m"}`, field: "interval", want: []string{"between 1s and 2100m", "got 35h1m"}},
		{name: "interval 2100m", policy: `{"strategy":"CANARY","interval":"2100m"}`},
		{name: "interval 1s", policy: `{"strategy":"CANARY","interval":"1s"}`},
		{name: "interval on blue/green over 2100m", policy: `{"strategy":"BLUE_GREEN","interval":"36h"}`, field: "interval", want: []string{"between 1s and 2100m"}},
		{name: "growthFactor under 1.1", policy: `{"strategy":"EXPONENTIAL","percentage":5,"interval":"1m","growthFactor":1.05}`, field: "growthFactor", want: []string{"between 1.1 and 10", "got 1.05"}},
		{name: "growthFactor over 10", policy: `{"strategy":"EXPONENTIAL","percentage":5,"interval":"1m","growthFactor":11}`, field: "growthFactor", want: []string{"between 1.1 and 10"}},
		{name: "bakeTime over 24h", policy: `{"bakeTime":"25h"}`, field: "bakeTime", want: []string{"between 0s and 24h", "got 25h"}},
		{name: "bakeTime 24h", policy: `{"bakeTime":"24h"}`},
		{name: "101 alarms", policy: `{"alarms":[` + manyAlarms(101) + `]}`, field: "alarms", want: []string{"at most 100", "got 101"}},
		{name: "100 alarms", policy: `{"alarms":[` + manyAlarms(100) + `]}`},
		{name: "alarm named twice", policy: `{"alarms":["a","b","a"]}`, field: "alarms", want: []string{`"a" is named twice`}},
		{name: "alarm by ARN", policy: `{"alarms":["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a"]}`, field: "alarms", want: []string{"by name, not ARN"}},
		{name: "empty alarm name", policy: `{"alarms":[""]}`, field: "alarms", want: []string{"1–255 characters"}},
		{name: "maxFailureRate over 100", policy: `{"maxFailureRate":101}`, field: "maxFailureRate", want: []string{"between 0 and 100", "got 101"}},
		{name: "maxFailureRate negative", policy: `{"maxFailureRate":-1}`, field: "maxFailureRate", want: []string{"between 0 and 100"}},
		{name: "minExecutions without maxFailureRate", policy: `{"minExecutions":5}`, field: "minExecutions", want: []string{"no effect without maxFailureRate"}},
		{name: "minExecutions negative", policy: `{"maxFailureRate":1,"minExecutions":-1}`, field: "minExecutions", want: []string{"between 1 and 1000000"}},
		{name: "keepVersions over 1000", policy: `{"keepVersions":1001}`, field: "keepVersions", want: []string{"between 1 and 1000", "got 1001"}},
		{name: "keepVersions negative", policy: `{"keepVersions":-1}`, field: "keepVersions", want: []string{"between 1 and 1000"}},
		{name: "keepVersions 1000", policy: `{"keepVersions":1000}`},
		{name: "unknown strategy", policy: `{"strategy":"ROLLING"}`, field: "strategy", want: []string{"ALL_AT_ONCE, CANARY, LINEAR, EXPONENTIAL, BLUE_GREEN, CUSTOM", `"ROLLING"`}},
		{name: "unknown onDrift", policy: `{"onDrift":"ignore"}`, field: "onDrift", want: []string{"[pause rollback]", `"ignore"`}},
		{name: "unknown onBusy", policy: `{"onBusy":"wait"}`, field: "onBusy", want: []string{"[reject queue supersede]"}},
		{name: "unknown onFailure", policy: `{"onFailure":"ignore"}`, field: "onFailure", want: []string{"[rollback pause]"}},
		{name: "unknown preexistingAlarms", policy: `{"preexistingAlarms":"fail"}`, field: "preexistingAlarms", want: []string{"[block ignore]"}},
		{name: "enums in any case", policy: `{"onDrift":"Rollback","onBusy":"QUEUE","onFailure":" pause ","preexistingAlarms":"Block"}`},
		{name: "steps only with CUSTOM", policy: `{"strategy":"LINEAR","percentage":10,"interval":"1m","steps":["weight:10"]}`, field: "steps", want: []string{"only CUSTOM takes steps"}},
		{name: "CUSTOM needs steps", policy: `{"strategy":"CUSTOM"}`, field: "steps", want: []string{"1–100 steps", "got 0"}},
		{name: "CUSTOM at most 100 steps", policy: `{"strategy":"CUSTOM","steps":[` + manySteps(101) + `]}`, field: "steps", want: []string{"1–100 steps", "got 101"}},
		{name: "CUSTOM weights that go down", policy: `{"strategy":"CUSTOM","steps":["weight:50","pause:1m","weight:20"]}`, field: "steps", want: []string{"step 3", "below the previous weight 50"}},
		{name: "CUSTOM weight over 100", policy: `{"strategy":"CUSTOM","steps":["weight:120"]}`, field: "steps", want: []string{"step 1", "0–100"}},
		{name: "CUSTOM empty step", policy: `{"strategy":"CUSTOM","steps":[{}]}`, field: "steps", want: []string{"exactly one of"}},
		{name: "CUSTOM analysis without any maxFailureRate", policy: `{"strategy":"CUSTOM","steps":["weight:10","analysis:5m"]}`, field: "steps", want: []string{"step 2", "analysis needs a maxFailureRate"}},
		{name: "CUSTOM analysis with the policy's maxFailureRate", policy: `{"strategy":"CUSTOM","maxFailureRate":2,"steps":["weight:10","analysis:5m"]}`},
		{name: "CUSTOM analysis with its own maxFailureRate", policy: `{"strategy":"CUSTOM","steps":["weight:10",{"analysis":{"duration":"5m","maxFailureRate":2}}]}`},
		{name: "CUSTOM minExecutions without policy maxFailureRate", policy: `{"strategy":"CUSTOM","minExecutions":20,"steps":["weight:10",{"analysis":{"duration":"5m","maxFailureRate":2}}]}`},
		{name: "testAlias only with BLUE_GREEN", policy: `{"strategy":"CANARY","testAlias":"green"}`, field: "testAlias", want: []string{"only BLUE_GREEN"}},
		{name: "testAlias all digits", policy: `{"strategy":"BLUE_GREEN","testAlias":"123"}`, field: "testAlias", want: []string{"at least one non-digit"}},
		{name: "testAlias with a slash", policy: `{"strategy":"BLUE_GREEN","testAlias":"a/b"}`, field: "testAlias", want: []string{"1–80"}},
		{name: "approval only with BLUE_GREEN", policy: `{"strategy":"CANARY","approval":true}`, field: "approval", want: []string{"only BLUE_GREEN", "approval step"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rollout.ParsePolicy([]byte(tt.policy))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ParsePolicy: %v", err)
				}
				if err := p.Validate(); err != nil {
					t.Fatalf("Validate after ParsePolicy: %v", err)
				}
				return
			}
			fe := fieldError(t, err, tt.field)
			if !strings.Contains(fe.Error(), `"`+tt.field+`"`) {
				t.Errorf("%q does not name the field", fe)
			}
			if m := missingFrom(fe.Reason(), tt.want...); m != "" {
				t.Errorf("%q lacks %q", fe, m)
			}
		})
	}
}

func manyAlarms(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = `"alarm-` + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + `-` + itoa(i) + `"`
	}
	return strings.Join(names, ",")
}

func manySteps(n int) string {
	steps := make([]string, n)
	for i := range steps {
		steps[i] = `"pause:1m"`
	}
	return strings.Join(steps, ",")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "seconds", in: "90s", want: 90 * time.Second},
		{name: "minutes", in: "5m", want: 5 * time.Minute},
		{name: "hours", in: "1h", want: time.Hour},
		{name: "hours and minutes", in: "1h30m", want: 90 * time.Minute},
		{name: "plain seconds", in: "300", want: 5 * time.Minute},
		{name: "zero", in: "0", want: 0},
		{name: "spaces", in: " 5m ", want: 5 * time.Minute},
		{name: "a fraction of a minute that is whole seconds", in: "1.5m", want: 90 * time.Second},
		{name: "7 days", in: "168h", want: 168 * time.Hour},
		{name: "bad unit", in: "5x", wantErr: "want a number and a unit"},
		{name: "negative", in: "-1m", wantErr: "out of range"},
		{name: "negative seconds", in: "-60", wantErr: "out of range"},
		{name: "fraction of a second", in: "1.5s", wantErr: "whole seconds only"},
		{name: "milliseconds", in: "500ms", wantErr: "whole seconds only"},
		{name: "over 7 days", in: "169h", wantErr: "out of range"},
		{name: "over 7 days in seconds", in: "604801", wantErr: "out of range"},
		{name: "huge", in: "9223372036854775807", wantErr: "out of range"},
		{name: "empty", in: "", wantErr: "empty duration"},
		{name: "word", in: "soon", wantErr: "like 90s, 5m or 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rollout.ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.D() != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got.D(), err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{name: "zero", in: 0, want: "0s"},
		{name: "seconds", in: 45 * time.Second, want: "45s"},
		{name: "minutes", in: 5 * time.Minute, want: "5m"},
		{name: "minutes and seconds", in: 90 * time.Second, want: "1m30s"},
		{name: "hours and minutes", in: 90 * time.Minute, want: "1h30m"},
		{name: "hours and seconds", in: time.Hour + time.Second, want: "1h1s"},
		{name: "days in hours", in: 48 * time.Hour, want: "48h"},
		{name: "below a second says so", in: 500 * time.Millisecond, want: "500ms"},
		{name: "negative says so", in: -time.Minute, want: "-1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.Duration(tt.in).String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "string", in: `"5m"`, want: 5 * time.Minute},
		{name: "number of seconds", in: `90`, want: 90 * time.Second},
		{name: "fractional number", in: `1.5`, wantErr: "want a number and a unit"},
		{name: "negative number", in: `-5`, wantErr: "out of range"},
		{name: "bool", in: `true`, wantErr: `want a duration like "5m"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d rollout.Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%s) = %v, want an error with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || d.D() != tt.want {
				t.Fatalf("Unmarshal(%s) = %v, %v; want %v", tt.in, d.D(), err, tt.want)
			}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back rollout.Duration
			if err := json.Unmarshal(b, &back); err != nil || back != d {
				t.Errorf("round trip through %s = %v, %v", b, back.D(), err)
			}
		})
	}
}

func TestPolicyHash(t *testing.T) {
	hashOf := func(t *testing.T, layers ...rollout.Layer) string {
		t.Helper()
		p, err := rollout.Resolve(layers...)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		return p.Hash()
	}
	fromJSON := func(t *testing.T, s string) rollout.Layer {
		t.Helper()
		l, err := rollout.ParsePolicyJSON(rollout.SourceFile, []byte(s))
		if err != nil {
			t.Fatalf("ParsePolicyJSON: %v", err)
		}
		return l
	}
	fromTags := func(t *testing.T, tags map[string]string) rollout.Layer {
		t.Helper()
		l, err := rollout.ParsePolicyTags(tags)
		if err != nil {
			t.Fatalf("ParsePolicyTags: %v", err)
		}
		return l
	}
	base := `{"strategy":"CUSTOM","steps":["weight:10","pause:5m"],"alarms":["a","b"],"bakeTime":"10m","maxFailureRate":2}`
	tests := []struct {
		name     string
		a, b     func(t *testing.T) string
		wantSame bool
	}{
		{name: "key order in rollout.json", wantSame: true,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string {
				return hashOf(t, fromJSON(t, `{"maxFailureRate":2,"bakeTime":"10m","alarms":["a","b"],"steps":["weight:10","pause:5m"],"strategy":"CUSTOM"}`))
			}},
		{name: "same fields from tags as from rollout.json", wantSame: true,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string {
				return hashOf(t, fromTags(t, map[string]string{"rollout:strategy": "custom", "rollout:steps": "weight:10 pause:300", "rollout:alarms": "a b", "rollout:bake-time": "600", "rollout:maxFailureRate": "2.0"}))
			}},
		{name: "short and long step forms, 300s and 5m", wantSame: true,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string {
				return hashOf(t, fromJSON(t, `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"pause":{"duration":"300s"}}],"alarms":["a","b"],"bakeTime":600,"maxFailureRate":2,"minExecutions":10}`))
			}},
		{name: "layered the same field by field", wantSame: true,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string {
				return hashOf(t, fromTags(t, map[string]string{"rollout:strategy": "CUSTOM", "rollout:bakeTime": "1h"}), fromJSON(t, `{"steps":["weight:10","pause:5m"],"alarms":["a","b"],"bakeTime":"10m","maxFailureRate":2}`))
			}},
		{name: "another weight", wantSame: false,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string {
				return hashOf(t, fromJSON(t, strings.Replace(base, "weight:10", "weight:20", 1)))
			}},
		{name: "another bake time", wantSame: false,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string { return hashOf(t, fromJSON(t, strings.Replace(base, `"10m"`, `"11m"`, 1))) }},
		{name: "another alarm", wantSame: false,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string { return hashOf(t, fromJSON(t, strings.Replace(base, `"b"`, `"c"`, 1))) }},
		{name: "another reaction", wantSame: false,
			a: func(t *testing.T) string { return hashOf(t, fromJSON(t, base)) },
			b: func(t *testing.T) string {
				return hashOf(t, fromJSON(t, strings.Replace(base, `{`, `{"onFailure":"pause",`, 1)))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.a(t), tt.b(t)
			if (a == b) != tt.wantSame {
				t.Errorf("hashes %s and %s: same = %v, want %v", a, b, a == b, tt.wantSame)
			}
		})
	}

	t.Run("stable across map order and a JSON round trip", func(t *testing.T) {
		tags := map[string]string{"rollout:strategy": "LINEAR", "rollout:percentage": "20", "rollout:interval": "2m", "rollout:alarms": "x y z", "rollout:onDrift": "rollback", "rollout:keepVersions": "3"}
		want := hashOf(t, fromTags(t, tags))
		for range 50 {
			if got := hashOf(t, fromTags(t, tags)); got != want {
				t.Fatalf("hash %s, then %s", want, got)
			}
		}
		p, _ := rollout.Resolve(fromTags(t, tags))
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back rollout.Policy
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Hash() != want {
			t.Errorf("hash after a JSON round trip through %s: %s, want %s", b, back.Hash(), want)
		}
		if got := hashOf(t, fromJSON(t, string(b))); got != want {
			t.Errorf("hash of the marshalled policy read as rollout.json: %s, want %s", got, want)
		}
	})
}
