package controller

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The sweep (docs/architecture.md, "The sweep"). One schedule per shard fires the advance
// function every tick; each firing looks at every running rollout of its shard at once:
//   - one query of the running-rollouts index gives the records (no GetItem per rollout);
//   - one DescribeAlarms per 100 alarm names, and one GetMetricData per 125 versions,
//     read every rollout's alarms and failure counts;
//   - the alias is read only where its state is in doubt (a write not confirmed, an ended
//     rollout), for a few rollouts a tick picked round-robin (drift, with their tags), and
//     right before every write but a rollback's;
//   - each rollout is decided on that look without writing anything; only those whose
//     decision changes something are ticked (read again, strongly consistent, decided and
//     committed), rollbacks first, then repairs and pauses, then forward steps, the
//     longest due first.
// A quiet rollout costs no call of its own: a sweep of N quiet rollouts makes about
// 1 + N/100 + N/125 calls, plus its drift budget.

// Sweeps is what the sweep keeps in the table: the running rollouts it looks at, and the
// mark that Register wants it (ensureSweep) which an idle sweep reads again (idle).
type Sweeps interface {
	// ListRunning returns every rollout the sweep looks at (Rollout.Running): those that
	// have not ended and those that ended but are not settled, from the same index, in one
	// query (eventually consistent: a sweep reads each record it acts on again).
	ListRunning(ctx context.Context) ([]rollout.Rollout, error)
	// WantSweep records that a rollout needs the sweep's schedule (Register, before it
	// creates the schedule); SweepWanted reads that time, strongly consistent (zero when
	// never). An idle sweep deletes its schedule, then reads the mark again: a Register
	// that came meanwhile is seen, and the schedule made again (see Controller.idle).
	WantSweep(ctx context.Context, at time.Time) error
	SweepWanted(ctx context.Context) (time.Time, error)
}

// SweepInput is what a sweep schedule gives the advance function: its shard of the
// running rollouts (by a hash of the rollout id).
type SweepInput struct {
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
}

// SweepResult says what one sweep did.
type SweepResult struct {
	Shard   int `json:"shard"`
	Running int `json:"running"`
	// Ticked rollouts had a decision to commit; Left ones were not reached before the
	// invocation's time ran short (the next sweep takes them, most urgent first).
	Ticked int `json:"ticked"`
	Left   int `json:"left"`
	// Deferred rollouts waited in line for the account's tokens longer than this sweep may
	// wait (a storm's rollbacks, a burst's steps): not a failure, the next sweep comes back.
	Deferred int `json:"deferred"`
	// AliasReads counts DescribeStateMachineAlias calls; Failed, rollouts whose tick
	// failed (logged, and tried again by the next sweep).
	AliasReads int  `json:"aliasReads"`
	Failed     int  `json:"failed"`
	Idle       bool `json:"idle,omitempty"`
	// Errors are the failed ticks' errors, by rollout id.
	Errors map[string]error `json:"-"`
}

// look is what a sweep read for many rollouts at once.
type look struct {
	at        time.Time // before the reads
	alarms    map[string]AlarmStatus
	alarmsErr error
	counts    map[string]Counts // by rollout id
	countsErr error
	full      map[string]bool // rollouts whose alias and tags are read this sweep
	reads     atomic.Int64

	mu      sync.Mutex
	history map[string]historyRead
	// aliases are the aliases the sweep's triage read, by rollout id: a tick whose decision
	// does not need a fresh read (a rollback's repair) uses it instead of reading again.
	aliases map[string]seenAlias
}

type seenAlias struct {
	alias Alias
	at    time.Time
}

