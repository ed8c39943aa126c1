// Package budget is the controller's view of Step Functions' per-account token buckets,
// shared by every invocation through a Store, so that rollbacks never wait behind forward
// steps or garbage collection for an alias update (docs/architecture.md, "Write budget").
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ErrExhausted is the error of a take that could not be served before its context's
// deadline. Callers map it to throttling: the work is delayed, not failed.
var ErrExhausted = errors.New("write budget exhausted")

type priorityKey struct{}

type dueKey struct{}

// WithPriority returns ctx carrying the priority of the calls made with it.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf is the priority ctx carries; Forward when it carries none.
func PriorityOf(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok && p >= GC && p <= Rollback {
		return p
	}
	return Forward
}

// WithDue returns ctx carrying when the work it is used for fell due: among waiters of one
// priority, the one due first takes first, so that none starves. Without it a waiter is
// due when it starts waiting.
func WithDue(ctx context.Context, due time.Time) context.Context {
	return context.WithValue(ctx, dueKey{}, due)
}

func dueOf(ctx context.Context, now time.Time) time.Time {
	if t, ok := ctx.Value(dueKey{}).(time.Time); ok && !t.IsZero() {
		return t
	}
	return now
}

// Clock tells the time and waits. Local mode's virtual clock runs faster than the wall
// clock; tests move theirs by hand.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is the real time.
type WallClock struct{}

// Now is time.Now.
func (WallClock) Now() time.Time { return time.Now() }

// Sleep waits d, or until ctx ends.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// realer is a clock that tells how much wall time a duration of its own takes (local mode's
// core.Clock): a wait is judged against a context's deadline, which is wall time.
type realer interface {
	Real(time.Duration) time.Duration
}

// Store keeps the buckets where every taker sees them. A bucket is kept as the time it was,
// or will be, empty (emptyAt): at now it holds min(Burst, Refill·(now − emptyAt)) tokens, so
// taking n tokens moves emptyAt on by n/Refill whatever the time, and the refill needs no
// write. One conditional step serves every take:
type Store interface {
	// Take reads api's emptyAt e, lifted to full when it is older (e = max(e, full); no
	// stored bucket is a full one). If e <= limit it stores e+step and answers e+step,
	// true; otherwise it stores nothing and answers e, false. It is atomic against every
	// other Take of api, in this process or any other.
	Take(ctx context.Context, api API, full, limit time.Time, step time.Duration) (emptyAt time.Time, taken bool, err error)
}

// spendTimeout bounds the write that records a take that does not wait (a rollback's),
// from when it starts.
const spendTimeout = 2 * time.Second

// spendWriters is how many of those writes one process makes at once. They are
// conditional updates of one item per API: a storm's spends all at once would mostly fail
// each other's conditions (and a Lambda sandbox runs one invocation at a time anyway), so
// the rest wait for a writer, recorded in the order they came.
const spendWriters = 4

// refundTimeout bounds the write that gives a turn back.
const refundTimeout = 10 * time.Second

// storeRetry is the longest wait before a waiting take asks a failing store again.
const storeRetry = time.Second

// Budget hands out tokens of Quotas by priority, over a Store shared by all invocations.
type Budget struct {
	store   Store
	clock   Clock
	log     *slog.Logger
	buckets map[API]Bucket

	mu    sync.Mutex
	lines map[API]*line

	spends     sync.WaitGroup
	spendSlots chan struct{}
}

