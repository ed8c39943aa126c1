package budget_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/budget/budgettest"
)

var t0 = budgettest.T0

const api = budget.UpdateStateMachineAlias

func TestMemoryStoreContract(t *testing.T) {
	budgettest.StoreContract(t, func(*testing.T) budget.Store { return budget.NewMemory() })
}

func TestReserves(t *testing.T) {
	tests := []struct {
		name   string
		bucket budget.Bucket
		p      budget.Priority
		want   int
	}{
		{"rollback keeps nothing", budget.Bucket{Burst: 100, Refill: 1, Shared: true}, budget.Rollback, 0},
		{"repair keeps one for rollbacks", budget.Bucket{Burst: 100, Refill: 1, Shared: true}, budget.Repair, 1},
		{"forward keeps 3", budget.Bucket{Burst: 100, Refill: 1, Shared: true}, budget.Forward, 3},
		{"gc keeps 60", budget.Bucket{Burst: 100, Refill: 1, Shared: true}, budget.GC, 60},
		{"forward on a 200 bucket", budget.Bucket{Burst: 200, Refill: 20, Shared: true}, budget.Forward, 6},
		{"gc on a 200 bucket", budget.Bucket{Burst: 200, Refill: 1, Shared: true}, budget.GC, 120},
		{"forward may use all of a bucket rollbacks do not draw on", budget.Bucket{Burst: 100, Refill: 1}, budget.Forward, 0},
		{"repair too", budget.Bucket{Burst: 200, Refill: 1}, budget.Repair, 0},
		{"gc still comes last", budget.Bucket{Burst: 100, Refill: 1}, budget.GC, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.bucket.Reserve(tt.p); got != tt.want {
				t.Errorf("Reserve(%s) = %d, want %d", tt.p, got, tt.want)
			}
		})
	}
	// Each priority keeps at least what the one above it keeps, and every one leaves some
	// of the bucket to itself.
	for name, b := range budget.Quotas {
		prev := -1
		for _, p := range []budget.Priority{budget.Rollback, budget.Repair, budget.Forward, budget.GC} {
			r := b.Reserve(p)
			if r < prev || r >= b.Burst {
				t.Errorf("%s: Reserve(%s) = %d after %d, burst %d", name, p, r, prev, b.Burst)
			}
			prev = r
		}
	}
}

func TestPriorityTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	if got := budget.PriorityOf(ctx); got != budget.Forward {
		t.Errorf("no priority reads as %s, want forward", got)
	}
	if got := budget.PriorityOf(budget.WithPriority(ctx, budget.Rollback)); got != budget.Rollback {
		t.Errorf("PriorityOf = %s, want rollback", got)
	}
	if got := budget.PriorityOf(budget.WithPriority(ctx, budget.Priority(42))); got != budget.Forward {
		t.Errorf("an unknown priority reads as %s, want forward", got)
	}
}

