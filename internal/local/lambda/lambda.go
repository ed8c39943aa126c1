// Package lambda runs the controller's functions in-process behind Lambda's Invoke API: the
// REST API that SDK callers use, and core.Functions for Step Functions, EventBridge and Scheduler.
package lambda

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// AWS's numbers for a function.
const (
	// DefaultTimeout is a new function's timeout on AWS.
	DefaultTimeout = 3 * time.Second
	// MaxSyncPayload is the largest RequestResponse request payload, in bytes.
	MaxSyncPayload = 6 * 1024 * 1024
	// maxResponse is the largest response payload, in bytes (Lambda's figure in its error).
	maxResponse = 6291556
	// DefaultConcurrency is an account's concurrency limit on AWS: the invocations of all
	// its functions running at once, synchronous and asynchronous.
	DefaultConcurrency = 1000
)

// DefaultRetryDelays are Lambda's waits before the second and third attempts of a failed
// asynchronous invocation (one minute, then two).
var DefaultRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}

// EventInvokeConfig is a function's configuration of its asynchronous invocations
// (PutFunctionEventInvokeConfig): how often a function error is retried, and how long an
// event waits, in the queue and between retries, before it is dropped.
type EventInvokeConfig struct {
	MaximumRetryAttempts int           // 0–2
	MaximumEventAge      time.Duration // 60 s – 6 h, whole seconds
}

// DefaultEventInvokeConfig is what a function without one gets on AWS: two retries, six hours.
var DefaultEventInvokeConfig = EventInvokeConfig{MaximumRetryAttempts: 2, MaximumEventAge: 6 * time.Hour}

func (c EventInvokeConfig) validate() error {
	if c.MaximumRetryAttempts < 0 || c.MaximumRetryAttempts > 2 {
		return core.Errorf("InvalidParameterValueException", "MaximumRetryAttempts %d: want 0 to 2", c.MaximumRetryAttempts)
	}
	if c.MaximumEventAge < time.Minute || c.MaximumEventAge > 6*time.Hour || c.MaximumEventAge%time.Second != 0 {
		return core.Errorf("InvalidParameterValueException", "MaximumEventAgeInSeconds %s: want 60 to 21600 seconds", c.MaximumEventAge)
	}
	return nil
}

// Options configure the service. Every field may be left zero.
type Options struct {
	Faults   *core.Faults  // consulted as service "lambda", operations Invoke, GetFunction, …
	Reporter core.Reporter // told about asynchronous invocations that were dropped
	// Timeout is the timeout of functions registered without one; zero means AWS's 3 s. It is
	// wall-clock time, not the virtual clock's: handlers do real I/O, which no clock speeds up.
	Timeout time.Duration
	// Clock times the waits between retries of asynchronous invocations and the age of their
	// events; nil means real time.
	Clock *core.Clock
	// RetryDelays replace DefaultRetryDelays (tests shorten them).
	RetryDelays []time.Duration
	// Concurrency is the account's concurrency limit: invocations running at once,
	// synchronous and asynchronous together, as on AWS; zero means DefaultConcurrency.
	// A synchronous invocation beyond it is answered TooManyRequestsException; an
	// asynchronous one waits in the queue, which has no bound.
	Concurrency int
}

