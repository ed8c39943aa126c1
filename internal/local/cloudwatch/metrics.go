package cloudwatch

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// stats is the aggregate of the values seen in one second or one period: what every
// statistic local mode serves (SampleCount, Sum, Average, Minimum, Maximum) derives from.
type stats struct {
	n, sum, min, max float64
}

func (a *stats) add(b stats) {
	if a.n == 0 {
		*a = b
		return
	}
	a.n += b.n
	a.sum += b.sum
	a.min = math.Min(a.min, b.min)
	a.max = math.Max(a.max, b.max)
}

// statistics local mode computes; percentiles and the other extended statistics are refused.
var statistics = []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"}

func (a stats) value(stat string) float64 {
	switch stat {
	case "SampleCount":
		return a.n
	case "Sum":
		return a.sum
	case "Minimum":
		return a.min
	case "Maximum":
		return a.max
	default: // Average
		return a.sum / a.n
	}
}

// point is the values of one series received in one second with one unit. Storing by the
// second loses nothing a query can see: the finest period is one second.
type point struct {
	t    int64 // unix seconds
	unit string
	stats
}

// series is one metric: namespace, name and exact dimension set, as CloudWatch identifies it.
type series struct {
	namespace, name string
	dims            []dimension // sorted by name
	points          []point     // sorted by t
}

// metricStore holds every series.
type metricStore struct {
	mu     sync.RWMutex
	series map[string]*series
}

func newMetricStore() *metricStore {
	return &metricStore{series: map[string]*series{}}
}

func seriesKey(namespace, name string, dims []dimension) string {
	var b strings.Builder
	b.WriteString(namespace)
	b.WriteByte(0)
	b.WriteString(name)
	for _, d := range dims {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte(1)
		b.WriteString(d.Value)
	}
	return b.String()
}

func sortedDims(dims []dimension) []dimension {
	out := slices.Clone(dims)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// add records one aggregate for the series, creating it if new.
func (m *metricStore) add(namespace, name string, dims []dimension, t time.Time, unit string, s stats) {
	if s.n <= 0 {
		return
	}
	dims = sortedDims(dims)
	key := seriesKey(namespace, name, dims)
	m.mu.Lock()
	defer m.mu.Unlock()
	ser := m.series[key]
	if ser == nil {
		ser = &series{namespace: namespace, name: name, dims: dims}
		m.series[key] = ser
	}
	sec := t.Unix()
	// Data nearly always arrives in time order: look from the end.
	i := len(ser.points)
	for i > 0 && ser.points[i-1].t > sec {
		i--
	}
	for j := i - 1; j >= 0 && ser.points[j].t == sec; j-- {
		if ser.points[j].unit == unit {
			ser.points[j].add(s)
			return
		}
	}
	if i < len(ser.points) {
		ser.points = slices.Insert(ser.points, i, point{t: sec, unit: unit, stats: s})
		return
	}
	ser.points = append(ser.points, point{t: sec, unit: unit, stats: s})
	// Keep 15 days, as CloudWatch keeps one-minute data; at a high clock speed a long session
	// would otherwise grow without end.
	if cut := sec - retention; ser.points[0].t < cut {
		j := sort.Search(len(ser.points), func(k int) bool { return ser.points[k].t >= cut })
		ser.points = ser.points[j:]
	}
}

const retention = 15 * 24 * 3600 // seconds

// lookup finds a series by its identity, or nil.
func (m *metricStore) lookup(namespace, name string, dims []dimension) *series {
	return m.series[seriesKey(namespace, name, sortedDims(dims))]
}

// buckets aggregates ser into len(out) periods of period seconds from start (unix seconds),
// keeping only points of unit when unit is set. The caller holds m.mu for reading.
func (ser *series) buckets(start, period int64, unit string, out []stats) {
	if ser == nil {
		return
	}
	end := start + period*int64(len(out))
	i := sort.Search(len(ser.points), func(i int) bool { return ser.points[i].t >= start })
	for ; i < len(ser.points) && ser.points[i].t < end; i++ {
		p := &ser.points[i]
		if unit != "" && p.unit != unit {
			continue
		}
		out[(p.t-start)/period].add(p.stats)
	}
}

// Put records data from the other services (Step Functions' AWS/States), which may use the
// AWS/ namespaces that PutMetricData refuses. A zero Time is the clock's now.
func (s *Service) Put(_ context.Context, data ...core.Datum) {
	now := s.clock.Now()
	for _, d := range data {
		if math.IsNaN(d.Value) || math.IsInf(d.Value, 0) {
			continue
		}
		t := d.Time
		if t.IsZero() {
			t = now
		}
		dims := make([]dimension, 0, len(d.Dimensions))
		for k, v := range d.Dimensions {
			dims = append(dims, dimension{Name: k, Value: v})
		}
		unit := d.Unit
		if unit == "" {
			unit = "None"
		}
		s.metrics.add(d.Namespace, d.Name, dims, t, unit, stats{n: 1, sum: d.Value, min: d.Value, max: d.Value})
	}
}

// The limits of PutMetricData (PutMetricData API reference).
const (
	maxMetricData    = 1000
	maxDimensions    = 30
	maxValues        = 150
	maxValueMagnitde = 1.174271e+108 // values outside ±[8.515920e-109, 1.174271e+108] are refused
	minValueMagnitde = 8.515920e-109
)

var standardUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true,
	"Gigabytes/Second": true, "Terabytes/Second": true, "Bits/Second": true,
	"Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true,
	"Terabits/Second": true, "Count/Second": true, "None": true,
}

