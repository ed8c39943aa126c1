// Package localenv runs the whole system on one machine for the demo and the end-to-end
// tests: a local endpoint with the controller deployed on it, SDK clients pointed at it, and
// the few moves a user makes — create a managed state machine, upload a definition, send
// traffic, watch a rollout.
package localenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Env is a running local system.
type Env struct {
	Stack      *stack.Stack
	Deployment *deploy.Deployment
	SFN        *sfn.Client
	S3         *s3.Client
	CloudWatch *cloudwatch.Client
	// Lambda invokes the controller's functions (the control function, as the CLI does).
	Lambda      *lambdasdk.Client
	EventBridge *eventbridge.Client
	Store       *dynamostore.Store

	execMu       sync.Mutex
	execRollouts map[string]string // controller execution ARN → rollout id
}

// Options configure Start.
type Options struct {
	Speed float64   // virtual clock speed
	Seed  uint64    // routing and faults
	Out   io.Writer // the endpoint's event lines; nil discards them
	Log   *slog.Logger
	Addr  string // default 127.0.0.1:0
	// FunctionTimeout is the wall-clock timeout of the in-process functions (0: each its
	// deployed one, topology.FunctionTimeout); a test makes it short to see invocations run
	// out of time.
	FunctionTimeout time.Duration
	// VersionDimensionArn publishes AWS/States's Version dimension as the version ARN
	// instead of the number, the other form AWS may write.
	VersionDimensionArn bool
	// LambdaConcurrency is Lambda's account concurrency (0: lambda.DefaultConcurrency, AWS's
	// default 1,000).
	LambdaConcurrency int
}

// Start runs the endpoint and deploys the controller on it.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	st, err := stack.Start(ctx, stack.Options{Addr: opts.Addr, Speed: opts.Speed, Seed: opts.Seed, Out: opts.Out, FunctionTimeout: opts.FunctionTimeout, VersionDimensionArn: opts.VersionDimensionArn, LambdaConcurrency: opts.LambdaConcurrency})
	if err != nil {
		return nil, err
	}
	d, err := deploy.Controller(ctx, st, deploy.Options{Log: opts.Log})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("deploy the controller: %w", err)
	}
	cfg := d.AWS
	return &Env{
		Stack: st, Deployment: d,
		SFN:         sfn.NewFromConfig(cfg, sfnapi.ClientOptions),
		S3:          s3.NewFromConfig(cfg, s3api.ClientOptions),
		CloudWatch:  cloudwatch.NewFromConfig(cfg),
		Lambda:      lambdasdk.NewFromConfig(cfg),
		EventBridge: eventbridge.NewFromConfig(cfg),
		Store:       dynamostore.New(dynamodb.NewFromConfig(cfg), d.Table).WithClock(st.Clock),
	}, nil
}

// Close stops everything.
func (e *Env) Close() { e.Stack.Close() }

// Managed is a state machine under the controller.
type Managed struct {
	Name     string
	Arn      string
	AliasArn string
	Version1 string
}

// CreateManaged creates a state machine tagged rollout:managed=true (plus policy tags),
// publishes its first version and points the alias at it, as ManagedStateMachine does.
func (e *Env) CreateManaged(ctx context.Context, name, alias, definition string, policyTags map[string]string) (Managed, error) {
	return e.CreateManagedOfType(ctx, name, alias, definition, sfntypes.StateMachineTypeStandard, policyTags)
}

