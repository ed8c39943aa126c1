package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// points reads a row such as "0 - X - X", oldest first: X breaches a threshold of 1 with
// GreaterThanThreshold, 0 does not, - is a period without data.
func points(row string) []evalPoint {
	var out []evalPoint
	for i, f := range strings.Fields(row) {
		p := evalPoint{ts: int64(i) * 60}
		switch f {
		case "X":
			p.value, p.present, p.count = 5, true, 1
		case "0":
			p.value, p.present, p.count = 0, true, 1
		}
		out = append(out, p)
	}
	return out
}

// TestDecide checks the evaluation rules against the table of CloudWatch's "Configuring how
// CloudWatch alarms treat missing data" (3 out of 3, an evaluation range of 5), and M of N.
func TestDecide(t *testing.T) {
	const keep = "" // the state is left as it is
	tests := []struct {
		name    string
		row     string
		n, m    int
		treat   string
		current string
		want    string
	}{
		{"docs row 1, missing", "0 - X - X", 3, 3, "missing", stateOK, stateOK},
		{"docs row 1, ignore", "0 - X - X", 3, 3, "ignore", stateOK, stateOK},
		{"docs row 1, breaching", "0 - X - X", 3, 3, "breaching", stateOK, stateOK},
		{"docs row 1, notBreaching", "0 - X - X", 3, 3, "notBreaching", stateOK, stateOK},
		{"docs row 2, missing", "- - - - 0", 3, 3, "missing", stateAlarm, stateOK},
		{"docs row 2, ignore", "- - - - 0", 3, 3, "ignore", stateAlarm, stateOK},
		{"docs row 2, breaching", "- - - - 0", 3, 3, "breaching", stateAlarm, stateOK},
		{"docs row 2, notBreaching", "- - - - 0", 3, 3, "notBreaching", stateAlarm, stateOK},
		{"docs row 3, missing", "- - - - -", 3, 3, "missing", stateOK, stateInsufficient},
		{"docs row 3, ignore", "- - - - -", 3, 3, "ignore", stateOK, keep},
		{"docs row 3, breaching", "- - - - -", 3, 3, "breaching", stateOK, stateAlarm},
		{"docs row 3, notBreaching", "- - - - -", 3, 3, "notBreaching", stateAlarm, stateOK},
		{"docs row 4, missing", "0 X X - X", 3, 3, "missing", stateOK, stateAlarm},
		{"docs row 4, ignore", "0 X X - X", 3, 3, "ignore", stateOK, stateAlarm},
		{"docs row 4, breaching", "0 X X - X", 3, 3, "breaching", stateOK, stateAlarm},
		{"docs row 4, notBreaching", "0 X X - X", 3, 3, "notBreaching", stateOK, stateAlarm},
		{"docs row 5, missing: premature alarm", "- - X - -", 3, 3, "missing", stateOK, stateAlarm},
		{"docs row 5, ignore keeps the state", "- - X - -", 3, 3, "ignore", stateOK, keep},
		{"docs row 5, breaching", "- - X - -", 3, 3, "breaching", stateOK, stateAlarm},
		{"docs row 5, notBreaching", "- - X - -", 3, 3, "notBreaching", stateOK, stateOK},
		{"2 of 3 breaching", "0 0 X 0 X", 3, 2, "missing", stateOK, stateAlarm},
		{"1 of 3 breaching", "0 0 X 0 0", 3, 2, "missing", stateAlarm, stateOK},
		{"2 of 3 with older data looked past", "X - 0 X - ", 3, 2, "missing", stateOK, stateAlarm},
		{"1 of 1, breaching", "0 0 X", 1, 1, "missing", stateOK, stateAlarm},
		{"1 of 1, most recent real datapoint decides", "0 X -", 1, 1, "notBreaching", stateOK, stateAlarm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := evalConfig{n: tc.n, m: tc.m, threshold: 1, comparison: "GreaterThanThreshold", treat: tc.treat, statistic: "Sum", period: 60}
			d := decide(c, points(tc.row))
			reason, data := d.explain(c, tc.current, time.Unix(600, 0))
			if d.state != tc.want {
				t.Errorf("state %q (%s), want %q", d.state, reason, tc.want)
			}
			if d.state != keep && (reason == "" || !json.Valid([]byte(data))) {
				t.Errorf("reason %q, reason data %q", reason, data)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	c := evalConfig{n: 3, m: 2, threshold: 1, comparison: "GreaterThanOrEqualToThreshold", treat: "missing", statistic: "Sum", period: 60}
	at := time.Date(2026, 11, 26, 2, 45, 0, 0, time.UTC)
	row := func(values ...float64) []evalPoint {
		var out []evalPoint
		for i, v := range values {
			out = append(out, evalPoint{ts: at.Unix() + int64(i-len(values)+1)*60, value: v, count: 2, present: true})
		}
		return out
	}
	tests := []struct {
		name    string
		c       evalConfig
		points  []evalPoint
		current string
		reason  string
		data    string
	}{
		{
			name: "OK to ALARM", c: c, points: row(0, 0, 5, 0, 3), current: stateOK,
			reason: "Threshold Crossed: 2 out of the last 3 datapoints [3.0 (26/11/26 02:45:00), 5.0 (26/11/26 02:43:00)] were greater than or equal to the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition).",
			data: `{"version":"1.0","queryDate":"2026-11-26T02:46:00.000+0000","startDate":"2026-11-26T02:43:00.000+0000","statistic":"Sum","period":60,"recentDatapoints":[5.0,0.0,3.0],"threshold":1.0,` +
				`"evaluatedDatapoints":[{"timestamp":"2026-11-26T02:45:00.000+0000","sampleCount":2.0,"value":3.0},{"timestamp":"2026-11-26T02:44:00.000+0000","sampleCount":2.0,"value":0.0},{"timestamp":"2026-11-26T02:43:00.000+0000","sampleCount":2.0,"value":5.0}]}`,
		},
		{
			name: "ALARM to OK", c: c, points: row(5, 5, 0.5, 0, 3), current: stateAlarm,
			reason: "Threshold Crossed: 2 out of the last 3 datapoints [0.0 (26/11/26 02:44:00), 0.5 (26/11/26 02:43:00)] were not greater than or equal to the threshold (1.0) (minimum 2 datapoints for ALARM -> OK transition).",
		},
		{
			name: "INSUFFICIENT_DATA to ALARM, 1 of 1", c: evalConfig{n: 1, m: 1, threshold: 2, comparison: "GreaterThanThreshold", treat: "missing", statistic: "Average", period: 60},
			points: row(21.5), current: stateInsufficient,
			reason: "Threshold Crossed: 1 datapoint [21.5 (26/11/26 02:45:00)] was greater than the threshold (2.0).",
		},
		{
			name: "OK to ALARM, 1 of 1", c: evalConfig{n: 1, m: 1, threshold: 1, comparison: "GreaterThanThreshold", treat: "missing", statistic: "Sum", period: 60},
			points: row(5), current: stateOK,
			reason: "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (26/11/26 02:45:00)] was greater than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).",
		},
		{
			name: "no data, missing", c: evalConfig{n: 1, m: 1, threshold: 1, comparison: "GreaterThanThreshold", treat: "missing", period: 60},
			points: points("- - -"), current: stateOK, reason: "Insufficient Data: 1 datapoint was unknown.",
		},
		{
			name: "no data, breaching", c: evalConfig{n: 2, m: 2, threshold: 2, comparison: "GreaterThanThreshold", treat: "breaching", period: 10},
			points: points("- - - -"), current: stateInsufficient,
			reason: "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching].",
		},
		{
			name: "no data, notBreaching", c: evalConfig{n: 1, m: 1, threshold: 2, comparison: "GreaterThanThreshold", treat: "notBreaching", period: 30},
			points: points("- - -"), current: stateAlarm,
			reason: "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, data := decide(tc.c, tc.points).explain(tc.c, tc.current, at.Add(time.Minute))
			if reason != tc.reason {
				t.Errorf("reason\n got %s\nwant %s", reason, tc.reason)
			}
			if tc.data != "" && data != tc.data {
				t.Errorf("reason data\n got %s\nwant %s", data, tc.data)
			}
		})
	}
}

func TestFormatJavaDouble(t *testing.T) {
	tests := map[float64]string{5: "5.0", 21.5: "21.5", 0: "0.0", -3: "-3.0", 0.0666851903306472: "0.0666851903306472", 1e7: "1.0E7", 12345678.5: "1.23456785E7", 1e-4: "1.0E-4"}
	for v, want := range tests {
		if got := formatJavaDouble(v); got != want {
			t.Errorf("formatJavaDouble(%v) = %s, want %s", v, got, want)
		}
	}
}

// step puts data at a minute and then evaluates at the start of the next one.
type step struct {
	minute int
	value  *float64 // nil: no data this minute
	want   string   // the state after evaluating the minute
}

func v(x float64) *float64 { return &x }

// TestMetricAlarmLifecycle drives alarms through OK → ALARM → OK from metric data alone,
// one row per TreatMissingData and for M of N, evaluating at each minute's boundary.
func TestMetricAlarmLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		treat string
		n, m  int32
		steps []step
	}{
		{name: "missing", treat: "missing", n: 1, m: 1, steps: []step{
			{0, v(0), stateOK}, {1, v(5), stateAlarm}, {2, v(0), stateOK},
			{3, nil, stateOK}, {4, nil, stateOK}, // the last datapoint is still in the evaluation range
			{5, nil, stateInsufficient},
		}},
		{name: "notBreaching", treat: "notBreaching", n: 1, m: 1, steps: []step{
			{0, v(0), stateOK}, {1, v(5), stateAlarm}, {2, nil, stateAlarm}, {3, nil, stateAlarm},
			{4, nil, stateOK}, // no data in the range any more: treated as not breaching
			{5, v(2), stateAlarm}, {6, v(0), stateOK},
		}},
		{name: "breaching", treat: "breaching", n: 1, m: 1, steps: []step{
			{0, v(0), stateOK}, {1, v(5), stateAlarm}, {2, v(0), stateOK}, {3, nil, stateOK}, {4, nil, stateOK},
			{5, nil, stateAlarm}, // no data in the range: treated as breaching
			{6, v(0), stateOK},
		}},
		{name: "ignore", treat: "ignore", n: 1, m: 1, steps: []step{
			{0, v(0), stateOK}, {1, v(5), stateAlarm}, {2, v(0), stateOK},
			{3, nil, stateOK}, {4, nil, stateOK}, {5, nil, stateOK}, {6, nil, stateOK}, // kept
			{7, v(9), stateAlarm}, {8, nil, stateAlarm}, {9, nil, stateAlarm}, {10, nil, stateAlarm}, {11, v(0), stateOK},
		}},
		{name: "default treatment is missing", treat: "", n: 1, m: 1, steps: []step{
			{0, v(5), stateAlarm}, {1, v(0), stateOK}, {2, nil, stateOK}, {3, nil, stateOK}, {4, nil, stateInsufficient},
		}},
		{name: "2 out of 3", treat: "notBreaching", n: 3, m: 2, steps: []step{
			{0, v(0), stateOK}, {1, v(5), stateOK}, {2, v(0), stateOK}, {3, v(5), stateAlarm},
			{4, v(5), stateAlarm}, {5, v(0), stateAlarm}, {6, v(0), stateOK},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			b := base(e)
			in := with(metricAlarmInput("orders-prod-failures"), func(in *awscw.PutMetricAlarmInput) {
				in.EvaluationPeriods, in.DatapointsToAlarm = aws.Int32(tc.n), aws.Int32(tc.m)
				if tc.treat != "" {
					in.TreatMissingData = aws.String(tc.treat)
				}
			})
			mustPutAlarm(t, e, in)
			var wantLines []string
			prev := stateInsufficient
			for _, st := range tc.steps {
				minute := b.Add(time.Duration(st.minute) * time.Minute)
				if st.value != nil {
					putValues(t, e, "Errors", nil, minute.Add(10*time.Second), *st.value)
				}
				e.svc.evaluate(ctx, minute.Add(time.Minute+5*time.Second), func(*alarm) bool { return true })
				out, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{AlarmNames: []string{"orders-prod-failures"}})
				if err != nil {
					t.Fatal(err)
				}
				got := string(out.MetricAlarms[0].StateValue)
				if got != st.want {
					t.Fatalf("minute %d: state %s (%s), want %s", st.minute, got, aws.ToString(out.MetricAlarms[0].StateReason), st.want)
				}
				if got != prev {
					wantLines = append(wantLines, fmt.Sprintf("alarm orders-prod-failures %s → %s", prev, got))
					prev = got
				}
			}
			// Exactly one event and one console line per state change.
			if lines := e.reporter.all(); !slices.Equal(lines, wantLines) {
				t.Errorf("lines %q, want %q", lines, wantLines)
			}
			details := e.bus.details(t)
			if len(details) != len(wantLines) {
				t.Fatalf("%d events for %d state changes", len(details), len(wantLines))
			}
			for i, d := range details {
				if fmt.Sprintf("alarm orders-prod-failures %s → %s", d.PreviousState.Value, d.State.Value) != wantLines[i] {
					t.Errorf("event %d: %s → %s, want %s", i, d.PreviousState.Value, d.State.Value, wantLines[i])
				}
				if i > 0 && d.PreviousState != details[i-1].State {
					t.Errorf("event %d: previous state %+v is not the state of event %d %+v", i, d.PreviousState, i-1, details[i-1].State)
				}
			}
		})
	}
}

