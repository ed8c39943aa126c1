// Package withcloudwatch adds the CloudWatch client's ports to a function's controller:
// alarms, and metrics (with Step Functions' ListExecutions when the metrics say nothing).
package withcloudwatch

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/cloudwatchapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// Client is the CloudWatch client.
var Client = wiring.Client{Name: topology.ClientCloudWatch, Add: func(b wiring.Base, p *controller.Ports) {
	cw := cloudwatch.NewFromConfig(b.Config)
	p.Alarms = cloudwatchapi.NewAlarms(cw)
	p.Metrics = cloudwatchapi.NewMetrics(cw).WithExecutions(sfn.NewFromConfig(b.Config, sfnapi.ClientOptions))
}}
