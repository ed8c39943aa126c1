package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/dynalite"
	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

func newLocal(_ *app) *cobra.Command {
	var opts stack.Options
	var quotas, versionDimension string
	var noController bool
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the local AWS-compatible endpoint, with the controller deployed on it",
		Long: `Serves Step Functions, CloudWatch, EventBridge, EventBridge Scheduler, S3, Lambda (in-process)
and DynamoDB (dynalite) on one loopback port, so that any AWS SDK or CLI pointed at
it with AWS_ENDPOINT_URL works unchanged (any credentials, region us-east-1, account 000000000000).

The controller is deployed on it as cdk deploy puts it on AWS — the artifacts bucket, the rollout
table, the eight functions, the controller state machine, the rules and the scheduler group — so
that the other sfn-rollout commands work against it; --no-controller serves the bare AWS APIs.
Its names, and the virtual clock, are served at /_sfn-rollout/config.

dynalite (Node.js) is taken from $SFN_ROLLOUT_TOOLS/node_modules, else from .tools/ of a checkout
(the working directory or a parent, after make tools), else from the user's cache directory
(~/.cache/sfn-rollout/tools on Linux). When it is in none of them and npm is on PATH, the pinned
version is installed into the cache on first use.`,
		Example: `  sfn-rollout local --speed 60
  AWS_ENDPOINT_URL=http://127.0.0.1:4599 sfn-rollout list
  AWS_ENDPOINT_URL=http://127.0.0.1:4599 aws stepfunctions list-state-machines`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch strings.ToLower(versionDimension) {
			case "arn":
				opts.VersionDimensionArn = true
			case "number", "":
			default:
				return usagef("--version-dimension %q: want number or arn", versionDimension)
			}
			switch strings.ToLower(quotas) {
			case "aws":
				opts.AWSQuotas = true
			case "off", "":
			default:
				return usagef("--quotas %q: want aws or off", quotas)
			}
			if opts.LambdaConcurrency <= 0 {
				return usagef("--lambda-concurrency %d: want a positive number", opts.LambdaConcurrency)
			}
			if opts.Speed <= 0 {
				return usagef("--speed %g: want a positive number", opts.Speed)
			}
			out := cmd.OutOrStdout()
			opts.Out = out
			ctx := cmd.Context()
			found, err := dynalite.Ensure(ctx, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			opts.DynaliteCLI = found.CLI
			s, err := stack.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer s.Close()
			if !noController {
				d, err := deploy.Controller(ctx, s, deploy.Options{})
				if err != nil {
					return fmt.Errorf("deploy the controller: %w", err)
				}
				fmt.Fprintf(out, "controller deployed: bucket %s, table %s, state machine %s\n", d.Bucket, d.Table, d.ControllerStateMachineArn)
			}
			fmt.Fprintf(out, "export AWS_ENDPOINT_URL=%s AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n", s.URL)
			<-ctx.Done()
			fmt.Fprintln(out, "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Addr, "addr", "127.0.0.1:4599", "loopback address to listen on")
	cmd.Flags().Float64Var(&opts.Speed, "speed", 1, "run the virtual clock N times faster than real time")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of alias routing and injected faults")
	cmd.Flags().StringVar(&quotas, "quotas", "off", "API quotas: aws (token buckets with AWS's numbers, refilled on the virtual clock) or off; switchable at /_sfn-rollout/quotas")
	cmd.Flags().IntVar(&opts.LambdaConcurrency, "lambda-concurrency", lambda.DefaultConcurrency, "Lambda invocations running at once, synchronous and asynchronous together (AWS's account default is 1000)")
	cmd.Flags().StringVar(&versionDimension, "version-dimension", "number", "how AWS/States metrics name a version in their Version dimension: number (\"3\") or arn (the version ARN); AWS does not document which")
	cmd.Flags().BoolVar(&noController, "no-controller", false, "serve the AWS APIs only; do not deploy the controller")
	return cmd
}
