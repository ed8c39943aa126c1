package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// InvalidDefinition stands for the controller's named errors: its type name is the errorType.
type InvalidDefinition struct{ reason string }

func (e *InvalidDefinition) Error() string { return "invalid definition: " + e.reason }

// valueError is an error used by value, not by pointer.
type valueError struct{}

func (valueError) Error() string { return "by value" }

func echo(_ context.Context, payload json.RawMessage) (json.RawMessage, error) { return payload, nil }

func fails(err error) core.Handler {
	return func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, err }
}

// endpoint serves svc on a loopback test server and returns the real Lambda client for it.
func endpoint(t *testing.T, svc *Service) *awslambda.Client {
	t.Helper()
	t.Cleanup(svc.Close)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return awslambda.New(awslambda.Options{
		Region:           core.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	})
}

func TestInvokeByNameAndArn(t *testing.T) {
	svc := New(Options{})
	svc.Register("advance", echo)
	client := endpoint(t, svc)
	arn := "arn:aws:lambda:us-east-1:000000000000:function:advance"
	tests := []struct {
		name, function, qualifier, wantInvoked string
	}{
		{name: "name", function: "advance", wantInvoked: arn},
		{name: "name with alias", function: "advance:live", wantInvoked: arn + ":live"},
		{name: "ARN", function: arn, wantInvoked: arn},
		{name: "ARN with $LATEST", function: arn + ":$LATEST", wantInvoked: arn + ":$LATEST"},
		{name: "ARN with alias", function: arn + ":prod", wantInvoked: arn + ":prod"},
		{name: "ARN with version", function: arn + ":7", wantInvoked: arn + ":7"},
		{name: "partial ARN", function: "000000000000:function:advance", wantInvoked: arn},
		{name: "Qualifier parameter", function: "advance", qualifier: "prod", wantInvoked: arn + ":prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen lambdacontext.LambdaContext
			svc.Register("advance", func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				lc, _ := lambdacontext.FromContext(ctx)
				seen = *lc
				return p, nil
			})
			in := &awslambda.InvokeInput{FunctionName: aws.String(tt.function), Payload: []byte(`{"tick":1}`)}
			if tt.qualifier != "" {
				in.Qualifier = aws.String(tt.qualifier)
			}
			out, err := client.Invoke(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != `{"tick":1}` {
				t.Errorf("got status %d, function error %v, payload %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
			}
			if aws.ToString(out.ExecutedVersion) != "$LATEST" {
				t.Errorf("executed version %q", aws.ToString(out.ExecutedVersion))
			}
			requestID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			if seen.AwsRequestID != requestID || requestID == "" {
				t.Errorf("handler saw request id %q, response has %q", seen.AwsRequestID, requestID)
			}
			if seen.InvokedFunctionArn != tt.wantInvoked {
				t.Errorf("handler saw invoked ARN %q, want %q", seen.InvokedFunctionArn, tt.wantInvoked)
			}

			// The same names in-process.
			if tt.qualifier == "" {
				payload, ferr, err := svc.Invoke(context.Background(), tt.function, json.RawMessage(`[1]`))
				if err != nil || ferr != nil || string(payload) != `[1]` {
					t.Errorf("in-process: %s %v %v", payload, ferr, err)
				}
			}
		})
	}
}

func TestInvokeEmptyPayloadAndNilResult(t *testing.T) {
	svc := New(Options{})
	var got string
	svc.Register("finalize", func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
		got = string(p)
		return nil, nil
	})
	client := endpoint(t, svc)
	out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("finalize")})
	if err != nil {
		t.Fatal(err)
	}
	if got != "{}" || string(out.Payload) != "null" {
		t.Errorf("handler got %q, caller got %q; want {} and null", got, out.Payload)
	}
}

