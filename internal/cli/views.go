package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The views are what commands print: plain values with stable camelCase JSON names, built
// from records by pure functions so that rendering is tested on fixed values.

// RolloutView is a rollout as every command prints it.
type RolloutView struct {
	RolloutID        string          `json:"rolloutId"`
	StateMachine     string          `json:"stateMachine"`
	StateMachineArn  string          `json:"stateMachineArn"`
	Alias            string          `json:"alias"`
	Phase            rollout.Phase   `json:"phase"`
	PauseKind        string          `json:"pauseKind,omitempty"`
	StableVersion    string          `json:"stableVersion"`
	CandidateVersion string          `json:"candidateVersion"`
	Weights          rollout.Weights `json:"weights"`
	Strategy         string          `json:"strategy,omitempty"`
	Step             int             `json:"step"`  // the step the rollout is at, from 1; Steps when all are done
	Steps            int             `json:"steps"` // how many steps the policy expanded to
	Actor            string          `json:"actor,omitempty"`
	Reason           string          `json:"reason,omitempty"`
	Error            string          `json:"error,omitempty"`
	Source           string          `json:"source,omitempty"` // s3://bucket/key
	CreatedAt        time.Time       `json:"createdAt"`
	UpdatedAt        time.Time       `json:"updatedAt"`
	FinishedAt       time.Time       `json:"finishedAt,omitzero"`
}

// NewRolloutView is the view of a record.
func NewRolloutView(r rollout.Rollout) RolloutView {
	v := RolloutView{
		RolloutID: r.ID, StateMachine: r.StateMachineName, StateMachineArn: r.StateMachineArn, Alias: r.AliasName,
		Phase: r.Phase, PauseKind: string(r.PauseKind),
		StableVersion: r.StableVersionArn, CandidateVersion: r.CandidateVersionArn, Weights: r.IntendedWeights(),
		Strategy: string(r.Policy.Strategy), Steps: len(r.Steps), Step: min(r.StepIndex+1, len(r.Steps)),
		Actor: r.Actor, Reason: r.Reason, Error: r.ErrorName,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt,
	}
	if r.Upload.Bucket != "" {
		v.Source = "s3://" + r.Upload.Bucket + "/" + r.Upload.Key
	}
	return v
}

// Failed reports whether the rollout ended without its candidate: exit code 1.
func (v RolloutView) Failed() bool {
	switch v.Phase {
	case rollout.RolledBack, rollout.Aborted, rollout.Failed:
		return true
	}
	return false
}

// AlarmView is one alarm the policy names, with its state.
type AlarmView struct {
	Name  string             `json:"name"`
	State rollout.AlarmState `json:"state"`
}

// RouteView is one entry of the alias's live routing.
type RouteView struct {
	Version string `json:"version"`
	Weight  int    `json:"weight"`
}

// ExecutionsView counts the candidate version's executions since traffic started, from
// the AWS/States metrics the controller judges by: the failure rate is Failed over Closed
// (the executions that ended), as the controller computes it.
type ExecutionsView struct {
	Started     int64   `json:"started"`
	Closed      int64   `json:"closed"`
	Failed      int64   `json:"failed"`
	FailureRate float64 `json:"failureRate"` // percent
	// DimensionForm is the form of the Version dimension the metrics were found under
	// (number or arn); Source says "ListExecutions" when the metrics said nothing and the
	// executions were counted from the version's ListExecutions.
	DimensionForm string `json:"dimensionForm,omitempty"`
	Source        string `json:"source,omitempty"`
}

// StatusView is a rollout with where it stands now.
type StatusView struct {
	RolloutView
	CurrentStep string          `json:"currentStep,omitempty"` // weight:25, pause:5m, approval, analysis:10m, bake:2m
	NextStep    string          `json:"nextStep,omitempty"`    // what moves it on: a time, an approval, a resume
	NextStepAt  time.Time       `json:"nextStepAt,omitzero"`
	Alarms      []AlarmView     `json:"alarms"`
	Routing     []RouteView     `json:"routing"` // the alias as it is, which the intent (weights) leads
	Candidate   *ExecutionsView `json:"candidateExecutions,omitempty"`
	// QueuedBehind is the rollout holding the alias while this upload waits for it
	// (onBusy=queue), and QueuePosition its place in the alias's queue, from 1.
	QueuedBehind  string    `json:"queuedBehind,omitempty"`
	QueuePosition int       `json:"queuePosition,omitempty"`
	Now           time.Time `json:"-"`
}

