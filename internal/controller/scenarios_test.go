package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

const ordersKey = "orders/prod/definition.asl.json"

// startOrders sets up the orders state machine (prod on v1) with a rollout.json, uploads
// v2 and runs Prepare and Register: the rollout has had its first tick.
func startOrders(t *testing.T, policy string, tags ...string) (*world, *execution) {
	t.Helper()
	w := newWorld(t)
	w.machine("orders", managed(tags...))
	if policy != "" {
		w.policy("orders", policy)
	}
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
		t.Fatalf("Prepare = %+v, %v; want start", e.prepared, e.prepareErr)
	}
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register: %v", e.registerErr)
	}
	return w, e
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// wantPhase checks the record's phase and, for Failed, its error name.
func wantPhase(t *testing.T, w *world, id string, phase rollout.Phase, errorName string) rollout.Rollout {
	t.Helper()
	r := w.record(id)
	if r.Phase != phase || r.ErrorName != errorName {
		t.Errorf("rollout %s: phase %s error %q (reason %q); want phase %s error %q", id, r.Phase, r.ErrorName, r.Reason, phase, errorName)
	}
	return r
}

// wantFinalized checks what Finalize leaves behind whatever the outcome: no schedule, no
// lock, the outcome event with the version ARNs.
func wantFinalized(t *testing.T, w *world, e *execution, detailType string) {
	t.Helper()
	if e.finalErr != nil {
		t.Fatalf("Finalize: %v", e.finalErr)
	}
	id := e.id()
	if w.sched.exists(topology.ScheduleName(id)) {
		t.Errorf("schedule of %s still exists after Finalize", id)
	}
	if h := w.store.lockHolder(e.alias()); h == id {
		t.Errorf("lock of %s still held after Finalize", id)
	}
	last, ok := w.events.last(id)
	if !ok || last.DetailType != detailType {
		t.Fatalf("last event of %s = %+v, want %q", id, last, detailType)
	}
	r := w.record(id)
	if last.Detail.StableVersionArn != r.StableVersionArn || last.Detail.CandidateVersionArn != r.CandidateVersionArn || last.Detail.Phase != r.Phase {
		t.Errorf("outcome event detail %+v does not carry the record's versions and phase (%s, %s, %s)", last.Detail, r.StableVersionArn, r.CandidateVersionArn, r.Phase)
	}
	if e.final.Phase != r.Phase {
		t.Errorf("Finalize answered phase %s, record says %s", e.final.Phase, r.Phase)
	}
}

func TestStrategiesEndToEnd(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		// approveAfter is how many ticks run before an operator approves; -1 for none.
		approveAfter int
		wantRouting  []string // distinct routings of prod after Register, ticks and approvals
		wantEvents   []string
		wantTestAlas bool
	}{
		{
			name:         "all at once with bake",
			policy:       `{"strategy":"ALL_AT_ONCE","bakeTime":"2m"}`,
			approveAfter: -1,
			wantRouting:  []string{"v2=100"},
			wantEvents:   []string{"Rollout Started", "Rollout Succeeded"},
		},
		{
			name:         "canary",
			policy:       `{"strategy":"CANARY","percentage":10,"interval":"3m","bakeTime":"2m"}`,
			approveAfter: -1,
			wantRouting:  []string{"v1=90 v2=10", "v2=100"},
			wantEvents:   []string{"Rollout Started", "Rollout Step", "Rollout Succeeded"},
		},
		{
			name:         "linear",
			policy:       `{"strategy":"LINEAR","percentage":25,"interval":"1m","bakeTime":"2m"}`,
			approveAfter: -1,
			wantRouting:  []string{"v1=75 v2=25", "v1=50 v2=50", "v1=25 v2=75", "v2=100"},
			wantEvents:   []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"},
		},
		{
			name:         "exponential",
			policy:       `{"strategy":"EXPONENTIAL","percentage":10,"growthFactor":2,"interval":"1m","bakeTime":"2m"}`,
			approveAfter: -1,
			wantRouting:  []string{"v1=90 v2=10", "v1=80 v2=20", "v1=60 v2=40", "v1=20 v2=80", "v2=100"},
			wantEvents:   []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"},
		},
		{
			name:         "blue/green with approval",
			policy:       `{"strategy":"BLUE_GREEN","approval":true,"bakeTime":"2m"}`,
			approveAfter: 3,
			wantRouting:  []string{"v1=100", "v2=100"},
			wantEvents:   []string{"Rollout Paused", "Rollout Step", "Rollout Succeeded"},
			wantTestAlas: true,
		},
		{
			name:         "custom with an approval step",
			policy:       `{"strategy":"CUSTOM","steps":["weight:20","pause:2m","approval","weight:60","pause:1m"],"bakeTime":"2m"}`,
			approveAfter: 4,
			wantRouting:  []string{"v1=80 v2=20", "v1=40 v2=60", "v2=100"},
			wantEvents:   []string{"Rollout Started", "Rollout Paused", "Rollout Step", "Rollout Step", "Rollout Succeeded"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, e := startOrders(t, tc.policy)
			id := e.id()
			testAlias := topology.AliasArn(smArn("orders"), "prod-test")
			if tc.wantTestAlas {
				wantEqual(t, "test alias after Register", w.sfn.routing(testAlias), "v2=100")
			}
			if tc.approveAfter >= 0 {
				for range tc.approveAfter {
					if err := e.tick(); err != nil {
						t.Fatal(err)
					}
				}
				r := wantPhase(t, w, id, rollout.Paused, "")
				if r.PauseKind != rollout.PauseApproval {
					t.Fatalf("pause kind %s, want approval", r.PauseKind)
				}
				if e.ended() {
					t.Fatal("the wait ended before the approval")
				}
				res, err := w.control(id, rollout.CommandApprove, "alice")
				if err != nil {
					t.Fatalf("approve: %v", err)
				}
				e.observe()
				if res.Weights.Candidate != w.record(id).CandidateWeight || w.sfn.routing(aliasOf("orders")) == "v1=100" {
					t.Errorf("approve answered %+v and left the alias on %s: not effective at once", res, w.sfn.routing(aliasOf("orders")))
				}
				evs := w.audit(id)
				if i := slices.IndexFunc(evs, func(ev controller.Event) bool { return ev.Actor == "operator:alice" }); i < 0 {
					t.Errorf("no audit event by operator:alice in %+v", evs)
				}
			}
			if n := e.ticks(40); !e.ended() {
				t.Fatalf("not ended after %d ticks; record %+v", n, w.record(id))
			}
			o, _ := w.tasks.outcome(e.token)
			if !o.Succeeded {
				t.Fatalf("progress wait ended with %+v, want success", o)
			}
			e.finalize()
			wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
			r := wantPhase(t, w, id, rollout.Succeeded, "")
			wantEqual(t, "weights", r.IntendedWeights(), rollout.Weights{Stable: 0, Candidate: 100})
			wantEqual(t, "routing over time", distinct(e.routing), tc.wantRouting)
			wantEqual(t, "alias at the end", w.sfn.routing(aliasOf("orders")), "v2=100")
			wantEqual(t, "events", w.events.of(id), tc.wantEvents)
			last, _ := w.events.last(id)
			if last.Detail.StableVersionArn != versionOf("orders", 1) || last.Detail.CandidateVersionArn != versionOf("orders", 2) {
				t.Errorf("outcome detail versions %s → %s, want v1 → v2", last.Detail.StableVersionArn, last.Detail.CandidateVersionArn)
			}
			if tc.wantTestAlas {
				wantEqual(t, "test alias after Finalize", w.sfn.routing(testAlias), "absent")
			}
			evs := w.audit(id)
			acts := actions(evs)
			if acts[0] != "Prepared" || acts[len(acts)-1] != string(rollout.ActionFinish) {
				t.Errorf("audit trail %v: want Prepared first and Finish last", acts)
			}
			// The bake ran its full time: Finish comes at least bakeTime after the last weight.
			if r.FinishedAt.Sub(r.BakeStartedAt) < r.Policy.BakeTime.D() {
				t.Errorf("baked %s, want %s", r.FinishedAt.Sub(r.BakeStartedAt), r.Policy.BakeTime)
			}
		})
	}
}

