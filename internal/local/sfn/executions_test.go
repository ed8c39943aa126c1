package sfn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// waitDef waits far longer than any test: its executions stay RUNNING until stopped.
const waitDef = `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":9999999,"End":true}}}`

// routedFixture is orders with v1 and v2, the alias prod at v1 90% / v2 10%, and the
// latest revision differing from both.
func routedFixture(t *testing.T, h *harness, definition func(n int) string) (v1, v2, prod string) {
	h.machine(t, "orders", definition(0))
	v1 = h.publish(t, orders, definition(1))
	v2 = h.publish(t, orders, definition(2))
	h.mustUpdate(t, definition(3))
	prod = h.alias(t, "prod", v1, 90, v2, 10)
	return v1, v2, prod
}

func TestExecutionAssociations(t *testing.T) {
	h := newHarness(t)
	v1, _, prod := routedFixture(t, h, passDefN)
	tests := []struct {
		name        string
		startArn    string
		wantVersion bool
		wantAlias   string
		wantResult  string // the Pass state's Result: which revision ran
	}{
		{name: "plain ARN: the latest revision, no version", startArn: orders, wantResult: `{"n":3}`},
		{name: "version ARN: that version", startArn: v1, wantVersion: true, wantResult: `{"n":1}`},
		{name: "alias ARN: a version and the alias", startArn: prod, wantVersion: true, wantAlias: prod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := h.start(t, tt.startArn, strings.ReplaceAll(tt.name[:5], " ", ""), `{}`)
			if !strings.HasPrefix(arn, "arn:aws:states:us-east-1:000000000000:execution:orders:") {
				t.Errorf("execution ARN %s", arn)
			}
			d := h.wait(t, arn)
			if *d.StateMachineArn != orders {
				t.Errorf("stateMachineArn %s, want the plain ARN", *d.StateMachineArn)
			}
			if got := aws.ToString(d.StateMachineVersionArn); (got != "") != tt.wantVersion || (tt.startArn == v1 && got != v1) {
				t.Errorf("stateMachineVersionArn %q", got)
			}
			if got := aws.ToString(d.StateMachineAliasArn); got != tt.wantAlias {
				t.Errorf("stateMachineAliasArn %q, want %q", got, tt.wantAlias)
			}
			if d.Status != sfntypes.ExecutionStatusSucceeded || (tt.wantResult != "" && aws.ToString(d.Output) != tt.wantResult) {
				t.Errorf("status %s output %s, want %s", d.Status, aws.ToString(d.Output), tt.wantResult)
			}
		})
	}
}

