package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	schedsdk "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// speed makes a virtual minute last 10 ms of real time.
const speed = 6000

func TestRateFires(t *testing.T) {
	// A slower clock (a virtual minute is 50 ms) leaves the loop room on a loaded machine.
	f := newFixture(t, 1200)
	ctx := context.Background()
	f.create(t, &schedsdk.CreateScheduleInput{
		Name: aws.String("tick"), ScheduleExpression: aws.String("rate(1 minute)"),
		Target: &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn), Input: aws.String(`{"t":"<aws.scheduler.scheduled-time>"}`)},
	})
	got, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("tick")})
	if err != nil {
		t.Fatal(err)
	}
	created := aws.ToTime(got.CreationDate)
	if err := f.clock.Sleep(ctx, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	deleted := f.clock.Now()
	if _, err := f.client.DeleteSchedule(ctx, &schedsdk.DeleteScheduleInput{Name: aws.String("tick")}); err != nil {
		t.Fatal(err)
	}
	_ = f.clock.Sleep(ctx, 3*time.Minute) // let a firing already under way arrive
	calls := drain(f.functions.calls)

	// The loop is asynchronous, so a late occurrence may be skipped: assert a range.
	due := int(deleted.Sub(created) / time.Minute)
	if len(calls) < due-3 || len(calls) > due+1 {
		t.Errorf("fired %d times over %v of virtual time, want about %d", len(calls), deleted.Sub(created), due)
	}
	// Occurrences are one minute apart, the first one period after creation.
	for i, c := range calls {
		at := scheduledTime(t, c)
		if want := created.Add(time.Duration(i+1) * time.Minute).Truncate(time.Second); i == 0 && !at.Equal(want) {
			t.Errorf("first occurrence %v, want %v", at, want)
		}
		if i > 0 && at.Sub(scheduledTime(t, calls[i-1]))%time.Minute != 0 {
			t.Errorf("occurrence %d at %v is not a whole number of minutes after the one before", i, at)
		}
		if c.target != fnArn {
			t.Errorf("invoked %s, want %s", c.target, fnArn)
		}
	}
}

// scheduledTime reads the occurrence's <aws.scheduler.scheduled-time> from the payload.
func scheduledTime(t *testing.T, c call) time.Time {
	t.Helper()
	var p struct {
		T time.Time `json:"t"`
	}
	if err := json.Unmarshal([]byte(c.payload), &p); err != nil {
		t.Fatalf("payload %s: %v", c.payload, err)
	}
	return p.T
}

func TestAtFiresOnceAndDeletes(t *testing.T) {
	tests := []struct {
		name        string
		action      types.ActionAfterCompletion
		wantDeleted bool
	}{
		{"delete after completion", types.ActionAfterCompletionDelete, true},
		{"keep after completion", types.ActionAfterCompletionNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, speed)
			ctx := context.Background()
			when := f.clock.Now().Add(3 * time.Minute).Truncate(time.Second)
			arn := f.create(t, &schedsdk.CreateScheduleInput{
				Name: aws.String("once"), ScheduleExpression: aws.String("at(" + when.Format("2006-01-02T15:04:05") + ")"),
				ActionAfterCompletion: tt.action,
				Target: &types.Target{Arn: aws.String(smArn), RoleArn: aws.String(roleArn),
					Input: aws.String(`{"scheduled":"<aws.scheduler.scheduled-time>","arn":"<aws.scheduler.schedule-arn>","attempt":<aws.scheduler.attempt-number>}`)},
			})
			c := waitCall(t, f.executions.calls)
			var payload struct {
				Scheduled string `json:"scheduled"`
				Arn       string `json:"arn"`
				Attempt   int    `json:"attempt"`
			}
			if err := json.Unmarshal([]byte(c.payload), &payload); err != nil {
				t.Fatalf("payload %s: %v", c.payload, err)
			}
			if payload.Scheduled != when.Format(time.RFC3339) || payload.Arn != arn || payload.Attempt != 1 {
				t.Errorf("payload = %s", c.payload)
			}
			if c.target != smArn || !uuidPattern.MatchString(c.name) {
				t.Errorf("StartExecution(%s, %q)", c.target, c.name)
			}
			if c.at.Before(when) {
				t.Errorf("fired at %v, before %v", c.at, when)
			}
			_, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("once")})
			if code, _ := apiError(err); (code == "ResourceNotFoundException") != tt.wantDeleted {
				t.Errorf("GetSchedule after firing = %v, want deleted %v", err, tt.wantDeleted)
			}
			_ = f.clock.Sleep(ctx, 10*time.Minute)
			if extra := drain(f.executions.calls); len(extra) != 0 {
				t.Errorf("at() fired %d more times", len(extra))
			}
		})
	}
}

