// Package controller is sfn-rollout's controller stack: the artifacts bucket, the table, the
// functions, the controller state machine, its triggers, the deploy provider, monitoring.
package controller

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/infra/managed"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/statemachines"
)

// StackProps configure the controller stack.
type StackProps struct {
	awscdk.StackProps
	Settings Settings
	// AssetRoot holds <function>/bootstrap for each of topology.Functions, as `make build`
	// writes them into bin/. Empty means "bin".
	AssetRoot string
}

// Stack is the deployed controller.
type Stack struct {
	awscdk.Stack
	Settings      Settings
	Bucket        awss3.Bucket
	Table         awsdynamodb.Table
	Functions     map[string]awslambda.Function
	Roles         map[string]awsiam.Role
	Controller    awsstepfunctions.StateMachine
	ScheduleGroup awsscheduler.CfnScheduleGroup
	SchedulerRole awsiam.Role
	// FunctionDLQ keeps the functions' failed asynchronous invocations (EventBridge,
	// Scheduler); EventsDLQ keeps the events no rule target could take.
	FunctionDLQ, EventsDLQ awssqs.Queue
	// DeployProvider serves ManagedStateMachine's deploy custom resource: the deploy
	// function answers its events, deploystatus its isComplete polls.
	DeployProvider customresources.Provider
	Alarms         []awscloudwatch.Alarm
	Dashboard      awscloudwatch.Dashboard
	// ManagedPrefix is the stack parameter of that name (its default the managedPrefix
	// context): every IAM statement on managed state machines names
	// arn:…:stateMachine:<ManagedPrefix>*, so `cdk deploy --parameters ManagedPrefix=team-`
	// narrows an existing controller without a new synth.
	ManagedPrefix awscdk.CfnParameter
}

// ManagedPrefixParameter is the stack parameter that holds the managed prefix.
const ManagedPrefixParameter = topology.ParameterManagedPrefix

// The functions' memory; their timeouts are topology.FunctionTimeout's, which local mode
// gives its invocations too.
const functionMemoryMB = 256

