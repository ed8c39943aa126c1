package core

import (
	"testing"
	"time"
)

// SetSpeed keeps virtual time continuous and runs it at the new speed from then on.
func TestClockSetSpeed(t *testing.T) {
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(60)
	c.now, c.real, c.base = func() time.Time { return wall }, wall, wall
	wall = wall.Add(time.Second)
	if got := c.Now(); !got.Equal(wall.Add(59 * time.Second)) {
		t.Fatalf("at speed 60, one wall second: %v", got)
	}
	c.SetSpeed(1)
	if got := c.Now(); !got.Equal(wall.Add(59 * time.Second)) {
		t.Fatalf("virtual time jumped on SetSpeed: %v", got)
	}
	wall = wall.Add(2 * time.Second)
	if got, want := c.Now(), wall.Add(59*time.Second); !got.Equal(want) {
		t.Errorf("at speed 1, two wall seconds later: %v, want %v", got, want)
	}
	if c.Speed() != 1 || c.Real(time.Minute) != time.Minute {
		t.Errorf("speed %v, a minute takes %v", c.Speed(), c.Real(time.Minute))
	}
}
