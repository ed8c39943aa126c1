package wiring

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Every adapter honours AWS_ENDPOINT_URL: a tick for a rollout without a record reads
// DynamoDB and deletes the stray schedule, both at the configured endpoint.
func TestFromEnvHonoursAWSEndpointURL(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			seen = append(seen, target)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{}`)) // GetItem: no item
			return
		}
		seen = append(seen, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	for k, v := range fullEnv() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")

	c, err := FromEnv(context.Background(), "advance")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Dispatch(context.Background(), c, "advance", json.RawMessage(`{"rolloutId":"r-1"}`))
	if err != nil {
		t.Fatalf("advance: %v (%s)", err, controller.ErrorName(err))
	}
	if o := out.(controller.Outcome); o.RolloutID != "r-1" {
		t.Errorf("outcome %+v", o)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"DynamoDB_20120810.GetItem", "DELETE /schedules/" + topology.ScheduleName("r-1")}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("requests at the endpoint = %q, want %q", seen, want)
	}
}
