package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Decide returns what to do next with a rollout, given what the controller observed now.
// The checks run in this order, so that a rollback always wins over a forward step:
// alarms, the candidate's failure rate, drift of the alias, an edited policy, a pause,
// an alias that lags one step behind (repaired, without walking on), an alarm history that
// could not be read (hold), and only then the step list (or the bake).
func Decide(r Rollout, obs Observation, now time.Time) (Decision, error) {
	if err := r.check(); err != nil {
		return Decision{}, err
	}
	live, ours := r.liveWeight(obs.Routing)
	if r.Phase.Terminal() {
		return r.ended(live, ours, obs, now), nil
	}

	next := r
	next.UpdatedAt = now
	if next.Phase == Pending {
		next.Phase = Progressing
		next.StepIndex = 0
		next.StepStartedAt = now
		next.TrafficStartedAt = now
		// PreexistingAlarms were taken when the rollout was prepared: an alarm that started
		// firing since (during the pre-traffic tests, say) is about this candidate.
	}
	own := r.ownLag(live, obs)
	repair := ours && live != r.CandidateWeight && own
	drift := !ours || (live != r.CandidateWeight && !own)

	next.PreexistingAlarms = slices.DeleteFunc(slices.Clone(next.PreexistingAlarms), func(name string) bool {
		s, ok := obs.Alarms[name]
		return ok && s != AlarmAlarm || slices.Contains(obs.EnteredAlarms, name)
	})
	if !obs.AlarmsCheckedAt.IsZero() {
		next.AlarmsCheckedAt = obs.AlarmsCheckedAt
	}
	if obs.MetricsForm != "" {
		next.MetricsForm = obs.MetricsForm
	}
	if reason := alarmFailure(next, obs); reason != "" {
		return next.fail(reason, repair && !drift, now), nil
	}
	if reason := rateFailure(next.Policy.MaxFailureRate, next.Policy.MinExecutions, obs); reason != "" {
		return next.fail(reason, repair && !drift, now), nil
	}
	if drift {
		reason := fmt.Sprintf("drift: alias routes %s, but the rollout wants %s (or %d%% before the last step)", DescribeRouting(obs.Routing), r.describeIntent(), r.PreviousWeight)
		switch {
		case r.Phase == Paused && r.PauseKind == PauseDrift:
			return Decision{Action: ActionWait, Next: next, Reason: "still paused on " + reason}, nil
		case r.Policy.OnDrift == DriftRollback:
			return Stop(next, RolledBack, reason, now), nil
		}
		return next.pause(PauseDrift, reason, false), nil
	}
	if obs.PolicyHash != "" && obs.PolicyHash != r.PolicyHash && obs.PolicyHash != r.SeenPolicyHash {
		next.SeenPolicyHash = obs.PolicyHash
		return next.pause(PausePolicyChanged, fmt.Sprintf("policy changed mid-rollout (%s → %s): resume to go on with the policy the rollout started with, or abort and upload again", r.PolicyHash, obs.PolicyHash), repair), nil
	}
	if next.Phase == Paused {
		return next.hold(repair, "paused ("+string(next.PauseKind)+"): "+next.Reason), nil
	}
	if repair {
		// The last alias update did not land (a crash or a throttled call after the record
		// was saved). Walking on now would move the intent a second step away from the alias
		// (which then reads as drift) and would count a hold the candidate never served at
		// its weight: set the alias and restart the hold's clock instead.
		if next.Phase == Baking {
			next.BakeStartedAt = now
		} else {
			next.StepStartedAt = now
		}
		return next.hold(true, fmt.Sprintf("holding step %d/%d until the alias is at the intent", min(next.StepIndex+1, len(next.Steps)), len(next.Steps))), nil
	}
	if obs.AlarmsInconclusive {
		// An alarm's history could not be read: it may have been in ALARM unseen, and no
		// data is never healthy. Nothing moves forward until a tick reads it.
		return Decision{Action: ActionWait, Next: r, Reason: fmt.Sprintf("holding step %d/%d at %d%%: an alarm changed state and its history could not be read", min(r.StepIndex+1, len(r.Steps)), len(r.Steps), r.CandidateWeight)}, nil
	}
	if next.Phase == Baking {
		if left := next.BakeStartedAt.Add(next.Policy.BakeTime.D()).Sub(now); left > obs.Slack {
			return next.hold(false, fmt.Sprintf("baking at 100%%: %s left", left.Round(time.Second))), nil
		}
		next.Phase = Succeeded
		next.FinishedAt = now
		next.PreviousWeight = next.CandidateWeight // seen at 100%: no write of ours is outstanding (see ended)
		next.Reason = "baked " + next.Policy.BakeTime.String() + " at 100% with no alarm"
		return Decision{Action: ActionFinish, Next: next, Reason: next.Reason}, nil
	}
	return next.walk(obs, now), nil
}

