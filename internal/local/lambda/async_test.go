package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// guard bounds a wait that only a broken test would reach.
const guard = 20 * time.Second

// gauge records how many handlers run at once, and the most at any moment.
type gauge struct {
	now, most atomic.Int64
}

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// Lambda's asynchronous queue has no bound: a burst far beyond the concurrency limit is
// accepted whole and run, never more at once than the limit.
func TestAsyncQueueHasNoBoundAndRunsUnderTheConcurrencyLimit(t *testing.T) {
	const invocations, limit = 5000, 4
	rec := newRecorder()
	svc := New(Options{Concurrency: limit, Reporter: rec})
	defer svc.Close()
	var g gauge
	var ran sync.WaitGroup
	ran.Add(invocations)
	seen := make([]atomic.Bool, invocations)
	svc.Register("rollback", func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		g.enter()
		defer g.leave()
		var n int
		if err := json.Unmarshal(p, &n); err != nil {
			return nil, err
		}
		if seen[n].Swap(true) {
			t.Errorf("invocation %d ran twice", n)
		}
		ran.Done()
		return nil, nil
	})
	for i := range invocations {
		payload, _ := json.Marshal(i)
		if err := svc.InvokeAsync(context.Background(), "rollback", payload); err != nil {
			t.Fatalf("invocation %d refused: %v", i, err)
		}
	}
	done := make(chan struct{})
	go func() { ran.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("not every invocation ran")
	}
	if most := g.most.Load(); most > limit {
		t.Errorf("%d invocations ran at once, over the limit of %d", most, limit)
	}
	if lines := rec.all(); len(lines) != 0 || svc.Dropped() != 0 {
		t.Errorf("dropped %d, reported %q", svc.Dropped(), lines)
	}
}

