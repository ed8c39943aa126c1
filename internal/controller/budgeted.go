package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Budget is the account-wide view of Step Functions' quotas (internal/budget) that every
// quota-bound call goes through, at the priority its context carries (budget.WithPriority):
// rollback > repair > forward > garbage collection.
type Budget interface {
	// Take takes one token of api's bucket, waiting as its priority must; an error wrapping
	// budget.ErrExhausted means none came before the context's deadline.
	Take(ctx context.Context, api budget.API) error
	// Spend records n tokens taken by calls already made, without waiting.
	Spend(ctx context.Context, api budget.API, n int)
	// Reserve takes a token for a rollback AWS throttled, whatever the bucket holds, and
	// answers when it is the rollback's own; SleepUntil waits until then.
	Reserve(ctx context.Context, api budget.API) (time.Time, error)
	SleepUntil(ctx context.Context, t time.Time) error
	// Refund gives back a reserved token whose call AWS throttled.
	Refund(ctx context.Context, api budget.API)
}

// Budgeted wraps the Step Functions ports so that each call first takes a token of the
// bucket its action draws from. A take the budget cannot serve in time fails the call
// before it is made, with an error for which errors.Is(err, ErrThrottled) holds: the work is
// retried or left to the next tick, like a call AWS throttled.
func Budgeted(sm StateMachines, al Aliases, b Budget) (StateMachines, Aliases) {
	return &budgetedStateMachines{next: sm, budget: b}, &budgetedAliases{next: al, budget: b}
}

// budgetToken takes a token for one call of api, mapping exhaustion to ErrThrottled.
func budgetToken(ctx context.Context, b Budget, api budget.API) error {
	if useHeld(ctx, api) {
		return nil // taken ahead (takeAhead)
	}
	err := b.Take(ctx, api)
	if errors.Is(err, budget.ErrExhausted) {
		return fmt.Errorf("%w: %w", ErrThrottled, err)
	}
	return err
}

// Tokens taken ahead. An alias write runs under the write window W (fence): a token
// waited for inside it could only be waited for a few seconds, and a burst of uploads needs
// minutes. So the writer takes its token before the window opens (takeAhead), into a slot
// its context carries (withTokenSlot), and the alias update inside the window uses it
// instead of taking one. A forward step takes it even before its read of the alias, so that
// the read stays right before the write however long the token took.

type tokenSlotKey struct{}

// tokenSlot holds at most one token taken ahead, for one API. throttled says that the last
// rollback alias update made with it was throttled: the next takes its turn (Reserve).
type tokenSlot struct {
	mu        sync.Mutex
	api       budget.API
	held      bool
	throttled bool
}

// markThrottled records in ctx's slot that a rollback's alias update was throttled.
func markThrottled(ctx context.Context) {
	if s, ok := ctx.Value(tokenSlotKey{}).(*tokenSlot); ok {
		s.mu.Lock()
		s.throttled = true
		s.mu.Unlock()
	}
}

// withTokenSlot returns ctx with a slot for a token taken ahead; ctx itself when it has one.
func withTokenSlot(ctx context.Context) context.Context {
	if _, ok := ctx.Value(tokenSlotKey{}).(*tokenSlot); ok {
		return ctx
	}
	return context.WithValue(ctx, tokenSlotKey{}, &tokenSlot{})
}

// useHeld uses the token of api held in ctx's slot, if there is one.
func useHeld(ctx context.Context, api budget.API) bool {
	s, ok := ctx.Value(tokenSlotKey{}).(*tokenSlot)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held || s.api != api {
		return false
	}
	s.held = false
	return true
}

// aheadTaker is the Aliases port of Budgeted: it takes the token of an alias call ahead,
// and gives back one that no call used.
type aheadTaker interface {
	TakeAhead(ctx context.Context, api budget.API) error
	GiveBack(ctx context.Context)
}

// giveBack returns the token ctx's slot still holds, if no call used it (a decision that
// wrote nothing after all): kept, it would hold the next taker back for nothing.
func (c *Controller) giveBack(ctx context.Context) {
	if t, ok := c.Aliases.(aheadTaker); ok {
		t.GiveBack(ctx)
	}
}

// takeTurn reserves a rollback's turn to update the alias and waits for it, into ctx's slot
// (withTokenSlot), as a rollback that AWS throttled does: the next alias update made with
// ctx uses it. It fails, without waiting, when the turn would come after ctx's deadline.
func (c *Controller) takeTurn(ctx context.Context) error {
	markThrottled(ctx)
	return c.takeAhead(ctx, budget.UpdateStateMachineAlias)
}

