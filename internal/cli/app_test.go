package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConnectResolvesResources(t *testing.T) {
	notLocal := httptest.NewServer(http.NotFoundHandler())
	defer notLocal.Close()
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

	t.Run("another endpoint without a region", func(t *testing.T) {
		a := &app{g: &globals{endpoint: notLocal.URL}, getenv: env(nil)}
		err := a.connect(context.Background())
		var usage UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "no AWS region") {
			t.Fatalf("connect = %v, want a usage error about the region", err)
		}
	})

	t.Run("flags win over the environment", func(t *testing.T) {
		a := &app{g: &globals{endpoint: notLocal.URL, region: "eu-west-1", table: "flag-table"}, getenv: env(map[string]string{
			"SFN_ROLLOUT_BUCKET": "env-bucket", "SFN_ROLLOUT_TABLE": "env-table",
		})}
		if err := a.connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := a.res
		if r.Local || r.Region != "eu-west-1" || r.Partition != "aws" || r.Bucket != "env-bucket" || r.Table != "flag-table" || r.ControlFunction != "sfn-rollout-control" {
			t.Errorf("resources %+v", r)
		}
	})

	t.Run("nothing configured says where to configure it", func(t *testing.T) {
		a := &app{g: &globals{endpoint: notLocal.URL, region: "cn-north-1"}, getenv: env(nil)}
		if err := a.connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a.res.Partition != "aws-cn" {
			t.Errorf("partition %q", a.res.Partition)
		}
		if _, err := a.rollouts(); err == nil || !strings.Contains(err.Error(), "set --table or SFN_ROLLOUT_TABLE (the stack's output RolloutTableName)") {
			t.Errorf("rollouts() = %v", err)
		}
		if _, err := a.s3(); err == nil || !strings.Contains(err.Error(), "SFN_ROLLOUT_BUCKET") {
			t.Errorf("s3() = %v", err)
		}
	})

	t.Run("an endpoint that does not answer", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		a := &app{g: &globals{endpoint: url, region: "us-east-1"}, getenv: env(nil)}
		if err := a.connect(context.Background()); err == nil || !strings.Contains(err.Error(), "does not answer") {
			t.Fatalf("connect = %v", err)
		}
	})

	t.Run("the caller falls back to USER", func(t *testing.T) {
		a := &app{g: &globals{}, getenv: env(map[string]string{"USER": "alice"}), res: Resources{Local: true}}
		if got := a.caller(context.Background()); got != "alice" {
			t.Errorf("caller = %q", got)
		}
	})
}
