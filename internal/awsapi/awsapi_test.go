package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/awsconfig"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// sdkError wraps err the way an SDK client returns it: an operation error around an HTTP
// response error with the given status.
func sdkError(status int, err error) error {
	return &smithy.OperationError{
		ServiceID:     "SFN",
		OperationName: "UpdateStateMachineAlias",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      err,
			},
			RequestID: "req-1",
		},
	}
}

func TestClassify(t *testing.T) {
	throttling := sdkError(400, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"})
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{name: "state machine does not exist", err: sdkError(400, &sfntypes.StateMachineDoesNotExist{Message: aws.String("x")}), want: controller.ErrNotFound},
		{name: "alias not found", err: sdkError(400, &sfntypes.ResourceNotFound{Message: aws.String("x")}), want: controller.ErrNotFound},
		{name: "task timed out", err: sdkError(400, &sfntypes.TaskTimedOut{Message: aws.String("x")}), want: controller.ErrNotFound},
		{name: "invalid token", err: sdkError(400, &sfntypes.InvalidToken{Message: aws.String("x")}), want: controller.ErrNotFound},
		{name: "s3 no such key", err: sdkError(404, &smithy.GenericAPIError{Code: "NoSuchKey"}), want: controller.ErrNotFound},
		{name: "conflict", err: sdkError(400, &sfntypes.ConflictException{Message: aws.String("x")}), want: controller.ErrConflict},
		{name: "conditional check failed", err: sdkError(400, &smithy.GenericAPIError{Code: "ConditionalCheckFailedException"}), want: controller.ErrConflict},
		{name: "throttling", err: throttling, want: controller.ErrThrottled},
		{name: "throttling after the retryer gave up", err: &retry.MaxAttemptsError{Attempt: 3, Err: throttling}, want: controller.ErrThrottled},
		{name: "http 503 with an unknown code", err: sdkError(503, &smithy.GenericAPIError{Code: "Whatever"}), want: controller.ErrThrottled},
		{name: "server fault", err: sdkError(400, &smithy.GenericAPIError{Code: "Odd", Fault: smithy.FaultServer}), want: controller.ErrThrottled},
		{name: "internal server error code", err: &smithy.GenericAPIError{Code: "InternalServerError"}, want: controller.ErrThrottled},
		{name: "kms throttling", err: sdkError(400, &sfntypes.KmsThrottlingException{Message: aws.String("x")}), want: controller.ErrThrottled},
		{name: "connection refused", err: &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}, want: controller.ErrThrottled},
		{name: "deadline exceeded", err: fmt.Errorf("send: %w", context.DeadlineExceeded), want: controller.ErrThrottled},
		{name: "cancelled", err: &smithy.CanceledError{Err: context.Canceled}, want: nil},
		{name: "validation", err: sdkError(400, &sfntypes.ValidationException{Message: aws.String("x")}), want: nil},
		{name: "quota exceeded", err: sdkError(400, &sfntypes.ServiceQuotaExceededException{Message: aws.String("x")}), want: nil},
		{name: "invalid definition", err: sdkError(400, &sfntypes.InvalidDefinition{Message: aws.String("x")}), want: nil},
	}
	sentinels := []error{controller.ErrNotFound, controller.ErrConflict, controller.ErrThrottled}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsapi.Classify("update alias a", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("the AWS error left the chain: %v", got)
			}
			if !strings.HasPrefix(got.Error(), "update alias a: ") {
				t.Errorf("message %q does not start with the operation", got)
			}
			for _, s := range sentinels {
				if is := errors.Is(got, s); is != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, s, is)
				}
			}
		})
	}
	if awsapi.Classify("op", nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}

func TestS3Options(t *testing.T) {
	tests := []struct {
		name     string
		endpoint *string
		want     bool
	}{
		{name: "aws", endpoint: nil, want: false},
		{name: "local endpoint", endpoint: aws.String("http://127.0.0.1:4566"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := s3.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: tt.endpoint}, s3api.ClientOptions)
			if got := client.Options().UsePathStyle; got != tt.want {
				t.Errorf("UsePathStyle = %v, want %v", got, tt.want)
			}
		})
	}
}

// hostRecorder answers every request with 400 and remembers the host it was sent to.
type hostRecorder struct{ hosts []string }

func (r *hostRecorder) Do(req *http.Request) (*http.Response, error) {
	r.hosts = append(r.hosts, req.URL.Host)
	return &http.Response{StatusCode: 400, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"__type":"Stop","message":"recorded"}`)), Request: req}, nil
}

// The SDK sends StartSyncExecution to sync-<host>; SFNOptions keeps a configured endpoint's
// host, and leaves AWS's endpoints alone.
func TestSFNOptions(t *testing.T) {
	for _, tt := range []struct {
		name     string
		endpoint *string
		want     string
	}{
		{name: "aws", want: "sync-states.us-east-1.amazonaws.com"},
		{name: "local endpoint", endpoint: aws.String("http://127.0.0.1:4599"), want: "127.0.0.1:4599"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &hostRecorder{}
			cfg := aws.Config{Region: "us-east-1", BaseEndpoint: tt.endpoint, HTTPClient: rec, Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
			client := sfn.NewFromConfig(cfg, sfnapi.ClientOptions, func(o *sfn.Options) { o.RetryMaxAttempts = 1 })
			_, _ = client.StartSyncExecution(context.Background(), &sfn.StartSyncExecutionInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:x")})
			if len(rec.hosts) != 1 || rec.hosts[0] != tt.want {
				t.Errorf("StartSyncExecution went to %v, want %s", rec.hosts, tt.want)
			}
		})
	}
}

func TestLoadConfigHonoursTheEndpointVariable(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cfg.BaseEndpoint) != "http://127.0.0.1:4566" || cfg.Region != "us-east-1" {
		t.Errorf("endpoint %q region %q", aws.ToString(cfg.BaseEndpoint), cfg.Region)
	}
}

// A Lambda's configuration comes from its environment alone: region, the role's
// credentials, AWS_ENDPOINT_URL, the controller's retryer; without them, a named error.
func TestEnvConfig(t *testing.T) {
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
	cfg, err := awsapi.EnvConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" {
		t.Errorf("credentials %+v (%v)", creds, err)
	}
	if cfg.Region != "eu-west-1" || aws.ToString(cfg.BaseEndpoint) != "http://127.0.0.1:4566" || cfg.Retryer == nil || cfg.Retryer().MaxAttempts() != awsapi.RetryMaxAttempts {
		t.Errorf("config region %q endpoint %q", cfg.Region, aws.ToString(cfg.BaseEndpoint))
	}
	delete(env, "AWS_ENDPOINT_URL")
	if cfg, _ := awsapi.EnvConfig(func(k string) string { return env[k] }); cfg.BaseEndpoint != nil {
		t.Errorf("endpoint %q without AWS_ENDPOINT_URL", aws.ToString(cfg.BaseEndpoint))
	}
	delete(env, "AWS_SECRET_ACCESS_KEY")
	if _, err := awsapi.EnvConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("without a secret key: %v", err)
	}
}
