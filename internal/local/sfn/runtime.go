package sfn

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/asl"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// The Task resources executions can call.
const (
	lambdaInvoke   = "arn:aws:states:::lambda:invoke"
	startExecution = "arn:aws:states:::states:startExecution"
	lambdaArnStart = "arn:aws:lambda:"
)

// execRuntime is what one execution's ASL run needs from the service: the virtual clock, a
// seeded random source, task tokens and the Task resources.
type execRuntime struct {
	s   *Service
	x   *execution
	rng *rand.Rand
}

var _ asl.Runtime = (*execRuntime)(nil)

func (rt *execRuntime) Now() time.Time { return rt.s.clock.Now() }

func (rt *execRuntime) Sleep(ctx context.Context, d time.Duration) error {
	return rt.s.clock.Sleep(ctx, d)
}

func (rt *execRuntime) Rand() *rand.Rand { return rt.rng }

// lockedSource makes a *rand.Rand safe to share: in math/rand/v2 a Rand holds no state
// of its own besides its Source.
type lockedSource struct {
	mu  sync.Mutex
	src rand.Source
}

func (l *lockedSource) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Uint64()
}

func newLockedRand(seed uint64) *rand.Rand {
	return rand.New(&lockedSource{src: rand.NewPCG(seed, seed^0x7a5c70c3)})
}

type tokenState int

const (
	tokenOpen     tokenState = iota
	tokenAnswered            // SendTaskSuccess/Failure arrived; the task has not taken it yet
	tokenClosed              // answered and taken, timed out, or its execution ended
)

type taskToken struct {
	state  tokenState
	answer chan taskAnswer // capacity 1: an answer never blocks its sender
	beat   chan struct{}   // capacity 1
}

type taskAnswer struct {
	output json.RawMessage
	fail   *asl.Failure
}

// NewTaskToken registers a token before the task's target is invoked, so that a target that
// answers at once (an in-process function calling SendTaskSuccess) is not lost.
func (rt *execRuntime) NewTaskToken() string {
	s := rt.s
	s.mu.Lock()
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], s.rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], s.rng.Uint64())
	binary.BigEndian.PutUint64(b[16:], s.seq)
	s.seq++
	token := "AQB" + base64.RawURLEncoding.EncodeToString(b[:])
	tok := &taskToken{answer: make(chan taskAnswer, 1), beat: make(chan struct{}, 1)}
	s.tokens[token] = tok
	s.mu.Unlock()

	rt.x.mu.Lock()
	running := rt.x.status == statusRunning
	if running {
		rt.x.tokens = append(rt.x.tokens, token)
	}
	rt.x.mu.Unlock()
	if !running {
		rt.s.closeToken(token)
	}
	return token
}

func (s *Service) closeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok := s.tokens[token]; tok != nil {
		tok.state = tokenClosed
	}
}

// Invoke runs one Task: a Lambda function ARN, lambda:invoke, or states:startExecution, each
// with .waitForTaskToken; startExecution also with .sync and .sync:2.
func (rt *execRuntime) Invoke(ctx context.Context, call asl.TaskCall) (json.RawMessage, error) {
	base, mode := splitMode(call.Resource)
	var deadline <-chan time.Time
	if call.TimeoutSeconds > 0 {
		t := time.NewTimer(rt.s.clock.Real(time.Duration(call.TimeoutSeconds) * time.Second))
		defer t.Stop()
		deadline = t.C
	}
	var target func(ctx context.Context) (json.RawMessage, error)
	switch {
	case base == lambdaInvoke:
		target = func(ctx context.Context) (json.RawMessage, error) { return rt.lambdaInvoke(ctx, call.Input) }
	case strings.HasPrefix(base, lambdaArnStart) && mode == "":
		target = func(ctx context.Context) (json.RawMessage, error) { return rt.lambda(ctx, base, call.Input) }
	case base == startExecution && (mode == "" || mode == modeToken):
		target = func(context.Context) (json.RawMessage, error) {
			x, err := rt.startChild(call.Input)
			if err != nil {
				return nil, err
			}
			return json.Marshal(map[string]any{"ExecutionArn": x.arn, "StartDate": x.start.UnixMilli()})
		}
	case base == startExecution && (mode == modeSync || mode == modeSync2):
		return rt.runChild(ctx, call.Input, mode == modeSync2, deadline)
	default:
		return nil, &asl.Failure{Name: "States.Runtime", Cause: "sfn-rollout local does not support the Task resource '" + call.Resource + "'"}
	}
	if mode != modeToken {
		return withDeadline(ctx, deadline, target)
	}
	if call.TaskToken == "" {
		return nil, &asl.Failure{Name: "States.Runtime", Cause: "a .waitForTaskToken task has no task token"}
	}
	if _, err := withDeadline(ctx, deadline, target); err != nil {
		rt.s.closeToken(call.TaskToken)
		return nil, err
	}
	return rt.awaitToken(ctx, call, deadline)
}

