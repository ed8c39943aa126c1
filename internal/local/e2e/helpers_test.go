package e2e_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The suite runs every controller scenario through local mode with the real SDK clients.
// Scenarios without faults or traffic share one endpoint at speed 600 (a virtual minute is
// 100 ms), each on a state machine of its own; those that switch faults on, replace a
// function or send traffic start their own.

const (
	fastSpeed = 600
	// timeout bounds every wait in real time: generous, so that a busy machine does not
	// fail a test that is only slow (the whole suite shares two cores with the other packages).
	timeout = 90 * time.Second
	// samplePeriod is how often an alias's routing is read; a step lasts at least a
	// virtual minute (100 ms at speed 600).
	samplePeriod = 10 * time.Millisecond
	ciActor      = "ci-pipeline"
)

var (
	sharedOnce sync.Once
	sharedEnv  *localenv.Env
	sharedLog  *localenv.EventLog
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		sharedEnv.Close()
	}
	os.Exit(code)
}

// verbose prints the endpoint's event lines with -v.
func verbose() io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return nil
}

// shared is the endpoint that scenarios without faults share, with its event recorder.
func shared(t *testing.T) (*localenv.Env, *localenv.EventLog) {
	t.Helper()
	sharedOnce.Do(func() {
		ctx := context.Background()
		sharedEnv, sharedErr = localenv.Start(ctx, localenv.Options{Speed: fastSpeed, Seed: 11, Out: verbose()})
		if sharedErr != nil {
			return
		}
		sharedLog, sharedErr = sharedEnv.RecordRolloutEvents(ctx)
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedEnv, sharedLog
}

// ownEnv starts an endpoint for one test, closed when it ends.
func ownEnv(t testing.TB, speed float64, seed uint64) (*localenv.Env, *localenv.EventLog) {
	t.Helper()
	return ownEnvWith(t, localenv.Options{Speed: speed, Seed: seed})
}

// ownEnvWith is ownEnv with more options.
func ownEnvWith(t testing.TB, opts localenv.Options) (*localenv.Env, *localenv.EventLog) {
	t.Helper()
	ctx := context.Background()
	opts.Out = verbose()
	env, err := localenv.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	log, err := env.RecordRolloutEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return env, log
}

var examples sync.Map

func example(t testing.TB, name string) string {
	t.Helper()
	if v, ok := examples.Load(name); ok {
		return v.(string)
	}
	b, err := os.ReadFile("../../../statemachines/examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	examples.Store(name, string(b))
	return string(b)
}

// release is a healthy definition that differs from v1 and from every other release by
// its comment, so that each publishes a version of its own.
func release(t testing.TB, label string) string {
	return strings.Replace(example(t, "orders-v2.asl.json"), `"orders v2:`, `"orders `+label+`:`, 1)
}

// machine is a managed state machine under test: prod on v1.
type machine struct {
	t   *testing.T
	env *localenv.Env
	log *localenv.EventLog
	localenv.Managed
}

// machines numbers the state machines, so that a test run again (-count) on the shared
// endpoint names new ones.
var machines atomic.Int64

func uniqueName(name string) string { return fmt.Sprintf("%s-%d", name, machines.Add(1)) }

func newMachine(t *testing.T, env *localenv.Env, log *localenv.EventLog, name string) *machine {
	t.Helper()
	m, err := env.CreateManaged(context.Background(), uniqueName(name), "prod", example(t, "orders-v1.asl.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &machine{t: t, env: env, log: log, Managed: m}
}

// version is the ARN of version n.
func (m *machine) version(n int) string { return fmt.Sprintf("%s:%d", m.Arn, n) }

// upload puts a definition under <name>/prod/ with the policy as metadata, by ci-pipeline.
func (m *machine) upload(label, definition string, policy map[string]string) string {
	m.t.Helper()
	meta := map[string]string{"actor": ciActor}
	for k, v := range policy {
		meta[k] = v
	}
	id, err := m.env.Upload(context.Background(), m.Name, "prod", label, definition, meta)
	if err != nil {
		m.t.Fatal(err)
	}
	return id
}

func (m *machine) watch() *localenv.AliasWatch {
	return m.env.WatchAlias(context.Background(), m.AliasArn, "", samplePeriod)
}

func (m *machine) routing() string {
	m.t.Helper()
	r, err := m.env.Routing(context.Background(), m.AliasArn)
	if err != nil {
		m.t.Fatal(err)
	}
	return r
}

// waitFor waits for the record to satisfy done.
func (m *machine) waitFor(id, what string, done func(rollout.Rollout) bool) rollout.Rollout {
	m.t.Helper()
	r, err := m.env.Wait(context.Background(), id, timeout, done)
	if err != nil {
		m.t.Fatalf("waiting for %s: %v", what, err)
	}
	return r
}

// waitWeight waits until the rollout is at weight w in phase p and the alias shows it.
func (m *machine) waitWeight(id string, p rollout.Phase, w int) rollout.Rollout {
	m.t.Helper()
	r := m.waitFor(id, fmt.Sprintf("%s at %d%%", p, w), func(r rollout.Rollout) bool { return r.Phase == p && r.CandidateWeight == w })
	want := routingOf(r.StableVersionArn, 100-w, r.CandidateVersionArn, w)
	m.waitRouting(want)
	return r
}

// waitRouting waits until the alias routes as want.
func (m *machine) waitRouting(want string) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	got := ""
	for time.Now().Before(deadline) {
		if r, err := m.env.Routing(context.Background(), m.AliasArn); err == nil {
			if got = r; got == want {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.t.Fatalf("alias routes %q, want %q", got, want)
}

// finalized waits until the controller has finalized the rollout and returns its record.
func (m *machine) finalized(id string) rollout.Rollout {
	m.t.Helper()
	r, err := m.env.WaitFinalized(context.Background(), id, timeout)
	if err != nil {
		m.t.Fatal(err)
	}
	return r
}

// outcome waits for the rollout's outcome event, sent by Finalize.
func (m *machine) outcome(id, detailType string) localenv.RolloutEvent {
	m.t.Helper()
	ev, err := m.log.WaitRollout(context.Background(), id, detailType, timeout)
	if err != nil {
		m.t.Fatal(err)
	}
	return ev
}

func (m *machine) audit(id string) []controller.Event {
	m.t.Helper()
	var evs []controller.Event
	var err error
	for range 20 { // tried again under injected DynamoDB faults
		if evs, err = m.env.Audit(context.Background(), id); err == nil {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.t.Fatalf("audit trail of %s: %v", id, err)
	return nil
}

func (m *machine) versions() []string {
	m.t.Helper()
	out, err := m.env.SFN.ListStateMachineVersions(context.Background(), &sfn.ListStateMachineVersionsInput{StateMachineArn: aws.String(m.Arn)})
	if err != nil {
		m.t.Fatal(err)
	}
	var vs []string
	for _, v := range out.StateMachineVersions {
		vs = append(vs, label(aws.ToString(v.StateMachineVersionArn)))
	}
	slices.Sort(vs)
	return vs
}

func (m *machine) control(id string, cmd rollout.Command, actor string) controller.ControlResult {
	m.t.Helper()
	res, err := m.env.Control(context.Background(), id, cmd, actor)
	if err != nil {
		m.t.Fatalf("%s %s: %v", cmd, id, err)
	}
	return res
}

// routingOf is the routing string Env.Routing reads for these weights.
func routingOf(stable string, ws int, candidate string, wc int) string {
	var parts []string
	if ws > 0 {
		parts = append(parts, label(stable)+"="+fmt.Sprint(ws))
	}
	if wc > 0 {
		parts = append(parts, label(candidate)+"="+fmt.Sprint(wc))
	}
	return strings.Join(parts, " ")
}

func label(arn string) string { return "v" + arn[strings.LastIndexByte(arn, ':')+1:] }

// wantRoutings checks the alias's routing over time: every routing seen is one of want, in
// want's order, starting with the first and ending with the last. A step so short that no
// reading fell in it may be missing from got; the audit trail (wantWeights) has them all.
func wantRoutings(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) > 0 && got[0] == want[0] && got[len(got)-1] == want[len(want)-1]
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			ok = false
			break
		}
	}
	if !ok {
		t.Errorf("alias routing over time %q, want %q (in order; a step may be missed between readings)", got, want)
	}
	t.Logf("alias routing over time: %s", strings.Join(got, " → "))
}

// wantWeights checks the candidate weights of the audit trail, without repeats.
func wantWeights(t *testing.T, evs []controller.Event, want ...int) {
	t.Helper()
	var got []int
	for _, e := range evs {
		if len(got) == 0 || got[len(got)-1] != e.CandidateWeight {
			got = append(got, e.CandidateWeight)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("candidate weights in the audit trail %v, want %v\n%s", got, want, describeAudit(evs))
	}
}

func describeAudit(evs []controller.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %3d %s %-10s %-22s %-11s %3d%% %s\n", e.Seq, e.Time.Format("15:04:05.000"), e.Action, e.Actor, e.Phase, e.CandidateWeight, e.Reason)
	}
	return b.String()
}

// wantAudit checks that the trail starts with Prepared by the uploader and that its last
// decision, repairs aside, is last by one of actors.
func wantAudit(t *testing.T, evs []controller.Event, last rollout.Action, actors ...string) {
	t.Helper()
	if len(evs) < 2 {
		t.Fatalf("audit trail too short:\n%s", describeAudit(evs))
	}
	if evs[0].Action != "Prepared" || evs[0].Actor != ciActor {
		t.Errorf("first audit event %s by %s, want Prepared by %s", evs[0].Action, evs[0].Actor, ciActor)
	}
	decisions := withoutRepairs(evs)
	if l := decisions[len(decisions)-1]; l.Action != string(last) || !slices.Contains(actors, l.Actor) {
		t.Errorf("last audit decision %s by %s, want %s by %s\n%s", l.Action, l.Actor, last, strings.Join(actors, " or "), describeAudit(evs))
	}
}

// withoutRepairs leaves out the repairs of the alias: SetWeights that change neither the
// phase nor the weight. A tick that reads the alias while another writer (a command, an
// alarm's rollback) is between its record and its alias update repairs it too, which is
// harmless, and so may come after the decision it raced.
func withoutRepairs(evs []controller.Event) []controller.Event {
	var out []controller.Event
	for _, e := range evs {
		if n := len(out); n > 0 && e.Action == string(rollout.ActionSetWeights) && e.Phase == out[n-1].Phase && e.CandidateWeight == out[n-1].CandidateWeight {
			continue
		}
		out = append(out, e)
	}
	return out
}

// hasAudit reports whether some event of the trail has the action and actor.
func hasAudit(evs []controller.Event, action, actor string) bool {
	return slices.ContainsFunc(evs, func(e controller.Event) bool { return e.Action == action && e.Actor == actor })
}

// wantEvents checks the controller's events about a rollout, as a multiset (EventBridge
// delivers them to the recorder concurrently), and that every one carries the rollout's
// versions. An event may come twice: when two calls repair the same step at once (a tick
// and a command, or Lambda's retry of a tick that failed), both announce it, as
// EventBridge's at-least-once delivery might anyway; no event may be missing.
func wantEvents(t *testing.T, m *machine, r rollout.Rollout, want ...string) {
	t.Helper()
	sorted := slices.Sorted(slices.Values(want))
	// EventBridge delivers at least once and in no promised order: a step's event whose
	// delivery was retried on a busy machine may come after the outcome's. Wait for the
	// events to come, within the suite's bound, before judging them.
	var once []localenv.RolloutEvent
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		once = once[:0]
		seen := map[string]bool{}
		var got []string
		for _, ev := range m.log.Rollout(r.ID) {
			k := fmt.Sprint(ev.DetailType, ev.Detail.Phase, ev.Detail.Step, ev.Detail.Weights)
			if !seen[k] {
				seen[k] = true
				once = append(once, ev)
				got = append(got, ev.DetailType)
			}
		}
		slices.Sort(got)
		if slices.Equal(got, sorted) || len(got) > len(sorted) || time.Now().After(deadline) {
			break
		}
	}
	checkEvents(t, m, r, once, want)
}

func checkEvents(t *testing.T, m *machine, r rollout.Rollout, evs []localenv.RolloutEvent, want []string) {
	t.Helper()
	var got []string
	for _, ev := range evs {
		got = append(got, ev.DetailType)
		d := ev.Detail
		if d.StableVersionArn != r.StableVersionArn || d.CandidateVersionArn != r.CandidateVersionArn || d.AliasArn != r.AliasArn || d.StateMachineArn != r.StateMachineArn {
			t.Errorf("%s event of %s names %s → %s on %s, want %s → %s on %s", ev.DetailType, r.ID,
				d.StableVersionArn, d.CandidateVersionArn, d.AliasArn, r.StableVersionArn, r.CandidateVersionArn, r.AliasArn)
		}
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("events of %s: %q, want %q; audit trail:\n%s", r.ID, got, want, describeAudit(m.audit(r.ID)))
	}
}

// wantOutcomeEvent checks the outcome event's detail against the record.
func wantOutcomeEvent(t *testing.T, ev localenv.RolloutEvent, r rollout.Rollout) {
	t.Helper()
	d := ev.Detail
	if d.Phase != r.Phase || d.Error != r.ErrorName || d.Weights != r.IntendedWeights() {
		t.Errorf("%s detail: phase %s error %q weights %+v; record: phase %s error %q weights %+v", ev.DetailType, d.Phase, d.Error, d.Weights, r.Phase, r.ErrorName, r.IntendedWeights())
	}
}

// wantExecutions checks the controller executions of a rollout: all ended, each with an
// outcome the controller state machine reaches without failing.
func wantExecutions(t *testing.T, m *machine, id string, n int) []localenv.ControllerExecution {
	t.Helper()
	xs, err := m.env.ControllerExecutions(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != n {
		t.Errorf("%d controller executions for %s, want %d", len(xs), id, n)
	}
	for _, x := range xs {
		if x.Status != sfntypes.ExecutionStatusSucceeded {
			t.Errorf("controller execution %s ended %s, want SUCCEEDED", x.Arn, x.Status)
		}
	}
	return xs
}

// wantSucceeded checks the record, alias, events and audit trail of a successful rollout.
func wantSucceeded(t *testing.T, m *machine, r rollout.Rollout, lastActor string) {
	t.Helper()
	wantSucceededRecord(t, m, r, lastActor)
	if got, want := m.routing(), label(r.CandidateVersionArn)+"=100"; got != want {
		t.Errorf("alias routes %q, want %q", got, want)
	}
}

// wantSucceededRecord is wantSucceeded without the live alias: for a rollout whose alias the
// next (queued) rollout may already be moving; the routing history says what it did.
func wantSucceededRecord(t *testing.T, m *machine, r rollout.Rollout, lastActor string) {
	t.Helper()
	if r.Phase != rollout.Succeeded || r.ErrorName != "" {
		t.Fatalf("rollout %s ended %s %s: %s", r.ID, r.Phase, r.ErrorName, r.Reason)
	}
	if r.IntendedWeights() != (rollout.Weights{Stable: 0, Candidate: 100}) || r.FinishedAt.IsZero() || r.Reason == "" {
		t.Errorf("record of a finished rollout: weights %+v finished %s reason %q", r.IntendedWeights(), r.FinishedAt, r.Reason)
	}
	wantOutcomeEvent(t, m.outcome(r.ID, topology.DetailRolloutSucceeded), r)
	wantAudit(t, m.audit(r.ID), rollout.ActionFinish, lastActor)
}
