// Package topology is the one place that names sfn-rollout's resources, environment
// variables, event patterns and key layouts; infra/ and local mode both read it.
package topology

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Functions are the Lambda functions, by their folder under functions/: the rollout's six,
// then the deploy custom resource's two (deploy.go).
var Functions = []string{"prepare", "register", "advance", "rollback", "finalize", "control", DeployFunction, DeployStatusFunction}

// The AWS clients a function may build besides DynamoDB's (the rollout table), which every
// function uses.
const (
	ClientStepFunctions = "states"
	ClientCloudWatch    = "cloudwatch"
	ClientS3            = "s3"
	ClientScheduler     = "scheduler"
	ClientEventBridge   = "events"
)

// FunctionClients are the clients each function's main builds: its bootstrap links these
// alone, and its role is granted calls of these services alone (infra/controller's test
// keeps the two equal). Every function announces on the event bus.
var FunctionClients = map[string][]string{
	"prepare":  {ClientStepFunctions, ClientCloudWatch, ClientS3, ClientEventBridge},
	"register": {ClientStepFunctions, ClientCloudWatch, ClientScheduler, ClientEventBridge},
	"advance":  {ClientStepFunctions, ClientCloudWatch, ClientScheduler, ClientEventBridge},
	"rollback": {ClientStepFunctions, ClientCloudWatch, ClientScheduler, ClientEventBridge}, // Scheduler: continuations
	"finalize": {ClientStepFunctions, ClientCloudWatch, ClientEventBridge},
	"control":  {ClientStepFunctions, ClientEventBridge},
	// The deploy custom resource: onEvent uploads and publishes (and aborts as control
	// does); isComplete reads the record and the alias.
	DeployFunction:       {ClientStepFunctions, ClientS3, ClientEventBridge},
	DeployStatusFunction: {ClientStepFunctions},
}

// Environment variables the functions read.
const (
	EnvTable              = "SFN_ROLLOUT_TABLE"
	EnvBucket             = "SFN_ROLLOUT_BUCKET"
	EnvScheduleGroup      = "SFN_ROLLOUT_SCHEDULE_GROUP"
	EnvSchedulerRoleArn   = "SFN_ROLLOUT_SCHEDULER_ROLE_ARN"
	EnvAdvanceFunctionArn = "SFN_ROLLOUT_ADVANCE_FUNCTION_ARN"
	// EnvRollbackFunctionArn is the rollback function, which a rollback's continuation
	// schedule invokes (ContinuationScheduleName).
	EnvRollbackFunctionArn = "SFN_ROLLOUT_ROLLBACK_FUNCTION_ARN"
	EnvEventBus            = "SFN_ROLLOUT_EVENT_BUS"
	EnvTickRate            = "SFN_ROLLOUT_TICK_RATE"          // a schedule expression, rate(1 minute) on AWS
	EnvMinInterval         = "SFN_ROLLOUT_MIN_INTERVAL"       // the shortest policy interval accepted, 1m on AWS
	EnvDedupeTTL           = "SFN_ROLLOUT_DEDUPE_TTL"         // how long an upload is remembered, DefaultDedupeTTL by default
	EnvAliasWriteWindow    = "SFN_ROLLOUT_ALIAS_WRITE_WINDOW" // the bound of one alias write, DefaultAliasWriteWindow by default
	EnvLogLevel            = "SFN_ROLLOUT_LOG_LEVEL"
	EnvSweepShards         = "SFN_ROLLOUT_SWEEP_SHARDS" // how many sweep schedules split the running rollouts, 1 by default
	EnvDriftReads          = "SFN_ROLLOUT_DRIFT_READS"  // alias reads a sweep makes to find hand changes, 10 by default
)

// Environment variables the CLI reads besides EnvBucket and EnvTable: the control function
// operators' commands are sent to (topology.FunctionName(DefaultPrefix, "control") by default).
const (
	EnvControlFunction = "SFN_ROLLOUT_CONTROL_FUNCTION"
)