// ended decides for a rollout that is over. It repairs only its own lost write: the alias
// exactly at the weight of the step before the end, with no version but stable and
// candidate, and no hand change seen since. Anything else on its own versions was set by
// hand — an operator's emergency rollback after a success, say — and overwriting it would
// undo the operator: it is reported once (DriftAfterEnd) and left alone. Other versions on
// the alias belong to whoever put them there (the next rollout).
func (r Rollout) ended(live int, ours bool, obs Observation, now time.Time) Decision {
	routing := obs.Routing
	switch {
	case !ours || live == r.CandidateWeight:
		return Decision{Action: ActionNone, Next: r, Reason: "rollout has ended " + string(r.Phase)}
	case r.ownLag(live, obs) && r.DriftAfterEnd == "":
		return r.repair(now, fmt.Sprintf("alias routes %d%% to the candidate after the rollout ended %s: set it back to %d%%", live, r.Phase, r.CandidateWeight))
	}
	seen := DescribeRouting(routing)
	reason := fmt.Sprintf("drift after the rollout ended %s: alias routes %s, set by hand (the rollout left %s); left alone", r.Phase, seen, r.describeIntent())
	if r.DriftAfterEnd == seen {
		return Decision{Action: ActionNone, Next: r, Reason: "already reported " + reason}
	}
	r.DriftAfterEnd = seen
	r.UpdatedAt = now
	return Decision{Action: ActionReportDrift, Next: r, Reason: reason}
}

// walk runs the step list from StepIndex until a step holds, changing the weight at most
// once, then the bake or the end.
// The alias is known to be at the intent: a lagging alias was repaired before any walk.
func (r Rollout) walk(obs Observation, now time.Time) Decision {
	changed := false
	var wait string
loop:
	for r.StepIndex < len(r.Steps) {
		s := r.Steps[r.StepIndex]
		switch {
		case s.SetWeight != nil:
			if changed {
				wait = "next weight at the next tick"
				break loop
			}
			r.PreviousWeight, r.CandidateWeight = r.CandidateWeight, *s.SetWeight
			r.StepIndex++
			r.StepStartedAt = now
			changed = true
		case s.Approval():
			r.Reason = fmt.Sprintf("step %d/%d waits for approval at %d%%", r.StepIndex+1, len(r.Steps), r.CandidateWeight)
			return r.pause(PauseApproval, r.Reason, changed)
		case s.Pause != nil:
			left := r.StepStartedAt.Add(s.Pause.Duration.D()).Sub(now)
			if left > obs.Slack {
				wait = fmt.Sprintf("step %d/%d pauses at %d%%: %s left", r.StepIndex+1, len(r.Steps), r.CandidateWeight, left.Round(time.Second))
				break loop
			}
			r.StepIndex++
			r.StepStartedAt = now
		case s.Analysis != nil:
			a := r.analysis(*s.Analysis)
			if left := r.StepStartedAt.Add(a.Duration.D()).Sub(now); left > obs.Slack {
				wait = fmt.Sprintf("step %d/%d analyses at %d%%: %s left", r.StepIndex+1, len(r.Steps), r.CandidateWeight, left.Round(time.Second))
				break loop
			}
			if reason := rateFailure(a.MaxFailureRate, a.MinExecutions, obs); reason != "" {
				return r.fail(reason, false, now)
			}
			if obs.CandidateExecutions < int64(a.MinExecutions) {
				wait = fmt.Sprintf("step %d/%d analysis inconclusive: %d of %d executions needed; holding at %d%% (no data is never healthy)", r.StepIndex+1, len(r.Steps), obs.CandidateExecutions, a.MinExecutions, r.CandidateWeight)
				break loop
			}
			r.StepIndex++
			r.StepStartedAt = now
		}
	}
	if r.StepIndex >= len(r.Steps) && wait == "" {
		switch {
		case r.Policy.BakeTime > 0:
			r.Phase = Baking
			r.BakeStartedAt = now
			wait = "all steps done: baking " + r.Policy.BakeTime.String() + " at 100% with alarms watched"
		case changed:
			// Succeeded only once a tick has seen the alias at 100% with no alarm: a
			// failed alias update must not leave a finished record on a half-moved alias.
			wait = "all steps done: finishing at the next tick"
		default:
			r.Phase = Succeeded
			r.FinishedAt = now
			r.PreviousWeight = r.CandidateWeight // seen at 100%: no write of ours is outstanding (see ended)
			r.Reason = "all steps done: candidate at 100%"
			return Decision{Action: ActionFinish, Next: r, SetAlias: changed, Reason: r.Reason}
		}
	}
	switch {
	case changed:
		action := ActionSetWeights
		if r.CandidateWeight == 100 {
			action = ActionPromote
		}
		r.Reason = fmt.Sprintf("step %d/%d: candidate %d%% (was %d%%)", r.StepIndex, len(r.Steps), r.CandidateWeight, r.PreviousWeight)
		if r.StepIndex >= len(r.Steps) {
			r.Reason += "; " + wait
		}
		return Decision{Action: action, Next: r, SetAlias: true, Reason: r.Reason}
	default:
		return r.hold(false, wait)
	}
}

