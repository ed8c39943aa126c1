package controller

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// finding is one accepted cdk-nag finding: a rule, the findings it covers (appliesTo: an
// exact finding or a /regex/ over cdk-nag's "Resource::<arn>" form) and why it is accepted.
type finding struct {
	rule, reason string
	appliesTo    []string
}

func (f finding) suppression() *cdknag.NagPackSuppression {
	s := &cdknag.NagPackSuppression{Id: jsii.String(f.rule), Reason: jsii.String(f.reason)}
	if len(f.appliesTo) > 0 {
		var to []any
		for _, a := range f.appliesTo {
			if len(a) > 1 && a[0] == '/' {
				to = append(to, &cdknag.RegexAppliesTo{Regex: jsii.String(a)})
			} else {
				to = append(to, a)
			}
		}
		s.AppliesTo = &to
	}
	return s
}

func suppress(construct any, findings ...finding) {
	var list []*cdknag.NagPackSuppression
	for _, f := range findings {
		list = append(list, f.suppression())
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &list, jsii.Bool(true))
}

// The wildcard resources of the functions' roles, each the narrowest AWS allows for what
// the controller does (access.go says which action uses which).
var (
	managedStateMachines = finding{"AwsSolutions-IAM5",
		"The controller deploys to state machines created after this stack, by their name prefix (the ManagedPrefix " +
			"stack parameter, arn:…:stateMachine:<ManagedPrefix>*); every write also requires the tag rollout:managed=true through " +
			"aws:ResourceTag, and Step Functions authorizes version and alias calls on the state machine's ARN. " +
			"ValidateStateMachineDefinition names no state machine and is authorized on the literal arn:…:stateMachine:*.",
		[]string{`/^Resource::arn:<AWS::Partition>:states:[^:]+:[^:]+:stateMachine:(<` + ManagedPrefixParameter + `>)?\*$/g`}}
	artifactObjects = finding{"AwsSolutions-IAM5",
		"prepare reads any uploaded definition, rollout.json and pre-traffic test in the artifacts bucket (read-only).",
		[]string{`/^Resource::<Artifacts[0-9A-F]{8}\.Arn>\/\*$/g`}}
	anyAlarm = finding{"AwsSolutions-IAM5",
		"A rollout policy may name any alarm of the account; cloudwatch:DescribeAlarms only reads their state.",
		[]string{`/^Resource::arn:<AWS::Partition>:cloudwatch:[^:]+:[^:]+:alarm:\*$/g`}}
	metricData = finding{"AwsSolutions-IAM5",
		"cloudwatch:GetMetricData has no resource-level permissions: AWS requires Resource \"*\". It reads the candidate version's AWS/States counts. " +
			"cloudwatch:DescribeAlarmHistory answers a composite alarm's history only to a permission scoped to \"*\"; it reads state changes of the policy's alarms.",
		[]string{"Resource::*"}}
	tickSchedules = finding{"AwsSolutions-IAM5",
		"Schedules created at run time, only in this stack's schedule group and only named " + topology.SchedulePrefix + "*: the sweep's (" +
			topology.SchedulePrefix + "sweep-<shard>) and, in a storm of rollbacks, one-time continuations (" + topology.SchedulePrefix + "turn-<unix>-<rolloutId>).",
		[]string{`/^Resource::arn:<AWS::Partition>:scheduler:[^:]+:[^:]+:schedule\/[A-Za-z0-9-]+\/` + topology.SchedulePrefix + `\*$/g`}}
	deployedDefinitions = finding{"AwsSolutions-IAM5",
		"deploy uploads the definitions ManagedStateMachine hands it, and reads them back when a retried event finds one " +
			"already uploaded: only keys <stateMachine>/<alias>/" + topology.DeployUploadPrefix + "<hash>" + topology.DefinitionSuffix + ", whose names are made at deploy time.",
		[]string{`/^Resource::<Artifacts[0-9A-F]{8}\.Arn>\/\*\/` + topology.DeployUploadPrefix + `\*\.asl\.json$/g`}}
	tableIndexes = finding{"AwsSolutions-IAM5",
		"dynamodb:Query on the rollout table's two indexes (history and the sparse active index).",
		[]string{`/^Resource::<Rollouts[0-9A-F]{8}\.Arn>\/index\/\*$/g`}}
)