func TestDuplicateDeliveries(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"5m"}`)
	event := w.upload(ordersKey, definition("orders v2"), nil)

	// EventBridge delivers at least once: ten deliveries start ten executions.
	var starts, duplicates int
	var first *execution
	ids := map[string]bool{}
	for range 10 {
		e := w.execute(event)
		e.prepare()
		if e.prepareErr != nil {
			t.Fatalf("Prepare: %v", e.prepareErr)
		}
		ids[e.prepared.RolloutID] = true
		switch e.prepared.Action {
		case controller.ActionStart:
			starts++
			first = e
		case controller.ActionDuplicate:
			duplicates++
		default:
			t.Fatalf("Prepare answered %q", e.prepared.Action)
		}
	}
	if starts != 1 || duplicates != 9 || len(ids) != 1 {
		t.Fatalf("%d starts, %d duplicates, %d rollout ids; want 1, 9, 1", starts, duplicates, len(ids))
	}
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v2")

	// The state machine retries a Prepare that timed out: the same execution continues.
	again, err := w.ctl.Prepare(w.ctx, first.state)
	if err != nil || again.Action != controller.ActionStart || again.CandidateVersionArn != first.prepared.CandidateVersionArn {
		t.Fatalf("retried Prepare = %+v, %v; want start with %s", again, err, first.prepared.CandidateVersionArn)
	}
	hist, _ := w.store.History(w.ctx, smArn("orders"), 0)
	wantEqual(t, "rollouts in history", len(hist), 1)

	first.register()
	first.ticks(20)
	first.finalize()
	wantFinalized(t, w, first, topology.DetailRolloutSucceeded)
	wantEqual(t, "versions after the rollout", w.sfn.liveVersions("orders"), "v1 v2")
}

func TestPrepareRetriedAfterACrashContinues(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"ALL_AT_ONCE"}`)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	// The check is recorded, the version is published, then the record cannot be written:
	// Transient, retried by the state machine, and the retry finds the version it published.
	w.faults.fail("Store.SaveRollout", nil, throttled("PutItem"))
	e.prepare()
	if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
		t.Fatalf("Prepare = %+v, %v", e.prepared, e.prepareErr)
	}
	wantEqual(t, "Publish calls", w.faults.count("StateMachines.Publish"), 2)
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v2")
	wantEqual(t, "candidate", e.prepared.CandidateVersionArn, versionOf("orders", 2))
}

func TestBusyAlias(t *testing.T) {
	const canary = `"strategy":"CANARY","percentage":10,"interval":"3m"`

	t.Run("reject", func(t *testing.T) {
		w, first := startOrders(t, `{`+canary+`}`)
		second := w.execute(w.upload(ordersKey, definition("orders v3"), nil)).run(0)
		if got := controller.ErrorCode(second.prepareErr); got != "RolloutInProgress" {
			t.Fatalf("second Prepare error %q (%v), want RolloutInProgress", got, second.prepareErr)
		}
		wantPhase(t, w, second.id(), rollout.Failed, "RolloutInProgress")
		wantFinalized(t, w, second, topology.DetailRolloutFailed)
		// The first rollout is unaffected.
		wantPhase(t, w, first.id(), rollout.Progressing, "")
		wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), first.id())
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
		wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v2")
		first.ticks(20)
		first.finalize()
		wantFinalized(t, w, first, topology.DetailRolloutSucceeded)
	})

	t.Run("queue", func(t *testing.T) {
		w, first := startOrders(t, `{`+canary+`,"onBusy":"queue"}`)
		second := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
		second.prepare()
		if second.prepareErr != nil || second.prepared.Action != controller.ActionQueued {
			t.Fatalf("second Prepare = %+v, %v; want queued", second.prepared, second.prepareErr)
		}
		if err := second.waitTurn(); err != nil {
			t.Fatalf("Register(turn): %v", err)
		}
		if second.turnCame() {
			t.Fatal("the queued upload got its turn while the first rollout runs")
		}
		wantEqual(t, "versions while queued", w.sfn.liveVersions("orders"), "v1 v2")
		first.ticks(20)
		if second.turnCame() {
			t.Fatal("the queued upload got its turn before the first rollout was finalized")
		}
		first.finalize()
		wantFinalized(t, w, first, topology.DetailRolloutSucceeded)
		if !second.turnCame() {
			t.Fatal("the first rollout's Finalize did not wake the queued upload")
		}
		second.prepare()
		if second.prepareErr != nil || second.prepared.Action != controller.ActionStart {
			t.Fatalf("second Prepare after its turn = %+v, %v; want start", second.prepared, second.prepareErr)
		}
		r := w.record(second.id())
		wantEqual(t, "second stable", r.StableVersionArn, versionOf("orders", 2))
		wantEqual(t, "second candidate", r.CandidateVersionArn, versionOf("orders", 3))
		second.register()
		second.ticks(20)
		second.finalize()
		wantFinalized(t, w, second, topology.DetailRolloutSucceeded)
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v3=100")
		wantEqual(t, "second routing", distinct(second.routing), []string{"v2=90 v3=10", "v3=100"})
	})

	t.Run("supersede", func(t *testing.T) {
		w, first := startOrders(t, `{`+canary+`,"onBusy":"supersede"}`)
		first.tick()
		second := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
		second.prepare()
		if second.prepareErr != nil || second.prepared.Action != controller.ActionStart {
			t.Fatalf("second Prepare = %+v, %v; want start", second.prepared, second.prepareErr)
		}
		wantPhase(t, w, first.id(), rollout.Aborted, "")
		wantEqual(t, "alias after supersede", w.sfn.routing(aliasOf("orders")), "v1=100")
		if o, ok := w.tasks.outcome(first.token); !ok || o.Error != "Aborted" {
			t.Fatalf("first token outcome %+v, want failed with Aborted", o)
		}
		first.finalize()
		wantFinalized(t, w, first, topology.DetailRolloutAborted)
		r := w.record(second.id())
		wantEqual(t, "second stable", r.StableVersionArn, versionOf("orders", 1))
		second.register()
		second.ticks(20)
		second.finalize()
		wantFinalized(t, w, second, topology.DetailRolloutSucceeded)
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v3=100")
	})
}