// Service is Lambda: the registered functions, their synchronous and asynchronous
// invocations, and the REST API. It implements core.Functions and http.Handler.
type Service struct {
	opts Options

	mu        sync.RWMutex
	functions map[string]*function
	configs   map[string]EventInvokeConfig // by function name; kept when a function is registered again
	closed    bool

	// slots holds a token for each invocation running: its capacity is the concurrency limit.
	slots chan struct{}
	// reserved holds, for a function with reserved concurrency, a token for each of its
	// invocations running: they take a slot there instead of in slots.
	reserved map[string]chan struct{}

	queueMu sync.Mutex
	queue   []*asyncInvocation // waiting for a slot, oldest first; unbounded, as Lambda's is
	queued  chan struct{}      // a wake-up for the dispatcher when the queue was added to

	dropped atomic.Int64

	ctx    context.Context // ends the dispatcher, the running invocations and the retry waits
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ core.Functions = (*Service)(nil)
var _ http.Handler = (*Service)(nil)

type function struct {
	name     string
	handler  core.Handler
	timeout  time.Duration
	modified time.Time
}

func (f *function) arn() string { return FunctionArn(f.name) }

// asyncInvocation is one event in the asynchronous queue, across its attempts.
type asyncInvocation struct {
	fn        *function
	invoked   string // the ARN the caller named, with its qualifier
	payload   json.RawMessage
	requestID string
	received  time.Time // on the clock: the event's age is counted from here
	attempts  int
}

// New makes the service and starts its dispatcher of asynchronous invocations; Close stops it.
func New(opts Options) *Service {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RetryDelays == nil {
		opts.RetryDelays = DefaultRetryDelays
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		opts:      opts,
		functions: map[string]*function{},
		configs:   map[string]EventInvokeConfig{},
		slots:     make(chan struct{}, opts.Concurrency),
		reserved:  map[string]chan struct{}{},
		queued:    make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
	}
	s.wg.Add(1)
	go s.dispatch()
	return s
}

// Close stops the dispatcher and the running invocations. Invocations still queued, or
// waiting to be retried, are dropped, and reported.
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.queueMu.Lock()
	left := s.queue
	s.queue = nil
	s.queueMu.Unlock()
	for _, inv := range left {
		s.drop("lambda: %s: asynchronous invocation %s dropped at shutdown", inv.fn.name, inv.requestID)
	}
}

// Dropped counts the asynchronous invocations dropped: failed after their retries, too old,
// or still queued at shutdown.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// Register adds (or replaces) the function name with the default timeout.
func (s *Service) Register(name string, h core.Handler) {
	s.RegisterWithTimeout(name, h, 0)
}