// NeedsMetrics reports whether the next decision reads the candidate's executions: the
// policy watches its failure rate at every tick, or an analysis step lies where the next
// walk can reach it (before the second weight change from here). An analysis judges its
// own maxFailureRate (or the policy's) and minExecutions, so it needs the counts even when
// the policy-level threshold is unset. Before traffic has started there is nothing to count.
func (r Rollout) NeedsMetrics() bool {
	if r.Phase.Terminal() || r.TrafficStartedAt.IsZero() {
		return false
	}
	if r.Policy.MaxFailureRate > 0 {
		return true
	}
	weights := 0
	for _, s := range r.Steps[min(r.StepIndex, len(r.Steps)):] {
		switch {
		case s.Analysis != nil:
			return true
		case s.SetWeight != nil:
			if weights++; weights == 2 {
				return false
			}
		}
	}
	return false
}

// analysis fills an analysis step's thresholds from the policy.
func (r Rollout) analysis(a Analysis) Analysis {
	if a.MaxFailureRate == 0 {
		a.MaxFailureRate = r.Policy.MaxFailureRate
	}
	if a.MinExecutions == 0 {
		a.MinExecutions = r.Policy.MinExecutions
	}
	if a.MinExecutions == 0 {
		a.MinExecutions = DefaultMinExec
	}
	return a
}

// alarmFailure names the first policy alarm that is missing or in ALARM (and not ignored
// as preexisting), or returns "".
func alarmFailure(r Rollout, obs Observation) string {
	for _, name := range r.Policy.Alarms {
		s, ok := obs.Alarms[name]
		switch {
		case !ok || s == AlarmMissing:
			return fmt.Sprintf("alarm %q does not exist (a missing alarm is never read as OK)", name)
		case s == AlarmAlarm && slices.Contains(r.PreexistingAlarms, name):
			continue
		case s == AlarmAlarm:
			return fmt.Sprintf("alarm %q is in ALARM", name)
		}
	}
	return ""
}

// rateFailure reports a failure rate over max (percent) once at least min executions ran.
func rateFailure(max float64, min int, obs Observation) string {
	if max <= 0 || obs.CandidateExecutions == 0 || obs.CandidateExecutions < int64(min) {
		return ""
	}
	if float64(obs.CandidateFailures)*100 > max*float64(obs.CandidateExecutions) {
		return fmt.Sprintf("candidate failure rate %.1f%% (%d of %d executions) is over maxFailureRate %v%%",
			float64(obs.CandidateFailures)*100/float64(obs.CandidateExecutions), obs.CandidateFailures, obs.CandidateExecutions, max)
	}
	return ""
}

// fail applies onFailure: roll back, or freeze for investigation.
func (r Rollout) fail(reason string, repair bool, now time.Time) Decision {
	if r.Phase == Paused && r.PauseKind == PauseFailure {
		return r.hold(repair, "still paused on failure: "+reason)
	}
	if r.Policy.OnFailure == FailurePause {
		return r.pause(PauseFailure, reason+" (onFailure=pause: weights frozen for investigation; resume, promote or abort)", repair)
	}
	d := Stop(r, RolledBack, reason, now)
	if repair {
		// The alias still shows the step before (the last update was lost): that, not the
		// intent it never reached, is where a lost rollback write leaves it, and what the
		// ended rollout repairs as its own (see ended).
		d.Next.PreviousWeight = r.PreviousWeight
	}
	return d
}

// pause moves the rollout to Paused, keeping the weights.
func (r Rollout) pause(kind PauseKind, reason string, setAlias bool) Decision {
	if r.Phase != Paused {
		r.ResumePhase = r.Phase
	}
	r.Phase = Paused
	r.PauseKind = kind
	r.Reason = reason
	return Decision{Action: ActionPause, Next: r, SetAlias: setAlias, Reason: reason}
}

