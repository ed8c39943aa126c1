// Command deploystatus is the sfn-rollout deploystatus Lambda function, the deploy custom resource's
// isComplete handler: it wires the controller from
// the environment, with the AWS clients it uses alone, and hands its use case to the Lambda runtime.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withsfn"
)

func main() {
	c := wiring.MustFromEnv("deploystatus", withsfn.Client)
	lambda.Start(wiring.Typed("deploystatus", c.DeployStatus))
}