func TestStartExecutionRules(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(1))
	must[*awssfn.PublishStateMachineVersionOutput](t)(h.client.PublishStateMachineVersion(ctx(), &awssfn.PublishStateMachineVersionInput{StateMachineArn: aws.String(orders)}))
	h.mustUpdate(t, waitDef)
	running := must[*awssfn.StartExecutionOutput](t)(h.client.StartExecution(ctx(), &awssfn.StartExecutionInput{
		StateMachineArn: aws.String(orders), Name: aws.String("run-1"), Input: aws.String(`{"a":1}`),
	}))
	done := h.start(t, orders+":1", "done-1", `{}`)
	h.wait(t, done)
	tooBig := `{"x":"` + strings.Repeat("x", maxPayloadLength) + `"}`
	tests := []struct {
		name     string
		arn      string
		execName *string
		input    string
		wantArn  string
		wantCode string
		wantMsg  string
	}{
		{name: "same name and input while running: the original answer", arn: orders, execName: aws.String("run-1"), input: `{"a":1}`, wantArn: *running.ExecutionArn},
		{name: "same name, other input", arn: orders, execName: aws.String("run-1"), input: `{"a":2}`, wantCode: "ExecutionAlreadyExists",
			wantMsg: "Execution Already Exists: '" + *running.ExecutionArn + "'"},
		{name: "same name and input after it ended", arn: orders + ":1", execName: aws.String("done-1"), input: `{}`, wantCode: "ExecutionAlreadyExists",
			wantMsg: "Execution Already Exists: '" + executionArn("orders", "done-1") + "'"},
		{name: "name of 81", arn: orders, execName: aws.String(strings.Repeat("n", 81)), input: `{}`, wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '" + strings.Repeat("n", 81) + "' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80"},
		{name: "name with a slash", arn: orders, execName: aws.String("a/b"), input: `{}`, wantCode: "InvalidName", wantMsg: "Invalid Name: 'a/b'"},
		{name: "input over 262144", arn: orders, input: tooBig, wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to 262144"},
		{name: "input that is not JSON", arn: orders, input: `{"a":`, wantCode: "InvalidExecutionInput"},
		{name: "a missing state machine", arn: machineArn("nope"), input: `{}`, wantCode: "StateMachineDoesNotExist", wantMsg: "State Machine Does Not Exist: '" + machineArn("nope") + "'"},
		{name: "a missing version", arn: orders + ":9", input: `{}`, wantCode: "StateMachineDoesNotExist", wantMsg: "State Machine Does Not Exist: '" + orders + ":9'"},
		{name: "a missing alias", arn: orders + ":prod", input: `{}`, wantCode: "StateMachineDoesNotExist", wantMsg: "State Machine Does Not Exist: '" + orders + ":prod'"},
		{name: "not an ARN", arn: "orders", input: `{}`, wantCode: "InvalidArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.StartExecution(ctx(), &awssfn.StartExecutionInput{StateMachineArn: aws.String(tt.arn), Name: tt.execName, Input: aws.String(tt.input)})
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *out.ExecutionArn != tt.wantArn || !out.StartDate.Equal(*running.StartDate) {
				t.Errorf("got %s %v, want %s %v", *out.ExecutionArn, out.StartDate, tt.wantArn, running.StartDate)
			}
		})
	}
	t.Run("a generated name", func(t *testing.T) {
		arn := h.start(t, orders+":1", "", "{}")
		name := strings.TrimPrefix(arn, executionArnTop+"orders:")
		if !uuidPattern.MatchString(name) {
			t.Errorf("generated name %q", name)
		}
	})
}

func TestListExecutions(t *testing.T) {
	h := newHarness(t)
	v1, v2, prod := routedFixture(t, h, passDefN)
	plain := h.start(t, orders, "plain", "{}")
	viaV1 := h.start(t, v1, "v1", "{}")
	viaV2 := h.start(t, v2, "v2", "{}")
	var viaAlias []string
	for i := 0; i < 6; i++ {
		viaAlias = append(viaAlias, h.start(t, prod, "alias-"+itoa(i), "{}"))
	}
	for _, arn := range append([]string{plain, viaV1, viaV2}, viaAlias...) {
		h.wait(t, arn)
	}
	// An alias start counts under the version it was routed to.
	routedTo := map[string][]string{}
	for _, arn := range viaAlias {
		d := must[*awssfn.DescribeExecutionOutput](t)(h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}))
		routedTo[*d.StateMachineVersionArn] = append(routedTo[*d.StateMachineVersionArn], arn)
	}
	reverse := func(in ...string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[len(in)-1-i] = s
		}
		return out
	}
	tests := []struct {
		name   string
		arn    string
		status sfntypes.ExecutionStatus
		max    int32
		want   []string
	}{
		{name: "plain ARN: all, newest first", arn: orders, want: reverse(append([]string{plain, viaV1, viaV2}, viaAlias...)...)},
		{name: "plain ARN in pages of 2", arn: orders, max: 2, want: reverse(append([]string{plain, viaV1, viaV2}, viaAlias...)...)},
		{name: "alias ARN: the alias's starts", arn: prod, want: reverse(viaAlias...)},
		{name: "version ARN: its starts and the alias starts routed to it", arn: v1, want: reverse(append([]string{viaV1}, routedTo[v1]...)...)},
		{name: "status filter SUCCEEDED", arn: v2, status: sfntypes.ExecutionStatusSucceeded, want: reverse(append([]string{viaV2}, routedTo[v2]...)...)},
		{name: "status filter RUNNING", arn: orders, status: sfntypes.ExecutionStatusRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var token *string
			for {
				out, err := h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(tt.arn), StatusFilter: tt.status, MaxResults: tt.max, NextToken: token})
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range out.Executions {
					got = append(got, *x.ExecutionArn)
					if *x.StateMachineArn != orders {
						t.Errorf("item stateMachineArn %s", *x.StateMachineArn)
					}
					if aws.ToString(x.StateMachineAliasArn) != "" && aws.ToString(x.StateMachineAliasArn) != prod {
						t.Errorf("item alias %s", *x.StateMachineAliasArn)
					}
				}
				if token = out.NextToken; token == nil {
					break
				}
				if tt.max > 0 && len(out.Executions) != int(tt.max) {
					t.Errorf("a page of %d", len(out.Executions))
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
	_, err := h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(machineArn("nope"))})
	wantAPIError(t, err, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+machineArn("nope")+"'")
}

