package dynamostore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	localdynalite "github.com/sfn-rollout/sfn-rollout/internal/local/dynalite"
)

// dynalite starts a dynalite (a DynamoDB on LevelDB, installed by `npm ci --prefix .tools`)
// on a free loopback port for the test and returns a real client pointed at it. Without
// dynalite the test is skipped, unless CI=true, where a missing tool is a failure.
func dynalite(t testing.TB) *dynamodb.Client {
	t.Helper()
	cli, err := localdynalite.FindCLI()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := localdynalite.Start(ctx, cli)
	if err != nil {
		t.Fatalf("start dynalite: %v", err)
	}
	t.Cleanup(p.Stop)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}
