package controller_test

import (
	"testing"

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
			w := newWorld(t)
			w.machine("orders", managed())
			w.policy("orders", tc.policy)
			e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
			e.prepare()
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
