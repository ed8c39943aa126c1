package cloudwatchapi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/cloudwatchapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

var noon = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func minute(m int) time.Time { return noon.Add(time.Duration(m) * time.Minute) }

// point is one one-minute datapoint of a series.
type point struct {
	metric string
	dims   string // "StateMachineArn=…,Version=…", sorted by name
	at     time.Time
	value  float64
}

// metricStore answers GetMetricData from datapoints as CloudWatch does: a query gets the
// points of exactly its metric and dimension set, newest first; a series that does not
// exist answers no points.
type metricStore struct {
	points   []point
	requests []cloudwatch.GetMetricDataInput
}

func dimsKey(dims map[string]string) string {
	var parts []string
	for k, v := range dims {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// executions adds n executions of one version at minute at: their ExecutionsStarted, and
// their ends by status, under the {StateMachineArn} series and the {StateMachineArn,
// Version} series with Version in the given form.
func (s *metricStore) executions(form rollout.MetricsForm, versionArn string, at time.Time, started, succeeded, failed, timedOut, aborted float64) {
	version := versionArn
	if form == rollout.MetricsFormNumber {
		version = versionArn[strings.LastIndexByte(versionArn, ':')+1:]
	}
	for _, dims := range []map[string]string{{"StateMachineArn": smArn}, {"StateMachineArn": smArn, "Version": version}} {
		for metric, v := range map[string]float64{"ExecutionsStarted": started, "ExecutionsSucceeded": succeeded, "ExecutionsFailed": failed, "ExecutionsTimedOut": timedOut, "ExecutionsAborted": aborted} {
			if v > 0 {
				s.points = append(s.points, point{metric, dimsKey(dims), at, v})
			}
		}
	}
}

func (s *metricStore) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	s.requests = append(s.requests, *in)
	var out cloudwatch.GetMetricDataOutput
	for _, q := range in.MetricDataQueries {
		ms := q.MetricStat
		dims := map[string]string{}
		for _, d := range ms.Metric.Dimensions {
			dims[aws.ToString(d.Name)] = aws.ToString(d.Value)
		}
		sums := map[time.Time]float64{}
		for _, p := range s.points {
			if p.metric == aws.ToString(ms.Metric.MetricName) && p.dims == dimsKey(dims) && !p.at.Before(*in.StartTime) && p.at.Before(*in.EndTime) {
				sums[p.at] += p.value
			}
		}
		r := types.MetricDataResult{Id: q.Id}
		var times []time.Time
		for at := range sums {
			times = append(times, at)
		}
		sort.Slice(times, func(i, j int) bool { return times[i].After(times[j]) })
		for _, at := range times {
			r.Timestamps = append(r.Timestamps, at)
			r.Values = append(r.Values, sums[at])
		}
		out.MetricDataResults = append(out.MetricDataResults, r)
	}
	return &out, nil
}

type fakeExecutions struct {
	calls      []sfn.ListExecutionsInput
	executions []sfntypes.ExecutionListItem
}

func (f *fakeExecutions) ListExecutions(_ context.Context, in *sfn.ListExecutionsInput, _ ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error) {
	f.calls = append(f.calls, *in)
	return &sfn.ListExecutionsOutput{Executions: f.executions}, nil
}

func execution(status sfntypes.ExecutionStatus, started time.Time) sfntypes.ExecutionListItem {
	return sfntypes.ExecutionListItem{Status: status, StartDate: aws.Time(started), StateMachineVersionArn: aws.String(v4)}
}

// queriedVersions lists the Version values the request asked for.
func queriedVersions(in cloudwatch.GetMetricDataInput) []string {
	seen := map[string]bool{}
	for _, q := range in.MetricDataQueries {
		for _, d := range q.MetricStat.Metric.Dimensions {
			if aws.ToString(d.Name) == "Version" {
				seen[aws.ToString(d.Value)] = true
			}
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Whichever form AWS writes the Version dimension in, a query that does not know it
// finds the candidate's executions and says which form they were under; a query that
// knows the form asks for that form alone.
func TestVersionCountsFindEitherForm(t *testing.T) {
	for _, form := range []rollout.MetricsForm{rollout.MetricsFormNumber, rollout.MetricsFormArn} {
		t.Run(string(form), func(t *testing.T) {
			store := &metricStore{}
			store.executions(form, v4, minute(1), 10, 7, 2, 1, 0)
			store.executions(form, v4, minute(2), 5, 4, 0, 0, 1)
			store.executions(form, smArn+":3", minute(2), 50, 50, 0, 0, 0) // the stable version
			m := cloudwatchapi.NewMetrics(store)
			q := controller.CountsQuery{StateMachineArn: smArn, VersionArn: v4, From: minute(0), To: minute(3)}

			got, err := m.VersionCounts(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			want := controller.Counts{Started: 15, Closed: 15, Failed: 4, Succeeded: 11, TimedOut: 1, Aborted: 1, Form: form}
			if got != want {
				t.Errorf("form unknown: %+v, want %+v", got, want)
			}
			if v := queriedVersions(store.requests[0]); !reflect.DeepEqual(v, []string{"4", v4}) {
				t.Errorf("form unknown: asked for Version %q, want both forms", v)
			}

			q.Form = form
			store.requests = nil
			if got, err = m.VersionCounts(context.Background(), q); err != nil || got != want {
				t.Errorf("form known: %+v, %v, want %+v", got, err, want)
			}
			wantVersion := map[rollout.MetricsForm]string{rollout.MetricsFormNumber: "4", rollout.MetricsFormArn: v4}[form]
			if v := queriedVersions(store.requests[0]); !reflect.DeepEqual(v, []string{wantVersion}) {
				t.Errorf("form known: asked for Version %q, want only %q", v, wantVersion)
			}
			if n := len(store.requests[0].MetricDataQueries); n != 5 {
				t.Errorf("form known: %d queries, want 5 (started, succeeded, failed, timed out, aborted)", n)
			}
		})
	}
}

// The failure rate's denominator is the closed executions: 10 started, 4 still running,
// 2 of the 6 that ended failed.
func TestVersionCountsCountClosedExecutions(t *testing.T) {
	store := &metricStore{}
	store.executions(rollout.MetricsFormNumber, v4, minute(1), 10, 3, 1, 1, 1)
	got, err := cloudwatchapi.NewMetrics(store).VersionCounts(context.Background(), controller.CountsQuery{StateMachineArn: smArn, VersionArn: v4, From: minute(0), To: minute(2)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (controller.Counts{Started: 10, Closed: 6, Failed: 3, Succeeded: 3, TimedOut: 1, Aborted: 1, Form: rollout.MetricsFormNumber}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
}

// Metrics that say nothing of the version while the state machine ran executions are
// cross-checked with ListExecutions on the version; quiet metrics of a quiet state machine,
// or metrics that have the version's executions, cost no ListExecutions.
func TestVersionCountsCrossCheckSilentMetrics(t *testing.T) {
	q := controller.CountsQuery{StateMachineArn: smArn, VersionArn: v4, From: minute(1), To: minute(5)}
	listed := []sfntypes.ExecutionListItem{
		execution(sfntypes.ExecutionStatusRunning, minute(4)),
		execution(sfntypes.ExecutionStatusFailed, minute(3)),
		execution(sfntypes.ExecutionStatusSucceeded, minute(3)),
		execution(sfntypes.ExecutionStatusTimedOut, minute(2)),
		execution(sfntypes.ExecutionStatusSucceeded, minute(2)),
		execution(sfntypes.ExecutionStatusFailed, minute(0)), // a pre-traffic test, before the window
	}
	tests := []struct {
		name      string
		seed      func(*metricStore)
		express   bool
		want      controller.Counts
		wantLists int
	}{
		{
			name: "version series missing, state machine busy: counted from ListExecutions",
			seed: func(s *metricStore) {
				// The state machine's series has executions; the version's is in a third
				// form neither query matches.
				s.points = append(s.points, point{"ExecutionsStarted", dimsKey(map[string]string{"StateMachineArn": smArn}), minute(2), 40})
			},
			want:      controller.Counts{Started: 5, Closed: 4, Failed: 2, Succeeded: 2, TimedOut: 1, FromExecutions: true},
			wantLists: 1,
		},
		{
			name: "EXPRESS state machine: never ListExecutions, which does not take it",
			seed: func(s *metricStore) {
				s.points = append(s.points, point{"ExecutionsStarted", dimsKey(map[string]string{"StateMachineArn": smArn}), minute(2), 40})
			},
			express:   true,
			want:      controller.Counts{},
			wantLists: 0,
		},
		{
			name:      "quiet state machine: no ListExecutions",
			seed:      func(*metricStore) {},
			want:      controller.Counts{},
			wantLists: 0,
		},
		{
			name:      "the version's metrics have closed executions: no ListExecutions",
			seed:      func(s *metricStore) { s.executions(rollout.MetricsFormArn, v4, minute(2), 3, 3, 0, 0, 0) },
			want:      controller.Counts{Started: 3, Closed: 3, Succeeded: 3, Form: rollout.MetricsFormArn},
			wantLists: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &metricStore{}
			tt.seed(store)
			execs := &fakeExecutions{executions: listed}
			q := q
			q.Express = tt.express
			got, err := cloudwatchapi.NewMetrics(store).WithExecutions(execs).VersionCounts(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%+v, want %+v", got, tt.want)
			}
			if len(execs.calls) != tt.wantLists {
				t.Fatalf("%d ListExecutions calls, want %d", len(execs.calls), tt.wantLists)
			}
			if tt.wantLists > 0 && (aws.ToString(execs.calls[0].StateMachineArn) != v4 || execs.calls[0].MaxResults != 1000) {
				t.Errorf("ListExecutions(%s, max %d), want the version ARN, 1000", aws.ToString(execs.calls[0].StateMachineArn), execs.calls[0].MaxResults)
			}
		})
	}
}

func TestVersionCountsPagesAndWindow(t *testing.T) {
	fake := &fakeMetrics{Fn: func(in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) {
		if in.NextToken == nil {
			return &cloudwatch.GetMetricDataOutput{
				MetricDataResults: []types.MetricDataResult{result("started_n_0", 3, 0, 2), result("succeeded_n_0", 4), result("failed_n_0", 1), result("timedout_n_0"), result("aborted_n_0")},
				NextToken:         aws.String("more"),
			}, nil
		}
		return &cloudwatch.GetMetricDataOutput{
			MetricDataResults: []types.MetricDataResult{result("started_n_0", 5), result("succeeded_n_0", 3), result("failed_n_0"), result("timedout_n_0", 1), result("aborted_n_0", 1)},
		}, nil
	}}
	q := controller.CountsQuery{StateMachineArn: smArn, VersionArn: v4, From: minute(0).Add(30 * time.Second), To: minute(5).Add(10 * time.Second), Form: rollout.MetricsFormNumber}
	got, err := cloudwatchapi.NewMetrics(fake).VersionCounts(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if want := (controller.Counts{Started: 10, Closed: 10, Failed: 3, Succeeded: 7, TimedOut: 1, Aborted: 1, Form: rollout.MetricsFormNumber}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	if len(fake.requests) != 2 || aws.ToString(fake.requests[1].NextToken) != "more" {
		t.Fatalf("requests %d, want two pages", len(fake.requests))
	}
	in := fake.requests[0]
	if !in.StartTime.Equal(minute(0)) || !in.EndTime.Equal(minute(6)) {
		t.Errorf("window %v – %v, want whole minutes 12:00 – 12:06", in.StartTime, in.EndTime)
	}
	for _, q := range in.MetricDataQueries {
		ms := q.MetricStat
		if aws.ToString(ms.Metric.Namespace) != "AWS/States" || aws.ToString(ms.Stat) != "Sum" || aws.ToInt32(ms.Period) != 60 {
			t.Errorf("query %s: namespace %q stat %q period %d", aws.ToString(q.Id), aws.ToString(ms.Metric.Namespace), aws.ToString(ms.Stat), aws.ToInt32(ms.Period))
		}
	}
}

func TestVersionCountsWindow(t *testing.T) {
	tests := []struct {
		name               string
		from, to           time.Time
		wantStart, wantEnd time.Time
	}{
		{name: "aligned", from: minute(0), to: minute(2), wantStart: minute(0), wantEnd: minute(2)},
		{name: "unaligned", from: minute(0).Add(time.Second), to: minute(0).Add(61 * time.Second), wantStart: minute(0), wantEnd: minute(2)},
		{name: "empty window is one minute", from: minute(0), to: minute(0), wantStart: minute(0), wantEnd: minute(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &metricStore{}
			got, err := cloudwatchapi.NewMetrics(store).VersionCounts(context.Background(), controller.CountsQuery{StateMachineArn: smArn, VersionArn: v4, From: tt.from, To: tt.to})
			if err != nil || got != (controller.Counts{}) {
				t.Fatalf("VersionCounts = %+v, %v", got, err)
			}
			in := store.requests[0]
			if !in.StartTime.Equal(tt.wantStart) || !in.EndTime.Equal(tt.wantEnd) {
				t.Errorf("window %v – %v, want %v – %v", in.StartTime, in.EndTime, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func TestVersionCountsErrors(t *testing.T) {
	tests := []struct {
		name       string
		versionArn string
		answer     error
		wantErr    error
		wantCalls  int
	}{
		{name: "not a version ARN", versionArn: smArn + ":prod", wantCalls: 0},
		{name: "throttled", versionArn: v4, answer: throttled, wantErr: controller.ErrThrottled, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeMetrics{Fn: func(*cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) { return nil, tt.answer }}
			_, err := cloudwatchapi.NewMetrics(fake).VersionCounts(context.Background(), controller.CountsQuery{StateMachineArn: smArn, VersionArn: tt.versionArn, From: time.Now(), To: time.Now()})
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
			if len(fake.requests) != tt.wantCalls {
				t.Errorf("%d calls, want %d", len(fake.requests), tt.wantCalls)
			}
		})
	}
}

// ManyVersionCounts answers each version from its own queries and its own window, in as
// few calls as 500 queries a call allow: 100 versions whose form is known (5 queries each)
// a call, 50 whose form is not (10), and one more query each with the cross-check.
func TestManyVersionCounts(t *testing.T) {
	store := &metricStore{}
	var qs []controller.CountsQuery
	for i := range 130 {
		arn := fmt.Sprintf("%s:%d", smArn, i+1)
		form := rollout.MetricsFormNumber
		if i%3 == 0 {
			form = rollout.MetricsFormArn
		}
		for m := range 10 {
			failed := 0.0
			if m == 1 {
				failed = 1
			}
			store.executions(form, arn, minute(m), 1, 1-failed, failed, 0, 0)
		}
		from := minute(0)
		if i%2 == 1 {
			from = minute(5).Add(20 * time.Second) // from 12:05
		}
		qs = append(qs, controller.CountsQuery{StateMachineArn: smArn, VersionArn: arn, From: from, To: minute(9).Add(30 * time.Second)})
	}
	check := func(name string, got []controller.Counts, forms bool) {
		t.Helper()
		for i, c := range got {
			want := controller.Counts{Started: 10, Closed: 10, Failed: 1, Succeeded: 9, Form: rollout.MetricsFormNumber}
			if i%2 == 1 {
				want = controller.Counts{Started: 5, Closed: 5, Failed: 0, Succeeded: 5, Form: rollout.MetricsFormNumber}
			}
			if i%3 == 0 {
				want.Form = rollout.MetricsFormArn
			}
			if c != want {
				t.Errorf("%s: version %d: %+v, want %+v", name, i+1, c, want)
			}
		}
	}
	got, err := cloudwatchapi.NewMetrics(store).ManyVersionCounts(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	check("forms unknown", got, false)
	if len(store.requests) != 3 || len(store.requests[0].MetricDataQueries) != 500 {
		t.Errorf("forms unknown: %d GetMetricData calls (the first of %d queries), want 3 of 500, 500, 300", len(store.requests), len(store.requests[0].MetricDataQueries))
	}
	for i := range qs {
		qs[i].Form = got[i].Form
	}
	store.requests = nil
	if got, err = cloudwatchapi.NewMetrics(store).ManyVersionCounts(context.Background(), qs); err != nil {
		t.Fatal(err)
	}
	check("forms known", got, true)
	if len(store.requests) != 2 || len(store.requests[0].MetricDataQueries) != 500 {
		t.Errorf("forms known: %d GetMetricData calls, want 2 (100 versions a call)", len(store.requests))
	}
	store.requests = nil
	if _, err = cloudwatchapi.NewMetrics(store).WithExecutions(&fakeExecutions{}).ManyVersionCounts(context.Background(), qs); err != nil {
		t.Fatal(err)
	}
	if len(store.requests) != 2 || len(store.requests[0].MetricDataQueries) != 498 {
		t.Errorf("forms known, with the cross-check: %d calls, the first of %d queries; want 2, the first of 498 (83 versions of 6)", len(store.requests), len(store.requests[0].MetricDataQueries))
	}
}

// The cross-check never fails a batch and costs at most maxCrossChecks ListExecutions a
// call: a throttled or denied ListExecutions, or one past the cap, leaves that version's
// counts as the metrics said (nothing: inconclusive), and every other version is answered.
func TestCrossCheckIsBoundedAndNeverFailsTheBatch(t *testing.T) {
	store := &metricStore{}
	store.points = append(store.points, point{"ExecutionsStarted", dimsKey(map[string]string{"StateMachineArn": smArn}), minute(2), 500})
	var qs []controller.CountsQuery
	for i := range 30 {
		qs = append(qs, controller.CountsQuery{StateMachineArn: smArn, VersionArn: fmt.Sprintf("%s:%d", smArn, i+1), From: minute(1), To: minute(5), Form: rollout.MetricsFormNumber})
	}
	store.executions(rollout.MetricsFormNumber, qs[29].VersionArn, minute(2), 4, 3, 1, 0, 0)
	execs := &throttledExecutions{fakeExecutions: fakeExecutions{executions: []sfntypes.ExecutionListItem{execution(sfntypes.ExecutionStatusFailed, minute(3))}}, throttleFirst: 2}
	got, err := cloudwatchapi.NewMetrics(store).WithExecutions(execs).ManyVersionCounts(context.Background(), qs)
	if err != nil {
		t.Fatalf("a throttled cross-check failed the batch: %v", err)
	}
	if n := len(execs.calls); n != 20 {
		t.Errorf("%d ListExecutions calls for 29 silent versions, want the cap of 20", n)
	}
	for i, c := range got {
		want := controller.Counts{Form: rollout.MetricsFormNumber} // the known form is read
		switch {
		case i < 2: // throttled: the metrics' nothing
		case i < 20:
			want = controller.Counts{Started: 1, Closed: 1, Failed: 1, Form: rollout.MetricsFormNumber, FromExecutions: true}
		case i < 29: // past the cap
		default:
			want = controller.Counts{Started: 4, Closed: 4, Failed: 1, Succeeded: 3, Form: rollout.MetricsFormNumber}
		}
		if c != want {
			t.Errorf("version %d: %+v, want %+v", i+1, c, want)
		}
	}
}

type throttledExecutions struct {
	fakeExecutions
	throttleFirst int
}

func (f *throttledExecutions) ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, opts ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error) {
	out, _ := f.fakeExecutions.ListExecutions(ctx, in, opts...)
	if len(f.calls) <= f.throttleFirst {
		return nil, throttled
	}
	return out, nil
}
