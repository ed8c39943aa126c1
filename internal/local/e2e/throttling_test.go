package e2e_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Throttling delays, never fails: a burst of uploads while Step Functions throttles every
// ValidateStateMachineDefinition, DescribeStateMachineAlias and UpdateStateMachine (the
// publish) for longer than a function invocation lasts. Each Prepare retries within its
// invocation, answers Throttled, and the controller state machine retries it until the
// throttling ends: every rollout succeeds, none is refused or fails. (On main, such a burst
// under `--quotas aws` failed 80 of 200 rollouts as Transient.)
func TestThrottledBurstOfUploads(t *testing.T) {
	t.Parallel()
	const (
		uploads = 20
		// The functions' timeout is cut from 60 s so that invocations run out of time
		// while the throttling lasts, and the state machine's Throttled retries are used.
		functionTimeout = 4 * time.Second
		throttleFor     = 7 * time.Second
		// Slower than fastSpeed: a rollout's deadline (twice its planned duration and an
		// hour) runs from the publish, which the throttling holds back; at speed 600 it is
		// 6 s of wall time, which twenty rollouts catching up at once on a busy machine can
		// outlast. At 120 it is 30 s.
		speed = 120
	)
	ctx := context.Background()
	env, err := localenv.Start(ctx, localenv.Options{Speed: speed, Seed: 28, Out: verbose(), FunctionTimeout: functionTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	log, err := env.RecordRolloutEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]*machine, uploads)
	for i := range ms {
		ms[i] = newMachine(t, env, log, "throttled-burst")
	}

	var faults []core.Fault
	for _, op := range []string{"ValidateStateMachineDefinition", "DescribeStateMachineAlias", "UpdateStateMachine"} {
		faults = append(faults, core.Fault{Service: "states", Operation: op, Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 1})
	}
	if err := env.SetFaults(ctx, faults...); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, uploads)
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			ids[i] = m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "50", "interval": "1m"})
		})
	}
	wg.Wait()
	time.Sleep(throttleFor)
	for i, m := range ms {
		if r, ok, err := env.Rollout(ctx, ids[i]); err == nil && ok && r.Phase.Terminal() {
			t.Errorf("%s: rollout %s ended %s while throttled: %s", m.Name, r.ID, r.Phase, r.Reason)
		}
	}
	if err := env.SetFaults(ctx); err != nil {
		t.Fatal(err)
	}

	throttled := 0
	for i, m := range ms {
		r := m.finalized(ids[i])
		if r.Phase != rollout.Succeeded {
			t.Errorf("%s: rollout %s ended %s %s: %s", m.Name, r.ID, r.Phase, r.ErrorName, r.Reason)
			continue
		}
		wantSucceeded(t, m, r, "controller")
		for _, x := range wantExecutions(t, m, ids[i], 1) {
			throttled += throttledAttempts(t, env, x.Arn)
		}
	}
	// Each upload was throttled for longer than one invocation: its Prepare answered
	// Throttled at least once, and the controller state machine retried it.
	if throttled < uploads {
		t.Errorf("%d Throttled answers in %d executions; want at least one each", throttled, uploads)
	}
	t.Logf("%d uploads throttled for %s: all succeeded after %d Throttled answers retried by the controller state machine", uploads, throttleFor, throttled)
}

// throttledAttempts counts the task attempts of an execution that failed with Throttled.
func throttledAttempts(t *testing.T, env *localenv.Env, executionArn string) int {
	t.Helper()
	n := 0
	p := sfn.NewGetExecutionHistoryPaginator(env.SFN, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(executionArn), MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			switch {
			case ev.LambdaFunctionFailedEventDetails != nil && aws.ToString(ev.LambdaFunctionFailedEventDetails.Error) == "Throttled",
				ev.TaskFailedEventDetails != nil && aws.ToString(ev.TaskFailedEventDetails.Error) == "Throttled":
				n++
			}
		}
	}
	return n
}
