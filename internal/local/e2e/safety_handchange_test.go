package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// An operator rolls the alias back by hand right after a rollout succeeded. The ticks that
// run until Finalize (the outcome is lost for a while, so they go on) and Finalize itself
// leave the hand change alone, and report it once.
func TestHandRollbackAfterSuccessIsLeftAlone(t *testing.T) {
	t.Parallel()
	// Speed 60: the ticks after the end must stay well inside the 15 virtual minutes after
	// which an ended rollout whose outcome never arrived releases its alias on its own.
	env, log := ownEnv(t, 60, 32)
	ctx := context.Background()
	m := newMachine(t, env, log, "hand-rollback")
	// Every SendTaskSuccess fails: the record says Succeeded, the progress wait goes on, and
	// the schedule keeps ticking the ended rollout.
	if err := env.SetFaults(ctx, core.Fault{Service: "states", Operation: "SendTaskSuccess", Code: "ThrottlingException", Status: http.StatusBadRequest, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	id := m.upload("v2", release(t, "v2"), map[string]string{"strategy": "CANARY", "percentage": "20", "interval": "1m"})
	m.waitFor(id, "success", func(r rollout.Rollout) bool { return r.Phase == rollout.Succeeded })
	m.waitRouting("v2=100")

	if _, err := env.SFN.UpdateStateMachineAlias(ctx, &sfn.UpdateStateMachineAliasInput{
		StateMachineAliasArn: aws.String(m.AliasArn),
		RoutingConfiguration: []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(m.Version1), Weight: 100}},
	}); err != nil {
		t.Fatal(err)
	}
	overwritten := false
	r := m.waitFor(id, "the hand change to be reported or overwritten", func(r rollout.Rollout) bool {
		got, err := env.Routing(ctx, m.AliasArn)
		overwritten = err == nil && got != "v1=100"
		return r.DriftAfterEnd != "" || overwritten
	})
	if overwritten {
		t.Fatalf("the hand rollback was overwritten: alias routes %q (record %s: %s)", m.routing(), r.Phase, r.Reason)
	}
	// Let three more ticks come (virtual minutes) with the hand change in place.
	for until := env.Now().Add(3 * time.Minute); env.Now().Before(until); {
		time.Sleep(20 * time.Millisecond)
	}
	if got := m.routing(); got != "v1=100" {
		t.Fatalf("alias routes %q after the ticks, want the hand rollback v1=100 (reported %q)", got, r.DriftAfterEnd)
	}
	if err := env.SetFaults(ctx); err != nil {
		t.Fatal(err)
	}
	r = m.finalized(id)
	if got := m.routing(); got != "v1=100" {
		t.Errorf("alias routes %q after Finalize, want the hand rollback v1=100", got)
	}
	if r.Phase != rollout.Succeeded || r.DriftAfterEnd != "v1=100%" {
		t.Errorf("record %s, reported drift %q", r.Phase, r.DriftAfterEnd)
	}
	reports := 0
	for _, ev := range m.audit(id) {
		if ev.Action == string(rollout.ActionReportDrift) {
			reports++
			if !strings.Contains(ev.Reason, "v1=100%") || !strings.Contains(ev.Reason, "left alone") {
				t.Errorf("drift report %q", ev.Reason)
			}
		}
	}
	if reports != 1 {
		t.Errorf("%d drift reports in the audit trail, want 1\n%s", reports, describeAudit(m.audit(id)))
	}
}
