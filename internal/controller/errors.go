package controller

import (
	"errors"
	"fmt"
	"slices"
)

// The codes below are the errors the controller state machine branches on. The Lambda
// boundary (wiring.Handler) reports an error's code as its errorType, which ASL ErrorEquals
// matches, and rollout records keep it as ErrorName: a code is a name, never renamed.
const (
	// ETransient is worth retrying a few times: a lost optimistic-lock race, or, from the
	// functions that no controller state machine retries (advance, rollback, control),
	// throttling and 5xx.
	ETransient = "Transient"

	// EThrottled is what Prepare, Register and Finalize answer when AWS kept throttling a
	// call (or could not answer it: ErrThrottled) for as long as the invocation could wait.
	// The controller state machine retries it apart from Transient, for as long as the
	// longest rollout deadline: throttling delays a rollout and never fails it.
	EThrottled = "Throttled"

	// EInvalidEvent is an event the handler cannot read.
	EInvalidEvent = "InvalidEvent"

	// EInvalidDefinition is ASL that is not JSON or that Step Functions refuses.
	EInvalidDefinition = "InvalidDefinition"

	// EInvalidPolicy is a policy that does not parse or validate.
	EInvalidPolicy = "InvalidPolicy"

	// EStateMachineNotFound is an upload for a state machine or alias that does not exist.
	EStateMachineNotFound = "StateMachineNotFound"

	// ENotManaged is a state machine without the tag rollout:managed=true.
	ENotManaged = "NotManaged"

	// EAlarmNotFound is a policy naming an alarm that does not exist.
	EAlarmNotFound = "AlarmNotFound"

	// EAlarmFiring is an alarm in ALARM before the rollout, with preexistingAlarms=block.
	EAlarmFiring = "AlarmFiring"

	// ERolloutInProgress is an upload for an alias that another rollout holds, with
	// onBusy=reject.
	ERolloutInProgress = "RolloutInProgress"

	// ENothingToDeploy is an upload whose definition is already the stable version's.
	ENothingToDeploy = "NothingToDeploy"

	// ETestAliasExists is a BLUE_GREEN testAlias that names an alias that exists: the
	// controller moves and deletes only a test alias it created.
	ETestAliasExists = "TestAliasExists"

	// EPreTrafficFailed is a pre-traffic test that did not end as expected.
	EPreTrafficFailed = "PreTrafficFailed"

	// ERolledBack ends the progress wait of a rollout that was rolled back.
	ERolledBack = "RolledBack"

	// EAborted ends the progress wait of a rollout aborted by an operator or a newer upload.
	EAborted = "Aborted"

	// ERolloutFailed ends the progress wait of a rollout that failed (timed out, refused).
	ERolloutFailed = "RolloutFailed"

	// ERolloutNotFound is a rollout id with no record.
	ERolloutNotFound = "RolloutNotFound"

	// ECommandRejected is an operator command that does not fit the rollout's phase.
	ECommandRejected = "CommandRejected"

	// ELockLost is an alias write refused by its fence: the rollout no longer holds the
	// alias's lock, or has begun to give it up. Nothing was written; retrying cannot help.
	ELockLost = "LockLost"

	// EInternal is anything else: a bug or a permanent AWS error. Not retried.
	EInternal = "Internal"
)

// Codes are all the error codes, for the check that the controller's ASL names no other.
var Codes = []string{
	ETransient, EThrottled, EInvalidEvent, EInvalidDefinition, EInvalidPolicy,
	EStateMachineNotFound, ENotManaged, EAlarmNotFound, EAlarmFiring, ERolloutInProgress,
	ENothingToDeploy, ETestAliasExists, EPreTrafficFailed, ERolledBack, EAborted,
	ERolloutFailed, ERolloutNotFound, ECommandRejected, ELockLost, EInternal,
}

// Error is an error the controller state machine can branch on: Code says which, Message
// and Err say what happened.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Message
	case e.Message == "":
		return e.Err.Error()
	}
	return e.Message + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// wrapf returns an Error with the code that wraps err, with a formatted message ("" for
// none).
func wrapf(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode is the code of the outermost Error in err's chain, Internal when it holds none,
// and "" for no error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage is the text of the outermost Error in err's chain (its message and cause,
// without what wraps it), err's text when it holds none, and "" for no error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return err.Error()
}

// FromCode rebuilds an Error from a code and a message, for outcomes read back from a
// record; an unknown code is Internal, with the code in the message.
func FromCode(code, msg string) *Error {
	if slices.Contains(Codes, code) {
		return &Error{Code: code, Message: msg}
	}
	return &Error{Code: EInternal, Message: code + ": " + msg}
}

// transient wraps err as Transient when an adapter marked it retryable or a conditional
// write lost a race, and returns it unchanged otherwise.
func transient(err error) error {
	if err == nil {
		return nil
	}
	if errors.As(err, new(*Error)) {
		return err
	}
	if errors.Is(err, ErrThrottled) || errors.Is(err, ErrConflict) {
		return &Error{Code: ETransient, Err: err}
	}
	return err
}

// retryable reports whether err holds a Transient or Throttled error: worth trying again,
// never a refusal.
func retryable(err error) bool {
	code := ErrorCode(err)
	return code == ETransient || code == EThrottled
}
