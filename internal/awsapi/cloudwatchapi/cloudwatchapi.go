// Package cloudwatchapi implements the controller's Alarms and Metrics ports over
// aws-sdk-go-v2's CloudWatch client.
package cloudwatchapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// AlarmsAPI is the part of *cloudwatch.Client that Alarms uses.
type AlarmsAPI interface {
	DescribeAlarms(ctx context.Context, params *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	DescribeAlarmHistory(ctx context.Context, params *cloudwatch.DescribeAlarmHistoryInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmHistoryOutput, error)
}

// MetricsAPI is the part of *cloudwatch.Client that Metrics uses.
type MetricsAPI interface {
	GetMetricData(ctx context.Context, params *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

var (
	_ AlarmsAPI  = (*cloudwatch.Client)(nil)
	_ MetricsAPI = (*cloudwatch.Client)(nil)
)

// Alarms is the controller.Alarms port over CloudWatch alarms, metric and composite alike.
type Alarms struct{ api AlarmsAPI }

var _ controller.Alarms = (*Alarms)(nil)

// NewAlarms returns the adapter; it makes no call.
func NewAlarms(api AlarmsAPI) *Alarms { return &Alarms{api: api} }

// maxAlarmNames is how many names one DescribeAlarms call takes.
const maxAlarmNames = 100

// States returns the state of each named alarm that exists. Names absent from the answer
// are absent from the map: the caller tells a missing alarm from an OK one.
func (a *Alarms) States(ctx context.Context, names []string) (map[string]rollout.AlarmState, error) {
	statuses, err := a.Statuses(ctx, names)
	if err != nil {
		return nil, err
	}
	states := make(map[string]rollout.AlarmState, len(statuses))
	for name, s := range statuses {
		states[name] = s.State
	}
	return states, nil
}

// Statuses is States with each alarm's StateTransitionedTimestamp.
func (a *Alarms) Statuses(ctx context.Context, names []string) (map[string]controller.AlarmStatus, error) {
	statuses := make(map[string]controller.AlarmStatus, len(names))
	for start := 0; start < len(names); start += maxAlarmNames {
		batch := names[start:min(start+maxAlarmNames, len(names))]
		if err := a.describe(ctx, batch, statuses); err != nil {
			return nil, err
		}
	}
	return statuses, nil
}

func (a *Alarms) describe(ctx context.Context, names []string, states map[string]controller.AlarmStatus) error {
	in := &cloudwatch.DescribeAlarmsInput{
		AlarmNames: names,
		// Without AlarmTypes, DescribeAlarms answers with metric alarms only, and a
		// composite alarm would read as missing.
		AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm},
	}
	for {
		out, err := a.api.DescribeAlarms(ctx, in)
		if err != nil {
			return awsapi.Classify(fmt.Sprintf("describe alarms %s", strings.Join(names, " ")), err)
		}
		for _, m := range out.MetricAlarms {
			states[aws.ToString(m.AlarmName)] = controller.AlarmStatus{State: alarmState(m.StateValue), TransitionedAt: aws.ToTime(m.StateTransitionedTimestamp)}
		}
		for _, c := range out.CompositeAlarms {
			states[aws.ToString(c.AlarmName)] = controller.AlarmStatus{State: alarmState(c.StateValue), TransitionedAt: aws.ToTime(c.StateTransitionedTimestamp)}
		}
		if aws.ToString(out.NextToken) == "" {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// History returns the alarm's state changes from from to to, oldest first, over every page
// of DescribeAlarmHistory (StateUpdate items). HistoryData is JSON with
// oldState/newState {stateValue, stateReason}; an item whose data does not say both states
// is an error, never skipped, since it may be the ALARM the caller looks for.
func (a *Alarms) History(ctx context.Context, name string, from, to time.Time) ([]controller.AlarmTransition, error) {
	in := &cloudwatch.DescribeAlarmHistoryInput{
		AlarmName: aws.String(name),
		// As with DescribeAlarms, only metric alarms come back without AlarmTypes.
		AlarmTypes:      []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm},
		HistoryItemType: types.HistoryItemTypeStateUpdate,
		StartDate:       aws.Time(from),
		EndDate:         aws.Time(to),
		ScanBy:          types.ScanByTimestampAscending,
		MaxRecords:      aws.Int32(100),
	}
	var out []controller.AlarmTransition
	for {
		page, err := a.api.DescribeAlarmHistory(ctx, in)
		if err != nil {
			return nil, awsapi.Classify("describe alarm history of "+name, err)
		}
		for _, item := range page.AlarmHistoryItems {
			tr, err := transition(item)
			if err != nil {
				return nil, fmt.Errorf("history of alarm %s: %w", name, err)
			}
			out = append(out, tr)
		}
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	slices.SortStableFunc(out, func(a, b controller.AlarmTransition) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// historyData is the part of a StateUpdate item's HistoryData that History reads.
type historyData struct {
	OldState struct {
		StateValue string `json:"stateValue"`
	} `json:"oldState"`
	NewState struct {
		StateValue string `json:"stateValue"`
	} `json:"newState"`
}

func transition(item types.AlarmHistoryItem) (controller.AlarmTransition, error) {
	var d historyData
	if err := json.Unmarshal([]byte(aws.ToString(item.HistoryData)), &d); err != nil || d.NewState.StateValue == "" || item.Timestamp == nil {
		return controller.AlarmTransition{}, fmt.Errorf("state update at %v without its states: %q", aws.ToTime(item.Timestamp), aws.ToString(item.HistoryData))
	}
	return controller.AlarmTransition{
		Time: aws.ToTime(item.Timestamp),
		From: alarmState(types.StateValue(d.OldState.StateValue)),
		To:   alarmState(types.StateValue(d.NewState.StateValue)),
	}, nil
}

// alarmState maps CloudWatch's state values, which are spelled as rollout.AlarmState's.
// A value CloudWatch may add later passes through as it is, and reads as not OK.
func alarmState(v types.StateValue) rollout.AlarmState {
	switch v {
	case types.StateValueOk:
		return rollout.AlarmOK
	case types.StateValueAlarm:
		return rollout.AlarmAlarm
	case types.StateValueInsufficientData:
		return rollout.AlarmInsufficientData
	}
	return rollout.AlarmState(v)
}

// Metrics is the controller.Metrics port over the AWS/States execution metrics.
type Metrics struct{ api MetricsAPI }

var _ controller.Metrics = (*Metrics)(nil)

// NewMetrics returns the adapter; it makes no call.
func NewMetrics(api MetricsAPI) *Metrics { return &Metrics{api: api} }

const (
	namespace = "AWS/States"
	period    = 60 // AWS/States metrics are one-minute metrics
)

// The queries of VersionCounts, by GetMetricData query id.
var versionMetrics = []struct{ id, metric string }{
	{"started", "ExecutionsStarted"},
	{"failed", "ExecutionsFailed"},
	{"timedout", "ExecutionsTimedOut"},
	{"aborted", "ExecutionsAborted"},
}

// VersionCounts sums one version's ExecutionsStarted, and its ExecutionsFailed +
// ExecutionsTimedOut + ExecutionsAborted, over whole minutes from from (rounded down) to
// to (rounded up), in one GetMetricData walk.
//
// The dimensions are {StateMachineArn: the plain state machine ARN, Version: the version
// number}. The Step Functions developer guide (CloudWatch metrics, "Dimensions for
// executions with version") lists exactly these two: StateMachineArn, "the state machine
// whose execution was started by a version", and Version, "state machine version used to
// start the execution"; executions started through an alias get {StateMachineArn, Alias}.
// Two things the guide does not settle (unconfirmed): that Version holds the number (the
// last field of the version ARN) rather than the whole version ARN, and that an execution
// started through an alias is also counted under the Version it was routed to. Both are
// what AWS_BEHAVIOUR.md states, and the local endpoint must emit the same.
// Sum, not SampleCount: ExecutionsStarted is emitted twice per execution (1, then 0).
func (m *Metrics) VersionCounts(ctx context.Context, stateMachineArn, versionArn string, from, to time.Time) (started, failed int64, err error) {
	version, err := versionNumber(versionArn)
	if err != nil {
		return 0, 0, err
	}
	start, end := minuteBounds(from, to)
	in := &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		MetricDataQueries: versionQueries(stateMachineArn, version),
	}
	sums := map[string]float64{}
	for {
		out, err := m.api.GetMetricData(ctx, in)
		if err != nil {
			return 0, 0, awsapi.Classify("get metrics of "+versionArn, err)
		}
		for _, r := range out.MetricDataResults {
			for _, v := range r.Values {
				sums[aws.ToString(r.Id)] += v
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return count(sums["started"]), count(sums["failed"] + sums["timedout"] + sums["aborted"]), nil
}

// maxQueries is GetMetricData's limit of queries in one call.
const maxQueries = 500

// ManyVersionCounts is VersionCounts of many versions, in as few GetMetricData calls as
// their queries fit in (four per version, 500 a call). One call has one time window: the
// widest of its versions' windows, in whole minutes; each version sums only the one-minute
// points inside its own window, as VersionCounts does.
func (m *Metrics) ManyVersionCounts(ctx context.Context, qs []controller.CountsQuery) ([]controller.Counts, error) {
	out := make([]controller.Counts, len(qs))
	per := len(versionMetrics)
	for first := 0; first < len(qs); first += maxQueries / per {
		batch := qs[first:min(first+maxQueries/per, len(qs))]
		if err := m.countBatch(ctx, batch, out[first:first+len(batch)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (m *Metrics) countBatch(ctx context.Context, qs []controller.CountsQuery, out []controller.Counts) error {
	type window struct{ start, end time.Time }
	windows := make([]window, len(qs))
	in := &cloudwatch.GetMetricDataInput{}
	for i, q := range qs {
		version, err := versionNumber(q.VersionArn)
		if err != nil {
			return err
		}
		start, end := minuteBounds(q.From, q.To)
		windows[i] = window{start, end}
		if in.StartTime == nil || start.Before(*in.StartTime) {
			in.StartTime = aws.Time(start)
		}
		if in.EndTime == nil || end.After(*in.EndTime) {
			in.EndTime = aws.Time(end)
		}
		for _, mq := range versionQueries(q.StateMachineArn, version) {
			mq.Id = aws.String(fmt.Sprintf("%s_%d", aws.ToString(mq.Id), i))
			in.MetricDataQueries = append(in.MetricDataQueries, mq)
		}
	}
	for {
		res, err := m.api.GetMetricData(ctx, in)
		if err != nil {
			return awsapi.Classify(fmt.Sprintf("get metrics of %d versions", len(qs)), err)
		}
		for _, r := range res.MetricDataResults {
			id, n, ok := strings.Cut(aws.ToString(r.Id), "_")
			i, err := strconv.Atoi(n)
			if !ok || err != nil || i < 0 || i >= len(qs) {
				continue
			}
			var sum float64
			for j, v := range r.Values {
				if j < len(r.Timestamps) {
					if t := r.Timestamps[j]; t.Before(windows[i].start) || !t.Before(windows[i].end) {
						continue
					}
				}
				sum += v
			}
			if id == "started" {
				out[i].Started += count(sum)
			} else {
				out[i].Failed += count(sum)
			}
		}
		if aws.ToString(res.NextToken) == "" {
			return nil
		}
		in.NextToken = res.NextToken
	}
}

func versionQueries(stateMachineArn, version string) []types.MetricDataQuery {
	queries := make([]types.MetricDataQuery, 0, len(versionMetrics))
	for _, q := range versionMetrics {
		queries = append(queries, types.MetricDataQuery{
			Id: aws.String(q.id),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{
					Namespace:  aws.String(namespace),
					MetricName: aws.String(q.metric),
					Dimensions: []types.Dimension{
						{Name: aws.String("StateMachineArn"), Value: aws.String(stateMachineArn)},
						{Name: aws.String("Version"), Value: aws.String(version)},
					},
				},
				Period: aws.Int32(period),
				Stat:   aws.String("Sum"),
			},
			ReturnData: aws.Bool(true),
		})
	}
	return queries
}

// versionNumber is N of arn:…:stateMachine:<name>:<N>.
func versionNumber(versionArn string) (string, error) {
	i := strings.LastIndexByte(versionArn, ':')
	n := versionArn[i+1:]
	if _, err := strconv.ParseUint(n, 10, 64); i < 0 || err != nil {
		return "", fmt.Errorf("%q is not a state machine version ARN (…:stateMachine:<name>:<N>)", versionArn)
	}
	return n, nil
}

// minuteBounds aligns a window on whole minutes, never empty, as one-minute periods need.
func minuteBounds(from, to time.Time) (time.Time, time.Time) {
	start := from.UTC().Truncate(time.Minute)
	end := to.UTC().Truncate(time.Minute)
	if end.Before(to) {
		end = end.Add(time.Minute)
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	return start, end
}

func count(sum float64) int64 { return int64(math.Round(sum)) }
