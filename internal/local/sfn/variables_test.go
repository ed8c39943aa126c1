package sfn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/statemachines"
)

// Variables through the API: a definition that assigns and reads them is created and runs;
// one that assigns an outer name inside a Map is refused by CreateStateMachine and reported
// by ValidateStateMachineDefinition.
func TestVariablesThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	def := `{"StartAt":"Remember","States":{
		"Remember":{"Type":"Pass","Assign":{"customer.$":"$.customer","count.$":"States.ArrayLength($.items)"},"Next":"Lines"},
		"Lines":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"Line","States":{
			"Line":{"Type":"Pass","Parameters":{"sku.$":"$","for.$":"$customer"},"End":true}}},"Next":"Answer"},
		"Answer":{"Type":"Pass","Parameters":{"lines.$":"$","count.$":"$count"},"End":true}}}`
	arn := h.machine(t, "vars", def)
	out := h.wait(t, h.start(t, arn, "", `{"customer":"c-1","items":["a","b"]}`))
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s: %s %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if got, want := aws.ToString(out.Output), `{"count":2,"lines":[{"for":"c-1","sku":"a"},{"for":"c-1","sku":"b"}]}`; got != want {
		t.Fatalf("output %s, want %s", got, want)
	}

	bad := `{"StartAt":"M","States":{
		"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Assign":{"total":1},"End":true}}},"Next":"Out"},
		"Out":{"Type":"Pass","Assign":{"total":0,"states":1},"End":true}}}`
	_, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String("vars-bad"), Definition: aws.String(bad), RoleArn: aws.String(testRole),
	})
	wantAPIError(t, err, "InvalidDefinition", "")
	if !strings.Contains(err.Error(), "/States/M/ItemProcessor/States/I/Assign/total") {
		t.Errorf("error does not locate the inner assignment: %v", err)
	}
	v, err := h.client.ValidateStateMachineDefinition(ctx(), &awssfn.ValidateStateMachineDefinitionInput{Definition: aws.String(bad)})
	if err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, d := range v.Diagnostics {
		if aws.ToString(d.Code) != "SCHEMA_VALIDATION_FAILED" {
			t.Errorf("diagnostic %s: %s", aws.ToString(d.Code), aws.ToString(d.Message))
		}
		locs = append(locs, aws.ToString(d.Location))
	}
	if v.Result != "FAIL" || strings.Join(locs, " ") != "/States/Out/Assign/states /States/M/ItemProcessor/States/I/Assign/total" {
		t.Fatalf("result %s, locations %v", v.Result, locs)
	}
}

