// Package cloudwatch is local mode's CloudWatch: metrics, metric math, metric and composite
// alarms evaluated on the virtual clock, and their EventBridge state-change events.
package cloudwatch

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Options are what the service is built from; Bus and Reporter may be nil.
type Options struct {
	Clock    *core.Clock
	Bus      core.Bus
	Faults   *core.Faults
	Quotas   *core.Quotas // the API's buckets, as service "monitoring"; nil: none
	Reporter core.Reporter
}

// Service serves the CloudWatch API over HTTP and Step Functions' metrics in-process.
type Service struct {
	clock    *core.Clock
	bus      core.Bus
	faults   *core.Faults
	quotas   *core.Quotas
	reporter core.Reporter
	metrics  *metricStore
	ops      map[string]operation

	mu       sync.Mutex
	alarms   map[string]*alarm
	parents  map[string][]string // alarm name → composites whose rules name it
	pending  []notice
	flushing bool
}

var _ core.Metrics = (*Service)(nil)
var _ http.Handler = (*Service)(nil)

// operation decodes a request's input and answers it.
type operation func(ctx context.Context, q *request) (any, *core.APIError)

func handle[In any](fn func(context.Context, *In) (any, *core.APIError)) operation {
	return func(ctx context.Context, q *request) (any, *core.APIError) {
		var in In
		if err := q.decode(&in); err != nil {
			return nil, err
		}
		return fn(ctx, &in)
	}
}

// New makes the service; it does no I/O and starts nothing (see Start).
func New(o Options) *Service {
	clock := o.Clock
	if clock == nil {
		clock = core.NewClock(1)
	}
	s := &Service{
		clock: clock, bus: o.Bus, faults: o.Faults, quotas: o.Quotas, reporter: o.Reporter,
		metrics: newMetricStore(), alarms: map[string]*alarm{}, parents: map[string][]string{},
	}
	s.ops = map[string]operation{
		"PutMetricData":        handle(s.putMetricData),
		"GetMetricData":        handle(s.getMetricData),
		"ListMetrics":          handle(s.listMetrics),
		"PutMetricAlarm":       handle(s.putMetricAlarm),
		"PutCompositeAlarm":    handle(s.putCompositeAlarm),
		"DescribeAlarms":       handle(s.describeAlarms),
		"SetAlarmState":        handle(s.setAlarmState),
		"DeleteAlarms":         handle(s.deleteAlarms),
		"EnableAlarmActions":   handle(s.setActionsEnabled(true)),
		"DisableAlarmActions":  handle(s.setActionsEnabled(false)),
		"DescribeAlarmHistory": handle(s.describeAlarmHistory),
	}
	return s
}

// ServeHTTP answers one CloudWatch call in whichever protocol it came.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	q, err := readRequest(r)
	if err != nil {
		writeError(w, q, requestID, err)
		return
	}
	latency, fault := s.faults.Check("monitoring", q.op)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if fault != nil {
		writeError(w, q, requestID, fault)
		return
	}
	op, ok := s.ops[q.op]
	if !ok {
		writeError(w, q, requestID, core.Unsupported("CloudWatch", q.op))
		return
	}
	if !s.quotas.Allow("monitoring", q.op) {
		writeError(w, q, requestID, core.ErrCloudWatchThrottling)
		return
	}
	out, err := op(r.Context(), q)
	if err != nil {
		writeError(w, q, requestID, err)
		return
	}
	writeOutput(w, q, requestID, out)
}
