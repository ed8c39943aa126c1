// Package budget is the controller's client-side view of Step Functions' token buckets.
package budget

import "context"

// Priority orders the calls that draw on a bucket: Rollback before Repair before Forward
// before GC.
type Priority int

const (
	Rollback Priority = iota
	Repair
	Forward
	GC
)

type priorityKey struct{}

// WithPriority returns ctx carrying p.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf returns the priority ctx carries, Forward when none.
func PriorityOf(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok {
		return p
	}
	return Forward
}
