package rollout_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// What the alarms' history adds to an observation: alarms that entered ALARM since the
// last look (never preexisting), the time the history was read up to, and whether a read
// failed (nothing moves forward).
func TestDecideWithAlarmHistory(t *testing.T) {
	linear := newRollout(t, linearPolicy)
	mid := atStep(linear, 3, t0) // 50%, pausing 5m
	ignore := with(atStep(newRollout(t, ignorePolicy), 1, t0), func(r *rollout.Rollout) { r.PreexistingAlarms = []string{alarmErrors} })
	checked := t0.Add(3 * time.Minute)
	entered := func(names ...string) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.EnteredAlarms = names }
	}
	alarmed := func(name string) func(*rollout.Observation) {
		return func(o *rollout.Observation) { o.Alarms[name] = rollout.AlarmAlarm }
	}
	historyRead := func(o *rollout.Observation) { o.AlarmsCheckedAt = checked }
	inconclusive := func(o *rollout.Observation) { o.AlarmsInconclusive = true }

	tests := []struct {
		name  string
		r     rollout.Rollout
		obs   rollout.Observation
		now   time.Time
		want  want
		check func(*testing.T, rollout.Decision)
	}{
		{name: "preexisting alarm still in ALARM, no change seen: ignored", r: ignore, obs: observe(healthy(ignore), alarmed(alarmErrors)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 10, stepIndex: 1, reason: []string{"left"}}},
		{name: "preexisting alarm that entered ALARM again: roll back", r: ignore, obs: observe(healthy(ignore), alarmed(alarmErrors), entered(alarmErrors)), now: t0.Add(time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 1, setAlias: true, reason: []string{alarmErrors}},
			check: func(t *testing.T, d rollout.Decision) {
				if slices.Contains(d.Next.PreexistingAlarms, alarmErrors) {
					t.Errorf("still preexisting: %v", d.Next.PreexistingAlarms)
				}
			}},
		{name: "history read: the record keeps how far", r: mid, obs: observe(healthy(mid), historyRead), now: t0.Add(3 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"left"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.AlarmsCheckedAt.Equal(checked) {
					t.Errorf("AlarmsCheckedAt %v, want %v", d.Next.AlarmsCheckedAt, checked)
				}
			}},
		{name: "no history read: AlarmsCheckedAt stays", r: with(mid, func(r *rollout.Rollout) { r.AlarmsCheckedAt = t0 }), obs: healthy(mid), now: t0.Add(3 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"left"}},
			check: func(t *testing.T, d rollout.Decision) {
				if !d.Next.AlarmsCheckedAt.Equal(t0) {
					t.Errorf("AlarmsCheckedAt %v, want %v", d.Next.AlarmsCheckedAt, t0)
				}
			}},
		{name: "history unreadable: the pause is over, but hold", r: mid, obs: observe(healthy(mid), inconclusive), now: t0.Add(6 * time.Minute),
			want: want{action: rollout.ActionWait, phase: rollout.Progressing, weight: 50, stepIndex: 3, reason: []string{"history could not be read"}}},
		{name: "history unreadable on the first tick: no traffic yet", r: linear, obs: observe(healthy(linear), inconclusive), now: t0,
			want: want{action: rollout.ActionWait, phase: rollout.Pending, weight: 0, stepIndex: 0, reason: []string{"history could not be read"}}},
		{name: "history unreadable, an alarm in ALARM: roll back", r: mid, obs: observe(healthy(mid), inconclusive, alarmed(alarmP99)), now: t0.Add(6 * time.Minute),
			want: want{action: rollout.ActionRollback, phase: rollout.RolledBack, weight: 0, stepIndex: 3, setAlias: true, reason: []string{alarmP99}}},
		{name: "history unreadable while the alias lags: repair it", r: mid, obs: observe(healthy(mid), inconclusive, func(o *rollout.Observation) { o.Routing = routes(25) }), now: t0.Add(6 * time.Minute),
			want: want{action: rollout.ActionSetWeights, phase: rollout.Progressing, weight: 50, stepIndex: 3, setAlias: true, reason: []string{"repair"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.Decide(tt.r, tt.obs, tt.now)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			checkDecision(t, d, tt.want)
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// Over generated rollouts: with an alarm history unread, nothing moves forward; an alarm
// that entered ALARM since the last look is never ignored as preexisting.
func TestDecideAlarmHistoryInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261204, 9))
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	held, entered := 0, 0
	for i := range iterations {
		policy := invariantPolicies[rng.IntN(len(invariantPolicies))]
		r := newRollout(t, policy)
		if len(r.Policy.Alarms) > 0 && rng.IntN(3) == 0 {
			r.PreexistingAlarms = []string{r.Policy.Alarms[0]}
		}
		alias := routes(0)
		now := t0
		for tickNo := range 40 {
			now = now.Add(time.Duration(rng.IntN(6*60)) * time.Second)
			obs := randomObservation(rng, r, alias)
			obs.AlarmsInconclusive = rng.IntN(4) == 0
			if len(r.Policy.Alarms) > 0 && rng.IntN(6) == 0 {
				a := r.Policy.Alarms[rng.IntN(len(r.Policy.Alarms))]
				obs.Alarms[a] = rollout.AlarmAlarm
				obs.EnteredAlarms = []string{a}
			}
			d, err := rollout.Decide(r, obs, now)
			if err != nil {
				t.Fatalf("rollout %d (%s), tick %d: %v", i, policy, tickNo, err)
			}
			n := d.Next
			failed := d.Action == rollout.ActionRollback || n.Phase == rollout.Paused && n.PauseKind == rollout.PauseFailure
			switch {
			case obs.AlarmsInconclusive && !r.Phase.Terminal() && d.Action != rollout.ActionRollback && d.Action != rollout.ActionPause &&
				(n.StepIndex != r.StepIndex || n.CandidateWeight != r.CandidateWeight || n.Phase != r.Phase):
				t.Fatalf("rollout %d (%s), tick %d: moved on with the alarm history unread: %s %+v → %+v", i, policy, tickNo, d.Action, r, n)
			case len(obs.EnteredAlarms) > 0 && !r.Phase.Terminal() && !failed:
				t.Fatalf("rollout %d (%s), tick %d: %s entered ALARM, decision %s (%s)", i, policy, tickNo, obs.EnteredAlarms[0], d.Action, d.Reason)
			}
			if obs.AlarmsInconclusive && d.Action == rollout.ActionWait {
				held++
			}
			if len(obs.EnteredAlarms) > 0 && !r.Phase.Terminal() {
				entered++
			}
			r = n
			if d.SetAlias && rng.IntN(5) != 0 {
				alias = r.Routing()
			}
			if r.Phase.Terminal() {
				break
			}
		}
	}
	if held == 0 || entered == 0 {
		t.Errorf("the generator never held on an unread history (%d) or saw an alarm enter ALARM (%d)", held, entered)
	}
}
