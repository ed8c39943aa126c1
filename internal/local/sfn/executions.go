package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/asl"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

type execution struct {
	arn, name  string
	machine    string // the plain state machine ARN
	machineNm  string
	versionArn string // set for version and alias starts
	version    int
	aliasArn   string // set for alias starts
	alias      string
	express    bool    // an Express execution: no history kept, no events, five minutes at most
	mapRun     *mapRun // set for a child workflow execution of a Distributed Map (mapruns.go)
	itemCount  int     // the items a child workflow execution processes
	rev        *revision
	clock      *core.Clock
	input      string
	start      time.Time
	seq        uint64
	ctx        context.Context
	cancel     context.CancelCauseFunc
	closed     chan struct{} // closed once the execution has ended and its events and metrics are out

	mu      sync.Mutex
	status  string
	stop    time.Time
	output  *string
	errName *string
	cause   *string
	history []historyEvent
	tokens  []string
}

// snapshot is an execution's state at one moment, read under its lock.
type snapshot struct {
	status         string
	stop           time.Time
	output         *string
	errName, cause *string
}

func (x *execution) snapshot() snapshot {
	x.mu.Lock()
	defer x.mu.Unlock()
	return snapshot{x.status, x.stop, x.output, x.errName, x.cause}
}

type startExecutionInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
	Name            *string `json:"name"`
	Input           *string `json:"input"`
	TraceHeader     *string `json:"traceHeader"`
}

type startExecutionOutput struct {
	ExecutionArn string `json:"executionArn"`
	StartDate    *epoch `json:"startDate"`
}

func (s *Service) startExecution(_ context.Context, in *startExecutionInput) (any, *core.APIError) {
	x, _, e := s.start(*in)
	if e != nil {
		return nil, e
	}
	return startExecutionOutput{ExecutionArn: x.arn, StartDate: stamp(x.start)}, nil
}

// start starts an execution: on the plain ARN the latest revision, on a version ARN that
// version, on an alias ARN a version drawn by the weights. replay is true when an identical
// running execution answered instead (StartExecution is idempotent while a Standard
// execution runs; an Express one is never replayed).
func (s *Service) start(in startExecutionInput) (x *execution, replay bool, e *core.APIError) {
	return s.startExecutionAs(in, false)
}

// startAs is StartSyncExecution's start: the state machine must be EXPRESS.
func (s *Service) startAs(in startExecutionInput, sync bool) (*execution, *core.APIError) {
	x, _, e := s.startExecutionAs(in, sync)
	return x, e
}

