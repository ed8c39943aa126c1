// Command sfn-rollout deploys, watches and steers progressive rollouts of AWS Step Functions
// state machines, and runs the local AWS-compatible endpoint (`sfn-rollout local`). The
// commands live in internal/cli; the demo, which needs the example definitions, lives here.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sfn-rollout/sfn-rollout/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, newDemo())
	stop()
	os.Exit(code)
}
