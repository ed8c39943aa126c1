package sfnapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// TasksAPI is the part of *sfn.Client that Tasks uses.
type TasksAPI interface {
	SendTaskSuccess(ctx context.Context, params *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, params *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// Tasks is the controller.Tasks port over Step Functions' task tokens. A token that timed
// out or is not valid is ErrNotFound: nobody waits on it any more.
type Tasks struct{ api TasksAPI }

var _ controller.Tasks = (*Tasks)(nil)

// NewTasks returns the adapter; it makes no call.
func NewTasks(api TasksAPI) *Tasks { return &Tasks{api: api} }

// The longest error name and cause SendTaskFailure accepts, in characters.
const (
	maxErrorName = 256
	maxCause     = 32768
)

// Succeed ends the wait with output, a JSON document ("{}" when empty: AWS requires one).
func (t *Tasks) Succeed(ctx context.Context, token, output string) error {
	if output == "" {
		output = "{}"
	}
	_, err := t.api.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(output)})
	return awsapi.Classify("send task success", err)
}

// Fail ends the wait with an error name that the state machine's Catch matches.
func (t *Tasks) Fail(ctx context.Context, token, errorName, cause string) error {
	_, err := t.api.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
		TaskToken: aws.String(token),
		Error:     aws.String(truncate(errorName, maxErrorName)),
		Cause:     aws.String(truncate(cause, maxCause)),
	})
	return awsapi.Classify("send task failure "+errorName, err)
}
