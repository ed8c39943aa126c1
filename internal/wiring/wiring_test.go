package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func fullEnv() map[string]string {
	return map[string]string{
		topology.EnvTable:               "rollouts",
		topology.EnvScheduleGroup:       "sfn-rollout",
		topology.EnvSchedulerRoleArn:    "arn:aws:iam::000000000000:role/scheduler",
		topology.EnvAdvanceFunctionArn:  "arn:aws:lambda:us-east-1:000000000000:function:advance",
		topology.EnvRollbackFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:rollback",
		topology.EnvBucket:              "artifacts",
	}
}

func TestSettingsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		unset   []string
		wantErr string
		check   func(t *testing.T, s Settings)
	}{
		{name: "defaults", check: func(t *testing.T, s Settings) {
			if s.Controller.TickRate != topology.DefaultTickRate || s.Controller.MinInterval != time.Minute || s.Controller.DedupeTTL != 8*24*time.Hour || s.EventBus != "default" {
				t.Errorf("defaults = %+v", s)
			}
		}},
		{name: "local speeds", set: map[string]string{topology.EnvTickRate: "rate(1 minute)", topology.EnvMinInterval: "1s"}, check: func(t *testing.T, s Settings) {
			if s.Controller.MinInterval != time.Second {
				t.Errorf("MinInterval = %s", s.Controller.MinInterval)
			}
		}},
		{name: "missing rollback function", unset: []string{topology.EnvRollbackFunctionArn}, wantErr: "missing environment: " + topology.EnvRollbackFunctionArn},
		{name: "missing table and role", unset: []string{topology.EnvTable, topology.EnvSchedulerRoleArn}, wantErr: "missing environment: SFN_ROLLOUT_TABLE, SFN_ROLLOUT_SCHEDULER_ROLE_ARN"},
		{name: "bad duration", set: map[string]string{topology.EnvMinInterval: "soon"}, wantErr: topology.EnvMinInterval},
		{name: "bad log level", set: map[string]string{topology.EnvLogLevel: "LOUD"}, wantErr: topology.EnvLogLevel},
		{name: "sweep shards and drift reads", set: map[string]string{topology.EnvSweepShards: "4", topology.EnvDriftReads: "25"}, check: func(t *testing.T, s Settings) {
			if s.Controller.SweepShards != 4 || s.Controller.DriftReads != 25 {
				t.Errorf("SweepShards %d DriftReads %d, want 4 and 25", s.Controller.SweepShards, s.Controller.DriftReads)
			}
		}},
		{name: "bad sweep shards", set: map[string]string{topology.EnvSweepShards: "0"}, wantErr: topology.EnvSweepShards},
		{name: "bad drift reads", set: map[string]string{topology.EnvDriftReads: "many"}, wantErr: topology.EnvDriftReads},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fullEnv()
			for k, v := range tt.set {
				m[k] = v
			}
			for _, k := range tt.unset {
				delete(m, k)
			}
			s, err := SettingsFromEnv(env(m))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

// clientless is a controller built without AWS clients: enough to decode payloads and name
// their errors.
func clientless(t *testing.T) *controller.Controller {
	t.Helper()
	s, err := SettingsFromEnv(env(fullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build("", aws.Config{Region: "us-east-1"}, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDispatchNamesErrors(t *testing.T) {
	c := clientless(t)
	tests := []struct {
		name, function, payload, wantType string
	}{
		{name: "control without rollout id", function: "control", payload: `{"command":"pause","actor":"alice"}`, wantType: "InvalidEvent"},
		{name: "control with an unknown command", function: "control", payload: `{"rolloutId":"r-1","command":"fly","actor":"alice"}`, wantType: "InvalidEvent"},
		{name: "advance on a payload that is not a tick", function: "advance", payload: `[1,2]`, wantType: "InvalidEvent"},
		{name: "advance on a sweep of a shard that does not exist", function: "advance", payload: `{"sweep":{"shard":3,"shards":2}}`, wantType: "InvalidEvent"},
		{name: "prepare on an event that is not an upload", function: "prepare", payload: `{"event":{"source":"aws.ec2","detail-type":"x","detail":{}}}`, wantType: "InvalidEvent"},
		{name: "rollback on an event that is not an alarm", function: "rollback", payload: `{"source":"aws.s3"}`, wantType: "InvalidEvent"},
		{name: "unknown function", function: "nosuch", payload: `{}`, wantType: "Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dispatch(context.Background(), c, tt.function, json.RawMessage(tt.payload))
			if err == nil {
				t.Fatal("no error")
			}
			if got := controller.ErrorCode(err); got != tt.wantType {
				t.Errorf("errorType = %s (%v), want %s", got, err, tt.wantType)
			}
		})
	}
}

// Handler fails with the Lambda runtime's own error value, which aws-lambda-go reports as it
// is (any other error it names by its Go type): errorType is the code, errorMessage the coded
// error's text without what wraps it.
func TestHandlerReportsTheCodeAsErrorType(t *testing.T) {
	c := clientless(t)
	h, err := Handler(c, "control")
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"command":"pause","actor":"alice"}`)
	_, err = h(context.Background(), payload)
	got, ok := err.(messages.InvokeResponse_Error)
	if !ok || got.Type != controller.EInvalidEvent || !strings.Contains(got.Message, "without rolloutId") {
		t.Errorf("handler error %T %+v, want a messages.InvokeResponse_Error of type InvalidEvent", err, err)
	}
	// What aws-lambda-go itself reports for it: Function is deprecated for use outside the
	// go1.x runtime, but it is the one exported way into the error reporting that the
	// runtime's invoke loop uses too.
	var resp messages.InvokeResponse
	req := &messages.InvokeRequest{Payload: payload, Deadline: messages.InvokeRequest_Timestamp{Seconds: time.Now().Add(time.Minute).Unix()}}
	fn := lambda.NewFunction(lambda.NewHandler(h)) //lint:ignore SA1019 see above
	if err := fn.Invoke(req, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Error == nil || resp.Error.Type != controller.EInvalidEvent || resp.Error.Message != got.Message {
		t.Errorf("aws-lambda-go reports %+v, want errorType InvalidEvent and message %q", resp.Error, got.Message)
	}

	tests := []struct {
		name string
		err  error
		want messages.InvokeResponse_Error
	}{
		{"coded", controller.Errorf(controller.ERolledBack, "alarm x"), messages.InvokeResponse_Error{Type: "RolledBack", Message: "alarm x"}},
		{"wrapped", fmt.Errorf("finalize r-1: %w", controller.Errorf(controller.ENotManaged, "no tag")), messages.InvokeResponse_Error{Type: "NotManaged", Message: "no tag"}},
		{"with a cause", &controller.Error{Code: controller.ETransient, Message: "publish", Err: errors.New("throttled")}, messages.InvokeResponse_Error{Type: "Transient", Message: "publish: throttled"}},
		{"plain", fmt.Errorf("a: %w", errors.New("boom")), messages.InvokeResponse_Error{Type: "Internal", Message: "a: boom"}},
	}
	for _, tt := range tests {
		if got := LambdaError(tt.err); got.Type != tt.want.Type || got.Message != tt.want.Message {
			t.Errorf("%s: LambdaError = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// run, Typed short of the Lambda boundary (Dispatch's), keeps the error's chain: the
// controller's error, a sentinel under it and the decoder's error are all still found; Typed
// reports the code to the runtime.
func TestTypedKeepsTheErrorChain(t *testing.T) {
	ctx := context.Background()
	sentinel := errors.New("connection reset")
	t.Run("the use case's named error", func(t *testing.T) {
		use := func(context.Context, controller.Tick) (controller.Outcome, error) {
			return controller.Outcome{}, fmt.Errorf("apply pause: %w", controller.Errorf(controller.ECommandRejected, "rollout has ended"))
		}
		_, err := run("control", use)(ctx, json.RawMessage(`{"rolloutId":"r-1"}`))
		var coded *controller.Error
		if !errors.As(err, &coded) || controller.ErrorCode(err) != controller.ECommandRejected {
			t.Errorf("error %v (%T), want CommandRejected", err, err)
		}
		_, err = Typed("control", use)(ctx, json.RawMessage(`{"rolloutId":"r-1"}`))
		if got, ok := err.(messages.InvokeResponse_Error); !ok || got.Type != controller.ECommandRejected || got.Message != "rollout has ended" {
			t.Errorf("the runtime sees %T %+v, want errorType CommandRejected", err, err)
		}
	})
	t.Run("an error no use case named", func(t *testing.T) {
		h := run("advance", func(context.Context, controller.Tick) (controller.Outcome, error) {
			return controller.Outcome{}, fmt.Errorf("read r-1: %w", sentinel)
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":"r-1"}`))
		if !errors.Is(err, sentinel) || controller.ErrorCode(err) != controller.EInternal {
			t.Errorf("error %v (%s), want Internal over the sentinel", err, controller.ErrorCode(err))
		}
	})
	t.Run("a payload that does not decode", func(t *testing.T) {
		called := false
		h := run("advance", func(context.Context, controller.Tick) (controller.Outcome, error) {
			called = true
			return controller.Outcome{}, nil
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":1}`))
		var typeErr *json.UnmarshalTypeError
		if called || controller.ErrorCode(err) != controller.EInvalidEvent || !errors.As(err, &typeErr) {
			t.Errorf("error %v (called %v), want InvalidEvent over the decoder's error", err, called)
		}
	})
	t.Run("an input that decodes itself", func(t *testing.T) {
		h := run("rollback", func(context.Context, controller.RollbackInput) (controller.RollbackResult, error) {
			t.Error("the use case ran on bad input")
			return controller.RollbackResult{}, nil
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":"r-1","turnAt":"2026-12-05T19:00:01Z","alarm":"x"}`))
		if controller.ErrorCode(err) != controller.EInvalidEvent || !strings.Contains(err.Error(), "decode continuation") {
			t.Errorf("error %v, want the continuation's InvalidEvent", err)
		}
	})
}

// Typed runs the rollback function's use case at Rollback priority, and register answers {}.
func TestTypedRunsTheFunction(t *testing.T) {
	var got budget.Priority
	rollback := Typed("rollback", func(ctx context.Context, _ controller.RollbackInput) (controller.RollbackResult, error) {
		got = budget.PriorityOf(ctx)
		return controller.RollbackResult{}, nil
	})
	if _, err := rollback(context.Background(), json.RawMessage(`{"rolloutId":"r-1","turnAt":"2026-12-05T19:00:01Z"}`)); err != nil {
		t.Fatal(err)
	}
	if got != budget.Rollback {
		t.Errorf("rollback ran at priority %v, want Rollback", got)
	}
	register := Typed("register", Empty(func(context.Context, controller.RegisterInput) error { return nil }))
	out, err := register(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(out); string(b) != "{}" {
		t.Errorf("register answered %s, want {}", b)
	}
}

func TestHandlerRefusesUnknownFunction(t *testing.T) {
	if _, err := Handler(nil, "nosuch"); err == nil {
		t.Fatal("Handler accepted an unknown function")
	}
	for _, fn := range topology.Functions {
		if _, ok := byName(nil, fn); !ok {
			t.Errorf("topology names function %s that wiring cannot dispatch", fn)
		}
	}
}
