// Package schedulerapi implements the controller's Schedules port over aws-sdk-go-v2's
// EventBridge Scheduler client: the periodic tick that invokes the advance function.
package schedulerapi

import (
	"context"
	"errors"
	"fmt"

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
	api         API
	group       string
	targetArn   string // the advance function
	rollbackArn string // the rollback function, which continuations invoke
	roleArn     string // the role Scheduler assumes to invoke them
}

var _ controller.Schedules = (*Schedules)(nil)

// New returns the adapter for the schedules of group, which invoke targetArn as roleArn.
// It makes no call.
func New(api API, group, targetArn, roleArn string) *Schedules {
	return &Schedules{api: api, group: group, targetArn: targetArn, roleArn: roleArn}
}

// WithRollback returns the adapter with the rollback function as the target of
// continuation schedules (controller.TargetRollback). It makes no call.
func (s *Schedules) WithRollback(rollbackArn string) *Schedules {
	c := *s
	c.rollbackArn = rollbackArn
	return &c
}

// ErrNoTarget is the error of a schedule whose target function the adapter was not given.
var ErrNoTarget = errors.New("no target function for the schedule")

func (s *Schedules) target(t controller.ScheduleTarget) (string, error) {
	switch {
	case t == controller.TargetAdvance:
		return s.targetArn, nil
	case t == controller.TargetRollback && s.rollbackArn != "":
		return s.rollbackArn, nil
	}
	return "", fmt.Errorf("schedule target %d: %w", t, ErrNoTarget)
}

// Create creates the schedule; one that exists already is not an error (a retried
// invocation makes the same schedule again).
func (s *Schedules) Create(ctx context.Context, sc controller.Schedule) error {
	target, err := s.target(sc.Target)
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", sc.Name, err)
	}
	in := &scheduler.CreateScheduleInput{
		Name:               aws.String(sc.Name),
		ScheduleExpression: aws.String(sc.Expression),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target: &types.Target{
			Arn:     aws.String(target),
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
	if sc.DeleteAfterCompletion {
		in.ActionAfterCompletion = types.ActionAfterCompletionDelete
	}
	if sc.Target == controller.TargetRollback {
		// A continuation holds a turn of the alias-update bucket: retried for longer than
		// a tick, since no later firing comes in its place.
		in.Target.RetryPolicy = &types.RetryPolicy{
			MaximumRetryAttempts:     aws.Int32(int32(topology.ContinuationDelivery.MaximumRetryAttempts)),
			MaximumEventAgeInSeconds: aws.Int32(int32(topology.ContinuationDelivery.MaximumEventAgeInSeconds())),
		}
	}
	if sc.Input != "" {
		in.Target.Input = aws.String(sc.Input)
	}
	_, err = s.api.CreateSchedule(ctx, in)
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