// takeAhead takes a token of api into ctx's slot (withTokenSlot) unless it holds one: the
// next call of api made with ctx uses it. Ports that are not budgeted take nothing.
func (c *Controller) takeAhead(ctx context.Context, api budget.API) error {
	t, ok := c.Aliases.(aheadTaker)
	if !ok {
		return nil
	}
	return t.TakeAhead(ctx, api)
}

type budgetedStateMachines struct {
	next   StateMachines
	budget Budget
}

func (s *budgetedStateMachines) Describe(ctx context.Context, arn string) (StateMachine, error) {
	if err := budgetToken(ctx, s.budget, budget.DescribeStateMachine); err != nil {
		return StateMachine{}, fmt.Errorf("describe state machine %s: %w", arn, err)
	}
	return s.next.Describe(ctx, arn)
}

func (s *budgetedStateMachines) Tags(ctx context.Context, arn string) (map[string]string, error) {
	if err := budgetToken(ctx, s.budget, budget.ListTagsForResource); err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", arn, err)
	}
	return s.next.Tags(ctx, arn)
}

func (s *budgetedStateMachines) Validate(ctx context.Context, definition, stateMachineType string) ([]Diagnostic, error) {
	if err := budgetToken(ctx, s.budget, budget.ValidateStateMachineDefinition); err != nil {
		return nil, fmt.Errorf("validate definition: %w", err)
	}
	return s.next.Validate(ctx, definition, stateMachineType)
}

// Publish is one UpdateStateMachine call with publish=true (sfnapi.StateMachines.Publish),
// so it takes from UpdateStateMachine's bucket only. Whether AWS also counts such a call
// against PublishStateMachineVersion's is not documented; nothing else the controller does
// draws from that bucket, so the question moves no other work.
func (s *budgetedStateMachines) Publish(ctx context.Context, stateMachineArn, definition, description string) (string, error) {
	if err := budgetToken(ctx, s.budget, budget.UpdateStateMachine); err != nil {
		return "", fmt.Errorf("publish %s: %w", stateMachineArn, err)
	}
	return s.next.Publish(ctx, stateMachineArn, definition, description)
}

func (s *budgetedStateMachines) ListVersions(ctx context.Context, stateMachineArn string) ([]Version, error) {
	if err := budgetToken(ctx, s.budget, budget.ListStateMachineVersions); err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", stateMachineArn, err)
	}
	return s.next.ListVersions(ctx, stateMachineArn)
}

func (s *budgetedStateMachines) DeleteVersion(ctx context.Context, versionArn string) error {
	if err := budgetToken(ctx, s.budget, budget.DeleteStateMachineVersion); err != nil {
		return fmt.Errorf("delete version %s: %w", versionArn, err)
	}
	return s.next.DeleteVersion(ctx, versionArn)
}

type budgetedAliases struct {
	next   Aliases
	budget Budget
}

func (a *budgetedAliases) Describe(ctx context.Context, aliasArn string) (Alias, error) {
	if budget.PriorityOf(ctx) == budget.Rollback {
		// A rollback writes without reading: a read in its path (an ended rollout's
		// repair, after a storm) is a repair's, and waits its turn like one, instead of
		// hammering the account's one-a-second bucket.
		ctx = budget.WithPriority(ctx, budget.Repair)
	}
	if err := budgetToken(ctx, a.budget, budget.DescribeStateMachineAlias); err != nil {
		return Alias{}, fmt.Errorf("describe alias %s: %w", aliasArn, err)
	}
	return a.next.Describe(ctx, aliasArn)
}

// TakeAhead takes a token of api into ctx's slot, unless the slot holds one already.
func (a *budgetedAliases) TakeAhead(ctx context.Context, api budget.API) error {
	s, ok := ctx.Value(tokenSlotKey{}).(*tokenSlot)
	if !ok {
		return nil // no slot: the call takes its own
	}
	s.mu.Lock()
	held, throttled := s.held && s.api == api, s.throttled
	s.mu.Unlock()
	if held {
		return nil
	}
	if budget.PriorityOf(ctx) == budget.Rollback && api == budget.UpdateStateMachineAlias {
		// A rollback's first try takes nothing ahead: it calls at once, and its token is
		// recorded once the call has taken one (Update). After a throttled try it waits
		// for its turn, which it has reserved, and calls once then.
		if !throttled {
			return nil
		}
		at, err := a.budget.Reserve(ctx, api)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrThrottled, err)
		}
		if err := a.budget.SleepUntil(ctx, at); err != nil {
			return fmt.Errorf("%w: wait for the turn of a rollback's alias update: %w", ErrThrottled, err)
		}
		s.mu.Lock()
		s.api, s.held, s.throttled = api, true, false
		s.mu.Unlock()
		return nil
	}
	if err := budgetToken(context.WithValue(ctx, tokenSlotKey{}, nil), a.budget, api); err != nil {
		return fmt.Errorf("%s: %w", api, err)
	}
	s.mu.Lock()
	s.api, s.held = api, true
	s.mu.Unlock()
	return nil
}

