// Command finalize is the sfn-rollout finalize Lambda function: it wires the controller from the
// environment, with the AWS clients it uses alone, and hands its use case to the Lambda runtime.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withcloudwatch"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withevents"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withsfn"
)

func main() {
	c := wiring.MustFromEnv("finalize", withsfn.Client, withcloudwatch.Client, withevents.Client)
	lambda.Start(wiring.Typed("finalize", c.Finalize))
}
