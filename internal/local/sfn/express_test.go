package sfn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The facts these tests hold the endpoint to, from the Step Functions developer guide and
// API reference unless marked otherwise:
//   - Express workflows support only the Request Response integration pattern (no .sync,
//     no .waitForTaskToken): "Integrating optimized services with Step Functions".
//   - Asynchronous Express is at-least-once: starting the same name again runs again
//     ("Execution guarantees"); its execution ARN is
//     arn:aws:states:<region>:<account>:express:<stateMachine>:<name>:<id> (recorded
//     against AWS in LocalStack's express snapshot tests).
//   - DescribeExecution does not take an Express execution and ListExecutions not an
//     Express state machine (API reference); the answers, InvalidArn "Resource type not
//     valid in this context: express" and StateMachineTypeNotSupported "This operation is
//     not supported by this type of state machine", are those reported from accounts.
//   - StartSyncExecution is for EXPRESS only and answers 200 with the status whatever it
//     is, billingDetails included (API reference; snapshot: 100 ms and 64 MB for a Pass).
//   - An Express execution lasts at most five minutes.
//   - EventBridge status-change events are sent for Standard workflows.

const (
	callbackDef   = `{"StartAt":"Wait","States":{"Wait":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f","Payload":{"t.$":"$$.Task.Token"}},"End":true}}}`
	nestedSyncDef = `{"StartAt":"Both","States":{"Both":{"Type":"Parallel","End":true,"Branches":[` +
		`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},` +
		`{"StartAt":"Child","States":{"Child":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2","Parameters":{"StateMachineArn":"arn:aws:states:us-east-1:000000000000:stateMachine:c"},"End":true}}}]}}}`
	failDef     = `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"it broke"}}}`
	echoDef     = `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"got.$":"$.n"},"End":true}}}`
	logGroupArn = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/vendedlogs/states/orders:*"
)

var logDestination = sfntypes.LogDestination{CloudWatchLogsLogGroup: &sfntypes.CloudWatchLogsLogGroup{LogGroupArn: aws.String(logGroupArn)}}

var expressArnPattern = regexp.MustCompile(`^arn:aws:states:us-east-1:000000000000:express:([^:]+):([^:]+):[0-9a-f-]{36}$`)

// express creates an EXPRESS state machine, answering its ARN.
func (h *harness) express(t *testing.T, name, definition string) string {
	t.Helper()
	out, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(definition), RoleArn: aws.String(testRole), Type: sfntypes.StateMachineTypeExpress,
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.StateMachineArn
}

// syncClient is h's client with the SDK's "sync-" host prefix off, as a client of a local
// endpoint on an IP address needs: sync-127.0.0.1 resolves nowhere.
func (h *harness) syncClient() *awssfn.Client {
	return awssfn.New(h.client.Options(), func(o *awssfn.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("NoHostPrefix", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
			}), middleware.Before)
		})
	})
}