func (s *Service) startExecutionAs(in startExecutionInput, sync bool) (x *execution, replay bool, e *core.APIError) {
	var v violations
	v.length(in.StateMachineArn, "stateMachineArn", 1, 256, true, false)
	v.length(in.Name, "name", 1, 80, false, false)
	v.length(in.Input, "input", 0, maxPayloadLength, false, true)
	v.length(in.TraceHeader, "traceHeader", 0, 256, false, false)
	if e := v.err(); e != nil {
		return nil, false, e
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, false, e
	}
	if in.Name != nil && !validName(*in.Name) {
		return nil, false, apiError(codeInvalidName, msgInvalidName, *in.Name)
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if err := checkJSON(input); err != nil {
		return nil, false, apiError(codeInvalidInput, "Invalid State Machine Execution Input: '%v'", err)
	}

	x, old, seed, e := s.admit(in, ref, input, sync)
	if e != nil {
		return nil, false, e
	}
	if old != nil {
		if old.snapshot().status == statusRunning && old.input == input {
			return old, true, nil
		}
		return nil, false, apiError(codeExecutionExists, msgExecutionExists, old.arn)
	}

	// RUNNING is announced before the execution can end, so events keep their order.
	s.announce(x, snapshot{status: statusRunning})
	s.metric(x, "ExecutionsStarted", 1, unitCount)
	go s.run(x, seed)
	return x, false, nil
}

// admit makes the execution StartExecution asked for, under s.mu: the state machine, version
// or alias it names, its name and ARN, its place among the executions. old is the Standard
// execution that already holds the name, which the caller compares outside s.mu.
func (s *Service) admit(in startExecutionInput, ref machineRef, input string, sync bool) (x *execution, old *execution, seed uint64, e *core.APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, 0, &core.APIError{Code: "ServiceUnavailable", Message: errClosed.Error(), Status: 503}
	}
	m := s.machineLocked(ref)
	if m == nil {
		return nil, nil, 0, machineMissing(ref.arn)
	}
	if sync && m.typ != typeExpress {
		return nil, nil, 0, apiError(codeTypeNotSupported, msgTypeNotSupported)
	}
	x = &execution{machine: m.arn, machineNm: m.name, rev: m.rev, clock: s.clock, input: input, status: statusRunning, closed: make(chan struct{}), express: m.typ == typeExpress}
	switch {
	case ref.isVersion():
		ver := m.versions[ref.version]
		if ver == nil {
			return nil, nil, 0, machineMissing(ref.arn)
		}
		x.rev, x.versionArn, x.version = ver.rev, ver.arn, ver.number
	case ref.isAlias():
		a := m.aliases[ref.qualifier]
		if a == nil {
			return nil, nil, 0, machineMissing(ref.arn)
		}
		r := a.draw(s.routing.IntN(100))
		ver := m.versions[r.number]
		x.rev, x.versionArn, x.version = ver.rev, ver.arn, ver.number
		x.aliasArn, x.alias = a.arn, a.name
	}
	if in.Name != nil {
		x.name = *in.Name
	} else {
		x.name = s.newIDLocked()
	}
	x.arn = executionArn(m.name, x.name)
	if x.express {
		// At-least-once: a name may run any number of times, each its own execution.
		x.arn = expressExecutionArn(m.name, x.name, s.newIDLocked())
	} else if held := s.executions[x.arn]; held != nil {
		return nil, held, 0, nil // the caller compares it, outside s.mu
	}
	s.seq++
	x.seq = s.seq
	x.start = s.clock.Now()
	x.ctx, x.cancel = context.WithCancelCause(s.root)
	x.history = []historyEvent{{typ: "ExecutionStarted", input: input, at: x.start}}
	if !x.express {
		// Step Functions keeps no history of Express executions: nothing to describe or list.
		s.executions[x.arn] = x
		s.byMachine[m.name] = append(s.byMachine[m.name], x)
	}
	s.wg.Add(1)
	return x, nil, s.rng.Uint64(), nil
}

func checkJSON(s string) error {
	var v any
	return json.Unmarshal([]byte(s), &v)
}

// run executes the ASL to its end and records the outcome.
func (s *Service) run(x *execution, seed uint64) {
	defer s.wg.Done()
	defer x.cancel(errFinished)
	if x.express {
		go s.expressDeadline(x)
	}
	prog, err := x.rev.program()
	if err != nil {
		s.finish(x, statusFailed, nil, ptr("States.Runtime"), ptr(err.Error()))
		return
	}
	rt := &execRuntime{s: s, x: x, rng: newLockedRand(seed)}
	cx := asl.Context{
		ExecutionID:      x.arn,
		ExecutionName:    x.name,
		StartTime:        x.start,
		RoleArn:          x.rev.roleArn,
		StateMachineID:   x.machine,
		StateMachineName: x.machineNm,
	}
	out, fail := prog.Run(x.ctx, json.RawMessage(x.input), cx, rt, x.record)
	if errors.Is(context.Cause(x.ctx), errClosed) {
		s.finishQuietly(x)
		return
	}
	status, output, errName, cause := outcome(x, out, fail)
	s.finish(x, status, output, errName, cause)
}

