package controller_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The invariants of issue 9, checked after every top-level step of the simulation (and,
// for the alias writes, at each write). Each is a small function named in simInvariants;
// a new one is a row there. They state what must hold once issue 9 is fixed, not what
// today's code happens to do.

// simInvariants are checked after every step, in this order.
var simInvariants = []struct {
	name  string
	check func(*sim)
}{
	{"oneRolloutPerAlias", (*sim).checkOneRolloutPerAlias},
	{"aliasRoutesCurrentRollout", (*sim).checkAliasRoutesCurrentRollout},
	{"alarmMeansStable", (*sim).checkAlarmMeansStable},
	{"handChangeKept", nil}, // checked at each alias write (checkWrite)
	{"oneCommandOneEffect", (*sim).checkOneCommandOneEffect},
	{"weightsAudited", (*sim).checkWeightsAudited},
	{"locksReleased", nil}, // checked once every execution has ended (checkEnd)
	{"noDriftWithoutHandChange", (*sim).checkNoDriftWithoutHandChange},
	{"failingCandidateStopped", (*sim).checkFailingCandidateStopped},
	{"abortIsFinal", (*sim).checkAbortIsFinal},
	{"testAliasDuringWindow", (*sim).checkTestAliasDuringWindow},
	{"rollbackCompletes", nil}, // checked as each ALARM event's Rollback returns (checkRollbackCompletes)
	{"turnsNotLeaked", nil},    // checked once every execution has ended (checkTurnsNotLeaked)
}

func simInvariantNames() []string {
	names := make([]string, len(simInvariants))
	for i, inv := range simInvariants {
		names[i] = inv.name
	}
	return names
}

// violate records a broken invariant (the first one ends the seed) unless it is switched off.
func (s *sim) violate(invariant, format string, args ...any) {
	if s.off[invariant] || s.failed != nil {
		return
	}
	msg := s.replacer.Replace(fmt.Sprintf(format, args...))
	s.failed = &simViolation{invariant: invariant, msg: msg}
	s.logf("✗ invariant %s broken: %s", invariant, msg)
}

// checkStep runs after every top-level step.
func (s *sim) checkStep() {
	s.summarize()
	s.noteAlarmed()
	for _, inv := range simInvariants {
		if inv.check != nil && !s.off[inv.name] {
			inv.check(s)
		}
	}
}

// summarize writes each record that changed during the step to the trace.
func (s *sim) summarize() {
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if !ok {
			continue
		}
		line := summary(r)
		if s.lastSummary[id] != line {
			s.lastSummary[id] = line
			s.logf("  %s: %s", s.name(id), line)
		}
	}
	for _, m := range s.machines {
		s.currentOf(m.alias)
	}
}

// 1. Never two rollouts on one alias: at most one rollout that has not ended holds a
// candidate on an alias, and no rollout but the lock holder moves the alias (checkWrite).
func (s *sim) checkOneRolloutPerAlias() {
	for _, m := range s.machines {
		var running []string
		for _, id := range s.rollouts {
			if r, ok := s.record(id); ok && r.AliasArn == m.alias && r.CandidateVersionArn != "" && !r.Phase.Terminal() {
				running = append(running, s.name(id))
			}
		}
		if len(running) > 1 {
			s.violate("oneRolloutPerAlias", "%d rollouts run on %s at once: %s (lock held by %s)", len(running), s.aliasName(m.alias), strings.Join(running, ", "), s.name(s.w.store.lockHolder(m.alias)))
		}
	}
}

// 2. The alias routes only to the stable and candidate versions of its current rollout
// (the lock holder, or the last one that held it), or to what an operator set by hand.
func (s *sim) checkAliasRoutesCurrentRollout() {
	for _, m := range s.machines {
		routing := s.w.sfn.routing(m.alias)
		if h := s.hand[m.alias]; h != nil && h.routing == routing {
			continue
		}
		cur := s.currentOf(m.alias)
		allowed := []int{1}
		if r, ok := s.record(cur); ok {
			allowed = []int{versionNumber(r.StableVersionArn), versionNumber(r.CandidateVersionArn)}
		}
		for _, v := range routedVersions(routing) {
			if !slices.Contains(allowed, v) {
				s.violate("aliasRoutesCurrentRollout", "%s routes %s, but its current rollout %s has versions %v", s.aliasName(m.alias), routing, s.name(cur), allowed)
			}
		}
	}
}

