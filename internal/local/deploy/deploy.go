// Package deploy puts the controller on a local endpoint the way `cdk deploy` puts it on
// AWS, through the real SDK clients and from the same sources (internal/topology and
// statemachines/): the artifacts bucket with EventBridge notifications, the table in
// dynalite, the functions in-process over the same handler code as functions/, the
// controller state machine with its substitutions filled, the EventBridge rules and the
// scheduler group.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withall"
	"github.com/sfn-rollout/sfn-rollout/statemachines"
)

// Local names: on AWS the bucket and table are named by CloudFormation.
const (
	Prefix         = topology.DefaultPrefix
	RoleArn        = "arn:aws:iam::" + core.Account + ":role/" + Prefix + "-controller"
	SchedulerRole  = "arn:aws:iam::" + core.Account + ":role/" + Prefix + "-scheduler"
	RuleUploads    = Prefix + "-uploads"
	RuleAlarms     = Prefix + "-alarms"
	RuleControl    = Prefix + "-control"
	localTickRate  = topology.DefaultTickRate
	localMinPeriod = topology.DefaultMinInterval
	// localAliasWriteWindow is shorter than AWS's: the endpoint is in this process, on
	// loopback, so an alias write takes about a millisecond, and it never applies a request
	// whose caller gave up (internal/local/sfn). Both the write's deadline and the wait
	// before a lock is released are wall time, as on AWS, so the bound holds at any speed
	// (the controller compares its clock's times with the window's span on that clock);
	// 200ms keeps a finalize fast for the demo and the end-to-end suite.
	localAliasWriteWindow = "200ms"
	// AppID is the controller's SDK application id ("app/<id>" in its User-Agent), by which
	// the endpoint's request counts tell the controller's calls from everyone else's.
	AppID = Prefix + "-controller"
)

// Bucket and Table are the local artifacts bucket and rollout table.
var (
	Bucket = Prefix + "-artifacts-" + core.Account
	Table  = Prefix + "-rollouts"
)

// Deployment is the controller on a local endpoint.
type Deployment struct {
	Bucket                    string
	Table                     string
	ControllerStateMachineArn string
	Controller                *controller.Controller
	AWS                       aws.Config
}

// Options tune the deployment.
type Options struct {
	// Log receives the controller's log lines besides the one-line reports on the
	// endpoint's output; nil keeps only the reports.
	Log *slog.Logger
}

// RegisterFunction serves one of topology.Functions in-process over ctl, under its deployed
// name. Registering it again replaces it: tests put a controller with a faulty port behind
// one function to crash it at a chosen point.
func RegisterFunction(st *stack.Stack, ctl *controller.Controller, fn string) error {
	h, err := wiring.Handler(ctl, fn)
	if err != nil {
		return err
	}
	timeout := topology.FunctionTimeout(fn) // as the stack deploys it
	if st.FunctionTimeout > 0 {
		timeout = st.FunctionTimeout
	}
	st.Lambda.RegisterWithTimeout(topology.FunctionName(Prefix, fn), func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		out, err := h(ctx, payload)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}, timeout)
	return nil
}

// AWSConfig is an SDK configuration for the local endpoint at url.
func AWSConfig(url string) aws.Config {
	return aws.Config{
		Region:       core.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(url),
	}
}

