package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// An alarm that was in ALARM at any moment while it guarded the rollout acts as if its
// event had arrived, even when the event was lost and the alarm is OK again by the next
// tick: the tick finds the blip in the alarm's history.

// blip puts the alarm in ALARM and back to OK between two ticks, with no event delivered
// (EventBridge gave up, or the rollback function failed every retry).
func blip(w *world, alarm string) {
	w.clock.Advance(10 * time.Second)
	w.alarms.set(alarm, rollout.AlarmAlarm)
	w.clock.Advance(10 * time.Second)
	w.alarms.set(alarm, rollout.AlarmOK)
}

func TestAlarmBlipWithALostEvent(t *testing.T) {
	t.Run("rolls back", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		wantEqual(t, "alias at the canary", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
		blip(w, "orders-failures")
		e.ticks(10)
		r := wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
		wantEqual(t, "routing", distinct(e.routing), []string{"v1=80 v2=20", "v1=100"})
		if !strings.Contains(r.Reason, "orders-failures") {
			t.Errorf("reason %q does not name the alarm", r.Reason)
		}
		if o, ok := w.tasks.outcome(e.token); !ok || o.Error != "RolledBack" {
			t.Errorf("token outcome %+v, want failed with RolledBack", o)
		}
	})

	t.Run("during the bake", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"bakeTime":"10m"`))
		for w.record(e.id()).Phase != rollout.Baking {
			if err := e.tick(); err != nil {
				t.Fatal(err)
			}
		}
		e.tick()
		blip(w, "orders-failures")
		e.ticks(20)
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	})

	t.Run("during the pre-traffic tests", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		w.machine("orders", managed())
		w.policy("orders", fmt.Sprintf(guarded, ""))
		e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
		e.prepare()
		blip(w, "orders-failures")
		e.register()
		e.ticks(10)
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "routing", distinct(e.routing), []string{"v1=100"})
	})

	t.Run("onFailure=pause freezes the weights", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"onFailure":"pause"`))
		blip(w, "orders-failures")
		for range 10 {
			if err := e.tick(); err != nil {
				t.Fatal(err)
			}
		}
		r := wantPhase(t, w, e.id(), rollout.Paused, "")
		wantEqual(t, "pause kind", r.PauseKind, rollout.PauseFailure)
		wantEqual(t, "routing", distinct(e.routing), []string{"v1=80 v2=20"})
	})

	t.Run("a preexisting alarm that fires again is not preexisting", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmAlarm)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"preexistingAlarms":"ignore"`))
		e.tick()
		wantPhase(t, w, e.id(), rollout.Progressing, "")
		// OK, then ALARM again, then OK, all between two ticks.
		w.clock.Advance(10 * time.Second)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		blip(w, "orders-failures")
		e.ticks(10)
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	})

	t.Run("a preexisting alarm that stays in ALARM is still ignored", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmAlarm)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"preexistingAlarms":"ignore"`))
		e.ticks(10)
		wantPhase(t, w, e.id(), rollout.Succeeded, "")
		wantEqual(t, "history reads", w.faults.count("Alarms.History"), 0)
	})

	t.Run("a preexisting alarm that clears is dropped, no blip read into it", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmAlarm)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"preexistingAlarms":"ignore"`))
		w.clock.Advance(10 * time.Second)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		e.ticks(10)
		wantPhase(t, w, e.id(), rollout.Succeeded, "")
	})

	t.Run("a failed history read holds the rollout", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		w.clock.Advance(10 * time.Second)
		w.alarms.set("orders-failures", rollout.AlarmInsufficientData)
		w.clock.Advance(10 * time.Second)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		w.faults.fail("Alarms.History", throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"), throttled("DescribeAlarmHistory"))
		for range 8 {
			e.tick()
		}
		// Inconclusive: the interval is long over, but the canary is not promoted.
		wantPhase(t, w, e.id(), rollout.Progressing, "")
		wantEqual(t, "alias while history is unreadable", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
		e.ticks(10)
		wantPhase(t, w, e.id(), rollout.Succeeded, "")
	})

	t.Run("quiet ticks read no history and write no record", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":20,"interval":"30m","alarms":["orders-failures"]}`)
		e.tick()
		// The alarm's last change has the very millisecond of Prepare's look, which may have
		// read it before the change: the first tick reads its history once.
		saves, reads := w.faults.count("Store.SaveRollout"), w.faults.count("Alarms.History")
		for range 5 {
			e.tick()
		}
		wantEqual(t, "history reads", w.faults.count("Alarms.History")-reads, 0)
		wantEqual(t, "record writes", w.faults.count("Store.SaveRollout")-saves, 0)
		// A change that is no ALARM costs one history read, and the window moves on.
		w.clock.Advance(10 * time.Second)
		w.alarms.set("orders-failures", rollout.AlarmInsufficientData)
		e.tick()
		e.tick()
		e.tick()
		wantEqual(t, "history reads after a change", w.faults.count("Alarms.History")-reads, 1)
		wantPhase(t, w, e.id(), rollout.Progressing, "")
	})
}