// CreateManagedOfType is CreateManaged for a state machine of the type (STANDARD or
// EXPRESS).
func (e *Env) CreateManagedOfType(ctx context.Context, name, alias, definition string, typ sfntypes.StateMachineType, policyTags map[string]string) (Managed, error) {
	tags := []sfntypes.Tag{{Key: aws.String(topology.ManagedTag), Value: aws.String("true")}}
	for k, v := range policyTags {
		tags = append(tags, sfntypes.Tag{Key: aws.String(topology.TagPrefix + k), Value: aws.String(v)})
	}
	out, err := e.SFN.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(definition), RoleArn: aws.String(deploy.RoleArn),
		Type: typ, Publish: true, Tags: tags,
	})
	if err != nil {
		return Managed{}, fmt.Errorf("create %s: %w", name, err)
	}
	a, err := e.SFN.CreateStateMachineAlias(ctx, &sfn.CreateStateMachineAliasInput{
		Name:                 aws.String(alias),
		RoutingConfiguration: []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: out.StateMachineVersionArn, Weight: 100}},
	})
	if err != nil {
		return Managed{}, fmt.Errorf("alias %s of %s: %w", alias, name, err)
	}
	return Managed{Name: name, Arn: aws.ToString(out.StateMachineArn), AliasArn: aws.ToString(a.StateMachineAliasArn), Version1: aws.ToString(out.StateMachineVersionArn)}, nil
}

// Upload puts a definition where CI would, with policy fields as object metadata
// (rollout-<field>), and returns the id of the rollout it starts.
func (e *Env) Upload(ctx context.Context, stateMachine, alias, name, definition string, policy map[string]string) (string, error) {
	key := stateMachine + "/" + alias + "/" + name + topology.DefinitionSuffix
	meta := map[string]string{}
	for k, v := range policy {
		meta[topology.MetadataPrefix+k] = v
	}
	out, err := e.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Deployment.Bucket), Key: aws.String(key), Body: strings.NewReader(definition), Metadata: meta})
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", key, err)
	}
	version := aws.ToString(out.VersionId)
	if version == "" {
		return "", fmt.Errorf("upload %s: the artifacts bucket is not versioned", key)
	}
	return controller.RolloutID(e.Deployment.Bucket + "/" + key + "#" + version), nil
}

// Put writes any other artifact (rollout.json, tests/*.json).
func (e *Env) Put(ctx context.Context, key, body string) error {
	_, err := e.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Deployment.Bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	return err
}

// Rollout reads a rollout's record; ok is false while it does not exist yet.
func (e *Env) Rollout(ctx context.Context, id string) (rollout.Rollout, bool, error) {
	r, err := e.Store.GetRollout(ctx, id)
	if errors.Is(err, controller.ErrNotFound) {
		return r, false, nil
	}
	return r, err == nil, err
}