// checkValue refuses what CloudWatch cannot store: NaN, infinities and magnitudes outside
// its range. The message is the one AWS gives ("The value NaN for parameter
// MetricData.member.1.Value is invalid.", seen in moto's tests and Netflix servo's probes).
func checkValue(v float64, param string) *core.APIError {
	bad := math.IsNaN(v) || math.IsInf(v, 0)
	if a := math.Abs(v); !bad && a != 0 && (a > maxValueMagnitde || a < minValueMagnitde) {
		bad = true
	}
	if !bad {
		return nil
	}
	text := formatJavaDouble(v)
	switch {
	case math.IsNaN(v):
		text = "NaN"
	case math.IsInf(v, 1):
		text = "Infinity"
	case math.IsInf(v, -1):
		text = "-Infinity"
	}
	return apiError("InvalidParameterValue", "The value %s for parameter %s is invalid.", text, param)
}

func (s *Service) putMetricData(_ context.Context, in *putMetricDataInput) (any, *core.APIError) {
	if in.Namespace == "" {
		return nil, apiError("MissingParameter", "The parameter Namespace is required.")
	}
	// Eucalyptus, which copied CloudWatch's messages, answers this with the same words.
	if strings.HasPrefix(in.Namespace, "AWS/") {
		return nil, apiError("InvalidParameterValue", "The value AWS/ for parameter Namespace is invalid.")
	}
	if in.EntityMetricData != nil {
		return nil, apiError("InvalidParameterValue", "sfn-rollout local does not support EntityMetricData; use MetricData")
	}
	if len(in.MetricData) == 0 {
		return nil, apiError("MissingParameter", "The parameter MetricData is required.")
	}
	if len(in.MetricData) > maxMetricData {
		return nil, apiError("InvalidParameterValue", "The collection MetricData must not have a size greater than %d.", maxMetricData)
	}
	now := s.clock.Now()
	type entry struct {
		datum *metricDatum
		t     time.Time
		unit  string
		aggs  []stats
	}
	entries := make([]entry, 0, len(in.MetricData))
	for i := range in.MetricData {
		d := &in.MetricData[i]
		name := fmt.Sprintf("MetricData.member.%d", i+1)
		e, err := checkDatum(d, name, now)
		if err != nil {
			return nil, err
		}
		t := now
		if d.Timestamp != nil {
			t = d.Timestamp.time()
		}
		unit := d.Unit
		if unit == "" {
			unit = "None"
		}
		entries = append(entries, entry{datum: d, t: t, unit: unit, aggs: e})
	}
	// All or nothing: nothing is stored until every datum has passed.
	for _, e := range entries {
		for _, agg := range e.aggs {
			s.metrics.add(in.Namespace, e.datum.MetricName, e.datum.Dimensions, e.t, e.unit, agg)
		}
	}
	return empty{}, nil
}