// waitMetric waits until the metric's data points under dims add up to want.
func (h *harness) waitMetric(t *testing.T, name string, dims map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got, _ := h.metrics.sum(name, dims); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s %v = %v, want %v", name, dims, got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestExpressStateMachineControlPlane(t *testing.T) {
	h := newHarness(t)
	arn := must[*awssfn.CreateStateMachineOutput](t)(h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String("orders"), Definition: aws.String(passDef), RoleArn: aws.String(testRole), Type: sfntypes.StateMachineTypeExpress,
		LoggingConfiguration: &sfntypes.LoggingConfiguration{Level: sfntypes.LogLevelError, IncludeExecutionData: true, Destinations: []sfntypes.LogDestination{logDestination}},
		Publish:              true,
	}))
	d := must[*awssfn.DescribeStateMachineOutput](t)(h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: arn.StateMachineArn}))
	if d.Type != sfntypes.StateMachineTypeExpress {
		t.Errorf("type %s, want EXPRESS", d.Type)
	}
	if d.LoggingConfiguration == nil || d.LoggingConfiguration.Level != sfntypes.LogLevelError || len(d.LoggingConfiguration.Destinations) != 1 ||
		aws.ToString(d.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn) != logGroupArn {
		t.Errorf("logging %+v", d.LoggingConfiguration)
	}
	v := must[*awssfn.DescribeStateMachineOutput](t)(h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: arn.StateMachineVersionArn}))
	if v.Type != sfntypes.StateMachineTypeExpress {
		t.Errorf("version type %s, want EXPRESS", v.Type)
	}
	list := must[*awssfn.ListStateMachinesOutput](t)(h.client.ListStateMachines(ctx(), &awssfn.ListStateMachinesInput{}))
	if len(list.StateMachines) != 1 || list.StateMachines[0].Type != sfntypes.StateMachineTypeExpress {
		t.Errorf("list %+v", list.StateMachines)
	}
	// Versions and aliases as for STANDARD.
	v2 := h.publish(t, *arn.StateMachineArn, passDefN(2))
	h.alias(t, "prod", *arn.StateMachineVersionArn, 90, v2, 10)

	// The same name with another type is another state machine: a clash.
	_, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{Name: aws.String("orders"), Definition: aws.String(passDef), RoleArn: aws.String(testRole)})
	wantAPIError(t, err, "StateMachineAlreadyExists", "State Machine Already Exists: '"+*arn.StateMachineArn+"'")

	// An update keeps the Express limits.
	_, err = h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: arn.StateMachineArn, Definition: aws.String(callbackDef)})
	wantAPIError(t, err, "InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support '.waitForTaskToken' service integration at /States/Wait/Resource'")
	// A STANDARD state machine takes the same definition.
	h.machine(t, "standard", callbackDef)
}

func TestValidateStateMachineDefinitionExpress(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		typ  sfntypes.StateMachineType
		want sfntypes.ValidateStateMachineDefinitionResultCode
	}{{sfntypes.StateMachineTypeStandard, "OK"}, {sfntypes.StateMachineTypeExpress, "FAIL"}} {
		out := must[*awssfn.ValidateStateMachineDefinitionOutput](t)(h.client.ValidateStateMachineDefinition(ctx(), &awssfn.ValidateStateMachineDefinitionInput{Definition: aws.String(nestedSyncDef), Type: tt.typ}))
		if out.Result != tt.want {
			t.Fatalf("%s: result %s, want %s (%+v)", tt.typ, out.Result, tt.want, out.Diagnostics)
		}
		if tt.want == "FAIL" && (len(out.Diagnostics) != 1 || aws.ToString(out.Diagnostics[0].Code) != "SCHEMA_VALIDATION_FAILED" ||
			aws.ToString(out.Diagnostics[0].Location) != "/States/Both/Branches/1/States/Child/Resource") {
			t.Errorf("diagnostics %+v", out.Diagnostics)
		}
	}
}

func TestExpressStartExecutionIsAtLeastOnce(t *testing.T) {
	h := newHarness(t)
	arn := h.express(t, "orders", echoDef)
	first := h.start(t, arn, "same", `{"n":1}`)
	second := h.start(t, arn, "same", `{"n":1}`)
	for _, x := range []string{first, second} {
		m := expressArnPattern.FindStringSubmatch(x)
		if m == nil || m[1] != "orders" || m[2] != "same" {
			t.Fatalf("execution ARN %s, want arn:aws:states:us-east-1:000000000000:express:orders:same:<id>", x)
		}
	}
	if first == second {
		t.Fatalf("two starts of one name answered one execution %s: Express does not deduplicate", first)
	}
	h.waitMetric(t, "ExecutionsSucceeded", map[string]string{"StateMachineArn": arn}, 2)
	// Named or not, every start is its own execution.
	if x := h.start(t, arn, "", `{}`); !expressArnPattern.MatchString(x) {
		t.Errorf("unnamed execution ARN %s", x)
	}
	if got := h.bus.statuses(first); len(got) != 0 {
		t.Errorf("status-change events %v for an Express execution; EventBridge gets them for Standard workflows only", got)
	}
}

