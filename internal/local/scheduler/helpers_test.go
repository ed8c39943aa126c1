package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	schedsdk "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

const (
	fnArn   = "arn:aws:lambda:us-east-1:000000000000:function:advance"
	smArn   = "arn:aws:states:us-east-1:000000000000:stateMachine:controller"
	roleArn = "arn:aws:iam::000000000000:role/scheduler"
)

type call struct {
	target  string
	name    string
	payload string
	at      time.Time // virtual time of the call
}

type fakeFunctions struct {
	mu    sync.Mutex
	clock *core.Clock
	fail  []error
	calls chan call
}

func (f *fakeFunctions) Invoke(context.Context, string, json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
	return nil, nil, errors.New("fake: Scheduler invokes asynchronously")
}

func (f *fakeFunctions) InvokeAsync(ctx context.Context, name string, payload json.RawMessage) error {
	f.mu.Lock()
	var err error
	if len(f.fail) > 0 {
		err, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	f.calls <- call{target: name, payload: string(payload), at: f.clock.Now()}
	return err
}

type fakeExecutions struct {
	mu    sync.Mutex
	clock *core.Clock
	fail  []error
	calls chan call
}

func (f *fakeExecutions) StartExecution(ctx context.Context, arn, name, input string) (string, error) {
	f.mu.Lock()
	var err error
	if len(f.fail) > 0 {
		err, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	f.calls <- call{target: arn, name: name, payload: input, at: f.clock.Now()}
	return "arn:aws:states:us-east-1:000000000000:execution:controller:" + name, err
}

type reports struct {
	mu    sync.Mutex
	lines []string
}

func (r *reports) Report(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *reports) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

type fixture struct {
	svc        *Service
	client     *schedsdk.Client
	clock      *core.Clock
	functions  *fakeFunctions
	executions *fakeExecutions
	reports    *reports
	faults     *core.Faults
	cancel     context.CancelFunc
}

// newFixture serves a running Service to the real SDK client on a clock speed times
// faster than real time.
func newFixture(t *testing.T, speed float64) *fixture {
	clock := core.NewClock(speed)
	f := &fixture{
		clock:      clock,
		functions:  &fakeFunctions{clock: clock, calls: make(chan call, 10000)},
		executions: &fakeExecutions{clock: clock, calls: make(chan call, 10000)},
		reports:    &reports{},
		faults:     core.NewFaults(1),
	}
	f.svc = New(Options{Clock: clock, Functions: f.functions, Executions: f.executions, Faults: f.faults, Reporter: f.reports})
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.svc.Start(ctx)
	srv := httptest.NewServer(f.svc)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		f.svc.running.Wait()
	})
	f.client = schedsdk.New(schedsdk.Options{
		Region:           core.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	})
	return f
}

// create makes a schedule of fnArn in the default group.
func (f *fixture) create(t *testing.T, in *schedsdk.CreateScheduleInput) string {
	t.Helper()
	if in.FlexibleTimeWindow == nil {
		in.FlexibleTimeWindow = &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	}
	if in.Target == nil {
		in.Target = &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn)}
	}
	out, err := f.client.CreateSchedule(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ScheduleArn)
}

func waitCall(t *testing.T, ch chan call) call {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation arrived")
		return call{}
	}
}

func drain(ch chan call) []call {
	var out []call
	for {
		select {
		case c := <-ch:
			out = append(out, c)
		default:
			return out
		}
	}
}

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
