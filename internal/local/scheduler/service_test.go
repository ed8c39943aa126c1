package scheduler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	schedsdk "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

func TestErrors(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	f.create(t, &schedsdk.CreateScheduleInput{Name: aws.String("existing"), ScheduleExpression: aws.String("rate(1 hour)")})
	create := func(name, expr string, mod func(*schedsdk.CreateScheduleInput)) func(*schedsdk.Client) error {
		return func(c *schedsdk.Client) error {
			in := &schedsdk.CreateScheduleInput{
				Name: aws.String(name), ScheduleExpression: aws.String(expr),
				FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
				Target:             &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn)},
			}
			if mod != nil {
				mod(in)
			}
			_, err := c.CreateSchedule(ctx, in)
			return err
		}
	}
	tests := []struct {
		name     string
		call     func(*schedsdk.Client) error
		wantCode string
		wantMsg  string
	}{
		{"create existing", create("existing", "rate(1 minute)", nil), "ConflictException", "Schedule existing already exists."},
		{"create in missing group", create("s", "rate(1 minute)", func(in *schedsdk.CreateScheduleInput) { in.GroupName = aws.String("nope") }),
			"ResourceNotFoundException", "Schedule group nope does not exist."},
		{"name pattern", create("a b", "rate(1 minute)", nil),
			"ValidationException", "1 validation error detected: Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$"},
		{"unsupported target", create("s", "rate(1 minute)", func(in *schedsdk.CreateScheduleInput) {
			in.Target.Arn = aws.String("arn:aws:sqs:us-east-1:000000000000:q")
		}), "ValidationException", `sfn-rollout local invokes only Lambda functions (arn:aws:lambda:...:function:<name>) and Step Functions state machines (arn:aws:states:...:stateMachine:<name>), not "arn:aws:sqs:us-east-1:000000000000:q"`},
		{"event age too short", create("s", "rate(1 minute)", func(in *schedsdk.CreateScheduleInput) {
			in.Target.RetryPolicy = &types.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(10)}
		}), "ValidationException", "1 validation error detected: Value '10' at 'target.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"},
		{"too many retries", create("s", "rate(1 minute)", func(in *schedsdk.CreateScheduleInput) {
			in.Target.RetryPolicy = &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(186)}
		}), "ValidationException", "1 validation error detected: Value '186' at 'target.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 185"},
		{"start date in the past", create("s", "rate(1 minute)", func(in *schedsdk.CreateScheduleInput) {
			in.StartDate = aws.Time(time.Now().Add(-time.Hour))
		}), "ValidationException", "The StartDate you specify cannot be earlier than 5 minutes ago."},
		{"get missing", func(c *schedsdk.Client) error {
			_, err := c.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", "Schedule nope does not exist."},
		{"delete missing", func(c *schedsdk.Client) error {
			_, err := c.DeleteSchedule(ctx, &schedsdk.DeleteScheduleInput{Name: aws.String("not-existing-schedule-name")})
			return err
		}, "ResourceNotFoundException", "Schedule not-existing-schedule-name does not exist."},
		{"update missing", func(c *schedsdk.Client) error {
			_, err := c.UpdateSchedule(ctx, &schedsdk.UpdateScheduleInput{
				Name: aws.String("nope"), ScheduleExpression: aws.String("rate(1 minute)"),
				FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
				Target:             &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn)},
			})
			return err
		}, "ResourceNotFoundException", "Schedule nope does not exist."},
		{"get missing group", func(c *schedsdk.Client) error {
			_, err := c.GetScheduleGroup(ctx, &schedsdk.GetScheduleGroupInput{Name: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", "Schedule group nope does not exist."},
		{"tags are not served", func(c *schedsdk.Client) error {
			_, err := c.ListTagsForResource(ctx, &schedsdk.ListTagsForResourceInput{ResourceArn: aws.String(groupArn("default"))})
			return err
		}, "UnknownOperationException", "sfn-rollout local does not support EventBridge Scheduler ListTagsForResource"},
	}
	// Invalid expressions, as AWS answered them.
	for _, expr := range []string{
		"cron(0 1 * * * *)", "cron(7 20 * * NOT *)", "cron(INVALID)", "cron(0 dummy ? * MON-FRI *)", "cron(71 8 1 * ? *)",
		"cron()", "rate(10 seconds)", "rate(10 years)", "rate()", "rate(10)", "rate(10 minutess)", "rate(foo minutes)",
		"rate(-10 minutes)", "rate( 10 minutes )", " rate(10 minutes)", "at(2021-12-31T23:59:59Z)", "at(2021-12-31)",
	} {
		tests = append(tests, struct {
			name     string
			call     func(*schedsdk.Client) error
			wantCode string
			wantMsg  string
		}{"expression " + expr, create("s", expr, nil), "ValidationException", "Invalid Schedule Expression " + expr + "."})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := apiError(tt.call(f.client))
			if code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t, 1)
	f.faults.Set([]core.Fault{{Service: "scheduler", Operation: "CreateSchedule", Code: "ThrottlingException", Rate: 1, Status: 429}})
	_, err := f.client.CreateSchedule(context.Background(), &schedsdk.CreateScheduleInput{
		Name: aws.String("s"), ScheduleExpression: aws.String("rate(1 minute)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:             &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn)},
	})
	if code, msg := apiError(err); code != "ThrottlingException" || msg != "Rate exceeded" {
		t.Errorf("CreateSchedule = %s %q, want ThrottlingException", code, msg)
	}
	if _, err := f.client.ListSchedules(context.Background(), &schedsdk.ListSchedulesInput{}); err != nil {
		t.Errorf("ListSchedules has no fault, got %v", err)
	}
}

func TestScheduleLifecycle(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	arn := f.create(t, &schedsdk.CreateScheduleInput{
		Name: aws.String("tick"), ScheduleExpression: aws.String("rate(1 minute)"), Description: aws.String("d"),
		Target: &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn), Input: aws.String(`{"rolloutId":"r-1"}`)},
	})
	if want := "arn:aws:scheduler:us-east-1:000000000000:schedule/default/tick"; arn != want {
		t.Errorf("ScheduleArn = %s, want %s", arn, want)
	}
	got, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("tick")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Arn) != arn || aws.ToString(got.GroupName) != "default" || got.State != types.ScheduleStateEnabled ||
		got.ActionAfterCompletion != types.ActionAfterCompletionNone || aws.ToString(got.ScheduleExpressionTimezone) != "UTC" ||
		aws.ToString(got.Description) != "d" || got.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff ||
		aws.ToString(got.Target.Input) != `{"rolloutId":"r-1"}` || aws.ToString(got.Target.RoleArn) != roleArn ||
		aws.ToInt32(got.Target.RetryPolicy.MaximumRetryAttempts) != 185 || aws.ToInt32(got.Target.RetryPolicy.MaximumEventAgeInSeconds) != 86400 {
		t.Errorf("GetSchedule = %+v", got)
	}
	if got.CreationDate == nil || got.CreationDate.Sub(f.clock.Now()).Abs() > time.Minute {
		t.Errorf("CreationDate = %v, want about %v", got.CreationDate, f.clock.Now())
	}

	// UpdateSchedule replaces the schedule whole.
	_, err = f.client.UpdateSchedule(ctx, &schedsdk.UpdateScheduleInput{
		Name: aws.String("tick"), ScheduleExpression: aws.String("cron(0 8 ? * MON-FRI *)"),
		ScheduleExpressionTimezone: aws.String("Europe/Paris"), State: types.ScheduleStateDisabled,
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeFlexible, MaximumWindowInMinutes: aws.Int32(15)},
		Target:             &types.Target{Arn: aws.String(smArn), RoleArn: aws.String(roleArn)},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("tick")})
	if got.State != types.ScheduleStateDisabled || aws.ToString(got.ScheduleExpressionTimezone) != "Europe/Paris" ||
		got.Description != nil || got.Target.Input != nil || aws.ToString(got.Target.Arn) != smArn ||
		aws.ToInt32(got.FlexibleTimeWindow.MaximumWindowInMinutes) != 15 {
		t.Errorf("after UpdateSchedule = %+v", got)
	}

	if _, err := f.client.CreateScheduleGroup(ctx, &schedsdk.CreateScheduleGroupInput{Name: aws.String("rollouts")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c", "a", "b"} {
		f.create(t, &schedsdk.CreateScheduleInput{Name: aws.String("sfn-rollout-" + name), GroupName: aws.String("rollouts"), ScheduleExpression: aws.String("rate(5 minutes)")})
	}
	f.create(t, &schedsdk.CreateScheduleInput{Name: aws.String("other"), GroupName: aws.String("rollouts"), ScheduleExpression: aws.String("rate(5 minutes)"), State: types.ScheduleStateDisabled})
	var names []string
	var token *string
	pages := 0
	for {
		page, err := f.client.ListSchedules(ctx, &schedsdk.ListSchedulesInput{GroupName: aws.String("rollouts"), NamePrefix: aws.String("sfn-rollout-"), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.Schedules {
			names = append(names, aws.ToString(s.GroupName)+"/"+aws.ToString(s.Name)+"="+aws.ToString(s.Target.Arn))
		}
		if page.NextToken == nil {
			break
		}
		token = page.NextToken
	}
	want := "rollouts/sfn-rollout-a=" + fnArn + ",rollouts/sfn-rollout-b=" + fnArn + ",rollouts/sfn-rollout-c=" + fnArn
	if got := strings.Join(names, ","); got != want || pages != 2 {
		t.Errorf("ListSchedules (%d pages) = %s, want %s", pages, got, want)
	}
	disabled, err := f.client.ListSchedules(ctx, &schedsdk.ListSchedulesInput{State: types.ScheduleStateDisabled})
	if err != nil || len(disabled.Schedules) != 2 {
		t.Errorf("ListSchedules DISABLED = %d, %v; want tick and other", len(disabled.Schedules), err)
	}

	if _, err := f.client.DeleteSchedule(ctx, &schedsdk.DeleteScheduleInput{Name: aws.String("sfn-rollout-a"), GroupName: aws.String("rollouts")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("sfn-rollout-a"), GroupName: aws.String("rollouts")}); err == nil {
		t.Error("the deleted schedule is still there")
	}
	// Deleting a group deletes its schedules.
	if _, err := f.client.DeleteScheduleGroup(ctx, &schedsdk.DeleteScheduleGroupInput{Name: aws.String("rollouts")}); err != nil {
		t.Fatal(err)
	}
	all, err := f.client.ListSchedules(ctx, &schedsdk.ListSchedulesInput{})
	if err != nil || len(all.Schedules) != 1 || aws.ToString(all.Schedules[0].Name) != "tick" {
		t.Errorf("after DeleteScheduleGroup, ListSchedules = %+v, %v", all, err)
	}
	groups, err := f.client.ListScheduleGroups(ctx, &schedsdk.ListScheduleGroupsInput{})
	if err != nil || len(groups.ScheduleGroups) != 1 || aws.ToString(groups.ScheduleGroups[0].Name) != "default" {
		t.Errorf("ListScheduleGroups = %+v, %v", groups, err)
	}
}

// TestClientTokenReplay: a retried CreateSchedule (same ClientToken) is answered as the
// first one was, while another call for the same name conflicts.
func TestClientTokenReplay(t *testing.T) {
	f := newFixture(t, 1)
	in := &schedsdk.CreateScheduleInput{
		Name: aws.String("s"), ScheduleExpression: aws.String("rate(1 minute)"), ClientToken: aws.String("token-1"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:             &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn)},
	}
	first := f.create(t, in)
	second := f.create(t, in)
	if first != second {
		t.Errorf("replay answered %s, want %s", second, first)
	}
	in.ClientToken = aws.String("token-2")
	_, err := f.client.CreateSchedule(context.Background(), in)
	if code, _ := apiError(err); code != "ConflictException" {
		t.Errorf("another create = %v, want ConflictException", err)
	}
}

// With quotas in force the schedule operations have buckets; a call over one is answered
// ThrottlingException (429), which the SDK's retryer takes for throttling.
func TestQuota(t *testing.T) {
	f := newFixture(t, 1)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.svc.quotas = core.NewQuotas(core.NewClockOn(1, func() time.Time { return at }),
		[]core.Quota{{Service: "scheduler", Operation: "GetSchedule", Burst: 2, Rate: 2}})
	get := func() error {
		_, err := f.client.GetSchedule(context.Background(), &schedsdk.GetScheduleInput{Name: aws.String("none")})
		return err
	}
	for range 2 {
		if code, _ := apiError(get()); code != "ResourceNotFoundException" {
			t.Fatalf("within the burst: %s, want the call answered", code)
		}
	}
	err := get()
	var ae *smithyhttp.ResponseError
	if code, msg := apiError(err); code != "ThrottlingException" || msg != "Rate exceeded" || !errors.As(err, &ae) || ae.HTTPStatusCode() != 429 {
		t.Fatalf("over the burst: %v, want ThrottlingException 429", err)
	}
	if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		t.Errorf("the SDK does not see %v as throttling", err)
	}
}
