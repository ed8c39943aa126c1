package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/dynalite"
	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

const (
	roleArn = "arn:aws:iam::000000000000:role/local"
	// speed makes a minute of virtual time a tenth of a real second: schedules and alarm
	// periods of a minute pass quickly, and nothing in these tests waits on real time.
	speed = 600
)

// shared is the stack most tests use; TestMain closes it. Tests that need other options
// (quotas, an output buffer, Close) start their own.
var shared struct {
	once  sync.Once
	stack *stack.Stack
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stack != nil {
		shared.stack.Close()
	}
	os.Exit(code)
}

// sharedStack is the stack shared by the tests that do not change its options.
func sharedStack(t testing.TB) *stack.Stack {
	t.Helper()
	skipWithoutDynalite(t)
	shared.once.Do(func() {
		shared.stack, shared.err = stack.Start(context.Background(), stack.Options{Addr: "127.0.0.1:0", Speed: speed, Seed: 1})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.stack
}

// startStack starts a stack of its own, closed when the test ends.
func startStack(t testing.TB, opts stack.Options) *stack.Stack {
	t.Helper()
	skipWithoutDynalite(t)
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	st, err := stack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// skipWithoutDynalite skips when `make tools` has not run, except in CI, where it must have.
func skipWithoutDynalite(t testing.TB) {
	t.Helper()
	if _, err := dynalite.FindCLI(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// awsConfig is what a user's SDK gets from AWS_ENDPOINT_URL and any credentials: the
// stack's URL, static credentials, us-east-1. The standard retryer is kept (3 attempts)
// with a millisecond backoff, so that retried throttling does not slow the tests.
func awsConfig(st *stack.Stack) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(st.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}
}

func s3Client(st *stack.Stack) *s3.Client {
	return s3.NewFromConfig(awsConfig(st), func(o *s3.Options) { o.UsePathStyle = true })
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// inbox is an in-process Lambda function that keeps what it is sent.
type inbox chan json.RawMessage

// register adds a function to the stack's Lambda that records its payloads.
func register(st *stack.Stack, name string) (inbox, string) {
	in := make(inbox, 1000)
	st.Lambda.Register(name, func(_ context.Context, payload json.RawMessage) (json.RawMessage, error) {
		select {
		case in <- append(json.RawMessage(nil), payload...):
		default:
		}
		return json.RawMessage(`{"ok":true}`), nil
	})
	return in, lambda.FunctionArn(name)
}

// next waits for the next payload, decoded into v.
func (in inbox) next(t *testing.T, v any) {
	t.Helper()
	select {
	case p := <-in:
		if err := json.Unmarshal(p, v); err != nil {
			t.Fatalf("decode %s: %v", p, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the function was not invoked within 5s")
	}
}

// envelope is an EventBridge event as a target receives it.
type envelope struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// sameJSON compares two JSON documents by value, whatever the order of their keys.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

var seq atomic.Int64

// unique suffixes a name with a number of its own: tests on the shared stack may run again
// (-count) against what their last run left.
func unique(name string) string { return fmt.Sprintf("%s-%d", name, seq.Add(1)) }

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// admin calls the admin API and decodes its JSON answer into v (when v is not nil).
func admin(t *testing.T, st *stack.Stack, method, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, st.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s answered %d %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

const passDefinition = `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"version":%d,"order.$":"$.order"},"End":true}}}`

// machine is a state machine with two published versions and an alias over them.
type machine struct {
	arn, v1, v2, alias string
}

// newMachine creates a Pass state machine, publishes v1 and v2 and points the alias prod at
// v1 with weight w1 and at v2 with the rest.
func newMachine(t testing.TB, c context.Context, client *sfn.Client, name string, w1 int32) machine {
	t.Helper()
	created, err := client.CreateStateMachine(c, &sfn.CreateStateMachineInput{
		Name: aws.String(name), RoleArn: aws.String(roleArn), Definition: aws.String(fmt.Sprintf(passDefinition, 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := client.PublishStateMachineVersion(c, &sfn.PublishStateMachineVersionInput{StateMachineArn: created.StateMachineArn})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := client.UpdateStateMachine(c, &sfn.UpdateStateMachineInput{
		StateMachineArn: created.StateMachineArn, Definition: aws.String(fmt.Sprintf(passDefinition, 2)), Publish: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := machine{arn: *created.StateMachineArn, v1: *v1.StateMachineVersionArn, v2: *v2.StateMachineVersionArn}
	alias, err := client.CreateStateMachineAlias(c, &sfn.CreateStateMachineAliasInput{Name: aws.String("prod"), RoutingConfiguration: m.routing(w1)})
	if err != nil {
		t.Fatal(err)
	}
	m.alias = *alias.StateMachineAliasArn
	return m
}

// routing sends w1 percent to v1 and the rest to v2 (one entry when either is 100).
func (m machine) routing(w1 int32) []sfntypes.RoutingConfigurationListItem {
	switch w1 {
	case 100:
		return []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(m.v1), Weight: 100}}
	case 0:
		return []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(m.v2), Weight: 100}}
	}
	return []sfntypes.RoutingConfigurationListItem{
		{StateMachineVersionArn: aws.String(m.v1), Weight: w1},
		{StateMachineVersionArn: aws.String(m.v2), Weight: 100 - w1},
	}
}

// waitExecution polls DescribeExecution until the execution is no longer RUNNING.
func waitExecution(t *testing.T, c context.Context, client *sfn.Client, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	for {
		out, err := client.DescribeExecution(c, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			return out
		}
		select {
		case <-c.Done():
			t.Fatalf("execution %s still RUNNING", arn)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lockedBuffer is an Options.Out that a test may read while the stack writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
}
