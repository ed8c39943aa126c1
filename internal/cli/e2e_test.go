package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/cli"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The end-to-end tests run the CLI, as a user would, against one local endpoint with the
// controller deployed on it. At speed 600 a virtual minute, the controller's tick, takes a
// tenth of a second.
const speed = 600

var (
	envOnce sync.Once
	env     *localenv.Env
	envErr  error
)

func TestMain(m *testing.M) {
	// The CLI reads its resources and the caller from the environment: the tests give it
	// the endpoint by flag and nothing else.
	for _, name := range []string{"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "SFN_ROLLOUT_BUCKET", "SFN_ROLLOUT_TABLE", "SFN_ROLLOUT_CONTROL_FUNCTION"} {
		os.Unsetenv(name)
	}
	os.Setenv("USER", "tester")
	// No profile of the machine's may give the CLI a region or credentials.
	none := filepath.Join(os.TempDir(), "sfn-rollout-cli-test-no-aws-config")
	os.Setenv("AWS_CONFIG_FILE", none)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	code := m.Run()
	if env != nil {
		env.Close()
	}
	os.Exit(code)
}

// localEnv is the package's one local system, started by the first test that needs it.
func localEnv(t *testing.T) *localenv.Env {
	t.Helper()
	envOnce.Do(func() {
		var out io.Writer
		if os.Getenv("SFN_ROLLOUT_TEST_VERBOSE") != "" {
			out = os.Stderr
		}
		env, envErr = localenv.Start(context.Background(), localenv.Options{Speed: speed, Seed: 5, Out: out})
	})
	if envErr != nil {
		t.Fatalf("start the local endpoint: %v", envErr)
	}
	return env
}

type result struct {
	stdout, stderr string
	code           int
}

