package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Ranges of the policy's fields.
const (
	MaxIntervalMinutes = 2100 // as CloudFormation's DeploymentPreference
	MaxAlarms          = 100
	MaxSteps           = 100
	MaxKeepVersions    = 1000
	DefaultKeep        = 10
	DefaultMinExec     = 10
	DefaultCanaryPct   = 10
	DefaultInterval    = 5 * time.Minute
	DefaultGrowth      = 2.0
)

// aliasName is Step Functions' rule for alias names (AWS_BEHAVIOUR.md),
// `^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$`, written without the lookahead Go's regexp lacks.
var aliasName = regexp.MustCompile(`^[a-zA-Z0-9_\-.]*[a-zA-Z_\-.][a-zA-Z0-9_\-.]*$`)

// ValidAliasName reports whether name is a Step Functions alias name: 1–80 of letters,
// digits, '_', '-' and '.', at least one of them not a digit, so that an alias ARN never
// reads as a version ARN. The policy's testAlias and the deploy custom resource's alias
// are held to it.
func ValidAliasName(name string) bool {
	return len(name) <= 80 && aliasName.MatchString(name)
}

// withDefaults fills what the user left out and the strategy implies.
func (p Policy) withDefaults() Policy {
	if p.Strategy == Canary {
		if p.Percentage == 0 {
			p.Percentage = DefaultCanaryPct
		}
		if p.Interval == 0 {
			p.Interval = Duration(DefaultInterval)
		}
	}
	if p.Strategy == Exponential && p.GrowthFactor == 0 {
		p.GrowthFactor = DefaultGrowth
	}
	if p.MaxFailureRate > 0 && p.MinExecutions == 0 {
		p.MinExecutions = DefaultMinExec
	}
	if p.OnDrift == "" {
		p.OnDrift = DriftPause
	}
	if p.OnBusy == "" {
		p.OnBusy = BusyReject
	}
	if p.OnFailure == "" {
		p.OnFailure = FailureRollback
	}
	if p.PreexistingAlarms == "" {
		p.PreexistingAlarms = PreexistingIgnore
	}
	if p.KeepVersions == 0 {
		p.KeepVersions = DefaultKeep
	}
	return p
}

// Validate checks every field's range.
func (p Policy) Validate() error { return p.validate(nil) }