// The JSONata orders example answers as orders v2 does, run through the API side by side.
func TestOrdersJSONataExample(t *testing.T) {
	h := newHarness(t)
	read := func(name string) string {
		raw, err := statemachines.Examples.ReadFile("examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	v2 := h.machine(t, "orders-v2", read("orders-v2.asl.json"))
	jsonata := h.machine(t, "orders-jsonata", read("orders-v2-jsonata.asl.json"))
	for _, input := range []string{
		`{"orderId":"o-1","items":[{"sku":"a","qty":1}]}`,
		`{"orderId":"o-2","items":[{"sku":"a","qty":1},{"sku":"b","qty":2},{"sku":"c","qty":3}]}`,
		`{"orderId":"o-3","items":[]}`,
	} {
		want := h.wait(t, h.start(t, v2, "", input))
		got := h.wait(t, h.start(t, jsonata, "", input))
		if got.Status != sfntypes.ExecutionStatusSucceeded || got.Status != want.Status {
			t.Fatalf("%s: status %s (%s %s), v2 %s", input, got.Status, aws.ToString(got.Error), aws.ToString(got.Cause), want.Status)
		}
		if canonJSON(t, aws.ToString(got.Output)) != canonJSON(t, aws.ToString(want.Output)) {
			t.Errorf("%s: output %s, v2 %s", input, aws.ToString(got.Output), aws.ToString(want.Output))
		}
	}
	// The express lane is taken: the answer is not just the input passed through.
	out := h.wait(t, h.start(t, jsonata, "", `{"orderId":"o-4","items":["x"]}`))
	if !strings.Contains(aws.ToString(out.Output), `"lane":"express"`) {
		t.Errorf("one item: output %s", aws.ToString(out.Output))
	}
}

func canonJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// A state that assigns shows its variables in its StateExited event, each as serialized
// JSON (StateExitedEventDetails.assignedVariables), with assignedVariablesDetails.truncated
// false as it always is for API calls; a Catcher's Assign is the caught state's. Without
// execution data the values are left out, as the output is. A state that assigns nothing
// shows neither field.
func TestHistoryShowsAssignedVariables(t *testing.T) {
	h := newHarness(t)
	def := `{"StartAt":"Remember","States":{
		"Remember":{"Type":"Pass","Assign":{"customer.$":"$.customer","lines":{"n":2,"skus":["a","b"]}},"Next":"Plain"},
		"Plain":{"Type":"Pass","Next":"Boom"},
		"Boom":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:000000000000:function:absent-fn"},
			"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"failed":true},"Next":"Done"}],"End":true},
		"Done":{"Type":"Succeed"}}}`
	arn := h.machine(t, "vars-history", def)
	exec := h.start(t, arn, "", `{"customer":"c-1"}`)
	if out := h.wait(t, exec); out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s: %s %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	exited := func(withData bool) map[string]*sfntypes.StateExitedEventDetails {
		t.Helper()
		hist, err := h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(exec), IncludeExecutionData: aws.Bool(withData)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*sfntypes.StateExitedEventDetails{}
		for _, e := range hist.Events {
			if d := e.StateExitedEventDetails; d != nil {
				got[aws.ToString(d.Name)] = d
			}
		}
		return got
	}
	got := exited(true)
	for state, want := range map[string]map[string]string{
		"Remember": {"customer": `"c-1"`, "lines": `{"n":2,"skus":["a","b"]}`},
		"Boom":     {"failed": `true`},
	} {
		d := got[state]
		if d == nil {
			t.Fatalf("no StateExited for %s", state)
		}
		if len(d.AssignedVariables) != len(want) {
			t.Errorf("%s: assignedVariables %v, want %v", state, d.AssignedVariables, want)
		}
		for name, v := range want {
			if d.AssignedVariables[name] != v {
				t.Errorf("%s: %s = %q, want %q", state, name, d.AssignedVariables[name], v)
			}
		}
		if d.AssignedVariablesDetails == nil || d.AssignedVariablesDetails.Truncated {
			t.Errorf("%s: assignedVariablesDetails %+v, want truncated false", state, d.AssignedVariablesDetails)
		}
	}
	if d := got["Plain"]; d == nil || d.AssignedVariables != nil || d.AssignedVariablesDetails != nil {
		t.Errorf("Plain assigns nothing but shows %+v", d)
	}
	if d := exited(false)["Remember"]; d == nil || d.AssignedVariables != nil || d.AssignedVariablesDetails == nil {
		t.Errorf("without execution data: %+v, want no values and the details", d)
	}
}

// A JSONata expression that fails and is not caught leaves an EvaluationFailed event
// (state, error States.QueryEvaluationError, cause) before the execution fails (directly after
// it at the top level; a Parallel's own events come between); one that a
// Catcher takes leaves none, and a failure inside a Parallel branch is reported once, for
// the state whose expression failed.
func TestHistoryShowsEvaluationFailed(t *testing.T) {
	h := newHarness(t)
	evaluationFailed := func(t *testing.T, def string) []*sfntypes.EvaluationFailedEventDetails {
		t.Helper()
		arn := h.machine(t, "evalfail-"+strings.ToLower(t.Name()[len(t.Name())-3:]), def)
		exec := h.start(t, arn, "", `{"n":1}`)
		h.wait(t, exec)
		hist, err := h.client.GetExecutionHistory(ctx(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(exec)})
		if err != nil {
			t.Fatal(err)
		}
		var got []*sfntypes.EvaluationFailedEventDetails
		for i, e := range hist.Events {
			if e.Type == sfntypes.HistoryEventTypeEvaluationFailed {
				if last := hist.Events[len(hist.Events)-1].Type; last != sfntypes.HistoryEventTypeExecutionFailed || i == len(hist.Events)-1 {
					t.Errorf("EvaluationFailed at %d of %d events, the last %s: want it before ExecutionFailed", i, len(hist.Events), last)
				}
				got = append(got, e.EvaluationFailedEventDetails)
			}
		}
		return got
	}
	t.Run("one", func(t *testing.T) {
		got := evaluationFailed(t, `{"QueryLanguage":"JSONata","StartAt":"Bad","States":{
			"Bad":{"Type":"Pass","Output":"{% $number('x') + $nope.a %}","End":true}}}`)
		if len(got) != 1 || aws.ToString(got[0].State) != "Bad" || aws.ToString(got[0].Error) != "States.QueryEvaluationError" || aws.ToString(got[0].Cause) == "" {
			t.Fatalf("EvaluationFailed events %+v, want one for Bad", got)
		}
	})
	t.Run("par", func(t *testing.T) {
		got := evaluationFailed(t, `{"QueryLanguage":"JSONata","StartAt":"P","States":{
			"P":{"Type":"Parallel","Branches":[{"StartAt":"Inner","States":{"Inner":{"Type":"Pass","Output":"{% $number('x') %}","End":true}}}],"End":true}}}`)
		if len(got) != 1 || aws.ToString(got[0].State) != "Inner" {
			t.Fatalf("EvaluationFailed events %+v, want one for Inner", got)
		}
	})
	t.Run("cau", func(t *testing.T) {
		got := evaluationFailed(t, `{"QueryLanguage":"JSONata","StartAt":"Bad","States":{
			"Bad":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Arguments":{"FunctionName":"{% $number('x') %}"},
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Done"}],"End":true},
			"Done":{"Type":"Succeed"}}}`)
		if len(got) != 0 {
			t.Fatalf("a caught failure left EvaluationFailed events %+v", got)
		}
	})
}