// suppressNagFindings records, with a reason each, the cdk-nag AwsSolutions findings this
// stack accepts. TestCdkNag fails on any other.
func suppressNagFindings(st *Stack) {
	suppress(st.Bucket, finding{rule: "AwsSolutions-S1",
		reason: "Server access logs would need a second bucket per stack. Who uploaded what is recorded on each rollout " +
			"(actor, key, S3 version id) and, where the account enables them, in CloudTrail S3 data events."})
	suppress(st.EventsDLQ, finding{rule: "AwsSolutions-SQS3",
		reason: "This queue is itself the dead-letter queue of the EventBridge rules' targets; cdk-nag recognises only queues named in another queue's redrive policy."})
	suppress(st.FunctionDLQ, finding{rule: "AwsSolutions-SQS3",
		reason: "This queue is itself the dead-letter queue of the functions' asynchronous invocations; cdk-nag recognises only queues named in another queue's redrive policy."})
	for fn, role := range st.Roles {
		var fs []finding
		a := accessOf[fn]
		if len(a.stateMachineReads)+len(a.managedActions) > 0 || a.validate {
			fs = append(fs, managedStateMachines)
		}
		if a.readArtifacts {
			fs = append(fs, artifactObjects)
		}
		if a.describeAlarms {
			fs = append(fs, anyAlarm)
		}
		if a.metricData || a.alarmHistory {
			fs = append(fs, metricData)
		}
		if a.createSchedule || a.deleteSchedule {
			fs = append(fs, tickSchedules)
		}
		if a.uploadDefinitions {
			fs = append(fs, deployedDefinitions)
		}
		if a.queryIndexes {
			fs = append(fs, tableIndexes)
		}
		suppress(role, fs...)
	}
	suppressProviderFindings(st)
	suppress(st.Controller.Role().(awsiam.Role),
		finding{"AwsSolutions-IAM5",
			"Step Functions log delivery (logs:CreateLogDelivery and the rest, PutResourcePolicy, DescribeLogGroups) and " +
				"X-Ray tracing (xray:PutTraceSegments and the rest) have no resource-level permissions; CDK writes these for logging and tracing.",
			[]string{"Resource::*"}},
		finding{"AwsSolutions-IAM5",
			"grantInvoke on prepare, register and finalize also covers their versions and aliases (<arn>:*).",
			[]string{`/^Resource::<(Prepare|Register|Finalize)[0-9A-F]{8}\.Arn>:\*$/g`}},
		finding{"AwsSolutions-IAM5",
			"Pre-traffic tests start candidate versions of managed state machines (name prefix, tag rollout:managed=true) and " +
				"startExecution.sync:2 watches their executions, whose names are made at run time.",
			[]string{
				`/^Resource::arn:<AWS::Partition>:states:[^:]+:[^:]+:stateMachine:<` + ManagedPrefixParameter + `>\*$/g`,
				`/^Resource::arn:<AWS::Partition>:states:[^:]+:[^:]+:(execution|express):<` + ManagedPrefixParameter + `>\*:` + topology.PreTrafficExecutionPrefix + `\*$/g`,
			}},
	)
}

// suppressProviderFindings accepts what the CDK provider framework writes for its own three
// Node.js functions (framework-onEvent, -isComplete, -onTimeout) and its waiter state
// machine, none of which the framework lets the stack shape further.
func suppressProviderFindings(st *Stack) {
	suppress(st.DeployProvider,
		finding{"AwsSolutions-IAM4",
			"The provider framework gives its own three functions AWSLambdaBasicExecutionRole (logs:CreateLogGroup, CreateLogStream, " +
				"PutLogEvents) and has no property to replace it; the functions only invoke deploy and deploystatus and start the waiter.",
			[]string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}},
		finding{"AwsSolutions-IAM5",
			"The framework's grantInvoke on deploy, deploystatus and its own isComplete and onTimeout functions also covers their " +
				"versions and aliases (<arn>:*); nothing else is invoked.",
			[]string{`/^Resource::<(Deploy|Deploystatus|DeployProviderframework(isComplete|onTimeout))[0-9A-F]{8}\.Arn>:\*$/g`}},
		finding{"AwsSolutions-SF2",
			"The framework's waiter has no tracing option: it only calls deploystatus every 30 seconds until the rollout ends, and " +
				"each call is in deploystatus's log and the waiter's execution history.",
			nil},
	)
	waiterRole := st.DeployProvider.Node().FindChild(jsii.String("waiter-state-machine")).Node().FindChild(jsii.String("Role"))
	suppress(waiterRole, finding{"AwsSolutions-IAM5",
		"The waiter state machine's log delivery to its log group (logs:CreateLogDelivery and the rest, PutResourcePolicy, " +
			"DescribeLogGroups) has no resource-level permissions; the framework writes these when the waiter's logging is on.",
		[]string{"Resource::*"}})
}