// outcome is how an execution's run ended, as DescribeExecution reports it.
func outcome(x *execution, out json.RawMessage, fail *asl.Failure) (status string, output, errName, cause *string) {
	switch {
	case fail != nil && errors.Is(context.Cause(x.ctx), errExpressLimit):
		return statusTimedOut, nil, ptr("States.Timeout"), ptr(errExpressLimit.Error())
	case fail.TimedOut():
		return statusTimedOut, nil, ptr(truncate(fail.Name, maxErrorLength)), ptr(truncate(fail.Cause, maxCauseLength))
	case fail.Aborted():
		return statusAborted, nil, nil, nil // StopExecution has already recorded it
	case fail != nil:
		return statusFailed, nil, ptr(truncate(fail.Name, maxErrorLength)), ptr(truncate(fail.Cause, maxCauseLength))
	}
	o := string(out)
	if o == "" {
		o = "null"
	}
	return statusSucceeded, &o, nil, nil
}

var terminalEvent = map[string]string{
	statusSucceeded: "ExecutionSucceeded",
	statusFailed:    "ExecutionFailed",
	statusAborted:   "ExecutionAborted",
	statusTimedOut:  "ExecutionTimedOut",
}

// finish moves a running execution to a terminal status, once, and emits its effects. It
// answers false when the execution had already ended.
func (s *Service) finish(x *execution, status string, output, errName, cause *string) bool {
	if !s.close(x, status, output, errName, cause) {
		return false
	}
	// Whoever waits for the end (StartSyncExecution, a .sync parent) sees its metrics too.
	defer close(x.closed)
	snap := x.snapshot()
	s.announce(x, snap)
	s.metric(x, "ExecutionsStarted", 0, unitCount) // AWS emits it twice: 1, then 0
	s.metric(x, map[string]string{
		statusSucceeded: "ExecutionsSucceeded",
		statusFailed:    "ExecutionsFailed",
		statusAborted:   "ExecutionsAborted",
		statusTimedOut:  "ExecutionsTimedOut",
	}[status], 1, unitCount)
	s.metric(x, "ExecutionTime", float64(snap.stop.Sub(x.start).Milliseconds()), unitMilliseconds)
	if status != statusSucceeded {
		via := ""
		if x.version > 0 {
			via = " v" + strconv.Itoa(x.version)
		}
		if x.alias != "" {
			via += " via " + x.alias
		}
		s.report("execution %s:%s %s%s %s", x.machineNm, x.name, status, via, deref(errName))
	}
	return true
}

// finishQuietly ends an execution the endpoint's Close stopped: no events, no metrics.
func (s *Service) finishQuietly(x *execution) {
	if s.close(x, statusAborted, nil, nil, nil) {
		close(x.closed)
	}
}

func (s *Service) close(x *execution, status string, output, errName, cause *string) bool {
	tokens, ok := x.end(s.clock.Now(), status, output, errName, cause)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tokens {
		if tok := s.tokens[t]; tok != nil {
			tok.state = tokenClosed
		}
	}
	if !x.express {
		s.finished = append(s.finished, x)
		s.forgetLocked()
	}
	return true
}

// end records a running execution's terminal status and event, and answers its task
// tokens; false when it had already ended.
func (x *execution) end(at time.Time, status string, output, errName, cause *string) (tokens []string, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.status != statusRunning {
		return nil, false
	}
	ev := historyEvent{typ: terminalEvent[status], at: at}
	if output != nil {
		ev.output = *output
	}
	ev.errName, ev.cause = deref(errName), deref(cause)
	errName, cause = nonEmpty(errName), nonEmpty(cause) // AWS leaves out an empty error or cause
	if status == statusTimedOut && !x.express {
		// AWS's DescribeExecution (and so the status change event) of a timed-out
		// execution has neither error nor cause: States.Timeout is only in the
		// ExecutionTimedOut history event. An Express execution has neither of those, and
		// its StartSyncExecution answer names the error (unconfirmed).
		errName, cause = nil, nil
	}
	x.status, x.stop, x.output, x.errName, x.cause = status, ev.at, output, errName, cause
	x.history = append(x.history, ev)
	return slices.Clone(x.tokens), true
}

