package cloudwatchapi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/cloudwatchapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

const (
	smArn = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"
	v4    = smArn + ":4"
)

var throttled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}

type fakeAlarms struct {
	requests []cloudwatch.DescribeAlarmsInput
	Fn       func(*cloudwatch.DescribeAlarmsInput) (*cloudwatch.DescribeAlarmsOutput, error)
	// HistoryFn answers DescribeAlarmHistory (see history_test.go).
	historyRequests []cloudwatch.DescribeAlarmHistoryInput
	HistoryFn       func(*cloudwatch.DescribeAlarmHistoryInput) (*cloudwatch.DescribeAlarmHistoryOutput, error)
}

func (f *fakeAlarms) DescribeAlarmHistory(_ context.Context, in *cloudwatch.DescribeAlarmHistoryInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmHistoryOutput, error) {
	f.historyRequests = append(f.historyRequests, *in)
	return f.HistoryFn(in)
}

func (f *fakeAlarms) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.requests = append(f.requests, *in)
	return f.Fn(in)
}

func TestAlarmStates(t *testing.T) {
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("alarm-%03d", i))
	}
	fake := &fakeAlarms{Fn: func(in *cloudwatch.DescribeAlarmsInput) (*cloudwatch.DescribeAlarmsOutput, error) {
		// The first batch answers in two pages: a metric alarm, then a composite one.
		// alarm-149 does not exist.
		switch {
		case in.AlarmNames[0] == "alarm-000" && in.NextToken == nil:
			return &cloudwatch.DescribeAlarmsOutput{
				MetricAlarms: []types.MetricAlarm{{AlarmName: aws.String("alarm-000"), StateValue: types.StateValueOk}},
				NextToken:    aws.String("next"),
			}, nil
		case in.AlarmNames[0] == "alarm-000":
			return &cloudwatch.DescribeAlarmsOutput{
				CompositeAlarms: []types.CompositeAlarm{{AlarmName: aws.String("alarm-001"), StateValue: types.StateValueAlarm}},
			}, nil
		default:
			return &cloudwatch.DescribeAlarmsOutput{
				MetricAlarms: []types.MetricAlarm{{AlarmName: aws.String("alarm-100"), StateValue: types.StateValueInsufficientData}},
			}, nil
		}
	}}
	states, err := cloudwatchapi.NewAlarms(fake).States(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rollout.AlarmState{"alarm-000": rollout.AlarmOK, "alarm-001": rollout.AlarmAlarm, "alarm-100": rollout.AlarmInsufficientData}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("States = %v, want %v", states, want)
	}
	var sizes []int
	for _, in := range fake.requests {
		sizes = append(sizes, len(in.AlarmNames))
		got := append([]types.AlarmType(nil), in.AlarmTypes...)
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		if !reflect.DeepEqual(got, []types.AlarmType{types.AlarmTypeCompositeAlarm, types.AlarmTypeMetricAlarm}) {
			t.Errorf("AlarmTypes %v: without both, composite alarms read as missing", in.AlarmTypes)
		}
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Errorf("batch sizes %v, want [100 100 50] (two pages of the first batch, then the rest)", sizes)
	}
}

func TestAlarmStatesWithoutNamesMakesNoCall(t *testing.T) {
	fake := &fakeAlarms{}
	states, err := cloudwatchapi.NewAlarms(fake).States(context.Background(), nil)
	if err != nil || len(states) != 0 || len(fake.requests) != 0 {
		t.Errorf("States(nil) = %v, %v after %d calls", states, err, len(fake.requests))
	}
}

func TestAlarmStatesThrottled(t *testing.T) {
	fake := &fakeAlarms{Fn: func(*cloudwatch.DescribeAlarmsInput) (*cloudwatch.DescribeAlarmsOutput, error) { return nil, throttled }}
	if _, err := cloudwatchapi.NewAlarms(fake).States(context.Background(), []string{"a"}); !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("err %v, want ErrThrottled", err)
	}
}

type fakeMetrics struct {
	requests []cloudwatch.GetMetricDataInput
	Fn       func(*cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error)
}

func (f *fakeMetrics) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.requests = append(f.requests, *in)
	return f.Fn(in)
}

func result(id string, values ...float64) types.MetricDataResult {
	return types.MetricDataResult{Id: aws.String(id), Values: values}
}

