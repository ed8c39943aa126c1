package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Register is called by the controller state machine's two waits. For "turn" it queues
// the upload behind the alias's active rollout; for "progress" it judges the pre-traffic
// tests, stores the task token, runs the first tick at once and creates the schedule of
// the following ticks.
//
// A throttled call is retried within the invocation (whileThrottled), then answered
// Throttled; once the rollout's deadline has passed, the rollout ends Failed instead.
func (c *Controller) Register(ctx context.Context, in RegisterInput) error {
	if in.TaskToken == "" || in.Prepare == nil || in.Prepare.RolloutID == "" {
		return Errorf(EInvalidEvent, "register needs taskToken and prepare.rolloutId")
	}
	_, err := whileThrottled(ctx, c, func() string { return in.Prepare.RolloutID }, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.registerOnce(ctx, in)
	})
	return err
}

// registerOnce is one attempt of Register.
func (c *Controller) registerOnce(ctx context.Context, in RegisterInput) error {
	id := in.Prepare.RolloutID
	switch in.Wait {
	case WaitTurn:
		return c.waitTurn(ctx, id, in.TaskToken)
	case WaitProgress:
	default:
		return Errorf(EInvalidEvent, "register: unknown wait %q (want %q or %q)", in.Wait, WaitProgress, WaitTurn)
	}

	r, err := c.Rollouts.GetRollout(ctx, id)
	if err != nil {
		return c.notFound(id, err)
	}
	if r.Phase.Terminal() {
		c.sendOutcomeWith(ctx, r, in.TaskToken)
		return nil
	}
	if failed := failedTests(in.PreTraffic); len(failed) > 0 {
		_, err := c.stop(ctx, id, rollout.Failed, EPreTrafficFailed, "pre-traffic tests failed on "+rollout.VersionLabel(r.CandidateVersionArn)+": "+strings.Join(failed, "; "), "controller")
		if err != nil {
			return err
		}
		return Errorf(EPreTrafficFailed, "rollout %s: %s", id, strings.Join(failed, "; "))
	}
	for i := 0; r.TaskToken != in.TaskToken; i++ {
		if i == maxAttempts {
			// Going on without the token would leave the wait with nobody to end it.
			return Errorf(ETransient, "store task token of %s: the record kept moving", id)
		}
		next := r
		next.TaskToken = in.TaskToken
		saved, err := c.Rollouts.SaveRollout(ctx, next)
		if err == nil {
			r = saved
			break
		}
		if !errors.Is(err, ErrConflict) {
			return transient(fmt.Errorf("store task token of %s: %w", id, err))
		}
		if r, err = c.Rollouts.GetRollout(ctx, id); err != nil {
			return c.notFound(id, err)
		}
		if r.Phase.Terminal() {
			// Rolled back or aborted meanwhile (an alarm before the first tick).
			c.sendOutcomeWith(ctx, r, in.TaskToken)
			return nil
		}
	}
	if r.Policy.Strategy == rollout.BlueGreen && r.TestAliasArn == "" {
		// Whatever the phase (an operator may have paused the rollout during its
		// pre-traffic tests): the test window runs on this alias.
		if r, err = c.createTestAlias(ctx, r); err != nil {
			return err
		}
	}
	// The sweep's schedule comes before the first tick, which may end the rollout (an
	// alarm): the sweep is also the net under a Finalize that fails for good, since an
	// ended rollout stays in its index until Finalize settles it, and its tick releases
	// the alias when no Finalize came (Advance).
	if err := c.ensureSweep(ctx); err != nil {
		return err
	}
	// The first tick reads what a sweep would, without the tags: Prepare resolved the
	// policy with them a moment ago, and ListTagsForResource (1 a second for the account)
	// is what a burst of uploads' Prepares need.
	//
	// A read AWS throttled (a burst's DescribeAlarms, 9 a second for the account) is tried
	// again within half of the invocation's time, as Prepare's are: the next sweep is a
	// minute away. The budget's refusal is not: its wait would not end in time.
	_, err = retryCallWithin(ctx, c, retryBudget(ctx)/2, func() (rollout.Decision, error) {
		lk := c.look(ctx, []rollout.Rollout{r})
		clear(lk.full)
		_, d, err := c.decideWith(ctx, id, "controller", "", lk)
		return d, err
	})
	if throttling(err) {
		// The schedule exists: its tick, a minute from now, does what this one could not
		// (a tick that fails on throttling leaves its step to the next tick anyway).
		c.logFor(r).InfoContext(ctx, "first tick throttled: left to the schedule", "err", err)
		return nil
	}
	return err
}

