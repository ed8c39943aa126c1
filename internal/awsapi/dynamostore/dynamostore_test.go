package dynamostore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// fakeDynamo records the requests and answers with its Fn fields (zero answers otherwise).
type fakeDynamo struct {
	puts    []*dynamodb.PutItemInput
	gets    []*dynamodb.GetItemInput
	deletes []*dynamodb.DeleteItemInput
	queries []*dynamodb.QueryInput

	PutFn    func(*dynamodb.PutItemInput) error
	GetFn    func(*dynamodb.GetItemInput) (map[string]types.AttributeValue, error)
	DeleteFn func(*dynamodb.DeleteItemInput) error
	QueryFn  func(*dynamodb.QueryInput) (*dynamodb.QueryOutput, error)
}

func (f *fakeDynamo) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	if f.PutFn != nil {
		return &dynamodb.PutItemOutput{}, f.PutFn(in)
	}
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDynamo) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets = append(f.gets, in)
	if f.GetFn != nil {
		item, err := f.GetFn(in)
		return &dynamodb.GetItemOutput{Item: item}, err
	}
	return &dynamodb.GetItemOutput{}, nil
}

func (f *fakeDynamo) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.deletes = append(f.deletes, in)
	if f.DeleteFn != nil {
		return &dynamodb.DeleteItemOutput{}, f.DeleteFn(in)
	}
	return &dynamodb.DeleteItemOutput{}, nil
}

func (f *fakeDynamo) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	copied := *in
	f.queries = append(f.queries, &copied)
	if f.QueryFn != nil {
		return f.QueryFn(in)
	}
	return &dynamodb.QueryOutput{}, nil
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func attrS(t *testing.T, item map[string]types.AttributeValue, name string) string {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		t.Fatalf("attribute %s = %#v, want a string", name, item[name])
	}
	return v.Value
}

func conditionalFailed() error {
	return &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
}

func TestSaveRolloutWritesTheNextRevUnderCondition(t *testing.T) {
	tests := []struct {
		name       string
		phase      rollout.Phase
		settled    bool
		wantActive bool
	}{
		{name: "running rollout is in the active index", phase: rollout.Progressing, wantActive: true},
		{name: "paused rollout is in the active index", phase: rollout.Paused, wantActive: true},
		{name: "ended rollout stays in the index until settled", phase: rollout.Succeeded, wantActive: true},
		{name: "settled rollout leaves the active index", phase: rollout.Succeeded, settled: true, wantActive: false},
		{name: "settled rolled back rollout leaves the active index", phase: rollout.RolledBack, settled: true, wantActive: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDynamo{}
			r := sampleRollout("r1", t0, tt.phase)
			r.Settled = tt.settled
			r.Rev = 4
			got, err := dynamostore.New(fake, "tbl").SaveRollout(context.Background(), r)
			if err != nil {
				t.Fatalf("SaveRollout: %v", err)
			}
			if got.Rev != 5 {
				t.Errorf("returned rev %d, want 5", got.Rev)
			}
			in := fake.puts[0]
			if aws.ToString(in.TableName) != "tbl" {
				t.Errorf("table %q", aws.ToString(in.TableName))
			}
			if aws.ToString(in.ConditionExpression) != "#rev = :expected" {
				t.Errorf("condition %q", aws.ToString(in.ConditionExpression))
			}
			if !reflect.DeepEqual(in.ExpressionAttributeNames, map[string]string{"#rev": "rev"}) {
				t.Errorf("names %v", in.ExpressionAttributeNames)
			}
			if !reflect.DeepEqual(in.ExpressionAttributeValues, map[string]types.AttributeValue{":expected": n("4")}) {
				t.Errorf("values %#v", in.ExpressionAttributeValues)
			}
			item := in.Item
			if !reflect.DeepEqual(item["rev"], n("5")) {
				t.Errorf("item rev %#v, want 5", item["rev"])
			}
			if attrS(t, item, "pk") != "ROLLOUT#r1" || attrS(t, item, "sk") != "META" {
				t.Errorf("keys %v %v", item["pk"], item["sk"])
			}
			if attrS(t, item, "taskToken") != "token-r1" {
				t.Errorf("task token not stored")
			}
			if attrS(t, item, "historyPk") != "SM#"+smArn || attrS(t, item, "historySk") != "2026-03-01T12:00:00.000000000Z#r1" {
				t.Errorf("history keys %v %v", item["historyPk"], item["historySk"])
			}
			_, hasPK := item["activePk"]
			_, hasSK := item["activeSk"]
			if hasPK != tt.wantActive || hasSK != tt.wantActive {
				t.Errorf("activePk present %v, activeSk present %v; want %v", hasPK, hasSK, tt.wantActive)
			}
			if tt.wantActive && attrS(t, item, "activePk") != "ACTIVE" {
				t.Errorf("activePk %v", item["activePk"])
			}
			if _, ok := item["finishedAt"]; ok {
				t.Errorf("a zero time was stored: %v", item["finishedAt"])
			}
		})
	}
}

