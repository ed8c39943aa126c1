package controller_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Throttling delays a rollout and never fails it (docs/architecture.md, "Throttling delays,
// never fails"). The fakes' context has no deadline, so an invocation retries for 30 s of
// the fake clock before it answers Throttled.

const canary = `{"strategy":"CANARY","percentage":10,"interval":"2m"}`

// throttle throttles every call of op until the returned func is called.
func throttle(w *world, op string) (stop func()) {
	return throttledAlways(w, op, op)
}

// A throttled Validate is tried again on its own within Prepare: the upload is not
// refused, the rollout runs to its end, and the calls before it are not made again (each
// of the 1-a-second quota buckets is spent once).
func TestThrottledValidateDelaysPrepare(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", canary)
	errs := make([]error, 8)
	for i := range errs {
		errs[i] = throttled("ValidateStateMachineDefinition")
	}
	w.faults.fail("StateMachines.Validate", errs...)
	start := w.clock.Now()
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
		t.Fatalf("Prepare: %q %v", e.prepared.Action, e.prepareErr)
	}
	wantEqual(t, "Validate calls", w.faults.count("StateMachines.Validate"), len(errs)+1)
	for _, op := range []string{"StateMachines.Tags", "Aliases.Describe", "StateMachines.Publish"} {
		wantEqual(t, op+" calls", w.faults.count(op), 1)
	}
	if slept := w.clock.Now().Sub(start); slept <= 0 {
		t.Errorf("no backoff between the attempts (clock moved %s)", slept)
	}
	e.register()
	e.ticks(10)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantPhase(t, w, e.id(), rollout.Succeeded, "")
}

// A DescribeStateMachineAlias throttled for longer than Prepare's invocation can wait:
// Prepare answers Throttled (not Transient, not a refusal), the record stays Pending with no
// error, and the state machine's retry prepares the rollout, which runs to its end.
func TestThrottledAliasReadInPrepare(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", canary)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	stop := throttle(w, "Aliases.Describe")
	start := w.clock.Now()
	_, err := w.ctl.Prepare(w.ctx, e.state)
	wantEqual(t, "Prepare's error", controller.ErrorCode(err), "Throttled")
	if !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("Throttled does not wrap ErrThrottled: %v", err)
	}
	if waited := w.clock.Now().Sub(start); waited < 20*time.Second {
		t.Errorf("Prepare gave up after %s of retries, want most of its 30 s", waited)
	}
	if n := w.faults.count("Aliases.Describe"); n < 10 {
		t.Errorf("%d DescribeStateMachineAlias calls: not retried within the invocation", n)
	}
	r := wantPhase(t, w, e.id(), rollout.Pending, "")
	for _, ev := range w.audit(e.id()) {
		if ev.Action == "Refused" {
			t.Errorf("a throttled upload was refused: %+v", ev)
		}
	}
	if r.CandidateVersionArn != "" {
		t.Errorf("candidate %s published without a stable version read", r.CandidateVersionArn)
	}

	stop()
	e.prepare() // the state machine's retry
	if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
		t.Fatalf("retried Prepare: %q %v", e.prepared.Action, e.prepareErr)
	}
	e.register()
	e.ticks(10)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v2")
}

// A Prepare whose candidate was saved and whose answer was lost is retried through
// preparedAgain; throttled there, it answers Throttled too, and its retry answers as the
// first time did.
func TestThrottledPreparedAgain(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", canary)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	first := e.prepared
	stop := throttle(w, "Artifacts.List") // preparedAgain lists the tests again
	_, err := w.ctl.Prepare(w.ctx, e.state)
	wantEqual(t, "retried Prepare's error", controller.ErrorCode(err), "Throttled")
	wantPhase(t, w, e.id(), rollout.Pending, "")
	stop()
	again, err := w.ctl.Prepare(w.ctx, e.state)
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "answer", again.CandidateVersionArn, first.CandidateVersionArn)
	wantEqual(t, "action", again.Action, controller.ActionStart)
}

// Finalize throttled for longer than its invocation (the outcome event cannot be put)
// answers Throttled; the state machine's retry completes it.
func TestThrottledFinalize(t *testing.T) {
	w, e := startOrders(t, canary)
	e.ticks(10)
	stop := throttle(w, "Events.Put")
	e.finalizeOnce()
	wantEqual(t, "Finalize's error", controller.ErrorCode(e.finalErr), "Throttled")
	stop()
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v2=100")
}

