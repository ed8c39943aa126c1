package controller

import (
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Envelope is an EventBridge event as targets receive it.
type Envelope = events.EventBridgeEvent

// ObjectCreated is the detail of an S3 "Object Created" event.
type ObjectCreated = topology.ObjectCreatedDetail

// AlarmStateChange is the detail of a "CloudWatch Alarm State Change" event.
type AlarmStateChange struct {
	AlarmName     string          `json:"alarmName"`
	State         AlarmStateValue `json:"state"`
	PreviousState AlarmStateValue `json:"previousState"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// AlarmStateValue is one side of an alarm state change.
type AlarmStateValue struct {
	Value      string `json:"value"`
	Reason     string `json:"reason"`
	ReasonData string `json:"reasonData,omitempty"`
	Timestamp  string `json:"timestamp"`
}

// DecodeObjectCreated reads an EventBridge "Object Created" event.
func DecodeObjectCreated(raw []byte) (Envelope, ObjectCreated, error) {
	return decodeEvent(raw, "aws.s3", "Object Created", func(d ObjectCreated) bool {
		return d.Bucket.Name != "" && d.Object.Key != ""
	}, "bucket name or object key")
}

// DecodeAlarmStateChange reads an EventBridge "CloudWatch Alarm State Change" event.
func DecodeAlarmStateChange(raw []byte) (Envelope, AlarmStateChange, error) {
	return decodeEvent(raw, "aws.cloudwatch", "CloudWatch Alarm State Change", func(d AlarmStateChange) bool {
		return d.AlarmName != "" && d.State.Value != ""
	}, "alarmName or state.value")
}

// decodeEvent reads an EventBridge event of one source and detail-type and its detail, which
// usable tells complete from not (lacking what needs names). Anything else is InvalidEvent.
func decodeEvent[D any](raw []byte, source, detailType string, usable func(D) bool, needs string) (Envelope, D, error) {
	var env Envelope
	var d D
	if err := json.Unmarshal(raw, &env); err != nil {
		return env, d, wrapf(EInvalidEvent, err, "decode event")
	}
	if env.Source != source || env.DetailType != detailType {
		return env, d, Errorf(EInvalidEvent, "event is %q from %q, not %q from %q", env.DetailType, env.Source, detailType, source)
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return env, d, wrapf(EInvalidEvent, err, "decode %s detail", detailType)
	}
	if !usable(d) {
		return env, d, Errorf(EInvalidEvent, "%s event without %s", detailType, needs)
	}
	return env, d, nil
}

// RollbackInput is the rollback function's input: a "CloudWatch Alarm State Change" event,
// or the Continuation of a rollback whose turn was handed over (an object with rolloutId).
// Either is decoded strictly (DecodeAlarmStateChange, DecodeContinuation).
type RollbackInput struct {
	Alarm        *AlarmStateChange
	Continuation *Continuation
}

// UnmarshalJSON decodes either shape; bad input is InvalidEvent, never taken for the other.
func (in *RollbackInput) UnmarshalJSON(raw []byte) error {
	*in = RollbackInput{}
	if isContinuation(raw) {
		cont, err := DecodeContinuation(raw)
		if err != nil {
			return err
		}
		in.Continuation = &cont
		return nil
	}
	_, ev, err := DecodeAlarmStateChange(raw)
	if err != nil {
		return err
	}
	in.Alarm = &ev
	return nil
}

// State is the data of the controller state machine, passed whole to prepare, register and
// finalize. Each task writes its result under its own field (ResultPath).
type State struct {
	// Event is the EventBridge "Object Created" event that started the execution.
	Event json.RawMessage `json:"event"`
	// Execution is $$.Execution.Id, so that a retried Prepare knows its own claim.
	Execution string         `json:"execution"`
	Prepare   *PrepareResult `json:"prepare,omitempty"`
	// PreTraffic holds one result per pre-traffic test, from the PreTraffic Map state.
	PreTraffic []TestResult `json:"preTraffic,omitempty"`
	Progress   *Outcome     `json:"progress,omitempty"`
	// Error is what a Catch caught (ResultPath $.error).
	Error *TaskError `json:"error,omitempty"`
}

// PrepareResult is prepare's answer.
type PrepareResult struct {
	RolloutID string `json:"rolloutId"`
	// Action is "start", "queued" (wait for the alias, then prepare again) or "duplicate".
	Action              string     `json:"action"`
	CandidateVersionArn string     `json:"candidateVersionArn,omitempty"`
	Tests               []TestCase `json:"tests"`
	// TimeoutSeconds bounds the progress wait: the policy's planned duration with margin.
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// Prepare actions.
const (
	ActionStart     = "start"
	ActionQueued    = "queued"
	ActionDuplicate = "duplicate"
)

// TestCase is one pre-traffic test: <sm>/<alias>/tests/<name>.json.
type TestCase struct {
	Name   string          `json:"name"`
	Input  json.RawMessage `json:"input"`
	Expect string          `json:"expect"` // SUCCEEDED (default) or FAILED
}

// TestResult is what the PreTraffic Map state made of one TestCase: the
// startExecution.sync:2 output (Status, ...) or, when the task failed, the caught error.
type TestResult struct {
	Name   string `json:"name"`
	Expect string `json:"expect"`
	Status string `json:"status,omitempty"` // SUCCEEDED, FAILED, TIMED_OUT, ABORTED
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// TaskError is a caught error: {"Error": ..., "Cause": ...}.
type TaskError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// RegisterInput is register's input: the state plus the task token of the wait.
type RegisterInput struct {
	State
	TaskToken string `json:"taskToken"`
	// Wait is "progress" (the rollout runs until it ends) or "turn" (a queued upload waits
	// for the alias to be free).
	Wait string `json:"wait"`
}

// Register waits.
const (
	WaitProgress = "progress"
	WaitTurn     = "turn"
)

// Outcome is how a rollout ended, as the progress wait and finalize report it.
type Outcome struct {
	RolloutID string        `json:"rolloutId"`
	Phase     rollout.Phase `json:"phase"`
	Reason    string        `json:"reason,omitempty"`
}

// Tick is the advance function's input: a sweep schedule's (Sweep), or one rollout's tick
// (RolloutID; a schedule of the first version, one per rollout, or a tick by hand).
type Tick struct {
	RolloutID string      `json:"rolloutId,omitempty"`
	Sweep     *SweepInput `json:"sweep,omitempty"`
}

// ControlRequest is an operator's command, sent to the control function directly or as
// the detail of a "Rollout Control Request" event.
type ControlRequest struct {
	RolloutID string          `json:"rolloutId"`
	Command   rollout.Command `json:"command"`
	Actor     string          `json:"actor"`
	Reason    string          `json:"reason,omitempty"`
	// CommandID names this command: its retries carry the same id, and a rollout applies
	// an id once. The CLI makes one per invocation; when it is absent, the control function
	// takes the EventBridge event's id, else the Lambda request id.
	CommandID string `json:"commandId,omitempty"`
}

// ControlInput is the control function's input: a ControlRequest sent directly, or as the
// detail of a "Rollout Control Request" event, whose id the request takes when it has no
// commandId.
type ControlInput struct {
	Request ControlRequest
}

// UnmarshalJSON decodes either shape; Control validates the request.
func (in *ControlInput) UnmarshalJSON(raw []byte) error {
	req, err := decodeControl(raw)
	if err != nil {
		return err
	}
	in.Request = req
	return nil
}

// Validate checks a request before it touches anything.
func (c ControlRequest) Validate() error {
	if c.RolloutID == "" {
		return Errorf(EInvalidEvent, "control request without rolloutId")
	}
	switch c.Command {
	case rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote,
		rollout.CommandPromoteFull, rollout.CommandAbort, rollout.CommandApprove:
	default:
		return Errorf(EInvalidEvent, "unknown command %q (want pause, resume, promote, promote-full, abort or approve)", c.Command)
	}
	if c.Actor == "" {
		return Errorf(EInvalidEvent, "control request without actor")
	}
	return nil
}

// ControlResult is the control function's answer.
type ControlResult struct {
	RolloutID string          `json:"rolloutId"`
	Phase     rollout.Phase   `json:"phase"`
	Weights   rollout.Weights `json:"weights"`
	Reason    string          `json:"reason,omitempty"`
	CommandID string          `json:"commandId,omitempty"`
}

// Decode reads a function's payload into v, the input of its use case. A payload that does
// not decode is InvalidEvent, with the decoder's error in its chain; an input that decodes
// itself (RollbackInput, ControlInput) returns its own named error. A DeployEvent is
// checked by DecodeDeployEvent: it has no UnmarshalJSON of its own, so that its samples
// can still be decoded field by field (events_test.go).
func Decode(raw []byte, v any) error {
	if ev, ok := v.(*DeployEvent); ok {
		var err error
		*ev, err = DecodeDeployEvent(raw)
		return err
	}
	err := json.Unmarshal(raw, v)
	if err == nil || errors.As(err, new(*Error)) {
		return err
	}
	return wrapf(EInvalidEvent, err, "decode %T", v)
}
