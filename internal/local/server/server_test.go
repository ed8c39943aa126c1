package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
}

func sigv4(service string) string {
	return "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/" + service + "/aws4_request, SignedHeaders=host, Signature=abc"
}

func TestRoute(t *testing.T) {
	srv := New(Services{
		StepFunctions: named("sfn"), DynamoDB: named("dynamodb"), CloudWatch: named("cloudwatch"),
		EventBridge: named("events"), Scheduler: named("scheduler"), Lambda: named("lambda"), S3: named("s3"),
	}, nil, nil)
	tests := []struct {
		name, method, path, target, auth, want string
	}{
		{name: "step functions by target", method: "POST", path: "/", target: "AWSStepFunctions.StartExecution", want: "sfn"},
		{name: "dynamodb by target", method: "POST", path: "/", target: "DynamoDB_20120810.PutItem", want: "dynamodb"},
		{name: "eventbridge by target", method: "POST", path: "/", target: "AWSEvents.PutEvents", want: "events"},
		{name: "cloudwatch rpc-v2-cbor by path", method: "POST", path: "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", want: "cloudwatch"},
		{name: "cloudwatch awsJson1_0 by target", method: "POST", path: "/", target: "GraniteServiceVersion20100801.DescribeAlarms", want: "cloudwatch"},
		{name: "cloudwatch awsQuery by signing name", method: "POST", path: "/", auth: sigv4("monitoring"), want: "cloudwatch"},
		{name: "scheduler by signing name", method: "GET", path: "/schedules", auth: sigv4("scheduler"), want: "scheduler"},
		{name: "lambda by signing name", method: "POST", path: "/2015-03-31/functions/advance/invocations", auth: sigv4("lambda"), want: "lambda"},
		{name: "s3 by signing name", method: "PUT", path: "/bucket/key", auth: sigv4("s3"), want: "s3"},
		{name: "unsigned goes to s3", method: "GET", path: "/bucket/key", want: "s3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("routed to %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnknownServiceIsAClearError(t *testing.T) {
	srv := New(Services{}, nil, nil)
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", sigv4("kinesis"))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "does not serve the service kinesis") {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("POST", "/", nil)
	req.Header.Set("X-Amz-Target", "AWSStepFunctions.ListStateMachines")
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "UnknownOperationException") {
		t.Fatalf("a service that is not wired: got %d %s", rec.Code, rec.Body)
	}
}

func TestAdmin(t *testing.T) {
	srv := New(Services{}, nil, nil)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	if rec := get("/_sfn-rollout/health"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("health before ready = %d, want 503", rec.Code)
	}
	srv.SetReady()
	if rec := get("/_sfn-rollout/health"); rec.Code != http.StatusOK {
		t.Errorf("health when ready = %d, want 200", rec.Code)
	}
	srv.SetConfig("bucket", "sfn-rollout-artifacts-000000000000")
	var cfg map[string]string
	if err := json.Unmarshal(get("/_sfn-rollout/config").Body.Bytes(), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["region"] != "us-east-1" || cfg["account"] != "000000000000" || cfg["bucket"] != "sfn-rollout-artifacts-000000000000" {
		t.Errorf("config = %v", cfg)
	}

	body := `[{"service":"states","operation":"UpdateStateMachineAlias","code":"ThrottlingException","rate":1}]`
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("PUT", "/_sfn-rollout/faults", strings.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("put faults = %d %s", rec.Code, rec.Body)
	}
	if _, e := srv.faults.Check("states", "UpdateStateMachineAlias"); e == nil || e.Code != "ThrottlingException" {
		t.Errorf("fault not in force: %v", e)
	}
	if _, e := srv.faults.Check("states", "StartExecution"); e != nil {
		t.Errorf("fault applied to another operation: %v", e)
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("PUT", "/_sfn-rollout/faults", strings.NewReader("nope")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("bad faults body = %d, want 400", rec.Code)
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("DELETE", "/_sfn-rollout/faults", nil))
	if _, e := srv.faults.Check("states", "UpdateStateMachineAlias"); e != nil {
		t.Errorf("fault still in force after DELETE: %v", e)
	}
}

func TestDynamoDBProxyInjectsFaults(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("upstream:"), b...))
	}))
	defer upstream.Close()
	faults := core.NewFaults(1)
	proxy, err := DynamoDBProxy(upstream.URL, faults)
	if err != nil {
		t.Fatal(err)
	}
	call := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/", bytes.NewBufferString(`{"TableName":"t"}`))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, req)
		return rec
	}
	if rec := call(); rec.Body.String() != `upstream:{"TableName":"t"}` {
		t.Fatalf("proxied = %q", rec.Body)
	}
	faults.Set([]core.Fault{{Service: "dynamodb", Operation: "PutItem", Code: "InternalServerError", Message: "injected", Status: 500, Rate: 1}})
	rec := call()
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"__type":"InternalServerError"`) {
		t.Fatalf("with a fault = %d %s", rec.Code, rec.Body)
	}
}

func TestRequestCounts(t *testing.T) {
	srv := New(Services{
		StepFunctions: named("sfn"), DynamoDB: named("dynamodb"), CloudWatch: named("cloudwatch"),
		EventBridge: named("events"), Scheduler: named("scheduler"), Lambda: named("lambda"), S3: named("s3"),
	}, nil, nil)
	const controller = "aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26 md/GOOS#linux app/sfn-rollout-controller api/sfn#1.41.2"
	requests := []struct{ method, path, target, auth, userAgent string }{
		{"POST", "/", "AWSStepFunctions.UpdateStateMachineAlias", "", controller},
		{"POST", "/", "AWSStepFunctions.UpdateStateMachineAlias", "", controller},
		{"POST", "/", "AWSStepFunctions.DescribeStateMachineAlias", "", "aws-sdk-go-v2/1.48.0 api/sfn#1.41.2"},
		{"POST", "/", "DynamoDB_20120810.PutItem", "", controller},
		{"POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", "", "", controller},
		{"POST", "/schedules/sfn-rollout-r-1", "", sigv4("scheduler"), controller},
		{"DELETE", "/schedules/sfn-rollout-r-1", "", sigv4("scheduler"), controller},
		{"POST", "/2015-03-31/functions/sfn-rollout-control/invocations", "", sigv4("lambda"), ""},
		{"GET", "/artifacts/orders/prod/v2.asl.json?versionId=3", "", sigv4("s3"), controller},
		{"GET", "/artifacts?list-type=2&prefix=orders%2Fprod%2Ftests%2F", "", sigv4("s3"), controller},
		{"GET", "/artifacts?uploads", "", sigv4("s3"), controller},
	}
	for _, rq := range requests {
		req := httptest.NewRequest(rq.method, rq.path, nil)
		if rq.target != "" {
			req.Header.Set("X-Amz-Target", rq.target)
		}
		if rq.auth != "" {
			req.Header.Set("Authorization", rq.auth)
		}
		req.Header.Set("User-Agent", rq.userAgent)
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	var got []string
	for _, c := range srv.Requests() {
		got = append(got, fmt.Sprintf("%s|%s|%s=%d", c.App, c.Service, c.Operation, c.Count))
	}
	want := []string{
		"|Lambda|Invoke=1",
		"|Step Functions|DescribeStateMachineAlias=1",
		"sfn-rollout-controller|CloudWatch|DescribeAlarms=1",
		"sfn-rollout-controller|DynamoDB|PutItem=1",
		"sfn-rollout-controller|EventBridge Scheduler|CreateSchedule=1",
		"sfn-rollout-controller|EventBridge Scheduler|DeleteSchedule=1",
		"sfn-rollout-controller|S3|GET /artifacts=1",
		"sfn-rollout-controller|S3|GetObject=1",
		"sfn-rollout-controller|S3|ListObjectsV2=1",
		"sfn-rollout-controller|Step Functions|UpdateStateMachineAlias=2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("counts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/_sfn-rollout/requests", nil))
	var listed []RequestCount
	if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil || len(listed) != len(want) {
		t.Errorf("GET /_sfn-rollout/requests = %s (%v)", rec.Body, err)
	}
	srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/_sfn-rollout/requests", nil))
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d counts after DELETE, want none", n)
	}
}

// A client that gives up on a DynamoDB request (its deadline) does not abort the request
// to dynalite, which dies on an aborted socket: the proxied request runs to its end.
func TestDynamoDBProxyFinishesAbandonedRequests(t *testing.T) {
	done := make(chan error, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil && string(body) != `{"TableName":"t"}` {
			err = fmt.Errorf("body %q", body)
		}
		time.Sleep(200 * time.Millisecond) // the client gives up meanwhile
		if err == nil {
			err = r.Context().Err()
		}
		done <- err
		io.WriteString(w, "{}")
	}))
	defer upstream.Close()
	proxy, err := DynamoDBProxy(upstream.URL, core.NewFaults(1))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, front.URL, strings.NewReader(`{"TableName":"t"}`))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the client's request did not time out")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the proxied request was cut short: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the proxied request never reached its end")
	}
}

func TestAdminQuotas(t *testing.T) {
	quotas := core.NewQuotas(nil, []core.Quota{{Service: "states", Operation: "StartExecution", Burst: 1300, Rate: 300}})
	_ = quotas.SetMode(core.QuotasOff)
	srv := New(Services{}, nil, quotas)
	call := func(method, body string) (int, QuotasAnswer) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(method, "/_sfn-rollout/quotas", strings.NewReader(body)))
		var out QuotasAnswer
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s answered %s: %v", method, rec.Body, err)
			}
		}
		return rec.Code, out
	}
	if code, got := call("GET", ""); code != 200 || got.Mode != core.QuotasOff || len(got.Quotas) != 1 || got.Quotas[0].Burst != 1300 {
		t.Errorf("GET: %d %+v", code, got)
	}
	if code, got := call("PUT", `{"mode":"aws"}`); code != 200 || got.Mode != core.QuotasAWS || quotas.Mode() != core.QuotasAWS {
		t.Errorf("PUT aws: %d %+v", code, got)
	}
	for _, bad := range []string{`{"mode":"on"}`, `{}`, `aws`} {
		if code, _ := call("PUT", bad); code != http.StatusBadRequest || quotas.Mode() != core.QuotasAWS {
			t.Errorf("PUT %s: %d, mode %s; want 400 and no change", bad, code, quotas.Mode())
		}
	}
	if code, _ := call("DELETE", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", code)
	}
	if code, got := call("PUT", `{"mode":"off"}`); code != 200 || got.Mode != core.QuotasOff {
		t.Errorf("PUT off: %d %+v", code, got)
	}
}

// The Lambda operations the system calls are counted by name, from method and path.
func TestLambdaOperationNames(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{http.MethodPost, "/2015-03-31/functions/f/invocations", "Invoke"},
		{http.MethodGet, "/2015-03-31/functions/f", "GetFunction"},
		{http.MethodGet, "/2015-03-31/functions/f/configuration", "GetFunctionConfiguration"},
		{http.MethodGet, "/2015-03-31/functions/", "ListFunctions"},
		{http.MethodGet, "/2019-09-30/functions/f/concurrency", "GetFunctionConcurrency"},
		{http.MethodPut, "/2017-10-31/functions/f/concurrency", "PutFunctionConcurrency"},
		{http.MethodDelete, "/2017-10-31/functions/f/concurrency", "DeleteFunctionConcurrency"},
		{http.MethodGet, "/2016-08-19/account-settings", "GetAccountSettings"},
		{http.MethodPost, "/2017-10-31/functions/f/concurrency", "POST /2017-10-31/{}/{}/{}"},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if got := operationName(r, "Lambda"); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}
