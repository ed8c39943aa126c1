package cloudwatch

// The request and response shapes of the operations served, named as the CloudWatch model
// names their members. One set of structs serves all three protocols: the json tags are the
// member names, which fxamacker/cbor also reads when a field has no cbor tag, and which the
// awsQuery form decoder and XML writer in form.go follow.

type dimension struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

type statisticSet struct {
	SampleCount *float64 `json:"SampleCount,omitempty"`
	Sum         *float64 `json:"Sum,omitempty"`
	Minimum     *float64 `json:"Minimum,omitempty"`
	Maximum     *float64 `json:"Maximum,omitempty"`
}

type metricDatum struct {
	MetricName        string        `json:"MetricName,omitempty"`
	Dimensions        []dimension   `json:"Dimensions,omitempty"`
	Timestamp         *epoch        `json:"Timestamp,omitempty"`
	Value             *float64      `json:"Value,omitempty"`
	StatisticValues   *statisticSet `json:"StatisticValues,omitempty"`
	Values            []float64     `json:"Values,omitempty"`
	Counts            []float64     `json:"Counts,omitempty"`
	Unit              string        `json:"Unit,omitempty"`
	StorageResolution *int32        `json:"StorageResolution,omitempty"`
}

type putMetricDataInput struct {
	Namespace        string        `json:"Namespace,omitempty"`
	MetricData       []metricDatum `json:"MetricData,omitempty"`
	EntityMetricData any           `json:"EntityMetricData,omitempty"`
}

type metric struct {
	Namespace  string      `json:"Namespace,omitempty"`
	MetricName string      `json:"MetricName,omitempty"`
	Dimensions []dimension `json:"Dimensions,omitempty"`
}

type metricStat struct {
	Metric *metric `json:"Metric,omitempty"`
	Period *int32  `json:"Period,omitempty"`
	Stat   string  `json:"Stat,omitempty"`
	Unit   string  `json:"Unit,omitempty"`
}

type metricDataQuery struct {
	Id         string      `json:"Id,omitempty"`
	MetricStat *metricStat `json:"MetricStat,omitempty"`
	Expression *string     `json:"Expression,omitempty"`
	Label      string      `json:"Label,omitempty"`
	ReturnData *bool       `json:"ReturnData,omitempty"`
	Period     *int32      `json:"Period,omitempty"`
	AccountId  string      `json:"AccountId,omitempty"`
}

type getMetricDataInput struct {
	MetricDataQueries []metricDataQuery `json:"MetricDataQueries,omitempty"`
	StartTime         *epoch            `json:"StartTime,omitempty"`
	EndTime           *epoch            `json:"EndTime,omitempty"`
	NextToken         string            `json:"NextToken,omitempty"`
	ScanBy            string            `json:"ScanBy,omitempty"`
	MaxDatapoints     *int32            `json:"MaxDatapoints,omitempty"`
}

type messageData struct {
	Code  string `json:"Code,omitempty"`
	Value string `json:"Value,omitempty"`
}

type metricDataResult struct {
	Id         string        `json:"Id,omitempty"`
	Label      string        `json:"Label,omitempty"`
	Timestamps []epoch       `json:"Timestamps"`
	Values     []float64     `json:"Values"`
	StatusCode string        `json:"StatusCode,omitempty"`
	Messages   []messageData `json:"Messages,omitempty"`
}

type getMetricDataOutput struct {
	MetricDataResults []metricDataResult `json:"MetricDataResults"`
	NextToken         string             `json:"NextToken,omitempty"`
	Messages          []messageData      `json:"Messages"`
}

type dimensionFilter struct {
	Name  string  `json:"Name"`
	Value *string `json:"Value,omitempty"`
}

type listMetricsInput struct {
	Namespace      string            `json:"Namespace,omitempty"`
	MetricName     string            `json:"MetricName,omitempty"`
	Dimensions     []dimensionFilter `json:"Dimensions,omitempty"`
	NextToken      string            `json:"NextToken,omitempty"`
	RecentlyActive string            `json:"RecentlyActive,omitempty"`
}

