package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jsonataMachine makes a JSONata definition whose states are chained as chain does.
func jsonataMachine(states ...string) string {
	return `{"QueryLanguage":"JSONata",` + strings.TrimPrefix(chain(states...), "{")
}

func TestJSONata(t *testing.T) {
	tests := []struct {
		name, def, input, want string
	}{
		{"Pass Output: an expression, and expressions inside objects and arrays",
			jsonataMachine(`{"Type":"Pass","Output":{"lastName":"{% 'Last=>' & $states.input.customer.lastName %}","orderValue":"{% $states.input.order.total %}","list":[1,"{% 1+1 %}"],"plain":"$customerName"}}`),
			`{"customer":{"firstName":"Martha","lastName":"Rivera"},"order":{"items":7,"total":27.91}}`,
			`{"lastName":"Last=>Rivera","orderValue":27.91,"list":[1,2],"plain":"$customerName"}`},
		{"without Output a Pass passes its input", jsonataMachine(`{"Type":"Pass"}`), `{"a":1}`, `{"a":1}`},
		{"Output may be any JSON value", jsonataMachine(`{"Type":"Pass","Output":42}`), `{}`, `42`},
		{"filtering (AWS's example)", jsonataMachine(`{"Type":"Pass","Output":{"dietProducts":"{% $states.input.products[calories=0] %}"}}`),
			`{"products":[{"name":"a","calories":0},{"name":"b","calories":5},{"name":"c","calories":0}]}`,
			`{"dietProducts":[{"name":"a","calories":0},{"name":"c","calories":0}]}`},
		{"Succeed Output", jsonataMachine(`{"Type":"Succeed","Output":"{% $states.input.a * 2 %}"}`), `{"a":21}`, `42`},
		{"a JSONata state inside a JSONPath machine",
			chain(`{"Type":"Pass","Parameters":{"x.$":"$.a"}}`, `{"Type":"Pass","QueryLanguage":"JSONata","Output":"{% $states.input.x + 1 %}"}`),
			`{"a":1}`, `2`},
		{"the context object", jsonataMachine(`{"Type":"Pass","Output":{"name":"{% $states.context.Execution.Name %}","state":"{% $states.context.State.Name %}"}}`), `{}`, `{"name":"exec-1","state":"S0"}`},
		{"Assign and Output side by side; the next state sees the variable",
			jsonataMachine(
				`{"Type":"Pass","Assign":{"x":1}}`,
				`{"Type":"Pass","Assign":{"x":"{% $x + 1 %}"},"Output":{"seen":"{% $x %}"}}`,
				`{"Type":"Pass","Output":{"before":"{% $states.input.seen %}","now":"{% $x %}"}}`),
			`{}`, `{"before":1,"now":2}`},
		{"AWS's evaluation order example", jsonataMachine(
			`{"Type":"Pass","Assign":{"x":3,"a":6}}`,
			`{"Type":"Pass","Assign":{"x":"{% $a %}","nextX":"{% $x %}"}}`,
			`{"Type":"Pass","Output":{"x":"{% $x %}","nextX":"{% $nextX %}"}}`), `{}`, `{"x":6,"nextX":3}`},
		{"Choice Condition with the rule's Output and Assign",
			jsonataMachine(
				`{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n > 1 %}","Output":{"lane":"many"},"Assign":{"picked":"rule"},"Next":"S1"}],"Default":"S1","Output":{"lane":"default"},"Assign":{"picked":"default"}}`,
				`{"Type":"Pass","Output":{"lane":"{% $states.input.lane %}","picked":"{% $picked %}"}}`),
			`{"n":2}`, `{"lane":"many","picked":"rule"}`},
		{"Choice Default with the state's Output and Assign",
			jsonataMachine(
				`{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n > 1 %}","Output":{"lane":"many"},"Assign":{"picked":"rule"},"Next":"S1"}],"Default":"S1","Output":{"lane":"default"},"Assign":{"picked":"default"}}`,
				`{"Type":"Pass","Output":{"lane":"{% $states.input.lane %}","picked":"{% $picked %}"}}`),
			`{"n":1}`, `{"lane":"default","picked":"default"}`},
		{"Map: Items, ItemSelector with the item, MaxConcurrency, Output from $states.result",
			jsonataMachine(`{"Type":"Map","Items":"{% $states.input.orders %}","MaxConcurrency":"{% 1 %}",
				"ItemSelector":{"sku":"{% $states.context.Map.Item.Value.sku %}","i":"{% $states.context.Map.Item.Index %}","who":"{% $states.input.who %}"},
				"ItemProcessor":{"StartAt":"L","States":{"L":{"Type":"Pass","Output":"{% $states.input.sku & '#' & $states.input.i & ' for ' & $states.input.who %}","End":true}}},
				"Output":{"lines":"{% $states.result %}","count":"{% $count($states.result) %}"}}`),
			`{"who":"ann","orders":[{"sku":"a"},{"sku":"b"}]}`, `{"lines":["a#0 for ann","b#1 for ann"],"count":2}`},
		{"`~>` in an expression evaluated again (each Map iteration, as each execution)",
			jsonataMachine(`{"Type":"Map","Items":["a","b","c"],"MaxConcurrency":1,
				"ItemProcessor":{"StartAt":"L","States":{"L":{"Type":"Pass","Output":"{% $states.input ~> $uppercase() %}","End":true}}}}`),
			`{}`, `["A","B","C"]`},
		{"Map Items as a literal array; without Output the results",
			jsonataMachine(`{"Type":"Map","Items":[1,"{% 1+1 %}",3],"ItemProcessor":{"StartAt":"L","States":{"L":{"Type":"Pass","Output":"{% $states.input * 10 %}","End":true}}}}`),
			`{}`, `[10,20,30]`},
		{"Parallel Arguments and branches in JSONata",
			jsonataMachine(`{"Type":"Parallel","Arguments":{"v":"{% $states.input.v %}"},"Branches":[
				{"StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.v + 1 %}","End":true}}},
				{"StartAt":"B","States":{"B":{"Type":"Pass","Output":"{% $states.input.v * 2 %}","End":true}}}],
				"Output":"{% $sum($states.result) %}"}`),
			`{"v":5}`, `16`},
		{"Wait Seconds from an expression", jsonataMachine(`{"Type":"Wait","Seconds":"{% $states.input.s %}","Output":"waited"}`), `{"s":0}`, `"waited"`},
		{"functions Step Functions adds", jsonataMachine(`{"Type":"Pass","Output":{
				"partition":"{% $partition([1,2,3,4,5], 2.7) %}",
				"range":"{% $range(0, 10, 2) %}",
				"hash":"{% $hash('hello', 'SHA-256') %}",
				"parse":"{% $parse($states.input.json).a %}",
				"seeded":"{% $random(42) = $random(42) %}",
				"unit":"{% $random() >= 0 and $random() < 1 %}",
				"distinct":"{% $distinct([1,1,2]) %}",
				"match":"{% $match('order-42', /[0-9]+/).match %}"}}`),
			`{"json":"{\"a\":[1,2]}"}`,
			`{"partition":[[1,2],[3,4],[5]],"range":[0,2,4,6,8,10],"hash":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","parse":[1,2],"seeded":true,"unit":true,"distinct":[1,2],"match":"42"}`},
		{"a Catcher's Output and Assign see $states.errorOutput",
			`{"QueryLanguage":"JSONata","StartAt":"P","States":{
				"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"{% 'Bad' & 'Order' %}","Cause":"{% $states.input.why %}"}}}],
					"Arguments":{"why":"no stock"},
					"Catch":[{"ErrorEquals":["BadOrder"],"Output":{"error":"{% $states.errorOutput.Error %}","in":"{% $states.input.id %}"},"Assign":{"cause":"{% $states.errorOutput.Cause %}"},"Next":"After"}],"End":true},
				"After":{"Type":"Pass","Output":{"error":"{% $states.input.error %}","in":"{% $states.input.in %}","cause":"{% $cause %}"},"End":true}}}`,
			`{"id":7}`, `{"error":"BadOrder","in":7,"cause":"no stock"}`},
		{"a Catcher without Output passes the error output",
			jsonataMachine(`{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"C"}}}],
				"Catch":[{"ErrorEquals":["E"],"Next":"S1"}]}`, `{"Type":"Pass"}`),
			`{}`, `{"Error":"E","Cause":"C"}`},
		{"QueryEvaluationError can be caught",
			`{"QueryLanguage":"JSONata","StartAt":"T","States":{
				"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Arguments":{"x":"{% $states.input.missing %}"},
					"Catch":[{"ErrorEquals":["States.QueryEvaluationError"],"Next":"After"}],"End":true},
				"After":{"Type":"Pass","Output":"{% $states.input.Error %}","End":true}}}`,
			`{}`, `"States.QueryEvaluationError"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				checkOutput(t, execute(t, tc.def, tc.input, newFake(nil)), tc.want)
			})
		})
	}
}

// A Task's Arguments are what the resource gets, with the task token in the context;
// $states.result is the raw result; without Output the result is the output.
func TestJSONataTask(t *testing.T) {
	def := jsonataMachine(
		`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","TimeoutSeconds":"{% $states.input.timeout %}",
			"Arguments":{"FunctionName":"f","Payload":{"token":"{% $states.context.Task.Token %}","id":"{% $states.input.id %}"}},
			"Assign":{"status":"{% $states.result.Status %}"}}`,
		`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Arguments":{"status":"{% $status %}"},"Output":{"got":"{% $states.result.status %}","in":"{% $states.input.Status %}"}}`,
	)
	bubble(t, func(t *testing.T) {
		rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
			if strings.HasSuffix(call.Resource, "waitForTaskToken") {
				if call.TimeoutSeconds != 60 || string(call.Input) != `{"FunctionName":"f","Payload":{"id":7,"token":"token-1"}}` {
					return nil, &Failure{Name: "BadCall", Cause: string(call.Input)}
				}
				return json.RawMessage(`{"Status":"OK"}`), nil
			}
			return call.Input, nil
		})
		checkOutput(t, execute(t, def, `{"id":7,"timeout":60}`, rt), `{"got":"OK","in":"OK"}`)
	})
}

