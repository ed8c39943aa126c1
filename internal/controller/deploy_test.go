package controller_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The deploy custom resource over the fakes: the test plays CloudFormation and the provider
// framework (onEvent once per request, isComplete polled), and the controller state
// machine for the uploads Deploy makes.

// cfnRequest is a custom-resource request built on a sample in events/, for the state
// machine name with the given definition.
func (w *world) cfnRequest(sample, name, def, requestID string) controller.DeployEvent {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join(eventsDir, sample))
	if err != nil {
		w.t.Fatal(err)
	}
	ev, err := controller.DecodeDeployEvent(raw)
	if err != nil {
		w.t.Fatal(err)
	}
	ev.RequestID = requestID
	ev.ResourceProperties[topology.DeployPropStateMachineArn] = smArn(name)
	ev.ResourceProperties[topology.DeployPropDefinition] = def
	delete(ev.ResourceProperties, topology.DeployPropMetadata)
	if ev.PhysicalResourceID != "" {
		ev.PhysicalResourceID = aliasOf(name)
	}
	return ev
}

// update is an Update request with a definition.
func (w *world) update(name, def, requestID string) controller.DeployEvent {
	return w.cfnRequest("cfn-deploy-update.json", name, def, requestID)
}

// poll is the framework's isComplete request after onEvent answered res.
func poll(ev controller.DeployEvent, res controller.DeployResponse) controller.DeployEvent {
	ev.PhysicalResourceID = res.PhysicalResourceID
	ev.Data = res.Data
	return ev
}

// uploadEvent is the "Object Created" event of the upload Deploy made.
func (w *world) uploadEvent(res controller.DeployResponse) json.RawMessage {
	w.t.Helper()
	upload := strings.TrimPrefix(res.Data[topology.DeployDataUpload], "s3://"+testBucket+"/")
	key, version, ok := strings.Cut(upload, "#")
	if !ok {
		w.t.Fatalf("Data.Upload = %q", res.Data[topology.DeployDataUpload])
	}
	w.s3.mu.Lock()
	defer w.s3.mu.Unlock()
	for _, o := range w.s3.objects[testBucket+"/"+key] {
		if o.VersionID == version {
			return w.objectCreated(key, len(o.Body), o)
		}
	}
	w.t.Fatalf("no version %s of %s", version, key)
	return nil
}

// deploy runs onEvent and fails the test on an error.
func (w *world) deploy(ev controller.DeployEvent) controller.DeployResponse {
	w.t.Helper()
	res, err := w.ctl.Deploy(w.ctx, ev)
	if err != nil {
		w.t.Fatalf("Deploy: %v", err)
	}
	if res.PhysicalResourceID != aliasOf(smName(ev)) {
		w.t.Errorf("PhysicalResourceId = %q, want the alias ARN", res.PhysicalResourceID)
	}
	return res
}

func smName(ev controller.DeployEvent) string {
	arn, _ := ev.ResourceProperties[topology.DeployPropStateMachineArn].(string)
	return arn[strings.LastIndexByte(arn, ':')+1:]
}

// wantOutcome checks onEvent's or isComplete's Data.Outcome.
func wantOutcome(t *testing.T, data map[string]string, want string) {
	t.Helper()
	if got := data[topology.DeployDataOutcome]; got != want {
		t.Errorf("Data.Outcome = %q, want %q (Data %v)", got, want, data)
	}
}

// wantIncomplete checks a poll that goes on: not complete, no error, no Data (the
// framework fails a resource whose incomplete answer has Data).
func wantIncomplete(t *testing.T, st controller.DeployStatusResponse, err error) {
	t.Helper()
	if err != nil || st.IsComplete || len(st.Data) > 0 {
		t.Fatalf("DeployStatus = %+v, %v; want not complete, without Data", st, err)
	}
}