func TestRefusedUploads(t *testing.T) {
	tests := []struct {
		name      string
		key       string
		body      string
		meta      map[string]string
		tags      []string // rollout:<field> tags beside rollout:managed
		unmanaged bool
		policy    string
		alarms    map[string]rollout.AlarmState
		wantError string
		wantIn    string // a fragment of the reason
	}{
		{name: "malformed JSON", body: `{"StartAt": "Work", "States": {`, wantError: "InvalidDefinition", wantIn: "not JSON"},
		{name: "invalid ASL", body: `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, wantError: "InvalidDefinition", wantIn: "MISSING_TRANSITION_TARGET"},
		{name: "refused by UpdateStateMachine", body: definition(refusedByPublish), wantError: "InvalidDefinition", wantIn: "Invalid State Machine Definition"},
		{name: "unknown state machine", key: "billing/prod/definition.asl.json", wantError: "StateMachineNotFound", wantIn: "billing"},
		{name: "missing alias", key: "orders/staging/definition.asl.json", wantError: "StateMachineNotFound", wantIn: "staging"},
		{name: "unmanaged state machine", unmanaged: true, wantError: "NotManaged", wantIn: "rollout:managed"},
		{name: "same definition as the stable version", body: definition("orders v1"), wantError: "NothingToDeploy", wantIn: "nothing to deploy"},
		{name: "invalid policy in rollout.json", policy: `{"strategy":"CANARY","percentage":150,"interval":"5m"}`, wantError: "InvalidPolicy", wantIn: `"percentage"`},
		{name: "unknown field in rollout.json", policy: `{"strategy":"CANARY","colour":"blue"}`, wantError: "InvalidPolicy", wantIn: `"colour"`},
		{name: "invalid policy in tags", tags: []string{"growthFactor", "fast", "strategy", "EXPONENTIAL"}, wantError: "InvalidPolicy", wantIn: `"growthFactor"`},
		{name: "invalid policy in metadata", meta: map[string]string{"rollout-strategy": "SIDEWAYS"}, wantError: "InvalidPolicy", wantIn: `"strategy"`},
		{name: "blue/green test alias is the alias itself", policy: `{"strategy":"BLUE_GREEN","testAlias":"prod"}`, wantError: "InvalidPolicy", wantIn: `"testAlias"`},
		{name: "interval shorter than a tick", policy: `{"strategy":"LINEAR","percentage":50,"interval":"30s"}`, wantError: "InvalidPolicy", wantIn: `"interval"`},
		{name: "missing alarm", policy: `{"strategy":"CANARY","alarms":["orders-failures","nope"]}`, alarms: map[string]rollout.AlarmState{"orders-failures": rollout.AlarmOK}, wantError: "AlarmNotFound", wantIn: "nope"},
		{name: "preexisting alarm with block", policy: `{"strategy":"CANARY","alarms":["orders-failures"],"preexistingAlarms":"block"}`, alarms: map[string]rollout.AlarmState{"orders-failures": rollout.AlarmAlarm}, wantError: "AlarmFiring", wantIn: "orders-failures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tags := managed(tc.tags...)
			if tc.unmanaged {
				tags = map[string]string{"team": "orders"}
			}
			w.machine("orders", tags)
			if tc.policy != "" {
				w.policy("orders", tc.policy)
			}
			for name, s := range tc.alarms {
				w.alarms.set(name, s)
			}
			key, body := tc.key, tc.body
			if key == "" {
				key = ordersKey
			}
			if body == "" {
				body = definition("orders v2")
			}
			e := w.execute(w.upload(key, body, tc.meta)).run(10)
			if got := controller.ErrorCode(e.prepareErr); got != tc.wantError {
				t.Fatalf("Prepare error %q (%v), want %s", got, e.prepareErr, tc.wantError)
			}
			if !strings.Contains(e.prepareErr.Error(), tc.wantIn) {
				t.Errorf("error %q does not name %s", e.prepareErr, tc.wantIn)
			}
			r := wantPhase(t, w, e.id(), rollout.Failed, tc.wantError)
			if !strings.Contains(r.Reason, tc.wantIn) {
				t.Errorf("reason %q does not name %s", r.Reason, tc.wantIn)
			}
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
			wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1")
			wantEqual(t, "alias updates", len(w.sfn.updates), 0)
			wantFinalized(t, w, e, topology.DetailRolloutFailed)
			wantEqual(t, "events", w.events.of(e.id()), []string{topology.DetailRolloutFailed})
			if last, _ := w.events.last(e.id()); last.Detail.Error != tc.wantError {
				t.Errorf("Rollout Failed detail error %q, want %s", last.Detail.Error, tc.wantError)
			}
			acts := actions(w.audit(e.id()))
			wantEqual(t, "audit", acts, []string{"Refused"})
			// A retried Prepare answers as the first time, without touching anything.
			if _, err := w.ctl.Prepare(w.ctx, e.state); controller.ErrorCode(err) != tc.wantError {
				t.Errorf("retried Prepare error %v, want %s", err, tc.wantError)
			}
		})
	}
}

func TestPreTraffic(t *testing.T) {
	setup := func(t *testing.T) (*world, *execution) {
		w := newWorld(t)
		w.machine("orders", managed())
		w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"2m"}`)
		w.s3.put(testBucket, "orders/prod/tests/happy.json", `{"input":{"orderId":"1","items":[1]},"expect":"SUCCEEDED"}`, nil)
		w.s3.put(testBucket, "orders/prod/tests/no-items.json", `{"input":{"orderId":"2"},"expect":"FAILED"}`, nil)
		e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
		e.prepare()
		if e.prepareErr != nil {
			t.Fatal(e.prepareErr)
		}
		var names []string
		for _, tc := range e.prepared.Tests {
			names = append(names, tc.Name+":"+tc.Expect)
		}
		wantEqual(t, "tests", names, []string{"happy:SUCCEEDED", "no-items:FAILED"})
		return w, e
	}

	t.Run("passing", func(t *testing.T) {
		w, e := setup(t)
		e.register(
			controller.TestResult{Name: "happy", Expect: "SUCCEEDED", Status: "SUCCEEDED"},
			controller.TestResult{Name: "no-items", Expect: "FAILED", Status: "FAILED"},
		)
		if e.registerErr != nil {
			t.Fatal(e.registerErr)
		}
		wantPhase(t, w, e.id(), rollout.Progressing, "")
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
	})

	t.Run("failing", func(t *testing.T) {
		w, e := setup(t)
		e.register(
			controller.TestResult{Name: "happy", Expect: "SUCCEEDED", Error: "States.TaskFailed", Cause: "boom"},
			controller.TestResult{Name: "no-items", Expect: "FAILED", Status: "FAILED"},
		)
		if got := controller.ErrorCode(e.registerErr); got != "PreTrafficFailed" {
			t.Fatalf("Register error %q (%v), want PreTrafficFailed", got, e.registerErr)
		}
		r := wantPhase(t, w, e.id(), rollout.Failed, "PreTrafficFailed")
		if !strings.Contains(r.Reason, "happy") {
			t.Errorf("reason %q does not name the failed test", r.Reason)
		}
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
		if w.sched.exists(topology.ScheduleName(e.id())) {
			t.Error("a schedule was created for a rollout that failed its tests")
		}
		e.finalize()
		wantFinalized(t, w, e, topology.DetailRolloutFailed)
		wantEqual(t, "alias after Finalize", w.sfn.routing(aliasOf("orders")), "v1=100")
		wantEqual(t, "alias updates", len(w.sfn.updates), 0)
	})
}

const guarded = `{"strategy":"CANARY","percentage":20,"interval":"5m","alarms":["orders-failures"]%s}`

