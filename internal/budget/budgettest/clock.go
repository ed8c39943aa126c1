// Package budgettest holds what the tests of budget.Store implementations share: clocks
// that never wait for real, and the contract every store must honour (StoreContract).
package budgettest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// ManualClock moves only when the test moves it: Sleep blocks until Advance reaches the
// sleeper's wake time, or its context ends.
type ManualClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[chan struct{}]time.Time
}

// NewManualClock starts at t.
func NewManualClock(t time.Time) *ManualClock {
	return &ManualClock{now: t, sleepers: map[chan struct{}]time.Time{}}
}

// Now is the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d and wakes the sleepers whose time has come.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for ch, at := range c.sleepers {
		if !at.After(c.now) {
			close(ch)
			delete(c.sleepers, ch)
		}
	}
}

// Sleep waits until the clock has moved d on, or ctx ends.
func (c *ManualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if d <= 0 {
		c.mu.Unlock()
		return ctx.Err()
	}
	ch := make(chan struct{})
	c.sleepers[ch] = c.now.Add(d)
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.sleepers, ch)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Sleepers is how many goroutines are in Sleep.
func (c *ManualClock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// WaitSleepers waits (in real time, up to a few seconds) until n goroutines are in Sleep.
func (c *ManualClock) WaitSleepers(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Sleepers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines sleep, want %d", c.Sleepers(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// StepClock is virtual time that never waits: Sleep moves the clock to the sleeper's wake
// time at once (unless it is there already), as if nothing else ran meanwhile.
type StepClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewStepClock starts at t.
func NewStepClock(t time.Time) *StepClock { return &StepClock{now: t} }

// Now is the clock's time.
func (c *StepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock to d after now.
func (c *StepClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}
