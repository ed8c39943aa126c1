package core

import (
	"sync"
	"testing"
	"time"
)

// wall is a wall clock a test moves by hand.
type wall struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wall) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

func (w *wall) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = w.t.Add(d)
}

// take counts the calls allowed out of n.
func take(q *Quotas, service, op string, n int) int {
	ok := 0
	for range n {
		if q.Allow(service, op) {
			ok++
		}
	}
	return ok
}

func TestBucketsRefillOnTheVirtualClock(t *testing.T) {
	tests := []struct {
		name       string
		speed      float64
		rate       float64
		wallPassed time.Duration
		want       int // tokens back after the burst was spent
	}{
		{"speed 1, rate 1, one wall second", 1, 1, time.Second, 1},
		{"speed 60, rate 1, one wall second", 60, 1, time.Second, 60},
		{"speed 60, rate 1, half a wall second", 60, 1, 500 * time.Millisecond, 30},
		{"speed 60, rate 3, one wall second: capped at the burst", 60, 3, time.Second, 100},
		{"speed 600, rate 0.5, a tenth of a wall second", 600, 0.5, 100 * time.Millisecond, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &wall{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			q := NewQuotas(NewClockOn(tt.speed, w.now), []Quota{{Service: "states", Operation: "UpdateStateMachineAlias", Burst: 100, Rate: tt.rate}})
			if got := take(q, "states", "UpdateStateMachineAlias", 150); got != 100 {
				t.Fatalf("a burst of 150 calls: %d allowed, want the 100 of the bucket", got)
			}
			w.advance(tt.wallPassed)
			if got := take(q, "states", "UpdateStateMachineAlias", 500); got != tt.want {
				t.Errorf("after %s of wall time at speed %g: %d allowed, want %d", tt.wallPassed, tt.speed, got, tt.want)
			}
		})
	}
}

func TestQuotaModes(t *testing.T) {
	w := &wall{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	q := NewQuotas(NewClockOn(1, w.now), []Quota{{Service: "monitoring", Operation: "DescribeAlarms", Burst: 9, Rate: 9}})
	if q.Mode() != QuotasAWS {
		t.Fatalf("a new table is %q, want it in force", q.Mode())
	}
	if got := take(q, "monitoring", "DescribeAlarms", 20); got != 9 {
		t.Errorf("in force: %d of 20 allowed, want 9", got)
	}
	if got := take(q, "monitoring", "ListMetrics", 100); got != 100 {
		t.Errorf("an operation without a bucket: %d of 100 allowed", got)
	}
	if got := take(q, "states", "DescribeAlarms", 100); got != 100 {
		t.Errorf("the same operation name of another service: %d of 100 allowed", got)
	}
	if err := q.SetMode(QuotasOff); err != nil {
		t.Fatal(err)
	}
	if got := take(q, "monitoring", "DescribeAlarms", 100); got != 100 {
		t.Errorf("off: %d of 100 allowed", got)
	}
	// Switched on again, the buckets start full although no time has passed.
	if err := q.SetMode(QuotasAWS); err != nil {
		t.Fatal(err)
	}
	if got := take(q, "monitoring", "DescribeAlarms", 20); got != 9 {
		t.Errorf("on again: %d of 20 allowed, want a full bucket of 9", got)
	}
	if err := q.SetMode("sometimes"); err == nil || q.Mode() != QuotasAWS {
		t.Errorf("an unknown mode: %v, mode %q", err, q.Mode())
	}
	var none *Quotas
	if !none.Allow("states", "StartExecution") || none.Mode() != QuotasOff {
		t.Error("nil quotas limit calls")
	}
}

func TestAWSQuotasAreUniqueAndPositive(t *testing.T) {
	seen := map[quotaKey]bool{}
	for _, b := range AWSQuotas() {
		k := quotaKey{b.Service, b.Operation}
		if seen[k] {
			t.Errorf("%s %s listed twice", b.Service, b.Operation)
		}
		seen[k] = true
		if b.Burst < 1 || b.Rate <= 0 {
			t.Errorf("%s %s: burst %g, rate %g", b.Service, b.Operation, b.Burst, b.Rate)
		}
	}
	for _, k := range []quotaKey{
		{"states", "ListTagsForResource"}, {"states", "SendTaskSuccess"}, {"states", "SendTaskFailure"}, {"states", "SendTaskHeartbeat"},
		{"monitoring", "DescribeAlarms"}, {"monitoring", "DescribeAlarmHistory"}, {"monitoring", "GetMetricData"},
		{"monitoring", "GetMetricStatistics"}, {"monitoring", "ListMetrics"}, {"monitoring", "SetAlarmState"},
		{"monitoring", "PutMetricAlarm"}, {"monitoring", "PutMetricData"},
		{"scheduler", "CreateSchedule"}, {"scheduler", "DeleteSchedule"}, {"scheduler", "GetSchedule"}, {"scheduler", "UpdateSchedule"},
		{"events", "PutEvents"},
	} {
		if !seen[k] {
			t.Errorf("no quota for %s %s", k.service, k.op)
		}
	}
}