type listMetricsOutput struct {
	Metrics   []metric `json:"Metrics"`
	NextToken string   `json:"NextToken,omitempty"`
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type putMetricAlarmInput struct {
	AlarmName                        string            `json:"AlarmName,omitempty"`
	AlarmDescription                 *string           `json:"AlarmDescription,omitempty"`
	ActionsEnabled                   *bool             `json:"ActionsEnabled,omitempty"`
	OKActions                        []string          `json:"OKActions,omitempty"`
	AlarmActions                     []string          `json:"AlarmActions,omitempty"`
	InsufficientDataActions          []string          `json:"InsufficientDataActions,omitempty"`
	MetricName                       string            `json:"MetricName,omitempty"`
	Namespace                        string            `json:"Namespace,omitempty"`
	Statistic                        string            `json:"Statistic,omitempty"`
	ExtendedStatistic                string            `json:"ExtendedStatistic,omitempty"`
	Dimensions                       []dimension       `json:"Dimensions,omitempty"`
	Period                           *int32            `json:"Period,omitempty"`
	Unit                             string            `json:"Unit,omitempty"`
	EvaluationPeriods                *int32            `json:"EvaluationPeriods,omitempty"`
	DatapointsToAlarm                *int32            `json:"DatapointsToAlarm,omitempty"`
	Threshold                        *float64          `json:"Threshold,omitempty"`
	ComparisonOperator               string            `json:"ComparisonOperator,omitempty"`
	TreatMissingData                 string            `json:"TreatMissingData,omitempty"`
	EvaluateLowSampleCountPercentile string            `json:"EvaluateLowSampleCountPercentile,omitempty"`
	Metrics                          []metricDataQuery `json:"Metrics,omitempty"`
	Tags                             []tag             `json:"Tags,omitempty"`
	ThresholdMetricId                string            `json:"ThresholdMetricId,omitempty"`
	EvaluationCriteria               any               `json:"EvaluationCriteria,omitempty"`
	EvaluationWindow                 any               `json:"EvaluationWindow,omitempty"`
	EvaluationInterval               *int32            `json:"EvaluationInterval,omitempty"`
	ActionConfiguration              any               `json:"ActionConfiguration,omitempty"`
	WarmUpConfiguration              any               `json:"WarmUpConfiguration,omitempty"`
}

type putCompositeAlarmInput struct {
	AlarmName               string   `json:"AlarmName,omitempty"`
	AlarmRule               string   `json:"AlarmRule,omitempty"`
	AlarmDescription        *string  `json:"AlarmDescription,omitempty"`
	ActionsEnabled          *bool    `json:"ActionsEnabled,omitempty"`
	OKActions               []string `json:"OKActions,omitempty"`
	AlarmActions            []string `json:"AlarmActions,omitempty"`
	InsufficientDataActions []string `json:"InsufficientDataActions,omitempty"`
	ActionsSuppressor       string   `json:"ActionsSuppressor,omitempty"`
	ActionConfiguration     any      `json:"ActionConfiguration,omitempty"`
	Tags                    []tag    `json:"Tags,omitempty"`
}

type metricAlarmShape struct {
	AlarmName                          string            `json:"AlarmName,omitempty"`
	AlarmArn                           string            `json:"AlarmArn,omitempty"`
	AlarmDescription                   string            `json:"AlarmDescription,omitempty"`
	AlarmConfigurationUpdatedTimestamp *epoch            `json:"AlarmConfigurationUpdatedTimestamp,omitempty"`
	ActionsEnabled                     bool              `json:"ActionsEnabled"`
	OKActions                          []string          `json:"OKActions"`
	AlarmActions                       []string          `json:"AlarmActions"`
	InsufficientDataActions            []string          `json:"InsufficientDataActions"`
	StateValue                         string            `json:"StateValue,omitempty"`
	StateReason                        string            `json:"StateReason,omitempty"`
	StateReasonData                    string            `json:"StateReasonData,omitempty"`
	StateUpdatedTimestamp              *epoch            `json:"StateUpdatedTimestamp,omitempty"`
	StateTransitionedTimestamp         *epoch            `json:"StateTransitionedTimestamp,omitempty"`
	MetricName                         string            `json:"MetricName,omitempty"`
	Namespace                          string            `json:"Namespace,omitempty"`
	Statistic                          string            `json:"Statistic,omitempty"`
	Dimensions                         []dimension       `json:"Dimensions"`
	Period                             *int32            `json:"Period,omitempty"`
	Unit                               string            `json:"Unit,omitempty"`
	EvaluationPeriods                  *int32            `json:"EvaluationPeriods,omitempty"`
	DatapointsToAlarm                  *int32            `json:"DatapointsToAlarm,omitempty"`
	Threshold                          *float64          `json:"Threshold,omitempty"`
	ComparisonOperator                 string            `json:"ComparisonOperator,omitempty"`
	TreatMissingData                   string            `json:"TreatMissingData,omitempty"`
	Metrics                            []metricDataQuery `json:"Metrics,omitempty"`
}

type compositeAlarmShape struct {
	AlarmName                          string   `json:"AlarmName,omitempty"`
	AlarmArn                           string   `json:"AlarmArn,omitempty"`
	AlarmDescription                   string   `json:"AlarmDescription,omitempty"`
	AlarmRule                          string   `json:"AlarmRule,omitempty"`
	AlarmConfigurationUpdatedTimestamp *epoch   `json:"AlarmConfigurationUpdatedTimestamp,omitempty"`
	ActionsEnabled                     bool     `json:"ActionsEnabled"`
	OKActions                          []string `json:"OKActions"`
	AlarmActions                       []string `json:"AlarmActions"`
	InsufficientDataActions            []string `json:"InsufficientDataActions"`
	StateValue                         string   `json:"StateValue,omitempty"`
	StateReason                        string   `json:"StateReason,omitempty"`
	StateReasonData                    string   `json:"StateReasonData,omitempty"`
	StateUpdatedTimestamp              *epoch   `json:"StateUpdatedTimestamp,omitempty"`
	StateTransitionedTimestamp         *epoch   `json:"StateTransitionedTimestamp,omitempty"`
}

type describeAlarmsInput struct {
	AlarmNames          []string `json:"AlarmNames,omitempty"`
	AlarmNamePrefix     string   `json:"AlarmNamePrefix,omitempty"`
	AlarmTypes          []string `json:"AlarmTypes,omitempty"`
	ChildrenOfAlarmName string   `json:"ChildrenOfAlarmName,omitempty"`
	ParentsOfAlarmName  string   `json:"ParentsOfAlarmName,omitempty"`
	StateValue          string   `json:"StateValue,omitempty"`
	ActionPrefix        string   `json:"ActionPrefix,omitempty"`
	MaxRecords          *int32   `json:"MaxRecords,omitempty"`
	NextToken           string   `json:"NextToken,omitempty"`
}

type describeAlarmsOutput struct {
	MetricAlarms    []metricAlarmShape    `json:"MetricAlarms"`
	CompositeAlarms []compositeAlarmShape `json:"CompositeAlarms"`
	NextToken       string                `json:"NextToken,omitempty"`
}

type setAlarmStateInput struct {
	AlarmName       string  `json:"AlarmName,omitempty"`
	StateValue      string  `json:"StateValue,omitempty"`
	StateReason     string  `json:"StateReason,omitempty"`
	StateReasonData *string `json:"StateReasonData,omitempty"`
}

type alarmNamesInput struct {
	AlarmNames []string `json:"AlarmNames,omitempty"`
}

type describeAlarmHistoryInput struct {
	AlarmName       string   `json:"AlarmName,omitempty"`
	AlarmTypes      []string `json:"AlarmTypes,omitempty"`
	HistoryItemType string   `json:"HistoryItemType,omitempty"`
	StartDate       *epoch   `json:"StartDate,omitempty"`
	EndDate         *epoch   `json:"EndDate,omitempty"`
	MaxRecords      *int32   `json:"MaxRecords,omitempty"`
	NextToken       string   `json:"NextToken,omitempty"`
	ScanBy          string   `json:"ScanBy,omitempty"`
}

type alarmHistoryItem struct {
	AlarmName       string `json:"AlarmName,omitempty"`
	AlarmType       string `json:"AlarmType,omitempty"`
	Timestamp       *epoch `json:"Timestamp,omitempty"`
	HistoryItemType string `json:"HistoryItemType,omitempty"`
	HistorySummary  string `json:"HistorySummary,omitempty"`
	HistoryData     string `json:"HistoryData,omitempty"`
}

type describeAlarmHistoryOutput struct {
	AlarmHistoryItems []alarmHistoryItem `json:"AlarmHistoryItems"`
	NextToken         string             `json:"NextToken,omitempty"`
}

// empty is the answer of the operations that return nothing.
type empty struct{}