func TestFunctionErrors(t *testing.T) {
	svc := New(Options{})
	client := endpoint(t, svc)
	tests := []struct {
		name      string
		handler   core.Handler
		timeout   time.Duration
		wantType  string
		wantMsg   string // "" when the message holds the request id
		wantStack bool
	}{
		{name: "named error by pointer", handler: fails(&InvalidDefinition{"no StartAt"}), wantType: "InvalidDefinition", wantMsg: "invalid definition: no StartAt"},
		{name: "named error by value", handler: fails(valueError{}), wantType: "valueError", wantMsg: "by value"},
		{name: "errors.New", handler: fails(errors.New("boom")), wantType: "errorString", wantMsg: "boom"},
		{name: "wrapped error is not unwrapped", handler: fails(fmt.Errorf("advance: %w", &InvalidDefinition{"x"})), wantType: "wrapError", wantMsg: "advance: invalid definition: x"},
		{name: "FunctionError passes through", handler: fails(&core.FunctionError{Type: "RolledBack", Message: "alarm"}), wantType: "RolledBack", wantMsg: "alarm"},
		{name: "panic with a string", handler: func(context.Context, json.RawMessage) (json.RawMessage, error) { panic("kaput") }, wantType: "string", wantMsg: "kaput", wantStack: true},
		{name: "panic with a runtime error", handler: func(_ context.Context, p json.RawMessage) (json.RawMessage, error) {
			var s []int
			return p[:0], errors.New(fmt.Sprint(s[len(p)]))
		}, wantType: "boundsError", wantMsg: "runtime error: index out of range [2] with length 0", wantStack: true},
		{name: "response too large", handler: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`"` + strings.Repeat("x", 6291556) + `"`), nil
		}, wantType: "Function.ResponseSizeTooLarge", wantMsg: "Response payload size (6291558 bytes) exceeded maximum allowed payload size (6291556 bytes)."},
		{name: "timeout", timeout: 50 * time.Millisecond, handler: func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, wantType: "Sandbox.Timedout"},
		{name: "timeout of a handler that ignores its context", timeout: 50 * time.Millisecond, handler: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			time.Sleep(300 * time.Millisecond)
			return json.RawMessage(`{}`), nil
		}, wantType: "Sandbox.Timedout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc.RegisterWithTimeout("fn", tt.handler, tt.timeout)
			out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{}`), LogType: types.LogTypeTail})
			if err != nil {
				t.Fatal(err)
			}
			if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" {
				t.Fatalf("status %d, function error %q", out.StatusCode, aws.ToString(out.FunctionError))
			}
			if out.LogResult == nil {
				t.Error("no log tail")
			}
			var body struct {
				Type    string            `json:"errorType"`
				Message string            `json:"errorMessage"`
				Stack   []json.RawMessage `json:"stackTrace"`
			}
			if err := json.Unmarshal(out.Payload, &body); err != nil {
				t.Fatalf("payload %s: %v", out.Payload, err)
			}
			wantMsg := tt.wantMsg
			if wantMsg == "" {
				requestID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
				wantMsg = "RequestId: " + requestID + " Error: Task timed out after 0.05 seconds"
			}
			if body.Type != tt.wantType || body.Message != wantMsg {
				t.Errorf("got %s: %s, want %s: %s", body.Type, body.Message, tt.wantType, wantMsg)
			}
			if (len(body.Stack) > 0) != tt.wantStack {
				t.Errorf("stack trace %s, want one: %v", body.Stack, tt.wantStack)
			}

			// In-process callers get the same error.
			_, ferr, err := svc.Invoke(context.Background(), "fn", json.RawMessage(`{}`))
			if err != nil || ferr == nil || ferr.Type != tt.wantType {
				t.Errorf("in-process: %v %v", ferr, err)
			}
		})
	}

	// The server survived the panics.
	svc.Register("fn", echo)
	out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`"ok"`)})
	if err != nil || string(out.Payload) != `"ok"` {
		t.Fatalf("after the panics: %v %s", err, out.Payload)
	}
}

func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func TestInvokeAPIErrors(t *testing.T) {
	faults := core.NewFaults(1)
	svc := New(Options{Faults: faults})
	svc.Register("advance", echo)
	client := endpoint(t, svc)
	tests := []struct {
		name     string
		in       awslambda.InvokeInput
		faults   []core.Fault
		wantCode string
		wantMsg  string
	}{
		{name: "unknown function", in: awslambda.InvokeInput{FunctionName: aws.String("nope")},
			wantCode: "ResourceNotFoundException", wantMsg: "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"},
		{name: "unknown function with alias", in: awslambda.InvokeInput{FunctionName: aws.String("nope:prod")},
			wantCode: "ResourceNotFoundException", wantMsg: "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope:prod"},
		{name: "function of another account", in: awslambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:111111111111:function:advance")},
			wantCode: "ResourceNotFoundException", wantMsg: "Function not found: arn:aws:lambda:us-east-1:111111111111:function:advance"},
		{name: "malformed name", in: awslambda.InvokeInput{FunctionName: aws.String("a:b:c:d:e")},
			wantCode: "ValidationException"},
		{name: "unknown invocation type", in: awslambda.InvokeInput{FunctionName: aws.String("advance"), InvocationType: "Later"},
			wantCode: "ValidationException", wantMsg: "1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"},
		{name: "payload is not JSON", in: awslambda.InvokeInput{FunctionName: aws.String("advance"), Payload: []byte("{")},
			wantCode: "InvalidRequestContentException"},
		{name: "injected throttling", in: awslambda.InvokeInput{FunctionName: aws.String("advance")},
			faults:   []core.Fault{{Service: "lambda", Operation: "Invoke", Code: "TooManyRequestsException", Message: "Rate Exceeded.", Status: 429, Rate: 1}},
			wantCode: "TooManyRequestsException", wantMsg: "Rate Exceeded."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faults.Set(tt.faults)
			defer faults.Set(nil)
			_, err := client.Invoke(context.Background(), &tt.in)
			code, msg := apiError(t, err)
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Errorf("got %s: %s, want %s: %s", code, msg, tt.wantCode, tt.wantMsg)
			}
			// In-process, the same failures are errors of the invocation.
			if tt.in.InvocationType == "" && tt.in.Payload == nil {
				_, _, err := svc.Invoke(context.Background(), aws.ToString(tt.in.FunctionName), nil)
				var ae *core.APIError
				if !errors.As(err, &ae) || ae.Code != tt.wantCode {
					t.Errorf("in-process: %v", err)
				}
				if err := svc.InvokeAsync(context.Background(), aws.ToString(tt.in.FunctionName), nil); !errors.As(err, &ae) || ae.Code != tt.wantCode {
					t.Errorf("in-process async: %v", err)
				}
			}
		})
	}
}

func TestInvokeCallerGoesAway(t *testing.T) {
	svc := New(Options{Timeout: time.Minute})
	defer svc.Close()
	svc.Register("slow", func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, ferr, err := svc.Invoke(ctx, "slow", nil)
	if !errors.Is(err, context.DeadlineExceeded) || ferr != nil {
		t.Fatalf("got %v %v, want the caller's deadline", ferr, err)
	}
}

// recorder is a Reporter that keeps its lines.
type recorder struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func newRecorder() *recorder { return &recorder{added: make(chan struct{}, 100)} }

func (r *recorder) Report(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	r.added <- struct{}{}
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func TestInvokeAsync(t *testing.T) {
	clock := core.NewClock(60000) // a minute in a millisecond
	tests := []struct {
		name       string
		failures   int // attempts that fail before one succeeds
		wantCalls  int
		wantReport string
	}{
		{name: "succeeds at once", failures: 0, wantCalls: 1},
		{name: "succeeds on the second retry", failures: 2, wantCalls: 3},
		{name: "fails for good after two retries", failures: 5, wantCalls: 3,
			wantReport: "lambda: register: asynchronous invocation %s failed after 3 attempts: InvalidDefinition: invalid definition: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			svc := New(Options{Clock: clock, Reporter: rec})
			var mu sync.Mutex
			var calls []time.Time
			var requestIDs []string
			called := make(chan json.RawMessage, 10)
			svc.Register("register", func(ctx context.Context, p json.RawMessage) (json.RawMessage, error) {
				mu.Lock()
				calls = append(calls, clock.Now())
				lc, _ := lambdacontext.FromContext(ctx)
				requestIDs = append(requestIDs, lc.AwsRequestID)
				n := len(calls)
				mu.Unlock()
				called <- p
				if n <= tt.failures {
					return nil, &InvalidDefinition{"bad"}
				}
				return p, nil
			})
			client := endpoint(t, svc)
			out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{
				FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:register"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"n":1}`),
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.StatusCode != 202 || len(out.Payload) != 0 {
				t.Fatalf("status %d payload %q, want 202 and none", out.StatusCode, out.Payload)
			}
			for range tt.wantCalls {
				select {
				case p := <-called:
					if string(p) != `{"n":1}` {
						t.Errorf("payload %s", p)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("handler not called")
				}
			}
			if tt.wantReport != "" {
				select {
				case <-rec.added:
				case <-time.After(5 * time.Second):
					t.Fatal("no report")
				}
			}
			select {
			case <-called:
				t.Fatal("called once too often")
			case <-time.After(50 * time.Millisecond):
			}
			svc.Close()
			mu.Lock()
			defer mu.Unlock()
			for i := 1; i < len(calls); i++ {
				if gap, want := calls[i].Sub(calls[i-1]), DefaultRetryDelays[i-1]; gap < want {
					t.Errorf("retry %d after %v of virtual time, want at least %v", i, gap, want)
				}
				if requestIDs[i] != requestIDs[0] {
					t.Errorf("retry %d has request id %s, want the first's %s", i, requestIDs[i], requestIDs[0])
				}
			}
			var want []string
			if tt.wantReport != "" {
				want = []string{fmt.Sprintf(tt.wantReport, requestIDs[0])}
			}
			if got := rec.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("reports %q, want %q", got, want)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	svc := New(Options{})
	called := false
	svc.Register("prepare", func(context.Context, json.RawMessage) (json.RawMessage, error) { called = true; return nil, nil })
	client := endpoint(t, svc)
	out, err := client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("prepare"), InvocationType: types.InvocationTypeDryRun})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 204 || called {
		t.Errorf("status %d, called %v; want 204 and no call", out.StatusCode, called)
	}
}

