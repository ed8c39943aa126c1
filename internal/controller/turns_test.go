package controller_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Issue 10, the burst and the storm: the tokens of the write budget are waited for outside
// the write window, a burst of uploads reads each alias once, a rollback that AWS throttled
// waits for its turn instead of retrying with the others, and the sweep and Finalize leave
// a rollback's write to its own writer while it tries.

// budgetClock is the fakes' clock as the budget's: a sleep moves it on.
type budgetClock struct{ c *fakeClock }

func (b budgetClock) Now() time.Time { return b.c.Now() }

func (b budgetClock) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		b.c.Advance(d)
	}
	return ctx.Err()
}

// budgeted gives w a controller whose Step Functions ports go through a write budget over
// memory (budget.Budget, as deployed), on w's clock.
func budgeted(t *testing.T, w *world) *budget.Budget {
	t.Helper()
	return budgetedOver(t, w, budget.NewMemory())
}

// budgetedOver is budgeted over the given store.
func budgetedOver(t *testing.T, w *world, store budget.Store) *budget.Budget {
	t.Helper()
	b := budget.New(store, budgetClock{w.clock}, nil)
	sm, al := controller.Budgeted(smPort{w.sfn}, aliasPort{w.sfn}, b)
	ctl, err := controller.New(controller.Config{TickRate: topology.DefaultTickRate, MinInterval: time.Minute, DedupeTTL: 24 * time.Hour, SweepWorkers: 1}, controller.Ports{
		StateMachines: sm, Aliases: al, Alarms: w.alarms, Metrics: w.metrics,
		Rollouts: w.store.fakeRollouts, Locks: w.store.fakeLocks, Queues: w.store.fakeQueues,
		AlarmGuards: w.store.fakeAlarmGuards, Uploads: w.store.fakeUploads, Sweeps: w.store.fakeSweeps,
		Artifacts: w.s3, Schedules: w.sched, Tasks: w.tasks, Events: w.events, Clock: w.clock,
		Sleep:  func(ctx context.Context, d time.Duration) error { w.clock.Advance(d); return ctx.Err() },
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ctl = ctl
	t.Cleanup(b.Settle)
	return b
}

// drainAliasUpdates takes alias update tokens at Repair until the bucket holds only what
// forward work must leave: the next forward step's token is a second away.
func drainAliasUpdates(t *testing.T, b *budget.Budget) {
	t.Helper()
	q := budget.Quotas[budget.UpdateStateMachineAlias]
	ctx := budget.WithPriority(context.Background(), budget.Repair)
	for range q.Burst - q.Reserve(budget.Forward) {
		if err := b.Take(ctx, budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
}

// A step whose token is further away than the write window W still lands: the token is
// waited for before the window opens. Before, the wait ran inside W, so a first step
// behind a burst's other steps was refused at once ("a token is 15s away, the deadline
// 188ms") and left to the next sweep a minute later.
func TestAStepWaitsForItsTokenOutsideTheWriteWindow(t *testing.T) {
	w := newWorld(t)
	b := budgeted(t, w)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"10m"}`)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	if e.prepareErr != nil {
		t.Fatal(e.prepareErr)
	}
	drainAliasUpdates(t, b)
	// The other steps of the burst ahead of this one: 20 tokens, 20 s at one a second.
	ahead := budget.WithPriority(context.Background(), budget.Forward)
	before := w.clock.Now()
	for range 20 {
		if err := b.Take(ahead, budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	if waited := w.clock.Now().Sub(before); waited < 4*fenceWindow {
		t.Fatalf("the steps ahead waited %s: the bucket was not drained", waited)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w.ctx = ctx
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register: %v", e.registerErr)
	}
	wantEqual(t, "alias after the first step", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
	if r := w.record(e.id()); !r.Confirmed() || r.CandidateWeight != 10 {
		t.Errorf("record %s %d%% confirmed=%v, want 10%% confirmed", r.Phase, r.CandidateWeight, r.Confirmed())
	}
}

// A first step that comes within FreshRead of Prepare's read of the alias writes on that
// read: a burst of uploads costs one DescribeStateMachineAlias each (the bucket's burst is
// 200), not two. One that comes later reads the alias again, right before its write.
func TestTheFirstStepWritesOnPreparesFreshRead(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after time.Duration
		reads int
	}{
		{"at once", 0, 1},
		{"within FreshRead", controller.FreshRead, 1},
		{"later", controller.FreshRead + time.Second, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			budgeted(t, w)
			w.machine("orders", managed())
			w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"10m"}`)
			e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
			e.prepare()
			if e.prepareErr != nil {
				t.Fatal(e.prepareErr)
			}
			w.clock.Advance(tt.after)
			e.register()
			if e.registerErr != nil {
				t.Fatal(e.registerErr)
			}
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
			wantEqual(t, "alias reads", w.faults.count("Aliases.Describe"), tt.reads)
		})
	}
}

