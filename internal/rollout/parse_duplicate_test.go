package rollout_test

import (
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// TestParsePolicyJSONDuplicateKeys: encoding/json keeps the last of two equal keys, so
// `"alarms": ["x"], …, "alarms": []` would quietly leave a rollout unguarded. A key set
// twice in one object, at any depth, is refused with an error that names it.
func TestParsePolicyJSONDuplicateKeys(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		field string // the policy field the error is filed under
		want  []string
	}{
		{name: "alarms emptied by a second key", in: `{"alarms":["orders-errors"],"strategy":"CANARY","alarms":[]}`, field: "alarms", want: []string{"set twice"}},
		{name: "same value twice", in: `{"strategy":"CANARY","strategy":"CANARY"}`, field: "strategy", want: []string{"set twice"}},
		{name: "key inside a step", in: `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"analysis":{"duration":"5m","maxFailureRate":5,"maxFailureRate":50}},{"setWeight":100}]}`, field: "steps", want: []string{"maxFailureRate", "set twice", "steps[1].analysis"}},
		{name: "one-of keys twice in a step", in: `{"strategy":"CUSTOM","steps":[{"setWeight":10,"setWeight":100}]}`, field: "steps", want: []string{"setWeight", "steps[0]"}},
		{name: "unknown key twice", in: `{"strategy":"CANARY","owner":"a","owner":"b"}`, field: "owner", want: []string{"set twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rollout.ParsePolicy([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParsePolicy(%s) = nil error", tt.in)
			}
			fe := fieldError(t, err, tt.field)
			if fe.Source != rollout.SourceFile {
				t.Errorf("Source = %q, want %q", fe.Source, rollout.SourceFile)
			}
			if !strings.Contains(err.Error(), `"`+tt.field+`"`) {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
			if m := missingFrom(err.Error(), tt.want...); m != "" {
				t.Errorf("error %q lacks %q", err, m)
			}
		})
	}
}

// TestParsePolicyJSONEqualKeysInSeparateObjects: the same key in two different objects
// (two steps, say) is not a duplicate.
func TestParsePolicyJSONEqualKeysInSeparateObjects(t *testing.T) {
	in := `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"pause":{"duration":"1m"}},{"setWeight":50},{"pause":{"duration":"1m"}},{"setWeight":100}]}`
	if _, err := rollout.ParsePolicy([]byte(in)); err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
}
