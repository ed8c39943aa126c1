package cloudwatch

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awscw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// frozenQuotas are AWS's buckets on a clock that never moves: a spent token never comes
// back during the test.
func frozenQuotas() *core.Quotas {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return core.NewQuotas(core.NewClockOn(1, func() time.Time { return at }), core.AWSQuotas())
}

// With quotas in force a call over its bucket is answered as CloudWatch answers throttling:
// the awsQuery code Throttling, which the real SDK client (RPC v2 CBOR) reports and its
// retryer takes for throttling; awsQuery clients get the same code in XML.
func TestThrottling(t *testing.T) {
	e := newEnv(t)
	e.svc.quotas = frozenQuotas()
	ctx := context.Background()
	tests := []struct {
		op    string
		burst int
		call  func() error
	}{
		{"DescribeAlarms", 9, func() error { _, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{}); return err }},
		{"DescribeAlarmHistory", 3, func() error {
			_, err := e.client.DescribeAlarmHistory(ctx, &awscw.DescribeAlarmHistoryInput{})
			return err
		}},
		{"ListMetrics", 25, func() error { _, err := e.client.ListMetrics(ctx, &awscw.ListMetricsInput{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			for i := range tt.burst {
				if err := tt.call(); err != nil {
					t.Fatalf("call %d within the burst of %d: %v", i+1, tt.burst, err)
				}
			}
			err := tt.call()
			wantAPIError(t, err, "Throttling", "Rate exceeded")
			if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
				t.Errorf("the SDK's retryer does not see %v as throttling", err)
			}
			if !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
				t.Errorf("the SDK's retryer would not retry %v", err)
			}
		})
	}

	resp, body := post(t, e, url.Values{"Action": {"DescribeAlarms"}, "Version": {"2010-08-01"}}.Encode(), form)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>") {
		t.Errorf("awsQuery over the burst: %d %s", resp.StatusCode, body)
	}

	if err := e.svc.quotas.SetMode(core.QuotasOff); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := e.client.DescribeAlarms(ctx, &awscw.DescribeAlarmsInput{}); err != nil {
			t.Fatalf("with quotas off: %v", err)
		}
	}
}
