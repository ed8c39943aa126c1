package controller

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// functionAccess is what one function's role may do beyond its own log group. It follows
// the calls each use case of internal/controller can reach through its ports
// (internal/awsapi names the SDK calls).
type functionAccess struct {
	// table are the DynamoDB actions on the rollout table; queryIndexes adds Query on its
	// indexes; putEvents is events:PutEvents on the controller's event bus.
	table        []string
	queryIndexes bool
	putEvents    bool
	// stateMachineReads are allowed on state machines under the managed prefix without the
	// tag condition, so that prepare can read the tags of an unmanaged state machine and
	// refuse it with a clear NotManaged instead of an AccessDenied retried as Transient.
	stateMachineReads []string
	// managedActions are allowed only on state machines tagged rollout:managed=true.
	managedActions []string
	validate       bool // states:ValidateStateMachineDefinition
	answerTasks    bool // states:SendTaskSuccess/SendTaskFailure on the controller's tokens
	readArtifacts  bool // s3:GetObject(Version), s3:ListBucket on the artifacts bucket
	describeAlarms bool // cloudwatch:DescribeAlarms
	metricData     bool // cloudwatch:GetMetricData
	alarmHistory   bool // cloudwatch:DescribeAlarmHistory, when an alarm changed since a tick last looked
	createSchedule bool // scheduler:CreateSchedule and iam:PassRole of the scheduler role
	deleteSchedule bool // scheduler:DeleteSchedule
	// uploadDefinitions is s3:PutObject of the deploy custom resource's definitions
	// (<stateMachine>/<alias>/cdk-*.asl.json) and the reads its idempotency check makes:
	// the latest version of such an object and its metadata (GetObject(Version)), and
	// ListBucket(Versions), without which S3 answers a missing key with 403, not 404.
	uploadDefinitions bool
}

// The rollout table's actions. The rollout's functions write it with single-item
// conditional writes and query it, no scans, no transactions; UpdateItem is also the write
// budget's take (internal/budget): one conditional arithmetic update of a BUDGET#<api>
// item. The deploy custom resource's isComplete only reads it.
var (
	storeActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"}
	readRecord   = []string{"dynamodb:GetItem"}
)

const (
	describeStateMachine = "states:DescribeStateMachine"
	listTags             = "states:ListTagsForResource"
	updateStateMachine   = "states:UpdateStateMachine"
	publishVersion       = "states:PublishStateMachineVersion" // UpdateStateMachine with publish=true needs it too
	describeAlias        = "states:DescribeStateMachineAlias"
	listAliases          = "states:ListStateMachineAliases"
	updateAlias          = "states:UpdateStateMachineAlias"
	createAlias          = "states:CreateStateMachineAlias"
	deleteAlias          = "states:DeleteStateMachineAlias"
	listVersions         = "states:ListStateMachineVersions"
	deleteVersion        = "states:DeleteStateMachineVersion"
	// listExecutions counts a candidate's executions when its AWS/States metrics say
	// nothing (cloudwatchapi.Metrics.WithExecutions): authorized on the unqualified state
	// machine ARN, and without aws:ResourceTag support, so it is a read.
	listExecutions = "states:ListExecutions"
)

