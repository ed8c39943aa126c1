package sfn

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// A call whose client gives up during its injected latency is never applied: the
// controller's alias write window assumes that of AWS for a timed-out write.
func TestCallCutOffDuringLatencyIsNotApplied(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(0))
	v1 := h.publish(t, orders, passDefN(1))
	v2 := h.publish(t, orders, passDefN(2))
	prod := h.alias(t, "prod", v1, 100)
	const latency = 300 * time.Millisecond
	h.faults.Set([]core.Fault{{Service: "states", Operation: "UpdateStateMachineAlias", Latency: latency}})
	cctx, cancel := context.WithTimeout(ctx(), 20*time.Millisecond)
	_, err := newClient(h.srv.URL, 1).UpdateStateMachineAlias(cctx, &awssfn.UpdateStateMachineAliasInput{
		StateMachineAliasArn: aws.String(prod), RoutingConfiguration: routing(v2, 100),
	})
	cancel()
	if err == nil {
		t.Fatal("a call cut off by its deadline answered success")
	}
	h.faults.Set(nil)
	time.Sleep(2 * latency) // long past the latency: a late apply would have happened by now
	out, err := h.client.DescribeStateMachineAlias(ctx(), &awssfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(prod)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.RoutingConfiguration) != 1 || aws.ToString(out.RoutingConfiguration[0].StateMachineVersionArn) != v1 {
		t.Errorf("routing after a cut-off update: %+v, want v1=100", out.RoutingConfiguration)
	}
}
