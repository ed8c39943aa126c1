package sfn

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
)

// A long local run must not grow without end: beyond KeepFinished the oldest finished
// executions are forgotten, as AWS forgets them after 90 days.
func TestFinishedExecutionsAreBounded(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.KeepFinished = 10 })
	sm := must[*awssfn.CreateStateMachineOutput](t)(h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String("bounded"), Definition: aws.String(passDef), RoleArn: aws.String(testRole)}))
	var arns []string
	for range 30 {
		out := must[*awssfn.StartExecutionOutput](t)(h.client.StartExecution(ctx(), &awssfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn}))
		arns = append(arns, aws.ToString(out.ExecutionArn))
		// One at a time, so that the finishing order is the starting order.
		deadline := time.Now().Add(5 * time.Second)
		for {
			d := must[*awssfn.DescribeExecutionOutput](t)(h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn}))
			if d.Status != "RUNNING" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("execution never finished")
			}
			time.Sleep(time.Millisecond)
		}
	}
	list := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn, MaxResults: 1000}))
	if n := len(list.Executions); n < 10 || n > 11 {
		t.Fatalf("%d executions kept, want between KeepFinished (10) and a tenth more", n)
	}
	if got := aws.ToString(list.Executions[0].ExecutionArn); got != arns[len(arns)-1] {
		t.Errorf("newest kept %s, want %s", got, arns[len(arns)-1])
	}
	_, err := h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(arns[0])})
	wantAPIError(t, err, "ExecutionDoesNotExist", "")
	must[*awssfn.DescribeExecutionOutput](t)(h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(arns[len(arns)-1])}))
}