func TestAlarmRollback(t *testing.T) {
	t.Run("ALARM rolls back at once", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		e.tick()
		wantEqual(t, "alias before the alarm", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
		res, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm)
		if err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		wantEqual(t, "rolled back", len(res.Rollouts), 1)
		wantEqual(t, "alias right after Rollback", w.sfn.routing(aliasOf("orders")), "v1=100")
		r := wantPhase(t, w, e.id(), rollout.RolledBack, "")
		if !strings.Contains(r.Reason, "orders-failures") {
			t.Errorf("reason %q does not name the alarm", r.Reason)
		}
		if o, ok := w.tasks.outcome(e.token); !ok || o.Error != "RolledBack" {
			t.Fatalf("token outcome %+v, want failed with RolledBack", o)
		}
		evs := w.audit(e.id())
		if last := evs[len(evs)-1]; last.Actor != "alarm:orders-failures" || last.Action != string(rollout.ActionRollback) {
			t.Errorf("last audit event %+v, want Rollback by alarm:orders-failures", last)
		}
		// A second delivery of the same alarm changes nothing.
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "audit events", len(w.audit(e.id())), len(evs))
		e.finalize()
		wantFinalized(t, w, e, topology.DetailRolloutRolledBack)
		wantEqual(t, "alias after Finalize", w.sfn.routing(aliasOf("orders")), "v1=100")
		// Finalize stops the alarm from guarding the ended rollout.
		ids, _ := w.store.GuardedBy(w.ctx, "orders-failures")
		wantEqual(t, "guarded", len(ids), 0)
	})

	t.Run("ALARM to OK does nothing", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		res, err := w.alarm("orders-failures", rollout.AlarmAlarm, rollout.AlarmOK)
		if err != nil || len(res.Rollouts) != 0 {
			t.Fatalf("Rollback = %+v, %v; want nothing done", res, err)
		}
		wantPhase(t, w, e.id(), rollout.Progressing, "")
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
	})

	t.Run("onFailure=pause freezes the weights", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"onFailure":"pause"`))
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Fatal(err)
		}
		r := wantPhase(t, w, e.id(), rollout.Paused, "")
		wantEqual(t, "pause kind", r.PauseKind, rollout.PauseFailure)
		for range 10 {
			if err := e.tick(); err != nil {
				t.Fatal(err)
			}
		}
		wantEqual(t, "routing while paused", distinct(e.routing), []string{"v1=80 v2=20"})
		wantPhase(t, w, e.id(), rollout.Paused, "")
		if e.ended() {
			t.Error("the progress wait ended on a paused rollout")
		}
		wantEqual(t, "events", w.events.of(e.id()), []string{"Rollout Started", "Rollout Paused"})
	})
}

// startOrdersIn is startOrders in a world the test prepared (alarms, metrics).
func startOrdersIn(t *testing.T, w *world, policy string) (*world, *execution) {
	t.Helper()
	w.machine("orders", managed())
	w.policy("orders", policy)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
		t.Fatalf("Prepare = %+v, %v; want start", e.prepared, e.prepareErr)
	}
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register: %v", e.registerErr)
	}
	return w, e
}

func TestFailureRate(t *testing.T) {
	const policy = `{"strategy":"CANARY","percentage":20,"interval":"3m","maxFailureRate":10,"minExecutions":20}`
	tests := []struct {
		name            string
		started, failed int64
		ticks           int
		wantPhase       rollout.Phase
		wantRouting     string
	}{
		{name: "over the rate rolls back", started: 30, failed: 6, ticks: 1, wantPhase: rollout.RolledBack, wantRouting: "v1=100"},
		{name: "under the rate promotes", started: 30, failed: 2, ticks: 5, wantPhase: rollout.Succeeded, wantRouting: "v2=100"},
		{name: "too few executions holds", started: 5, failed: 0, ticks: 12, wantPhase: rollout.Progressing, wantRouting: "v1=80 v2=20"},
		{name: "too few executions, all failed, holds", started: 5, failed: 5, ticks: 12, wantPhase: rollout.Progressing, wantRouting: "v1=80 v2=20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, e := startOrders(t, policy)
			w.metrics.set(versionOf("orders", 2), tc.started, tc.failed)
			for range tc.ticks {
				if e.ended() {
					break
				}
				if err := e.tick(); err != nil {
					t.Fatal(err)
				}
			}
			r := wantPhase(t, w, e.id(), tc.wantPhase, "")
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), tc.wantRouting)
			if tc.wantPhase == rollout.Progressing {
				if !strings.Contains(w.ctlReason(e), "inconclusive") {
					t.Errorf("hold reason %q, want inconclusive", w.ctlReason(e))
				}
				// Enough data arrives: the analysis passes at the next tick.
				w.metrics.set(versionOf("orders", 2), 40, 1)
				e.tick()
				wantEqual(t, "alias once the analysis passed", w.sfn.routing(aliasOf("orders")), "v2=100")
				e.ticks(3)
				wantPhase(t, w, e.id(), rollout.Succeeded, "")
				wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v2=100")
			}
			if tc.wantPhase == rollout.RolledBack && !strings.Contains(r.Reason, "failure rate") {
				t.Errorf("reason %q", r.Reason)
			}
		})
	}
}

// ctlReason runs one Advance without moving the clock and returns the decision's reason.
func (w *world) ctlReason(e *execution) string {
	out, err := w.ctl.Advance(w.ctx, controller.Tick{RolloutID: e.id()})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.Reason
}

func TestControl(t *testing.T) {
	const canary = `{"strategy":"CANARY","percentage":20,"interval":"5m","bakeTime":"2m"}`
	const linear = `{"strategy":"LINEAR","percentage":10,"interval":"5m","bakeTime":"2m"}`
	tests := []struct {
		name   string
		policy string
		before []rollout.Command // commands that set the scene
		cmd    rollout.Command
		// want right after the command, in the same call
		wantPhase   rollout.Phase
		wantRouting string
		wantError   string
		wantOutcome string // the progress wait's outcome, "" while it runs
	}{
		{name: "pause", policy: canary, cmd: rollout.CommandPause, wantPhase: rollout.Paused, wantRouting: "v1=80 v2=20"},
		{name: "resume", policy: canary, before: []rollout.Command{rollout.CommandPause}, cmd: rollout.CommandResume, wantPhase: rollout.Progressing, wantRouting: "v1=80 v2=20"},
		{name: "promote skips the pause", policy: canary, cmd: rollout.CommandPromote, wantPhase: rollout.Baking, wantRouting: "v2=100"},
		{name: "promote on a linear step", policy: linear, cmd: rollout.CommandPromote, wantPhase: rollout.Progressing, wantRouting: "v1=80 v2=20"},
		{name: "promote-full", policy: linear, cmd: rollout.CommandPromoteFull, wantPhase: rollout.Baking, wantRouting: "v2=100"},
		{name: "promote-full while baking", policy: linear, before: []rollout.Command{rollout.CommandPromoteFull}, cmd: rollout.CommandPromoteFull, wantPhase: rollout.Succeeded, wantRouting: "v2=100", wantOutcome: "Succeeded"},
		{name: "abort", policy: canary, cmd: rollout.CommandAbort, wantPhase: rollout.Aborted, wantRouting: "v1=100", wantOutcome: "Aborted"},
		{name: "abort while paused", policy: canary, before: []rollout.Command{rollout.CommandPause}, cmd: rollout.CommandAbort, wantPhase: rollout.Aborted, wantRouting: "v1=100", wantOutcome: "Aborted"},
		{name: "approve with nothing to approve", policy: canary, cmd: rollout.CommandApprove, wantPhase: rollout.Progressing, wantRouting: "v1=80 v2=20", wantError: "CommandRejected"},
		{name: "resume when not paused", policy: canary, cmd: rollout.CommandResume, wantPhase: rollout.Progressing, wantRouting: "v1=80 v2=20", wantError: "CommandRejected"},
		{name: "pause after abort", policy: canary, before: []rollout.Command{rollout.CommandAbort}, cmd: rollout.CommandPause, wantPhase: rollout.Aborted, wantRouting: "v1=100", wantError: "CommandRejected", wantOutcome: "Aborted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, e := startOrders(t, tc.policy)
			id := e.id()
			for _, c := range tc.before {
				if _, err := w.control(id, c, "bob"); err != nil {
					t.Fatalf("%s: %v", c, err)
				}
			}
			res, err := w.control(id, tc.cmd, "alice")
			if got := controller.ErrorCode(err); got != tc.wantError {
				t.Fatalf("Control error %q (%v), want %q", got, err, tc.wantError)
			}
			wantPhase(t, w, id, tc.wantPhase, "")
			wantEqual(t, "alias right after the command", w.sfn.routing(aliasOf("orders")), tc.wantRouting)
			if err == nil {
				wantEqual(t, "answered phase", res.Phase, tc.wantPhase)
				evs := w.audit(id)
				last := evs[len(evs)-1]
				if last.Actor != "operator:alice" || !strings.Contains(last.Reason, "alice") {
					t.Errorf("last audit event %+v, want one by operator:alice", last)
				}
			}
			o, ended := w.tasks.outcome(e.token)
			switch {
			case tc.wantOutcome == "" && ended:
				t.Errorf("the wait ended with %+v", o)
			case tc.wantOutcome == "Succeeded" && !o.Succeeded, tc.wantOutcome == "Aborted" && o.Error != "Aborted":
				t.Errorf("the wait ended with %+v, want %s", o, tc.wantOutcome)
			}
		})
	}

	t.Run("paused holds across ticks, resume goes on", func(t *testing.T) {
		w, e := startOrders(t, canary)
		if _, err := w.control(e.id(), rollout.CommandPause, "alice"); err != nil {
			t.Fatal(err)
		}
		for range 8 {
			e.tick()
		}
		wantPhase(t, w, e.id(), rollout.Paused, "")
		wantEqual(t, "routing while paused", distinct(e.routing), []string{"v1=80 v2=20"})
		if _, err := w.control(e.id(), rollout.CommandResume, "alice"); err != nil {
			t.Fatal(err)
		}
		e.ticks(10)
		e.finalize()
		wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	})

	t.Run("unknown rollout", func(t *testing.T) {
		w := newWorld(t)
		_, err := w.control("r-000000000000", rollout.CommandPause, "alice")
		wantEqual(t, "error", controller.ErrorCode(err), "RolloutNotFound")
	})

	t.Run("as an EventBridge event", func(t *testing.T) {
		w, e := startOrders(t, canary)
		raw := fmt.Sprintf(`{"version":"0","id":"event-abort-1","detail-type":%q,"source":%q,"detail":{"rolloutId":%q,"command":"abort","actor":"carol"}}`, topology.DetailControlRequest, topology.EventSource, e.id())
		if _, err := invoke(w.ctx, w.ctl.Control, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		wantPhase(t, w, e.id(), rollout.Aborted, "")
	})
}

func TestCrashBetweenRecordAndAlias(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"LINEAR","percentage":25,"interval":"3m"}`)
	e.tick()
	e.tick()
	// The third tick writes 50% to the record, then dies before the alias follows.
	w.faults.fail("Aliases.Update", errCrash)
	if err := e.tick(); err == nil {
		t.Fatal("the crashed tick reported no error")
	}
	wantEqual(t, "record", w.record(e.id()).CandidateWeight, 50)
	wantEqual(t, "alias after the crash", w.sfn.routing(aliasOf("orders")), "v1=75 v2=25")
	// The next tick repairs the alias to the intent (and is not taken for drift).
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, w, e.id(), rollout.Progressing, "")
	wantEqual(t, "alias after the next tick", w.sfn.routing(aliasOf("orders")), "v1=50 v2=50")
	e.ticks(20)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantEqual(t, "routing", distinct(e.routing), []string{"v1=75 v2=25", "v1=50 v2=50", "v1=25 v2=75", "v2=100"})
}