// New returns a budget of Quotas over store; it makes no call. A nil clock is the wall
// clock, a nil log discards.
func New(store Store, clock Clock, log *slog.Logger) *Budget {
	if clock == nil {
		clock = WallClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Budget{store: store, clock: clock, log: log, buckets: Quotas, lines: map[API]*line{}, spendSlots: make(chan struct{}, spendWriters)}
}

// Take takes one token of api's bucket at the priority ctx carries (PriorityOf).
//
// A Rollback takes at once, even into debt (Spend), and never fails: the real bucket may
// still throttle the call, and the caller retries that. Any other priority waits, in line
// behind higher priorities and earlier due dates (WithDue), until the bucket holds more
// than its reserve (Bucket.Reserve), so that forward work never drains what rollbacks
// need. A wait that cannot end before ctx's deadline ends at once; either way the error
// wraps ErrExhausted. A store that fails is asked again until the deadline: no token is
// taken on a guess.
func (b *Budget) Take(ctx context.Context, api API) error {
	bucket, ok := b.buckets[api]
	if !ok {
		return fmt.Errorf("budget: no quota for %s", api)
	}
	p := PriorityOf(ctx)
	if p == Rollback {
		b.Spend(ctx, api, 1)
		return nil
	}
	reserve := float64(bucket.Reserve(p))
	l := b.line(api)
	w := l.join(p, dueOf(ctx, b.clock.Now()))
	defer l.leave(w)
	var lastErr error
	for {
		ahead, changed := l.position(w)
		if ahead > 0 {
			// Every waiter ahead takes at least one token first.
			if err := b.judge(ctx, l, bucket, float64(ahead)+1+reserve, api, p); err != nil {
				return err
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return b.exhausted(ctx.Err(), api, p, lastErr)
			}
		}
		now := b.clock.Now()
		full := now.Add(-bucket.span(float64(bucket.Burst)))
		limit := now.Add(-bucket.span(1 + reserve))
		emptyAt, taken, err := b.store.Take(ctx, api, full, limit, bucket.span(1))
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return b.exhausted(ctx.Err(), api, p, err)
			}
			lastErr = err
			b.log.WarnContext(ctx, "budget: read the shared bucket", "api", string(api), "priority", p.String(), "err", err)
			wait = min(storeRetry, bucket.span(1))
		case taken:
			l.saw(emptyAt)
			return nil
		default:
			l.saw(emptyAt)
			wait = emptyAt.Add(bucket.span(1 + reserve)).Sub(now)
			if err := b.fits(ctx, wait, api, p); err != nil {
				return err
			}
		}
		if err := b.clock.Sleep(ctx, wait); err != nil {
			return b.exhausted(err, api, p, lastErr)
		}
	}
}

// Spend records n tokens of api taken without waiting, at any priority: a rollback's take,
// or calls already made (an alias list's describes). It returns at once; the record is
// written meanwhile, and a record that fails is logged, never returned: a rollback must not
// wait on the budget's own bookkeeping. The view may go into debt, down to Bucket.Debt.
// In a Lambda, a record still in flight when the invocation returns goes on when the
// sandbox runs again, or fails and is logged: the view then misses that token, as it misses
// every call it never sees (other callers in the account).
func (b *Budget) Spend(ctx context.Context, api API, n int) {
	bucket, ok := b.buckets[api]
	if n <= 0 {
		return
	}
	if !ok {
		b.log.ErrorContext(ctx, "budget: spend outside the quota table", "api", string(api), "n", n)
		return
	}
	now := b.clock.Now()
	full := now.Add(-bucket.span(float64(bucket.Burst)))
	limit := now.Add(bucket.span(float64(bucket.Debt() - n)))
	step := bucket.span(float64(n))
	ctx = context.WithoutCancel(ctx)
	b.spends.Add(1)
	go func() {
		defer b.spends.Done()
		b.spendSlots <- struct{}{}
		defer func() { <-b.spendSlots }()
		ctx, cancel := context.WithTimeout(ctx, spendTimeout)
		defer cancel()
		emptyAt, taken, err := b.store.Take(ctx, api, full, limit, step)
		switch {
		case err != nil:
			b.log.WarnContext(ctx, "budget: record a spend", "api", string(api), "n", n, "err", err)
		case !taken:
			b.log.WarnContext(ctx, "budget: spend beyond the debt floor, not recorded", "api", string(api), "n", n,
				"tokens", bucket.Tokens(emptyAt, now))
		default:
			b.line(api).saw(emptyAt)
		}
	}()
}