const (
	modeToken = "waitForTaskToken"
	modeSync  = "sync"
	modeSync2 = "sync:2"
)

// splitMode splits "arn:aws:states:::lambda:invoke.waitForTaskToken" into the resource and
// its integration pattern.
func splitMode(resource string) (string, string) {
	for _, mode := range []string{modeToken, modeSync2, modeSync} {
		if base, ok := strings.CutSuffix(resource, "."+mode); ok && strings.HasPrefix(resource, "arn:aws:states:::") {
			return base, mode
		}
	}
	return resource, ""
}

var errTaskAbandoned = errors.New("task abandoned")

// withDeadline runs a call, giving up at the Task's TimeoutSeconds with States.Timeout.
func withDeadline(ctx context.Context, deadline <-chan time.Time, f func(context.Context) (json.RawMessage, error)) (json.RawMessage, error) {
	if deadline == nil {
		return f(ctx)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(errTaskAbandoned)
	type result struct {
		out json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := f(ctx)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-deadline:
		return nil, &asl.Failure{Name: "States.Timeout"}
	case <-ctx.Done():
		return nil, stopped(ctx)
	}
}

// stopped is the failure of a task whose execution was stopped; the execution's status is
// already set, so the name only has to end the run.
func stopped(ctx context.Context) *asl.Failure {
	return &asl.Failure{Name: "States.Aborted", Cause: context.Cause(ctx).Error()}
}

// awaitToken waits for SendTaskSuccess/Failure on the call's token, with HeartbeatSeconds
// between heartbeats and TimeoutSeconds in all.
func (rt *execRuntime) awaitToken(ctx context.Context, call asl.TaskCall, deadline <-chan time.Time) (json.RawMessage, error) {
	s := rt.s
	s.mu.Lock()
	tok := s.tokens[call.TaskToken]
	s.mu.Unlock()
	if tok == nil {
		return nil, &asl.Failure{Name: "States.Runtime", Cause: "unknown task token"}
	}
	defer s.closeToken(call.TaskToken)
	var heartbeat <-chan time.Time
	var hb *time.Timer
	interval := rt.s.clock.Real(time.Duration(call.HeartbeatSeconds) * time.Second)
	if call.HeartbeatSeconds > 0 {
		hb = time.NewTimer(interval)
		defer hb.Stop()
		heartbeat = hb.C
	}
	for {
		select {
		case a := <-tok.answer:
			if a.fail != nil {
				return nil, a.fail
			}
			return a.output, nil
		case <-tok.beat:
			if hb != nil {
				hb.Reset(interval)
			}
		case <-heartbeat:
			// States.HeartbeatTimeout, which a Catch or Retry of States.Timeout also matches.
			return nil, &asl.Failure{Name: "States.HeartbeatTimeout", Cause: "no heartbeat within HeartbeatSeconds (" + strconv.Itoa(call.HeartbeatSeconds) + ")"}
		case <-deadline:
			return nil, &asl.Failure{Name: "States.Timeout"}
		case <-ctx.Done():
			return nil, stopped(ctx)
		}
	}
}

// lambda invokes an in-process function by its ARN: the result is the function's own.
func (rt *execRuntime) lambda(ctx context.Context, function string, payload json.RawMessage) (json.RawMessage, error) {
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	functions := rt.s.opts.Functions
	if functions == nil {
		return nil, &asl.Failure{Name: "Lambda.ResourceNotFoundException", Cause: "Function not found: " + function}
	}
	out, ferr, err := functions.Invoke(ctx, function, payload)
	switch {
	case ctx.Err() != nil:
		return nil, stopped(ctx)
	case err != nil:
		return nil, invokeFailure(err)
	case ferr != nil:
		name := ferr.Type
		if name == "" {
			name = "Lambda.Unknown"
		}
		cause, _ := json.Marshal(map[string]string{"errorMessage": ferr.Message, "errorType": ferr.Type})
		return nil, &asl.Failure{Name: name, Cause: string(cause)}
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	return out, nil
}

// invokeFailure names an error of the Invoke call itself as Step Functions does, "Lambda."
// and Lambda's error code: Lambda.TooManyRequestsException for a function at its
// concurrency limit (which the controller's definition retries), Lambda.ResourceNotFoundException
// for a missing function. An error without a code is taken for a missing function.
func invokeFailure(err error) *asl.Failure {
	var apiErr *core.APIError
	if errors.As(err, &apiErr) {
		return &asl.Failure{Name: "Lambda." + apiErr.Code, Cause: apiErr.Message}
	}
	return &asl.Failure{Name: "Lambda.ResourceNotFoundException", Cause: err.Error()}
}

// lambdaInvoke is arn:aws:states:::lambda:invoke: Parameters {FunctionName, Payload,
// InvocationType?}; the result wraps the function's in {"Payload", "StatusCode", ...}.
func (rt *execRuntime) lambdaInvoke(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var p struct {
		FunctionName   string          `json:"FunctionName"`
		Payload        json.RawMessage `json:"Payload"`
		InvocationType string          `json:"InvocationType"`
	}
	if err := json.Unmarshal(input, &p); err != nil || p.FunctionName == "" {
		return nil, &asl.Failure{Name: "States.Runtime", Cause: "lambda:invoke needs Parameters with a FunctionName"}
	}
	if p.InvocationType == "Event" {
		if rt.s.opts.Functions == nil {
			return nil, &asl.Failure{Name: "Lambda.ResourceNotFoundException", Cause: "Function not found: " + p.FunctionName}
		}
		payload := p.Payload
		if len(payload) == 0 {
			payload = json.RawMessage("{}")
		}
		if err := rt.s.opts.Functions.InvokeAsync(ctx, p.FunctionName, payload); err != nil {
			return nil, invokeFailure(err)
		}
		return lambdaResult(json.RawMessage(`""`), 202)
	}
	out, err := rt.lambda(ctx, p.FunctionName, p.Payload)
	if err != nil {
		return nil, err
	}
	return lambdaResult(out, 200)
}

func lambdaResult(payload json.RawMessage, status int) (json.RawMessage, error) {
	return json.Marshal(map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         payload,
		"SdkHttpMetadata": map[string]any{
			"HttpHeaders":    map[string]string{"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"},
			"HttpStatusCode": status,
		},
		"SdkResponseMetadata": map[string]any{"RequestId": "00000000-0000-0000-0000-000000000000"},
		"StatusCode":          status,
	})
}

// startChild starts states:startExecution's execution: Parameters {StateMachineArn, Input,
// Name}. Input may be a JSON value or a string holding JSON.
func (rt *execRuntime) startChild(input json.RawMessage) (*execution, error) {
	var p struct {
		StateMachineArn *string         `json:"StateMachineArn"`
		Input           json.RawMessage `json:"Input"`
		Name            *string         `json:"Name"`
	}
	if err := json.Unmarshal(input, &p); err != nil || p.StateMachineArn == nil {
		return nil, &asl.Failure{Name: "States.Runtime", Cause: "states:startExecution needs Parameters with a StateMachineArn"}
	}
	in := startExecutionInput{StateMachineArn: p.StateMachineArn, Name: p.Name}
	if len(p.Input) > 0 && string(p.Input) != "null" {
		var text string
		if json.Unmarshal(p.Input, &text) == nil {
			in.Input = &text
		} else {
			in.Input = ptr(string(p.Input))
		}
	}
	x, _, e := rt.s.start(in)
	if e != nil {
		code := e.Code
		if !strings.HasSuffix(code, "Exception") {
			code += "Exception"
		}
		return nil, &asl.Failure{Name: "StepFunctions." + code, Cause: e.Message}
	}
	return x, nil
}

// runChild is startExecution.sync and .sync:2: start the child and wait for it. The result
// is its DescribeExecution (with Input and Output as JSON for .sync:2); a child that does
// not succeed fails the task with States.TaskFailed and that description as the cause.
func (rt *execRuntime) runChild(ctx context.Context, input json.RawMessage, parsed bool, deadline <-chan time.Time) (json.RawMessage, error) {
	child, err := rt.startChild(input)
	if err != nil {
		return nil, err
	}
	select {
	case <-child.closed:
	case <-deadline:
		rt.s.abort(child, nil, ptr("the parent's task timed out"))
		return nil, &asl.Failure{Name: "States.Timeout"}
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), errClosed) {
			rt.s.abort(child, nil, ptr("the parent execution stopped"))
		}
		return nil, stopped(ctx)
	}
	d := child.describe()
	out := map[string]any{
		"ExecutionArn":    d.ExecutionArn,
		"StateMachineArn": d.StateMachineArn,
		"Name":            d.Name,
		"Status":          d.Status,
		"StartDate":       child.start.UnixMilli(),
		"StopDate":        child.snapshot().stop.UnixMilli(),
		"Input":           d.Input,
		"InputDetails":    map[string]bool{"Included": true},
		"RedriveCount":    0,
		"RedriveStatus":   notRedrivable,
	}
	if parsed {
		out["Input"] = json.RawMessage(d.Input)
	}
	if d.Output != nil {
		out["Output"] = *d.Output
		if parsed {
			out["Output"] = json.RawMessage(*d.Output)
		}
		out["OutputDetails"] = map[string]bool{"Included": true}
	}
	if d.Error != nil {
		out["Error"] = *d.Error
	}
	if d.Cause != nil {
		out["Cause"] = *d.Cause
	}
	if d.StateMachineVersionArn != "" {
		out["StateMachineVersionArn"] = d.StateMachineVersionArn
	}
	if d.StateMachineAliasArn != "" {
		out["StateMachineAliasArn"] = d.StateMachineAliasArn
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, &asl.Failure{Name: "States.Runtime", Cause: err.Error()}
	}
	if d.Status != statusSucceeded {
		return nil, &asl.Failure{Name: "States.TaskFailed", Cause: string(b)}
	}
	return b, nil
}

