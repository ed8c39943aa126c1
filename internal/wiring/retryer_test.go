package wiring

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
)

// The controller's clients use awsapi.NewRetryer whatever retryer the configuration came
// with (local mode builds its configuration by hand): a call that fails
// RetryMaxAttempts-1 times gets through, where the SDK's default three attempts would not.
func TestNewGivesEveryClientTheControllersRetryer(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
			// The write budget's take before the call (an UpdateItem that answers nothing).
			w.Write([]byte(`{}`))
			return
		}
		if requests.Add(1) < awsapi.RetryMaxAttempts {
			// A server fault: retried after 50 ms at most, doubling, so the test is quick.
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"__type":"InternalServerError","message":"injected"}`))
			return
		}
		w.Write([]byte(`{"result":"OK","diagnostics":[]}`))
	}))
	defer srv.Close()
	s, err := SettingsFromEnv(func(k string) string { return fullEnv()[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:     func() aws.Retryer { return retry.NewStandard() },
	}
	ctl, err := New(cfg, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.StateMachines.Validate(context.Background(), `{}`, ""); err != nil {
		t.Fatalf("Validate after %d server faults: %v", awsapi.RetryMaxAttempts-1, err)
	}
	if got := requests.Load(); got != awsapi.RetryMaxAttempts {
		t.Errorf("%d requests, want %d", got, awsapi.RetryMaxAttempts)
	}
}