func TestDeleteStopsFiring(t *testing.T) {
	f := newFixture(t, speed)
	ctx := context.Background()
	f.create(t, &schedsdk.CreateScheduleInput{Name: aws.String("tick"), ScheduleExpression: aws.String("rate(1 minute)")})
	waitCall(t, f.functions.calls)
	if _, err := f.client.DeleteSchedule(ctx, &schedsdk.DeleteScheduleInput{Name: aws.String("tick")}); err != nil {
		t.Fatal(err)
	}
	// What fired before the delete returned (a virtual minute is 10 ms: a slow delete on a
	// loaded machine spans several) does not count.
	drain(f.functions.calls)
	_ = f.clock.Sleep(ctx, 10*time.Minute)
	if extra := drain(f.functions.calls); len(extra) > 1 { // one may have been under way
		t.Errorf("fired %d times after DeleteSchedule", len(extra))
	}
}

func TestDisabledAndEndDate(t *testing.T) {
	f := newFixture(t, speed)
	ctx := context.Background()
	f.create(t, &schedsdk.CreateScheduleInput{Name: aws.String("off"), ScheduleExpression: aws.String("rate(1 minute)"), State: types.ScheduleStateDisabled})
	end := f.clock.Now().Add(3*time.Minute + 30*time.Second)
	f.create(t, &schedsdk.CreateScheduleInput{
		Name: aws.String("ending"), ScheduleExpression: aws.String("rate(1 minute)"), EndDate: aws.Time(end),
		ActionAfterCompletion: types.ActionAfterCompletionDelete,
		Target:                &types.Target{Arn: aws.String(smArn), RoleArn: aws.String(roleArn), Input: aws.String(`{"t":"<aws.scheduler.scheduled-time>"}`)},
	})
	_ = f.clock.Sleep(ctx, 8*time.Minute)
	if calls := drain(f.functions.calls); len(calls) != 0 {
		t.Errorf("the disabled schedule fired %d times", len(calls))
	}
	calls := drain(f.executions.calls)
	if len(calls) < 1 || len(calls) > 3 {
		t.Errorf("the schedule ending after 3.5 minutes fired %d times, want 1 to 3", len(calls))
	}
	for _, c := range calls {
		if at := scheduledTime(t, c); at.After(end) {
			t.Errorf("occurrence at %v, after its EndDate %v", at, end)
		}
	}
	if _, err := f.client.GetSchedule(ctx, &schedsdk.GetScheduleInput{Name: aws.String("ending")}); err == nil {
		t.Error("the schedule past its EndDate was not deleted")
	}

	// Enabled by UpdateSchedule, it fires.
	_, err := f.client.UpdateSchedule(ctx, &schedsdk.UpdateScheduleInput{
		Name: aws.String("off"), ScheduleExpression: aws.String("rate(1 minute)"), State: types.ScheduleStateEnabled,
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:             &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn)},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, f.functions.calls)
}

