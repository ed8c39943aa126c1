package controller_test

import (
	"fmt"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// benchWorld is a world whose store copies records by hand instead of through JSON, so
// that the numbers are the controller's and not the fake's encoding.
func benchWorld(b *testing.B) *world {
	w := newWorld(b)
	w.store.encode = cloneRollout
	w.store.decode = func(v any) rollout.Rollout { return cloneRollout(v.(rollout.Rollout)).(rollout.Rollout) }
	w.alarms.set("errors", rollout.AlarmOK)
	return w
}

// benchTags is a policy that watches an alarm and the failure rate, so that a tick reads
// everything a tick can read, and holds its first step for longer than the benchmark runs.
func benchTags() map[string]string {
	return managed("strategy", "CANARY", "percentage", "10", "interval", "2100m", "alarms", "errors", "maxFailureRate", "5")
}

// BenchmarkSweep1000 is one sweep of 1,000 running rollouts: what the advance function
// does each minute when every one of them is holding a step. It reports the calls the sweep
// made per rollout (the fake ports count them) beside the time.
func BenchmarkSweep1000(b *testing.B) {
	const rollouts = 1000
	w := benchWorld(b)
	for i := range rollouts {
		name := fmt.Sprintf("sm-%04d", i)
		w.machine(name, benchTags())
		w.metrics.set(versionOf(name, 2), 100, 1)
		e := w.execute(w.upload(name+"/prod/definition.asl.json", definition(name+" v2"), nil))
		e.prepare()
		if e.prepareErr != nil {
			b.Fatal(e.prepareErr)
		}
		e.register()
		if e.registerErr != nil {
			b.Fatal(e.registerErr)
		}
	}
	active, err := w.store.ListActive(w.ctx)
	if err != nil || len(active) != rollouts {
		b.Fatalf("%d active rollouts, %v", len(active), err)
	}
	// One sweep first: the alarm changed state in the very millisecond the rollouts were
	// prepared, so each reads its history once and records that it did.
	w.clock.Advance(tickEvery)
	if _, err := w.ctl.Sweep(w.ctx, controller.SweepInput{Shards: 1}); err != nil {
		b.Fatal(err)
	}
	ops := []string{"Store.ListRunning", "Store.GetRollout", "Store.SaveRollout", "Alarms.Statuses", "Metrics.ManyVersionCounts", "Aliases.Describe", "StateMachines.Tags"}
	before := map[string]int{}
	for _, op := range ops {
		before[op] = w.faults.count(op)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.clock.Advance(tickEvery)
		res, err := w.ctl.Sweep(w.ctx, controller.SweepInput{Shards: 1})
		if err != nil || res.Ticked != 0 {
			b.Fatalf("sweep: %+v, %v", res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rollouts), "ns/rollout")
	calls := 0
	for _, op := range ops {
		calls += w.faults.count(op) - before[op]
	}
	b.ReportMetric(float64(calls)/float64(b.N*rollouts), "calls/rollout")
}

// BenchmarkPrepare is one upload's Prepare: dedupe, checks, lock, publish, record.
func BenchmarkPrepare(b *testing.B) {
	w := benchWorld(b)
	events := make([]*execution, b.N)
	for i := range b.N {
		name := fmt.Sprintf("sm-%06d", i)
		w.machine(name, benchTags())
		events[i] = w.execute(w.upload(name+"/prod/definition.asl.json", definition(name+" v2"), nil))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, e := range events {
		res, err := w.ctl.Prepare(w.ctx, e.state)
		if err != nil || res.Action != controller.ActionStart {
			b.Fatalf("Prepare = %+v, %v", res, err)
		}
	}
}
