package rollout

import "time"

// Strategy names how traffic moves from the stable version to the candidate.
type Strategy string

const (
	AllAtOnce   Strategy = "ALL_AT_ONCE"
	Canary      Strategy = "CANARY"
	Linear      Strategy = "LINEAR"
	Exponential Strategy = "EXPONENTIAL"
	BlueGreen   Strategy = "BLUE_GREEN"
	Custom      Strategy = "CUSTOM"
)

// Reaction to drift, a busy alias, a failure or an alarm already firing.
type (
	OnDrift           string
	OnBusy            string
	OnFailure         string
	PreexistingAlarms string
)

const (
	DriftPause    OnDrift = "pause"
	DriftRollback OnDrift = "rollback"

	BusyReject    OnBusy = "reject"
	BusyQueue     OnBusy = "queue"
	BusySupersede OnBusy = "supersede"

	FailureRollback OnFailure = "rollback"
	FailurePause    OnFailure = "pause"

	PreexistingBlock  PreexistingAlarms = "block"
	PreexistingIgnore PreexistingAlarms = "ignore"
)

// Duration is a time.Duration written as "90s", "5m" or "1h" in JSON, tags and metadata.
type Duration time.Duration

// Policy is a fully resolved rollout policy. The zero values of optional fields mean
// "not set"; Resolve fills defaults and Validate checks ranges.
type Policy struct {
	Strategy          Strategy          `json:"strategy"`
	Percentage        int               `json:"percentage,omitempty"`
	Interval          Duration          `json:"interval,omitempty"`
	GrowthFactor      float64           `json:"growthFactor,omitempty"`
	Steps             []Step            `json:"steps,omitempty"`
	BakeTime          Duration          `json:"bakeTime,omitempty"`
	Alarms            []string          `json:"alarms,omitempty"`
	MaxFailureRate    float64           `json:"maxFailureRate,omitempty"` // percent, 0–100; 0 = not watched
	MinExecutions     int               `json:"minExecutions,omitempty"`
	OnDrift           OnDrift           `json:"onDrift,omitempty"`
	OnBusy            OnBusy            `json:"onBusy,omitempty"`
	OnFailure         OnFailure         `json:"onFailure,omitempty"`
	PreexistingAlarms PreexistingAlarms `json:"preexistingAlarms,omitempty"`
	KeepVersions      int               `json:"keepVersions,omitempty"`
	TestAlias         string            `json:"testAlias,omitempty"`
	Approval          bool              `json:"approval,omitempty"` // BLUE_GREEN: wait for approve before 100%
}

// Step is a one-of: exactly one field is set.
type Step struct {
	SetWeight *int      `json:"setWeight,omitempty"`
	Pause     *Pause    `json:"pause,omitempty"`
	Analysis  *Analysis `json:"analysis,omitempty"`
}

// Pause holds the current weight for Duration, or until approved when Duration is zero.
type Pause struct {
	Duration Duration `json:"duration,omitempty"`
}

// Analysis holds the current weight for Duration and then passes only when the candidate
// ran at least MinExecutions with a failure rate at most MaxFailureRate (percent).
// Zero fields take the policy's values.
type Analysis struct {
	Duration       Duration `json:"duration"`
	MaxFailureRate float64  `json:"maxFailureRate,omitempty"`
	MinExecutions  int      `json:"minExecutions,omitempty"`
}
