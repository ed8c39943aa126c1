// Package withscheduler adds the EventBridge Scheduler client's port to a function's
// controller: the sweep's schedules, and a rollback's continuations.
package withscheduler

import (
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/schedulerapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// Client is the Scheduler client.
var Client = wiring.Client{Name: topology.ClientScheduler, Add: func(b wiring.Base, p *controller.Ports) {
	s := b.Settings
	p.Schedules = schedulerapi.New(scheduler.NewFromConfig(b.Config), s.ScheduleGroup, s.AdvanceFunctionArn, s.SchedulerRoleArn).WithRollback(s.RollbackFunctionArn)
}}
