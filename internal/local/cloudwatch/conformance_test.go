package cloudwatch

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func metricAlarmInput(name string) *awscw.PutMetricAlarmInput {
	return &awscw.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String("App"), MetricName: aws.String("Errors"),
		Statistic: types.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
		Threshold: aws.Float64(1), ComparisonOperator: types.ComparisonOperatorGreaterThanOrEqualToThreshold,
	}
}

func with(in *awscw.PutMetricAlarmInput, edit func(*awscw.PutMetricAlarmInput)) *awscw.PutMetricAlarmInput {
	edit(in)
	return in
}

func mustPutAlarm(t *testing.T, e *env, in *awscw.PutMetricAlarmInput) {
	t.Helper()
	if _, err := e.client.PutMetricAlarm(context.Background(), in); err != nil {
		t.Fatalf("PutMetricAlarm %s: %v", *in.AlarmName, err)
	}
}

func mustPutComposite(t *testing.T, e *env, name, rule string) {
	t.Helper()
	if _, err := e.client.PutCompositeAlarm(context.Background(), &awscw.PutCompositeAlarmInput{AlarmName: aws.String(name), AlarmRule: aws.String(rule)}); err != nil {
		t.Fatalf("PutCompositeAlarm %s: %v", name, err)
	}
}

// TestErrors checks each refusal's code and message as the SDK sees them.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustPutAlarm(t, e, metricAlarmInput("child"))
	mustPutComposite(t, e, "parent", "ALARM(child)")
	now := e.clock.Now()
	names101 := make([]string, 101)
	for i := range names101 {
		names101[i] = "a" + strconv.Itoa(i)
	}
	ms := func(id string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("App"), MetricName: aws.String("Errors")}, Period: aws.Int32(60), Stat: aws.String("Sum")}}
	}
	expr := func(id, e string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), Expression: aws.String(e)}
	}
	getData := func(q ...types.MetricDataQuery) error {
		_, err := e.client.GetMetricData(ctx, &awscw.GetMetricDataInput{StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), MetricDataQueries: q})
		return err
	}
	putData := func(d types.MetricDatum) error {
		if d.MetricName == nil {
			d.MetricName = aws.String("Errors")
		}
		_, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{d}})
		return err
	}

	tests := []struct {
		name    string
		call    func() error
		code    string
		message string
	}{
		{
			name: "alarm period neither 10, 30 nor a multiple of 60",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) { in.Period = aws.Int32(45) }))
				return err
			},
			code: "ValidationError", message: "Period must be 10, 30 or a multiple of 60",
		},
		{
			name: "datapoints to alarm over evaluation periods",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) { in.DatapointsToAlarm = aws.Int32(2) }))
				return err
			},
			code: "ValidationError", message: "DatapointsToAlarm must be less than or equal to EvaluationPeriods",
		},
		{
			name: "extended statistic refused as unsupported",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) {
					in.Statistic, in.ExtendedStatistic = "", aws.String("p99")
				}))
				return err
			},
			code: "InvalidParameterValue", message: "sfn-rollout local does not support ExtendedStatistic (percentiles and other extended statistics); use Statistic: SampleCount, Average, Sum, Minimum, Maximum",
		},
		{
			name: "anomaly band operator refused as unsupported",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) {
					in.ComparisonOperator = types.ComparisonOperatorLessThanLowerOrGreaterThanUpperThreshold
				}))
				return err
			},
			code: "InvalidParameterValue", message: "sfn-rollout local does not support the ComparisonOperator LessThanLowerOrGreaterThanUpperThreshold (anomaly detection bands)",
		},
		{
			name: "unknown statistic",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) { in.Statistic = "Median" }))
				return err
			},
			code: "ValidationError", message: "1 validation error detected: Value 'Median' at 'statistic' failed to satisfy constraint: Member must satisfy enum value set: [SampleCount, Average, Sum, Minimum, Maximum]",
		},
		{
			name: "unknown missing data treatment",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) { in.TreatMissingData = aws.String("sometimes") }))
				return err
			},
			code: "ValidationError", message: "The value sometimes is not supported for TreatMissingData parameter. Supported values are [breaching, notBreaching, ignore, missing].",
		},
		{
			name: "metric math alarm returning two series",
			call: func() error {
				_, err := e.client.PutMetricAlarm(ctx, &awscw.PutMetricAlarmInput{
					AlarmName: aws.String("math"), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
					ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
					Metrics:            []types.MetricDataQuery{ms("m1"), expr("e1", "m1*2")},
				})
				return err
			},
			code: "ValidationError", message: "Exactly one element of the metrics list should return data.",
		},
		{
			name: "metric math alarm naming an unknown id",
			call: func() error {
				m1 := ms("m1")
				m1.ReturnData = aws.Bool(false)
				_, err := e.client.PutMetricAlarm(ctx, &awscw.PutMetricAlarmInput{
					AlarmName: aws.String("math"), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
					ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
					Metrics:            []types.MetricDataQuery{m1, expr("e1", "m1/m2")},
				})
				return err
			},
			code: "ValidationError", message: "Error in expression 'e1': Unrecognized metric id 'm2'",
		},
		{
			name: "composite rule naming a missing alarm",
			call: func() error {
				_, err := e.client.PutCompositeAlarm(ctx, &awscw.PutCompositeAlarmInput{AlarmName: aws.String("x"), AlarmRule: aws.String(`ALARM(child) OR ALARM("nope")`)})
				return err
			},
			code: "ValidationError", message: "Could not save the composite alarm as alarms [nope] in the alarm rule do not exist",
		},
		{
			name: "composite rule that does not parse",
			call: func() error {
				_, err := e.client.PutCompositeAlarm(ctx, &awscw.PutCompositeAlarmInput{AlarmName: aws.String("x"), AlarmRule: aws.String(")")})
				return err
			},
			code: "ValidationError", message: "Error in AlarmRule [Unsupported token ')' at char 1]",
		},
		{
			name: "composite rule cut short",
			call: func() error {
				_, err := e.client.PutCompositeAlarm(ctx, &awscw.PutCompositeAlarmInput{AlarmName: aws.String("x"), AlarmRule: aws.String("ALARM(child) AND")})
				return err
			},
			code: "ValidationError", message: "Error in AlarmRule [Unexpected end of rule at char 17]",
		},
		{
			name: "set state of a missing alarm",
			call: func() error {
				_, err := e.client.SetAlarmState(ctx, &awscw.SetAlarmStateInput{AlarmName: aws.String("nope"), StateValue: types.StateValueAlarm, StateReason: aws.String("test")})
				return err
			},
			code: "ResourceNotFound", message: "",
		},
		{
			name: "set an unknown state",
			call: func() error {
				_, err := e.client.SetAlarmState(ctx, &awscw.SetAlarmStateInput{AlarmName: aws.String("child"), StateValue: "INVALID", StateReason: aws.String("test")})
				return err
			},
			code: "ValidationError", message: "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]",
		},
		{
			name: "describe more than 100 names",
			call: func() error {
				_, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{AlarmNames: names101[:101]})
				return err
			},
			code: "ValidationError", message: "1 validation error detected: Value '[" + joinNames(names101) + "]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100",
		},
		{
			name: "delete a child of a composite",
			call: func() error {
				_, err := e.client.DeleteAlarms(ctx, &awscw.DeleteAlarmsInput{AlarmNames: []string{"child"}})
				return err
			},
			code: "ValidationError", message: "Cannot delete child as there are composite alarm(s) depending on them.",
		},
		{
			name: "value and values",
			call: func() error { return putData(types.MetricDatum{Value: aws.Float64(1), Values: []float64{1, 2}}) },
			code: "InvalidParameterCombination", message: "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually exclusive and you have specified both.",
		},
		{
			name: "value and statistic values",
			call: func() error {
				return putData(types.MetricDatum{Value: aws.Float64(1), StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(1), Sum: aws.Float64(1), Minimum: aws.Float64(1), Maximum: aws.Float64(1)}})
			},
			code: "InvalidParameterCombination", message: "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both.",
		},
		{
			name: "values and counts of different sizes",
			call: func() error { return putData(types.MetricDatum{Values: []float64{1, 10}, Counts: []float64{2, 4, 1}}) },
			code: "InvalidParameterValue", message: "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size.",
		},
		{
			name: "NaN value",
			call: func() error { return putData(types.MetricDatum{Value: aws.Float64(math.NaN())}) },
			code: "InvalidParameterValue", message: "The value NaN for parameter MetricData.member.1.Value is invalid.",
		},
		{
			name: "storage resolution neither 1 nor 60",
			call: func() error {
				return putData(types.MetricDatum{Value: aws.Float64(1), StorageResolution: aws.Int32(30)})
			},
			code:    "InvalidParameterValue",
			message: "The value 30 for parameter MetricData.member.1.StorageResolution is invalid.",
		},
		{
			name: "AWS namespace",
			call: func() error {
				_, err := e.client.PutMetricData(ctx, &awscw.PutMetricDataInput{Namespace: aws.String("AWS/States"), MetricData: []types.MetricDatum{{MetricName: aws.String("x"), Value: aws.Float64(1)}}})
				return err
			},
			code: "InvalidParameterValue", message: "The value AWS/ for parameter Namespace is invalid.",
		},
		{
			name: "timestamp older than two weeks",
			call: func() error {
				return putData(types.MetricDatum{Value: aws.Float64(1), Timestamp: aws.Time(now.Add(-15 * 24 * time.Hour))})
			},
			code: "InvalidParameterValue", message: "The parameter MetricData.member.1.Timestamp must specify a time within the past two weeks.",
		},
		{
			name: "start time after end time",
			call: func() error {
				_, err := e.client.GetMetricData(ctx, &awscw.GetMetricDataInput{StartTime: aws.Time(now), EndTime: aws.Time(now.Add(-time.Hour)), MetricDataQueries: []types.MetricDataQuery{ms("m1")}})
				return err
			},
			code: "InvalidParameterValue", message: "The parameter StartTime must be less than the parameter EndTime.",
		},
		{
			name: "query id not starting with a lowercase letter",
			call: func() error { return getData(ms("M1")) },
			code: "InvalidParameterValue", message: "The value M1 for parameter MetricDataQueries.member.1.Id is invalid.",
		},
		{
			name: "percentile statistic in a query",
			call: func() error {
				q := ms("m1")
				q.MetricStat.Stat = aws.String("p99")
				return getData(q)
			},
			code: "InvalidParameterValue", message: "sfn-rollout local does not support the statistic p99 in MetricDataQueries.member.1.MetricStat.Stat; use one of SampleCount, Average, Sum, Minimum, Maximum",
		},
		{
			name: "expression that does not parse",
			call: func() error { return getData(ms("m1"), expr("e1", "m1 +* 2")) },
			code: "ValidationError", message: "Error in expression 'e1': Unsupported token '*' at char 5",
		},
		{
			name: "expression with an unsupported function",
			call: func() error { return getData(ms("m1"), expr("e1", "ANOMALY_DETECTION_BAND(m1)")) },
			code: "ValidationError", message: "Error in expression 'e1': sfn-rollout local does not support the function ANOMALY_DETECTION_BAND (supported: SUM, AVG, MIN, MAX, ABS, FILL, METRICS)",
		},
		{
			name: "operation local mode does not serve",
			call: func() error {
				_, err := e.client.ListDashboards(ctx, &awscw.ListDashboardsInput{})
				return err
			},
			code: "UnknownOperationException", message: "sfn-rollout local does not support CloudWatch ListDashboards",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, tc.call(), tc.code, tc.message)
		})
	}
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// The SDK hands back the model's typed errors, with the awsQuery code as their ErrorCode.
func TestTypedErrors(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.SetAlarmState(context.Background(), &awscw.SetAlarmStateInput{AlarmName: aws.String("nope"), StateValue: types.StateValueOk, StateReason: aws.String("x")})
	var notFound *types.ResourceNotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("error = %T %v, want *types.ResourceNotFound", err, err)
	}
	_, err = e.client.PutMetricAlarm(context.Background(), with(metricAlarmInput("a"), func(in *awscw.PutMetricAlarmInput) { in.Period = aws.Int32(45) }))
	var validation *types.ValidationException
	if !errors.As(err, &validation) || validation.ErrorCode() != "ValidationError" {
		t.Fatalf("error = %T %v, want *types.ValidationException with code ValidationError", err, err)
	}
}