// A hand change found by the first step's own read is never overwritten: past FreshRead
// the step reads, and pauses on drift.
func TestAFirstStepPastFreshReadFindsAHandChange(t *testing.T) {
	w := newWorld(t)
	budgeted(t, w)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"CANARY","percentage":10,"interval":"10m","onDrift":"pause"}`)
	e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	e.prepare()
	if e.prepareErr != nil {
		t.Fatal(e.prepareErr)
	}
	v3 := w.sfn.publishNew("orders", definition("hotfix by hand"))
	w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: v3, Weight: 100})
	w.clock.Advance(controller.FreshRead + time.Second)
	e.register()
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v3=100")
	wantPhase(t, w, e.id(), rollout.Paused, "")
}

// A rollback's alias update that AWS throttled waits for the turn it reserved, then calls
// once: a storm of N throttled rollbacks makes about N calls, not one every two seconds
// each. The first try takes nothing ahead and records its token only once AWS took one.
func TestAThrottledRollbackWaitsForItsTurn(t *testing.T) {
	w := newWorld(t)
	b := budgeted(t, w)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":10,"interval":"10m","alarms":["orders-failures"]}`)
	// Other rollbacks took the bucket: the view is 30 tokens in debt.
	for range budget.Quotas[budget.UpdateStateMachineAlias].Burst + 30 {
		if _, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	throttled := fmt.Errorf("update alias: %w", controller.ErrThrottled)
	w.faults.fail("Aliases.Update", throttled)
	updates := w.faults.count("Aliases.Update")
	start := w.clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w.ctx = ctx
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "alias updates: the throttled one and the one at its turn", w.faults.count("Aliases.Update")-updates, 2)
	// Its turn came after the 30 tokens of debt and its own, at one a second.
	if waited := w.clock.Now().Sub(start); waited < 31*time.Second || waited > 40*time.Second {
		t.Errorf("the rollback waited %s for its turn, want about 31s", waited)
	}
	if r := w.record(e.id()); r.Phase != rollout.RolledBack || !r.Confirmed() {
		t.Errorf("record %s confirmed=%v, want RolledBack confirmed", r.Phase, r.Confirmed())
	}
}

// countingStore counts the takes of the budget's shared store: in AWS each is a DynamoDB
// write on one item that every invocation shares.
type countingStore struct {
	budget.Store
	takes atomic.Int64
}

func (s *countingStore) Take(ctx context.Context, api budget.API, full, limit time.Time, step time.Duration) (time.Time, bool, error) {
	s.takes.Add(1)
	return s.Store.Take(ctx, api, full, limit, step)
}

// A rollback whose turn lies beyond its invocation's time, and which cannot hand it to a
// continuation (CreateSchedule throttled), gives up at once: its turn is given back and the
// rollback is left to its next attempt (the event's retry, Finalize,
// the sweep). It does not reserve again and again with backoff: in a storm of 1,000,
// hundreds of writers doing so hammered the budget's one item until its refunds timed out,
// and the refunds lost left the view in debt to turns nobody took (a storm of 1,000 stood
// still for 100 s).
func TestAnUnreachableTurnEndsTheRollbacksTries(t *testing.T) {
	w := newWorld(t)
	store := &countingStore{Store: budget.NewMemory()}
	b := budgetedOver(t, w, store)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":10,"interval":"10m","alarms":["orders-failures"]}`)
	// A storm's other rollbacks hold the next 600 turns: ten minutes, beyond the five.
	for range budget.Quotas[budget.UpdateStateMachineAlias].Burst + 600 {
		if _, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	w.faults.fail("Aliases.Update", fmt.Errorf("update alias: %w", controller.ErrThrottled))
	// Nor can it hand the turn to a continuation: Scheduler throttles the schedule.
	w.faults.fail("Schedules.Create", fmt.Errorf("create schedule: %w", controller.ErrThrottled))
	updates, takes := w.faults.count("Aliases.Update"), store.takes.Load()
	start := w.clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w.ctx = ctx
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err == nil {
		t.Fatal("the rollback reported its write done")
	}
	wantEqual(t, "alias updates: the first try alone", w.faults.count("Aliases.Update")-updates, 1)
	if n := store.takes.Load() - takes; n > 3 {
		t.Errorf("%d takes of the shared store, want the reservation and its refund", n)
	}
	if waited := w.clock.Now().Sub(start); waited > 10*time.Second {
		t.Errorf("the rollback tried for %s after its turn was out of reach", waited)
	}
	r := w.record(e.id())
	if r.Phase != rollout.RolledBack || r.Confirmed() || !r.WriterUntil.IsZero() {
		t.Errorf("record %s confirmed=%v writerUntil=%v, want RolledBack, unconfirmed, with its writer's claim released", r.Phase, r.Confirmed(), r.WriterUntil)
	}
	// The turn was given back: the next one is still the 601st.
	at, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias)
	if err != nil {
		t.Fatal(err)
	}
	if d := at.Sub(w.clock.Now()); d < 600*time.Second || d > 602*time.Second {
		t.Errorf("the next turn is %s away, want 601s: a turn was kept or lost", d)
	}
}