func TestExpressExecutionsHaveNoHistoryAPIs(t *testing.T) {
	h := newHarness(t)
	arn := h.express(t, "orders", passDef)
	v1 := h.publish(t, arn, passDefN(1))
	alias := h.alias(t, "prod", v1, 100)
	x := h.start(t, arn, "one", `{}`)
	const msg = "Invalid Arn: 'Resource type not valid in this context: express'"
	_, err := h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(x)})
	wantAPIError(t, err, "InvalidArn", msg)
	_, err = h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x)})
	wantAPIError(t, err, "InvalidArn", msg)
	_, err = h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(x)})
	wantAPIError(t, err, "InvalidArn", msg)
	_, err = h.client.DescribeStateMachineForExecution(ctx(), &awssfn.DescribeStateMachineForExecutionInput{ExecutionArn: aws.String(x)})
	wantAPIError(t, err, "InvalidArn", msg)
	for _, target := range []string{arn, v1, alias} {
		_, err = h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(target)})
		wantAPIError(t, err, "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
	}
	// A STANDARD state machine's executions are listed as before.
	std := h.machine(t, "standard", passDef)
	h.wait(t, h.start(t, std, "", `{}`))
	if out := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(std)})); len(out.Executions) != 1 {
		t.Errorf("standard executions %d, want 1", len(out.Executions))
	}
}

func TestStartSyncExecution(t *testing.T) {
	h := newHarness(t)
	c := h.syncClient()
	arn := h.express(t, "orders", echoDef)
	out := must[*awssfn.StartSyncExecutionOutput](t)(c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("n1"), Input: aws.String(`{"n":7}`)}))
	if out.Status != sfntypes.SyncExecutionStatusSucceeded || aws.ToString(out.Output) != `{"got":7}` || aws.ToString(out.Input) != `{"n":7}` || aws.ToString(out.Name) != "n1" ||
		aws.ToString(out.StateMachineArn) != arn || out.Error != nil {
		t.Errorf("answer %+v", out)
	}
	if m := expressArnPattern.FindStringSubmatch(aws.ToString(out.ExecutionArn)); m == nil || m[2] != "n1" {
		t.Errorf("execution ARN %s", aws.ToString(out.ExecutionArn))
	}
	if out.OutputDetails == nil || !out.OutputDetails.Included || out.InputDetails == nil || !out.InputDetails.Included {
		t.Errorf("details %+v %+v", out.InputDetails, out.OutputDetails)
	}
	b := out.BillingDetails
	if b == nil || b.BilledMemoryUsedInMB != 64 || b.BilledDurationInMilliseconds < 100 || b.BilledDurationInMilliseconds%100 != 0 {
		t.Errorf("billing %+v, want 64 MB and a multiple of 100 ms, at least 100", b)
	}
	if out.StartDate == nil || out.StopDate == nil || out.StopDate.Before(*out.StartDate) {
		t.Errorf("dates %v %v", out.StartDate, out.StopDate)
	}

	// A failed execution is a 200 with its status, error and cause, and no output.
	bad := h.express(t, "broken", failDef)
	out = must[*awssfn.StartSyncExecutionOutput](t)(c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(bad)}))
	if out.Status != sfntypes.SyncExecutionStatusFailed || aws.ToString(out.Error) != "Boom" || aws.ToString(out.Cause) != "it broke" || out.Output != nil {
		t.Errorf("failed answer %+v", out)
	}

	// Through an alias: a version drawn by the weights, counted under Version and Alias.
	v1 := h.publish(t, arn, echoDef)
	h.alias(t, "prod", v1, 100)
	out = must[*awssfn.StartSyncExecutionOutput](t)(c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(arn + ":prod"), Input: aws.String(`{"n":1}`)}))
	if out.Status != sfntypes.SyncExecutionStatusSucceeded || aws.ToString(out.StateMachineArn) != arn {
		t.Errorf("alias answer %+v", out)
	}
	for _, dims := range []map[string]string{{"StateMachineArn": arn, "Version": "1"}, {"StateMachineArn": arn, "Alias": "prod"}} {
		if got, _ := h.metrics.sum("ExecutionsSucceeded", dims); got != 1 {
			t.Errorf("ExecutionsSucceeded %v = %v, want 1", dims, got)
		}
	}

	// Not for STANDARD, nor for what does not exist.
	std := h.machine(t, "standard", passDef)
	_, err := c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(std)})
	wantAPIError(t, err, "StateMachineTypeNotSupported", "This operation is not supported by this type of state machine")
	_, err = c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(machineArn("nope"))})
	wantAPIError(t, err, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+machineArn("nope")+"'")
}

