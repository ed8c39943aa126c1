package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A command retried with its --command-id is answered with its first result and moves the
// rollout once.
func TestCommandIDRetry(t *testing.T) {
	smCmdid := fresh("cli-cmdid")
	e := localEnv(t)
	managed(t, smCmdid, example(t, "orders-v1.asl.json"))
	id := deployedID(t, "deploy", smCmdid, "--file", release(t, "cmdid-1"), "--strategy", "CUSTOM", "--steps", "weight:10 pause:24h weight:20 pause:24h weight:30 pause:24h")
	if _, err := e.Wait(context.Background(), id, 30*time.Second, func(r rollout.Rollout) bool { return r.CandidateWeight == 10 }); err != nil {
		t.Fatal(err)
	}
	first := wantRolloutFields(t, ok(t, "promote", id, "--command-id", "retry-me", "-o", "json"))
	if first["commandId"] != "retry-me" || first["weights"].(map[string]any)["candidate"] != float64(20) {
		t.Fatalf("promote answered %v", first)
	}
	again := wantRolloutFields(t, ok(t, "promote", id, "--command-id", "retry-me", "-o", "json"))
	if again["weights"].(map[string]any)["candidate"] != float64(20) || again["reason"] != first["reason"] {
		t.Errorf("the retry answered %v, want the first answer %v", again, first)
	}
	if r, _, _ := e.Rollout(context.Background(), id); r.CandidateWeight != 20 {
		t.Errorf("after a promote and its retry the candidate is at %d%%, want 20%%", r.CandidateWeight)
	}
	// Without --command-id every invocation is a command of its own.
	other := wantRolloutFields(t, ok(t, "promote", id, "-o", "json"))
	if other["commandId"] == "" || other["commandId"] == "retry-me" || other["weights"].(map[string]any)["candidate"] != float64(30) {
		t.Errorf("a new promote answered %v", other)
	}
	ok(t, "abort", id)
	finalized(t, id)
}

// status shows an upload queued for a busy alias, with whom it waits behind; abort takes
// its id and drops it.
func TestQueuedUploadInStatusAndAbort(t *testing.T) {
	smQueued := fresh("cli-queued")
	e := localEnv(t)
	managed(t, smQueued, example(t, "orders-v1.asl.json"))
	first := deployedID(t, "deploy", smQueued, "--file", release(t, "queued-1"), "--strategy", "CUSTOM", "--steps", "weight:10 pause:24h")
	if _, err := e.Wait(context.Background(), first, 30*time.Second, func(r rollout.Rollout) bool { return r.CandidateWeight == 10 }); err != nil {
		t.Fatal(err)
	}
	second := deployedID(t, "deploy", smQueued, "--file", release(t, "queued-2"), "--strategy", "CUSTOM", "--steps", "weight:50 pause:24h", "--on-busy", "queue")
	if _, err := e.Wait(context.Background(), second, 30*time.Second, func(r rollout.Rollout) bool { return r.QueuedBehind == first }); err != nil {
		t.Fatal(err)
	}
	// The turn wait is registered a moment after Prepare saved the record.
	var st map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st = wantRolloutFields(t, ok(t, "status", second, "-o", "json")); st["queuedBehind"] == first {
			break
		}
	}
	if st["queuedBehind"] != first || st["queuePosition"] != float64(1) {
		t.Fatalf("status of the queued upload %v, want queuedBehind %s at position 1", st, first)
	}
	if out := ok(t, "status"); !strings.Contains(out, second) || !strings.Contains(out, "queued behind "+first+" (1st in the queue)") {
		t.Errorf("status of the active rollouts does not show the queued upload:\n%s", out)
	}
	fails(t, 1, "queued behind "+first+": it has not started; abort it to drop it", "pause", second)
	aborted := wantRolloutFields(t, ok(t, "abort", second, "--reason", "not this one", "-o", "json"))
	if aborted["phase"] != "Aborted" || !strings.Contains(aborted["reason"].(string), "not this one (by tester)") {
		t.Errorf("abort of the queued upload answered %v", aborted)
	}
	if r := finalized(t, second); r.Phase != rollout.Aborted || r.CandidateVersionArn != "" {
		t.Errorf("queued upload ended %s with candidate %q, want Aborted with none", r.Phase, r.CandidateVersionArn)
	}
	ok(t, "abort", first)
	finalized(t, first)
}