// The event carries what AWS's does: source, detail type, the alarm ARN as its resource,
// state and previous state with reason data as a JSON string, and the configuration.
func TestAlarmEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := base(e)
	mustPutAlarm(t, e, with(metricAlarmInput("orders-prod-failures"), func(in *awscw.PutMetricAlarmInput) {
		in.AlarmDescription = aws.String("Failed executions of orders behind the prod alias")
		in.Dimensions = []types.Dimension{{Name: aws.String("Alias"), Value: aws.String("prod")}}
	}))
	putValues(t, e, "Errors", map[string]string{"Alias": "prod"}, b.Add(10*time.Second), 3)
	e.svc.evaluate(ctx, b.Add(time.Minute+100*time.Millisecond), func(*alarm) bool { return true })
	events := e.bus.all()
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	ev := events[0]
	if ev.Source != "aws.cloudwatch" || ev.DetailType != "CloudWatch Alarm State Change" ||
		!slices.Equal(ev.Resources, []string{"arn:aws:cloudwatch:us-east-1:000000000000:alarm:orders-prod-failures"}) {
		t.Errorf("event %s %s %v", ev.Source, ev.DetailType, ev.Resources)
	}
	var detail struct {
		AlarmName string `json:"alarmName"`
		State     struct {
			Value, Reason, ReasonData, Timestamp string
		} `json:"state"`
		PreviousState struct{ Value, Reason, Timestamp string } `json:"previousState"`
		Configuration struct {
			Description string `json:"description"`
			Metrics     []struct {
				ID         string `json:"id"`
				MetricStat struct {
					Metric struct {
						Namespace, Name string
						Dimensions      map[string]string
					}
					Period int
					Stat   string
				}
				ReturnData bool
			}
		}
	}
	if err := json.Unmarshal(ev.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Threshold Crossed: 1 datapoint [3.0 (%s)] was greater than or equal to the threshold (1.0).", b.Format("02/01/06 15:04:05"))
	m := detail.Configuration.Metrics
	switch {
	case detail.AlarmName != "orders-prod-failures", detail.State.Value != "ALARM", detail.State.Reason != want:
		t.Errorf("state %+v, want ALARM: %s", detail.State, want)
	case !json.Valid([]byte(detail.State.ReasonData)), detail.State.Timestamp != b.Add(time.Minute+100*time.Millisecond).Format("2006-01-02T15:04:05.000+0000"):
		t.Errorf("reason data %q timestamp %q", detail.State.ReasonData, detail.State.Timestamp)
	case detail.PreviousState.Value != "INSUFFICIENT_DATA", detail.PreviousState.Reason != "Unchecked: Initial alarm creation":
		t.Errorf("previous state %+v", detail.PreviousState)
	case detail.Configuration.Description != "Failed executions of orders behind the prod alias", len(m) != 1,
		m[0].MetricStat.Metric.Name != "Errors", m[0].MetricStat.Metric.Dimensions["Alias"] != "prod",
		m[0].MetricStat.Period != 60, m[0].MetricStat.Stat != "Sum", !m[0].ReturnData, m[0].ID == "":
		t.Errorf("configuration %+v", detail.Configuration)
	}
}

