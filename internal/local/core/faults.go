package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Fault is an injected failure: for one service and operation ("*" for all), answer with
// Code at Rate (0–1) and/or add Latency. Tests switch faults on through the admin API.
type Fault struct {
	Service   string        `json:"service"`   // states, monitoring, events, scheduler, s3, lambda, dynamodb
	Operation string        `json:"operation"` // UpdateStateMachineAlias, or "*"
	Code      string        `json:"code,omitempty"`
	Message   string        `json:"message,omitempty"`
	Status    int           `json:"status,omitempty"` // 400 for throttling, 500 for a server fault
	Rate      float64       `json:"rate"`
	Latency   time.Duration `json:"latency,omitempty"`   // nanoseconds; "200ms" is read too
	Remaining int           `json:"remaining,omitempty"` // stop after this many injections; 0 = unlimited
}

// UnmarshalJSON reads a fault as the admin API receives it: latency is a duration string
// ("200ms", "1.5s") or, as Fault marshals it, a number of nanoseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var in struct {
		plain
		Latency json.RawMessage `json:"latency"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*f = Fault(in.plain)
	f.Latency = 0
	switch lat := bytes.TrimSpace(in.Latency); {
	case len(lat) == 0 || string(lat) == "null":
	case lat[0] == '"':
		var text string
		if err := json.Unmarshal(lat, &text); err != nil {
			return err
		}
		d, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		f.Latency = d
	default:
		var ns int64
		if err := json.Unmarshal(lat, &ns); err != nil {
			return fmt.Errorf("latency: want a duration such as \"200ms\" or nanoseconds: %w", err)
		}
		f.Latency = time.Duration(ns)
	}
	if f.Latency < 0 {
		return fmt.Errorf("latency %s: want a positive duration", f.Latency)
	}
	return nil
}

// Faults holds the injected failures, drawn from a seeded source so runs repeat.
type Faults struct {
	mu     sync.Mutex
	faults []*Fault
	rng    *rand.Rand
}

// NewFaults makes an empty set drawing from seed.
func NewFaults(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Set replaces all faults.
func (f *Faults) Set(faults []Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = f.faults[:0]
	for i := range faults {
		fault := faults[i]
		f.faults = append(f.faults, &fault)
	}
}

// List returns the faults in force.
func (f *Faults) List() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Fault, len(f.faults))
	for i, x := range f.faults {
		out[i] = *x
	}
	return out
}

// Check draws the faults for one call: the latency to add, and the error to answer, if any.
func (f *Faults) Check(service, op string) (time.Duration, *APIError) {
	if f == nil {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var latency time.Duration
	for _, x := range f.faults {
		if (x.Service != "*" && x.Service != service) || (x.Operation != "*" && x.Operation != op) {
			continue
		}
		latency += x.Latency
		if x.Code == "" || f.rng.Float64() >= x.Rate {
			continue
		}
		if x.Remaining > 0 {
			x.Remaining--
			if x.Remaining == 0 {
				x.Rate = 0
			}
		}
		status := x.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		msg := x.Message
		if msg == "" {
			msg = "Rate exceeded"
		}
		return latency, &APIError{Code: x.Code, Message: msg, Status: status}
	}
	return latency, nil
}
