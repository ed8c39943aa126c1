package controller

import (
	"context"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// fastClock is local mode's clock as the controller sees it: speed times faster than the
// wall clock, which the Sleep port waits in.
type fastClock struct {
	now   time.Time
	speed float64
}

func (c *fastClock) Now() time.Time                     { return c.now }
func (c *fastClock) Real(d time.Duration) time.Duration { return time.Duration(float64(d) / c.speed) }

// oneRecord serves one record to GetRollout; nothing else is called.
type oneRecord struct {
	Rollouts
	r rollout.Rollout
}

func (o oneRecord) GetRollout(context.Context, string) (rollout.Rollout, error) { return o.r, nil }

// Finalize waits out a busy writer in wall time until its WriterUntil, which is on the
// controller's clock: on a clock 600 times the wall clock's, a writer with a minute left is
// waited for a tenth of a second, not a whole poll (a second of wall time, ten minutes of
// the clock's).
func TestAwaitWriterWaitsOnTheControllersClock(t *testing.T) {
	clock := &fastClock{now: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), speed: 600}
	r := rollout.Rollout{ID: "r-1", Phase: rollout.Aborted, WriterUntil: clock.now.Add(time.Minute)}
	var slept time.Duration
	c := &Controller{Ports: Ports{Clock: clock, Rollouts: oneRecord{r: r}, Sleep: func(_ context.Context, d time.Duration) error {
		slept += d
		clock.now = clock.now.Add(time.Duration(float64(d) * clock.speed))
		return nil
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if !c.writerBusy(r) {
		t.Fatal("the writer is not busy to begin with")
	}
	got := c.awaitWriter(ctx, r)
	if c.writerBusy(got) {
		t.Errorf("awaitWriter returned with the writer still busy")
	}
	if want := 100*time.Millisecond + 100*time.Millisecond; slept > want {
		t.Errorf("waited %s of wall time for a writer with a minute of the clock's (%s of wall time) left; want at most %s", slept, clock.Real(time.Minute), want)
	}
}