func TestCreateRolloutCondition(t *testing.T) {
	fake := &fakeDynamo{}
	if err := dynamostore.New(fake, "tbl").CreateRollout(context.Background(), sampleRollout("r1", t0, rollout.Pending)); err != nil {
		t.Fatal(err)
	}
	in := fake.puts[0]
	if aws.ToString(in.ConditionExpression) != "attribute_not_exists(#pk)" || in.ExpressionAttributeNames["#pk"] != "pk" {
		t.Errorf("condition %q names %v", aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames)
	}
}

func TestClaimUploadConflictReturnsTheExistingClaim(t *testing.T) {
	fake := &fakeDynamo{
		PutFn: func(*dynamodb.PutItemInput) error { return conditionalFailed() },
		GetFn: func(in *dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
			return map[string]types.AttributeValue{
				"pk": s("UPLOAD#u1"), "sk": s("DEDUPE"),
				"uploadId": s("u1"), "rolloutId": s("first"), "execution": s("exec-1"),
				"expiresAt": n("1772452800"),
			}, nil
		},
	}
	store := dynamostore.New(fake, "tbl").WithClock(fixedClock{t0})
	got, err := store.ClaimUpload(context.Background(), controller.UploadClaim{UploadID: "u1", RolloutID: "second", Execution: "exec-2", ExpiresAt: t0.Add(24 * 3600e9)})
	if !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
	want := controller.UploadClaim{UploadID: "u1", RolloutID: "first", Execution: "exec-1", ExpiresAt: t0.Add(24 * 3600e9)}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	put := fake.puts[0]
	if aws.ToString(put.ConditionExpression) != "attribute_not_exists(#pk) OR #exp < :now" {
		t.Errorf("condition %q", aws.ToString(put.ConditionExpression))
	}
	if !reflect.DeepEqual(put.ExpressionAttributeValues[":now"], n("1772366400")) {
		t.Errorf(":now = %#v, want the clock's epoch seconds", put.ExpressionAttributeValues[":now"])
	}
	if !reflect.DeepEqual(put.Item["expiresAt"], n("1772452800")) || attrS(t, put.Item, "pk") != "UPLOAD#u1" || attrS(t, put.Item, "sk") != "DEDUPE" {
		t.Errorf("item %v", put.Item)
	}
	if !aws.ToBool(fake.gets[0].ConsistentRead) {
		t.Errorf("the existing claim was read without ConsistentRead")
	}
}

func TestAcquireLockConflictReturnsTheHolder(t *testing.T) {
	fake := &fakeDynamo{
		PutFn: func(*dynamodb.PutItemInput) error { return conditionalFailed() },
		GetFn: func(*dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
			return map[string]types.AttributeValue{"pk": s("ALIAS#a"), "sk": s("LOCK"), "rolloutId": s("holder")}, nil
		},
	}
	holder, acquired, err := dynamostore.New(fake, "tbl").AcquireLock(context.Background(), "a", "me")
	if holder != "holder" || acquired || !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("got %q, acquired %v, %v; want holder and ErrConflict", holder, acquired, err)
	}
	put := fake.puts[0]
	if aws.ToString(put.ConditionExpression) != "attribute_not_exists(#pk)" || len(put.ExpressionAttributeValues) != 0 {
		t.Errorf("condition %q values %v", aws.ToString(put.ConditionExpression), put.ExpressionAttributeValues)
	}
	if !aws.ToBool(fake.gets[0].ConsistentRead) {
		t.Errorf("the holder was read without ConsistentRead")
	}
	if attrS(t, put.Item, "pk") != "ALIAS#a" || attrS(t, put.Item, "sk") != "LOCK" {
		t.Errorf("lock keys %v %v", put.Item["pk"], put.Item["sk"])
	}
}