func setState(t *testing.T, e *env, name, state string) {
	t.Helper()
	if _, err := e.client.SetAlarmState(context.Background(), &awscw.SetAlarmStateInput{
		AlarmName: aws.String(name), StateValue: types.StateValue(state), StateReason: aws.String("set by the test"),
	}); err != nil {
		t.Fatalf("SetAlarmState %s %s: %v", name, state, err)
	}
}

func alarmState(t *testing.T, e *env, name string) (string, string) {
	t.Helper()
	out, err := e.client.DescribeAlarms(context.Background(), &awscw.DescribeAlarmsInput{
		AlarmNames: []string{name}, AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.MetricAlarms {
		return string(a.StateValue), aws.ToString(a.StateReason)
	}
	for _, a := range out.CompositeAlarms {
		return string(a.StateValue), aws.ToString(a.StateReason)
	}
	t.Fatalf("alarm %s not found", name)
	return "", ""
}

// A metric alarm set by hand returns to its evaluated state at the next evaluation.
func TestSetAlarmStateThenEvaluation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := base(e)
	mustPutAlarm(t, e, metricAlarmInput("a"))
	putValues(t, e, "Errors", nil, b, 0)
	e.svc.evaluate(ctx, b.Add(time.Minute), func(*alarm) bool { return true })
	setState(t, e, "a", stateAlarm)
	if state, reason := alarmState(t, e, "a"); state != stateAlarm || reason != "set by the test" {
		t.Fatalf("after SetAlarmState: %s %q", state, reason)
	}
	setState(t, e, "a", stateAlarm) // the same state again changes nothing
	e.svc.evaluate(ctx, b.Add(time.Minute+time.Second), func(*alarm) bool { return true })
	if state, _ := alarmState(t, e, "a"); state != stateOK {
		t.Fatalf("after the next evaluation: %s, want OK", state)
	}
	want := []string{"alarm a INSUFFICIENT_DATA → OK", "alarm a OK → ALARM", "alarm a ALARM → OK"}
	if lines := e.reporter.all(); !slices.Equal(lines, want) || len(e.bus.all()) != 3 {
		t.Errorf("lines %q and %d events, want %q", lines, len(e.bus.all()), want)
	}
}

// Composite alarms follow their children, emitting one event per change of their own.
func TestCompositeRules(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		a, b   string
		want   string
		reason string
	}{
		{name: "OR, one in alarm", rule: "ALARM(a) OR ALARM(b)", a: stateAlarm, b: stateOK, want: stateAlarm,
			reason: "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a transitioned to ALARM at "},
		{name: "OR, none", rule: "ALARM(a) OR ALARM(b)", a: stateOK, b: stateOK, want: stateOK},
		{name: "AND, one", rule: `ALARM("a") AND ALARM("b")`, a: stateAlarm, b: stateOK, want: stateOK},
		{name: "AND, both", rule: `ALARM("a") AND ALARM("b")`, a: stateAlarm, b: stateAlarm, want: stateAlarm},
		{name: "NOT", rule: "NOT OK(a)", a: stateInsufficient, b: stateOK, want: stateAlarm},
		{name: "ARN reference", rule: `ALARM("arn:aws:cloudwatch:us-east-1:000000000000:alarm:b")`, a: stateOK, b: stateAlarm, want: stateAlarm},
		{name: "insufficient data", rule: "INSUFFICIENT_DATA(a) AND OK(b)", a: stateInsufficient, b: stateOK, want: stateAlarm},
		{name: "precedence: NOT, AND, OR", rule: "ALARM(a) OR NOT ALARM(b) AND OK(a)", a: stateOK, b: stateAlarm, want: stateOK},
		{name: "parentheses", rule: "(ALARM(a) OR NOT ALARM(b)) AND OK(a)", a: stateOK, b: stateOK, want: stateAlarm},
		{name: "TRUE", rule: "TRUE", want: stateAlarm},
		{name: "FALSE OR child", rule: "FALSE OR ALARM(b)", a: stateOK, b: stateOK, want: stateOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			mustPutAlarm(t, e, metricAlarmInput("a"))
			mustPutAlarm(t, e, metricAlarmInput("b"))
			mustPutComposite(t, e, "health", tc.rule)
			for name, state := range map[string]string{"a": tc.a, "b": tc.b} {
				if state != "" && state != stateInsufficient {
					setState(t, e, name, state)
				}
			}
			state, reason := alarmState(t, e, "health")
			if state != tc.want || !strings.HasPrefix(reason, tc.reason) {
				t.Errorf("composite %s (%s), want %s (%s…)", state, reason, tc.want, tc.reason)
			}
			// Every change of the composite is one event, each following the last.
			var composite []alarmEventDetail
			for _, d := range e.bus.details(t) {
				if d.AlarmName == "health" {
					composite = append(composite, d)
				}
			}
			last := stateInsufficient
			for _, d := range composite {
				if d.PreviousState.Value != last || d.State.Value == last {
					t.Errorf("composite event %s → %s after %s", d.PreviousState.Value, d.State.Value, last)
				}
				last = d.State.Value
				cfg, _ := json.Marshal(d.Configuration)
				if !strings.Contains(string(cfg), `"alarmRule":`+jsonString(tc.rule)) {
					t.Errorf("configuration %s lacks the rule", cfg)
				}
			}
			if last != tc.want {
				t.Errorf("last composite event ends in %s, want %s", last, tc.want)
			}
		})
	}
}

