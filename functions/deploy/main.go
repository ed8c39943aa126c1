// Command deploy is the sfn-rollout deploy Lambda function, the deploy custom resource's
// onEvent handler: it wires the controller from
// the environment, with the AWS clients it uses alone, and hands its use case to the Lambda runtime.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withevents"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withs3"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withsfn"
)

func main() {
	c := wiring.MustFromEnv("deploy", withsfn.Client, withs3.Client, withevents.Client)
	lambda.Start(wiring.Typed("deploy", c.Deploy))
}
