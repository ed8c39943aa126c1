package core

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Quota is one API's token bucket: Burst tokens, refilled at Rate tokens per second of the
// virtual clock. The buckets run on the virtual clock so that a run at --speed 60 sees the
// same ratio of work to quota as AWS does in real time: its deadlines, backoffs and
// schedules are virtual too, and a wall-clock refill would starve a sped-up run.
type Quota struct {
	Service   string  `json:"service"`   // the signing name, as faults name services: states, monitoring, scheduler, events
	Operation string  `json:"operation"` // the API's operation name
	Burst     float64 `json:"burst"`
	Rate      float64 `json:"rate"` // tokens per virtual second
}

// QuotaMode says whether the quotas are in force.
type QuotaMode string

// The modes: the table in force (AWS's numbers, unless a test gave its own), or no limits.
const (
	QuotasAWS QuotaMode = "aws"
	QuotasOff QuotaMode = "off"
)

// ParseQuotaMode reads a mode as --quotas and the admin API take it.
func ParseQuotaMode(s string) (QuotaMode, error) {
	switch m := QuotaMode(s); m {
	case QuotasAWS, QuotasOff:
		return m, nil
	}
	return "", fmt.Errorf("quota mode %q: want %q or %q", s, QuotasAWS, QuotasOff)
}

type quotaKey struct{ service, op string }

type bucketState struct {
	tokens float64
	last   time.Time
}

// Quotas limits API calls with token buckets, one per service and operation, shared by every
// caller as AWS's per-account buckets are. Operations without a bucket are never limited;
// a nil *Quotas, or one in mode off, allows everything. Switching the mode is safe while
// calls are served.
type Quotas struct {
	now func() time.Time

	mu      sync.Mutex
	mode    QuotaMode
	table   map[quotaKey]Quota
	buckets map[quotaKey]*bucketState
}

// NewQuotas makes quotas in force (mode aws) with the given table, refilled on clock (a
// clock at speed 1 when nil).
func NewQuotas(clock *Clock, table []Quota) *Quotas {
	if clock == nil {
		clock = NewClock(1)
	}
	q := &Quotas{now: clock.Now, mode: QuotasAWS, table: map[quotaKey]Quota{}, buckets: map[quotaKey]*bucketState{}}
	for _, b := range table {
		q.table[quotaKey{b.Service, b.Operation}] = b
	}
	return q
}

// SetMode switches the quotas on or off. Switching them on fills every bucket, as an
// account that has been idle has full buckets.
func (q *Quotas) SetMode(m QuotaMode) error {
	if _, err := ParseQuotaMode(string(m)); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if m != q.mode {
		q.buckets = map[quotaKey]*bucketState{}
	}
	q.mode = m
	return nil
}

// Mode says whether the quotas are in force.
func (q *Quotas) Mode() QuotaMode {
	if q == nil {
		return QuotasOff
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mode
}

// Table lists the buckets by service and operation.
func (q *Quotas) Table() []Quota {
	if q == nil {
		return []Quota{}
	}
	q.mu.Lock()
	out := make([]Quota, 0, len(q.table))
	for _, b := range q.table {
		out = append(out, b)
	}
	q.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

// Allow takes one token from the bucket of service's op, or reports that the call is
// throttled.
func (q *Quotas) Allow(service, op string) bool {
	if q == nil {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mode != QuotasAWS {
		return true
	}
	k := quotaKey{service, op}
	b, ok := q.table[k]
	if !ok {
		return true
	}
	now := q.now()
	st := q.buckets[k]
	if st == nil {
		st = &bucketState{tokens: b.Burst, last: now}
		q.buckets[k] = st
	} else if elapsed := now.Sub(st.last); elapsed > 0 {
		st.tokens = min(b.Burst, st.tokens+elapsed.Seconds()*b.Rate)
		st.last = now
	}
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

// The throttling answers of each service, as its SDK classifies them: every code here is in
// aws-sdk-go-v2's retry.DefaultThrottleErrorCodes.
var (
	// ErrThrottling is Step Functions' and EventBridge's answer (awsJson, 400).
	ErrThrottling = &APIError{Code: "ThrottlingException", Message: "Rate exceeded", Status: http.StatusBadRequest}
	// ErrSchedulerThrottling is EventBridge Scheduler's (restJson1, 429 in its model).
	ErrSchedulerThrottling = &APIError{Code: "ThrottlingException", Message: "Rate exceeded", Status: http.StatusTooManyRequests}
	// ErrCloudWatchThrottling is CloudWatch's awsQuery error code "Throttling" (400, Sender),
	// which its RPC v2 CBOR and JSON answers carry in X-Amzn-Query-Error.
	ErrCloudWatchThrottling = &APIError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest}
)

// AWSQuotas are AWS's default us-east-1 numbers for the APIs local mode serves and the
// controller calls. Sources:
//   - Step Functions: AWS_BEHAVIOUR.md, Quotas (the Step Functions developer guide's
//     "Quotas related to API action throttling", us-east-1).
//   - CloudWatch: the CloudWatch service quotas page
//     (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html,
//     as archived in github.com/awsdocs/amazon-cloudwatch-user-guide): each is "N
//     transactions per second", read as a burst of N refilled at N a second.
//     PutCompositeAlarm has no number there; it gets PutMetricAlarm's 3 (conservative).
//   - EventBridge Scheduler: its quotas page
//     (https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html):
//     Create/Get/DeleteSchedule 1,000 requests a second in us-east-1, as AWS_BEHAVIOUR.md
//     has it; UpdateSchedule's row was not found and is taken to be the same (the page's
//     troubleshooting note names the four together). A later revision of the page gives
//     CreateSchedule 5,000; the lower number is kept. The page gives no burst: burst = the rate.
//   - EventBridge: its quotas page
//     (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html): PutEvents
//     10,000 a second in us-east-1; no burst given: burst = the rate.
func AWSQuotas() []Quota {
	var out []Quota
	add := func(service string, burst, rate float64, ops ...string) {
		for _, op := range ops {
			out = append(out, Quota{Service: service, Operation: op, Burst: burst, Rate: rate})
		}
	}
	add("states", 1300, 300, "StartExecution")
	add("states", 300, 15, "DescribeExecution")
	add("states", 200, 5, "ListExecutions")
	add("states", 200, 20, "DescribeStateMachine")
	add("states", 200, 1, "DescribeStateMachineAlias")
	add("states", 100, 1, "UpdateStateMachineAlias", "PublishStateMachineVersion", "UpdateStateMachine",
		"CreateStateMachineAlias", "DeleteStateMachineAlias", "DeleteStateMachineVersion",
		"ListStateMachineVersions", "ListStateMachineAliases", "ValidateStateMachineDefinition",
		"ListTagsForResource")
	add("states", 3000, 500, "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")

	tps := func(n float64, ops ...string) { add("monitoring", n, n, ops...) }
	tps(9, "DescribeAlarms", "DescribeAlarmsForMetric")
	tps(3, "DescribeAlarmHistory", "SetAlarmState", "DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions",
		"PutMetricAlarm", "PutCompositeAlarm")
	tps(50, "GetMetricData") // 10 with a Metrics Insights query, which local mode does not serve
	tps(400, "GetMetricStatistics")
	tps(25, "ListMetrics")
	tps(500, "PutMetricData")

	add("scheduler", 1000, 1000, "CreateSchedule", "UpdateSchedule", "GetSchedule", "DeleteSchedule")
	add("events", 10000, 10000, "PutEvents")
	return out
}
