package cloudwatch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// The controller reads an alarm's history for the window since it last looked, bounded by
// timestamps CloudWatch gave it (StateTransitionedTimestamp, millisecond precision). A state
// update lies in a window whose bounds are its own timestamp, as CloudWatch keeps
// timestamps to the millisecond, and its time is the alarm's StateTransitionedTimestamp.
func TestAlarmHistoryWindowAtMillisecondBounds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustPutAlarm(t, e, metricAlarmInput("a"))
	// Each change in a millisecond of its own, so that the window holds one.
	for _, state := range []string{stateAlarm, stateOK} {
		if err := e.clock.Sleep(ctx, 2*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		setState(t, e, "a", state)
	}
	out, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{AlarmNames: []string{"a"}})
	if err != nil || len(out.MetricAlarms) != 1 {
		t.Fatalf("DescribeAlarms = %+v, %v", out, err)
	}
	transitioned := aws.ToTime(out.MetricAlarms[0].StateTransitionedTimestamp)
	h, err := e.client.DescribeAlarmHistory(ctx, &awscw.DescribeAlarmHistoryInput{
		AlarmName: aws.String("a"), HistoryItemType: types.HistoryItemTypeStateUpdate,
		StartDate: aws.Time(transitioned), EndDate: aws.Time(transitioned),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.AlarmHistoryItems) != 1 {
		t.Fatalf("history in [%s, %s]: %d items, want the update to OK", transitioned, transitioned, len(h.AlarmHistoryItems))
	}
	item := h.AlarmHistoryItems[0]
	if !aws.ToTime(item.Timestamp).Equal(transitioned) {
		t.Errorf("item at %s, StateTransitionedTimestamp %s", aws.ToTime(item.Timestamp), transitioned)
	}
	var data struct {
		OldState struct{ StateValue string } `json:"oldState"`
		NewState struct{ StateValue string } `json:"newState"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(item.HistoryData)), &data); err != nil || data.OldState.StateValue != stateAlarm || data.NewState.StateValue != stateOK {
		t.Errorf("history data %s: %+v, %v", aws.ToString(item.HistoryData), data, err)
	}
}
