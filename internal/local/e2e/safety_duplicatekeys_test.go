package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A rollout.json that sets "alarms" twice (the second time empty) is refused naming the
// field, and the alias stays where it was.
func TestDuplicateKeyInRolloutJSONIsRefused(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	ctx := context.Background()
	m := newMachine(t, env, log, "duplicate-keys")
	if err := env.Put(ctx, m.Name+"/prod/rollout.json", `{"strategy":"CANARY","alarms":["`+m.Name+`-errors"],"interval":"1m","alarms":[]}`); err != nil {
		t.Fatal(err)
	}
	id := m.upload("v2", release(t, "v2"), nil)
	r := m.finalized(id)
	if r.Phase != rollout.Failed || r.ErrorName != "InvalidPolicy" || !strings.Contains(r.Reason, `"alarms"`) || !strings.Contains(r.Reason, "set twice") {
		t.Fatalf("rollout ended %s (%s): %q; want Failed InvalidPolicy naming alarms", r.Phase, r.ErrorName, r.Reason)
	}
	if got := m.routing(); got != "v1=100" {
		t.Errorf("alias routes %q, want v1=100", got)
	}
}
