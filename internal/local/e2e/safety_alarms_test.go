package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// quietAlarm is an alarm on a metric nobody writes: it stays OK until SetAlarmState.
func quietAlarm(t *testing.T, m *machine) string {
	t.Helper()
	alarm := m.Name + "-errors"
	if _, err := m.env.CloudWatch.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(alarm), Namespace: aws.String("Orders"), MetricName: aws.String("Errors"),
		Dimensions: []cwtypes.Dimension{{Name: aws.String("Service"), Value: aws.String(m.Name)}},
		Statistic:  cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, TreatMissingData: aws.String("notBreaching"),
	}); err != nil {
		t.Fatal(err)
	}
	return alarm
}

// setAlarm sets an alarm's state by hand.
func setAlarm(t *testing.T, m *machine, alarm string, state cwtypes.StateValue) {
	t.Helper()
	if _, err := m.env.CloudWatch.SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String(alarm), StateValue: state, StateReason: aws.String("test: set by hand"),
	}); err != nil {
		t.Fatal(err)
	}
}

// An alarm goes to ALARM and back to OK between two ticks, and its event never reaches the
// rollback function. The next tick finds the ALARM in the alarm's history and rolls back,
// as the event would have.
func TestAlarmBlipWithALostEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, log := ownEnv(t, fastSpeed, 24)
	m := newMachine(t, env, log, "blip")
	alarm := quietAlarm(t, m)
	// A canary of half an hour (three seconds at this speed): long enough that the blip
	// lands well inside it.
	id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "20", "interval": "30m", "alarms": alarm})
	m.waitWeight(id, rollout.Progressing, 20)
	// Lost: EventBridge delivers the alarm's events to nobody, as when a delivery failed
	// every retry and went to the dead-letter queue.
	if _, err := env.EventBridge.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: aws.String(deploy.RuleAlarms)}); err != nil {
		t.Fatal(err)
	}
	setAlarm(t, m, alarm, cwtypes.StateValueAlarm)
	setAlarm(t, m, alarm, cwtypes.StateValueOk)

	r := m.finalized(id)
	if r.Phase != rollout.RolledBack || !strings.Contains(r.Reason, alarm) {
		t.Fatalf("rollout ended %s: %q; want RolledBack naming %s", r.Phase, r.Reason, alarm)
	}
	wantRolledBack(t, m, r, "controller")
}

// With the alias and alarm reads throttled for good (DescribeStateMachineAlias is 1 a second
// account-wide, shared with every tick), an alarm's event still rolls the canary back: its
// rollback reads neither before it writes the alias, and retries the write with backoff.
func TestRollbackUnderThrottledReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, log := ownEnv(t, fastSpeed, 26)
	m := newMachine(t, env, log, "throttled-reads")
	alarm, id := guardedMachine(t, m)
	if err := env.SetFaults(ctx,
		core.Fault{Service: "states", Operation: "DescribeStateMachineAlias", Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 1},
		core.Fault{Service: "monitoring", Operation: "DescribeAlarms", Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 1},
		// Two of the rollback's alias updates are throttled too (the SDK tries three times).
		core.Fault{Service: "states", Operation: "UpdateStateMachineAlias", Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 1, Remaining: 6},
	); err != nil {
		t.Fatal(err)
	}
	setAlarm(t, m, alarm, cwtypes.StateValueAlarm)
	// The ticks fail on their reads meanwhile; only the rollback can end the rollout.
	r := m.waitFor(id, "rolled back", func(r rollout.Rollout) bool { return r.Phase.Terminal() })
	if err := env.SetFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Phase != rollout.RolledBack {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Reason)
	}
	m.waitRouting("v1=100")
	wantRolledBack(t, m, m.finalized(id), "alarm:"+alarm)
}
