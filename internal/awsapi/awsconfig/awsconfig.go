// Package awsconfig loads the SDK configuration through the SDK's default chain (shared
// files, SSO, IMDS, ...), for the commands that run outside Lambda; the Lambda functions
// read their environment alone (awsapi.EnvConfig).
package awsconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
)

// Load loads the SDK configuration with awsapi.NewRetryer. It honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, which is how local mode points every client at its endpoint.
func Load(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	optFns = append([]func(*config.LoadOptions) error{config.WithRetryer(awsapi.NewRetryer)}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}