// Defaults for AWS.
const (
	DefaultTickRate    = "rate(1 minute)"
	DefaultMinInterval = "1m"
	DefaultEventBus    = "default"
	// DefaultDedupeTTL outlives both EventBridge's 24 hours of redelivery and a queued
	// upload's 7 days of waiting for its alias, so a late redelivery is still a duplicate.
	DefaultDedupeTTL = "192h"
	// DefaultAliasWriteWindow bounds each alias write (its check, the call and the SDK's
	// retries); a lock is released only this long after its rollout was fenced.
	DefaultAliasWriteWindow = "5s"
	// EventSource is the source of every event the controller emits.
	EventSource = "sfn-rollout"
)

// Detail types of the controller's own events.
const (
	DetailRolloutStarted    = "Rollout Started"
	DetailRolloutStep       = "Rollout Step"
	DetailRolloutPaused     = "Rollout Paused"
	DetailRolloutSucceeded  = "Rollout Succeeded"
	DetailRolloutRolledBack = "Rollout RolledBack"
	DetailRolloutAborted    = "Rollout Aborted"
	DetailRolloutFailed     = "Rollout Failed"
	DetailControlRequest    = "Rollout Control Request"
)

// The table's key layout (DESIGN.md, Records).
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrTTL       = "expiresAt"
	HistoryIndex  = "history" // pk: historyPk = SM#<stateMachineArn>, sk: historySk = <createdAt>#<id>
	AttrHistoryPK = "historyPk"
	AttrHistorySK = "historySk"
	ActiveIndex   = "active" // sparse: activePk = ACTIVE only while the rollout runs
	AttrActivePK  = "activePk"
	AttrActiveSK  = "activeSk"
	ActiveValue   = "ACTIVE"
)

// Key suffixes in the artifacts bucket.
const (
	DefinitionSuffix = ".asl.json"
	PolicyFile       = "rollout.json"
	TestsFolder      = "tests/"
	// MetadataPrefix is the S3 user-metadata prefix of policy fields: x-amz-meta-rollout-<field>.
	MetadataPrefix = "rollout-"
	// TagPrefix is the state machine tag prefix of policy fields: rollout:<field>.
	TagPrefix = "rollout:"
	// ManagedTag marks a state machine the controller may touch.
	ManagedTag = "rollout:managed"
)

// ArtifactKey is a parsed key of the artifacts bucket: <stateMachine>/<alias>/<name>.asl.json.
type ArtifactKey struct {
	StateMachine string
	Alias        string
	Name         string
}

