package controller_test

import (
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// After the end, a rollout repairs only its own lost write. An operator's emergency hand
// rollback after a success is left alone by the ticks that run until Finalize and by
// Finalize itself, and reported once in the audit trail.
func TestHandRollbackAfterSuccessIsLeftAlone(t *testing.T) {
	for _, policy := range []string{
		`{"strategy":"CANARY","percentage":20,"interval":"2m"}`,
		// ALL_AT_ONCE goes 0% → 100%: the hand rollback is the step before the end.
		`{"strategy":"ALL_AT_ONCE"}`,
	} {
		t.Run(policy, func(t *testing.T) {
			w, e := startOrders(t, policy)
			// The outcome is lost, so the schedule ticks on until Finalize.
			w.faults.hook("Tasks.Succeed", func(any) error { return throttled("SendTaskSuccess") })
			for n := 0; w.record(e.id()).Phase != rollout.Succeeded; n++ {
				if n == 10 {
					t.Fatalf("never succeeded: %+v", w.record(e.id()))
				}
				e.tick()
			}
			wantEqual(t, "alias at the end", w.sfn.routing(aliasOf("orders")), "v2=100")

			w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: versionOf("orders", 1), Weight: 100})
			for range 3 {
				if err := e.tick(); err != nil {
					t.Fatal(err)
				}
			}
			w.faults.hook("Tasks.Succeed", nil)
			e.tick()
			e.finalize()
			wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
			wantEqual(t, "alias after the ticks and Finalize", w.sfn.routing(aliasOf("orders")), "v1=100")
			reports := 0
			for _, ev := range w.audit(e.id()) {
				if ev.Action == string(rollout.ActionReportDrift) {
					reports++
					if !strings.Contains(ev.Reason, "v1=100%") {
						t.Errorf("drift report %q does not say what the alias routes", ev.Reason)
					}
				}
			}
			wantEqual(t, "drift reports in the audit trail", reports, 1)
			wantEqual(t, "record's reported drift", w.record(e.id()).DriftAfterEnd, "v1=100%")
		})
	}
}

// The rollback's own alias write that never landed is still repaired after the end.
func TestLostRollbackWriteIsRepairedAfterTheEnd(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"CANARY","percentage":20,"interval":"1h"}`)
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
	// Every alias update fails while the operator aborts: the record ends Aborted at 0%,
	// the alias stays at 20%.
	w.faults.hook("Aliases.Update", func(any) error { return throttled("UpdateStateMachineAlias") })
	if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err == nil {
		t.Fatal("abort with every alias update throttled reported no error")
	}
	wantPhase(t, w, e.id(), rollout.Aborted, "")
	wantEqual(t, "alias after the failed write", w.sfn.routing(aliasOf("orders")), "v1=80 v2=20")
	w.faults.hook("Aliases.Update", nil)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutAborted)
	wantEqual(t, "alias after Finalize", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "record's reported drift", w.record(e.id()).DriftAfterEnd, "")
}
