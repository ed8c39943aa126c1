package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Continuations: a rollback writer whose turn lies beyond controller.HandOverBeyond keeps
// the turn and hands it to a one-time schedule that invokes the rollback function shortly
// before it. Faults first: the schedule made twice, never fired, fired late, fired twice,
// fired after the sweep repaired, CreateSchedule throttled, the rollout superseded.

var errThrottledUpdate = fmt.Errorf("update alias: %w", controller.ErrThrottled)

// handedOver is a storm's rollback in a world with a write budget: ahead turns are held by
// the storm's other writers, the rollback's first try is throttled, and its turn (the one
// after them) is handed to a continuation. It returns the execution, the continuation's
// schedule and its input.
type handedOver struct {
	e     *execution
	b     *budget.Budget
	store *countingStore
	sched controller.Schedule
	in    controller.Continuation
}

func handOverARollback(t *testing.T, w *world, ahead int) handedOver {
	t.Helper()
	store := &countingStore{Store: budget.NewMemory()}
	b := budgetedOver(t, w, store)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":10,"interval":"10m","alarms":["orders-failures"]}`)
	for range budget.Quotas[budget.UpdateStateMachineAlias].Burst + ahead {
		if _, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	w.faults.fail("Aliases.Update", errThrottledUpdate)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	w.ctx = ctx
	res, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if len(res.Rollouts) != 1 || res.Rollouts[0].Phase != rollout.RolledBack {
		t.Fatalf("Rollback = %+v, want the rollout RolledBack", res)
	}
	h := handedOver{e: e, b: b, store: store}
	var found []controller.Schedule
	for _, sc := range w.sched.due() {
		if sc.Target == controller.TargetRollback {
			found = append(found, sc)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d continuation schedules, want 1", len(found))
	}
	h.sched = found[0]
	in, err := controller.DecodeContinuation([]byte(h.sched.Input))
	if err != nil {
		t.Fatalf("the continuation's input %s: %v", h.sched.Input, err)
	}
	h.in = in
	return h
}

// fireAt is when the schedule's at() fires (the start of the minute it names).
func fireAt(t *testing.T, sc controller.Schedule) time.Time {
	t.Helper()
	at, err := time.Parse("at(2006-01-02T15:04:05)", sc.Expression)
	if err != nil {
		t.Fatalf("expression %q: %v", sc.Expression, err)
	}
	return at
}

// nextTurnIn reserves the next turn and answers how far away it is: one second after the
// last turn taken, or given back.
func nextTurnIn(t *testing.T, w *world, b *budget.Budget) time.Duration {
	t.Helper()
	at, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias)
	if err != nil {
		t.Fatal(err)
	}
	return at.Sub(w.clock.Now())
}

// A rollback whose turn is ten minutes down a storm's line hands it to a continuation and
// ends: one one-time schedule, named from the rollout and the turn, firing at the start of
// a minute that ends before the turn, deleted after it fired, invoking the rollback
// function with the rollout and the turn. The record keeps the turn and a writer until a
// little past it, so the sweep neither reads nor writes the alias meanwhile. The
// continuation writes at its turn, without reading the alias, and confirms it.
func TestAFarTurnIsHandedToAContinuation(t *testing.T) {
	w := newWorld(t)
	start := w.clock.Now()
	h := handOverARollback(t, w, 600)
	turn := h.in.TurnAt
	if d := turn.Sub(start); d < 600*time.Second || d > 602*time.Second {
		t.Fatalf("the turn is %s away, want the 601st second", d)
	}
	wantEqual(t, "alias updates: the first try alone", w.faults.count("Aliases.Update"), 2) // Register's step, the rollback's try
	wantEqual(t, "schedule name", h.sched.Name, topology.ContinuationScheduleName(h.e.id(), turn))
	if !h.sched.DeleteAfterCompletion || h.in.RolloutID != h.e.id() {
		t.Errorf("schedule %+v: want deleted after completion, for rollout %s", h.sched, h.e.id())
	}
	if at := fireAt(t, h.sched); at.Add(time.Minute).After(turn) || turn.Sub(at) > 130*time.Second || at.Second() != 0 {
		t.Errorf("fires in the minute from %s, turn at %s: want the whole minute before the turn, at most 130 s ahead", at, turn)
	}
	r := w.record(h.e.id())
	if r.Phase != rollout.RolledBack || r.Confirmed() || !r.HandedTurn.Equal(turn) || !r.WriterUntil.After(turn) {
		t.Fatalf("record %s confirmed=%v handedTurn=%s writerUntil=%s, want RolledBack, unconfirmed, the turn handed, a writer past it", r.Phase, r.Confirmed(), r.HandedTurn, r.WriterUntil)
	}
	reads, updates := w.faults.count("Aliases.Describe"), w.faults.count("Aliases.Update")
	w.tick()
	wantEqual(t, "alias reads and updates of a sweep while the continuation holds the turn", []int{w.faults.count("Aliases.Describe") - reads, w.faults.count("Aliases.Update") - updates}, []int{0, 0})
	w.clock.Advance(fireAt(t, h.sched).Sub(w.clock.Now()))
	if errs := w.continueDue(); len(errs) != 0 {
		t.Fatalf("continuation: %v", errs)
	}
	if w.clock.Now().Before(turn) {
		t.Errorf("wrote at %s, before its turn at %s", w.clock.Now(), turn)
	}
	wantEqual(t, "alias reads and updates of the continuation", []int{w.faults.count("Aliases.Describe") - reads, w.faults.count("Aliases.Update") - updates}, []int{0, 1})
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	if r := w.record(h.e.id()); !r.Confirmed() || !r.ClaimedTurn.Equal(turn) {
		t.Errorf("record confirmed=%v claimedTurn=%s, want confirmed, the turn claimed", r.Confirmed(), r.ClaimedTurn)
	}
	if w.sched.exists(h.sched.Name) {
		t.Error("the continuation's schedule outlived its firing")
	}
	// The turn was used, not given back: the next one comes after it.
	wantEqual(t, "the next turn", nextTurnIn(t, w, h.b), time.Second)
}

// Scheduler delivers at least once: a second firing finds no turn of its own on the record
// (the first claimed it) and does nothing: no write, and no turn given back twice.
func TestAContinuationFiredTwiceWritesOnce(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	w.clock.Advance(fireAt(t, h.sched).Sub(w.clock.Now()))
	for i := range 2 {
		if _, err := invoke(w.ctx, w.ctl.Rollback, json.RawMessage(h.sched.Input)); err != nil {
			t.Fatalf("firing %d: %v", i+1, err)
		}
	}
	wantEqual(t, "alias updates: Register's, the first try, the continuation's", w.faults.count("Aliases.Update"), 3)
	wantEqual(t, "the next turn", nextTurnIn(t, w, h.b), time.Second)
}

// An invocation retried (the alarm's event delivered again) while the continuation holds
// the turn takes no second turn and makes no second schedule. A schedule made twice under
// one name (a retried hand-over of the same turn) is one schedule.
func TestARepeatedEventLeavesTheTurnToItsContinuation(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	takes := h.store.takes.Load()
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatalf("the event again: %v", err)
	}
	wantEqual(t, "takes of the budget by the event again", h.store.takes.Load()-takes, int64(0))
	wantEqual(t, "schedules created", len(w.sched.created), 2) // the sweep's, the continuation's
	if err := w.sched.Create(context.Background(), h.sched); err != nil {
		t.Fatalf("the same schedule again: %v", err)
	}
	wantEqual(t, "schedules created", len(w.sched.created), 2)
}