// Controller deploys the controller on st and records its names in /_sfn-rollout/config.
func Controller(ctx context.Context, st *stack.Stack, opts Options) (*Deployment, error) {
	cfg := AWSConfig(st.URL)
	d := &Deployment{Bucket: Bucket, Table: Table, AWS: cfg}
	fnArn := func(fn string) string { return lambda.FunctionArn(topology.FunctionName(Prefix, fn)) }

	settings := wiring.Settings{
		Table:               Table,
		ScheduleGroup:       topology.ScheduleGroupName(Prefix),
		SchedulerRoleArn:    SchedulerRole,
		AdvanceFunctionArn:  fnArn("advance"),
		RollbackFunctionArn: fnArn("rollback"),
		EventBus:            topology.DefaultEventBus,
	}
	env := map[string]string{topology.EnvTable: settings.Table, topology.EnvBucket: Bucket, topology.EnvScheduleGroup: settings.ScheduleGroup,
		topology.EnvSchedulerRoleArn: settings.SchedulerRoleArn, topology.EnvAdvanceFunctionArn: settings.AdvanceFunctionArn,
		topology.EnvRollbackFunctionArn: settings.RollbackFunctionArn,
		topology.EnvTickRate:            localTickRate, topology.EnvMinInterval: localMinPeriod, topology.EnvAliasWriteWindow: localAliasWriteWindow}
	settings, err := wiring.SettingsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	var next slog.Handler
	if opts.Log != nil {
		next = opts.Log.Handler()
	}
	log := slog.New(ReportingHandler(st.Reporter, next))
	ctlCfg := cfg.Copy()
	ctlCfg.AppID = AppID
	ctl, err := withall.Build(ctlCfg, settings, st.Clock, log)
	if err != nil {
		return nil, err
	}
	d.Controller = ctl
	asyncInvoke := lambda.EventInvokeConfig{
		MaximumRetryAttempts: topology.FunctionAsyncInvoke.MaximumRetryAttempts,
		MaximumEventAge:      topology.FunctionAsyncInvoke.MaximumEventAge,
	}
	for _, fn := range topology.Functions {
		if err := RegisterFunction(st, ctl, fn); err != nil {
			return nil, err
		}
		if err := st.Lambda.PutFunctionEventInvokeConfig(topology.FunctionName(Prefix, fn), asyncInvoke); err != nil {
			return nil, fmt.Errorf("event invoke config of %s: %w", fn, err)
		}
		if n := topology.ReservedConcurrency(fn); n > 0 {
			// As the stack reserves it (ReservedConcurrentExecutions).
			if err := st.Lambda.PutFunctionConcurrency(topology.FunctionName(Prefix, fn), n); err != nil {
				return nil, fmt.Errorf("reserved concurrency of %s: %w", fn, err)
			}
		}
	}

	if err := dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(cfg), Table); err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}
	s3c := s3.NewFromConfig(cfg, s3api.ClientOptions)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(Bucket)}); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(Bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return nil, fmt.Errorf("bucket versioning: %w", err)
	}
	if _, err := s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(Bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{EventBridgeConfiguration: &s3types.EventBridgeConfiguration{}}}); err != nil {
		return nil, fmt.Errorf("bucket notifications: %w", err)
	}

	definition := strings.NewReplacer(
		"${PrepareFunctionArn}", fnArn("prepare"),
		"${RegisterFunctionArn}", fnArn("register"),
		"${FinalizeFunctionArn}", fnArn("finalize"),
	).Replace(statemachines.Controller)
	sfnc := sfn.NewFromConfig(cfg, sfnapi.ClientOptions)
	created, err := sfnc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(topology.ControllerName(Prefix)), Definition: aws.String(definition), RoleArn: aws.String(RoleArn),
	})
	if err != nil {
		return nil, fmt.Errorf("create the controller state machine: %w", err)
	}
	d.ControllerStateMachineArn = aws.ToString(created.StateMachineArn)

	if _, err := scheduler.NewFromConfig(cfg).CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(settings.ScheduleGroup)}); err != nil {
		return nil, fmt.Errorf("create schedule group: %w", err)
	}
	eb := eventbridge.NewFromConfig(cfg)
	for _, rule := range []struct {
		name    string
		pattern map[string]any
		target  string
		retry   topology.RetryPolicy
	}{
		{RuleUploads, topology.ObjectCreatedPattern(Bucket), d.ControllerStateMachineArn, topology.UploadDelivery},
		{RuleAlarms, topology.AlarmStatePattern(), fnArn("rollback"), topology.RollbackDelivery},
		{RuleControl, topology.ControlRequestPattern(), fnArn("control"), topology.ControlDelivery},
	} {
		pattern, _ := json.Marshal(rule.pattern)
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule.name), EventPattern: aws.String(string(pattern))}); err != nil {
			return nil, fmt.Errorf("rule %s: %w", rule.name, err)
		}
		out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule.name), Targets: []ebtypes.Target{{
			Id: aws.String("target"), Arn: aws.String(rule.target), RoleArn: aws.String(RoleArn),
			// The stack's policies, so that a failing target is retried here as on AWS.
			RetryPolicy: &ebtypes.RetryPolicy{
				MaximumRetryAttempts:     aws.Int32(int32(rule.retry.MaximumRetryAttempts)),
				MaximumEventAgeInSeconds: aws.Int32(int32(rule.retry.MaximumEventAgeInSeconds())),
			},
		}}})
		if err != nil {
			return nil, fmt.Errorf("targets of %s: %w", rule.name, err)
		}
		if out.FailedEntryCount > 0 {
			return nil, fmt.Errorf("targets of %s: %s", rule.name, aws.ToString(out.FailedEntries[0].ErrorMessage))
		}
	}
	st.Server.SetConfig("bucket", Bucket)
	st.Server.SetConfig("table", Table)
	st.Server.SetConfig("controllerStateMachineArn", d.ControllerStateMachineArn)
	st.Server.SetConfig("controlFunction", topology.FunctionName(Prefix, "control"))
	// The virtual clock, so that a client can tell the time the records are written in:
	// virtualTime was the virtual time when the wall clock read wallTime, and the virtual
	// clock runs speed times faster from there.
	wall, virtual := time.Now(), st.Clock.Now()
	st.Server.SetConfig("speed", strconv.FormatFloat(st.Clock.Speed(), 'g', -1, 64))
	st.Server.SetConfig("virtualTime", virtual.Format(time.RFC3339Nano))
	st.Server.SetConfig("wallTime", wall.UTC().Format(time.RFC3339Nano))
	return d, nil
}
