package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

const (
	testRole = "arn:aws:iam::000000000000:role/sfn"
	passDef  = `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`
)

// passDefN is a trivial definition that differs by n, so that each update is a change.
func passDefN(n int) string {
	return `{"Comment":"` + strings.Repeat("v", n%7) + `","StartAt":"P","States":{"P":{"Type":"Pass","Result":{"n":` + itoa(n) + `},"End":true}}}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

type harness struct {
	svc       *Service
	srv       *httptest.Server
	client    *awssfn.Client
	clock     *core.Clock
	bus       *fakeBus
	metrics   *fakeMetrics
	functions *fakeFunctions
	faults    *core.Faults
	requests  atomic.Int64 // requests that reached the handler
}

type option func(*Options)

func withQuotas(q *core.Quotas) option { return func(o *Options) { o.Quotas = q } }

func withSeed(seed uint64) option { return func(o *Options) { o.Seed = seed } }

// newHarness serves a Service on a loopback httptest server and points the real SDK client
// at it: static credentials, us-east-1, BaseEndpoint = the server.
func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	h := &harness{
		clock:     core.NewClock(3600),
		bus:       &fakeBus{},
		metrics:   &fakeMetrics{},
		functions: &fakeFunctions{handlers: map[string]fakeHandler{}},
		faults:    core.NewFaults(1),
	}
	o := Options{Clock: h.clock, Bus: h.bus, Functions: h.functions, Metrics: h.metrics, Faults: h.faults, Seed: 42}
	for _, f := range opts {
		f(&o)
	}
	h.svc = New(o)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		h.svc.ServeHTTP(w, r)
	}))
	h.client = newClient(h.srv.URL, 0)
	t.Cleanup(func() {
		h.svc.Close()
		h.srv.Close()
	})
	return h
}

func newClient(url string, attempts int) *awssfn.Client {
	return awssfn.New(awssfn.Options{
		Region:       core.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		BaseEndpoint: aws.String(url),
		RetryMaxAttempts: func() int {
			if attempts == 0 {
				return 3
			}
			return attempts
		}(),
	})
}

// raw posts an awsJson1_0 request as is, for what the SDK's own checks would refuse to send.
func (h *harness) raw(t *testing.T, op, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "AWSStepFunctions."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Type, e.Message
}

func ctx() context.Context { return context.Background() }

// wantAPIError checks an error's code and message, as clients see them.
func wantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s %q, got %v", code, message, err)
	}
	if ae.ErrorCode() != code || (message != "" && ae.ErrorMessage() != message) {
		t.Fatalf("want %s: %q\n got %s: %q", code, message, ae.ErrorCode(), ae.ErrorMessage())
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// machine creates a state machine with a definition, answering its ARN.
func (h *harness) machine(t *testing.T, name, definition string) string {
	t.Helper()
	out, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(definition), RoleArn: aws.String(testRole),
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.StateMachineArn
}

// publish updates the definition and publishes it, answering the version ARN.
func (h *harness) publish(t *testing.T, arn, definition string) string {
	t.Helper()
	out, err := h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{
		StateMachineArn: aws.String(arn), Definition: aws.String(definition), Publish: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.StateMachineVersionArn
}

func (h *harness) alias(t *testing.T, name string, routes ...any) string {
	t.Helper()
	out, err := h.client.CreateStateMachineAlias(ctx(), &awssfn.CreateStateMachineAliasInput{
		Name: aws.String(name), RoutingConfiguration: routing(routes...),
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.StateMachineAliasArn
}

// routing builds a routing configuration from version ARN, weight pairs.
func routing(pairs ...any) []sfntypes.RoutingConfigurationListItem {
	var out []sfntypes.RoutingConfigurationListItem
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, sfntypes.RoutingConfigurationListItem{
			StateMachineVersionArn: aws.String(pairs[i].(string)), Weight: int32(pairs[i+1].(int)),
		})
	}
	return out
}

func (h *harness) start(t *testing.T, arn, name, input string) string {
	t.Helper()
	in := &awssfn.StartExecutionInput{StateMachineArn: aws.String(arn), Input: aws.String(input)}
	if name != "" {
		in.Name = aws.String(name)
	}
	out, err := h.client.StartExecution(ctx(), in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.ExecutionArn
}

// wait polls DescribeExecution until the execution has ended.
func (h *harness) wait(t testing.TB, arn string) *awssfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := h.client.DescribeExecution(ctx(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s still RUNNING", arn)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type fakeBus struct {
	mu     sync.Mutex
	events []core.Event
}

func (b *fakeBus) Emit(_ context.Context, e core.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
	return nil
}

func (b *fakeBus) statuses(executionArn string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		if len(e.Resources) == 1 && e.Resources[0] == executionArn {
			var d struct {
				Status string `json:"status"`
			}
			_ = json.Unmarshal(e.Detail, &d)
			out = append(out, d.Status)
		}
	}
	return out
}

type fakeMetrics struct {
	mu   sync.Mutex
	data []core.Datum
}

func (m *fakeMetrics) Put(_ context.Context, data ...core.Datum) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = append(m.data, data...)
}

// sum adds the values of one metric under exactly these dimensions.
func (m *fakeMetrics) sum(name string, dims map[string]string) (float64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	total, n := 0.0, 0
	for _, d := range m.data {
		if d.Name != name || d.Namespace != "AWS/States" || len(d.Dimensions) != len(dims) {
			continue
		}
		match := true
		for k, v := range dims {
			if d.Dimensions[k] != v {
				match = false
			}
		}
		if match {
			total += d.Value
			n++
		}
	}
	return total, n
}

type fakeHandler func(ctx context.Context, payload json.RawMessage) (json.RawMessage, *core.FunctionError, error)

type fakeFunctions struct {
	mu       sync.Mutex
	handlers map[string]fakeHandler
	calls    []string
}

func (f *fakeFunctions) set(name string, h fakeHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[name] = h
}

func (f *fakeFunctions) Invoke(ctx context.Context, name string, payload json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
	f.mu.Lock()
	h := f.handlers[name]
	if _, fn, ok := strings.Cut(name, ":function:"); h == nil && ok {
		h = f.handlers[fn] // as Lambda does, a function ARN names the function
	}
	f.calls = append(f.calls, name)
	f.mu.Unlock()
	if h == nil {
		return nil, nil, errors.New("Function not found: " + name)
	}
	return h(ctx, payload)
}

func (f *fakeFunctions) InvokeAsync(ctx context.Context, name string, payload json.RawMessage) error {
	go func() { _, _, _ = f.Invoke(context.WithoutCancel(ctx), name, payload) }()
	return nil
}
