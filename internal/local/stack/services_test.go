package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

// Each test below makes one representative call sequence per service with the service's own
// SDK client pointed at the one URL, so that the router's dispatch (X-Amz-Target, path,
// signing name) is proven for the protocols real clients speak.

func TestStepFunctionsThroughAlias(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := sfn.NewFromConfig(awsConfig(st))
	name := unique("stack-orders")
	m := newMachine(t, c, client, name, 100)

	start, err := client.StartExecution(c, &sfn.StartExecutionInput{StateMachineArn: aws.String(m.alias), Input: aws.String(`{"order":"o-1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:states:us-east-1:000000000000:execution:" + name + ":"; !strings.HasPrefix(*start.ExecutionArn, want) {
		t.Errorf("execution ARN %s, want the prefix %s", *start.ExecutionArn, want)
	}
	out := waitExecution(t, c, client, *start.ExecutionArn)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s: %s %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if aws.ToString(out.StateMachineArn) != m.arn || aws.ToString(out.StateMachineAliasArn) != m.alias || aws.ToString(out.StateMachineVersionArn) != m.v1 {
		t.Errorf("state machine %s, alias %s, version %s; want %s, %s, %s", aws.ToString(out.StateMachineArn), aws.ToString(out.StateMachineAliasArn), aws.ToString(out.StateMachineVersionArn), m.arn, m.alias, m.v1)
	}
	if got := aws.ToString(out.Output); !sameJSON(got, `{"version":1,"order":"o-1"}`) {
		t.Errorf("output %s", got)
	}
}

func TestDynamoDBThroughProxy(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := dynamodb.NewFromConfig(awsConfig(st))
	table := aws.String(unique("stack-rollouts"))
	if _, err := client.CreateTable(c, &dynamodb.CreateTableInput{
		TableName:            table,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	// As on AWS, the table is CREATING for a moment (dynalite: a tick); the waiter polls it.
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	if err := waiter.Wait(c, &dynamodb.DescribeTableInput{TableName: table}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	item := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "lock#prod"}, "holder": &ddbtypes.AttributeValueMemberS{Value: "r-1"}}
	if _, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
		t.Fatal(err)
	}
	_, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if code := apiCode(err); code != "ConditionalCheckFailedException" {
		t.Errorf("second conditional put: %v, want ConditionalCheckFailedException", err)
	}
	got, err := client.GetItem(c, &dynamodb.GetItemInput{TableName: table, Key: map[string]ddbtypes.AttributeValue{"pk": item["pk"]}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := got.Item["holder"].(*ddbtypes.AttributeValueMemberS); !ok || h.Value != "r-1" {
		t.Errorf("item %#v", got.Item)
	}
}

func TestCloudWatchMetricsAndAlarmFromData(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := cloudwatch.NewFromConfig(awsConfig(st))

	// GetMetricData sums what PutMetricData sent, over the virtual clock's periods.
	now := st.Clock.Now()
	dims := []cwtypes.Dimension{{Name: aws.String("Service"), Value: aws.String("orders")}}
	if _, err := client.PutMetricData(c, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Stack/Test"), MetricData: []cwtypes.MetricDatum{
		{MetricName: aws.String("Orders"), Dimensions: dims, Value: aws.Float64(3), Timestamp: aws.Time(now)},
		{MetricName: aws.String("Orders"), Dimensions: dims, Value: aws.Float64(4), Timestamp: aws.Time(now)},
	}}); err != nil {
		t.Fatal(err)
	}
	data, err := client.GetMetricData(c, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now.Add(5 * time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("orders"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("Stack/Test"), MetricName: aws.String("Orders"), Dimensions: dims},
			Period: aws.Int32(60), Stat: aws.String("Sum"),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, r := range data.MetricDataResults {
		for _, v := range r.Values {
			sum += v
		}
	}
	if sum != 7 {
		t.Errorf("GetMetricData Sum = %g, want 7: %+v", sum, data.MetricDataResults)
	}

	// The alarm evaluates on the clock: OK while the errors stay under the threshold, ALARM
	// once they go over it.
	alarm := unique("stack-errors")
	feed := startFeeder(t, st, client, "Stack/Test", alarm, 1)
	if _, err := client.PutMetricAlarm(c, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(alarm), Namespace: aws.String("Stack/Test"), MetricName: aws.String(alarm),
		Statistic: cwtypes.StatisticMaximum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(5), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
	}); err != nil {
		t.Fatal(err)
	}
	waitAlarm(t, client, alarm, cwtypes.StateValueOk)
	feed.Store(10)
	waitAlarm(t, client, alarm, cwtypes.StateValueAlarm)
}

// startFeeder puts the value it holds every 10 ms of real time (6 s of virtual time at
// speed 600) until the test ends; the test changes the value with Store.
func startFeeder(t *testing.T, st *stack.Stack, client *cloudwatch.Client, namespace, metric string, value int64) *atomic.Int64 {
	t.Helper()
	var v atomic.Int64
	v.Store(value)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := ctx(t)
		for {
			_, _ = client.PutMetricData(c, &cloudwatch.PutMetricDataInput{Namespace: aws.String(namespace), MetricData: []cwtypes.MetricDatum{
				{MetricName: aws.String(metric), Value: aws.Float64(float64(v.Load())), Timestamp: aws.Time(st.Clock.Now())},
			}})
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return &v
}

// waitAlarm polls DescribeAlarms until the alarm is in state, for up to 5 s of real time.
func waitAlarm(t *testing.T, client *cloudwatch.Client, name string, state cwtypes.StateValue) {
	t.Helper()
	c := ctx(t)
	deadline := time.Now().Add(5 * time.Second)
	var last cwtypes.StateValue
	for time.Now().Before(deadline) {
		out, err := client.DescribeAlarms(c, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.MetricAlarms) != 1 {
			t.Fatalf("DescribeAlarms %s: %d alarms", name, len(out.MetricAlarms))
		}
		if last = out.MetricAlarms[0].StateValue; last == state {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("alarm %s is %s, not %s, after 5s", name, last, state)
}

func TestEventBridgeRuleToLambda(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := eventbridge.NewFromConfig(awsConfig(st))
	name := unique("stack-orders-placed")
	in, fnArn := register(st, name)
	if _, err := client.PutRule(c, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(`{"source":["` + name + `"],"detail":{"total":[{"numeric":[">",100]}]}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutTargets(c, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String("fn"), Arn: aws.String(fnArn)}}}); err != nil {
		t.Fatal(err)
	}
	out, err := client.PutEvents(c, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String(name), DetailType: aws.String("Order Placed"), Detail: aws.String(`{"id":"small","total":5}`)},
		{Source: aws.String(name), DetailType: aws.String("Order Placed"), Detail: aws.String(`{"id":"big","total":500}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != 2 || aws.ToString(out.Entries[1].EventId) == "" {
		t.Fatalf("PutEvents answered %+v", out)
	}
	var e envelope
	in.next(t, &e)
	var detail struct{ ID string }
	_ = json.Unmarshal(e.Detail, &detail)
	if e.Source != name || e.DetailType != "Order Placed" || detail.ID != "big" || e.Account != "000000000000" || e.Region != "us-east-1" {
		t.Errorf("delivered %+v", e)
	}
	select {
	case p := <-in:
		t.Errorf("the event the pattern does not match was delivered too: %s", p)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSchedulerRateFiresLambda(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := scheduler.NewFromConfig(awsConfig(st))
	name := unique("stack-tick")
	in, fnArn := register(st, name)
	if _, err := client.CreateSchedule(c, &scheduler.CreateScheduleInput{
		Name: aws.String(name), ScheduleExpression: aws.String("rate(1 minute)"),
		FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		Target:             &schedtypes.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn), Input: aws.String(`{"tick":true}`)},
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := client.DeleteSchedule(ctx(t), &scheduler.DeleteScheduleInput{Name: aws.String(name)}); err != nil {
			t.Error(err)
		}
	}()
	// A minute of virtual time is 0.1 s: two firings come well within the 5 s next allows.
	for range 2 {
		var payload struct{ Tick bool }
		in.next(t, &payload)
		if !payload.Tick {
			t.Errorf("payload %+v, want the schedule's Input", payload)
		}
	}
	got, err := client.GetSchedule(c, &scheduler.GetScheduleInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.GroupName) != "default" || got.State != schedtypes.ScheduleStateEnabled {
		t.Errorf("schedule group %s, state %s", aws.ToString(got.GroupName), got.State)
	}
}

func TestS3ObjectCreatedToRule(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := s3Client(st)
	events := eventbridge.NewFromConfig(awsConfig(st))
	name := unique("stack-artifacts")
	bucket := aws.String(name)
	if _, err := client.CreateBucket(c, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutBucketNotificationConfiguration(c, &s3.PutBucketNotificationConfigurationInput{Bucket: bucket,
		NotificationConfiguration: &s3types.NotificationConfiguration{EventBridgeConfiguration: &s3types.EventBridgeConfiguration{}}}); err != nil {
		t.Fatal(err)
	}
	in, fnArn := register(st, name)
	if _, err := events.PutRule(c, &eventbridge.PutRuleInput{Name: aws.String(name),
		EventPattern: aws.String(`{"source":["aws.s3"],"detail-type":["Object Created"],"detail":{"bucket":{"name":["` + name + `"]},"object":{"key":[{"suffix":".asl.json"}]}}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.PutTargets(c, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{Id: aws.String("fn"), Arn: aws.String(fnArn)}}}); err != nil {
		t.Fatal(err)
	}
	body := `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`
	if _, err := client.PutObject(c, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("orders/prod/r1.asl.json"), Body: strings.NewReader(body),
		Metadata: map[string]string{"rollout-strategy": "LINEAR"}}); err != nil {
		t.Fatal(err)
	}
	var e envelope
	in.next(t, &e)
	var detail struct {
		Bucket struct{ Name string }
		Object struct {
			Key  string
			Size int
		}
		Reason string
	}
	if err := json.Unmarshal(e.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if e.Source != "aws.s3" || e.DetailType != "Object Created" || detail.Bucket.Name != name || detail.Object.Key != "orders/prod/r1.asl.json" || detail.Object.Size != len(body) || detail.Reason != "PutObject" {
		t.Errorf("delivered %+v with detail %s", e, e.Detail)
	}
	head, err := client.HeadObject(c, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("orders/prod/r1.asl.json")})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["rollout-strategy"] != "LINEAR" {
		t.Errorf("metadata %v", head.Metadata)
	}
}

func TestLambdaInvoke(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	st.Lambda.Register("stack-price", func(_ context.Context, payload json.RawMessage) (json.RawMessage, error) {
		var in struct{ Items int }
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		return json.RawMessage(fmt.Sprintf(`{"price":%d}`, 10*in.Items)), nil
	})
	client := awslambda.NewFromConfig(awsConfig(st))
	out, err := client.Invoke(c, &awslambda.InvokeInput{FunctionName: aws.String("stack-price"), Payload: []byte(`{"items":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != `{"price":30}` {
		t.Errorf("Invoke answered %d, error %v, payload %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
	}
	_, err = client.Invoke(c, &awslambda.InvokeInput{FunctionName: aws.String("stack-missing")})
	if code := apiCode(err); code != "ResourceNotFoundException" {
		t.Errorf("Invoke of a missing function: %v, want ResourceNotFoundException", err)
	}
}
