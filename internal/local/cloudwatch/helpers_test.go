package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// recordingBus is a fake EventBridge: it keeps every event emitted.
type recordingBus struct {
	mu     sync.Mutex
	events []core.Event
}

func (b *recordingBus) Emit(_ context.Context, e core.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
	return nil
}

func (b *recordingBus) all() []core.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]core.Event(nil), b.events...)
}

// detail decodes the alarm state change events emitted, in order.
func (b *recordingBus) details(t *testing.T) []alarmEventDetail {
	t.Helper()
	var out []alarmEventDetail
	for _, e := range b.all() {
		var d alarmEventDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatalf("decode event detail %s: %v", e.Detail, err)
		}
		out = append(out, d)
	}
	return out
}

// recordingReporter keeps the console lines.
type recordingReporter struct {
	mu    sync.Mutex
	lines []string
}

func (r *recordingReporter) Report(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, sprintf(format, args...))
}

func (r *recordingReporter) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// env is a service behind an httptest server and a real SDK client pointed at it.
type env struct {
	svc      *Service
	client   *awscw.Client
	bus      *recordingBus
	reporter *recordingReporter
	faults   *core.Faults
	clock    *core.Clock
	url      string
	requests atomic.Int64
}

type envOption func(*envConfig)

type envConfig struct {
	speed       float64
	maxAttempts int
}

func withSpeed(speed float64) envOption { return func(c *envConfig) { c.speed = speed } }

func withAttempts(n int) envOption { return func(c *envConfig) { c.maxAttempts = n } }

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	cfg := envConfig{speed: 1, maxAttempts: 1}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{bus: &recordingBus{}, reporter: &recordingReporter{}, faults: core.NewFaults(1), clock: core.NewClock(cfg.speed)}
	e.svc = New(Options{Clock: e.clock, Bus: e.bus, Faults: e.faults, Reporter: e.reporter})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		e.svc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.client = awscw.New(awscw.Options{
		Region:       core.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = cfg.maxAttempts
			o.Backoff = noBackoff{}
		}),
	})
	return e
}

type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// wantAPIError checks an SDK error's code and message.
func wantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an API error %s: %s", err, code, message)
	}
	if apiErr.ErrorCode() != code || apiErr.ErrorMessage() != message {
		t.Fatalf("error = %s: %q, want %s: %q", apiErr.ErrorCode(), apiErr.ErrorMessage(), code, message)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

type faultSpec = core.Fault
