package stack_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/server"
	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

// Health can only be 503 before Start returns, which no caller of Start can see: what the
// stack promises is 200 from the moment it is handed out.
func TestHealthAndConfig(t *testing.T) {
	st := sharedStack(t)
	var health map[string]string
	if code := admin(t, st, http.MethodGet, "/_sfn-rollout/health", "", &health); code != http.StatusOK || health["status"] != "ok" {
		t.Errorf("health answered %d %v", code, health)
	}
	var cfg map[string]string
	if code := admin(t, st, http.MethodGet, "/_sfn-rollout/config", "", &cfg); code != http.StatusOK {
		t.Fatalf("config answered %d", code)
	}
	if cfg["region"] != "us-east-1" || cfg["account"] != "000000000000" || cfg["endpoint"] != st.URL {
		t.Errorf("config %v", cfg)
	}
	if code := admin(t, st, http.MethodGet, "/_sfn-rollout/nothing", "", nil); code != http.StatusNotFound {
		t.Errorf("an unknown admin path answered %d, want 404", code)
	}
}

func TestFaultsThroughAdminAPI(t *testing.T) {
	st := sharedStack(t)
	c := ctx(t)
	client := sfn.NewFromConfig(awsConfig(st))
	m := newMachine(t, c, client, unique("stack-faults"), 100)
	t.Cleanup(func() { admin(t, st, http.MethodDelete, "/_sfn-rollout/faults", "", nil) })

	var set []core.Fault
	body := `[{"service":"states","operation":"UpdateStateMachineAlias","code":"ThrottlingException","rate":1}]`
	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/faults", body, &set); code != http.StatusOK || len(set) != 1 || set[0].Code != "ThrottlingException" {
		t.Fatalf("PUT faults answered %d %+v", code, set)
	}
	update := func() error {
		_, err := client.UpdateStateMachineAlias(c, &sfn.UpdateStateMachineAliasInput{StateMachineAliasArn: aws.String(m.alias), RoutingConfiguration: m.routing(90)})
		return err
	}
	err := update()
	if code := apiCode(err); code != "ThrottlingException" {
		t.Fatalf("UpdateStateMachineAlias under the fault: %v, want ThrottlingException", err)
	}
	var attempts *retry.MaxAttemptsError
	if !errors.As(err, &attempts) || attempts.Attempt != 3 {
		t.Errorf("the SDK gave up with %v; want it to have retried the throttling to its 3 attempts", err)
	}
	// Other operations are untouched.
	if _, err := client.DescribeStateMachineAlias(c, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(m.alias)}); err != nil {
		t.Errorf("DescribeStateMachineAlias under a fault on UpdateStateMachineAlias: %v", err)
	}

	var listed []core.Fault
	if admin(t, st, http.MethodGet, "/_sfn-rollout/faults", "", &listed); len(listed) != 1 || listed[0].Operation != "UpdateStateMachineAlias" {
		t.Errorf("GET faults %+v", listed)
	}
	if code := admin(t, st, http.MethodDelete, "/_sfn-rollout/faults", "", &listed); code != http.StatusOK || len(listed) != 0 {
		t.Errorf("DELETE faults answered %d %+v", code, listed)
	}
	if err := update(); err != nil {
		t.Errorf("UpdateStateMachineAlias after DELETE: %v", err)
	}

	// A server fault on DynamoDB, once: the proxy answers 500, the SDK retries, and the
	// second attempt reaches dynalite.
	body = `[{"service":"dynamodb","operation":"ListTables","code":"InternalServerError","status":500,"rate":1,"remaining":1}]`
	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/faults", body, nil); code != http.StatusOK {
		t.Fatalf("PUT faults answered %d", code)
	}
	out, err := dynamodb.NewFromConfig(awsConfig(st)).ListTables(c, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables after one injected 500: %v", err)
	}
	if results, ok := retry.GetAttemptResults(out.ResultMetadata); !ok || len(results.Results) != 2 {
		t.Errorf("ListTables took %d attempts, want 2 (one 500, one success)", len(results.Results))
	}

	// Added latency, written as a duration.
	body = `[{"service":"states","operation":"DescribeStateMachineAlias","latency":"50ms"}]`
	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/faults", body, nil); code != http.StatusOK {
		t.Fatalf("PUT faults answered %d", code)
	}
	began := time.Now()
	if _, err := client.DescribeStateMachineAlias(c, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(m.alias)}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 50*time.Millisecond {
		t.Errorf("DescribeStateMachineAlias took %s under 50ms of injected latency", took)
	}

	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/faults", `{"not":"a list"}`, nil); code != http.StatusBadRequest {
		t.Errorf("PUT of a non-list answered %d, want 400", code)
	}
}

