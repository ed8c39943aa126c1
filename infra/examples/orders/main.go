// Command orders is an example CDK app for a team's own stack: the orders state machine
// wrapped in ManagedStateMachine, so that the sfn-rollout controller deploys its new
// definitions. `go run ./infra/examples/orders` synthesizes it and prints the cloud
// assembly's folder; `cdk synth --app "go run ./infra/examples/orders"` writes cdk.out/.
package main

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/infra/managed"
)

// definition is the first version; later ones are uploaded to the controller's bucket as
// orders/prod/<release>.asl.json.
//
//go:embed orders.asl.json
var definition string

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("OrdersStack"), &awscdk.StackProps{
		StackName:   jsii.String("orders"),
		Description: jsii.String("orders workflow, deployed progressively by sfn-rollout"),
	})
	orders, err := managed.New(stack, "Orders", managed.Props{
		StateMachineName: "orders",
		Definition:       definition,
		// Move 25% more of prod's traffic every minute, watch the alias's failures alarm
		// (named by default) and the candidate's own failure rate, then hold 100% for
		// two minutes before the rollout counts as done.
		Policy: managed.Policy{
			Strategy:       "LINEAR",
			Percentage:     25,
			Interval:       "1m",
			BakeTime:       "2m",
			MaxFailureRate: 5,
			MinExecutions:  10,
		},
	})
	if err != nil {
		return err
	}
	awscdk.NewCfnOutput(stack, jsii.String("OrdersAlias"), &awscdk.CfnOutputProps{
		Value:       orders.AliasArn,
		Description: jsii.String("start executions through the alias"),
	})
	assembly := app.Synth(nil)
	fmt.Println(*assembly.Directory())
	return nil
}
