package controller_test

import (
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// queuedBehind starts a rollout on orders/prod with onBusy=queue and queues a second upload
// behind it.
func queuedBehind(t *testing.T) (*world, *execution, *execution) {
	t.Helper()
	w, first := startOrders(t, `{"strategy":"CANARY","percentage":10,"interval":"1m","onBusy":"queue"}`)
	second := w.execute(w.upload(ordersKey, definition("orders v3"), nil))
	second.prepare()
	if second.prepareErr != nil || second.prepared.Action != controller.ActionQueued {
		t.Fatalf("second Prepare = %+v, %v; want queued", second.prepared, second.prepareErr)
	}
	if err := second.waitTurn(); err != nil {
		t.Fatal(err)
	}
	first.ticks(20)
	return w, first, second
}

// Issue 9, case 5: a queue entry left behind by a failed Dequeue names a rollout that
// already holds the lock and runs. A later wakeNext must neither release that running
// rollout's lock nor hand the alias to the next upload in the queue.
func TestStaleQueueEntryNeverFreesALiveLock(t *testing.T) {
	w, first, second := queuedBehind(t)
	w.faults.fail("Store.Dequeue", throttled("DeleteItem"))
	first.finalize()
	if !second.turnCame() {
		t.Fatal("the queued upload was not woken")
	}
	if first.finalErr != nil {
		t.Fatalf("Finalize (retried) = %v", first.finalErr)
	}
	second.prepare()
	second.register()
	if second.registerErr != nil {
		t.Fatalf("second Register: %v", second.registerErr)
	}
	wantEqual(t, "lock holder while the second runs", w.store.lockHolder(aliasOf("orders")), second.id())

	// A third upload queues behind the second: its WaitForTurn runs wakeNext over the queue.
	third := w.execute(w.upload(ordersKey, definition("orders v4"), nil))
	third.prepare()
	if third.prepared.Action != controller.ActionQueued {
		t.Fatalf("third Prepare = %+v, %v; want queued", third.prepared, third.prepareErr)
	}
	if err := third.waitTurn(); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "lock holder after the third queued", w.store.lockHolder(aliasOf("orders")), second.id())
	if third.turnCame() {
		t.Error("the third upload got its turn while the second runs: two rollouts on one alias")
	}
}

// throttledAlways throttles every call of op until the returned func is called: longer
// than one invocation retries.
func throttledAlways(w *world, op, awsOp string) (stop func()) {
	w.faults.hook(op, func(any) error { return throttled(awsOp) })
	return func() { w.faults.hook(op, nil) }
}

// A Dequeue that fails is not ignored: Finalize answers Throttled once its invocation's
// retries are spent, so that the state machine retries it, and the retry that gets through
// dequeues the woken upload.
func TestFinalizeReportsAFailedDequeue(t *testing.T) {
	w, first, second := queuedBehind(t)
	stop := throttledAlways(w, "Store.Dequeue", "DeleteItem")
	first.finalizeOnce()
	if controller.ErrorCode(first.finalErr) != "Throttled" {
		t.Fatalf("Finalize with Dequeue failing = %v (%s), want Throttled", first.finalErr, controller.ErrorCode(first.finalErr))
	}
	if !second.turnCame() {
		t.Fatal("the queued upload was not woken")
	}
	stop()
	first.finalize()
	if first.finalErr != nil {
		t.Fatalf("retried Finalize: %v", first.finalErr)
	}
	if q, _ := w.store.Queue(w.ctx, aliasOf("orders")); len(q) != 0 {
		t.Errorf("queue after the retried Finalize: %+v", q)
	}
	wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), second.id())
}

// Finalize is idempotent under retry: a second Finalize of the same rollout, after the first
// released the lock and woke the next upload (its Dequeue failed), writes no alias, leaves
// the next holder's lock alone and wakes nobody again.
func TestSecondFinalizeTouchesNothingOfTheNextHolder(t *testing.T) {
	w, first, second := queuedBehind(t)
	stop := throttledAlways(w, "Store.Dequeue", "DeleteItem")
	first.finalizeOnce()
	if !second.turnCame() {
		t.Fatal("the queued upload was not woken")
	}
	stop()
	second.prepare()
	second.register()
	wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), second.id())
	updates, wakes := w.faults.count("Aliases.Update"), w.tasks.answers[second.turnToken]
	routing := w.sfn.routing(aliasOf("orders"))
	var released []string
	w.faults.hook("Store.ReleaseLock", func(arg any) error {
		released = append(released, arg.(string))
		return nil
	})

	first.finalize()
	if first.finalErr != nil {
		t.Fatalf("second Finalize: %v", first.finalErr)
	}
	wantEqual(t, "lock holder after a second Finalize", w.store.lockHolder(aliasOf("orders")), second.id())
	wantEqual(t, "alias after a second Finalize", w.sfn.routing(aliasOf("orders")), routing)
	wantEqual(t, "alias updates by a second Finalize", w.faults.count("Aliases.Update")-updates, 0)
	for _, id := range released {
		if id == second.id() {
			t.Errorf("a second Finalize released the next holder's lock")
		}
	}
	wantEqual(t, "answers to the woken upload's turn token", w.tasks.answers[second.turnToken], wakes)
	if second.ended() {
		t.Error("the next rollout's progress wait was ended")
	}
}

// A wake that fails for another reason than a gone wait (throttled) gives back the lock it
// took for that entry, keeps the entry, and answers Transient; the retry wakes it.
func TestFailedWakeGivesBackOnlyTheLockItTook(t *testing.T) {
	w, first, second := queuedBehind(t)
	w.faults.fail("Tasks.Succeed", throttled("SendTaskSuccess"))
	var released []string
	w.faults.hook("Store.ReleaseLock", func(arg any) error {
		released = append(released, arg.(string))
		return nil
	})
	first.finalize()
	if first.finalErr != nil {
		t.Fatalf("Finalize (retried) = %v", first.finalErr)
	}
	wantEqual(t, "locks released", released, []string{first.id(), second.id()})
	if !second.turnCame() {
		t.Fatal("the queued upload was not woken by the retried Finalize")
	}
	wantEqual(t, "lock holder", w.store.lockHolder(aliasOf("orders")), second.id())
	if q, _ := w.store.Queue(w.ctx, aliasOf("orders")); len(q) != 0 {
		t.Errorf("queue after the wake: %+v", q)
	}
}