// RegisterWithTimeout adds (or replaces) the function name; a zero timeout means the default.
func (s *Service) RegisterWithTimeout(name string, h core.Handler, timeout time.Duration) {
	if timeout <= 0 {
		timeout = s.opts.Timeout
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.functions[name] = &function{name: name, handler: h, timeout: timeout, modified: time.Now().UTC()}
}

// PutFunctionEventInvokeConfig sets how the function's asynchronous invocations are retried,
// as the API call of that name (and the CDK's RetryAttempts and MaxEventAge) do on AWS. The
// configuration outlives registering the function again.
func (s *Service) PutFunctionEventInvokeConfig(name string, c EventInvokeConfig) error {
	if err := c.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs[name] = c
	return nil
}

// GetFunctionEventInvokeConfig is the function's configuration of its asynchronous
// invocations: the one put, or DefaultEventInvokeConfig.
func (s *Service) GetFunctionEventInvokeConfig(name string) EventInvokeConfig {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.configs[name]; ok {
		return c
	}
	return DefaultEventInvokeConfig
}

// PutFunctionConcurrency reserves n concurrent executions for the function name
// (ReservedConcurrentExecutions), as the API call of that name does on AWS: at most n of its
// invocations run at once, synchronous and asynchronous together, and they always have n;
// a synchronous invocation beyond n is answered TooManyRequestsException, an asynchronous
// one waits in the queue without holding up other functions' invocations. Unlike AWS, the
// n are not taken out of the account's limit (local mode's limit is a flag, not a pool
// shared with other accounts' functions). Set it before the function is invoked.
func (s *Service) PutFunctionConcurrency(name string, n int) error {
	if n < 0 {
		return core.Errorf("InvalidParameterValueException", "ReservedConcurrentExecutions %d: want 0 or more", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved[name] = make(chan struct{}, n)
	return nil
}

// FunctionConcurrency is the function's reserved concurrency, as GetFunctionConcurrency
// answers it; ok is false when none is reserved.
func (s *Service) FunctionConcurrency(name string) (n int, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.reserved[name]
	return cap(c), ok
}

// DeleteFunctionConcurrency removes the function's reserved concurrency: its invocations take
// the account's slots again. Set it before the function is invoked, as PutFunctionConcurrency.
func (s *Service) DeleteFunctionConcurrency(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reserved, name)
}

// AccountConcurrency is what GetAccountSettings says of concurrency: the account's limit, and
// what is left of it after every function's reservation (never below zero: unlike AWS,
// local mode does not keep 100 unreserved, see PutFunctionConcurrency).
func (s *Service) AccountConcurrency() (limit, unreserved int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	limit = cap(s.slots)
	unreserved = limit
	for _, c := range s.reserved {
		unreserved -= cap(c)
	}
	return limit, max(unreserved, 0)
}

// slotsOf is the pool of concurrency slots fn's invocations take: its own when it has
// reserved concurrency, the account's otherwise.
func (s *Service) slotsOf(fn *function) chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.reserved[fn.name]; ok {
		return c
	}
	return s.slots
}

// FunctionArn is the ARN of the function name.
func FunctionArn(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", core.Partition, core.Region, core.Account, name)
}

// errConcurrency is Lambda's answer to a synchronous invocation beyond the account's
// concurrency (429, Reason ConcurrentInvocationLimitExceeded); errReservedConcurrency, beyond
// the function's reserved concurrency (Reason ReservedFunctionConcurrentInvocationLimitExceeded).
var (
	errConcurrency         = &core.APIError{Code: "TooManyRequestsException", Message: "Rate Exceeded.", Status: http.StatusTooManyRequests}
	errReservedConcurrency = &core.APIError{Code: "TooManyRequestsException", Message: "Rate Exceeded.", Status: http.StatusTooManyRequests}
)

// throttled is the answer to a synchronous invocation that found no slot in pool.
func (s *Service) throttled(pool chan struct{}) *core.APIError {
	if pool != s.slots {
		return errReservedConcurrency
	}
	return errConcurrency
}

// acquire takes a concurrency slot of pool for a synchronous invocation, or says there is none.
func acquire(pool chan struct{}) bool {
	select {
	case pool <- struct{}{}:
		return true
	default:
		return false
	}
}

// Invoke runs the function synchronously (InvocationType RequestResponse). name is a name, a
// partial ARN or an ARN, with or without a qualifier (which is accepted and ignored: every
// alias and version runs the registered handler). With every concurrency slot taken it
// answers TooManyRequestsException at once, as Lambda does.
func (s *Service) Invoke(ctx context.Context, name string, payload json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
	if err := s.fault(ctx, "Invoke"); err != nil {
		return nil, nil, err
	}
	fn, invoked, apiErr := s.lookup(name)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	pool := s.slotsOf(fn)
	if !acquire(pool) {
		return nil, nil, s.throttled(pool)
	}
	defer func() { <-pool }()
	out, err := s.run(ctx, fn, invoked, payload, newRequestID())
	if err != nil {
		return nil, nil, err
	}
	if out.err != nil {
		return nil, &core.FunctionError{Type: out.err.Type, Message: out.err.Message}, nil
	}
	return out.payload, nil, nil
}

// InvokeAsync queues the invocation (InvocationType Event) and returns at once. The queue
// has no bound; invocations leave it as concurrency slots free up. A function error is
// retried per the function's EventInvokeConfig, after DefaultRetryDelays on the clock, as
// Lambda does; an invocation that still fails, or whose event grew too old, is dropped and
// reported.
func (s *Service) InvokeAsync(ctx context.Context, name string, payload json.RawMessage) error {
	if err := s.fault(ctx, "Invoke"); err != nil {
		return err
	}
	fn, invoked, apiErr := s.lookup(name)
	if apiErr != nil {
		return apiErr
	}
	if err := s.enqueue(&asyncInvocation{fn: fn, invoked: invoked, payload: payload, requestID: newRequestID(), received: s.now()}); err != nil {
		return err
	}
	return nil
}

func (s *Service) enqueue(inv *asyncInvocation) *core.APIError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &core.APIError{Code: "ServiceException", Message: "sfn-rollout local is shutting down", Status: http.StatusInternalServerError}
	}
	s.push(inv)
	return nil
}