// NewStack builds the controller stack. It checks the settings and that every bootstrap
// exists before it creates anything.
func NewStack(scope constructs.Construct, id string, props *StackProps) (*Stack, error) {
	if props == nil {
		props = &StackProps{Settings: DefaultSettings()}
	}
	s := props.Settings
	if err := s.Validate(); err != nil {
		return nil, err
	}
	assetRoot := props.AssetRoot
	if assetRoot == "" {
		assetRoot = "bin"
	}
	var missing []string
	for _, fn := range topology.Functions {
		if _, err := os.Stat(filepath.Join(assetRoot, fn, "bootstrap")); err != nil {
			missing = append(missing, filepath.Join(assetRoot, fn, "bootstrap"))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing Lambda bootstraps %s: run `make build` first", strings.Join(missing, ", "))
	}

	stackProps := props.StackProps
	if stackProps.StackName == nil {
		stackProps.StackName = jsii.String(s.StackName)
	}
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("sfn-rollout controller: progressive delivery for Step Functions")
	}
	st := &Stack{
		Stack:     awscdk.NewStack(scope, jsii.String(id), &stackProps),
		Settings:  s,
		Functions: map[string]awslambda.Function{},
		Roles:     map[string]awsiam.Role{},
	}
	prefix := s.StackName
	st.ManagedPrefix = awscdk.NewCfnParameter(st.Stack, jsii.String(ManagedPrefixParameter), &awscdk.CfnParameterProps{
		Type:    jsii.String("String"),
		Default: jsii.String(s.ManagedPrefix),
		Description: jsii.String("Name prefix of the state machines the controller may touch. Empty: any name, bounded by the tag " +
			topology.ManagedTag + "=true alone; a prefix is the stronger boundary (docs/deploy.md, Least privilege)."),
		AllowedPattern:        jsii.String(managedPrefixPattern.String()),
		MaxLength:             jsii.Number(maxManagedPrefixLength),
		ConstraintDescription: jsii.String("letters, digits, '-' or '_' (a state machine name prefix), at most 80 characters"),
	})
	managedPrefix := *st.ManagedPrefix.ValueAsString()
	st.artifacts()
	st.table()
	st.FunctionDLQ = st.deadLetterQueue("FunctionDLQ")
	st.EventsDLQ = st.deadLetterQueue("EventsDLQ")

	st.ScheduleGroup = awsscheduler.NewCfnScheduleGroup(st.Stack, jsii.String("TickSchedules"), &awsscheduler.CfnScheduleGroupProps{
		Name: jsii.String(topology.ScheduleGroupName(prefix)),
	})
	advanceArn := arn(st.Stack, "lambda", "function", topology.FunctionName(prefix, "advance"), awscdk.ArnFormat_COLON_RESOURCE_NAME)
	rollbackArn := arn(st.Stack, "lambda", "function", topology.FunctionName(prefix, "rollback"), awscdk.ArnFormat_COLON_RESOURCE_NAME)
	st.schedulerRole(advanceArn, rollbackArn)

	g := grants{
		managedStateMachines: arn(st.Stack, "states", "stateMachine", managedPrefix+"*", awscdk.ArnFormat_COLON_RESOURCE_NAME),
		anyStateMachine:      arn(st.Stack, "states", "stateMachine", "*", awscdk.ArnFormat_COLON_RESOURCE_NAME),
		// The controller's own ARN from its name: a reference to the state machine would
		// make each role depend on it, and it depends on three of the functions.
		controller:    arn(st.Stack, "states", "stateMachine", topology.ControllerName(prefix), awscdk.ArnFormat_COLON_RESOURCE_NAME),
		bucket:        *st.Bucket.BucketArn(),
		objects:       *st.Bucket.ArnForObjects(jsii.String("*")),
		table:         *st.Table.TableArn(),
		indexes:       *st.Table.TableArn() + "/index/*",
		alarms:        arn(st.Stack, "cloudwatch", "alarm", "*", awscdk.ArnFormat_COLON_RESOURCE_NAME),
		eventBus:      arn(st.Stack, "events", "event-bus", topology.DefaultEventBus, awscdk.ArnFormat_SLASH_RESOURCE_NAME),
		schedules:     arn(st.Stack, "scheduler", "schedule", topology.ScheduleGroupName(prefix)+"/"+topology.SchedulePrefix+"*", awscdk.ArnFormat_SLASH_RESOURCE_NAME),
		schedulerRole: *st.SchedulerRole.RoleArn(),
		deployObjects: *st.Bucket.ArnForObjects(jsii.String("*/" + topology.DeployUploadPrefix + "*" + topology.DefinitionSuffix)),
	}
	env := map[string]*string{
		topology.EnvTable:               st.Table.TableName(),
		topology.EnvBucket:              st.Bucket.BucketName(),
		topology.EnvScheduleGroup:       jsii.String(topology.ScheduleGroupName(prefix)),
		topology.EnvSchedulerRoleArn:    st.SchedulerRole.RoleArn(),
		topology.EnvAdvanceFunctionArn:  jsii.String(advanceArn),
		topology.EnvRollbackFunctionArn: jsii.String(rollbackArn),
		topology.EnvEventBus:            jsii.String(topology.DefaultEventBus),
		topology.EnvTickRate:            jsii.String(topology.DefaultTickRate),
		topology.EnvMinInterval:         jsii.String(topology.DefaultMinInterval),
		topology.EnvDedupeTTL:           jsii.String(topology.DefaultDedupeTTL),
		topology.EnvLogLevel:            jsii.String("INFO"),
	}
	for _, fn := range topology.Functions {
		st.function(fn, assetRoot, env, g)
	}
	st.controller()
	st.deployProvider()
	if err := st.rules(); err != nil {
		return nil, err
	}
	st.monitoring()
	st.outputs()
	suppressNagFindings(st)
	return st, nil
}

// artifacts is the bucket CI uploads definitions to. Its EventBridge notifications are set
// on the L1 bucket: the L2 eventBridgeEnabled flag adds a custom resource with a Python
// Lambda (BucketNotificationsHandler) to do what CloudFormation does natively.
func (st *Stack) artifacts() {
	st.Bucket = awss3.NewBucket(st.Stack, jsii.String("Artifacts"), &awss3.BucketProps{
		Versioned:         jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireOverwrittenArtifacts"),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(float64(st.Settings.NoncurrentVersionExpiryDays))),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}},
		// The upload history is the deployment history: keep it when the stack goes.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	cfn := st.Bucket.Node().DefaultChild().(awss3.CfnBucket)
	cfn.SetNotificationConfiguration(&awss3.CfnBucket_NotificationConfigurationProperty{
		EventBridgeConfiguration: &awss3.CfnBucket_EventBridgeConfigurationProperty{EventBridgeEnabled: jsii.Bool(true)},
	})
}

// table is DESIGN.md's one table: pk/sk, the history index, the sparse active index and the
// dedupe items' TTL, as dynamostore.CreateTable makes it locally.
func (st *Stack) table() {
	st.Table = awsdynamodb.NewTable(st.Stack, jsii.String("Rollouts"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(topology.AttrPK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(topology.AttrSK), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(topology.AttrTTL),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// The audit trail outlives the controller.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	for _, ix := range []struct{ name, pk, sk string }{
		{topology.HistoryIndex, topology.AttrHistoryPK, topology.AttrHistorySK},
		{topology.ActiveIndex, topology.AttrActivePK, topology.AttrActiveSK},
	} {
		st.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.name),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.pk), Type: awsdynamodb.AttributeType_STRING},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ix.sk), Type: awsdynamodb.AttributeType_STRING},
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
}