func TestNewAlarm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustPutAlarm(t, e, with(metricAlarmInput("orders-prod-failures"), func(in *awscw.PutMetricAlarmInput) {
		in.AlarmDescription = aws.String("failures")
		in.Dimensions = []types.Dimension{{Name: aws.String("StateMachineArn"), Value: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:orders")}}
		in.AlarmActions = []string{"arn:aws:sns:us-east-1:000000000000:ops"}
		in.TreatMissingData = aws.String("notBreaching")
		in.DatapointsToAlarm = aws.Int32(1)
	}))
	out, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{AlarmNames: []string{"orders-prod-failures"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 1 {
		t.Fatalf("MetricAlarms = %d, want 1", len(out.MetricAlarms))
	}
	a := out.MetricAlarms[0]
	checks := []struct{ name, got, want string }{
		{"AlarmArn", aws.ToString(a.AlarmArn), "arn:aws:cloudwatch:us-east-1:000000000000:alarm:orders-prod-failures"},
		{"StateValue", string(a.StateValue), "INSUFFICIENT_DATA"},
		{"StateReason", aws.ToString(a.StateReason), "Unchecked: Initial alarm creation"},
		{"AlarmDescription", aws.ToString(a.AlarmDescription), "failures"},
		{"TreatMissingData", aws.ToString(a.TreatMissingData), "notBreaching"},
		{"Statistic", string(a.Statistic), "Sum"},
		{"ComparisonOperator", string(a.ComparisonOperator), "GreaterThanOrEqualToThreshold"},
		{"Dimension", aws.ToString(a.Dimensions[0].Name) + "=" + aws.ToString(a.Dimensions[0].Value), "StateMachineArn=arn:aws:states:us-east-1:000000000000:stateMachine:orders"},
		{"AlarmActions", a.AlarmActions[0], "arn:aws:sns:us-east-1:000000000000:ops"},
		{"Period", strconv.Itoa(int(aws.ToInt32(a.Period))), "60"},
		{"DatapointsToAlarm", strconv.Itoa(int(aws.ToInt32(a.DatapointsToAlarm))), "1"},
		{"ActionsEnabled", strconv.FormatBool(aws.ToBool(a.ActionsEnabled)), "true"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if a.StateUpdatedTimestamp == nil || a.StateUpdatedTimestamp.IsZero() || a.AlarmConfigurationUpdatedTimestamp == nil {
		t.Errorf("timestamps missing: %v %v", a.StateUpdatedTimestamp, a.AlarmConfigurationUpdatedTimestamp)
	}
	if len(e.bus.all()) != 0 {
		t.Errorf("creating an alarm emitted %d events, want none", len(e.bus.all()))
	}
}

func TestDescribeAlarms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"orders-failures", "orders-latency", "payments-failures"} {
		mustPutAlarm(t, e, metricAlarmInput(name))
	}
	mustPutComposite(t, e, "orders-health", "ALARM(orders-failures) OR ALARM(orders-latency)")
	if _, err := e.client.SetAlarmState(ctx, &awscw.SetAlarmStateInput{AlarmName: aws.String("orders-latency"), StateValue: types.StateValueAlarm, StateReason: aws.String("test")}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		in            awscw.DescribeAlarmsInput
		wantMetric    []string
		wantComposite []string
	}{
		{name: "no filter: metric alarms only", wantMetric: []string{"orders-failures", "orders-latency", "payments-failures"}},
		{name: "names without types: the composite is left out", in: awscw.DescribeAlarmsInput{AlarmNames: []string{"orders-health", "orders-failures"}}, wantMetric: []string{"orders-failures"}},
		{name: "names that do not exist are simply absent", in: awscw.DescribeAlarmsInput{AlarmNames: []string{"orders-failures", "nope", "gone"}}, wantMetric: []string{"orders-failures"}},
		{name: "only names that do not exist", in: awscw.DescribeAlarmsInput{AlarmNames: []string{"nope"}}},
		{
			name:          "both types",
			in:            awscw.DescribeAlarmsInput{AlarmNames: []string{"orders-health", "orders-failures", "nope"}, AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}},
			wantMetric:    []string{"orders-failures"},
			wantComposite: []string{"orders-health"},
		},
		{name: "composite only", in: awscw.DescribeAlarmsInput{AlarmTypes: []types.AlarmType{types.AlarmTypeCompositeAlarm}}, wantComposite: []string{"orders-health"}},
		{name: "prefix", in: awscw.DescribeAlarmsInput{AlarmNamePrefix: aws.String("orders-")}, wantMetric: []string{"orders-failures", "orders-latency"}},
		{
			name:          "state",
			in:            awscw.DescribeAlarmsInput{StateValue: types.StateValueAlarm, AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}},
			wantMetric:    []string{"orders-latency"},
			wantComposite: []string{"orders-health"},
		},
		{name: "children of a composite", in: awscw.DescribeAlarmsInput{ChildrenOfAlarmName: aws.String("orders-health")}, wantMetric: []string{"orders-failures", "orders-latency"}},
		{name: "parents of an alarm", in: awscw.DescribeAlarmsInput{ParentsOfAlarmName: aws.String("orders-latency")}, wantComposite: []string{"orders-health"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.client.DescribeAlarms(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var gotMetric, gotComposite []string
			for _, a := range out.MetricAlarms {
				gotMetric = append(gotMetric, aws.ToString(a.AlarmName))
			}
			for _, a := range out.CompositeAlarms {
				gotComposite = append(gotComposite, aws.ToString(a.AlarmName))
				if aws.ToString(a.AlarmRule) == "" || aws.ToString(a.AlarmArn) != "arn:aws:cloudwatch:us-east-1:000000000000:alarm:"+aws.ToString(a.AlarmName) {
					t.Errorf("composite %s: rule %q, arn %q", aws.ToString(a.AlarmName), aws.ToString(a.AlarmRule), aws.ToString(a.AlarmArn))
				}
			}
			if !slices.Equal(gotMetric, tc.wantMetric) || !slices.Equal(gotComposite, tc.wantComposite) {
				t.Errorf("metric %v composite %v, want %v %v", gotMetric, gotComposite, tc.wantMetric, tc.wantComposite)
			}
		})
	}
}

func TestDescribeAlarmsPages(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 7 {
		name := "alarm-" + strconv.Itoa(i)
		want = append(want, name)
		mustPutAlarm(t, e, metricAlarmInput(name))
	}
	p := awscw.NewDescribeAlarmsPaginator(e.client, &awscw.DescribeAlarmsInput{MaxRecords: aws.Int32(3)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.MetricAlarms {
			got = append(got, aws.ToString(a.AlarmName))
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("got %v in %d pages, want %v in 3", got, pages, want)
	}
}

func TestDeleteAlarms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustPutAlarm(t, e, metricAlarmInput("child"))
	mustPutComposite(t, e, "parent", "ALARM(child)")
	// Deleting the composite with its child, and a name that never existed, is fine.
	if _, err := e.client.DeleteAlarms(ctx, &awscw.DeleteAlarmsInput{AlarmNames: []string{"child", "parent", "never-was"}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms)+len(out.CompositeAlarms) != 0 {
		t.Errorf("alarms left: %d metric, %d composite", len(out.MetricAlarms), len(out.CompositeAlarms))
	}
}

// Throttling injected at rate 1 on DescribeAlarms reaches the SDK, which retries it as it
// retries AWS's throttling: three attempts, then the error.
func TestFaultInjection(t *testing.T) {
	tests := []struct {
		name         string
		fault        string
		status       int
		wantAttempts int64
		code         string
		message      string
	}{
		{name: "throttling", fault: "ThrottlingException", wantAttempts: 3, code: "ThrottlingException", message: "Rate exceeded"},
		{name: "server error", fault: "InternalServerError", status: 500, wantAttempts: 3, code: "InternalServerError", message: "Rate exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withAttempts(3))
			ctx := context.Background()
			mustPutAlarm(t, e, metricAlarmInput("a"))
			e.faults.Set([]faultSpec{{Service: "monitoring", Operation: "DescribeAlarms", Code: tc.fault, Status: tc.status, Rate: 1}})
			before := e.requests.Load()
			_, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{})
			wantAPIError(t, err, tc.code, tc.message)
			if got := e.requests.Load() - before; got != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tc.wantAttempts)
			}
			// Other operations go through.
			if _, err := e.client.SetAlarmState(ctx, &awscw.SetAlarmStateInput{AlarmName: aws.String("a"), StateValue: types.StateValueOk, StateReason: aws.String("x")}); err != nil {
				t.Errorf("SetAlarmState: %v", err)
			}
			e.faults.Set(nil)
			if _, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{}); err != nil {
				t.Errorf("DescribeAlarms after the fault is lifted: %v", err)
			}
		})
	}
}