// checkDatum validates one MetricDatum as PutMetricData does and returns what to store.
// The messages follow CloudWatch's pattern ("The parameters MetricData.member.1.Value and
// MetricData.member.1.Values are mutually exclusive and you have specified both.", recorded
// against AWS by LocalStack's snapshot tests); the limits are the API reference's.
func checkDatum(d *metricDatum, name string, now time.Time) ([]stats, *core.APIError) {
	if d.MetricName == "" {
		return nil, apiError("MissingParameter", "The parameter %s.MetricName is required.", name)
	}
	if len(d.Dimensions) > maxDimensions {
		return nil, apiError("InvalidParameterValue", "The collection %s.Dimensions must not have a size greater than %d.", name, maxDimensions)
	}
	seen := map[string]bool{}
	for j, dim := range d.Dimensions {
		if dim.Name == "" {
			return nil, apiError("MissingParameter", "The parameter %s.Dimensions.member.%d.Name is required.", name, j+1)
		}
		if dim.Value == "" {
			return nil, apiError("MissingParameter", "The parameter %s.Dimensions.member.%d.Value is required.", name, j+1)
		}
		if seen[dim.Name] {
			return nil, apiError("InvalidParameterValue", "No metric may have duplicate dimension names.")
		}
		seen[dim.Name] = true
	}
	if r := d.StorageResolution; r != nil && *r != 1 && *r != 60 {
		return nil, apiError("InvalidParameterValue", "The value %d for parameter %s.StorageResolution is invalid.", *r, name)
	}
	if d.Unit != "" && !standardUnits[d.Unit] {
		return nil, apiError("InvalidParameterValue", "The parameter %s.Unit must be a value in the set [%s].", name, unitList())
	}
	if d.Timestamp != nil {
		t := d.Timestamp.time()
		if t.Before(now.Add(-14*24*time.Hour)) || t.After(now.Add(2*time.Hour)) {
			// Eucalyptus's copy of CloudWatch's message, for both bounds (unconfirmed for the future).
			return nil, apiError("InvalidParameterValue", "The parameter %s.Timestamp must specify a time within the past two weeks.", name)
		}
	}
	switch {
	case d.Value != nil && len(d.Values) > 0:
		return nil, apiError("InvalidParameterCombination", "The parameters %s.Value and %s.Values are mutually exclusive and you have specified both.", name, name)
	case d.Value != nil && d.StatisticValues != nil:
		return nil, apiError("InvalidParameterCombination", "The parameters %s.Value and %s.StatisticValues are mutually exclusive and you have specified both.", name, name)
	case len(d.Values) > 0 && d.StatisticValues != nil:
		return nil, apiError("InvalidParameterCombination", "The parameters %s.Values and %s.StatisticValues are mutually exclusive and you have specified both.", name, name)
	}
	switch {
	case d.Value != nil:
		if err := checkValue(*d.Value, name+".Value"); err != nil {
			return nil, err
		}
		v := *d.Value
		return []stats{{n: 1, sum: v, min: v, max: v}}, nil
	case len(d.Values) > 0:
		if len(d.Values) > maxValues {
			return nil, apiError("InvalidParameterValue", "The collection %s.Values must not have a size greater than %d.", name, maxValues)
		}
		if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
			return nil, apiError("InvalidParameterValue", "The parameters %s.Values and %s.Counts must be of the same size.", name, name)
		}
		out := make([]stats, 0, len(d.Values))
		for j, v := range d.Values {
			if err := checkValue(v, fmt.Sprintf("%s.Values.member.%d", name, j+1)); err != nil {
				return nil, err
			}
			c := 1.0
			if len(d.Counts) > 0 {
				c = d.Counts[j]
				if math.IsNaN(c) || c < 0 {
					return nil, apiError("InvalidParameterValue", "The value %s for parameter %s.Counts.member.%d is invalid.", formatJavaDouble(c), name, j+1)
				}
			}
			out = append(out, stats{n: c, sum: v * c, min: v, max: v})
		}
		return out, nil
	case d.StatisticValues != nil:
		sv := d.StatisticValues
		for _, f := range []struct {
			name string
			v    *float64
		}{{"SampleCount", sv.SampleCount}, {"Sum", sv.Sum}, {"Minimum", sv.Minimum}, {"Maximum", sv.Maximum}} {
			if f.v == nil {
				return nil, apiError("MissingParameter", "The parameter %s.StatisticValues.%s is required.", name, f.name)
			}
			if err := checkValue(*f.v, name+".StatisticValues."+f.name); err != nil {
				return nil, err
			}
		}
		if *sv.Maximum < *sv.Minimum {
			return nil, apiError("InvalidParameterValue", "The parameter %s.StatisticValues.Maximum must be greater than %s.StatisticValues.Minimum.", name, name)
		}
		if *sv.SampleCount <= 0 {
			return nil, apiError("InvalidParameterValue", "The parameter %s.StatisticValues.SampleCount must be greater than 0.", name)
		}
		return []stats{{n: *sv.SampleCount, sum: *sv.Sum, min: *sv.Minimum, max: *sv.Maximum}}, nil
	default:
		return nil, apiError("MissingParameter", "At least one of the parameters %s.Value, %s.Values or %s.StatisticValues must be specified.", name, name, name)
	}
}

