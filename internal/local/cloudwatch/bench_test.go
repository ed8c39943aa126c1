package cloudwatch

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// BenchmarkPutAndEvaluate1000Alarms: one PutMetricData call through the SDK carrying a
// datum for each of 1,000 alarms' metrics, then one evaluation of all 1,000 alarms (3 of 5
// periods of 60 s, 2 to alarm).
func BenchmarkPutAndEvaluate1000Alarms(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const n = 1000
	dims := func(i int) []types.Dimension {
		return []types.Dimension{{Name: aws.String("StateMachineArn"), Value: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:sm-" + strconv.Itoa(i))}, {Name: aws.String("Alias"), Value: aws.String("prod")}}
	}
	for i := range n {
		in := metricAlarmInput("alarm-" + strconv.Itoa(i))
		in.Dimensions, in.EvaluationPeriods, in.DatapointsToAlarm = dims(i), aws.Int32(3), aws.Int32(2)
		if _, err := e.client.PutMetricAlarm(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]types.MetricDatum, n)
	for i := range data {
		data[i] = types.MetricDatum{MetricName: aws.String("Errors"), Dimensions: dims(i), Value: aws.Float64(float64(i % 3))}
	}
	put := func() {
		if _, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: data}); err != nil {
			b.Fatal(err)
		}
	}
	// Five minutes of history.
	now := e.clock.Now()
	for m := 5; m > 0; m-- {
		for i := range data {
			data[i].Timestamp = aws.Time(now.Add(-time.Duration(m) * time.Minute))
		}
		put()
	}
	for i := range data {
		data[i].Timestamp = nil
	}
	all := func(*alarm) bool { return true }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		put()
		e.svc.evaluate(ctx, e.clock.Now().Add(time.Minute), all)
	}
}

// BenchmarkEvaluate1000Alarms is the evaluation alone.
func BenchmarkEvaluate1000Alarms(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	now := e.clock.Now()
	for i := range 1000 {
		name := "alarm-" + strconv.Itoa(i)
		in := metricAlarmInput(name)
		in.Dimensions = []types.Dimension{{Name: aws.String("Name"), Value: aws.String(name)}}
		in.EvaluationPeriods, in.DatapointsToAlarm = aws.Int32(3), aws.Int32(2)
		if _, err := e.client.PutMetricAlarm(ctx, in); err != nil {
			b.Fatal(err)
		}
		for m := range 5 {
			e.svc.metrics.add("App", "Errors", []dimension{{Name: "Name", Value: name}}, now.Add(-time.Duration(m)*time.Minute), "None", stats{n: 1, sum: float64(m % 2), min: 0, max: 1})
		}
	}
	all := func(*alarm) bool { return true }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.svc.evaluate(ctx, now, all)
	}
}
