package stack_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
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