// UseTurn waits for a turn of api reserved earlier (a continuation's, budget.LateTurn) and
// holds it in ctx's slot, as TakeAhead holds a rollback's turn: the next call of api made
// with ctx uses it, and gives it back if AWS throttles it all the same.
func (a *budgetedAliases) UseTurn(ctx context.Context, api budget.API, at time.Time) error {
	s, ok := ctx.Value(tokenSlotKey{}).(*tokenSlot)
	if !ok {
		return fmt.Errorf("use the turn of %s: no slot to hold it", api)
	}
	if err := a.budget.SleepUntil(ctx, at); err != nil {
		return fmt.Errorf("%w: wait for the turn of a continuation's alias update: %w", ErrThrottled, err)
	}
	s.mu.Lock()
	s.api, s.held, s.throttled = api, true, false
	s.mu.Unlock()
	return nil
}

// GiveTurnBack gives back a turn of api reserved earlier and kept out of any slot (a
// continuation's, budget.LateTurn), which no call will use.
func (a *budgetedAliases) GiveTurnBack(ctx context.Context, api budget.API) {
	a.budget.Refund(ctx, api)
}

// Update takes its token first, as every call does, but for a rollback: a rollback calls
// at once (its turn comes after a throttled try, TakeAhead), records the token once AWS
// took one, and marks a throttled try so that the next one waits for its turn.
// GiveBack refunds the token ctx's slot holds, if any.
func (a *budgetedAliases) GiveBack(ctx context.Context) {
	s, ok := ctx.Value(tokenSlotKey{}).(*tokenSlot)
	if !ok {
		return
	}
	s.mu.Lock()
	held, api := s.held, s.api
	s.held = false
	s.mu.Unlock()
	if held {
		a.budget.Refund(ctx, api)
	}
}

func (a *budgetedAliases) Update(ctx context.Context, aliasArn string, routing []rollout.Route) error {
	api := budget.UpdateStateMachineAlias
	if budget.PriorityOf(ctx) != budget.Rollback {
		if err := budgetToken(ctx, a.budget, api); err != nil {
			return fmt.Errorf("update alias %s: %w", aliasArn, err)
		}
		return a.next.Update(ctx, aliasArn, routing)
	}
	reserved := useHeld(ctx, api)
	err := a.next.Update(ctx, aliasArn, routing)
	switch {
	case err == nil && !reserved:
		a.budget.Spend(ctx, api, 1)
	case errors.Is(err, ErrThrottled):
		if reserved {
			a.budget.Refund(ctx, api)
		}
		markThrottled(ctx)
	}
	return err
}

func (a *budgetedAliases) Create(ctx context.Context, stateMachineArn, name, description string, routing []rollout.Route) (string, error) {
	if err := budgetToken(ctx, a.budget, budget.CreateStateMachineAlias); err != nil {
		return "", fmt.Errorf("create alias %s of %s: %w", name, stateMachineArn, err)
	}
	return a.next.Create(ctx, stateMachineArn, name, description, routing)
}

func (a *budgetedAliases) Delete(ctx context.Context, aliasArn string) error {
	if err := budgetToken(ctx, a.budget, budget.DeleteStateMachineAlias); err != nil {
		return fmt.Errorf("delete alias %s: %w", aliasArn, err)
	}
	return a.next.Delete(ctx, aliasArn)
}

// List takes a token for the listing. The adapter then describes each alias listed (the
// list carries no routing): those calls are made by the time their number is known, so
// they are recorded after it without waiting (Spend), one per alias answered.
func (a *budgetedAliases) List(ctx context.Context, stateMachineArn string) ([]Alias, error) {
	if err := budgetToken(ctx, a.budget, budget.ListStateMachineAliases); err != nil {
		return nil, fmt.Errorf("list aliases of %s: %w", stateMachineArn, err)
	}
	aliases, err := a.next.List(ctx, stateMachineArn)
	a.budget.Spend(ctx, budget.DescribeStateMachineAlias, len(aliases))
	return aliases, err
}
