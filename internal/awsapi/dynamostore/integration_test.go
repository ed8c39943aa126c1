package dynamostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

const smArn = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleRollout(id string, created time.Time, phase rollout.Phase) rollout.Rollout {
	ten, hundred := 10, 100
	return rollout.Rollout{
		ID:                  id,
		StateMachineArn:     smArn,
		StateMachineName:    "orders",
		AliasName:           "prod",
		AliasArn:            smArn + ":prod",
		StableVersionArn:    smArn + ":3",
		CandidateVersionArn: smArn + ":4",
		Policy: rollout.Policy{
			Strategy:   rollout.Canary,
			Percentage: 10,
			Interval:   rollout.Duration(5 * time.Minute),
			Alarms:     []string{"orders-errors", "orders-latency"},
		},
		PolicyHash: "sha256:abc",
		Layers: []rollout.Layer{{Source: "s3://artifacts/orders/prod/rollout.json", Fields: map[string]json.RawMessage{
			"strategy": json.RawMessage(`"CANARY"`), "alarms": json.RawMessage(`["orders-errors"]`),
		}}},
		Steps: []rollout.Step{
			{SetWeight: &ten},
			{Pause: &rollout.Pause{Duration: rollout.Duration(5 * time.Minute)}},
			{Pause: &rollout.Pause{}}, // an approval: a pause without a duration
			{Analysis: &rollout.Analysis{Duration: rollout.Duration(time.Minute), MinExecutions: 5}},
			{SetWeight: &hundred},
		},
		Phase:           phase,
		StepIndex:       1,
		CandidateWeight: 10,
		StepStartedAt:   created.Add(time.Second),
		CreatedAt:       created,
		UpdatedAt:       created,
		Actor:           "ci",
		Upload:          rollout.Upload{Bucket: "artifacts", Key: "orders/prod/definition.asl.json", VersionID: "v1"},
		TaskToken:       "token-" + id,
	}
}

func newStore(t *testing.T) (*dynamostore.Store, context.Context) {
	t.Helper()
	client := dynalite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := dynamostore.CreateTable(ctx, client, "rollouts"); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if err := dynamostore.CreateTable(ctx, client, "rollouts"); err != nil {
		t.Fatalf("CreateTable on an existing table: %v", err)
	}
	return dynamostore.New(client, "rollouts"), ctx
}

func ids(rs []rollout.Rollout) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestDynaliteRollouts(t *testing.T) {
	store, ctx := newStore(t)
	r := sampleRollout("r1", t0, rollout.Progressing)

	if err := store.CreateRollout(ctx, r); err != nil {
		t.Fatalf("CreateRollout: %v", err)
	}
	if err := store.CreateRollout(ctx, r); !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("CreateRollout again: got %v, want ErrConflict", err)
	}
	got, err := store.GetRollout(ctx, "r1")
	if err != nil {
		t.Fatalf("GetRollout: %v", err)
	}
	if !sameRollout(got, r) {
		t.Fatalf("GetRollout round trip:\n got %+v\nwant %+v", got, r)
	}
	if !got.Steps[2].Approval() {
		t.Errorf("the approval step came back as %+v", got.Steps[2])
	}
	if _, err := store.GetRollout(ctx, "nope"); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("GetRollout of a missing id: got %v, want ErrNotFound", err)
	}

	r.CandidateWeight = 20
	saved, err := store.SaveRollout(ctx, r)
	if err != nil {
		t.Fatalf("SaveRollout: %v", err)
	}
	if saved.Rev != 1 {
		t.Errorf("SaveRollout returned rev %d, want 1", saved.Rev)
	}
	if _, err := store.SaveRollout(ctx, r); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("SaveRollout with a stale rev: got %v, want ErrConflict", err)
	}
	if _, err := store.SaveRollout(ctx, sampleRollout("missing", t0, rollout.Progressing)); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("SaveRollout of a record that does not exist: got %v, want ErrConflict", err)
	}
	got, err = store.GetRollout(ctx, "r1")
	if err != nil || got.Rev != 1 || got.CandidateWeight != 20 {
		t.Errorf("after SaveRollout: rev %d weight %d err %v, want rev 1 weight 20", got.Rev, got.CandidateWeight, err)
	}
}

