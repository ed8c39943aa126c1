package cloudwatch

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// base is a minute boundary an hour before now, so that data stays inside the two weeks
// PutMetricData accepts and the periods asked about are complete.
func base(e *env) time.Time {
	return e.clock.Now().Truncate(time.Minute).Add(-time.Hour)
}

func putValues(t *testing.T, e *env, name string, dims map[string]string, at time.Time, values ...float64) {
	t.Helper()
	var data []types.MetricDatum
	for _, v := range values {
		d := types.MetricDatum{MetricName: aws.String(name), Value: aws.Float64(v), Timestamp: aws.Time(at)}
		for k, val := range dims {
			d.Dimensions = append(d.Dimensions, types.Dimension{Name: aws.String(k), Value: aws.String(val)})
		}
		data = append(data, d)
	}
	if _, err := e.client.PutMetricData(context.Background(), &awscw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: data}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
}

func stat(id, name, statistic string, period int32) types.MetricDataQuery {
	return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String("App"), MetricName: aws.String(name)}, Period: aws.Int32(period), Stat: aws.String(statistic)}}
}

func hidden(q types.MetricDataQuery) types.MetricDataQuery {
	q.ReturnData = aws.Bool(false)
	return q
}

func expression(id, expr string) types.MetricDataQuery {
	return types.MetricDataQuery{Id: aws.String(id), Expression: aws.String(expr)}
}