// A continuation that never fires (its schedule lost) leaves the rollback to the sweep
// once its writer's time is over, as any writer that died; its turn is not lost for good:
// once the bucket has refilled, forward work finds the burst less its reserve at once.
func TestAContinuationThatNeverFiresIsRepairedAndItsTurnDoesNotLeak(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	if err := w.sched.Delete(context.Background(), h.sched.Name); err != nil {
		t.Fatal(err)
	}
	r := w.record(h.e.id())
	w.clock.Advance(r.WriterUntil.Sub(w.clock.Now()) + time.Second)
	w.tick()
	wantEqual(t, "alias after the sweep's repair", w.sfn.routing(aliasOf("orders")), "v1=100")
	if r := w.record(h.e.id()); !r.Confirmed() {
		t.Error("the repair is not confirmed")
	}
	q := budget.Quotas[budget.UpdateStateMachineAlias]
	w.clock.Advance(time.Duration(q.Burst) * time.Second)
	before := w.clock.Now()
	ctx, cancel := context.WithTimeout(budget.WithPriority(context.Background(), budget.Forward), time.Minute)
	defer cancel()
	for i := range q.Burst - q.Reserve(budget.Forward) {
		if err := h.b.Take(ctx, budget.UpdateStateMachineAlias); err != nil {
			t.Fatalf("forward take %d: %v", i+1, err)
		}
	}
	if waited := w.clock.Now().Sub(before); waited != 0 {
		t.Errorf("forward work waited %s for the burst: a turn nobody used is still counted", waited)
	}
}

// A continuation that fires after the sweep repaired the rollback (its schedule came after
// the writer's time) claims its turn, finds the alias confirmed, gives the turn back and
// ends: no write.
func TestAContinuationAfterTheSweepsRepairGivesItsTurnBack(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	r := w.record(h.e.id())
	w.clock.Advance(r.WriterUntil.Sub(w.clock.Now()) + time.Second)
	w.tick()
	if r := w.record(h.e.id()); !r.Confirmed() {
		t.Fatal("the sweep did not repair the rollback")
	}
	updates, takes := w.faults.count("Aliases.Update"), h.store.takes.Load()
	if errs := w.continueDue(); len(errs) != 0 {
		t.Fatalf("continuation: %v", errs)
	}
	wantEqual(t, "alias updates of a late continuation", w.faults.count("Aliases.Update")-updates, 0)
	wantEqual(t, "takes of the budget: the turn given back", h.store.takes.Load()-takes, int64(1))
	if r := w.record(h.e.id()); !r.ClaimedTurn.Equal(h.in.TurnAt) {
		t.Errorf("the turn %s is not claimed", r.HandedTurn)
	}
}

