package controller_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Issue 9, cases 3 (one command, one effect) and 8 (queued uploads can be steered).

// command sends an operator's command with a command id, as the CLI does.
func (w *world) command(id string, cmd rollout.Command, actor, commandID, reason string) (controller.ControlResult, error) {
	raw, _ := json.Marshal(map[string]string{"rolloutId": id, "command": string(cmd), "actor": actor, "commandId": commandID, "reason": reason})
	return invoke(w.ctx, w.ctl.Control, raw)
}

// byActor keeps the audit events of one actor.
func byActor(evs []controller.Event, actor string) []controller.Event {
	var out []controller.Event
	for _, e := range evs {
		if e.Actor == actor {
			out = append(out, e)
		}
	}
	return out
}

const linearHour = `{"strategy":"LINEAR","percentage":10,"interval":"1h","onDrift":"rollback"}`

// A promote whose alias update is throttled returns Transient; Lambda retries the
// invocation and the operator retries by hand, all with the same command id. The rollout
// moves one step, the alias ends at that step, and no tick takes the lag for drift.
func TestRetriedCommandHasOneEffect(t *testing.T) {
	w, e := startOrders(t, linearHour)
	wantEqual(t, "alias after the first tick", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")

	w.faults.fail("Aliases.Update", throttled("UpdateStateMachineAlias"))
	_, err := w.command(e.id(), rollout.CommandPromote, "alice", "cmd-1", "skip the hour")
	wantEqual(t, "first attempt's error", controller.ErrorCode(err), "Transient")
	wantEqual(t, "alias after the throttled attempt", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")

	for i := range 3 {
		res, err := w.command(e.id(), rollout.CommandPromote, "alice", "cmd-1", "skip the hour")
		if err != nil {
			t.Fatalf("retry %d: %v", i+1, err)
		}
		wantEqual(t, "retry's answer", res.Weights, rollout.Weights{Stable: 80, Candidate: 20})
	}
	r := w.record(e.id())
	wantEqual(t, "candidate weight after one promote and three retries", r.CandidateWeight, 20)
	wantEqual(t, "alias after the retries", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
	if got := byActor(w.audit(e.id()), "operator:alice"); len(got) != 1 {
		t.Errorf("audit events by alice: %d, want 1 (one command id, one effect): %+v", len(got), got)
	}
	for range 3 {
		if err := e.tick(); err != nil {
			t.Fatal(err)
		}
	}
	wantPhase(t, w, e.id(), rollout.Progressing, "")
	wantEqual(t, "alias after the ticks", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
}

// The alias lags the record by one step (a tick's update was throttled), then a command's
// own update is throttled too. The command takes the step before from the alias, so the
// next tick repairs the alias instead of rolling back on drift (onDrift=rollback).
func TestCommandAfterALaggingAliasIsNotDrift(t *testing.T) {
	w, e := startOrders(t, linearHour)
	w.clock.Advance(time.Hour)
	w.faults.fail("Aliases.Update", throttled("UpdateStateMachineAlias"))
	if err := e.tick(); err == nil {
		t.Fatal("the throttled tick reported no error")
	}
	wantEqual(t, "record after the throttled tick", w.record(e.id()).CandidateWeight, 20)
	wantEqual(t, "alias after the throttled tick", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")

	w.faults.fail("Aliases.Update", throttled("UpdateStateMachineAlias"))
	_, err := w.command(e.id(), rollout.CommandPromote, "alice", "cmd-2", "")
	wantEqual(t, "promote's error", controller.ErrorCode(err), "Transient")
	wantEqual(t, "record after the promote", w.record(e.id()).CandidateWeight, 30)

	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, w, e.id(), rollout.Progressing, "")
	wantEqual(t, "alias after the next tick", w.sfn.routing(aliasOf("orders")), "v1=70 v2=30")
}

// Lambda's retry of a command whose first attempt died before its alias update repairs the
// alias: the retry finds the command applied and sets the alias to the record's intent.
func TestRetriedAbortRepairsTheAlias(t *testing.T) {
	w, e := startOrders(t, linearHour)
	// An abort retries a throttled update 8 times; a crash ends the attempt at once.
	w.faults.fail("Aliases.Update", errCrash)
	if _, err := w.command(e.id(), rollout.CommandAbort, "alice", "cmd-3", "wrong build"); err == nil {
		t.Fatal("the crashed abort reported no error")
	}
	wantEqual(t, "alias after the crash", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
	res, err := w.command(e.id(), rollout.CommandAbort, "alice", "cmd-3", "wrong build")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "retry's phase", res.Phase, rollout.Aborted)
	wantEqual(t, "alias after the retry", w.sfn.routing(aliasOf("orders")), "v1=100")
	if o, ok := w.tasks.outcome(e.token); !ok || o.Error != "Aborted" {
		t.Errorf("progress wait ended %+v, want failed with Aborted", o)
	}
	if got := byActor(w.audit(e.id()), "operator:alice"); len(got) != 1 {
		t.Errorf("audit events by alice: %d, want 1: %+v", len(got), got)
	}
}

// A command without an id in the request or the context is never applied.
func TestCommandWithoutAnIDIsRefused(t *testing.T) {
	w, e := startOrders(t, linearHour)
	raw := []byte(`{"rolloutId":"` + e.id() + `","command":"promote","actor":"alice"}`)
	_, err := invoke(w.ctx, w.ctl.Control, raw)
	wantEqual(t, "error", controller.ErrorCode(err), "InvalidEvent")
	wantEqual(t, "candidate weight", w.record(e.id()).CandidateWeight, 10)
}

// An EventBridge control request without a commandId takes the event's id: the same event
// delivered twice is one command.
func TestControlEventRedeliveredHasOneEffect(t *testing.T) {
	w, e := startOrders(t, linearHour)
	raw := []byte(`{"version":"0","id":"ev-1","detail-type":"` + topology.DetailControlRequest + `","source":"` + topology.EventSource + `","detail":{"rolloutId":"` + e.id() + `","command":"promote","actor":"carol"}}`)
	for range 2 {
		if _, err := invoke(w.ctx, w.ctl.Control, raw); err != nil {
			t.Fatal(err)
		}
	}
	wantEqual(t, "candidate weight after one event delivered twice", w.record(e.id()).CandidateWeight, 20)
}

// queueBehind starts a rollout (onBusy=queue) and queues a second upload behind it.
func queueBehind(t *testing.T) (*world, *execution, *execution) {
	t.Helper()
	w, first := startOrders(t, `{"strategy":"CANARY","percentage":10,"interval":"3m","onBusy":"queue"}`)
	queued := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	queued.prepare()
	if queued.prepared.Action != controller.ActionQueued {
		t.Fatalf("second upload = %+v, %v; want queued", queued.prepared, queued.prepareErr)
	}
	if err := queued.waitTurn(); err != nil {
		t.Fatal(err)
	}
	return w, first, queued
}

// Aborting a queued upload drops it from the queue, ends it Aborted with who and why, and
// ends its execution's wait so that Finalize announces it; it never deploys.
func TestAbortQueuedUpload(t *testing.T) {
	w, first, queued := queueBehind(t)
	res, err := w.command(queued.id(), rollout.CommandAbort, "alice", "q-1", "wrong build")
	if err != nil {
		t.Fatalf("abort of a queued upload: %v", err)
	}
	wantEqual(t, "answer's phase", res.Phase, rollout.Aborted)
	r := wantPhase(t, w, queued.id(), rollout.Aborted, "")
	if !strings.Contains(r.Reason, "alice") || !strings.Contains(r.Reason, "wrong build") {
		t.Errorf("reason %q, want who (alice) and why (wrong build)", r.Reason)
	}
	if got := byActor(w.audit(queued.id()), "operator:alice"); len(got) != 1 || got[0].Phase != rollout.Aborted {
		t.Errorf("audit events by alice: %+v, want one, Aborted", got)
	}
	if o, ok := w.tasks.outcome(queued.turnToken); !ok || o.Error != "Aborted" {
		t.Fatalf("queued upload's wait ended %+v, want failed with Aborted", o)
	}
	if q, _ := w.store.Queue(w.ctx, aliasOf("orders")); len(q) != 0 {
		t.Errorf("queue after the abort = %+v, want empty", q)
	}
	// The state machine catches the failed wait into $.error and goes to Finalize.
	queued.catch(&controller.Error{Code: controller.EAborted})
	queued.state.Error.Cause = r.Reason
	queued.finalize()
	wantFinalized(t, w, queued, topology.DetailRolloutAborted)

	first.ticks(20)
	first.finalize()
	wantFinalized(t, w, first, topology.DetailRolloutSucceeded)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v2=100")
	wantEqual(t, "versions: the aborted upload never published", w.sfn.liveVersions("orders"), "v1 v2")
	if queued.turnCame() {
		t.Error("the aborted upload got its turn")
	}
}

// A retry of the abort (the first attempt could not end the wait) ends the wait.
func TestRetriedAbortOfQueuedUploadEndsTheWait(t *testing.T) {
	w, _, queued := queueBehind(t)
	w.faults.fail("Tasks.Fail", throttled("SendTaskFailure"))
	if _, err := w.command(queued.id(), rollout.CommandAbort, "alice", "q-2", ""); controller.ErrorCode(err) != "Transient" {
		t.Fatalf("abort with a throttled SendTaskFailure: %v, want Transient", err)
	}
	wantPhase(t, w, queued.id(), rollout.Aborted, "")
	res, err := w.command(queued.id(), rollout.CommandAbort, "alice", "q-2", "")
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "retry's phase", res.Phase, rollout.Aborted)
	if o, ok := w.tasks.outcome(queued.turnToken); !ok || o.Error != "Aborted" {
		t.Fatalf("queued upload's wait ended %+v, want failed with Aborted", o)
	}
	if q, _ := w.store.Queue(w.ctx, aliasOf("orders")); len(q) != 0 {
		t.Errorf("queue after the retried abort = %+v, want empty", q)
	}
}

// Every other command on a queued upload is refused with a message that says what it
// waits for and how to drop it; nothing changes.
func TestOtherCommandsOnAQueuedUploadAreRejected(t *testing.T) {
	w, first, queued := queueBehind(t)
	for _, cmd := range []rollout.Command{rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote, rollout.CommandPromoteFull, rollout.CommandApprove} {
		_, err := w.command(queued.id(), cmd, "alice", "x-"+string(cmd), "")
		if controller.ErrorCode(err) != "CommandRejected" {
			t.Errorf("%s of a queued upload: %v, want CommandRejected", cmd, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "queued behind "+first.id()) || !strings.Contains(msg, "abort it to drop it") {
			t.Errorf("%s of a queued upload: %q, want it to name %s and say how to drop it", cmd, msg, first.id())
		}
	}
	wantPhase(t, w, queued.id(), rollout.Pending, "")
	if q, _ := w.store.Queue(w.ctx, aliasOf("orders")); len(q) != 1 {
		t.Errorf("queue = %+v, want the upload still queued", q)
	}
}

// The samples of direct requests carry a command id, as the CLI sends them; the event
// sample carries none and takes the event's id.
func TestControlSamplesCarryCommandIDs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "control-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("control samples: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeSample(filepath.Base(f), raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch {
		case d.env.ID != "":
			if d.control.CommandID != "" {
				t.Errorf("%s: commandId %q; the event sample shows a request that takes the event's id", f, d.control.CommandID)
			}
		case d.control.CommandID == "":
			t.Errorf("%s: no commandId", f)
		}
	}
	// Replayed twice, the event sample is one command.
	w, e := startOrders(t, linearHour)
	raw, err := os.ReadFile(filepath.Join(eventsDir, "control-request-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(strings.ReplaceAll(string(raw), sampleRolloutID, e.id()), `"abort"`, `"promote"`))
	for range 2 {
		res, err := invoke(w.ctx, w.ctl.Control, raw)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "command id of the event sample", res.CommandID, "7e1c9a3b-2f4d-4c8e-b6a0-5d9f1e2c3b4a")
	}
	wantEqual(t, "candidate weight", w.record(e.id()).CandidateWeight, 20)
}

// A request without a commandId, invoked by Lambda, takes the Lambda request id, which
// Lambda keeps across its retries of one asynchronous invocation.
func TestControlTakesTheLambdaRequestID(t *testing.T) {
	w, e := startOrders(t, linearHour)
	ctx := lambdacontext.NewContext(w.ctx, &lambdacontext.LambdaContext{AwsRequestID: "8f5c2b1e-request"})
	raw := []byte(`{"rolloutId":"` + e.id() + `","command":"promote","actor":"alice"}`)
	for range 2 {
		res, err := invoke(ctx, w.ctl.Control, raw)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "command id", res.CommandID, "8f5c2b1e-request")
	}
	wantEqual(t, "candidate weight after one invocation retried", w.record(e.id()).CandidateWeight, 20)
}
