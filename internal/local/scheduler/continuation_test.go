package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	schedsdk "github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/schedulerapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// A rollback's continuation, made by the controller's own adapter over the real SDK
// client: a one-time at() schedule that invokes the rollback function with its input at the
// time it names, once, and is deleted after it fired (ActionAfterCompletion DELETE). Made
// again under its name (a retried invocation), it is the same schedule: no error, one firing.
func TestAContinuationFiresOnceAtItsTimeAndIsDeleted(t *testing.T) {
	const rollbackArn = "arn:aws:lambda:us-east-1:000000000000:function:rollback"
	// The schedule is read before it fires: at speed 600 its firing, 27 to 28 virtual
	// minutes ahead, leaves that read about 2.7 s of wall time on a loaded machine (at 6000
	// and 2 minutes ahead it had 20 ms, and lost the race under load).
	f := newFixture(t, 600)
	ctx := context.Background()
	schedules := schedulerapi.New(f.client, "", fnArn, roleArn).WithRollback(rollbackArn)
	turn := f.clock.Now().Add(30 * time.Minute).Truncate(time.Second)
	when := turn.Add(-2 * time.Minute).UTC().Truncate(time.Minute)
	input := `{"rolloutId":"r-1","turnAt":"` + turn.UTC().Format(time.RFC3339) + `"}`
	sc := controller.Schedule{
		Name:       topology.ContinuationScheduleName("r-1", turn),
		Expression: "at(" + when.Format("2006-01-02T15:04:05") + ")",
		Input:      input, Target: controller.TargetRollback, DeleteAfterCompletion: true,
	}
	for i := range 2 {
		if err := schedules.Create(ctx, sc); err != nil {
			t.Fatalf("create %d: %v", i+1, err)
		}
	}
	got, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String(sc.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.ActionAfterCompletion) != "DELETE" || aws.ToString(got.Target.Arn) != rollbackArn || got.Target.RetryPolicy == nil ||
		aws.ToInt32(got.Target.RetryPolicy.MaximumEventAgeInSeconds) != int32(topology.ContinuationDelivery.MaximumEventAgeInSeconds()) {
		t.Errorf("schedule %+v", got)
	}
	c := waitCall(t, f.functions.calls)
	if c.target != rollbackArn || c.payload != input {
		t.Errorf("invoked %s with %s, want %s with %s", c.target, c.payload, rollbackArn, input)
	}
	if c.at.Before(when) || !c.at.Before(turn) {
		t.Errorf("fired at %s, want from %s and before the turn at %s", c.at, when, turn)
	}
	if _, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String(sc.Name)}); err == nil {
		t.Error("the continuation's schedule outlived its firing")
	}
	_ = f.clock.Sleep(ctx, 10*time.Minute)
	if extra := drain(f.functions.calls); len(extra) != 0 {
		t.Errorf("the continuation fired %d more times", len(extra))
	}
}