func (s *Service) push(inv *asyncInvocation) {
	s.queueMu.Lock()
	s.queue = append(s.queue, inv)
	s.queueMu.Unlock()
	select {
	case s.queued <- struct{}{}:
	default:
	}
}

// pop waits for the oldest queued invocation; false when the service closes.
func (s *Service) pop() (*asyncInvocation, bool) {
	for {
		s.queueMu.Lock()
		if len(s.queue) > 0 {
			inv := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.queueMu.Unlock()
			return inv, true
		}
		s.queueMu.Unlock()
		select {
		case <-s.ctx.Done():
			return nil, false
		case <-s.queued:
		}
	}
}

// dispatch starts each queued invocation when a concurrency slot is free, oldest first.
func (s *Service) dispatch() {
	defer s.wg.Done()
	for {
		inv, ok := s.pop()
		if !ok {
			return
		}
		if pool := s.slotsOf(inv.fn); pool != s.slots {
			s.startReserved(inv, pool)
			continue
		}
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			s.queueMu.Lock()
			s.queue = append([]*asyncInvocation{inv}, s.queue...)
			s.queueMu.Unlock()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.attempt(inv)
		}()
	}
}

// startReserved runs an asynchronous invocation of a function with reserved concurrency
// once a slot of its own pool is free: it waits apart, so that the queue's other functions
// are not held up behind it. Waiters of one pool take its slots oldest first (a channel's
// senders are served in order).
func (s *Service) startReserved(inv *asyncInvocation, pool chan struct{}) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case pool <- struct{}{}:
		case <-s.ctx.Done():
			s.drop("lambda: %s: asynchronous invocation %s dropped at shutdown", inv.fn.name, inv.requestID)
			return
		}
		defer func() { <-pool }()
		s.attempt(inv)
	}()
}

// attempt runs one attempt of an asynchronous invocation, and queues the next after its
// delay when the function failed and the event may be retried.
func (s *Service) attempt(inv *asyncInvocation) {
	cfg := s.GetFunctionEventInvokeConfig(inv.fn.name)
	if age := s.now().Sub(inv.received); age > cfg.MaximumEventAge {
		s.drop("lambda: %s: asynchronous invocation %s dropped after %d attempt(s): the event is %s old, over its MaximumEventAge of %s",
			inv.fn.name, inv.requestID, inv.attempts, age.Round(time.Second), cfg.MaximumEventAge)
		return
	}
	inv.attempts++
	out, err := s.run(s.ctx, inv.fn, inv.invoked, inv.payload, inv.requestID)
	if err != nil {
		s.drop("lambda: %s: asynchronous invocation %s abandoned: %v", inv.fn.name, inv.requestID, err)
		return
	}
	if out.err == nil {
		return
	}
	if inv.attempts > cfg.MaximumRetryAttempts {
		s.drop("lambda: %s: asynchronous invocation %s failed after %d attempts: %s: %s", inv.fn.name, inv.requestID, inv.attempts, out.err.Type, out.err.Message)
		return
	}
	delay := s.retryDelay(inv.attempts)
	if age := s.now().Add(delay).Sub(inv.received); age > cfg.MaximumEventAge {
		s.drop("lambda: %s: asynchronous invocation %s dropped after %d attempt(s): its retry would come when the event is %s old, over its MaximumEventAge of %s; last error %s: %s",
			inv.fn.name, inv.requestID, inv.attempts, age.Round(time.Second), cfg.MaximumEventAge, out.err.Type, out.err.Message)
		return
	}
	// The wait holds no concurrency slot: the retry queues again when it is due.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.sleep(s.ctx, delay); err != nil {
			s.drop("lambda: %s: asynchronous invocation %s abandoned at shutdown after %d attempts", inv.fn.name, inv.requestID, inv.attempts)
			return
		}
		s.push(inv)
	}()
}