func TestCrashBeforeTheOutcomeWasSent(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"CANARY","percentage":20,"interval":"2m"}`)
	// The last step's alias update dies after the record was written: the outcome must
	// not be sent while the alias is short of 100%, and the following ticks finish it.
	for range 2 {
		e.tick()
	}
	w.faults.fail("Aliases.Update", errCrash)
	for n := 0; !e.ended(); n++ {
		if n == 6 {
			t.Fatalf("not ended 6 ticks after the crash: %+v", w.record(e.id()))
		}
		e.tick()
		if e.ended() && w.sfn.routing(aliasOf("orders")) != "v2=100" {
			t.Fatalf("the outcome was sent with the alias on %s", w.sfn.routing(aliasOf("orders")))
		}
	}
	if o, _ := w.tasks.outcome(e.token); !o.Succeeded {
		t.Fatalf("outcome %+v", o)
	}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
}

func TestLostOutcomeIsSentAgain(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"ALL_AT_ONCE","bakeTime":"2m"}`)
	// SendTaskSuccess fails when the bake ends: the record says Succeeded, and the next
	// tick says it again; the schedule stays until Finalize deletes it.
	w.faults.fail("Tasks.Succeed", throttled("SendTaskSuccess"))
	for n := 0; w.record(e.id()).Phase != rollout.Succeeded; n++ {
		if n == 5 {
			t.Fatal("never succeeded")
		}
		e.tick()
	}
	if e.ended() {
		t.Fatal("the outcome was delivered although SendTaskSuccess failed")
	}
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if o, ok := w.tasks.outcome(e.token); !ok || !o.Succeeded {
		t.Fatalf("the next tick did not send the outcome: %+v", o)
	}
	if w.record(e.id()).Settled || !w.sched.exists(topology.SweepScheduleName(0)) {
		t.Error("the tick settled the rollout, or stopped the sweep, before Finalize could run")
	}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	if w.sched.exists(topology.ScheduleName(e.id())) {
		t.Error("Finalize left the schedule")
	}
}

func TestThrottling(t *testing.T) {
	t.Run("rollback retries within the call", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		before := w.faults.count("Aliases.Update")
		w.faults.fail("Aliases.Update", throttled("UpdateStateMachineAlias"), throttled("UpdateStateMachineAlias"), throttled("UpdateStateMachineAlias"))
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "alias update attempts", w.faults.count("Aliases.Update")-before, 4)
	})

	t.Run("forward step is Transient, the next tick completes it", func(t *testing.T) {
		w, e := startOrders(t, `{"strategy":"LINEAR","percentage":25,"interval":"3m"}`)
		e.tick()
		e.tick()
		w.faults.fail("Aliases.Update", throttled("UpdateStateMachineAlias"))
		err := e.tick()
		wantEqual(t, "error", controller.ErrorCode(err), "Transient")
		wantEqual(t, "alias after the throttled step", w.sfn.routing(aliasOf("orders")), "v1=75 v2=25")
		if err := e.tick(); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "alias after the next tick", w.sfn.routing(aliasOf("orders")), "v1=50 v2=50")
	})

	t.Run("throttled reads are Transient", func(t *testing.T) {
		w, e := startOrders(t, `{"strategy":"LINEAR","percentage":25,"interval":"3m"}`)
		for _, op := range []string{"Aliases.Describe", "StateMachines.Tags", "Store.GetRollout"} {
			w.faults.fail(op, throttled(op))
			_, err := w.ctl.Advance(w.ctx, controller.Tick{RolloutID: e.id()})
			wantEqual(t, op, controller.ErrorCode(err), "Transient")
		}
	})
}

func TestAlarmDuringAForwardStep(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"LINEAR","percentage":25,"interval":"2m","alarms":["orders-failures"]}`)
	e.tick()
	fired := false
	// The forward step's alias update reaches AWS after the alarm's rollback did.
	w.faults.hook("Aliases.Update", func(arg any) error {
		routing := arg.([]rollout.Route)
		if fired || len(routing) != 2 || routing[1].Weight != 50 {
			return nil
		}
		fired = true
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Errorf("Rollback: %v", err)
		}
		return nil
	})
	err := e.tick()
	if !fired {
		t.Fatal("the forward step never updated the alias")
	}
	if err != nil {
		t.Errorf("forward tick: %v", err)
	}
	wantPhase(t, w, e.id(), rollout.RolledBack, "")
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	if o, ok := w.tasks.outcome(e.token); !ok || o.Error != "RolledBack" {
		t.Fatalf("token outcome %+v, want RolledBack", o)
	}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutRolledBack)
	wantEqual(t, "alias after Finalize", w.sfn.routing(aliasOf("orders")), "v1=100")
	// The step the rollback overtook is not announced after the rollback.
	wantEqual(t, "events", w.events.of(e.id()), []string{"Rollout Started", "Rollout RolledBack"})
}

func TestDrift(t *testing.T) {
	tests := []struct {
		onDrift     string
		wantPhase   rollout.Phase
		wantRouting string
	}{
		{onDrift: "pause", wantPhase: rollout.Paused, wantRouting: "v3=100"},
		{onDrift: "rollback", wantPhase: rollout.RolledBack, wantRouting: "v1=100"},
	}
	for _, tc := range tests {
		t.Run(tc.onDrift, func(t *testing.T) {
			w, e := startOrders(t, `{"strategy":"CANARY","percentage":20,"interval":"5m","onDrift":"`+tc.onDrift+`"}`)
			v3 := w.sfn.publishNew("orders", definition("hotfix by hand"))
			w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: v3, Weight: 100})
			if err := e.tick(); err != nil {
				t.Fatal(err)
			}
			r := wantPhase(t, w, e.id(), tc.wantPhase, "")
			if !strings.Contains(r.Reason, "drift") {
				t.Errorf("reason %q does not say drift", r.Reason)
			}
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), tc.wantRouting)
			for range 3 {
				e.tick()
			}
			wantEqual(t, "alias three ticks later", w.sfn.routing(aliasOf("orders")), tc.wantRouting)
		})
	}
}

func TestTimeout(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"CANARY","percentage":20,"interval":"5m"}`)
	e.tick()
	// The progress wait times out: Step Functions closes the token and Finalize runs.
	w.tasks.expire(e.token)
	e.state.Error = &controller.TaskError{Error: "States.Timeout", Cause: "Task timed out."}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutFailed)
	r := wantPhase(t, w, e.id(), rollout.Failed, "RolloutFailed")
	if !strings.Contains(r.Reason, "timed out") {
		t.Errorf("reason %q", r.Reason)
	}
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "lock", w.store.lockHolder(aliasOf("orders")), "")
	if !w.record(e.id()).Settled {
		t.Error("Finalize did not settle the rollout: the sweep would still look at it")
	}
	// The next sweep finds nothing running, and stops ticking: an idle controller makes
	// no call.
	w.clock.Advance(3 * tickEvery)
	if res, err := w.ctl.Sweep(w.ctx, controller.SweepInput{Shards: 1}); err != nil || !res.Idle {
		t.Errorf("sweep after the end: %+v, %v", res, err)
	}
	wantEqual(t, "schedules deleted", w.sched.deleted, []string{topology.SweepScheduleName(0)})
	// A tick already on its way finds the ended rollout and the alias right.
	if _, err := w.ctl.Advance(w.ctx, controller.Tick{RolloutID: e.id()}); err != nil {
		t.Errorf("late tick: %v", err)
	}
	wantEqual(t, "alias after a late tick", w.sfn.routing(aliasOf("orders")), "v1=100")
}

func TestGarbageCollection(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	for i := 2; i <= 6; i++ {
		w.clock.Advance(time.Minute)
		w.sfn.publishNew("orders", definition(fmt.Sprintf("orders old %d", i)))
	}
	// Another alias routes to v3: it must survive whatever keepVersions says.
	if _, err := (aliasPort{w.sfn}).Create(w.ctx, smArn("orders"), "beta", "", []rollout.Route{{VersionArn: versionOf("orders", 3), Weight: 100}}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	w.policy("orders", `{"strategy":"ALL_AT_ONCE","keepVersions":2}`)
	e := w.execute(w.upload(ordersKey, definition("orders v7"), nil)).run(10)
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v7=100")
	// v1 (stable, the rollback target) and v7 (candidate) and v3 (beta) are routed; of the
	// unreferenced v2 v4 v5 v6 the newest two stay.
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v3 v5 v6 v7")
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"named", controller.FromCode("AlarmFiring", "x"), "AlarmFiring"},
		{"wrapped named", fmt.Errorf("prepare: %w", controller.FromCode("InvalidPolicy", "x")), "InvalidPolicy"},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", controller.FromCode("RolledBack", "x"))), "RolledBack"},
		{"unknown name", controller.FromCode("Bogus", "x"), "Internal"},
		{"plain", fmt.Errorf("boom"), "Internal"},
		{"sentinel", fmt.Errorf("x: %w", controller.ErrThrottled), "Internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantEqual(t, "ErrorCode", controller.ErrorCode(tc.err), tc.want)
			if tc.err != nil && controller.ErrorMessage(tc.err) == "" {
				t.Errorf("ErrorMessage of %v is empty", tc.err)
			}
		})
	}
}