// A rollback whose write landed on its turn, well past the write window of every earlier
// intent, is given up by Finalize without reading the alias: no earlier write can land
// after it. After a storm, each such read waited behind every repair at garbage
// collection's priority, and Finalize could not settle for many minutes.
func TestFinalizeReadsNoAliasAfterALateConfirmedRollback(t *testing.T) {
	w := newWorld(t)
	b := budgeted(t, w)
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":10,"interval":"10m","alarms":["orders-failures"]}`)
	for range budget.Quotas[budget.UpdateStateMachineAlias].Burst + 30 {
		if _, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	w.faults.fail("Aliases.Update", fmt.Errorf("update alias: %w", controller.ErrThrottled))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w.ctx = ctx
	if _, err := w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	r := w.record(e.id())
	if !r.LateWritesOver(controller.DefaultAliasWriteWindow) {
		t.Fatalf("confirmed at %s, intent at %s: want confirmed past the write window", r.AliasConfirmedAt, r.IntentAt)
	}
	reads := w.faults.count("Aliases.Describe")
	e.finalize()
	if e.finalErr != nil {
		t.Fatalf("Finalize: %v", e.finalErr)
	}
	wantEqual(t, "alias reads of Finalize", w.faults.count("Aliases.Describe")-reads, 0)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	if r := w.record(e.id()); !r.Settled {
		t.Error("not settled")
	}
}

// rollbackWhoseWriteFails starts a CANARY guarded by orders-failures and fires the alarm in
// an invocation of five minutes whose every alias update fails: the rollback's intent is
// saved, RolledBack, and its write does not land.
func rollbackWhoseWriteFails(t *testing.T, w *world) *execution {
	t.Helper()
	w.alarms.set("orders-failures", rollout.AlarmOK)
	_, e := startOrdersIn(t, w, `{"strategy":"CANARY","percentage":10,"interval":"10m","alarms":["orders-failures"]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	w.ctx = ctx
	w.faults.hook("Aliases.Update", func(any) error { return errors.New("the alias update does not land") })
	_, _ = w.alarm("orders-failures", rollout.AlarmOK, rollout.AlarmAlarm)
	w.faults.hook("Aliases.Update", nil)
	return e
}

// While a rollback's own writer still tries (WriterUntil), Finalize waits for it, reading
// only the record, and the sweep leaves it alone: neither reads the alias nor writes it a
// second time. Once the writer's time is over, they repair what it could not land.
func TestRepairersLeaveARollbackToItsWriter(t *testing.T) {
	w := newWorld(t)
	e := rollbackWhoseWriteFails(t, w)
	w.ctx = context.Background()
	// A writer that gives up clears its claim (releaseWriter); this one is still waiting
	// for its turn, as a storm's writers are: its claim stands.
	r := w.record(e.id())
	if !r.WriterUntil.IsZero() {
		t.Errorf("a writer that gave up left its claim until %s", r.WriterUntil)
	}
	r.WriterUntil = w.clock.Now().Add(4 * time.Minute)
	if _, err := w.store.SaveRollout(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	r = w.record(e.id())
	if r.Phase != rollout.RolledBack || r.Confirmed() || r.WriterUntil.IsZero() {
		t.Fatalf("record %s confirmed=%v writerUntil=%v, want RolledBack, unconfirmed, with a writer", r.Phase, r.Confirmed(), r.WriterUntil)
	}
	reads, updates := w.faults.count("Aliases.Describe"), w.faults.count("Aliases.Update")
	w.tick()
	wantEqual(t, "alias reads and updates of a sweep while the writer tries", []int{w.faults.count("Aliases.Describe") - reads, w.faults.count("Aliases.Update") - updates}, []int{0, 0})
	// Past the writer's time, the sweep repairs the rollback.
	w.clock.Advance(r.WriterUntil.Sub(w.clock.Now()) + time.Second)
	w.tick()
	wantEqual(t, "alias after the writer's time", w.sfn.routing(aliasOf("orders")), "v1=100")
}

// Finalize waits for a rollback's writer reading the record with backoff (1 s, 2 s, … up
// to 15 s), not every second: after a storm a thousand Finalizes wait at once. It reads
// again right when the writer's time is over, and repairs.
func TestFinalizeWaitsForTheWriterWithFewReads(t *testing.T) {
	w := newWorld(t)
	e := rollbackWhoseWriteFails(t, w)
	r := w.record(e.id())
	r.WriterUntil = w.clock.Now().Add(2 * time.Minute)
	if _, err := w.store.SaveRollout(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w.ctx = ctx
	reads, start := w.faults.count("Store.GetRollout"), w.clock.Now()
	e.finalizeOnce()
	if e.finalErr != nil {
		t.Fatalf("Finalize: %v", e.finalErr)
	}
	waited := w.clock.Now().Sub(start)
	if waited < 2*time.Minute || waited > 2*time.Minute+5*time.Second {
		t.Errorf("Finalize waited %s for the writer, want its 2m and no more than a poll's slack", waited)
	}
	// 1+2+4+8+15·7 s cover the 2 minutes: 12 polls, plus Finalize's own reads.
	if n := w.faults.count("Store.GetRollout") - reads; n > 20 {
		t.Errorf("%d reads of the record while the writer had 2 minutes, want about 12", n)
	}
	wantEqual(t, "alias after the writer's time", w.sfn.routing(aliasOf("orders")), "v1=100")
}

// The repair of a rollback whose writer gave up reads the alias only once its turn to
// write has come: with the turns of a storm ahead of it beyond the sweep's time, the sweep
// reads nothing and writes nothing (a read then would be lost, and the account's alias reads
// are one a second); with time enough, it waits for its turn, reads, and writes.
func TestARollbackRepairReadsOnlyWhenItsTurnHasCome(t *testing.T) {
	w := newWorld(t)
	b := budgeted(t, w)
	e := rollbackWhoseWriteFails(t, w)
	if r := w.record(e.id()); !r.WriterUntil.IsZero() {
		t.Fatalf("the writer gave up, but its claim stands until %s", r.WriterUntil)
	}
	// A storm's turns: five minutes of them.
	for range budget.Quotas[budget.UpdateStateMachineAlias].Burst + 300 {
		if _, err := b.Reserve(context.Background(), budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	sweepCtx, cancelSweep := context.WithTimeout(context.Background(), time.Minute)
	defer cancelSweep()
	w.ctx = sweepCtx
	reads, updates := w.faults.count("Aliases.Describe"), w.faults.count("Aliases.Update")
	if errs := w.tick(); len(errs) != 0 {
		t.Errorf("a sweep whose rollback waits in line failed: %v (the wait is not a failure)", errs)
	}
	wantEqual(t, "alias reads and updates of a sweep whose turn is out of reach", []int{w.faults.count("Aliases.Describe") - reads, w.faults.count("Aliases.Update") - updates}, []int{0, 0})
	long, cancelLong := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancelLong()
	w.ctx = long
	start := w.clock.Now()
	w.tick()
	if waited := w.clock.Now().Sub(start); waited < 3*time.Minute {
		t.Errorf("the repair waited %s, want its turn behind minutes of others (a tick moves the clock one minute first)", waited)
	}
	wantEqual(t, "alias reads and updates of the repair", []int{w.faults.count("Aliases.Describe") - reads, w.faults.count("Aliases.Update") - updates}, []int{1, 1})
	wantEqual(t, "alias after the repair", w.sfn.routing(aliasOf("orders")), "v1=100")
}
