package e2e_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/cloudwatchapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// An Express state machine rolls out as a Standard one does, with what Step Functions
// offers of Express executions: no ListExecutions or DescribeExecution, so the candidate is
// judged by its AWS/States metrics and its alarms alone, and pre-traffic tests run through
// the controller's startExecution.sync:2, which a Standard workflow may use on an Express
// one (the Request Response-only limit is on the Express workflow's own tasks).

// newExpressMachine is newMachine for an EXPRESS state machine.
func newExpressMachine(t *testing.T, env *localenv.Env, log *localenv.EventLog, name string) *machine {
	t.Helper()
	m, err := env.CreateManagedOfType(context.Background(), uniqueName(name), "prod", example(t, "orders-v1.asl.json"), sfntypes.StateMachineTypeExpress, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &machine{t: t, env: env, log: log, Managed: m}
}

// candidateCounts reads the candidate's (version 2's) executions from AWS/States metrics
// since from, as the controller does for an Express state machine.
func candidateCounts(t *testing.T, env *localenv.Env, m *machine, from time.Time) controller.Counts {
	t.Helper()
	n, err := cloudwatchapi.NewMetrics(env.CloudWatch).VersionCounts(context.Background(), controller.CountsQuery{
		StateMachineArn: m.Arn, VersionArn: m.version(2), From: from, To: env.Now().Add(time.Minute), Express: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantNoExecutionList checks that Step Functions refuses to list the state machine's
// executions, as AWS does for EXPRESS: whatever the controller judged, it judged without.
func wantNoExecutionList(t *testing.T, env *localenv.Env, m *machine) {
	t.Helper()
	_, err := env.SFN.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(m.AliasArn)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "StateMachineTypeNotSupported" {
		t.Errorf("ListExecutions on the Express alias: %v, want StateMachineTypeNotSupported", err)
	}
}

// expressPerSec is half the Standard scenarios' traffic: at speed 120 it still puts about 6
// executions a virtual minute on a 30% canary, enough for the alarm's first minute and for
// minExecutions 20 within four, and it keeps the package's load down on small machines.
const expressPerSec = trafficPerSec / 2

func TestExpressRollouts(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, trafficSpeed, 7)
	canary := map[string]string{"strategy": "CANARY", "percentage": "30", "interval": "10m"}

	t.Run("alarm", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		m := newExpressMachine(t, env, log, "express-alarm")
		alarm, err := env.AliasFailuresAlarm(ctx, m.Managed, "prod")
		if err != nil {
			t.Fatal(err)
		}
		traffic := env.StartTraffic(ctx, m.AliasArn, expressPerSec)
		defer traffic.Stop()
		watch := env.WatchAlias(ctx, m.AliasArn, alarm, 2*time.Millisecond)
		policy := map[string]string{"alarms": alarm}
		for k, v := range canary {
			policy[k] = v
		}
		id := m.upload("v2", example(t, "orders-v3-flaky.asl.json"), policy)
		r := m.finalized(id)
		watch.Stop()
		if errs := traffic.Stop(); errs > 0 {
			t.Errorf("%d StartExecution calls on the Express alias failed", errs)
		}

		if r.Phase != rollout.RolledBack || !strings.Contains(r.Reason, alarm) {
			t.Fatalf("rollout ended %s: %q; want RolledBack naming %s", r.Phase, r.Reason, alarm)
		}
		if r.StateMachineType != rollout.TypeExpress {
			t.Errorf("record's stateMachineType %q, want EXPRESS", r.StateMachineType)
		}
		wantRoutings(t, watch.Routings(), routings(m, []int{0, flakyCanaryPct, 0}))
		wantRolledBack(t, m, r, "alarm:"+alarm, "controller")
		logAlarmToStable(t, watch.Samples(), "v1=100")
		n := candidateCounts(t, env, m, r.TrafficStartedAt)
		t.Logf("the Express candidate's executions by its metrics: %+v", n)
		if n.Failed == 0 {
			t.Errorf("the flaky Express candidate failed no execution by its metrics: %+v", n)
		}
		wantNoExecutionList(t, env, m)
	})

	t.Run("failure rate", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		m := newExpressMachine(t, env, log, "express-rate")
		traffic := env.StartTraffic(ctx, m.AliasArn, expressPerSec)
		defer traffic.Stop()
		watch := m.watch()
		policy := map[string]string{"maxFailureRate": "10", "minExecutions": "20"}
		for k, v := range canary {
			policy[k] = v
		}
		id := m.upload("v2", example(t, "orders-v3-flaky.asl.json"), policy)
		r := m.finalized(id)
		traffic.Stop()

		if r.Phase != rollout.RolledBack || !strings.Contains(r.Reason, "failure rate") || !strings.Contains(r.Reason, "maxFailureRate 10%") {
			t.Fatalf("rollout ended %s: %q; want RolledBack on its failure rate", r.Phase, r.Reason)
		}
		if r.MetricsForm != rollout.MetricsFormNumber {
			t.Errorf("record's MetricsForm %q, want %q: the rate was read from the metrics", r.MetricsForm, rollout.MetricsFormNumber)
		}
		wantRoutings(t, watch.Stop(), routings(m, []int{0, flakyCanaryPct, 0}))
		wantRolledBack(t, m, r, "controller")
		wantNoExecutionList(t, env, m)
	})
}

// Pre-traffic tests of an Express candidate run as a Standard one's: the controller's
// startExecution.sync:2 waits for each Express test execution and reads its status.
func TestExpressPreTraffic(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	const (
		happy   = `{"input":{"orderId":"o-1","items":[{"sku":"a","qty":1}]},"expect":"SUCCEEDED"}`
		noItems = `{"input":{"orderId":"o-2"}}`
	)
	for _, tc := range []struct {
		name  string
		tests map[string]string
		want  rollout.Phase
	}{
		{"passing", map[string]string{"happy.json": happy, "no-items.json": strings.Replace(noItems, `}}`, `},"expect":"FAILED"}`, 1)}, rollout.Succeeded},
		{"failing", map[string]string{"happy.json": happy, "no-items.json": strings.Replace(noItems, `}}`, `},"expect":"SUCCEEDED"}`, 1)}, rollout.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := newExpressMachine(t, env, log, "express-pretraffic-"+tc.name)
			for file, body := range tc.tests {
				if err := env.Put(ctx, m.Name+"/prod/tests/"+file, body); err != nil {
					t.Fatal(err)
				}
			}
			watch := m.watch()
			id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "2m"})
			r := m.finalized(id)
			got := watch.Stop()

			// Both tests ran on the candidate version, and nothing else did (no traffic):
			// counted by the metrics, as Express executions cannot be listed.
			if n := candidateCounts(t, env, m, r.CreatedAt.Add(-time.Minute)); n.Started != 2 || n.Closed != 2 || n.Failed != 1 {
				t.Errorf("executions of v2 by its metrics: %+v, want the two tests, one FAILED", n)
			}
			if tc.want == rollout.Succeeded {
				wantRoutings(t, got, routings(m, []int{0, 10, 100}))
				wantSucceeded(t, m, r, "controller")
				return
			}
			if r.Phase != rollout.Failed || r.ErrorName != "PreTrafficFailed" || !strings.Contains(r.Reason, "no-items ended FAILED, expected SUCCEEDED") {
				t.Errorf("record: %s %s %q; want Failed PreTrafficFailed naming no-items", r.Phase, r.ErrorName, r.Reason)
			}
			if len(got) != 1 || got[0] != "v1=100" {
				t.Errorf("alias routing over time %q, want only v1=100", got)
			}
			wantOutcomeEvent(t, m.outcome(id, topology.DetailRolloutFailed), r)
		})
	}
}