func (p Policy) validate(origin map[string]string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Source: origin[field], Msg: fmt.Sprintf(format, args...)})
	}
	interval := func(required bool) {
		d := p.Interval.D()
		switch {
		case d == 0 && required:
			bad("interval", "required for %s (a duration like 5m)", p.Strategy)
		case d != 0 && (d < time.Second || d > MaxIntervalMinutes*time.Minute):
			bad("interval", "must be between 1s and %dm, got %s", MaxIntervalMinutes, p.Interval)
		}
	}
	percentage := func() {
		if p.Percentage < 1 || p.Percentage > 99 {
			bad("percentage", "must be between 1 and 99 for %s, got %d", p.Strategy, p.Percentage)
		}
	}
	switch p.Strategy {
	case AllAtOnce:
	case Canary, Linear:
		percentage()
		interval(true)
	case Exponential:
		percentage()
		interval(true)
		if p.GrowthFactor < 1.1 || p.GrowthFactor > 10 {
			bad("growthFactor", "must be between 1.1 and 10, got %v", p.GrowthFactor)
		}
	case BlueGreen:
		interval(false)
		if p.TestAlias != "" && !ValidAliasName(p.TestAlias) {
			bad("testAlias", "must be 1–80 of letters, digits, '-', '_', '.' with at least one non-digit, got %q", p.TestAlias)
		}
	case Custom:
		if len(p.Steps) == 0 || len(p.Steps) > MaxSteps {
			bad("steps", "CUSTOM needs 1–%d steps, got %d", MaxSteps, len(p.Steps))
		}
		prev := 0
		for i, s := range p.Steps {
			if err := s.Validate(); err != nil {
				bad("steps", "step %d: %v", i+1, err)
				continue
			}
			if s.SetWeight != nil {
				if *s.SetWeight < prev {
					bad("steps", "step %d: setWeight %d is below the previous weight %d (weights only grow; abort to go back)", i+1, *s.SetWeight, prev)
				}
				prev = *s.SetWeight
			}
			if s.Analysis != nil && s.Analysis.MaxFailureRate == 0 && p.MaxFailureRate == 0 {
				bad("steps", "step %d: analysis needs a maxFailureRate, on the step or the policy", i+1)
			}
		}
	default:
		bad("strategy", "must be one of ALL_AT_ONCE, CANARY, LINEAR, EXPONENTIAL, BLUE_GREEN, CUSTOM, got %q", p.Strategy)
	}
	if p.Strategy != Custom && len(p.Steps) > 0 {
		bad("steps", "only CUSTOM takes steps, strategy is %s", p.Strategy)
	}
	if d := p.BakeTime.D(); d < 0 || d > 24*time.Hour {
		bad("bakeTime", "must be between 0s and 24h, got %s", p.BakeTime)
	}
	if len(p.Alarms) > MaxAlarms {
		bad("alarms", "at most %d alarms, got %d", MaxAlarms, len(p.Alarms))
	}
	seen := map[string]bool{}
	for _, a := range p.Alarms {
		switch {
		case a == "" || len(a) > 255:
			bad("alarms", "alarm names are 1–255 characters, got %q", a)
		case seen[a]:
			bad("alarms", "alarm %q is named twice", a)
		case len(a) > 4 && a[:4] == "arn:":
			bad("alarms", "name alarms by name, not ARN: %q", a)
		}
		seen[a] = true
	}
	if p.MaxFailureRate < 0 || p.MaxFailureRate > 100 {
		bad("maxFailureRate", "must be a percentage between 0 and 100 (0 = not watched), got %v", p.MaxFailureRate)
	}
	if p.MinExecutions < 0 || p.MinExecutions > 1_000_000 {
		bad("minExecutions", "must be between 1 and 1000000, got %d", p.MinExecutions)
	}
	if p.MaxFailureRate == 0 && p.MinExecutions > 0 && p.Strategy != Custom {
		bad("minExecutions", "has no effect without maxFailureRate")
	}
	enum := func(field, got string, allowed ...string) {
		for _, a := range allowed {
			if got == a {
				return
			}
		}
		bad(field, "must be one of %v, got %q", allowed, got)
	}
	enum("onDrift", string(p.OnDrift), string(DriftPause), string(DriftRollback))
	enum("onBusy", string(p.OnBusy), string(BusyReject), string(BusyQueue), string(BusySupersede))
	enum("onFailure", string(p.OnFailure), string(FailureRollback), string(FailurePause))
	enum("preexistingAlarms", string(p.PreexistingAlarms), string(PreexistingBlock), string(PreexistingIgnore))
	if p.KeepVersions < 1 || p.KeepVersions > MaxKeepVersions {
		bad("keepVersions", "must be between 1 and %d, got %d", MaxKeepVersions, p.KeepVersions)
	}
	if p.TestAlias != "" && p.Strategy != BlueGreen {
		bad("testAlias", "only BLUE_GREEN uses a test alias, strategy is %s", p.Strategy)
	}
	if p.Approval && p.Strategy != BlueGreen {
		bad("approval", "only BLUE_GREEN takes approval; CUSTOM uses an approval step")
	}
	return errors.Join(errs...)
}

// Hash identifies the policy: a changed hash mid-rollout means the policy was edited.
// Alarm order does not matter: reordering alarms is no edit.
func (p Policy) Hash() string {
	p.Alarms = slices.Sorted(slices.Values(p.Alarms))
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// CheckTick refuses holds (the interval, pause and analysis steps) shorter than the
// controller's tick, which could not end them on time: a minute on AWS.
func (p Policy) CheckTick(tick time.Duration) error {
	short := func(field string, d Duration) error {
		if d > 0 && d.D() < tick {
			return &FieldError{Field: field, Msg: fmt.Sprintf("%s is shorter than the controller's tick of %s", d, Duration(tick))}
		}
		return nil
	}
	if err := short("interval", p.Interval); err != nil {
		return err
	}
	for _, s := range p.Steps {
		switch {
		case s.Pause != nil:
			if err := short("steps", s.Pause.Duration); err != nil {
				return err
			}
		case s.Analysis != nil:
			if err := short("steps", s.Analysis.Duration); err != nil {
				return err
			}
		}
	}
	return nil
}
