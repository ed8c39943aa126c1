package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/budget/budgettest"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// budgetTables makes a fresh table for every store the contract asks for, on one dynalite.
func budgetTables(t *testing.T) func(t *testing.T) budget.Store {
	client := dynalite(t)
	var n atomic.Int64
	return func(t *testing.T) budget.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		table := fmt.Sprintf("budget-%d", n.Add(1))
		if err := dynamostore.CreateTable(ctx, client, table); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		return dynamostore.NewBudgetStore(client, table)
	}
}

func TestBudgetStoreContractOnDynalite(t *testing.T) {
	budgettest.StoreContract(t, budgetTables(t))
}

// fakeBudgetDynamo answers UpdateItem and GetItem with its Fn fields and counts the calls.
type fakeBudgetDynamo struct {
	updates, gets int
	UpdateFn      func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
	GetFn         func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error)
}

func (f *fakeBudgetDynamo) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.updates++
	return f.UpdateFn(in)
}

func (f *fakeBudgetDynamo) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets++
	if f.GetFn == nil {
		return &dynamodb.GetItemOutput{}, nil
	}
	return f.GetFn(in)
}

func emptyAtItem(t time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"emptyAt": &types.AttributeValueMemberN{Value: fmt.Sprint(t.UnixNano())}}
}

// DynamoDB answers the item with a failed condition (ReturnValuesOnConditionCheckFailure),
// so a take that guessed the wrong case needs no read.
func TestBudgetTakeUsesTheItemOfAFailedCondition(t *testing.T) {
	now := budgettest.T0
	full, limit, step := now.Add(-100*time.Second), now.Add(-31*time.Second), time.Second
	stored := now.Add(-50 * time.Second) // 50 tokens: not full, enough for a forward take
	fake := &fakeBudgetDynamo{UpdateFn: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
			t.Errorf("ReturnValuesOnConditionCheckFailure = %q", in.ReturnValuesOnConditionCheckFailure)
		}
		if aws.ToString(in.UpdateExpression) == "SET #e = :next" { // the refill of a full bucket
			return nil, &types.ConditionalCheckFailedException{Message: aws.String("no"), Item: emptyAtItem(stored)}
		}
		return &dynamodb.UpdateItemOutput{Attributes: emptyAtItem(stored.Add(step))}, nil
	}}
	s := dynamostore.NewBudgetStore(fake, "tbl")
	e, taken, err := s.Take(context.Background(), budget.UpdateStateMachineAlias, full, limit, step)
	if err != nil || !taken || !e.Equal(stored.Add(step)) {
		t.Fatalf("Take = %s, %v, %v; want %s, true", e, taken, err, stored.Add(step))
	}
	if fake.updates != 2 || fake.gets != 0 {
		t.Errorf("%d updates and %d reads, want 2 and 0", fake.updates, fake.gets)
	}
	// The next take starts with the case it saw: one update.
	if _, _, err := s.Take(context.Background(), budget.UpdateStateMachineAlias, full, limit, step); err != nil {
		t.Fatal(err)
	}
	if fake.updates != 3 {
		t.Errorf("%d updates after the second take, want 3", fake.updates)
	}
}

func TestBudgetTakeClassifiesErrors(t *testing.T) {
	now := budgettest.T0
	fake := &fakeBudgetDynamo{UpdateFn: func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}
	}}
	_, _, err := dynamostore.NewBudgetStore(fake, "tbl").Take(context.Background(), budget.UpdateStateMachineAlias, now.Add(-100*time.Second), now.Add(-31*time.Second), time.Second)
	if !errors.Is(err, controller.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
}

// benchClock moves a second on at every reading, so that every take finds a token: the
// benchmark measures a take, not a wait.
type benchClock struct{ n atomic.Int64 }

func (c *benchClock) Now() time.Time {
	return budgettest.T0.Add(time.Duration(c.n.Add(1)) * time.Second)
}

func (c *benchClock) Sleep(context.Context, time.Duration) error { return nil }

// BenchmarkTake is one forward take on dynalite: the UpdateItem of a take that finds a
// token, through the SDK and HTTP on loopback.
func BenchmarkTake(b *testing.B) {
	client := dynalite(b)
	ctx := context.Background()
	if err := dynamostore.CreateTable(ctx, client, "bench"); err != nil {
		b.Fatal(err)
	}
	bud := budget.New(dynamostore.NewBudgetStore(client, "bench"), &benchClock{}, nil)
	for b.Loop() {
		if err := bud.Take(ctx, budget.UpdateStateMachineAlias); err != nil {
			b.Fatal(err)
		}
	}
}