// A lock found held by the caller is success, but not a lock taken: the caller may not give
// it back on the strength of this call.
func TestAcquireLockHeldByTheCallerIsNotAcquired(t *testing.T) {
	fake := &fakeDynamo{
		PutFn: func(*dynamodb.PutItemInput) error { return conditionalFailed() },
		GetFn: func(*dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
			return map[string]types.AttributeValue{"pk": s("ALIAS#a"), "sk": s("LOCK"), "rolloutId": s("me")}, nil
		},
	}
	holder, acquired, err := dynamostore.New(fake, "tbl").AcquireLock(context.Background(), "a", "me")
	if holder != "me" || acquired || err != nil {
		t.Fatalf("got %q, acquired %v, %v; want me, not acquired, no error", holder, acquired, err)
	}
	fresh := &fakeDynamo{}
	if holder, acquired, err := dynamostore.New(fresh, "tbl").AcquireLock(context.Background(), "a", "me"); holder != "me" || !acquired || err != nil {
		t.Fatalf("free lock: got %q, acquired %v, %v; want me, acquired", holder, acquired, err)
	}
}

func TestReleaseLockIgnoresAnotherHolder(t *testing.T) {
	fake := &fakeDynamo{DeleteFn: func(*dynamodb.DeleteItemInput) error { return conditionalFailed() }}
	if err := dynamostore.New(fake, "tbl").ReleaseLock(context.Background(), "a", "me"); err != nil {
		t.Fatalf("ReleaseLock: %v", err)
	}
	if got := aws.ToString(fake.deletes[0].ConditionExpression); got != "#rollout = :id" {
		t.Errorf("condition %q", got)
	}
}

func TestQueriesPaginateAndOrder(t *testing.T) {
	pages := []*dynamodb.QueryOutput{
		{Items: []map[string]types.AttributeValue{{"pk": s("ALARM#x"), "sk": s("ROLLOUT#r1"), "alarm": s("x"), "rolloutId": s("r1")}},
			LastEvaluatedKey: map[string]types.AttributeValue{"pk": s("ALARM#x"), "sk": s("ROLLOUT#r1")}},
		{Items: []map[string]types.AttributeValue{{"pk": s("ALARM#x"), "sk": s("ROLLOUT#r2"), "alarm": s("x"), "rolloutId": s("r2")}}},
	}
	fake := &fakeDynamo{QueryFn: func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		if in.ExclusiveStartKey == nil {
			return pages[0], nil
		}
		return pages[1], nil
	}}
	got, err := dynamostore.New(fake, "tbl").GuardedBy(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"r1", "r2"}) {
		t.Errorf("GuardedBy = %v", got)
	}
	if len(fake.queries) != 2 {
		t.Errorf("%d queries, want 2 pages", len(fake.queries))
	}
	q := fake.queries[0]
	if aws.ToString(q.KeyConditionExpression) != "#pk = :pk AND begins_with(#sk, :prefix)" ||
		!reflect.DeepEqual(q.ExpressionAttributeValues, map[string]types.AttributeValue{":pk": s("ALARM#x"), ":prefix": s("ROLLOUT#")}) {
		t.Errorf("query %q %v", aws.ToString(q.KeyConditionExpression), q.ExpressionAttributeValues)
	}
}

func TestHistoryQueriesTheIndexNewestFirst(t *testing.T) {
	fake := &fakeDynamo{}
	if _, err := dynamostore.New(fake, "tbl").History(context.Background(), smArn, 5); err != nil {
		t.Fatal(err)
	}
	q := fake.queries[0]
	if aws.ToString(q.IndexName) != "history" || aws.ToBool(q.ScanIndexForward) || aws.ToInt32(q.Limit) != 5 ||
		!reflect.DeepEqual(q.ExpressionAttributeValues[":pk"], s("SM#"+smArn)) {
		t.Errorf("query index %q forward %v limit %d values %v", aws.ToString(q.IndexName), aws.ToBool(q.ScanIndexForward), aws.ToInt32(q.Limit), q.ExpressionAttributeValues)
	}
}

