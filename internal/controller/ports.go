package controller

import (
	"context"
	"errors"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The ports are what the use cases need of AWS, one small interface each. The adapters in
// internal/awsapi implement them over aws-sdk-go-v2; tests use hand-written fakes.

// ErrNotFound is returned by ports for a resource or record that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by the table's ports when a conditional write loses (rev moved,
// lock held).
var ErrConflict = errors.New("conditional write failed")

// ErrInvalidDefinition is returned by StateMachines.Publish for a definition that Step
// Functions refuses (InvalidDefinition); the controller turns it into an InvalidDefinition Error.
var ErrInvalidDefinition = errors.New("invalid state machine definition")

// ErrThrottled marks an AWS error that is worth retrying (throttling, 5xx, timeouts).
// Adapters wrap such errors so that errors.Is(err, ErrThrottled) holds.
var ErrThrottled = errors.New("throttled or unavailable")

// StateMachine is what the controller reads of a state machine or a version.
type StateMachine struct {
	Arn        string
	Name       string
	Definition string
	RevisionID string
	RoleArn    string
	// Type is STANDARD or EXPRESS (rollout.TypeStandard, rollout.TypeExpress).
	Type string
}

// Diagnostic is one problem ValidateStateMachineDefinition reported.
type Diagnostic struct {
	Severity string
	Code     string
	Message  string
	Location string
}

// Version is one published version of a state machine.
type Version struct {
	Arn     string
	Created time.Time
}

// Alias is a state machine alias with its routing.
type Alias struct {
	Arn     string
	Name    string
	Routing []rollout.Route
	// UpdatedAt is the alias's updateDate: its last create or routing update.
	UpdatedAt time.Time
}

// StateMachines is Step Functions' control plane for state machines and versions.
type StateMachines interface {
	// Describe returns a state machine or a version (by version ARN). ErrNotFound if absent.
	Describe(ctx context.Context, arn string) (StateMachine, error)
	Tags(ctx context.Context, arn string) (map[string]string, error)
	// Validate returns the ERROR diagnostics of a definition for a state machine of the
	// type (STANDARD or EXPRESS: Express refuses .sync and .waitForTaskToken); none means
	// it is valid.
	Validate(ctx context.Context, definition, stateMachineType string) ([]Diagnostic, error)
	// Publish updates the definition and publishes it; an unchanged definition returns the
	// version that already holds it. A definition Step Functions refuses wraps
	// ErrInvalidDefinition.
	Publish(ctx context.Context, stateMachineArn, definition, description string) (versionArn string, err error)
	ListVersions(ctx context.Context, stateMachineArn string) ([]Version, error)
	// DeleteVersion deletes a version; one still referenced by an alias is ErrConflict.
	DeleteVersion(ctx context.Context, versionArn string) error
}

// Aliases is Step Functions' control plane for aliases.
type Aliases interface {
	Describe(ctx context.Context, aliasArn string) (Alias, error)
	// Update replaces the routing whole (absolute weights); entries with weight 0 are dropped,
	// so Describe may answer one route where the intent has a 0% side.
	Update(ctx context.Context, aliasArn string, routing []rollout.Route) error
	// Create creates an alias and returns its ARN. An identical replay (name, description
	// and routing) answers the alias it created; an alias of that name that differs in
	// anything is ErrConflict and stays as it is: Create never moves an alias.
	Create(ctx context.Context, stateMachineArn, name, description string, routing []rollout.Route) (aliasArn string, err error)
	Delete(ctx context.Context, aliasArn string) error
	List(ctx context.Context, stateMachineArn string) ([]Alias, error)
}

// Alarms reads CloudWatch alarms, metric and composite alike.
type Alarms interface {
	// States returns the state of each named alarm that exists; absent names do not exist.
	States(ctx context.Context, names []string) (map[string]rollout.AlarmState, error)
	// Statuses is States with each alarm's StateTransitionedTimestamp, read by the same
	// DescribeAlarms calls.
	Statuses(ctx context.Context, names []string) (map[string]AlarmStatus, error)
	// History returns the state changes of one alarm from from to to (both included),
	// oldest first: DescribeAlarmHistory's StateUpdate items, every page.
	History(ctx context.Context, name string, from, to time.Time) ([]AlarmTransition, error)
}

// AlarmStatus is an alarm's state and when its state value last changed.
type AlarmStatus struct {
	State rollout.AlarmState
	// TransitionedAt is StateTransitionedTimestamp: the last change of the state value
	// (a new reason in the same state does not move it).
	TransitionedAt time.Time
}

// AlarmTransition is one state change in an alarm's history.
type AlarmTransition struct {
	Time     time.Time
	From, To rollout.AlarmState
}

// Metrics reads a version's AWS/States execution counts.
type Metrics interface {
	// VersionCounts counts one version's executions between From and To.
	VersionCounts(ctx context.Context, q CountsQuery) (Counts, error)
	// ManyVersionCounts is VersionCounts for many versions at once, in as few
	// GetMetricData calls as their queries fit in; the answers are in the order asked.
	ManyVersionCounts(ctx context.Context, qs []CountsQuery) ([]Counts, error)
}

// CountsQuery names one version's executions between From and To.
type CountsQuery struct {
	StateMachineArn, VersionArn string
	From, To                    time.Time
	// Form is the Version dimension's form a look found before (the rollout's record);
	// empty asks for both forms.
	Form rollout.MetricsForm
	// Express says the state machine is EXPRESS: ListExecutions does not take it, so the
	// metrics are the only count (no cross-check).
	Express bool
}

// Counts are one version's executions.
type Counts struct {
	// Started counts ExecutionsStarted; Closed the executions that ended (succeeded,
	// failed, timed out, aborted), the failure rate's denominator; Failed those that
	// failed, timed out or were aborted.
	Started, Closed, Failed int64
	// Succeeded, TimedOut and Aborted break Closed down; Failed less TimedOut and Aborted
	// is what ended FAILED.
	Succeeded, TimedOut, Aborted int64
	// Form is the Version dimension's form read: the query's, else the one whose series
	// had data; empty when the query named none and no series had data.
	Form rollout.MetricsForm
	// FromExecutions is set when the metrics said nothing of the version while its state
	// machine had executions, and the counts are ListExecutions' of the version instead.
	FromExecutions bool
}

// Object is an artifact read from S3.
type Object struct {
	Body      []byte
	Metadata  map[string]string
	VersionID string
	ETag      string
}

// Artifacts reads the artifacts bucket, and writes it for the deploy custom resource.
type Artifacts interface {
	// Get reads an object (the given version when versionID is set). ErrNotFound if absent.
	Get(ctx context.Context, bucket, key, versionID string) (Object, error)
	// List returns the keys under prefix.
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	// Put stores body at key with the user metadata (lower-case keys, without
	// x-amz-meta-) and returns the new version's id ("" in an unversioned bucket). S3
	// announces it as any upload ("Object Created").
	Put(ctx context.Context, bucket, key string, body []byte, metadata map[string]string) (versionID string, err error)
}

// Schedule is a sweep's periodic tick, or a rollback's one-time continuation.
type Schedule struct {
	Name       string
	Expression string // rate(1 minute), or at(yyyy-mm-ddThh:mm:ss) in UTC
	Input      string // JSON given to the target
	// Target is the function the schedule invokes: the advance function (the zero value),
	// or the rollback function (a continuation).
	Target ScheduleTarget
	// DeleteAfterCompletion deletes a one-time schedule once it has fired
	// (ActionAfterCompletion DELETE).
	DeleteAfterCompletion bool
}

// ScheduleTarget names the function a schedule invokes.
type ScheduleTarget int

// The schedules' targets.
const (
	TargetAdvance ScheduleTarget = iota
	TargetRollback
)

// Schedules is EventBridge Scheduler.
type Schedules interface {
	// Create creates the schedule; one that exists already is not an error.
	Create(ctx context.Context, s Schedule) error
	// Delete deletes it; one that does not exist is not an error.
	Delete(ctx context.Context, name string) error
}

// Tasks answers the task tokens of the controller state machine's waits.
type Tasks interface {
	Succeed(ctx context.Context, token, output string) error
	// Fail fails the wait with an error name that the state machine's Catch matches.
	Fail(ctx context.Context, token, errorName, cause string) error
}

// Events publishes the rollout's EventBridge events.
type Events interface {
	Put(ctx context.Context, detailType string, detail any) error
}

// Clock tells the time; local mode runs it faster than the wall clock.
type Clock interface {
	Now() time.Time
}

// Event is one entry of a rollout's append-only audit trail.
type Event = rollout.AuditLine

// UploadClaim records that an upload was seen, and by which controller execution.
type UploadClaim struct {
	UploadID  string
	RolloutID string
	Execution string
	ExpiresAt time.Time
}

// Queued is a rollout waiting for its alias, with the task token that resumes it.
type Queued struct {
	AliasArn  string
	RolloutID string
	TaskToken string
	QueuedAt  time.Time
}

// The DynamoDB table of DESIGN.md is behind six ports, each declared next to the use case
// that needs it: Rollouts (here: every use case), Locks (fence.go), Queues (queue.go),
// AlarmGuards (rollback.go), Uploads (prepare.go) and Sweeps (sweep.go). Every write is one
// conditional item write.

// Rollouts are the rollout records and their audit trail, which every use case reads and
// writes (update and commit hold the optimistic lock); finalize lists the active ones.
type Rollouts interface {
	// CreateRollout writes a new record; ErrConflict if the id exists.
	CreateRollout(ctx context.Context, r rollout.Rollout) error
	// GetRollout reads a record; ErrNotFound if absent.
	GetRollout(ctx context.Context, id string) (rollout.Rollout, error)
	// SaveRollout writes r if the stored rev is still r.Rev, and returns r with Rev+1;
	// ErrConflict when another writer came first.
	SaveRollout(ctx context.Context, r rollout.Rollout) (rollout.Rollout, error)
	// AppendEvent adds to the audit trail; writing the same Seq twice keeps one entry.
	AppendEvent(ctx context.Context, rolloutID string, e Event) error
	// ListActive returns every rollout that has not ended (the sparse GSI).
	ListActive(ctx context.Context) ([]rollout.Rollout, error)
}
