// Package withall builds a controller with every client: local mode's one controller, which
// serves every function in-process, and `make invoke-<fn>`.
package withall

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withcloudwatch"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withevents"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withs3"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withscheduler"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withsfn"
)

// Clients are every client a function may build.
var Clients = []wiring.Client{withsfn.Client, withcloudwatch.Client, withs3.Client, withscheduler.Client, withevents.Client}

// Build builds a controller with every client (wiring.Build for any function).
func Build(cfg aws.Config, s wiring.Settings, clock controller.Clock, log *slog.Logger) (*controller.Controller, error) {
	return wiring.Build("", cfg, s, clock, log, Clients...)
}
