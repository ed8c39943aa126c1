package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// overtakenAliases holds one alias update (the first that sets armed's weight) inside the
// call until the alias shows want, or a while has passed: a write sent before a
// superseding upload and delivered after the next rollout started, as a slow network or a
// retrying SDK can deliver it.
type overtakenAliases struct {
	controller.Aliases
	env interface {
		Routing(context.Context, string) (string, error)
	}
	armed   atomic.Int32 // the candidate weight to hold back; 0 = none
	want    atomic.Value // string: the routing to wait for
	blocked chan struct{}
	done    chan error
}

func (a *overtakenAliases) Update(ctx context.Context, aliasArn string, routing []rollout.Route) error {
	w := a.armed.Load()
	if w == 0 || len(routing) != 2 || routing[1].Weight != int(w) || !a.armed.CompareAndSwap(w, 0) {
		return a.Aliases.Update(ctx, aliasArn, routing)
	}
	close(a.blocked)
	want := a.want.Load().(string)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got, err := a.env.Routing(context.Background(), aliasArn); err == nil && got == want {
			break
		}
	}
	err := a.Aliases.Update(ctx, aliasArn, routing)
	a.done <- err
	return err
}

// Issue 9, case 4, end to end: a tick of H sends its step to 20%; before the write lands, a
// superseding upload aborts H and the next rollout N takes its first step. H's write never
// lands: N is not paused on drift it did not cause, and the alias never routes to H's
// aborted candidate after N started.
func TestSupersededRolloutsLateWriteNeverLands(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, fastSpeed, 41)
	ctl := *env.Deployment.Controller
	aliases := &overtakenAliases{Aliases: ctl.Aliases, env: env, blocked: make(chan struct{}), done: make(chan error, 1)}
	ctl.Aliases = aliases
	if err := deploy.RegisterFunction(env.Stack, &ctl, "advance"); err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, env, log, "fenced-supersede")
	slow := map[string]string{"strategy": "LINEAR", "percentage": "10", "interval": "10m", "onBusy": "supersede"}
	h := m.upload("v2", release(t, "v2"), slow)
	m.waitWeight(h, rollout.Progressing, 10)
	aliases.want.Store(routingOf(m.version(1), 90, m.version(3), 10))
	aliases.armed.Store(20) // H's next tick, to 20%, is held inside its alias update
	<-aliases.blocked

	n := m.upload("v3", release(t, "v3"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "10m", "onBusy": "supersede"})
	lateErr := <-aliases.done
	t.Logf("H's held write answered: %v", lateErr)
	watch := m.watch()
	if got := m.routing(); got != routingOf(m.version(1), 90, m.version(3), 10) {
		t.Fatalf("alias after H's late write routes %q, want N's first step v1=90 v3=10", got)
	}
	rh := m.finalized(h)
	if rh.Phase != rollout.Aborted {
		t.Fatalf("H ended %s: %s", rh.Phase, rh.Reason)
	}
	rn := m.finalized(n)
	routings := watch.Stop()
	if rn.Phase != rollout.Succeeded {
		t.Fatalf("N ended %s: %s", rn.Phase, rn.Reason)
	}
	for _, e := range m.audit(n) {
		if e.Action == string(rollout.ActionPause) {
			t.Errorf("N paused: %s", e.Reason)
		}
	}
	for _, r := range routings {
		if strings.Contains(r, "v2") {
			t.Errorf("the alias routed to H's candidate after N started: %q (all: %q)", r, routings)
		}
	}
	wantExecutions(t, m, n, 1)
}

// failingQueues fails Dequeue while failures remain, as a throttled DynamoDB does after the
// SDK's retries.
type failingQueues struct {
	controller.Queues
	failures atomic.Int32
	failed   atomic.Int32
}

func (s *failingQueues) Dequeue(ctx context.Context, aliasArn, rolloutID string) error {
	if s.failures.Add(-1) >= 0 {
		s.failed.Add(1)
		return fmt.Errorf("dequeue %s: ProvisionedThroughputExceededException: %w", rolloutID, controller.ErrThrottled)
	}
	return s.Queues.Dequeue(ctx, aliasArn, rolloutID)
}