// Reserve takes one token of api for a Rollback whose call AWS throttled, whatever the
// bucket holds, and answers when that token is its own: the time the view's bucket, with
// every token taken before it paid back, comes back to empty. The rollback sleeps until
// then and calls once, instead of retrying every second or two alongside every other
// throttled rollback: a storm of 1,000 then makes one call each when its turn comes, in
// the order they were throttled, with no call wasted on a token another took. The view
// may go as deep into debt as there are rollbacks waiting (Debt does not bound it): each
// is one real call to come. Lower priorities wait until the debt is paid back. A turn after
// ctx's deadline (less the time kept to answer) is given back at once, and Reserve fails
// with ErrExhausted.
func (b *Budget) Reserve(ctx context.Context, api API) (time.Time, error) {
	bucket, ok := b.buckets[api]
	if !ok {
		return time.Time{}, fmt.Errorf("budget: no quota for %s", api)
	}
	for {
		now := b.clock.Now()
		full := now.Add(-bucket.span(float64(bucket.Burst)))
		limit := now.Add(noFloor) // every waiting rollback is a real call to come
		emptyAt, taken, err := b.store.Take(ctx, api, full, limit, bucket.span(1))
		switch {
		case err == nil && taken:
			b.line(api).saw(emptyAt)
			if beyond, ok := handOverBeyond(ctx); ok && emptyAt.Sub(now) > beyond {
				// The caller hands turns this far to a continuation of itself: the turn is
				// kept, and it is the caller's to use or give back (Refund).
				return emptyAt, &LateTurn{API: api, At: emptyAt}
			}
			if err := b.reachable(ctx, emptyAt.Sub(now)); err != nil {
				// A turn the caller would not live to use is given back at once: kept, it
				// would hold every turn behind it back for nothing. The rollback is left to
				// its next attempt (the event's retry, Finalize, the sweep).
				b.Refund(ctx, api)
				return time.Time{}, b.exhausted(nil, api, Rollback, err)
			}
			return emptyAt, nil
		case err == nil:
			return time.Time{}, fmt.Errorf("budget: reserve %s: the bucket is a day in debt", api)
		case ctx.Err() != nil:
			return time.Time{}, b.exhausted(ctx.Err(), api, Rollback, err)
		}
		b.log.WarnContext(ctx, "budget: reserve a rollback's token", "api", string(api), "err", err)
		if err := b.clock.Sleep(ctx, storeRetry); err != nil {
			return time.Time{}, b.exhausted(err, api, Rollback, err)
		}
	}
}

type handOverKey struct{}

// WithHandOver returns ctx for a rollback writer that can hand a far turn to a continuation
// of itself (a one-time schedule shortly before the turn): Reserve keeps a turn more than
// beyond away and answers it with a *LateTurn, instead of giving it back.
func WithHandOver(ctx context.Context, beyond time.Duration) context.Context {
	return context.WithValue(ctx, handOverKey{}, beyond)
}

// WithoutHandOver returns ctx for a writer that cannot hand a turn over (a repair, which
// reads the alias once its turn has come): Reserve gives a turn it would not live to use
// back, as without WithHandOver.
func WithoutHandOver(ctx context.Context) context.Context {
	return context.WithValue(ctx, handOverKey{}, time.Duration(0))
}

func handOverBeyond(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(handOverKey{}).(time.Duration)
	return d, ok && d > 0
}

// LateTurn is Reserve's answer to a writer that hands far turns over (WithHandOver): its
// turn, at At, is further away than it waits. The turn is kept for it: it must hand it to a
// continuation or give it back (Refund). A turn that nobody uses is not lost for good: the
// view counts one token more than AWS spent until the bucket has refilled to its burst
// (the view holds min(burst, refill·(t − emptyAt)) tokens), so it costs whoever comes after
// it one refill period, once.
type LateTurn struct {
	API API
	At  time.Time
}

func (e *LateTurn) Error() string {
	return fmt.Sprintf("%s: the turn at %s is to be handed over", e.API, e.At.UTC().Format(time.RFC3339Nano))
}

// realWait is a wait on the budget's clock in wall time (local mode's clock runs faster),
// and the wall time left until ctx's deadline; ok is false when there is nothing to judge
// (no deadline, or no wait).
func (b *Budget) realWait(ctx context.Context, wait time.Duration) (real, left time.Duration, ok bool) {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline || wait <= 0 {
		return 0, 0, false
	}
	real = wait
	if r, ok := b.clock.(realer); ok {
		real = r.Real(wait)
	}
	return real, time.Until(deadline), true
}

// reachable fails a wait that would end after what ctx's deadline leaves to call and answer
// (a tenth of it, at least a second, is kept to answer).
func (b *Budget) reachable(ctx context.Context, wait time.Duration) error {
	real, left, ok := b.realWait(ctx, wait)
	if !ok {
		return nil
	}
	if usable := left - max(time.Second, left/10); real > usable {
		return fmt.Errorf("the turn is %s away, the deadline %s", real.Round(time.Millisecond), left.Round(time.Millisecond))
	}
	return nil
}

// Refund gives back a token Reserve took for a call that AWS throttled all the same (the
// view was behind AWS's bucket: a rollback's token recorded late, another caller), so that
// the view counts only the calls AWS took and the turns still to come; the rollback then
// reserves a new turn, behind the others. A refund that cannot be written is logged: the
// view is then behind by one token, which only delays the last turn by a second.
func (b *Budget) Refund(ctx context.Context, api API) {
	bucket, ok := b.buckets[api]
	if !ok {
		return
	}
	// The call's own deadline (its write window) may be spent: the refund has its own, and
	// a longer one than a spend's: a refund lost leaves the view a turn in debt that no one
	// takes, which holds every later turn back.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
	defer cancel()
	now := b.clock.Now()
	full := now.Add(-bucket.span(float64(bucket.Burst)))
	if _, _, err := b.store.Take(ctx, api, full, now.Add(noFloor), -bucket.span(1)); err != nil {
		b.log.WarnContext(ctx, "budget: refund a throttled rollback's token", "api", string(api), "err", err)
	}
}