// TestGetMetricDataStatistics puts 1..11 in one minute, as LocalStack's snapshot of AWS did
// (Sum 66, SampleCount 11, Minimum 1, Maximum 11, Average 6).
func TestGetMetricDataStatistics(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	putValues(t, e, "Latency", nil, b.Add(10*time.Second), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	tests := []struct {
		stat string
		want float64
	}{
		{"Sum", 66}, {"SampleCount", 11}, {"Minimum", 1}, {"Maximum", 11}, {"Average", 6},
	}
	for _, tc := range tests {
		t.Run(tc.stat, func(t *testing.T) {
			out, err := e.client.GetMetricData(context.Background(), &awscw.GetMetricDataInput{
				StartTime: aws.Time(b), EndTime: aws.Time(b.Add(5 * time.Minute)),
				MetricDataQueries: []types.MetricDataQuery{stat("m1", "Latency", tc.stat, 60)},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := out.MetricDataResults[0]
			if !slices.Equal(r.Values, []float64{tc.want}) || len(r.Timestamps) != 1 || !r.Timestamps[0].Equal(b) {
				t.Errorf("values %v at %v, want [%v] at %v", r.Values, r.Timestamps, tc.want, b)
			}
			if r.StatusCode != types.StatusCodeComplete || aws.ToString(r.Label) != "Latency" || aws.ToString(r.Id) != "m1" {
				t.Errorf("status %s label %q id %q", r.StatusCode, aws.ToString(r.Label), aws.ToString(r.Id))
			}
		})
	}
}

// Values with Counts and StatisticValues aggregate like single values (moto's and
// LocalStack's tests of AWS: Values [1, 10] with Counts [2, 4] is SampleCount 6, Sum 42).
func TestPutMetricDataAggregates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := base(e)
	_, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Size"), Values: []float64{1, 10}, Counts: []float64{2, 4}, Timestamp: aws.Time(b)},
		{MetricName: aws.String("Size"), StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(3), Sum: aws.Float64(123), Minimum: aws.Float64(12), Maximum: aws.Float64(100)}, Timestamp: aws.Time(b.Add(time.Second))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.client.GetMetricData(ctx, &awscw.GetMetricDataInput{
		StartTime: aws.Time(b), EndTime: aws.Time(b.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{
			stat("n", "Size", "SampleCount", 60), stat("s", "Size", "Sum", 60),
			stat("lo", "Size", "Minimum", 60), stat("hi", "Size", "Maximum", 60),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"n": 9, "s": 165, "lo": 1, "hi": 100}
	for _, r := range out.MetricDataResults {
		if len(r.Values) != 1 || r.Values[0] != want[aws.ToString(r.Id)] {
			t.Errorf("%s = %v, want %v", aws.ToString(r.Id), r.Values, want[aws.ToString(r.Id)])
		}
	}
}

// TestGetMetricDataMath evaluates expressions over two series: 10, 20, 30 failures and
// 100, 100, 100 starts in three minutes; the third minute has no m3 data.
func TestGetMetricDataMath(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	for i, v := range []float64{10, 20, 30} {
		putValues(t, e, "Failed", nil, b.Add(time.Duration(i)*time.Minute), v)
		putValues(t, e, "Started", nil, b.Add(time.Duration(i)*time.Minute), 100)
	}
	putValues(t, e, "TimedOut", nil, b, 5)
	putValues(t, e, "TimedOut", nil, b.Add(time.Minute), 5)
	inputs := []types.MetricDataQuery{
		hidden(stat("m1", "Failed", "Sum", 60)), hidden(stat("m2", "Started", "Sum", 60)), hidden(stat("m3", "TimedOut", "Sum", 60)),
	}
	tests := []struct {
		name string
		expr string
		want []float64 // newest first
	}{
		{"sum of two series", "m1 + m2", []float64{130, 120, 110}},
		{"rate in percent", "m1 / m2 * 100", []float64{30, 20, 10}},
		{"parentheses and constants", "(m1 + 10) / 2 - 1", []float64{19, 14, 9}},
		{"negation", "-m1", []float64{-30, -20, -10}},
		{"a missing datapoint makes none", "m1 + m3", []float64{25, 15}},
		{"SUM over an array", "SUM([m1, m3])", []float64{30, 25, 15}},
		{"FILL then add", "(m1 + FILL(m3, 0)) / m2", []float64{0.3, 0.25, 0.15}},
		{"MAX over an array", "MAX([m1, m2])", []float64{100, 100, 100}},
		{"SUM of one series is a number", "SUM(m1)", []float64{60, 60, 60}},
		{"METRICS", "AVG(METRICS())", []float64{65, 125.0 / 3, 115.0 / 3}},
		{"division by zero gives no datapoint", "m1 / (m2 - 100)", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.GetMetricData(context.Background(), &awscw.GetMetricDataInput{
				StartTime: aws.Time(b), EndTime: aws.Time(b.Add(3 * time.Minute)),
				MetricDataQueries: append(slices.Clone(inputs), expression("e1", tc.expr)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.MetricDataResults) != 1 {
				t.Fatalf("results = %d, want only the expression's", len(out.MetricDataResults))
			}
			got := out.MetricDataResults[0].Values
			if len(got) != len(tc.want) {
				t.Fatalf("values %v, want %v", got, tc.want)
			}
			for i := range got {
				if d := got[i] - tc.want[i]; d > 1e-9 || d < -1e-9 {
					t.Fatalf("values %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestGetMetricDataOrderAndAlignment(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	for i := range 5 {
		putValues(t, e, "Hits", nil, b.Add(time.Duration(i)*time.Minute+30*time.Second), float64(i+1))
	}
	tests := []struct {
		name      string
		start     time.Time
		end       time.Time
		scanBy    types.ScanBy
		period    int32
		wantTimes []time.Time
		want      []float64
	}{
		{name: "newest first by default", start: b, end: b.Add(5 * time.Minute), period: 60,
			wantTimes: []time.Time{b.Add(4 * time.Minute), b.Add(3 * time.Minute), b.Add(2 * time.Minute), b.Add(time.Minute), b},
			want:      []float64{5, 4, 3, 2, 1}},
		{name: "ascending", start: b, end: b.Add(3 * time.Minute), period: 60, scanBy: types.ScanByTimestampAscending,
			wantTimes: []time.Time{b, b.Add(time.Minute), b.Add(2 * time.Minute)}, want: []float64{1, 2, 3}},
		{name: "start aligned down to the period", start: b.Add(90 * time.Second), end: b.Add(3 * time.Minute), period: 60,
			wantTimes: []time.Time{b.Add(2 * time.Minute), b.Add(time.Minute)}, want: []float64{3, 2}},
		{name: "five-minute period", start: b, end: b.Add(5 * time.Minute), period: 300,
			wantTimes: []time.Time{b.Truncate(5 * time.Minute)}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.GetMetricData(context.Background(), &awscw.GetMetricDataInput{
				StartTime: aws.Time(tc.start), EndTime: aws.Time(tc.end), ScanBy: tc.scanBy,
				MetricDataQueries: []types.MetricDataQuery{stat("m1", "Hits", "Sum", tc.period)},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := out.MetricDataResults[0]
			if tc.want == nil { // the 5-minute bucket holds whatever part of the data falls in it
				if len(r.Timestamps) == 0 || r.Timestamps[0].Unix()%300 != 0 {
					t.Errorf("timestamps %v not aligned to 5 minutes", r.Timestamps)
				}
				return
			}
			if !slices.Equal(r.Values, tc.want) || !slices.EqualFunc(r.Timestamps, tc.wantTimes, time.Time.Equal) {
				t.Errorf("got %v at %v, want %v at %v", r.Values, r.Timestamps, tc.want, tc.wantTimes)
			}
		})
	}
}

func TestGetMetricDataPages(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	for i := range 5 {
		putValues(t, e, "Hits", nil, b.Add(time.Duration(i)*time.Minute), float64(i+1))
		putValues(t, e, "Misses", nil, b.Add(time.Duration(i)*time.Minute), float64(10*(i+1)))
	}
	p := awscw.NewGetMetricDataPaginator(e.client, &awscw.GetMetricDataInput{
		StartTime: aws.Time(b), EndTime: aws.Time(b.Add(5 * time.Minute)), MaxDatapoints: aws.Int32(3),
		MetricDataQueries: []types.MetricDataQuery{stat("hits", "Hits", "Sum", 60), stat("misses", "Misses", "Sum", 60)},
	})
	got := map[string][]float64{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.MetricDataResults {
			got[aws.ToString(r.Id)] = append(got[aws.ToString(r.Id)], r.Values...)
		}
	}
	if pages != 4 || !slices.Equal(got["hits"], []float64{5, 4, 3, 2, 1}) || !slices.Equal(got["misses"], []float64{50, 40, 30, 20, 10}) {
		t.Errorf("%d pages: %v, want 4 pages of all values newest first", pages, got)
	}
}

func TestGetMetricDataLabelsDimensionsUnits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := base(e)
	putValues(t, e, "Errors", map[string]string{"Service": "orders"}, b, 1)
	putValues(t, e, "Errors", map[string]string{"Service": "orders", "Version": "2"}, b, 5)
	if _, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Time"), Value: aws.Float64(7), Unit: types.StandardUnitMilliseconds, Timestamp: aws.Time(b)},
		{MetricName: aws.String("Time"), Value: aws.Float64(9), Unit: types.StandardUnitSeconds, Timestamp: aws.Time(b)},
	}}); err != nil {
		t.Fatal(err)
	}
	dimsQuery := func(id string, dims ...string) types.MetricDataQuery {
		q := stat(id, "Errors", "Sum", 60)
		for i := 0; i < len(dims); i += 2 {
			q.MetricStat.Metric.Dimensions = append(q.MetricStat.Metric.Dimensions, types.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
		}
		return q
	}
	ms := stat("ms", "Time", "Sum", 60)
	ms.MetricStat.Unit = types.StandardUnitMilliseconds
	labelled := stat("all", "Time", "Maximum", 30)
	labelled.Label = aws.String("slowest")
	out, err := e.client.GetMetricData(ctx, &awscw.GetMetricDataInput{
		StartTime: aws.Time(b), EndTime: aws.Time(b.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{
			dimsQuery("orders", "Service", "orders"),
			dimsQuery("v2", "Version", "2", "Service", "orders"),
			dimsQuery("none"),
			ms, labelled, stat("any", "Time", "Sum", 60),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		label  string
		values []float64
	}{
		"orders": {"Errors Sum 60", []float64{1}},
		"v2":     {"Errors Sum 60", []float64{5}},
		"none":   {"Errors Sum 60", nil},
		"ms":     {"Time Sum 60", []float64{7}},
		"all":    {"slowest", []float64{9}},
		"any":    {"Time Sum 60", []float64{16}},
	}
	for _, r := range out.MetricDataResults {
		w := want[aws.ToString(r.Id)]
		if aws.ToString(r.Label) != w.label || !slices.Equal(r.Values, w.values) && len(w.values)+len(r.Values) > 0 {
			t.Errorf("%s: label %q values %v, want %q %v", aws.ToString(r.Id), aws.ToString(r.Label), r.Values, w.label, w.values)
		}
	}
}

// Step Functions' metrics arrive in-process through Put, under AWS/States.
func TestPutFromStepFunctions(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	var m core.Metrics = e.svc
	dims := map[string]string{"StateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:orders", "Version": "3"}
	m.Put(context.Background(),
		core.Datum{Namespace: "AWS/States", Name: "ExecutionsStarted", Dimensions: dims, Value: 1, Time: b},
		core.Datum{Namespace: "AWS/States", Name: "ExecutionsStarted", Dimensions: dims, Value: 0, Time: b},
		core.Datum{Namespace: "AWS/States", Name: "ExecutionsFailed", Dimensions: dims, Value: 1, Time: b.Add(time.Second)},
	)
	q := func(id, name, statistic string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{Period: aws.Int32(60), Stat: aws.String(statistic), Metric: &types.Metric{
			Namespace: aws.String("AWS/States"), MetricName: aws.String(name),
			Dimensions: []types.Dimension{{Name: aws.String("Version"), Value: aws.String("3")}, {Name: aws.String("StateMachineArn"), Value: aws.String(dims["StateMachineArn"])}},
		}}}
	}
	out, err := e.client.GetMetricData(context.Background(), &awscw.GetMetricDataInput{
		StartTime: aws.Time(b), EndTime: aws.Time(b.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{q("started", "ExecutionsStarted", "Sum"), q("n", "ExecutionsStarted", "SampleCount"), hidden(q("failed", "ExecutionsFailed", "Sum")), expression("rate", "failed / started")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"started": 1, "n": 2, "rate": 1}
	for _, r := range out.MetricDataResults {
		if len(r.Values) != 1 || r.Values[0] != want[aws.ToString(r.Id)] {
			t.Errorf("%s = %v, want %v", aws.ToString(r.Id), r.Values, want[aws.ToString(r.Id)])
		}
	}
}

func TestListMetrics(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	putValues(t, e, "Errors", map[string]string{"Service": "orders"}, b, 1)
	putValues(t, e, "Errors", map[string]string{"Service": "payments"}, b, 1)
	putValues(t, e, "Latency", map[string]string{"Service": "orders"}, b, 1)
	tests := []struct {
		name string
		in   awscw.ListMetricsInput
		want int
	}{
		{"all", awscw.ListMetricsInput{}, 3},
		{"by name", awscw.ListMetricsInput{MetricName: aws.String("Errors")}, 2},
		{"by dimension value", awscw.ListMetricsInput{Dimensions: []types.DimensionFilter{{Name: aws.String("Service"), Value: aws.String("orders")}}}, 2},
		{"by dimension name", awscw.ListMetricsInput{Namespace: aws.String("App"), Dimensions: []types.DimensionFilter{{Name: aws.String("Service")}}}, 3},
		{"other namespace", awscw.ListMetricsInput{Namespace: aws.String("Other")}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.ListMetrics(context.Background(), &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Metrics) != tc.want {
				t.Errorf("metrics = %d, want %d", len(out.Metrics), tc.want)
			}
		})
	}
}
