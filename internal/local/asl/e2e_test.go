package asl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// A controller-like definition: Parallel (a task token wait next to a bake and a retried
// check), a Map with bounded concurrency whose items may fail into a Catch, a Choice on the
// results, and the context object throughout.
const controllerLike = `{
  "Comment": "controller-like",
  "TimeoutSeconds": 86400,
  "StartAt": "Init",
  "States": {
    "Init": {"Type": "Pass", "Parameters": {"event.$": "$", "execution.$": "$$.Execution.Id", "started.$": "$$.Execution.StartTime"}, "Next": "Gather"},
    "Gather": {
      "Type": "Parallel",
      "ResultSelector": {"approval.$": "$[0]", "check.$": "$[1]"},
      "ResultPath": "$.gather",
      "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
      "Branches": [
        {"StartAt": "Approve", "States": {"Approve": {
          "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
          "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:approve", "Payload": {"token.$": "$$.Task.Token", "execution.$": "$.execution"}},
          "TimeoutSeconds": 3600, "HeartbeatSeconds": 600, "End": true}}},
        {"StartAt": "Bake", "States": {
          "Bake": {"Type": "Wait", "Seconds": 300, "Next": "Check"},
          "Check": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:check",
            "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 3, "JitterStrategy": "NONE"}],
            "ResultSelector": {"healthy.$": "$.healthy"}, "End": true}}}
      ],
      "Next": "Fanout"
    },
    "Fanout": {
      "Type": "Map", "ItemsPath": "$.event.targets", "MaxConcurrency": 2,
      "ItemSelector": {"target.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "execution.$": "$.execution"},
      "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Deploy", "States": {
        "Deploy": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
          "Parameters": {"StateMachineArn.$": "$.target", "Name.$": "States.Format('deploy-{}', $.index)", "Input": {"from.$": "$.execution"}},
          "ResultSelector": {"status.$": "$.Status"},
          "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Record"}],
          "ResultPath": "$.run", "Next": "Record"},
        "Record": {"Type": "Choice", "Choices": [{"Variable": "$.error", "IsPresent": true, "Next": "RecordError"}], "Default": "RecordOK"},
        "RecordOK": {"Type": "Pass", "Parameters": {"target.$": "$.target", "status.$": "$.run.status"}, "End": true},
        "RecordError": {"Type": "Pass", "Parameters": {"target.$": "$.target", "error.$": "$.error.Error"}, "End": true}
      }},
      "ResultPath": "$.deployed",
      "Next": "Decide"
    },
    "Decide": {"Type": "Choice", "Choices": [
      {"And": [{"Variable": "$.gather.approval.approved", "BooleanEquals": true}, {"Variable": "$.gather.check.healthy", "BooleanEquals": true}], "Next": "Done"}
    ], "Default": "Failed"},
    "Done": {"Type": "Succeed", "OutputPath": "$.deployed"},
    "Failed": {"Type": "Fail", "Error": "RolloutFailed", "CausePath": "States.JsonToString($.error)"}
  }
}`

func TestControllerLike(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var (
			mu          sync.Mutex
			checkCalls  int
			approvalTok string
		)
		rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
			switch {
			case strings.HasSuffix(call.Resource, "waitForTaskToken"):
				mu.Lock()
				approvalTok = call.TaskToken
				mu.Unlock()
				if !strings.Contains(string(call.Input), `"token":"`+call.TaskToken+`"`) {
					return nil, &Failure{Name: "BadPayload", Cause: string(call.Input)}
				}
				return sleepFor(20*time.Minute, `{"approved":true}`)(ctx, call)
			case strings.HasSuffix(call.Resource, ":function:check"):
				mu.Lock()
				checkCalls++
				n := checkCalls
				mu.Unlock()
				if n <= 2 {
					return nil, &Failure{Name: "Transient", Cause: "try again"}
				}
				return json.RawMessage(`{"healthy":true,"noise":1}`), nil
			case strings.HasPrefix(call.Resource, "arn:aws:states:::states:startExecution"):
				var in struct{ StateMachineArn, Name string }
				_ = json.Unmarshal(call.Input, &in)
				if strings.HasSuffix(in.StateMachineArn, "bad") {
					return nil, &Failure{Name: ErrTaskFailed, Cause: "execution " + in.Name + " failed"}
				}
				return sleepFor(time.Minute, `{"Status":"SUCCEEDED","Output":"{}"}`)(ctx, call)
			}
			return nil, &Failure{Name: "Unexpected", Cause: call.Resource}
		})
		input := `{"targets":["arn:sm:a","arn:sm:bad","arn:sm:c"]}`
		r := execute(t, controllerLike, input, rt)
		checkOutput(t, r, `[{"target":"arn:sm:a","status":"SUCCEEDED"},{"target":"arn:sm:bad","error":"States.TaskFailed"},{"target":"arn:sm:c","status":"SUCCEEDED"}]`)
		// Parallel: max(20 min approval, 300 s bake + 2 s + 4 s retries); then the Map, two
		// at a time: a and bad start together, bad fails into its Catch at once, so c starts
		// at once too and the Map takes one minute.
		if want := 20*time.Minute + time.Minute; r.elapsed != want {
			t.Fatalf("elapsed %v, want %v", r.elapsed, want)
		}
		if approvalTok != "token-1" || checkCalls != 3 {
			t.Fatalf("token %q, check calls %d", approvalTok, checkCalls)
		}
		var names []string
		for _, c := range rt.Calls() {
			if strings.HasPrefix(c.Resource, "arn:aws:states:::states:") {
				var in struct{ Name string }
				_ = json.Unmarshal(c.Input, &in)
				names = append(names, in.Name)
			}
		}
		sort.Strings(names) // iterations start concurrently
		if strings.Join(names, ",") != "deploy-0,deploy-1,deploy-2" {
			t.Fatalf("deploy names %v", names)
		}
		if rt.maxActive > 3 {
			t.Fatalf("max active %d", rt.maxActive)
		}
	})
}

