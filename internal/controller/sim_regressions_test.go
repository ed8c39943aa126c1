package controller_test

import "testing"

// simRegressions are seeds beyond TestSim's default range that broke an invariant on the way
// to today's code, each with what it found; make test replays them every time.
var simRegressions = []struct {
	seed  uint64
	found string
}{
	{3751, "weightsAudited: a command's retry set the alias and its Update timed out after landing, before the decision's audit line"},
	{4188, "locksReleased: a stale retry of Prepare took the lock for a rollout its Finalize had already ended"},
	{8997, "locksReleased: a Prepare whose own concurrent retry ended the rollout answered duplicate and never reached Finalize"},
	{11905, "rollbackCompletes: Prepare's save answered an error but landed, and the alarms were guarded only after it"},
	{12897, "handChangeKept (sim attribution): onDrift=rollback answering a hand change made during Prepare"},
	{18303, "handChangeKept (sim attribution): a lock holder's rollback to stable over a hand change made during Prepare"},
	{23972, "handChangeKept: a hand change to the step before, made within the write window, taken for the controller's own write"},
	{2508, "locksReleased: a wake took the lock for an upload aborted while queued, and the lock stayed with it"},
	{48112, "alarmMeansStable: an alarm event for an alarm the policy no longer names moved a rollout forward to Succeeded past a blip"},
	{34364, "locksReleased: a stale retry of Prepare took the lock again (its write timed out after landing) after the rollout's Finalize had given the alias up"},
	{87992, "handChangeKept (sim): a hand rollback to 100% stable within one write window of the rollout's step is its documented ambiguity"},
	{29335, "handChangeKept: a timeout of a rollout paused on a failure put its stable back over an operator's hand change"},
	{41419, "handChangeKept: a hand change made during Prepare, overwritten by the rollout's timeout"},
	{86089, "locksReleased: a wake took the lock again for a stale queue entry of a rollout that had run and ended"},
	{182056, "weightsAudited: a rollback's audit line failed four times in a row after its alias write"},
	{86697, "weightsAudited: the repair after the write window wrote an ended rollout's routing without the stop's audit line"},
	{152970, "locksReleased: a stale Prepare took a finalized rollout's lock again and its release failed; nothing came back for it (now the rollout goes back into the sweep's index first)"},
}

// TestSimRegressions replays simRegressions.
func TestSimRegressions(t *testing.T) {
	for _, r := range simRegressions {
		if s := runSim(t, r.seed, nil); s.failed != nil {
			t.Errorf("seed %d (once: %s) broke invariant %s: %s\nreplay: go test ./internal/controller -run TestSim -sim.seed=%d -v",
				r.seed, r.found, s.failed.invariant, s.failed.msg, r.seed)
		}
	}
}
