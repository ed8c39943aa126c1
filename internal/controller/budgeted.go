package controller

import (
	"context"
	"errors"
	"fmt"

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
	err := b.Take(ctx, api)
	if errors.Is(err, budget.ErrExhausted) {
		return fmt.Errorf("%w: %w", ErrThrottled, err)
	}
	return err
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

func (s *budgetedStateMachines) Validate(ctx context.Context, definition string) ([]Diagnostic, error) {
	if err := budgetToken(ctx, s.budget, budget.ValidateStateMachineDefinition); err != nil {
		return nil, fmt.Errorf("validate definition: %w", err)
	}
	return s.next.Validate(ctx, definition)
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

func (a *budgetedAliases) Update(ctx context.Context, aliasArn string, routing []rollout.Route) error {
	if err := budgetToken(ctx, a.budget, budget.UpdateStateMachineAlias); err != nil {
		return fmt.Errorf("update alias %s: %w", aliasArn, err)
	}
	return a.next.Update(ctx, aliasArn, routing)
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