func TestDeployRetriedOnEventStartsOneRollout(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	ev := w.update("orders", definition("orders v2"), "req-1")
	first := w.deploy(ev)
	again := w.deploy(ev) // Lambda's retry, the framework's retry: the same RequestId
	wantOutcome(t, first.Data, topology.DeployOutcomeStarted)
	wantEqual(t, "rollout of the retry", again.Data[topology.DeployDataRolloutID], first.Data[topology.DeployDataRolloutID])
	wantEqual(t, "upload of the retry", again.Data[topology.DeployDataUpload], first.Data[topology.DeployDataUpload])
	wantEqual(t, "puts", w.faults.count("Artifacts.Put"), 1)

	// The same definition by a new request after the rollout was rolled back is the user's
	// retry: a new upload, a new rollout.
	e := w.execute(w.uploadEvent(first))
	e.prepare()
	e.register()
	if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
		t.Fatal(err)
	}
	e.finalize()
	wantPhase(t, w, e.id(), rollout.Aborted, "")
	retry := w.deploy(w.update("orders", definition("orders v2"), "req-2"))
	if retry.Data[topology.DeployDataRolloutID] == first.Data[topology.DeployDataRolloutID] {
		t.Errorf("a new request after an aborted rollout reused rollout %s", first.Data[topology.DeployDataRolloutID])
	}
	wantEqual(t, "puts", w.faults.count("Artifacts.Put"), 2)
}

func TestDeployStatusBeforeTheRecordExists(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	ev := w.update("orders", definition("orders v2"), "req-1")
	res := w.deploy(ev)
	st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	wantIncomplete(t, st, err)

	// No record long after the upload: its event never reached the controller.
	w.clock.Advance(controller.UploadNeverStarted)
	_, err = w.ctl.DeployStatus(w.ctx, poll(ev, res))
	if controller.ErrorCode(err) != "RolloutNotFound" || !strings.Contains(err.Error(), topology.DeployUploadName(definition("orders v2"))) {
		t.Fatalf("DeployStatus after %s = %v; want RolloutNotFound naming the upload", controller.UploadNeverStarted, err)
	}
}

func TestDeployRefusedUpload(t *testing.T) {
	t.Run("a refusal fails the deploy with the rollout's id and reason", func(t *testing.T) {
		w := newWorld(t)
		w.machine("orders", managed())
		bad := `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`
		ev := w.update("orders", bad, "req-1")
		res := w.deploy(ev)
		e := w.execute(w.uploadEvent(res)).run(5)
		wantPhase(t, w, e.id(), rollout.Failed, "InvalidDefinition")
		_, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
		if controller.ErrorCode(err) != "InvalidDefinition" {
			t.Fatalf("DeployStatus = %v, want InvalidDefinition", err)
		}
		for _, want := range []string{"rollout " + e.id(), "ended Failed (InvalidDefinition)", "MISSING_TRANSITION_TARGET", "the alias is untouched"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err, want)
			}
		}
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	})

	t.Run("NothingToDeploy completes", func(t *testing.T) {
		// The alias moved back to v1's definition between onEvent and Prepare (a race):
		// the upload is refused as nothing to deploy, and the deploy is complete.
		w := newWorld(t)
		w.machine("orders", managed())
		ev := w.update("orders", definition("orders v2"), "req-1")
		res := w.deploy(ev)
		v2 := w.sfn.publishNew("orders", definition("orders v2"))
		w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: v2, Weight: 100})
		e := w.execute(w.uploadEvent(res)).run(5)
		wantPhase(t, w, e.id(), rollout.Failed, "NothingToDeploy")
		st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
		if err != nil || !st.IsComplete {
			t.Fatalf("DeployStatus = %+v, %v; want complete", st, err)
		}
		wantOutcome(t, st.Data, topology.DeployOutcomeUnchanged)
	})
}

func TestDeployThrottledCallsDelay(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	for _, op := range []string{"StateMachines.Tags", "Aliases.Describe", "StateMachines.Describe"} {
		w.faults.fail(op, throttled(op), throttled(op), throttled(op))
	}
	ev := w.update("orders", definition("orders v2"), "req-1")
	res := w.deploy(ev)
	wantOutcome(t, res.Data, topology.DeployOutcomeStarted)

	w.execute(w.uploadEvent(res)).prepare()
	w.faults.fail("Store.GetRollout", fmt.Errorf("get: %w", controller.ErrThrottled))
	st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	wantIncomplete(t, st, err)
}

