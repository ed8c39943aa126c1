package budgettest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
)

// T0 is where the contract's clocks start.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// api is the bucket the contract uses: the alias updates' (100 burst, 1 a second).
const api = budget.UpdateStateMachineAlias

var bucket = budget.Quotas[api]

func span(tokens float64) time.Duration {
	return time.Duration(tokens / bucket.Refill * float64(time.Second))
}

// take asks s for one token at now for a taker that keeps reserve tokens.
func take(ctx context.Context, s budget.Store, now time.Time, reserve int) (time.Time, bool, error) {
	return s.Take(ctx, api, now.Add(-span(float64(bucket.Burst))), now.Add(-span(float64(1+reserve))), span(1))
}

// Tokens reads what api's bucket holds at now, through a take no bucket can serve (its
// limit is before full), which stores nothing.
func Tokens(t testing.TB, s budget.Store, now time.Time) float64 {
	t.Helper()
	full := now.Add(-span(float64(bucket.Burst)))
	e, taken, err := s.Take(context.Background(), api, full, full.Add(-time.Nanosecond), span(1))
	if err != nil || taken {
		t.Fatalf("read the bucket: taken %v, %v", taken, err)
	}
	return bucket.Tokens(e, now)
}

// StoreContract runs the behaviour every budget.Store must have, on fresh stores from
// newStore, and the budget's guarantees over it: takes stop at the reserve, concurrent
// takers in many processes never take more than the bucket holds, and a rollback takes at
// once while forward work waits.
func StoreContract(t *testing.T, newStore func(t *testing.T) budget.Store) {
	ctx := context.Background()
	forward := bucket.Reserve(budget.Forward)

	t.Run("a bucket never written is full", func(t *testing.T) {
		s := newStore(t)
		e, taken, err := take(ctx, s, T0, forward)
		if err != nil || !taken {
			t.Fatalf("take = %v, %v", taken, err)
		}
		if got := bucket.Tokens(e, T0); got != float64(bucket.Burst-1) {
			t.Errorf("after one take the bucket holds %v, want %d", got, bucket.Burst-1)
		}
	})

	t.Run("takes stop at the reserve and resume with the refill", func(t *testing.T) {
		s := newStore(t)
		n := 0
		for {
			_, taken, err := take(ctx, s, T0, forward)
			if err != nil {
				t.Fatal(err)
			}
			if !taken {
				break
			}
			n++
		}
		if want := bucket.Burst - forward; n != want {
			t.Errorf("took %d at once, want %d (burst %d, reserve %d)", n, want, bucket.Burst, forward)
		}
		e, taken, err := take(ctx, s, T0, forward)
		if err != nil || taken {
			t.Fatalf("take at the reserve = %v, %v", taken, err)
		}
		if got := bucket.Tokens(e, T0); got != float64(forward) {
			t.Errorf("a refused take answers %v tokens, want %d", got, forward)
		}
		// A higher priority, with a smaller reserve, still takes.
		if _, taken, err := take(ctx, s, T0, bucket.Reserve(budget.Repair)); err != nil || !taken {
			t.Errorf("repair take at the forward reserve = %v, %v", taken, err)
		}
		later := T0.Add(5 * time.Second)
		n = 0
		for {
			_, taken, err := take(ctx, s, later, forward)
			if err != nil {
				t.Fatal(err)
			}
			if !taken {
				break
			}
			n++
		}
		if want := 5 - 1; n != want { // 5 s of refill, less the repair's token
			t.Errorf("took %d after 5 s, want %d", n, want)
		}
	})

	t.Run("an idle bucket refills to its burst and no further", func(t *testing.T) {
		s := newStore(t)
		for range 50 {
			if _, _, err := take(ctx, s, T0, forward); err != nil {
				t.Fatal(err)
			}
		}
		if got := Tokens(t, s, T0.Add(time.Hour)); got != float64(bucket.Burst) {
			t.Errorf("an hour later the bucket holds %v, want %d", got, bucket.Burst)
		}
		if got := Tokens(t, s, T0.Add(time.Hour)); got != float64(bucket.Burst) {
			t.Errorf("reading it again finds %v, want %d", got, bucket.Burst)
		}
	})

	t.Run("concurrent takers take exactly what the bucket holds", func(t *testing.T) {
		s := newStore(t)
		var mu sync.Mutex
		taken, errs := 0, []error{}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 8 {
					_, ok, err := take(ctx, s, T0, forward)
					mu.Lock()
					if ok {
						taken++
					}
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatal(errors.Join(errs...))
		}
		if want := bucket.Burst - forward; taken != want {
			t.Errorf("16×8 concurrent takes took %d, want %d", taken, want)
		}
	})

	t.Run("rollback debt stops at the floor", func(t *testing.T) {
		s := newStore(t)
		b := budget.New(s, NewStepClock(T0), nil)
		rctx := budget.WithPriority(ctx, budget.Rollback)
		for range bucket.Burst + bucket.Debt() + 20 {
			if err := b.Take(rctx, api); err != nil {
				t.Fatal(err)
			}
		}
		b.Settle()
		if got := Tokens(t, s, T0); got != float64(-bucket.Debt()) {
			t.Errorf("after a storm of rollbacks the bucket holds %v, want the floor %d", got, -bucket.Debt())
		}
	})

	t.Run("forward takers in many processes never exceed burst less reserve plus refill", func(t *testing.T) {
		s := newStore(t)
		clock := NewStepClock(T0)
		const processes, goroutines = 4, 4
		const run = 60 * time.Second
		var mu sync.Mutex
		took := 0
		var failures []error
		var wg sync.WaitGroup
		for range processes {
			b := budget.New(s, clock, nil) // one Lambda sandbox each
			for range goroutines {
				wg.Go(func() {
					fctx := budget.WithPriority(ctx, budget.Forward)
					for clock.Now().Before(T0.Add(run)) {
						if err := b.Take(fctx, api); err != nil {
							mu.Lock()
							failures = append(failures, err)
							mu.Unlock()
							return
						}
						mu.Lock()
						took++
						// Every take so far happened at or before now.
						elapsed := clock.Now().Sub(T0)
						if limit := float64(bucket.Burst-forward) + bucket.Refill*elapsed.Seconds(); float64(took) > limit+1e-9 {
							failures = append(failures, fmt.Errorf("%d forward takes after %s, more than %v", took, elapsed, limit))
						}
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatal(errors.Join(failures...))
		}
		elapsed := clock.Now().Sub(T0)
		if least := bucket.Burst - forward + int(run.Seconds()) - processes; took < least {
			t.Errorf("%d forward takes in %s, want at least %d: the budget held back more than its reserve", took, elapsed, least)
		}
		t.Logf("%d forward takes from %d processes in %s of virtual time", took, processes, elapsed)
	})

	t.Run("a rollback takes at once while forward takers wait", func(t *testing.T) {
		s := newStore(t)
		clock := NewManualClock(T0)
		b := budget.New(s, clock, nil)
		fctx := budget.WithPriority(ctx, budget.Forward)
		for range bucket.Burst - forward {
			if err := b.Take(fctx, api); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan int, 3)
		for i := range 3 {
			go func() {
				if err := b.Take(fctx, api); err != nil {
					t.Error(err)
				}
				done <- i
			}()
		}
		clock.WaitSleepers(t, 1) // the first waiter sleeps until the refill; the others queue behind it
		start := time.Now()
		if err := b.Take(budget.WithPriority(ctx, budget.Rollback), api); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Errorf("the rollback's take took %s", waited)
		}
		b.Settle()
		if got := Tokens(t, s, T0); got != float64(forward-1) {
			t.Errorf("after the rollback the bucket holds %v, want %d", got, forward-1)
		}
		select {
		case i := <-done:
			t.Fatalf("forward waiter %d took below the reserve", i)
		default:
		}
		// The rollback's token is paid back first: two seconds until the first forward take.
		clock.Advance(time.Second)
		clock.WaitSleepers(t, 1)
		select {
		case i := <-done:
			t.Fatalf("forward waiter %d took one second after the rollback", i)
		default:
		}
		for range 3 {
			clock.WaitSleepers(t, 1)
			clock.Advance(time.Second)
			<-done
		}
	})
}
