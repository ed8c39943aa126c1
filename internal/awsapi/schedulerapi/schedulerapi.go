// Package schedulerapi implements the controller's Schedules port over aws-sdk-go-v2's
// EventBridge Scheduler client: the periodic tick that invokes the advance function.
package schedulerapi

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// API is the part of *scheduler.Client that Schedules uses.
type API interface {
	CreateSchedule(ctx context.Context, params *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	DeleteSchedule(ctx context.Context, params *scheduler.DeleteScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

var _ API = (*scheduler.Client)(nil)

// Schedules is the controller.Schedules port over EventBridge Scheduler.
type Schedules struct {
	api       API
	group     string
	targetArn string // the advance function
	roleArn   string // the role Scheduler assumes to invoke it
}

var _ controller.Schedules = (*Schedules)(nil)

// New returns the adapter for the schedules of group, which invoke targetArn as roleArn.
// It makes no call.
func New(api API, group, targetArn, roleArn string) *Schedules {
	return &Schedules{api: api, group: group, targetArn: targetArn, roleArn: roleArn}
}

// Create creates the rollout's schedule; one that exists already is not an error.
func (s *Schedules) Create(ctx context.Context, sc controller.Schedule) error {
	in := &scheduler.CreateScheduleInput{
		Name:               aws.String(sc.Name),
		ScheduleExpression: aws.String(sc.Expression),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target: &types.Target{
			Arn:     aws.String(s.targetArn),
			RoleArn: aws.String(s.roleArn),
			// A tick is retried briefly (topology.TickDelivery): a missed tick is only a later
			// decision.
			RetryPolicy: &types.RetryPolicy{
				MaximumRetryAttempts:     aws.Int32(int32(topology.TickDelivery.MaximumRetryAttempts)),
				MaximumEventAgeInSeconds: aws.Int32(int32(topology.TickDelivery.MaximumEventAgeInSeconds())),
			},
		},
	}
	if s.group != "" {
		in.GroupName = aws.String(s.group)
	}
	if sc.Input != "" {
		in.Target.Input = aws.String(sc.Input)
	}
	_, err := s.api.CreateSchedule(ctx, in)
	err = awsapi.Classify("create schedule "+sc.Name, err)
	if errors.Is(err, controller.ErrConflict) {
		return nil
	}
	return err
}

// Delete deletes the schedule; one that does not exist is not an error.
func (s *Schedules) Delete(ctx context.Context, name string) error {
	in := &scheduler.DeleteScheduleInput{Name: aws.String(name)}
	if s.group != "" {
		in.GroupName = aws.String(s.group)
	}
	_, err := s.api.DeleteSchedule(ctx, in)
	err = awsapi.Classify("delete schedule "+name, err)
	if errors.Is(err, controller.ErrNotFound) {
		return nil
	}
	return err
}