// accessOf lists each function's needs:
//   - prepare: Describe, tags, validate, UpdateStateMachine(publish), the alias (its routing
//     before publishing; a superseded rollout's rollback), the aliases (a BLUE_GREEN test
//     alias must be a new one), the upload, rollout.json and the tests in S3, the policy's
//     alarms, the outcome of a superseded rollout's wait.
//   - register: the test alias (CreateStateMachineAlias, never an update; the aliases list
//     for a record prepared before Prepare named it), the first step (observe: alias,
//     alarms, metrics, tags; the alias update), the sweep's schedule.
//   - advance: the sweep (observe in batches, with the history of an alarm that changed, and
//     update), the sweep schedule's deletion when nothing runs (and its creation again when
//     a Register came meanwhile), a leftover per-rollout schedule's deletion.
//   - rollback: a tick on an alarm's event (it reads no alarm; an ended rollout's retry reads
//     the alias); in a storm, a turn of the alias-update bucket too far away is handed to a
//     one-time continuation schedule (CreateSchedule, deleted by Scheduler after it fires).
//   - finalize: a last tick, the test alias's deletion, garbage collection of versions
//     (ListStateMachineVersions, ListStateMachineAliases + Describe, DeleteStateMachineVersion),
//     waking a queued upload.
//   - control: an operator's command: the alias update and the wait's outcome.
//   - deploy (the custom resource's onEvent): the alias and the stable version's definition
//     (an unchanged definition completes at once), on the first deploy version 1 and the
//     alias; otherwise the upload of the definition with its metadata, after reading
//     whether a retried event already made it; the rollout and lock records; the tags (an
//     unmanaged state machine is refused by name); an abort command, as an operator's
//     (control's writes: the record, the alias back to stable, the wait's answer), for a
//     rollout that a stack rollback leaves running.
//   - deploystatus (its isComplete): the rollout record and the alias.
//
// The rollout's six share the table, its indexes and the event bus; of the deploy custom
// resource's two, deploy writes the table only as control does (an abort) and deploystatus
// only reads it.
var accessOf = map[string]functionAccess{
	"prepare": {
		table: storeActions, queryIndexes: true, putEvents: true,
		stateMachineReads: []string{describeStateMachine, listTags},
		managedActions:    []string{updateStateMachine, publishVersion, describeAlias, updateAlias, listAliases},
		validate:          true, answerTasks: true, readArtifacts: true, describeAlarms: true,
	},
	"register": {
		table: storeActions, queryIndexes: true, putEvents: true,
		stateMachineReads: []string{listTags, listExecutions},
		managedActions:    []string{describeAlias, updateAlias, createAlias, listAliases},
		answerTasks:       true, describeAlarms: true, metricData: true, alarmHistory: true, createSchedule: true,
	},
	"advance": {
		table: storeActions, queryIndexes: true, putEvents: true,
		stateMachineReads: []string{listTags, listExecutions},
		managedActions:    []string{describeAlias, updateAlias},
		answerTasks:       true, describeAlarms: true, metricData: true, alarmHistory: true, createSchedule: true, deleteSchedule: true,
	},
	"rollback": {
		table: storeActions, queryIndexes: true, putEvents: true,
		stateMachineReads: []string{listTags, listExecutions},
		managedActions:    []string{describeAlias, updateAlias},
		answerTasks:       true, describeAlarms: true, metricData: true, createSchedule: true,
	},
	"finalize": {
		table: storeActions, queryIndexes: true, putEvents: true,
		stateMachineReads: []string{listTags, listExecutions},
		managedActions:    []string{describeAlias, updateAlias, listAliases, deleteAlias, listVersions, deleteVersion},
		answerTasks:       true, describeAlarms: true, metricData: true, alarmHistory: true,
	},
	"control": {
		table: storeActions, queryIndexes: true, putEvents: true,
		managedActions: []string{updateAlias},
		answerTasks:    true,
	},
	topology.DeployFunction: {
		table: storeActions, putEvents: true,
		stateMachineReads: []string{listTags},
		managedActions:    []string{describeAlias, describeStateMachine, updateStateMachine, publishVersion, createAlias, updateAlias},
		answerTasks:       true, uploadDefinitions: true,
	},
	topology.DeployStatusFunction: {
		table:          readRecord,
		managedActions: []string{describeAlias},
	},
}

// managedCondition is the tag every managed state machine carries. Step Functions
// authorizes version and alias calls against the state machine's own ARN, so its tags
// apply to them too. The value is compared in any case, as rollout.IsManaged does.
func managedCondition() *map[string]any {
	return &map[string]any{
		"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/" + topology.ManagedTag: "true"},
	}
}

// grants are the ARNs the statements of one stack use.
type grants struct {
	managedStateMachines string // arn:…:stateMachine:<prefix>*
	anyStateMachine      string // arn:…:stateMachine:* (ValidateStateMachineDefinition)
	controller           string // the controller state machine
	bucket, objects      string
	table, indexes       string
	alarms               string
	eventBus             string
	schedules            string
	schedulerRole        string
	deployObjects        string // <bucket>/*/cdk-*.asl.json
}