// A composite re-evaluates whenever a child changes, also through another composite.
func TestCompositeFollowsChildren(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := base(e)
	mustPutAlarm(t, e, metricAlarmInput("failures"))
	mustPutAlarm(t, e, with(metricAlarmInput("latency"), func(in *awscw.PutMetricAlarmInput) { in.MetricName = aws.String("Latency") }))
	mustPutAlarm(t, e, with(metricAlarmInput("maintenance"), func(in *awscw.PutMetricAlarmInput) { in.MetricName = aws.String("Maintenance") }))
	mustPutComposite(t, e, "health", "ALARM(failures) OR ALARM(latency)")
	mustPutComposite(t, e, "page", "ALARM(health) AND NOT ALARM(maintenance)")

	steps := []struct {
		minute           int
		failures, latncy float64
		health, page     string
	}{
		{0, 0, 0, stateOK, stateOK},
		{1, 5, 0, stateAlarm, stateAlarm},
		{2, 5, 5, stateAlarm, stateAlarm},
		{3, 0, 5, stateAlarm, stateAlarm},
		{4, 0, 0, stateOK, stateOK},
	}
	for _, st := range steps {
		at := b.Add(time.Duration(st.minute) * time.Minute)
		putValues(t, e, "Errors", nil, at, st.failures)
		putValues(t, e, "Latency", nil, at, st.latncy)
		putValues(t, e, "Maintenance", nil, at, 0)
		e.svc.evaluate(ctx, at.Add(time.Minute), func(*alarm) bool { return true })
		if h, _ := alarmState(t, e, "health"); h != st.health {
			t.Errorf("minute %d: health %s, want %s", st.minute, h, st.health)
		}
		if p, _ := alarmState(t, e, "page"); p != st.page {
			t.Errorf("minute %d: page %s, want %s", st.minute, p, st.page)
		}
	}
	count := map[string]int{}
	for _, d := range e.bus.details(t) {
		count[d.AlarmName]++
	}
	// Each metric alarm: INSUFFICIENT_DATA → OK → ALARM → OK, maintenance → OK. Each
	// composite goes OK when created (no child in ALARM), then ALARM, then OK.
	want := map[string]int{"failures": 3, "latency": 3, "maintenance": 1, "health": 3, "page": 3}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("%s: %d events, want %d (%v)", name, count[name], n, count)
		}
	}
}