// hostRecorder sends every request to the server whatever host the SDK put in its URL,
// and remembers the hosts.
type hostRecorder struct {
	target *url.URL
	mu     sync.Mutex
	hosts  []string
}

func (r *hostRecorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Host)
	r.mu.Unlock()
	req.URL.Host = r.target.Host // the Host header keeps the SDK's name
	return http.DefaultClient.Do(req)
}

func TestStartSyncExecutionOnTheSyncHost(t *testing.T) {
	h := newHarness(t)
	arn := h.express(t, "orders", passDef)
	target, _ := url.Parse(h.srv.URL)
	rec := &hostRecorder{target: target}
	c := awssfn.New(h.client.Options(), func(o *awssfn.Options) { o.HTTPClient = rec })
	out, err := c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != sfntypes.SyncExecutionStatusSucceeded {
		t.Errorf("status %s", out.Status)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.hosts) != 1 || rec.hosts[0] != "sync-"+target.Host {
		t.Errorf("the SDK sent StartSyncExecution to %v, want sync-%s", rec.hosts, target.Host)
	}
}

func TestExpressFiveMinuteLimit(t *testing.T) {
	h := newHarness(t)
	c := h.syncClient()
	for _, tt := range []struct {
		wait int
		want sfntypes.SyncExecutionStatus
	}{{200, sfntypes.SyncExecutionStatusSucceeded}, {400, sfntypes.SyncExecutionStatusTimedOut}} {
		def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":` + itoa(tt.wait) + `,"End":true}}}`
		arn := h.express(t, "wait-"+itoa(tt.wait), def)
		out := must[*awssfn.StartSyncExecutionOutput](t)(c.StartSyncExecution(ctx(), &awssfn.StartSyncExecutionInput{StateMachineArn: aws.String(arn)}))
		if out.Status != tt.want {
			t.Fatalf("a Wait of %d s ended %s, want %s", tt.wait, out.Status, tt.want)
		}
		if tt.want == sfntypes.SyncExecutionStatusTimedOut {
			if aws.ToString(out.Error) != "States.Timeout" {
				t.Errorf("error %q, want States.Timeout", aws.ToString(out.Error))
			}
			h.waitMetric(t, "ExecutionsTimedOut", map[string]string{"StateMachineArn": arn}, 1)
		}
	}
}

func TestExpressMetrics(t *testing.T) {
	h := newHarness(t)
	arn := h.express(t, "orders", passDef)
	v1 := h.publish(t, arn, passDefN(1))
	alias := h.alias(t, "prod", v1, 100)
	h.start(t, alias, "", `{}`)
	for _, dims := range []map[string]string{
		{"StateMachineArn": arn},
		{"StateMachineArn": arn, "Version": "1"},
		{"StateMachineArn": arn, "Alias": "prod"},
	} {
		h.waitMetric(t, "ExecutionsSucceeded", dims, 1)
		if got, _ := h.metrics.sum("ExecutionsStarted", dims); got != 1 {
			t.Errorf("ExecutionsStarted %v = %v, want 1", dims, got)
		}
	}
}

func TestStandardParentRunsExpressChildWithSync(t *testing.T) {
	h := newHarness(t)
	child := h.express(t, "child", echoDef)
	parent := h.machine(t, "parent", `{"StartAt":"Run","States":{"Run":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",`+
		`"Parameters":{"StateMachineArn":"`+child+`","Input":{"n":3}},"End":true}}}`)
	d := h.wait(t, h.start(t, parent, "", `{}`))
	if d.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("parent %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	var out struct {
		Status       string          `json:"Status"`
		ExecutionArn string          `json:"ExecutionArn"`
		Output       json.RawMessage `json:"Output"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != "SUCCEEDED" || !strings.Contains(string(out.Output), `"got":3`) || !expressArnPattern.MatchString(out.ExecutionArn) {
		t.Errorf("child result %+v", out)
	}
}
