package rollout_test

import (
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestTagKeysInAnyCase(t *testing.T) {
	tests := []struct {
		name        string
		tags        map[string]string
		wantManaged bool
		wantField   string
	}{
		{name: "canonical", tags: map[string]string{"rollout:managed": "true", "rollout:strategy": "LINEAR"}, wantManaged: true, wantField: "strategy"},
		{name: "capitalised managed key", tags: map[string]string{"rollout:Managed": "TRUE"}, wantManaged: true},
		{name: "capitalised prefix", tags: map[string]string{"Rollout:managed": "true", "ROLLOUT:bakeTime": "5m"}, wantManaged: true, wantField: "bakeTime"},
		{name: "managed false", tags: map[string]string{"rollout:managed": "false"}},
		{name: "unrelated tags", tags: map[string]string{"team": "orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.IsManaged(tt.tags); got != tt.wantManaged {
				t.Errorf("IsManaged = %v, want %v", got, tt.wantManaged)
			}
			l, err := rollout.ParsePolicyTags(tt.tags)
			if err != nil {
				t.Fatalf("ParsePolicyTags: %v", err)
			}
			if tt.wantField != "" {
				if _, ok := l.Fields[tt.wantField]; !ok {
					t.Errorf("field %s not read from %v", tt.wantField, tt.tags)
				}
			}
			if _, ok := l.Fields["managed"]; ok {
				t.Error("rollout:managed read as a policy field")
			}
		})
	}
}

func TestHashIgnoresAlarmOrder(t *testing.T) {
	a, err := rollout.ParsePolicy([]byte(`{"alarms":["b","a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rollout.ParsePolicy([]byte(`{"alarms":["a","b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rollout.ParsePolicy([]byte(`{"alarms":["a","c"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Errorf("reordered alarms changed the hash: %s vs %s", a.Hash(), b.Hash())
	}
	if a.Hash() == c.Hash() {
		t.Error("different alarms gave the same hash")
	}
	if a.Alarms[0] != "b" {
		t.Error("Hash reordered the policy's own alarm list")
	}
}
