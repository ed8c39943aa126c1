package e2e_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Pre-traffic tests (<sm>/<alias>/tests/*.json) run against the candidate version before
// any traffic moves; all must end as they expect.
func TestPreTraffic(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	const (
		happy   = `{"input":{"orderId":"o-1","items":[{"sku":"a","qty":1}]},"expect":"SUCCEEDED"}`
		noItems = `{"input":{"orderId":"o-2"}}`
	)
	tests := []struct {
		name  string
		tests map[string]string
		want  rollout.Phase
		// runs are the test executions on the candidate version, by status.
		runs string
	}{
		{
			name:  "passing",
			tests: map[string]string{"happy.json": happy, "no-items.json": strings.Replace(noItems, `}}`, `},"expect":"FAILED"}`, 1)},
			want:  rollout.Succeeded,
			runs:  "FAILED SUCCEEDED",
		},
		{
			name:  "failing",
			tests: map[string]string{"happy.json": happy, "no-items.json": strings.Replace(noItems, `}}`, `},"expect":"SUCCEEDED"}`, 1)},
			want:  rollout.Failed,
			runs:  "FAILED SUCCEEDED",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := newMachine(t, env, log, "pretraffic-"+tc.name)
			for file, body := range tc.tests {
				if err := env.Put(ctx, m.Name+"/prod/tests/"+file, body); err != nil {
					t.Fatal(err)
				}
			}
			watch := m.watch()
			id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "2m"})
			r := m.finalized(id)
			got := watch.Stop()

			// The tests ran on the candidate version, named after the rollout.
			out, err := env.SFN.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(m.version(2))})
			if err != nil {
				t.Fatal(err)
			}
			var runs []string
			for _, x := range out.Executions {
				if strings.HasPrefix(aws.ToString(x.Name), topology.PreTrafficExecutionPrefix+id+"-") {
					runs = append(runs, string(x.Status))
				}
			}
			slices.Sort(runs)
			if strings.Join(runs, " ") != tc.runs {
				t.Errorf("test executions on v2: %v, want %s", runs, tc.runs)
			}

			if tc.want == rollout.Succeeded {
				wantRoutings(t, got, routings(m, []int{0, 10, 100}))
				wantSucceeded(t, m, r, "controller")
				wantEvents(t, m, r, "Rollout Started", "Rollout Step", "Rollout Succeeded")
				return
			}
			if r.Phase != rollout.Failed || r.ErrorName != "PreTrafficFailed" || !strings.Contains(r.Reason, "no-items ended FAILED, expected SUCCEEDED") {
				t.Errorf("record: %s %s %q; want Failed PreTrafficFailed naming no-items", r.Phase, r.ErrorName, r.Reason)
			}
			// The alias never moved.
			if len(got) != 1 || got[0] != "v1=100" {
				t.Errorf("alias routing over time %q, want only v1=100", got)
			}
			ev := m.outcome(id, topology.DetailRolloutFailed)
			wantOutcomeEvent(t, ev, r)
			wantEvents(t, m, r, topology.DetailRolloutFailed)
			evs := m.audit(id)
			wantAudit(t, evs, rollout.ActionRollback, "controller")
			wantWeights(t, evs, 0)
			wantExecutions(t, m, id, 1)
		})
	}
}