// 3. Once a guarded alarm was in ALARM while it guarded a rollout (the simulation's own
// alarm timeline, whether or not its event arrived), the rollout never ends Succeeded,
// and with onFailure=pause its weight does not grow, until an operator's command takes
// over. And a rollout that ended other than Succeeded, once its Finalize completed,
// leaves its alias 100% on its stable version (unless an operator changed it by hand, or
// a later rollout took the alias).
func (s *sim) checkAlarmMeansStable() {
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if !ok {
			continue
		}
		if a := s.alarmed[id]; a != nil && s.commandStep[id] < a.step {
			switch {
			case r.Phase == rollout.Succeeded:
				s.violate("alarmMeansStable", "%s ended Succeeded although alarm %s, which guards it, was in ALARM at step %d", s.name(id), a.alarm, a.step)
			case r.Policy.OnFailure == rollout.FailurePause && r.CandidateWeight > a.weight:
				s.violate("alarmMeansStable", "%s (onFailure=pause) moved on to %d%% although alarm %s was in ALARM at step %d, at %d%%", s.name(id), r.CandidateWeight, a.alarm, a.step, a.weight)
			}
		}
		if !s.finalized[id] || !r.Phase.Terminal() || r.Phase == rollout.Succeeded || r.CandidateVersionArn == "" {
			continue
		}
		if s.currentOf(r.AliasArn) != id || s.handSince(r.AliasArn, s.lockStep[id]) {
			continue
		}
		want := fmt.Sprintf("v%d=100", versionNumber(r.StableVersionArn))
		if got := s.w.sfn.routing(r.AliasArn); got != want {
			s.violate("alarmMeansStable", "%s ended %s and its Finalize completed, but %s routes %s, not %s", s.name(id), r.Phase, s.aliasName(r.AliasArn), got, want)
		}
	}
}

// noteAlarmed marks the rollouts that an alarm entering ALARM during this step guarded.
// A rollout that ended Succeeded in the same step is left out: the alarm and the end raced.
func (s *sim) noteAlarmed() {
	for _, f := range s.fired {
		for _, id := range f.guarding {
			r, ok := s.record(id)
			if !ok || r.Phase == rollout.Succeeded || s.alarmed[id] != nil {
				continue
			}
			s.alarmed[id] = &simAlarmed{alarm: f.alarm, step: s.step, weight: r.CandidateWeight}
			s.logf("  %s was guarded by %s when it entered ALARM (at %d%%)", s.name(id), f.alarm, r.CandidateWeight)
		}
	}
}

