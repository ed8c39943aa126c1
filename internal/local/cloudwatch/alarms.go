package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Alarm states.
const (
	stateOK           = "OK"
	stateAlarm        = "ALARM"
	stateInsufficient = "INSUFFICIENT_DATA"
)

const initialReason = "Unchecked: Initial alarm creation"

// alarm is a metric or composite alarm, its configuration and its state.
type alarm struct {
	name, arn               string
	composite               bool
	description             string
	actionsEnabled          bool
	okActions, alarmActions []string
	insufficientDataActions []string
	configUpdated           time.Time

	state, reason, reasonData       string
	stateUpdated, stateTransitioned time.Time

	// Metric alarm: one metric and statistic, or metric math (metrics).
	namespace, metricName, statistic, unit string
	dims                                   []dimension
	period                                 int64
	evaluationPeriods, datapointsToAlarm   int
	datapointsSet                          bool
	threshold                              float64
	comparison                             string
	treatMissing                           string // as given; "" means missing
	metrics                                []metricDataQuery
	parsed                                 map[int]mathNode
	configID                               string // the id of the metric in the event's configuration
	seriesKey                              string // the metric's key in the store

	// Composite alarm.
	rule     string
	ruleNode ruleNode
	children []string

	history []alarmHistoryItem
}

func (a *alarm) kind() string {
	if a.composite {
		return "CompositeAlarm"
	}
	return "MetricAlarm"
}

func (a *alarm) treatment() string {
	if a.treatMissing == "" {
		return "missing"
	}
	return a.treatMissing
}

const maxHistory = 100 // kept per alarm

func (a *alarm) record(now time.Time, itemType, summary, data string) {
	a.history = append(a.history, alarmHistoryItem{
		AlarmName: a.name, AlarmType: a.kind(), Timestamp: epochOf(now),
		HistoryItemType: itemType, HistorySummary: summary, HistoryData: data,
	})
	if len(a.history) > maxHistory {
		a.history = slices.Delete(a.history, 0, len(a.history)-maxHistory)
	}
}

var comparisonOperators = []string{
	"GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold",
	"LessThanOrEqualToThreshold", "LessThanLowerOrGreaterThanUpperThreshold",
	"LessThanLowerThreshold", "GreaterThanUpperThreshold",
}

var treatments = []string{"breaching", "notBreaching", "ignore", "missing"}

// enumError is the message AWS's request validation gives for a value outside an enum
// ("1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint:
// Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", LocalStack's snapshot
// of AWS).
func enumError(value, member string, set []string) *core.APIError {
	return apiError("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", value, member, strings.Join(set, ", "))
}

func lengthError(value, member string, limit int) *core.APIError {
	return apiError("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", value, member, limit)
}

func checkAlarmName(name string) *core.APIError {
	if name == "" {
		return apiError("ValidationError", "1 validation error detected: Value null at 'alarmName' failed to satisfy constraint: Member must not be null")
	}
	if len(name) > 255 {
		return lengthError(name, "alarmName", 255)
	}
	return nil
}

func unsupported(format string, args ...any) *core.APIError {
	return apiError("InvalidParameterValue", "sfn-rollout local does not support "+format, args...)
}

// checkAlarmPeriod is PutMetricAlarm's rule; the message is AWS's (awsdocs/
// aws-cloudformation-user-guide#777: "Period must be 10, 30 or a multiple of 60").
func checkAlarmPeriod(p int32) *core.APIError {
	if p != 10 && p != 30 && (p <= 0 || p%60 != 0) {
		return apiError("ValidationError", "Period must be 10, 30 or a multiple of 60")
	}
	return nil
}