// The rollback on an alarm's event makes no throttleable read before its alias write: the
// event decides alone, the record gives the stable version, and the write is retried with
// backoff for as long as the invocation may run.
func TestRollbackWritesBeforeAnyRead(t *testing.T) {
	// More throttling than the old fixed retries (8 alias updates, 6 rollback attempts over
	// about 1.5s) could outlast.
	const throttledCalls = 12
	// calls makes the first n calls of each of ops throttled, and records the order of all
	// alias and alarm calls from the alarm's event on.
	calls := func(w *world, n int, ops ...string) *[]string {
		var seen []string
		for _, op := range []string{"Aliases.Describe", "Aliases.Update", "Alarms.States", "Alarms.Statuses", "Alarms.History"} {
			failed := 0
			throttle := slices.Contains(ops, op)
			w.faults.hook(op, func(any) error {
				seen = append(seen, op)
				if throttle && failed < n {
					failed++
					return throttled(op)
				}
				return nil
			})
		}
		return &seen
	}

	t.Run("rolls back", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		seen := calls(w, throttledCalls, "Aliases.Describe", "Alarms.States", "Alarms.Statuses", "Aliases.Update")
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
		if i := slices.Index(*seen, "Aliases.Update"); i != 0 {
			t.Errorf("calls from the alarm's event on: %v; want the alias update first", *seen)
		}
		wantEqual(t, "alias update attempts", strings.Count(strings.Join(*seen, " "), "Aliases.Update"), throttledCalls+1)
	})

	t.Run("onFailure=pause freezes with no write", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, `,"onFailure":"pause"`))
		seen := calls(w, throttledCalls, "Aliases.Describe", "Alarms.States", "Alarms.Statuses")
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		r := wantPhase(t, w, e.id(), rollout.Paused, "")
		wantEqual(t, "pause kind", r.PauseKind, rollout.PauseFailure)
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
		wantEqual(t, "calls", *seen, []string(nil))
	})

	t.Run("before traffic", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		w.machine("orders", managed())
		w.policy("orders", fmt.Sprintf(guarded, ""))
		e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
		e.prepare()
		seen := calls(w, throttledCalls, "Aliases.Describe", "Alarms.States", "Alarms.Statuses")
		if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		wantEqual(t, "calls", *seen, []string(nil))
		wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	})

	t.Run("the write's retries end with the invocation's time", func(t *testing.T) {
		w := newWorld(t)
		w.alarms.set("orders-failures", rollout.AlarmOK)
		_, e := startOrdersIn(t, w, fmt.Sprintf(guarded, ""))
		calls(w, 1<<30, "Aliases.Update")
		ctx, cancel := context.WithTimeout(w.ctx, 3*time.Second)
		defer cancel()
		w.ctx = ctx
		_, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm)
		wantEqual(t, "error", controller.ErrorCode(err), "Transient")
		// The intent is saved; once the throttling stops, the next tick finishes the write.
		w.ctx = context.Background()
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
		calls(w, 0)
		if err := e.tick(); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "alias after the next tick", w.sfn.routing(aliasOf("orders")), "v1=100")
	})
}
