package rollout

import (
	"slices"
	"time"
)

// Phase is where a rollout stands.
type Phase string

const (
	Pending     Phase = "Pending"     // prepared: candidate published, no traffic yet
	Progressing Phase = "Progressing" // walking the step list
	Paused      Phase = "Paused"      // held: by an operator, an approval step, a failure or drift
	Baking      Phase = "Baking"      // candidate at 100%, alarms still watched for BakeTime
	Succeeded   Phase = "Succeeded"   // alias 100% candidate
	RolledBack  Phase = "RolledBack"  // alias 100% stable after an alarm, failure rate or drift
	Aborted     Phase = "Aborted"     // alias 100% stable on an operator's abort or a superseding upload
	Failed      Phase = "Failed"      // refused (bad input, pre-traffic tests) or timed out; alias on stable
)

// Terminal reports whether the rollout has ended.
func (p Phase) Terminal() bool {
	switch p {
	case Succeeded, RolledBack, Aborted, Failed:
		return true
	}
	return false
}

// PauseKind says why a rollout is Paused, which decides how it may leave the pause.
type PauseKind string

const (
	PauseNone          PauseKind = ""
	PauseManual        PauseKind = "manual"         // an operator's pause: resume or promote
	PauseApproval      PauseKind = "approval"       // an approval step: approve or promote
	PauseFailure       PauseKind = "failure"        // onFailure=pause: resume, promote or abort
	PauseDrift         PauseKind = "drift"          // onDrift=pause: resume re-applies the intent
	PausePolicyChanged PauseKind = "policy-changed" // the policy changed mid-rollout
)

