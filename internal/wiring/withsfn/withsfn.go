// Package withsfn adds the Step Functions client's ports to a function's controller: state
// machines and aliases through the write budget, and task answers.
package withsfn

import (
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// Client is the Step Functions client.
var Client = wiring.Client{Name: topology.ClientStepFunctions, Add: func(b wiring.Base, p *controller.Ports) {
	c := sfn.NewFromConfig(b.Config, sfnapi.ClientOptions)
	p.StateMachines, p.Aliases = controller.Budgeted(sfnapi.NewStateMachines(c), sfnapi.NewAliases(c), b.Writes)
	p.Tasks = sfnapi.NewTasks(c)
}}