// ParseArtifactKey reads a definition key. Keys in S3 events are URL-encoded (a space is
// "+"), so the key is decoded first.
func ParseArtifactKey(key string) (ArtifactKey, error) {
	decoded, err := url.QueryUnescape(key)
	if err != nil {
		return ArtifactKey{}, fmt.Errorf("key %q is not URL-encoded: %w", key, err)
	}
	parts := strings.Split(decoded, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !strings.HasSuffix(parts[2], DefinitionSuffix) || parts[2] == DefinitionSuffix {
		return ArtifactKey{}, fmt.Errorf("key %q is not <stateMachine>/<alias>/<name>%s", decoded, DefinitionSuffix)
	}
	return ArtifactKey{StateMachine: parts[0], Alias: parts[1], Name: parts[2]}, nil
}

// Key is the object key of the definition.
func (k ArtifactKey) Key() string { return k.StateMachine + "/" + k.Alias + "/" + k.Name }

// PolicyKey is the rollout.json beside the definition.
func (k ArtifactKey) PolicyKey() string { return k.StateMachine + "/" + k.Alias + "/" + PolicyFile }

// TestsPrefix is the folder of the pre-traffic test inputs.
func (k ArtifactKey) TestsPrefix() string { return k.StateMachine + "/" + k.Alias + "/" + TestsFolder }

// ObjectCreatedPattern is the EventBridge pattern of uploads that start a rollout.
func ObjectCreatedPattern(bucket string) map[string]any {
	return map[string]any{
		"source":      []string{"aws.s3"},
		"detail-type": []string{"Object Created"},
		"detail": map[string]any{
			"bucket": map[string]any{"name": []string{bucket}},
			"object": map[string]any{"key": []any{map[string]string{"suffix": DefinitionSuffix}}},
		},
	}
}

// AlarmStatePattern is the EventBridge pattern of alarms entering ALARM.
func AlarmStatePattern() map[string]any {
	return map[string]any{
		"source":      []string{"aws.cloudwatch"},
		"detail-type": []string{"CloudWatch Alarm State Change"},
		"detail":      map[string]any{"state": map[string]any{"value": []string{"ALARM"}}},
	}
}

// ControlRequestPattern is the EventBridge pattern of operator commands sent as events.
func ControlRequestPattern() map[string]any {
	return map[string]any{
		"source":      []string{EventSource},
		"detail-type": []string{DetailControlRequest},
	}
}

// RetryPolicy is how a failed delivery of an event is retried: an EventBridge target's or a
// Scheduler schedule's RetryPolicy, or a function's EventInvokeConfig for its asynchronous
// invocations. infra/ sets these on the deployed resources and the controller on the
// schedules it creates; local mode applies the same numbers.
type RetryPolicy struct {
	MaximumRetryAttempts int
	MaximumEventAge      time.Duration // whole seconds
}

// MaximumEventAgeInSeconds is the age as the APIs and CloudFormation take it.
func (p RetryPolicy) MaximumEventAgeInSeconds() int { return int(p.MaximumEventAge / time.Second) }

// The delivery policies of the controller's events.
var (
	// UploadDelivery is the upload rule's target (the controller state machine). An upload must
	// not be lost: EventBridge's longest retry, then the dead-letter queue.
	UploadDelivery = RetryPolicy{MaximumRetryAttempts: 185, MaximumEventAge: 24 * time.Hour}
	// RollbackDelivery is the alarm rule's target (the rollback function). An alarm's rollback
	// is worth little after an hour: advance has seen the alarm by then.
	RollbackDelivery = RetryPolicy{MaximumRetryAttempts: 20, MaximumEventAge: time.Hour}
	// ControlDelivery is the control rule's target (the control function). An operator's
	// command delivered much later would surprise its sender.
	ControlDelivery = RetryPolicy{MaximumRetryAttempts: 5, MaximumEventAge: 15 * time.Minute}
	// TickDelivery is each rollout's tick schedule. A tick is worth little once the next one
	// is due, so Scheduler retries it briefly: a missed tick is only a later decision. 60
	// seconds is the least Scheduler accepts.
	TickDelivery = RetryPolicy{MaximumRetryAttempts: 2, MaximumEventAge: time.Minute}
	// ContinuationDelivery is a rollback's continuation schedule (ContinuationScheduleName).
	// It holds a turn of the alias-update bucket, and no later firing comes in its place:
	// retried for five minutes; past that the sweep and Finalize repair the rollback.
	ContinuationDelivery = RetryPolicy{MaximumRetryAttempts: 10, MaximumEventAge: 5 * time.Minute}
	// FunctionAsyncInvoke is every function's EventInvokeConfig: Lambda's two retries, and its
	// default event age of six hours, which the stack leaves as it is.
	FunctionAsyncInvoke = RetryPolicy{MaximumRetryAttempts: 2, MaximumEventAge: 6 * time.Hour}
)

// FunctionTimeout is each function's Lambda timeout, which local mode gives its
// invocations too. The functions that write the alias, validate or publish wait in line
// for the account's tokens (docs/architecture.md, "Write budget"): a burst of uploads or a
// storm of alarms spends a bucket that refills at one a second, and an invocation that
// can wait five minutes lands its call when its turn comes instead of handing the work to
// a retry that comes back later than the turn. The sweep (advance) runs every minute and
// must end before the next one; a command (control) is answered while its sender waits.
func FunctionTimeout(function string) time.Duration {
	switch function {
	case "advance", "control":
		return time.Minute
	}
	return 5 * time.Minute
}

// ReservedConcurrency is the reserved concurrency (ReservedConcurrentExecutions) of a
// function, 0 for none: it both guarantees and caps the invocations running at once.
//
// rollback has 200, so that a storm of alarms cannot take the account's concurrency (1,000
// by default, shared with Finalize and every other function of the account). A rollback
// writer waits in its invocation only for a turn of the alias-update bucket (refill one a
// second) that is at most controller.HandOverBeyond (150 s) away; a farther turn is handed
// to a continuation schedule, which fires at most 130 s before it. So at any time the
// writers waiting hold at most the next 150 turns, one invocation each: 150 slots, and 50
// for the storm's intake (each handing-over invocation runs for about a second), which
// queues in Lambda's asynchronous queue beyond that rather than failing. Without
// continuations a storm of 1,000 held up to 1,000 invocations for five minutes each.
func ReservedConcurrency(function string) int {
	if function == "rollback" {
		return 200
	}
	return 0
}

// ContinuationScheduleName is the one-time schedule (at(), deleted after it fires) that
// hands a rollback's turn of the alias-update bucket, at turn (unix seconds), to a
// continuation of the rollback function: derived from the rollout and the turn, so that a
// retried invocation that hands the same turn over makes the same schedule (Scheduler's
// ConflictException: it is there already). Scheduler names are at most 64 characters.
func ContinuationScheduleName(rolloutID string, turn time.Time) string {
	name := fmt.Sprintf("%sturn-%d-%s", SchedulePrefix, turn.Unix(), rolloutID)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// SchedulePrefix starts the name of every rollout's tick schedule.
const SchedulePrefix = "sfn-rollout-"

// ScheduleName is the name of a rollout's own tick schedule, as the first version made one
// per rollout; Finalize still deletes a leftover one. Rollouts are ticked by the sweep.
func ScheduleName(rolloutID string) string { return SchedulePrefix + rolloutID }

// SweepScheduleName is the name of the sweep's schedule of one shard (0 … shards-1): it
// fires the advance function every tick with SweepInput{Shard, Shards}, and exists only
// while a rollout runs.
func SweepScheduleName(shard int) string { return fmt.Sprintf("%ssweep-%d", SchedulePrefix, shard) }

// DefaultSweepShards is how many sweep schedules split the running rollouts: one sweep
// reads 1,000 rollouts' alarms and metrics in a few batched calls, well inside a tick.
const DefaultSweepShards = 1

// Names of a deployed controller, from a name prefix (the CDK stack's name). infra/ names
// every resource explicitly from here, so that one function's ARN can be written into the
// environment of all six without a reference cycle.
const DefaultPrefix = "sfn-rollout"

// FunctionName is the Lambda function name of one of Functions.
func FunctionName(prefix, function string) string { return prefix + "-" + function }

// ControllerName is the name of the controller state machine.
func ControllerName(prefix string) string { return prefix + "-controller" }

// ScheduleGroupName is the EventBridge Scheduler group of the rollouts' tick schedules.
func ScheduleGroupName(prefix string) string { return prefix }

// DashboardName is the CloudWatch dashboard of the rollouts.
func DashboardName(prefix string) string { return prefix }

// FunctionLogGroup is the log group Lambda writes a function's logs to.
func FunctionLogGroup(functionName string) string { return "/aws/lambda/" + functionName }

// StateMachineLogGroup is a state machine's log group. Names under /aws/vendedlogs/ keep
// CloudWatch Logs' resource policy from growing with every state machine.
func StateMachineLogGroup(stateMachineName string) string {
	return "/aws/vendedlogs/states/" + stateMachineName
}

// StateMachineActions are the Step Functions actions each function's role must be allowed
// on a managed state machine (tagged rollout:managed=true): what `sfn-rollout doctor`
// simulates with IAM, and what the stack grants (infra/controller's test keeps the two equal).
var StateMachineActions = map[string][]string{
	"prepare": {"states:DescribeStateMachine", "states:ListTagsForResource", "states:UpdateStateMachine", "states:PublishStateMachineVersion",
		"states:DescribeStateMachineAlias", "states:UpdateStateMachineAlias", "states:ListStateMachineAliases"},
	"register": {"states:ListTagsForResource", "states:ListExecutions", "states:DescribeStateMachineAlias", "states:UpdateStateMachineAlias",
		"states:CreateStateMachineAlias", "states:ListStateMachineAliases"},
	"advance":  {"states:ListTagsForResource", "states:ListExecutions", "states:DescribeStateMachineAlias", "states:UpdateStateMachineAlias"},
	"rollback": {"states:ListTagsForResource", "states:ListExecutions", "states:DescribeStateMachineAlias", "states:UpdateStateMachineAlias"},
	"finalize": {"states:ListTagsForResource", "states:ListExecutions", "states:DescribeStateMachineAlias", "states:UpdateStateMachineAlias",
		"states:ListStateMachineAliases", "states:DeleteStateMachineAlias", "states:ListStateMachineVersions", "states:DeleteStateMachineVersion"},
	"control": {"states:UpdateStateMachineAlias"},
	// deploy: the managed tag, the alias and the stable version's definition (an unchanged
	// definition is a no-op); on the first deploy, version 1 and the alias; on a stack
	// rollback while a rollout runs, the operator's abort, which puts the alias back on
	// stable (UpdateStateMachineAlias).
	DeployFunction: {"states:ListTagsForResource", "states:DescribeStateMachineAlias", "states:DescribeStateMachine", "states:UpdateStateMachine",
		"states:PublishStateMachineVersion", "states:CreateStateMachineAlias", "states:UpdateStateMachineAlias"},
	// deploystatus reads the alias only while a stack rollback waits for an abort to land.
	DeployStatusFunction: {"states:DescribeStateMachineAlias"},
}

// ParameterManagedPrefix is the controller stack's parameter for the name prefix of the
// state machines it may touch ("" is any name); `sfn-rollout doctor` reads it.
const ParameterManagedPrefix = "ManagedPrefix"

// Stack outputs of the controller stack, which `sfn-rollout doctor` reads.
const (
	OutputBucket        = "ArtifactsBucketName"
	OutputTable         = "RolloutTableName"
	OutputController    = "ControllerArn"
	OutputScheduleGroup = "ScheduleGroupName"
	OutputDashboard     = "DashboardName"
)

// PreTrafficExecutionPrefix starts the name of every pre-traffic test execution
// (<prefix><rolloutId>-<index>, set in statemachines/rollout-controller.asl.json), so that
// the controller's role may watch and stop those executions alone:
// execution:<managedPrefix>*:<PreTrafficExecutionPrefix>*.
const PreTrafficExecutionPrefix = "sfn-rollout-pretraffic-"

// DefaultAlias is the alias a managed state machine gets unless it names another.
const DefaultAlias = "prod"

// AWS/States metrics: executions started through an alias are counted under
// {StateMachineArn, Alias}, through a version (or routed to one by an alias) under
// {StateMachineArn, Version} (AWS_BEHAVIOUR.md).
const (
	MetricsNamespace       = "AWS/States"
	MetricExecutionsFailed = "ExecutionsFailed"
	DimStateMachineArn     = "StateMachineArn"
	DimAlias               = "Alias"
	DimVersion             = "Version"
)

// AliasFailuresAlarmName is the alarm on an alias's failed executions that
// ManagedStateMachine creates and names in the rollout policy by default.
func AliasFailuresAlarmName(stateMachine, alias string) string {
	return stateMachine + "-" + alias + "-failures"
}

// ARN helpers.

// StateMachineArn is arn:<partition>:states:<region>:<account>:stateMachine:<name>.
func StateMachineArn(partition, region, account, name string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", partition, region, account, name)
}

// AliasArn is the state machine ARN with ":<alias>".
func AliasArn(stateMachineArn, alias string) string { return stateMachineArn + ":" + alias }