// Rollout is the record of one rollout: the intent that the alias follows.
type Rollout struct {
	ID                  string `json:"rolloutId"`
	StateMachineArn     string `json:"stateMachineArn"`
	StateMachineName    string `json:"stateMachine"`
	AliasName           string `json:"alias"`
	AliasArn            string `json:"aliasArn"`
	StableVersionArn    string `json:"stableVersion"`
	CandidateVersionArn string `json:"candidateVersion"`

	Policy     Policy `json:"policy"`
	PolicyHash string `json:"policyHash"`
	// Layers are the policy's sources other than the state machine's tags (rollout.json,
	// upload metadata), kept so that each tick can re-resolve the policy with fresh tags.
	Layers []Layer `json:"layers,omitempty"`
	Steps  []Step  `json:"steps"` // Policy expanded; only this list is executed

	Phase     Phase     `json:"phase"`
	PauseKind PauseKind `json:"pauseKind,omitempty"`
	// ResumePhase is the phase a Paused rollout returns to (Progressing or Baking).
	ResumePhase Phase `json:"resumePhase,omitempty"`
	StepIndex   int   `json:"stepIndex"`
	// CandidateWeight is the intent; PreviousWeight the weight of the step before, which an
	// alias may still show after a crash between the record write and the alias update.
	CandidateWeight  int       `json:"candidateWeight"`
	PreviousWeight   int       `json:"previousWeight"`
	StepStartedAt    time.Time `json:"stepStartedAt,omitzero"`
	BakeStartedAt    time.Time `json:"bakeStartedAt,omitzero"`
	TrafficStartedAt time.Time `json:"trafficStartedAt,omitzero"`
	// PreexistingAlarms are alarms that were in ALARM when the rollout was prepared, with
	// preexistingAlarms=ignore; each is dropped once it is seen out of ALARM.
	PreexistingAlarms []string `json:"preexistingAlarms,omitempty"`
	// AlarmsCheckedAt is the time up to which the alarms' history has been examined: the
	// moment Prepare read the alarms, moved on by each tick that had to read the history
	// (an alarm's state changed since). An alarm that entered ALARM after it counts as if
	// its event had arrived, even when it is OK again.
	AlarmsCheckedAt time.Time `json:"alarmsCheckedAt,omitzero"`
	// MetricsForm is how AWS/States's Version dimension named the candidate in the metrics
	// found for it (the version number or the version ARN: AWS does not document which),
	// so that later looks query that form alone; empty until a look found a series.
	MetricsForm MetricsForm `json:"metricsForm,omitempty"`
	// StateMachineType is the target's type, read when the upload was checked: STANDARD,
	// or EXPRESS, whose executions Step Functions neither lists nor describes, so that the
	// candidate is judged by its AWS/States metrics alone. Empty in older records: STANDARD.
	StateMachineType string `json:"stateMachineType,omitempty"`
	// SeenPolicyHash is the edited policy's hash the rollout already paused for, so that a
	// resume goes on with the original policy instead of pausing again.
	SeenPolicyHash string `json:"seenPolicyHash,omitempty"`
	// TestAlias is the BLUE_GREEN test alias Prepare chose: the policy's testAlias, or a
	// name derived from the alias that no alias of the state machine had. TestAliasArn is
	// set only once the controller created that alias for this rollout; it is the one
	// test alias the controller moves or deletes.
	TestAlias    string `json:"testAlias,omitempty"`
	TestAliasArn string `json:"testAliasArn,omitempty"`
	// DriftAfterEnd is the routing found on the alias after the rollout ended that the
	// rollout did not set (a hand change), once reported, so that it is reported once.
	DriftAfterEnd string `json:"driftAfterEnd,omitempty"`

	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Deadline   time.Time `json:"deadline,omitzero"`

	// FenceClosedAt is set when the controller starts giving up the rollout's alias (finalize,
	// supersede, a stale lock taken over, an orphan's cleanup): from then on no alias write
	// of this rollout passes its pre-check, so one write window later nothing of it can land
	// on the alias, and the lock may go to the next rollout. Each attempt to give the alias
	// up sets it again (and so moves Rev), which also fences an earlier attempt's repair.
	FenceClosedAt time.Time `json:"fenceClosedAt,omitzero"`

	Actor     string `json:"actor,omitempty"` // who uploaded
	Reason    string `json:"reason,omitempty"`
	ErrorName string `json:"error,omitempty"` // the named error of a Failed rollout

	Upload Upload `json:"upload"`
	// QueuedBehind is the rollout that held the alias when this upload queued for it
	// (onBusy=queue); empty once it has the alias.
	QueuedBehind string `json:"queuedBehind,omitempty"`
	// Commands are the operators' commands applied, newest last, with their answers: a
	// command id applied once is answered from here and changes nothing.
	Commands []AppliedCommand `json:"commands,omitempty"`
	// Intents are the candidate weights (other than 0) the rollout has asked of the alias,
	// and IntentAt when it last changed the weight. An alias write is checked against the
	// newest record right before it and lands within the controller's write window or never,
	// so a weight of an earlier intent can still land on the alias until IntentAt plus the
	// window: found on an alias last updated no later than that, it is the controller's own
	// lag, repaired like PreviousWeight, never drift. Found on an alias updated after it,
	// it was set by someone else.
	Intents  []int     `json:"intents,omitempty"`
	IntentAt time.Time `json:"intentAt,omitzero"`
	// Decided is the audit line of the decision that wrote this revision (when Decided.Rev
	// is Rev): whoever puts this revision's routing on the alias writes the line too, so that
	// no weight the alias takes is missing from the audit trail, even when the decision's
	// own writer died or timed out after its save.
	Decided *Decided `json:"decided,omitempty"`
	// Noted is the audit line of the last save that was no decision on the weights:
	// Prepare's candidate (Prepared), its refusal (Refused), the blue/green test alias
	// (TestAliasCreated). The step that made the save writes it after the save; a retry of
	// that step writes it again (the same Seq, so one line), since the first invocation may
	// have died between the two.
	Noted *AuditLine `json:"noted,omitempty"`
	// OwedEvent is the EventBridge detail type ("Rollout Started", "Rollout Step", …) of
	// the last decision's event until it has been put: saved with the decision, cleared
	// when the alias is confirmed after the put. A decision whose alias write landed but
	// whose answer was lost, or whose put failed, leaves it set, and the next tick that
	// knows the alias to be at the intent puts it, before any event of its own.
	OwedEvent string `json:"owedEvent,omitempty"`
	// AliasConfirmed is the candidate weight the alias was last seen or written at by the
	// controller (nil: never confirmed). While it equals CandidateWeight a sweep takes the
	// alias to be at the intent without reading it; any other value (a write that failed,
	// a crash between the record and the alias) makes the next sweep read the alias and
	// repair it.
	AliasConfirmed *int `json:"aliasConfirmed,omitempty"`
	// AliasConfirmedAt is when AliasConfirmed was last set: the write landed, or a read saw
	// the alias at the intent. Confirmed past IntentAt plus the write window, no write of an
	// earlier intent can land after it (LateWritesOver).
	AliasConfirmedAt time.Time `json:"aliasConfirmedAt,omitzero"`
	// AliasReadAt is when Prepare read the alias at 100% stable. The first step's write
	// takes that read as its own while it is recent (controller.FreshRead), instead of
	// reading the alias again: a burst of uploads then costs one alias read each.
	AliasReadAt time.Time `json:"aliasReadAt,omitzero"`
	// WriterUntil is how long the invocation that saved this intent goes on trying to put it
	// on the alias (its deadline). Until then a repairer (the sweep, Finalize) leaves an
	// unconfirmed intent to that writer instead of reading the alias and writing it a
	// second time: after a storm of rollbacks, each alias update and alias read of the
	// account's buckets goes to a rollout that needs it.
	WriterUntil time.Time `json:"writerUntil,omitzero"`
	// HandedTurn is the turn of the alias-update bucket that a rollback's writer, whose turn
	// lay beyond its invocation's wait, handed to a continuation of itself (a one-time
	// schedule shortly before it); WriterUntil then runs a little past it, and until then
	// (or until the intent is confirmed) the continuation is the rollback's writer. The
	// continuation that finds its own turn here claims it (ClaimedTurn) before it writes or
	// gives the turn back, so that a second firing of the schedule does neither.
	HandedTurn  time.Time `json:"handedTurn,omitzero"`
	ClaimedTurn time.Time `json:"claimedTurn,omitzero"`
	// Settled is set once the rollout is over and its Finalize (or an orphan's clean-up)
	// has given everything back: from then on it leaves the index of running rollouts that
	// the sweep reads. An ended rollout that is not settled yet is still swept (its outcome
	// told again, its own lost write repaired, its lock reclaimed if Finalize never comes).
	Settled   bool   `json:"settled,omitempty"`
	TaskToken string `json:"-"`
	// Rev is the optimistic lock: each save expects the rev it read.
	Rev int64 `json:"rev"`
}

