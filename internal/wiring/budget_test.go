package wiring

import (
	"context"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

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