// taskTokens are the task tokens the execution handed out.
func (x *execution) taskTokens() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.tokens)
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// abort stops a running execution (ABORTED); its goroutine sees the cancellation.
func (s *Service) abort(x *execution, errName, cause *string) {
	if s.finish(x, statusAborted, nil, errName, cause) {
		x.cancel(errStopped)
	}
}

// announce emits the EventBridge "Step Functions Execution Status Change" event, which
// Step Functions sends for Standard workflows only.
func (s *Service) announce(x *execution, snap snapshot) {
	if s.opts.Bus == nil || x.express {
		return
	}
	d := statusDetail{
		ExecutionArn:           x.arn,
		StateMachineArn:        x.machine,
		Name:                   x.name,
		Status:                 snap.status,
		StartDate:              x.start.UnixMilli(),
		Input:                  &x.input,
		InputDetails:           &dataDetails{Included: true},
		Output:                 snap.output,
		Error:                  snap.errName,
		Cause:                  snap.cause,
		StateMachineVersionArn: x.versionArn,
		StateMachineAliasArn:   x.aliasArn,
		RedriveStatus:          notRedrivable,
		RedriveStatusReason:    redriveUnsupportedCause,
	}
	if !snap.stop.IsZero() {
		d.StopDate = ptr(snap.stop.UnixMilli())
	}
	if snap.output != nil {
		d.OutputDetails = &dataDetails{Included: true}
	}
	detail, _ := json.Marshal(d)
	at := snap.stop
	if at.IsZero() {
		at = x.start
	}
	_ = s.opts.Bus.Emit(s.root, core.Event{
		Source:     eventSource,
		DetailType: eventDetailType,
		Resources:  []string{x.arn},
		Detail:     detail,
		Time:       at,
	})
}

type dataDetails struct {
	Included bool `json:"included"`
}

type statusDetail struct {
	ExecutionArn           string       `json:"executionArn"`
	StateMachineArn        string       `json:"stateMachineArn"`
	Name                   string       `json:"name"`
	Status                 string       `json:"status"`
	StartDate              int64        `json:"startDate"`
	StopDate               *int64       `json:"stopDate"`
	Input                  *string      `json:"input"`
	InputDetails           *dataDetails `json:"inputDetails"`
	Output                 *string      `json:"output"`
	OutputDetails          *dataDetails `json:"outputDetails"`
	Error                  *string      `json:"error"`
	Cause                  *string      `json:"cause"`
	StateMachineVersionArn string       `json:"stateMachineVersionArn,omitempty"`
	StateMachineAliasArn   string       `json:"stateMachineAliasArn,omitempty"`
	RedriveCount           int          `json:"redriveCount"`
	RedriveDate            *int64       `json:"redriveDate"`
	RedriveStatus          string       `json:"redriveStatus"`
	RedriveStatusReason    string       `json:"redriveStatusReason"`
}

// metric puts one AWS/States datum under every dimension set the execution counts in:
// {StateMachineArn}; {StateMachineArn, Version} for version and alias starts;
// {StateMachineArn, Alias} for alias starts.
//
// What the dimensions hold: the Step Functions developer guide ("Dimensions for executions
// with version" and "... with alias") names them StateMachineArn ("the state machine whose
// execution was started by a version/an alias"), Version ("state machine version used to
// start the execution") and Alias ("state machine alias used to start the execution").
// The guide shows no values; here StateMachineArn is the plain ARN, Version the version
// number ("3", the last field of the version ARN) — or, with Options.VersionDimensionArn,
// the whole version ARN, the other form AWS may write — and Alias the alias name ("prod").
// The controller's CloudWatch adapter finds either form (unconfirmed against a live account).
func (s *Service) metric(x *execution, name string, value float64, unit string) {
	if s.opts.Metrics == nil {
		return
	}
	now := s.clock.Now()
	data := []core.Datum{{
		Namespace:  metricsNamespace,
		Name:       name,
		Dimensions: map[string]string{"StateMachineArn": x.machine},
		Value:      value,
		Unit:       unit,
		Time:       now,
	}}
	if x.version > 0 {
		version := strconv.Itoa(x.version)
		if s.opts.VersionDimensionArn {
			version = x.machine + ":" + version
		}
		data = append(data, core.Datum{
			Namespace:  metricsNamespace,
			Name:       name,
			Dimensions: map[string]string{"StateMachineArn": x.machine, "Version": version},
			Value:      value,
			Unit:       unit,
			Time:       now,
		})
	}
	if x.alias != "" {
		data = append(data, core.Datum{
			Namespace:  metricsNamespace,
			Name:       name,
			Dimensions: map[string]string{"StateMachineArn": x.machine, "Alias": x.alias},
			Value:      value,
			Unit:       unit,
			Time:       now,
		})
	}
	s.opts.Metrics.Put(s.root, data...)
}

