package controller_test

import (
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Issue 9, case 4: a rollout that no longer holds the alias cannot leave a write on it.
// A tick of H saves 20% and is about to move the alias; inside that very call, a
// superseding upload aborts H, H is finalized and the next rollout N takes its first step.
// H's write must not land afterwards: it would route 20% to an aborted candidate, and N
// would pause on drift it did not cause.
func TestFencedWriteOfASupersededRolloutNeverLands(t *testing.T) {
	w := newWorld(t)
	w.machine("orders", managed())
	w.policy("orders", `{"strategy":"LINEAR","percentage":10,"interval":"1m","onBusy":"supersede"}`)
	h := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
	h.prepare()
	h.register()
	wantEqual(t, "alias after H's first step", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")

	var n *execution
	w.faults.hook("Aliases.Update", func(arg any) error {
		routing := arg.([]rollout.Route)
		if n != nil || len(routing) != 2 || routing[1].VersionArn != versionOf("orders", 2) || routing[1].Weight != 20 {
			return nil
		}
		n = w.execute(w.upload(ordersKey, definition("orders v3"), nil))
		n.prepare()
		if n.prepareErr != nil || n.prepared.Action != controller.ActionStart {
			t.Errorf("N's Prepare = %+v, %v; want start", n.prepared, n.prepareErr)
			return nil
		}
		h.finalize()
		n.register()
		if n.registerErr != nil {
			t.Errorf("N's Register: %v", n.registerErr)
		}
		return nil
	})
	h.tick() // H's step to 20%, whose alias update is overtaken
	w.faults.hook("Aliases.Update", nil)
	if n == nil {
		t.Fatal("H never tried to set 20%")
	}
	wantPhase(t, w, h.id(), rollout.Aborted, "")
	wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), n.id())
	wantEqual(t, "alias after H's late write", w.sfn.routing(aliasOf("orders")), "v1=90 v3=10")
	if err := n.tick(); err != nil {
		t.Fatalf("N's tick: %v", err)
	}
	r := w.record(n.id())
	if r.Phase == rollout.Paused {
		t.Fatalf("N paused on a write it did not make: %s", r.Reason)
	}
	for _, c := range w.sfn.aliasChanges() {
		if c.Alias == aliasOf("orders") && c.Routing == "v1=80 v2=20" {
			t.Errorf("H's 20%% landed on the alias at %s", c.At)
		}
	}
}

// A write whose pre-check finds another holder of the lock is never made, and the rollout
// that tried says so with a named error instead of moving the alias.
func TestNoAliasWriteWithoutTheLock(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"LINEAR","percentage":10,"interval":"1m"}`)
	// The lock is gone from under the running rollout (taken by another, by hand).
	w.store.ReleaseLock(w.ctx, aliasOf("orders"), e.id())
	if _, _, err := w.store.AcquireLock(w.ctx, aliasOf("orders"), "r-other"); err != nil {
		t.Fatal(err)
	}
	before := w.faults.count("Aliases.Update")
	err := e.tick()
	if w.faults.count("Aliases.Update") != before {
		t.Errorf("an alias write was made by a rollout without the lock")
	}
	if controller.ErrorCode(err) != controller.ELockLost {
		t.Errorf("tick without the lock: %v (%s), want LockLost", err, controller.ErrorCode(err))
	}
	wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
}

// Finalize releases the lock only after a write window has passed since the record was
// fenced, and repairs what a late write of the rollout's own left on the alias.
func TestFinalizeWaitsOutTheWriteWindowAndRepairsALateWrite(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"LINEAR","percentage":10,"interval":"1m"}`)
	if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "alias after abort", w.sfn.routing(aliasOf("orders")), "v1=100")
	// A write of the rollout's own previous weight, checked before the fence closed, lands
	// late: inside the window, once Finalize has fenced the record.
	landed := false
	w.faults.hook("Store.SaveRollout", func(arg any) error {
		if r := arg.(rollout.Rollout); !landed && !r.FenceClosedAt.IsZero() {
			landed = true
			w.sfn.route(aliasOf("orders"), rollout.Route{VersionArn: versionOf("orders", 1), Weight: 90}, rollout.Route{VersionArn: versionOf("orders", 2), Weight: 10})
		}
		return nil
	})
	var lockAt string
	w.faults.hook("Store.ReleaseLock", func(any) error {
		lockAt = w.sfn.routing(aliasOf("orders"))
		return nil
	})
	start := w.clock.Now()
	e.finalize()
	if e.finalErr != nil {
		t.Fatalf("Finalize: %v", e.finalErr)
	}
	if waited := w.clock.Now().Sub(start); waited < fenceWindow {
		t.Errorf("Finalize released the lock after %s, before the write window %s", waited, fenceWindow)
	}
	if !landed {
		t.Fatal("Finalize never fenced the record")
	}
	wantEqual(t, "alias when the lock was released", lockAt, "v1=100")
	wantEqual(t, "alias after Finalize", w.sfn.routing(aliasOf("orders")), "v1=100")
	wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), "")
}