// checkWrite runs at each alias write of the controller that changed the routing.
//
// 1. Only the lock holder moves the alias.
// 4. A hand change is never overwritten: not after the rollout ended, and not during it,
// except by an operator's later command, by onDrift=rollback, by a rollback of the running
// rollout to its stable version (the safe side), or by a rollout that took the alias after
// the hand change. An alias exactly at the step before the rollout's intent reads as the
// controller's own lost write and may be repaired. A change made within the same step as
// the write raced it and is not judged.
func (s *sim) checkWrite(w simWrite) {
	if w.writer == "" {
		s.violate("aliasRoutesCurrentRollout", "the controller set %s to %s, which no rollout's versions cover", s.aliasName(w.alias), w.to)
		return
	}
	holder := s.w.store.lockHolder(w.alias)
	if holder != "" && holder == w.writer {
		s.lastCurrent[w.alias] = holder // it may end within this step: it is still the alias's current rollout
	}
	if holder != "" && holder != w.writer && !s.intends(holder, w.to) {
		s.violate("oneRolloutPerAlias", "%s moved %s (%s → %s) while %s holds its lock", s.name(w.writer), s.aliasName(w.alias), w.from, w.to, s.name(holder))
	}
	h := s.hand[w.alias]
	if h == nil || w.from != h.routing {
		return
	}
	s.hand[w.alias] = nil
	r, _ := s.record(w.writer)
	before := r
	before.CandidateWeight = r.PreviousWeight
	switch {
	case h.step == s.step:
	case !h.at.After(r.IntentAt.Add(controller.DefaultAliasWriteWindow)) && s.ownWeight(r, h.routing):
		// Within one write window of the rollout's newest intent, a change to a weight the
		// rollout itself asked for cannot be told from its own late write (documented).
	case r.PreviousWeight == 0 && !r.AliasReadAt.IsZero() && !h.at.Before(r.AliasReadAt) && !s.w.clock.Now().After(r.AliasReadAt.Add(controller.FreshRead)):
		// A first step within FreshRead of Prepare's read of the alias writes on that read:
		// a hand change made in between is overwritten (documented, controller.FreshRead).
	case s.lockStep[w.writer] >= h.step && w.writer != h.active:
	case h.active != "" && s.commandStep[h.active] >= h.step:
	case s.commandStep[w.writer] >= h.step: // an operator's command on the writer, given after the change
	case holder == w.writer && r.Phase == rollout.RolledBack && w.to == fmt.Sprintf("v%d=100", versionNumber(r.StableVersionArn)):
		// The lock holder rolled back to its stable version (the safe side), also when the
		// hand change came while it was being prepared.
	case r.Policy.OnDrift == rollout.DriftRollback && r.Phase == rollout.RolledBack && strings.HasPrefix(r.Reason, "drift"):
		// onDrift=rollback is the policy's answer to a hand change, also one made while the
		// rollout was being prepared.
	case h.active != "" && w.writer == h.active && r.Policy.OnDrift == rollout.DriftRollback:
	case h.active != "" && w.writer == h.active && w.to == fmt.Sprintf("v%d=100", versionNumber(r.StableVersionArn)):
	case routingString(before.Routing()) == h.routing:
	default:
		when := "after its rollout ended"
		if h.active != "" {
			when = fmt.Sprintf("while %s ran with onDrift=%s", s.name(h.active), r.Policy.OnDrift)
		}
		s.violate("handChangeKept", "an operator set %s to %s by hand at step %d %s; %s overwrote it with %s (%s %d%%)",
			s.aliasName(w.alias), h.routing, h.step, when, s.name(w.writer), w.to, r.Phase, r.CandidateWeight)
	}
}

// ownWeight reports whether routing is one the rollout itself asked of the alias or started
// from: 100% stable, or its stable and candidate at the step before or at one of its intents.
func (s *sim) ownWeight(r rollout.Rollout, routing string) bool {
	for _, w := range append([]int{0, r.PreviousWeight}, r.Intents...) {
		at := r
		at.CandidateWeight = w
		if routingString(at.Routing()) == routing {
			return true
		}
	}
	return false
}

// intends reports whether a rollout's record asks for the routing now (a supersede writes
// the holder's rollback from another rollout's call).
func (s *sim) intends(id, routing string) bool {
	r, ok := s.record(id)
	return ok && r.CandidateVersionArn != "" && routingString(r.Routing()) == routing
}

// 5. One command id has one effect: a retried command never writes the record again.
func (s *sim) checkOneCommandOneEffect() {
	for i := 1; i <= s.commands; i++ {
		id := "c" + strconv.Itoa(i)
		if n := s.effects[id]; n > 1 {
			s.violate("oneCommandOneEffect", "command %s wrote the record %d times (it was delivered more than once)", id, n)
		}
	}
}

// 6. Every weight the controller put on the alias is in the rollout's audit trail.
func (s *sim) checkWeightsAudited() {
	for _, w := range s.writes {
		r, ok := s.record(w.writer)
		if !ok {
			continue
		}
		weight := 0
		for _, part := range strings.Fields(w.to) {
			if v, pct, ok := strings.Cut(part, "="); ok && v == fmt.Sprintf("v%d", versionNumber(r.CandidateVersionArn)) {
				weight, _ = strconv.Atoi(pct)
			}
		}
		if !s.audited(w.writer, weight) {
			s.violate("weightsAudited", "%s set %s to %s (candidate %d%%), and its audit trail has no event at %d%%", s.name(w.writer), s.aliasName(w.alias), w.to, weight, weight)
		}
	}
}

