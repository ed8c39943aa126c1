package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Faults are switched on through the endpoint's admin API, so each test has its own
// endpoint. Whatever fails, the rollout ends with the alias where its outcome says and a
// complete record.

var linear = map[string]string{"strategy": "LINEAR", "percentage": "25", "interval": "1m", "bakeTime": "1m"}

// guardedMachine is a machine with an alarm (on a metric nobody writes, so it stays quiet
// until SetAlarmState) and a rollout of v2 held at 20% for an hour with the alarm watched.
func guardedMachine(t *testing.T, m *machine) (alarm, id string) {
	t.Helper()
	ctx := context.Background()
	alarm = m.Name + "-errors"
	if _, err := m.env.CloudWatch.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(alarm), Namespace: aws.String("Orders"), MetricName: aws.String("Errors"),
		Dimensions: []cwtypes.Dimension{{Name: aws.String("Service"), Value: aws.String(m.Name)}},
		Statistic:  cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, TreatMissingData: aws.String("notBreaching"),
	}); err != nil {
		t.Fatal(err)
	}
	id = m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "20", "interval": "1h", "alarms": alarm})
	m.waitWeight(id, rollout.Progressing, 20)
	return alarm, id
}

// fire puts the alarm in ALARM and returns the wall-clock time the alias took to be back
// on stable.
func fire(t *testing.T, m *machine, alarm string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := m.env.CloudWatch.SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String(alarm), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("test: fired by hand"),
	}); err != nil {
		t.Fatal(err)
	}
	m.waitRouting("v1=100")
	return time.Since(start)
}

func TestThrottledAliasUpdates(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, fastSpeed, 21)
	ctx := context.Background()
	forward := newMachine(t, env, log, "throttled-forward")
	back := newMachine(t, env, log, "throttled-rollback")
	alarm, backID := guardedMachine(t, back)

	// Half of all alias updates are throttled from here on; the SDK's retryer makes three
	// attempts, so one forward step in eight fails and waits for the next tick.
	if err := env.SetFaults(ctx, core.Fault{Service: "states", Operation: "UpdateStateMachineAlias", Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 0.5}); err != nil {
		t.Fatal(err)
	}
	watch := forward.watch()
	id := forward.upload("v2", release(t, "v2"), linear)
	took := fire(t, back, alarm)
	t.Logf("rollback with half the alias updates throttled: alias back at v1=100 %s after SetAlarmState", took.Round(time.Millisecond))

	r := forward.finalized(id)
	wantRoutings(t, watch.Stop(), routings(forward, []int{0, 25, 50, 75, 100}))
	wantSucceeded(t, forward, r, "controller")
	wantWeights(t, forward.audit(id), 0, 25, 50, 75, 100)
	wantEvents(t, forward, r, "Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded")
	wantExecutions(t, forward, id, 1)

	rb := back.finalized(backID)
	if rb.Phase != rollout.RolledBack {
		t.Fatalf("guarded rollout ended %s: %s", rb.Phase, rb.Reason)
	}
	wantRolledBack(t, back, rb, "alarm:"+alarm, "controller")
}

func TestDynamoDBServerErrors(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, fastSpeed, 22)
	ctx := context.Background()
	forward := newMachine(t, env, log, "dynamo-forward")
	back := newMachine(t, env, log, "dynamo-rollback")
	alarm, backID := guardedMachine(t, back)

	// One DynamoDB call in ten answers 500, the test's own reads included; the SDK's
	// retryer tries three times, the controller state machine retries Transient errors and
	// the next tick picks up what a tick left.
	if err := env.SetFaults(ctx, core.Fault{Service: "dynamodb", Operation: "*", Code: "InternalServerError", Message: "injected", Status: http.StatusInternalServerError, Rate: 0.1}); err != nil {
		t.Fatal(err)
	}
	watch := forward.watch()
	id := forward.upload("v2", release(t, "v2"), linear)
	took := fire(t, back, alarm)
	t.Logf("rollback with DynamoDB failing one call in ten: alias back at v1=100 %s after SetAlarmState", took.Round(time.Millisecond))

	r := forward.finalized(id)
	wantRoutings(t, watch.Stop(), routings(forward, []int{0, 25, 50, 75, 100}))
	wantSucceeded(t, forward, r, "controller")
	wantEvents(t, forward, r, "Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded")
	wantExecutions(t, forward, id, 1)

	rb := back.finalized(backID)
	if rb.Phase != rollout.RolledBack {
		t.Fatalf("guarded rollout ended %s: %s", rb.Phase, rb.Reason)
	}
	wantRolledBack(t, back, rb, "alarm:"+alarm, "controller")
}

// crashingAliases panics in Update when armed: the function dies after it saved the
// record (the intent) and before the alias follows it.
type crashingAliases struct {
	controller.Aliases
	armed   atomic.Bool
	crashed atomic.Int32
}

func (a *crashingAliases) Update(ctx context.Context, aliasArn string, routing []rollout.Route) error {
	if a.armed.CompareAndSwap(true, false) {
		a.crashed.Add(1)
		panic(fmt.Sprintf("crash before setting %s to %v", aliasArn, routing))
	}
	return a.Aliases.Update(ctx, aliasArn, routing)
}

// crashingTasks panics in Succeed when armed: the function dies after the record says
// Succeeded and before the controller state machine is told.
type crashingTasks struct {
	controller.Tasks
	armed   atomic.Bool
	crashed atomic.Int32
}

func (c *crashingTasks) Succeed(ctx context.Context, token, output string) error {
	if c.armed.CompareAndSwap(true, false) {
		c.crashed.Add(1)
		panic("crash before sending the outcome")
	}
	return c.Tasks.Succeed(ctx, token, output)
}