// noFloor is how far ahead of now a reservation or a refund may find the bucket's emptyAt:
// far enough to be no floor at all (a day of turns at one a second).
const noFloor = 24 * time.Hour

// SleepUntil waits until t on the budget's clock, or until ctx ends.
func (b *Budget) SleepUntil(ctx context.Context, t time.Time) error {
	return b.clock.Sleep(ctx, t.Sub(b.clock.Now()))
}

// Settle waits until every Spend so far is written or has failed.
func (b *Budget) Settle() { b.spends.Wait() }

// judge fails a waiter at once when the bucket, as last seen, cannot have handed out need
// tokens before ctx's deadline.
func (b *Budget) judge(ctx context.Context, l *line, bucket Bucket, need float64, api API, p Priority) error {
	seen, ok := l.seen()
	if !ok {
		return nil
	}
	// The bucket holds no more than it did when last seen, plus the refill since: the store
	// only ever moves emptyAt on.
	return b.fits(ctx, bucket.span(need-bucket.Tokens(seen, b.clock.Now())), api, p)
}

// fits fails at once a wait that would take more than half of what is left until ctx's
// deadline: a token that comes later leaves too little time for the rest of the work it is
// for (a Prepare takes tokens of four buckets in turn), and a token taken for work that then
// runs out of time is lost to everyone. Failing early sends the work back to its retry
// (the controller state machine's), which comes back when the line is shorter.
func (b *Budget) fits(ctx context.Context, wait time.Duration, api API, p Priority) error {
	real, left, ok := b.realWait(ctx, wait)
	if !ok {
		return nil
	}
	if real > left/2 {
		return b.exhausted(nil, api, p, fmt.Errorf("a token is %s away, the deadline %s", real.Round(time.Millisecond), left.Round(time.Millisecond)))
	}
	return nil
}

func (b *Budget) exhausted(ctxErr error, api API, p Priority, cause error) error {
	if errors.Is(ctxErr, context.Canceled) {
		return fmt.Errorf("budget: wait for %s at %s priority: %w", api, p, ctxErr)
	}
	if cause == nil {
		cause = ctxErr
	}
	return fmt.Errorf("%s at %s priority: %w: %w", api, p, ErrExhausted, cause)
}

func (b *Budget) line(api API) *line {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.lines[api]
	if !ok {
		l = &line{changed: make(chan struct{})}
		b.lines[api] = l
	}
	return l
}

// line is this process's waiters for one bucket, in the order they take: higher priority
// first, then earlier due, then earlier arrival. Only the first asks the store; a higher
// priority or an earlier due that arrives goes before it. Since every priority below
// Rollback keeps a reserve at least as large as the one before it, no waiter behind the
// first could take when the first cannot.
type line struct {
	mu       sync.Mutex
	waiters  []*waiter
	next     uint64
	changed  chan struct{} // closed and replaced at every change of the line
	emptyAt  time.Time     // the bucket as last seen by this process
	seenOnce bool
}

type waiter struct {
	p   Priority
	due time.Time
	seq uint64
}

func (w *waiter) before(o *waiter) bool {
	switch {
	case w.p != o.p:
		return w.p > o.p
	case !w.due.Equal(o.due):
		return w.due.Before(o.due)
	}
	return w.seq < o.seq
}

func (l *line) join(p Priority, due time.Time) *waiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	w := &waiter{p: p, due: due, seq: l.next}
	i, _ := slices.BinarySearchFunc(l.waiters, w, func(a, b *waiter) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	l.waiters = slices.Insert(l.waiters, i, w)
	l.broadcast()
	return w
}

func (l *line) leave(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.waiters, w); i >= 0 {
		l.waiters = slices.Delete(l.waiters, i, i+1)
		l.broadcast()
	}
}

// position answers how many waiters are ahead of w, and a channel closed at the next change.
func (l *line) position(w *waiter) (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Index(l.waiters, w), l.changed
}

func (l *line) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *line) saw(emptyAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seenOnce || emptyAt.After(l.emptyAt) {
		l.emptyAt, l.seenOnce = emptyAt, true
	}
}

func (l *line) seen() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.emptyAt, l.seenOnce
}