// throttledArn counts a refused StartExecution (the local stand-in for AWS's throttled
// state transitions) as ExecutionThrottled under the state machine.
func (s *Service) throttledArn(arn string) {
	if s.opts.Metrics == nil {
		return
	}
	ref, e := parseMachineArn(arn)
	if e != nil || ref.foreign {
		return
	}
	s.opts.Metrics.Put(s.root, core.Datum{
		Namespace:  metricsNamespace,
		Name:       "ExecutionThrottled",
		Dimensions: map[string]string{"StateMachineArn": ref.plain()},
		Value:      1,
		Unit:       unitCount,
		Time:       s.clock.Now(),
	})
}

type executionArnInput struct {
	ExecutionArn *string `json:"executionArn"`
	IncludedData *string `json:"includedData"`
}

// executionLocked finds an execution by its ARN.
func (s *Service) executionLocked(arn *string) (*execution, *core.APIError) {
	if e := parseExecutionArn(*arn); e != nil {
		return nil, e
	}
	x := s.executions[*arn]
	if x == nil {
		return nil, apiError(codeExecutionMissing, msgExecutionMissing, *arn)
	}
	return x, nil
}

func (s *Service) findExecution(arn *string) (*execution, *core.APIError) {
	var v violations
	v.length(arn, "executionArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.executionLocked(arn)
}

type describeExecutionOutput struct {
	ExecutionArn           string       `json:"executionArn"`
	StateMachineArn        string       `json:"stateMachineArn"`
	Name                   string       `json:"name"`
	Status                 string       `json:"status"`
	StartDate              *epoch       `json:"startDate"`
	StopDate               *epoch       `json:"stopDate,omitempty"`
	Input                  string       `json:"input"`
	InputDetails           *dataDetails `json:"inputDetails"`
	Output                 *string      `json:"output,omitempty"`
	OutputDetails          *dataDetails `json:"outputDetails,omitempty"`
	Error                  *string      `json:"error,omitempty"`
	Cause                  *string      `json:"cause,omitempty"`
	StateMachineVersionArn string       `json:"stateMachineVersionArn,omitempty"`
	StateMachineAliasArn   string       `json:"stateMachineAliasArn,omitempty"`
	RedriveCount           int          `json:"redriveCount"`
	RedriveStatus          string       `json:"redriveStatus"`
	RedriveStatusReason    string       `json:"redriveStatusReason"`
	MapRunArn              string       `json:"mapRunArn,omitempty"`
}

func (x *execution) describe() describeExecutionOutput {
	snap := x.snapshot()
	out := describeExecutionOutput{
		ExecutionArn:           x.arn,
		StateMachineArn:        x.machine,
		Name:                   x.name,
		Status:                 snap.status,
		StartDate:              stamp(x.start),
		StopDate:               stamp(snap.stop),
		Input:                  x.input,
		InputDetails:           &dataDetails{Included: true},
		Output:                 snap.output,
		Error:                  snap.errName,
		Cause:                  snap.cause,
		StateMachineVersionArn: x.versionArn,
		StateMachineAliasArn:   x.aliasArn,
		RedriveStatus:          notRedrivable,
		RedriveStatusReason:    redriveUnsupportedCause,
	}
	if x.mapRun != nil {
		out.MapRunArn = x.mapRun.arn
	}
	if snap.output != nil {
		out.OutputDetails = &dataDetails{Included: true}
	}
	return out
}

func (s *Service) describeExecution(_ context.Context, in *executionArnInput) (any, *core.APIError) {
	x, e := s.findExecution(in.ExecutionArn)
	if e != nil {
		return nil, e
	}
	return x.describe(), nil
}

type listExecutionsInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
	StatusFilter    *string `json:"statusFilter"`
	MaxResults      int32   `json:"maxResults"`
	NextToken       *string `json:"nextToken"`
	MapRunArn       *string `json:"mapRunArn"`
	RedriveFilter   *string `json:"redriveFilter"`
}

