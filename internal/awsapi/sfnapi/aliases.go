package sfnapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// AliasesAPI is the part of *sfn.Client that Aliases uses.
type AliasesAPI interface {
	DescribeStateMachineAlias(ctx context.Context, params *sfn.DescribeStateMachineAliasInput, optFns ...func(*sfn.Options)) (*sfn.DescribeStateMachineAliasOutput, error)
	UpdateStateMachineAlias(ctx context.Context, params *sfn.UpdateStateMachineAliasInput, optFns ...func(*sfn.Options)) (*sfn.UpdateStateMachineAliasOutput, error)
	CreateStateMachineAlias(ctx context.Context, params *sfn.CreateStateMachineAliasInput, optFns ...func(*sfn.Options)) (*sfn.CreateStateMachineAliasOutput, error)
	DeleteStateMachineAlias(ctx context.Context, params *sfn.DeleteStateMachineAliasInput, optFns ...func(*sfn.Options)) (*sfn.DeleteStateMachineAliasOutput, error)
	ListStateMachineAliases(ctx context.Context, params *sfn.ListStateMachineAliasesInput, optFns ...func(*sfn.Options)) (*sfn.ListStateMachineAliasesOutput, error)
}

// Aliases is the controller.Aliases port over Step Functions.
type Aliases struct{ api AliasesAPI }

var _ controller.Aliases = (*Aliases)(nil)

// NewAliases returns the adapter; it makes no call.
func NewAliases(api AliasesAPI) *Aliases { return &Aliases{api: api} }

// Describe reads an alias and its routing.
func (a *Aliases) Describe(ctx context.Context, aliasArn string) (controller.Alias, error) {
	out, err := a.api.DescribeStateMachineAlias(ctx, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(aliasArn)})
	if err != nil {
		return controller.Alias{}, awsapi.Classify("describe alias "+aliasArn, err)
	}
	return controller.Alias{Arn: aliasArn, Name: aws.ToString(out.Name), Routing: routes(out.RoutingConfiguration), UpdatedAt: aws.ToTime(out.UpdateDate).UTC()}, nil
}

// Update replaces the alias's routing whole with absolute weights, without 0-weight entries.
//
// It makes one attempt: the controller retries a rollback's update itself, at once and with
// a short backoff, and leaves a forward step to the next tick. The SDK's retryer would wait
// up to seconds between attempts (jittered exponential backoff from one second for
// throttling), which holds a rollback back behind its own backoff, and lets forward steps
// take the account's alias updates (one a second) that a rollback may need.
func (a *Aliases) Update(ctx context.Context, aliasArn string, routing []rollout.Route) error {
	items, err := routingConfiguration(routing)
	if err != nil {
		return fmt.Errorf("update alias %s: %w", aliasArn, err)
	}
	_, err = a.api.UpdateStateMachineAlias(ctx, &sfn.UpdateStateMachineAliasInput{
		StateMachineAliasArn: aws.String(aliasArn),
		RoutingConfiguration: items,
	}, oneAttempt)
	return awsapi.Classify("update alias "+aliasArn, err)
}

// Create creates the alias. CreateStateMachineAlias answers an identical replay (name,
// description, routing) with the alias it created and anything else with
// ConflictException, which comes back as controller.ErrConflict: the alias that holds the
// name is left as it is.
func (a *Aliases) Create(ctx context.Context, stateMachineArn, name, description string, routing []rollout.Route) (string, error) {
	items, err := routingConfiguration(routing)
	if err != nil {
		return "", fmt.Errorf("create alias %s of %s: %w", name, stateMachineArn, err)
	}
	in := &sfn.CreateStateMachineAliasInput{Name: aws.String(name), RoutingConfiguration: items}
	if description != "" {
		in.Description = aws.String(description)
	}
	out, err := a.api.CreateStateMachineAlias(ctx, in)
	if err != nil {
		return "", awsapi.Classify(fmt.Sprintf("create alias %s of %s", name, stateMachineArn), err)
	}
	return aws.ToString(out.StateMachineAliasArn), nil
}

// Delete deletes the alias; one that does not exist is not an error.
func (a *Aliases) Delete(ctx context.Context, aliasArn string) error {
	_, err := a.api.DeleteStateMachineAlias(ctx, &sfn.DeleteStateMachineAliasInput{StateMachineAliasArn: aws.String(aliasArn)})
	err = awsapi.Classify("delete alias "+aliasArn, err)
	if errors.Is(err, controller.ErrNotFound) {
		return nil
	}
	return err
}

// List returns the state machine's aliases with their routing: one ListStateMachineAliases
// walk, then one DescribeStateMachineAlias each, since the list carries no routing.
func (a *Aliases) List(ctx context.Context, stateMachineArn string) ([]controller.Alias, error) {
	var arns []string
	in := &sfn.ListStateMachineAliasesInput{StateMachineArn: aws.String(stateMachineArn), MaxResults: 100}
	for {
		out, err := a.api.ListStateMachineAliases(ctx, in)
		if err != nil {
			return nil, awsapi.Classify("list aliases of "+stateMachineArn, err)
		}
		for _, it := range out.StateMachineAliases {
			arns = append(arns, aws.ToString(it.StateMachineAliasArn))
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	aliases := make([]controller.Alias, 0, len(arns))
	for _, arn := range arns {
		alias, err := a.Describe(ctx, arn)
		if errors.Is(err, controller.ErrNotFound) {
			continue // deleted between the list and the describe
		}
		if err != nil {
			return nil, err
		}
		aliases = append(aliases, alias)
	}
	return aliases, nil
}

// oneAttempt turns the SDK's retries off for one call.
func oneAttempt(o *sfn.Options) { o.RetryMaxAttempts = 1 }