// A continuation that fires late, past its writer's time but before any repair, writes at
// once: its turn has passed, and the rollback is still to be written.
func TestALateContinuationWritesAtOnce(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	r := w.record(h.e.id())
	w.clock.Advance(r.WriterUntil.Sub(w.clock.Now()) + 30*time.Second)
	late := w.clock.Now()
	if errs := w.continueDue(); len(errs) != 0 {
		t.Fatalf("continuation: %v", errs)
	}
	if waited := w.clock.Now().Sub(late); waited > time.Second {
		t.Errorf("a late continuation waited %s", waited)
	}
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	if r := w.record(h.e.id()); !r.Confirmed() {
		t.Error("not confirmed")
	}
}

// A rollout whose alias went to another rollout meanwhile (superseded, its lock taken
// over) is not written by its continuation: the fence refuses it, and the turn is given
// back.
func TestAContinuationOfASupersededRolloutIsFencedOff(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	ctx := context.Background()
	if err := w.store.ReleaseLock(ctx, aliasOf("orders"), h.e.id()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := w.store.AcquireLock(ctx, aliasOf("orders"), "r-next"); err != nil || !ok {
		t.Fatalf("AcquireLock = %v, %v", ok, err)
	}
	// The next rollout's weights.
	w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: versionOf("orders", 1), Weight: 50}, rollout.Route{VersionArn: versionOf("orders", 2), Weight: 50})
	w.clock.Advance(fireAt(t, h.sched).Sub(w.clock.Now()))
	updates := w.faults.count("Aliases.Update")
	if errs := w.continueDue(); len(errs) != 0 {
		t.Fatalf("continuation: %v", errs)
	}
	wantEqual(t, "alias updates of a fenced continuation", w.faults.count("Aliases.Update")-updates, 0)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=50 v2=50")
	// Its turn was given back: the next one is the fenced continuation's own, at once.
	if d := nextTurnIn(t, w, h.b); d > 0 {
		t.Errorf("the next turn is %s away: the fenced continuation kept its turn", d)
	}
}

// Finalize while a continuation holds the turn answers Throttled at once: it neither
// reads nor writes the alias, reserves no second turn, and does not wait minutes in a slot
// of the account's concurrency; the controller state machine comes back.
func TestFinalizeLeavesAHeldTurnToItsContinuation(t *testing.T) {
	w := newWorld(t)
	h := handOverARollback(t, w, 600)
	reads, updates, takes, start := w.faults.count("Aliases.Describe"), w.faults.count("Aliases.Update"), h.store.takes.Load(), w.clock.Now()
	h.e.finalizeOnce()
	if !errors.Is(h.e.finalErr, controller.ErrThrottled) {
		t.Fatalf("Finalize = %v, want Throttled", h.e.finalErr)
	}
	wantEqual(t, "alias reads, updates and budget takes of Finalize", []int64{int64(w.faults.count("Aliases.Describe") - reads), int64(w.faults.count("Aliases.Update") - updates), h.store.takes.Load() - takes}, []int64{0, 0, 0})
	if waited := w.clock.Now().Sub(start); waited > 5*time.Second {
		t.Errorf("Finalize waited %s", waited)
	}
}

// The rollback function's input from a continuation is decoded strictly, and bad input is
// named (InvalidEvent), never taken for an alarm.
func TestDecodeContinuation(t *testing.T) {
	for _, tt := range []struct {
		name, raw, wantErr string
	}{
		{"valid", `{"rolloutId":"r-1","turnAt":"2026-12-05T19:00:01Z"}`, ""},
		{"unknown field", `{"rolloutId":"r-1","turnAt":"2026-12-05T19:00:01Z","alarm":"x"}`, "unknown field"},
		{"no turn", `{"rolloutId":"r-1"}`, "without rolloutId or turnAt"},
		{"no rollout", `{"rolloutId":"","turnAt":"2026-12-05T19:00:01Z"}`, "without rolloutId or turnAt"},
		{"bad time", `{"rolloutId":"r-1","turnAt":"soon"}`, "decode continuation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			_, err := invoke(w.ctx, w.ctl.Rollback, json.RawMessage(tt.raw))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Rollback = %v", err)
				}
				return
			}
			if controller.ErrorCode(err) != controller.EInvalidEvent || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Rollback = %v, want InvalidEvent saying %q", err, tt.wantErr)
			}
		})
	}
}