func TestDynaliteActiveAndHistory(t *testing.T) {
	store, ctx := newStore(t)
	// Sub-second creation times, one with trailing zeros, to catch a sort key that orders
	// as text and not as time.
	created := []time.Time{t0, t0.Add(500 * time.Millisecond), t0.Add(1230 * time.Millisecond)}
	for i, id := range []string{"a", "b", "c"} {
		if err := store.CreateRollout(ctx, sampleRollout(id, created[i], rollout.Progressing)); err != nil {
			t.Fatalf("CreateRollout %s: %v", id, err)
		}
	}
	other := sampleRollout("other", t0, rollout.Pending)
	other.StateMachineArn = smArn + "-other"
	if err := store.CreateRollout(ctx, other); err != nil {
		t.Fatal(err)
	}

	active, err := store.ListActive(ctx)
	if err != nil {
		t.Fatalf("ListActive: %v", err)
	}
	if got := ids(active); len(got) != 4 {
		t.Errorf("ListActive = %v, want the four running rollouts", got)
	}

	b, _ := store.GetRollout(ctx, "b")
	b.Phase = rollout.Succeeded
	if _, err := store.SaveRollout(ctx, b); err != nil {
		t.Fatalf("SaveRollout: %v", err)
	}
	active, err = store.ListActive(ctx)
	if err != nil {
		t.Fatalf("ListActive: %v", err)
	}
	if got, want := ids(active), []string{"a", "other", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListActive after b succeeded = %v, want %v (oldest first, b gone)", got, want)
	}
	running, err := store.ListRunning(ctx)
	if err != nil {
		t.Fatalf("ListRunning: %v", err)
	}
	if got, want := ids(running), []string{"a", "other", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListRunning after b succeeded = %v, want %v (b ended, not settled yet)", got, want)
	}
	b, _ = store.GetRollout(ctx, "b")
	b.Settled = true
	if _, err := store.SaveRollout(ctx, b); err != nil {
		t.Fatalf("SaveRollout: %v", err)
	}
	running, err = store.ListRunning(ctx)
	if err != nil {
		t.Fatalf("ListRunning: %v", err)
	}
	if got, want := ids(running), []string{"a", "other", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListRunning after b settled = %v, want %v", got, want)
	}

	// The sweep mark: absent, then the newest write, read strongly consistent.
	if at, err := store.SweepWanted(ctx); err != nil || !at.IsZero() {
		t.Errorf("SweepWanted before any mark = %v, %v; want zero", at, err)
	}
	for _, at := range []time.Time{t0, t0.Add(90 * time.Second)} {
		if err := store.WantSweep(ctx, at); err != nil {
			t.Fatalf("WantSweep: %v", err)
		}
		if got, err := store.SweepWanted(ctx); err != nil || !got.Equal(at) {
			t.Errorf("SweepWanted = %v, %v; want %v", got, err, at)
		}
	}

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{name: "all", limit: 0, want: []string{"c", "b", "a"}},
		{name: "limited", limit: 2, want: []string{"c", "b"}},
		{name: "above the count", limit: 10, want: []string{"c", "b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.History(ctx, smArn, tt.limit)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("History(limit %d) = %v, want %v", tt.limit, ids(got), tt.want)
			}
		})
	}
}