// seen answers the alias the triage read for rollout id, if any.
func (lk *look) seen(id string) (Alias, time.Time, bool) {
	if lk == nil {
		return Alias{}, time.Time{}, false
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	a, ok := lk.aliases[id]
	return a.alias, a.at, ok
}

func (lk *look) remember(id string, a Alias, at time.Time) {
	if lk == nil {
		return
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	lk.aliases[id] = seenAlias{a, at}
}

type historyRead struct {
	at  time.Time
	err error
}

func (lk *look) countAliasRead() {
	if lk != nil {
		lk.reads.Add(1)
	}
}

// candidateCounts reads the candidate's executions since traffic started: from the sweep's
// batch, or on its own.
func (c *Controller) candidateCounts(ctx context.Context, r rollout.Rollout, lk *look) (Counts, error) {
	if lk != nil {
		if lk.countsErr != nil {
			return Counts{}, lk.countsErr
		}
		if n, ok := lk.counts[r.ID]; ok {
			return n, nil
		}
	}
	return c.Metrics.VersionCounts(ctx, candidateQuery(r, c.now()))
}

// candidateQuery asks for the candidate's executions since traffic started, in the
// Version dimension's form a look found before.
func candidateQuery(r rollout.Rollout, to time.Time) CountsQuery {
	return CountsQuery{StateMachineArn: r.StateMachineArn, VersionArn: r.CandidateVersionArn, From: r.TrafficStartedAt, To: to, Form: r.MetricsForm, Express: r.Express()}
}

// Sweep looks at every running rollout of one shard, and ticks those whose decision changes
// something, most urgent first. A shard with no running rollout deletes its schedule
// (idle): an idle controller makes no call at all.
func (c *Controller) Sweep(ctx context.Context, in SweepInput) (SweepResult, error) {
	shards := max(in.Shards, 1)
	res := SweepResult{Shard: in.Shard}
	if in.Shard < 0 || in.Shard >= shards {
		return res, Errorf(EInvalidEvent, "sweep shard %d of %d", in.Shard, shards)
	}
	wanted, err := c.Sweeps.SweepWanted(ctx) // before the list: see idle
	if err != nil {
		return res, transient(fmt.Errorf("read the sweep mark: %w", err))
	}
	all, err := c.Sweeps.ListRunning(ctx)
	if err != nil {
		return res, transient(fmt.Errorf("list running rollouts: %w", err))
	}
	var rs []rollout.Rollout
	for _, r := range all {
		if r.Running() && shardOf(r.ID, shards) == in.Shard {
			rs = append(rs, r)
		}
	}
	res.Running = len(rs)
	if len(rs) == 0 {
		res.Idle = true
		return res, c.idle(ctx, in.Shard, shards, wanted)
	}
	lk := c.look(ctx, rs)
	jobs := c.triage(ctx, rs, lk)
	res.Errors = c.runJobs(ctx, jobs, lk, &res)
	res.Failed = len(res.Errors)
	res.AliasReads = int(lk.reads.Load())
	if len(res.Errors) == 0 {
		return res, nil
	}
	// The failed ticks are the next sweep's too; the invocation fails so that the
	// function's error metric says so.
	ids := make([]string, 0, len(res.Errors))
	for id := range res.Errors {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	errs := make([]error, len(ids))
	for i, id := range ids {
		errs[i] = fmt.Errorf("rollout %s: %w", id, res.Errors[id])
	}
	return res, transient(errors.Join(errs...))
}

// shardOf places a rollout in one of n shards.
func shardOf(id string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// lookRetry bounds how long a sweep waits in all between tries of a throttled batch of alarms.
const lookRetry = 10 * time.Second

// look reads, for all of rs at once, what their decisions need: the alarms every one of
// them names, and the failure counts of those that watch them; and picks the rollouts
// whose alias (and tags) this sweep reads for drift.
func (c *Controller) look(ctx context.Context, rs []rollout.Rollout) *look {
	lk := &look{at: c.now().Truncate(time.Millisecond), counts: map[string]Counts{}, full: map[string]bool{}, history: map[string]historyRead{}, aliases: map[string]seenAlias{}}
	var names []string
	var qs []CountsQuery
	var ids, watched []string
	for _, r := range rs {
		ids = append(ids, r.ID) // ended ones too: a hand change after the end is reported
		if r.Phase.Terminal() {
			continue
		}
		for _, a := range r.Policy.Alarms {
			if !slices.Contains(names, a) {
				names = append(names, a)
			}
		}
		if r.NeedsMetrics() {
			qs = append(qs, candidateQuery(r, lk.at))
			watched = append(watched, r.ID)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		// Throttled (9 a second for the account, which a burst of uploads' Prepares share),
		// the batch is tried again for a few seconds: unread, every rollout it covers
		// would wait for the next sweep.
		lk.alarms, lk.alarmsErr = retryCallWithin(ctx, c, lookRetry, func() (map[string]AlarmStatus, error) { return c.Alarms.Statuses(ctx, names) })
	}
	if len(qs) > 0 {
		var counts []Counts
		if counts, lk.countsErr = c.Metrics.ManyVersionCounts(ctx, qs); lk.countsErr == nil {
			for i, id := range watched {
				lk.counts[id] = counts[i]
			}
		}
	}
	for _, id := range c.driftPicks(ids, lk.at) {
		lk.full[id] = true
	}
	return lk
}

// driftPicks chooses the rollouts whose alias a sweep reads to find hand changes, within
// the drift budget (Config.DriftReads a sweep): round-robin over the rollouts in id order,
// each read once every ceil(N/budget) sweeps — every sweep while N is within the budget.
// DescribeStateMachineAlias refills at 1 a second for the whole account, shared with every
// other caller; the budget keeps the sweep's share of it fixed whatever N is.
func (c *Controller) driftPicks(ids []string, at time.Time) []string {
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	every := max((len(ids)+c.cfg.DriftReads-1)/c.cfg.DriftReads, c.cfg.DriftEvery, 1)
	n := int(at.UnixNano() / int64(c.tick))
	var picks []string
	for i, id := range ids {
		if (i+n)%every == 0 {
			picks = append(picks, id)
		}
	}
	return picks
}

// Urgency classes of a sweep's ticks, most urgent first.
const (
	urgRollback = iota // takes the candidate's traffic away
	urgRepair          // repairs a lost write, pauses, records; an ended rollout's tick
	urgForward         // a step forward, the longest due first
)

type job struct {
	id      string
	urgency int
	due     time.Time
}

// triage decides every rollout on the look, without writing, and lists those whose
// decision changes something, most urgent first. A rollout whose Register has not got far
// enough is not ticked.
func (c *Controller) triage(ctx context.Context, rs []rollout.Rollout, lk *look) []job {
	var jobs []job
	now := c.now()
	for _, r := range rs {
		switch {
		case r.Phase.Terminal() && c.writerBusy(r):
			// Its rollback's own writer is still trying (WriterUntil): a repair now would
			// read the alias and write it a second time.
			continue
		case r.Phase.Terminal() && r.CandidateWeight == 0 && r.CandidateVersionArn != "" && !r.Confirmed():
			// A rollback whose write did not land, and whose writer gave up: a rollback still.
			jobs = append(jobs, job{id: r.ID, urgency: urgRollback, due: r.UpdatedAt})
			continue
		case r.Phase.Terminal():
			// Its outcome told again, its own lost write repaired, its lock reclaimed when
			// no Finalize came (Advance).
			jobs = append(jobs, job{id: r.ID, urgency: urgRepair, due: r.UpdatedAt})
			continue
		case r.TaskToken == "" || r.Policy.Strategy == rollout.BlueGreen && r.TestAliasArn == "":
			// Its Register has not come yet, or has not created the BLUE_GREEN test alias
			// the test window runs on: Register runs the first tick, or is retried until
			// it does.
			continue
		case !r.FenceClosedAt.IsZero():
			continue
		}
		// A read the budget would hold up (the account's alias reads spent) is the tick's:
		// the look of the others does not wait on it.
		tctx, cancel := context.WithTimeout(ctx, c.cfg.AliasWriteWindow)
		drift := false
		switch {
		case !r.Confirmed():
			// The read of an alias whose write did not land is a repair's.
			tctx = budget.WithPriority(tctx, budget.Repair)
		case lk.full[r.ID]:
			// A read for drift only is the last to take the account's tokens (a burst of
			// uploads needs them): refused, it waits for a later sweep.
			tctx, drift = budget.WithPriority(tctx, budget.GC), true
		}
		obs, read, err := c.observe(tctx, r, "", lk, false)
		if err != nil && drift && refusedByBudget(err) {
			delete(lk.full, r.ID)
			obs, read, err = c.observe(tctx, r, "", lk, false)
		}
		cancel()
		if err != nil {
			// The tick reads again, and reports.
			jobs = append(jobs, job{id: r.ID, urgency: urgRepair, due: r.UpdatedAt})
			continue
		}
		d, err := rollout.Decide(r, obs, now)
		if err != nil {
			jobs = append(jobs, job{id: r.ID, urgency: urgRepair, due: r.UpdatedAt})
			continue
		}
		confirm := read && !r.Confirmed() && sameRouting(obs.Routing, r.Routing())
		// An event owed on an alias known at the intent is put by this tick, not the next
		// step's (an hour away on a canary).
		if !changed(r, d) && !confirm && !owedAtIntent(r, confirm) {
			continue
		}
		j := job{id: r.ID, urgency: urgRepair, due: r.UpdatedAt}
		switch {
		case isRollback(d):
			j.urgency = urgRollback
		case d.SetAlias && d.Next.CandidateWeight != r.CandidateWeight:
			j.urgency, j.due = urgForward, r.StepStartedAt
		}
		jobs = append(jobs, j)
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		if jobs[a].urgency != jobs[b].urgency {
			return jobs[a].urgency < jobs[b].urgency
		}
		return jobs[a].due.Before(jobs[b].due)
	})
	return jobs
}

// budgetPriority is the write budget's priority of a sweep's tick.
func budgetPriority(urgency int) budget.Priority {
	switch urgency {
	case urgRollback:
		return budget.Rollback
	case urgRepair:
		return budget.Repair
	}
	return budget.Forward
}

// runJobs ticks the jobs in their order, Config.SweepWorkers at a time. It starts no tick
// once the invocation has less than two write windows left, so that the ticks it started
// finish: what is left is the next sweep's, and most urgent first there too.
func (c *Controller) runJobs(ctx context.Context, jobs []job, lk *look, res *SweepResult) map[string]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	slots := make(chan struct{}, c.cfg.SweepWorkers)
	// Once one rollback's turn is beyond this sweep's time, every later one's is too (the
	// line only grows): they are left to the next sweep without asking.
	var rollbacksDeferred atomic.Bool
	for i, j := range jobs {
		if retryBudget(ctx) < 2*c.cfg.AliasWriteWindow {
			res.Left = len(jobs) - i
			break
		}
		if j.urgency == urgRollback && rollbacksDeferred.Load() {
			mu.Lock()
			res.Deferred++
			mu.Unlock()
			continue
		}
		run := func() {
			err := c.tickRecovered(budget.WithPriority(ctx, budgetPriority(j.urgency)), j.id, lk)
			mu.Lock()
			defer mu.Unlock()
			res.Ticked++
			switch {
			case err == nil || ErrorCode(err) == ERolloutNotFound:
			case refusedByBudget(err):
				res.Deferred++
				if j.urgency == urgRollback {
					rollbacksDeferred.Store(true)
				}
				c.Log.DebugContext(ctx, "sweep: tick waits for the account's tokens", "rollout_id", j.id, "err", err)
			default:
				errs[j.id] = err
				c.Log.WarnContext(ctx, "sweep: tick failed", "rollout_id", j.id, "err", err)
			}
		}
		if c.cfg.SweepWorkers <= 1 {
			run()
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			run()
		}()
	}
	wg.Wait()
	return errs
}

// tickRecovered is tickOne, with a panic of the tick (a bug, or a crash a test injects)
// answered as that rollout's Internal error: the sweep's other ticks go on, and the
// invocation fails as the crash would have failed it, since the sweep reports its failed
// ticks.
func (c *Controller) tickRecovered(ctx context.Context, id string, lk *look) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Errorf(EInternal, "tick of %s crashed: %v", id, p)
		}
	}()
	_, err = c.tickOne(ctx, id, lk)
	return err
}

