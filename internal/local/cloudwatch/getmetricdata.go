package cloudwatch

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

const maxDatapoints = 100800 // GetMetricData's limit per call

var queryIDPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// checkQueries validates MetricDataQueries (GetMetricData) or Metrics (PutMetricAlarm), whose
// members are named param.member.N. It returns the parsed expressions by query index.
func checkQueries(queries []metricDataQuery, param string) (map[int]mathNode, *core.APIError) {
	if len(queries) > 500 {
		return nil, apiError("InvalidParameterValue", "The collection %s must not have a size greater than 500.", param)
	}
	parsed := map[int]mathNode{}
	ids := map[string]bool{}
	for i, q := range queries {
		name := fmt.Sprintf("%s.member.%d", param, i+1)
		// (unconfirmed) The checks are AWS's; the messages follow its "The value X for
		// parameter Y is invalid." pattern.
		if !queryIDPattern.MatchString(q.Id) {
			return nil, apiError("InvalidParameterValue", "The value %s for parameter %s.Id is invalid.", q.Id, name)
		}
		if ids[q.Id] {
			return nil, apiError("InvalidParameterValue", "The value %s for parameter %s.Id is not unique.", q.Id, name)
		}
		ids[q.Id] = true
		if q.AccountId != "" && q.AccountId != core.Account {
			return nil, apiError("InvalidParameterValue", "sfn-rollout local serves only account %s; %s.AccountId is %s", core.Account, name, q.AccountId)
		}
		switch {
		case q.MetricStat != nil && q.Expression != nil:
			return nil, apiError("InvalidParameterCombination", "The parameters %s.MetricStat and %s.Expression are mutually exclusive and you have specified both.", name, name)
		case q.MetricStat == nil && q.Expression == nil:
			return nil, apiError("MissingParameter", "At least one of the parameters %s.MetricStat or %s.Expression must be specified.", name, name)
		case q.MetricStat != nil:
			ms := q.MetricStat
			if ms.Metric == nil || ms.Metric.MetricName == "" {
				return nil, apiError("MissingParameter", "The parameter %s.MetricStat.Metric.MetricName is required.", name)
			}
			if ms.Metric.Namespace == "" {
				return nil, apiError("MissingParameter", "The parameter %s.MetricStat.Metric.Namespace is required.", name)
			}
			if ms.Period == nil {
				return nil, apiError("MissingParameter", "The parameter %s.MetricStat.Period is required.", name)
			}
			if p := *ms.Period; p <= 0 || (p > 60 && p%60 != 0) || (p < 60 && p != 1 && p != 5 && p != 10 && p != 20 && p != 30) {
				return nil, apiError("InvalidParameterValue", "The parameter %s.MetricStat.Period must be 1, 5, 10, 20, 30, or a multiple of 60.", name)
			}
			if err := checkStat(ms.Stat, name+".MetricStat.Stat"); err != nil {
				return nil, err
			}
			if ms.Unit != "" && !standardUnits[ms.Unit] {
				return nil, apiError("InvalidParameterValue", "The parameter %s.MetricStat.Unit must be a value in the set [%s].", name, unitList())
			}
		default:
			n, err := parseMath(*q.Expression)
			if err != nil {
				return nil, apiError("ValidationError", "Error in expression '%s': %v", q.Id, err)
			}
			parsed[i] = n
		}
	}
	return parsed, nil
}

// checkStat accepts the statistics local mode computes and refuses the rest by name.
func checkStat(stat, param string) *core.APIError {
	if stat == "" {
		return apiError("MissingParameter", "The parameter %s is required.", param)
	}
	if slices.Contains(statistics, stat) {
		return nil
	}
	return apiError("InvalidParameterValue", "sfn-rollout local does not support the statistic %s in %s; use one of %s", stat, param, strings.Join(statistics, ", "))
}

// queryRun evaluates a set of queries over [start, end): MetricStat queries from the store,
// expressions over the results of the ids they name.
type queryRun struct {
	s          *Service
	queries    []metricDataQuery
	parsed     map[int]mathNode
	byID       map[string]int
	results    map[string]*timeSeries
	evaluating map[string]bool
	start, end time.Time
}

func (s *Service) runQueries(queries []metricDataQuery, parsed map[int]mathNode, start, end time.Time) *queryRun {
	run := &queryRun{
		s: s, queries: queries, parsed: parsed,
		byID: map[string]int{}, results: map[string]*timeSeries{}, evaluating: map[string]bool{},
		start: start, end: end,
	}
	for i, q := range queries {
		run.byID[q.Id] = i
	}
	return run
}