type executionItem struct {
	ExecutionArn           string `json:"executionArn"`
	StateMachineArn        string `json:"stateMachineArn"`
	Name                   string `json:"name"`
	Status                 string `json:"status"`
	StartDate              *epoch `json:"startDate"`
	StopDate               *epoch `json:"stopDate,omitempty"`
	StateMachineVersionArn string `json:"stateMachineVersionArn,omitempty"`
	StateMachineAliasArn   string `json:"stateMachineAliasArn,omitempty"`
	RedriveCount           int    `json:"redriveCount"`
	MapRunArn              string `json:"mapRunArn,omitempty"` // only when listed by mapRunArn
	ItemCount              *int   `json:"itemCount,omitempty"` // only when listed by mapRunArn
}

// listExecutions lists newest first; a version ARN lists the executions that ran that
// version (started through it or routed to it by an alias), an alias ARN those started
// through the alias.
func (s *Service) listExecutions(_ context.Context, in *listExecutionsInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineArn, "stateMachineArn", 1, 256, false, false)
	v.enum(in.StatusFilter, "statusFilter", statusRunning, statusSucceeded, statusFailed, statusTimedOut, statusAborted, "PENDING_REDRIVE")
	v.between(in.MaxResults, "maxResults", 0, 1000)
	v.length(in.NextToken, "nextToken", 1, 3096, false, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if in.StateMachineArn == nil && in.MapRunArn == nil {
		return nil, apiError(codeValidation, "Must provide a StateMachine ARN or MapRun ARN")
	}
	if in.StateMachineArn != nil && in.MapRunArn != nil {
		return nil, apiError(codeValidation, "Must provide either a StateMachine ARN or a MapRun ARN, not both") // (unconfirmed)
	}
	var (
		matched []*execution
		e       *core.APIError
	)
	if in.MapRunArn != nil {
		matched, e = s.mapRunChildren(*in.MapRunArn)
	} else {
		matched, e = s.machineExecutions(*in.StateMachineArn)
	}
	if e != nil {
		return nil, e
	}
	if f := deref(in.StatusFilter); f != "" {
		matched = slices.DeleteFunc(matched, func(x *execution) bool { return x.snapshot().status != f })
	}
	page, next, e := paginate(matched, func(x *execution) uint64 { return x.seq }, true, in.MaxResults, "executions", in.NextToken)
	if e != nil {
		return nil, e
	}
	items := make([]executionItem, 0, len(page))
	for _, x := range page {
		snap := x.snapshot()
		item := executionItem{
			ExecutionArn:           x.arn,
			StateMachineArn:        x.machine,
			Name:                   x.name,
			Status:                 snap.status,
			StartDate:              stamp(x.start),
			StopDate:               stamp(snap.stop),
			StateMachineVersionArn: x.versionArn,
			StateMachineAliasArn:   x.aliasArn,
		}
		if in.MapRunArn != nil {
			item.MapRunArn, item.ItemCount = *in.MapRunArn, ptr(x.itemCount)
		}
		items = append(items, item)
	}
	return struct {
		Executions []executionItem `json:"executions"`
		NextToken  *string         `json:"nextToken,omitempty"`
	}{items, next}, nil
}

