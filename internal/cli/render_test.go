package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output")

const (
	smArn = "arn:aws:states:us-east-1:000000000000:stateMachine:orders"
	v1    = smArn + ":1"
	v2    = smArn + ":2"
	v3    = smArn + ":3"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func policyOf(t *testing.T, js string) rollout.Policy {
	t.Helper()
	p, err := rollout.ParsePolicy([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtures are records as the controller writes them, at fixed times.
func progressing(t *testing.T) rollout.Rollout {
	p := policyOf(t, `{"strategy":"LINEAR","percentage":25,"interval":"5m","bakeTime":"10m","alarms":["orders-prod-failures","orders-prod-latency"]}`)
	return rollout.Rollout{
		ID: "r-3f9a0c12d4e5", StateMachineArn: smArn, StateMachineName: "orders", AliasName: "prod", AliasArn: smArn + ":prod",
		StableVersionArn: v1, CandidateVersionArn: v2, Policy: p, PolicyHash: "5af2ed2fad03e1a3", Steps: p.Expand(),
		Phase: rollout.Progressing, StepIndex: 3, CandidateWeight: 50, PreviousWeight: 25,
		StepStartedAt: t0.Add(5 * time.Minute), TrafficStartedAt: t0, CreatedAt: t0.Add(-time.Minute), UpdatedAt: t0.Add(5 * time.Minute),
		Actor: "arn:aws:sts::123456789012:assumed-role/Deployer/alice", Reason: "step 3/7: candidate 50% (was 25%)",
		Upload: rollout.Upload{Bucket: "artifacts", Key: "orders/prod/release-42.asl.json", VersionID: "v42"},
	}
}

func awaitingApproval(t *testing.T) rollout.Rollout {
	p := policyOf(t, `{"strategy":"CUSTOM","steps":["weight:10","pause:10m","weight:50","approval"]}`)
	return rollout.Rollout{
		ID: "r-0b1c2d3e4f5a", StateMachineArn: smArn, StateMachineName: "orders", AliasName: "prod", AliasArn: smArn + ":prod",
		StableVersionArn: v2, CandidateVersionArn: v3, Policy: p, Steps: p.Expand(),
		Phase: rollout.Paused, PauseKind: rollout.PauseApproval, ResumePhase: rollout.Progressing, StepIndex: 3, CandidateWeight: 50, PreviousWeight: 10,
		StepStartedAt: t0.Add(12 * time.Minute), TrafficStartedAt: t0, CreatedAt: t0, UpdatedAt: t0.Add(12 * time.Minute),
		Actor: "bob", Reason: "step 4/5 waits for approval at 50%",
		Upload: rollout.Upload{Bucket: "artifacts", Key: "orders/prod/release-43.asl.json"},
	}
}

func rolledBack(t *testing.T) rollout.Rollout {
	p := policyOf(t, `{"strategy":"CANARY","percentage":10,"interval":"5m","alarms":["orders-prod-failures"]}`)
	return rollout.Rollout{
		ID: "r-77aa88bb99cc", StateMachineArn: smArn, StateMachineName: "orders", AliasName: "prod", AliasArn: smArn + ":prod",
		StableVersionArn: v1, CandidateVersionArn: v3, Policy: p, Steps: p.Expand(),
		Phase: rollout.RolledBack, StepIndex: 1, CandidateWeight: 0, PreviousWeight: 10,
		StepStartedAt: t0.Add(-58 * time.Minute), TrafficStartedAt: t0.Add(-58 * time.Minute), CreatedAt: t0.Add(-time.Hour),
		UpdatedAt: t0.Add(-56 * time.Minute), FinishedAt: t0.Add(-56 * time.Minute),
		Actor: "carol", Reason: `alarm "orders-prod-failures" is in ALARM`,
		Upload: rollout.Upload{Bucket: "artifacts", Key: "orders/prod/release-41.asl.json"},
	}
}

func refused() rollout.Rollout {
	return rollout.Rollout{
		ID: "r-c0ffee000001", StateMachineArn: smArn, StateMachineName: "orders", AliasName: "prod", AliasArn: smArn + ":prod",
		Phase: rollout.Failed, ErrorName: "NothingToDeploy", CreatedAt: t0.Add(-2 * time.Hour), UpdatedAt: t0.Add(-2 * time.Hour), FinishedAt: t0.Add(-2 * time.Hour),
		Actor: "dave", Reason: "orders/prod/again.asl.json is the definition of the stable version " + v1 + ": nothing to deploy",
		Upload: rollout.Upload{Bucket: "artifacts", Key: "orders/prod/again.asl.json"},
	}
}

func progressingStatus(t *testing.T) StatusView {
	return NewStatusView(progressing(t), []rollout.Route{{VersionArn: v1, Weight: 50}, {VersionArn: v2, Weight: 50}},
		map[string]rollout.AlarmState{"orders-prod-failures": rollout.AlarmOK}, &ExecutionsView{Started: 412, Closed: 405, Failed: 3, FailureRate: 0.7, DimensionForm: "number"}, t0.Add(7*time.Minute))
}

// golden compares out with testdata/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name string, out []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(out, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, out, want)
	}
}

// both renders v as a table and as JSON and compares each with its golden file.
func both(t *testing.T, name string, v any, table func(io.Writer) error) {
	t.Helper()
	var tb, jb bytes.Buffer
	if err := table(&tb); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(&jb, v); err != nil {
		t.Fatal(err)
	}
	golden(t, name+".table", tb.Bytes())
	golden(t, name+".json", jb.Bytes())
}

func TestGoldenStatus(t *testing.T) {
	for name, v := range map[string]StatusView{
		"status-progressing": progressingStatus(t),
		"status-approval": NewStatusView(awaitingApproval(t), []rollout.Route{{VersionArn: v2, Weight: 50}, {VersionArn: v3, Weight: 50}},
			nil, &ExecutionsView{}, t0.Add(20*time.Minute)),
		"status-rolledback": NewStatusView(rolledBack(t), []rollout.Route{{VersionArn: v1, Weight: 100}},
			map[string]rollout.AlarmState{"orders-prod-failures": rollout.AlarmAlarm}, &ExecutionsView{Started: 40, Closed: 40, Failed: 13, FailureRate: 32.5, DimensionForm: "arn"}, t0),
		"status-refused": NewStatusView(refused(), []rollout.Route{{VersionArn: v1, Weight: 100}}, nil, nil, t0),
	} {
		t.Run(name, func(t *testing.T) {
			both(t, name, v, func(w io.Writer) error { return RenderStatus(w, v) })
		})
	}
}

func TestGoldenList(t *testing.T) {
	views := []RolloutView{NewRolloutView(awaitingApproval(t)), NewRolloutView(progressing(t)), NewRolloutView(rolledBack(t)), NewRolloutView(refused())}
	both(t, "list", views, func(w io.Writer) error { return RenderList(w, views, t0.Add(20*time.Minute)) })
	both(t, "list-empty", []RolloutView{}, func(w io.Writer) error { return RenderList(w, nil, t0) })
}

func TestGoldenShow(t *testing.T) {
	r := rolledBack(t)
	events := []controller.Event{
		{Seq: 1, Time: t0.Add(-time.Hour), Actor: "carol", Action: "Prepared", Phase: rollout.Pending, Reason: "candidate " + v3 + " over stable " + v1 + "; steps weight:10 pause:5m weight:100"},
		{Seq: 3, Time: t0.Add(-58 * time.Minute), Actor: "controller", Action: "SetWeights", Phase: rollout.Progressing, StepIndex: 1, CandidateWeight: 10, Reason: "step 1/3: candidate 10% (was 0%)"},
		{Seq: 4, Time: t0.Add(-57 * time.Minute), Actor: "operator:arn:aws:sts::123456789012:assumed-role/Oncall/erin", Action: "Pause", Phase: rollout.Paused, StepIndex: 1, CandidateWeight: 10, Reason: "paused by an operator: latency (by arn:aws:sts::123456789012:assumed-role/Oncall/erin)"},
		{Seq: 5, Time: t0.Add(-56 * time.Minute), Actor: "alarm:orders-prod-failures", Action: "Rollback", Phase: rollout.RolledBack, StepIndex: 1, Reason: `alarm "orders-prod-failures" is in ALARM`},
	}
	v := NewShowView(r, events)
	both(t, "show", v, func(w io.Writer) error { return RenderShow(w, v) })
}

func TestGoldenDeployAndControl(t *testing.T) {
	d := DeployView{RolloutView: NewRolloutView(progressing(t)), Bucket: "artifacts", Key: "orders/prod/release-42.asl.json", VersionID: "v42"}
	both(t, "deploy", d, func(w io.Writer) error { return RenderDeploy(w, d) })
	approved := awaitingApproval(t)
	approved.Phase, approved.PauseKind, approved.ResumePhase, approved.StepIndex, approved.CandidateWeight = rollout.Progressing, "", "", 5, 100
	c := ControlView{RolloutView: NewRolloutView(approved), Command: "approve", By: "bob"}
	c.Reason = "step 5/5: candidate 100% (was 50%); all steps done: finishing at the next tick: QA signed off (by bob)"
	both(t, "control", c, func(w io.Writer) error { return RenderControl(w, c) })
}

func TestGoldenVersionsAndGC(t *testing.T) {
	views := []VersionView{
		{Version: v3, Number: 3, Description: "sfn-rollout r-0b1c2d3e4f5a from s3://artifacts/orders/prod/release-43.asl.json", Created: t0,
			Aliases: []AliasRouteView{{Alias: "prod", Weight: 50}}, Executions: map[string]int{"SUCCEEDED": 120, "FAILED": 2, "RUNNING": 4}},
		{Version: v2, Number: 2, Created: t0.Add(-time.Hour), Aliases: []AliasRouteView{{Alias: "prod", Weight: 50}, {Alias: "canary", Weight: 100}},
			Executions: map[string]int{"SUCCEEDED": 1000}, More: true},
		{Version: v1, Number: 1, Created: t0.Add(-48 * time.Hour), Aliases: []AliasRouteView{}, Executions: map[string]int{"SUCCEEDED": 10, "ABORTED": 1, "TIMED_OUT": 1}},
	}
	both(t, "versions", views, func(w io.Writer) error { return RenderVersions(w, views) })
	// An Express state machine's versions are counted from AWS/States metrics, and say so.
	express := []VersionView{
		{Version: v3, Number: 3, Created: t0, Aliases: []AliasRouteView{{Alias: "prod", Weight: 100}},
			Executions: map[string]int{"SUCCEEDED": 95, "FAILED": 3, "TIMED_OUT": 2}, Source: SourceMetrics},
	}
	both(t, "versions-express", express, func(w io.Writer) error { return RenderVersions(w, express) })
	gc := GCView{StateMachine: "orders", Keep: 1, DryRun: true, InUse: []string{v3, v2}, Kept: []string{smArn + ":7"}, Deleted: []string{smArn + ":6", v1}, Refused: []string{}}
	both(t, "gc", gc, func(w io.Writer) error { return RenderGC(w, gc) })
}

func TestGoldenExplain(t *testing.T) {
	for name, js := range map[string]string{
		"explain-linear": `{"strategy":"LINEAR","percentage":25,"interval":"1m","bakeTime":"2m","alarms":["orders-prod-failures"]}`,
		"explain-custom": `{"strategy":"CUSTOM","steps":["weight:10","pause:5m","approval","weight:50","analysis:10m"],"bakeTime":"5m","maxFailureRate":2}`,
	} {
		t.Run(name, func(t *testing.T) {
			v := NewExplainView(policyOf(t, js))
			both(t, name, v, func(w io.Writer) error { return RenderExplain(w, v) })
		})
	}
}

func TestNextStep(t *testing.T) {
	p := progressing(t)
	baking := p
	baking.Phase, baking.StepIndex, baking.CandidateWeight, baking.BakeStartedAt = rollout.Baking, len(p.Steps), 100, t0
	pending := p
	pending.Phase, pending.StepIndex, pending.CandidateWeight = rollout.Pending, 0, 0
	atWeight := p
	atWeight.StepIndex = 4
	for _, tc := range []struct {
		name          string
		r             rollout.Rollout
		current, next string
		at            time.Time
	}{
		{"pause", p, "pause:5m", "next weight after the pause", t0.Add(10 * time.Minute)},
		{"weight", atWeight, "weight:75", "at the next tick", time.Time{}},
		{"bake", baking, "bake:10m", "succeeds after the bake", t0.Add(10 * time.Minute)},
		{"pending", pending, "", "first step at the first tick", time.Time{}},
		{"approval", awaitingApproval(t), "approval", "waits for approval: approve or promote", time.Time{}},
		{"ended", rolledBack(t), "", "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			current, next, at := nextStep(tc.r)
			if current != tc.current || next != tc.next || !at.Equal(tc.at) {
				t.Errorf("nextStep = %q, %q, %v; want %q, %q, %v", current, next, at, tc.current, tc.next, tc.at)
			}
		})
	}
}

func TestPolicyFlagsCoverEveryField(t *testing.T) {
	sample := map[string]string{"strategy": "LINEAR", "percentage": "10", "interval": "1m", "growthFactor": "2", "steps": "weight:10",
		"bakeTime": "1m", "alarms": "a", "maxFailureRate": "1", "minExecutions": "5", "onDrift": "pause", "onBusy": "queue",
		"onFailure": "pause", "preexistingAlarms": "block", "keepVersions": "3", "testAlias": "t", "approval": "true"}
	flags := map[string]bool{}
	for _, f := range policyFlags {
		flags[f.field] = true
		// The flag's name is the metadata key deploy writes: it must name its field.
		l, err := rollout.ParsePolicyMetadata(map[string]string{"rollout-" + f.flag: sample[f.field]})
		if _, ok := l.Fields[f.field]; err != nil || !ok {
			t.Errorf("metadata rollout-%s does not set field %s: %v", f.flag, f.field, err)
		}
	}
	for _, name := range rollout.FieldNames() {
		if !flags[name] {
			t.Errorf("policy field %s has no deploy flag", name)
		}
	}
}

func TestMetadataKeysOfFlagsResolve(t *testing.T) {
	meta := map[string]string{"rollout-strategy": "LINEAR", "rollout-percentage": "20", "rollout-interval": "2m", "rollout-bake-time": "5m",
		"rollout-max-failure-rate": "2", "rollout-min-executions": "50", "rollout-alarms": "a b", "rollout-keep-versions": "3", "rollout-actor": "alice"}
	l, err := rollout.ParsePolicyMetadata(meta)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rollout.Resolve(l)
	if err != nil {
		t.Fatal(err)
	}
	if p.Strategy != rollout.Linear || p.Percentage != 20 || p.BakeTime.D() != 5*time.Minute || p.MaxFailureRate != 2 || p.MinExecutions != 50 || len(p.Alarms) != 2 || p.KeepVersions != 3 {
		t.Errorf("resolved %+v", p)
	}
}

func TestOneLineAndExitCode(t *testing.T) {
	op := &smithy.OperationError{ServiceID: "SFN", OperationName: "DescribeStateMachine",
		Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized"}}
	err := fmt.Errorf("describe state machine orders: %w", op)
	if got, want := OneLine(err), "describe state machine orders: DescribeStateMachine: AccessDeniedException: User is not authorized"; got != want {
		t.Errorf("OneLine = %q, want %q", got, want)
	}
	if got := OneLine(errors.Join(errors.New("a"), errors.New("b"))); got != "a; b" {
		t.Errorf("OneLine of joined errors = %q", got)
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{usagef("bad"), ExitBadUsage},
		{fmt.Errorf("wrapped: %w", usagef("bad")), ExitBadUsage},
		{errors.New(`unknown command "x" for "sfn-rollout"`), ExitBadUsage},
		{errors.New("rollout r-1 RolledBack"), ExitFailed},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestSplitTarget(t *testing.T) {
	for in, want := range map[string][2]string{
		"orders":                        {"orders", ""},
		"orders:prod":                   {"orders", "prod"},
		smArn:                           {smArn, ""},
		smArn + ":prod":                 {smArn, "prod"},
		"arn:aws:states:us-east-1:0:x:": {"arn:aws:states:us-east-1:0:x:", ""},
	} {
		sm, alias := splitTarget(in)
		if sm != want[0] || alias != want[1] {
			t.Errorf("splitTarget(%q) = %q, %q; want %q, %q", in, sm, alias, want[0], want[1])
		}
	}
}

func TestBar(t *testing.T) {
	for w, want := range map[int]string{0: "[░░░░░░░░░░░░░░░░░░░░]   0%", 25: "[█████░░░░░░░░░░░░░░░]  25%", 100: "[████████████████████] 100%", 7: "[█░░░░░░░░░░░░░░░░░░░]   7%"} {
		if got := Bar(w); got != want {
			t.Errorf("Bar(%d) = %q, want %q", w, got, want)
		}
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 170 * time.Second: "2m50s", 3 * time.Minute: "3m", 80 * time.Minute: "1h20m",
		2 * time.Hour: "2h", 50 * time.Hour: "2d2h", 1500 * time.Millisecond: "2s",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestRolloutIDPatternMatchesTheController(t *testing.T) {
	for _, upload := range []string{"artifacts/orders/prod/a.asl.json#v1", "b/k#"} {
		if id := controller.RolloutID(upload); !rolloutIDPattern.MatchString(id) {
			t.Errorf("controller.RolloutID(%q) = %q, which the CLI does not take for a rollout id", upload, id)
		}
	}
}
