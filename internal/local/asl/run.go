package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Error names the engine raises or gives a meaning to in ErrorEquals.
const (
	ErrAll                    = "States.ALL"
	ErrTimeout                = "States.Timeout"
	ErrHeartbeatTimeout       = "States.HeartbeatTimeout"
	ErrTaskFailed             = "States.TaskFailed"
	ErrRuntime                = "States.Runtime"
	ErrDataLimitExceeded      = "States.DataLimitExceeded"
	ErrNoChoiceMatched        = "States.NoChoiceMatched"
	ErrIntrinsicFailure       = "States.IntrinsicFailure"
	ErrResultPathMatchFailure = "States.ResultPathMatchFailure"
	ErrAborted                = "States.Aborted"
)

// MaxPayloadSize is the largest state input, output or task result, in bytes.
const MaxPayloadSize = 262144

// maxExecutionSeconds is how long a Standard execution may run: one year, after which AWS
// times it out (States.Timeout, ExecutionsTimedOut) whatever its TimeoutSeconds says. A year
// is taken as 365 days (unconfirmed: AWS's quota page says "1 year").
const maxExecutionSeconds = 365 * 24 * 60 * 60

// maxWaitSeconds is the longest delay a Wait state accepts. AWS lets a Wait begin that
// outlasts the execution's year (it then times out) but fails one whose delay does not fit
// in a 32-bit count of seconds: 24,855 days waits, 24,856 days fails at once.
const maxWaitSeconds = math.MaxInt32

func runtimeFailure(format string, a ...any) *Failure {
	return &Failure{Name: ErrRuntime, Cause: fmt.Sprintf(format, a...)}
}

var errExecutionTimeout = errors.New("execution timed out")

// Run runs an execution of the definition to its end; see HistoryEvent for what it reports
// to history (which may be nil). It ends with the execution's output, or a Failure: with
// Aborted() (Name States.Aborted) when ctx is cancelled (StopExecution), the caller
// records ABORTED; with TimedOut() once the definition's TimeoutSeconds elapsed, the
// caller records TIMED_OUT; any other Failure is FAILED.
func (d *Definition) Run(ctx context.Context, input json.RawMessage, cx Context, rt Runtime, history func(HistoryEvent)) (json.RawMessage, *Failure) {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	in, err := decodeValue(input)
	if err != nil {
		return nil, runtimeFailure("The execution input is not valid JSON: %v", err)
	}
	if cx.StartTime.IsZero() {
		cx.StartTime = rt.Now()
	}
	e := &execution{rt: rt, cx: cx, input: in, history: history}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timeout := d.timeout
	if timeout <= 0 || timeout > maxExecutionSeconds {
		timeout = maxExecutionSeconds
	}
	timerCtx, stopTimer := context.WithCancel(runCtx)
	defer stopTimer()
	go func() {
		if rt.Sleep(timerCtx, time.Duration(timeout)*time.Second) == nil {
			cancel(errExecutionTimeout)
		}
	}()
	var vars *varScope
	if d.variables {
		vars = newRootScope()
	}
	out, f := e.runMachine(runCtx, d.root, in, vars)
	if f != nil {
		if f.Name == ErrAborted && errors.Is(context.Cause(runCtx), errExecutionTimeout) && ctx.Err() == nil {
			// The cause is local mode's (unconfirmed): AWS's DescribeExecution shows none.
			return nil, &Failure{Name: ErrTimeout, Cause: fmt.Sprintf("The execution timed out after %d seconds", timeout), executionTimeout: true}
		}
		return nil, f
	}
	return encode(out), nil
}

// execution is one run of a definition.
type execution struct {
	rt      Runtime
	cx      Context
	input   any
	history func(HistoryEvent)
	histMu  sync.Mutex
	events  int // reported so far
	randMu  sync.Mutex
}

// emit reports an event and answers its number in the history, counting the caller's
// ExecutionStarted as event 1.
func (e *execution) emit(ev HistoryEvent) int {
	e.histMu.Lock()
	defer e.histMu.Unlock()
	e.events++
	if e.history != nil {
		if ev.Timestamp.IsZero() {
			ev.Timestamp = e.rt.Now()
		}
		e.history(ev)
	}
	return e.events + 1
}