func TestStopExecutionAndHistory(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", waitDef)
	arn := h.start(t, orders, "long", `{"a":1}`)
	out := must[*awssfn.StopExecutionOutput](t)(h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{
		ExecutionArn: aws.String(arn), Error: aws.String("Operator"), Cause: aws.String("rolled back"),
	}))
	d := h.wait(t, arn)
	if d.Status != sfntypes.ExecutionStatusAborted || aws.ToString(d.Error) != "Operator" || aws.ToString(d.Cause) != "rolled back" || !d.StopDate.Equal(*out.StopDate) {
		t.Errorf("after stop: %s %v %v %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), d.StopDate)
	}
	// Stopping again changes nothing.
	again := must[*awssfn.StopExecutionOutput](t)(h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(arn)}))
	if !again.StopDate.Equal(*out.StopDate) {
		t.Errorf("second stop moved the stop date")
	}
	h.svc.wg.Wait() // the run has returned: its history is complete
	hist := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)}))
	first, last := hist.Events[0], hist.Events[len(hist.Events)-1]
	if first.Type != sfntypes.HistoryEventTypeExecutionStarted || aws.ToString(first.ExecutionStartedEventDetails.Input) != `{"a":1}` || first.Id != 1 {
		t.Errorf("first event %+v", first)
	}
	if last.Type != sfntypes.HistoryEventTypeExecutionAborted || aws.ToString(last.ExecutionAbortedEventDetails.Cause) != "rolled back" {
		t.Errorf("last event %+v", last)
	}
	rev := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), ReverseOrder: true, MaxResults: 1, IncludeExecutionData: aws.Bool(false),
	}))
	if len(rev.Events) != 1 || rev.Events[0].Type != sfntypes.HistoryEventTypeExecutionAborted || rev.NextToken == nil {
		t.Errorf("reverse, one: %+v", rev)
	}
	if got := h.bus.statuses(arn); strings.Join(got, ",") != "RUNNING,ABORTED" {
		t.Errorf("events %v", got)
	}
	if n, _ := h.metrics.sum("ExecutionsAborted", map[string]string{"StateMachineArn": orders}); n != 1 {
		t.Errorf("ExecutionsAborted %v", n)
	}
	_, err := h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(executionArn("orders", "nope"))})
	wantAPIError(t, err, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+executionArn("orders", "nope")+"'")
	_, err = h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(orders)})
	wantAPIError(t, err, "InvalidArn", "")
}

func TestDescribeStateMachineForExecution(t *testing.T) {
	h := newHarness(t)
	v1, _, _ := routedFixture(t, h, passDefN)
	arn := h.start(t, v1, "x", "{}")
	h.wait(t, arn)
	h.mustUpdate(t, passDefN(8))
	out := must[*awssfn.DescribeStateMachineForExecutionOutput](t)(h.client.DescribeStateMachineForExecution(ctx(), &awssfn.DescribeStateMachineForExecutionInput{ExecutionArn: aws.String(arn)}))
	if *out.Definition != passDefN(1) || *out.StateMachineArn != orders || *out.Name != "orders" || out.RevisionId == nil {
		t.Errorf("got %+v", out)
	}
}

