package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// A rollback whose turn lies minutes down a storm's line, through local mode: its first
// write is throttled, its turn (behind five minutes of other writers' turns in the shared
// budget) is handed to a continuation, the local Scheduler fires the continuation's
// one-time schedule before the turn, the rollback function writes the alias at the turn,
// and the schedule is gone.
func TestAFarRollbackIsWrittenByItsContinuation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, log := ownEnv(t, quotaSpeed, 53)
	m := newMachine(t, env, log, "continued")
	alarm := m.Name + "-errors"
	if _, err := env.CloudWatch.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(alarm), Namespace: aws.String("Continued"), MetricName: aws.String("Errors"),
		Dimensions: []cwtypes.Dimension{{Name: aws.String("Machine"), Value: aws.String(m.Name)}},
		Statistic:  cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, TreatMissingData: aws.String("notBreaching"),
	}); err != nil {
		t.Fatal(err)
	}
	id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1h", "alarms": alarm})
	r := m.waitWeight(id, rollout.Progressing, 10)

	// A storm's other writers hold the next five minutes of turns, in the view every
	// invocation shares; AWS throttles the rollback's first write.
	view := budget.New(dynamostore.NewBudgetStore(dynamodb.NewFromConfig(env.Deployment.AWS), env.Deployment.Table), env.Stack.Clock, nil)
	for range budget.Quotas[budget.UpdateStateMachineAlias].Burst + 300 {
		if _, err := view.Reserve(ctx, budget.UpdateStateMachineAlias); err != nil {
			t.Fatal(err)
		}
	}
	env.Stack.Faults.Set([]core.Fault{{Service: "states", Operation: "UpdateStateMachineAlias", Code: "ThrottlingException", Message: "Rate exceeded", Status: 400, Rate: 1}})
	if _, err := env.CloudWatch.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(alarm), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("storm")}); err != nil {
		t.Fatal(err)
	}
	handed := m.waitFor(id, "the rollback's turn handed over", func(r rollout.Rollout) bool { return r.Phase == rollout.RolledBack && !r.HandedTurn.IsZero() })
	env.Stack.Faults.Set(nil)
	if d := handed.HandedTurn.Sub(env.Now()); d < 2*time.Minute {
		t.Fatalf("the handed turn is %s away: want it behind the storm's five minutes", d)
	}
	list, err := scheduler.NewFromConfig(env.Deployment.AWS).ListSchedules(ctx, &scheduler.ListSchedulesInput{GroupName: aws.String(topology.ScheduleGroupName(topology.DefaultPrefix))})
	if err != nil {
		t.Fatal(err)
	}
	want := topology.ContinuationScheduleName(id, handed.HandedTurn)
	found := false
	for _, s := range list.Schedules {
		found = found || aws.ToString(s.Name) == want
	}
	if !found {
		t.Fatalf("no continuation schedule %s", want)
	}
	m.waitRouting(routingOf(r.StableVersionArn, 100, "", 0))
	if now := env.Now(); now.Before(handed.HandedTurn) {
		t.Errorf("the alias was written at %s, before the turn at %s", now, handed.HandedTurn)
	}
	done := m.waitFor(id, "the rollback confirmed", func(r rollout.Rollout) bool { return r.Confirmed() && r.ClaimedTurn.Equal(handed.HandedTurn) })
	if done.Phase != rollout.RolledBack {
		t.Errorf("phase %s", done.Phase)
	}
	list, err = scheduler.NewFromConfig(env.Deployment.AWS).ListSchedules(ctx, &scheduler.ListSchedulesInput{GroupName: aws.String(topology.ScheduleGroupName(topology.DefaultPrefix))})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Schedules {
		if strings.HasPrefix(aws.ToString(s.Name), topology.SchedulePrefix+"turn-") {
			t.Errorf("the continuation's schedule %s outlived its firing", aws.ToString(s.Name))
		}
	}
}
