// Package withs3 adds the S3 client's port to a function's controller: the artifacts bucket.
package withs3

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// Client is the S3 client.
var Client = wiring.Client{Name: topology.ClientS3, Add: func(b wiring.Base, p *controller.Ports) {
	p.Artifacts = s3api.New(s3.NewFromConfig(b.Config, s3api.ClientOptions))
}}