func TestExecutionEventsAndMetrics(t *testing.T) {
	h := newHarness(t)
	_, _, prod := routedFixture(t, h, passDefN)
	arn := h.start(t, prod, "one", `{"k":"v"}`)
	d := h.wait(t, arn)
	version := strings.TrimPrefix(*d.StateMachineVersionArn, orders+":")
	h.svc.wg.Wait()

	h.bus.mu.Lock()
	var details []statusDetail
	for _, e := range h.bus.events {
		if e.Source != "aws.states" || e.DetailType != "Step Functions Execution Status Change" || len(e.Resources) != 1 || e.Resources[0] != arn {
			t.Errorf("event %+v", e)
			continue
		}
		var sd statusDetail
		if err := json.Unmarshal(e.Detail, &sd); err != nil {
			t.Fatal(err)
		}
		details = append(details, sd)
	}
	h.bus.mu.Unlock()
	if len(details) != 2 || details[0].Status != "RUNNING" || details[1].Status != "SUCCEEDED" {
		t.Fatalf("details %+v", details)
	}
	end := details[1]
	if end.ExecutionArn != arn || end.StateMachineArn != orders || end.StateMachineAliasArn != prod || end.StateMachineVersionArn != *d.StateMachineVersionArn ||
		aws.ToString(end.Input) != `{"k":"v"}` || end.Output == nil || end.StopDate == nil || end.StartDate != d.StartDate.UnixMilli() || details[0].StopDate != nil {
		t.Errorf("SUCCEEDED detail %+v", end)
	}

	plain := map[string]string{"StateMachineArn": orders}
	byVersion := map[string]string{"StateMachineArn": orders, "Version": version}
	byAlias := map[string]string{"StateMachineArn": orders, "Alias": "prod"}
	tests := []struct {
		name      string
		metric    string
		dims      map[string]string
		wantSum   float64
		wantCount int
	}{
		{name: "started: 1 then 0", metric: "ExecutionsStarted", dims: plain, wantSum: 1, wantCount: 2},
		{name: "started per version", metric: "ExecutionsStarted", dims: byVersion, wantSum: 1, wantCount: 2},
		{name: "started per alias", metric: "ExecutionsStarted", dims: byAlias, wantSum: 1, wantCount: 2},
		{name: "succeeded", metric: "ExecutionsSucceeded", dims: plain, wantSum: 1, wantCount: 1},
		{name: "succeeded per version", metric: "ExecutionsSucceeded", dims: byVersion, wantSum: 1, wantCount: 1},
		{name: "succeeded per alias", metric: "ExecutionsSucceeded", dims: byAlias, wantSum: 1, wantCount: 1},
		{name: "no failures", metric: "ExecutionsFailed", dims: plain},
		{name: "execution time", metric: "ExecutionTime", dims: byAlias, wantSum: -1, wantCount: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, n := h.metrics.sum(tt.metric, tt.dims)
			if n != tt.wantCount || (tt.wantSum >= 0 && sum != tt.wantSum) {
				t.Errorf("sum %v count %d, want %v %d", sum, n, tt.wantSum, tt.wantCount)
			}
		})
	}
	h.metrics.mu.Lock()
	for _, m := range h.metrics.data {
		if m.Namespace != "AWS/States" || m.Time.IsZero() || (m.Unit != "Count" && m.Unit != "Milliseconds") {
			t.Errorf("datum %+v", m)
		}
	}
	h.metrics.mu.Unlock()
}

