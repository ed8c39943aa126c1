package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// observeAlarms reads the policy's alarms for a tick. An alarm event can be lost (its
// delivery failed every retry, or the rollback function did), and an alarm can go
// OK → ALARM → OK between two ticks, so the state alone is not enough: an alarm whose
// StateTransitionedTimestamp is after r.AlarmsCheckedAt changed since the rollout last
// looked, and its history (DescribeAlarmHistory) is read for that window. One that entered
// ALARM there reads as ALARM, exactly as if its event had arrived. A quiet tick reads
// nothing more than DescribeAlarms, and records nothing new.
//
// A sweep reads every rollout's alarms in one batched DescribeAlarms before it (lk); a
// tick of its own (lk nil) reads them here.
func (c *Controller) observeAlarms(ctx context.Context, r rollout.Rollout, obs *rollout.Observation, lk *look) error {
	// Taken before the read: a change after it is found by the next tick, whose
	// DescribeAlarms shows a later StateTransitionedTimestamp.
	start := c.now().Truncate(time.Millisecond)
	var statuses map[string]AlarmStatus
	var err error
	if lk != nil {
		start, statuses, err = lk.at, lk.alarms, lk.alarmsErr
	} else {
		statuses, err = c.Alarms.Statuses(ctx, r.Policy.Alarms)
	}
	if err != nil {
		return transient(fmt.Errorf("describe alarms: %w", err))
	}
	since := r.AlarmsCheckedAt
	if since.IsZero() {
		since = r.CreatedAt // a record prepared before AlarmsCheckedAt existed
	}
	obs.Alarms = make(map[string]rollout.AlarmState, len(statuses))
	read := false
	for _, name := range r.Policy.Alarms {
		st, ok := statuses[name]
		if !ok {
			continue // missing: Decide rolls back
		}
		obs.Alarms[name] = st.State
		// A change in the very millisecond of the last look may have come after its read:
		// it counts as new, unless the look saw the alarm in ALARM (preexisting), whose
		// tie is taken to be the state the look saw.
		preexisting := slices.Contains(r.PreexistingAlarms, name)
		if st.TransitionedAt.Before(since) || (preexisting && st.TransitionedAt.Equal(since)) {
			continue
		}
		if st.State == rollout.AlarmAlarm {
			// Entered ALARM since the last look: never the preexisting one.
			obs.EnteredAlarms = append(obs.EnteredAlarms, name)
			continue
		}
		at, err := c.enteredAlarmOnce(ctx, lk, name, since, !preexisting)
		if err != nil {
			c.logFor(r).WarnContext(ctx, "alarm history unreadable: holding", "alarm", name, "err", err)
			obs.AlarmsInconclusive = true
			continue
		}
		read = true
		if !at.IsZero() {
			c.logFor(r).WarnContext(ctx, "alarm was in ALARM since the last look, and no event rolled back", "alarm", name, "alarm_at", at, "since", since)
			obs.Alarms[name] = rollout.AlarmAlarm
			obs.EnteredAlarms = append(obs.EnteredAlarms, name)
		}
	}
	if read && !obs.AlarmsInconclusive {
		obs.AlarmsCheckedAt = start
	}
	return nil
}

// enteredAlarmOnce is enteredAlarm, read once per sweep for rollouts that share an alarm
// and the time they last looked.
func (c *Controller) enteredAlarmOnce(ctx context.Context, lk *look, name string, since time.Time, tie bool) (time.Time, error) {
	if lk == nil {
		return c.enteredAlarm(ctx, name, since, tie)
	}
	key := fmt.Sprintf("%s|%d|%t", name, since.UnixNano(), tie)
	lk.mu.Lock()
	seen, ok := lk.history[key]
	lk.mu.Unlock()
	if ok {
		return seen.at, seen.err
	}
	at, err := c.enteredAlarm(ctx, name, since, tie)
	lk.mu.Lock()
	lk.history[key] = historyRead{at, err}
	lk.mu.Unlock()
	return at, err
}

// enteredAlarm returns when the alarm first entered ALARM after since (or at since, with
// tie), or zero.
func (c *Controller) enteredAlarm(ctx context.Context, name string, since time.Time, tie bool) (time.Time, error) {
	items, err := c.Alarms.History(ctx, name, since, c.now())
	if err != nil {
		return time.Time{}, fmt.Errorf("history of alarm %s: %w", name, err)
	}
	for _, it := range items {
		// The window's start is the last look, which saw the state then: what came after
		// it is new, and what came in its very millisecond too when tie says so.
		if it.To == rollout.AlarmAlarm && (it.Time.After(since) || tie && it.Time.Equal(since)) {
			return it.Time, nil
		}
	}
	return time.Time{}, nil
}

// eventObservation is what the rollback on an alarm's event decides on, with no read at
// all: reads of the alias (1 a second account-wide) and of the alarms may be throttled,
// and the event decides alone. The record is the intent and gives the stable version; the
// alias is taken to be at it (a rollback writes 100% stable whatever it is; a pause writes
// nothing). The other alarms are not read: each stands as it was last seen — in ALARM if
// still counted as preexisting, OK otherwise — so that the decision neither fails on them
// nor forgets that one is preexisting.
func eventObservation(r rollout.Rollout, firing string, obs rollout.Observation) rollout.Observation {
	obs.Routing = r.Routing()
	obs.Alarms = make(map[string]rollout.AlarmState, len(r.Policy.Alarms)+1)
	for _, name := range r.Policy.Alarms {
		obs.Alarms[name] = rollout.AlarmOK
		if slices.Contains(r.PreexistingAlarms, name) {
			obs.Alarms[name] = rollout.AlarmAlarm
		}
	}
	obs.Alarms[firing] = rollout.AlarmAlarm
	obs.EnteredAlarms = []string{firing}
	return obs
}
