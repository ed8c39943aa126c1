// Package dynamostore implements the controller's table ports over one DynamoDB table, with
// the records and key layout of DESIGN.md and internal/topology. Every write is one
// conditional item write, never a transaction, so that it is idempotent on retry.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// API is the part of *dynamodb.Client that Store uses.
type API interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store implements the controller's table ports (Rollouts, Locks, Queues, AlarmGuards,
// Uploads, Sweeps) over a DynamoDB table.
type Store struct {
	api   API
	table string
	now   func() time.Time
}

var (
	_ controller.Rollouts    = (*Store)(nil)
	_ controller.Locks       = (*Store)(nil)
	_ controller.Queues      = (*Store)(nil)
	_ controller.AlarmGuards = (*Store)(nil)
	_ controller.Uploads     = (*Store)(nil)
	_ controller.Sweeps      = (*Store)(nil)
)

// New returns the store of table; it makes no call. Its clock is the wall clock until
// WithClock gives it another.
func New(api API, table string) *Store { return &Store{api: api, table: table, now: time.Now} }

// WithClock makes the store read the time, which decides whether an upload claim has
// expired, from clock (local mode's virtual clock). It returns s.
func (s *Store) WithClock(clock controller.Clock) *Store {
	s.now = clock.Now
	return s
}

// Key prefixes and sort keys of DESIGN.md's records.
const (
	rolloutPrefix = "ROLLOUT#"
	metaSK        = "META"
	eventPrefix   = "EVENT#"
	aliasPrefix   = "ALIAS#"
	lockSK        = "LOCK"
	queuePrefix   = "QUEUE#"
	alarmPrefix   = "ALARM#"
	uploadPrefix  = "UPLOAD#"
	dedupeSK      = "DEDUPE"
	historyPrefix = "SM#"
	budgetPrefix  = "BUDGET#" // + a Step Functions API name: that API's shared token bucket
	budgetSK      = "STATE"
)

// Attributes beside the keys.
const (
	attrRev       = "rev"
	attrRolloutID = "rolloutId"
	attrTaskToken = "taskToken"
	attrEmptyAt   = "emptyAt" // a budget bucket: unix nanoseconds when it was or will be empty
)

// sortableTime is a fixed-width UTC timestamp, so that sort keys built from times order as
// the times do (RFC3339Nano trims trailing zeros: "…:05.5Z" would sort before "…:05Z").
const sortableTime = "2006-01-02T15:04:05.000000000Z"

func sortKeyTime(t time.Time) string { return t.UTC().Format(sortableTime) }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{topology.AttrPK: str(pk), topology.AttrSK: str(sk)}
}

// The records are written with their JSON field names, so that an item reads like the
// record the CLI and the events show.
func encodeOptions(o *attributevalue.EncoderOptions) { o.TagKey = "json" }

func decodeOptions(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// marshal encodes v and adds the item's keys.
func marshal(v any, pk, sk string) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(v, encodeOptions)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", pk, sk, err)
	}
	omitZeroTimes(item)
	item[topology.AttrPK] = str(pk)
	item[topology.AttrSK] = str(sk)
	return item, nil
}

// zeroTime is how attributevalue writes a zero time.Time.
var zeroTime = time.Time{}.Format(time.RFC3339Nano)

// omitZeroTimes drops the top-level attributes that hold a zero time, as the records'
// `json:",omitzero"` does; attributevalue knows only omitempty, which times never are.
func omitZeroTimes(item map[string]types.AttributeValue) {
	for name, v := range item {
		if s, ok := v.(*types.AttributeValueMemberS); ok && s.Value == zeroTime {
			delete(item, name)
		}
	}
}

func unmarshal(item map[string]types.AttributeValue, v any) error {
	if err := attributevalue.UnmarshalMapWithOptions(item, v, decodeOptions); err != nil {
		return fmt.Errorf("decode %v %v: %w", item[topology.AttrPK], item[topology.AttrSK], err)
	}
	return nil
}

// classify maps a DynamoDB error. ResourceNotFoundException names a missing table or
// index, never a missing record, so it is not ErrNotFound.
func (s *Store) classify(op string, err error) error {
	if awsapi.IsCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("%s: table %s: %w", op, s.table, err)
	}
	return awsapi.Classify(op, err)
}

func (s *Store) get(ctx context.Context, op, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, s.classify(op, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("%s: %w", op, controller.ErrNotFound)
	}
	return out.Item, nil
}

// put writes item, under condition when it is not empty.
func (s *Store) put(ctx context.Context, op string, item map[string]types.AttributeValue, condition string, names map[string]string, values map[string]types.AttributeValue) error {
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if condition != "" {
		in.ConditionExpression = aws.String(condition)
		in.ExpressionAttributeNames = names
		in.ExpressionAttributeValues = values
	}
	_, err := s.api.PutItem(ctx, in)
	return s.classify(op, err)
}

func (s *Store) delete(ctx context.Context, op, pk, sk string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(pk, sk)})
	return s.classify(op, err)
}

// queryPrefix returns every item of partition pk whose sort key starts with prefix,
// in sort key order.
func (s *Store) queryPrefix(ctx context.Context, op, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	return s.query(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": topology.AttrPK,
			"#sk": topology.AttrSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":prefix": str(prefix)},
		ConsistentRead:            aws.Bool(true),
	}, 0)
}

// query walks every page of in, or stops at limit items when limit is above 0.
func (s *Store) query(ctx context.Context, op string, in *dynamodb.QueryInput, limit int) ([]map[string]types.AttributeValue, error) {
	in.TableName = aws.String(s.table)
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	var items []map[string]types.AttributeValue
	for {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, s.classify(op, err)
		}
		items = append(items, out.Items...)
		if limit > 0 && len(items) >= limit {
			return items[:limit], nil
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// isConflict tells a lost conditional write.
func isConflict(err error) bool { return errors.Is(err, controller.ErrConflict) }
