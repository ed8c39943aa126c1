package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

func newLocal() *cobra.Command {
	var opts stack.Options
	var quotas string
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the local AWS-compatible endpoint in the foreground",
		Long: `Serves Step Functions, CloudWatch, EventBridge, EventBridge Scheduler, S3, Lambda (in-process)
and DynamoDB (dynalite, from .tools/) on one loopback port, so that any AWS SDK or CLI pointed at
it with AWS_ENDPOINT_URL works unchanged (any credentials, region us-east-1, account 000000000000).`,
		Example: `  sfn-rollout local --speed 60
  AWS_ENDPOINT_URL=http://127.0.0.1:4599 aws stepfunctions list-state-machines`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch strings.ToLower(quotas) {
			case "aws":
				opts.AWSQuotas = true
			case "off", "":
			default:
				return usageError{fmt.Errorf("--quotas %q: want aws or off", quotas)}
			}
			if opts.Speed <= 0 {
				return usageError{fmt.Errorf("--speed %g: want a positive number", opts.Speed)}
			}
			opts.Out = os.Stdout
			s, err := stack.Start(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintf(os.Stdout, "export AWS_ENDPOINT_URL=%s AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n", s.URL)
			<-cmd.Context().Done()
			fmt.Fprintln(os.Stdout, "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Addr, "addr", "127.0.0.1:4599", "loopback address to listen on")
	cmd.Flags().Float64Var(&opts.Speed, "speed", 1, "run the virtual clock N times faster than real time")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of alias routing and injected faults")
	cmd.Flags().StringVar(&quotas, "quotas", "off", "Step Functions quotas: aws (token buckets with AWS's numbers) or off")
	return cmd
}
