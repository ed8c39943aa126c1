package controller_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// startMany starts n rollouts, one per state machine m000, m001, …, each with policy, and
// runs their Register (whose first tick sets the first step).
func startMany(t *testing.T, w *world, n int, policy string) []*execution {
	t.Helper()
	var execs []*execution
	for i := range n {
		name := fmt.Sprintf("m%03d", i)
		w.machine(name, managed())
		w.policy(name, policy)
		e := w.execute(w.upload(name+"/prod/definition.asl.json", definition(name+" v2"), nil))
		e.prepare()
		if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
			t.Fatalf("Prepare %s = %+v, %v; want start", name, e.prepared, e.prepareErr)
		}
		e.register()
		if e.registerErr != nil {
			t.Fatalf("Register %s: %v", name, e.registerErr)
		}
		execs = append(execs, e)
	}
	return execs
}

// calls counts the fake calls of each op made while fn runs.
func calls(w *world, ops []string, fn func()) map[string]int {
	before := map[string]int{}
	for _, op := range ops {
		before[op] = w.faults.count(op)
	}
	fn()
	got := map[string]int{}
	for _, op := range ops {
		got[op] = w.faults.count(op) - before[op]
	}
	return got
}

func sweep(t *testing.T, w *world) controller.SweepResult {
	t.Helper()
	res, err := w.ctl.Sweep(w.ctx, controller.SweepInput{Shards: 1})
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return res
}

// A sweep of holding rollouts reads their alarms and counts in one batch each, reads the
// alias (and tags) of only as many as its drift budget allows, and reads or writes no
// record of its own for any of them.
func TestSweepOfHoldingRolloutsCostsNoCallOfItsOwn(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("shared-errors", rollout.AlarmOK)
	w.alarms.set("shared-latency", rollout.AlarmOK)
	w.clock.Advance(time.Minute)
	startMany(t, w, 60, `{"strategy":"CANARY","percentage":10,"interval":"60m","alarms":["shared-errors","shared-latency"],"maxFailureRate":10,"minExecutions":1000}`)
	ops := []string{"Store.ListRunning", "Store.GetRollout", "Store.SaveRollout", "Alarms.Statuses", "Alarms.History",
		"Metrics.ManyVersionCounts", "Metrics.VersionCounts", "Aliases.Describe", "Aliases.Update", "StateMachines.Tags"}
	for sweepNo := range 6 {
		w.clock.Advance(tickEvery)
		var res controller.SweepResult
		got := calls(w, ops, func() { res = sweep(t, w) })
		want := map[string]int{"Store.ListRunning": 1, "Alarms.Statuses": 1, "Metrics.ManyVersionCounts": 1,
			"Aliases.Describe": controller.DefaultDriftReads, "StateMachines.Tags": controller.DefaultDriftReads,
			"Store.GetRollout": 0, "Store.SaveRollout": 0, "Alarms.History": 0, "Metrics.VersionCounts": 0, "Aliases.Update": 0}
		for op, n := range want {
			if got[op] != n {
				t.Errorf("sweep %d: %d calls of %s, want %d", sweepNo, got[op], op, n)
			}
		}
		if res.Running != 60 || res.Ticked != 0 || res.AliasReads != controller.DefaultDriftReads {
			t.Errorf("sweep %d: %+v, want 60 running, none ticked, %d alias reads", sweepNo, res, controller.DefaultDriftReads)
		}
	}
}

// Over ceil(N / budget) sweeps the drift budget reads every alias once: a hand change is
// found within that many ticks, and the rollout pauses on it as before.
func TestSweepFindsDriftWithinItsRoundRobin(t *testing.T) {
	w := newWorld(t)
	execs := startMany(t, w, 30, `{"strategy":"CANARY","percentage":10,"interval":"60m"}`)
	hand := execs[17]
	w.clock.Advance(tickEvery)
	w.sfn.route(hand.alias(), rollout.Route{VersionArn: versionOf("m017", 1), Weight: 50}, rollout.Route{VersionArn: versionOf("m017", 2), Weight: 50})
	sweeps := 0
	for ; sweeps < 3 && w.record(hand.id()).Phase != rollout.Paused; sweeps++ {
		w.clock.Advance(tickEvery)
		sweep(t, w)
	}
	r := w.record(hand.id())
	if r.Phase != rollout.Paused || r.PauseKind != rollout.PauseDrift {
		t.Fatalf("after %d sweeps: %s %s, want paused on drift (30 rollouts, 10 reads a sweep)", sweeps, r.Phase, r.PauseKind)
	}
	wantEqual(t, "hand change kept", w.sfn.routing(hand.alias()), "v1=50 v2=50")
}

