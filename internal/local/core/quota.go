package core

import (
	"sync"
	"time"
)

// Bucket is a token bucket: Burst tokens, refilled at Rate per second of wall-clock time
// (quotas are about the real load on the endpoint, not virtual time).
type Bucket struct {
	Burst float64
	Rate  float64
}

// Quotas limits operations with token buckets; an empty table (quotas off) allows all.
type Quotas struct {
	mu      sync.Mutex
	buckets map[string]Bucket
	tokens  map[string]float64
	last    map[string]time.Time
	now     func() time.Time
}

// NewQuotas makes a quota table; nil or empty buckets switch quotas off.
func NewQuotas(buckets map[string]Bucket) *Quotas {
	return &Quotas{buckets: buckets, tokens: map[string]float64{}, last: map[string]time.Time{}, now: time.Now}
}

// Allow takes one token for op, or reports that the call is throttled.
func (q *Quotas) Allow(op string) bool {
	if q == nil {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ok := q.buckets[op]
	if !ok {
		return true
	}
	now := q.now()
	tokens, seen := q.tokens[op]
	if !seen {
		tokens = b.Burst
	} else {
		tokens += now.Sub(q.last[op]).Seconds() * b.Rate
		if tokens > b.Burst {
			tokens = b.Burst
		}
	}
	q.last[op] = now
	if tokens < 1 {
		q.tokens[op] = tokens
		return false
	}
	q.tokens[op] = tokens - 1
	return true
}

// StepFunctionsQuotas are AWS's us-east-1 numbers (AWS_BEHAVIOUR.md, Quotas).
func StepFunctionsQuotas() map[string]Bucket {
	control := Bucket{Burst: 100, Rate: 1}
	return map[string]Bucket{
		"StartExecution":                 {Burst: 1300, Rate: 300},
		"DescribeExecution":              {Burst: 300, Rate: 15},
		"ListExecutions":                 {Burst: 200, Rate: 5},
		"DescribeStateMachine":           {Burst: 200, Rate: 20},
		"DescribeStateMachineAlias":      {Burst: 200, Rate: 1},
		"UpdateStateMachineAlias":        control,
		"PublishStateMachineVersion":     control,
		"UpdateStateMachine":             control,
		"CreateStateMachineAlias":        control,
		"DeleteStateMachineAlias":        control,
		"DeleteStateMachineVersion":      control,
		"ListStateMachineVersions":       control,
		"ListStateMachineAliases":        control,
		"ValidateStateMachineDefinition": control,
	}
}
