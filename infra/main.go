// Command infra is sfn-rollout's CDK app (`cdk synth`, `cdk deploy`; cdk.json runs it):
// the controller stack, configured through CDK context.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/infra/controller"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	settings, err := controller.SettingsFromContext(app)
	if err != nil {
		return err
	}
	_, err = controller.NewStack(app, settings.StackName, &controller.StackProps{
		StackProps: awscdk.StackProps{Env: env()},
		Settings:   settings,
	})
	if err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// env pins the stack to the account and region the CLI resolved, when it resolved them;
// synth without credentials leaves the stack environment-agnostic.
func env() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}
