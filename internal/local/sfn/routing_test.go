package sfn

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// TestRoutingFidelity starts 10,000 executions through an alias at 90/10 and checks the
// split with a chi-square test (1 degree of freedom, p > 0.001: statistic < 10.83). The
// counts come back from ListExecutions on the alias ARN, grouped by stateMachineVersionArn,
// as the controller counts them.
func TestRoutingFidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 executions")
	}
	const n = 10000
	for _, seed := range []uint64{42} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			h := newHarness(t, withSeed(seed), func(o *Options) { o.Bus, o.Metrics = nil, nil })
			v1, v2, prod := routedFixture(t, h, passDefN)
			for i := 0; i < n; i++ {
				if _, err := h.svc.StartExecution(ctx(), prod, "", "{}"); err != nil {
					t.Fatal(err)
				}
			}
			counts := map[string]int{}
			var token *string
			for {
				out, err := h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(prod), MaxResults: 1000, NextToken: token})
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range out.Executions {
					counts[aws.ToString(x.StateMachineVersionArn)]++
				}
				if token = out.NextToken; token == nil {
					break
				}
			}
			if counts[v1]+counts[v2] != n {
				t.Fatalf("counts %v", counts)
			}
			chi2 := chiSquare([]int{counts[v1], counts[v2]}, []float64{0.9 * n, 0.1 * n})
			t.Logf("v1 %d v2 %d chi2 %.3f", counts[v1], counts[v2], chi2)
			if chi2 >= 10.83 {
				t.Errorf("chi-square %.2f ≥ 10.83 (p ≤ 0.001): v1 %d v2 %d", chi2, counts[v1], counts[v2])
			}
		})
	}
}

func chiSquare(observed []int, expected []float64) float64 {
	sum := 0.0
	for i, o := range observed {
		d := float64(o) - expected[i]
		sum += d * d / expected[i]
	}
	return sum
}

func TestRoutingRepeatsWithTheSeed(t *testing.T) {
	draws := func(seed uint64) string {
		h := newHarness(t, withSeed(seed))
		_, _, prod := routedFixture(t, h, passDefN)
		s := ""
		for i := 0; i < 200; i++ {
			arn := h.start(t, prod, "", "{}")
			h.svc.mu.Lock()
			s += fmt.Sprint(h.svc.executions[arn].version)
			h.svc.mu.Unlock()
		}
		return s
	}
	if a, b := draws(7), draws(7); a != b {
		t.Errorf("the same seed drew\n%s\n%s", a, b)
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(0))
	v1 := h.publish(t, orders, passDefN(1))
	prod := h.alias(t, "prod", v1, 100)
	tests := []struct {
		name         string
		fault        core.Fault
		wantCode     string
		wantAttempts int64
	}{
		{name: "throttling at rate 1 is seen after the SDK's 3 attempts",
			fault:    core.Fault{Service: "states", Operation: "UpdateStateMachineAlias", Code: "ThrottlingException", Rate: 1},
			wantCode: "ThrottlingException", wantAttempts: 3},
		{name: "a server fault is retried too",
			fault:    core.Fault{Service: "states", Operation: "*", Code: "InternalServerError", Message: "boom", Status: 500, Rate: 1},
			wantCode: "InternalServerError", wantAttempts: 3},
		{name: "one injection, then the retry succeeds",
			fault:        core.Fault{Service: "states", Operation: "UpdateStateMachineAlias", Code: "ThrottlingException", Rate: 1, Remaining: 1},
			wantAttempts: 2},
		{name: "another service's fault is not ours",
			fault:        core.Fault{Service: "monitoring", Operation: "*", Code: "ThrottlingException", Rate: 1},
			wantAttempts: 1},
		{name: "latency only",
			fault:        core.Fault{Service: "states", Operation: "UpdateStateMachineAlias", Latency: 20 * time.Millisecond},
			wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.faults.Set([]core.Fault{tt.fault})
			defer h.faults.Set(nil)
			before := h.requests.Load()
			_, err := h.client.UpdateStateMachineAlias(ctx(), &awssfn.UpdateStateMachineAliasInput{StateMachineAliasArn: aws.String(prod), Description: aws.String("x")})
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, "")
			} else if err != nil {
				t.Fatal(err)
			}
			if got := h.requests.Load() - before; got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}
	t.Run("in-process StartExecution consults the faults", func(t *testing.T) {
		h.faults.Set([]core.Fault{{Service: "states", Operation: "StartExecution", Code: "ThrottlingException", Rate: 1}})
		defer h.faults.Set(nil)
		_, err := h.svc.StartExecution(ctx(), prod, "", "{}")
		if ae, ok := err.(*core.APIError); !ok || ae.Code != "ThrottlingException" {
			t.Errorf("got %v", err)
		}
	})
}

