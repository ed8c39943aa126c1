package awsapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// throttlingServer answers every Step Functions request with ThrottlingException and
// counts the requests.
func throttlingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func sfnClient(url string, retryer func() aws.Retryer) *sfn.Client {
	return sfn.NewFromConfig(aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: retryer,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// noBackoff keeps a retryer's attempts and quota and drops its waits, so that a test can
// make hundreds of throttled attempts at once.
func noBackoff(o *retry.StandardOptions) {
	o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
}

// validateMany calls ValidateStateMachineDefinition through the adapter n times and returns
// each call's error.
func validateMany(t *testing.T, client *sfn.Client, n int) []error {
	t.Helper()
	machines := sfnapi.NewStateMachines(client)
	errs := make([]error, n)
	for i := range errs {
		_, errs[i] = machines.Validate(context.Background(), `{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}`, "")
	}
	return errs
}

// A client that is throttled call after call keeps retrying each call: the SDK's default
// retry quota (500 tokens, 5 a throttled retry) runs dry after about fifty such calls and
// then answers "retry quota exceeded" without a single retry, while the controller still
// has time to wait. The retryer the controller builds has no quota, and what a call
// answers after its attempts is still throttling to the controller.
func TestRetryerHasNoRetryQuota(t *testing.T) {
	const calls = 60

	t.Run("the SDK's default runs out", func(t *testing.T) {
		// The control: shows that calls enough to empty the default quota are made.
		srv, _ := throttlingServer(t)
		errs := validateMany(t, sfnClient(srv.URL, func() aws.Retryer { return retry.NewStandard(noBackoff) }), calls)
		if !strings.Contains(errs[len(errs)-1].Error(), "retry quota exceeded") {
			t.Fatalf("the default retryer's last error: %v; want retry quota exceeded (the test makes too few calls)", errs[len(errs)-1])
		}
	})

	t.Run("the controller's keeps retrying", func(t *testing.T) {
		srv, requests := throttlingServer(t)
		errs := validateMany(t, sfnClient(srv.URL, func() aws.Retryer { return retry.NewStandard(awsapi.RetryerOptions, noBackoff) }), calls)
		for i, err := range errs {
			switch {
			case err == nil:
				t.Fatalf("call %d: no error from a server that only throttles", i)
			case strings.Contains(err.Error(), "retry quota exceeded"):
				t.Fatalf("call %d: %v", i, err)
			case !errors.Is(err, controller.ErrThrottled):
				t.Fatalf("call %d: %v is not ErrThrottled", i, err)
			case awsapi.ErrorCode(err) != "ThrottlingException":
				t.Fatalf("call %d: code %q, want ThrottlingException", i, awsapi.ErrorCode(err))
			}
		}
		if got, want := requests.Load(), int64(calls*awsapi.RetryMaxAttempts); got != want {
			t.Errorf("%d requests for %d calls, want %d attempts each", got, calls, awsapi.RetryMaxAttempts)
		}
	})
}

// The backoff between attempts is jittered (full jitter: anywhere from 0 to the bound) and
// never longer than RetryMaxBackoff, and there is no quota to run out of.
func TestRetryerBackoffIsJitteredAndBounded(t *testing.T) {
	r := awsapi.NewRetryer()
	if got := r.MaxAttempts(); got != awsapi.RetryMaxAttempts {
		t.Errorf("MaxAttempts %d, want %d", got, awsapi.RetryMaxAttempts)
	}
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	if !r.IsErrorRetryable(throttle) {
		t.Fatal("throttling is not retryable")
	}
	for attempt := 1; attempt < awsapi.RetryMaxAttempts+5; attempt++ {
		seen := map[time.Duration]bool{}
		for range 50 {
			d, err := r.RetryDelay(attempt, throttle)
			if err != nil {
				t.Fatal(err)
			}
			if d < 0 || d > awsapi.RetryMaxBackoff {
				t.Fatalf("attempt %d: delay %s outside 0..%s", attempt, d, awsapi.RetryMaxBackoff)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: %d distinct delays in 50 draws: not jittered", attempt, len(seen))
		}
	}
	for range 1000 {
		release, err := r.GetRetryToken(context.Background(), throttle)
		if err != nil {
			t.Fatalf("retry token: %v", err)
		}
		_ = release(nil)
	}
}

// The call's own context still ends the attempts: a deadline shorter than the backoff
// answers at the deadline, as throttling.
func TestRetryerStopsAtTheCallsDeadline(t *testing.T) {
	srv, _ := throttlingServer(t)
	machines := sfnapi.NewStateMachines(sfnClient(srv.URL, awsapi.NewRetryer))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := machines.Validate(ctx, `{}`, "")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the call took %s under a 300ms deadline", took)
	}
	if !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("err %v, want ErrThrottled", err)
	}
}
