package controller_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/budget/budgettest"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

var _ controller.Budget = (*budget.Budget)(nil)

// recordingBudget records every take and spend, in order with the ports' calls (log), and
// answers takes with TakeFn.
type recordingBudget struct {
	log    *[]string
	TakeFn func(api budget.API) error
}

func (b recordingBudget) Take(ctx context.Context, api budget.API) error {
	*b.log = append(*b.log, fmt.Sprintf("take %s %s", api, budget.PriorityOf(ctx)))
	if b.TakeFn != nil {
		return b.TakeFn(api)
	}
	return nil
}

func (b recordingBudget) Spend(_ context.Context, api budget.API, n int) {
	*b.log = append(*b.log, fmt.Sprintf("spend %s %d", api, n))
}

func (b recordingBudget) Reserve(_ context.Context, api budget.API) (time.Time, error) {
	*b.log = append(*b.log, fmt.Sprintf("reserve %s", api))
	return time.Time{}, nil
}

func (b recordingBudget) Refund(_ context.Context, api budget.API) {
	*b.log = append(*b.log, fmt.Sprintf("refund %s", api))
}

func (b recordingBudget) SleepUntil(context.Context, time.Time) error {
	*b.log = append(*b.log, "sleep")
	return nil
}

// recordingMachines and recordingAliases log each call; List answers two aliases.
type recordingMachines struct{ log *[]string }

func (m recordingMachines) Describe(context.Context, string) (controller.StateMachine, error) {
	*m.log = append(*m.log, "Describe")
	return controller.StateMachine{}, nil
}

func (m recordingMachines) Tags(context.Context, string) (map[string]string, error) {
	*m.log = append(*m.log, "Tags")
	return nil, nil
}

func (m recordingMachines) Validate(context.Context, string, string) ([]controller.Diagnostic, error) {
	*m.log = append(*m.log, "Validate")
	return nil, nil
}

func (m recordingMachines) Publish(context.Context, string, string, string) (string, error) {
	*m.log = append(*m.log, "Publish")
	return "", nil
}

func (m recordingMachines) ListVersions(context.Context, string) ([]controller.Version, error) {
	*m.log = append(*m.log, "ListVersions")
	return nil, nil
}

func (m recordingMachines) DeleteVersion(context.Context, string) error {
	*m.log = append(*m.log, "DeleteVersion")
	return nil
}

type recordingAliases struct{ log *[]string }

func (a recordingAliases) Describe(context.Context, string) (controller.Alias, error) {
	*a.log = append(*a.log, "DescribeAlias")
	return controller.Alias{}, nil
}

func (a recordingAliases) Update(context.Context, string, []rollout.Route) error {
	*a.log = append(*a.log, "Update")
	return nil
}

func (a recordingAliases) Create(context.Context, string, string, string, []rollout.Route) (string, error) {
	*a.log = append(*a.log, "Create")
	return "", nil
}

func (a recordingAliases) Delete(context.Context, string) error {
	*a.log = append(*a.log, "Delete")
	return nil
}

func (a recordingAliases) List(context.Context, string) ([]controller.Alias, error) {
	*a.log = append(*a.log, "List")
	return []controller.Alias{{Name: "prod"}, {Name: "beta"}}, nil
}

// budgetedCalls is one call of each method of the two ports.
var budgetedCalls = []struct {
	name string
	call func(ctx context.Context, sm controller.StateMachines, al controller.Aliases) error
	api  budget.API
}{
	{"Describe", func(ctx context.Context, sm controller.StateMachines, _ controller.Aliases) error {
		_, err := sm.Describe(ctx, "sm")
		return err
	}, budget.DescribeStateMachine},
	{"Tags", func(ctx context.Context, sm controller.StateMachines, _ controller.Aliases) error {
		_, err := sm.Tags(ctx, "sm")
		return err
	}, budget.ListTagsForResource},
	{"Validate", func(ctx context.Context, sm controller.StateMachines, _ controller.Aliases) error {
		_, err := sm.Validate(ctx, "{}", "")
		return err
	}, budget.ValidateStateMachineDefinition},
	{"Publish", func(ctx context.Context, sm controller.StateMachines, _ controller.Aliases) error {
		_, err := sm.Publish(ctx, "sm", "{}", "")
		return err
	}, budget.UpdateStateMachine},
	{"ListVersions", func(ctx context.Context, sm controller.StateMachines, _ controller.Aliases) error {
		_, err := sm.ListVersions(ctx, "sm")
		return err
	}, budget.ListStateMachineVersions},
	{"DeleteVersion", func(ctx context.Context, sm controller.StateMachines, _ controller.Aliases) error {
		return sm.DeleteVersion(ctx, "sm:1")
	}, budget.DeleteStateMachineVersion},
	{"DescribeAlias", func(ctx context.Context, _ controller.StateMachines, al controller.Aliases) error {
		_, err := al.Describe(ctx, "sm:prod")
		return err
	}, budget.DescribeStateMachineAlias},
	{"Update", func(ctx context.Context, _ controller.StateMachines, al controller.Aliases) error {
		return al.Update(ctx, "sm:prod", []rollout.Route{{VersionArn: "sm:1", Weight: 100}})
	}, budget.UpdateStateMachineAlias},
	{"Create", func(ctx context.Context, _ controller.StateMachines, al controller.Aliases) error {
		_, err := al.Create(ctx, "sm", "prod-test", "", []rollout.Route{{VersionArn: "sm:1", Weight: 100}})
		return err
	}, budget.CreateStateMachineAlias},
	{"Delete", func(ctx context.Context, _ controller.StateMachines, al controller.Aliases) error {
		return al.Delete(ctx, "sm:prod-test")
	}, budget.DeleteStateMachineAlias},
	{"List", func(ctx context.Context, _ controller.StateMachines, al controller.Aliases) error {
		_, err := al.List(ctx, "sm")
		return err
	}, budget.ListStateMachineAliases},
}

