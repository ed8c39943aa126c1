package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeRuntime runs on the fake clock of a synctest bubble: Sleep uses real timers, which in
// a bubble fire as soon as every goroutine is blocked, so an hour's Wait takes no real
// time and races between timers are decided exactly as on a real clock.
type fakeRuntime struct {
	invoke func(ctx context.Context, call TaskCall) (json.RawMessage, error) // nil: echo the input

	mu        sync.Mutex
	calls     []TaskCall
	callTimes []time.Time
	active    int
	maxActive int
	tokens    int
	rnd       *rand.Rand
}

func newFake(invoke func(ctx context.Context, call TaskCall) (json.RawMessage, error)) *fakeRuntime {
	return &fakeRuntime{invoke: invoke, rnd: rand.New(rand.NewPCG(1, 2))}
}

func (f *fakeRuntime) Now() time.Time { return time.Now().UTC() }

func (f *fakeRuntime) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (f *fakeRuntime) Rand() *rand.Rand { return f.rnd }

func (f *fakeRuntime) NewTaskToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	return fmt.Sprintf("token-%d", f.tokens)
}

func (f *fakeRuntime) Invoke(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.callTimes = append(f.callTimes, time.Now())
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	if f.invoke == nil {
		return call.Input, nil
	}
	return f.invoke(ctx, call)
}

func (f *fakeRuntime) Calls() []TaskCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TaskCall(nil), f.calls...)
}

// sleepFor makes an invoke that takes d of virtual time and then answers out.
func sleepFor(d time.Duration, out string) func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	return func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return json.RawMessage(out), nil
		}
	}
}

// result is what one execution produced.
type result struct {
	out     json.RawMessage
	fail    *Failure
	events  []HistoryEvent
	elapsed time.Duration
}

var testContext = Context{
	ExecutionID:      "arn:aws:states:us-east-1:000000000000:execution:sm:exec-1",
	ExecutionName:    "exec-1",
	RoleArn:          "arn:aws:iam::000000000000:role/sfn",
	StateMachineID:   "arn:aws:states:us-east-1:000000000000:stateMachine:sm",
	StateMachineName: "sm",
}

func mustParse(t testing.TB, def string) *Definition {
	t.Helper()
	d, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// execute runs def inside the caller's synctest bubble.
func execute(t *testing.T, def, input string, rt Runtime) result {
	t.Helper()
	return executeCtx(t, context.Background(), def, input, rt)
}

func executeCtx(t *testing.T, ctx context.Context, def, input string, rt Runtime) result {
	t.Helper()
	d := mustParse(t, def)
	var (
		r    result
		busy atomic.Bool
	)
	start := time.Now()
	cx := testContext
	cx.StartTime = start
	r.out, r.fail = d.Run(ctx, json.RawMessage(input), cx, rt, func(ev HistoryEvent) {
		if !busy.CompareAndSwap(false, true) {
			t.Error("history callback called concurrently")
		}
		r.events = append(r.events, ev)
		busy.Store(false)
	})
	r.elapsed = time.Since(start)
	return r
}

// bubble runs fn in a synctest bubble.
func bubble(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, fn)
}

// canon renders JSON text canonically (keys sorted, compact) for comparisons.
func canon(t testing.TB, s string) string {
	t.Helper()
	v, err := decodeValue([]byte(s))
	if err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return string(encode(v))
}

func checkOutput(t *testing.T, r result, want string) {
	t.Helper()
	if r.fail != nil {
		t.Fatalf("failed: %v", r.fail)
	}
	if got := canon(t, string(r.out)); got != canon(t, want) {
		t.Fatalf("output\n got %s\nwant %s", got, canon(t, want))
	}
}

func checkFailure(t *testing.T, r result, name, causeContains string) {
	t.Helper()
	if r.fail == nil {
		t.Fatalf("succeeded with %s, want failure %s", r.out, name)
	}
	if r.fail.Name != name {
		t.Fatalf("failure %q (%s), want %q", r.fail.Name, r.fail.Cause, name)
	}
	if causeContains != "" && !strings.Contains(r.fail.Cause, causeContains) {
		t.Fatalf("cause %q does not contain %q", r.fail.Cause, causeContains)
	}
}

func eventTypes(evs []HistoryEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}