func TestRollbackDoesNotWaitOnReads(t *testing.T) {
	tests := []struct {
		name string
		op   string
		errs []error
	}{
		{name: "alias describe throttled", op: "Aliases.Describe", errs: []error{throttled("DescribeStateMachineAlias"), throttled("DescribeStateMachineAlias")}},
		{name: "alarms throttled", op: "Alarms.States", errs: []error{throttled("DescribeAlarms")}},
		{name: "metrics down", op: "Metrics.VersionCounts", errs: []error{throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData"), throttled("GetMetricData")}},
		{name: "tags throttled", op: "StateMachines.Tags", errs: []error{throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource"), throttled("ListTagsForResource")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.alarms.set("orders-failures", rollout.AlarmOK)
			_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":20,"interval":"5m","alarms":["orders-failures"],"maxFailureRate":5}`)
			w.faults.fail(tc.op, tc.errs...)
			if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			wantPhase(t, w, e.id(), rollout.RolledBack, "")
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
		})
	}
}

func TestSupersedeDuringPrepare(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"3m","onBusy":"supersede"}`)
	first := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	second := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	// The first upload holds the lock and is about to publish when the second arrives.
	once := false
	w.faults.hook("StateMachines.Publish", func(any) error {
		if !once {
			once = true
			second.prepare()
		}
		return nil
	})
	first.prepare()
	if second.prepareErr != nil || second.prepared.Action != controller.ActionStart {
		t.Fatalf("second Prepare = %+v, %v; want start", second.prepared, second.prepareErr)
	}
	wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), second.id())
	if first.prepareErr == nil {
		// The first went on after it lost its lock: it must not take traffic.
		first.register()
		second.register()
		if first.registerErr == nil && !first.ended() {
			t.Fatalf("two rollouts run on one alias: %s (%s) and %s (%s)", first.id(), w.record(first.id()).Phase, second.id(), w.record(second.id()).Phase)
		}
	} else {
		second.register()
	}
	if first.finalize(); first.finalErr != nil {
		t.Fatal(first.finalErr)
	}
	wantEqual(t, "lock holder after the first's Finalize", w.store.lockHolder(aliasOf("orders")), second.id())
	if p := w.record(first.id()).Phase; !p.Terminal() {
		t.Fatalf("superseded rollout is %s", p)
	}
	second.ticks(20)
	second.finalize()
	wantFinalized(t, w, second, topology.DetailRolloutSucceeded)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), fmt.Sprintf("v%d=100", versionNumber(w.record(second.id()).CandidateVersionArn)))
}

func TestGarbageCollectionSparesActiveRollouts(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed("keepVersions", "1"))
	if _, err := (aliasPort{w.sfn}).Create(w.ctx, smArn("orders"), "staging", "", []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}); err != nil {
		t.Fatal(err)
	}
	w.s3.put(testBucket, "orders/staging/rollout.json", `{"strategy":"CANARY","percentage":10,"interval":"3m"}`, nil)
	w.policy("orders", `{"strategy":"ALL_AT_ONCE"}`)
	// staging's candidate is published and runs its pre-traffic tests (no alias routes to it
	// yet) while prod's rollout ends.
	w.clock.Advance(time.Minute)
	staging := w.execute(w.upload("orders/staging/definition.asl.json", definition("orders staging v2"), nil))
	staging.prepare()
	if staging.prepareErr != nil {
		t.Fatal(staging.prepareErr)
	}
	w.clock.Advance(time.Minute)
	prod := w.execute(w.upload(ordersKey, definition("orders prod v3"), nil))
	prod.prepare()
	w.clock.Advance(time.Minute)
	w.sfn.publishNew("orders", definition("by hand v4"))
	prod.register()
	prod.ticks(5)
	prod.finalize()
	wantFinalized(t, w, prod, topology.DetailRolloutSucceeded)
	if !strings.Contains(w.sfn.liveVersions("orders"), "v2") {
		t.Fatalf("Finalize of prod deleted v2, the candidate of the active staging rollout: versions %s", w.sfn.liveVersions("orders"))
	}
	staging.register()
	if staging.registerErr != nil {
		t.Fatal(staging.registerErr)
	}
	wantEqual(t, "staging alias", w.sfn.routing(topology.AliasArn(smArn("orders"), "staging")), "v1=90 v2=10")
}

func TestRegisterKeepsItsToken(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"2m"}`)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	// Every attempt to store the token loses a race: Register must not go on without it,
	// or no tick could ever end the progress wait.
	conflict := fmt.Errorf("save: ConditionalCheckFailedException: %w", controller.ErrConflict)
	w.faults.fail("Store.SaveRollout", conflict, conflict, conflict, conflict, conflict, conflict)
	err := w.ctl.Register(w.ctx, controller.RegisterInput{State: e.state, TaskToken: "token-1", Wait: controller.WaitProgress})
	if err == nil {
		if r := w.record(e.id()); r.TaskToken != "token-1" {
			t.Fatalf("Register answered nil without storing its token (record token %q)", r.TaskToken)
		}
	} else if controller.ErrorCode(err) != "Transient" {
		t.Fatalf("Register: %v, want Transient", err)
	}
	// The state machine retries: the rollout runs and ends the wait.
	e.register()
	if e.registerErr != nil {
		t.Fatal(e.registerErr)
	}
	e.ticks(10)
	if !e.ended() {
		t.Fatal("the progress wait never ended")
	}
}

func TestLateRedeliveryAfterTheClaimExpired(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"BLUE_GREEN"}`)
	event := w.upload(ordersKey, definition("orders v2"), nil)
	first := w.execute(event).run(10)
	wantFinalized(t, w, first, topology.DetailRolloutSucceeded)
	published := len(w.events.of(first.id()))
	// EventBridge retries a delivery for up to 24 hours: the same upload may come again
	// once its claim is gone.
	w.clock.Advance(25 * time.Hour)
	late := w.execute(event).run(10)
	if late.prepareErr != nil || late.prepared.Action != controller.ActionDuplicate {
		t.Fatalf("late delivery: Prepare = %+v, %v; want duplicate", late.prepared, late.prepareErr)
	}
	wantEqual(t, "events of the rollout", len(w.events.of(first.id())), published)
}

func TestAlarmBeforeRegisterStoredItsToken(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	w.machine("orders", managed())
	w.policy("orders", fmt.Sprintf(guarded, ""))
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	once := false
	w.faults.hook("Store.SaveRollout", func(arg any) error {
		if r := arg.(rollout.Rollout); !once && r.TaskToken != "" {
			once = true
			if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
				t.Errorf("Rollback: %v", err)
			}
		}
		return nil
	})
	e.register()
	if !once {
		t.Fatal("the hook never ran")
	}
	if o, ok := w.tasks.outcome(e.token); !ok || o.Error != "RolledBack" {
		t.Fatalf("progress token outcome %+v, %v; want RolledBack at once", o, ok)
	}
	wantPhase(t, w, e.id(), rollout.RolledBack, "")
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutRolledBack)
}

func TestAlarmDuringPreTrafficTests(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	w.machine("orders", managed())
	w.policy("orders", fmt.Sprintf(guarded, ""))
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	// The candidate runs its tests; the alarm fires before the progress wait begins. The
	// rollback handler must not be the one that starts the rollout.
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantPhase(t, w, e.id(), rollout.RolledBack, "")
	e.register()
	if o, ok := w.tasks.outcome(e.token); !ok || o.Error != "RolledBack" {
		t.Fatalf("progress token outcome %+v, want RolledBack", o)
	}
	if w.sched.exists(topology.ScheduleName(e.id())) {
		t.Error("schedule created for a rolled back rollout")
	}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutRolledBack)
	wantEqual(t, "alias updates", len(w.sfn.updates), 0)
}

func TestPolicyEditedMidRollout(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"LINEAR","percentage":25,"interval":"2m"}`)
	e.tick()
	// Someone edits the state machine's tags while the rollout runs.
	w.sfn.mu.Lock()
	w.sfn.machines[smArn("orders")].tags[topology.TagPrefix+"bakeTime"] = "10m"
	w.sfn.mu.Unlock()
	e.tick()
	r := wantPhase(t, w, e.id(), rollout.Paused, "")
	wantEqual(t, "pause kind", r.PauseKind, rollout.PausePolicyChanged)
	wantEqual(t, "alias while paused", w.sfn.routing(aliasOf("orders")), "v1=75 v2=25")
	if _, err := w.control(e.id(), rollout.CommandResume, "alice"); err != nil {
		t.Fatal(err)
	}
	e.ticks(20)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	if r := w.record(e.id()); r.Policy.BakeTime != 0 {
		t.Errorf("the rollout took the edited policy (bakeTime %s) instead of its own", r.Policy.BakeTime)
	}
}

