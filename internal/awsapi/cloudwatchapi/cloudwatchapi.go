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
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

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

// ExecutionsAPI is the part of *sfn.Client that Metrics uses to cross-check metrics that
// say nothing.
type ExecutionsAPI interface {
	ListExecutions(ctx context.Context, params *sfn.ListExecutionsInput, optFns ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
}

var _ ExecutionsAPI = (*sfn.Client)(nil)

// Metrics is the controller.Metrics port over the AWS/States execution metrics.
type Metrics struct {
	api        MetricsAPI
	executions ExecutionsAPI
}

var _ controller.Metrics = (*Metrics)(nil)

// NewMetrics returns the adapter; it makes no call.
func NewMetrics(api MetricsAPI) *Metrics { return &Metrics{api: api} }

// WithExecutions has the adapter cross-check with ListExecutions a version whose metrics
// say nothing while its state machine's say executions ran (see ManyVersionCounts).
func (m *Metrics) WithExecutions(api ExecutionsAPI) *Metrics {
	m.executions = api
	return m
}

const (
	namespace = "AWS/States"
	period    = 60 // AWS/States metrics are one-minute metrics
)

// The metrics of a version's counts, by GetMetricData query id prefix.
var versionMetrics = []struct{ id, metric string }{
	{"started", "ExecutionsStarted"},
	{"succeeded", "ExecutionsSucceeded"},
	{"failed", "ExecutionsFailed"},
	{"timedout", "ExecutionsTimedOut"},
	{"aborted", "ExecutionsAborted"},
}

// formLetters are the Version dimension's forms, in query order, by the letter in a query id.
var formLetters = []struct {
	letter string
	form   rollout.MetricsForm
}{{"n", rollout.MetricsFormNumber}, {"a", rollout.MetricsFormArn}}

// machineStarted is the query id prefix of the state machine's own ExecutionsStarted,
// {StateMachineArn} alone: whether executions ran at all.
const machineStarted = "machine"

// VersionCounts is ManyVersionCounts of one version.
func (m *Metrics) VersionCounts(ctx context.Context, q controller.CountsQuery) (controller.Counts, error) {
	out, err := m.ManyVersionCounts(ctx, []controller.CountsQuery{q})
	if err != nil {
		return controller.Counts{}, err
	}
	return out[0], nil
}

// maxQueries is GetMetricData's limit of queries in one call.
const maxQueries = 500

// ManyVersionCounts counts each version's executions over whole minutes from From
// (rounded down) to To (rounded up): ExecutionsStarted; the closed ones,
// ExecutionsSucceeded + Failed + TimedOut + Aborted; and of those Failed + TimedOut +
// Aborted. It makes as few GetMetricData calls as the queries fit in (500 a call). One call
// has one time window, the widest of its versions'; each version sums only the one-minute
// points inside its own window.
//
// The dimensions are {StateMachineArn: the plain state machine ARN, Version: …}. The Step
// Functions developer guide (CloudWatch metrics, "Dimensions for executions with version")
// lists exactly these two, and that an alias start is also counted under the version it
// was routed to, but not whether Version holds the number ("3") or the whole version ARN.
// So a query whose Form is unknown asks for both, and the answer says which had data; the
// controller records it on the rollout and asks for that form alone from then on.
//
// AWS/States metrics are best-effort. When the version's series say nothing of closed
// executions while the state machine's own ExecutionsStarted says executions ran, and the
// adapter has WithExecutions, and the state machine is not EXPRESS (q.Express: Step
// Functions keeps no list of Express executions), the version's executions are counted with ListExecutions
// (one page, newest first, those started in the window) instead, and the answer says so.
// At most maxCrossChecks versions a call are cross-checked, and a cross-check that fails
// (throttled, denied) leaves the metrics' answer: ListExecutions' bucket is small and
// shared with the account, and a version with no counts is held as inconclusive, never
// passed, so a missing cross-check delays a judgement and never fails the others'.
// Sum, not SampleCount: ExecutionsStarted may be emitted more than once per execution.
func (m *Metrics) ManyVersionCounts(ctx context.Context, qs []controller.CountsQuery) ([]controller.Counts, error) {
	out := make([]controller.Counts, len(qs))
	crossChecks := maxCrossChecks
	for first := 0; first < len(qs); {
		size, n := 0, 0
		for first+n < len(qs) && size+m.queriesOf(qs[first+n]) <= maxQueries {
			size += m.queriesOf(qs[first+n])
			n++
		}
		if err := m.countBatch(ctx, qs[first:first+n], out[first:first+n], &crossChecks); err != nil {
			return nil, err
		}
		first += n
	}
	return out, nil
}

// queriesOf is how many GetMetricData queries q takes.
func (m *Metrics) queriesOf(q controller.CountsQuery) int {
	n := len(versionMetrics)
	if q.Form == "" {
		n *= len(formLetters)
	}
	if m.crossChecks(q) {
		n++
	}
	return n
}

// crossChecks says whether q's version may be counted with ListExecutions when its metrics
// say nothing: not for an Express state machine, whose executions Step Functions does not
// list (StateMachineTypeNotSupported).
func (m *Metrics) crossChecks(q controller.CountsQuery) bool {
	return m.executions != nil && !q.Express
}

// series keys one version's sums: its index in the batch, the form's letter ("x" for the
// state machine's own series), and the metric's id prefix ("" for any metric).
type series struct {
	i            int
	form, metric string
}

// maxCrossChecks bounds the ListExecutions calls of one ManyVersionCounts: ListExecutions
// refills at 5 a second for the whole account (2 in the smaller regions).
const maxCrossChecks = 20

func (m *Metrics) countBatch(ctx context.Context, qs []controller.CountsQuery, out []controller.Counts, crossChecks *int) error {
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
		for _, f := range formLetters {
			if q.Form != "" && q.Form != f.form {
				continue
			}
			value := version
			if f.form == rollout.MetricsFormArn {
				value = q.VersionArn
			}
			for _, vm := range versionMetrics {
				in.MetricDataQueries = append(in.MetricDataQueries, sumQuery(fmt.Sprintf("%s_%s_%d", vm.id, f.letter, i), vm.metric,
					types.Dimension{Name: aws.String("StateMachineArn"), Value: aws.String(q.StateMachineArn)},
					types.Dimension{Name: aws.String("Version"), Value: aws.String(value)}))
			}
		}
		if m.crossChecks(q) {
			in.MetricDataQueries = append(in.MetricDataQueries, sumQuery(fmt.Sprintf("%s_x_%d", machineStarted, i), "ExecutionsStarted",
				types.Dimension{Name: aws.String("StateMachineArn"), Value: aws.String(q.StateMachineArn)}))
		}
	}
	sums := map[series]float64{}
	for {
		res, err := m.api.GetMetricData(ctx, in)
		if err != nil {
			return awsapi.Classify(fmt.Sprintf("get metrics of %d versions", len(qs)), err)
		}
		for _, r := range res.MetricDataResults {
			parts := strings.Split(aws.ToString(r.Id), "_")
			if len(parts) != 3 {
				continue
			}
			i, err := strconv.Atoi(parts[2])
			if err != nil || i < 0 || i >= len(qs) {
				continue
			}
			for j, v := range r.Values {
				if j < len(r.Timestamps) {
					if t := r.Timestamps[j]; t.Before(windows[i].start) || !t.Before(windows[i].end) {
						continue
					}
				}
				sums[series{i, parts[1], parts[0]}] += v
				sums[series{i, parts[1], ""}]++ // the form's series has a point in the window
			}
		}
		if aws.ToString(res.NextToken) == "" {
			break
		}
		in.NextToken = res.NextToken
	}
	for i, q := range qs {
		var c controller.Counts
		if letter, form := pickForm(q.Form, i, sums); letter != "" {
			get := func(metric string) int64 { return count(sums[series{i, letter, metric}]) }
			c = controller.Counts{
				Started:   get("started"),
				Closed:    get("succeeded") + get("failed") + get("timedout") + get("aborted"),
				Failed:    get("failed") + get("timedout") + get("aborted"),
				Succeeded: get("succeeded"),
				TimedOut:  get("timedout"),
				Aborted:   get("aborted"),
				Form:      form,
			}
		}
		if c.Closed == 0 && m.crossChecks(q) && *crossChecks > 0 && count(sums[series{i, "x", machineStarted}]) > 0 {
			*crossChecks--
			listed, err := m.listExecutions(ctx, q)
			if err == nil && listed.Closed > 0 {
				listed.Form = c.Form
				c = listed
			}
		}
		out[i] = c
	}
	return nil
}

