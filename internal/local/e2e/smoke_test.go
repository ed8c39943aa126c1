package e2e_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../../statemachines/examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLinearRolloutEndToEnd(t *testing.T) {
	ctx := context.Background()
	env, err := localenv.Start(ctx, localenv.Options{Speed: 600, Seed: 7, Out: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	m, err := env.CreateManaged(ctx, "orders", "prod", readExample(t, "orders-v1.asl.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	traffic := env.StartTraffic(ctx, m.AliasArn, 50)
	defer traffic.Stop()
	id, err := env.Upload(ctx, "orders", "prod", "release-2", readExample(t, "orders-v2.asl.json"), map[string]string{"strategy": "LINEAR", "percentage": "25", "interval": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := env.WaitFinalized(ctx, id, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase != rollout.Succeeded {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Reason)
	}
	routing, _ := env.Routing(ctx, m.AliasArn)
	if routing != "v2=100" {
		t.Errorf("alias routing %q, want v2=100", routing)
	}
}
