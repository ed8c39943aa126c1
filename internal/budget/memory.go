package budget

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store for one process that runs alone (and for tests): the buckets live in
// it, so invocations in other processes do not see its takes.
type Memory struct {
	mu      sync.Mutex
	emptyAt map[API]time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory with every bucket full.
func NewMemory() *Memory { return &Memory{emptyAt: map[API]time.Time{}} }

// Take is Store.Take under a mutex.
func (m *Memory) Take(_ context.Context, api API, full, limit time.Time, step time.Duration) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.emptyAt[api]
	if !ok || e.Before(full) {
		e = full
	}
	if e.After(limit) {
		return e, false, nil
	}
	e = e.Add(step)
	m.emptyAt[api] = e
	return e, true, nil
}
