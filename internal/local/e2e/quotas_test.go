package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// quotaSpeed runs these tests' virtual clock, on which AWS's quotas refill: a bucket of one
// token a second gives quotaSpeed a wall second.
const quotaSpeed = 20

// drain empties the account's bucket of op (AWS's quotas in force) with calls of the
// test's own, so that what follows runs on the refill alone.
func drain(t *testing.T, env *localenv.Env, op string, call func(ctx context.Context) error) {
	t.Helper()
	ctx := context.Background()
	throttled := 0
	for range 400 {
		if err := call(ctx); err != nil {
			throttled++
			if throttled > 5 {
				return
			}
		}
	}
	t.Fatalf("%s: 400 calls and the bucket is not empty", op)
}

// once makes a call without the SDK's retries: a throttled call answers throttled.
func once(o *sfn.Options) { o.RetryMaxAttempts = 1 }

// opCalls counts the controller's requests of one Step Functions operation.
func opCalls(t *testing.T, env *localenv.Env, op string) int {
	t.Helper()
	return controllerCalls(requests(t, env))["states "+op]
}

// A storm of alarms under AWS's quotas, with the alias update bucket empty: every alias is
// back on stable, none missed, although AWS throttles the rollbacks' writes (they are
// retried, and the sweep is the net under a rollback that gives up).
func TestAlarmStormUnderQuotas(t *testing.T) {
	t.Parallel()
	const rollouts = 12
	ctx := context.Background()
	env, log := ownEnv(t, quotaSpeed, 51)
	ms := make([]*machine, rollouts)
	ids := make([]string, rollouts)
	alarms := make([]string, rollouts)
	for i := range ms {
		ms[i] = newMachine(t, env, log, "storm")
		alarms[i] = ms[i].Name + "-errors"
		if _, err := env.CloudWatch.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(alarms[i]), Namespace: aws.String("Storm"), MetricName: aws.String("Errors"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Machine"), Value: aws.String(ms[i].Name)}},
			Statistic:  cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, TreatMissingData: aws.String("notBreaching"),
		}); err != nil {
			t.Fatal(err)
		}
		ids[i] = ms[i].upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1h", "alarms": alarms[i]})
	}
	for i, m := range ms {
		m.waitWeight(ids[i], rollout.Progressing, 10)
	}

	if err := env.Stack.Quotas.SetMode(core.QuotasAWS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stack.Quotas.SetMode(core.QuotasOff) })
	// The test's own alias takes every token until each rollback's decision is saved, so
	// that the rollbacks' first writes meet an empty bucket however slowly this machine
	// delivers the alarms' events (a refill is 50 ms of wall time at quotaSpeed).
	spare := newMachine(t, env, log, "storm-spare")
	drainOnce := func(ctx context.Context) error {
		_, err := env.SFN.UpdateStateMachineAlias(ctx, &sfn.UpdateStateMachineAliasInput{StateMachineAliasArn: aws.String(spare.AliasArn),
			RoutingConfiguration: []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(spare.Version1), Weight: 100}}}, once)
		return err
	}
	drain(t, env, "UpdateStateMachineAlias", drainOnce)
	stopDrain := make(chan struct{})
	var drainer sync.WaitGroup
	drainer.Go(func() {
		for {
			select {
			case <-stopDrain:
				return
			default:
				_ = drainOnce(ctx)
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	before := opCalls(t, env, "UpdateStateMachineAlias")

	var wg sync.WaitGroup
	for _, a := range alarms {
		wg.Go(func() {
			if _, err := env.CloudWatch.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(a), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("storm")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	stable := make([]string, len(ms))
	for i, m := range ms {
		r := m.waitFor(ids[i], "RolledBack", func(r rollout.Rollout) bool { return r.Phase == rollout.RolledBack })
		stable[i] = label(r.StableVersionArn) + "=100"
	}
	close(stopDrain)
	drainer.Wait()
	for i, m := range ms {
		m.waitRouting(stable[i])
	}
	n := opCalls(t, env, "UpdateStateMachineAlias") - before
	t.Logf("%d alias updates for %d rollbacks", n, rollouts)
	if n <= rollouts {
		t.Errorf("%d alias updates for %d rollbacks: AWS's bucket was empty, so some should have been throttled and retried", n, rollouts)
	}
}

// A burst of uploads under AWS's quotas, with the validation bucket empty: every upload
// reaches its first step, none is refused or fails.
func TestUploadBurstUnderQuotas(t *testing.T) {
	t.Parallel()
	const uploads = 12
	env, log := ownEnv(t, quotaSpeed, 52)
	ms := make([]*machine, uploads)
	for i := range ms {
		ms[i] = newMachine(t, env, log, "burst")
	}
	if err := env.Stack.Quotas.SetMode(core.QuotasAWS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stack.Quotas.SetMode(core.QuotasOff) })
	definition := release(t, "v2")
	drain(t, env, "ValidateStateMachineDefinition", func(ctx context.Context) error {
		_, err := env.SFN.ValidateStateMachineDefinition(ctx, &sfn.ValidateStateMachineDefinitionInput{Definition: aws.String(definition)}, once)
		return err
	})
	ids := make([]string, uploads)
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			ids[i] = m.upload("v2", definition, map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1h"})
		})
	}
	wg.Wait()
	for i, m := range ms {
		r := m.waitFor(ids[i], "its first step", func(r rollout.Rollout) bool {
			return r.CandidateWeight == 10 || r.Phase.Terminal()
		})
		if r.Phase != rollout.Progressing {
			t.Errorf("upload %d: %s %s (%s)", i, r.Phase, r.ErrorName, r.Reason)
		}
	}
	if n := opCalls(t, env, "ValidateStateMachineDefinition"); n < uploads {
		t.Errorf("%d validations for %d uploads", n, uploads)
	}
}