// sfnRollout runs the CLI against the local endpoint.
func sfnRollout(t *testing.T, args ...string) result {
	t.Helper()
	e := localEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := cli.Run(ctx, append([]string{"--endpoint", e.Stack.URL}, args...), &out, &errb)
	t.Logf("sfn-rollout %s → exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return result{out.String(), errb.String(), code}
}

// ok runs the CLI and wants exit 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := sfnRollout(t, args...)
	if r.code != 0 {
		t.Fatalf("sfn-rollout %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs the CLI and wants the exit code and one line on stderr that says want.
func fails(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := sfnRollout(t, args...)
	if r.code != code {
		t.Errorf("sfn-rollout %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), r.code, code, r.stderr)
	}
	oneLine(t, r.stderr, want)
	return r
}

func oneLine(t *testing.T, stderr, want string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "sfn-rollout: ") || !strings.Contains(stderr, want) {
		t.Errorf("stderr %q: want one line \"sfn-rollout: …%s…\"", stderr, want)
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr holds a stack trace: %q", stderr)
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// wantRolloutFields checks the JSON fields every rollout carries.
func wantRolloutFields(t *testing.T, s string) map[string]any {
	t.Helper()
	m := decode[map[string]any](t, s)
	for _, f := range []string{"rolloutId", "stateMachine", "alias", "phase", "stableVersion", "candidateVersion", "weights"} {
		if _, ok := m[f]; !ok {
			t.Errorf("JSON %s lacks %q", s, f)
		}
	}
	return m
}

func example(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "statemachines", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// release writes a distinct small definition to a file and returns its path.
func release(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".asl.json")
	def := fmt.Sprintf(`{"Comment":%q,"StartAt":"Done","States":{"Done":{"Type":"Pass","Result":%q,"End":true}}}`, name, name)
	if err := os.WriteFile(path, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func exampleFile(name string) string {
	return filepath.Join("..", "..", "statemachines", "examples", name)
}

// runs counts how often each test name base has been handed out in this process.
var runs = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// fresh answers base on its first use in this process and base-<n> on its n-th, so that
// every run of a test makes state machines of its own on the one local endpoint TestMain
// starts: the package passes under -count=N and -shuffle=on.
func fresh(base string) string {
	runs.Lock()
	defer runs.Unlock()
	runs.n[base]++
	if n := runs.n[base]; n > 1 {
		return fmt.Sprintf("%s-%d", base, n)
	}
	return base
}

// managed creates a managed state machine with alias prod at 100% on v1.
func managed(t *testing.T, name, definition string) localenv.Managed {
	t.Helper()
	m, err := localEnv(t).CreateManaged(context.Background(), name, "prod", definition, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// unmanaged creates a state machine with an alias but without the tag rollout:managed=true.
func unmanaged(t *testing.T, name, definition string) {
	t.Helper()
	ctx := context.Background()
	c := localEnv(t).SFN
	out, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(definition),
		RoleArn: aws.String(deploy.RoleArn), Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStateMachineAlias(ctx, &sfn.CreateStateMachineAliasInput{Name: aws.String("prod"),
		RoutingConfiguration: []sfntypes.RoutingConfigurationListItem{{StateMachineVersionArn: out.StateMachineVersionArn, Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
}

func finalized(t *testing.T, id string) rollout.Rollout {
	t.Helper()
	r, err := localEnv(t).WaitFinalized(context.Background(), id, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func deployedID(t *testing.T, args ...string) string {
	t.Helper()
	out := ok(t, append(args, "-o", "json")...)
	m := wantRolloutFields(t, out)
	return m["rolloutId"].(string)
}

func TestDeployWaitHealthy(t *testing.T) {
	smHealthy := fresh("cli-healthy")
	e := localEnv(t)
	m := managed(t, smHealthy, example(t, "orders-v1.asl.json"))
	traffic := e.StartTraffic(context.Background(), m.AliasArn, 50)
	defer traffic.Stop()

	out := ok(t, "deploy", smHealthy, "--file", exampleFile("orders-v2.asl.json"), "--name", "release-2",
		"--strategy", "LINEAR", "--percentage", "50", "--interval", "1m", "--bake-time", "1m", "--wait")
	for _, want := range []string{"uploaded s3://", smHealthy + "/prod/release-2.asl.json", "as tester: LINEAR 50% every 1m, bake 1m",
		"Progressing  step 2/3", "Phase:         Succeeded", "Alias routes:  v2 100%", "by tester"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy --wait printed no %q", want)
		}
	}
	traffic.Stop()
	id := strings.TrimSpace(strings.Fields(out[strings.Index(out, "Rollout:"):])[1])

	status := wantRolloutFields(t, ok(t, "status", id, "-o", "json"))
	if status["phase"] != "Succeeded" || status["actor"] != "tester" || status["weights"].(map[string]any)["candidate"] != float64(100) {
		t.Errorf("status %v", status)
	}
	if exec, _ := status["candidateExecutions"].(map[string]any); exec == nil || exec["started"].(float64) == 0 {
		t.Errorf("status counts no executions of the candidate under traffic: %v", status["candidateExecutions"])
	}
	if out := ok(t, "status", smHealthy+":prod"); !strings.Contains(out, id) {
		t.Errorf("status "+smHealthy+":prod does not show %s", id)
	}
	hist := ok(t, "history", smHealthy, "--alias", "prod")
	if !strings.Contains(hist, id) || !strings.Contains(hist, "Succeeded") || !strings.Contains(hist, "v1→v2") {
		t.Errorf("history:\n%s", hist)
	}
	show := decode[map[string]any](t, ok(t, "show", id, "-o", "json"))
	var actions []string
	for _, ev := range show["events"].([]any) {
		actions = append(actions, ev.(map[string]any)["action"].(string))
	}
	if got := strings.Join(actions, " "); !strings.HasPrefix(got, "Prepared SetWeights") || !strings.HasSuffix(got, "Finish") {
		t.Errorf("audit trail %s", got)
	}
	if table := ok(t, "show", id); !strings.Contains(table, "SEQ") || !strings.Contains(table, "Policy:         LINEAR 50% every 1m, bake 1m") {
		t.Errorf("show:\n%s", table)
	}
}

func TestDeployWaitFailingRollsBack(t *testing.T) {
	smFlaky := fresh("cli-flaky")
	e := localEnv(t)
	ctx := context.Background()
	m := managed(t, smFlaky, example(t, "orders-v1.asl.json"))
	alarm, err := e.AliasFailuresAlarm(ctx, m, "prod")
	if err != nil {
		t.Fatal(err)
	}
	// 100 executions a second are ten a virtual minute, five on a 50% canary, of which
	// orders-v3-flaky fails about 30%: the alarm sees a failure within a minute or two,
	// long before the canary's thirty minutes, which leave room for a machine too busy to
	// keep the traffic's pace.
	traffic := e.StartTraffic(ctx, m.AliasArn, 100)
	defer traffic.Stop()

	r := fails(t, 1, "RolledBack", "deploy", smFlaky, "--file", exampleFile("orders-v3-flaky.asl.json"),
		"--strategy", "CANARY", "--percentage", "50", "--interval", "30m", "--alarms", alarm, "--wait")
	oneLine(t, r.stderr, `alarm "`+alarm+`" is in ALARM`)
	if !strings.Contains(r.stdout, "Phase:         RolledBack") || !strings.Contains(r.stdout, alarm+" ALARM") && !strings.Contains(r.stdout, alarm+" OK") {
		t.Errorf("deploy --wait printed:\n%s", r.stdout)
	}
	traffic.Stop()
	if routing, _ := e.Routing(ctx, m.AliasArn); routing != "v1=100" {
		t.Errorf("alias routes %s after the rollback, want v1=100", routing)
	}
	status := sfnRollout(t, "status", smFlaky+":prod", "-o", "json")
	if status.code != 1 || wantRolloutFields(t, status.stdout)["phase"] != "RolledBack" {
		t.Errorf("status of a rolled-back rollout: exit %d, %s", status.code, status.stdout)
	}
	oneLine(t, status.stderr, "RolledBack")
}

func TestOperatorCommands(t *testing.T) {
	smOps := fresh("cli-ops")
	e := localEnv(t)
	ctx := context.Background()
	managed(t, smOps, example(t, "orders-v1.asl.json"))

	id := deployedID(t, "deploy", smOps, "--file", release(t, "ops-1"), "--strategy", "CUSTOM", "--steps", "weight:10,pause:24h,weight:50,approval")
	if _, err := e.Wait(ctx, id, 30*time.Second, func(r rollout.Rollout) bool { return r.Phase == rollout.Progressing && r.CandidateWeight == 10 }); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, "list", "--active"); !strings.Contains(out, id) || !strings.Contains(out, "Progressing") {
		t.Errorf("list --active:\n%s", out)
	}
	if out := ok(t, "status"); !strings.Contains(out, id) || !strings.Contains(out, "pause:24h") || !strings.Contains(out, "next weight after the pause") {
		t.Errorf("status of the active rollouts:\n%s", out)
	}

	fails(t, 1, "cannot approve: rollout "+id+" is not waiting for approval", "approve", id)
	paused := wantRolloutFields(t, ok(t, "pause", id, "--reason", "checking latency", "-o", "json"))
	if paused["phase"] != "Paused" || paused["pauseKind"] != "manual" || paused["command"] != "pause" || paused["by"] != "tester" ||
		!strings.Contains(paused["reason"].(string), "checking latency (by tester)") {
		t.Errorf("pause answered %v", paused)
	}
	fails(t, 1, "already paused", "pause", id)
	if out := ok(t, "resume", id); !strings.Contains(out, "resume "+id+": Progressing") {
		t.Errorf("resume printed %q", out)
	}
	if out := ok(t, "promote", id); !strings.Contains(out, "Paused (approval), candidate v2 50%") {
		t.Errorf("promote printed %q", out)
	}
	if out := ok(t, "status", id); !strings.Contains(out, "waits for approval: approve or promote") || !strings.Contains(out, "[██████████░░░░░░░░░░]  50%") {
		t.Errorf("status while waiting for approval:\n%s", out)
	}
	if out := ok(t, "approve", id, "--reason", "QA signed off"); !strings.Contains(out, "candidate v2 100%") || !strings.Contains(out, "QA signed off (by tester)") {
		t.Errorf("approve printed %q", out)
	}
	if r := finalized(t, id); r.Phase != rollout.Succeeded {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Reason)
	}
	show := ok(t, "show", id)
	for _, want := range []string{"operator:tester  Pause", "operator:tester  Resume", "operator:tester  Resume", "checking latency (by tester)", "QA signed off (by tester)"} {
		if !strings.Contains(show, want) {
			t.Errorf("the audit trail holds no %q:\n%s", want, show)
		}
	}
	fails(t, 1, "has ended Succeeded", "abort", id)

	// abort: the alias goes back to the stable version at once.
	id = deployedID(t, "deploy", smOps, "--file", release(t, "ops-2"), "--strategy", "CUSTOM", "--steps", "weight:20 pause:24h")
	if _, err := e.Wait(ctx, id, 30*time.Second, func(r rollout.Rollout) bool { return r.CandidateWeight == 20 }); err != nil {
		t.Fatal(err)
	}
	aborted := wantRolloutFields(t, ok(t, "abort", id, "--reason", "wrong build", "-o", "json"))
	if aborted["phase"] != "Aborted" || aborted["weights"].(map[string]any)["candidate"] != float64(0) {
		t.Errorf("abort answered %v", aborted)
	}
	finalized(t, id)
	fails(t, 1, "Aborted", "status", id)

	// promote --full: 100% at once.
	id = deployedID(t, "deploy", smOps, "--file", release(t, "ops-3"), "--strategy", "CUSTOM", "--steps", "weight:20 pause:24h")
	if _, err := e.Wait(ctx, id, 30*time.Second, func(r rollout.Rollout) bool { return r.CandidateWeight == 20 }); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, "promote", id, "--full"); !strings.Contains(out, "Succeeded, candidate v4 100%") {
		t.Errorf("promote --full printed %q", out)
	}
	finalized(t, id)

	// versions and gc: v1 (the first), v2 (ops-1), v3 (aborted ops-2), v4 (ops-3, on prod).
	versions := decode[[]map[string]any](t, ok(t, "versions", smOps, "-o", "json"))
	if len(versions) != 4 || versions[0]["number"] != float64(4) || len(versions[0]["aliases"].([]any)) != 1 {
		t.Fatalf("versions %v", versions)
	}
	if table := ok(t, "versions", smOps); !strings.Contains(table, "v4       ") || !strings.Contains(table, "prod 100%") {
		t.Errorf("versions:\n%s", table)
	}
	dry := decode[map[string]any](t, ok(t, "gc", smOps, "--keep", "1", "--dry-run", "-o", "json"))
	if fmt.Sprint(dry["inUse"]) != "[arn:aws:states:us-east-1:000000000000:stateMachine:"+smOps+":4]" || len(dry["kept"].([]any)) != 1 || len(dry["deleted"].([]any)) != 2 {
		t.Errorf("gc --dry-run %v", dry)
	}
	if n := len(decode[[]any](t, ok(t, "versions", smOps, "-o", "json"))); n != 4 {
		t.Errorf("gc --dry-run deleted versions: %d left", n)
	}
	if out := ok(t, "gc", smOps, "--keep", "1"); !strings.Contains(out, smOps+": deleted 2 of 4 versions") {
		t.Errorf("gc printed:\n%s", out)
	}
	if n := len(decode[[]any](t, ok(t, "versions", smOps, "-o", "json"))); n != 2 {
		t.Errorf("after gc --keep 1: %d versions, want 2", n)
	}

	list := decode[[]map[string]any](t, ok(t, "list", "-o", "json", "--limit", "0"))
	seen := 0
	for _, r := range list {
		if r["stateMachine"] == smOps {
			seen++
		}
	}
	if seen != 3 {
		t.Errorf("list shows %d rollouts of "+smOps+", want 3", seen)
	}
}

func TestStatusWatchFollowsToTheEnd(t *testing.T) {
	smWatch := fresh("cli-watch")
	managed(t, smWatch, example(t, "orders-v1.asl.json"))
	// A hold of ten virtual minutes is a second: time for several frames.
	id := deployedID(t, "deploy", smWatch, "--file", release(t, "watch-1"), "--strategy", "LINEAR", "--percentage", "50", "--interval", "10m")
	out := ok(t, "status", id, "--watch")
	frames := strings.Count(out, "Rollout:")
	if frames < 2 || !strings.Contains(out, "Phase:         Succeeded") || !strings.Contains(out, "[██████████░░░░░░░░░░]  50%") {
		t.Errorf("status --watch drew %d frames:\n%s", frames, out)
	}
	finalized(t, id)
}

func TestBadInput(t *testing.T) {
	smBad := fresh("cli-bad")
	smUnmanaged := fresh("cli-unmanaged")
	managed(t, smBad, example(t, "orders-v1.asl.json"))
	unmanaged(t, smUnmanaged, example(t, "orders-v1.asl.json"))
	v2 := exampleFile("orders-v2.asl.json")
	policy := filepath.Join(t.TempDir(), "rollout.json")
	if err := os.WriteFile(policy, []byte(`{"strategy":"LINEAR","percentage":150}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown state machine", []string{"deploy", "nope", "--file", v2}, 2, `state machine "nope" does not exist`},
		{"unmanaged state machine", []string{"deploy", smUnmanaged, "--file", v2}, 2, "is not managed: it lacks the tag rollout:managed=true"},
		{"unknown alias", []string{"deploy", smBad, "--alias", "staging", "--file", v2}, 2, `has no alias "staging"`},
		{"missing file", []string{"deploy", smBad, "--file", "/nonexistent/def.asl.json"}, 2, "cannot read the definition"},
		{"not JSON", []string{"deploy", smBad, "--file", exampleFile("malformed.asl.json")}, 2, "is not JSON"},
		{"invalid ASL", []string{"deploy", smBad, "--file", exampleFile("invalid-missing-next.asl.json")}, 2, "MISSING_TRANSITION_TARGET"},
		{"invalid policy flags", []string{"deploy", smBad, "--file", v2, "--strategy", "LINEAR", "--percentage", "150"}, 2, `invalid policy: policy field "percentage"`},
		{"interval below the tick", []string{"deploy", smBad, "--file", v2, "--interval", "30s"}, 2, "shorter than the controller's tick"},
		{"missing alarm", []string{"deploy", smBad, "--file", v2, "--alarms", "no-such-alarm"}, 2, "alarms that do not exist: no-such-alarm"},
		{"no file flag", []string{"deploy", smBad}, 2, `required flag(s) "file" not set`},
		{"unknown rollout id", []string{"show", "r-000000000000"}, 2, "no rollout r-000000000000"},
		{"not a rollout id", []string{"status", "r-nope"}, 2, `state machine "r-nope" does not exist`},
		{"command on an unknown rollout", []string{"approve", "r-000000000000"}, 2, "no rollout r-000000000000"},
		{"command on no rollout id", []string{"pause", "orders"}, 2, `"orders" is not a rollout id`},
		{"history of an unknown state machine", []string{"history", "nope"}, 2, `state machine "nope" does not exist`},
		{"versions of an unknown state machine", []string{"versions", "nope"}, 2, `state machine "nope" does not exist`},
		{"gc of an unknown state machine", []string{"gc", "nope", "--keep", "2"}, 2, `state machine "nope" does not exist`},
		{"gc keeping less than nothing", []string{"gc", smBad, "--keep", "-1"}, 2, "--keep -1"},
		{"a state machine without rollouts", []string{"status", smBad}, 1, smBad + " has no rollouts"},
		{"invalid policy file", []string{"policy", "validate", policy}, 2, `policy field "percentage"`},
		{"missing policy file", []string{"policy", "explain", "/nonexistent/rollout.json"}, 2, "cannot read the policy"},
		{"unknown command", []string{"rollback"}, 2, `unknown command "rollback"`},
		{"unknown flag", []string{"list", "--everything"}, 2, "unknown flag: --everything"},
		{"bad output format", []string{"list", "-o", "yaml"}, 2, `-o "yaml": want table or json`},
		{"too many arguments", []string{"show", "r-000000000000", "r-000000000001"}, 2, "accepts 1 arg(s), received 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fails(t, tc.code, tc.want, tc.args...)
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestNothingToDeployIsRefused(t *testing.T) {
	smSame := fresh("cli-same")
	managed(t, smSame, example(t, "orders-v1.asl.json"))
	r := fails(t, 1, "Failed (NothingToDeploy)", "deploy", smSame, "--file", exampleFile("orders-v1.asl.json"))
	if !strings.Contains(r.stdout, "Failed (NothingToDeploy)") {
		t.Errorf("deploy printed %q", r.stdout)
	}
}

func TestPolicyCommands(t *testing.T) {
	file := exampleFile("orders-rollout.json")
	if out := ok(t, "policy", "validate", file); !strings.Contains(out, "valid: LINEAR 25% every 1m, bake 2m, alarms orders-prod-failures; 7 steps, planned 5m") {
		t.Errorf("policy validate printed %q", out)
	}
	v := decode[map[string]any](t, ok(t, "policy", "validate", file, "-o", "json"))
	if v["valid"] != true || v["plannedDuration"] != "5m" {
		t.Errorf("policy validate -o json: %v", v)
	}
	out := ok(t, "policy", "explain", file)
	for _, want := range []string{"STEP  ACTION", "3     weight:50   50%        1m", "-     bake:2m     100%       3m", "planned duration 5m"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy explain printed no %q:\n%s", want, out)
		}
	}
}

func TestLocalCommandServesTheController(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		code  int
		want  string
	}{
		{"with the controller", nil, 0, "no rollouts"},
		{"without", []string{"--no-controller", "--lambda-concurrency", "8", "--quotas", "aws"}, 2, "has no controller deployed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan int, 1)
			go func() {
				done <- cli.Run(ctx, append([]string{"local", "--addr", "127.0.0.1:0", "--speed", "600"}, tc.flags...), pw, io.Discard)
				pw.Close()
			}()
			endpoint := ""
			lines := bufio.NewScanner(pr)
			for lines.Scan() {
				if rest, found := strings.CutPrefix(lines.Text(), "export AWS_ENDPOINT_URL="); found {
					endpoint = strings.Fields(rest)[0]
					break
				}
			}
			go io.Copy(io.Discard, pr)
			if endpoint == "" {
				cancel()
				t.Fatalf("sfn-rollout local exited %d without printing its endpoint", <-done)
			}
			var out, errb bytes.Buffer
			code := cli.Run(context.Background(), []string{"--endpoint", endpoint, "list"}, &out, &errb)
			cancel()
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("list against sfn-rollout local %v: exit %d, %q %q; want %d and %q", tc.flags, code, out.String(), errb.String(), tc.code, tc.want)
			}
			if code := <-done; code != 0 {
				t.Errorf("sfn-rollout local exited %d", code)
			}
		})
	}
}

func TestLocalRefusesBadFlags(t *testing.T) {
	for _, flags := range [][]string{{"--lambda-concurrency", "0"}, {"--quotas", "sometimes"}, {"--speed", "-1"}} {
		var errb bytes.Buffer
		code := cli.Run(context.Background(), append([]string{"local", "--addr", "127.0.0.1:0"}, flags...), io.Discard, &errb)
		if code == 0 || !strings.Contains(errb.String(), flags[0]) {
			t.Errorf("local %v: exit %d, %q; want a usage error that names %s", flags, code, errb.String(), flags[0])
		}
	}
}

func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	root := cli.NewRoot(io.Discard, io.Discard)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" || sub.Parent().Name() == "completion" {
				continue
			}
			if sub.Runnable() && sub.Example == "" {
				t.Errorf("%s has no examples in its --help", sub.CommandPath())
			}
			walk(sub)
		}
	}
	walk(root)
	var out bytes.Buffer
	if code := cli.Run(context.Background(), []string{"deploy", "--help"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "--bake-time") {
		t.Errorf("deploy --help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := cli.Run(context.Background(), []string{"completion", "bash"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}
