// Package asl parses, validates and runs Amazon States Language definitions for the local
// Step Functions: Pass, Task, Choice, Wait, Succeed, Fail, Parallel and Map, Retry and
// Catch, JSONPath and JSONata processing, workflow variables and the common intrinsic
// functions. Anything it does not support is refused when the definition is parsed, with a
// message that names it.
package asl

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"
)

// Diagnostic is one problem of a definition, as ValidateStateMachineDefinition reports it.
type Diagnostic struct {
	Severity string `json:"severity"` // ERROR or WARNING
	Code     string `json:"code"`     // INVALID_JSON_DESCRIPTION, SCHEMA_VALIDATION_FAILED, MISSING_TRANSITION_TARGET, ...
	Message  string `json:"message"`
	Location string `json:"location,omitempty"` // a JSON pointer: /States/pass1/Next
}

// Runtime is what a running execution needs from the Step Functions service around it.
type Runtime interface {
	// Now is the (virtual) time.
	Now() time.Time
	// Sleep waits d of (virtual) time: Wait states, Retry intervals.
	Sleep(ctx context.Context, d time.Duration) error
	// Rand draws MathRandom, UUID and retry jitter, so a seeded runtime repeats. Run draws
	// from it under its own lock, one draw at a time per execution, so each execution's
	// Runtime should return a *rand.Rand of its own.
	Rand() *rand.Rand
	// NewTaskToken makes the token of a .waitForTaskToken task before its Parameters are
	// evaluated ($$.Task.Token).
	NewTaskToken() string
	// Invoke runs a Task state's resource and returns its result. For .waitForTaskToken it
	// invokes the target and then waits for SendTaskSuccess/Failure on the call's token, up
	// to TimeoutSeconds/HeartbeatSeconds. A task that fails returns a *Failure, whose Error
	// is matched by Retry and Catch (e.g. "States.TaskFailed", "States.Timeout", or a
	// Lambda function's errorType); any other error counts as States.TaskFailed with the
	// error's text as its cause. Run also races TimeoutSeconds itself on Sleep and cancels
	// ctx when it elapses; HeartbeatSeconds is the runtime's to enforce.
	Invoke(ctx context.Context, call TaskCall) (json.RawMessage, error)
}

// TaskCall is one invocation of a Task state's resource.
type TaskCall struct {
	State            string
	Resource         string          // as written, with its .waitForTaskToken or .sync:2 suffix
	Input            json.RawMessage // the effective input: after InputPath and Parameters
	TaskToken        string          // set for .waitForTaskToken
	TimeoutSeconds   int             // 0: none (Step Functions' default of 99999999)
	HeartbeatSeconds int
}

// Failure is an error that ASL can catch: a Fail state, a failed task, a runtime error
// (States.Runtime, States.Timeout, States.DataLimitExceeded, ...).
type Failure struct {
	Name  string `json:"Error"` // the error name ErrorEquals matches
	Cause string `json:"Cause"`

	executionTimeout bool
	located          bool // the cause names the state
}

// TimedOut reports whether Run ended because the definition's top-level TimeoutSeconds
// elapsed: the caller records TIMED_OUT (Name is States.Timeout). A task that times out
// and is not caught fails the execution (FAILED) with the same name, so check this, not
// the name.
func (f *Failure) TimedOut() bool { return f != nil && f.executionTimeout }

// Aborted reports whether Run ended because its ctx was cancelled (StopExecution): the
// caller records ABORTED (Name is States.Aborted).
func (f *Failure) Aborted() bool { return f != nil && f.Name == ErrAborted && !f.executionTimeout }

func (f *Failure) Error() string {
	if f.Cause == "" {
		return f.Name
	}
	return f.Name + ": " + f.Cause
}

// Context is the execution's part of the context object ($$).
type Context struct {
	ExecutionID      string    // $$.Execution.Id (the execution ARN)
	ExecutionName    string    // $$.Execution.Name
	StartTime        time.Time // $$.Execution.StartTime
	RoleArn          string    // $$.Execution.RoleArn
	RedriveCount     int       // $$.Execution.RedriveCount: 0 for an execution never redriven
	RedriveTime      time.Time // $$.Execution.RedriveTime: only present after a redrive
	StateMachineID   string    // $$.StateMachine.Id
	StateMachineName string    // $$.StateMachine.Name
}

// HistoryEvent is one entry of an execution's history, reported as it happens.
//
// Run reports, per state type (with AWS's event type names):
//
//	Pass, Choice, Wait, Succeed: <Type>StateEntered (Input), <Type>StateExited (Output)
//	Fail: FailStateEntered (Input); the execution's failure is the caller's event
//	Task: TaskStateEntered, then per attempt TaskScheduled (Input: the parameters,
//	  Resource), TaskStarted, and TaskSucceeded (Output: the raw result) | TaskFailed |
//	  TaskTimedOut (Error, Cause); TaskStateExited (Output) when the state ends or a Catch
//	  takes the error. A Lambda function ARN resource reports LambdaFunctionScheduled,
//	  LambdaFunctionStarted, LambdaFunctionSucceeded | LambdaFunctionFailed |
//	  LambdaFunctionTimedOut instead of the Task* ones, as AWS does.
//	Parallel: ParallelStateEntered, ParallelStateStarted, the branches' events,
//	  ParallelStateSucceeded | ParallelStateFailed, ParallelStateExited
//	Map: MapStateEntered, MapStateStarted (Length), per item MapIterationStarted,
//	  MapIterationSucceeded | MapIterationFailed | MapIterationAborted (Index), the
//	  iterations' events, MapStateSucceeded | MapStateFailed, MapStateExited
//	Distributed Map: MapStateEntered, MapRunStarted (MapRunArn), MapRunSucceeded |
//	  MapRunFailed | MapRunAborted, MapStateExited; the items run as child workflow
//	  executions with histories of their own (see MapRunner)
//	Task, Wait, Parallel, Map states stopped by cancellation: <Type>StateAborted
//	a JSONata expression that failed and was not caught: EvaluationFailed (Error, Cause)
//
// The callback is called from one goroutine at a time, in order, even when Parallel
// branches and Map iterations run concurrently. The causes of States.Runtime failures name
// the StateEntered event by its id, counting the caller's ExecutionStarted as event 1 and
// every reported event after it in order ("... (entered at the event id #4). ...").
type HistoryEvent struct {
	Type      string          // TaskStateEntered, TaskStateExited, TaskScheduled, TaskSucceeded, TaskFailed, ...
	State     string          // the state's name, when there is one
	Input     json.RawMessage // for *Entered, *Scheduled
	Output    json.RawMessage // for *Exited and *Succeeded
	Error     string          // for *Failed, *TimedOut
	Cause     string
	Resource  string // for Task and LambdaFunction events: the resource as written
	Index     int    // for MapIteration*: the item's index
	Length    int    // for MapStateStarted: the number of items
	MapRunArn string // for MapRunStarted
	// Assigned are the variables a state assigned (Assign), each as serialized JSON: for
	// *StateExited of a state that assigned any.
	Assigned  map[string]json.RawMessage
	Timestamp time.Time
}
