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
