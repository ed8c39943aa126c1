package controller_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// A step whose alias update failed (a crash, throttling) saved its record but announced
// nothing; the tick that repairs the alias announces it, so that every weight the alias
// took has its event. The end-to-end suite (internal/local/e2e) found this under
// throttling, where "Rollout Started" went missing.
func TestRepairedStepIsAnnounced(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		ticks  int // ticks before the failing one
		want   []string
	}{
		{name: "a later step", policy: `{"strategy":"LINEAR","percentage":25,"interval":"3m"}`, ticks: 2,
			want: []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"}},
		{name: "the first step", policy: `{"strategy":"LINEAR","percentage":25,"interval":"3m"}`, ticks: -1,
			want: []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"}},
		{name: "a weight after a hold", policy: `{"strategy":"BLUE_GREEN","interval":"2m"}`, ticks: 1,
			want: []string{"Rollout Started", "Rollout Step", "Rollout Succeeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, e := preparedOrders(t, tc.policy)
			if tc.ticks < 0 {
				// Register's first tick: its alias update is throttled for longer than
				// Register retries it, and Register leaves the step to the schedule, whose
				// first tick repairs the alias.
				w.faults.hook("Aliases.Update", func(any) error { return throttled("UpdateStateMachineAlias") })
				e.register()
				w.faults.hook("Aliases.Update", nil)
				if n := w.faults.count("Aliases.Update"); n < 2 {
					t.Errorf("Register tried the throttled step %d times, want it retried", n)
				}
				wantEqual(t, "alias after Register", w.sfn.routing(aliasOf("orders")), "v1=100")
			} else {
				e.register()
				for range tc.ticks {
					e.tick()
				}
				w.faults.fail("Aliases.Update", errCrash)
				if err := e.tick(); err == nil {
					t.Fatal("the crashed tick reported no error")
				}
			}
			if e.registerErr != nil {
				t.Fatal(e.registerErr)
			}
			e.ticks(20)
			e.finalize()
			wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
			wantEqual(t, "events", w.events.of(e.id()), tc.want)
		})
	}
}

// A step's event is owed until it is put: when the step's alias write landed but its
// answer was lost (a timeout after the write applied), or EventBridge refused the event,
// the next tick that finds the alias at the step's weight announces it. Nothing repairs
// such a step (the alias is right), so without the record's owed event it was never
// announced. The end-to-end suite found the first case under load, where "Rollout
// Started" went missing.
func TestOwedEventIsAnnounced(t *testing.T) {
	linear := `{"strategy":"LINEAR","percentage":25,"interval":"3m"}`
	all := []string{"Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded"}
	tests := []struct {
		name  string
		ticks int // ticks of the schedule before the faulty step (-1: Register's first step)
		fault func(w *world) (stop func())
	}{
		{name: "the first step's write landed, its answer lost", ticks: -1, fault: landedUnanswered},
		{name: "a later step's write landed, its answer lost", ticks: 3, fault: landedUnanswered},
		{name: "the first step's event refused", ticks: -1, fault: refusedEvent},
		{name: "a later step's event refused", ticks: 3, fault: refusedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, e := preparedOrders(t, linear)
			if tc.ticks < 0 {
				stop := tc.fault(w)
				e.register()
				stop()
			} else {
				e.register()
				for range tc.ticks {
					e.tick()
				}
				stop := tc.fault(w)
				for range 3 {
					e.tick()
				}
				stop()
			}
			e.ticks(20)
			e.finalize()
			wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
			wantEqual(t, "events", w.events.of(e.id()), all)
		})
	}
}

// landedUnanswered makes the next alias update apply and then answer a timeout.
func landedUnanswered(w *world) (stop func()) {
	done := false
	w.faults.hook("Aliases.Update", func(arg any) error {
		if done {
			return nil
		}
		done = true
		w.sfn.route(aliasOf("orders"), arg.([]rollout.Route)...)
		return fmt.Errorf("update alias: RequestCanceled: %w (%w)", context.DeadlineExceeded, controller.ErrThrottled)
	})
	return func() { w.faults.hook("Aliases.Update", nil) }
}

// refusedEvent makes the next event's put fail.
func refusedEvent(w *world) (stop func()) {
	done := false
	w.faults.hook("Events.Put", func(any) error {
		if done {
			return nil
		}
		done = true
		return throttled("PutEvents")
	})
	return func() { w.faults.hook("Events.Put", nil) }
}

// preparedOrders is a world whose upload of orders v2, under policy, Prepare has started;
// the alarms named are there, in OK.
func preparedOrders(t *testing.T, policy string, alarms ...string) (*world, *execution) {
	t.Helper()
	w := newWorld(t)
	for _, a := range alarms {
		w.alarms.set(a, rollout.AlarmOK)
	}
	w.machine("orders", managed())
	w.policy("orders", policy)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	return w, e
}

// An owed event is put by the next sweep, not by the next step: a canary's first step whose
// event was refused, with an hour to its next step, is announced within a tick.
func TestOwedEventIsPutByTheNextSweep(t *testing.T) {
	w, e := preparedOrders(t, `{"strategy":"CANARY","percentage":20,"interval":"1h"}`)
	stop := refusedEvent(w)
	e.register()
	stop()
	if e.registerErr != nil {
		t.Fatal(e.registerErr)
	}
	wantEqual(t, "events after Register", w.events.of(e.id()), []string(nil))
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "events after one tick", w.events.of(e.id()), []string{"Rollout Started"})
	for range 3 {
		if err := e.tick(); err != nil {
			t.Fatal(err)
		}
	}
	wantEqual(t, "events after three more ticks", w.events.of(e.id()), []string{"Rollout Started"})
	if r := w.record(e.id()); r.OwedEvent != "" {
		t.Errorf("owedEvent %q after its event was put", r.OwedEvent)
	}
}

// An owed event never goes ahead of a rollback's alias write: the alarm's rollback writes
// the alias first, and its end makes the step's event moot (the outcome's event is sent).
func TestOwedEventWaitsForNoRollback(t *testing.T) {
	w, e := preparedOrders(t, `{"strategy":"CANARY","percentage":20,"interval":"1h","alarms":["orders-failures"]}`, "orders-failures")
	stop := refusedEvent(w)
	e.register()
	stop()
	if r := w.record(e.id()); r.OwedEvent != topology.DetailRolloutStarted {
		t.Fatalf("owedEvent %q after a refused put, want %q", r.OwedEvent, topology.DetailRolloutStarted)
	}
	var calls []string
	w.faults.hook("Events.Put", func(arg any) error { calls = append(calls, "put "+arg.(string)); return nil })
	w.faults.hook("Aliases.Update", func(any) error { calls = append(calls, "alias"); return nil })
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[0] != "alias" {
		t.Errorf("calls of the rollback %q, want the alias write first", calls)
	}
	if slices.Contains(calls, "put "+topology.DetailRolloutStarted) {
		t.Errorf("the rollback put the owed step event: %q", calls)
	}
}