// hold keeps everything as it is, repairing the alias if a crash left it behind.
func (r Rollout) hold(repair bool, reason string) Decision {
	if repair {
		return Decision{Action: ActionSetWeights, Next: r, SetAlias: true, Reason: fmt.Sprintf("repair: alias still at %d%%, intent %d%%; %s", r.PreviousWeight, r.CandidateWeight, reason)}
	}
	return Decision{Action: ActionWait, Next: r, Reason: reason}
}

func (r Rollout) repair(now time.Time, reason string) Decision {
	r.UpdatedAt = now
	return Decision{Action: ActionSetWeights, Next: r, SetAlias: true, Reason: reason}
}

// Stop ends a rollout with the alias 100% on the stable version: RolledBack, Aborted or
// Failed, with the reason.
func Stop(r Rollout, phase Phase, reason string, now time.Time) Decision {
	if r.CandidateWeight != 0 {
		r.PreviousWeight = r.CandidateWeight
	}
	r.CandidateWeight = 0
	r.Phase = phase
	r.PauseKind = PauseNone
	r.ResumePhase = ""
	r.FinishedAt = now
	r.UpdatedAt = now
	r.Reason = reason
	return Decision{Action: ActionRollback, Next: r, SetAlias: true, Reason: reason}
}

// liveWeight reads the candidate's weight from the alias's routing; ours is false when
// the routing sends traffic to another version or does not add up to 100. A route of
// weight 0 (Step Functions takes 0–100; a console edit can leave one) sends none: it is
// nobody's, and the next write of the intent drops it.
func (r Rollout) liveWeight(routing []Route) (weight int, ours bool) {
	sum := 0
	for _, rt := range routing {
		if rt.Weight == 0 {
			continue
		}
		switch rt.VersionArn {
		case r.CandidateVersionArn:
			weight += rt.Weight
		case r.StableVersionArn:
		default:
			return 0, false
		}
		sum += rt.Weight
	}
	return weight, sum == 100
}

// Routing is the alias routing for the intent: absolute weights, no zero entries.
func (r Rollout) Routing() []Route {
	w := r.IntendedWeights()
	var out []Route
	if w.Stable > 0 {
		out = append(out, Route{VersionArn: r.StableVersionArn, Weight: w.Stable})
	}
	if w.Candidate > 0 {
		out = append(out, Route{VersionArn: r.CandidateVersionArn, Weight: w.Candidate})
	}
	return out
}

func (r Rollout) describeIntent() string {
	return DescribeRouting(r.Routing())
}

// DescribeRouting writes a routing as "v1=80% v2=20%" ("nothing" when empty).
func DescribeRouting(routing []Route) string {
	if len(routing) == 0 {
		return "nothing"
	}
	parts := make([]string, len(routing))
	for i, rt := range routing {
		parts[i] = fmt.Sprintf("%s=%d%%", VersionLabel(rt.VersionArn), rt.Weight)
	}
	return strings.Join(parts, " ")
}

// VersionLabel shortens a version ARN …:stateMachine:<name>:<N> to "v<N>"; anything that is
// not a version ARN comes back as it is.
func VersionLabel(arn string) string {
	i := strings.LastIndexByte(arn, ':')
	if i < 0 || i == len(arn)-1 {
		return arn
	}
	for _, c := range arn[i+1:] {
		if c < '0' || c > '9' {
			return arn
		}
	}
	return "v" + arn[i+1:]
}

// check refuses records that Decide cannot reason about.
func (r Rollout) check() error {
	switch {
	case r.StableVersionArn == "" || r.CandidateVersionArn == "":
		return fmt.Errorf("rollout %s: stable and candidate versions are required", r.ID)
	case r.StableVersionArn == r.CandidateVersionArn:
		return fmt.Errorf("rollout %s: stable and candidate are the same version %s", r.ID, r.StableVersionArn)
	case len(r.Steps) == 0:
		return fmt.Errorf("rollout %s: no steps", r.ID)
	case r.StepIndex < 0 || r.StepIndex > len(r.Steps):
		return fmt.Errorf("rollout %s: step index %d outside 0–%d", r.ID, r.StepIndex, len(r.Steps))
	case r.CandidateWeight < 0 || r.CandidateWeight > 100:
		return fmt.Errorf("rollout %s: candidate weight %d outside 0–100", r.ID, r.CandidateWeight)
	}
	return nil
}