// A write the controller cannot confirm (a crash between the record and the alias) makes
// the next sweep read that alias, whatever its drift budget, and repair it.
func TestSweepRepairsAnUnconfirmedWrite(t *testing.T) {
	w := newWorld(t)
	execs := startMany(t, w, 30, `{"strategy":"LINEAR","percentage":20,"interval":"2m"}`)
	for _, e := range execs {
		if !w.record(e.id()).Confirmed() {
			t.Fatalf("the first step's write landed but is not confirmed: %+v", w.record(e.id()).AliasConfirmed)
		}
	}
	// The next step's first alias write is lost to a crash after the record was saved.
	w.faults.hook("Aliases.Update", func(arg any) error {
		if routingString(arg.([]rollout.Route)) == "v1=60 v2=40" {
			w.faults.hook("Aliases.Update", nil)
			return errCrash
		}
		return nil
	})
	w.clock.Advance(2 * tickEvery)
	if _, err := w.ctl.Sweep(w.ctx, controller.SweepInput{Shards: 1}); err == nil {
		t.Fatal("the sweep with a crashed write reported no error")
	}
	var lost *execution
	for _, e := range execs {
		if w.sfn.routing(e.alias()) == "v1=80 v2=20" {
			lost = e
		}
	}
	if lost == nil {
		t.Fatal("no alias was left behind by the crash")
	}
	r := w.record(lost.id())
	wantEqual(t, "record after the crash", r.CandidateWeight, 40)
	wantEqual(t, "alias after the crash", w.sfn.routing(lost.alias()), "v1=80 v2=20")
	if r.Confirmed() {
		t.Fatal("a write that crashed is confirmed")
	}
	w.clock.Advance(tickEvery)
	sweep(t, w)
	wantEqual(t, "alias after the next sweep", w.sfn.routing(lost.alias()), "v1=60 v2=40")
	if r := w.record(lost.id()); !r.Confirmed() || r.Phase != rollout.Progressing {
		t.Errorf("after the repair: %s, confirmed %v", r.Phase, r.Confirmed())
	}
}

// Rollbacks come first: in a sweep where some rollouts take a step and others must roll
// back (their alarm's event was lost), every rollback is written before any step.
func TestSweepWritesRollbacksBeforeSteps(t *testing.T) {
	w := newWorld(t)
	w.alarms.set("bad", rollout.AlarmOK)
	stepping := startMany(t, w, 6, `{"strategy":"LINEAR","percentage":20,"interval":"2m"}`)
	var failing []*execution
	for i := range 6 {
		name := fmt.Sprintf("f%03d", i)
		w.machine(name, managed())
		w.policy(name, `{"strategy":"CANARY","percentage":10,"interval":"60m","alarms":["bad"]}`)
		e := w.execute(w.upload(name+"/prod/definition.asl.json", definition(name+" v2"), nil))
		e.prepare()
		e.register()
		failing = append(failing, e)
	}
	w.clock.Advance(2 * tickEvery)
	w.alarms.set("bad", rollout.AlarmAlarm) // its event never arrives
	before := len(w.sfn.aliasChanges())
	sweep(t, w)
	changes := w.sfn.aliasChanges()[before:]
	if len(changes) != 12 {
		t.Fatalf("%d alias writes, want 6 rollbacks and 6 steps: %+v", len(changes), changes)
	}
	for i, c := range changes {
		if rollback := strings.Contains(c.Alias, ":f0"); rollback != (i < 6) {
			t.Errorf("write %d is %s %s: rollbacks must all come first", i, c.Alias, c.Routing)
		}
	}
	for _, e := range failing {
		wantPhase(t, w, e.id(), rollout.RolledBack, "")
	}
	for _, e := range stepping {
		wantEqual(t, "step", w.record(e.id()).CandidateWeight, 40)
	}
}