// machineExecutions lists a state machine's executions newest first: a version ARN those
// that ran that version, an alias ARN those started through the alias.
func (s *Service) machineExecutions(arn string) ([]*execution, *core.APIError) {
	ref, e := parseMachineArn(arn)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machineLocked(ref)
	if m == nil {
		return nil, machineMissing(ref.arn)
	}
	if m.typ == typeExpress {
		return nil, apiError(codeTypeNotSupported, msgTypeNotSupported)
	}
	all := s.byMachine[ref.name]
	matched := make([]*execution, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		x := all[i]
		switch {
		case ref.isVersion() && x.versionArn != ref.arn:
			continue
		case ref.isAlias() && x.aliasArn != ref.arn:
			continue
		}
		matched = append(matched, x)
	}
	return matched, nil
}

type stopExecutionInput struct {
	ExecutionArn *string `json:"executionArn"`
	Error        *string `json:"error"`
	Cause        *string `json:"cause"`
}

func (s *Service) stopExecution(_ context.Context, in *stopExecutionInput) (any, *core.APIError) {
	var v violations
	v.length(in.ExecutionArn, "executionArn", 1, 256, true, false)
	v.length(in.Error, "error", 0, maxErrorLength, false, true)
	v.length(in.Cause, "cause", 0, maxCauseLength, false, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	x, e := s.findExecution(in.ExecutionArn)
	if e != nil {
		return nil, e
	}
	s.abort(x, in.Error, in.Cause)
	return struct {
		StopDate *epoch `json:"stopDate"`
	}{stamp(x.snapshot().stop)}, nil
}

func (s *Service) describeStateMachineForExecution(_ context.Context, in *executionArnInput) (any, *core.APIError) {
	x, e := s.findExecution(in.ExecutionArn)
	if e != nil {
		return nil, e
	}
	rev := x.rev
	var mapRunArn, label string
	if x.mapRun != nil {
		mapRunArn, label = x.mapRun.arn, x.mapRun.label
	}
	return struct {
		StateMachineArn      string          `json:"stateMachineArn"`
		Name                 string          `json:"name"`
		Definition           string          `json:"definition"`
		RoleArn              string          `json:"roleArn"`
		UpdateDate           *epoch          `json:"updateDate"`
		LoggingConfiguration json.RawMessage `json:"loggingConfiguration"`
		TracingConfiguration json.RawMessage `json:"tracingConfiguration"`
		RevisionID           string          `json:"revisionId,omitempty"`
		MapRunArn            string          `json:"mapRunArn,omitempty"`
		Label                string          `json:"label,omitempty"`
	}{x.machine, x.machineNm, rev.definition, rev.roleArn, stamp(rev.date), loggingOf(rev), tracingOf(rev), rev.id, mapRunArn, label}, nil
}

// forgetLocked drops the oldest finished executions beyond KeepFinished, a tenth of the
// bound at a time so that the per-machine lists are rebuilt rarely.
func (s *Service) forgetLocked() {
	keep := s.opts.KeepFinished
	if len(s.finished) <= keep+keep/10 {
		return
	}
	drop := s.finished[:len(s.finished)-keep]
	gone := make(map[*execution]bool, len(drop))
	for _, x := range drop {
		gone[x] = true
		delete(s.executions, x.arn)
		for _, run := range s.mapRunsByExecution[x.arn] {
			delete(s.mapRuns, run.arn)
		}
		delete(s.mapRunsByExecution, x.arn)
		for _, t := range x.taskTokens() {
			delete(s.tokens, t)
		}
	}
	s.finished = append([]*execution(nil), s.finished[len(drop):]...)
	for name, list := range s.byMachine {
		kept := make([]*execution, 0, len(list))
		for _, x := range list {
			if !gone[x] {
				kept = append(kept, x)
			}
		}
		s.byMachine[name] = kept
	}
}
