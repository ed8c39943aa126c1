package dynamostore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The applied command ids ride on the record: they round-trip, and they are written by the
// same conditional save as the command's effect, so a save that loses its race writes
// neither.
func TestDynaliteAppliedCommands(t *testing.T) {
	store, ctx := newStore(t)
	r := sampleRollout("r-cmd", t0, rollout.Pending)
	r.StableVersionArn, r.CandidateVersionArn, r.QueuedBehind = "", "", "r-0123456789ab"
	if err := store.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := store.GetRollout(ctx, r.ID)
	if err != nil || got.QueuedBehind != "r-0123456789ab" || !got.NotStarted() {
		t.Fatalf("queued record came back %+v, %v", got, err)
	}

	r = sampleRollout("r-cmd", t0, rollout.Progressing)
	r = r.WithCommand(rollout.AppliedCommand{
		ID: "5b0d6c1e-8a47-4f0e-9a51-0c2e7d3b9f14", Command: rollout.CommandPromote, Actor: "alice",
		At: t0.Add(time.Minute), Phase: rollout.Progressing, Weights: rollout.Weights{Stable: 80, Candidate: 20}, Reason: "step 3/5 (by alice)",
	})
	saved, err := store.SaveRollout(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err = store.GetRollout(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Commands {
		got.Commands[i].At = got.Commands[i].At.UTC()
	}
	if !sameRollout(got, saved) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got.Commands, saved.Commands)
	}
	if c, ok := got.AppliedCommand("5b0d6c1e-8a47-4f0e-9a51-0c2e7d3b9f14"); !ok || c.Weights.Candidate != 20 || c.Actor != "alice" {
		t.Errorf("applied command %+v, %v", c, ok)
	}

	stale := r.WithCommand(rollout.AppliedCommand{ID: "late", Command: rollout.CommandAbort})
	if _, err := store.SaveRollout(ctx, stale); !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("stale save: %v, want ErrConflict", err)
	}
	if got, _ := store.GetRollout(ctx, r.ID); len(got.Commands) != 1 {
		t.Errorf("a lost save recorded its command: %+v", got.Commands)
	}
}
