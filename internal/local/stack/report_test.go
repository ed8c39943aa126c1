package stack_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

// A rollout as the endpoint sees it — an alias moved step by step while traffic runs, an
// alarm that goes off — prints one line per alias change and per alarm state change, one
// per failed execution, and nothing for the executions that succeed.
func TestReporterPrintsOneLinePerEvent(t *testing.T) {
	out := &lockedBuffer{}
	st := startStack(t, stack.Options{Speed: speed, Seed: 3, Out: out})
	c := ctx(t)
	client := sfn.NewFromConfig(awsConfig(st))
	cw := cloudwatch.NewFromConfig(awsConfig(st))

	m := newMachine(t, c, client, "orders", 100) // alias line 1
	traffic := func() {
		for range 5 {
			start, err := client.StartExecution(c, &sfn.StartExecutionInput{StateMachineArn: aws.String(m.alias), Input: aws.String(`{"order":"o"}`)})
			if err != nil {
				t.Fatal(err)
			}
			if out := waitExecution(t, c, client, *start.ExecutionArn); out.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s", out.Status)
			}
		}
	}
	traffic()
	for _, w1 := range []int32{90, 90, 50, 0} { // the repeated 90 changes nothing: no line
		if _, err := client.UpdateStateMachineAlias(c, &sfn.UpdateStateMachineAliasInput{StateMachineAliasArn: aws.String(m.alias), RoutingConfiguration: m.routing(w1)}); err != nil {
			t.Fatal(err)
		}
		traffic()
	}

	// INSUFFICIENT_DATA → OK → ALARM; TreatMissingData ignore keeps it in ALARM once the
	// feeder stops, so that no third change races the count.
	feed := startFeeder(t, st, cw, "Orders", "Errors", 0)
	if _, err := cw.PutMetricAlarm(c, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String("orders-errors"), Namespace: aws.String("Orders"), MetricName: aws.String("Errors"),
		Statistic: cwtypes.StatisticMaximum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(0), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		TreatMissingData: aws.String("ignore"),
	}); err != nil {
		t.Fatal(err)
	}
	waitAlarm(t, cw, "orders-errors", cwtypes.StateValueOk)
	feed.Store(1)
	waitAlarm(t, cw, "orders-errors", cwtypes.StateValueAlarm)

	failing, err := client.CreateStateMachine(c, &sfn.CreateStateMachineInput{Name: aws.String("broken"), RoleArn: aws.String(roleArn),
		Definition: aws.String(`{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Broken","Cause":"on purpose"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	start, err := client.StartExecution(c, &sfn.StartExecutionInput{StateMachineArn: failing.StateMachineArn, Name: aws.String("x-1")})
	if err != nil {
		t.Fatal(err)
	}
	if out := waitExecution(t, c, client, *start.ExecutionArn); out.Status != sfntypes.ExecutionStatusFailed {
		t.Fatalf("execution %s", out.Status)
	}

	// The endpoint reports an execution's end once DescribeExecution shows it, so its line
	// may come a moment after: wait for it (bounded) before counting.
	var lines []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lines = out.lines()
		if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "execution broken:x-1 FAILED") }) || time.Now().After(deadline) {
			break
		}
	}
	var alias, alarm, failed, other []string
	for _, line := range lines {
		_, text, _ := strings.Cut(line, "  ") // the virtual time comes first
		switch {
		case strings.HasPrefix(text, "alias orders:prod → "):
			alias = append(alias, text)
		case strings.HasPrefix(text, "alarm orders-errors "):
			alarm = append(alarm, text)
		case strings.HasPrefix(text, "execution broken:x-1 FAILED"):
			failed = append(failed, text)
		case strings.HasPrefix(text, "local endpoint ready on "):
		default:
			other = append(other, text)
		}
	}
	wantAlarm := []string{"alarm orders-errors INSUFFICIENT_DATA → OK", "alarm orders-errors OK → ALARM"}
	if len(alias) != 4 || len(failed) != 1 || len(other) != 0 || strings.Join(alarm, "\n") != strings.Join(wantAlarm, "\n") {
		t.Errorf("want 4 alias lines, %q and one failed execution, nothing else; got:\n%s", wantAlarm, strings.Join(lines, "\n"))
	}
}