func (s *sim) audited(id string, weight int) bool {
	s.w.store.fakeRollouts.mu.Lock()
	defer s.w.store.fakeRollouts.mu.Unlock()
	for _, e := range s.w.store.events[id] {
		if e.CandidateWeight == weight && e.Action != "Prepared" {
			return true
		}
	}
	return false
}

// 7. Every lock is released after the end: once every execution has ended, no lock, no
// schedule and no rollout that has not ended remains.
func (s *sim) checkEnd() {
	for _, m := range s.machines {
		if h := s.w.store.lockHolder(m.alias); h != "" {
			s.violate("locksReleased", "every execution has ended, but %s still holds the lock of %s", s.name(h), s.aliasName(m.alias))
		}
	}
	for _, id := range s.rollouts {
		if r, ok := s.record(id); ok && !r.Phase.Terminal() {
			s.violate("locksReleased", "every execution has ended, but %s has not: %s", s.name(id), summary(r))
		}
		if r, ok := s.record(id); ok && !r.Settled {
			s.violate("locksReleased", "every execution has ended, but %s is not settled: the sweep still looks at it", s.name(id))
		}
	}
	for _, sc := range s.w.sched.due() {
		if sc.Target == controller.TargetAdvance {
			s.violate("locksReleased", "every execution has ended, but the schedule %s still ticks", sc.Name)
		}
	}
	s.checkTurnsNotLeaked()
}

// 8. A rollout pauses or rolls back on drift only when someone else changed the alias:
// the controller's own lag (a failed alias write, a retried command) is repaired, and a
// rollout that lost the alias cannot write to it (issue 9, cases 3 and 4).
func (s *sim) checkNoDriftWithoutHandChange() {
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if !ok {
			continue
		}
		drift := (r.Phase == rollout.Paused && r.PauseKind == rollout.PauseDrift) || (r.Phase == rollout.RolledBack && strings.HasPrefix(r.Reason, "drift"))
		if drift && !s.handSince(r.AliasArn, s.lockStep[id]) {
			s.violate("noDriftWithoutHandChange", "%s is %s on drift, but nobody changed %s by hand: %s", s.name(id), r.Phase, s.aliasName(r.AliasArn), r.Reason)
		}
	}
}

// handSince reports an operator's hand change of the alias at or after step.
func (s *sim) handSince(alias string, step int) bool {
	for _, st := range s.handSteps[alias] {
		if st >= step {
			return true
		}
	}
	return false
}

// routedVersions reads "v1=90 v2=10" as [1 2].
func routedVersions(routing string) []int {
	var out []int
	for _, part := range strings.Fields(routing) {
		if v, _, ok := strings.Cut(part, "="); ok {
			n, _ := strconv.Atoi(strings.TrimPrefix(v, "v"))
			out = append(out, n)
		}
	}
	return out
}

