// Package awsapi holds what the AWS adapters below it share: the one mapping of AWS errors
// onto the controller's sentinel errors, the retryer, and a Lambda function's SDK
// configuration.
package awsapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// notFoundCodes are the AWS error codes of a resource that does not exist. A task token
// that timed out or is not valid is one the controller can no longer answer: not found.
var notFoundCodes = map[string]bool{
	"StateMachineDoesNotExist":  true, // Step Functions
	"ResourceNotFound":          true, // Step Functions aliases, versions, tags
	"ExecutionDoesNotExist":     true,
	"TaskDoesNotExist":          true,
	"TaskTimedOut":              true,
	"InvalidToken":              true,
	"ResourceNotFoundException": true, // DynamoDB, Scheduler, EventBridge
	"NoSuchKey":                 true, // S3 GetObject
	"NoSuchVersion":             true,
	"NotFound":                  true, // S3 HeadObject (a 404 without a body)
}

// conflictCodes are the codes of a write that lost against the current state.
var conflictCodes = map[string]bool{
	"ConflictException":               true, // Step Functions, Scheduler
	"ConditionalCheckFailedException": true, // DynamoDB
}

// transientCodes add to the SDK's own throttling codes the server faults whose codes the
// SDK only recognises by HTTP status, which a wrapped or replayed error may not carry.
var transientCodes = map[string]bool{
	"InternalServerError":         true,
	"InternalServerException":     true,
	"InternalFailure":             true,
	"InternalError":               true,
	"InternalException":           true, // EventBridge PutEvents entries
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
	"KmsThrottlingException":      true,
}

// Classify wraps err with op and, when the AWS error says so, with one of the controller's
// sentinel errors, keeping the SDK error in the chain:
//
//   - not found (StateMachineDoesNotExist, ResourceNotFound, NoSuchKey, TaskTimedOut, …) → ErrNotFound
//   - ConflictException, ConditionalCheckFailedException → ErrConflict
//   - throttling, 5xx, connection errors, timeouts → ErrThrottled
//
// A nil err stays nil. A cancelled context is never transient: nobody waits for the answer.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if sentinel := sentinelOf(err); sentinel != nil {
		return fmt.Errorf("%s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func sentinelOf(err error) error {
	code := ErrorCode(err)
	switch {
	case notFoundCodes[code]:
		return controller.ErrNotFound
	case conflictCodes[code]:
		return controller.ErrConflict
	case transient(err, code):
		return controller.ErrThrottled
	}
	return nil
}

func transient(err error, code string) bool {
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded), transientCodes[code]:
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer {
		return true
	}
	// The standard retryer's own checks: throttling codes, 500/502/503/504, connection
	// errors and errors that say they are retryable.
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// ErrorCode is the AWS error code in err's chain ("ThrottlingException"), or "".
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// IsCode reports whether err carries the AWS error code code.
func IsCode(err error, code string) bool { return err != nil && ErrorCode(err) == code }

// The SDK retryer of every client (RetryerOptions). Its attempts are the innermost of three
// layers that retry throttling (the controller's own retries within an invocation, then the
// controller state machine's Throttled retriers), so they are few and short: they smooth a
// moment's throttling without holding a call for long, and the call's context deadline
// still ends them.
const (
	RetryMaxAttempts = 5
	RetryMaxBackoff  = 5 * time.Second
)

// RetryerOptions configure the standard retryer: RetryMaxAttempts attempts with full-jitter
// exponential backoff (from a second for throttling, 50 ms for other retryable errors, capped
// at RetryMaxBackoff), and no client-side retry quota. The SDK's quota (500 tokens a client,
// 5 a throttled retry) ran dry when many rollouts shared a client under throttling, and then
// answered "retry quota exceeded" without waiting at all: the calls failed while the
// controller still had time. The quota protects a service from a client's retry storm;
// here the backoff and the controller's own budget bound the retries instead.
func RetryerOptions(o *retry.StandardOptions) {
	o.MaxAttempts = RetryMaxAttempts
	o.MaxBackoff = RetryMaxBackoff
	o.RateLimiter = ratelimit.None
}

// NewRetryer is the retryer of every client the controller builds (aws.Config.Retryer).
func NewRetryer() aws.Retryer { return retry.NewStandard(RetryerOptions) }

// EnvConfig is the SDK configuration of a Lambda function, from its environment alone:
// AWS_REGION, the execution role's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, which Lambda sets for the life of the execution environment),
// AWS_ENDPOINT_URL when set, and NewRetryer. It reads no shared config or credentials file
// and links none of the SSO, STS or IMDS providers the default chain would: the bootstraps
// stay small (README, "Measured").
func EnvConfig(getenv func(string) string) (aws.Config, error) {
	region, key, secret := getenv("AWS_REGION"), getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if region == "" || key == "" || secret == "" {
		return aws.Config{}, errors.New("AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set, as Lambda sets them")
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))),
		Retryer:     NewRetryer,
	}
	if e := getenv("AWS_ENDPOINT_URL"); e != "" {
		cfg.BaseEndpoint = aws.String(e)
	}
	return cfg, nil
}