func TestDynaliteEvents(t *testing.T) {
	store, ctx := newStore(t)
	for _, e := range []controller.Event{
		{Seq: 2, Time: t0.Add(time.Minute), Actor: "advance", Action: "SetWeights", CandidateWeight: 20},
		{Seq: 1, Time: t0, Actor: "prepare", Action: "Start"},
		{Seq: 1, Time: t0, Actor: "prepare", Action: "Start"}, // a retried write
		{Seq: 10, Time: t0.Add(2 * time.Minute), Actor: "rollback", Action: "Rollback", Reason: "alarm orders-errors"},
	} {
		if err := store.AppendEvent(ctx, "r1", e); err != nil {
			t.Fatalf("AppendEvent %d: %v", e.Seq, err)
		}
	}
	events, err := store.ListEvents(ctx, "r1")
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Seq)
	}
	if want := []int64{1, 2, 10}; !reflect.DeepEqual(seqs, want) {
		t.Fatalf("ListEvents seqs = %v, want %v", seqs, want)
	}
	if events[2].Reason != "alarm orders-errors" || !events[2].Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("event 10 came back as %+v", events[2])
	}
}

func TestDynaliteLock(t *testing.T) {
	store, ctx := newStore(t)
	alias := smArn + ":prod"
	acquire := func(id string) func() (string, bool, error) {
		return func() (string, bool, error) { return store.AcquireLock(ctx, alias, id) }
	}
	release := func(id string) func() (string, bool, error) {
		return func() (string, bool, error) { return "", false, store.ReleaseLock(ctx, alias, id) }
	}
	steps := []struct {
		name         string
		do           func() (string, bool, error)
		wantHolder   string
		wantAcquired bool
		wantErr      error
	}{
		{"first acquire", acquire("r1"), "r1", true, nil},
		{"acquire again by the holder", acquire("r1"), "r1", false, nil},
		{"acquire by another", acquire("r2"), "r1", false, controller.ErrConflict},
		{"release by another does nothing", release("r2"), "", false, nil},
		{"still held", acquire("r2"), "r1", false, controller.ErrConflict},
		{"release by the holder", release("r1"), "", false, nil},
		{"release again", release("r1"), "", false, nil},
		{"acquire after release", acquire("r2"), "r2", true, nil},
	}
	for _, st := range steps {
		holder, acquired, err := st.do()
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		if holder != st.wantHolder || acquired != st.wantAcquired {
			t.Fatalf("%s: holder %q acquired %v, want %q %v", st.name, holder, acquired, st.wantHolder, st.wantAcquired)
		}
	}
	if holder, err := store.LockHolder(ctx, alias); err != nil || holder != "r2" {
		t.Fatalf("LockHolder = %q, %v; want r2", holder, err)
	}
}

func TestDynaliteQueue(t *testing.T) {
	store, ctx := newStore(t)
	alias := smArn + ":prod"
	for _, q := range []controller.Queued{
		{AliasArn: alias, RolloutID: "r2", TaskToken: "t2", QueuedAt: t0.Add(time.Second)},
		{AliasArn: alias, RolloutID: "r1", TaskToken: "t1", QueuedAt: t0.Add(500 * time.Millisecond)},
		{AliasArn: alias, RolloutID: "r3", TaskToken: "t3", QueuedAt: t0.Add(2 * time.Second)},
		{AliasArn: alias, RolloutID: "r1", TaskToken: "t1", QueuedAt: t0.Add(500 * time.Millisecond)}, // retried
		{AliasArn: smArn + ":beta", RolloutID: "x", TaskToken: "tx", QueuedAt: t0},
	} {
		if err := store.Enqueue(ctx, q); err != nil {
			t.Fatalf("Enqueue %s: %v", q.RolloutID, err)
		}
	}
	queueIDs := func() []string {
		t.Helper()
		q, err := store.Queue(ctx, alias)
		if err != nil {
			t.Fatalf("Queue: %v", err)
		}
		out := []string{}
		for _, e := range q {
			if e.TaskToken != "t"+e.RolloutID[1:] {
				t.Errorf("queued %s has token %q", e.RolloutID, e.TaskToken)
			}
			out = append(out, e.RolloutID)
		}
		return out
	}
	if got, want := queueIDs(), []string{"r1", "r2", "r3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Queue = %v, want %v", got, want)
	}
	if err := store.Dequeue(ctx, alias, "r2"); err != nil {
		t.Fatalf("Dequeue: %v", err)
	}
	if err := store.Dequeue(ctx, alias, "absent"); err != nil {
		t.Fatalf("Dequeue of an absent rollout: %v", err)
	}
	if got, want := queueIDs(), []string{"r1", "r3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Queue after Dequeue r2 = %v, want %v", got, want)
	}
}

