package wiring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withall"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withcloudwatch"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withevents"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withs3"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withscheduler"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withsfn"
)

// The controller's Step Functions ports go through the budget.
func TestStepFunctionsCallsAreBudgeted(t *testing.T) {
	s, err := wiring.SettingsFromEnv(wiring.Env(wiring.FullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := withall.Build(aws.Config{Region: "us-east-1"}, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, port := range map[string]any{"StateMachines": c.StateMachines, "Aliases": c.Aliases} {
		if got := fmt.Sprintf("%T", port); got != "*controller.budgeted"+name {
			t.Errorf("%s port is %s, want the budgeted one", name, got)
		}
	}
}

// The controller's clients use awsapi.NewRetryer whatever retryer the configuration came
// with (local mode builds its configuration by hand): a call that fails
// RetryMaxAttempts-1 times gets through, where the SDK's default three attempts would not.
func TestBuildGivesEveryClientTheControllersRetryer(t *testing.T) {
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
	s, err := wiring.SettingsFromEnv(wiring.Env(wiring.FullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:     func() aws.Retryer { return retry.NewStandard() },
	}
	ctl, err := withall.Build(cfg, s, nil, nil)
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

// Every adapter honours AWS_ENDPOINT_URL: a tick for a rollout without a record reads
// DynamoDB and deletes the stray schedule, both at the configured endpoint.
func TestFromEnvHonoursAWSEndpointURL(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			seen = append(seen, target)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{}`)) // GetItem: no item
			return
		}
		seen = append(seen, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	for k, v := range wiring.FullEnv() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")

	c, err := wiring.FromEnv("advance", withsfn.Client, withcloudwatch.Client, withscheduler.Client, withevents.Client)
	if err != nil {
		t.Fatal(err)
	}
	out, err := wiring.Dispatch(context.Background(), c, "advance", json.RawMessage(`{"rolloutId":"r-1"}`))
	if err != nil {
		t.Fatalf("advance: %v (%s)", err, controller.ErrorCode(err))
	}
	if o := out.(controller.Outcome); o.RolloutID != "r-1" {
		t.Errorf("outcome %+v", o)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"DynamoDB_20120810.GetItem", "DELETE /schedules/" + topology.ScheduleName("r-1")}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("requests at the endpoint = %q, want %q", seen, want)
	}
}

// A function is built with exactly the clients topology.FunctionClients names: fewer or
// more is refused at the cold start, with the difference named.
func TestBuildTakesTheFunctionsClients(t *testing.T) {
	s, err := wiring.SettingsFromEnv(wiring.Env(wiring.FullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1"}
	if _, err := wiring.Build("control", cfg, s, nil, nil, withsfn.Client, withevents.Client); err != nil {
		t.Errorf("control with Step Functions and EventBridge: %v", err)
	}
	for name, clients := range map[string][]wiring.Client{
		"one missing": {withsfn.Client},
		"one more":    {withsfn.Client, withevents.Client, withs3.Client},
		"none":        nil,
	} {
		if _, err := wiring.Build("control", cfg, s, nil, nil, clients...); err == nil || !strings.Contains(err.Error(), "topology.FunctionClients") {
			t.Errorf("control built with %s: %v, want a refusal naming topology.FunctionClients", name, err)
		}
	}
	if _, err := wiring.Build("nope", cfg, s, nil, nil); err == nil {
		t.Error("an unknown function was built")
	}
}

// The ports of a client a function is built without answer an error naming the port.
func TestAbsentPortsAnswerANamedError(t *testing.T) {
	s, err := wiring.SettingsFromEnv(wiring.Env(wiring.FullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := wiring.Build("control", aws.Config{Region: "us-east-1"}, s, nil, nil, withsfn.Client, withevents.Client)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for port, call := range map[string]func() error{
		"Artifacts": func() error { _, err := c.Artifacts.Get(ctx, "b", "k", ""); return err },
		"Alarms":    func() error { _, err := c.Alarms.States(ctx, []string{"a"}); return err },
		"Metrics":   func() error { _, err := c.Metrics.VersionCounts(ctx, controller.CountsQuery{}); return err },
		"Schedules": func() error { return c.Schedules.Delete(ctx, "s") },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), port+": this function is built without") {
			t.Errorf("%s: %v", port, err)
		}
	}
}

// Every function's main passes the clients topology.FunctionClients names: each bootstrap,
// run outside Lambda with the controller's environment, gets past its wiring and stops only
// where the Lambda runtime is missing.
func TestEveryMainIsWiredWithItsClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	dir := t.TempDir()
	for _, fn := range topology.Functions {
		bin := filepath.Join(dir, fn)
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "../../functions/"+fn)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", fn, err, out)
		}
		run := exec.Command(bin)
		run.Env = []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b"}
		for k, v := range wiring.FullEnv() {
			run.Env = append(run.Env, k+"="+v)
		}
		out, _ := run.CombinedOutput()
		if !strings.Contains(string(out), "AWS_LAMBDA_RUNTIME_API") {
			t.Errorf("%s stopped before the Lambda runtime: %s", fn, out)
		}
	}
}

// Each main runs the use case named as its function (functions/<name> ↔ the controller's
// <Name> method) and names that function to both MustFromEnv and Typed: the compiler cannot
// tell Typed("advance", c.Rollback) from the right pairing, and the name sets the budget
// priority.
func TestEveryMainRunsItsOwnUseCase(t *testing.T) {
	wired := regexp.MustCompile(`wiring\.MustFromEnv\("(\w+)"`)
	started := regexp.MustCompile(`lambda\.Start\(wiring\.Typed\("(\w+)", (?:wiring\.Empty\()?c\.(\w+)\)`)
	for _, fn := range topology.Functions {
		src, err := os.ReadFile(filepath.Join("..", "..", "functions", fn, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		w := wired.FindSubmatch(src)
		s := started.FindSubmatch(src)
		if w == nil || s == nil {
			t.Errorf("%s: main does not read c := wiring.MustFromEnv(%q, …) then lambda.Start(wiring.Typed(%q, c.<UseCase>))", fn, fn, fn)
			continue
		}
		if string(w[1]) != fn || string(s[1]) != fn || strings.ToLower(string(s[2])) != fn {
			t.Errorf("functions/%s runs MustFromEnv(%q) and Typed(%q, c.%s)", fn, w[1], s[1], s[2])
		}
	}
}