// pickForm is the form to read version i's counts from: the known one, else the one whose
// series had points (the one with more starts, should both have), else none.
func pickForm(known rollout.MetricsForm, i int, sums map[series]float64) (string, rollout.MetricsForm) {
	best, bestForm, bestStarted := "", rollout.MetricsForm(""), -1.0
	for _, f := range formLetters {
		switch {
		case known == f.form:
			return f.letter, f.form
		case known != "" || sums[series{i, f.letter, ""}] == 0:
			continue
		}
		if started := sums[series{i, f.letter, "started"}]; started > bestStarted {
			best, bestForm, bestStarted = f.letter, f.form, started
		}
	}
	return best, bestForm
}

func sumQuery(id, metric string, dims ...types.Dimension) types.MetricDataQuery {
	return types.MetricDataQuery{
		Id: aws.String(id),
		MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(namespace), MetricName: aws.String(metric), Dimensions: dims},
			Period: aws.Int32(period),
			Stat:   aws.String("Sum"),
		},
		ReturnData: aws.Bool(true),
	}
}

// maxListed is how many of a version's executions the cross-check reads: ListExecutions'
// largest page, one call.
const maxListed = 1000

// listExecutions counts the version's executions started in q's window from one page of
// ListExecutions on the version ARN (newest first).
func (m *Metrics) listExecutions(ctx context.Context, q controller.CountsQuery) (controller.Counts, error) {
	out, err := m.executions.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(q.VersionArn), MaxResults: maxListed})
	if err != nil {
		return controller.Counts{}, awsapi.Classify("list executions of "+q.VersionArn, err)
	}
	c := controller.Counts{FromExecutions: true}
	for _, e := range out.Executions {
		started := aws.ToTime(e.StartDate)
		if started.Before(q.From) || started.After(q.To) {
			continue
		}
		c.Started++
		switch e.Status {
		case sfntypes.ExecutionStatusSucceeded:
			c.Closed++
			c.Succeeded++
		case sfntypes.ExecutionStatusFailed, sfntypes.ExecutionStatusTimedOut, sfntypes.ExecutionStatusAborted:
			c.Closed++
			c.Failed++
			switch e.Status {
			case sfntypes.ExecutionStatusTimedOut:
				c.TimedOut++
			case sfntypes.ExecutionStatusAborted:
				c.Aborted++
			}
		}
	}
	return c, nil
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
