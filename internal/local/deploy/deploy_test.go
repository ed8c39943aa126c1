package deploy_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/dynalite"
	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The deployed rules and functions retry as the CDK stack makes them retry on AWS: the
// numbers come from internal/topology, which infra/controller reads too.
func TestDeliveryPoliciesComeFromTopology(t *testing.T) {
	if _, err := dynalite.FindCLI(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{Addr: "127.0.0.1:0", Speed: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := deploy.Controller(ctx, st, deploy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.NewFromConfig(d.AWS)
	for rule, want := range map[string]topology.RetryPolicy{
		deploy.RuleUploads: topology.UploadDelivery,
		deploy.RuleAlarms:  topology.RollbackDelivery,
		deploy.RuleControl: topology.ControlDelivery,
	} {
		out, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(rule)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Targets) != 1 || out.Targets[0].RetryPolicy == nil {
			t.Fatalf("%s: targets %+v", rule, out.Targets)
		}
		p := out.Targets[0].RetryPolicy
		if got := (topology.RetryPolicy{MaximumRetryAttempts: int(aws.ToInt32(p.MaximumRetryAttempts)),
			MaximumEventAge: time.Duration(aws.ToInt32(p.MaximumEventAgeInSeconds)) * time.Second}); got != want {
			t.Errorf("%s: retry policy %+v, want %+v", rule, got, want)
		}
	}
	for _, fn := range topology.Functions {
		got := st.Lambda.GetFunctionEventInvokeConfig(topology.FunctionName(deploy.Prefix, fn))
		want := lambda.EventInvokeConfig{MaximumRetryAttempts: topology.FunctionAsyncInvoke.MaximumRetryAttempts, MaximumEventAge: topology.FunctionAsyncInvoke.MaximumEventAge}
		if got != want {
			t.Errorf("%s: event invoke config %+v, want %+v", fn, got, want)
		}
	}
}