// Wait polls the record until done says so, or until the real-time timeout. A read that
// fails (an injected fault, say) is tried again; the last error is reported at the timeout.
func (e *Env) Wait(ctx context.Context, id string, timeout time.Duration, done func(rollout.Rollout) bool) (rollout.Rollout, error) {
	deadline := time.Now().Add(timeout)
	var last rollout.Rollout
	var lastErr error
	for time.Now().Before(deadline) {
		r, ok, err := e.Rollout(ctx, id)
		lastErr = err
		if ok {
			last = r
			if done(r) {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if lastErr != nil {
		return last, fmt.Errorf("rollout %s: still %s (%s) after %s: %w", id, last.Phase, last.Reason, timeout, lastErr)
	}
	return last, fmt.Errorf("rollout %s: still %s (%s) after %s", id, last.Phase, last.Reason, timeout)
}

// WaitEnded waits until the rollout has ended.
func (e *Env) WaitEnded(ctx context.Context, id string, timeout time.Duration) (rollout.Rollout, error) {
	return e.Wait(ctx, id, timeout, func(r rollout.Rollout) bool { return r.Phase.Terminal() })
}

// WaitFinalized waits until the controller has finalized the rollout — the lock released,
// the outcome announced — which follows the end by a moment: every controller execution
// of its upload has stopped (Finalize is the last state of the one that ran it). It only
// reads, so that it cannot take the alias from a queued upload.
func (e *Env) WaitFinalized(ctx context.Context, id string, timeout time.Duration) (rollout.Rollout, error) {
	deadline := time.Now().Add(timeout)
	r, err := e.WaitEnded(ctx, id, timeout)
	if err != nil {
		return r, err
	}
	var lastErr error
	for time.Now().Before(deadline) {
		xs, err := e.ControllerExecutions(ctx, id)
		lastErr = err
		if err == nil && len(xs) > 0 && !slices.ContainsFunc(xs, func(x ControllerExecution) bool { return x.Status == sfntypes.ExecutionStatusRunning }) {
			// The record as Finalize left it.
			if latest, ok, err := e.Rollout(ctx, id); err == nil && ok {
				r = latest
			}
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return r, fmt.Errorf("rollout %s ended %s but was not finalized within %s (last error: %v)", id, r.Phase, timeout, lastErr)
}

// Routing reads an alias's routing as "v1=80 v2=20".
func (e *Env) Routing(ctx context.Context, aliasArn string) (string, error) {
	out, err := e.SFN.DescribeStateMachineAlias(ctx, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(aliasArn)})
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, len(out.RoutingConfiguration))
	for _, r := range out.RoutingConfiguration {
		arn := aws.ToString(r.StateMachineVersionArn)
		parts = append(parts, fmt.Sprintf("%s=%d", rollout.VersionLabel(arn), r.Weight))
	}
	return strings.Join(parts, " "), nil
}

// AliasFailuresAlarm creates the alarm ManagedStateMachine creates: any failed execution
// through the alias in a minute puts it in ALARM.
func (e *Env) AliasFailuresAlarm(ctx context.Context, m Managed, alias string) (string, error) {
	name := topology.AliasFailuresAlarmName(m.Name, alias)
	_, err := e.CloudWatch.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName:  aws.String(name),
		Namespace:  aws.String(topology.MetricsNamespace),
		MetricName: aws.String(topology.MetricExecutionsFailed),
		Dimensions: []cwtypes.Dimension{
			{Name: aws.String(topology.DimStateMachineArn), Value: aws.String(m.Arn)},
			{Name: aws.String(topology.DimAlias), Value: aws.String(alias)},
		},
		Statistic:          cwtypes.StatisticSum,
		Period:             aws.Int32(60),
		EvaluationPeriods:  aws.Int32(1),
		Threshold:          aws.Float64(1),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold,
		TreatMissingData:   aws.String("notBreaching"),
	})
	return name, err
}

// AlarmState is an alarm's state as DescribeAlarms reports it, or MISSING.
func (e *Env) AlarmState(ctx context.Context, name string) string {
	out, err := e.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{name},
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}})
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case len(out.MetricAlarms) > 0:
		return string(out.MetricAlarms[0].StateValue)
	case len(out.CompositeAlarms) > 0:
		return string(out.CompositeAlarms[0].StateValue)
	}
	return "MISSING"
}

// Traffic starts executions through an alias at a steady real-time rate until Stop.
type Traffic struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
	mu     sync.Mutex
	errs   int
}

// StartTraffic sends perSecond executions a second (real time) to the alias.
func (e *Env) StartTraffic(ctx context.Context, aliasArn string, perSecond int) *Traffic {
	ctx, cancel := context.WithCancel(ctx)
	t := &Traffic{cancel: cancel}
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				n++
				input := fmt.Sprintf(`{"orderId":"o-%d","items":[{"sku":"a","qty":%d}]}`, n, 1+n%3)
				if _, err := e.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(aliasArn), Input: aws.String(input)}); err != nil && ctx.Err() == nil {
					t.mu.Lock()
					t.errs++
					t.mu.Unlock()
				}
			}
		}
	}()
	return t
}

// Stop ends the traffic and reports how many starts failed.
func (t *Traffic) Stop() int {
	t.cancel()
	t.done.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.errs
}

// Executions counts an alias's executions per version label ("v2") and status.
func (e *Env) Executions(ctx context.Context, aliasArn string) (map[string]map[string]int, error) {
	counts := map[string]map[string]int{}
	p := sfn.NewListExecutionsPaginator(e.SFN, &sfn.ListExecutionsInput{StateMachineArn: aws.String(aliasArn), MaxResults: 1000})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, x := range out.Executions {
			arn := aws.ToString(x.StateMachineVersionArn)
			v := rollout.VersionLabel(arn)
			if counts[v] == nil {
				counts[v] = map[string]int{}
			}
			counts[v][string(x.Status)]++
		}
	}
	return counts, nil
}

// Now is the virtual time.
func (e *Env) Now() time.Time { return e.Stack.Clock.Now() }