func TestStaleLock(t *testing.T) {
	w, first := startOrders(t, `{"strategy":"ALL_AT_ONCE"}`)
	first.ticks(5)
	wantPhase(t, w, first.id(), rollout.Succeeded, "")
	// The first execution died before its Finalize: the lock stays behind.
	wantEqual(t, "lock", w.store.lockHolder(aliasOf("orders")), first.id())
	soon := w.execute(w.upload(ordersKey, definition("orders v3"), nil)).run(10)
	wantEqual(t, "upload right after", controller.ErrorCode(soon.prepareErr), "RolloutInProgress")
	w.clock.Advance(20 * time.Minute)
	later := w.execute(w.upload(ordersKey, definition("orders v4"), nil)).run(10)
	if later.prepareErr != nil {
		t.Fatalf("upload 20 minutes later: %v", later.prepareErr)
	}
	wantFinalized(t, w, later, topology.DetailRolloutSucceeded)
	r := w.record(later.id())
	wantEqual(t, "stable of the later rollout", r.StableVersionArn, versionOf("orders", 2))
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), fmt.Sprintf("v%d=100", versionNumber(r.CandidateVersionArn)))
}

func TestConcurrentDeliveries(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	event := w.upload(ordersKey, definition("orders v2"), nil)
	execs := make([]*execution, 10)
	for i := range execs {
		execs[i] = w.execute(event)
	}
	results := make([]controller.PrepareResult, len(execs))
	errs := make([]error, len(execs))
	var wg sync.WaitGroup
	for i, e := range execs {
		wg.Go(func() { results[i], errs[i] = w.ctl.Prepare(w.ctx, e.state) })
	}
	wg.Wait()
	starts := 0
	for i, res := range results {
		switch {
		case errs[i] != nil && controller.ErrorCode(errs[i]) != "Transient":
			t.Errorf("Prepare %d: %v", i, errs[i])
		case res.Action == controller.ActionStart:
			starts++
		case errs[i] == nil && res.Action != controller.ActionDuplicate:
			t.Errorf("Prepare %d answered %q", i, res.Action)
		}
	}
	wantEqual(t, "starts", starts, 1)
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v2")
}

func TestConcurrentTicksCommandsAndAlarm(t *testing.T) {
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			w := newWorld(t)
			w.alarms.set("orders-failures", rollout.AlarmOK)
			_, e := startOrdersIn(t, w, `{"strategy":"LINEAR","percentage":10,"interval":"1m","alarms":["orders-failures"]}`)
			id := e.id()
			var wg sync.WaitGroup
			wg.Go(func() {
				for range 12 {
					w.clock.Advance(tickEvery)
					w.ctl.Advance(w.ctx, controller.Tick{RolloutID: id})
				}
			})
			wg.Go(func() {
				for i := range 8 {
					cmd := rollout.CommandPause
					if i%2 == 1 {
						cmd = rollout.CommandResume
					}
					w.control(id, cmd, "alice")
				}
			})
			wg.Go(func() {
				for range 3 {
					w.ctl.Advance(w.ctx, controller.Tick{RolloutID: id})
				}
				if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
					t.Errorf("Rollback: %v", err)
				}
			})
			wg.Wait()
			r := w.record(id)
			if r.Phase != rollout.RolledBack && r.Phase != rollout.Succeeded {
				t.Fatalf("phase %s (%s), want RolledBack (or Succeeded if the rollout finished before the alarm)", r.Phase, r.Reason)
			}
			want := "v1=100"
			if r.Phase == rollout.Succeeded {
				want = "v2=100"
			}
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), want)
			evs := w.audit(id)
			for i := 1; i < len(evs); i++ {
				if evs[i].Seq <= evs[i-1].Seq {
					t.Fatalf("audit trail out of order: %+v", evs)
				}
			}
		})
	}
}

func TestBlueGreenAbortedWhileWaitingForApproval(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"BLUE_GREEN","approval":true}`)
	testAlias := topology.AliasArn(smArn("orders"), "prod-test")
	wantEqual(t, "test alias", w.sfn.routing(testAlias), "v2=100")
	e.tick()
	if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
		t.Fatal(err)
	}
	if o, _ := w.tasks.outcome(e.token); o.Error != "Aborted" {
		t.Fatalf("token outcome %+v", o)
	}
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutAborted)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "test alias after Finalize", w.sfn.routing(testAlias), "absent")
	wantEqual(t, "versions", w.sfn.liveVersions("orders"), "v1 v2")
}

// An alarm already firing when the upload arrives (the bug this deploy fixes, say) is taken
// as preexisting at Prepare and ignored until it has left ALARM once; when it fires again,
// it rolls back like any other.
func TestPreexistingAlarmIgnored(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("orders-failures", rollout.AlarmAlarm)
	_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"preexistingAlarms":"ignore"`))
	r := w.record(e.id())
	wantEqual(t, "preexisting at Prepare", r.PreexistingAlarms, []string{"orders-failures"})
	e.tick()
	wantEqual(t, "alias while the old alarm still fires", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
	wantPhase(t, w, e.id(), rollout.Progressing, "")

	w.alarms.set("orders-failures", rollout.AlarmOK)
	e.tick()
	wantEqual(t, "preexisting after it cleared", len(w.record(e.id()).PreexistingAlarms), 0)

	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatal(err)
	}
	wantPhase(t, w, e.id(), rollout.RolledBack, "")
	wantEqual(t, "alias after it fired again", w.sfn.routing(aliasOf("orders")), "v1=100")
}

// A rollout whose controller execution vanished (stopped by hand) keeps ticking nowhere and
// holds the alias: once it is an hour past its deadline, a new upload fails it, puts the
// alias back on its stable version and takes the lock.
func TestStaleLockOfARunningRolloutPastItsDeadline(t *testing.T) {
	w, first := startOrders(t, `{"strategy":"CANARY","percentage":10,"interval":"3m"}`)
	first.tick()
	wantEqual(t, "alias while the first runs", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
	deadline := w.record(first.id()).Deadline
	if deadline.IsZero() {
		t.Fatal("a prepared rollout has no deadline")
	}
	soon := w.execute(w.upload(ordersKey, definition("orders v3"), nil)).run(0)
	wantEqual(t, "upload before the deadline", controller.ErrorCode(soon.prepareErr), "RolloutInProgress")

	w.clock.Advance(deadline.Sub(w.clock.Now()) + 61*time.Minute)
	later := w.execute(w.upload(ordersKey, definition("orders v4"), nil))
	later.prepare()
	if later.prepareErr != nil || later.prepared.Action != controller.ActionStart {
		t.Fatalf("upload past the deadline = %+v, %v; want start", later.prepared, later.prepareErr)
	}
	r := wantPhase(t, w, first.id(), rollout.Failed, "RolloutFailed")
	if !strings.Contains(r.Reason, "deadline") {
		t.Errorf("reason %q does not say why the lock was taken", r.Reason)
	}
	wantEqual(t, "stable of the new rollout", w.record(later.id()).StableVersionArn, versionOf("orders", 1))
	wantEqual(t, "lock", w.store.lockHolder(aliasOf("orders")), later.id())
}

// With onBusy=supersede the newest upload wins: the running rollout is aborted, and so is
// every upload still queued behind it, which would otherwise deploy after it and undo it.
func TestSupersedeAbortsQueuedUploads(t *testing.T) {
	w, first := startOrders(t, `{"strategy":"CANARY","percentage":10,"interval":"3m","onBusy":"queue"}`)
	first.tick()
	queued := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	queued.prepare()
	if queued.prepared.Action != controller.ActionQueued {
		t.Fatalf("second upload = %+v, %v; want queued", queued.prepared, queued.prepareErr)
	}
	if err := queued.waitTurn(); err != nil {
		t.Fatal(err)
	}
	newest := w.execute(w.upload(ordersKey, definition("orders v4"), map[string]string{"rollout-onbusy": "supersede"}))
	newest.prepare()
	if newest.prepareErr != nil || newest.prepared.Action != controller.ActionStart {
		t.Fatalf("superseding upload = %+v, %v; want start", newest.prepared, newest.prepareErr)
	}
	wantPhase(t, w, first.id(), rollout.Aborted, "")
	wantPhase(t, w, queued.id(), rollout.Aborted, "")
	if o, ok := w.tasks.outcome(queued.turnToken); !ok || o.Error != "Aborted" {
		t.Fatalf("queued upload's wait ended %+v, want failed with Aborted", o)
	}
	if q, _ := w.store.Queue(w.ctx, aliasOf("orders")); len(q) != 0 {
		t.Errorf("queue after supersede = %+v, want empty", q)
	}
	wantEqual(t, "alias after supersede", w.sfn.routing(aliasOf("orders")), "v1=100")
	newest.register()
	newest.ticks(20)
	newest.finalize()
	wantFinalized(t, w, newest, topology.DetailRolloutSucceeded)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), fmt.Sprintf("v%d=100", versionNumber(w.record(newest.id()).CandidateVersionArn)))
}