func (e *execution) withRand(fn func(*rand.Rand)) {
	e.randMu.Lock()
	defer e.randMu.Unlock()
	fn(e.rt.Rand())
}

func (e *execution) aborted(ctx context.Context) *Failure {
	cause := "The execution was stopped"
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		cause = err.Error()
	}
	return &Failure{Name: ErrAborted, Cause: cause}
}

// stateRun is what a state's context object ($$) holds besides the execution's part.
type stateRun struct {
	name       string
	entered    time.Time
	retryCount int
	token      string
	mapItem    *mapItem
	vars       *varScope // the variables the state reads and assigns (variables.go)
}

type mapItem struct {
	index int
	value any
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (e *execution) contextObject(sr *stateRun) any {
	execution := map[string]any{
		"Id":           e.cx.ExecutionID,
		"Input":        e.input,
		"Name":         e.cx.ExecutionName,
		"RoleArn":      e.cx.RoleArn,
		"StartTime":    formatTime(e.cx.StartTime),
		"RedriveCount": intValue(int64(e.cx.RedriveCount)),
	}
	// AWS adds RedriveTime only to an execution that was redriven.
	if !e.cx.RedriveTime.IsZero() {
		execution["RedriveTime"] = formatTime(e.cx.RedriveTime)
	}
	co := map[string]any{
		"Execution": execution,
		"State": map[string]any{
			"EnteredTime": formatTime(sr.entered),
			"Name":        sr.name,
			"RetryCount":  intValue(int64(sr.retryCount)),
		},
		"StateMachine": map[string]any{
			"Id":   e.cx.StateMachineID,
			"Name": e.cx.StateMachineName,
		},
	}
	if sr.token != "" {
		co["Task"] = map[string]any{"Token": sr.token}
	}
	if sr.mapItem != nil {
		co["Map"] = map[string]any{"Item": map[string]any{"Index": intValue(int64(sr.mapItem.index)), "Value": sr.mapItem.value}}
	}
	return co
}

// env is the evaluation environment of a state's payloads, paths and intrinsics over input.
func (e *execution) env(input any, sr *stateRun) *evalEnv {
	var co any
	return &evalEnv{
		input: input,
		context: func() any {
			if co == nil {
				co = e.contextObject(sr)
			}
			return co
		},
		rand: e.withRand,
		vars: sr.vars,
	}
}

func (e *execution) runMachine(ctx context.Context, m *machine, input any, vars *varScope) (any, *Failure) {
	name := m.startAt
	for {
		if ctx.Err() != nil {
			return nil, e.aborted(ctx)
		}
		st := m.states[name]
		out, next, f := e.runState(ctx, st, input, vars)
		if f != nil {
			if ctx.Err() != nil {
				switch st.typ {
				case typeTask, typeWait, typeParallel, typeMap:
					e.emit(HistoryEvent{Type: st.typ + "StateAborted", State: st.name})
				}
				return nil, e.aborted(ctx)
			}
			return nil, f
		}
		if next == "" {
			return out, nil
		}
		name, input = next, out
	}
}

// runState runs one state and answers its output and the next state ("" at the end).
func (e *execution) runState(ctx context.Context, st *state, raw any, vars *varScope) (any, string, *Failure) {
	sr := &stateRun{name: st.name, entered: e.rt.Now(), vars: vars}
	var in json.RawMessage
	if e.history != nil {
		in = encode(raw)
	}
	enteredID := e.emit(HistoryEvent{Type: st.typ + "StateEntered", State: st.name, Input: in, Timestamp: sr.entered})
	var (
		out  any
		next = st.next
		f    *Failure
	)
	typ := st.typ
	if st.jx != nil { // a JSONata state (jsonata.go): the JSONPath cases below are skipped
		out, next, f = e.runJSONata(ctx, st, raw, sr)
		typ = ""
	}
	switch typ {
	case typePass:
		out, f = e.pass(st, raw, sr)
	case typeTask:
		out, next, f = e.withRetry(ctx, st, raw, sr, func() (any, *Failure) { return e.taskAttempt(ctx, st, raw, sr) })
	case typeChoice:
		out, next, f = e.choice(st, raw, sr)
	case typeWait:
		out, f = e.wait(ctx, st, raw, sr)
	case typeSucceed:
		next = ""
		if out, f = e.inputPath(st, raw, sr); f == nil {
			out, f = e.outputPath(st, out, sr)
		}
	case typeFail:
		return nil, "", locate(e.fail(st, raw, sr), st.name, enteredID)
	case typeParallel:
		out, next, f = e.withRetry(ctx, st, raw, sr, func() (any, *Failure) { return e.parallelAttempt(ctx, st, raw, sr) })
	case typeMap:
		out, next, f = e.withRetry(ctx, st, raw, sr, func() (any, *Failure) { return e.mapAttempt(ctx, st, raw, sr) })
	}
	if f != nil {
		fresh := f.Name == ErrQueryEvaluation && !f.located // not a branch's, passed on
		f = locate(f, st.name, enteredID)
		if fresh {
			// A JSONata expression that failed and was not caught: AWS's history has an
			// EvaluationFailed event for it ("only present in state machines that have
			// QueryLanguage set to JSONata"), here just before the execution fails; its
			// place and the optional location field are unconfirmed.
			e.emit(HistoryEvent{Type: "EvaluationFailed", State: st.name, Error: f.Name, Cause: f.Cause})
		}
		return nil, "", f
	}
	if st.end && next == st.next {
		next = "" // but a Catcher's Next still leads on from an End state
	}
	encoded := encode(out)
	if len(encoded) > MaxPayloadSize {
		return nil, "", dataLimit(st.name)
	}
	var assigned map[string]json.RawMessage
	if sr.vars != nil && sr.vars.pending != nil {
		if assigned, f = e.commitAssign(sr); f != nil {
			return nil, "", locate(f, st.name, enteredID)
		}
	}
	e.emit(HistoryEvent{Type: st.typ + "StateExited", State: st.name, Output: encoded, Assigned: assigned})
	return out, next, nil
}

// locate names the state in the cause of a States.Runtime failure, as Step Functions does;
// the event id counts the caller's ExecutionStarted as event 1.
func locate(f *Failure, state string, enteredID int) *Failure {
	if f.Name != ErrRuntime && f.Name != ErrQueryEvaluation || f.located {
		return f
	}
	return &Failure{Name: f.Name, Cause: fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", state, enteredID, f.Cause), located: true}
}

// dataLimit is AWS's States.DataLimitExceeded, which names the state but not the size.
func dataLimit(state string) *Failure {
	return &Failure{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", state)}
}

func (e *execution) inputPath(st *state, raw any, sr *stateRun) (any, *Failure) {
	return selectPath(st.inputPath, raw, "InputPath", e, sr)
}

func (e *execution) outputPath(st *state, v any, sr *stateRun) (any, *Failure) {
	return selectPath(st.outputPath, v, "OutputPath", e, sr)
}

func selectPath(op optPath, v any, field string, e *execution, sr *stateRun) (any, *Failure) {
	if op.null {
		return map[string]any{}, nil
	}
	if op.path == nil {
		return v, nil
	}
	root := v
	if op.path.variable != "" {
		return sr.vars.resolve(op.path, field)
	}
	if op.path.context {
		if sr == nil {
			sr = &stateRun{entered: e.rt.Now()}
		}
		root = e.contextObject(sr)
	}
	out, ok := op.path.get(root)
	if !ok {
		return nil, noResults(op.path)
	}
	return out, nil
}

// noResults is AWS's States.Runtime cause for an InputPath, OutputPath or ItemsPath that
// selects nothing: "Invalid path '$.x' : No results for path: $['x']", the second path in
// the normalized form of the JSONPath library behind Step Functions. (That library words a
// missing field in the middle of a path differently; unconfirmed, so this form is used for
// every miss.)
func noResults(p *jsonPath) *Failure {
	return runtimeFailure("Invalid path '%s' : No results for path: %s", p.raw, p.normalized())
}

// resultPath combines the state's raw input with its result.
func resultPath(op optPath, raw, result any) (any, *Failure) {
	if op.null {
		return raw, nil
	}
	if op.path == nil {
		return result, nil
	}
	out, err := op.path.set(raw, result)
	if err != nil {
		return nil, &Failure{Name: ErrResultPathMatchFailure, Cause: fmt.Sprintf("Unable to apply ReferencePath %s to input %s", op.path.raw, encodeString(raw))}
	}
	return out, nil
}

// finish applies ResultSelector, ResultPath and OutputPath to a state's result.
func (e *execution) finish(st *state, raw, result any, sr *stateRun) (any, *Failure) {
	if st.assign != nil {
		if f := e.evalAssign(st.assign, result, sr); f != nil {
			return nil, f
		}
	}
	if st.resultSelector != nil {
		var f *Failure
		result, f = st.resultSelector.eval(e.env(result, sr))
		if f != nil {
			return nil, f
		}
	}
	out, f := resultPath(st.resultPath, raw, result)
	if f != nil {
		return nil, f
	}
	return e.outputPath(st, out, sr)
}

func (e *execution) pass(st *state, raw any, sr *stateRun) (any, *Failure) {
	eff, f := e.inputPath(st, raw, sr)
	if f != nil {
		return nil, f
	}
	result := eff
	if st.hasResult {
		result = st.result
	} else if st.parameters != nil {
		if result, f = st.parameters.eval(e.env(eff, sr)); f != nil {
			return nil, f
		}
	}
	return e.finish(st, raw, result, sr)
}

func (e *execution) choice(st *state, raw any, sr *stateRun) (any, string, *Failure) {
	eff, f := e.inputPath(st, raw, sr)
	if f != nil {
		return nil, "", f
	}
	env := e.env(eff, sr)
	next := st.defaultNext
	var matched *rule
	for _, r := range st.choices {
		ok, f := r.eval(env)
		if f != nil {
			return nil, "", f
		}
		if ok {
			next, matched = r.next, r
			break
		}
	}
	if matched == nil && next == "" {
		return nil, "", &Failure{Name: ErrNoChoiceMatched, Cause: "No Matches!"}
	}
	// The matched rule's Assign, or the state's when Default is taken (as LocalStack's
	// recordings against AWS show; AWS's guide does not say).
	assign := st.assign
	if matched != nil {
		assign = matched.assign
	}
	if assign != nil {
		if f := e.evalAssign(assign, eff, sr); f != nil {
			return nil, "", f
		}
	}
	out, f := e.outputPath(st, eff, sr)
	return out, next, f
}

func (e *execution) wait(ctx context.Context, st *state, raw any, sr *stateRun) (any, *Failure) {
	eff, f := e.inputPath(st, raw, sr)
	if f != nil {
		return nil, f
	}
	env := e.env(eff, sr)
	var d time.Duration
	// The causes below are AWS's: the TimestampPath one as recorded from AWS, the
	// SecondsPath ones as LocalStack words them after AWS (unconfirmed); a value that is
	// not a string is shown as JSON (unconfirmed).
	switch {
	case st.hasSeconds:
		d = time.Duration(st.seconds) * time.Second
	case st.hasTimestamp:
		d = st.timestamp.Sub(e.rt.Now())
	case st.secondsPath != nil:
		v, found := env.lookup(st.secondsPath)
		if !found {
			return nil, runtimeFailure("The SecondsPath parameter does not reference an input value: %s", st.secondsPath.raw)
		}
		n, ok := integer(v)
		if !ok {
			return nil, runtimeFailure("The SecondsPath parameter cannot be parsed as a long value: %s == %s", st.secondsPath.raw, plainText(v))
		}
		if n < 0 {
			return nil, runtimeFailure("The SecondsPath parameter references a negative value: %s == %s", st.secondsPath.raw, plainText(v))
		}
		if n > maxWaitSeconds {
			return nil, waitTooLong()
		}
		d = time.Duration(n) * time.Second
	case st.timestampPath != nil:
		v, found := env.lookup(st.timestampPath)
		if !found {
			// (unconfirmed) worded as SecondsPath's.
			return nil, runtimeFailure("The TimestampPath parameter does not reference an input value: %s", st.timestampPath.raw)
		}
		t, ok := parseTimestamp(v)
		if !ok {
			return nil, runtimeFailure("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s == %s", st.timestampPath.raw, plainText(v))
		}
		d = t.Sub(e.rt.Now())
	}
	if d > maxWaitSeconds*time.Second {
		return nil, waitTooLong()
	}
	if st.assign != nil {
		if f := e.evalAssign(st.assign, eff, sr); f != nil {
			return nil, f
		}
	}
	if d > 0 {
		if err := e.rt.Sleep(ctx, d); err != nil {
			return nil, e.aborted(ctx)
		}
	}
	return e.outputPath(st, eff, sr)
}

// waitTooLong fails a Wait whose delay AWS refuses at once (see maxWaitSeconds). The
// wording is unconfirmed: no record of AWS's message was found.
func waitTooLong() *Failure {
	return runtimeFailure("Wait state delay is too long.")
}

// plainText shows a value in a cause: a string as it is, anything else as JSON.
func plainText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return encodeString(v)
}

func describe(v any, found bool) string {
	if !found {
		return "nothing"
	}
	return encodeString(v)
}

func (e *execution) fail(st *state, raw any, sr *stateRun) *Failure {
	out := &Failure{Name: st.failError, Cause: st.failCause}
	for _, x := range []struct {
		expr  *valueExpr
		field string
		dst   *string
	}{{st.errorPath, "ErrorPath", &out.Name}, {st.causePath, "CausePath", &out.Cause}} {
		if x.expr == nil {
			continue
		}
		env := e.env(raw, sr)
		env.field = x.field
		var v any
		var f *Failure
		if x.expr.call != nil {
			v, f = x.expr.call.eval(env)
		} else {
			v, f = env.resolve(x.expr.path)
		}
		if f != nil {
			return f
		}
		s, ok := v.(string)
		if !ok {
			return runtimeFailure("The value of the field '%s' (%s) must be a string, not %s", x.field, x.expr.raw, encodeString(v))
		}
		*x.dst = s
	}
	return out
}

// withRetry runs attempts of a Task, Parallel or Map state under its Retry and Catch.
func (e *execution) withRetry(ctx context.Context, st *state, raw any, sr *stateRun, attempt func() (any, *Failure)) (any, string, *Failure) {
	counts := make([]int64, len(st.retry))
	for {
		out, f := attempt()
		if f == nil {
			return out, st.next, nil
		}
		if ctx.Err() != nil {
			return nil, "", e.aborted(ctx)
		}
		if i := matchRetrier(st.retry, f); i >= 0 && counts[i] < st.retry[i].maxAttempts {
			d := e.retryDelay(st.retry[i], counts[i])
			counts[i]++
			if err := e.rt.Sleep(ctx, d); err != nil {
				return nil, "", e.aborted(ctx)
			}
			sr.retryCount++
			continue
		}
		for _, c := range st.catch {
			if !errorMatches(c.errorEquals, f) {
				continue
			}
			sr.vars.dropPending() // the state failed: only the Catcher's Assign counts
			if st.jx != nil {
				out, jf := e.jsonataCatch(c, raw, errorOutput(f), sr)
				if jf != nil {
					return nil, "", jf
				}
				return out, c.next, nil
			}
			if c.assign != nil {
				if af := e.evalAssign(c.assign, errorOutput(f), sr); af != nil {
					return nil, "", af
				}
			}
			out, rf := resultPath(c.resultPath, raw, errorOutput(f))
			if rf != nil {
				return nil, "", rf
			}
			return out, c.next, nil
		}
		return nil, "", f
	}
}

// matchRetrier finds the first retrier whose ErrorEquals names the error: only that one
// decides, even when its attempts are spent.
func matchRetrier(rs []*retrier, f *Failure) int {
	for i, r := range rs {
		if errorMatches(r.errorEquals, f) {
			return i
		}
	}
	return -1
}

// errorMatches is ErrorEquals. States.Runtime is never caught nor retried; States.ALL
// does not match States.DataLimitExceeded; States.TaskFailed matches every error but the
// timeouts; States.Timeout also matches States.HeartbeatTimeout.
func errorMatches(names []string, f *Failure) bool {
	if f.Name == ErrRuntime || f.Name == ErrAborted {
		return false
	}
	for _, n := range names {
		switch {
		case n == f.Name:
			return true
		case n == ErrAll && f.Name != ErrDataLimitExceeded:
			return true
		case n == ErrTaskFailed && f.Name != ErrTimeout && f.Name != ErrHeartbeatTimeout && f.Name != ErrDataLimitExceeded:
			return true
		case n == ErrTimeout && f.Name == ErrHeartbeatTimeout:
			return true
		}
	}
	return false
}

// retryDelay is IntervalSeconds × BackoffRate^attempt, capped by MaxDelaySeconds, and with
// JitterStrategy FULL a random share of it.
func (e *execution) retryDelay(r *retrier, attempt int64) time.Duration {
	seconds := r.intervalSeconds * math.Pow(r.backoffRate, float64(attempt))
	if r.maxDelaySeconds > 0 && seconds > r.maxDelaySeconds {
		seconds = r.maxDelaySeconds
	}
	if seconds > 99999999 || math.IsInf(seconds, 0) || math.IsNaN(seconds) {
		seconds = 99999999
	}
	if r.jitterFull {
		e.withRand(func(rnd *rand.Rand) { seconds *= rnd.Float64() })
	}
	return time.Duration(seconds * float64(time.Second))
}

// errorOutput is what a Catcher passes on: {"Error": ..., "Cause": ...}, without Cause when
// there is none.
func errorOutput(f *Failure) any {
	out := map[string]any{"Error": f.Name}
	if f.Cause != "" {
		out["Cause"] = f.Cause
	}
	return out
}

// taskEvents names a task's history events: Lambda function ARNs have their own.
func taskEvents(k resourceKind) (scheduled, started, succeeded, failed, timedOut string) {
	if k == resLambdaFunction {
		return "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut"
	}
	return "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskFailed", "TaskTimedOut"
}

func (e *execution) taskAttempt(ctx context.Context, st *state, raw any, sr *stateRun) (any, *Failure) {
	eff, f := e.inputPath(st, raw, sr)
	if f != nil {
		return nil, f
	}
	sr.token = ""
	if st.resourceKind == resWaitForToken {
		sr.token = e.rt.NewTaskToken()
	}
	env := e.env(eff, sr)
	params := eff
	if st.parameters != nil {
		if params, f = st.parameters.eval(env); f != nil {
			return nil, f
		}
	}
	timeout, f := secondsFrom(env, st.timeoutSeconds, st.timeoutPath, "TimeoutSecondsPath")
	if f != nil {
		return nil, f
	}
	heartbeat, f := secondsFrom(env, st.heartbeatSeconds, st.heartbeatPath, "HeartbeatSecondsPath")
	if f != nil {
		return nil, f
	}
	result, f := e.invokeTask(ctx, st, params, timeout, heartbeat, sr)
	if f != nil {
		return nil, f
	}
	return e.finish(st, raw, result, sr)
}

// invokeTask calls a Task state's resource with its effective parameters and answers the
// decoded result, reporting the task's history events.
func (e *execution) invokeTask(ctx context.Context, st *state, params any, timeout, heartbeat int64, sr *stateRun) (any, *Failure) {
	input := encode(params)
	if len(input) > MaxPayloadSize {
		return nil, dataLimit(st.name)
	}
	call := TaskCall{State: st.name, Resource: st.resource, Input: input, TaskToken: sr.token, TimeoutSeconds: int(timeout), HeartbeatSeconds: int(heartbeat)}
	scheduled, started, succeeded, failed, timedOut := taskEvents(st.resourceKind)
	e.emit(HistoryEvent{Type: scheduled, State: st.name, Input: input, Resource: st.resource})
	e.emit(HistoryEvent{Type: started, State: st.name, Resource: st.resource})
	rawResult, f := e.invoke(ctx, call, timeout)
	if f != nil {
		if ctx.Err() != nil {
			return nil, f
		}
		typ := failed
		if f.Name == ErrTimeout || f.Name == ErrHeartbeatTimeout {
			typ = timedOut
		}
		e.emit(HistoryEvent{Type: typ, State: st.name, Error: f.Name, Cause: f.Cause, Resource: st.resource})
		return nil, f
	}
	if len(rawResult) > MaxPayloadSize {
		f := dataLimit(st.name)
		e.emit(HistoryEvent{Type: failed, State: st.name, Error: f.Name, Cause: f.Cause, Resource: st.resource})
		return nil, f
	}
	var result any
	if len(rawResult) > 0 {
		v, err := decodeValue(rawResult)
		if err != nil {
			f := &Failure{Name: ErrTaskFailed, Cause: fmt.Sprintf("The task result is not JSON: %v", err)}
			e.emit(HistoryEvent{Type: failed, State: st.name, Error: f.Name, Cause: f.Cause, Resource: st.resource})
			return nil, f
		}
		result = v
	} else {
		rawResult = json.RawMessage("null")
	}
	e.emit(HistoryEvent{Type: succeeded, State: st.name, Output: rawResult, Resource: st.resource})
	return result, nil
}

// secondsFrom is TimeoutSeconds/HeartbeatSeconds, or the positive integer their *Path names.
func secondsFrom(env *evalEnv, static int64, path *jsonPath, field string) (int64, *Failure) {
	if path == nil {
		return static, nil
	}
	v, found := env.lookup(path)
	n, ok := integer(v)
	if !found || !ok || n < 1 || n > 99999999 {
		return 0, runtimeFailure("The %s '%s' must name a positive integer, not %s", field, path.raw, describe(v, found))
	}
	return n, nil
}

// invoke calls the runtime, racing a TimeoutSeconds on the runtime's (virtual) clock.
func (e *execution) invoke(ctx context.Context, call TaskCall, timeout int64) (json.RawMessage, *Failure) {
	if timeout <= 0 {
		raw, err := e.rt.Invoke(ctx, call)
		if err != nil {
			return nil, e.taskFailure(ctx, err)
		}
		return raw, nil
	}
	ictx, cancelInvoke := context.WithCancel(ctx)
	defer cancelInvoke()
	type result struct {
		raw json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := e.rt.Invoke(ictx, call)
		done <- result{raw, err}
	}()
	tctx, stopTimer := context.WithCancel(ctx)
	defer stopTimer()
	timer := make(chan error, 1)
	go func() { timer <- e.rt.Sleep(tctx, time.Duration(timeout)*time.Second) }()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, e.taskFailure(ctx, r.err)
		}
		return r.raw, nil
	case err := <-timer:
		if err != nil || ctx.Err() != nil {
			return nil, e.aborted(ctx)
		}
		// AWS's TaskTimedOut/LambdaFunctionTimedOut events, and the execution's failure
		// when nothing catches it, carry States.Timeout and no cause.
		return nil, &Failure{Name: ErrTimeout}
	}
}