func TestRetries(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		policy     *types.RetryPolicy
		fail       []error
		wantCalls  int
		wantReport string
		speed      float64 // 0: speed
	}{
		{"succeeds on the third attempt", nil, []error{boom, boom}, 3, "", 0},
		{"default gives up after three attempts", nil, []error{boom, boom, boom}, 3,
			"scheduler: schedule default/once: invoking " + fnArn + " failed after 3 attempt(s): boom", 0},
		{"policy of one retry", &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(1), MaximumEventAgeInSeconds: aws.Int32(3600)}, []error{boom, boom}, 2,
			"scheduler: schedule default/once: invoking " + fnArn + " failed after 2 attempt(s): boom", 0},
		// The controller's tick policy: two retries within a minute (at a slower speed, so
		// that the real time of a firing leaves the retries well within the minute).
		{"the tick policy succeeds on its last retry", tickPolicy(), []error{boom, boom}, 3, "", 600},
		{"the tick policy gives up after two retries", tickPolicy(), []error{boom, boom, boom}, 3,
			"scheduler: schedule default/once: invoking " + fnArn + " failed after 3 attempt(s): boom", 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := tt.speed
			if sp == 0 {
				sp = speed
			}
			f := newFixture(t, sp)
			f.functions.fail = tt.fail
			when := f.clock.Now().Add(2 * time.Minute).Truncate(time.Second)
			f.create(t, &schedsdk.CreateScheduleInput{
				Name: aws.String("once"), ScheduleExpression: aws.String("at(" + when.Format("2006-01-02T15:04:05") + ")"),
				Target: &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn), RetryPolicy: tt.policy,
					Input: aws.String(`{"attempt":<aws.scheduler.attempt-number>}`)},
			})
			for i := range tt.wantCalls {
				c := waitCall(t, f.functions.calls)
				if want := `{"attempt":` + string(rune('1'+i)) + `}`; c.payload != want {
					t.Errorf("attempt %d payload = %s, want %s", i+1, c.payload, want)
				}
			}
			_ = f.clock.Sleep(context.Background(), 5*time.Minute)
			if extra := drain(f.functions.calls); len(extra) != 0 {
				t.Errorf("%d attempts more than %d", len(extra), tt.wantCalls)
			}
			lines := f.reports.all()
			if tt.wantReport == "" && len(lines) != 0 {
				t.Errorf("reported %q", lines)
			}
			if tt.wantReport != "" && (len(lines) != 1 || lines[0] != tt.wantReport) {
				t.Errorf("reported %q, want %q", lines, tt.wantReport)
			}
		})
	}
}

func tickPolicy() *types.RetryPolicy {
	p := topology.TickDelivery
	return &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(int32(p.MaximumRetryAttempts)), MaximumEventAgeInSeconds: aws.Int32(int32(p.MaximumEventAgeInSeconds()))}
}

// A firing whose next retry would come after its MaximumEventAgeInSeconds is given up,
// reported and counted, although retries are left: backoffs of 1, 2, 4, 8, 16 and 32
// virtual seconds leave at most six attempts within 60 seconds.
func TestRetriesStopAtTheEventAge(t *testing.T) {
	boom := errors.New("boom")
	f := newFixture(t, speed)
	fail := make([]error, 100)
	for i := range fail {
		fail[i] = boom
	}
	f.functions.fail = fail
	when := f.clock.Now().Add(2 * time.Minute).Truncate(time.Second)
	f.create(t, &schedsdk.CreateScheduleInput{
		Name: aws.String("once"), ScheduleExpression: aws.String("at(" + when.Format("2006-01-02T15:04:05") + ")"),
		Target: &types.Target{Arn: aws.String(fnArn), RoleArn: aws.String(roleArn),
			RetryPolicy: &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(185), MaximumEventAgeInSeconds: aws.Int32(60)}},
	})
	waitCall(t, f.functions.calls)
	_ = f.clock.Sleep(context.Background(), 5*time.Minute)
	if n := 1 + len(drain(f.functions.calls)); n < 2 || n > 6 {
		t.Errorf("%d attempts, want 2 to 6 within 60 seconds of backoff", n)
	}
	if lines := f.reports.all(); len(lines) != 1 || !strings.Contains(lines[0], "the next retry would pass the event's MaximumEventAgeInSeconds of 60") {
		t.Errorf("reported %q", lines)
	}
	if f.svc.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", f.svc.Dropped())
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
