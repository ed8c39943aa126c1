package schedulerapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/schedulerapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

const (
	advanceArn = "arn:aws:lambda:us-east-1:123456789012:function:sfn-rollout-advance"
	roleArn    = "arn:aws:iam::123456789012:role/scheduler"
)

type fakeScheduler struct {
	creates []scheduler.CreateScheduleInput
	deletes []scheduler.DeleteScheduleInput
	err     error
}

func (f *fakeScheduler) CreateSchedule(_ context.Context, in *scheduler.CreateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	f.creates = append(f.creates, *in)
	return &scheduler.CreateScheduleOutput{}, f.err
}

func (f *fakeScheduler) DeleteSchedule(_ context.Context, in *scheduler.DeleteScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error) {
	f.deletes = append(f.deletes, *in)
	return &scheduler.DeleteScheduleOutput{}, f.err
}

var throttled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}

func TestCreate(t *testing.T) {
	tests := []struct {
		name    string
		answer  error
		wantErr error
	}{
		{name: "created", answer: nil},
		{name: "exists already", answer: &types.ConflictException{Message: aws.String("Schedule sfn-rollout-r1 already exists.")}},
		{name: "throttled", answer: throttled, wantErr: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeScheduler{err: tt.answer}
			err := schedulerapi.New(fake, "sfn-rollout", advanceArn, roleArn).Create(context.Background(), controller.Schedule{
				Name: "sfn-rollout-r1", Expression: "rate(1 minute)", Input: `{"rolloutId":"r1"}`,
			})
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			in := fake.creates[0]
			if aws.ToString(in.Name) != "sfn-rollout-r1" || aws.ToString(in.GroupName) != "sfn-rollout" || aws.ToString(in.ScheduleExpression) != "rate(1 minute)" {
				t.Errorf("name %q group %q expression %q", aws.ToString(in.Name), aws.ToString(in.GroupName), aws.ToString(in.ScheduleExpression))
			}
			if in.FlexibleTimeWindow == nil || in.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff {
				t.Errorf("flexible time window %+v, want OFF", in.FlexibleTimeWindow)
			}
			target := in.Target
			if aws.ToString(target.Arn) != advanceArn || aws.ToString(target.RoleArn) != roleArn || aws.ToString(target.Input) != `{"rolloutId":"r1"}` {
				t.Errorf("target %+v", target)
			}
			if target.RetryPolicy == nil || aws.ToInt32(target.RetryPolicy.MaximumRetryAttempts) > 3 {
				t.Errorf("retry policy %+v, want a few attempts at most", target.RetryPolicy)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name    string
		answer  error
		wantErr error
	}{
		{name: "deleted", answer: nil},
		{name: "does not exist", answer: &types.ResourceNotFoundException{Message: aws.String("Schedule sfn-rollout-r1 does not exist.")}},
		{name: "throttled", answer: throttled, wantErr: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeScheduler{err: tt.answer}
			err := schedulerapi.New(fake, "sfn-rollout", advanceArn, roleArn).Delete(context.Background(), "sfn-rollout-r1")
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if in := fake.deletes[0]; aws.ToString(in.Name) != "sfn-rollout-r1" || aws.ToString(in.GroupName) != "sfn-rollout" {
				t.Errorf("request %+v", in)
			}
		})
	}
}

// A continuation targets the rollback function, is deleted after it fired, and carries the
// continuations' retry policy; an adapter not given the rollback function refuses it by name.
func TestCreateContinuation(t *testing.T) {
	const rollbackArn = "arn:aws:lambda:us-east-1:123456789012:function:sfn-rollout-rollback"
	sc := controller.Schedule{Name: "sfn-rollout-turn-1-r1", Expression: "at(2026-12-05T19:00:00)", Input: `{"rolloutId":"r1","turnAt":"2026-12-05T19:01:10Z"}`,
		Target: controller.TargetRollback, DeleteAfterCompletion: true}
	fake := &fakeScheduler{}
	if err := schedulerapi.New(fake, "sfn-rollout", advanceArn, roleArn).Create(context.Background(), sc); !errors.Is(err, schedulerapi.ErrNoTarget) || len(fake.creates) != 0 {
		t.Errorf("without a rollback function: %v, %d calls; want ErrNoTarget and no call", err, len(fake.creates))
	}
	if err := schedulerapi.New(fake, "sfn-rollout", advanceArn, roleArn).WithRollback(rollbackArn).Create(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	in := fake.creates[0]
	if aws.ToString(in.Target.Arn) != rollbackArn || in.ActionAfterCompletion != types.ActionAfterCompletionDelete || aws.ToString(in.Target.Input) != sc.Input {
		t.Errorf("target %s action %q input %s", aws.ToString(in.Target.Arn), in.ActionAfterCompletion, aws.ToString(in.Target.Input))
	}
	if p := in.Target.RetryPolicy; p == nil || aws.ToInt32(p.MaximumRetryAttempts) != int32(topology.ContinuationDelivery.MaximumRetryAttempts) {
		t.Errorf("retry policy %+v", p)
	}
}
