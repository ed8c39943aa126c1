package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// batchesDef runs items two by two as STANDARD child workflow executions labelled Lines;
// a batch whose first item is "bad" fails. tolerance is the Map's tolerance fields.
func batchesDef(tolerance string) string {
	return `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","Label":"Lines","MaxConcurrency":2,` + tolerance + `
		"ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"k.$":"$.k"}},"End":true,
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"C","States":{
			"C":{"Type":"Choice","Choices":[{"Variable":"$.Items[0]","StringEquals":"bad","Next":"F"}],"Default":"P"},
			"F":{"Type":"Fail","Error":"Bad","Cause":"a bad item"},
			"P":{"Type":"Pass","Parameters":{"n.$":"States.ArrayLength($.Items)","k.$":"$.BatchInput.k"},"End":true}}}}}}`
}

const batchesInput = `{"k":"K","xs":["a","b","bad","c","d"]}`

func (h *harness) mapRuns(t *testing.T, executionArn string) []sfntypes.MapRunListItem {
	t.Helper()
	out := must[*awssfn.ListMapRunsOutput](t)(h.client.ListMapRuns(ctx(), &awssfn.ListMapRunsInput{ExecutionArn: aws.String(executionArn)}))
	return out.MapRuns
}

// errorCode is an API error's code as the SDK reads it.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// canonical renders JSON text with sorted keys, for comparisons.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func historyTypes(events []sfntypes.HistoryEvent) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = string(ev.Type)
	}
	return out
}

func TestDistributedMapRunSucceeds(t *testing.T) {
	h := newHarness(t)
	machine := h.machine(t, "orders", batchesDef(`"ToleratedFailureCount":2,`))
	parent := h.start(t, machine, "run-1", batchesInput)
	d := h.wait(t, parent)
	if d.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s (%s: %s)", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	// The failed batch ["bad","c"] is tolerated; its result is left out.
	if got, want := canonical(t, aws.ToString(d.Output)), canonical(t, `[{"n":2,"k":"K"},{"n":1,"k":"K"}]`); got != want {
		t.Fatalf("output %s, want %s", got, want)
	}

	runs := h.mapRuns(t, parent)
	if len(runs) != 1 {
		t.Fatalf("%d Map Runs, want 1", len(runs))
	}
	run := runs[0]
	arnForm := regexp.MustCompile(`^arn:aws:states:us-east-1:\d{12}:mapRun:orders/Lines:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !arnForm.MatchString(aws.ToString(run.MapRunArn)) || aws.ToString(run.ExecutionArn) != parent || aws.ToString(run.StateMachineArn) != machine || run.StopDate == nil {
		t.Fatalf("Map Run %+v", run)
	}

	dm := must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: run.MapRunArn}))
	if dm.Status != sfntypes.MapRunStatusSucceeded || aws.ToString(dm.ExecutionArn) != parent || dm.MaxConcurrency != 2 || dm.ToleratedFailureCount != 2 || dm.StopDate == nil {
		t.Fatalf("DescribeMapRun %+v", dm)
	}
	items, execs := dm.ItemCounts, dm.ExecutionCounts
	if items.Total != 5 || items.Succeeded != 3 || items.Failed != 2 || items.Pending != 0 || items.Running != 0 {
		t.Fatalf("itemCounts %+v", *items)
	}
	if execs.Total != 3 || execs.Succeeded != 2 || execs.Failed != 1 || execs.Pending != 0 || execs.Running != 0 {
		t.Fatalf("executionCounts %+v", *execs)
	}

	// The children are listed by mapRunArn, not under the state machine.
	children := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{MapRunArn: run.MapRunArn})).Executions
	var statuses []string
	itemTotal := int32(0)
	childForm := regexp.MustCompile(`^arn:aws:states:us-east-1:\d{12}:execution:orders/Lines:[0-9a-f-]{36}$`)
	for _, c := range children {
		statuses = append(statuses, string(c.Status))
		itemTotal += aws.ToInt32(c.ItemCount)
		if aws.ToString(c.MapRunArn) != aws.ToString(run.MapRunArn) || !childForm.MatchString(aws.ToString(c.ExecutionArn)) {
			t.Fatalf("child %+v", c)
		}
	}
	slices.Sort(statuses)
	if strings.Join(statuses, ",") != "FAILED,SUCCEEDED,SUCCEEDED" || itemTotal != 5 {
		t.Fatalf("children %v, %d items", statuses, itemTotal)
	}
	top := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(machine)})).Executions
	if len(top) != 1 || aws.ToString(top[0].ExecutionArn) != parent || top[0].MapRunArn != nil {
		t.Fatalf("the state machine lists %+v, want the parent only", top)
	}

	// A child is an execution of its own: described, with a history of its own.
	var failed sfntypes.ExecutionListItem
	for _, c := range children {
		if c.Status == sfntypes.ExecutionStatusFailed {
			failed = c
		}
	}
	dc := must[*awssfn.DescribeExecutionOutput](t)(h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: failed.ExecutionArn}))
	if aws.ToString(dc.MapRunArn) != aws.ToString(run.MapRunArn) || aws.ToString(dc.Error) != "Bad" || canonical(t, aws.ToString(dc.Input)) != canonical(t, `{"BatchInput":{"k":"K"},"Items":["bad","c"]}`) {
		t.Fatalf("child %+v", dc)
	}
	sm := must[*awssfn.DescribeStateMachineForExecutionOutput](t)(h.client.DescribeStateMachineForExecution(ctx(), &awssfn.DescribeStateMachineForExecutionInput{ExecutionArn: failed.ExecutionArn}))
	if aws.ToString(sm.MapRunArn) != aws.ToString(run.MapRunArn) || aws.ToString(sm.Label) != "Lines" {
		t.Fatalf("DescribeStateMachineForExecution of a child: mapRunArn %q label %q", aws.ToString(sm.MapRunArn), aws.ToString(sm.Label))
	}
	ch := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: failed.ExecutionArn}))
	if got := historyTypes(ch.Events); got[0] != "ExecutionStarted" || got[len(got)-1] != "ExecutionFailed" || slices.Contains(got, "MapRunStarted") {
		t.Fatalf("child history %v", got)
	}

	ph := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(parent)}))
	got := historyTypes(ph.Events)
	if strings.Join(got, ",") != "ExecutionStarted,MapStateEntered,MapRunStarted,MapRunSucceeded,MapStateExited,ExecutionSucceeded" {
		t.Fatalf("parent history %v", got)
	}
	if d := ph.Events[2].MapRunStartedEventDetails; d == nil || aws.ToString(d.MapRunArn) != aws.ToString(run.MapRunArn) {
		t.Fatalf("MapRunStarted details %+v", ph.Events[2])
	}
}

func TestDistributedMapRunExceedsTheTolerance(t *testing.T) {
	for _, tc := range []struct{ name, tolerance string }{
		{"no tolerance", ``},
		{"ToleratedFailureCount 1 of a batch of 2", `"ToleratedFailureCount":1,`},
		{"ToleratedFailurePercentage 20 of 40", `"ToleratedFailurePercentage":20,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			parent := h.start(t, h.machine(t, "orders", batchesDef(tc.tolerance)), "", batchesInput)
			d := h.wait(t, parent)
			if d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != "States.ExceedToleratedFailureThreshold" {
				t.Fatalf("status %s, error %q", d.Status, aws.ToString(d.Error))
			}
			run := h.mapRuns(t, parent)[0]
			dm := must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: run.MapRunArn}))
			if dm.Status != sfntypes.MapRunStatusFailed || dm.ExecutionCounts.Failed != 1 || dm.ItemCounts.Failed != 2 || dm.ItemCounts.Total != 5 {
				t.Fatalf("DescribeMapRun %s, executions %+v, items %+v", dm.Status, *dm.ExecutionCounts, *dm.ItemCounts)
			}
			ph := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(parent)}))
			var found bool
			for _, ev := range ph.Events {
				if ev.Type == sfntypes.HistoryEventTypeMapRunFailed {
					found = ev.MapRunFailedEventDetails != nil && aws.ToString(ev.MapRunFailedEventDetails.Error) == "States.ExceedToleratedFailureThreshold"
				}
			}
			if !found {
				t.Fatalf("no MapRunFailed with the error in %v", historyTypes(ph.Events))
			}
		})
	}
}