// 9. A candidate whose failure rate is over the threshold that applies now — the policy's
// maxFailureRate, or the current analysis step's once its duration is over — is rolled back
// (or paused, with onFailure=pause) by the second tick that runs through: metrics are read whenever the
// current step needs them (issue 9, case 6).
func (s *sim) checkFailingCandidateStopped() {
	now := s.w.clock.Now()
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if !ok || (r.Phase != rollout.Progressing && r.Phase != rollout.Baking) {
			delete(s.failingSince, id)
			continue
		}
		s.w.metrics.mu.Lock()
		c := s.w.metrics.byVersion[r.CandidateVersionArn]
		s.w.metrics.mu.Unlock()
		over := func(rate float64, min int) bool {
			if min == 0 {
				min = rollout.DefaultMinExec
			}
			return rate > 0 && c.started >= int64(min) && float64(c.failed)*100 > rate*float64(c.started)
		}
		failing := ""
		if over(r.Policy.MaxFailureRate, r.Policy.MinExecutions) {
			failing = fmt.Sprintf("the policy's maxFailureRate %v%%", r.Policy.MaxFailureRate)
		}
		if r.Phase == rollout.Progressing && r.StepIndex < len(r.Steps) && r.Steps[r.StepIndex].Analysis != nil {
			a := *r.Steps[r.StepIndex].Analysis
			rate, min := a.MaxFailureRate, a.MinExecutions
			if rate == 0 {
				rate = r.Policy.MaxFailureRate
			}
			if min == 0 {
				min = r.Policy.MinExecutions
			}
			if !now.Before(r.StepStartedAt.Add(a.Duration.D())) && over(rate, min) {
				failing = fmt.Sprintf("step %d's analysis maxFailureRate %v%%", r.StepIndex+1, rate)
			}
		}
		if failing == "" {
			delete(s.failingSince, id)
			continue
		}
		since, seen := s.failingSince[id]
		if !seen || s.commandStep[id] == s.step {
			// First seen failing, or an operator's command (a resume after the failure
			// pause) took over: count the ticks from here.
			s.failingSince[id] = s.advancedOK[id]
			continue
		}
		if ticks := s.advancedOK[id] - since; ticks >= 2 {
			s.violate("failingCandidateStopped", "%s still serves %s at %d%% (%s) after %d ticks since its candidate failed %d of %d executions, over %s",
				s.name(id), rollout.VersionLabel(r.CandidateVersionArn), r.CandidateWeight, r.Phase, ticks, c.failed, c.started, failing)
		}
	}
}

// 10. An operator's abort of a rollout that has not ended is final, queued or not: it is
// not answered with an error that leaves the rollout to deploy later (issue 9, case 8).
// An abort that failed on a fault (Transient, a crash) is the operator's to retry.
func (s *sim) checkAbortIsFinal() {
	for _, id := range s.rollouts {
		a := s.aborted[id]
		if a == nil {
			continue
		}
		if r, ok := s.record(id); ok && (r.CandidateWeight > 0 || r.Phase == rollout.Succeeded) {
			s.violate("abortIsFinal", "%s was aborted by command %s at step %d (answered %s), yet it now routes %d%% to its candidate (%s)",
				s.name(id), a.command, a.step, a.answer, r.CandidateWeight, r.Phase)
		}
	}
}

// 11. A BLUE_GREEN rollout's test alias routes 100% to the candidate whenever its test
// window runs: Progressing with no traffic on the candidate yet (issue 9, case 10).
func (s *sim) checkTestAliasDuringWindow() {
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if !ok || r.Policy.Strategy != rollout.BlueGreen || r.Phase != rollout.Progressing || r.CandidateWeight != 0 {
			continue
		}
		name := r.TestAlias
		if name == "" {
			name = r.Policy.TestAlias
		}
		if name == "" {
			name = r.AliasName + "-test"
		}
		want := fmt.Sprintf("v%d=100", versionNumber(r.CandidateVersionArn))
		if got := s.w.sfn.routing(topology.AliasArn(r.StateMachineArn, name)); got != want {
			s.violate("testAliasDuringWindow", "%s runs its BLUE_GREEN test window (%s), but test alias %s routes %s, not %s", s.name(id), r.Reason, name, got, want)
		}
	}
}

// 12. An ALARM event stops every running rollout the alarm guards within its own Rollback
// invocation — rolled back, or paused with onFailure=pause — whatever Step Functions' and
// CloudWatch's read APIs answer: the event decides alone, the record gives the stable
// version, the alias write is retried inside the invocation (issue 9, case 9). Invocations
// that met a DynamoDB fault or raced an operator's command are not judged.
func (s *sim) checkRollbackCompletes(alarm string, running []string, err error) {
	for _, id := range running {
		r, ok := s.record(id)
		if !ok || r.Phase.Terminal() || r.PauseKind == rollout.PauseFailure {
			continue
		}
		s.violate("rollbackCompletes", "the Rollback invocation for %s's ALARM returned (%s), and %s still runs: %s", alarm, errText(err), s.name(id), summary(r))
	}
}