// Options.AWSQuotas is `--quotas aws`: UpdateStateMachineAlias has a burst of 100 and a
// refill of 1 a (virtual) second, so at speed 1 a quick burst of 130 gets about 30 throttled.
func TestAWSQuotasThrottleABurst(t *testing.T) {
	st := startStack(t, stack.Options{Speed: 1, AWSQuotas: true})
	c := ctx(t)
	client := sfn.NewFromConfig(awsConfig(st), func(o *sfn.Options) { o.RetryMaxAttempts = 1 })
	m := newMachine(t, c, client, "stack-quotas", 100)
	const calls = 130
	began := time.Now()
	var ok, throttled int
	for i := range calls {
		w := int32(90)
		if i%2 == 1 {
			w = 50
		}
		_, err := client.UpdateStateMachineAlias(c, &sfn.UpdateStateMachineAliasInput{StateMachineAliasArn: aws.String(m.alias), RoutingConfiguration: m.routing(w)})
		switch code := apiCode(err); {
		case err == nil:
			ok++
		case code == "ThrottlingException":
			throttled++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	refilled := int(time.Since(began).Seconds()) + 1
	if throttled == 0 || ok > 100+refilled {
		t.Errorf("%d calls in %s: %d accepted, %d throttled; want at most %d accepted", calls, time.Since(began), ok, throttled, 100+refilled)
	}
	// Other operations have their own buckets.
	if _, err := client.DescribeStateMachineAlias(c, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(m.alias)}); err != nil {
		t.Errorf("DescribeStateMachineAlias after the burst: %v", err)
	}
}

// Quotas are off by default and switched at run time, through PUT /_sfn-rollout/quotas or
// Stack.Quotas, for every service behind the router: a large test sets up fast, then
// measures under AWS's numbers. At speed 1, ListTagsForResource (100 burst, 1 a second) and
// DescribeAlarms (9, 9 a second) throttle a quick burst of 130 and 40 calls.
func TestQuotasSwitchedAtRunTime(t *testing.T) {
	st := startStack(t, stack.Options{Speed: 1})
	c := ctx(t)
	states := sfn.NewFromConfig(awsConfig(st), func(o *sfn.Options) { o.RetryMaxAttempts = 1 })
	monitoring := cloudwatch.NewFromConfig(awsConfig(st), func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 })
	arn := "arn:aws:states:us-east-1:000000000000:stateMachine:none"
	// burst makes n quick calls and counts those throttled, checking they are throttled as
	// the SDK's retryer understands throttling.
	burst := func(name string, n int, call func() error, code string) (throttled int) {
		for range n {
			err := call()
			if err == nil || apiCode(err) != code {
				continue
			}
			if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
				t.Fatalf("%s: the SDK does not see %v as throttling", name, err)
			}
			throttled++
		}
		return throttled
	}
	listTags := func() error {
		_, err := states.ListTagsForResource(c, &sfn.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		return err
	}
	describeAlarms := func() error {
		_, err := monitoring.DescribeAlarms(c, &cloudwatch.DescribeAlarmsInput{})
		return err
	}
	check := func(step string, wantMode core.QuotaMode, wantThrottled bool) {
		t.Helper()
		var got server.QuotasAnswer
		if code := admin(t, st, http.MethodGet, "/_sfn-rollout/quotas", "", &got); code != http.StatusOK || got.Mode != wantMode || len(got.Quotas) == 0 {
			t.Fatalf("%s: GET quotas answered %d %+v", step, code, got.Mode)
		}
		sfnThrottled := burst("ListTagsForResource", 130, listTags, "ThrottlingException")
		cwThrottled := burst("DescribeAlarms", 40, describeAlarms, "Throttling")
		if (sfnThrottled > 0) != wantThrottled || (cwThrottled > 0) != wantThrottled {
			t.Errorf("%s: %d of 130 ListTagsForResource and %d of 40 DescribeAlarms throttled; want throttling %v",
				step, sfnThrottled, cwThrottled, wantThrottled)
		}
	}
	check("by default", core.QuotasOff, false)
	var set server.QuotasAnswer
	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/quotas", `{"mode":"aws"}`, &set); code != http.StatusOK || set.Mode != core.QuotasAWS {
		t.Fatalf("PUT aws answered %d %+v", code, set.Mode)
	}
	check("after PUT aws", core.QuotasAWS, true)
	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/quotas", `{"mode":"off"}`, &set); code != http.StatusOK {
		t.Fatalf("PUT off answered %d", code)
	}
	check("after PUT off", core.QuotasOff, false)
	if err := st.Quotas.SetMode(core.QuotasAWS); err != nil {
		t.Fatal(err)
	}
	check("after Quotas.SetMode(aws)", core.QuotasAWS, true)
	if code := admin(t, st, http.MethodPut, "/_sfn-rollout/quotas", `{"mode":"sometimes"}`, nil); code != http.StatusBadRequest {
		t.Errorf("PUT of an unknown mode answered %d, want 400", code)
	}
}

func TestCloseStopsDynaliteAndFreesThePort(t *testing.T) {
	skipWithoutDynalite(t)
	st, err := stack.Start(context.Background(), stack.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	pid := st.Dynalite.PID()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("dynalite (pid %d) is not running while the stack is: %v", pid, err)
	}
	addr := strings.TrimPrefix(st.URL, "http://")
	st.Close()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("dynalite (pid %d) after Close: kill -0 gave %v, want ESRCH", pid, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is still held after Close: %v", err)
	}
	l.Close()
}

func TestStartRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:4599", ":4599", "192.0.2.10:4599", "[::]:4599", "example.com:4599", "127.0.0.1"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := stack.Start(ctx, stack.Options{Addr: addr})
			if err == nil {
				st.Close()
				t.Fatalf("Start on %s succeeded; want it refused", addr)
			}
			if addr != "127.0.0.1" && !strings.Contains(err.Error(), "loopback") {
				t.Errorf("Start on %s: %v; want an error that names loopback", addr, err)
			}
		})
	}
}
