package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Throttling delays work and never fails it (docs/architecture.md, "Throttling delays, never
// fails"). A throttled call of Prepare, Register or Finalize is retried by three layers, each
// for longer than the one inside it:
//   - the SDK's retryer (awsapi.NewRetryer): a few attempts of one request, with no
//     client-side retry quota, within the call's context;
//   - the controller, within one invocation: a quota-bound call again (retryCall), then the
//     whole use case again (whileThrottled), with jittered backoff, for as long as the
//     invocation's time allows; then it answers Throttled;
//   - the controller state machine: Throttled is retried with full jitter, at most a minute
//     apart, for as long as the longest rollout deadline (MaxRolloutTimeout). Once the
//     rollout's own deadline has passed, it ends Failed saying that it was throttled until
//     then.
//
// Retrying the whole use case is what the state machine's Retry does anyway: Prepare,
// Register and Finalize are safe to run again with the same input.

// fullJitter is a wait between 0 and d.
// refusedByBudget reports whether the write budget refused a call before it was made.
func refusedByBudget(err error) bool { return errors.Is(err, budget.ErrExhausted) }

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// throttling reports whether err is throttling (ErrThrottled: throttling, 5xx, a timeout)
// that nothing more specific named: a refusal or LockLost keeps its name.
func throttling(err error) bool {
	if err == nil || !errors.Is(err, ErrThrottled) {
		return false
	}
	return namedRetryable(err)
}

// namedRetryable reports whether err names nothing, or only Transient or Throttled.
func namedRetryable(err error) bool {
	if !errors.As(err, new(*Error)) {
		return true
	}
	return retryable(err)
}

// retryCall makes call again while it answers throttling, with jittered backoff (50 ms
// doubling to 2 s), for as long as the invocation's time allows (retryBudget). Only for a
// read or an idempotent write: it is for the quota-bound calls of Prepare (a 1-a-second
// bucket such as ValidateStateMachineDefinition or ListTagsForResource), so that a throttled
// call is tried again alone, without spending the tokens of the calls before it again.
func retryCall[T any](ctx context.Context, c *Controller, call func() (T, error)) (T, error) {
	return retryCallWithin(ctx, c, retryBudget(ctx), call)
}

// retryCallWithin is retryCall with its waits taking at most limit in all (and never more
// than the invocation's time allows).
func retryCallWithin[T any](ctx context.Context, c *Controller, limit time.Duration, call func() (T, error)) (T, error) {
	budget := limit
	for i := 0; ; i++ {
		v, err := call()
		if !throttling(err) || ctx.Err() != nil || refusedByBudget(err) {
			return v, err
		}
		wait := c.Jitter(backoffDelay(i))
		budget = min(budget, retryBudget(ctx))
		if wait > budget {
			return v, err
		}
		budget -= wait
		if c.Sleep(ctx, wait) != nil {
			return v, err
		}
	}
}

// whileThrottled runs work — the whole of Prepare, Register or Finalize — again while it
// fails on throttling, with jittered backoff, for as long as the invocation's time allows.
// work runs under a deadline a little before the invocation's (answerReserve), so that a
// call still throttled when the time is up leaves time to answer Throttled: a function
// that outlives its own timeout is States.TaskFailed, which is retried only twice.
// rolloutID names the rollout whose deadline ends the retries (throttledUntil); "" for
// none (Finalize, which must always finish).
func whileThrottled[T any](ctx context.Context, c *Controller, rolloutID func() string, work func(context.Context) (T, error)) (T, error) {
	wctx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, deadline.Add(-answerReserve(time.Until(deadline))))
		defer cancel()
	}
	budget := retryBudget(ctx)
	for i := 0; ; i++ {
		out, err := work(wctx)
		if err == nil || ctx.Err() != nil {
			return out, err
		}
		// Out of time (wctx ended, not the invocation) while retrying is throttling too.
		if !throttling(err) && (wctx.Err() == nil || !namedRetryable(err)) {
			return out, err
		}
		if refusedByBudget(err) {
			// The account's bucket, as every invocation sees it, has no token for this
			// work for longer than the invocation could wait: trying again here would only
			// take tokens of the calls before the refused one again, which a burst of
			// uploads needs. The controller state machine comes back after its delay.
			return out, c.throttledUntil(ctx, rolloutID(), err)
		}
		wait := c.Jitter(backoffDelay(i))
		budget = min(budget, retryBudget(ctx))
		if wait > budget || wctx.Err() != nil || c.Sleep(wctx, wait) != nil {
			return out, c.throttledUntil(ctx, rolloutID(), err)
		}
		budget -= wait
		c.Log.DebugContext(ctx, "throttled: trying again", "rollout_id", rolloutID(), "attempt", i+1, "wait", wait, "err", err)
	}
}

// throttledUntil answers work that stayed throttled for the whole invocation: Throttled,
// which the controller state machine retries; or, once the rollout's deadline has passed,
// the rollout ends Failed with a reason saying so, and the answer is RolloutFailed, which
// ends the execution's retries and goes to Finalize. A rollout has a deadline from the
// moment Prepare published its candidate; before that, the state machine's retries bound
// it (docs/architecture.md, "Throttling delays, never fails").
func (c *Controller) throttledUntil(ctx context.Context, id string, err error) error {
	throttled := wrapf(EThrottled, err, "still throttled after retrying for as long as the invocation could wait")
	if id == "" {
		return throttled
	}
	r, rerr := c.Rollouts.GetRollout(ctx, id)
	if rerr != nil || r.Phase.Terminal() || r.Deadline.IsZero() || c.now().Before(r.Deadline) {
		c.Log.WarnContext(ctx, "throttled: the controller state machine retries", "rollout_id", id, "err", err)
		return throttled
	}
	reason := fmt.Sprintf("throttled until its deadline %s: %s", r.Deadline.Format(time.RFC3339), truncate(err.Error(), 300))
	stopped, serr := c.stop(ctx, id, rollout.Failed, ERolloutFailed, reason, "controller")
	if serr != nil {
		c.logFor(r).WarnContext(ctx, "throttled past the deadline: the rollout could not be ended yet", "err", serr)
		return throttled
	}
	c.logFor(stopped).WarnContext(ctx, "throttled until the deadline", "deadline", r.Deadline, "phase", stopped.Phase, "err", err)
	// RolloutFailed, or how the rollout ended meanwhile (an alarm, an operator), as a retry
	// would answer.
	return FromCode(outcomeErrorName(stopped), stopped.Reason)
}

// ThrottledAfter is the least time an invocation with the given timeout spends retrying
// before it answers Throttled: all its time but the reserve kept to answer, less the last
// backoff it did not wait. The controller state machine's Throttled retriers make enough
// attempts that this much per attempt spans MaxRolloutTimeout (statemachines/asl_test.go).
func ThrottledAfter(timeout time.Duration) time.Duration {
	return timeout - answerReserve(timeout) - maxBackoff
}