func TestVersionCounts(t *testing.T) {
	fake := &fakeMetrics{Fn: func(in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) {
		if in.NextToken == nil {
			return &cloudwatch.GetMetricDataOutput{
				MetricDataResults: []types.MetricDataResult{result("started", 3, 0, 2), result("failed", 1), result("timedout"), result("aborted")},
				NextToken:         aws.String("more"),
			}, nil
		}
		return &cloudwatch.GetMetricDataOutput{
			MetricDataResults: []types.MetricDataResult{result("started", 5), result("failed"), result("timedout", 1), result("aborted", 1)},
		}, nil
	}}
	from := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	to := time.Date(2026, 3, 1, 12, 5, 10, 0, time.UTC)
	started, failed, err := cloudwatchapi.NewMetrics(fake).VersionCounts(context.Background(), smArn, v4, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if started != 10 || failed != 3 {
		t.Errorf("started %d failed %d, want 10 and 3", started, failed)
	}
	if len(fake.requests) != 2 || aws.ToString(fake.requests[1].NextToken) != "more" {
		t.Fatalf("requests %d, want two pages", len(fake.requests))
	}
	in := fake.requests[0]
	if !in.StartTime.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) || !in.EndTime.Equal(time.Date(2026, 3, 1, 12, 6, 0, 0, time.UTC)) {
		t.Errorf("window %v – %v, want whole minutes 12:00 – 12:06", in.StartTime, in.EndTime)
	}
	metrics := map[string]string{}
	for _, q := range in.MetricDataQueries {
		ms := q.MetricStat
		metrics[aws.ToString(q.Id)] = aws.ToString(ms.Metric.MetricName)
		if aws.ToString(ms.Metric.Namespace) != "AWS/States" || aws.ToString(ms.Stat) != "Sum" || aws.ToInt32(ms.Period) != 60 {
			t.Errorf("query %s: namespace %q stat %q period %d", aws.ToString(q.Id), aws.ToString(ms.Metric.Namespace), aws.ToString(ms.Stat), aws.ToInt32(ms.Period))
		}
		dims := map[string]string{}
		for _, d := range ms.Metric.Dimensions {
			dims[aws.ToString(d.Name)] = aws.ToString(d.Value)
		}
		if want := map[string]string{"StateMachineArn": smArn, "Version": "4"}; !reflect.DeepEqual(dims, want) {
			t.Errorf("query %s dimensions %v, want %v", aws.ToString(q.Id), dims, want)
		}
	}
	wantMetrics := map[string]string{"started": "ExecutionsStarted", "failed": "ExecutionsFailed", "timedout": "ExecutionsTimedOut", "aborted": "ExecutionsAborted"}
	if !reflect.DeepEqual(metrics, wantMetrics) {
		t.Errorf("metrics %v, want %v", metrics, wantMetrics)
	}
}

func TestVersionCountsWindow(t *testing.T) {
	minute := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name               string
		from, to           time.Time
		wantStart, wantEnd time.Time
	}{
		{name: "aligned", from: minute, to: minute.Add(2 * time.Minute), wantStart: minute, wantEnd: minute.Add(2 * time.Minute)},
		{name: "unaligned", from: minute.Add(time.Second), to: minute.Add(61 * time.Second), wantStart: minute, wantEnd: minute.Add(2 * time.Minute)},
		{name: "empty window is one minute", from: minute, to: minute, wantStart: minute, wantEnd: minute.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeMetrics{Fn: func(*cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) {
				return &cloudwatch.GetMetricDataOutput{}, nil
			}}
			started, failed, err := cloudwatchapi.NewMetrics(fake).VersionCounts(context.Background(), smArn, v4, tt.from, tt.to)
			if err != nil || started != 0 || failed != 0 {
				t.Fatalf("VersionCounts = %d, %d, %v", started, failed, err)
			}
			in := fake.requests[0]
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
			_, _, err := cloudwatchapi.NewMetrics(fake).VersionCounts(context.Background(), smArn, tt.versionArn, time.Now(), time.Now())
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
// few calls as 500 queries a call allow.
func TestManyVersionCounts(t *testing.T) {
	minute := func(m int) time.Time { return time.Date(2026, 3, 1, 12, m, 0, 0, time.UTC) }
	fake := &fakeMetrics{Fn: func(in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) {
		var out cloudwatch.GetMetricDataOutput
		for _, q := range in.MetricDataQueries {
			// Every series has one execution a minute from 12:00 to 12:09 (newest first, as
			// GetMetricData answers), and one failure at 12:01.
			r := types.MetricDataResult{Id: q.Id}
			for m := 9; m >= 0; m-- {
				v := 1.0
				if aws.ToString(q.MetricStat.Metric.MetricName) != "ExecutionsStarted" {
					v = 0
					if m == 1 && aws.ToString(q.MetricStat.Metric.MetricName) == "ExecutionsFailed" {
						v = 1
					}
				}
				r.Timestamps = append(r.Timestamps, minute(m))
				r.Values = append(r.Values, v)
			}
			out.MetricDataResults = append(out.MetricDataResults, r)
		}
		return &out, nil
	}}
	var qs []controller.CountsQuery
	for i := range 130 {
		from := minute(0)
		if i%2 == 1 {
			from = minute(5).Add(20 * time.Second) // from 12:05
		}
		qs = append(qs, controller.CountsQuery{StateMachineArn: smArn, VersionArn: fmt.Sprintf("%s:%d", smArn, i+1), From: from, To: minute(9).Add(30 * time.Second)})
	}
	got, err := cloudwatchapi.NewMetrics(fake).ManyVersionCounts(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.requests) != 2 {
		t.Errorf("%d GetMetricData calls for 130 versions, want 2 (125 versions a call)", len(fake.requests))
	}
	for i, c := range got {
		want := controller.Counts{Started: 10, Failed: 1}
		if i%2 == 1 {
			want = controller.Counts{Started: 5, Failed: 0}
		}
		if c != want {
			t.Errorf("version %d: %+v, want %+v", i+1, c, want)
		}
	}
	if n := len(fake.requests[0].MetricDataQueries); n != 500 {
		t.Errorf("first call has %d queries, want 500", n)
	}
}