func TestDynaliteGuards(t *testing.T) {
	store, ctx := newStore(t)
	if err := store.GuardAlarms(ctx, "r1", []string{"errors", "latency"}); err != nil {
		t.Fatal(err)
	}
	if err := store.GuardAlarms(ctx, "r2", []string{"errors"}); err != nil {
		t.Fatal(err)
	}
	guarded := func(alarm string) []string {
		t.Helper()
		got, err := store.GuardedBy(ctx, alarm)
		if err != nil {
			t.Fatalf("GuardedBy %s: %v", alarm, err)
		}
		return got
	}
	if got, want := guarded("errors"), []string{"r1", "r2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GuardedBy errors = %v, want %v", got, want)
	}
	if err := store.UnguardAlarms(ctx, "r1", []string{"errors", "latency", "never-guarded"}); err != nil {
		t.Fatal(err)
	}
	if got, want := guarded("errors"), []string{"r2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GuardedBy errors after unguard = %v, want %v", got, want)
	}
	if got := guarded("latency"); len(got) != 0 {
		t.Errorf("GuardedBy latency after unguard = %v, want none", got)
	}
}

type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time { return c.now }

func TestDynaliteClaimUpload(t *testing.T) {
	store, ctx := newStore(t)
	store.WithClock(fixedClock{t0})
	first := controller.UploadClaim{UploadID: "artifacts/orders/prod/a.asl.json#v1", RolloutID: "r1", Execution: "exec-1", ExpiresAt: t0.Add(24 * time.Hour)}
	if got, err := store.ClaimUpload(ctx, first); err != nil || got != first {
		t.Fatalf("first claim: %+v, %v", got, err)
	}
	again := first
	again.RolloutID, again.Execution = "r2", "exec-2"
	got, err := store.ClaimUpload(ctx, again)
	if !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("second claim: err %v, want ErrConflict", err)
	}
	if got != first {
		t.Errorf("second claim returned %+v, want the first claim %+v", got, first)
	}

	expired := controller.UploadClaim{UploadID: "artifacts/orders/prod/b.asl.json#v1", RolloutID: "r3", Execution: "exec-3", ExpiresAt: t0.Add(-time.Minute)}
	if _, err := store.ClaimUpload(ctx, expired); err != nil {
		t.Fatalf("claim: %v", err)
	}
	renewed := expired
	renewed.RolloutID, renewed.ExpiresAt = "r4", t0.Add(time.Hour)
	if got, err := store.ClaimUpload(ctx, renewed); err != nil || got != renewed {
		t.Errorf("claim over an expired claim: %+v, %v; want it to win", got, err)
	}
}

func TestDynaliteMissingTable(t *testing.T) {
	client := dynalite(t)
	store := dynamostore.New(client, "no-such-table")
	_, err := store.GetRollout(context.Background(), "r1")
	if err == nil || errors.Is(err, controller.ErrNotFound) {
		t.Errorf("GetRollout on a missing table: got %v, want an error that is not ErrNotFound", err)
	}
}

// sameRollout compares records, times by instant (a stored time comes back in UTC).
func sameRollout(a, b rollout.Rollout) bool {
	norm := func(r rollout.Rollout) rollout.Rollout {
		for _, t := range []*time.Time{&r.StepStartedAt, &r.BakeStartedAt, &r.TrafficStartedAt, &r.CreatedAt, &r.UpdatedAt, &r.FinishedAt, &r.Deadline} {
			*t = t.UTC()
		}
		return r
	}
	return reflect.DeepEqual(norm(a), norm(b))
}