// Issue 9, case 5, end to end: H's Finalize wakes the queued N, and its Dequeue is
// throttled. Finalize answers Transient, the controller state machine retries it, and the
// retry finds N's entry stale (N holds the lock already) and only dequeues it. A third
// upload Q queued while N runs waits for N: it is neither woken early nor refused on N's
// split alias, and N keeps its lock.
func TestThrottledDequeueNeverFreesALiveLock(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, fastSpeed, 42)
	ctl := *env.Deployment.Controller
	queues := &failingQueues{Queues: ctl.Queues}
	ctl.Queues = queues
	if err := deploy.RegisterFunction(env.Stack, &ctl, "finalize"); err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, env, log, "stale-queue")
	// turns names the rollout of each WaitForTurn registration once it has returned.
	turns := make(chan string, 8)
	register, err := wiring.Handler(env.Deployment.Controller, "register")
	if err != nil {
		t.Fatal(err)
	}
	env.Stack.Lambda.Register(topology.FunctionName(deploy.Prefix, "register"), func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		out, err := register(ctx, payload)
		var in controller.RegisterInput
		if json.Unmarshal(payload, &in) == nil && in.Wait == controller.WaitTurn && in.Prepare != nil {
			turns <- in.Prepare.RolloutID
		}
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	})
	lockHolder := func() string {
		t.Helper()
		h, err := env.Deployment.Controller.Locks.LockHolder(context.Background(), m.AliasArn)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	canary := map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "1h", "onBusy": "queue"}
	queue := func(label string, policy map[string]string) string {
		return m.upload(label, release(t, label), policy)
	}
	// queued also accepts what follows the queue (the turn came, or a refusal), so that a
	// wrong turn fails below instead of here.
	queued := func(r rollout.Rollout) bool {
		return strings.HasPrefix(r.Reason, "queued behind") || r.Phase != rollout.Pending || strings.HasPrefix(r.Reason, "its turn came")
	}

	h := queue("v2", canary)
	m.waitWeight(h, rollout.Progressing, 10)
	n := queue("v3", canary)
	m.waitFor(n, "N queued", queued)
	queues.failures.Store(1) // H's Finalize: the Dequeue of N, once woken, is throttled
	m.control(h, rollout.CommandAbort, "tester")
	m.finalized(h)
	rn := m.waitWeight(n, rollout.Progressing, 10)
	if queues.failed.Load() != 1 {
		t.Fatalf("Dequeue failed %d times, want once", queues.failed.Load())
	}

	q := queue("v4", map[string]string{"strategy": "ALL_AT_ONCE", "onBusy": "queue"})
	// Q's WaitForTurn reads the queue, where N's entry may still be: once it has returned,
	// the running N must still hold the alias.
	for id := ""; id != q; {
		select {
		case id = <-turns:
		case <-time.After(timeout):
			t.Fatal("Q's WaitForTurn never ran")
		}
	}
	if holder := lockHolder(); holder != n {
		t.Fatalf("after Q's WaitForTurn the lock is held by %q, not by the running N (%s)", holder, n)
	}
	if r, _, _ := env.Rollout(context.Background(), q); !strings.HasPrefix(r.Reason, "queued behind") {
		t.Fatalf("Q after its WaitForTurn: %s %s (%s), want still queued behind N", r.Phase, r.ErrorName, r.Reason)
	}
	// Abort N, which wakes Q.
	m.control(n, rollout.CommandAbort, "tester")
	rn = m.finalized(n)
	if rn.Phase != rollout.Aborted {
		t.Fatalf("N ended %s: %s", rn.Phase, rn.Reason)
	}
	rq := m.finalized(q)
	if rq.Phase != rollout.Succeeded {
		t.Fatalf("Q ended %s (%s): %s; it should have waited for N and then run", rq.Phase, rq.ErrorName, rq.Reason)
	}
	if rq.StableVersionArn != m.version(1) {
		t.Errorf("Q started over %s, want v1 (N's stable, after N was aborted)", label(rq.StableVersionArn))
	}
	wantExecutions(t, m, n, 1)
}