func unitList() string {
	units := make([]string, 0, len(standardUnits))
	for u := range standardUnits {
		units = append(units, u)
	}
	sort.Strings(units)
	return strings.Join(units, ", ")
}

// listMetrics pages through the series matching the filters, 500 a page as CloudWatch does.
func (s *Service) listMetrics(_ context.Context, in *listMetricsInput) (any, *core.APIError) {
	if len(in.Dimensions) > 10 {
		return nil, apiError("InvalidParameterValue", "The collection Dimensions must not have a size greater than 10.")
	}
	var since int64 = math.MinInt64
	switch in.RecentlyActive {
	case "":
	case "PT3H":
		since = s.clock.Now().Add(-3 * time.Hour).Unix()
	default:
		return nil, apiError("ValidationError", "1 validation error detected: Value '%s' at 'recentlyActive' failed to satisfy constraint: Member must satisfy enum value set: [PT3H]", in.RecentlyActive)
	}
	s.metrics.mu.RLock()
	var found []metric
	var keys []string
	for key, ser := range s.metrics.series {
		if in.Namespace != "" && ser.namespace != in.Namespace || in.MetricName != "" && ser.name != in.MetricName {
			continue
		}
		if !matchesFilters(ser.dims, in.Dimensions) {
			continue
		}
		if len(ser.points) == 0 || ser.points[len(ser.points)-1].t < since {
			continue
		}
		keys = append(keys, key)
	}
	sort.Strings(keys)
	start := 0
	if in.NextToken != "" {
		start = sort.SearchStrings(keys, decodeToken(in.NextToken))
		if start < len(keys) && keys[start] == decodeToken(in.NextToken) {
			start++
		}
	}
	var next string
	for i := start; i < len(keys); i++ {
		if len(found) == 500 {
			next = encodeToken(keys[i-1])
			break
		}
		ser := s.metrics.series[keys[i]]
		found = append(found, metric{Namespace: ser.namespace, MetricName: ser.name, Dimensions: slices.Clone(ser.dims)})
	}
	s.metrics.mu.RUnlock()
	if found == nil {
		found = []metric{}
	}
	return listMetricsOutput{Metrics: found, NextToken: next}, nil
}

func matchesFilters(dims []dimension, filters []dimensionFilter) bool {
	for _, f := range filters {
		ok := false
		for _, d := range dims {
			if d.Name == f.Name && (f.Value == nil || *f.Value == d.Value) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