// A rollout whose deadline passes while it is throttled ends Failed, and says it was
// throttled until its deadline: Register answers RolloutFailed (the state machine does not
// retry it), and Finalize puts the alias back and announces the failure.
func TestThrottledUntilTheDeadline(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", canary)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	deadline := w.record(e.id()).Deadline
	if deadline.IsZero() {
		t.Fatal("a prepared rollout without a deadline")
	}
	stop := throttle(w, "Schedules.Create")
	defer stop()
	// Before the deadline: Throttled, retried.
	err := w.ctl.Register(w.ctx, controller.RegisterInput{State: e.state, TaskToken: "token-1", Wait: controller.WaitProgress})
	wantEqual(t, "Register before the deadline", controller.ErrorCode(err), "Throttled")
	wantPhase(t, w, e.id(), rollout.Pending, "")

	w.clock.Advance(deadline.Sub(w.clock.Now()))
	e.register() // still throttled, now past the deadline
	wantEqual(t, "Register past the deadline", controller.ErrorCode(e.registerErr), "RolloutFailed")
	r := wantPhase(t, w, e.id(), rollout.Failed, "RolloutFailed")
	if !strings.HasPrefix(r.Reason, "throttled until its deadline "+deadline.Format(time.RFC3339)) {
		t.Errorf("reason %q, want it to say that the rollout was throttled until its deadline %s", r.Reason, deadline.Format(time.RFC3339))
	}
	if strings.Contains(r.Reason, "refused") {
		t.Errorf("reason %q says refused", r.Reason)
	}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutFailed)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "reason kept by Finalize", w.record(e.id()).Reason, r.Reason)
}

// When the state machine's retries of Throttled ran out before a deadline existed (Prepare,
// before its candidate), Finalize fails the rollout with a reason that says so.
func TestFinalizeOfARolloutThrottledForGood(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", canary)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	stop := throttle(w, "StateMachines.Validate")
	_, err := w.ctl.Prepare(w.ctx, e.state)
	stop()
	e.catch(err)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutFailed)
	r := wantPhase(t, w, e.id(), rollout.Failed, "RolloutFailed")
	if !strings.HasPrefix(r.Reason, "throttled until the controller state machine stopped retrying") {
		t.Errorf("reason %q", r.Reason)
	}
}

// A call still throttled when the invocation's time is nearly up (an SDK call waiting out
// its backoff) is cut short a reserve before the deadline, so that the function answers
// Throttled itself instead of timing out (States.TaskFailed, retried only twice).
func TestThrottledAnswersBeforeTheInvocationsDeadline(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", canary)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	var stuck context.Context
	w.faults.hook("StateMachines.Validate", func(arg any) error {
		<-stuck.Done() // the SDK retrying until the call's context ends
		return throttled("ValidateStateMachineDefinition")
	})
	ctx, cancel := context.WithTimeout(w.ctx, 2*time.Second)
	defer cancel()
	stuck = ctx
	ports := portsOf(w)
	ports.StateMachines = ctxSM{smPort{w.sfn}, &stuck}
	ctl, err := controller.New(controller.Config{TickRate: topology.DefaultTickRate, MinInterval: time.Minute}, ports)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ctl.Prepare(ctx, e.state)
	if ctx.Err() != nil {
		t.Fatalf("Prepare answered after its deadline: %v", err)
	}
	wantEqual(t, "error", controller.ErrorCode(err), "Throttled")
}

// ctxSM hands each Validate's context to the fault hook, which waits for it to end.
type ctxSM struct {
	smPort
	ctx *context.Context
}

func (s ctxSM) Validate(ctx context.Context, def, typ string) ([]controller.Diagnostic, error) {
	*s.ctx = ctx
	return s.smPort.Validate(ctx, def, typ)
}

// portsOf are the ports newWorld gives its controller.
func portsOf(w *world) controller.Ports {
	return controller.Ports{
		StateMachines: smPort{w.sfn}, Aliases: aliasPort{w.sfn}, Alarms: w.alarms, Metrics: w.metrics,
		Rollouts: w.store.fakeRollouts, Locks: w.store.fakeLocks, Queues: w.store.fakeQueues,
		AlarmGuards: w.store.fakeAlarmGuards, Uploads: w.store.fakeUploads, Sweeps: w.store.fakeSweeps,
		Artifacts: w.s3, Schedules: w.sched, Tasks: w.tasks, Events: w.events, Clock: w.clock,
		Sleep:  func(ctx context.Context, d time.Duration) error { w.clock.Advance(d); return ctx.Err() },
		Jitter: func(d time.Duration) time.Duration { return d },
	}
}

// Advance, Rollback and Control are not run by the controller state machine: their
// throttling stays Transient (the next tick, EventBridge or the operator tries again).
func TestThrottledIsOnlyForTheStateMachinesTasks(t *testing.T) {
	w, e := startOrders(t, canary)
	w.faults.fail("Aliases.Describe", throttled("DescribeStateMachineAlias"))
	_, err := w.ctl.Advance(w.ctx, controller.Tick{RolloutID: e.id()})
	wantEqual(t, "Advance's error", controller.ErrorCode(err), "Transient")
}
