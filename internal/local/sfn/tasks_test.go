package sfn

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

const priceFn = "arn:aws:lambda:us-east-1:000000000000:function:price"

// taskDef is one Task state; catch adds a Catch of States.ALL into $.error.
func taskDef(state string, catch bool) string {
	if !catch {
		return `{"StartAt":"T","States":{"T":` + strings.TrimSuffix(state, "}") + `,"End":true}}}`
	}
	c := `,"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Caught"}]`
	return `{"StartAt":"T","States":{"T":` + strings.TrimSuffix(state, "}") + c + `,"End":true},"Caught":{"Type":"Pass","End":true}}}`
}

func succeedWith(out string) fakeHandler {
	return func(context.Context, json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		return json.RawMessage(out), nil, nil
	}
}

func TestLambdaTasks(t *testing.T) {
	h := newHarness(t)
	h.functions.set(priceFn, func(_ context.Context, p json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		var in struct {
			Items int `json:"items"`
		}
		_ = json.Unmarshal(p, &in)
		return json.RawMessage(`{"price":` + itoa(in.Items*10) + `}`), nil, nil
	})
	h.functions.set("reject", func(context.Context, json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		return nil, &core.FunctionError{Type: "InvalidPolicy", Message: "weights must rise"}, nil
	})
	h.functions.set("busy", func(context.Context, json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		return nil, nil, &core.APIError{Code: "TooManyRequestsException", Message: "Rate Exceeded.", Status: 429}
	})
	tests := []struct {
		name       string
		definition string
		input      string
		wantStatus sfntypes.ExecutionStatus
		wantOutput string
		wantError  string
		wantCause  string
	}{
		{name: "a function ARN answers its own result", definition: taskDef(`{"Type":"Task","Resource":"`+priceFn+`"}`, false),
			input: `{"items":3}`, wantStatus: "SUCCEEDED", wantOutput: `{"price":30}`},
		{name: "a function error fails with its errorType", definition: taskDef(`{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:reject"}`, false),
			wantStatus: "FAILED", wantError: "InvalidPolicy", wantCause: `{"errorMessage":"weights must rise","errorType":"InvalidPolicy"}`},
		{name: "lambda:invoke wraps the result", definition: taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"`+priceFn+`","Payload":{"items.$":"$.n"}},"ResultPath":"$.r"}`, false),
			input: `{"n":2}`, wantStatus: "SUCCEEDED", wantOutput: `"Payload":{"price":20}`},
		{name: "lambda:invoke error keeps the errorType", definition: taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"reject"}}`, false),
			wantStatus: "FAILED", wantError: "InvalidPolicy"},
		{name: "a missing function", definition: taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"nope"}}`, false),
			wantStatus: "FAILED", wantError: "Lambda.ResourceNotFoundException"},
		{name: "a function at its concurrency limit", definition: taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"busy"}}`, false),
			wantStatus: "FAILED", wantError: "Lambda.TooManyRequestsException", wantCause: "Rate Exceeded."},
		{name: "a caught function error", definition: taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"reject"}}`, true),
			wantStatus: "SUCCEEDED", wantOutput: `"Error":"InvalidPolicy"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := h.machine(t, "m"+itoa(i), tt.definition)
			input := tt.input
			if input == "" {
				input = "{}"
			}
			d := h.wait(t, h.start(t, arn, "", input))
			if d.Status != tt.wantStatus || !strings.Contains(aws.ToString(d.Output), tt.wantOutput) ||
				aws.ToString(d.Error) != tt.wantError || (tt.wantCause != "" && aws.ToString(d.Cause) != tt.wantCause) {
				t.Errorf("got %s output %s error %s cause %s", d.Status, aws.ToString(d.Output), aws.ToString(d.Error), aws.ToString(d.Cause))
			}
		})
	}
}