// idle deletes the schedule of a shard that has no running rollout. A Register writes the
// sweep mark (WantSweep), then creates the schedule; the sweep read the mark before it
// listed the rollouts, deletes the schedule, then reads the mark again. A Register whose
// mark the second read sees has its schedule made again here; one whose mark it does not
// see wrote the mark after that read, so its create comes after the delete. A Register
// within two ticks of the first read keeps the schedule anyway: its rollout may not be in
// the (eventually consistent) index yet.
func (c *Controller) idle(ctx context.Context, shard, shards int, wanted time.Time) error {
	if c.now().Sub(wanted) < 2*c.tick {
		return nil
	}
	if err := c.Schedules.Delete(ctx, topology.SweepScheduleName(shard)); err != nil {
		return transient(fmt.Errorf("delete sweep schedule %d: %w", shard, err))
	}
	again, err := c.Sweeps.SweepWanted(ctx)
	if err != nil {
		return transient(fmt.Errorf("read the sweep mark again: %w", err))
	}
	if again.After(wanted) {
		return c.createSweep(ctx, shard, shards)
	}
	c.Log.InfoContext(ctx, "sweep: nothing runs, schedule deleted", "shard", shard)
	return nil
}

// ensureSweep makes sure the sweep ticks: the mark first, then every shard's schedule.
func (c *Controller) ensureSweep(ctx context.Context) error {
	if err := c.Sweeps.WantSweep(ctx, c.now()); err != nil {
		return transient(fmt.Errorf("mark the sweep wanted: %w", err))
	}
	for shard := range c.cfg.SweepShards {
		if err := c.createSweep(ctx, shard, c.cfg.SweepShards); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) createSweep(ctx context.Context, shard, shards int) error {
	s := Schedule{Name: topology.SweepScheduleName(shard), Expression: c.cfg.TickRate, Input: mustJSON(Tick{Sweep: &SweepInput{Shard: shard, Shards: shards}})}
	if err := c.Schedules.Create(ctx, s); err != nil {
		return transient(fmt.Errorf("create sweep schedule %d: %w", shard, err))
	}
	return nil
}

// markSettled takes an ended rollout out of the sweep's index: the last step of Finalize
// and of an orphan's clean-up.
func (c *Controller) markSettled(ctx context.Context, id string) error {
	for range maxAttempts {
		r, err := c.Rollouts.GetRollout(ctx, id)
		if err != nil {
			return c.notFound(id, err)
		}
		if r.Settled || !r.Phase.Terminal() {
			return nil
		}
		r.Settled = true
		if _, err = c.Rollouts.SaveRollout(ctx, r); err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return transient(fmt.Errorf("settle %s: %w", id, err))
		}
	}
	return Errorf(ETransient, "settle %s: the record kept moving", id)
}
