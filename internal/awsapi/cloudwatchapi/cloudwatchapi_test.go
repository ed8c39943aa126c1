package cloudwatchapi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"

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