// gridOf is the periods of length period that start before end, from start rounded down
// to a multiple of the period.
func gridOf(start, end time.Time, period int64) (int64, int) {
	first := floorDiv(start.Unix(), period) * period
	last := end.Unix()
	if end.Nanosecond() == 0 {
		last-- // end is exclusive
	}
	if last < first {
		return first, 0
	}
	return first, int((last-first)/period) + 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// series evaluates the query with the given id. The caller holds s.metrics.mu for reading.
func (r *queryRun) series(id string) (*timeSeries, error) {
	if ts, ok := r.results[id]; ok {
		return ts, nil
	}
	i, ok := r.byID[id]
	if !ok {
		return nil, worded("Unrecognized metric id '%s'", id)
	}
	if r.evaluating[id] {
		return nil, worded("Circular reference to '%s'", id)
	}
	r.evaluating[id] = true
	defer delete(r.evaluating, id)
	q := r.queries[i]
	var ts *timeSeries
	if q.MetricStat != nil {
		ts = r.metricStat(q.MetricStat)
	} else {
		v, err := evalMath(r.parsed[i], &mathEnv{lookup: r.series, metrics: r.metricsArray})
		if err != nil {
			return nil, err
		}
		switch v.kind {
		case kindSeries:
			ts = v.series
		case kindArray:
			if len(v.array) != 1 {
				return nil, fmt.Errorf("the expression of '%s' gives %d time series; sfn-rollout local returns one per query", id, len(v.array))
			}
			ts = v.array[0]
		default:
			ts = r.constant(q, v.scalar)
			if ts == nil {
				return nil, fmt.Errorf("the expression of '%s' is a number and no query gives it a Period", id)
			}
		}
	}
	r.results[id] = ts
	return ts, nil
}

func (r *queryRun) metricStat(ms *metricStat) *timeSeries {
	period := int64(*ms.Period)
	start, n := gridOf(r.start, r.end, period)
	agg := make([]stats, n)
	r.s.metrics.lookup(ms.Metric.Namespace, ms.Metric.MetricName, ms.Metric.Dimensions).buckets(start, period, ms.Unit, agg)
	ts := &timeSeries{start: start, period: period, values: make([]float64, n), counts: make([]float64, n)}
	for i, a := range agg {
		ts.counts[i] = a.n
		if a.n == 0 {
			ts.values[i] = math.NaN()
			continue
		}
		ts.values[i] = a.value(ms.Stat)
	}
	return ts
}

// metricsArray is METRICS(filter): the MetricStat queries whose id holds filter.
func (r *queryRun) metricsArray(filter string) []*timeSeries {
	var out []*timeSeries
	for _, q := range r.queries {
		if q.MetricStat != nil && strings.Contains(q.Id, filter) {
			ts, _ := r.series(q.Id)
			out = append(out, ts)
		}
	}
	return out
}

// constant spreads a number over the query's own Period, or the first MetricStat's.
func (r *queryRun) constant(q metricDataQuery, v float64) *timeSeries {
	var period int64
	if q.Period != nil && *q.Period > 0 {
		period = int64(*q.Period)
	}
	for _, other := range r.queries {
		if period == 0 && other.MetricStat != nil {
			period = int64(*other.MetricStat.Period)
		}
	}
	if period == 0 {
		return nil
	}
	start, n := gridOf(r.start, r.end, period)
	ts := &timeSeries{start: start, period: period, values: make([]float64, n)}
	for i := range ts.values {
		ts.values[i] = v
	}
	return ts
}

func returnsData(q metricDataQuery) bool { return q.ReturnData == nil || *q.ReturnData }

func (s *Service) getMetricData(_ context.Context, in *getMetricDataInput) (any, *core.APIError) {
	if len(in.MetricDataQueries) == 0 {
		return nil, apiError("MissingParameter", "The parameter MetricDataQueries is required.")
	}
	if in.StartTime == nil {
		return nil, apiError("MissingParameter", "The parameter StartTime is required.")
	}
	if in.EndTime == nil {
		return nil, apiError("MissingParameter", "The parameter EndTime is required.")
	}
	start, end := in.StartTime.time(), in.EndTime.time()
	if !start.Before(end) {
		return nil, apiError("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
	}
	scanBy := in.ScanBy
	switch scanBy {
	case "":
		scanBy = "TimestampDescending"
	case "TimestampDescending", "TimestampAscending":
	default:
		return nil, apiError("ValidationError", "1 validation error detected: Value '%s' at 'scanBy' failed to satisfy constraint: Member must satisfy enum value set: [TimestampDescending, TimestampAscending]", in.ScanBy)
	}
	limit := maxDatapoints
	if in.MaxDatapoints != nil {
		if *in.MaxDatapoints < 1 {
			return nil, apiError("InvalidParameterValue", "The parameter MaxDatapoints must be greater than 0.")
		}
		limit = int(*in.MaxDatapoints)
	}
	parsed, err := checkQueries(in.MetricDataQueries, "MetricDataQueries")
	if err != nil {
		return nil, err
	}
	for _, q := range in.MetricDataQueries {
		if q.MetricStat == nil {
			continue
		}
		if _, n := gridOf(start, end, int64(*q.MetricStat.Period)); n > maxDatapoints {
			return nil, apiError("InvalidParameterCombination", "You have requested up to %d datapoints, which exceeds the limit of %d. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", n, maxDatapoints)
		}
	}
	offset := 0
	if in.NextToken != "" {
		n, convErr := strconv.Atoi(strings.TrimPrefix(decodeToken(in.NextToken), "gmd:"))
		if convErr != nil || n < 0 || !strings.HasPrefix(decodeToken(in.NextToken), "gmd:") {
			return nil, apiError("InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.")
		}
		offset = n
	}

	run := s.runQueries(in.MetricDataQueries, parsed, start, end)
	type returned struct {
		q      metricDataQuery
		times  []epoch
		values []float64
	}
	var results []returned
	s.metrics.mu.RLock()
	for _, q := range in.MetricDataQueries {
		if !returnsData(q) {
			continue
		}
		ts, evalErr := run.series(q.Id)
		if evalErr != nil {
			s.metrics.mu.RUnlock()
			return nil, apiError("ValidationError", "Error in expression '%s': %v", q.Id, evalErr)
		}
		r := returned{q: q}
		for i, v := range ts.values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			r.times = append(r.times, epoch(time.Unix(ts.start+int64(i)*ts.period, 0).UTC()))
			r.values = append(r.values, v)
		}
		if scanBy == "TimestampDescending" {
			slices.Reverse(r.times)
			slices.Reverse(r.values)
		}
		results = append(results, r)
	}
	s.metrics.mu.RUnlock()

	labels := defaultLabels(in.MetricDataQueries)
	out := getMetricDataOutput{MetricDataResults: []metricDataResult{}, Messages: []messageData{}}
	// Paging runs over the datapoints of all results in order, MaxDatapoints per page.
	pageEnd, pos := offset+limit, 0
	for _, r := range results {
		n := len(r.values)
		from, to := min(max(offset-pos, 0), n), min(max(pageEnd-pos, 0), n)
		pos += n
		if offset > 0 && to == from {
			continue // served on another page
		}
		res := metricDataResult{
			Id: r.q.Id, Label: labels[r.q.Id], StatusCode: "Complete",
			Timestamps: append([]epoch{}, r.times[from:to]...),
			Values:     append([]float64{}, r.values[from:to]...),
		}
		if to < n {
			res.StatusCode = "PartialData"
		}
		out.MetricDataResults = append(out.MetricDataResults, res)
	}
	if pageEnd < pos {
		out.NextToken = encodeToken("gmd:" + strconv.Itoa(pageEnd))
	}
	return out, nil
}

// defaultLabels is each query's Label, or for a MetricStat the metric name followed by the
// Stat and Period when the queries differ in them, as CloudWatch labels them (LocalStack's
// snapshot tests recorded against AWS: "metric1 Sum 60", "metric1 Minimum 30").
func defaultLabels(queries []metricDataQuery) map[string]string {
	stats, periods := map[string]bool{}, map[int32]bool{}
	for _, q := range queries {
		if q.MetricStat != nil {
			stats[q.MetricStat.Stat] = true
			periods[*q.MetricStat.Period] = true
		}
	}
	labels := map[string]string{}
	for _, q := range queries {
		switch {
		case q.Label != "":
			labels[q.Id] = q.Label
		case q.MetricStat != nil:
			label := q.MetricStat.Metric.MetricName
			if len(stats) > 1 {
				label += " " + q.MetricStat.Stat
			}
			if len(periods) > 1 {
				label += " " + strconv.Itoa(int(*q.MetricStat.Period))
			}
			labels[q.Id] = label
		default:
			labels[q.Id] = q.Id
		}
	}
	return labels
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "\x00invalid"
	}
	return string(b)
}