func TestGetAndListFunctions(t *testing.T) {
	svc := New(Options{Timeout: 30 * time.Second})
	for _, name := range []string{"rollback", "advance", "prepare"} {
		svc.Register(name, echo)
	}
	svc.RegisterWithTimeout("finalize", echo, 90*time.Second)
	client := endpoint(t, svc)
	ctx := context.Background()

	tests := []struct {
		name, function string
		wantTimeout    int32
		wantCode       string
	}{
		{name: "by name", function: "advance", wantTimeout: 30},
		{name: "by ARN with alias", function: "arn:aws:lambda:us-east-1:000000000000:function:finalize:live", wantTimeout: 90},
		{name: "unknown", function: "nope", wantCode: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(tt.function)})
			if tt.wantCode != "" {
				if code, _ := apiError(t, err); code != tt.wantCode {
					t.Errorf("code %s, want %s", code, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := out.Configuration
			name := strings.TrimSuffix(tt.function[strings.LastIndex(strings.TrimSuffix(tt.function, ":live"), ":")+1:], ":live")
			if aws.ToString(c.FunctionName) != name || aws.ToString(c.FunctionArn) != FunctionArn(name) ||
				aws.ToInt32(c.Timeout) != tt.wantTimeout || c.State != types.StateActive || c.Runtime != types.RuntimeProvidedal2023 {
				t.Errorf("configuration %+v", c)
			}
			conf, err := client.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String(tt.function)})
			if err != nil || aws.ToString(conf.FunctionName) != name {
				t.Errorf("GetFunctionConfiguration: %v %v", err, conf)
			}
		})
	}

	var names []string
	pages := awslambda.NewListFunctionsPaginator(client, &awslambda.ListFunctionsInput{MaxItems: aws.Int32(3)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	if got := strings.Join(names, ","); got != "advance,finalize,prepare,rollback" {
		t.Errorf("ListFunctions: %s", got)
	}
}

func TestUnsupportedOperation(t *testing.T) {
	client := endpoint(t, New(Options{}))
	_, err := client.DeleteFunction(context.Background(), &awslambda.DeleteFunctionInput{FunctionName: aws.String("advance")})
	code, msg := apiError(t, err)
	if code != "UnknownOperationException" || !strings.Contains(msg, "DELETE /2015-03-31/functions/advance") {
		t.Errorf("got %s: %s", code, msg)
	}
}
