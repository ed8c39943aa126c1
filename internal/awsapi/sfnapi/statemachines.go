package sfnapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// StateMachinesAPI is the part of *sfn.Client that StateMachines uses.
type StateMachinesAPI interface {
	DescribeStateMachine(ctx context.Context, params *sfn.DescribeStateMachineInput, optFns ...func(*sfn.Options)) (*sfn.DescribeStateMachineOutput, error)
	ListTagsForResource(ctx context.Context, params *sfn.ListTagsForResourceInput, optFns ...func(*sfn.Options)) (*sfn.ListTagsForResourceOutput, error)
	ValidateStateMachineDefinition(ctx context.Context, params *sfn.ValidateStateMachineDefinitionInput, optFns ...func(*sfn.Options)) (*sfn.ValidateStateMachineDefinitionOutput, error)
	UpdateStateMachine(ctx context.Context, params *sfn.UpdateStateMachineInput, optFns ...func(*sfn.Options)) (*sfn.UpdateStateMachineOutput, error)
	ListStateMachineVersions(ctx context.Context, params *sfn.ListStateMachineVersionsInput, optFns ...func(*sfn.Options)) (*sfn.ListStateMachineVersionsOutput, error)
	DeleteStateMachineVersion(ctx context.Context, params *sfn.DeleteStateMachineVersionInput, optFns ...func(*sfn.Options)) (*sfn.DeleteStateMachineVersionOutput, error)
}

// StateMachines is the controller.StateMachines port over Step Functions.
type StateMachines struct{ api StateMachinesAPI }

var _ controller.StateMachines = (*StateMachines)(nil)

// NewStateMachines returns the adapter; it makes no call.
func NewStateMachines(api StateMachinesAPI) *StateMachines { return &StateMachines{api: api} }

// maxVersionDescription is the longest versionDescription AWS accepts.
const maxVersionDescription = 256

// Describe reads a state machine, or a version when given a version ARN.
func (s *StateMachines) Describe(ctx context.Context, arn string) (controller.StateMachine, error) {
	out, err := s.api.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)})
	if err != nil {
		return controller.StateMachine{}, awsapi.Classify("describe state machine "+arn, err)
	}
	return controller.StateMachine{
		Arn:        arn,
		Name:       aws.ToString(out.Name),
		Definition: aws.ToString(out.Definition),
		RevisionID: aws.ToString(out.RevisionId),
		RoleArn:    aws.ToString(out.RoleArn),
		Type:       string(out.Type),
	}, nil
}

// Tags returns the state machine's tags.
func (s *StateMachines) Tags(ctx context.Context, arn string) (map[string]string, error) {
	out, err := s.api.ListTagsForResource(ctx, &sfn.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		return nil, awsapi.Classify("list tags of "+arn, err)
	}
	tags := make(map[string]string, len(out.Tags))
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// Validate returns the ERROR diagnostics of a definition for a state machine of the type
// (STANDARD when empty); warnings are left out.
func (s *StateMachines) Validate(ctx context.Context, definition, stateMachineType string) ([]controller.Diagnostic, error) {
	typ := types.StateMachineType(stateMachineType)
	if typ == "" {
		typ = types.StateMachineTypeStandard
	}
	out, err := s.api.ValidateStateMachineDefinition(ctx, &sfn.ValidateStateMachineDefinitionInput{
		Definition: aws.String(definition),
		Type:       typ,
		Severity:   types.ValidateStateMachineDefinitionSeverityError,
	})
	if err != nil {
		return nil, awsapi.Classify("validate definition", err)
	}
	var diags []controller.Diagnostic
	for _, d := range out.Diagnostics {
		if d.Severity != types.ValidateStateMachineDefinitionSeverityError {
			continue
		}
		diags = append(diags, controller.Diagnostic{
			Severity: string(d.Severity),
			Code:     aws.ToString(d.Code),
			Message:  aws.ToString(d.Message),
			Location: aws.ToString(d.Location),
		})
	}
	if len(diags) == 0 && out.Result == types.ValidateStateMachineDefinitionResultCodeFail {
		// A FAIL without an ERROR diagnostic must not read as valid.
		diags = append(diags, controller.Diagnostic{Severity: "ERROR", Code: "FAIL", Message: "ValidateStateMachineDefinition answered FAIL without an ERROR diagnostic"})
	}
	return diags, nil
}

// Publish sets the definition and publishes it as a version in one UpdateStateMachine
// call. An unchanged definition returns the version that already holds it.
//
// A definition Step Functions refuses comes back wrapping controller.ErrInvalidDefinition,
// with the SDK's *types.InvalidDefinition (and its message) still in the chain.
func (s *StateMachines) Publish(ctx context.Context, stateMachineArn, definition, description string) (string, error) {
	in := &sfn.UpdateStateMachineInput{
		StateMachineArn: aws.String(stateMachineArn),
		Definition:      aws.String(definition),
		Publish:         true,
	}
	if description != "" {
		in.VersionDescription = aws.String(truncate(description, maxVersionDescription))
	}
	out, err := s.api.UpdateStateMachine(ctx, in)
	if err != nil {
		if IsInvalidDefinition(err) {
			return "", fmt.Errorf("publish %s: %w: %w", stateMachineArn, controller.ErrInvalidDefinition, err)
		}
		return "", awsapi.Classify("publish "+stateMachineArn, err)
	}
	if aws.ToString(out.StateMachineVersionArn) == "" {
		return "", fmt.Errorf("publish %s: UpdateStateMachine answered without a version ARN", stateMachineArn)
	}
	return aws.ToString(out.StateMachineVersionArn), nil
}

// ListVersions returns every version, newest first as Step Functions lists them.
func (s *StateMachines) ListVersions(ctx context.Context, stateMachineArn string) ([]controller.Version, error) {
	var versions []controller.Version
	in := &sfn.ListStateMachineVersionsInput{StateMachineArn: aws.String(stateMachineArn), MaxResults: 1000}
	for {
		out, err := s.api.ListStateMachineVersions(ctx, in)
		if err != nil {
			return nil, awsapi.Classify("list versions of "+stateMachineArn, err)
		}
		for _, v := range out.StateMachineVersions {
			versions = append(versions, controller.Version{Arn: aws.ToString(v.StateMachineVersionArn), Created: aws.ToTime(v.CreationDate)})
		}
		if aws.ToString(out.NextToken) == "" {
			return versions, nil
		}
		in.NextToken = out.NextToken
	}
}

// DeleteVersion deletes a version. One that does not exist is already deleted; one that an
// alias still routes to is ErrConflict.
func (s *StateMachines) DeleteVersion(ctx context.Context, versionArn string) error {
	_, err := s.api.DeleteStateMachineVersion(ctx, &sfn.DeleteStateMachineVersionInput{StateMachineVersionArn: aws.String(versionArn)})
	err = awsapi.Classify("delete version "+versionArn, err)
	if errors.Is(err, controller.ErrNotFound) {
		return nil
	}
	return err
}