// gate is a Lambda function that holds every call until it is opened.
type gate struct {
	mu    sync.Mutex
	calls int
	open  chan struct{}
}

func (g *gate) handler(ctx context.Context, payload json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	return payload, nil, nil
}

// waitCalls waits until the function has been called n times.
func (g *gate) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		g.mu.Lock()
		calls := g.calls
		g.mu.Unlock()
		if calls >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls, want %d", calls, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUpdateMapRunWhileItRuns(t *testing.T) {
	h := newHarness(t)
	g := &gate{open: make(chan struct{})}
	h.functions.set("hold", g.handler)
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":1,"End":true,
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"T","States":{
			"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"hold","Payload.$":"$"},"OutputPath":"$.Payload","End":true}}}}}}`
	parent := h.start(t, h.machine(t, "held", def), "", `{"xs":[1,2,3]}`)
	g.waitCalls(t, 1)
	run := h.mapRuns(t, parent)[0]
	dm := must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: run.MapRunArn}))
	if dm.Status != sfntypes.MapRunStatusRunning || dm.StopDate != nil || dm.ExecutionCounts.Running != 1 || dm.ExecutionCounts.Pending != 2 || dm.MaxConcurrency != 1 {
		t.Fatalf("a running Map Run: %s, stop %v, executions %+v, maxConcurrency %d", dm.Status, dm.StopDate, *dm.ExecutionCounts, dm.MaxConcurrency)
	}
	if _, err := h.client.UpdateMapRun(ctx(), &awssfn.UpdateMapRunInput{MapRunArn: run.MapRunArn, MaxConcurrency: aws.Int32(3), ToleratedFailurePercentage: aws.Float32(10)}); err != nil {
		t.Fatal(err)
	}
	g.waitCalls(t, 3) // with MaxConcurrency still 1 the other two would wait for the first
	close(g.open)
	if d := h.wait(t, parent); d.Status != sfntypes.ExecutionStatusSucceeded || canonical(t, aws.ToString(d.Output)) != canonical(t, `[1,2,3]`) {
		t.Fatalf("status %s, output %s", d.Status, aws.ToString(d.Output))
	}
	dm = must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: run.MapRunArn}))
	if dm.MaxConcurrency != 3 || dm.ToleratedFailurePercentage != 10 || dm.ExecutionCounts.Succeeded != 3 {
		t.Fatalf("after UpdateMapRun: maxConcurrency %d, toleratedFailurePercentage %v, executions %+v", dm.MaxConcurrency, dm.ToleratedFailurePercentage, *dm.ExecutionCounts)
	}
}