func (e *execution) taskFailure(ctx context.Context, err error) *Failure {
	if ctx.Err() != nil {
		return e.aborted(ctx)
	}
	var f *Failure
	if errors.As(err, &f) {
		return &Failure{Name: f.Name, Cause: f.Cause}
	}
	return &Failure{Name: ErrTaskFailed, Cause: err.Error()}
}

// payloadInput is the effective input of a Parallel state: InputPath, then Parameters.
func (e *execution) payloadInput(st *state, raw any, sr *stateRun) (any, *Failure) {
	eff, f := e.inputPath(st, raw, sr)
	if f != nil || st.parameters == nil {
		return eff, f
	}
	return st.parameters.eval(e.env(eff, sr))
}

func (e *execution) parallelAttempt(ctx context.Context, st *state, raw any, sr *stateRun) (any, *Failure) {
	input, f := e.payloadInput(st, raw, sr)
	if f != nil {
		return nil, f
	}
	results, f := e.runBranches(ctx, st, input, sr)
	if f != nil {
		return nil, f
	}
	return e.finish(st, raw, results, sr)
}

// runBranches runs a Parallel state's branches on its effective input.
func (e *execution) runBranches(ctx context.Context, st *state, input any, sr *stateRun) ([]any, *Failure) {
	e.emit(HistoryEvent{Type: "ParallelStateStarted", State: st.name})
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, len(st.branches))
	var (
		mu    sync.Mutex
		first *Failure
		wg    sync.WaitGroup
	)
	for i, b := range st.branches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vars := sr.vars.child()
			defer vars.release()
			out, f := e.runMachine(bctx, b, input, vars)
			if f == nil {
				results[i] = out
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if first == nil && bctx.Err() == nil {
				first = f
				cancel()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, e.aborted(ctx)
	}
	if first != nil {
		e.emit(HistoryEvent{Type: "ParallelStateFailed", State: st.name, Error: first.Name, Cause: first.Cause})
		return nil, first
	}
	e.emit(HistoryEvent{Type: "ParallelStateSucceeded", State: st.name})
	return results, nil
}

