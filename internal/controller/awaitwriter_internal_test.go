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

// oneAlias serves one alias to Describe; nothing else is called.
type oneAlias struct {
	Aliases
	a Alias
}

func (o oneAlias) Describe(context.Context, string) (Alias, error) { return o.a, nil }

// The alias write window is wall time (each write's deadline), while the records' and the
// alias's times are on the controller's clock. On a clock 600 times the wall clock's, a
// write of the rollout's own that landed one second of the clock's after its intent (under
// 2 ms of wall time) is well inside a 200 ms window: the alias found at that earlier intent
// is the controller's own lag, not someone else's hand.
func TestWriteWindowIsMeasuredOnTheControllersClock(t *testing.T) {
	const stable, candidate = "arn:aws:states:us-east-1:000000000000:stateMachine:orders:1", "arn:aws:states:us-east-1:000000000000:stateMachine:orders:2"
	clock := &fastClock{now: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), speed: 600}
	r := rollout.Rollout{ID: "r-1", Phase: rollout.Progressing, StableVersionArn: stable, CandidateVersionArn: candidate,
		CandidateWeight: 50, PreviousWeight: 25, Intents: []int{10, 25, 50}, IntentAt: clock.now.Add(-time.Minute)}
	late := Alias{Routing: []rollout.Route{{VersionArn: stable, Weight: 90}, {VersionArn: candidate, Weight: 10}}, UpdatedAt: r.IntentAt.Add(time.Second)}
	c := &Controller{cfg: Config{AliasWriteWindow: 200 * time.Millisecond}, Ports: Ports{Clock: clock, Aliases: oneAlias{a: late}}}

	if got, want := c.onClock(200*time.Millisecond), 2*time.Minute; got != want {
		t.Errorf("a 200ms window spans %s of a clock 600 times as fast, want %s", got, want)
	}
	if c.setByHand(context.Background(), r) {
		t.Errorf("an alias at the rollout's own intent of 10%%, updated 1s of the clock's after its next intent, reads as set by hand")
	}
	// The same alias updated three minutes of the clock's after the intent (0.3 s of wall
	// time, past any write's deadline) was set by someone else.
	c.Aliases = oneAlias{a: Alias{Routing: late.Routing, UpdatedAt: r.IntentAt.Add(3 * time.Minute)}}
	if !c.setByHand(context.Background(), r) {
		t.Errorf("an alias set to 10%% after every write of the rollout could have landed does not read as set by hand")
	}
}
