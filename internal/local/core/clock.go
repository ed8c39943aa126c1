package core

import (
	"context"
	"sync"
	"time"
)

// Clock is local mode's time: Now runs Speed times faster than the wall clock from the
// moment the clock was made, and Sleep and After wait the matching shorter real time. Wait
// states, schedules, alarm evaluation, metric periods and task timeouts all use it, so a
// 30-minute rollout runs in seconds at a high speed.
type Clock struct {
	mu    sync.Mutex
	speed float64
	base  time.Time // virtual time at realBase
	real  time.Time
	now   func() time.Time // the wall clock; tests may replace it
}

// NewClock starts a clock at the wall clock's now, running speed times faster.
func NewClock(speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	now := time.Now
	t := now()
	return &Clock{speed: speed, base: t.UTC(), real: t, now: now}
}

// NewClockOn starts a clock on the given wall clock rather than the real one: tests move
// that wall clock by hand to see what the virtual clock does with it. Sleep and Until still
// wait real time.
func NewClockOn(speed float64, wall func() time.Time) *Clock {
	c := NewClock(speed)
	t := wall()
	c.base, c.real, c.now = t.UTC(), t, wall
	return c
}

// Speed is how many virtual seconds pass per real second.
func (c *Clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// Now is the virtual time, in UTC.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	elapsed := c.now().Sub(c.real)
	return c.base.Add(time.Duration(float64(elapsed) * c.speed)).UTC()
}

// Real converts a virtual duration to the wall-clock duration it takes.
func (c *Clock) Real(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(float64(d) / c.speed)
}

// Sleep waits for d of virtual time, or until ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(c.Real(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Until waits until the virtual time t, or until ctx is done.
func (c *Clock) Until(ctx context.Context, t time.Time) error {
	return c.Sleep(ctx, t.Sub(c.Now()))
}

// SetSpeed changes how fast the clock runs from now on; virtual time goes on from where it
// is. A sleep already waiting keeps the real duration it was given. (A benchmark sets up
// fast, then measures at the speed of the wall clock.)
func (c *Clock) SetSpeed(speed float64) {
	if speed <= 0 {
		speed = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now()
	c.base = c.base.Add(time.Duration(float64(t.Sub(c.real)) * c.speed))
	c.real = t
	c.speed = speed
}