func (e *execution) mapAttempt(ctx context.Context, st *state, raw any, sr *stateRun) (any, *Failure) {
	eff, f := e.inputPath(st, raw, sr)
	if f != nil {
		return nil, f
	}
	env := e.env(eff, sr)
	itemsVal := eff
	if st.dist != nil && st.dist.reader != nil {
		if itemsVal, f = st.dist.reader.read(ctx, e.rt, env, nil, env.lookup); f != nil {
			return nil, f
		}
	} else if st.itemsPath != nil {
		v, found := env.lookup(st.itemsPath)
		if !found {
			return nil, noResults(st.itemsPath)
		}
		itemsVal = v
	}
	items, ok := itemsVal.([]any)
	if !ok {
		return nil, runtimeFailure("The Map state's ItemsPath must select an array, not %s: %s", typeName(itemsVal), encodeString(itemsVal))
	}
	limit := st.maxConcurrency
	if st.maxConcurrencyPath != nil {
		v, found := env.lookup(st.maxConcurrencyPath)
		if !found {
			return nil, noResults(st.maxConcurrencyPath)
		}
		// AWS's causes as LocalStack words them after AWS (unconfirmed).
		n, ok := integer(v)
		if !ok {
			return nil, runtimeFailure("The MaxConcurrencyPath field refers to value \"%s\" which is not a valid integer: %s", plainText(v), st.maxConcurrencyPath.raw)
		}
		if n < 0 {
			return nil, runtimeFailure("Expected non-negative integer for MaxConcurrency, got '%d' instead.", n)
		}
		limit = n
	}
	var selector func(i int, item any) (any, *Failure)
	if st.itemSelector != nil {
		selector = func(i int, item any) (any, *Failure) {
			isr := &stateRun{name: sr.name, entered: sr.entered, retryCount: sr.retryCount, mapItem: &mapItem{index: i, value: item}, vars: sr.vars}
			return st.itemSelector.eval(e.env(eff, isr))
		}
	}
	var results any
	if st.dist != nil {
		p, f := st.dist.plan(limit, env.lookup, nil, env)
		if f != nil {
			return nil, f
		}
		to, f := st.dist.writer.target(env, nil)
		if f != nil {
			return nil, f
		}
		results, f = e.runDistributed(ctx, st, items, p, selector, to)
		if f != nil {
			return nil, f
		}
	} else if results, f = e.runItems(ctx, st, items, limit, selector, sr); f != nil {
		return nil, f
	}
	return e.finish(st, raw, results, sr)
}