// ownLag reports whether the alias's live candidate weight may be a late write of one of
// the rollout's own earlier intents (see Intents). 0% never counts: a late write of it only
// takes traffic off the candidate, and an alias 100% on stable is what an operator's
// emergency rollback by hand looks like, which must never be overwritten as a lag.
//
// The step before (PreviousWeight) is own lag whenever the update time is unknown, or the
// alias was last updated before every write of the rollout could have landed: an alias set
// to it later than that was set by someone else.
func (r Rollout) ownLag(live int, obs Observation) bool {
	inWindow := !obs.AliasUpdatedAt.After(r.IntentAt.Add(obs.WriteWindow))
	if live == r.PreviousWeight {
		return obs.AliasUpdatedAt.IsZero() || r.IntentAt.IsZero() || inWindow
	}
	if live == 0 || obs.AliasUpdatedAt.IsZero() || !slices.Contains(r.Intents, live) {
		return false
	}
	return inWindow
}

// Confirmed reports whether the controller knows the alias to be at the intent: its last
// write of the intent landed, or a read saw it there (AliasConfirmed).
func (r Rollout) Confirmed() bool {
	return r.AliasConfirmed != nil && *r.AliasConfirmed == r.CandidateWeight
}

// LateWritesOver reports whether the alias is known to be at r's intent with no write of
// an earlier intent left to land on it: the intent is confirmed, and it was confirmed more
// than the write window after it was made (every alias write lands within the window of
// its own decision, or never). Giving the alias up then needs no read of it.
func (r Rollout) LateWritesOver(window time.Duration) bool {
	return r.Confirmed() && !r.AliasConfirmedAt.IsZero() && r.AliasConfirmedAt.Sub(r.IntentAt) > window
}

// Running reports whether a sweep still looks at the rollout: it has not ended, or it has
// ended and is not settled yet.
func (r Rollout) Running() bool { return !r.Phase.Terminal() || !r.Settled }

// WithIntent returns next with the intent bookkeeping of a save over prev at now: a changed
// weight is added to Intents, stamps IntentAt, and is not confirmed yet (AliasConfirmed).
func WithIntent(prev, next Rollout, now time.Time) Rollout {
	if prev.CandidateWeight == next.CandidateWeight {
		return next
	}
	// A new intent is unconfirmed until its own write lands or a read finds it: a
	// confirmation of an earlier intent at the same weight (0 before the first step, then a
	// rollback to 0) says nothing of the writes in between.
	next.AliasConfirmed, next.AliasConfirmedAt = nil, time.Time{}
	next.Intents = slices.Clone(prev.Intents)
	for _, w := range []int{prev.CandidateWeight, next.CandidateWeight} {
		if w != 0 && !slices.Contains(next.Intents, w) {
			next.Intents = append(next.Intents, w)
		}
	}
	next.IntentAt = now
	return next
}

// AuditLine is one entry of a rollout's append-only audit trail. Its Seq is the rev of the
// save it tells of, so that writing it again keeps one line.
type AuditLine struct {
	Seq             int64     `json:"seq"`
	Time            time.Time `json:"time"`
	Actor           string    `json:"actor"`
	Action          string    `json:"action"`
	Phase           Phase     `json:"phase"`
	StepIndex       int       `json:"stepIndex"`
	CandidateWeight int       `json:"candidateWeight"`
	Reason          string    `json:"reason,omitempty"`
}

