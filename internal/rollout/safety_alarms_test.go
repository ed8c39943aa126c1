package rollout_test

import (
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