// drain takes from the bucket at Repair until it holds exactly left tokens (left > Repair's
// reserve).
func drain(t *testing.T, b *budget.Budget, left int) {
	t.Helper()
	ctx := budget.WithPriority(context.Background(), budget.Repair)
	for range budget.Quotas[api].Burst - left {
		if err := b.Take(ctx, api); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHigherPrioritiesAndEarlierDueTakeFirst(t *testing.T) {
	clock := budgettest.NewManualClock(t0)
	b := budget.New(budget.NewMemory(), clock, nil)
	drain(t, b, budget.Quotas[api].Reserve(budget.Repair)+1) // one token above Repair's reserve
	if err := b.Take(budget.WithPriority(context.Background(), budget.Repair), api); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(name string, p budget.Priority, due time.Time) {
		ctx := budget.WithPriority(context.Background(), p)
		if !due.IsZero() {
			ctx = budget.WithDue(ctx, due)
		}
		wg.Go(func() {
			if err := b.Take(ctx, api); err != nil {
				t.Error(name, err)
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		})
	}
	// Arrival order is the reverse of the taking order: each newcomer goes first in line
	// and sleeps until the refill would serve it.
	start("gc", budget.GC, time.Time{})
	clock.WaitSleepers(t, 1)
	start("forward due later", budget.Forward, t0.Add(-time.Minute))
	clock.WaitSleepers(t, 2)
	start("forward due first", budget.Forward, t0.Add(-time.Hour))
	clock.WaitSleepers(t, 3)
	start("repair", budget.Repair, time.Time{})
	clock.WaitSleepers(t, 4)
	// Each one that comes first sleeps until the refill serves it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		if clock.Sleepers() == 0 {
			time.Sleep(time.Millisecond) // a waiter between its take and its next sleep
			continue
		}
		clock.Advance(time.Second)
	}
	wg.Wait()
	want := []string{"repair", "forward due first", "forward due later", "gc"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

func TestAWaitBeyondTheDeadlineFailsAtOnce(t *testing.T) {
	clock := budgettest.NewManualClock(t0)
	b := budget.New(budget.NewMemory(), clock, nil)
	drain(t, b, budget.Quotas[api].Reserve(budget.Forward)) // the next forward token is a second away
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Take(ctx, api)
	if !errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted", err)
	}
	if waited := time.Since(start); waited > 100*time.Millisecond {
		t.Errorf("waited %s for a token a virtual second away with 200ms left", waited)
	}
	// The same holds for a GC take queued behind a waiting forward one.
	go func() {
		_ = b.Take(context.Background(), api)
	}()
	clock.WaitSleepers(t, 1)
	ctx, cancel = context.WithTimeout(budget.WithPriority(context.Background(), budget.GC), 200*time.Millisecond)
	defer cancel()
	if err := b.Take(ctx, api); !errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("queued GC take: err = %v, want ErrExhausted", err)
	}
	clock.Advance(time.Hour) // let the forward waiter go
}

// realClock is a manual clock whose seconds take a millisecond of wall time, as local
// mode's virtual clock at speed 1000.
type realClock struct{ *budgettest.ManualClock }

func (realClock) Real(d time.Duration) time.Duration { return d / 1000 }

func TestAWaitIsJudgedInWallTime(t *testing.T) {
	clock := realClock{budgettest.NewManualClock(t0)}
	b := budget.New(budget.NewMemory(), clock, nil)
	drain(t, b, budget.Quotas[api].Reserve(budget.Forward))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.Take(ctx, api) }()
	clock.WaitSleepers(t, 1) // it waits: a virtual second is a wall millisecond
	clock.Advance(time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

type failingStore struct{ err error }

func (f failingStore) Take(context.Context, budget.API, time.Time, time.Time, time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, f.err
}

func TestAStoreThatFails(t *testing.T) {
	boom := errors.New("table unreadable")
	clock := budgettest.NewManualClock(t0)
	b := budget.New(failingStore{boom}, clock, nil)

	// A rollback takes at once: the budget fails open for it.
	if err := b.Take(budget.WithPriority(context.Background(), budget.Rollback), api); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	b.Settle()

	// Any other priority waits, asking again, and fails at its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.Take(ctx, api)
	if !errors.Is(err, budget.ErrExhausted) || !errors.Is(err, boom) {
		t.Fatalf("forward: err = %v, want ErrExhausted and the store's error", err)
	}
}

func TestCancelledIsNotExhausted(t *testing.T) {
	clock := budgettest.NewManualClock(t0)
	b := budget.New(budget.NewMemory(), clock, nil)
	drain(t, b, budget.Quotas[api].Reserve(budget.Forward))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Take(ctx, api) }()
	clock.WaitSleepers(t, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("err = %v, want context.Canceled and not ErrExhausted", err)
	}
}

func TestUnknownAPI(t *testing.T) {
	b := budget.New(budget.NewMemory(), nil, nil)
	if err := b.Take(context.Background(), "StartExecution"); err == nil || errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
}

// benchClock moves a second on at every reading, so that every take finds a token: the
// benchmark measures a take, not a wait.
type benchClock struct{ n atomic.Int64 }

func (c *benchClock) Now() time.Time { return t0.Add(time.Duration(c.n.Add(1)) * time.Second) }

func (c *benchClock) Sleep(context.Context, time.Duration) error { return nil }

// BenchmarkTake is one forward take from the in-memory store.
func BenchmarkTake(b *testing.B) {
	bud := budget.New(budget.NewMemory(), &benchClock{}, nil)
	ctx := context.Background()
	for b.Loop() {
		if err := bud.Take(ctx, api); err != nil {
			b.Fatal(err)
		}
	}
}

// Rollbacks that AWS throttled reserve their turns one refill apart, behind every token
// taken before them, whatever the debt; a turn whose call AWS throttled all the same is
// given back, so that the next turn is not a second later than the bucket allows.
func TestReservedTurnsComeOneRefillApart(t *testing.T) {
	clock := budgettest.NewManualClock(t0)
	b := budget.New(budget.NewMemory(), clock, nil)
	q := budget.Quotas[api]
	drain(t, b, q.Reserve(budget.Repair)+1)
	rollback := budget.WithPriority(context.Background(), budget.Rollback)
	for range q.Reserve(budget.Repair) + 1 {
		if err := b.Take(rollback, api); err != nil {
			t.Fatal(err)
		}
	}
	b.Settle()
	var turns []time.Time
	for range 3 * q.Burst { // deeper than Debt: every waiting rollback gets a turn
		at, err := b.Reserve(rollback, api)
		if err != nil {
			t.Fatal(err)
		}
		turns = append(turns, at)
	}
	step := time.Duration(float64(time.Second) / q.Refill)
	if !turns[0].Equal(t0.Add(step)) {
		t.Errorf("first turn at %s, want %s: one refill after the bucket emptied", turns[0].Sub(t0), step)
	}
	for i := 1; i < len(turns); i++ {
		if d := turns[i].Sub(turns[i-1]); d != step {
			t.Fatalf("turn %d comes %s after the one before, want %s", i, d, step)
		}
	}
	b.Refund(rollback, api)
	at, err := b.Reserve(rollback, api)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(turns[len(turns)-1]) {
		t.Errorf("after a refund the next turn is at %s, want %s (the refunded one)", at.Sub(t0), turns[len(turns)-1].Sub(t0))
	}
	// Forward work waits until every turn is paid back.
	ctx, cancel := context.WithTimeout(budget.WithPriority(context.Background(), budget.Forward), 50*time.Millisecond)
	defer cancel()
	if err := b.Take(ctx, api); !errors.Is(err, budget.ErrExhausted) {
		t.Errorf("a forward take while rollbacks wait: err = %v, want ErrExhausted", err)
	}
}

// A turn the caller would not live to use is not kept: Reserve fails, and the turn goes to
// the next rollback.
func TestAnUnreachableTurnIsGivenBack(t *testing.T) {
	clock := budgettest.NewManualClock(t0)
	b := budget.New(budget.NewMemory(), clock, nil)
	rollback := budget.WithPriority(context.Background(), budget.Rollback)
	for range budget.Quotas[api].Burst + 60 { // a minute of turns ahead
		if _, err := b.Reserve(rollback, api); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(rollback, 30*time.Second)
	defer cancel()
	if _, err := b.Reserve(short, api); !errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("a turn a minute away with 30s left: err = %v, want ErrExhausted", err)
	}
	at, err := b.Reserve(rollback, api)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(61 * time.Second); !at.Equal(want) {
		t.Errorf("the next turn is at %s, want %s: the refused one was given back", at.Sub(t0), want.Sub(t0))
	}
}

// A writer that hands far turns over (WithHandOver) keeps a turn beyond its threshold,
// answered as a *LateTurn, even one past its deadline; a turn within the threshold is served
// as always, and WithoutHandOver restores giving an unreachable turn back.
func TestAFarTurnIsKeptForAHandOver(t *testing.T) {
	clock := budgettest.NewManualClock(t0)
	b := budget.New(budget.NewMemory(), clock, nil)
	rollback := budget.WithPriority(context.Background(), budget.Rollback)
	for range budget.Quotas[api].Burst + 60 { // a minute of turns ahead
		if _, err := b.Reserve(rollback, api); err != nil {
			t.Fatal(err)
		}
	}
	near := budget.WithHandOver(rollback, 2*time.Minute)
	if at, err := b.Reserve(near, api); err != nil || !at.Equal(t0.Add(61*time.Second)) {
		t.Fatalf("a turn within the threshold = %s, %v; want at 61s", at.Sub(t0), err)
	}
	short, cancel := context.WithTimeout(budget.WithHandOver(rollback, 30*time.Second), 10*time.Second)
	defer cancel()
	at, err := b.Reserve(short, api)
	var late *budget.LateTurn
	if !errors.As(err, &late) || !late.At.Equal(t0.Add(62*time.Second)) || !at.Equal(late.At) || errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("a turn beyond the threshold = %s, %v; want a LateTurn at 62s, kept", at.Sub(t0), err)
	}
	if _, err := b.Reserve(budget.WithoutHandOver(short), api); !errors.Is(err, budget.ErrExhausted) {
		t.Fatalf("without hand-over, a turn past the deadline: err = %v, want ErrExhausted", err)
	}
	if next, err := b.Reserve(rollback, api); err != nil || !next.Equal(t0.Add(63*time.Second)) {
		t.Errorf("the next turn = %s, %v; want 63s: the late turn is kept, the unreachable one given back", next.Sub(t0), err)
	}
}
