package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// call is one invocation a fake received.
type call struct {
	target  string // function name/ARN or state machine ARN
	name    string // execution name
	payload string
}

// fakeFunctions records async invocations; fail answers the first calls with errors.
type fakeFunctions struct {
	mu    sync.Mutex
	fail  []error
	calls chan call
	block chan struct{} // when set, InvokeAsync waits for it to close
}

func newFakeFunctions() *fakeFunctions { return &fakeFunctions{calls: make(chan call, 1000)} }

func (f *fakeFunctions) Invoke(ctx context.Context, name string, payload json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
	return nil, nil, errors.New("fake: synchronous Invoke is not used by EventBridge")
}

func (f *fakeFunctions) InvokeAsync(ctx context.Context, name string, payload json.RawMessage) error {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	var err error
	if len(f.fail) > 0 {
		err, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	f.calls <- call{target: name, payload: string(payload)}
	return err
}

// fakeExecutions records StartExecution calls.
type fakeExecutions struct {
	mu    sync.Mutex
	fail  []error
	calls chan call
}

func newFakeExecutions() *fakeExecutions { return &fakeExecutions{calls: make(chan call, 1000)} }

func (f *fakeExecutions) StartExecution(ctx context.Context, arn, name, input string) (string, error) {
	f.mu.Lock()
	var err error
	if len(f.fail) > 0 {
		err, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	f.calls <- call{target: arn, name: name, payload: input}
	return "arn:aws:states:us-east-1:000000000000:execution:sm:" + name, err
}

// reports collects the Reporter's lines.
type reports struct {
	mu    sync.Mutex
	lines []string
	ch    chan string
}

func newReports() *reports { return &reports{ch: make(chan string, 100)} }

func (r *reports) Report(format string, args ...any) {
	line := strings.TrimSpace(fmt.Sprintf(format, args...))
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	r.ch <- line
}

type fixture struct {
	svc        *Service
	client     *ebsdk.Client
	functions  *fakeFunctions
	executions *fakeExecutions
	reports    *reports
	faults     *core.Faults
	clock      *core.Clock
}

// newFixture serves a Service to the real SDK client, on a clock 1000 times faster than
// real time.
func newFixture(t testing.TB) *fixture {
	f := &fixture{
		functions:  newFakeFunctions(),
		executions: newFakeExecutions(),
		reports:    newReports(),
		faults:     core.NewFaults(1),
		clock:      core.NewClock(1000),
	}
	f.svc = New(Options{Clock: f.clock, Functions: f.functions, Executions: f.executions, Faults: f.faults, Reporter: f.reports})
	srv := httptest.NewServer(f.svc)
	t.Cleanup(func() {
		srv.Close()
		_ = f.svc.Close()
	})
	f.client = ebsdk.New(ebsdk.Options{
		Region:           core.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	})
	return f
}

// waitCall waits for the next call on ch; the timeout only guards a broken test.
func waitCall(t testing.TB, ch chan call) call {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery arrived")
		return call{}
	}
}

// noCall checks that nothing more arrives once the service's deliveries are done.
func noCall(t testing.TB, f *fixture, ch chan call) {
	t.Helper()
	f.svc.deliveries.Wait()
	select {
	case c := <-ch:
		t.Fatalf("unexpected delivery %+v", c)
	default:
	}
}

// apiError reads an SDK error's code and message.
func apiError(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	if err != nil {
		return "not an API error", err.Error()
	}
	return "", ""
}