func TestDeployBadInput(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(w *world, ev *controller.DeployEvent)
		wantName string
		wantText string
	}{
		{"missing properties", func(w *world, ev *controller.DeployEvent) {
			delete(ev.ResourceProperties, topology.DeployPropAliasName)
			delete(ev.ResourceProperties, topology.DeployPropDefinition)
		}, "InvalidEvent", "without the properties AliasName, Definition"},
		{"definition not JSON", func(w *world, ev *controller.DeployEvent) {
			ev.ResourceProperties[topology.DeployPropDefinition] = `{"StartAt":`
		}, "InvalidDefinition", "is not JSON"},
		{"not a state machine ARN", func(w *world, ev *controller.DeployEvent) {
			ev.ResourceProperties[topology.DeployPropStateMachineArn] = "orders"
		}, "InvalidEvent", "is not a state machine ARN"},
		{"Wait not a boolean", func(w *world, ev *controller.DeployEvent) {
			ev.ResourceProperties[topology.DeployPropWait] = "sometimes"
		}, "InvalidEvent", `want "true" or "false"`},
		{"metadata not strings", func(w *world, ev *controller.DeployEvent) {
			ev.ResourceProperties[topology.DeployPropMetadata] = map[string]any{"rollout-percentage": 20.0}
		}, "InvalidEvent", "property Metadata"},
		{"unknown state machine", func(w *world, ev *controller.DeployEvent) {
			ev.ResourceProperties[topology.DeployPropStateMachineArn] = smArn("nobody")
		}, "StateMachineNotFound", "does not exist"},
		{"unmanaged state machine", func(w *world, ev *controller.DeployEvent) {
			w.sfn.create("legacy", definition("legacy v1"), nil, "prod")
			ev.ResourceProperties[topology.DeployPropStateMachineArn] = smArn("legacy")
		}, "NotManaged", "rollout:managed=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.machine("orders", managed())
			ev := w.update("orders", definition("orders v2"), "req-1")
			tt.edit(w, &ev)
			_, err := w.ctl.Deploy(w.ctx, ev)
			if controller.ErrorCode(err) != tt.wantName || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Deploy = %v (%s); want %s saying %q", err, controller.ErrorCode(err), tt.wantName, tt.wantText)
			}
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
			wantEqual(t, "puts", w.faults.count("Artifacts.Put"), 0)
			wantEqual(t, "alias writes", len(w.sfn.updates), 0)
		})
	}

	t.Run("a request without ids", func(t *testing.T) {
		_, err := controller.DecodeDeployEvent([]byte(`{"RequestType":"Update","ResourceProperties":{},"SomethingNew":1}`))
		if controller.ErrorCode(err) != "InvalidEvent" || !strings.Contains(err.Error(), "RequestId, StackId, LogicalResourceId") {
			t.Fatalf("DecodeDeployEvent = %v", err)
		}
	})
	t.Run("fields AWS adds are ignored", func(t *testing.T) {
		raw, _ := os.ReadFile(filepath.Join(eventsDir, "cfn-deploy-update.json"))
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["SomethingNew"] = map[string]any{"x": 1}
		raw, _ = json.Marshal(m)
		if _, err := controller.DecodeDeployEvent(raw); err != nil {
			t.Fatalf("DecodeDeployEvent with an extra field: %v", err)
		}
	})
}

