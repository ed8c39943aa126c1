// Package sfnapi implements the controller's Step Functions ports (StateMachines, Aliases,
// Tasks) over aws-sdk-go-v2's sfn client.
package sfnapi

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// truncate cuts s to at most limit characters (AWS counts characters, not bytes).
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit])
}

// IsInvalidDefinition reports whether err is Step Functions refusing a definition
// (the SDK's *types.InvalidDefinition), which Publish returns in its chain.
func IsInvalidDefinition(err error) bool {
	var invalid *types.InvalidDefinition
	return errors.As(err, &invalid) || awsapi.IsCode(err, "InvalidDefinition")
}

// routingConfiguration converts routes into an alias's routing configuration. Entries of
// weight 0 are dropped: AWS accepts them, but an alias that routes nothing to a version
// should not name it, so the alias reads the same however the weights got there.
func routingConfiguration(want []rollout.Route) ([]types.RoutingConfigurationListItem, error) {
	var items []types.RoutingConfigurationListItem
	for _, r := range want {
		if r.Weight == 0 {
			continue
		}
		items = append(items, types.RoutingConfigurationListItem{
			StateMachineVersionArn: aws.String(r.VersionArn),
			Weight:                 int32(r.Weight),
		})
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("routing %v has no entry with a weight above 0", want)
	}
	return items, nil
}

func routes(items []types.RoutingConfigurationListItem) []rollout.Route {
	out := make([]rollout.Route, 0, len(items))
	for _, it := range items {
		out = append(out, rollout.Route{VersionArn: aws.ToString(it.StateMachineVersionArn), Weight: int(it.Weight)})
	}
	return out
}

// *sfn.Client fits every narrow interface as is.
var (
	_ StateMachinesAPI = (*sfn.Client)(nil)
	_ AliasesAPI       = (*sfn.Client)(nil)
	_ TasksAPI         = (*sfn.Client)(nil)
)

// ClientOptions is an option of sfn.NewFromConfig. The SDK sends StartSyncExecution (and
// TestState) to the host "sync-<endpoint host>", as AWS serves them; a configured endpoint
// (a local one) serves them on its own host, and names like sync-127.0.0.1 do not resolve.
func ClientOptions(o *sfn.Options) {
	if o.BaseEndpoint != nil {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("DisableEndpointHostPrefix",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
				}), middleware.Before)
		})
	}
}