// createTestAlias creates the BLUE_GREEN test alias, all of its traffic on the candidate,
// and records its ARN: from then on it is this rollout's to delete. It creates, never
// updates: an alias that took the name since Prepare chose it belongs to someone else, and
// the rollout fails before any traffic moved. A replay after a crash is answered by Step
// Functions with the alias created the first time (same name, description and routing).
func (c *Controller) createTestAlias(ctx context.Context, r rollout.Rollout) (rollout.Rollout, error) {
	name := r.TestAlias
	if name == "" {
		// A record prepared before Prepare chose the name.
		var err error
		if name, err = c.chooseTestAlias(ctx, r.StateMachineArn, r.AliasName, r.Policy.TestAlias); err != nil {
			return r, err
		}
	}
	description := "sfn-rollout test alias of rollout " + r.ID
	arn, err := c.createFenced(ctx, r, name, description)
	if errors.Is(err, ErrConflict) {
		reason := fmt.Sprintf("test alias %s was created by someone else after Prepare chose it: the controller moves only a test alias it created", name)
		if r, err = c.stop(ctx, r.ID, rollout.Failed, ETestAliasExists, reason, "controller"); err != nil {
			return r, err
		}
		return r, Errorf(ERolloutFailed, "rollout %s: %s", r.ID, reason)
	}
	if err != nil {
		return r, transient(fmt.Errorf("create test alias %s: %w", name, err))
	}
	for range maxAttempts {
		// Recorded even when the rollout ended meanwhile, so that Finalize deletes it.
		next := r
		next.TestAlias, next.TestAliasArn, next.UpdatedAt = name, arn, c.now()
		note(&next, next.UpdatedAt, "controller", "TestAliasCreated", fmt.Sprintf("test alias %s routes 100%% to %s", name, rollout.VersionLabel(r.CandidateVersionArn)))
		saved, err := c.Rollouts.SaveRollout(ctx, next)
		if err == nil {
			if err := c.writeNoted(ctx, saved); err != nil {
				// Finalize writes it again.
				c.logFor(saved).ErrorContext(ctx, "append audit event", "err", err)
			}
			return saved, nil
		}
		if !errors.Is(err, ErrConflict) {
			return r, transient(fmt.Errorf("record test alias of %s: %w", r.ID, err))
		}
		id := r.ID
		if r, err = c.Rollouts.GetRollout(ctx, id); err != nil {
			return r, c.notFound(id, err)
		}
	}
	return r, Errorf(ETransient, "record test alias of %s: the record kept moving", r.ID)
}

// createFenced creates the test alias: an alias write of the rollout like any other, so
// fenced and bounded as writeAlias is.
func (c *Controller) createFenced(ctx context.Context, r rollout.Rollout, name, description string) (string, error) {
	ctx = withTokenSlot(ctx)
	if err := c.takeAhead(ctx, budget.CreateStateMachineAlias); err != nil {
		return "", fmt.Errorf("create alias %s: %w", name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.AliasWriteWindow)
	defer cancel()
	if _, err := c.fence(wctx, r); err != nil {
		return "", err
	}
	return c.Aliases.Create(wctx, r.StateMachineArn, name, description, []rollout.Route{{VersionArn: r.CandidateVersionArn, Weight: 100}})
}

// chooseTestAlias names the BLUE_GREEN test alias at Prepare. A testAlias the policy names
// must not exist yet: the controller would otherwise move, then delete, someone else's
// alias. A derived name is "<alias>-test", or "<alias>-test-2", -3, … when that is taken,
// the alias cut so that the name fits Step Functions' 80 characters; every alias of the
// state machine (the one rolled out among them) is taken.
func (c *Controller) chooseTestAlias(ctx context.Context, stateMachineArn, alias, named string) (string, error) {
	existing, err := retryCall(ctx, c, func() ([]Alias, error) { return c.Aliases.List(ctx, stateMachineArn) })
	if err != nil {
		return "", transient(fmt.Errorf("list aliases of %s: %w", stateMachineArn, err))
	}
	taken := map[string]bool{alias: true}
	for _, a := range existing {
		taken[a.Name] = true
	}
	if named != "" {
		if taken[named] {
			return "", Errorf(ETestAliasExists, "policy field %q: alias %s of %s already exists; the test alias must be one the rollout creates (and deletes)", "testAlias", named, stateMachineArn)
		}
		return named, nil
	}
	for i := 1; ; i++ {
		suffix := "-test"
		if i > 1 {
			suffix = fmt.Sprintf("-test-%d", i)
		}
		base := alias
		if len(base)+len(suffix) > maxAliasName {
			base = base[:maxAliasName-len(suffix)]
		}
		if name := base + suffix; !taken[name] {
			return name, nil
		}
	}
}

// maxAliasName is Step Functions' limit on an alias name.
const maxAliasName = 80

// failedTests lists the pre-traffic tests that did not end as they expected. A test whose
// execution failed is caught by the Map as States.TaskFailed with the child's
// DescribeExecution in the cause; any other error means the test never ran to an end
// (permissions, throttling, its timeout), which fails it whatever it expected.
func failedTests(results []TestResult) []string {
	var failed []string
	for _, t := range results {
		expect := t.Expect
		if expect == "" {
			expect = "SUCCEEDED"
		}
		status := t.Status
		if status == "" {
			status = childStatus(t)
		}
		if status == "" {
			failed = append(failed, fmt.Sprintf("%s did not run to an end (%s: %s)", t.Name, t.Error, truncate(t.Cause, 200)))
			continue
		}
		if status != expect {
			msg := fmt.Sprintf("%s ended %s, expected %s", t.Name, status, expect)
			if t.Error != "" {
				msg += " (" + t.Error + ": " + truncate(t.Cause, 200) + ")"
			}
			failed = append(failed, msg)
		}
	}
	return failed
}

// childStatus reads the status of a failed child execution from a States.TaskFailed cause.
func childStatus(t TestResult) string {
	if t.Error != "States.TaskFailed" {
		return ""
	}
	var d struct {
		Status      string `json:"Status"`
		StatusLower string `json:"status"`
	}
	if json.Unmarshal([]byte(t.Cause), &d) != nil {
		return ""
	}
	if d.Status != "" {
		return d.Status
	}
	return d.StatusLower
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
