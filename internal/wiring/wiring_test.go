package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

func TestDispatchNamesErrors(t *testing.T) {
	s, err := SettingsFromEnv(env(fullEnv()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build("", aws.Config{Region: "us-east-1"}, s, nil, nil) // decoding needs no client
	if err != nil {
		t.Fatal(err)
	}
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
			if got := controller.ErrorName(err); got != tt.wantType {
				t.Errorf("errorType = %s (%v), want %s", got, err, tt.wantType)
			}
		})
	}
}

// Typed names a use case's error for the Lambda runtime without cutting its chain: the
// controller's error, a sentinel under it and the decoder's error are all still found.
func TestTypedKeepsTheErrorChain(t *testing.T) {
	ctx := context.Background()
	sentinel := errors.New("connection reset")
	t.Run("the use case's named error", func(t *testing.T) {
		h := Typed("control", func(context.Context, controller.Tick) (controller.Outcome, error) {
			return controller.Outcome{}, fmt.Errorf("apply pause: %w", controller.ByName("CommandRejected", "rollout has ended"))
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":"r-1"}`))
		var rejected *controller.CommandRejected
		if !errors.As(err, &rejected) || controller.ErrorName(err) != "CommandRejected" {
			t.Errorf("error %v (%T), want CommandRejected", err, err)
		}
		if _, wrapped := err.(*controller.CommandRejected); !wrapped {
			t.Errorf("the runtime sees %T, want *controller.CommandRejected", err)
		}
	})
	t.Run("an error no use case named", func(t *testing.T) {
		h := Typed("advance", func(context.Context, controller.Tick) (controller.Outcome, error) {
			return controller.Outcome{}, fmt.Errorf("read r-1: %w", sentinel)
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":"r-1"}`))
		if !errors.Is(err, sentinel) || controller.ErrorName(err) != "Internal" {
			t.Errorf("error %v (%s), want Internal over the sentinel", err, controller.ErrorName(err))
		}
	})
	t.Run("a payload that does not decode", func(t *testing.T) {
		called := false
		h := Typed("advance", func(context.Context, controller.Tick) (controller.Outcome, error) {
			called = true
			return controller.Outcome{}, nil
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":1}`))
		var invalid *controller.InvalidEvent
		var typeErr *json.UnmarshalTypeError
		if called || !errors.As(err, &invalid) || !errors.As(err, &typeErr) {
			t.Errorf("error %v (called %v), want InvalidEvent over the decoder's error", err, called)
		}
	})
	t.Run("an input that decodes itself", func(t *testing.T) {
		h := Typed("rollback", func(context.Context, controller.RollbackInput) (controller.RollbackResult, error) {
			t.Error("the use case ran on bad input")
			return controller.RollbackResult{}, nil
		})
		_, err := h(ctx, json.RawMessage(`{"rolloutId":"r-1","turnAt":"2026-12-05T19:00:01Z","alarm":"x"}`))
		if !errors.As(err, new(*controller.InvalidEvent)) || !strings.Contains(err.Error(), "decode continuation") {
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
		if _, ok := handlers[fn]; !ok {
			t.Errorf("topology names function %s that wiring cannot dispatch", fn)
		}
	}
}