func TestDeployCreate(t *testing.T) {
	w := newWorld(t)
	// As CloudFormation creates it: the state machine with its definition, no alias yet.
	w.sfn.create("orders", definition("orders v1"), managed(), "")
	ev := w.cfnRequest("cfn-deploy-create.json", "orders", definition("orders v1"), "req-1")
	res := w.deploy(ev)
	wantOutcome(t, res.Data, topology.DeployOutcomeCreated)
	wantEqual(t, "version", res.Data[topology.DeployDataVersionArn], versionOf("orders", 1))
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "puts", w.faults.count("Artifacts.Put"), 0)
	st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	if err != nil || !st.IsComplete {
		t.Fatalf("DeployStatus = %+v, %v; want complete at once", st, err)
	}
	wantEqual(t, "rollouts", len(w.store.sorted(func(storedRollout) bool { return true }, false)), 0)

	// A retried Create finds the alias: it is an Update of the same definition.
	again := w.deploy(ev)
	wantOutcome(t, again.Data, topology.DeployOutcomeUnchanged)
	wantEqual(t, "alias after the retry", w.sfn.routing(aliasOf("orders")), "v1=100")
}

func TestDeployCreateRacingItsRetry(t *testing.T) {
	w := newWorld(t)
	w.sfn.create("orders", definition("orders v1"), managed(), "")
	// A retry of the same Create creates the alias between this one's read and its create,
	// with another description: Create answers a conflict, and never moves it.
	w.faults.hook("Aliases.Create", func(any) error {
		w.faults.hook("Aliases.Create", nil)
		if _, err := (aliasPort{w.sfn}).Create(w.ctx, smArn("orders"), "prod", "by the other attempt", []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	res := w.deploy(w.cfnRequest("cfn-deploy-create.json", "orders", definition("orders v1"), "req-1"))
	wantOutcome(t, res.Data, topology.DeployOutcomeUnchanged)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
}

func TestDeployUpdateRollsOut(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	ev := w.update("orders", definition("orders v2"), "req-1")
	res := w.deploy(ev)
	e := w.execute(w.uploadEvent(res))
	e.prepare()
	e.register()
	st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	wantIncomplete(t, st, err)
	e.ticks(20)
	e.finalize()
	wantPhase(t, w, e.id(), rollout.Succeeded, "")
	if e.id() != res.Data[topology.DeployDataRolloutID] {
		t.Errorf("the upload started %s, onEvent said %s", e.id(), res.Data[topology.DeployDataRolloutID])
	}
	st, err = w.ctl.DeployStatus(w.ctx, poll(ev, res))
	if err != nil || !st.IsComplete {
		t.Fatalf("DeployStatus = %+v, %v; want complete", st, err)
	}
	wantOutcome(t, st.Data, string(rollout.Succeeded))
	wantEqual(t, "version", st.Data[topology.DeployDataVersionArn], versionOf("orders", 2))
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v2=100")
	// The actor is CloudFormation's resource.
	if r := w.record(e.id()); r.Actor != "cloudformation:orders/OrdersDeployment" {
		t.Errorf("actor %q", r.Actor)
	}
}

func TestDeployUpdateRolledBack(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	w.machine("orders", managed())
	w.policy("orders", fmt.Sprintf(guarded, ""))
	ev := w.update("orders", definition("orders v2"), "req-1")
	res := w.deploy(ev)
	e := w.execute(w.uploadEvent(res))
	e.prepare()
	e.register()
	e.tick()
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatal(err)
	}
	e.finalize()
	wantPhase(t, w, e.id(), rollout.RolledBack, "")
	_, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	if controller.ErrorCode(err) != "RolledBack" {
		t.Fatalf("DeployStatus = %v, want RolledBack", err)
	}
	for _, want := range []string{"rollout " + e.id() + " of orders/prod ended RolledBack (RolledBack)", "orders-failures", "routes 100% to the stable version v1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	// CloudFormation's stack rollback sends v1 back: complete at once, no upload.
	back := w.cfnRequest("cfn-deploy-update-to-stable.json", "orders", definition("orders v1"), "req-2")
	puts := w.faults.count("Artifacts.Put")
	res = w.deploy(back)
	wantOutcome(t, res.Data, topology.DeployOutcomeUnchanged)
	wantEqual(t, "version", res.Data[topology.DeployDataVersionArn], versionOf("orders", 1))
	wantEqual(t, "puts", w.faults.count("Artifacts.Put"), puts)
	st, err := w.ctl.DeployStatus(w.ctx, poll(back, res))
	if err != nil || !st.IsComplete {
		t.Fatalf("DeployStatus = %+v, %v; want complete at once", st, err)
	}
}

func TestDeployStackRollbackAbortsTheRunningRollout(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"LINEAR","percentage":20,"interval":"5m"}`)
	ev := w.update("orders", definition("orders v2"), "req-1")
	res := w.deploy(ev)
	e := w.execute(w.uploadEvent(res))
	e.prepare()
	e.register()
	e.tick()
	wantEqual(t, "alias during the rollout", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")

	// The same definition again by another request follows the running rollout.
	follow := w.deploy(w.update("orders", definition("orders v2"), "req-2"))
	wantEqual(t, "followed rollout", follow.Data[topology.DeployDataRolloutID], e.id())

	// The provider timed out; CloudFormation rolls the stack back with v1.
	back := w.cfnRequest("cfn-deploy-update-to-stable.json", "orders", definition("orders v1"), "req-3")
	res = w.deploy(back)
	wantOutcome(t, res.Data, topology.DeployOutcomeAborting)
	wantEqual(t, "aborted rollout", res.Data[topology.DeployDataRolloutID], e.id())
	w.deploy(back) // a retried onEvent aborts once
	r := wantPhase(t, w, e.id(), rollout.Aborted, "")
	if len(r.Commands) != 1 {
		t.Errorf("commands applied: %+v, want one abort", r.Commands)
	}
	st, err := w.ctl.DeployStatus(w.ctx, poll(back, res))
	if err != nil || !st.IsComplete {
		t.Fatalf("DeployStatus = %+v, %v; want complete once the alias is back", st, err)
	}
	wantOutcome(t, st.Data, string(rollout.Aborted))
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	e.finalize()
}

func TestDeployWaitFalse(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	ev := w.update("orders", definition("orders v2"), "req-1")
	ev.ResourceProperties[topology.DeployPropWait] = "false"
	res := w.deploy(ev)
	st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	wantIncomplete(t, st, err)
	e := w.execute(w.uploadEvent(res))
	e.prepare()
	st, err = w.ctl.DeployStatus(w.ctx, poll(ev, res))
	if err != nil || !st.IsComplete {
		t.Fatalf("DeployStatus once the candidate is published = %+v, %v; want complete", st, err)
	}
	wantOutcome(t, st.Data, topology.DeployOutcomeStarted)
	wantPhase(t, w, e.id(), rollout.Pending, "")
}

func TestDeployDeleteDeletesNothing(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	ev := w.cfnRequest("cfn-deploy-delete.json", "orders", definition("orders v1"), "req-1")
	res, err := w.ctl.Deploy(w.ctx, ev)
	if err != nil || res.PhysicalResourceID != ev.PhysicalResourceID {
		t.Fatalf("Deploy(Delete) = %+v, %v; want the physical id given back", res, err)
	}
	st, err := w.ctl.DeployStatus(w.ctx, poll(ev, res))
	if err != nil || !st.IsComplete {
		t.Fatalf("DeployStatus(Delete) = %+v, %v", st, err)
	}
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1")
	// A Delete with properties that no longer parse is still complete: a stack delete is
	// never blocked.
	ev.ResourceProperties = map[string]any{}
	if _, err := w.ctl.Deploy(w.ctx, ev); err != nil {
		t.Errorf("Deploy(Delete) without properties: %v", err)
	}
}

func TestDeployStatusNeedsOnEventsData(t *testing.T) {
	w := newWorld(t)
	_, err := w.ctl.DeployStatus(w.ctx, w.update("orders", definition("orders v2"), "req-1"))
	if controller.ErrorCode(err) != "InvalidEvent" {
		t.Fatalf("DeployStatus without Data = %v, want InvalidEvent", err)
	}
	if e := new(*controller.Error); !errors.As(err, e) || (*e).Code != controller.EInvalidEvent {
		t.Errorf("%T", err)
	}
}