func TestControllerLikeFails(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
			if strings.HasSuffix(call.Resource, "waitForTaskToken") {
				return sleepFor(2*time.Hour, `{}`)(ctx, call) // past its TimeoutSeconds
			}
			return json.RawMessage(`{"healthy":true}`), nil
		})
		r := execute(t, controllerLike, `{"targets":[]}`, rt)
		checkFailure(t, r, "RolloutFailed", `"Error":"States.Timeout"`)
		if r.elapsed != time.Hour {
			t.Fatalf("elapsed %v, want the approval's hour", r.elapsed)
		}
	})
}

// The project's controller state machine, run end to end: prepare is retried once, one
// pre-traffic test passes and one fails into its Catch, progress waits on its task token,
// finalize answers the outcome.
func TestProjectController(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "statemachines", "rollout-controller.asl.json"))
	if err != nil {
		t.Skipf("no controller definition: %v", err)
	}
	placeholder := regexp.MustCompile(`\$\{([A-Za-z]+)FunctionArn\}`)
	def := placeholder.ReplaceAllStringFunc(string(raw), func(m string) string {
		fn := strings.ToLower(placeholder.FindStringSubmatch(m)[1])
		return "arn:aws:lambda:us-east-1:000000000000:function:sfn-rollout-" + fn
	})
	bubble(t, func(t *testing.T) {
		var (
			mu            sync.Mutex
			prepareCalls  int
			progressToken string
		)
		rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
			switch {
			case strings.HasSuffix(call.Resource, "sfn-rollout-prepare"):
				mu.Lock()
				prepareCalls++
				n := prepareCalls
				mu.Unlock()
				if n == 1 {
					return nil, &Failure{Name: "Transient", Cause: "throttled"}
				}
				return json.RawMessage(`{"rolloutId":"r1","action":"start","candidateVersionArn":"arn:aws:states:us-east-1:000000000000:stateMachine:orders:2",
					"tests":[{"name":"ok","input":{"a":1},"expect":"SUCCEEDED"},{"name":"broken","input":{"a":2},"expect":"SUCCEEDED"}],"timeoutSeconds":7200}`), nil
			case call.Resource == "arn:aws:states:::states:startExecution.sync:2":
				var in struct {
					Input json.RawMessage
					Name  string
				}
				_ = json.Unmarshal(call.Input, &in)
				if string(in.Input) == `{"a":2}` {
					return nil, &Failure{Name: ErrTaskFailed, Cause: "test failed"}
				}
				if in.Name != "sfn-rollout-pretraffic-r1-0" {
					return nil, &Failure{Name: "BadName", Cause: in.Name}
				}
				return json.RawMessage(`{"Status":"SUCCEEDED"}`), nil
			case call.Resource == "arn:aws:states:::lambda:invoke.waitForTaskToken":
				mu.Lock()
				progressToken = call.TaskToken
				mu.Unlock()
				if call.TimeoutSeconds != 7200 || !strings.Contains(string(call.Input), call.TaskToken) {
					return nil, &Failure{Name: "BadCall", Cause: string(call.Input)}
				}
				return sleepFor(30*time.Minute, `{"phase":"Succeeded"}`)(ctx, call)
			case strings.HasSuffix(call.Resource, "sfn-rollout-finalize"):
				var in map[string]any
				_ = json.Unmarshal(call.Input, &in)
				pre, _ := json.Marshal(in["preTraffic"])
				return json.RawMessage(`{"phase":"Succeeded","rolloutId":"r1","preTraffic":` + string(pre) + `}`), nil
			}
			return nil, &Failure{Name: "Unexpected", Cause: call.Resource}
		})
		r := execute(t, def, `{"detail":{"bucket":{"name":"b"},"object":{"key":"orders/prod/x.asl.json"}}}`, rt)
		checkOutput(t, r, `{"phase":"Succeeded","rolloutId":"r1","preTraffic":[
			{"name":"ok","expect":"SUCCEEDED","status":"SUCCEEDED"},
			{"name":"broken","expect":"SUCCEEDED","error":"States.TaskFailed","cause":"test failed"}]}`)
		if progressToken == "" || prepareCalls != 2 {
			t.Fatalf("token %q, prepare calls %d", progressToken, prepareCalls)
		}
		// One jittered retry of at most a second, then half an hour of progress.
		if r.elapsed < 30*time.Minute || r.elapsed > 30*time.Minute+time.Second {
			t.Fatalf("elapsed %v", r.elapsed)
		}
	})
}