func statement(sid string, actions []string, resources []string, conditions *map[string]any) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(sid),
		Actions:    jsii.Strings(actions...),
		Resources:  jsii.Strings(resources...),
		Conditions: conditions,
	})
}

// statements are one function's policy, logs excepted.
func (g grants) statements(a functionAccess) []awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	if len(a.stateMachineReads) > 0 {
		out = append(out, statement("ReadStateMachines", a.stateMachineReads, []string{g.managedStateMachines}, nil))
	}
	if len(a.managedActions) > 0 {
		out = append(out, statement("ManagedStateMachinesOnly", a.managedActions, []string{g.managedStateMachines}, managedCondition()))
	}
	if a.validate {
		// ValidateStateMachineDefinition names no state machine: IAM authorizes it on the
		// literal arn:…:stateMachine:*, so that is the narrowest resource that works.
		out = append(out, statement("ValidateDefinitions", []string{"states:ValidateStateMachineDefinition"}, []string{g.anyStateMachine}, nil))
	}
	if a.answerTasks {
		// The Service Authorization Reference lists no resource type for SendTask*, but
		// Step Functions authorizes them on the ARN of the state machine that issued the
		// token (AWS SAM's StepFunctionsCallbackPolicy scopes them the same way); every
		// token these functions answer is the controller's.
		out = append(out, statement("AnswerControllerTasks", []string{"states:SendTaskSuccess", "states:SendTaskFailure"}, []string{g.controller}, nil))
	}
	if a.readArtifacts {
		out = append(out,
			statement("ReadArtifacts", []string{"s3:GetObject", "s3:GetObjectVersion"}, []string{g.objects}, nil),
			statement("ListArtifacts", []string{"s3:ListBucket"}, []string{g.bucket}, nil))
	}
	if a.describeAlarms {
		// The policy may name any alarm of the account: the alarm resource type with a wildcard name.
		out = append(out, statement("DescribeAlarms", []string{"cloudwatch:DescribeAlarms"}, []string{g.alarms}, nil))
	}
	if a.metricData {
		// GetMetricData has no resource-level permissions: AWS requires Resource "*".
		out = append(out, statement("ReadMetrics", []string{"cloudwatch:GetMetricData"}, []string{"*"}, nil))
	}
	if a.alarmHistory {
		// The history of a composite alarm is answered only to a DescribeAlarmHistory
		// permission scoped to "*" (DescribeAlarmHistory API reference).
		out = append(out, statement("ReadAlarmHistory", []string{"cloudwatch:DescribeAlarmHistory"}, []string{"*"}, nil))
	}
	if a.createSchedule {
		out = append(out,
			statement("CreateTickSchedules", []string{"scheduler:CreateSchedule"}, []string{g.schedules}, nil),
			statement("PassSchedulerRole", []string{"iam:PassRole"}, []string{g.schedulerRole}, &map[string]any{
				"StringEquals": map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"},
			}))
	}
	if a.deleteSchedule {
		out = append(out, statement("DeleteTickSchedules", []string{"scheduler:DeleteSchedule"}, []string{g.schedules}, nil))
	}
	if a.uploadDefinitions {
		out = append(out,
			statement("UploadDeployedDefinitions", []string{"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"}, []string{g.deployObjects}, nil),
			statement("ListArtifactVersions", []string{"s3:ListBucket", "s3:ListBucketVersions"}, []string{g.bucket}, nil))
	}
	if len(a.table) > 0 {
		out = append(out, statement("RolloutTable", a.table, []string{g.table}, nil))
	}
	if a.queryIndexes {
		out = append(out, statement("RolloutTableIndexes", []string{"dynamodb:Query"}, []string{g.indexes}, nil))
	}
	if a.putEvents {
		out = append(out, statement("PutRolloutEvents", []string{"events:PutEvents"}, []string{g.eventBus}, nil))
	}
	return out
}

// arn formats an ARN of this stack's partition, region and account.
func arn(stack awscdk.Stack, service, resource, name string, format awscdk.ArnFormat) string {
	return *stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String(service),
		Resource:     jsii.String(resource),
		ResourceName: jsii.String(name),
		ArnFormat:    format,
	})
}
