package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

// ruleToFunction puts a rule with the pattern and an in-process function as its target.
func ruleToFunction(t *testing.T, client *eventbridge.Client, name, pattern, fnArn string) {
	t.Helper()
	c := ctx(t)
	if _, err := client.PutRule(c, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutTargets(c, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String("fn"), Arn: aws.String(fnArn)}}}); err != nil {
		t.Fatal(err)
	}
}

func TestExecutionStatusChangeReachesRule(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := sfn.NewFromConfig(awsConfig(st))
	m := newMachine(t, c, client, unique("stack-events"), 0)
	name := unique("stack-execution-events")
	in, fnArn := register(st, name)
	ruleToFunction(t, eventbridge.NewFromConfig(awsConfig(st)), name,
		`{"source":["aws.states"],"detail-type":["Step Functions Execution Status Change"],"detail":{"status":["SUCCEEDED"],"stateMachineArn":["`+m.arn+`"]}}`, fnArn)

	start, err := client.StartExecution(c, &sfn.StartExecutionInput{StateMachineArn: aws.String(m.alias), Name: aws.String("e-1"), Input: aws.String(`{"order":"o-2"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out := waitExecution(t, c, client, *start.ExecutionArn); out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s", out.Status)
	}
	var e envelope
	in.next(t, &e)
	var d struct {
		ExecutionArn           string  `json:"executionArn"`
		StateMachineArn        string  `json:"stateMachineArn"`
		StateMachineVersionArn string  `json:"stateMachineVersionArn"`
		StateMachineAliasArn   string  `json:"stateMachineAliasArn"`
		Name                   string  `json:"name"`
		Status                 string  `json:"status"`
		Output                 *string `json:"output"`
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if len(e.Resources) != 1 || e.Resources[0] != *start.ExecutionArn {
		t.Errorf("resources %v, want the execution ARN", e.Resources)
	}
	if d.ExecutionArn != *start.ExecutionArn || d.Name != "e-1" || d.Status != "SUCCEEDED" || d.StateMachineArn != m.arn ||
		d.StateMachineVersionArn != m.v2 || d.StateMachineAliasArn != m.alias || d.Output == nil || !sameJSON(*d.Output, `{"version":2,"order":"o-2"}`) {
		t.Errorf("detail %s", e.Detail)
	}
}

func TestAlarmStateChangeReachesRule(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := cloudwatch.NewFromConfig(awsConfig(st))
	name, alarm := unique("stack-alarm-events"), unique("stack-failures")
	in, fnArn := register(st, name)
	// The rule comes first, so that no state change can happen before it exists.
	alarmArn := "arn:aws:cloudwatch:us-east-1:000000000000:alarm:" + alarm
	ruleToFunction(t, eventbridge.NewFromConfig(awsConfig(st)), name,
		`{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"resources":["`+alarmArn+`"],"detail":{"state":{"value":["ALARM"]}}}`, fnArn)
	startFeeder(t, st, client, "Stack/Events", alarm, 1)
	if _, err := client.PutMetricAlarm(c, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(alarm), Namespace: aws.String("Stack/Events"), MetricName: aws.String(alarm),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(0), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
	}); err != nil {
		t.Fatal(err)
	}

	var e envelope
	in.next(t, &e)
	var d struct {
		AlarmName string `json:"alarmName"`
		State     struct {
			Value  string `json:"value"`
			Reason string `json:"reason"`
		} `json:"state"`
		PreviousState struct {
			Value string `json:"value"`
		} `json:"previousState"`
		Configuration struct {
			Metrics []json.RawMessage `json:"metrics"`
		} `json:"configuration"`
	}
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if len(e.Resources) != 1 || e.Resources[0] != alarmArn {
		t.Errorf("resources %v, want the alarm ARN", e.Resources)
	}
	// The sum of the fed 1s is over 0 from the first period: the alarm leaves
	// INSUFFICIENT_DATA straight for ALARM.
	if d.AlarmName != alarm || d.State.Value != "ALARM" || d.State.Reason == "" || d.PreviousState.Value != "INSUFFICIENT_DATA" || len(d.Configuration.Metrics) != 1 {
		t.Errorf("detail %s", e.Detail)
	}
}

// The measurement that began this: a thousand alarm events at once, each invoking a Lambda
// target asynchronously. Lambda's queue has no bound, so every event reaches the function,
// under a concurrency limit far smaller than the burst, and nothing is dropped.
func TestAThousandEventsAllReachTheirFunction(t *testing.T) {
	const events, limit = 1000, 4
	st := startStack(t, stack.Options{Speed: speed, LambdaConcurrency: limit})
	var running, most, ran atomic.Int64
	done := make(chan struct{})
	st.Lambda.Register("burst", func(_ context.Context, _ json.RawMessage) (json.RawMessage, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if ran.Add(1) == events {
			close(done)
		}
		return nil, nil
	})
	client := eventbridge.NewFromConfig(awsConfig(st))
	ruleToFunction(t, client, "burst", `{"source":["stack.burst"]}`, lambda.FunctionArn("burst"))
	c := ctx(t)
	for i := 0; i < events; i += 10 {
		var entries []ebtypes.PutEventsRequestEntry
		for j := range 10 {
			entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("stack.burst"), DetailType: aws.String("Alarm"), Detail: aws.String(fmt.Sprintf(`{"n":%d}`, i+j))})
		}
		out, err := client.PutEvents(c, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("PutEvents: %v, %d failed", err, out.FailedEntryCount)
		}
	}
	select {
	case <-done:
	case <-c.Done():
		t.Fatalf("%d of %d events reached the function", ran.Load(), events)
	}
	if m := most.Load(); m > limit {
		t.Errorf("%d invocations ran at once, over the limit of %d", m, limit)
	}
	if n := st.Lambda.Dropped() + st.EventBridge.Dropped(); n != 0 {
		t.Errorf("%d dropped", n)
	}
}
