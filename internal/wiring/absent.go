package wiring

import (
	"context"
	"fmt"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// absent stands in for the ports of a client a function is built without
// (topology.FunctionClients): its role is granted none of that service's calls either, so a
// call would be refused on AWS too. Each method answers an error that names the port, never
// a nil-pointer panic.
type absent struct{ port string }

func (a absent) err() error {
	return fmt.Errorf("%s: this function is built without that client (topology.FunctionClients)", a.port)
}

// fillAbsent gives every port no client set an absent one.
func fillAbsent(p *controller.Ports) {
	if p.StateMachines == nil {
		p.StateMachines = absentStateMachines{absent{"StateMachines"}}
	}
	if p.Aliases == nil {
		p.Aliases = absentAliases{absent{"Aliases"}}
	}
	if p.Tasks == nil {
		p.Tasks = absentTasks{absent{"Tasks"}}
	}
	if p.Alarms == nil {
		p.Alarms = absentAlarms{absent{"Alarms"}}
	}
	if p.Metrics == nil {
		p.Metrics = absentMetrics{absent{"Metrics"}}
	}
	if p.Artifacts == nil {
		p.Artifacts = absentArtifacts{absent{"Artifacts"}}
	}
	if p.Schedules == nil {
		p.Schedules = absentSchedules{absent{"Schedules"}}
	}
	if p.Events == nil {
		p.Events = absentEvents{absent{"Events"}}
	}
}

type absentStateMachines struct{ absent }

func (a absentStateMachines) Describe(context.Context, string) (controller.StateMachine, error) {
	return controller.StateMachine{}, a.err()
}
func (a absentStateMachines) Tags(context.Context, string) (map[string]string, error) {
	return nil, a.err()
}
func (a absentStateMachines) Validate(context.Context, string, string) ([]controller.Diagnostic, error) {
	return nil, a.err()
}
func (a absentStateMachines) Publish(context.Context, string, string, string) (string, error) {
	return "", a.err()
}
func (a absentStateMachines) ListVersions(context.Context, string) ([]controller.Version, error) {
	return nil, a.err()
}
func (a absentStateMachines) DeleteVersion(context.Context, string) error { return a.err() }

type absentAliases struct{ absent }

func (a absentAliases) Describe(context.Context, string) (controller.Alias, error) {
	return controller.Alias{}, a.err()
}
func (a absentAliases) Update(context.Context, string, []rollout.Route) error { return a.err() }
func (a absentAliases) Create(context.Context, string, string, string, []rollout.Route) (string, error) {
	return "", a.err()
}
func (a absentAliases) Delete(context.Context, string) error { return a.err() }
func (a absentAliases) List(context.Context, string) ([]controller.Alias, error) {
	return nil, a.err()
}

type absentTasks struct{ absent }

func (a absentTasks) Succeed(context.Context, string, string) error      { return a.err() }
func (a absentTasks) Fail(context.Context, string, string, string) error { return a.err() }

type absentAlarms struct{ absent }

func (a absentAlarms) States(context.Context, []string) (map[string]rollout.AlarmState, error) {
	return nil, a.err()
}
func (a absentAlarms) Statuses(context.Context, []string) (map[string]controller.AlarmStatus, error) {
	return nil, a.err()
}
func (a absentAlarms) History(context.Context, string, time.Time, time.Time) ([]controller.AlarmTransition, error) {
	return nil, a.err()
}

type absentMetrics struct{ absent }

func (a absentMetrics) VersionCounts(context.Context, controller.CountsQuery) (controller.Counts, error) {
	return controller.Counts{}, a.err()
}
func (a absentMetrics) ManyVersionCounts(context.Context, []controller.CountsQuery) ([]controller.Counts, error) {
	return nil, a.err()
}

type absentArtifacts struct{ absent }

func (a absentArtifacts) Get(context.Context, string, string, string) (controller.Object, error) {
	return controller.Object{}, a.err()
}
func (a absentArtifacts) List(context.Context, string, string) ([]string, error) {
	return nil, a.err()
}

type absentSchedules struct{ absent }

func (a absentSchedules) Create(context.Context, controller.Schedule) error { return a.err() }
func (a absentSchedules) Delete(context.Context, string) error              { return a.err() }

type absentEvents struct{ absent }

func (a absentEvents) Put(context.Context, string, any) error { return a.err() }
