package sfn

import (
	"context"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/asl"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// historyEvent is one entry of an execution's history, kept compact and rendered on demand.
type historyEvent struct {
	typ      string
	state    string
	input    string
	output   string
	errName  string
	cause    string
	resource string
	index    int
	length   int
	assigned map[string]string // StateExited: the variables the state assigned, as JSON
	at       time.Time
}

// record appends an event the ASL run reports; Parallel and Map branches call it
// concurrently.
func (x *execution) record(e asl.HistoryEvent) {
	at := e.Timestamp
	if at.IsZero() {
		at = x.clock.Now()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.status != statusRunning {
		return // the history ends with the execution's terminal event
	}
	resource := e.Resource
	if e.MapRunArn != "" {
		resource = e.MapRunArn // MapRunStarted has no resource: its field holds the Map Run
	}
	var assigned map[string]string
	if len(e.Assigned) > 0 {
		assigned = make(map[string]string, len(e.Assigned))
		for name, v := range e.Assigned {
			assigned[name] = string(v)
		}
	}
	x.history = append(x.history, historyEvent{
		typ:      e.Type,
		state:    e.State,
		input:    string(e.Input),
		output:   string(e.Output),
		errName:  e.Error,
		cause:    e.Cause,
		resource: resource,
		index:    e.Index,
		length:   e.Length,
		assigned: assigned,
		at:       at,
	})
}

type getHistoryInput struct {
	ExecutionArn         *string `json:"executionArn"`
	MaxResults           int32   `json:"maxResults"`
	ReverseOrder         bool    `json:"reverseOrder"`
	NextToken            *string `json:"nextToken"`
	IncludeExecutionData *bool   `json:"includeExecutionData"`
}

func (s *Service) getExecutionHistory(_ context.Context, in *getHistoryInput) (any, *core.APIError) {
	var v violations
	v.length(in.ExecutionArn, "executionArn", 1, 256, true, false)
	v.between(in.MaxResults, "maxResults", 0, 1000)
	v.length(in.NextToken, "nextToken", 1, 3096, false, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	x, e := s.findExecution(in.ExecutionArn)
	if e != nil {
		return nil, e
	}
	withData := in.IncludeExecutionData == nil || *in.IncludeExecutionData
	x.mu.Lock()
	events := make([]map[string]any, len(x.history))
	for i, h := range x.history {
		events[i] = x.render(i+1, h, withData)
	}
	x.mu.Unlock()
	if in.ReverseOrder {
		for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
			events[i], events[j] = events[j], events[i]
		}
	}
	page, next, e := paginate(events, func(ev map[string]any) uint64 { return uint64(ev["id"].(int)) }, in.ReverseOrder, in.MaxResults, "history", in.NextToken)
	if e != nil {
		return nil, e
	}
	return struct {
		Events    []map[string]any `json:"events"`
		NextToken *string          `json:"nextToken,omitempty"`
	}{page, next}, nil
}

// render is one event as GetExecutionHistory answers it; x.mu is held.
func (x *execution) render(id int, h historyEvent, withData bool) map[string]any {
	ev := map[string]any{"id": id, "previousEventId": id - 1, "timestamp": stamp(h.at), "type": h.typ}
	data := func(d map[string]any, key, value string) map[string]any {
		if withData {
			d[key] = value
		}
		d[key+"Details"] = map[string]any{"truncated": false}
		return d
	}
	// AWS leaves out an error or cause there is none of, rather than sending "".
	failure := func() map[string]any {
		d := map[string]any{}
		if h.errName != "" {
			d["error"] = h.errName
		}
		if h.cause != "" {
			d["cause"] = h.cause
		}
		return d
	}
	resourceType, resource := splitResource(h.resource)
	task := func(d map[string]any) map[string]any {
		d["resourceType"], d["resource"] = resourceType, resource
		return d
	}
	switch t := h.typ; {
	case t == "ExecutionStarted":
		d := data(map[string]any{"roleArn": x.rev.roleArn}, "input", h.input)
		if x.versionArn != "" {
			d["stateMachineVersionArn"] = x.versionArn
		}
		if x.aliasArn != "" {
			d["stateMachineAliasArn"] = x.aliasArn
		}
		ev["executionStartedEventDetails"] = d
	case t == "ExecutionSucceeded":
		ev["executionSucceededEventDetails"] = data(map[string]any{}, "output", h.output)
	case t == "ExecutionFailed":
		ev["executionFailedEventDetails"] = failure()
	case t == "ExecutionAborted":
		ev["executionAbortedEventDetails"] = failure()
	case t == "ExecutionTimedOut":
		ev["executionTimedOutEventDetails"] = failure()
	case strings.HasSuffix(t, "StateEntered"):
		ev["stateEnteredEventDetails"] = data(map[string]any{"name": h.state}, "input", h.input)
	case strings.HasSuffix(t, "StateExited"):
		d := data(map[string]any{"name": h.state}, "output", h.output)
		if len(h.assigned) > 0 {
			// Sensitive like the output: left out when the caller asks for no data. The
			// details' truncated is "always false for API calls".
			if withData {
				d["assignedVariables"] = h.assigned
			}
			d["assignedVariablesDetails"] = map[string]any{"truncated": false}
		}
		ev["stateExitedEventDetails"] = d
	case t == "TaskScheduled":
		d := task(map[string]any{"region": core.Region})
		if withData {
			d["parameters"] = h.input
		}
		ev["taskScheduledEventDetails"] = d
	case t == "TaskStarted":
		ev["taskStartedEventDetails"] = task(map[string]any{})
	case t == "TaskSubmitted":
		ev["taskSubmittedEventDetails"] = task(data(map[string]any{}, "output", h.output))
	case t == "TaskSucceeded":
		ev["taskSucceededEventDetails"] = task(data(map[string]any{}, "output", h.output))
	case t == "TaskFailed":
		ev["taskFailedEventDetails"] = task(failure())
	case t == "TaskTimedOut":
		ev["taskTimedOutEventDetails"] = task(failure())
	case t == "LambdaFunctionScheduled":
		ev["lambdaFunctionScheduledEventDetails"] = data(map[string]any{"resource": h.resource}, "input", h.input)
	case t == "LambdaFunctionSucceeded":
		ev["lambdaFunctionSucceededEventDetails"] = data(map[string]any{}, "output", h.output)
	case t == "LambdaFunctionFailed":
		ev["lambdaFunctionFailedEventDetails"] = failure()
	case t == "LambdaFunctionTimedOut":
		ev["lambdaFunctionTimedOutEventDetails"] = failure()
	case strings.HasPrefix(t, "MapIteration"):
		ev["m"+t[1:]+"EventDetails"] = map[string]any{"name": h.state, "index": h.index}
	case t == "MapStateStarted":
		ev["mapStateStartedEventDetails"] = map[string]any{"length": h.length}
	case t == "MapRunStarted":
		ev["mapRunStartedEventDetails"] = map[string]any{"mapRunArn": h.resource}
	case t == "MapRunFailed":
		ev["mapRunFailedEventDetails"] = failure()
	case t == "EvaluationFailed":
		ev["evaluationFailedEventDetails"] = map[string]any{"error": h.errName, "cause": h.cause, "state": h.state}
	}
	return ev
}

// splitResource turns a Task resource into history's resourceType and resource:
// arn:aws:states:::lambda:invoke.waitForTaskToken → lambda, invoke.waitForTaskToken.
func splitResource(r string) (string, string) {
	if rest, ok := strings.CutPrefix(r, "arn:aws:states:::"); ok {
		if typ, res, ok := strings.Cut(rest, ":"); ok {
			return typ, res
		}
	}
	if strings.HasPrefix(r, "arn:aws:lambda:") {
		return "lambda", r
	}
	return "", r
}
