package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// firing is one invocation of a schedule's target.
type firing struct {
	arn                string
	name               string // group/name, for the report
	target             Target
	defaultRetryPolicy bool
	scheduled          time.Time
}

// Retry and loop timings, in virtual time. AWS retries a failed invocation up to 185
// times over 24 hours by default; local mode retries twice when the schedule gives no
// RetryPolicy, so that a broken target is reported within seconds of virtual time. A
// RetryPolicy that is given is honoured: the controller's tick schedules carry
// topology.TickDelivery. The backoff is on the virtual clock; AWS does not document its
// numbers.
const (
	defaultRetryAttempts = 2
	firstBackoff         = time.Second
	maxBackoff           = time.Minute
	maxWait              = time.Hour // the loop looks again at least this often
	minWait              = time.Millisecond
)

// Start runs the schedules on the clock in the background and returns at once; the
// schedules stop firing when ctx ends. A second Start does nothing.
//
// A schedule fires at its time; a FLEXIBLE window is not drawn from (AWS picks a time
// within it, firing at its start is one of the times AWS may pick). A loop that falls
// behind fires a late occurrence once and skips those it missed, rather than bursting.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	s.running.Add(1)
	go s.loop(ctx)
}

func (s *Service) loop(ctx context.Context) {
	defer s.running.Done()
	for {
		fires, wait := s.due(s.clock.Now())
		for _, f := range fires {
			s.running.Add(1)
			go s.fire(ctx, f)
		}
		timer := time.NewTimer(s.clock.Real(wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// due takes the firings that are due at now, moves their schedules on (deleting those
// that completed with ActionAfterCompletion DELETE), and says how long to wait for the
// next one.
func (s *Service) due(now time.Time) ([]firing, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fires []firing
	wait := maxWait
	for k, sc := range s.schedules {
		if sc.state != "ENABLED" || !sc.hasNext {
			continue
		}
		if sc.next.After(now) {
			wait = min(wait, sc.next.Sub(now))
			continue
		}
		fires = append(fires, firing{arn: sc.arn, name: k, target: sc.target, defaultRetryPolicy: sc.defaultRetryPolicy, scheduled: sc.next})
		next, ok := sc.expr.after(sc.next)
		for ok && !next.After(now) {
			next, ok = sc.expr.after(next)
		}
		sc.next, sc.hasNext = next, ok
		sc.bound()
		if !sc.hasNext {
			if sc.actionAfterCompletion == "DELETE" {
				delete(s.schedules, k)
			}
			continue
		}
		wait = min(wait, sc.next.Sub(now))
	}
	return fires, max(wait, minWait)
}

// fire invokes the target, retrying per the RetryPolicy, and reports a final failure.
func (s *Service) fire(ctx context.Context, f firing) {
	defer s.running.Done()
	retries, maxAge := defaultRetryAttempts, 24*time.Hour
	if p := f.target.RetryPolicy; p != nil && !f.defaultRetryPolicy {
		if p.MaximumRetryAttempts != nil {
			retries = *p.MaximumRetryAttempts
		}
		if p.MaximumEventAgeInSeconds != nil {
			maxAge = time.Duration(*p.MaximumEventAgeInSeconds) * time.Second
		}
	}
	executionID := newUUID()
	backoff := firstBackoff
	attempts := 0
	tooOld := false
	var err error
	for {
		attempts++
		err = s.invoke(ctx, f, executionID, attempts)
		if err == nil || !retryable(err) || attempts > retries {
			break
		}
		if s.clock.Now().Add(backoff).Sub(f.scheduled) > maxAge {
			tooOld = true
			break
		}
		if s.clock.Sleep(ctx, backoff) != nil {
			break
		}
		backoff = min(2*backoff, maxBackoff)
	}
	if err != nil && ctx.Err() == nil {
		s.dropped.Add(1)
		reason := ""
		if tooOld {
			reason = fmt.Sprintf(" (the next retry would pass the event's MaximumEventAgeInSeconds of %d)", int(maxAge/time.Second))
		}
		s.reporter.Report("scheduler: schedule %s: invoking %s failed after %d attempt(s)%s: %v", f.name, f.target.Arn, attempts, reason, err)
	}
}

func (s *Service) invoke(ctx context.Context, f firing, executionID string, attempt int) error {
	input := "{}"
	if f.target.Input != nil {
		input = *f.target.Input
	}
	// Scheduler's context attributes.
	input = strings.NewReplacer(
		"<aws.scheduler.schedule-arn>", f.arn,
		"<aws.scheduler.scheduled-time>", f.scheduled.UTC().Format("2006-01-02T15:04:05Z"),
		"<aws.scheduler.execution-id>", executionID,
		"<aws.scheduler.attempt-number>", strconv.Itoa(attempt),
	).Replace(input)
	payload := json.RawMessage(input)
	if !json.Valid(payload) {
		// AWS passes the bare text; a Lambda payload and an execution input must be JSON.
		b, _ := json.Marshal(input)
		payload = b
	}
	switch {
	case isLambdaArn(f.target.Arn):
		if s.functions == nil {
			return errors.New("no Lambda functions are served")
		}
		return s.functions.InvokeAsync(ctx, f.target.Arn, payload)
	case isStateMachineArn(f.target.Arn):
		if s.executions == nil {
			return errors.New("no Step Functions executions are served")
		}
		// One name for all the attempts of a firing, so a retry of a start that did
		// happen is answered with the same execution.
		_, err := s.executions.StartExecution(ctx, f.target.Arn, executionID, string(payload))
		return err
	}
	return fmt.Errorf("cannot invoke %s", f.target.Arn)
}

// retryable reports whether an invocation is worth another attempt: not a client error
// (the target does not exist, the input is refused), but throttling and server errors.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var apiErr *core.APIError
	if errors.As(err, &apiErr) {
		if apiErr.Code == "ThrottlingException" || apiErr.Code == "TooManyRequestsException" {
			return true
		}
		return apiErr.Status == 0 || apiErr.Status >= http.StatusInternalServerError
	}
	return true
}

// newUUID is a random (version 4) UUID: execution IDs and execution names.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