// crashingEvents panics in Put when armed: Finalize dies after it released the alias and
// before it announced the outcome.
type crashingEvents struct {
	controller.Events
	armed   atomic.Bool
	crashed atomic.Int32
}

func (c *crashingEvents) Put(ctx context.Context, detailType string, detail any) error {
	if c.armed.CompareAndSwap(true, false) {
		c.crashed.Add(1)
		panic("crash before announcing " + detailType)
	}
	return c.Events.Put(ctx, detailType, detail)
}

// The controller writes the record (the intent) first and then moves the alias; a function
// that dies between the two leaves the alias one step behind, which the next call repairs.
func TestFunctionCrash(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, fastSpeed, 23)
	ctl := *env.Deployment.Controller
	aliases := &crashingAliases{Aliases: ctl.Aliases}
	tasks := &crashingTasks{Tasks: ctl.Tasks}
	events := &crashingEvents{Events: ctl.Events}
	ctl.Aliases, ctl.Tasks, ctl.Events = aliases, tasks, events
	for _, fn := range []string{"advance", "rollback", "finalize"} {
		if err := deploy.RegisterFunction(env.Stack, &ctl, fn); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("advance, between the record and the alias", func(t *testing.T) {
		m := newMachine(t, env, log, "crash-step")
		watch := m.watch()
		id := m.upload("v2", release(t, "v2"), linear)
		m.waitWeight(id, rollout.Progressing, 25)
		aliases.armed.Store(true) // the step to 50% dies after its record is saved
		r := m.finalized(id)
		if aliases.crashed.Load() != 1 {
			t.Fatalf("advance crashed %d times, want once", aliases.crashed.Load())
		}
		wantRoutings(t, watch.Stop(), routings(m, []int{0, 25, 50, 75, 100}))
		wantSucceeded(t, m, r, "controller")
		evs := m.audit(id)
		wantWeights(t, evs, 0, 25, 50, 75, 100)
		if !hasAudit(evs, string(rollout.ActionSetWeights), "controller") {
			t.Errorf("no repair in the audit trail:\n%s", describeAudit(evs))
		}
		wantEvents(t, m, r, "Rollout Started", "Rollout Step", "Rollout Step", "Rollout Step", "Rollout Succeeded")
		wantExecutions(t, m, id, 1)
	})

	t.Run("advance, before the outcome is sent", func(t *testing.T) {
		m := newMachine(t, env, log, "crash-outcome")
		id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "ALL_AT_ONCE", "bakeTime": "2m"})
		m.waitWeight(id, rollout.Baking, 100)
		tasks.armed.Store(true) // the tick that finishes the bake dies before SendTaskSuccess
		r := m.finalized(id)
		if tasks.crashed.Load() != 1 {
			t.Fatalf("advance crashed %d times, want once", tasks.crashed.Load())
		}
		wantSucceeded(t, m, r, "controller")
		wantEvents(t, m, r, "Rollout Started", "Rollout Succeeded")
		wantExecutions(t, m, id, 1)
	})

	t.Run("rollback, between the record and the alias", func(t *testing.T) {
		m := newMachine(t, env, log, "crash-rollback")
		alarm, id := guardedMachine(t, m)
		watch := m.watch()
		aliases.armed.Store(true) // the rollback dies after it saved RolledBack
		took := fire(t, m, alarm)
		t.Logf("rollback that crashed once: alias back at v1=100 %s after SetAlarmState (the next tick or Lambda's retry repairs it)", took.Round(time.Millisecond))
		r := m.finalized(id)
		if aliases.crashed.Load() != 2 {
			t.Fatalf("the functions crashed %d times in all, want twice", aliases.crashed.Load())
		}
		if r.Phase != rollout.RolledBack {
			t.Fatalf("rollout ended %s: %s", r.Phase, r.Reason)
		}
		wantRoutings(t, watch.Stop(), routings(m, []int{20, 0}))
		if r.IntendedWeights() != (rollout.Weights{Stable: 100}) || m.routing() != "v1=100" {
			t.Errorf("record wants %+v, alias routes %q; want v1=100", r.IntendedWeights(), m.routing())
		}
		wantOutcomeEvent(t, m.outcome(id, topology.DetailRolloutRolledBack), r)
		wantEvents(t, m, r, "Rollout Started", "Rollout RolledBack")
		evs := m.audit(id)
		wantWeights(t, evs, 0, 20, 0)
		// The alarm's decision stands; whichever call came next put the alias there: a
		// repair decision of its own (a SetWeights line), or the event's retry writing the
		// rollback's recorded intent, which the Rollback line already tells (wantWeights
		// holds every weight the alias took to its line either way).
		if !slices.ContainsFunc(evs, func(e controller.Event) bool {
			return e.Action == string(rollout.ActionRollback) && e.Actor == "alarm:"+alarm
		}) {
			t.Errorf("audit trail, want the alarm's Rollback:\n%s", describeAudit(evs))
		}
		wantExecutions(t, m, id, 1)
	})

	t.Run("finalize, before the outcome is announced", func(t *testing.T) {
		m := newMachine(t, env, log, "crash-finalize")
		watch := m.watch()
		events.armed.Store(true) // Finalize dies after it released the alias (the only Put it makes)
		id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "ALL_AT_ONCE"})
		m.waitWeight(id, rollout.Succeeded, 100)
		// The controller state machine tries Finalize again, which announces the outcome.
		r := m.finalized(id)
		if events.crashed.Load() != 1 {
			t.Fatalf("the functions crashed %d times in all, want once", events.crashed.Load())
		}
		wantRoutings(t, watch.Stop(), routings(m, []int{0, 100}))
		wantSucceeded(t, m, r, "controller")
		wantEvents(t, m, r, "Rollout Started", "Rollout Succeeded")
		wantExecutions(t, m, id, 1)
	})
}
