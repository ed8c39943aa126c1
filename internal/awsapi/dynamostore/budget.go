package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/budget"
)

// BudgetAPI is the part of *dynamodb.Client that BudgetStore uses.
type BudgetAPI interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ BudgetAPI = (*dynamodb.Client)(nil)

// BudgetStore is the budget.Store of every controller invocation, in the rollout table:
// one item per API, BUDGET#<api> / STATE, whose emptyAt (unix nanoseconds) is when the
// bucket was or will be empty. A take is one UpdateItem in the usual case: "emptyAt =
// emptyAt + step if full <= emptyAt <= limit", which DynamoDB applies atomically, so
// concurrent takers never conflict. A bucket that has refilled to full (emptyAt < full), or
// was never written, is set to full + step instead, under the condition that it still is
// full. A condition that fails tells which case holds (the item comes back with the
// failure, or a strongly consistent read fetches it), and the take either moves to the
// other case or answers "not enough tokens".
type BudgetStore struct {
	api   BudgetAPI
	table string

	mu   sync.Mutex
	seen map[budget.API]time.Time // emptyAt as last seen, to pick the likelier case first
}

var _ budget.Store = (*BudgetStore)(nil)

// NewBudgetStore returns the budget store of table; it makes no call.
func NewBudgetStore(api BudgetAPI, table string) *BudgetStore {
	return &BudgetStore{api: api, table: table, seen: map[budget.API]time.Time{}}
}

// budgetAttempts bounds the cases one take tries; each failed condition moves it to the
// case the item is in, so more than a few mean the item keeps moving under it.
const budgetAttempts = 6

// Take is budget.Store's Take.
func (s *BudgetStore) Take(ctx context.Context, api budget.API, full, limit time.Time, step time.Duration) (time.Time, bool, error) {
	if limit.Before(full) {
		// Not even a full bucket holds enough: only read it.
		found, cur, err := s.read(ctx, api)
		if err != nil || !found || cur.Before(full) {
			return full, false, err
		}
		return cur, false, nil
	}
	s.mu.Lock()
	last, known := s.seen[api]
	s.mu.Unlock()
	// An unknown bucket is most likely full: the controller is idle most of the time.
	refill := !known || last.Before(full)
	for range budgetAttempts {
		var cur time.Time
		var found bool
		var err error
		if refill {
			next := full.Add(step)
			found, cur, err = s.update(ctx, api, &dynamodb.UpdateItemInput{
				UpdateExpression:          aws.String("SET #e = :next"),
				ConditionExpression:       aws.String("attribute_not_exists(#e) OR #e < :full"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":next": nanos(next), ":full": nanos(full)},
			})
			if err == nil {
				s.saw(api, next)
				return next, true, nil
			}
		} else {
			found, cur, err = s.update(ctx, api, &dynamodb.UpdateItemInput{
				UpdateExpression:          aws.String("SET #e = #e + :step"),
				ConditionExpression:       aws.String("#e BETWEEN :full AND :limit"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":step": num(step.Nanoseconds()), ":full": nanos(full), ":limit": nanos(limit)},
				ReturnValues:              types.ReturnValueUpdatedNew,
			})
			if err == nil {
				s.saw(api, cur)
				return cur, true, nil
			}
		}
		if !errors.Is(err, errCondition) {
			return time.Time{}, false, err
		}
		switch {
		case !found || cur.Before(full):
			refill = true
		case cur.After(limit):
			s.saw(api, cur)
			return cur, false, nil
		default:
			refill = false
		}
	}
	return time.Time{}, false, fmt.Errorf("take %s from the budget: the item kept moving under %d attempts", api, budgetAttempts)
}

// errCondition marks a failed condition; the item's emptyAt comes with it.
var errCondition = errors.New("condition failed")

// update runs one conditional update of api's item. On success it answers the emptyAt the
// update returned (ReturnValues); when the condition fails, errCondition and the emptyAt the
// item holds, from the failure itself or from a read.
func (s *BudgetStore) update(ctx context.Context, api budget.API, in *dynamodb.UpdateItemInput) (found bool, emptyAt time.Time, err error) {
	op := "take " + string(api) + " from the budget"
	in.TableName = aws.String(s.table)
	in.Key = key(budgetPrefix+string(api), budgetSK)
	in.ExpressionAttributeNames = map[string]string{"#e": attrEmptyAt}
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	out, err := s.api.UpdateItem(ctx, in)
	if err == nil {
		if in.ReturnValues != types.ReturnValueUpdatedNew {
			return true, time.Time{}, nil
		}
		found, emptyAt, err := readEmptyAt(out.Attributes)
		if err != nil || !found {
			return false, time.Time{}, fmt.Errorf("%s: the update answered no %s: %v", op, attrEmptyAt, err)
		}
		return true, emptyAt, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return false, time.Time{}, awsapi.Classify(op, err)
	}
	if failed.Item == nil {
		// DynamoDB answers the item with the failure; a store that does not (dynalite) is read.
		found, emptyAt, err = s.read(ctx, api)
	} else {
		found, emptyAt, err = readEmptyAt(failed.Item)
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	return found, emptyAt, errCondition
}

// read reads api's item, strongly consistent.
func (s *BudgetStore) read(ctx context.Context, api budget.API) (found bool, emptyAt time.Time, err error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(budgetPrefix+string(api), budgetSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, time.Time{}, awsapi.Classify("read budget "+string(api), err)
	}
	return readEmptyAt(out.Item)
}

func (s *BudgetStore) saw(api budget.API, emptyAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[api] = emptyAt
}

func nanos(t time.Time) types.AttributeValue { return num(t.UnixNano()) }

func readEmptyAt(item map[string]types.AttributeValue) (bool, time.Time, error) {
	v, ok := item[attrEmptyAt]
	if !ok {
		return false, time.Time{}, nil
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return false, time.Time{}, fmt.Errorf("%s is %T, want a number", attrEmptyAt, v)
	}
	ns, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("%s %q: %w", attrEmptyAt, n.Value, err)
	}
	return true, time.Unix(0, ns).UTC(), nil
}