func TestErrorMapping(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	tests := []struct {
		name    string
		fake    *fakeDynamo
		call    func(*dynamostore.Store) error
		want    error
		notWant error
	}{
		{
			name: "stale rev is a conflict",
			fake: &fakeDynamo{PutFn: func(*dynamodb.PutItemInput) error { return conditionalFailed() }},
			call: func(s *dynamostore.Store) error {
				_, err := s.SaveRollout(context.Background(), sampleRollout("r1", t0, rollout.Progressing))
				return err
			},
			want: controller.ErrConflict,
		},
		{
			name: "existing id is a conflict",
			fake: &fakeDynamo{PutFn: func(*dynamodb.PutItemInput) error { return conditionalFailed() }},
			call: func(s *dynamostore.Store) error {
				return s.CreateRollout(context.Background(), sampleRollout("r1", t0, rollout.Progressing))
			},
			want: controller.ErrConflict,
		},
		{
			name: "throttled put",
			fake: &fakeDynamo{PutFn: func(*dynamodb.PutItemInput) error { return throttled }},
			call: func(s *dynamostore.Store) error {
				return s.AppendEvent(context.Background(), "r1", controller.Event{Seq: 1})
			},
			want: controller.ErrThrottled,
		},
		{
			name: "provisioned throughput exceeded",
			fake: &fakeDynamo{GetFn: func(*dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
				return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
			}},
			call: func(s *dynamostore.Store) error {
				_, err := s.GetRollout(context.Background(), "r1")
				return err
			},
			want: controller.ErrThrottled,
		},
		{
			name: "absent record is not found",
			fake: &fakeDynamo{},
			call: func(s *dynamostore.Store) error {
				_, err := s.GetRollout(context.Background(), "r1")
				return err
			},
			want: controller.ErrNotFound,
		},
		{
			name: "missing table is not a missing record",
			fake: &fakeDynamo{GetFn: func(*dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
				return nil, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}
			}},
			call: func(s *dynamostore.Store) error {
				_, err := s.GetRollout(context.Background(), "r1")
				return err
			},
			notWant: controller.ErrNotFound,
		},
		{
			name: "throttled query",
			fake: &fakeDynamo{QueryFn: func(*dynamodb.QueryInput) (*dynamodb.QueryOutput, error) { return nil, throttled }},
			call: func(s *dynamostore.Store) error {
				_, err := s.ListActive(context.Background())
				return err
			},
			want: controller.ErrThrottled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(dynamostore.New(tt.fake, "tbl"))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want errors.Is %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Errorf("err %v must not be %v", err, tt.notWant)
			}
		})
	}
}

// fakeTables answers CreateTable once and DescribeTable with the statuses in turn.
type fakeTables struct {
	created  *dynamodb.CreateTableInput
	statuses []types.TableStatus
	describe int
}

func (f *fakeTables) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.created = in
	return &dynamodb.CreateTableOutput{}, nil
}

func (f *fakeTables) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	status := f.statuses[min(f.describe, len(f.statuses)-1)]
	f.describe++
	index := types.IndexStatusActive
	if status != types.TableStatusActive {
		index = types.IndexStatusCreating
	}
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{
		TableStatus: status,
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
			{IndexName: aws.String("history"), IndexStatus: index},
			{IndexName: aws.String("active"), IndexStatus: index},
		},
	}}, nil
}

func TestCreateTableDefinitionAndWait(t *testing.T) {
	fake := &fakeTables{statuses: []types.TableStatus{types.TableStatusCreating, types.TableStatusCreating, types.TableStatusActive}}
	if err := dynamostore.CreateTable(context.Background(), fake, "tbl"); err != nil {
		t.Fatal(err)
	}
	if fake.describe != 3 {
		t.Errorf("DescribeTable called %d times, want 3 (until ACTIVE)", fake.describe)
	}
	in := fake.created
	if in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %q", in.BillingMode)
	}
	indexes := map[string][2]string{}
	for _, gsi := range in.GlobalSecondaryIndexes {
		indexes[aws.ToString(gsi.IndexName)] = [2]string{aws.ToString(gsi.KeySchema[0].AttributeName), aws.ToString(gsi.KeySchema[1].AttributeName)}
		if gsi.Projection == nil || gsi.Projection.ProjectionType != types.ProjectionTypeAll {
			t.Errorf("index %s does not project every attribute", aws.ToString(gsi.IndexName))
		}
	}
	want := map[string][2]string{"history": {"historyPk", "historySk"}, "active": {"activePk", "activeSk"}}
	if !reflect.DeepEqual(indexes, want) {
		t.Errorf("indexes %v, want %v", indexes, want)
	}
}

type fakeTTL struct {
	requests []dynamodb.UpdateTimeToLiveInput
	err      error
}

func (f *fakeTTL) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	f.requests = append(f.requests, *in)
	return &dynamodb.UpdateTimeToLiveOutput{}, f.err
}

func TestEnableTTL(t *testing.T) {
	tests := []struct {
		name    string
		answer  error
		wantErr bool
	}{
		{name: "enabled", answer: nil},
		{name: "already enabled", answer: &smithy.GenericAPIError{Code: "ValidationException", Message: "TimeToLive is already enabled"}},
		{name: "not supported (dynalite)", answer: &smithy.GenericAPIError{Code: "UnknownOperationException"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTTL{err: tt.answer}
			err := dynamostore.EnableTTL(context.Background(), fake, "tbl")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want an error: %v", err, tt.wantErr)
			}
			spec := fake.requests[0].TimeToLiveSpecification
			if aws.ToString(fake.requests[0].TableName) != "tbl" || aws.ToString(spec.AttributeName) != "expiresAt" || !aws.ToBool(spec.Enabled) {
				t.Errorf("request %+v", fake.requests[0])
			}
		})
	}
}
