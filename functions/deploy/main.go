// Command deploy is the sfn-rollout deploy Lambda function, the deploy custom resource's
// onEvent handler: it only wires the controller from the environment and hands its use case
// to the Lambda runtime.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

func main() {
	ctx := context.Background()
	c, err := wiring.FromEnv(ctx, "deploy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h, err := wiring.Handler(c, "deploy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(h)
}