func (st *Stack) deadLetterQueue(id string) awssqs.Queue {
	return awssqs.NewQueue(st.Stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// schedulerRole lets the rollouts' tick schedules invoke advance and a rollback storm's
// continuation schedules invoke rollback, and only schedules of this account's schedule
// group may assume it.
func (st *Stack) schedulerRole(advanceArn, rollbackArn string) {
	groupArn := arn(st.Stack, "scheduler", "schedule-group", topology.ScheduleGroupName(st.Settings.StackName), awscdk.ArnFormat_SLASH_RESOURCE_NAME)
	principal := awsiam.NewPrincipalWithConditions(awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), nil), &map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": st.Account()},
		"ArnEquals":    map[string]any{"aws:SourceArn": groupArn},
	})
	st.SchedulerRole = awsiam.NewRole(st.Stack, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		AssumedBy:   principal,
		Description: jsii.String("sfn-rollout: lets the rollouts' schedules invoke advance and rollback"),
	})
	st.SchedulerRole.AddToPolicy(statement("InvokeAdvance", []string{"lambda:InvokeFunction"}, []string{advanceArn}, nil))
	st.SchedulerRole.AddToPolicy(statement("InvokeRollback", []string{"lambda:InvokeFunction"}, []string{rollbackArn}, nil))
}

// asyncInvoked tells the functions that EventBridge, Scheduler or Lambda's event queue
// invoke: they get the dead-letter queue and the retry policy of topology.FunctionAsyncInvoke.
// The deploy custom resource's two are invoked synchronously by the provider framework,
// which reports their errors to CloudFormation: a dead-letter queue would never fill.
func asyncInvoked(fn string) bool {
	return fn != topology.DeployFunction && fn != topology.DeployStatusFunction
}

// function is one of the Lambdas with its own role, log group and environment.
func (st *Stack) function(fn, assetRoot string, env map[string]*string, g grants) {
	id := exported(fn)
	name := topology.FunctionName(st.Settings.StackName, fn)
	logs := awslogs.NewLogGroup(st.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(topology.FunctionLogGroup(name)),
		Retention:     st.Settings.retention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(st.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("sfn-rollout " + fn + ": only what the " + fn + " use case calls"),
	})
	// Instead of AWSLambdaBasicExecutionRole: its own log group, not every log group.
	role.AddToPolicy(statement("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{*logs.LogGroupArn()}, nil))
	for _, s := range g.statements(accessOf[fn]) {
		role.AddToPolicy(s)
	}
	st.Roles[fn] = role
	props := &awslambda.FunctionProps{
		FunctionName: jsii.String(name),
		Description:  jsii.String("sfn-rollout " + fn),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(assetRoot, fn)), nil),
		Role:         role,
		LogGroup:     logs,
		Environment:  &env,
		Timeout:      awscdk.Duration_Seconds(jsii.Number(topology.FunctionTimeout(fn).Seconds())),
		MemorySize:   jsii.Number(functionMemoryMB),
	}
	if fn == "rollback" && st.Settings.RollbackReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(st.Settings.RollbackReservedConcurrency))
	}
	if asyncInvoked(fn) {
		props.DeadLetterQueue = st.FunctionDLQ
		props.RetryAttempts = jsii.Number(topology.FunctionAsyncInvoke.MaximumRetryAttempts)
	}
	st.Functions[fn] = awslambda.NewFunction(st.Stack, jsii.String(id), props)
}

// The provider framework's polling of deploystatus: every 30 seconds, for at most the two
// hours the framework allows (its waiter state machine's limit). A rollout that may run
// longer is deployed with Wait false (docs/deploy.md).
const (
	deployQueryInterval = 30 * time.Second
	deployTotalTimeout  = 2 * time.Hour
)

