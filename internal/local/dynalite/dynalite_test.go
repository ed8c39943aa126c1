package dynalite

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestStartServesDynamoDBAndStops(t *testing.T) {
	cli, err := FindCLI()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables through dynalite: %v", err)
	}
	pid := p.PID()
	p.Stop()
	select {
	case <-p.done:
	default:
		t.Fatalf("dynalite (pid %d) still running after Stop", pid)
	}
}

func TestFindCLIHonoursEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvTools, dir)
	// The user's cache is looked in last: an install there (any earlier `sfn-rollout
	// local` on this machine) must not answer for the empty folder.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Chdir(dir)
	if _, err := FindCLI(); err == nil {
		t.Fatal("FindCLI found dynalite in an empty folder")
	}
	if err := os.MkdirAll(dir+"/node_modules/dynalite", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/node_modules/dynalite/cli.js", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FindCLI()
	if err != nil || got != dir+"/node_modules/dynalite/cli.js" {
		t.Fatalf("FindCLI = %q, %v", got, err)
	}
}