// frozenQuotas are buckets whose virtual clock never moves: a spent token never comes back
// during the test, so the counts are exact.
func frozenQuotas(table []core.Quota) *core.Quotas {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return core.NewQuotas(core.NewClockOn(3600, func() time.Time { return at }), table)
}

func TestQuotas(t *testing.T) {
	h := newHarness(t, withQuotas(frozenQuotas(core.AWSQuotas())))
	client := newClient(h.srv.URL, 1) // no retries: see each throttle
	h.machine(t, "orders", passDefN(0))
	v1 := h.publish(t, orders, passDefN(1))
	prod := h.alias(t, "prod", v1, 100)
	tests := []struct {
		name   string
		calls  int
		wantOK int
		call   func() error
	}{
		{"DescribeStateMachineAlias: burst 200", 205, 200, func() error {
			_, err := client.DescribeStateMachineAlias(ctx(), &awssfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(prod)})
			return err
		}},
		{"ListTagsForResource: burst 100", 103, 100, func() error {
			_, err := client.ListTagsForResource(ctx(), &awssfn.ListTagsForResourceInput{ResourceArn: aws.String(orders)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, throttled := 0, 0
			for range tt.calls {
				err := tt.call()
				var ae smithy.APIError
				switch {
				case err == nil || (errors.As(err, &ae) && ae.ErrorCode() != "ThrottlingException"):
					ok++ // let through by the quota
				default:
					wantAPIError(t, err, "ThrottlingException", "Rate exceeded")
					if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
						t.Fatalf("the SDK does not see %v as throttling", err)
					}
					throttled++
				}
			}
			if ok != tt.wantOK || throttled != tt.calls-tt.wantOK {
				t.Errorf("%d let through, %d throttled; want %d let through", ok, throttled, tt.wantOK)
			}
		})
	}
	// Operations without a quota are never throttled.
	for i := 0; i < 300; i++ {
		if _, err := client.ListStateMachines(ctx(), &awssfn.ListStateMachinesInput{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestThrottledStartExecutionCounts(t *testing.T) {
	h := newHarness(t, withQuotas(frozenQuotas([]core.Quota{{Service: "states", Operation: "StartExecution", Burst: 2, Rate: 1}})))
	client := newClient(h.srv.URL, 1)
	h.machine(t, "orders", passDef)
	for i := 0; i < 3; i++ {
		_, err := client.StartExecution(ctx(), &awssfn.StartExecutionInput{StateMachineArn: aws.String(orders)})
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			wantAPIError(t, err, "ThrottlingException", "Rate exceeded")
		}
	}
	if sum, _ := h.metrics.sum("ExecutionThrottled", map[string]string{"StateMachineArn": orders}); sum != 1 {
		t.Errorf("ExecutionThrottled %v", sum)
	}
}

func TestCloseStopsExecutions(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", waitDef)
	arn := h.start(t, orders, "long", "{}")
	h.svc.Close()
	h.svc.mu.Lock()
	x := h.svc.executions[arn]
	h.svc.mu.Unlock()
	if s := x.snapshot().status; s != statusAborted {
		t.Errorf("after Close: %s", s)
	}
	_, err := h.client.StartExecution(ctx(), &awssfn.StartExecutionInput{StateMachineArn: aws.String(orders)})
	if err == nil {
		t.Error("started an execution after Close")
	}
	if got := h.bus.statuses(arn); len(got) != 1 {
		t.Errorf("Close emitted events: %v", got)
	}
	_ = sfntypes.ExecutionStatusAborted
}