// The evaluator runs on the virtual clock: at 1200 times real speed a one-minute alarm
// evaluates every 50 ms, and metric data alone takes it to ALARM and back to OK.
func TestEvaluatorOnFastClock(t *testing.T) {
	e := newEnv(t, withSpeed(1200))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.Start(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	mustPutAlarm(t, e, with(metricAlarmInput("fast"), func(in *awscw.PutMetricAlarmInput) { in.TreatMissingData = aws.String("notBreaching") }))
	waitFor := func(state string, value float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{{MetricName: aws.String("Errors"), Value: aws.Float64(value)}}}); err != nil {
				t.Fatal(err)
			}
			if got, _ := alarmState(t, e, "fast"); got == state {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("alarm never reached %s", state)
	}
	waitFor(stateAlarm, 3)
	waitFor(stateOK, 0)
	waitFor(stateAlarm, 3)
	lines := e.reporter.all()
	if len(lines) < 3 || lines[len(lines)-1] != "alarm fast OK → ALARM" {
		t.Errorf("lines %q", lines)
	}
}

// A metric math alarm evaluates its expression: the failure rate of a version.
func TestMetricMathAlarm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := base(e)
	mustPutAlarm(t, e, &awscw.PutMetricAlarmInput{
		AlarmName: aws.String("rate"), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(0.1),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, TreatMissingData: aws.String("notBreaching"),
		Metrics: []types.MetricDataQuery{
			hidden(stat("failed", "Failed", "Sum", 60)), hidden(stat("started", "Started", "Sum", 60)),
			{Id: aws.String("e1"), Expression: aws.String("failed / started"), Label: aws.String("failure rate"), ReturnData: aws.Bool(true)},
		},
	})
	steps := []struct {
		failed, started float64
		want            string
	}{{1, 100, stateOK}, {20, 100, stateAlarm}, {0, 50, stateOK}}
	for i, st := range steps {
		at := b.Add(time.Duration(i) * time.Minute)
		putValues(t, e, "Failed", nil, at, st.failed)
		putValues(t, e, "Started", nil, at, st.started)
		e.svc.evaluate(ctx, at.Add(time.Minute), func(*alarm) bool { return true })
		if got, reason := alarmState(t, e, "rate"); got != st.want {
			t.Fatalf("minute %d: %s (%s), want %s", i, got, reason, st.want)
		}
	}
	out, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{AlarmNames: []string{"rate"}})
	if err != nil {
		t.Fatal(err)
	}
	a := out.MetricAlarms[0]
	if len(a.Metrics) != 3 || a.Period != nil || aws.ToString(a.Metrics[2].Expression) != "failed / started" {
		t.Errorf("metrics %+v period %v", a.Metrics, a.Period)
	}
	if !strings.Contains(aws.ToString(a.StateReasonData), `"evaluatedDatapoints":[{"timestamp":`) || strings.Contains(aws.ToString(a.StateReasonData), "statistic") {
		t.Errorf("reason data %s", aws.ToString(a.StateReasonData))
	}
	details := e.bus.details(t)
	cfg, _ := json.Marshal(details[len(details)-1].Configuration)
	if !strings.Contains(string(cfg), `{"expression":"failed / started","id":"e1","label":"failure rate","returnData":true}`) {
		t.Errorf("configuration %s", cfg)
	}
}

func TestDescribeAlarmHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustPutAlarm(t, e, metricAlarmInput("a"))
	mustPutComposite(t, e, "c", "ALARM(a)")
	setState(t, e, "a", stateAlarm)
	tests := []struct {
		name string
		in   awscw.DescribeAlarmHistoryInput
		want []string
	}{
		{"metric alarms by default, newest first", awscw.DescribeAlarmHistoryInput{}, []string{"Alarm updated from INSUFFICIENT_DATA to ALARM", `Alarm "a" created`}},
		{"state updates of the composite", awscw.DescribeAlarmHistoryInput{AlarmName: aws.String("c"), AlarmTypes: []types.AlarmType{types.AlarmTypeCompositeAlarm}, HistoryItemType: types.HistoryItemTypeStateUpdate},
			[]string{"Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.DescribeAlarmHistory(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range out.AlarmHistoryItems {
				got = append(got, aws.ToString(h.HistorySummary))
				if h.HistoryItemType == types.HistoryItemTypeStateUpdate && !json.Valid([]byte(aws.ToString(h.HistoryData))) {
					t.Errorf("history data %q", aws.ToString(h.HistoryData))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("history %q, want %q", got, tc.want)
			}
		})
	}
}