func TestStopExecutionAbortsTheMapRun(t *testing.T) {
	h := newHarness(t)
	g := &gate{open: make(chan struct{})}
	h.functions.set("hold", g.handler)
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","End":true,
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"T","States":{
			"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"hold"},"End":true}}}}}}`
	parent := h.start(t, h.machine(t, "held", def), "", `{"xs":[1,2]}`)
	g.waitCalls(t, 2)
	if _, err := h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(parent)}); err != nil {
		t.Fatal(err)
	}
	run := h.mapRuns(t, parent)[0]
	children := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{MapRunArn: run.MapRunArn})).Executions
	for _, c := range children {
		if d := h.wait(t, aws.ToString(c.ExecutionArn)); d.Status != sfntypes.ExecutionStatusAborted {
			t.Fatalf("child %s", d.Status)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		dm := must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: run.MapRunArn}))
		if dm.Status == sfntypes.MapRunStatusAborted && dm.ExecutionCounts.Aborted == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Map Run %s, executions %+v", dm.Status, *dm.ExecutionCounts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMapRunRequests(t *testing.T) {
	h := newHarness(t)
	parent := h.start(t, h.machine(t, "orders", batchesDef(`"ToleratedFailureCount":2,`)), "", batchesInput)
	h.wait(t, parent)
	missing := "arn:aws:states:us-east-1:000000000000:mapRun:orders/Lines:00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name          string
		call          func() error
		code, message string
	}{
		{"DescribeMapRun of an unknown Map Run", func() error {
			_, err := h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: aws.String(missing)})
			return err
		}, "ResourceNotFound", missing},
		{"DescribeMapRun of an execution ARN", func() error {
			_, err := h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: aws.String(parent)})
			return err
		}, "InvalidArn", "execution"},
		{"ListMapRuns of an unknown execution", func() error {
			_, err := h.client.ListMapRuns(ctx(), &awssfn.ListMapRunsInput{ExecutionArn: aws.String(parent + "x")})
			return err
		}, "ExecutionDoesNotExist", ""},
		{"UpdateMapRun changing nothing", func() error {
			_, err := h.client.UpdateMapRun(ctx(), &awssfn.UpdateMapRunInput{MapRunArn: h.mapRuns(t, parent)[0].MapRunArn})
			return err
		}, "ValidationException", ""},
		{"UpdateMapRun to a percentage over 100", func() error {
			_, err := h.client.UpdateMapRun(ctx(), &awssfn.UpdateMapRunInput{MapRunArn: h.mapRuns(t, parent)[0].MapRunArn, ToleratedFailurePercentage: aws.Float32(101)})
			return err
		}, "ValidationException", "toleratedFailurePercentage"},
		{"ListExecutions by a state machine and a Map Run", func() error {
			_, err := h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(machineArn("orders")), MapRunArn: h.mapRuns(t, parent)[0].MapRunArn})
			return err
		}, "ValidationException", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("accepted")
			}
			if code := errorCode(err); code != tc.code || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %v, want %s containing %q", err, tc.code, tc.message)
			}
		})
	}
}

func TestDistributedMapDefinitions(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ name, def, want string }{
		{"an ItemReader of Parquet is refused by name", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemReader":{"Resource":"arn:aws:states:::s3:getObject","Parameters":{"Bucket":"b","Key":"k"},"ReaderConfig":{"InputType":"PARQUET"}},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`, "PARQUET"},
		{"a ResultWriter that writes elsewhere than S3", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ResultWriter":{"Resource":"arn:aws:states:::dynamodb:putItem","Parameters":{"Bucket":"b","Prefix":"p"}},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`, "s3:putObject"},
		{"DISTRIBUTED needs an ExecutionType", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`, "ExecutionType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{Name: aws.String("dm"), Definition: aws.String(tc.def), RoleArn: aws.String(testRole)})
			if err == nil || errorCode(err) != "InvalidDefinition" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want InvalidDefinition naming %s", err, tc.want)
			}
		})
	}
}
