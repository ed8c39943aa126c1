package dynamostore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// TableAPI is the part of *dynamodb.Client that CreateTable uses.
type TableAPI interface {
	CreateTable(ctx context.Context, params *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, params *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// TTLAPI is the part of *dynamodb.Client that EnableTTL uses.
type TTLAPI interface {
	UpdateTimeToLive(ctx context.Context, params *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var (
	_ TableAPI = (*dynamodb.Client)(nil)
	_ TTLAPI   = (*dynamodb.Client)(nil)
)

// tableReadyTimeout bounds how long CreateTable waits for the table and its indexes.
const tableReadyTimeout = 5 * time.Minute

// CreateTable creates the table of DESIGN.md (pk/sk, the history index and the sparse
// active index, on-demand billing) unless it exists, and waits until it and its indexes
// are ACTIVE. Local mode and tests use it; on AWS the CDK app owns the table.
func CreateTable(ctx context.Context, api TableAPI, name string) error {
	_, err := api.CreateTable(ctx, tableDefinition(name))
	if err != nil && !awsapi.IsCode(err, "ResourceInUseException") {
		return awsapi.Classify("create table "+name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, tableReadyTimeout)
	defer cancel()
	return waitActive(ctx, api, name)
}

func tableDefinition(name string) *dynamodb.CreateTableInput {
	attr := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	index := func(name, pk, sk string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName:  aws.String(name),
			KeySchema:  keys(pk, sk),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			attr(topology.AttrPK), attr(topology.AttrSK),
			attr(topology.AttrHistoryPK), attr(topology.AttrHistorySK),
			attr(topology.AttrActivePK), attr(topology.AttrActiveSK),
		},
		KeySchema: keys(topology.AttrPK, topology.AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			index(topology.HistoryIndex, topology.AttrHistoryPK, topology.AttrHistorySK),
			index(topology.ActiveIndex, topology.AttrActivePK, topology.AttrActiveSK),
		},
		BillingMode: types.BillingModePayPerRequest,
	}
}

// waitActive polls DescribeTable, backing off from 50 ms to 2 s, until the table and every
// index are ACTIVE.
func waitActive(ctx context.Context, api TableAPI, name string) error {
	delay := 50 * time.Millisecond
	for {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return awsapi.Classify("describe table "+name, err)
		}
		if active(out.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s to be ACTIVE: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func active(t *types.TableDescription) bool {
	if t == nil || t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if gsi.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// EnableTTL makes the table expire items by their expiresAt (epoch seconds). It is apart
// from CreateTable because dynalite has no UpdateTimeToLive: local mode skips it.
func EnableTTL(ctx context.Context, api TTLAPI, name string) error {
	_, err := api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(topology.AttrTTL),
			Enabled:       aws.Bool(true),
		},
	})
	if awsapi.IsCode(err, "ValidationException") && strings.Contains(err.Error(), "already enabled") {
		return nil
	}
	return awsapi.Classify("enable TTL on table "+name, err)
}