// A queued upload woken days after it queued holds a fresh lock, not a stale one.
func TestWokenRolloutIsNotStale(t *testing.T) {
	w, first := startOrders(t, `{"strategy":"CANARY","percentage":10,"interval":"3m","onBusy":"queue"}`)
	queued := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	queued.prepare()
	if err := queued.waitTurn(); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(48 * time.Hour) // the first rollout is held a long time (paused, say)
	first.ticks(20)
	first.finalize()
	if !queued.turnCame() {
		t.Fatal("the queued upload was not woken")
	}
	// Another upload right after the wake-up must not take the woken rollout's lock.
	other := w.execute(w.upload(ordersKey, definition("orders v5"), map[string]string{"rollout-onbusy": "reject"})).run(0)
	wantEqual(t, "upload right after the wake-up", controller.ErrorCode(other.prepareErr), "RolloutInProgress")
	wantEqual(t, "lock", w.store.lockHolder(aliasOf("orders")), queued.id())
}

// A rollout that ended but whose Finalize never came (its execution was stopped by hand)
// still ticks; a quarter of an hour after its end the tick releases the alias, stops
// guarding its alarms, wakes the queue and deletes its own schedule.
func TestOrphanedRolloutReleasesTheAlias(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":10,"interval":"3m","alarms":["orders-failures"],"onBusy":"queue"}`)
	for n := 0; w.record(e.id()).Phase != rollout.Succeeded; n++ {
		if n == 20 {
			t.Fatal("never succeeded")
		}
		e.tick()
	}
	queued := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	queued.prepare()
	if err := queued.waitTurn(); err != nil {
		t.Fatal(err)
	}
	e.tick()
	wantEqual(t, "lock right after the end", w.store.lockHolder(aliasOf("orders")), e.id())
	w.clock.Advance(16 * time.Minute)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if holder := w.store.lockHolder(aliasOf("orders")); holder == e.id() {
		t.Error("the orphaned rollout still holds the alias")
	}
	if ids, _ := w.store.GuardedBy(w.ctx, "orders-failures"); len(ids) != 0 {
		t.Errorf("alarm still guards %v", ids)
	}
	if !queued.turnCame() {
		t.Error("the queued upload was not woken")
	}
	if w.sched.exists(topology.ScheduleName(e.id())) {
		t.Error("the orphaned rollout's schedule still ticks")
	}
}

// An alias at 100% on one version with a second route of weight 0 (Step Functions takes
// weights 0–100; a console edit can leave one) routes everything to one version: an upload
// starts on it as on an alias with one route, and the first step's write replaces the
// weight-0 route. The deploy custom resource reads such an alias the same way (soleVersion).
func TestUploadOnAnAliasWithAWeightZeroRoute(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"LINEAR","percentage":50,"interval":"1m"}`)
	spare := w.sfn.publishNew("orders", definition("orders spare"))
	w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: versionOf("orders", 1), Weight: 100}, rollout.Route{VersionArn: spare, Weight: 0})
	e := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	e.prepare()
	if e.prepareErr != nil {
		t.Fatalf("Prepare: %v", e.prepareErr)
	}
	// Register comes after Prepare's read is stale: the first step reads the alias again.
	w.clock.Advance(controller.FreshRead + time.Second)
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register: %v", e.registerErr)
	}
	e.ticks(20)
	e.finalize()
	r := wantPhase(t, w, e.id(), rollout.Succeeded, "")
	wantEqual(t, "stable version", r.StableVersionArn, versionOf("orders", 1))
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v3=100")
	for _, ev := range w.audit(e.id()) {
		if ev.Action == string(rollout.ActionPause) {
			t.Errorf("paused: %s", ev.Reason)
		}
	}
}

// A rollback's write that lands while another invocation saves the record without changing
// its intent (a report after the end, a token) is confirmed all the same, whether that save
// comes while the write is in flight or between the writer's read of the record and its
// confirmation (whose conditional save it makes fail: the confirmation is saved again on
// the newer record). Its writer's claim (WriterUntil) must not outlive the write, or
// Finalize and the sweep wait out the whole invocation's time for a writer whose work is
// done.
func TestRollbackWriteRacedByASaveOfTheSameIntentIsConfirmed(t *testing.T) {
	tests := []struct {
		name string
		// race makes save run at its moment of the abort.
		race func(w *world, save func())
	}{
		{name: "while the write is in flight", race: func(w *world, save func()) {
			w.faults.hook("Aliases.Update", func(arg any) error {
				if routingString(arg.([]rollout.Route)) == "v1=100" {
					w.faults.hook("Aliases.Update", nil)
					save()
				}
				return nil
			})
		}},
		{name: "between the writer's read and its confirmation", race: func(w *world, save func()) {
			written := false
			w.faults.hook("Aliases.Update", func(arg any) error {
				if routingString(arg.([]rollout.Route)) == "v1=100" {
					written = true
				}
				return nil
			})
			w.faults.hook("Store.SaveRollout", func(arg any) error {
				if r, _ := arg.(rollout.Rollout); written && r.AliasConfirmed != nil {
					w.faults.hook("Store.SaveRollout", nil)
					save()
				}
				return nil
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, e := startOrders(t, `{"strategy":"LINEAR","percentage":20,"interval":"2m"}`)
			tt.race(w, func() {
				latest := w.record(e.id())
				latest.DriftAfterEnd = "v1=80 v2=20"
				if _, err := w.store.SaveRollout(w.ctx, latest); err != nil {
					t.Errorf("concurrent save: %v", err)
				}
			})
			if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
				t.Fatalf("abort: %v", err)
			}
			r := w.record(e.id())
			wantEqual(t, "phase", r.Phase, rollout.Aborted)
			wantEqual(t, "alias", w.sfn.routing(e.alias()), "v1=100")
			if !r.Confirmed() {
				t.Errorf("the abort's write landed but is not confirmed (aliasConfirmed %v, writerUntil %s)", r.AliasConfirmed, r.WriterUntil)
			}
		})
	}
}

// A step's invocation that dies (Lambda's timeout) between a save and that save's audit
// line leaves the line to the step's retry, which finds the save made: the retry must
// write the line, or the audit trail loses the save for good. Each case kills the
// invocation at one line's write, then retries the step as the state machine does after
// a timeout, and runs the rollout to its end.
func TestAuditLineOfADeadInvocationIsWrittenByItsRetry(t *testing.T) {
	const blueGreen = `{"strategy":"BLUE_GREEN","testAlias":"staging"}`
	tests := []struct {
		name   string
		line   string // the audit line whose write the invocation dies at
		policy string
		want   []string // the audit trail's first lines
	}{
		{name: "Prepared", line: "Prepared", policy: `{"strategy":"ALL_AT_ONCE"}`, want: []string{"Prepared", "Promote"}},
		// Its Finalize cannot write Prepared again: the test alias's line is the last one
		// noted by then. Prepare's retry must.
		{name: "Prepared blue/green", line: "Prepared", policy: blueGreen, want: []string{"Prepared", "TestAliasCreated"}},
		{name: "Refused", line: "Refused", policy: `{"strategy":"CANARY","percentage":150,"interval":"5m"}`, want: []string{"Refused"}},
		{name: "TestAliasCreated", line: "TestAliasCreated", policy: blueGreen, want: []string{"Prepared", "TestAliasCreated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.machine("orders", managed())
			w.policy("orders", tc.policy)
			e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))

			ctx, die := context.WithCancel(w.ctx)
			died := false
			w.faults.hook("Store.AppendEvent", func(arg any) error {
				if arg.(controller.Event).Action != tc.line || died {
					return nil
				}
				died = true
				die()
				return ctx.Err()
			})
			// The dying invocation; its answer (if any) is lost with it.
			if tc.line == "TestAliasCreated" {
				e.prepare()
				token := "token-progress-" + e.name
				w.tasks.issue(token)
				_ = w.ctl.Register(ctx, controller.RegisterInput{State: withPreTraffic(e.state), TaskToken: token, Wait: controller.WaitProgress})
			} else {
				_, _ = w.ctl.Prepare(ctx, e.state)
			}
			if !died {
				t.Fatalf("the invocation never wrote its %s line", tc.line)
			}
			w.faults.hook("Store.AppendEvent", nil)

			// The state machine's retry after the timeout, and the rest of the execution.
			e.run(20)
			acts := actions(w.audit(e.id()))
			if len(acts) < len(tc.want) || !slices.Equal(acts[:len(tc.want)], tc.want) {
				t.Errorf("audit trail %v, want it to begin %v", acts, tc.want)
			}
		})
	}
}

// withPreTraffic is the state Register gets after pre-traffic tests that all passed.
func withPreTraffic(s controller.State) controller.State {
	s.PreTraffic = []controller.TestResult{}
	return s
}
