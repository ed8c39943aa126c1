package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The demo's orders state machine written in JSONata (with a variable) rolls out over the
// JSONPath v1 like any release: validated, published, its pre-traffic tests run on the
// candidate version (so the JSONata really executes), then the canary and 100%.
func TestJSONataOrdersRollsOut(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	ctx := context.Background()
	m := newMachine(t, env, log, "orders-jsonata")
	tests := map[string]string{
		"one-item.json":  `{"input":{"orderId":"o-1","items":[{"sku":"a","qty":1}]},"expect":"SUCCEEDED"}`,
		"two-items.json": `{"input":{"orderId":"o-2","items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]},"expect":"SUCCEEDED"}`,
	}
	for file, body := range tests {
		if err := env.Put(ctx, m.Name+"/prod/tests/"+file, body); err != nil {
			t.Fatal(err)
		}
	}
	watch := m.watch()
	id := m.upload("v2-jsonata", example(t, "orders-v2-jsonata.asl.json"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "2m"})
	r := m.finalized(id)
	got := watch.Stop()

	out, err := env.SFN.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(m.version(2))})
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, x := range out.Executions {
		if strings.HasPrefix(aws.ToString(x.Name), topology.PreTrafficExecutionPrefix+id+"-") {
			runs++
			if x.Status != "SUCCEEDED" {
				t.Errorf("test execution %s on the JSONata candidate: %s", aws.ToString(x.Name), x.Status)
			}
		}
	}
	if runs != len(tests) {
		t.Errorf("%d test executions on the JSONata candidate, want %d", runs, len(tests))
	}
	if r.Phase != rollout.Succeeded {
		t.Fatalf("rollout ended %s %s: %s", r.Phase, r.ErrorName, r.Reason)
	}
	wantRoutings(t, got, routings(m, []int{0, 10, 100}))
	wantSucceeded(t, m, r, "controller")
	d, err := env.SFN.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(m.version(2))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(d.Definition), `"QueryLanguage": "JSONata"`) {
		t.Errorf("version 2 is not the JSONata definition: %.80s", aws.ToString(d.Definition))
	}
}
