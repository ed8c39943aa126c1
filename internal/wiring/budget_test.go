package wiring

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The controller's Step Functions ports go through the budget.
func TestStepFunctionsCallsAreBudgeted(t *testing.T) {
	s, err := SettingsFromEnv(env(fullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(aws.Config{Region: "us-east-1"}, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, port := range map[string]any{"StateMachines": c.StateMachines, "Aliases": c.Aliases} {
		if got := fmt.Sprintf("%T", port); got != "*controller.budgeted"+name {
			t.Errorf("%s port is %s, want the budgeted one", name, got)
		}
	}
}

type nowOnly struct{}

func (nowOnly) Now() time.Time { return time.Time{} }

// The budget runs on the controller's clock: local mode's virtual clock as it is (its Sleep
// and its wall-time conversion), a clock without Sleep with the wall clock's.
func TestBudgetClock(t *testing.T) {
	virtual := core.NewClock(600)
	if got := budgetClock(virtual); got != budget.Clock(virtual) {
		t.Errorf("budgetClock(virtual) = %T, want the virtual clock itself", got)
	}
	if _, ok := budgetClock(nil).(budget.WallClock); !ok {
		t.Errorf("budgetClock(nil) = %T, want the wall clock", budgetClock(nil))
	}
	if _, ok := budgetClock(nowOnly{}).(wallSleep); !ok {
		t.Errorf("budgetClock(Now only) = %T, want its Now with the wall clock's Sleep", budgetClock(nowOnly{}))
	}
}

func TestTheRollbackFunctionTakesAtRollbackPriority(t *testing.T) {
	for _, fn := range topology.Functions {
		want := budget.Forward
		if fn == "rollback" {
			want = budget.Rollback
		}
		if got := budget.PriorityOf(withFunctionPriority(context.Background(), fn)); got != want {
			t.Errorf("%s: priority %s, want %s", fn, got, want)
		}
	}
}