// runItems runs a Map state's iterations, limit at a time (0: all), each on its item or
// what selector makes of it.
func (e *execution) runItems(ctx context.Context, st *state, items []any, limit int64, selector func(i int, item any) (any, *Failure), sr *stateRun) ([]any, *Failure) {
	if limit <= 0 || limit > int64(len(items)) {
		limit = int64(max(len(items), 1))
	}
	e.emit(HistoryEvent{Type: "MapStateStarted", State: st.name, Length: len(items)})

	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, len(items))
	slots := make(chan struct{}, limit)
	var (
		mu    sync.Mutex
		first *Failure
		wg    sync.WaitGroup
	)
	record := func(f *Failure) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil && ictx.Err() == nil {
			first = f
			cancel()
		}
	}
dispatch:
	for i, item := range items {
		select {
		case slots <- struct{}{}:
		case <-ictx.Done():
			break dispatch
		}
		if ictx.Err() != nil {
			<-slots
			break
		}
		itemInput := item
		if selector != nil {
			v, f := selector(i, item)
			if f != nil {
				<-slots
				record(f)
				break
			}
			itemInput = v
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			e.emit(HistoryEvent{Type: "MapIterationStarted", State: st.name, Index: i})
			vars := sr.vars.child()
			defer vars.release()
			out, f := e.runMachine(ictx, st.processor, itemInput, vars)
			switch {
			case f == nil:
				results[i] = out
				e.emit(HistoryEvent{Type: "MapIterationSucceeded", State: st.name, Index: i})
			case ictx.Err() != nil:
				e.emit(HistoryEvent{Type: "MapIterationAborted", State: st.name, Index: i})
				record(f)
			default:
				e.emit(HistoryEvent{Type: "MapIterationFailed", State: st.name, Index: i, Error: f.Name, Cause: f.Cause})
				record(f)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, e.aborted(ctx)
	}
	if first != nil {
		e.emit(HistoryEvent{Type: "MapStateFailed", State: st.name, Error: first.Name, Cause: first.Cause})
		return nil, first
	}
	e.emit(HistoryEvent{Type: "MapStateSucceeded", State: st.name})
	return results, nil
}
