package dynamostore_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
)

func TestLockHolder(t *testing.T) {
	held := &fakeDynamo{GetFn: func(*dynamodb.GetItemInput) (map[string]types.AttributeValue, error) {
		return map[string]types.AttributeValue{"pk": s("ALIAS#a"), "sk": s("LOCK"), "rolloutId": s("r-1")}, nil
	}}
	holder, err := dynamostore.New(held, "tbl").LockHolder(context.Background(), "a")
	if err != nil || holder != "r-1" {
		t.Fatalf("LockHolder = %q, %v; want r-1", holder, err)
	}
	in := held.gets[0]
	if attrS(t, in.Key, "pk") != "ALIAS#a" || attrS(t, in.Key, "sk") != "LOCK" || !aws.ToBool(in.ConsistentRead) {
		t.Errorf("read %v consistent=%v", in.Key, aws.ToBool(in.ConsistentRead))
	}
	holder, err = dynamostore.New(&fakeDynamo{}, "tbl").LockHolder(context.Background(), "a")
	if err != nil || holder != "" {
		t.Fatalf("LockHolder of a free alias = %q, %v; want \"\"", holder, err)
	}
}