func TestExecutionHistoryOfATask(t *testing.T) {
	h := newHarness(t)
	h.functions.set("price", succeedWith(`{"price":5}`))
	arn := h.machine(t, "orders", taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"price","Payload":{"a":1}}}`, false))
	exec := h.start(t, arn, "x", `{"in":1}`)
	h.wait(t, exec)
	h.svc.wg.Wait()
	hist := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(exec)}))
	var types []string
	for i, e := range hist.Events {
		types = append(types, string(e.Type))
		if e.Id != int64(i+1) || e.PreviousEventId != int64(i) || e.Timestamp == nil {
			t.Errorf("event %d: id %d previous %d", i, e.Id, e.PreviousEventId)
		}
		switch e.Type {
		case sfntypes.HistoryEventTypeTaskScheduled:
			d := e.TaskScheduledEventDetails
			if aws.ToString(d.ResourceType) != "lambda" || aws.ToString(d.Resource) != "invoke" || aws.ToString(d.Region) != "us-east-1" || !strings.Contains(aws.ToString(d.Parameters), `"FunctionName":"price"`) {
				t.Errorf("TaskScheduled %+v", d)
			}
		case sfntypes.HistoryEventTypeTaskSucceeded:
			if !strings.Contains(aws.ToString(e.TaskSucceededEventDetails.Output), `"Payload":{"price":5}`) {
				t.Errorf("TaskSucceeded %+v", e.TaskSucceededEventDetails)
			}
		case sfntypes.HistoryEventTypeTaskStateEntered:
			if aws.ToString(e.StateEnteredEventDetails.Name) != "T" || aws.ToString(e.StateEnteredEventDetails.Input) != `{"in":1}` {
				t.Errorf("TaskStateEntered %+v", e.StateEnteredEventDetails)
			}
		case sfntypes.HistoryEventTypeExecutionSucceeded:
			if !strings.Contains(aws.ToString(e.ExecutionSucceededEventDetails.Output), `"StatusCode":200`) {
				t.Errorf("ExecutionSucceeded %+v", e.ExecutionSucceededEventDetails)
			}
		}
	}
	got := strings.Join(types, " ")
	for _, want := range []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"} {
		if !strings.Contains(got, want) {
			t.Errorf("history %s lacks %s", got, want)
		}
	}
	if !strings.HasPrefix(got, "ExecutionStarted") || !strings.HasSuffix(got, "ExecutionSucceeded") {
		t.Errorf("history %s", got)
	}
	noData := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(exec), IncludeExecutionData: aws.Bool(false)}))
	if d := noData.Events[0].ExecutionStartedEventDetails; d.Input != nil {
		t.Errorf("includeExecutionData=false still has input %s", *d.Input)
	}
}

// Deleting a version leaves its running executions running, to their end.
func TestRunningExecutionsOutliveTheirVersion(t *testing.T) {
	h := newHarness(t)
	tokens := make(chan string, 1)
	h.functions.set("register", func(_ context.Context, p json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		var in struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(p, &in)
		tokens <- in.Token
		return nil, nil, nil
	})
	h.machine(t, "orders", passDef)
	v1 := h.publish(t, orders, tokenDef(0, 0))
	exec := h.start(t, v1, "x", "{}")
	token := <-tokens
	must[*awssfn.DeleteStateMachineVersionOutput](t)(h.client.DeleteStateMachineVersion(ctx(), &awssfn.DeleteStateMachineVersionInput{StateMachineVersionArn: aws.String(v1)}))
	must[*awssfn.SendTaskSuccessOutput](t)(h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`"done"`)}))
	if d := h.wait(t, exec); d.Status != sfntypes.ExecutionStatusSucceeded || aws.ToString(d.StateMachineVersionArn) != v1 {
		t.Errorf("got %s %v", d.Status, aws.ToString(d.StateMachineVersionArn))
	}
}

// The controller's own state machine is accepted and its definition read back unchanged.
func TestControllerDefinitionIsAccepted(t *testing.T) {
	b, err := os.ReadFile("../../../statemachines/rollout-controller.asl.json")
	if err != nil {
		t.Skip(err)
	}
	def := string(b)
	for _, fn := range []string{"Prepare", "Register", "Finalize"} {
		def = strings.ReplaceAll(def, "${"+fn+"FunctionArn}", "arn:aws:lambda:us-east-1:000000000000:function:sfn-rollout-"+strings.ToLower(fn))
	}
	h := newHarness(t)
	arn := h.machine(t, "sfn-rollout-controller", def)
	out := must[*awssfn.DescribeStateMachineOutput](t)(h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)}))
	if *out.Definition != def {
		t.Error("the definition came back changed")
	}
}

func TestInProcessStartExecution(t *testing.T) {
	var lines []string
	var mu sync.Mutex
	h := newHarness(t, func(o *Options) {
		o.Reporter = core.ReporterFunc(func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		})
	})
	arn := h.machine(t, "orders", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Broken","Cause":"on purpose"}}}`)
	tests := []struct {
		name     string
		arn      string
		execName string
		input    string
		wantCode string
	}{
		{name: "empty input is {}", arn: arn, execName: "a"},
		{name: "event input", arn: arn, input: `{"detail":{}}`},
		{name: "a missing state machine", arn: machineArn("nope"), wantCode: "StateMachineDoesNotExist"},
		{name: "a bad name", arn: arn, execName: "a b", wantCode: "InvalidName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec, err := h.svc.StartExecution(ctx(), tt.arn, tt.execName, tt.input)
			if tt.wantCode != "" {
				if ae, ok := err.(*core.APIError); !ok || ae.Code != tt.wantCode {
					t.Errorf("got %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := h.wait(t, exec); d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != "Broken" {
				t.Errorf("got %s %s", d.Status, aws.ToString(d.Error))
			}
		})
	}
	h.svc.wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	// One line per execution that ran; the two run concurrently with the subtests, so the
	// order of their lines is not part of the contract.
	named, unnamed := 0, 0
	for _, l := range lines {
		switch {
		case l == "execution orders:a FAILED Broken":
			named++
		case strings.HasPrefix(l, "execution orders:") && strings.HasSuffix(l, " FAILED Broken"):
			unnamed++
		}
	}
	if len(lines) != 2 || named != 1 || unnamed != 1 {
		t.Errorf("reporter lines %q, want one FAILED Broken line for a and one for the unnamed execution", lines)
	}
}