func (s *Service) drop(format string, args ...any) {
	s.dropped.Add(1)
	s.report(format, args...)
}

func (s *Service) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock.Now()
	}
	return time.Now()
}

func (s *Service) retryDelay(retry int) time.Duration {
	if retry-1 < len(s.opts.RetryDelays) {
		return s.opts.RetryDelays[retry-1]
	}
	if n := len(s.opts.RetryDelays); n > 0 {
		return s.opts.RetryDelays[n-1]
	}
	return 0
}

func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	if s.opts.Clock != nil {
		return s.opts.Clock.Sleep(ctx, d)
	}
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

func (s *Service) report(format string, args ...any) {
	if s.opts.Reporter != nil {
		s.opts.Reporter.Report(format, args...)
	}
}

// fault draws the injected faults of op, waiting out their latency.
func (s *Service) fault(ctx context.Context, op string) error {
	latency, apiErr := s.opts.Faults.Check("lambda", op)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if apiErr != nil {
		return apiErr
	}
	return nil
}

// outcome is one run of a handler: its payload, or the error the runtime reports.
type outcome struct {
	payload  json.RawMessage
	err      *messages.InvokeResponse_Error
	duration time.Duration
}

// run calls the handler as the Lambda runtime would: with a deadline and the invocation's
// lambdacontext, turning a returned error or a panic into the reported error, and a handler
// still running at the deadline into Sandbox.Timedout. err is set only when ctx ends first.
func (s *Service) run(ctx context.Context, fn *function, invoked string, payload json.RawMessage, requestID string) (outcome, error) {
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, fn.timeout)
	defer cancel()
	hctx = lambdacontext.NewContext(hctx, &lambdacontext.LambdaContext{AwsRequestID: requestID, InvokedFunctionArn: invoked})

	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- outcome{err: panicError(v)}
			}
		}()
		out, err := fn.handler(hctx, payload)
		if err != nil {
			done <- outcome{err: handlerError(err)}
			return
		}
		if len(out) == 0 {
			out = json.RawMessage(`null`)
		}
		if len(out) > maxResponse {
			done <- outcome{err: &messages.InvokeResponse_Error{Type: "Function.ResponseSizeTooLarge",
				Message: fmt.Sprintf("Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).", len(out), maxResponse)}}
			return
		}
		done <- outcome{payload: out}
	}()

	timedOut := func() outcome {
		return outcome{duration: fn.timeout, err: &messages.InvokeResponse_Error{
			Type:    "Sandbox.Timedout",
			Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", requestID, fn.timeout.Seconds()),
		}}
	}
	select {
	case out := <-done:
		// A handler that gave up because its deadline passed is reported as the timeout the
		// runtime would have enforced.
		if out.err != nil && errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return timedOut(), nil
		}
		out.duration = time.Since(start)
		return out, nil
	case <-hctx.Done():
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		// The sandbox is gone on AWS; here the handler's goroutine runs on with a cancelled
		// context, and its result is dropped.
		return timedOut(), nil
	}
}

// handlerError is what aws-lambda-go reports for a returned error (lambda/errors.go): the
// error's Go type name, without unwrapping, and its message.
func handlerError(err error) *messages.InvokeResponse_Error {
	switch e := err.(type) {
	case *core.FunctionError:
		return &messages.InvokeResponse_Error{Type: e.Type, Message: e.Message}
	case messages.InvokeResponse_Error:
		return &e
	case *messages.InvokeResponse_Error:
		return e
	}
	return &messages.InvokeResponse_Error{Type: typeName(err), Message: err.Error()}
}

