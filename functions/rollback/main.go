// Command rollback is the sfn-rollout rollback Lambda function: it wires the controller from the
// environment, with the AWS clients it uses alone, and hands its use case to the Lambda runtime.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withcloudwatch"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withevents"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withscheduler"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withsfn"
)

func main() {
	c := wiring.MustFromEnv("rollback", withsfn.Client, withcloudwatch.Client, withscheduler.Client, withevents.Client)
	lambda.Start(wiring.Typed("rollback", c.Rollback))
}