// tokenDef waits on a task token that the function "register" receives as {"token": ...}.
func tokenDef(timeout, heartbeat int) string {
	extra := ""
	if timeout > 0 {
		extra += `,"TimeoutSeconds":` + itoa(timeout)
	}
	if heartbeat > 0 {
		extra += `,"HeartbeatSeconds":` + itoa(heartbeat)
	}
	return taskDef(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"register","Payload":{"token.$":"$$.Task.Token"}}`+extra+`}`, false)
}

func TestWaitForTaskToken(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Clock = core.NewClock(60) })
	tokens := make(chan string, 10)
	h.functions.set("register", func(_ context.Context, p json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		var in struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(p, &in)
		tokens <- in.Token
		return json.RawMessage(`null`), nil, nil
	})
	// answerer answers a task token the way a rollout's Lambda would, through the SDK.
	type answerer func(t *testing.T, token string)
	success := func(output string) answerer {
		return func(t *testing.T, token string) {
			must[*awssfn.SendTaskSuccessOutput](t)(h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(output)}))
		}
	}
	tests := []struct {
		name       string
		timeout    int
		heartbeat  int
		answer     answerer
		wantStatus sfntypes.ExecutionStatus
		wantOutput string
		wantError  string
		wantCause  string
	}{
		{name: "SendTaskSuccess", answer: success(`{"approved":true}`), wantStatus: "SUCCEEDED", wantOutput: `{"approved":true}`},
		{name: "SendTaskFailure", wantStatus: "FAILED", wantError: "RolledBack", wantCause: "alarm fired",
			answer: func(t *testing.T, token string) {
				must[*awssfn.SendTaskFailureOutput](t)(h.client.SendTaskFailure(ctx(), &awssfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String("RolledBack"), Cause: aws.String("alarm fired")}))
			}},
		{name: "heartbeats keep it alive past HeartbeatSeconds", heartbeat: 60, wantStatus: "SUCCEEDED", wantOutput: `"late"`,
			answer: func(t *testing.T, token string) {
				for i := 0; i < 10; i++ { // 2 s of wall clock = 120 virtual seconds, beating every 12
					time.Sleep(200 * time.Millisecond)
					must[*awssfn.SendTaskHeartbeatOutput](t)(h.client.SendTaskHeartbeat(ctx(), &awssfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)}))
				}
				success(`"late"`)(t, token)
			}},
		{name: "no heartbeat", heartbeat: 1, wantStatus: "FAILED", wantError: "States.HeartbeatTimeout"},
		{name: "TimeoutSeconds", timeout: 2, wantStatus: "FAILED", wantError: "States.Timeout"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := h.machine(t, "token"+itoa(i), tokenDef(tt.timeout, tt.heartbeat))
			exec := h.start(t, arn, "", "{}")
			token := <-tokens
			if tt.answer != nil {
				tt.answer(t, token)
			}
			d := h.wait(t, exec)
			if d.Status != tt.wantStatus || aws.ToString(d.Output) != tt.wantOutput || aws.ToString(d.Error) != tt.wantError ||
				(tt.wantCause != "" && aws.ToString(d.Cause) != tt.wantCause) {
				t.Errorf("got %s output %s error %s cause %s", d.Status, aws.ToString(d.Output), aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			// The token is spent: any further answer is TaskTimedOut.
			_, err := h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String("{}")})
			wantAPIError(t, err, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
			_, err = h.client.SendTaskHeartbeat(ctx(), &awssfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)})
			wantAPIError(t, err, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
		})
	}
	t.Run("an unknown token", func(t *testing.T) {
		_, err := h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String("AQBnope"), Output: aws.String("{}")})
		wantAPIError(t, err, "InvalidToken", "Invalid Token: 'Invalid token'")
		_, err = h.client.SendTaskFailure(ctx(), &awssfn.SendTaskFailureInput{TaskToken: aws.String("AQBnope")})
		wantAPIError(t, err, "InvalidToken", "Invalid Token: 'Invalid token'")
	})
	t.Run("output that is not JSON", func(t *testing.T) {
		arn := h.machine(t, "badoutput", tokenDef(0, 0))
		exec := h.start(t, arn, "", "{}")
		token := <-tokens
		_, err := h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String("{")})
		wantAPIError(t, err, "InvalidOutput", "")
		must[*awssfn.StopExecutionOutput](t)(h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(exec)}))
		_, err = h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String("{}")})
		wantAPIError(t, err, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	})
}

// A function that answers its own token from inside the invocation, as local mode's
// in-process Lambdas do through the endpoint.
func TestWaitForTaskTokenAnsweredDuringInvoke(t *testing.T) {
	h := newHarness(t)
	h.functions.set("register", func(_ context.Context, p json.RawMessage) (json.RawMessage, *core.FunctionError, error) {
		var in struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(p, &in)
		if _, err := h.client.SendTaskSuccess(ctx(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(in.Token), Output: aws.String(`{"at":"once"}`)}); err != nil {
			return nil, &core.FunctionError{Type: "Unexpected", Message: err.Error()}, nil
		}
		return json.RawMessage(`{}`), nil, nil
	})
	d := h.wait(t, h.start(t, h.machine(t, "orders", tokenDef(0, 0)), "", "{}"))
	if d.Status != "SUCCEEDED" || aws.ToString(d.Output) != `{"at":"once"}` {
		t.Errorf("got %s %s %s", d.Status, aws.ToString(d.Output), aws.ToString(d.Cause))
	}
}

func TestStartExecutionSync2(t *testing.T) {
	h := newHarness(t)
	// The child: v1 answers {"from":"v1"}, v2 fails; the latest revision answers "latest".
	child := h.machine(t, "child", `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"from":"latest"},"End":true}}}`)
	v1 := h.publish(t, child, `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"from":"v1"},"End":true}}}`)
	v2 := h.publish(t, child, `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Broken","Cause":"v2 is broken"}}}`)
	parent := func(suffix string) string {
		return taskDef(`{"Type":"Task","Resource":"arn:aws:states:::states:startExecution`+suffix+`","Parameters":{"StateMachineArn.$":"$.candidate","Input":{"test":1}},"ResultPath":"$.run"}`, true)
	}
	tests := []struct {
		name       string
		suffix     string
		candidate  string
		wantStatus sfntypes.ExecutionStatus
		check      func(t *testing.T, run, failure map[string]any)
	}{
		{name: ".sync:2 on a version ARN runs that version; Output is JSON", suffix: ".sync:2", candidate: v1, wantStatus: "SUCCEEDED",
			check: func(t *testing.T, run, _ map[string]any) {
				out, _ := run["Output"].(map[string]any)
				in, _ := run["Input"].(map[string]any)
				if run["Status"] != "SUCCEEDED" || out["from"] != "v1" || in["test"] != 1.0 || run["StateMachineVersionArn"] != v1 || run["StateMachineArn"] != child {
					t.Errorf("run %v", run)
				}
			}},
		{name: ".sync answers Output as a string", suffix: ".sync", candidate: v1, wantStatus: "SUCCEEDED",
			check: func(t *testing.T, run, _ map[string]any) {
				if run["Output"] != `{"from":"v1"}` {
					t.Errorf("run %v", run)
				}
			}},
		{name: "a failed child fails the task with States.TaskFailed", suffix: ".sync:2", candidate: v2, wantStatus: "SUCCEEDED",
			check: func(t *testing.T, _, failure map[string]any) {
				var cause map[string]any
				if failure["Error"] != "States.TaskFailed" || json.Unmarshal([]byte(failure["Cause"].(string)), &cause) != nil ||
					cause["Status"] != "FAILED" || cause["Error"] != "Broken" || cause["StateMachineVersionArn"] != v2 {
					t.Errorf("failure %v", failure)
				}
			}},
		{name: "no wait answers the ARN", suffix: "", candidate: v1, wantStatus: "SUCCEEDED",
			check: func(t *testing.T, run, _ map[string]any) {
				if !strings.HasPrefix(run["ExecutionArn"].(string), executionArnTop+"child:") || run["StartDate"] == nil {
					t.Errorf("run %v", run)
				}
			}},
		{name: "a missing version", suffix: ".sync:2", candidate: child + ":9", wantStatus: "SUCCEEDED",
			check: func(t *testing.T, _, failure map[string]any) {
				if failure["Error"] != "StepFunctions.StateMachineDoesNotExistException" {
					t.Errorf("failure %v", failure)
				}
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := h.machine(t, "parent"+itoa(i), parent(tt.suffix))
			d := h.wait(t, h.start(t, arn, "", `{"candidate":"`+tt.candidate+`"}`))
			if d.Status != tt.wantStatus {
				t.Fatalf("parent %s %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			var out struct {
				Run   map[string]any `json:"run"`
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
				t.Fatal(err)
			}
			tt.check(t, out.Run, out.Error)
		})
	}
	t.Run("stopping the parent stops the child", func(t *testing.T) {
		waiting := h.machine(t, "slowchild", waitDef)
		v := must[*awssfn.PublishStateMachineVersionOutput](t)(h.client.PublishStateMachineVersion(ctx(), &awssfn.PublishStateMachineVersionInput{StateMachineArn: aws.String(waiting)}))
		arn := h.machine(t, "parentstop", parent(".sync:2"))
		exec := h.start(t, arn, "", `{"candidate":"`+*v.StateMachineVersionArn+`"}`)
		var childArn string
		for deadline := time.Now().Add(10 * time.Second); childArn == "" && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			out := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{StateMachineArn: aws.String(waiting)}))
			if len(out.Executions) == 1 {
				childArn = *out.Executions[0].ExecutionArn
			}
		}
		must[*awssfn.StopExecutionOutput](t)(h.client.StopExecution(ctx(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(exec)}))
		if d := h.wait(t, childArn); d.Status != sfntypes.ExecutionStatusAborted {
			t.Errorf("child %s", d.Status)
		}
	})
}