// deployProvider is the CDK provider framework over deploy (onEvent) and deploystatus
// (isComplete), and the export of its service token that ManagedStateMachine imports.
// The framework adds its own three Node.js functions and a waiter state machine; their
// logs go to one log group with the stack's retention.
func (st *Stack) deployProvider() {
	logs := awslogs.NewLogGroup(st.Stack, jsii.String("DeployProviderLogs"), &awslogs.LogGroupProps{
		Retention:     st.Settings.retention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	waiterLogs := awslogs.NewLogGroup(st.Stack, jsii.String("DeployWaiterLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(topology.StateMachineLogGroup(st.Settings.StackName + "-deploy-waiter")),
		Retention:     st.Settings.retention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	st.DeployProvider = customresources.NewProvider(st.Stack, jsii.String("DeployProvider"), &customresources.ProviderProps{
		OnEventHandler:    st.Functions[topology.DeployFunction],
		IsCompleteHandler: st.Functions[topology.DeployStatusFunction],
		QueryInterval:     awscdk.Duration_Seconds(jsii.Number(deployQueryInterval.Seconds())),
		TotalTimeout:      awscdk.Duration_Seconds(jsii.Number(deployTotalTimeout.Seconds())),
		LogGroup:          logs,
		// The framework leaves its waiter unlogged unless asked. Without execution data: each
		// poll's input is the whole event, definition included.
		DisableWaiterStateMachineLogging: jsii.Bool(false),
		WaiterStateMachineLogOptions: &customresources.LogOptions{
			Destination:          waiterLogs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
	})
	awscdk.NewCfnOutput(st.Stack, jsii.String(topology.OutputDeployServiceToken), &awscdk.CfnOutputProps{
		Value:       st.DeployProvider.ServiceToken(),
		Description: jsii.String("service token of ManagedStateMachine's deploy custom resource"),
		ExportName:  jsii.String(managed.ServiceTokenExportName(*st.Stack.StackName())),
	})
}

// controller is the controller state machine, its definition inline from
// statemachines/rollout-controller.asl.json so that the template can be checked against it.
func (st *Stack) controller() {
	name := topology.ControllerName(st.Settings.StackName)
	logs := awslogs.NewLogGroup(st.Stack, jsii.String("ControllerLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(topology.StateMachineLogGroup(name)),
		Retention:     st.Settings.retention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	st.Controller = awsstepfunctions.NewStateMachine(st.Stack, jsii.String("Controller"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(name),
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(statemachines.Controller)),
		DefinitionSubstitutions: controllerSubstitutions(st.Functions),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
		TracingEnabled: jsii.Bool(true),
	})
	for _, fn := range []string{"prepare", "register", "finalize"} {
		st.Functions[fn].GrantInvoke(st.Controller)
	}
	prefix := *st.ManagedPrefix.ValueAsString()
	// PreTraffic runs each test with startExecution.sync:2 on the candidate version:
	// StartExecution is authorized on the (tagged) state machine, the .sync polling on
	// its executions and on the managed rule Step Functions keeps for it.
	st.Controller.AddToRolePolicy(statement("RunPreTrafficTests", []string{"states:StartExecution"},
		[]string{arn(st.Stack, "states", "stateMachine", prefix+"*", awscdk.ArnFormat_COLON_RESOURCE_NAME)}, managedCondition()))
	// Only the test executions: their names start with a fixed prefix, and IAM wildcards
	// match inside the name segment (execution:<stateMachine>:<name>). An Express
	// candidate's test executions are express:<stateMachine>:<name>:<id>: AWS documents the
	// .sync policy with execution: ARNs only, so both are named, and a grant that was not
	// needed costs nothing.
	st.Controller.AddToRolePolicy(statement("WatchPreTrafficTests", []string{"states:DescribeExecution", "states:StopExecution"},
		[]string{
			arn(st.Stack, "states", "execution", prefix+"*:"+topology.PreTrafficExecutionPrefix+"*", awscdk.ArnFormat_COLON_RESOURCE_NAME),
			arn(st.Stack, "states", "express", prefix+"*:"+topology.PreTrafficExecutionPrefix+"*", awscdk.ArnFormat_COLON_RESOURCE_NAME),
		}, nil))
	st.Controller.AddToRolePolicy(statement("SyncExecutionRule", []string{"events:PutTargets", "events:PutRule", "events:DescribeRule"},
		[]string{arn(st.Stack, "events", "rule", "StepFunctionsGetEventsForStepFunctionsExecutionRule", awscdk.ArnFormat_SLASH_RESOURCE_NAME)}, nil))
}

// controllerSubstitutions fill the ${...} of rollout-controller.asl.json.
func controllerSubstitutions(fns map[string]awslambda.Function) *map[string]*string {
	return &map[string]*string{
		"PrepareFunctionArn":  fns["prepare"].FunctionArn(),
		"RegisterFunctionArn": fns["register"].FunctionArn(),
		"FinalizeFunctionArn": fns["finalize"].FunctionArn(),
	}
}

// maxEventAge is a topology policy's event age as the CDK takes it.
func maxEventAge(p topology.RetryPolicy) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(p.MaximumEventAgeInSeconds()))
}

func (st *Stack) rules() error {
	uploads, err := eventPattern(topology.ObjectCreatedPattern(*st.Bucket.BucketName()))
	if err != nil {
		return err
	}
	alarms, err := eventPattern(topology.AlarmStatePattern())
	if err != nil {
		return err
	}
	control, err := eventPattern(topology.ControlRequestPattern())
	if err != nil {
		return err
	}
	awsevents.NewRule(st.Stack, jsii.String("UploadRule"), &awsevents.RuleProps{
		Description:  jsii.String("sfn-rollout: a definition uploaded to the artifacts bucket starts the controller"),
		EventPattern: uploads,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSfnStateMachine(st.Controller, &awseventstargets.SfnStateMachineProps{
			DeadLetterQueue: st.EventsDLQ,
			RetryAttempts:   jsii.Number(topology.UploadDelivery.MaximumRetryAttempts),
			MaxEventAge:     maxEventAge(topology.UploadDelivery),
		})},
	})
	awsevents.NewRule(st.Stack, jsii.String("AlarmRule"), &awsevents.RuleProps{
		Description:  jsii.String("sfn-rollout: an alarm entering ALARM rolls back the rollouts it guards"),
		EventPattern: alarms,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(st.Functions["rollback"], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: st.EventsDLQ,
			RetryAttempts:   jsii.Number(topology.RollbackDelivery.MaximumRetryAttempts),
			MaxEventAge:     maxEventAge(topology.RollbackDelivery),
		})},
	})
	awsevents.NewRule(st.Stack, jsii.String("ControlRule"), &awsevents.RuleProps{
		Description:  jsii.String("sfn-rollout: operator commands sent as events"),
		EventPattern: control,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(st.Functions["control"], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: st.EventsDLQ,
			RetryAttempts:   jsii.Number(topology.ControlDelivery.MaximumRetryAttempts),
			MaxEventAge:     maxEventAge(topology.ControlDelivery),
		})},
	})
	return nil
}

