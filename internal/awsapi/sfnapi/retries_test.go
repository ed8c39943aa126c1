package sfnapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A throttled alias update is one request: the controller retries a rollback itself, at
// once, rather than after the SDK's backoff of a second or more. Other calls keep the
// SDK's retries.
func TestAliasUpdateIsOneAttempt(t *testing.T) {
	var updates, describes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case "AWSStepFunctions.UpdateStateMachineAlias":
			updates.Add(1)
		case "AWSStepFunctions.DescribeStateMachineAlias":
			describes.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
	}))
	defer srv.Close()
	client := sfn.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, func(o *sfn.Options) {
		// The standard retryer's three attempts, without its backoff.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	aliases := sfnapi.NewAliases(client)
	const alias = "arn:aws:states:us-east-1:000000000000:stateMachine:orders:prod"
	err := aliases.Update(context.Background(), alias, []rollout.Route{{VersionArn: "arn:aws:states:us-east-1:000000000000:stateMachine:orders:1", Weight: 100}})
	if !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("Update: %v, want ErrThrottled", err)
	}
	if n := updates.Load(); n != 1 {
		t.Errorf("%d UpdateStateMachineAlias requests, want 1", n)
	}
	if _, err := aliases.Describe(context.Background(), alias); !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("Describe: %v, want ErrThrottled", err)
	}
	if n := describes.Load(); n != 3 {
		t.Errorf("%d DescribeStateMachineAlias requests, want the SDK's three attempts", n)
	}
}