// The sweep's schedule exists only while a rollout runs; an idle sweep deletes it, unless a
// Register marked the sweep wanted while it looked.
func TestIdleSweepDeletesItsSchedule(t *testing.T) {
	for _, race := range []bool{false, true} {
		t.Run(fmt.Sprintf("register meanwhile=%v", race), func(t *testing.T) {
			w, e := startOrders(t, `{"strategy":"ALL_AT_ONCE"}`)
			e.ticks(3)
			e.finalize()
			w.clock.Advance(3 * tickEvery)
			if race {
				// A Register of another rollout marks the sweep wanted and creates its (still
				// existing) schedule while this sweep lists no rollout.
				w.faults.hook("Store.ListRunning", func(any) error {
					w.faults.hook("Store.ListRunning", nil)
					if err := w.store.WantSweep(w.ctx, w.clock.Now()); err != nil {
						return err
					}
					return w.sched.Create(w.ctx, controller.Schedule{Name: topology.SweepScheduleName(0), Expression: topology.DefaultTickRate, Input: `{"sweep":{"shard":0,"shards":1}}`})
				})
			}
			res := sweep(t, w)
			if !res.Idle {
				t.Fatalf("sweep after the end: %+v, want idle", res)
			}
			if got := w.sched.exists(topology.SweepScheduleName(0)); got != race {
				t.Errorf("sweep schedule exists: %v, want %v", got, race)
			}
		})
	}
}

// A Register within two ticks of an idle sweep keeps the schedule: its rollout may not be
// in the index yet.
func TestIdleSweepKeepsARecentSchedule(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"ALL_AT_ONCE"}`)
	e.ticks(3)
	e.finalize()
	w.clock.Advance(time.Second)
	sweep(t, w)
	if !w.sched.exists(topology.SweepScheduleName(0)) {
		t.Error("the sweep deleted the schedule a second after a Register")
	}
	if slices.Contains(w.sched.deleted, topology.ScheduleName(e.id())) {
		t.Error("a per-rollout schedule was deleted that never existed")
	}
}

// A tick that panics (a bug, an injected crash) is that rollout's Internal error: the
// sweep's other ticks go on, and the sweep fails as the crash would have failed it.
func TestSweepTickThatPanicsIsItsRolloutsError(t *testing.T) {
	w := newWorld(t)
	execs := startMany(t, w, 4, `{"strategy":"LINEAR","percentage":20,"interval":"2m"}`)
	w.faults.hook("Aliases.Update", func(arg any) error {
		w.faults.hook("Aliases.Update", nil)
		panic("injected crash")
	})
	w.clock.Advance(2 * tickEvery)
	res, err := w.ctl.Sweep(w.ctx, controller.SweepInput{Shards: 1})
	if err == nil || len(res.Errors) != 1 {
		t.Fatalf("sweep: %+v, %v; want one failed tick", res, err)
	}
	for id, e := range res.Errors {
		if controller.ErrorCode(e) != "Internal" || !strings.Contains(e.Error(), "injected crash") {
			t.Errorf("rollout %s: %v, want Internal naming the crash", id, e)
		}
	}
	stepped := 0
	for _, e := range execs {
		if w.sfn.routing(e.alias()) == "v1=60 v2=40" {
			stepped++
		}
	}
	wantEqual(t, "rollouts stepped past the crash", stepped, 3)
}

// A rollout that ends between the sweep's triage, which read its alias, and its tick (an
// operator's abort, a superseding upload) is decided on a read made after its end. The
// triage's read shows the alias before the end's write: taken as the ended rollout's alias,
// it reads as a hand change after the end (a false "set by hand" report, which would also
// keep the rollout from ever repairing its own lost write) or as the end's write lost (a
// second write).
func TestSweepDecidesAnEndedRolloutOnAReadAfterItsEnd(t *testing.T) {
	w := newWorld(t)
	e := startMany(t, w, 1, `{"strategy":"LINEAR","percentage":20,"interval":"2m"}`)[0]
	w.clock.Advance(2 * tickEvery) // the next step is due: the sweep reads the alias and ticks it
	w.faults.hook("Store.GetRollout", func(any) error {
		// The tick's read of the record: the operator's abort lands just before it.
		w.faults.hook("Store.GetRollout", nil)
		if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
			t.Errorf("abort: %v", err)
		}
		return nil
	})
	before := w.faults.count("Aliases.Update")
	sweep(t, w)
	r := w.record(e.id())
	if r.Phase != rollout.Aborted {
		t.Fatalf("after the abort: %s, want Aborted", r.Phase)
	}
	wantEqual(t, "alias", w.sfn.routing(e.alias()), "v1=100")
	wantEqual(t, "alias writes in the sweep (the abort's alone)", w.faults.count("Aliases.Update")-before, 1)
	wantEqual(t, "drift reported after the end", r.DriftAfterEnd, "")
	for _, ev := range w.audit(e.id()) {
		if ev.Action == string(rollout.ActionReportDrift) || strings.Contains(ev.Reason, "after the rollout ended") {
			t.Errorf("audit: %s %s", ev.Action, ev.Reason)
		}
	}
}