func TestJSONataFailures(t *testing.T) {
	located := regexp.MustCompile(`^An error occurred while executing the state 'S0' \(entered at the event id #2\)\. `)
	tests := []struct {
		name, def, input, wantErr, wantCause string
	}{
		{"undefined, as AWS words it", jsonataMachine(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Arguments":{"Input":{"pushLocation":"{% $states.input.pushLocation %}"}}}`), `{}`,
			ErrQueryEvaluation, "The JSONata expression '$states.input.pushLocation' specified for the field 'Arguments/Input/pushLocation' returned nothing (undefined)."},
		{"a type error", jsonataMachine(`{"Type":"Pass","Output":"{% $states.input.a + 1 %}"}`), `{"a":"x"}`, ErrQueryEvaluation, "'Output'"},
		{"an unassigned variable", jsonataMachine(`{"Type":"Pass","Output":"{% $nope %}"}`), `{}`, ErrQueryEvaluation, "returned nothing (undefined)"},
		{"a Condition that is not a boolean", jsonataMachine(`{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n %}","Next":"S1"}]}`, `{"Type":"Succeed"}`), `{"n":1}`, ErrQueryEvaluation, "boolean"},
		{"TimeoutSeconds that is not a positive integer", jsonataMachine(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":"{% -1 %}"}`), `{}`, ErrQueryEvaluation, "TimeoutSeconds"},
		{"Items that is not an array", jsonataMachine(`{"Type":"Map","Items":"{% $states.input %}","ItemProcessor":{"StartAt":"L","States":{"L":{"Type":"Pass","End":true}}}}`), `{"a":1}`, ErrQueryEvaluation, "'Items'"},
		{"$eval is not available", jsonataMachine(`{"Type":"Pass","Output":"{% $eval('1') %}"}`), `{}`, ErrQueryEvaluation, "$eval"},
		{"$parse of text that is not JSON", jsonataMachine(`{"Type":"Pass","Output":"{% $parse('{') %}"}`), `{}`, ErrQueryEvaluation, "$parse"},
		{"$hash with an unknown algorithm", jsonataMachine(`{"Type":"Pass","Output":"{% $hash('a', 'SHA-3') %}"}`), `{}`, ErrQueryEvaluation, "SHA-3"},
		{"a function is not JSON", jsonataMachine(`{"Type":"Pass","Output":"{% function($x) { $x } %}"}`), `{}`, ErrQueryEvaluation, "function"},
		{"the Fail state's Error and Cause", jsonataMachine(`{"Type":"Fail","Error":"{% 'E' & $states.input.n %}","Cause":"{% $string($states.input) %}"}`), `{"n":1}`, "E1", `{"n":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, tc.def, tc.input, newFake(nil))
				checkFailure(t, r, tc.wantErr, tc.wantCause)
				if tc.wantErr == ErrQueryEvaluation && !located.MatchString(r.fail.Cause) {
					t.Fatalf("cause %q does not name the state", r.fail.Cause)
				}
			})
		})
	}
}

func TestJSONataUUIDAndWait(t *testing.T) {
	bubble(t, func(t *testing.T) {
		r := execute(t, jsonataMachine(`{"Type":"Wait","Seconds":"{% $states.input.s * 60 %}","Output":{"id":"{% $uuid() %}"}}`), `{"s":5}`, newFake(nil))
		if r.fail != nil {
			t.Fatal(r.fail)
		}
		var out struct{ ID string }
		_ = json.Unmarshal(r.out, &out)
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(out.ID) {
			t.Fatalf("uuid %q", out.ID)
		}
		if r.elapsed != 5*time.Minute {
			t.Fatalf("waited %v", r.elapsed)
		}
	})
}

func TestValidateJSONata(t *testing.T) {
	const proc = `"ItemProcessor":{"StartAt":"L","States":{"L":{"Type":"Pass","End":true}}}`
	tests := []struct {
		name string
		def  string
		want []diag
	}{
		{"a valid JSONata machine", jsonataMachine(`{"Type":"Pass","Output":"{% $states.input %}","Assign":{"a":"{% 1 %}"}}`, `{"Type":"Map","Items":[1],`+proc+`}`), nil},
		{"JSONPath fields in a JSONata state", jsonataMachine(`{"Type":"Pass","InputPath":"$.a","Parameters":{},"Result":1,"ResultPath":"$.r","OutputPath":"$"}`), []diag{
			{CodeSchema, "/States/S0/InputPath", "The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported for the 'JSONPath' QueryLanguage"},
			{CodeSchema, "/States/S0/Parameters", "'Parameters'"},
			{CodeSchema, "/States/S0/Result", "'Result'"},
			{CodeSchema, "/States/S0/ResultPath", "'ResultPath'"},
			{CodeSchema, "/States/S0/OutputPath", "'OutputPath'"},
		}},
		{"ResultSelector and *Path fields in JSONata", jsonataMachine(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","ResultSelector":{},"TimeoutSecondsPath":"$.t"}`), []diag{
			{CodeSchema, "/States/S0/ResultSelector", "'ResultSelector'"},
			{CodeSchema, "/States/S0/TimeoutSecondsPath", "'TimeoutSecondsPath'"},
		}},
		{"JSONata fields in a JSONPath state", chain(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Arguments":{},"Output":1}`), []diag{
			{CodeSchema, "/States/S0/Arguments", "The QueryLanguage is set to 'JSONPath', but field 'Arguments' is only supported for the 'JSONata' QueryLanguage"},
			{CodeSchema, "/States/S0/Output", "'Output'"},
		}},
		{"a JSONPath Catcher with Output, a JSONata one with ResultPath", `{"StartAt":"A","States":{
			"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["X"],"Output":1,"Next":"B"}],"Next":"B"},
			"B":{"Type":"Task","QueryLanguage":"JSONata","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["X"],"ResultPath":"$.e","Next":"C"}],"Next":"C"},
			"C":{"Type":"Succeed"}}}`, []diag{
			{CodeSchema, "/States/A/Catch/0/Output", "'Output'"},
			{CodeSchema, "/States/B/Catch/0/ResultPath", "'ResultPath'"},
		}},
		{"Condition in JSONPath, Variable in JSONata", `{"StartAt":"A","States":{
			"A":{"Type":"Choice","Choices":[{"Condition":"{% true %}","Next":"B"}]},
			"B":{"Type":"Choice","QueryLanguage":"JSONata","Choices":[{"Variable":"$.a","IsNull":true,"Next":"C"}]},
			"C":{"Type":"Succeed"}}}`, []diag{
			{CodeSchema, "/States/A/Choices/0/Condition", "only supported for the 'JSONata' QueryLanguage"},
			{CodeSchema, "/States/A/Choices/0", "exactly one"},
			{CodeSchema, "/States/B/Choices/0/Variable", "only supported for the 'JSONPath' QueryLanguage"},
			{CodeSchema, "/States/B/Choices/0/IsNull", "'IsNull'"},
			{CodeSchema, "/States/B/Choices/0", "These fields are required: [Condition]"},
		}},
		{"a JSONPath state in a JSONata machine", jsonataMachine(`{"Type":"Pass","QueryLanguage":"JSONPath"}`), []diag{
			{CodeSchema, "/States/S0/QueryLanguage", "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine"},
		}},
		{"expressions not closed, or padded", jsonataMachine(`{"Type":"Pass","Output":{"a":"{% 1","b":" {% 1 %} ","c":"1 %}"}}`), []diag{
			{CodeSchema, "/States/S0/Output/a", "JSONata string must start with {% and end with %}"},
			{CodeSchema, "/States/S0/Output/b", "JSONata string must start with {% and end with %}"},
			{CodeSchema, "/States/S0/Output/c", "JSONata string must start with {% and end with %}"},
		}},
		{"an expression that does not parse", jsonataMachine(`{"Type":"Pass","Output":"{% 1 + %}"}`), []diag{{CodeSchema, "/States/S0/Output", "is not valid"}}},
		{"$states.result where there is none", jsonataMachine(
			`{"Type":"Pass","Output":"{% $states.result %}"}`,
			`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Arguments":"{% $states.result %}","Output":"{% $states.result %}"}`), []diag{
			{CodeSchema, "/States/S0/Output", "$states.result"},
			{CodeSchema, "/States/S1/Arguments", "$states.result"},
		}},
		{"$states.errorOutput outside a Catcher", jsonataMachine(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Output":"{% $states.errorOutput %}",
			"Catch":[{"ErrorEquals":["States.ALL"],"Output":"{% $states.errorOutput %}","Next":"S1"}]}`, `{"Type":"Succeed"}`), []diag{
			{CodeSchema, "/States/S0/Output", "$states.errorOutput"},
		}},
		{"JSONata Assign names follow the variable rules", jsonataMachine(`{"Type":"Pass","Assign":{"states":1,"a b":2}}`), []diag{
			{CodeSchema, "/States/S0/Assign/states", "reserved"},
			{CodeSchema, "/States/S0/Assign/a b", "not valid"},
		}},
		{"a constant TimeoutSeconds is checked as in JSONPath", jsonataMachine(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":0}`), []diag{
			{CodeSchema, "/States/S0/TimeoutSeconds", "TimeoutSeconds"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDiags(t, Validate([]byte(tc.def)), tc.want)
		})
	}
}

// The JSONata library is not safe for concurrent evaluation: its built-in functions are
// values shared by every expression, and a call sets the function's context (the value a
// path step hands to `s.$uppercase()`) on that shared value before calling it. Concurrent
// Map iterations, Parallel branches and executions evaluate at once; each must get its
// own context. (Run under -race, the detector names the shared write as well.)
func TestJSONataConcurrentEvaluations(t *testing.T) {
	const n = 200
	items := make([]string, n)
	want := make([]string, n)
	for i := range items {
		s := fmt.Sprintf("item-%03d", i)
		items[i] = strconv.Quote(s)
		want[i] = strconv.Quote(strings.ToUpper(s) + "/" + strconv.Itoa(len(s)))
	}
	def := jsonataMachine(`{"Type":"Map","Items":"{% $states.input.items %}","MaxConcurrency":0,
		"ItemProcessor":{"StartAt":"L","States":{"L":{"Type":"Pass","Output":"{% $states.input.$uppercase() & '/' & $states.input.$length() %}","End":true}}}}`)
	input := `{"items":[` + strings.Join(items, ",") + `]}`
	bubble(t, func(t *testing.T) {
		checkOutput(t, execute(t, def, input, newFake(nil)), "["+strings.Join(want, ",")+"]")
	})
}

// fixedClock is a runtime whose clock stands at a time of its own, far from the wall clock.
type fixedClock struct {
	*fakeRuntime
	at time.Time
}

func (c fixedClock) Now() time.Time { return c.at }

// $now() and $millis() read the execution's clock, which local mode runs faster than the
// wall clock: they agree with $states.context's times.
func TestJSONataNowIsTheExecutionsClock(t *testing.T) {
	at := time.Date(2031, 2, 3, 4, 5, 6, 789e6, time.UTC)
	rt := fixedClock{fakeRuntime: newFake(nil), at: at}
	r := execute(t, jsonataMachine(`{"Type":"Pass","Output":{
		"now":"{% $now() %}","entered":"{% $states.context.State.EnteredTime %}",
		"millis":"{% $millis() %}","picture":"{% $now('[Y0001]-[M01]-[D01] [H01]:[m01]', '+0100') %}",
		"same":"{% $now() = $now() %}"}}`), `{}`, rt)
	checkOutput(t, r, `{"now":"2031-02-03T04:05:06.789Z","entered":"2031-02-03T04:05:06.789Z","millis":1927857906789,"picture":"2031-02-03 05:05","same":true}`)
}