// Queued marks the view of an upload waiting for its alias: behind the rollout that holds
// it, at position in the queue.
func (v *StatusView) Queued(behind string, position int) {
	v.QueuedBehind, v.QueuePosition = behind, position
	v.NextStep = fmt.Sprintf("queued behind %s (%s in the queue): starts when the alias is free; abort drops it", behind, ordinal(position))
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// NewStatusView adds the live routing, the alarms and the candidate's executions to a record.
func NewStatusView(r rollout.Rollout, routing []rollout.Route, alarms map[string]rollout.AlarmState, exec *ExecutionsView, now time.Time) StatusView {
	v := StatusView{RolloutView: NewRolloutView(r), Alarms: []AlarmView{}, Routing: []RouteView{}, Candidate: exec, Now: now}
	for _, name := range r.Policy.Alarms {
		state, ok := alarms[name]
		if !ok {
			state = rollout.AlarmMissing
		}
		v.Alarms = append(v.Alarms, AlarmView{Name: name, State: state})
	}
	for _, rt := range routing {
		v.Routing = append(v.Routing, RouteView{Version: rt.VersionArn, Weight: rt.Weight})
	}
	v.CurrentStep, v.NextStep, v.NextStepAt = nextStep(r)
	return v
}

// nextStep says what the rollout is at and what moves it on. The controller ticks once a
// minute, so a hold that ends at t moves on at the first tick after it.
func nextStep(r rollout.Rollout) (current, next string, at time.Time) {
	if r.Phase.Terminal() {
		return "", "", time.Time{}
	}
	if r.Phase == rollout.Pending {
		if r.CandidateVersionArn == "" {
			return "", "preparing (queued or checking the upload)", time.Time{}
		}
		return "", "first step at the first tick", time.Time{}
	}
	if r.Phase == rollout.Baking || (r.Phase == rollout.Paused && r.ResumePhase == rollout.Baking) {
		current = "bake:" + r.Policy.BakeTime.String()
	} else if r.StepIndex < len(r.Steps) {
		current = r.Steps[r.StepIndex].String()
	}
	if r.Phase == rollout.Paused {
		switch r.PauseKind {
		case rollout.PauseApproval:
			return current, "waits for approval: approve or promote", time.Time{}
		case rollout.PauseManual:
			return current, "paused by an operator: resume or promote", time.Time{}
		}
		return current, "paused (" + string(r.PauseKind) + "): resume, promote or abort", time.Time{}
	}
	if r.Phase == rollout.Baking {
		return current, "succeeds after the bake", r.BakeStartedAt.Add(r.Policy.BakeTime.D())
	}
	if r.StepIndex >= len(r.Steps) {
		return current, "finishes at the next tick", time.Time{}
	}
	s := r.Steps[r.StepIndex]
	switch {
	case s.Pause != nil && !s.Approval():
		return current, "next weight after the pause", r.StepStartedAt.Add(s.Pause.Duration.D())
	case s.Analysis != nil:
		return current, "next weight after the analysis, given enough executions", r.StepStartedAt.Add(s.Analysis.Duration.D())
	}
	return current, "at the next tick", time.Time{}
}

// EventView is one entry of the audit trail.
type EventView struct {
	Seq             int64         `json:"seq"`
	Time            time.Time     `json:"time"`
	Actor           string        `json:"actor"`
	Action          string        `json:"action"`
	Phase           rollout.Phase `json:"phase"`
	StepIndex       int           `json:"stepIndex"` // the record's step index after the action
	CandidateWeight int           `json:"candidateWeight"`
	Reason          string        `json:"reason,omitempty"`
}

// ShowView is a rollout with its policy, its steps and its whole audit trail.
type ShowView struct {
	RolloutView
	PolicyHash string         `json:"policyHash,omitempty"`
	Policy     rollout.Policy `json:"policy"`
	StepList   []string       `json:"stepList"`
	Events     []EventView    `json:"events"`
}

// NewShowView is the view of a record and its audit trail.
func NewShowView(r rollout.Rollout, events []controller.Event) ShowView {
	v := ShowView{RolloutView: NewRolloutView(r), PolicyHash: r.PolicyHash, Policy: r.Policy, StepList: []string{}, Events: []EventView{}}
	for _, s := range r.Steps {
		v.StepList = append(v.StepList, s.String())
	}
	for _, e := range events {
		v.Events = append(v.Events, EventView{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Phase: e.Phase, StepIndex: e.StepIndex, CandidateWeight: e.CandidateWeight, Reason: e.Reason})
	}
	return v
}

// DeployView is what deploy uploaded and the rollout it started.
type DeployView struct {
	RolloutView
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
}

// ControlView is a rollout after an operator's command.
type ControlView struct {
	RolloutView
	Command string `json:"command"`
	By      string `json:"by"`
	// CommandID is the id the command was sent with: a retry with it is applied at most once.
	CommandID string `json:"commandId,omitempty"`
}

// AliasRouteView is one alias that routes to a version, at a weight.
type AliasRouteView struct {
	Alias  string `json:"alias"`
	Weight int    `json:"weight"`
}

// VersionView is one published version of a state machine.
type VersionView struct {
	Version     string           `json:"version"`
	Number      int              `json:"number"`
	Description string           `json:"description,omitempty"`
	Created     time.Time        `json:"created"`
	Aliases     []AliasRouteView `json:"aliases"`
	Executions  map[string]int   `json:"executions"` // by status: SUCCEEDED, FAILED, RUNNING, …
	// More is true when the version has more executions than were counted.
	More bool `json:"moreExecutions,omitempty"`
	// Source is SourceMetrics when the counts come from AWS/States metrics (an Express
	// state machine, whose executions Step Functions does not list); empty when they are
	// ListExecutions' of the version.
	Source string `json:"source,omitempty"`
}

// SourceMetrics marks counts read from AWS/States metrics rather than ListExecutions.
const SourceMetrics = "AWS/States metrics"

// GCView is what gc deleted, or would delete with --dry-run.
type GCView struct {
	StateMachine string   `json:"stateMachine"`
	Keep         int      `json:"keep"`
	DryRun       bool     `json:"dryRun"`
	Deleted      []string `json:"deleted"`
	Kept         []string `json:"kept"`    // unreferenced versions kept as the newest Keep
	InUse        []string `json:"inUse"`   // versions an alias or an active rollout routes to
	Refused      []string `json:"refused"` // versions Step Functions would not delete (an alias took them meanwhile)
}

// ExplainStep is one step of a policy with when it starts if nothing holds it.
type ExplainStep struct {
	Step            int    `json:"step"`
	Action          string `json:"action"` // weight:25, pause:5m, approval, analysis:10m, bake:2m
	CandidateWeight int    `json:"candidateWeight"`
	StartsAt        string `json:"startsAt"` // offset from the first tick, e.g. 5m
	WaitsForever    bool   `json:"waitsForApproval,omitempty"`
}

// ExplainView is a policy's steps with their cumulative times.
type ExplainView struct {
	Policy           rollout.Policy `json:"policy"`
	Steps            []ExplainStep  `json:"steps"`
	PlannedDuration  string         `json:"plannedDuration"`
	WaitsForApproval bool           `json:"waitsForApproval"`
}

// NewExplainView lays out a valid policy's steps with the time each starts at.
func NewExplainView(p rollout.Policy) ExplainView {
	v := ExplainView{Policy: p, Steps: []ExplainStep{}}
	var at time.Duration // since the first tick, or since the last approval
	weight := 0
	approval := false
	for i, s := range p.Expand() {
		if s.SetWeight != nil {
			weight = *s.SetWeight
		}
		es := ExplainStep{Step: i + 1, Action: s.String(), CandidateWeight: weight, StartsAt: offset(at, approval)}
		switch {
		case s.Approval():
			// What follows an approval starts when the operator approves.
			es.WaitsForever = true
			approval = true
			at = 0
		case s.Pause != nil:
			at += s.Pause.Duration.D()
		case s.Analysis != nil:
			at += s.Analysis.Duration.D()
		}
		v.Steps = append(v.Steps, es)
	}
	if p.BakeTime > 0 {
		v.Steps = append(v.Steps, ExplainStep{Action: "bake:" + p.BakeTime.String(), CandidateWeight: 100, StartsAt: offset(at, approval)})
	}
	planned, waits := p.PlannedDuration()
	v.PlannedDuration, v.WaitsForApproval = rollout.Duration(planned).String(), waits
	return v
}

// offset writes a step's start: "5m" after the first tick, or "approval+5m" after the
// last approval.
func offset(d time.Duration, afterApproval bool) string {
	s := rollout.Duration(d).String()
	if afterApproval {
		return "approval+" + s
	}
	return s
}

// versionNumber is N of a version ARN …:stateMachine:<name>:<N>, or 0.
func versionNumber(arn string) int {
	i := strings.LastIndexByte(arn, ':')
	n, err := strconv.Atoi(arn[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// versionLabel is "v3" for a version ARN, "-" for none.
func versionLabel(arn string) string {
	if arn == "" {
		return "-"
	}
	return rollout.VersionLabel(arn)
}
