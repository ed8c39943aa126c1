package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Bad input is refused with its named error on the record and a "Rollout Failed" event;
// the alias and the versions stay as they were.
func TestRefusedUploads(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	tests := []struct {
		name       string
		unmanaged  bool   // the state machine lacks rollout:managed=true
		upload     string // the state machine the upload names, when not the one created
		definition string // an example file; a healthy release when ""
		policy     map[string]string
		wantError  string
		wantIn     string // in the reason
	}{
		{name: "unmanaged", unmanaged: true, wantError: "NotManaged", wantIn: topology.ManagedTag},
		{name: "malformed ASL", definition: "malformed.asl.json", wantError: "InvalidDefinition", wantIn: "not JSON"},
		{name: "invalid ASL", definition: "invalid-missing-next.asl.json", wantError: "InvalidDefinition", wantIn: "MISSING_TRANSITION_TARGET"},
		{name: "invalid policy", policy: map[string]string{"strategy": "CANARY", "percentage": "150", "interval": "5m"}, wantError: "InvalidPolicy", wantIn: `"percentage"`},
		{name: "missing alarm", policy: map[string]string{"strategy": "CANARY", "alarms": "no-such-alarm"}, wantError: "AlarmNotFound", wantIn: "no-such-alarm"},
		{name: "unknown state machine", upload: "refused-nobody", wantError: "StateMachineNotFound", wantIn: "refused-nobody"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			name := "refused-" + strings.ReplaceAll(tc.name, " ", "-")
			var m *machine
			if tc.unmanaged {
				m = unmanagedMachine(t, env, log, name)
			} else {
				m = newMachine(t, env, log, name)
			}
			watch := m.watch()
			def := release(t, "v2")
			if tc.definition != "" {
				def = example(t, tc.definition)
			}
			target := m
			if tc.upload != "" {
				target = &machine{t: t, env: env, log: log, Managed: localenv.Managed{Name: tc.upload}}
			}
			id := target.upload("v2", def, tc.policy)

			r := m.finalized(id)
			if r.Phase != rollout.Failed || r.ErrorName != tc.wantError || !strings.Contains(r.Reason, tc.wantIn) {
				t.Errorf("record: %s %s %q; want Failed %s naming %s", r.Phase, r.ErrorName, r.Reason, tc.wantError, tc.wantIn)
			}
			if r.FinishedAt.IsZero() || r.CandidateVersionArn != "" {
				t.Errorf("record of a refusal: finished %s, candidate %q", r.FinishedAt, r.CandidateVersionArn)
			}
			ev := m.outcome(id, topology.DetailRolloutFailed)
			wantOutcomeEvent(t, ev, r)
			if ev.Detail.Error != tc.wantError || !strings.Contains(ev.Detail.Reason, tc.wantIn) {
				t.Errorf("Rollout Failed detail: error %q reason %q; want %s naming %s", ev.Detail.Error, ev.Detail.Reason, tc.wantError, tc.wantIn)
			}
			wantEvents(t, m, r, topology.DetailRolloutFailed)
			evs := m.audit(id)
			if len(evs) != 1 || evs[0].Action != "Refused" || evs[0].Actor != "controller" || !strings.HasPrefix(evs[0].Reason, tc.wantError+": ") {
				t.Errorf("audit trail, want one Refused by controller:\n%s", describeAudit(evs))
			}
			wantExecutions(t, m, id, 1)
			// The alias and the versions are untouched.
			if got := watch.Stop(); len(got) != 1 || got[0] != "v1=100" {
				t.Errorf("alias routing over time %q, want only v1=100", got)
			}
			if vs := m.versions(); len(vs) != 1 {
				t.Errorf("versions %v, want v1 only", vs)
			}
			if tc.upload != "" {
				if _, err := env.SFN.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(r.StateMachineArn)}); err == nil {
					t.Errorf("%s exists after an upload for it", r.StateMachineArn)
				}
			}
		})
	}
}

// unmanagedMachine is a state machine with prod on v1 but without rollout:managed.
func unmanagedMachine(t *testing.T, env *localenv.Env, log *localenv.EventLog, name string) *machine {
	t.Helper()
	ctx := context.Background()
	name = uniqueName(name)
	out, err := env.SFN.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(example(t, "orders-v1.asl.json")), RoleArn: aws.String(deploy.RoleArn),
		Publish: true, Tags: []sfntypes.Tag{{Key: aws.String("team"), Value: aws.String("orders")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.SFN.CreateStateMachineAlias(ctx, &sfn.CreateStateMachineAliasInput{Name: aws.String("prod"),
		RoutingConfiguration: []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: out.StateMachineVersionArn, Weight: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	return &machine{t: t, env: env, log: log, Managed: localenv.Managed{Name: name, Arn: aws.ToString(out.StateMachineArn),
		AliasArn: aws.ToString(a.StateMachineAliasArn), Version1: aws.ToString(out.StateMachineVersionArn)}}
}
