package cloudwatchapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/cloudwatchapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

var t0 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

func stateUpdate(at time.Time, from, to string) types.AlarmHistoryItem {
	return types.AlarmHistoryItem{
		AlarmName: aws.String("orders-failures"), AlarmType: types.AlarmTypeMetricAlarm, Timestamp: aws.Time(at),
		HistoryItemType: types.HistoryItemTypeStateUpdate, HistorySummary: aws.String("Alarm updated from " + from + " to " + to),
		HistoryData: aws.String(fmt.Sprintf(`{"version":"1.0","oldState":{"stateValue":%q,"stateReason":"before"},"newState":{"stateValue":%q,"stateReason":"Threshold Crossed: 1 datapoint [3.0 (15/01/26 10:00:00)] was greater than or equal to the threshold (1.0).","stateReasonData":{"version":"1.0"}}}`, from, to)),
	}
}

func TestAlarmStatusesCarryTheTransitionTime(t *testing.T) {
	fake := &fakeAlarms{Fn: func(in *cloudwatch.DescribeAlarmsInput) (*cloudwatch.DescribeAlarmsOutput, error) {
		return &cloudwatch.DescribeAlarmsOutput{
			MetricAlarms:    []types.MetricAlarm{{AlarmName: aws.String("m"), StateValue: types.StateValueOk, StateTransitionedTimestamp: aws.Time(t0), StateUpdatedTimestamp: aws.Time(t0.Add(time.Minute))}},
			CompositeAlarms: []types.CompositeAlarm{{AlarmName: aws.String("c"), StateValue: types.StateValueAlarm, StateTransitionedTimestamp: aws.Time(t0.Add(time.Hour))}},
		}, nil
	}}
	got, err := cloudwatchapi.NewAlarms(fake).Statuses(context.Background(), []string{"m", "c", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]controller.AlarmStatus{
		"m": {State: rollout.AlarmOK, TransitionedAt: t0},
		"c": {State: rollout.AlarmAlarm, TransitionedAt: t0.Add(time.Hour)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Statuses = %v, want %v", got, want)
	}
}

func TestAlarmHistory(t *testing.T) {
	// Two pages; CloudWatch answers newest first unless asked otherwise, so the adapter
	// asks for ascending and sorts whatever comes.
	fake := &fakeAlarms{HistoryFn: func(in *cloudwatch.DescribeAlarmHistoryInput) (*cloudwatch.DescribeAlarmHistoryOutput, error) {
		if in.NextToken == nil {
			return &cloudwatch.DescribeAlarmHistoryOutput{
				AlarmHistoryItems: []types.AlarmHistoryItem{stateUpdate(t0.Add(2*time.Minute), "ALARM", "OK")},
				NextToken:         aws.String("page-2"),
			}, nil
		}
		return &cloudwatch.DescribeAlarmHistoryOutput{AlarmHistoryItems: []types.AlarmHistoryItem{stateUpdate(t0.Add(time.Minute), "OK", "ALARM")}}, nil
	}}
	got, err := cloudwatchapi.NewAlarms(fake).History(context.Background(), "orders-failures", t0, t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []controller.AlarmTransition{
		{Time: t0.Add(time.Minute), From: rollout.AlarmOK, To: rollout.AlarmAlarm},
		{Time: t0.Add(2 * time.Minute), From: rollout.AlarmAlarm, To: rollout.AlarmOK},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("History = %v, want %v", got, want)
	}
	if len(fake.historyRequests) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(fake.historyRequests))
	}
	in := fake.historyRequests[0]
	if aws.ToString(in.AlarmName) != "orders-failures" || in.HistoryItemType != types.HistoryItemTypeStateUpdate ||
		!aws.ToTime(in.StartDate).Equal(t0) || !aws.ToTime(in.EndDate).Equal(t0.Add(3*time.Minute)) ||
		len(in.AlarmTypes) != 2 || in.ScanBy != types.ScanByTimestampAscending {
		t.Errorf("request = %+v", in)
	}
	if aws.ToString(fake.historyRequests[1].NextToken) != "page-2" {
		t.Errorf("second request's token = %q", aws.ToString(fake.historyRequests[1].NextToken))
	}
}

func TestAlarmHistoryErrors(t *testing.T) {
	fake := &fakeAlarms{HistoryFn: func(*cloudwatch.DescribeAlarmHistoryInput) (*cloudwatch.DescribeAlarmHistoryOutput, error) {
		return nil, throttled
	}}
	if _, err := cloudwatchapi.NewAlarms(fake).History(context.Background(), "a", t0, t0); !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("throttled history: %v, want ErrThrottled", err)
	}
	// An item whose data does not say its states is an error: it may be the ALARM.
	fake.HistoryFn = func(*cloudwatch.DescribeAlarmHistoryInput) (*cloudwatch.DescribeAlarmHistoryOutput, error) {
		item := stateUpdate(t0, "OK", "ALARM")
		item.HistoryData = aws.String("not json")
		return &cloudwatch.DescribeAlarmHistoryOutput{AlarmHistoryItems: []types.AlarmHistoryItem{item}}, nil
	}
	if _, err := cloudwatchapi.NewAlarms(fake).History(context.Background(), "a", t0, t0); err == nil {
		t.Error("history with unreadable data: no error")
	}
}