// An Express upload with a task Express cannot run is refused by name, the alias untouched.
func TestExpressRefusesCallbackTasks(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	m := newExpressMachine(t, env, log, "express-refused")
	def := `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",` +
		`"Parameters":{"FunctionName":"approver","Payload":{"token.$":"$$.Task.Token"}},"End":true}}}`
	id := m.upload("v2", def, map[string]string{"strategy": "ALL_AT_ONCE"})
	r := m.finalized(id)
	if r.Phase != rollout.Failed || r.ErrorName != "InvalidDefinition" || !strings.Contains(r.Reason, "Express state machine does not support '.waitForTaskToken' service integration") {
		t.Fatalf("record: %s %s %q; want Failed InvalidDefinition naming .waitForTaskToken", r.Phase, r.ErrorName, r.Reason)
	}
	if got := m.routing(); got != "v1=100" {
		t.Errorf("alias routes %q, want v1=100", got)
	}
	if vs := m.versions(); len(vs) != 1 {
		t.Errorf("versions %v: the refused definition was published", vs)
	}
}

// StartSyncExecution reaches the endpoint through its router with the project's SDK client
// (sfnapi.ClientOptions keeps the endpoint's host for the SDK's sync- host prefix).
func TestExpressStartSyncExecutionThroughTheEndpoint(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	m := newExpressMachine(t, env, log, "express-sync")
	out, err := env.SFN.StartSyncExecution(context.Background(), &sfn.StartSyncExecutionInput{
		StateMachineArn: aws.String(m.AliasArn), Input: aws.String(`{"orderId":"o-1","items":[{"sku":"a","qty":1}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != sfntypes.SyncExecutionStatusSucceeded || !strings.Contains(aws.ToString(out.ExecutionArn), ":express:"+m.Name+":") {
		t.Errorf("answer %s %s: %s %s", out.Status, aws.ToString(out.ExecutionArn), aws.ToString(out.Error), aws.ToString(out.Cause))
	}
}