// panicError is what aws-lambda-go reports for a panic: the panic value's type name (string,
// errorString, boundsError, TypeAssertionError, …), its %v and the stack. On AWS the runtime
// process then exits and the next invocation starts cold; here nothing else happens.
func panicError(v any) *messages.InvokeResponse_Error {
	return &messages.InvokeResponse_Error{Type: typeName(v), Message: fmt.Sprintf("%v", v), StackTrace: panicStack()}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// panicStack formats the panicking goroutine's stack as aws-lambda-go does: a path trimmed to
// the package, the line, and the function without its package path.
func panicStack() []*messages.InvokeResponse_Error_StackFrame {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs) // runtime.Callers, panicStack, panicError
	frames := runtime.CallersFrames(pcs[:n])
	var out []*messages.InvokeResponse_Error_StackFrame
	for {
		f, more := frames.Next()
		path := f.File
		i := len(path)
		for range strings.Count(f.Function, "/") + 2 {
			if i = strings.LastIndex(path[:i], "/"); i < 0 {
				break
			}
		}
		label := f.Function[strings.LastIndex(f.Function, "/")+1:]
		if j := strings.Index(label, "."); j >= 0 {
			label = label[j+1:]
		}
		out = append(out, &messages.InvokeResponse_Error_StackFrame{Path: path[i+1:], Line: int32(f.Line), Label: label})
		if !more {
			return out
		}
	}
}

// lookup resolves a function name, partial ARN or ARN; invoked is the full ARN as named,
// with its qualifier.
func (s *Service) lookup(name string) (*function, string, *core.APIError) {
	fname, qualifier, apiErr := parseFunctionName(name)
	if apiErr != nil {
		return nil, "", apiErr
	}
	invoked := FunctionArn(fname)
	if qualifier != "" {
		invoked += ":" + qualifier
	}
	s.mu.RLock()
	fn := s.functions[fname]
	s.mu.RUnlock()
	if fn == nil {
		return nil, "", notFound(invoked)
	}
	return fn, invoked, nil
}

func notFound(arn string) *core.APIError {
	return &core.APIError{Code: "ResourceNotFoundException", Message: "Function not found: " + arn, Status: http.StatusNotFound}
}

// parseFunctionName splits what Lambda accepts as a FunctionName — my-function,
// my-function:prod, 000000000000:function:my-function[:prod],
// arn:aws:lambda:us-east-1:000000000000:function:my-function[:prod] — into the name and the
// qualifier. An ARN of another account or region names no function here.
func parseFunctionName(s string) (name, qualifier string, apiErr *core.APIError) {
	invalid := func() (string, string, *core.APIError) {
		return "", "", core.Errorf("ValidationException",
			"1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", s)
	}
	parts := strings.Split(s, ":")
	var account, region string
	switch {
	case len(parts) >= 7 && len(parts) <= 8 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
		region, account, name = parts[3], parts[4], parts[6]
		if len(parts) == 8 {
			qualifier = parts[7]
		}
	case (len(parts) == 3 || len(parts) == 4) && parts[1] == "function":
		account, name = parts[0], parts[2]
		if len(parts) == 4 {
			qualifier = parts[3]
		}
	case len(parts) == 1 || len(parts) == 2:
		name = parts[0]
		if len(parts) == 2 {
			qualifier = parts[1]
		}
	default:
		return invalid()
	}
	if !validName(name) || (len(parts) > 1 && qualifier == "" && strings.HasSuffix(s, ":")) || !validQualifier(qualifier) {
		return invalid()
	}
	if (account != "" && account != core.Account) || (region != "" && region != core.Region) {
		return "", "", notFound(s)
	}
	return name, qualifier, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 140 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validQualifier(s string) bool {
	if s == "" || s == "$LATEST" {
		return true
	}
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// newRequestID is a random UUID, as Lambda's request ids are.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// registered lists the functions by name.
func (s *Service) registered() []*function {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*function, 0, len(s.functions))
	for _, f := range s.functions {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
