package controller_test

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The simulation's write budget, storms of turns and continuations. Half the seeds (drawn
// from a stream of their own, so that the other half tell the stories they always told)
// run the controller's Step Functions ports through a write budget over memory, as
// deployed. In those seeds a storm's other rollback writers may hold the next turns of the
// alias-update bucket ("turns"): AWS then throttles every alias update until the last of
// them, so a rollback's first try is throttled, its turn lies behind theirs, and a turn
// beyond controller.HandOverBeyond is handed to a continuation. The continuations' one-time
// schedules fire as the clock passes them, delivered, late, twice or never.

// simBudget is the write budget with its spends written before Spend returns: the budget
// records a rollback's token in the background, and the simulation runs no goroutines, so
// that a seed replays exactly.
type simBudget struct{ *budget.Budget }

func (b simBudget) Spend(ctx context.Context, api budget.API, n int) {
	b.Budget.Spend(ctx, api, n)
	b.Settle()
}

// budgetedPorts wraps the simulation's Step Functions ports in a write budget over memory
// on the world's clock, when the seed runs with one.
func (s *sim) budgetedPorts(sm controller.StateMachines, al controller.Aliases) (controller.StateMachines, controller.Aliases) {
	restore := s.use("budget")
	s.budgeted = s.rng.IntN(2) == 0
	restore()
	if !s.budgeted {
		return sm, al
	}
	s.turnStore = budget.NewMemory()
	s.budget = budget.New(s.turnStore, budgetClock{s.w.clock}, nil)
	return controller.Budgeted(sm, al, simBudget{s.budget})
}

// opTurns is a storm's other rollback writers: they hold the next N turns of the
// alias-update bucket (the first ones at once, out of its burst), and AWS throttles every
// other alias update until the last of them.
func (s *sim) opTurns() {
	n := []int{250, 600, 900}[s.rng.IntN(3)]
	var last time.Time
	for range n {
		at, err := s.budget.Reserve(context.Background(), budget.UpdateStateMachineAlias)
		if err != nil {
			s.t.Fatalf("reserve a storm's turn: %v", err)
		}
		last = at
	}
	if last.After(s.awsEmptyUntil) {
		s.awsEmptyUntil = last
	}
	s.logf("▶ a storm's writers hold %d turns: alias updates are throttled until %s", n, s.awsEmptyUntil.Format("15:04:05"))
}

// awsThrottlesAliasUpdates reports whether AWS's alias-update bucket is empty: a storm's
// writers take each token as it comes.
func (s *sim) awsThrottlesAliasUpdates() bool {
	return s.budgeted && s.w.clock.Now().Before(s.awsEmptyUntil)
}

// fireContinuations fires the continuation schedules due by now, as EventBridge Scheduler
// does (at least once): delivered, late, twice, or never (its turn then goes unused, and
// the sweep and Finalize repair the rollback once its writer's time is over).
func (s *sim) fireContinuations() {
	for _, sc := range s.w.sched.dueOnce(s.w.clock.Now()) {
		fate := "delivered"
		if !s.calm {
			fate = []string{"delivered", "delivered", "delivered", "late", "twice", "lost"}[s.rng.IntN(6)]
		}
		s.logf("continuation %s fires, %s", sc.Name, fate)
		switch fate {
		case "delivered":
			s.continuation(sc)
		case "late":
			s.later("late continuation "+sc.Name, func() { s.continuation(sc) })
		case "twice":
			s.continuation(sc)
			s.later("continuation "+sc.Name+" again", func() { s.continuation(sc) })
		case "lost":
			s.lostTurns[sc.Name] = true
		}
	}
}

// nextContinuation is when the earliest continuation schedule fires; zero with none.
func (s *sim) nextContinuation() time.Time {
	var next time.Time
	for _, sc := range s.w.sched.due() {
		if at, _ := scheduleTime(sc); sc.Target == controller.TargetRollback && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// continuation is one invocation of the rollback function by a continuation schedule;
// Lambda retries one that failed.
func (s *sim) continuation(sc controller.Schedule) {
	var in controller.Continuation
	_ = json.Unmarshal([]byte(sc.Input), &in)
	s.frames = append(s.frames, simFrame{kind: "continuation"})
	defer func() { s.frames = s.frames[:len(s.frames)-1] }()
	defer s.forRollout(in.RolloutID)()
	res, err := invoke(s.w.ctx, s.ctl.Rollback, json.RawMessage(sc.Input))
	reason := ""
	if len(res.Rollouts) == 1 {
		reason = res.Rollouts[0].Reason
	}
	s.logf("continuation of %s → %q %s", s.name(in.RolloutID), reason, errText(err))
	switch {
	case err == nil:
	case s.rng.IntN(3) > 0:
		s.later("retry of continuation "+sc.Name, func() { s.continuation(sc) })
	default:
		// Lambda's retries failed too: as if the schedule never fired.
		s.lostTurns[sc.Name] = true
	}
}

// 13. No turn leaks: once every execution has ended, no continuation schedule is left,
// every turn handed to a continuation was claimed (but those whose schedule never fired, or
// whose every invocation failed),
// and the write budget's view of the alias-update bucket refills to its burst: a turn
// nobody used costs one refill period, once, never for good.
func (s *sim) checkTurnsNotLeaked() {
	if !s.budgeted {
		return
	}
	for _, sc := range s.w.sched.due() {
		if sc.Target == controller.TargetRollback {
			s.violate("turnsNotLeaked", "every execution has ended, but the continuation %s is still scheduled", sc.Name)
		}
	}
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if ok && !r.HandedTurn.IsZero() && !r.ClaimedTurn.Equal(r.HandedTurn) && !s.lostTurns[topology.ContinuationScheduleName(id, r.HandedTurn)] {
			s.violate("turnsNotLeaked", "every execution has ended, but %s still holds the turn at %s, whose continuation fired", s.name(id), r.HandedTurn.Format("15:04:05"))
		}
	}
	api := budget.UpdateStateMachineAlias
	q := budget.Quotas[api]
	refill := time.Duration(float64(q.Burst) / q.Refill * float64(time.Second))
	from := s.w.clock.Now()
	if s.awsEmptyUntil.After(from) {
		from = s.awsEmptyUntil
	}
	s.w.clock.Advance(from.Add(refill).Sub(s.w.clock.Now()) + time.Second)
	full := s.w.clock.Now().Add(-refill)
	// A take of nothing that succeeds only on a full bucket: emptyAt no later than full.
	if emptyAt, ok, _ := s.turnStore.Take(context.Background(), api, full, full, 0); !ok {
		s.violate("turnsNotLeaked", "a refill period after the end the budget's view of %s is empty until %s: turns were taken that nobody uses", api, emptyAt.Format("15:04:05"))
	}
}
