package cloudwatch

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// evaluationTick is the finest alarm period: the evaluator wakes on every multiple of it
// and evaluates the alarms whose period boundary has passed.
const evaluationTick = 10

// Start runs the alarm evaluator on the clock until ctx ends: every Period of virtual time,
// each metric alarm is evaluated over the periods that just completed.
func (s *Service) Start(ctx context.Context) {
	last := s.clock.Now()
	for {
		next := time.Unix(floorDiv(last.Unix(), evaluationTick)*evaluationTick+evaluationTick, 0)
		if err := s.clock.Until(ctx, next); err != nil {
			return
		}
		now := s.clock.Now()
		from := last
		s.evaluate(ctx, now, func(a *alarm) bool {
			return floorDiv(now.Unix(), a.period) > floorDiv(from.Unix(), a.period)
		})
		last = now
	}
}

// EvaluateNow evaluates every metric alarm at the clock's now, as the evaluator does at a
// period boundary.
func (s *Service) EvaluateNow(ctx context.Context) {
	s.evaluate(ctx, s.clock.Now(), func(*alarm) bool { return true })
}

func (s *Service) evaluate(ctx context.Context, now time.Time, due func(*alarm) bool) {
	s.mu.Lock()
	names := make([]string, 0, len(s.alarms))
	for name, a := range s.alarms {
		if !a.composite && due(a) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var scratch evalScratch
	s.metrics.mu.RLock()
	for _, name := range names {
		a := s.alarms[name]
		points, err := s.rangePoints(a, now, &scratch)
		if err != nil {
			continue // an expression that cannot be computed leaves the state as it is
		}
		c := a.evalConfig()
		d := decide(c, points)
		if d.state != "" && d.state != a.state {
			reason, data := d.explain(c, a.state, now)
			s.transition(a, d.state, reason, data, now, map[string]bool{})
		}
	}
	s.metrics.mu.RUnlock()
	s.mu.Unlock()
	s.flush(ctx)
}

// evaluationRange is how many periods an evaluation retrieves. CloudWatch "attempts to
// retrieve a higher number of data points than the number specified as Evaluation Periods"
// and does not say how many (alarms-and-missing-data); this is LocalStack's guess
// (unconfirmed).
func (a *alarm) evaluationRange() int {
	return a.evaluationPeriods + max(a.evaluationPeriods/3, 2)
}

// evalPoint is one period of an evaluation: its start and, when present, its value.
type evalPoint struct {
	ts      int64
	value   float64
	count   float64
	present bool
}

// evalScratch is reused across the alarms of one evaluation.
type evalScratch struct {
	points []evalPoint
	agg    []stats
}

// rangePoints computes the alarm's periods that ended at or before now, oldest first, in
// scratch's memory. The caller holds s.mu and s.metrics.mu for reading.
func (s *Service) rangePoints(a *alarm, now time.Time, scratch *evalScratch) ([]evalPoint, error) {
	p := a.period
	end := floorDiv(now.Unix(), p) * p
	r := a.evaluationRange()
	start := end - int64(r)*p
	points := slices.Grow(scratch.points[:0], r)[:r]
	scratch.points = points
	for i := range points {
		points[i] = evalPoint{ts: start + int64(i)*p}
	}
	if a.metrics == nil {
		agg := slices.Grow(scratch.agg[:0], r)[:r]
		scratch.agg = agg
		clear(agg)
		s.metrics.series[a.seriesKey].buckets(start, p, a.unit, agg)
		for i, g := range agg {
			if g.n > 0 {
				points[i] = evalPoint{ts: points[i].ts, value: g.value(a.statistic), count: g.n, present: true}
			}
		}
		return points, nil
	}
	run := s.runQueries(a.metrics, a.parsed, time.Unix(start, 0), time.Unix(end, 0))
	for _, q := range a.metrics {
		if !returnsData(q) {
			continue
		}
		ts, err := run.series(q.Id)
		if err != nil {
			return nil, err
		}
		for i, v := range ts.values {
			t := ts.start + int64(i)*ts.period
			if math.IsNaN(v) || math.IsInf(v, 0) || t < start || t >= end {
				continue
			}
			j := (t - start) / p
			points[j].value, points[j].present = v, true
			if ts.counts != nil {
				points[j].count = ts.counts[i]
			}
		}
	}
	return points, nil
}

// evalConfig is what deciding an alarm's state takes from its configuration.
type evalConfig struct {
	n, m              int
	threshold         float64
	comparison, treat string
	statistic, unit   string
	period            int64
	math              bool
}

func (a *alarm) evalConfig() evalConfig {
	return evalConfig{
		n: a.evaluationPeriods, m: a.datapointsToAlarm, threshold: a.threshold,
		comparison: a.comparison, treat: a.treatment(), statistic: a.statistic, unit: a.unit,
		period: a.period, math: a.metrics != nil,
	}
}

func (c evalConfig) breaches(v float64) bool {
	switch c.comparison {
	case "GreaterThanOrEqualToThreshold":
		return v >= c.threshold
	case "GreaterThanThreshold":
		return v > c.threshold
	case "LessThanThreshold":
		return v < c.threshold
	default: // LessThanOrEqualToThreshold
		return v <= c.threshold
	}
}

// decision is the outcome of an evaluation: the state (empty keeps the current one) and
// the datapoints that decided it, newest first, from which explain words the reason.
type decision struct {
	state      string
	evaluated  []evalPoint
	allMissing bool
}

// explain words the decision's StateReason and StateReasonData. It is called only for a
// change of state: most evaluations change nothing and need no words.
func (d decision) explain(c evalConfig, current string, now time.Time) (reason, data string) {
	data = reasonData(c, d.evaluated, now)
	if !d.allMissing {
		return thresholdReason(c, d.evaluated, d.state, current), data
	}
	periods, were := plural(c.n, "period", ""), plural(c.n, "missing datapoint", "was")
	switch d.state {
	case stateAlarm:
		return "Threshold Crossed: no datapoints were received for " + periods + " and " + were + " treated as [Breaching].", data
	case stateOK:
		return "Threshold Crossed: no datapoints were received for " + periods + " and " + were + " treated as [NonBreaching].", data
	default:
		// "Insufficient Data: 1 datapoint was unknown." as AWS words it.
		return "Insufficient Data: " + plural(c.n, "datapoint", "was") + " unknown.", data
	}
}

// decide applies CloudWatch's rules (alarms-and-missing-data, "How alarm state is evaluated
// when data is missing"; AlarmThatSendsEmail, "Avoiding premature transitions to alarm
// state") to the periods of the evaluation range, oldest first:
//   - no datapoint in the range: missing → INSUFFICIENT_DATA, breaching → ALARM,
//     notBreaching → OK, ignore → unchanged;
//   - at least EvaluationPeriods datapoints: the most recent EvaluationPeriods of them decide,
//     M of N with DatapointsToAlarm, and TreatMissingData plays no part;
//   - fewer: the missing ones are filled with the treatment (breaching, notBreaching);
//     missing and ignore go to ALARM only with M breaching datapoints, or when the oldest
//     breaching datapoint of the last N periods is at least M periods old and every more
//     recent datapoint breaches (ignore then keeps the state instead), and to OK otherwise.
func decide(c evalConfig, points []evalPoint) decision {
	var present []evalPoint // newest first
	for i := len(points) - 1; i >= 0; i-- {
		if points[i].present {
			present = append(present, points[i])
		}
	}
	lastN := make([]evalPoint, 0, c.n) // the last N periods, newest first
	for i := len(points) - 1; i >= 0 && len(lastN) < c.n; i-- {
		lastN = append(lastN, points[i])
	}

	if len(present) == 0 {
		switch c.treat {
		case "breaching":
			return decision{state: stateAlarm, evaluated: lastN, allMissing: true}
		case "notBreaching":
			return decision{state: stateOK, evaluated: lastN, allMissing: true}
		case "ignore":
			return decision{}
		default:
			return decision{state: stateInsufficient, evaluated: lastN, allMissing: true}
		}
	}

	var evaluated []evalPoint
	breaching := 0
	if len(present) >= c.n {
		evaluated = present[:c.n]
	} else {
		// Every real datapoint, then missing periods of the last N up to N in all.
		evaluated = append(evaluated, present...)
		for _, p := range lastN {
			if len(evaluated) == c.n {
				break
			}
			if !p.present {
				evaluated = append(evaluated, p)
			}
		}
		sort.Slice(evaluated, func(i, j int) bool { return evaluated[i].ts > evaluated[j].ts })
	}
	for _, p := range evaluated {
		if p.present && c.breaches(p.value) || !p.present && c.treat == "breaching" {
			breaching++
		}
	}
	state := stateOK
	if breaching >= c.m {
		state = stateAlarm
	} else if len(present) < c.n && (c.treat == "missing" || c.treat == "ignore") && prematureAlarm(c, lastN) {
		if c.treat == "ignore" {
			return decision{}
		}
		state = stateAlarm
	}
	return decision{state: state, evaluated: evaluated}
}

// prematureAlarm: "alarms are designed to always go into ALARM state when the oldest
// available breaching datapoint during the Evaluation Periods number of data points is at
// least as old as the value of Datapoints to Alarm, and all other more recent data points
// are breaching or missing."
func prematureAlarm(c evalConfig, lastN []evalPoint) bool {
	oldest := -1
	for i, p := range lastN {
		if p.present && c.breaches(p.value) {
			oldest = i
		}
	}
	if oldest+1 < c.m || oldest < 0 {
		return false
	}
	for _, p := range lastN[:oldest] {
		if p.present && !c.breaches(p.value) {
			return false
		}
	}
	return true
}

var comparisonWords = map[string]string{
	"GreaterThanOrEqualToThreshold": "greater than or equal to",
	"GreaterThanThreshold":          "greater than",
	"LessThanThreshold":             "less than",
	"LessThanOrEqualToThreshold":    "less than or equal to",
}

// thresholdReason words a state decided from datapoints as AWS does, e.g.
// "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (26/11/26 02:45:00)] was greater
// than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)." — from OK or
// ALARM; from INSUFFICIENT_DATA "Threshold Crossed: 1 datapoint [21.5 (26/10/23 16:42:00)]
// was greater than the threshold (2.0)." (both seen in AWS's notifications and LocalStack's
// snapshots of AWS). The datapoints listed are those that crossed: breaching ones for ALARM,
// the others for OK.
func thresholdReason(c evalConfig, evaluated []evalPoint, state, current string) string {
	var crossed []string
	for _, p := range evaluated {
		if p.present && c.breaches(p.value) == (state == stateAlarm) {
			crossed = append(crossed, formatJavaDouble(p.value)+" ("+time.Unix(p.ts, 0).UTC().Format("02/01/06 15:04:05")+")")
		}
	}
	k := len(crossed)
	verb := "were"
	if k == 1 {
		verb = "was"
	}
	words := comparisonWords[c.comparison]
	if state == stateOK {
		words = "not " + words
	}
	tail := " " + verb + " " + words + " the threshold (" + formatJavaDouble(c.threshold) + ")"
	list := "[" + strings.Join(crossed, ", ") + "]"
	switch {
	case current == stateOK && state == stateAlarm:
		return "Threshold Crossed: " + strconv.Itoa(k) + " out of the last " + strconv.Itoa(c.n) + " datapoints " + list + tail +
			" (minimum " + plural(c.m, "datapoint", "") + " for OK -> ALARM transition)."
	case current == stateAlarm && state == stateOK:
		return "Threshold Crossed: " + strconv.Itoa(k) + " out of the last " + strconv.Itoa(c.n) + " datapoints " + list + tail +
			" (minimum " + plural(c.n-c.m+1, "datapoint", "") + " for ALARM -> OK transition)."
	default:
		return "Threshold Crossed: " + plural(k, "datapoint", "") + " " + list + tail + "."
	}
}

// plural writes "1 datapoint was" or "2 datapoints were" (without verb when verb is "").
func plural(n int, noun, verb string) string {
	s := strconv.Itoa(n) + " " + noun
	if n != 1 {
		s += "s"
		if verb == "was" {
			verb = "were"
		}
	}
	if verb != "" {
		s += " " + verb
	}
	return s
}

// reasonData is the StateReasonData of a metric alarm's evaluation, as AWS writes it:
// {"version":"1.0","queryDate":...,"startDate":...,"statistic":"Sum","period":60,
// "recentDatapoints":[3.0],"threshold":1.0,"evaluatedDatapoints":[{"timestamp":...,
// "sampleCount":2.0,"value":3.0}]}, numbers as Java prints doubles.
func reasonData(c evalConfig, evaluated []evalPoint, now time.Time) string {
	var b strings.Builder
	b.WriteString(`{"version":"1.0","queryDate":"` + formatEventTime(now) + `"`)
	var oldest int64 = math.MaxInt64
	var recent []string
	for i := len(evaluated) - 1; i >= 0; i-- {
		if p := evaluated[i]; p.present {
			oldest = min(oldest, p.ts)
			recent = append(recent, formatJavaDouble(p.value))
		}
	}
	if oldest != math.MaxInt64 {
		b.WriteString(`,"startDate":"` + formatEventTime(time.Unix(oldest, 0)) + `"`)
	}
	if c.unit != "" {
		b.WriteString(`,"unit":` + jsonString(c.unit))
	}
	if !c.math {
		b.WriteString(`,"statistic":` + jsonString(c.statistic))
	}
	b.WriteString(`,"period":` + strconv.FormatInt(c.period, 10))
	b.WriteString(`,"recentDatapoints":[` + strings.Join(recent, ",") + `]`)
	b.WriteString(`,"threshold":` + formatJavaDouble(c.threshold))
	b.WriteString(`,"evaluatedDatapoints":[`)
	for i, p := range evaluated {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"timestamp":"` + formatEventTime(time.Unix(p.ts, 0)) + `"`)
		if p.present {
			if !c.math {
				b.WriteString(`,"sampleCount":` + formatJavaDouble(p.count))
			}
			b.WriteString(`,"value":` + formatJavaDouble(p.value))
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// formatEventTime is the time format of alarm events and reason data:
// 2026-01-15T10:05:00.125+0000.
func formatEventTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000-0700")
}

// formatJavaDouble prints v as Java's Double.toString does, which is how CloudWatch writes
// numbers in reasons and reason data: 5.0, 21.5, 1.0E7.
func formatJavaDouble(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	case v == 0:
		if math.Signbit(v) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(v); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // 1.2345E+07
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}

// evaluateComposite sets a composite alarm's state from its rule: ALARM when the rule is
// true, OK when it is false. trigger is the child whose change caused the evaluation, or nil.
// The caller holds s.mu.
func (s *Service) evaluateComposite(c *alarm, trigger *alarm, now time.Time, visited map[string]bool) {
	holds := c.ruleNode.eval(func(name string) string {
		if x, ok := s.alarms[name]; ok {
			return x.state
		}
		return ""
	})
	want := stateOK
	if holds {
		want = stateAlarm
	}
	if want == c.state {
		return
	}
	if trigger == nil {
		for _, name := range c.children {
			if x, ok := s.alarms[name]; ok && (trigger == nil || x.stateUpdated.After(trigger.stateUpdated)) {
				trigger = x
			}
		}
	}
	reason, data := "Alarm rule evaluated to "+strings.ToUpper(strconv.FormatBool(holds)), "" // a rule of TRUE/FALSE alone (unconfirmed wording)
	if trigger != nil {
		// As in AWS's composite alarm events: "arn:...:alarm:orders-prod-failures
		// transitioned to ALARM at Thursday 15 January, 2026 10:05:00 UTC" with
		// {"triggeringAlarms":[{"arn":...,"state":{"value":"ALARM","timestamp":...}}]}.
		reason = trigger.arn + " transitioned to " + trigger.state + " at " + trigger.stateUpdated.UTC().Format("Monday 02 January, 2006 15:04:05 UTC")
		data = `{"triggeringAlarms":[{"arn":` + jsonString(trigger.arn) + `,"state":{"value":` + jsonString(trigger.state) +
			`,"timestamp":"` + formatEventTime(trigger.stateUpdated) + `"}}]}`
	}
	s.transition(c, want, reason, data, now, visited)
}

// transition changes an alarm's state, records it, queues its one EventBridge event and
// console line, and re-evaluates the composites that name it. The caller holds s.mu.
func (s *Service) transition(a *alarm, state, reason, data string, now time.Time, visited map[string]bool) {
	prev := eventState{Value: a.state, Reason: a.reason, ReasonData: a.reasonData, Timestamp: formatEventTime(a.stateUpdated)}
	oldState, oldReason := a.state, a.reason
	a.state, a.reason, a.reasonData = state, reason, data
	a.stateUpdated, a.stateTransitioned = now, now
	a.record(now, "StateUpdate", "Alarm updated from "+oldState+" to "+state, historyData(oldState, oldReason, a))
	s.pending = append(s.pending, notice{
		event: alarmEvent(a, prev, now),
		line:  "alarm " + a.name + " " + oldState + " → " + state,
	})
	visited[a.name] = true
	for _, p := range s.parents[a.name] {
		if pa, ok := s.alarms[p]; ok && !visited[p] {
			s.evaluateComposite(pa, a, now, visited)
		}
	}
}

func historyData(oldState, oldReason string, a *alarm) string {
	var b strings.Builder
	b.WriteString(`{"version":"1.0","oldState":{"stateValue":` + jsonString(oldState) + `,"stateReason":` + jsonString(oldReason) + `},`)
	b.WriteString(`"newState":{"stateValue":` + jsonString(a.state) + `,"stateReason":` + jsonString(a.reason))
	if a.reasonData != "" && json.Valid([]byte(a.reasonData)) {
		b.WriteString(`,"stateReasonData":` + a.reasonData)
	}
	b.WriteString("}}")
	return b.String()
}

// notice is what one state change tells the world: its event and its console line.
type notice struct {
	event core.Event
	line  string
}

// flush emits the queued notices in order, outside s.mu so that a bus delivering
// synchronously may call back into the service. One caller flushes at a time; a flush that
// finds another under way leaves its notices to it.
func (s *Service) flush(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	if s.flushing {
		s.mu.Unlock()
		return
	}
	s.flushing = true
	for len(s.pending) > 0 {
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		for _, n := range batch {
			if s.bus != nil {
				if err := s.bus.Emit(ctx, n.event); err != nil && s.reporter != nil {
					s.reporter.Report("cloudwatch: emit %s event for %s: %v", n.event.DetailType, n.event.Resources[0], err)
				}
			}
			if s.reporter != nil {
				s.reporter.Report("%s", n.line)
			}
		}
		s.mu.Lock()
	}
	s.flushing = false
	s.mu.Unlock()
}
