package budget

import (
	"fmt"
	"time"
)

// API names a Step Functions control-plane action that has a token bucket of its own.
type API string

// The quota-bound actions the controller calls.
const (
	UpdateStateMachineAlias        API = "UpdateStateMachineAlias"
	PublishStateMachineVersion     API = "PublishStateMachineVersion"
	UpdateStateMachine             API = "UpdateStateMachine"
	CreateStateMachineAlias        API = "CreateStateMachineAlias"
	DeleteStateMachineAlias        API = "DeleteStateMachineAlias"
	DeleteStateMachineVersion      API = "DeleteStateMachineVersion"
	ListStateMachineVersions       API = "ListStateMachineVersions"
	ListStateMachineAliases        API = "ListStateMachineAliases"
	ValidateStateMachineDefinition API = "ValidateStateMachineDefinition"
	ListTagsForResource            API = "ListTagsForResource"
	DescribeStateMachineAlias      API = "DescribeStateMachineAlias"
	DescribeStateMachine           API = "DescribeStateMachine"
)

// Bucket is one of AWS's token buckets: it holds at most Burst tokens and gains Refill
// tokens a second; a call takes one.
type Bucket struct {
	Burst  int
	Refill float64
	// Shared says that rollbacks draw on this bucket too (only UpdateStateMachineAlias):
	// there every priority below Rollback leaves the rollbacks a reserve. A bucket only
	// forward work and garbage collection draw on (validations, publishes, the reads that
	// come before a step) keeps no reserve but garbage collection's: a burst of uploads may
	// use all of it.
	Shared bool
}

// Quotas are Step Functions' buckets for the actions above, per account and region, in
// us-east-1 (AWS_BEHAVIOUR.md, Quotas; docs/architecture.md, "Write budget"; a test holds the
// two tables together). Other regions are lower only for StartExecution, DescribeExecution
// and ListExecutions, which the controller does not budget.
var Quotas = map[API]Bucket{
	UpdateStateMachineAlias:        {Burst: 100, Refill: 1, Shared: true},
	PublishStateMachineVersion:     {Burst: 100, Refill: 1},
	UpdateStateMachine:             {Burst: 100, Refill: 1},
	CreateStateMachineAlias:        {Burst: 100, Refill: 1},
	DeleteStateMachineAlias:        {Burst: 100, Refill: 1},
	DeleteStateMachineVersion:      {Burst: 100, Refill: 1},
	ListStateMachineVersions:       {Burst: 100, Refill: 1},
	ListStateMachineAliases:        {Burst: 100, Refill: 1},
	ValidateStateMachineDefinition: {Burst: 100, Refill: 1},
	ListTagsForResource:            {Burst: 100, Refill: 1},
	DescribeStateMachineAlias:      {Burst: 200, Refill: 1},
	DescribeStateMachine:           {Burst: 200, Refill: 20},
}

// Priority orders the takers of a bucket: Rollback > Repair > Forward > GC.
type Priority int

// The priorities, lowest first; the zero Priority is none (PriorityOf answers Forward).
const (
	// GC is garbage collection: deleting old versions, listing what to delete.
	GC Priority = iota + 1
	// Forward is a rollout's next step, and the reads that decide it.
	Forward
	// Repair puts right a write that was lost (an alias left behind its record's intent).
	Repair
	// Rollback puts an alias back on its stable version. It never waits.
	Rollback
)

func (p Priority) String() string {
	switch p {
	case GC:
		return "gc"
	case Forward:
		return "forward"
	case Repair:
		return "repair"
	case Rollback:
		return "rollback"
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

// reservePercent is the share of a full bucket that a priority leaves to the priorities
// above it: a taker waits until the bucket holds more than its reserve. Rollback keeps none
// and does not wait at all.
//
// Forward's is small on purpose: a burst of 200 uploads must reach its first steps within
// a tenth of the time the bucket's own refill takes ((200 - 100) / 1 s), so forward steps may
// spend all but a few tokens, and those few are what a rollback finds at once in the middle
// of a burst. A storm of rollbacks needs no reserve to come first: forward work takes
// nothing while the view is below its reserve, so every refill is the rollbacks' until
// they are done.
var reservePercent = map[Priority]int{Repair: 1, Forward: 3, GC: 60}

// gcReservePercent is what garbage collection leaves to forward work on a bucket rollbacks
// do not draw on (validations, publishes, the reads before a step).
const gcReservePercent = 30

// Reserve is how many tokens a take at p leaves in the bucket: p takes only while the bucket
// holds at least Reserve(p)+1. Rollback's is 0 (it takes at once, even into debt). For a
// 100-token bucket rollbacks share: Repair 1, Forward 3, GC 60; for one they do not: GC 30,
// the others none.
func (b Bucket) Reserve(p Priority) int {
	if !b.Shared {
		if p == GC {
			return b.Burst * gcReservePercent / 100
		}
		return 0
	}
	return b.Burst * reservePercent[p] / 100
}

// Debt is how far below empty Rollback takes may drive the view of a bucket. AWS's own
// bucket never goes below empty (it throttles instead, and a throttled call takes nothing),
// so the debt is bounded: a storm of retried rollbacks holds lower priorities back for at
// most (Debt + Reserve)/Refill after it ends.
func (b Bucket) Debt() int { return b.Burst }

// span is how long the bucket takes to gain tokens.
func (b Bucket) span(tokens float64) time.Duration {
	return time.Duration(tokens / b.Refill * float64(time.Second))
}

// Tokens is what a bucket that was (or will be) empty at emptyAt holds at now; it is below
// zero while Rollback debt is being paid back.
func (b Bucket) Tokens(emptyAt, now time.Time) float64 {
	return min(float64(b.Burst), now.Sub(emptyAt).Seconds()*b.Refill)
}
