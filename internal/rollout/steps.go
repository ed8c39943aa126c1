package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseStep reads the short form of a step used in tags, metadata and flags:
// "weight:20", "pause:5m", "approval" and "analysis:10m".
func ParseStep(tok string) (Step, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(tok), ":")
	switch strings.ToLower(kind) {
	case "weight", "setweight":
		n, err := strconv.Atoi(arg)
		if !hasArg || err != nil {
			return Step{}, fmt.Errorf("step %q: want weight:<0-100>", tok)
		}
		return Step{SetWeight: &n}, nil
	case "pause":
		if !hasArg {
			return Step{Pause: &Pause{}}, nil
		}
		d, err := ParseDuration(arg)
		if err != nil {
			return Step{}, fmt.Errorf("step %q: %w", tok, err)
		}
		return Step{Pause: &Pause{Duration: d}}, nil
	case "approval", "approve":
		if hasArg {
			return Step{}, fmt.Errorf("step %q: approval takes no argument", tok)
		}
		return Step{Pause: &Pause{}}, nil
	case "analysis":
		d, err := ParseDuration(arg)
		if !hasArg || err != nil {
			return Step{}, fmt.Errorf("step %q: want analysis:<duration>", tok)
		}
		return Step{Analysis: &Analysis{Duration: d}}, nil
	}
	return Step{}, fmt.Errorf("step %q: want weight:<n>, pause:<duration>, approval or analysis:<duration>", tok)
}

// UnmarshalJSON reads a step object ({"setWeight": 20}, {"pause": {"duration": "5m"}},
// {"pause": {}}, {"analysis": {...}}) or the short form as a string ("weight:20").
// Unknown keys are errors.
func (s *Step) UnmarshalJSON(b []byte) error {
	var short string
	if json.Unmarshal(b, &short) == nil {
		v, err := ParseStep(short)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	type plain Step
	var v plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("step %s: %w (a step is one of setWeight, pause, analysis)", b, err)
	}
	*s = Step(v)
	return nil
}

// Validate checks that exactly one kind is set and its values are in range.
func (s Step) Validate() error {
	n := 0
	if s.SetWeight != nil {
		n++
		if w := *s.SetWeight; w < 0 || w > 100 {
			return fmt.Errorf("setWeight must be 0–100, got %d", w)
		}
	}
	if s.Pause != nil {
		n++
		if d := s.Pause.Duration.D(); d != 0 && d < time.Second {
			return fmt.Errorf("pause duration must be at least 1s, got %s", d)
		}
	}
	if s.Analysis != nil {
		n++
		a := s.Analysis
		if a.Duration.D() < time.Second {
			return fmt.Errorf("analysis duration must be at least 1s, got %s", a.Duration)
		}
		if a.MaxFailureRate < 0 || a.MaxFailureRate > 100 {
			return fmt.Errorf("analysis maxFailureRate must be 0–100, got %v", a.MaxFailureRate)
		}
		if a.MinExecutions < 0 {
			return fmt.Errorf("analysis minExecutions must be at least 0, got %d", a.MinExecutions)
		}
	}
	if n != 1 {
		return fmt.Errorf("a step must be exactly one of setWeight, pause, analysis; got %d", n)
	}
	return nil
}

// Approval reports whether the step waits for an operator's approve.
func (s Step) Approval() bool { return s.Pause != nil && s.Pause.Duration == 0 }

// String is the short form: weight:20, pause:5m, approval, analysis:10m.
func (s Step) String() string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("weight:%d", *s.SetWeight)
	case s.Approval():
		return "approval"
	case s.Pause != nil:
		return "pause:" + s.Pause.Duration.String()
	case s.Analysis != nil:
		return "analysis:" + s.Analysis.Duration.String()
	}
	return "invalid"
}

func weightStep(w int) Step { return Step{SetWeight: &w} }

// waitStep is the hold between two weights: an analysis when the policy watches the
// candidate's failure rate (so that the step passes only on enough data), else a pause.
func (p Policy) waitStep(d Duration) Step {
	if p.MaxFailureRate > 0 {
		return Step{Analysis: &Analysis{Duration: d}}
	}
	return Step{Pause: &Pause{Duration: d}}
}

// Expand turns the policy into the step list that is executed. Every list ends at weight
// 100; bake time is not a step (the Baking phase follows the list).
func (p Policy) Expand() []Step {
	var steps []Step
	switch p.Strategy {
	case AllAtOnce:
	case Canary:
		steps = append(steps, weightStep(p.Percentage), p.waitStep(p.Interval))
	case Linear:
		// w > 0 keeps an unvalidated policy (percentage 0) from looping for ever.
		for w := p.Percentage; w > 0 && w < 100; w += p.Percentage {
			steps = append(steps, weightStep(w), p.waitStep(p.Interval))
		}
	case Exponential:
		for w := float64(p.Percentage); w > 0 && w < 100; {
			steps = append(steps, weightStep(int(w)), p.waitStep(p.Interval))
			next := math.Ceil(w * p.GrowthFactor)
			if next <= w {
				next = w + 1
			}
			w = next
		}
	case BlueGreen:
		if p.Interval > 0 {
			steps = append(steps, p.waitStep(p.Interval))
		}
		if p.Approval {
			steps = append(steps, Step{Pause: &Pause{}})
		}
	case Custom:
		steps = append(steps, p.Steps...)
	}
	if last := lastWeight(steps); last != 100 {
		steps = append(steps, weightStep(100))
	}
	return steps
}

// lastWeight is the weight the step list ends on, or -1 when it sets none.
func lastWeight(steps []Step) int {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].SetWeight != nil {
			return *steps[i].SetWeight
		}
	}
	return -1
}

// PlannedDuration is how long the step list and the bake take when nothing pauses them,
// and whether some step waits for an approval (which has no planned end).
func (p Policy) PlannedDuration() (time.Duration, bool) {
	var total time.Duration
	approval := false
	for _, s := range p.Expand() {
		switch {
		case s.Approval():
			approval = true
		case s.Pause != nil:
			total += s.Pause.Duration.D()
		case s.Analysis != nil:
			total += s.Analysis.Duration.D()
		}
	}
	return total + p.BakeTime.D(), approval
}