// eventPattern turns a topology pattern into the L2 rule's pattern, refusing fields the
// conversion would drop.
func eventPattern(p map[string]any) (*awsevents.EventPattern, error) {
	out := &awsevents.EventPattern{}
	for key, v := range p {
		switch key {
		case "source", "detail-type":
			list, ok := v.([]string)
			if !ok {
				return nil, fmt.Errorf("event pattern %q: want a list of strings, got %T", key, v)
			}
			if key == "source" {
				out.Source = jsii.Strings(list...)
			} else {
				out.DetailType = jsii.Strings(list...)
			}
		case "detail":
			detail, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("event pattern detail: want an object, got %T", v)
			}
			out.Detail = &detail
		default:
			return nil, fmt.Errorf("event pattern field %q is not supported by the CDK rule", key)
		}
	}
	if out.Source == nil && out.DetailType == nil && out.Detail == nil {
		return nil, errors.New("empty event pattern")
	}
	return out, nil
}

func (st *Stack) outputs() {
	out := func(id string, value *string, description string) {
		awscdk.NewCfnOutput(st.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out("ArtifactsBucketName", st.Bucket.BucketName(), "upload <stateMachine>/<alias>/<name>.asl.json here")
	out("RolloutTableName", st.Table.TableName(), "rollout records and their audit trail")
	out("ControllerArn", st.Controller.StateMachineArn(), "one execution per upload")
	out("ScheduleGroupName", st.ScheduleGroup.Name(), "the rollouts' tick schedules")
	out("DashboardName", st.Dashboard.DashboardName(), "CloudWatch dashboard of the rollouts")
}

// exported is a construct ID from a function name: "prepare" -> "Prepare".
func exported(fn string) string { return strings.ToUpper(fn[:1]) + fn[1:] }