// Synchronous and asynchronous invocations share the account's concurrency, as on AWS: with
// every slot taken a synchronous Invoke is answered TooManyRequestsException (429) at once,
// and the SDK sees it as throttling; an asynchronous one is queued and runs later.
func TestSyncInvokeBeyondTheConcurrencyLimit(t *testing.T) {
	svc := New(Options{Concurrency: 2})
	release := make(chan struct{})
	started := make(chan string, 10)
	svc.Register("advance", func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		started <- string(p)
		<-release
		return p, nil
	})
	svc.Register("echo", echo)
	client := endpoint(t, svc)
	defer close(release)
	ctx := context.Background()
	for _, p := range []string{`1`, `2`} {
		if err := svc.InvokeAsync(ctx, "advance", json.RawMessage(p)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		waitStarted(t, started)
	}

	_, _, err := svc.Invoke(ctx, "echo", json.RawMessage(`{}`))
	var ae *core.APIError
	if !errors.As(err, &ae) || ae.Code != "TooManyRequestsException" || ae.Status != 429 {
		t.Errorf("in-process Invoke with every slot taken: %v, want TooManyRequestsException 429", err)
	}
	_, err = client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{}`)})
	var tooMany *types.TooManyRequestsException
	if !errors.As(err, &tooMany) || tooMany.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Errorf("SDK Invoke with every slot taken: %v, want TooManyRequestsException with Reason ConcurrentInvocationLimitExceeded", err)
	}
	if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		t.Errorf("the SDK does not see %v as throttling", err)
	}
	out, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("advance"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`3`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("an Event invocation with every slot taken: %v, want 202", err)
	}
	select {
	case p := <-started:
		t.Fatalf("invocation %s started beyond the limit", p)
	default:
	}
	release <- struct{}{} // one slot frees: the queued invocation takes it
	if p := waitStarted(t, started); p != "3" {
		t.Errorf("after a slot freed, %s started, want the queued 3", p)
	}
}

func waitStarted(t *testing.T, started chan string) string {
	t.Helper()
	select {
	case p := <-started:
		return p
	case <-time.After(guard):
		t.Fatal("no invocation started")
		return ""
	}
}

func TestEventInvokeConfig(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		config     *EventInvokeConfig
		wantCalls  int
		wantReport string
	}{
		{name: "the default retries twice", wantCalls: 3, wantReport: "failed after 3 attempts: errorString: boom"},
		{name: "no retries", config: &EventInvokeConfig{MaximumRetryAttempts: 0, MaximumEventAge: time.Hour}, wantCalls: 1,
			wantReport: "failed after 1 attempts: errorString: boom"},
		// The first retry comes a minute after the event, well inside its 2m50s; the second
		// would come 3 minutes (and the handlers' run time) after it: past its age. The margins
		// (110 s before the first retry, 10 s after the second) are wide in real time at the
		// clock's speed, so a busy machine's late goroutine does not change the outcome.
		{name: "the event grows too old for the second retry", config: &EventInvokeConfig{MaximumRetryAttempts: 2, MaximumEventAge: 170 * time.Second}, wantCalls: 2,
			wantReport: "over its MaximumEventAge of 2m50s; last error errorString: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			// 600 times the wall clock: a virtual minute is 100 ms.
			svc := New(Options{Clock: core.NewClock(600), Reporter: rec})
			defer svc.Close()
			var calls atomic.Int64
			svc.Register("control", func(context.Context, json.RawMessage) (json.RawMessage, error) {
				calls.Add(1)
				return nil, boom
			})
			if tt.config != nil {
				if err := svc.PutFunctionEventInvokeConfig("control", *tt.config); err != nil {
					t.Fatal(err)
				}
			}
			if err := svc.InvokeAsync(context.Background(), "control", nil); err != nil {
				t.Fatal(err)
			}
			select {
			case <-rec.added:
			case <-time.After(guard):
				t.Fatal("nothing reported")
			}
			if got := calls.Load(); got != int64(tt.wantCalls) {
				t.Errorf("%d attempts, want %d", got, tt.wantCalls)
			}
			if lines := rec.all(); len(lines) != 1 || !strings.Contains(lines[0], tt.wantReport) {
				t.Errorf("reported %q, want a line with %q", lines, tt.wantReport)
			}
			if svc.Dropped() != 1 {
				t.Errorf("Dropped() = %d, want 1", svc.Dropped())
			}
		})
	}

	svc := New(Options{})
	defer svc.Close()
	for _, bad := range []EventInvokeConfig{{MaximumRetryAttempts: 3, MaximumEventAge: time.Hour}, {MaximumRetryAttempts: 1, MaximumEventAge: 59 * time.Second},
		{MaximumRetryAttempts: 1, MaximumEventAge: 7 * time.Hour}} {
		if err := svc.PutFunctionEventInvokeConfig("control", bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// An event that waits in the queue, behind a busy concurrency limit, longer than its
// MaximumEventAge is dropped without running, as Lambda drops it.
func TestQueuedEventTooOldIsDropped(t *testing.T) {
	rec := newRecorder()
	clock := core.NewClock(60000) // a minute in a millisecond
	svc := New(Options{Clock: clock, Reporter: rec, Concurrency: 1})
	defer svc.Close()
	release := make(chan struct{})
	var calls atomic.Int64
	started := make(chan string, 2)
	svc.Register("finalize", func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		started <- string(p)
		<-release
		return nil, nil
	})
	if err := svc.PutFunctionEventInvokeConfig("finalize", EventInvokeConfig{MaximumRetryAttempts: 2, MaximumEventAge: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.InvokeAsync(ctx, "finalize", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, started)
	if err := svc.InvokeAsync(ctx, "finalize", json.RawMessage(`2`)); err != nil {
		t.Fatal(err)
	}
	// Hold the only slot for over a minute of virtual time.
	if err := clock.Sleep(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-rec.added:
	case <-time.After(guard):
		t.Fatal("nothing reported")
	}
	if lines := rec.all(); len(lines) != 1 || !strings.Contains(lines[0], "over its MaximumEventAge of 1m0s") {
		t.Errorf("reported %q", lines)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the function ran %d times, want once: the old event must not run", n)
	}
}

// Close reports every invocation it drops: those still queued and those waiting for a retry.
func TestCloseReportsWhatIsDropped(t *testing.T) {
	rec := newRecorder()
	svc := New(Options{Reporter: rec, Concurrency: 1, RetryDelays: []time.Duration{time.Hour}})
	started := make(chan string, 10)
	block := make(chan struct{})
	svc.Register("register", func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
		started <- string(p)
		if string(p) == `"fail"` {
			return nil, errors.New("boom")
		}
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	})
	ctx := context.Background()
	// One waits for its retry (an hour away), one runs, two are queued.
	if err := svc.InvokeAsync(ctx, "register", json.RawMessage(`"fail"`)); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, started)
	for _, p := range []string{`"run"`, `"queued 1"`, `"queued 2"`} {
		if err := svc.InvokeAsync(ctx, "register", json.RawMessage(p)); err != nil {
			t.Fatal(err)
		}
	}
	waitStarted(t, started)
	svc.Close()
	lines := strings.Join(rec.all(), "\n")
	for _, want := range []string{"abandoned at shutdown after 1 attempts", "abandoned: context canceled", "dropped at shutdown"} {
		if !strings.Contains(lines, want) {
			t.Errorf("reports %q, want one with %q", lines, want)
		}
	}
	if got := svc.Dropped(); got != 4 {
		t.Errorf("Dropped() = %d, want the 4 invocations", got)
	}
	if err := svc.InvokeAsync(ctx, "register", nil); err == nil {
		t.Error("an invocation accepted after Close")
	}
}

// A function with reserved concurrency runs at most that many invocations at once, and its
// queued invocations do not hold up another function's: a storm of alarms cannot take the
// slots Finalize needs, nor Finalize's wait behind the storm.
func TestReservedConcurrencyBoundsOneFunctionAndHoldsUpNoOther(t *testing.T) {
	const storm, reserved = 50, 3
	svc := New(Options{Concurrency: 10})
	defer svc.Close()
	if err := svc.PutFunctionConcurrency("rollback", reserved); err != nil {
		t.Fatal(err)
	}
	var g gauge
	release := make(chan struct{})
	var ran sync.WaitGroup
	ran.Add(storm)
	svc.Register("rollback", func(context.Context, json.RawMessage) (json.RawMessage, error) {
		g.enter()
		defer g.leave()
		<-release
		ran.Done()
		return nil, nil
	})
	finalized := make(chan struct{})
	svc.Register("finalize", func(context.Context, json.RawMessage) (json.RawMessage, error) {
		close(finalized)
		return nil, nil
	})
	for range storm {
		if err := svc.InvokeAsync(context.Background(), "rollback", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.InvokeAsync(context.Background(), "finalize", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finalized:
	case <-time.After(guard):
		t.Fatal("finalize waited behind the rollback storm")
	}
	for deadline := time.Now().Add(guard); g.now.Load() < reserved; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d rollbacks run, want the reserved %d", g.now.Load(), reserved)
		}
	}
	if _, _, err := svc.Invoke(context.Background(), "rollback", json.RawMessage(`{}`)); !errors.Is(err, errReservedConcurrency) {
		t.Errorf("a synchronous invocation beyond the reserved concurrency = %v, want TooManyRequestsException (reserved)", err)
	}
	close(release)
	done := make(chan struct{})
	go func() { ran.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("not every rollback ran")
	}
	if most := g.most.Load(); most > reserved {
		t.Errorf("%d rollbacks ran at once, over the reserved %d", most, reserved)
	}
}