// Decided is what the audit trail says of one decision.
type Decided struct {
	Rev    int64     `json:"rev"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action Action    `json:"action"`
	Reason string    `json:"reason,omitempty"`
}

// Upload identifies the S3 object a rollout came from.
type Upload struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
	ETag      string `json:"etag,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// Weights is the routing the rollout wants on the alias.
type Weights struct {
	Stable    int `json:"stable"`
	Candidate int `json:"candidate"`
}

// IntendedWeights is the routing the record asks for now.
func (r Rollout) IntendedWeights() Weights {
	return Weights{Stable: 100 - r.CandidateWeight, Candidate: r.CandidateWeight}
}

// AlarmState is an alarm's state as CloudWatch reports it.
type AlarmState string

const (
	AlarmOK               AlarmState = "OK"
	AlarmAlarm            AlarmState = "ALARM"
	AlarmInsufficientData AlarmState = "INSUFFICIENT_DATA"
	AlarmMissing          AlarmState = "MISSING" // named by the policy but absent: never read as OK
)

// The state machine types of Step Functions.
const (
	TypeStandard = "STANDARD"
	TypeExpress  = "EXPRESS"
)

// Express reports whether the rollout's state machine is an Express one.
func (r Rollout) Express() bool { return r.StateMachineType == TypeExpress }

// MetricsForm is how the Version dimension of AWS/States's metrics names a version.
type MetricsForm string

const (
	MetricsFormNumber MetricsForm = "number" // "3", the last field of the version ARN
	MetricsFormArn    MetricsForm = "arn"    // the whole version ARN
)

// Route is one entry of an alias's routing configuration.
type Route struct {
	VersionArn string `json:"versionArn"`
	Weight     int    `json:"weight"`
}

// Observation is what the controller saw of the world for one decision.
type Observation struct {
	// Routing is the alias's live routing configuration.
	Routing []Route
	// Alarms holds the state of every alarm the policy names.
	Alarms map[string]AlarmState
	// CandidateExecutions and CandidateFailures count the candidate version's closed
	// executions (succeeded+failed+timed out+aborted; failed+timed out+aborted) since traffic
	// started. Closed, not started: failures are counted when an execution ends, so a rate
	// over started executions reads low while executions are in flight.
	CandidateExecutions int64
	CandidateFailures   int64
	// MetricsForm is the Version dimension's form the candidate's metrics were found
	// under by this look; empty when no series had data. The decision records it.
	MetricsForm MetricsForm
	// EnteredAlarms are alarms seen entering ALARM since the rollout last looked (an event,
	// a StateTransitionedTimestamp after AlarmsCheckedAt, or an ALARM in their history):
	// never preexisting, even when they were in ALARM at Prepare.
	EnteredAlarms []string
	// AlarmsCheckedAt, when set, is the time up to which the alarms' history was read;
	// the decision records it.
	AlarmsCheckedAt time.Time
	// AlarmsInconclusive is set when an alarm's history could not be read: it may have
	// been in ALARM unseen, so nothing moves forward (a rollback or a pause still may).
	AlarmsInconclusive bool
	// PolicyHash is the hash of the policy as it resolves now; empty when not observed.
	PolicyHash string
	// AliasUpdatedAt is the alias's updateDate, zero when unknown; WriteWindow bounds how
	// late a write of the controller's may land (see Rollout.Intents).
	AliasUpdatedAt time.Time
	WriteWindow    time.Duration
	// Slack ends a hold (pause, analysis, bake) that has less than this left: the next
	// tick is a whole period away, and a tick that comes a moment early must not add that
	// period to the hold. The controller sets it to half its tick period.
	Slack time.Duration
}

// Action is what a decision asks the controller to do.
type Action string

const (
	ActionWait       Action = "Wait"       // nothing to change
	ActionSetWeights Action = "SetWeights" // move (or repair) the alias to Next's intent
	ActionPause      Action = "Pause"      // hold; the alias stays as it is
	ActionResume     Action = "Resume"     // leave a pause; the alias is set to the intent
	ActionPromote    Action = "Promote"    // weights moved to 100% candidate (bake may follow)
	ActionFinish     Action = "Finish"     // Succeeded: alias 100% candidate
	ActionRollback   Action = "Rollback"   // alias 100% stable; RolledBack or Aborted
	ActionNone       Action = "None"       // the rollout has ended and the alias is right
	// ActionReportDrift: the rollout has ended and the alias was changed by hand since; it
	// is reported (once) and left alone.
	ActionReportDrift Action = "ReportDrift"
)

// Decision is the outcome of Decide or Apply: the next record and what to do to the alias.
type Decision struct {
	Action Action
	// Next is the record to save (with the same Rev as the input: the store bumps it).
	Next Rollout
	// SetAlias is true when the alias must be set to Next.IntendedWeights().
	SetAlias bool
	Reason   string
}

// Command is an operator's request, effective at once.
type Command string

const (
	CommandPause       Command = "pause"
	CommandResume      Command = "resume"
	CommandPromote     Command = "promote"
	CommandPromoteFull Command = "promote-full"
	CommandAbort       Command = "abort"
	CommandApprove     Command = "approve"
)
