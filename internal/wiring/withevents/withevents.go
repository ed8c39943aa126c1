// Package withevents adds the EventBridge client's port to a function's controller: the
// rollouts' announcements on the event bus.
package withevents

import (
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/eventsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// Client is the EventBridge client.
var Client = wiring.Client{Name: topology.ClientEventBridge, Add: func(b wiring.Base, p *controller.Ports) {
	p.Events = eventsapi.New(eventbridge.NewFromConfig(b.Config), b.Settings.EventBus)
}}
