package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/asl"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Express state machines, as the Step Functions developer guide describes them ("Choosing
// workflow type", "Execution guarantees", "Synchronous and Asynchronous Express Workflows"):
//
//   - StartExecution is asynchronous and at-least-once: a name is not unique (starting the
//     same name twice runs twice), so the execution ARN carries an id of its own,
//     arn:aws:states:<region>:<account>:express:<stateMachine>:<name>:<id>;
//   - StartSyncExecution runs one and answers its outcome (at-most-once);
//   - Step Functions keeps no execution history: DescribeExecution, GetExecutionHistory,
//     StopExecution and DescribeStateMachineForExecution do not take an express execution
//     ARN, and ListExecutions does not take an Express state machine;
//   - an execution lasts at most five minutes;
//   - only the Request Response integration pattern: no .sync, no .waitForTaskToken;
//   - no "Step Functions Execution Status Change" events (EventBridge delivers them for
//     Standard workflows only); AWS/States execution metrics are published as for Standard.

const (
	expressArnTop      = arnPrefix + "express:"
	maxExpressDuration = 5 * time.Minute
	// msgTypeNotSupported is StateMachineTypeNotSupported's message, as accounts report it
	// for ListExecutions on an Express state machine.
	msgTypeNotSupported = "This operation is not supported by this type of state machine"
	// Express executions are billed in 100 ms increments and 64 MB of memory at least; the
	// billingDetails AWS answers for a Pass-only workflow are 100 ms and 64 MB.
	billedIncrement = 100 * time.Millisecond
	billedMemoryMB  = 64
)

// errExpressLimit cancels an express execution that reached its five minutes.
var errExpressLimit = errors.New("the execution reached the EXPRESS maximum duration of five minutes")

func expressExecutionArn(machine, name, id string) string {
	return expressArnTop + machine + ":" + name + ":" + id
}

// expressPattern names a Task resource's integration pattern that Express workflows do not
// support, as AWS's message spells it ('.sync' for .sync and .sync:2), or "".
func expressPattern(resource string) string {
	if !strings.HasPrefix(resource, "arn:aws:states:::") {
		return ""
	}
	switch _, mode := splitMode(resource); mode {
	case modeSync, modeSync2:
		return ".sync"
	case modeToken:
		return ".waitForTaskToken"
	}
	return ""
}

// expressProblems lists the Task states of a definition that use an integration pattern
// Express workflows refuse, in every branch and iterator, ordered by location. A definition
// that is not JSON has none here: the ASL checks report it.
func expressProblems(definition string) []asl.Diagnostic {
	var root map[string]any
	if json.Unmarshal([]byte(definition), &root) != nil {
		return nil
	}
	var out []asl.Diagnostic
	var walk func(machine map[string]any, loc string)
	walk = func(machine map[string]any, loc string) {
		states, _ := machine["States"].(map[string]any)
		for name, v := range states {
			st, _ := v.(map[string]any)
			at := loc + "/States/" + name
			switch st["Type"] {
			case "Task":
				resource, _ := st["Resource"].(string)
				if p := expressPattern(resource); p != "" {
					out = append(out, asl.Diagnostic{
						Severity: "ERROR",
						Code:     asl.CodeSchema,
						Message:  "Express state machine does not support '" + p + "' service integration",
						Location: at + "/Resource",
					})
				}
			case "Parallel":
				branches, _ := st["Branches"].([]any)
				for i, b := range branches {
					if m, ok := b.(map[string]any); ok {
						walk(m, at+"/Branches/"+strconv.Itoa(i))
					}
				}
			case "Map":
				for _, field := range []string{"ItemProcessor", "Iterator"} {
					if m, ok := st[field].(map[string]any); ok {
						walk(m, at+"/"+field)
					}
				}
			}
		}
	}
	walk(root, "")
	slices.SortFunc(out, func(a, b asl.Diagnostic) int { return strings.Compare(a.Location, b.Location) })
	return out
}

// expressDefinitionProblem refuses, with InvalidDefinition, a definition an Express state
// machine cannot run. The wording follows AWS's SCHEMA_VALIDATION_FAILED messages; the
// exact text AWS answers for this case is unconfirmed.
func expressDefinitionProblem(definition string) *core.APIError {
	diags := expressProblems(definition)
	if len(diags) == 0 {
		return nil
	}
	return apiError(codeInvalidDefinition, "%s", asl.FormatInvalid(diags))
}

// loggingConfiguration is CreateStateMachine's and UpdateStateMachine's
// loggingConfiguration, as far as it is checked.
type loggingConfiguration struct {
	Level                *string           `json:"level"`
	IncludeExecutionData *bool             `json:"includeExecutionData"`
	Destinations         []json.RawMessage `json:"destinations"`
}

