// Command orders is an example CDK app for a team's own stack: the orders state machine
// wrapped in ManagedStateMachine, so that `cdk deploy` of a changed definition is rolled out
// by the sfn-rollout controller. `go run ./infra/examples/orders` synthesizes it and prints
// the cloud assembly's folder; `cdk deploy --app "go run ./infra/examples/orders"` deploys it.
package main

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/infra/managed"
)

// definition is the workflow as the team edits it: `cdk deploy` hands each new text to the
// controller. ${OrdersTable} is filled with the table's name when CloudFormation deploys it.
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
	app, _, err := NewApp(Options{Definition: definition, Wait: true})
	if err != nil {
		return err
	}
	assembly := app.Synth(nil)
	fmt.Println(*assembly.Directory())
	return nil
}

// Options are what the example varies.
type Options struct {
	// Definition is the orders workflow's ASL, with ${OrdersTable}.
	Definition string
	// Wait keeps `cdk deploy` open until the rollout ends; false returns once it started.
	Wait bool
	// Outdir is where the app synthesizes to (a temporary folder when empty).
	Outdir string
}

// NewApp builds the orders app for a definition: the orders table, and the state machine
// that records into it, managed by the controller stack "sfn-rollout".
func NewApp(o Options) (awscdk.App, awscdk.Stack, error) {
	var props *awscdk.AppProps
	if o.Outdir != "" {
		props = &awscdk.AppProps{Outdir: jsii.String(o.Outdir)}
	}
	app := awscdk.NewApp(props)
	stack := awscdk.NewStack(app, jsii.String("OrdersStack"), &awscdk.StackProps{
		StackName:   jsii.String("orders"),
		Description: jsii.String("orders workflow, deployed progressively by sfn-rollout"),
	})
	table := awsdynamodb.NewTable(stack, jsii.String("OrdersTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("orderId"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
	})
	orders, err := managed.New(stack, "Orders", managed.Props{
		StateMachineName: "orders",
		// A string body here; DefinitionBody_FromFile (read at synth) and
		// DefinitionBody_FromChainable (CDK states) work the same way.
		DefinitionBody: awsstepfunctions.DefinitionBody_FromString(jsii.String(o.Definition)),
		// Tokens resolved by CloudFormation at deploy time, in the state machine and in the
		// definition the controller receives alike.
		DefinitionSubstitutions: map[string]*string{"OrdersTable": table.TableName()},
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
		// `cdk deploy` waits for the rollout's outcome (about six minutes with this policy)
		// and fails, rolling the stack back, if the controller rolls the release back.
		Wait: jsii.Bool(o.Wait),
		// The service token is imported from the controller stack's export
		// sfn-rollout-DeployServiceToken (the default; named here to show it).
		ControllerStackName: "sfn-rollout",
	})
	if err != nil {
		return nil, nil, err
	}
	table.GrantWriteData(orders.StateMachine)
	awscdk.NewCfnOutput(stack, jsii.String("OrdersAlias"), &awscdk.CfnOutputProps{
		Value:       orders.AliasArn,
		Description: jsii.String("start executions through the alias"),
	})
	return app, stack, nil
}