// With VersionDimensionArn the Version dimension holds the version ARN, and no series is
// written under the number.
func TestVersionDimensionAsARN(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.VersionDimensionArn = true })
	_, _, prod := routedFixture(t, h, passDefN)
	d := h.wait(t, h.start(t, prod, "one", `{}`))
	h.svc.wg.Wait()
	versionArn := *d.StateMachineVersionArn
	number := strings.TrimPrefix(versionArn, orders+":")
	if sum, n := h.metrics.sum("ExecutionsSucceeded", map[string]string{"StateMachineArn": orders, "Version": versionArn}); sum != 1 || n != 1 {
		t.Errorf("ExecutionsSucceeded under Version=<ARN>: sum %v count %d, want 1 1", sum, n)
	}
	if _, n := h.metrics.sum("ExecutionsSucceeded", map[string]string{"StateMachineArn": orders, "Version": number}); n != 0 {
		t.Errorf("%d points under Version=%s, want none", n, number)
	}
	if sum, _ := h.metrics.sum("ExecutionsSucceeded", map[string]string{"StateMachineArn": orders, "Alias": "prod"}); sum != 1 {
		t.Errorf("the alias series changed with the version's form: sum %v", sum)
	}
}

// A timed-out execution as AWS reports it: DescribeExecution (and the status change event,
// which mirrors it) TIMED_OUT with neither error nor cause, States.Timeout only in the
// ExecutionTimedOut history event, and ExecutionsTimedOut counted.
func TestTimedOutExecution(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", `{"TimeoutSeconds":1,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`)
	arn := h.start(t, orders, "slow", `{}`)
	d := h.wait(t, arn)
	if d.Status != sfntypes.ExecutionStatusTimedOut || d.Error != nil || d.Cause != nil || d.StopDate == nil {
		t.Errorf("describe: %s error %v cause %v stop %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), d.StopDate)
	}
	h.svc.wg.Wait() // the run has returned: its history is complete
	hist := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)}))
	last := hist.Events[len(hist.Events)-1]
	if last.Type != sfntypes.HistoryEventTypeExecutionTimedOut || last.ExecutionTimedOutEventDetails == nil || aws.ToString(last.ExecutionTimedOutEventDetails.Error) != "States.Timeout" {
		t.Errorf("last event %+v", last)
	}
	h.bus.mu.Lock()
	var detail map[string]any
	for _, e := range h.bus.events {
		var d map[string]any
		if json.Unmarshal(e.Detail, &d) == nil && d["executionArn"] == arn && d["status"] == "TIMED_OUT" {
			detail = d
		}
	}
	h.bus.mu.Unlock()
	if detail == nil || detail["error"] != nil || detail["cause"] != nil {
		t.Errorf("status change event detail %v", detail)
	}
	if n, _ := h.metrics.sum("ExecutionsTimedOut", map[string]string{"StateMachineArn": orders}); n != 1 {
		t.Errorf("ExecutionsTimedOut %v", n)
	}
}

// Failure details leave out what there is none of, as AWS does: a Fail state with an
// Error and no Cause fails the execution with no cause, in DescribeExecution and history.
func TestFailureDetailsLeaveOutEmptyFields(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom"}}}`)
	arn := h.start(t, orders, "boom", `{}`)
	if d := h.wait(t, arn); aws.ToString(d.Error) != "Boom" || d.Cause != nil {
		t.Errorf("describe: error %v cause %q", aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	h.svc.wg.Wait()
	hist := must[*awssfn.GetExecutionHistoryOutput](t)(h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)}))
	last := hist.Events[len(hist.Events)-1]
	if last.Type != sfntypes.HistoryEventTypeExecutionFailed || aws.ToString(last.ExecutionFailedEventDetails.Error) != "Boom" || last.ExecutionFailedEventDetails.Cause != nil {
		t.Errorf("last event %+v %+v", last, last.ExecutionFailedEventDetails)
	}
}