// putMetricAlarm checks the request, builds the alarm and stores it: a new alarm starts in
// INSUFFICIENT_DATA, an updated one keeps its state.
func (s *Service) putMetricAlarm(ctx context.Context, in *putMetricAlarmInput) (any, *core.APIError) {
	n, m, err := checkMetricAlarm(in)
	if err != nil {
		return nil, err
	}
	a := newMetricAlarm(in, n, m)
	if len(in.Metrics) > 0 {
		err = s.setMetricMath(a, in)
	} else {
		err = setSingleMetric(a, in)
	}
	if err != nil {
		return nil, err
	}
	if err := s.storeMetricAlarm(a); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// checkMetricAlarm refuses what PutMetricAlarm refuses of the fields every metric alarm has,
// and answers its EvaluationPeriods (n) and DatapointsToAlarm (m, n when absent).
func checkMetricAlarm(in *putMetricAlarmInput) (n, m int, err *core.APIError) {
	if err := checkAlarmName(in.AlarmName); err != nil {
		return 0, 0, err
	}
	switch {
	case in.EvaluationCriteria != nil, in.EvaluationWindow != nil, in.EvaluationInterval != nil:
		return 0, 0, unsupported("PromQL alarms (EvaluationCriteria, EvaluationWindow, EvaluationInterval)")
	case in.ThresholdMetricId != "":
		return 0, 0, unsupported("anomaly detection alarms (ThresholdMetricId)")
	case in.ActionConfiguration != nil, in.WarmUpConfiguration != nil:
		return 0, 0, unsupported("ActionConfiguration or WarmUpConfiguration")
	case in.ExtendedStatistic != "":
		return 0, 0, unsupported("ExtendedStatistic (percentiles and other extended statistics); use Statistic: %s", strings.Join(statistics, ", "))
	}
	if in.AlarmDescription != nil && len(*in.AlarmDescription) > 1024 {
		return 0, 0, lengthError(*in.AlarmDescription, "alarmDescription", 1024)
	}
	if in.ComparisonOperator == "" {
		return 0, 0, apiError("ValidationError", "1 validation error detected: Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null")
	}
	if !slices.Contains(comparisonOperators, in.ComparisonOperator) {
		return 0, 0, enumError(in.ComparisonOperator, "comparisonOperator", comparisonOperators)
	}
	if strings.Contains(in.ComparisonOperator, "Lower") || strings.Contains(in.ComparisonOperator, "Upper") {
		return 0, 0, unsupported("the ComparisonOperator %s (anomaly detection bands)", in.ComparisonOperator)
	}
	if in.EvaluationPeriods == nil {
		return 0, 0, apiError("ValidationError", "1 validation error detected: Value null at 'evaluationPeriods' failed to satisfy constraint: Member must not be null")
	}
	n = int(*in.EvaluationPeriods)
	if n < 1 {
		return 0, 0, apiError("ValidationError", "1 validation error detected: Value '%d' at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
	}
	m = n
	if in.DatapointsToAlarm != nil {
		m = int(*in.DatapointsToAlarm)
		if m < 1 {
			return 0, 0, apiError("ValidationError", "1 validation error detected: Value '%d' at 'datapointsToAlarm' failed to satisfy constraint: Member must have value greater than or equal to 1", m)
		}
		// hashicorp/terraform#24070 quotes AWS's answer.
		if m > n {
			return 0, 0, apiError("ValidationError", "DatapointsToAlarm must be less than or equal to EvaluationPeriods")
		}
	}
	if in.Threshold == nil {
		return 0, 0, apiError("ValidationError", "Comparisons with a static threshold require a Threshold") // (unconfirmed)
	}
	if in.TreatMissingData != "" && !slices.Contains(treatments, in.TreatMissingData) {
		// LocalStack's message (its test of AWS's answer is not recorded): unconfirmed.
		return 0, 0, apiError("ValidationError", "The value %s is not supported for TreatMissingData parameter. Supported values are [breaching, notBreaching, ignore, missing].", in.TreatMissingData)
	}
	if in.Unit != "" && !standardUnits[in.Unit] {
		return 0, 0, apiError("InvalidParameterValue", "The parameter Unit must be a value in the set [%s].", unitList())
	}
	return n, m, nil
}

// newMetricAlarm is the alarm of a checked request, before its metric is set.
func newMetricAlarm(in *putMetricAlarmInput, n, m int) *alarm {
	a := &alarm{
		name: in.AlarmName, arn: alarmArnPrefix + in.AlarmName,
		actionsEnabled: in.ActionsEnabled == nil || *in.ActionsEnabled,
		okActions:      slices.Clone(in.OKActions), alarmActions: slices.Clone(in.AlarmActions),
		insufficientDataActions: slices.Clone(in.InsufficientDataActions),
		evaluationPeriods:       n, datapointsToAlarm: m, datapointsSet: in.DatapointsToAlarm != nil,
		threshold: *in.Threshold, comparison: in.ComparisonOperator, treatMissing: in.TreatMissingData,
		unit: in.Unit,
	}
	if in.AlarmDescription != nil {
		a.description = *in.AlarmDescription
	}
	return a
}

// setMetricMath sets a metric math alarm's queries: exactly one returns data, all of one
// period, and every expression evaluates now (an unknown id is refused here, not at
// evaluation).
func (s *Service) setMetricMath(a *alarm, in *putMetricAlarmInput) *core.APIError {
	if in.MetricName != "" || in.Namespace != "" || in.Statistic != "" || len(in.Dimensions) > 0 || in.Period != nil || in.Unit != "" {
		// (unconfirmed) AWS refuses the mix; the message follows its pattern.
		return apiError("InvalidParameterCombination", "The parameters Metrics and MetricName, Namespace, Statistic, Dimensions, Period and Unit are mutually exclusive and you have specified both.")
	}
	parsed, err := checkQueries(in.Metrics, "Metrics")
	if err != nil {
		return err
	}
	returning := 0
	for _, q := range in.Metrics {
		if returnsData(q) {
			returning++
		}
		if q.MetricStat == nil {
			continue
		}
		if err := checkAlarmPeriod(*q.MetricStat.Period); err != nil {
			return err
		}
		p := int64(*q.MetricStat.Period)
		if a.period != 0 && a.period != p {
			return unsupported("metric math alarms whose metrics have different periods")
		}
		a.period = p
	}
	if returning != 1 {
		return apiError("ValidationError", "Exactly one element of the metrics list should return data.")
	}
	if a.period == 0 {
		return apiError("ValidationError", "Metrics list must contain at least one metric")
	}
	now := s.clock.Now()
	run := s.runQueries(in.Metrics, parsed, now.Add(-time.Duration(a.period)*time.Second), now)
	s.metrics.mu.RLock()
	for _, q := range in.Metrics {
		if _, err := run.series(q.Id); err != nil {
			s.metrics.mu.RUnlock()
			return apiError("ValidationError", "Error in expression '%s': %v", q.Id, err)
		}
	}
	s.metrics.mu.RUnlock()
	a.metrics, a.parsed = slices.Clone(in.Metrics), parsed
	return nil
}

// setSingleMetric sets a single-metric alarm's metric, statistic and period.
func setSingleMetric(a *alarm, in *putMetricAlarmInput) *core.APIError {
	if in.MetricName == "" || in.Namespace == "" {
		return apiError("ValidationError", "Metric alarms must specify MetricName and Namespace, or Metrics") // (unconfirmed)
	}
	if in.Statistic == "" {
		return apiError("ValidationError", "Metric alarms must specify Statistic or ExtendedStatistic") // (unconfirmed)
	}
	if !slices.Contains(statistics, in.Statistic) {
		return enumError(in.Statistic, "statistic", []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
	}
	if in.Period == nil {
		return apiError("ValidationError", "1 validation error detected: Value null at 'period' failed to satisfy constraint: Member must not be null")
	}
	if err := checkAlarmPeriod(*in.Period); err != nil {
		return err
	}
	if len(in.Dimensions) > maxDimensions {
		return apiError("InvalidParameterValue", "The collection Dimensions must not have a size greater than %d.", maxDimensions)
	}
	a.namespace, a.metricName, a.statistic = in.Namespace, in.MetricName, in.Statistic
	a.dims, a.period = slices.Clone(in.Dimensions), int64(*in.Period)
	a.configID = configID(in.AlarmName)
	a.seriesKey = seriesKey(a.namespace, a.metricName, sortedDims(a.dims))
	return nil
}

// storeMetricAlarm stores a, in place of the metric alarm of that name: "when you update an
// existing alarm, its state is left unchanged" (PutMetricAlarm API reference).
func (s *Service) storeMetricAlarm(a *alarm) *core.APIError {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	a.configUpdated = now
	if old, ok := s.alarms[a.name]; ok {
		if old.composite {
			return apiError("ValidationError", "The alarm %s already exists as a composite alarm", a.name) // (unconfirmed)
		}
		a.state, a.reason, a.reasonData = old.state, old.reason, old.reasonData
		a.stateUpdated, a.stateTransitioned, a.history = old.stateUpdated, old.stateTransitioned, old.history
		a.record(now, "ConfigurationUpdate", fmt.Sprintf("Alarm %q updated", a.name), "")
	} else {
		a.state, a.reason = stateInsufficient, initialReason
		a.stateUpdated, a.stateTransitioned = now, now
		a.record(now, "ConfigurationUpdate", fmt.Sprintf("Alarm %q created", a.name), "")
	}
	s.alarms[a.name] = a
	return nil
}

// configID is the stable id the event's configuration gives a single-metric alarm's metric
// (AWS shows a UUID there).
func configID(name string) string {
	var h [16]byte
	x := uint64(14695981039346656037)
	for i := range h {
		for _, c := range []byte(name) {
			x ^= uint64(c) + uint64(i)
			x *= 1099511628211
		}
		h[i] = byte(x >> 32)
	}
	h[6] = h[6]&0x0f | 0x30
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:])
}

func (s *Service) putCompositeAlarm(ctx context.Context, in *putCompositeAlarmInput) (any, *core.APIError) {
	if err := checkAlarmName(in.AlarmName); err != nil {
		return nil, err
	}
	if in.AlarmRule == "" {
		return nil, apiError("ValidationError", "1 validation error detected: Value null at 'alarmRule' failed to satisfy constraint: Member must not be null")
	}
	if len(in.AlarmRule) > 10240 {
		return nil, lengthError(in.AlarmRule, "alarmRule", 10240)
	}
	if in.AlarmDescription != nil && len(*in.AlarmDescription) > 1024 {
		return nil, lengthError(*in.AlarmDescription, "alarmDescription", 1024)
	}
	if in.ActionsSuppressor != "" || in.ActionConfiguration != nil {
		return nil, unsupported("ActionsSuppressor or ActionConfiguration (local mode runs no alarm actions)")
	}
	node, children, err := parseRule(in.AlarmRule)
	if err != nil {
		// The form of AWS's answer: "Error in AlarmRule [Unsupported token ')' at char 1]"
		// (aws/aws-cdk#34662).
		return nil, apiError("ValidationError", "Error in AlarmRule [%v]", err)
	}
	if len(children) > 100 {
		return nil, apiError("ValidationError", "Error in AlarmRule [The rule references %d alarms; at most 100 are allowed]", len(children))
	}

	s.mu.Lock()
	var missing []string
	for _, c := range children {
		if _, ok := s.alarms[c]; !ok && c != in.AlarmName {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		s.mu.Unlock()
		// AWS's answer, quoted in awsdocs/aws-cloudformation-user-guide#911 ("Could not save
		// the composite alarm as alarms ... in the alarm rule do not exist") and, with the
		// names filled in, in Terraform users' reports of ValidationError.
		return nil, apiError("ValidationError", "Could not save the composite alarm as alarms [%s] in the alarm rule do not exist", strings.Join(missing, ", "))
	}
	now := s.clock.Now()
	a := &alarm{
		name: in.AlarmName, arn: alarmArnPrefix + in.AlarmName, composite: true,
		actionsEnabled: in.ActionsEnabled == nil || *in.ActionsEnabled,
		okActions:      slices.Clone(in.OKActions), alarmActions: slices.Clone(in.AlarmActions),
		insufficientDataActions: slices.Clone(in.InsufficientDataActions),
		rule:                    in.AlarmRule, ruleNode: node, children: children, configUpdated: now,
	}
	if in.AlarmDescription != nil {
		a.description = *in.AlarmDescription
	}
	if old, ok := s.alarms[a.name]; ok {
		if !old.composite {
			s.mu.Unlock()
			return nil, apiError("ValidationError", "The alarm %s already exists as a metric alarm", a.name) // (unconfirmed)
		}
		a.state, a.reason, a.reasonData = old.state, old.reason, old.reasonData
		a.stateUpdated, a.stateTransitioned, a.history = old.stateUpdated, old.stateTransitioned, old.history
		a.record(now, "ConfigurationUpdate", fmt.Sprintf("Alarm %q updated", a.name), "")
	} else {
		a.state, a.reason = stateInsufficient, initialReason
		a.stateUpdated, a.stateTransitioned = now, now
		a.record(now, "ConfigurationUpdate", fmt.Sprintf("Alarm %q created", a.name), "")
	}
	s.alarms[a.name] = a
	s.indexParents()
	s.evaluateComposite(a, nil, now, map[string]bool{})
	s.mu.Unlock()
	s.flush(ctx)
	return empty{}, nil
}

// indexParents rebuilds, for each alarm, the composites whose rules name it. The caller
// holds s.mu.
func (s *Service) indexParents() {
	s.parents = map[string][]string{}
	for _, a := range s.alarms {
		if !a.composite {
			continue
		}
		for _, c := range a.children {
			s.parents[c] = append(s.parents[c], a.name)
		}
	}
	for _, p := range s.parents {
		sort.Strings(p)
	}
}

var alarmTypes = []string{"CompositeAlarm", "MetricAlarm", "LogAlarm"}
var stateValues = []string{stateInsufficient, stateAlarm, stateOK}

func (s *Service) describeAlarms(_ context.Context, in *describeAlarmsInput) (any, *core.APIError) {
	if len(in.AlarmNames) > 100 {
		return nil, apiError("ValidationError", "1 validation error detected: Value '[%s]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100", strings.Join(in.AlarmNames, ", "))
	}
	for _, t := range in.AlarmTypes {
		if !slices.Contains(alarmTypes, t) {
			return nil, apiError("ValidationError", "1 validation error detected: Value '[%s]' at 'alarmTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]", strings.Join(in.AlarmTypes, ", "), strings.Join(alarmTypes, ", "))
		}
	}
	if in.StateValue != "" && !slices.Contains(stateValues, in.StateValue) {
		return nil, enumError(in.StateValue, "stateValue", stateValues)
	}
	// Eucalyptus's copy of CloudWatch's message (unconfirmed for today's CloudWatch).
	if len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "" {
		return nil, apiError("InvalidParameterCombination", "AlarmNamePrefix and AlarmNames.member are mutually exclusive")
	}
	family := in.ChildrenOfAlarmName != "" || in.ParentsOfAlarmName != ""
	if family && (len(in.AlarmNames) > 0 || in.AlarmNamePrefix != "" || len(in.AlarmTypes) > 0 || in.StateValue != "" || in.ActionPrefix != "" ||
		in.ChildrenOfAlarmName != "" && in.ParentsOfAlarmName != "") {
		// The API reference: with ChildrenOfAlarmName or ParentsOfAlarmName "you cannot
		// specify any other parameters in the request except for MaxRecords and NextToken".
		return nil, apiError("InvalidParameterCombination", "ChildrenOfAlarmName and ParentsOfAlarmName cannot be combined with any parameter other than MaxRecords and NextToken") // (unconfirmed)
	}
	limit := 50
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, apiError("ValidationError", "1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100", *in.MaxRecords)
		}
		limit = int(*in.MaxRecords)
	}
	// Without AlarmTypes only metric alarms come back (DescribeAlarms API reference).
	wantMetric, wantComposite := len(in.AlarmTypes) == 0, false
	for _, t := range in.AlarmTypes {
		wantMetric = wantMetric || t == "MetricAlarm"
		wantComposite = wantComposite || t == "CompositeAlarm"
	}
	if family {
		wantMetric, wantComposite = true, true
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	switch {
	case in.ChildrenOfAlarmName != "":
		if p, ok := s.alarms[in.ChildrenOfAlarmName]; ok && p.composite {
			names = slices.Clone(p.children)
		}
	case in.ParentsOfAlarmName != "":
		names = slices.Clone(s.parents[in.ParentsOfAlarmName])
	case len(in.AlarmNames) > 0:
		names = slices.Clone(in.AlarmNames)
	default:
		for name := range s.alarms {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	names = slices.Compact(names)
	out := describeAlarmsOutput{MetricAlarms: []metricAlarmShape{}, CompositeAlarms: []compositeAlarmShape{}}
	after := ""
	if in.NextToken != "" {
		after = decodeToken(in.NextToken)
		if !strings.HasPrefix(after, "da:") {
			return nil, apiError("InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.")
		}
		after = strings.TrimPrefix(after, "da:")
	}
	count, last := 0, ""
	for _, name := range names {
		if in.NextToken != "" && name <= after {
			continue
		}
		a, ok := s.alarms[name]
		if !ok || a.composite && !wantComposite || !a.composite && !wantMetric {
			continue
		}
		if in.AlarmNamePrefix != "" && !strings.HasPrefix(name, in.AlarmNamePrefix) ||
			in.StateValue != "" && a.state != in.StateValue {
			continue
		}
		if in.ActionPrefix != "" && !slices.ContainsFunc(a.alarmActions, func(x string) bool { return strings.HasPrefix(x, in.ActionPrefix) }) {
			continue
		}
		if count == limit {
			out.NextToken = encodeToken("da:" + last)
			break
		}
		count, last = count+1, name
		if a.composite {
			out.CompositeAlarms = append(out.CompositeAlarms, a.compositeShape())
		} else {
			out.MetricAlarms = append(out.MetricAlarms, a.metricShape())
		}
	}
	return out, nil
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return slices.Clone(xs)
}

func (a *alarm) metricShape() metricAlarmShape {
	sh := metricAlarmShape{
		AlarmName: a.name, AlarmArn: a.arn, AlarmDescription: a.description,
		AlarmConfigurationUpdatedTimestamp: epochOf(a.configUpdated),
		ActionsEnabled:                     a.actionsEnabled, OKActions: nonNil(a.okActions),
		AlarmActions: nonNil(a.alarmActions), InsufficientDataActions: nonNil(a.insufficientDataActions),
		StateValue: a.state, StateReason: a.reason, StateReasonData: a.reasonData,
		StateUpdatedTimestamp: epochOf(a.stateUpdated), StateTransitionedTimestamp: epochOf(a.stateTransitioned),
		MetricName: a.metricName, Namespace: a.namespace, Statistic: a.statistic,
		Dimensions: slices.Clone(a.dims), Unit: a.unit,
		EvaluationPeriods: ptr(int32(a.evaluationPeriods)), Threshold: ptr(a.threshold),
		ComparisonOperator: a.comparison, TreatMissingData: a.treatMissing,
		Metrics: slices.Clone(a.metrics),
	}
	if sh.Dimensions == nil {
		sh.Dimensions = []dimension{}
	}
	if a.metrics == nil {
		sh.Period = ptr(int32(a.period))
	}
	if a.datapointsSet {
		sh.DatapointsToAlarm = ptr(int32(a.datapointsToAlarm))
	}
	return sh
}

func (a *alarm) compositeShape() compositeAlarmShape {
	return compositeAlarmShape{
		AlarmName: a.name, AlarmArn: a.arn, AlarmDescription: a.description, AlarmRule: a.rule,
		AlarmConfigurationUpdatedTimestamp: epochOf(a.configUpdated),
		ActionsEnabled:                     a.actionsEnabled, OKActions: nonNil(a.okActions),
		AlarmActions: nonNil(a.alarmActions), InsufficientDataActions: nonNil(a.insufficientDataActions),
		StateValue: a.state, StateReason: a.reason, StateReasonData: a.reasonData,
		StateUpdatedTimestamp: epochOf(a.stateUpdated), StateTransitionedTimestamp: epochOf(a.stateTransitioned),
	}
}

func ptr[T any](v T) *T { return &v }

func (s *Service) setAlarmState(ctx context.Context, in *setAlarmStateInput) (any, *core.APIError) {
	if err := checkAlarmName(in.AlarmName); err != nil {
		return nil, err
	}
	if !slices.Contains(stateValues, in.StateValue) {
		return nil, enumError(in.StateValue, "stateValue", stateValues)
	}
	if len(in.StateReason) > 1023 {
		return nil, lengthError(in.StateReason, "stateReason", 1023)
	}
	reasonData := ""
	if in.StateReasonData != nil {
		reasonData = *in.StateReasonData
		if len(reasonData) > 4000 {
			return nil, lengthError(reasonData, "stateReasonData", 4000)
		}
		if !json.Valid([]byte(reasonData)) {
			return nil, apiError("InvalidFormat", "StateReasonData is not valid JSON") // (unconfirmed)
		}
	}
	s.mu.Lock()
	a, ok := s.alarms[in.AlarmName]
	if !ok {
		s.mu.Unlock()
		// AWS answers a missing alarm with ResourceNotFound and no message (floci-io/floci#1582,
		// LocalStack's snapshot of AWS), HTTP 404 as the model says.
		return nil, apiError("ResourceNotFound", "")
	}
	if a.state != in.StateValue {
		// A metric alarm returns to its evaluated state at its next evaluation; a composite
		// alarm at the next change of a child.
		s.transition(a, in.StateValue, in.StateReason, reasonData, s.clock.Now(), map[string]bool{})
	}
	s.mu.Unlock()
	s.flush(ctx)
	return empty{}, nil
}

func (s *Service) deleteAlarms(_ context.Context, in *alarmNamesInput) (any, *core.APIError) {
	if len(in.AlarmNames) > 100 {
		return nil, apiError("ValidationError", "1 validation error detected: Value '[%s]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100", strings.Join(in.AlarmNames, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	deleting := map[string]bool{}
	for _, n := range in.AlarmNames {
		deleting[n] = true
	}
	var blocked []string
	for _, n := range in.AlarmNames {
		for _, p := range s.parents[n] {
			if !deleting[p] {
				blocked = append(blocked, n)
				break
			}
		}
	}
	if len(blocked) > 0 {
		// AWS's answer, quoted in cloud-custodian/cloud-custodian#7763; nothing is deleted.
		return nil, apiError("ValidationError", "Cannot delete %s as there are composite alarm(s) depending on them.", strings.Join(blocked, ","))
	}
	// An alarm that does not exist is no error (aws-cloudformation/cloudformation-cli#456:
	// "CloudWatch Alarm resource does not throw an exception if we try to delete a resource
	// which does not exist").
	for n := range deleting {
		delete(s.alarms, n)
	}
	s.indexParents()
	return empty{}, nil
}

func (s *Service) setActionsEnabled(enabled bool) func(context.Context, *alarmNamesInput) (any, *core.APIError) {
	return func(_ context.Context, in *alarmNamesInput) (any, *core.APIError) {
		if len(in.AlarmNames) > 100 {
			return nil, apiError("ValidationError", "1 validation error detected: Value '[%s]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100", strings.Join(in.AlarmNames, ", "))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, n := range in.AlarmNames {
			if a, ok := s.alarms[n]; ok {
				a.actionsEnabled = enabled
			}
		}
		return empty{}, nil
	}
}

// toMillisecond rounds a timestamp from a request to the millisecond: the SDKs send
// CloudWatch's millisecond timestamps as float seconds, which come back a hair off.
func toMillisecond(e *epoch) time.Time { return e.time().Round(time.Millisecond) }

func (s *Service) describeAlarmHistory(_ context.Context, in *describeAlarmHistoryInput) (any, *core.APIError) {
	for _, t := range in.AlarmTypes {
		if !slices.Contains(alarmTypes, t) {
			return nil, apiError("ValidationError", "1 validation error detected: Value '[%s]' at 'alarmTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]", strings.Join(in.AlarmTypes, ", "), strings.Join(alarmTypes, ", "))
		}
	}
	itemTypes := []string{"ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate", "AlarmContributorAction"}
	if in.HistoryItemType != "" && !slices.Contains(itemTypes, in.HistoryItemType) {
		return nil, enumError(in.HistoryItemType, "historyItemType", itemTypes)
	}
	limit := 100
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, apiError("ValidationError", "1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100", *in.MaxRecords)
		}
		limit = int(*in.MaxRecords)
	}
	wantMetric, wantComposite := len(in.AlarmTypes) == 0, false
	for _, t := range in.AlarmTypes {
		wantMetric = wantMetric || t == "MetricAlarm"
		wantComposite = wantComposite || t == "CompositeAlarm"
	}
	s.mu.Lock()
	var items []alarmHistoryItem
	for _, a := range s.alarms {
		if in.AlarmName != "" && a.name != in.AlarmName || a.composite && !wantComposite || !a.composite && !wantMetric {
			continue
		}
		for _, h := range a.history {
			// CloudWatch keeps timestamps to the millisecond, as they are answered: an item
			// lies inside bounds equal to its own answered timestamp.
			t := h.Timestamp.time().Truncate(time.Millisecond)
			if in.HistoryItemType != "" && h.HistoryItemType != in.HistoryItemType ||
				in.StartDate != nil && t.Before(toMillisecond(in.StartDate)) || in.EndDate != nil && t.After(toMillisecond(in.EndDate)) {
				continue
			}
			items = append(items, h)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(items, func(i, j int) bool {
		ti, tj := items[i].Timestamp.time(), items[j].Timestamp.time()
		if in.ScanBy == "TimestampAscending" {
			return ti.Before(tj)
		}
		return ti.After(tj)
	})
	offset := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(decodeToken(in.NextToken), "dah:"))
		if err != nil || n < 0 || n > len(items) {
			return nil, apiError("InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.")
		}
		offset = n
	}
	out := describeAlarmHistoryOutput{AlarmHistoryItems: items[offset:min(offset+limit, len(items))]}
	if offset+limit < len(items) {
		out.NextToken = encodeToken("dah:" + strconv.Itoa(offset+limit))
	}
	if out.AlarmHistoryItems == nil {
		out.AlarmHistoryItems = []alarmHistoryItem{}
	}
	return out, nil
}