func TestBudgetedTakesATokenBeforeEachCall(t *testing.T) {
	for _, tt := range budgetedCalls {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			sm, al := controller.Budgeted(recordingMachines{&log}, recordingAliases{&log}, recordingBudget{log: &log})
			ctx := budget.WithPriority(context.Background(), budget.GC)
			if err := tt.call(ctx, sm, al); err != nil {
				t.Fatal(err)
			}
			want := []string{"take " + string(tt.api) + " gc", tt.name}
			if tt.name == "List" {
				// The adapter describes each alias it lists: two calls already made.
				want = append(want, "spend DescribeStateMachineAlias 2")
			}
			if fmt.Sprint(log) != fmt.Sprint(want) {
				t.Errorf("calls %q, want %q", log, want)
			}
			if _, ok := budget.Quotas[tt.api]; !ok {
				t.Errorf("%s has no quota", tt.api)
			}
		})
	}
}

func TestBudgetedExhaustionIsThrottling(t *testing.T) {
	for _, tt := range budgetedCalls {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			exhausted := fmt.Errorf("%s: %w", tt.api, budget.ErrExhausted)
			sm, al := controller.Budgeted(recordingMachines{&log}, recordingAliases{&log},
				recordingBudget{log: &log, TakeFn: func(budget.API) error { return exhausted }})
			err := tt.call(context.Background(), sm, al)
			if !errors.Is(err, controller.ErrThrottled) || !errors.Is(err, budget.ErrExhausted) {
				t.Fatalf("err = %v, want ErrThrottled and ErrExhausted", err)
			}
			if len(log) != 1 {
				t.Errorf("calls %q: the call was made without a token", log)
			}
		})
	}
	// Any other error of the budget (a configuration error) is not throttling.
	var log []string
	sm, _ := controller.Budgeted(recordingMachines{&log}, recordingAliases{&log},
		recordingBudget{log: &log, TakeFn: func(budget.API) error { return errors.New("no quota") }})
	if err := sm.DeleteVersion(context.Background(), "sm:1"); err == nil || errors.Is(err, controller.ErrThrottled) {
		t.Errorf("err = %v, want an error that is not ErrThrottled", err)
	}
}

// Over the real budget: once forward work has taken all it may, a forward alias update
// fails as throttled, without a call, while a rollback's goes through at once.
func TestBudgetedRollbackPassesWhereForwardIsThrottled(t *testing.T) {
	var log []string
	b := budget.New(budget.NewMemory(), budgettest.NewManualClock(budgettest.T0), nil)
	_, al := controller.Budgeted(recordingMachines{&log}, recordingAliases{&log}, b)
	routing := []rollout.Route{{VersionArn: "sm:1", Weight: 100}}
	bucket := budget.Quotas[budget.UpdateStateMachineAlias]
	forward := budget.WithPriority(context.Background(), budget.Forward)
	for range bucket.Burst - bucket.Reserve(budget.Forward) {
		if err := al.Update(forward, "sm:prod", routing); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(forward, 100*time.Millisecond)
	defer cancel()
	if err := al.Update(ctx, "sm:prod", routing); !errors.Is(err, controller.ErrThrottled) {
		t.Fatalf("forward update at the reserve: err = %v, want ErrThrottled", err)
	}
	calls := len(log)
	if err := al.Update(budget.WithPriority(context.Background(), budget.Rollback), "sm:prod", routing); err != nil {
		t.Fatalf("rollback update: %v", err)
	}
	if len(log) != calls+1 {
		t.Errorf("the rollback's update was not made")
	}
	b.Settle()
}
