package controller

import (
	"errors"
	"fmt"
	"reflect"
)

// The errors below are the ones the controller state machine branches on. aws-lambda-go
// reports the Go type name of a returned error as errorType, which ASL ErrorEquals matches,
// so each is its own type and Named hands the outermost one to the Lambda runtime.

// Transient is worth retrying a few times: a lost optimistic-lock race, or, from the
// functions that no controller state machine retries (advance, rollback, control),
// throttling and 5xx.
type Transient struct{ cause }

// Throttled is what Prepare, Register and Finalize answer when AWS kept throttling a call
// (or could not answer it: ErrThrottled) for as long as the invocation could wait. The
// controller state machine retries it apart from Transient, for as long as the longest
// rollout deadline: throttling delays a rollout and never fails it.
type Throttled struct{ cause }

// InvalidEvent is an event the handler cannot read.
type InvalidEvent struct{ cause }

// InvalidDefinition is ASL that is not JSON or that Step Functions refuses.
type InvalidDefinition struct{ cause }

// InvalidPolicy is a policy that does not parse or validate.
type InvalidPolicy struct{ cause }

// StateMachineNotFound is an upload for a state machine or alias that does not exist.
type StateMachineNotFound struct{ cause }

// NotManaged is a state machine without the tag rollout:managed=true.
type NotManaged struct{ cause }

// AlarmNotFound is a policy naming an alarm that does not exist.
type AlarmNotFound struct{ cause }

// AlarmFiring is an alarm in ALARM before the rollout, with preexistingAlarms=block.
type AlarmFiring struct{ cause }

// RolloutInProgress is an upload for an alias that another rollout holds, with onBusy=reject.
type RolloutInProgress struct{ cause }

// NothingToDeploy is an upload whose definition is already the stable version's.
type NothingToDeploy struct{ cause }

// TestAliasExists is a BLUE_GREEN testAlias that names an alias that exists: the
// controller moves and deletes only a test alias it created.
type TestAliasExists struct{ cause }

// PreTrafficFailed is a pre-traffic test that did not end as expected.
type PreTrafficFailed struct{ cause }

// RolledBack ends the progress wait of a rollout that was rolled back.
type RolledBack struct{ cause }

// Aborted ends the progress wait of a rollout aborted by an operator or a newer upload.
type Aborted struct{ cause }

// RolloutFailed ends the progress wait of a rollout that failed (timed out, refused).
type RolloutFailed struct{ cause }

// RolloutNotFound is a rollout id with no record.
type RolloutNotFound struct{ cause }

// CommandRejected is an operator command that does not fit the rollout's phase.
type CommandRejected struct{ cause }

// LockLost is an alias write refused by its fence: the rollout no longer holds the alias's
// lock, or has begun to give it up. Nothing was written; retrying cannot help.
type LockLost struct{ cause }

// Internal is anything else: a bug or a permanent AWS error. Not retried.
type Internal struct{ cause }

type cause struct {
	msg string
	err error
}

func (c cause) Error() string {
	switch {
	case c.err == nil:
		return c.msg
	case c.msg == "":
		return c.err.Error()
	}
	return c.msg + ": " + c.err.Error()
}

func (c cause) Unwrap() error { return c.err }

func (c cause) named() {}

type named interface {
	error
	named()
}

func newCause(err error, format string, args ...any) cause {
	return cause{msg: fmt.Sprintf(format, args...), err: err}
}

// Named returns the outermost named error in err's chain, or err as an Internal error when
// it holds none, so that a wrapping fmt error never reaches Step Functions as "wrapError".
func Named(err error) error {
	if err == nil {
		return nil
	}
	var n named
	if errors.As(err, &n) {
		return n
	}
	return &Internal{cause{err: err}}
}

// ErrorName is the errorType the Lambda runtime reports for err, and "" for no error.
func ErrorName(err error) string {
	if err == nil {
		return ""
	}
	t := reflect.TypeOf(Named(err))
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// errorsByName rebuilds a named error from its name, for outcomes read back from a record.
var errorsByName = map[string]func(cause) error{
	"Transient":            func(c cause) error { return &Transient{c} },
	"Throttled":            func(c cause) error { return &Throttled{c} },
	"InvalidEvent":         func(c cause) error { return &InvalidEvent{c} },
	"InvalidDefinition":    func(c cause) error { return &InvalidDefinition{c} },
	"InvalidPolicy":        func(c cause) error { return &InvalidPolicy{c} },
	"StateMachineNotFound": func(c cause) error { return &StateMachineNotFound{c} },
	"NotManaged":           func(c cause) error { return &NotManaged{c} },
	"AlarmNotFound":        func(c cause) error { return &AlarmNotFound{c} },
	"AlarmFiring":          func(c cause) error { return &AlarmFiring{c} },
	"RolloutInProgress":    func(c cause) error { return &RolloutInProgress{c} },
	"NothingToDeploy":      func(c cause) error { return &NothingToDeploy{c} },
	"TestAliasExists":      func(c cause) error { return &TestAliasExists{c} },
	"PreTrafficFailed":     func(c cause) error { return &PreTrafficFailed{c} },
	"RolledBack":           func(c cause) error { return &RolledBack{c} },
	"Aborted":              func(c cause) error { return &Aborted{c} },
	"RolloutFailed":        func(c cause) error { return &RolloutFailed{c} },
	"RolloutNotFound":      func(c cause) error { return &RolloutNotFound{c} },
	"CommandRejected":      func(c cause) error { return &CommandRejected{c} },
	"LockLost":             func(c cause) error { return &LockLost{c} },
	"Internal":             func(c cause) error { return &Internal{c} },
}

// ByName returns a named error of the given name and message; an unknown name is Internal.
func ByName(name, msg string) error {
	if f, ok := errorsByName[name]; ok {
		return f(cause{msg: msg})
	}
	return &Internal{cause{msg: name + ": " + msg}}
}

// transient wraps err as Transient when an adapter marked it retryable or a conditional
// write lost a race, and returns it unchanged otherwise.
func transient(err error) error {
	if err == nil {
		return nil
	}
	var n named
	if errors.As(err, &n) {
		return err
	}
	if errors.Is(err, ErrThrottled) || errors.Is(err, ErrConflict) {
		return &Transient{cause{err: err}}
	}
	return err
}

// retryable reports whether err holds a Transient or Throttled error: worth trying again,
// never a refusal.
func retryable(err error) bool {
	return errors.As(err, new(*Transient)) || errors.As(err, new(*Throttled))
}