type sendTaskSuccessInput struct {
	TaskToken *string `json:"taskToken"`
	Output    *string `json:"output"`
}

type sendTaskFailureInput struct {
	TaskToken *string `json:"taskToken"`
	Error     *string `json:"error"`
	Cause     *string `json:"cause"`
}

// answer hands an answer to the task waiting on a token: an unknown token is InvalidToken,
// one already answered or timed out is TaskTimedOut.
func (s *Service) answer(token string, a *taskAnswer) *core.APIError {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[token]
	if tok == nil {
		return apiError(codeInvalidToken, "Invalid Token: 'Invalid token'")
	}
	if tok.state != tokenOpen {
		return apiError(codeTaskTimedOut, msgTaskGone)
	}
	if a == nil { // a heartbeat
		select {
		case tok.beat <- struct{}{}:
		default:
		}
		return nil
	}
	tok.state = tokenAnswered
	tok.answer <- *a
	return nil
}

func (s *Service) sendTaskSuccess(_ context.Context, in *sendTaskSuccessInput) (any, *core.APIError) {
	var v violations
	v.length(in.TaskToken, "taskToken", 1, 2048, true, false)
	v.length(in.Output, "output", 0, maxPayloadLength, true, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	if err := checkJSON(*in.Output); err != nil {
		return nil, apiError(codeInvalidOutput, "Invalid Output: '%v'", err)
	}
	if e := s.answer(*in.TaskToken, &taskAnswer{output: json.RawMessage(*in.Output)}); e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

func (s *Service) sendTaskFailure(_ context.Context, in *sendTaskFailureInput) (any, *core.APIError) {
	var v violations
	v.length(in.TaskToken, "taskToken", 1, 2048, true, false)
	v.length(in.Error, "error", 0, maxErrorLength, false, true)
	v.length(in.Cause, "cause", 0, maxCauseLength, false, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	fail := &asl.Failure{Name: deref(in.Error), Cause: deref(in.Cause)}
	if e := s.answer(*in.TaskToken, &taskAnswer{fail: fail}); e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

func (s *Service) sendTaskHeartbeat(_ context.Context, in *struct {
	TaskToken *string `json:"taskToken"`
}) (any, *core.APIError) {
	var v violations
	v.length(in.TaskToken, "taskToken", 1, 2048, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.answer(*in.TaskToken, nil); e != nil {
		return nil, e
	}
	return struct{}{}, nil
}
