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
	// asyncAttempts is the first try and Lambda's two retries of an asynchronous invocation.
	asyncAttempts = 3
)

// DefaultRetryDelays are Lambda's waits before the second and third attempts of a failed
// asynchronous invocation (one minute, then two).
var DefaultRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}

// Options configure the service. Every field may be left zero.
type Options struct {
	Faults   *core.Faults  // consulted as service "lambda", operations Invoke, GetFunction, …
	Reporter core.Reporter // told about asynchronous invocations that failed for good
	// Timeout is the timeout of functions registered without one; zero means AWS's 3 s. It is
	// wall-clock time, not the virtual clock's: handlers do real I/O, which no clock speeds up.
	Timeout time.Duration
	// Clock times the waits between retries of asynchronous invocations; nil means real time.
	Clock *core.Clock
	// RetryDelays replace DefaultRetryDelays (tests shorten them).
	RetryDelays []time.Duration
	Workers     int // asynchronous invocations run at once; zero means 4
	QueueSize   int // asynchronous invocations waiting; zero means 1000
}

// Service is Lambda: the registered functions, their synchronous and asynchronous
// invocations, and the REST API. It implements core.Functions and http.Handler.
type Service struct {
	opts Options

	mu        sync.RWMutex
	functions map[string]*function
	closed    bool

	queue  chan asyncInvocation
	ctx    context.Context // ends the workers and their retry waits
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

type asyncInvocation struct {
	fn        *function
	invoked   string // the ARN the caller named, with its qualifier
	payload   json.RawMessage
	requestID string
}

// New makes the service and starts its asynchronous workers; Close stops them.
func New(opts Options) *Service {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RetryDelays == nil {
		opts.RetryDelays = DefaultRetryDelays
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		opts:      opts,
		functions: map[string]*function{},
		queue:     make(chan asyncInvocation, opts.QueueSize),
		ctx:       ctx,
		cancel:    cancel,
	}
	for range opts.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

// Close stops the workers. Invocations still queued are dropped, and reported.
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
	for {
		select {
		case inv := <-s.queue:
			s.report("lambda: %s: asynchronous invocation %s dropped at shutdown", inv.fn.name, inv.requestID)
		default:
			return
		}
	}
}

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

// FunctionArn is the ARN of the function name.
func FunctionArn(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", core.Partition, core.Region, core.Account, name)
}

// Invoke runs the function synchronously (InvocationType RequestResponse). name is a name, a
// partial ARN or an ARN, with or without a qualifier (which is accepted and ignored: every
// alias and version runs the registered handler).
func (s *Service) Invoke(ctx context.Context, name string, payload json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
	if err := s.fault(ctx, "Invoke"); err != nil {
		return nil, nil, err
	}
	fn, invoked, apiErr := s.lookup(name)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	out, err := s.run(ctx, fn, invoked, payload, newRequestID())
	if err != nil {
		return nil, nil, err
	}
	if out.err != nil {
		return nil, &core.FunctionError{Type: out.err.Type, Message: out.err.Message}, nil
	}
	return out.payload, nil, nil
}

// InvokeAsync queues the invocation (InvocationType Event) and returns at once. A function
// error is retried twice, after DefaultRetryDelays on the clock, as Lambda does; an
// invocation that still fails is reported.
func (s *Service) InvokeAsync(ctx context.Context, name string, payload json.RawMessage) error {
	if err := s.fault(ctx, "Invoke"); err != nil {
		return err
	}
	fn, invoked, apiErr := s.lookup(name)
	if apiErr != nil {
		return apiErr
	}
	if err := s.enqueue(asyncInvocation{fn: fn, invoked: invoked, payload: payload, requestID: newRequestID()}); err != nil {
		return err
	}
	return nil
}

func (s *Service) enqueue(inv asyncInvocation) *core.APIError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &core.APIError{Code: "ServiceException", Message: "sfn-rollout local is shutting down", Status: http.StatusInternalServerError}
	}
	select {
	case s.queue <- inv:
		return nil
	default:
		// Lambda's queue is unbounded; a bounded one says so the way Lambda throttles.
		return &core.APIError{Code: "TooManyRequestsException", Message: "Rate Exceeded.", Status: http.StatusTooManyRequests}
	}
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case inv := <-s.queue:
			s.runAsync(inv)
		}
	}
}

func (s *Service) runAsync(inv asyncInvocation) {
	var last *messages.InvokeResponse_Error
	for attempt := 1; attempt <= asyncAttempts; attempt++ {
		if attempt > 1 {
			if err := s.sleep(s.ctx, s.retryDelay(attempt-1)); err != nil {
				s.report("lambda: %s: asynchronous invocation %s abandoned at shutdown after %d attempts", inv.fn.name, inv.requestID, attempt-1)
				return
			}
		}
		out, err := s.run(s.ctx, inv.fn, inv.invoked, inv.payload, inv.requestID)
		if err != nil {
			s.report("lambda: %s: asynchronous invocation %s abandoned: %v", inv.fn.name, inv.requestID, err)
			return
		}
		if out.err == nil {
			return
		}
		last = out.err
	}
	s.report("lambda: %s: asynchronous invocation %s failed after %d attempts: %s: %s", inv.fn.name, inv.requestID, asyncAttempts, last.Type, last.Message)
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
