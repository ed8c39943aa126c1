package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A BLUE_GREEN rollout on an alias of 80 characters: "<alias>-test" cut to 80 is the alias
// itself. The test alias must be another one; production keeps v1 until the approval, then
// switches, and Finalize deletes the test alias, never production.
func TestBlueGreenLongAliasName(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	ctx := context.Background()
	alias := strings.Repeat("p", 75) + "-test"
	mg, err := env.CreateManaged(ctx, uniqueName("bg-long-alias"), alias, example(t, "orders-v1.asl.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{t: t, env: env, log: log, Managed: mg}
	id, err := env.Upload(ctx, m.Name, alias, "v2", release(t, "v2"), map[string]string{"actor": ciActor, "strategy": "BLUE_GREEN", "approval": "true"})
	if err != nil {
		t.Fatal(err)
	}
	r := m.waitFor(id, "the approval step", func(r rollout.Rollout) bool {
		return r.Phase == rollout.Paused && r.PauseKind == rollout.PauseApproval
	})
	if got := m.routing(); got != "v1=100" {
		t.Errorf("production routes %q while waiting for approval, want v1=100", got)
	}
	if r.TestAliasArn == "" || r.TestAliasArn == m.AliasArn || len(r.TestAlias) > 80 {
		t.Fatalf("test alias %q (%s), production %s", r.TestAlias, r.TestAliasArn, m.AliasArn)
	}
	if got, err := env.Routing(ctx, r.TestAliasArn); err != nil || got != "v2=100" {
		t.Errorf("test alias routes %q (%v), want v2=100", got, err)
	}
	m.control(id, rollout.CommandApprove, "alice")
	r = m.finalized(id)
	if r.Phase != rollout.Succeeded {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Reason)
	}
	if got := m.routing(); got != "v2=100" {
		t.Errorf("production routes %q after the rollout, want v2=100", got)
	}
	out, err := env.SFN.ListStateMachineAliases(ctx, &sfn.ListStateMachineAliasesInput{StateMachineArn: aws.String(m.Arn)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range out.StateMachineAliases {
		names = append(names, aws.ToString(a.StateMachineAliasArn))
	}
	if len(names) != 1 || names[0] != m.AliasArn {
		t.Errorf("aliases after the rollout %v, want only production %s", names, m.AliasArn)
	}
}
