package cloudwatch

import (
	"encoding/json"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// The EventBridge "CloudWatch Alarm State Change" event, shaped as AWS sends it (see the
// project's events/alarm-*.json): reasonData is a JSON string, timestamps are
// 2026-01-15T10:05:00.125+0000.

type eventState struct {
	Value      string `json:"value"`
	Reason     string `json:"reason"`
	ReasonData string `json:"reasonData,omitempty"`
	Timestamp  string `json:"timestamp"`
}

type alarmEventDetail struct {
	AlarmName     string     `json:"alarmName"`
	State         eventState `json:"state"`
	PreviousState eventState `json:"previousState"`
	Configuration any        `json:"configuration"`
}

type metricConfiguration struct {
	Description string        `json:"description,omitempty"`
	Metrics     []eventMetric `json:"metrics"`
}

type eventMetric struct {
	ID         string           `json:"id"`
	MetricStat *eventMetricStat `json:"metricStat,omitempty"`
	Expression string           `json:"expression,omitempty"`
	Label      string           `json:"label,omitempty"`
	ReturnData bool             `json:"returnData"`
}

type eventMetricStat struct {
	Metric eventMetricName `json:"metric"`
	Period int64           `json:"period"`
	Stat   string          `json:"stat"`
	Unit   string          `json:"unit,omitempty"`
}

type eventMetricName struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Dimensions map[string]string `json:"dimensions"`
}

type compositeConfiguration struct {
	AlarmRule               string   `json:"alarmRule"`
	AlarmName               string   `json:"alarmName"`
	Description             string   `json:"description,omitempty"`
	ActionsEnabled          bool     `json:"actionsEnabled"`
	Timestamp               string   `json:"timestamp"`
	OKActions               []string `json:"okActions"`
	AlarmActions            []string `json:"alarmActions"`
	InsufficientDataActions []string `json:"insufficientDataActions"`
}

func dimensionMap(dims []dimension) map[string]string {
	m := make(map[string]string, len(dims))
	for _, d := range dims {
		m[d.Name] = d.Value
	}
	return m
}

func (a *alarm) eventConfiguration() any {
	if a.composite {
		return compositeConfiguration{
			AlarmRule: a.rule, AlarmName: a.name, Description: a.description,
			ActionsEnabled: a.actionsEnabled, Timestamp: formatEventTime(a.configUpdated),
			OKActions: nonNil(a.okActions), AlarmActions: nonNil(a.alarmActions),
			InsufficientDataActions: nonNil(a.insufficientDataActions),
		}
	}
	cfg := metricConfiguration{Description: a.description}
	if a.metrics == nil {
		cfg.Metrics = []eventMetric{{
			ID: a.configID,
			MetricStat: &eventMetricStat{
				Metric: eventMetricName{Namespace: a.namespace, Name: a.metricName, Dimensions: dimensionMap(a.dims)},
				Period: a.period, Stat: a.statistic, Unit: a.unit,
			},
			ReturnData: true,
		}}
		return cfg
	}
	for _, q := range a.metrics {
		m := eventMetric{ID: q.Id, Label: q.Label, ReturnData: returnsData(q)}
		if q.Expression != nil {
			m.Expression = *q.Expression
		}
		if ms := q.MetricStat; ms != nil {
			m.MetricStat = &eventMetricStat{
				Metric: eventMetricName{Namespace: ms.Metric.Namespace, Name: ms.Metric.MetricName, Dimensions: dimensionMap(ms.Metric.Dimensions)},
				Period: int64(*ms.Period), Stat: ms.Stat, Unit: ms.Unit,
			}
		}
		cfg.Metrics = append(cfg.Metrics, m)
	}
	return cfg
}

// alarmEvent is the event of a's change from prev to its current state.
func alarmEvent(a *alarm, prev eventState, now time.Time) core.Event {
	detail, _ := json.Marshal(alarmEventDetail{
		AlarmName:     a.name,
		State:         eventState{Value: a.state, Reason: a.reason, ReasonData: a.reasonData, Timestamp: formatEventTime(a.stateUpdated)},
		PreviousState: prev,
		Configuration: a.eventConfiguration(),
	})
	return core.Event{
		Source:     "aws.cloudwatch",
		DetailType: "CloudWatch Alarm State Change",
		Resources:  []string{a.arn},
		Detail:     detail,
		Time:       now,
	}
}
