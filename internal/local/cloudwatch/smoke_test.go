package cloudwatch

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	_, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{
		Namespace: aws.String("App"),
		MetricData: []types.MetricDatum{{MetricName: aws.String("Errors"), Value: aws.Float64(3), Timestamp: aws.Time(now.Add(-time.Minute))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.client.GetMetricData(ctx, &awscw.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("m1"), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("App"), MetricName: aws.String("Errors")}, Period: aws.Int32(60), Stat: aws.String("Sum")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %v %v", out.MetricDataResults[0], out.MetricDataResults[0].Timestamps, out.MetricDataResults[0].Values)
	_, err = e.client.SetAlarmState(ctx, &awscw.SetAlarmStateInput{AlarmName: aws.String("nope"), StateValue: types.StateValueAlarm, StateReason: aws.String("x")})
	t.Logf("%v", err)
	_, err = e.client.PutMetricAlarm(ctx, &awscw.PutMetricAlarmInput{AlarmName: aws.String("a"), Period: aws.Int32(45), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, Namespace: aws.String("App"), MetricName: aws.String("Errors"), Statistic: types.StatisticSum})
	t.Logf("%v", err)
	_, err = e.client.PutMetricAlarm(ctx, &awscw.PutMetricAlarmInput{AlarmName: aws.String("a"), Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, Namespace: aws.String("App"), MetricName: aws.String("Errors"), Statistic: types.StatisticSum})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.EvaluateNow(ctx)
	d, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", d.MetricAlarms[0])
	t.Logf("%s", *d.MetricAlarms[0].StateReason)
	t.Logf("%s", *d.MetricAlarms[0].StateReasonData)
	t.Logf("%v", e.reporter.all())
	for _, ev := range e.bus.all() {
		t.Logf("%s", ev.Detail)
	}
}