// loggingProblem checks a logging configuration as Step Functions does: a level of the
// enum, and exactly one destination unless the level is OFF (or absent, which is OFF). An
// Express state machine takes the same configuration; the API does not require logging.
func loggingProblem(raw json.RawMessage) *core.APIError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c loggingConfiguration
	if err := json.Unmarshal(raw, &c); err != nil {
		return apiError("SerializationException", "loggingConfiguration: %v", err)
	}
	var v violations
	v.enum(c.Level, "loggingConfiguration.level", "ALL", "ERROR", "FATAL", "OFF")
	if e := v.err(); e != nil {
		return e
	}
	level := deref(c.Level)
	if len(c.Destinations) > 1 || (level != "" && level != "OFF" && len(c.Destinations) == 0) {
		return apiError("InvalidLoggingConfiguration", "Invalid Logging Configuration: Must specify exactly one Log Destination.")
	}
	return nil
}

// expressDeadline ends an express execution that reaches five minutes of virtual time:
// run records it TIMED_OUT.
func (s *Service) expressDeadline(x *execution) {
	// Until the start plus five minutes, not five minutes from whenever this goroutine
	// runs: on a loaded machine it may start late, and a fast clock would let a longer
	// Wait end first.
	if s.clock.Until(x.ctx, x.start.Add(maxExpressDuration)) == nil {
		x.cancel(errExpressLimit)
	}
}

type startSyncExecutionInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
	Name            *string `json:"name"`
	Input           *string `json:"input"`
	TraceHeader     *string `json:"traceHeader"`
	IncludedData    *string `json:"includedData"`
}

type billingDetails struct {
	BilledMemoryUsedInMB         int64 `json:"billedMemoryUsedInMB"`
	BilledDurationInMilliseconds int64 `json:"billedDurationInMilliseconds"`
}

type startSyncExecutionOutput struct {
	ExecutionArn    string         `json:"executionArn"`
	StateMachineArn string         `json:"stateMachineArn"`
	Name            string         `json:"name"`
	StartDate       *epoch         `json:"startDate"`
	StopDate        *epoch         `json:"stopDate"`
	Status          string         `json:"status"`
	Error           *string        `json:"error,omitempty"`
	Cause           *string        `json:"cause,omitempty"`
	Input           string         `json:"input"`
	InputDetails    *dataDetails   `json:"inputDetails"`
	Output          *string        `json:"output,omitempty"`
	OutputDetails   *dataDetails   `json:"outputDetails"`
	TraceHeader     *string        `json:"traceHeader,omitempty"`
	BillingDetails  billingDetails `json:"billingDetails"`
}

// startSyncExecution runs an Express execution and answers its outcome: 200 whatever the
// status (SUCCEEDED, FAILED, TIMED_OUT), as AWS does; errors are kept for what stops the
// execution from running. A version or alias ARN is resolved as StartExecution resolves it
// (the API reference names only "the state machine": unconfirmed). The SDKs send it to the host "sync-<endpoint host>"; the endpoint
// routes by X-Amz-Target and answers on any host.
func (s *Service) startSyncExecution(ctx context.Context, in *startSyncExecutionInput) (any, *core.APIError) {
	var v violations
	v.enum(in.IncludedData, "includedData", "ALL_DATA", "METADATA_ONLY")
	if e := v.err(); e != nil {
		return nil, e
	}
	x, e := s.startAs(startExecutionInput{StateMachineArn: in.StateMachineArn, Name: in.Name, Input: in.Input, TraceHeader: in.TraceHeader}, true)
	if e != nil {
		return nil, e
	}
	select {
	case <-x.closed:
	case <-ctx.Done():
		// The caller is gone; the execution runs on (there is nobody to answer).
		return nil, &core.APIError{Code: "RequestCanceled", Message: "the caller went away", Status: 499}
	}
	snap := x.snapshot()
	if snap.status == statusAborted {
		// Only the endpoint's Close aborts an express execution.
		return nil, &core.APIError{Code: "ServiceUnavailable", Message: errClosed.Error(), Status: 503}
	}
	billed := snap.stop.Sub(x.start)
	billed = max(billedIncrement, (billed+billedIncrement-1)/billedIncrement*billedIncrement)
	out := startSyncExecutionOutput{
		ExecutionArn:    x.arn,
		StateMachineArn: x.machine,
		Name:            x.name,
		StartDate:       stamp(x.start),
		StopDate:        stamp(snap.stop),
		Status:          snap.status,
		Error:           snap.errName,
		Cause:           snap.cause,
		Input:           x.input,
		InputDetails:    &dataDetails{Included: true},
		Output:          snap.output,
		OutputDetails:   &dataDetails{Included: true},
		TraceHeader:     in.TraceHeader,
		BillingDetails:  billingDetails{BilledMemoryUsedInMB: billedMemoryMB, BilledDurationInMilliseconds: billed.Milliseconds()},
	}
	return out, nil
}
