package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// single makes a machine of one state named S.
func single(state string) string { return `{"StartAt":"S","States":{"S":` + state + `}}` }

func TestPass(t *testing.T) {
	tests := []struct {
		name, state, input, want string
	}{
		{"no fields passes the input", `{"Type":"Pass","End":true}`, `{"a":1}`, `{"a":1}`},
		{"Result replaces the input", `{"Type":"Pass","Result":{"x":"y"},"End":true}`, `{"a":1}`, `{"x":"y"}`},
		{"Result under ResultPath", `{"Type":"Pass","Result":"r","ResultPath":"$.b","End":true}`, `{"a":1}`, `{"a":1,"b":"r"}`},
		{"ResultPath creates objects", `{"Type":"Pass","Result":1,"ResultPath":"$.x.y.z","End":true}`, `{"a":1}`, `{"a":1,"x":{"y":{"z":1}}}`},
		{"ResultPath overwrites", `{"Type":"Pass","Result":2,"ResultPath":"$.a","End":true}`, `{"a":1}`, `{"a":2}`},
		{"ResultPath into an array item", `{"Type":"Pass","Result":9,"ResultPath":"$.a[1]","End":true}`, `{"a":[1,2,3]}`, `{"a":[1,9,3]}`},
		{"ResultPath null discards the result", `{"Type":"Pass","Result":2,"ResultPath":null,"End":true}`, `{"a":1}`, `{"a":1}`},
		{"ResultPath $ replaces", `{"Type":"Pass","Result":[1],"ResultPath":"$","End":true}`, `{"a":1}`, `[1]`},
		{"Parameters with a path, a literal and nesting", `{"Type":"Pass","Parameters":{"v.$":"$.a","lit":"x","nested":{"w.$":"$.b[1]","arr":[{"q.$":"$.a"}]}},"End":true}`, `{"a":1,"b":[5,6]}`, `{"v":1,"lit":"x","nested":{"w":6,"arr":[{"q":1}]}}`},
		{"Parameters from the context object", `{"Type":"Pass","Parameters":{"id.$":"$$.Execution.Id","name.$":"$$.State.Name","sm.$":"$$.StateMachine.Name","in.$":"$$.Execution.Input.a","retry.$":"$$.State.RetryCount"},"End":true}`, `{"a":1}`, `{"id":"arn:aws:states:us-east-1:000000000000:execution:sm:exec-1","name":"S","sm":"sm","in":1,"retry":0}`},
		{"Parameters with an intrinsic", `{"Type":"Pass","Parameters":{"n.$":"States.ArrayLength($.b)"},"End":true}`, `{"b":[1,2]}`, `{"n":2}`},
		{"Parameters with a wildcard path", `{"Type":"Pass","Parameters":{"ids.$":"$.items[*].id","some.$":"$.items[0:2].id"},"End":true}`, `{"items":[{"id":1},{"id":2},{"x":3}]}`, `{"ids":[1,2],"some":[1,2]}`},
		{"Parameters then ResultPath", `{"Type":"Pass","Parameters":{"v.$":"$.a"},"ResultPath":"$.p","End":true}`, `{"a":1}`, `{"a":1,"p":{"v":1}}`},
		{"InputPath selects", `{"Type":"Pass","InputPath":"$.a","End":true}`, `{"a":{"b":1}}`, `{"b":1}`},
		{"InputPath with brackets", `{"Type":"Pass","InputPath":"$['a b'].c[0]","End":true}`, `{"a b":{"c":["x"]}}`, `"x"`},
		{"InputPath null gives {}", `{"Type":"Pass","InputPath":null,"End":true}`, `{"a":1}`, `{}`},
		{"OutputPath selects", `{"Type":"Pass","Result":{"x":{"y":2}},"ResultPath":"$.r","OutputPath":"$.r.x","End":true}`, `{"a":1}`, `{"y":2}`},
		{"OutputPath null gives {}", `{"Type":"Pass","OutputPath":null,"End":true}`, `{"a":1}`, `{}`},
		{"ResultPath merges into the raw input, not the InputPath", `{"Type":"Pass","InputPath":"$.a","ResultPath":"$.copy","End":true}`, `{"a":{"b":1}}`, `{"a":{"b":1},"copy":{"b":1}}`},
		{"large numbers pass unchanged", `{"Type":"Pass","End":true}`, `{"n":12345678901234567890,"d":0.1}`, `{"n":12345678901234567890,"d":0.1}`},
		{"bracketed names with escaped quotes", `{"Type":"Pass","Parameters":{"d.$":"$['a\\\"b']","s.$":"$[\"it's\"]","e.$":"$['it\\'s']","f.$":"States.Format('{} {}', $[\"it's\"], $['a\\\"b'])"},"ResultPath":"$['out \\' put']","End":true}`,
			`{"a\"b":1,"it's":2}`, `{"a\"b":1,"it's":2,"out ' put":{"d":1,"s":2,"e":2,"f":"2 1"}}`},
		{"InputPath and OutputPath with escaped quotes", `{"Type":"Pass","InputPath":"$['a\\\"b']","OutputPath":"$[\"it's\"]","End":true}`,
			`{"a\"b":{"it's":3}}`, `3`},
		{"Parameters with JSONPath filters", `{"Type":"Pass","Parameters":{"dear.$":"$.items[?(@.price > 10)].id","pens.$":"$.items[?(@.kind == 'pen' && @.stock)]","ctx.$":"$$.Execution.Input.items[?(@.price <= 5)].id"},"End":true}`,
			`{"items":[{"id":1,"price":5,"kind":"pen","stock":2},{"id":2,"price":12,"kind":"pen"},{"id":3,"price":30,"kind":"ink"}]}`,
			`{"dear":[2,3],"pens":[{"id":1,"price":5,"kind":"pen","stock":2}],"ctx":[1]}`},
		{"InputPath and OutputPath with a filter", `{"Type":"Pass","InputPath":"$.items[?(@.price > 10)]","OutputPath":"$[?(@.id != 2)]","End":true}`,
			`{"items":[{"id":1,"price":5},{"id":2,"price":12},{"id":3,"price":30}]}`, `[{"id":3,"price":30}]`},
		{"a filter that matches nothing gives []", `{"Type":"Pass","Parameters":{"none.$":"$.items[?(@.price > 100)]"},"End":true}`,
			`{"items":[{"price":5}]}`, `{"none":[]}`},
		{"HTML characters are not escaped", `{"Type":"Pass","Result":"<a & b>","End":true}`, `{}`, `"<a & b>"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, single(tc.state), tc.input, newFake(nil))
				checkOutput(t, r, tc.want)
				if tc.name == "HTML characters are not escaped" && !strings.Contains(string(r.out), "<a & b>") {
					t.Fatalf("escaped: %s", r.out)
				}
			})
		})
	}
}

// The context object's Execution part as AWS documents it: RedriveCount is 0 for an
// execution never redriven, and RedriveTime appears only after a redrive.
func TestContextObjectExecution(t *testing.T) {
	redriven := time.Date(2000, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		name  string
		cx    func(*Context)
		state string
		want  string
	}{
		{"RedriveCount is 0 for a new execution", nil,
			`{"Type":"Pass","Parameters":{"n.$":"$$.Execution.RedriveCount"},"End":true}`, `{"n":0}`},
		{"no RedriveTime before a redrive", nil,
			`{"Type":"Pass","Parameters":{"keys.$":"$$.Execution"},"OutputPath":"$.keys.RedriveTime","End":true}`, ""},
		{"RedriveCount and RedriveTime after a redrive", func(cx *Context) { cx.RedriveCount, cx.RedriveTime = 2, redriven },
			`{"Type":"Pass","Parameters":{"n.$":"$$.Execution.RedriveCount","at.$":"$$.Execution.RedriveTime"},"End":true}`, `{"n":2,"at":"2000-01-02T03:04:05.006Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				cx := testContext
				cx.StartTime = time.Now()
				if tc.cx != nil {
					tc.cx(&cx)
				}
				out, f := mustParse(t, single(tc.state)).Run(context.Background(), json.RawMessage(`{}`), cx, newFake(nil), nil)
				if tc.want == "" {
					if f == nil || f.Name != ErrRuntime {
						t.Fatalf("output %s, failure %v: want RedriveTime absent", out, f)
					}
					return
				}
				checkOutput(t, result{out: out, fail: f}, tc.want)
			})
		})
	}
}

func TestPathFailures(t *testing.T) {
	tests := []struct {
		name, state, input, wantErr, wantCause string
	}{
		{"InputPath names nothing", `{"Type":"Pass","InputPath":"$.x","End":true}`, `{"a":1}`, ErrRuntime,
			`(entered at the event id #2). Invalid path '$.x' : No results for path: $['x']`},
		{"OutputPath names nothing", `{"Type":"Pass","OutputPath":"$.x.y","End":true}`, `{"x":{}}`, ErrRuntime,
			`(entered at the event id #2). Invalid path '$.x.y' : No results for path: $['x']['y']`},
		{"OutputPath with brackets and an index names nothing", `{"Type":"Pass","OutputPath":"$['a b'].c[2]","End":true}`, `{"a b":{"c":[1]}}`, ErrRuntime,
			`(entered at the event id #2). Invalid path '$['a b'].c[2]' : No results for path: $['a b']['c'][2]`},
		{"ItemsPath names nothing", `{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}`, `{}`, ErrRuntime,
			`(entered at the event id #2). Invalid path '$.items' : No results for path: $['items']`},
		{"MaxConcurrencyPath names nothing", `{"Type":"Map","MaxConcurrencyPath":"$.n","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}`, `[1]`, ErrRuntime,
			`(entered at the event id #2). Invalid path '$.n' : No results for path: $['n']`},
		{"MaxConcurrencyPath names a string", `{"Type":"Map","InputPath":"$.items","MaxConcurrencyPath":"$$.Execution.Input.n","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}`, `{"items":[1],"n":"two"}`, ErrRuntime,
			`(entered at the event id #2). The MaxConcurrencyPath field refers to value "two" which is not a valid integer: $$.Execution.Input.n`},
		{"MaxConcurrencyPath names a fraction", `{"Type":"Map","InputPath":"$.items","MaxConcurrencyPath":"$$.Execution.Input.n","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}`, `{"items":[1],"n":1.5}`, ErrRuntime,
			`(entered at the event id #2). The MaxConcurrencyPath field refers to value "1.5" which is not a valid integer: $$.Execution.Input.n`},
		{"MaxConcurrencyPath names a negative number", `{"Type":"Map","InputPath":"$.items","MaxConcurrencyPath":"$$.Execution.Input.n","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}`, `{"items":[1],"n":-2}`, ErrRuntime,
			`(entered at the event id #2). Expected non-negative integer for MaxConcurrency, got '-2' instead.`},
		{"Parameters path names nothing", `{"Type":"Pass","Parameters":{"v.$":"$.missing"},"End":true}`, `{"a":1}`, ErrRuntime,
			`The JSONPath '$.missing' specified for the field 'v.$' could not be found in the input '{"a":1}'`},
		{"Parameters context path names nothing", `{"Type":"Pass","Parameters":{"v.$":"$$.Task.Token"},"End":true}`, `{}`, ErrRuntime,
			`The JSONPath '$$.Task.Token' specified for the field 'v.$' could not be found in the context object`},
		{"an index out of range names nothing", `{"Type":"Pass","Parameters":{"v.$":"$.a[3]"},"End":true}`, `{"a":[1]}`, ErrRuntime, `'$.a[3]'`},
		{"ResultPath through a string", `{"Type":"Pass","Result":1,"ResultPath":"$.a.b","End":true}`, `{"a":"s"}`, ErrResultPathMatchFailure, "$.a.b"},
		{"ResultPath into a string input", `{"Type":"Pass","Result":1,"ResultPath":"$.a","End":true}`, `"s"`, ErrResultPathMatchFailure, "$.a"},
		{"ResultPath index out of range", `{"Type":"Pass","Result":1,"ResultPath":"$.a[5]","End":true}`, `{"a":[]}`, ErrResultPathMatchFailure, "$.a[5]"},
		{"ResultSelector path names nothing", `{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","ResultSelector":{"s.$":"$.Status"},"End":true}`, `{"a":1}`, ErrRuntime,
			`The JSONPath '$.Status' specified for the field 's.$' could not be found in the input '{"a":1}'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, single(tc.state), tc.input, newFake(nil))
				checkFailure(t, r, tc.wantErr, tc.wantCause)
			})
		})
	}
}

// A States.Runtime cause names the state and the id of its StateEntered event, counting
// ExecutionStarted as event 1, as Step Functions does.
func TestRuntimeFailureNamesTheState(t *testing.T) {
	bubble(t, func(t *testing.T) {
		def := `{"StartAt":"First","States":{"First":{"Type":"Pass","Next":"Glue StartJobRun"},
			"Glue StartJobRun":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"JobName.$":"$.JobName"},"End":true}}}`
		r := execute(t, def, `{}`, newFake(nil))
		want := "An error occurred while executing the state 'Glue StartJobRun' (entered at the event id #4). The JSONPath '$.JobName' specified for the field 'JobName.$' could not be found in the input '{}'"
		if r.fail == nil || r.fail.Name != ErrRuntime || r.fail.Cause != want {
			t.Fatalf("failure %+v\nwant cause %s", r.fail, want)
		}
		// Inside a branch the cause names the branch's state, once.
		def = `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"C","States":{
			"C":{"Type":"Choice","Choices":[{"Variable":"$.nope","IsNull":true,"Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}]}}}`
		r = execute(t, def, `{}`, newFake(nil))
		want = "An error occurred while executing the state 'C' (entered at the event id #4). Invalid path '$.nope': The choice state's condition path references an invalid value."
		if r.fail == nil || r.fail.Cause != want {
			t.Fatalf("failure %+v\nwant cause %s", r.fail, want)
		}
	})
}

func TestResultSelectorAndTaskPaths(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
			return json.RawMessage(`{"Payload":{"v":7,"junk":1},"StatusCode":200}`), nil
		})
		def := single(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
			"InputPath":"$.in",
			"Parameters":{"FunctionName":"f","Payload.$":"$","exec.$":"$$.Execution.Name"},
			"ResultSelector":{"value.$":"$.Payload.v","code.$":"$.StatusCode","state.$":"$$.State.Name"},
			"ResultPath":"$.out","OutputPath":"$.out","End":true}`)
		r := execute(t, def, `{"in":{"k":"v"},"other":1}`, rt)
		checkOutput(t, r, `{"value":7,"code":200,"state":"S"}`)
		calls := rt.Calls()
		if len(calls) != 1 || canon(t, string(calls[0].Input)) != canon(t, `{"FunctionName":"f","Payload":{"k":"v"},"exec":"exec-1"}`) {
			t.Fatalf("calls %+v", calls)
		}
		if calls[0].Resource != "arn:aws:states:::lambda:invoke" || calls[0].State != "S" {
			t.Fatalf("call %+v", calls[0])
		}
	})
}

// choiceDef runs one choice rule: Yes when it matches, No (the Default) otherwise.
func choiceDef(rule string, withDefault bool) string {
	def := `"Default":"No",`
	if !withDefault {
		def = ""
	}
	return `{"StartAt":"C","States":{
		"C":{"Type":"Choice",` + def + `"Choices":[` + rule + `]},
		"Yes":{"Type":"Pass","Result":"yes","End":true},
		"No":{"Type":"Pass","Result":"no","End":true}}}`
}

func TestChoice(t *testing.T) {
	input := `{"s":"abc","n":5,"f":2.5,"b":true,"z":null,"t":"2024-05-01T10:00:00Z","t2":"2024-05-01T12:00:00+02:00",
		"other":{"s":"abc","n":5,"b":true,"t":"2024-05-01T10:00:00Z","lo":"abb","hi":"abd","n4":4,"n6":6},
		"star":"a*b","back":"a\\b","arr":[1,2]}`
	tests := []struct {
		name, rule, want string
	}{
		{"StringEquals true", `{"Variable":"$.s","StringEquals":"abc","Next":"Yes"}`, "yes"},
		{"StringEquals false", `{"Variable":"$.s","StringEquals":"abd","Next":"Yes"}`, "no"},
		{"StringEquals on a number is false", `{"Variable":"$.n","StringEquals":"5","Next":"Yes"}`, "no"},
		{"StringEqualsPath", `{"Variable":"$.s","StringEqualsPath":"$.other.s","Next":"Yes"}`, "yes"},
		{"StringLessThan", `{"Variable":"$.s","StringLessThan":"abd","Next":"Yes"}`, "yes"},
		{"StringLessThan false", `{"Variable":"$.s","StringLessThan":"abc","Next":"Yes"}`, "no"},
		{"StringLessThanPath", `{"Variable":"$.s","StringLessThanPath":"$.other.hi","Next":"Yes"}`, "yes"},
		{"StringGreaterThan", `{"Variable":"$.s","StringGreaterThan":"abb","Next":"Yes"}`, "yes"},
		{"StringGreaterThanPath", `{"Variable":"$.s","StringGreaterThanPath":"$.other.lo","Next":"Yes"}`, "yes"},
		{"StringLessThanEquals", `{"Variable":"$.s","StringLessThanEquals":"abc","Next":"Yes"}`, "yes"},
		{"StringLessThanEqualsPath", `{"Variable":"$.s","StringLessThanEqualsPath":"$.other.lo","Next":"Yes"}`, "no"},
		{"StringGreaterThanEquals", `{"Variable":"$.s","StringGreaterThanEquals":"abc","Next":"Yes"}`, "yes"},
		{"StringGreaterThanEqualsPath", `{"Variable":"$.s","StringGreaterThanEqualsPath":"$.other.hi","Next":"Yes"}`, "no"},
		{"StringMatches wildcard", `{"Variable":"$.s","StringMatches":"a*","Next":"Yes"}`, "yes"},
		{"StringMatches inner wildcard", `{"Variable":"$.s","StringMatches":"*b*","Next":"Yes"}`, "yes"},
		{"StringMatches anchored", `{"Variable":"$.s","StringMatches":"b*","Next":"Yes"}`, "no"},
		{"StringMatches escaped star", `{"Variable":"$.star","StringMatches":"a\\*b","Next":"Yes"}`, "yes"},
		{"StringMatches escaped star is literal", `{"Variable":"$.s","StringMatches":"a\\*c","Next":"Yes"}`, "no"},
		{"StringMatches escaped backslash", `{"Variable":"$.back","StringMatches":"a\\\\b","Next":"Yes"}`, "yes"},
		{"StringMatches exact", `{"Variable":"$.s","StringMatches":"abc","Next":"Yes"}`, "yes"},
		{"NumericEquals", `{"Variable":"$.n","NumericEquals":5,"Next":"Yes"}`, "yes"},
		{"NumericEquals decimal form", `{"Variable":"$.n","NumericEquals":5.0,"Next":"Yes"}`, "yes"},
		{"NumericEquals on a string is false", `{"Variable":"$.s","NumericEquals":5,"Next":"Yes"}`, "no"},
		{"NumericEqualsPath", `{"Variable":"$.n","NumericEqualsPath":"$.other.n","Next":"Yes"}`, "yes"},
		{"NumericLessThan", `{"Variable":"$.f","NumericLessThan":3,"Next":"Yes"}`, "yes"},
		{"NumericLessThanPath", `{"Variable":"$.n","NumericLessThanPath":"$.other.n6","Next":"Yes"}`, "yes"},
		{"NumericGreaterThan", `{"Variable":"$.n","NumericGreaterThan":5,"Next":"Yes"}`, "no"},
		{"NumericGreaterThanPath", `{"Variable":"$.n","NumericGreaterThanPath":"$.other.n4","Next":"Yes"}`, "yes"},
		{"NumericLessThanEquals", `{"Variable":"$.n","NumericLessThanEquals":5,"Next":"Yes"}`, "yes"},
		{"NumericLessThanEqualsPath", `{"Variable":"$.n","NumericLessThanEqualsPath":"$.other.n4","Next":"Yes"}`, "no"},
		{"NumericGreaterThanEquals", `{"Variable":"$.f","NumericGreaterThanEquals":2.5,"Next":"Yes"}`, "yes"},
		{"NumericGreaterThanEqualsPath", `{"Variable":"$.n","NumericGreaterThanEqualsPath":"$.other.n6","Next":"Yes"}`, "no"},
		{"BooleanEquals", `{"Variable":"$.b","BooleanEquals":true,"Next":"Yes"}`, "yes"},
		{"BooleanEquals false", `{"Variable":"$.b","BooleanEquals":false,"Next":"Yes"}`, "no"},
		{"BooleanEqualsPath", `{"Variable":"$.b","BooleanEqualsPath":"$.other.b","Next":"Yes"}`, "yes"},
		{"TimestampEquals across offsets", `{"Variable":"$.t","TimestampEquals":"2024-05-01T12:00:00+02:00","Next":"Yes"}`, "yes"},
		{"TimestampEqualsPath", `{"Variable":"$.t","TimestampEqualsPath":"$.t2","Next":"Yes"}`, "yes"},
		{"TimestampLessThan", `{"Variable":"$.t","TimestampLessThan":"2024-05-01T10:00:01Z","Next":"Yes"}`, "yes"},
		{"TimestampLessThanPath", `{"Variable":"$.t","TimestampLessThanPath":"$.other.t","Next":"Yes"}`, "no"},
		{"TimestampGreaterThan", `{"Variable":"$.t","TimestampGreaterThan":"2024-05-01T09:00:00Z","Next":"Yes"}`, "yes"},
		{"TimestampGreaterThanPath", `{"Variable":"$.t","TimestampGreaterThanPath":"$.other.t","Next":"Yes"}`, "no"},
		{"TimestampLessThanEquals", `{"Variable":"$.t","TimestampLessThanEquals":"2024-05-01T10:00:00Z","Next":"Yes"}`, "yes"},
		{"TimestampLessThanEqualsPath", `{"Variable":"$.t","TimestampLessThanEqualsPath":"$.other.t","Next":"Yes"}`, "yes"},
		{"TimestampGreaterThanEquals", `{"Variable":"$.t","TimestampGreaterThanEquals":"2024-05-01T10:00:00.000Z","Next":"Yes"}`, "yes"},
		{"TimestampGreaterThanEqualsPath", `{"Variable":"$.t","TimestampGreaterThanEqualsPath":"$.other.t","Next":"Yes"}`, "yes"},
		{"Timestamp on a non-timestamp is false", `{"Variable":"$.s","TimestampEquals":"2024-05-01T10:00:00Z","Next":"Yes"}`, "no"},
		{"IsNull true", `{"Variable":"$.z","IsNull":true,"Next":"Yes"}`, "yes"},
		{"IsNull false", `{"Variable":"$.s","IsNull":true,"Next":"Yes"}`, "no"},
		{"IsNull:false on a value", `{"Variable":"$.s","IsNull":false,"Next":"Yes"}`, "yes"},
		{"IsPresent true", `{"Variable":"$.z","IsPresent":true,"Next":"Yes"}`, "yes"},
		{"IsPresent on a missing field", `{"Variable":"$.missing","IsPresent":true,"Next":"Yes"}`, "no"},
		{"IsPresent:false on a missing field", `{"Variable":"$.missing.deeper","IsPresent":false,"Next":"Yes"}`, "yes"},
		{"IsPresent on a missing index", `{"Variable":"$.arr[2]","IsPresent":true,"Next":"Yes"}`, "no"},
		{"IsNumeric", `{"Variable":"$.f","IsNumeric":true,"Next":"Yes"}`, "yes"},
		{"IsNumeric on a string", `{"Variable":"$.s","IsNumeric":true,"Next":"Yes"}`, "no"},
		{"IsString", `{"Variable":"$.s","IsString":true,"Next":"Yes"}`, "yes"},
		{"IsBoolean", `{"Variable":"$.b","IsBoolean":true,"Next":"Yes"}`, "yes"},
		{"IsTimestamp", `{"Variable":"$.t","IsTimestamp":true,"Next":"Yes"}`, "yes"},
		{"IsTimestamp on a plain string", `{"Variable":"$.s","IsTimestamp":true,"Next":"Yes"}`, "no"},
		{"And true", `{"And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":true}],"Next":"Yes"}`, "yes"},
		{"And false", `{"And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":false}],"Next":"Yes"}`, "no"},
		{"Or true", `{"Or":[{"Variable":"$.n","NumericEquals":4},{"Variable":"$.b","BooleanEquals":true}],"Next":"Yes"}`, "yes"},
		{"Or false", `{"Or":[{"Variable":"$.n","NumericEquals":4},{"Variable":"$.b","BooleanEquals":false}],"Next":"Yes"}`, "no"},
		{"Not", `{"Not":{"Variable":"$.s","StringEquals":"x"},"Next":"Yes"}`, "yes"},
		{"nested And Or Not", `{"And":[{"Not":{"Variable":"$.missing","IsPresent":true}},{"Or":[{"Variable":"$.n","NumericGreaterThan":100},{"Variable":"$.s","StringMatches":"ab*"}]}],"Next":"Yes"}`, "yes"},
		{"Variable in the context object", `{"Variable":"$$.Execution.Name","StringEquals":"exec-1","Next":"Yes"}`, "yes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, choiceDef(tc.rule, true), input, newFake(nil))
				checkOutput(t, r, `"`+tc.want+`"`)
			})
		})
	}
}

func TestChoiceFailures(t *testing.T) {
	tests := []struct {
		name, def, wantErr, wantCause string
	}{
		{"no match and no Default", choiceDef(`{"Variable":"$.n","NumericEquals":1,"Next":"Yes"}`, false) /* No unreachable */, ErrNoChoiceMatched, "No Matches!"},
		{"missing Variable", choiceDef(`{"Variable":"$.missing","StringEquals":"x","Next":"Yes"}`, true), ErrRuntime, "$.missing"},
		{"missing Path operand", choiceDef(`{"Variable":"$.n","NumericEqualsPath":"$.nope","Next":"Yes"}`, true), ErrRuntime, "$.nope"},
		{"missing Variable inside Not", choiceDef(`{"Not":{"Variable":"$.missing","IsNull":true},"Next":"Yes"}`, true), ErrRuntime, "$.missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				def := tc.def
				if tc.wantErr == ErrNoChoiceMatched {
					def = `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"Yes"}]},"Yes":{"Type":"Succeed"}}}`
				}
				r := execute(t, def, `{"n":5}`, newFake(nil))
				checkFailure(t, r, tc.wantErr, tc.wantCause)
			})
		})
	}
}

func TestChoiceInputOutputPath(t *testing.T) {
	bubble(t, func(t *testing.T) {
		def := `{"StartAt":"C","States":{
			"C":{"Type":"Choice","InputPath":"$.in","OutputPath":"$.v","Choices":[{"Variable":"$.v","NumericEquals":1,"Next":"Done"}]},
			"Done":{"Type":"Succeed"}}}`
		checkOutput(t, execute(t, def, `{"in":{"v":1}}`, newFake(nil)), `1`)
	})
}

func TestWait(t *testing.T) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // the synctest epoch
	tests := []struct {
		name, state, input string
		want               time.Duration
	}{
		{"Seconds", `{"Type":"Wait","Seconds":3600,"End":true}`, `{}`, time.Hour},
		{"Seconds 0", `{"Type":"Wait","Seconds":0,"End":true}`, `{}`, 0},
		{"SecondsPath", `{"Type":"Wait","SecondsPath":"$.wait","End":true}`, `{"wait":90}`, 90 * time.Second},
		{"SecondsPath after InputPath", `{"Type":"Wait","InputPath":"$.cfg","SecondsPath":"$.wait","End":true}`, `{"cfg":{"wait":7}}`, 7 * time.Second},
		{"Timestamp", `{"Type":"Wait","Timestamp":"` + start.Add(36*time.Hour).Format(time.RFC3339) + `","End":true}`, `{}`, 36 * time.Hour},
		{"Timestamp in the past", `{"Type":"Wait","Timestamp":"1999-01-01T00:00:00Z","End":true}`, `{}`, 0},
		{"TimestampPath", `{"Type":"Wait","TimestampPath":"$.at","End":true}`, `{"at":"` + start.Add(10*time.Minute).Format(time.RFC3339Nano) + `"}`, 10 * time.Minute},
		{"TimestampPath with an offset", `{"Type":"Wait","TimestampPath":"$.at","End":true}`, `{"at":"2000-01-01T02:30:00+02:00"}`, 30 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, single(tc.state), tc.input, newFake(nil))
				want := tc.input
				if strings.Contains(tc.state, "InputPath") {
					want = `{"wait":7}`
				}
				checkOutput(t, r, want)
				if r.elapsed != tc.want {
					t.Fatalf("waited %v, want %v", r.elapsed, tc.want)
				}
			})
		})
	}
}

func TestWaitFailures(t *testing.T) {
	const entered = "An error occurred while executing the state 'S' (entered at the event id #2). "
	tests := []struct{ name, state, input, cause string }{
		{"SecondsPath names a string", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":"10"}`,
			"The SecondsPath parameter cannot be parsed as a long value: $.w == 10"},
		{"SecondsPath names a fraction", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":1.5}`,
			"The SecondsPath parameter cannot be parsed as a long value: $.w == 1.5"},
		{"SecondsPath names a negative fraction", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":-1.5}`,
			"The SecondsPath parameter cannot be parsed as a long value: $.w == -1.5"},
		{"SecondsPath names a negative number", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":-1}`,
			"The SecondsPath parameter references a negative value: $.w == -1"},
		{"SecondsPath names nothing", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{}`,
			"The SecondsPath parameter does not reference an input value: $.w"},
		{"TimestampPath names a bad timestamp", `{"Type":"Wait","TimestampPath":"$.w","End":true}`, `{"w":"tomorrow"}`,
			"The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.w == tomorrow"},
		{"TimestampPath names a timestamp without an offset", `{"Type":"Wait","TimestampPath":"$.w","End":true}`, `{"w":"2000-01-01T00:00:10.000000"}`,
			"The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.w == 2000-01-01T00:00:10.000000"},
		{"TimestampPath names a number", `{"Type":"Wait","TimestampPath":"$.w","End":true}`, `{"w":10}`,
			"The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.w == 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, single(tc.state), tc.input, newFake(nil))
				checkFailure(t, r, ErrRuntime, "")
				if r.fail.Cause != entered+tc.cause {
					t.Fatalf("cause %q\nwant  %q", r.fail.Cause, entered+tc.cause)
				}
			})
		})
	}
}

// A Wait may outlast the execution's year, which then times out as AWS times it out; a
// delay beyond 2^31-1 seconds fails at once.
func TestWaitTooFar(t *testing.T) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // the synctest epoch
	year := 365 * 24 * time.Hour
	tests := []struct {
		name, state, input string
		wantErr            string
		wantTimedOut       bool
		wantElapsed        time.Duration
		wantCause          string // the end of a States.Runtime cause
		machineTimeout     string // the definition's TimeoutSeconds, if any
	}{
		{"Timestamp two years ahead times out after a year", `{"Type":"Wait","Timestamp":"2002-01-01T00:00:00Z","End":true}`, `{}`, ErrTimeout, true, year, "", ""},
		{"Seconds of 99999999 times out after a year", `{"Type":"Wait","Seconds":99999999,"End":true}`, `{}`, ErrTimeout, true, year, "", ""},
		{"a definition's TimeoutSeconds past a year still ends at the year", `{"Type":"Wait","Seconds":99999999,"End":true}`, `{}`, ErrTimeout, true, year, "", "99999999"},
		{"SecondsPath of 24855 days times out after a year", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":2147472000}`, ErrTimeout, true, year, "", ""},
		{"TimestampPath 24856 days ahead fails at once", `{"Type":"Wait","TimestampPath":"$.w","End":true}`,
			`{"w":"` + start.Add(24856*24*time.Hour).Format(time.RFC3339) + `"}`, ErrRuntime, false, 0, "Wait state delay is too long.", ""},
		{"Timestamp a thousand years ahead fails at once", `{"Type":"Wait","Timestamp":"3000-01-01T00:00:00Z","End":true}`, `{}`, ErrRuntime, false, 0, "Wait state delay is too long.", ""},
		{"SecondsPath past 2^31-1 fails at once", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":2147483648}`, ErrRuntime, false, 0, "Wait state delay is too long.", ""},
		{"SecondsPath past a long is not a long", `{"Type":"Wait","SecondsPath":"$.w","End":true}`, `{"w":100000000000000000000}`, ErrRuntime, false, 0,
			"The SecondsPath parameter cannot be parsed as a long value: $.w == 100000000000000000000", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				def := single(tc.state)
				if tc.machineTimeout != "" {
					def = `{"TimeoutSeconds":` + tc.machineTimeout + `,"StartAt":"S","States":{"S":` + tc.state + `}}`
				}
				r := execute(t, def, tc.input, newFake(nil))
				checkFailure(t, r, tc.wantErr, "")
				if r.fail.TimedOut() != tc.wantTimedOut {
					t.Fatalf("TimedOut %v, want %v (%v)", r.fail.TimedOut(), tc.wantTimedOut, r.fail)
				}
				if !strings.HasSuffix(r.fail.Cause, tc.wantCause) {
					t.Fatalf("cause %q", r.fail.Cause)
				}
				if r.elapsed != tc.wantElapsed {
					t.Fatalf("elapsed %v, want %v", r.elapsed, tc.wantElapsed)
				}
			})
		})
	}
}

func TestSucceedAndFail(t *testing.T) {
	t.Run("Succeed with InputPath and OutputPath", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			r := execute(t, single(`{"Type":"Succeed","InputPath":"$.a","OutputPath":"$.b"}`), `{"a":{"b":[1]}}`, newFake(nil))
			checkOutput(t, r, `[1]`)
		})
	})
	tests := []struct {
		name, state, input, wantErr, wantCause string
	}{
		{"Error and Cause", `{"Type":"Fail","Error":"Boom","Cause":"it broke"}`, `{}`, "Boom", "it broke"},
		{"no Error nor Cause", `{"Type":"Fail"}`, `{}`, "", ""},
		{"ErrorPath and CausePath", `{"Type":"Fail","ErrorPath":"$.e","CausePath":"$.c.text"}`, `{"e":"E1","c":{"text":"why"}}`, "E1", "why"},
		{"CausePath with an intrinsic", `{"Type":"Fail","Error":"E","CausePath":"States.Format('code {} at {}', $.code, $$.State.Name)"}`, `{"code":42}`, "E", "code 42 at S"},
		{"ErrorPath to a number", `{"Type":"Fail","ErrorPath":"$.e"}`, `{"e":1}`, ErrRuntime, "ErrorPath"},
		{"ErrorPath to nothing", `{"Type":"Fail","ErrorPath":"$.e"}`, `{}`, ErrRuntime, "$.e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, single(tc.state), tc.input, newFake(nil))
				checkFailure(t, r, tc.wantErr, tc.wantCause)
				if tc.wantErr != ErrRuntime && r.fail.Cause != tc.wantCause {
					t.Fatalf("cause %q, want %q", r.fail.Cause, tc.wantCause)
				}
			})
		})
	}
}

func TestParallel(t *testing.T) {
	t.Run("outputs in branch order, branches run concurrently", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Parallel","End":true,"ResultPath":"$.results","Branches":[
				{"StartAt":"W1","States":{"W1":{"Type":"Wait","Seconds":30,"Next":"P1"},"P1":{"Type":"Pass","Result":"one","End":true}}},
				{"StartAt":"W2","States":{"W2":{"Type":"Wait","Seconds":10,"Next":"P2"},"P2":{"Type":"Pass","Parameters":{"x.$":"$.x"},"End":true}}}
			]}`)
			r := execute(t, def, `{"x":1}`, newFake(nil))
			checkOutput(t, r, `{"x":1,"results":["one",{"x":1}]}`)
			if r.elapsed != 30*time.Second {
				t.Fatalf("elapsed %v, want 30s (concurrent branches)", r.elapsed)
			}
		})
	})
	t.Run("Parameters and ResultSelector", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Parallel","End":true,"Parameters":{"v.$":"$.x"},"ResultSelector":{"first.$":"$[0].v","n.$":"States.ArrayLength($)"},"Branches":[
				{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},
				{"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}]}`)
			checkOutput(t, execute(t, def, `{"x":3}`, newFake(nil)), `{"first":3,"n":2}`)
		})
	})
	t.Run("a failed branch fails the state and stops the others", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Parallel","End":true,"Branches":[
				{"StartAt":"Long","States":{"Long":{"Type":"Wait","Seconds":86400,"Next":"After"},"After":{"Type":"Pass","End":true}}},
				{"StartAt":"Short","States":{"Short":{"Type":"Wait","Seconds":5,"Next":"Boom"},"Boom":{"Type":"Fail","Error":"BranchBoom","Cause":"b"}}}
			]}`)
			r := execute(t, def, `{}`, newFake(nil))
			checkFailure(t, r, "BranchBoom", "b")
			if r.elapsed != 5*time.Second {
				t.Fatalf("elapsed %v: the long branch was not cancelled", r.elapsed)
			}
			types := eventTypes(r.events)
			for _, want := range []string{"WaitStateAborted", "ParallelStateFailed"} {
				if !slicesContains(types, want) {
					t.Fatalf("no %s in %v", want, types)
				}
			}
			if slicesContains(types, "PassStateEntered") {
				t.Fatalf("the cancelled branch went on: %v", types)
			}
		})
	})
	t.Run("Catch on the Parallel state", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"Done","Catch":[{"ErrorEquals":["BranchBoom"],"ResultPath":"$.err","Next":"Done"}],"Branches":[
				{"StartAt":"Boom","States":{"Boom":{"Type":"Fail","Error":"BranchBoom","Cause":"c"}}}]},
				"Done":{"Type":"Succeed"}}}`
			checkOutput(t, execute(t, def, `{"a":1}`, newFake(nil)), `{"a":1,"err":{"Error":"BranchBoom","Cause":"c"}}`)
		})
	})
}

func slicesContains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

func TestMap(t *testing.T) {
	t.Run("ItemsPath, ItemSelector with Map.Item.Index and Value, results in order", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			// Each item waits longer the earlier it is, so they finish in reverse order.
			def := single(`{"Type":"Map","ItemsPath":"$.items","ResultPath":"$.out","End":true,
				"ItemSelector":{"index.$":"$$.Map.Item.Index","value.$":"$$.Map.Item.Value","tag.$":"$.tag"},
				"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"W","States":{
					"W":{"Type":"Wait","SecondsPath":"$.value.wait","Next":"P"},
					"P":{"Type":"Pass","Parameters":{"i.$":"$.index","name.$":"$.value.name","tag.$":"$.tag"},"End":true}}}}`)
			input := `{"tag":"t","items":[{"name":"a","wait":30},{"name":"b","wait":20},{"name":"c","wait":10}]}`
			r := execute(t, def, input, newFake(nil))
			want := `{"tag":"t","items":[{"name":"a","wait":30},{"name":"b","wait":20},{"name":"c","wait":10}],
				"out":[{"i":0,"name":"a","tag":"t"},{"i":1,"name":"b","tag":"t"},{"i":2,"name":"c","tag":"t"}]}`
			checkOutput(t, r, want)
			if r.elapsed != 30*time.Second {
				t.Fatalf("elapsed %v, want 30s (unbounded concurrency)", r.elapsed)
			}
			var iterations []int
			for _, ev := range r.events {
				if ev.Type == "MapIterationStarted" {
					iterations = append(iterations, ev.Index)
				}
				if ev.Type == "MapStateStarted" && ev.Length != 3 {
					t.Fatalf("MapStateStarted length %d", ev.Length)
				}
			}
			if len(iterations) != 3 {
				t.Fatalf("iterations %v", iterations)
			}
		})
	})
	t.Run("legacy Iterator and Parameters", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Map","End":true,"Parameters":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index"},
				"Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}`)
			checkOutput(t, execute(t, def, `["x","y"]`, newFake(nil)), `[{"v":"x","i":0},{"v":"y","i":1}]`)
		})
	})
	t.Run("empty items", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Map","ItemsPath":"$.items","End":true,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}`)
			checkOutput(t, execute(t, def, `{"items":[]}`, newFake(nil)), `[]`)
		})
	})
	for _, tc := range []struct {
		name       string
		concurrent string
		wantActive int
		wantTime   time.Duration
	}{
		{"MaxConcurrency 1 runs one at a time", `"MaxConcurrency":1`, 1, 50 * time.Second},
		{"MaxConcurrency 2", `"MaxConcurrency":2`, 2, 30 * time.Second},
		{"MaxConcurrency 0 is unbounded", `"MaxConcurrency":0`, 5, 10 * time.Second},
		{"no MaxConcurrency is unbounded", `"Comment":"none"`, 5, 10 * time.Second},
		{"MaxConcurrencyPath", `"MaxConcurrencyPath":"$.limit"`, 1, 50 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				rt := newFake(sleepFor(10*time.Second, `"done"`))
				def := single(`{"Type":"Map","ItemsPath":"$.items",` + tc.concurrent + `,"End":true,
					"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:work","End":true}}}}`)
				r := execute(t, def, `{"limit":1,"items":[1,2,3,4,5]}`, rt)
				checkOutput(t, r, `["done","done","done","done","done"]`)
				if rt.maxActive != tc.wantActive {
					t.Fatalf("max concurrent invokes %d, want %d", rt.maxActive, tc.wantActive)
				}
				if r.elapsed != tc.wantTime {
					t.Fatalf("elapsed %v, want %v", r.elapsed, tc.wantTime)
				}
			})
		})
	}
	t.Run("a failed iteration fails the state and stops the others", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
				if string(call.Input) == `2` {
					return nil, &Failure{Name: "ItemFailed", Cause: "item 2"}
				}
				return sleepFor(time.Hour, `"ok"`)(ctx, call)
			})
			def := single(`{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:work","End":true}}}}`)
			r := execute(t, def, `[1,2,3]`, rt)
			checkFailure(t, r, "ItemFailed", "item 2")
			if r.elapsed != 0 {
				t.Fatalf("elapsed %v: the other iterations were not stopped", r.elapsed)
			}
			types := eventTypes(r.events)
			for _, want := range []string{"MapIterationFailed", "MapIterationAborted", "MapStateFailed"} {
				if !slicesContains(types, want) {
					t.Fatalf("no %s in %v", want, types)
				}
			}
		})
	})
	t.Run("ItemsPath not an array", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Map","ItemsPath":"$.items","End":true,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}`)
			checkFailure(t, execute(t, def, `{"items":{"a":1}}`, newFake(nil)), ErrRuntime, "array")
			checkFailure(t, execute(t, def, `{}`, newFake(nil)), ErrRuntime, "Invalid path '$.items'")
		})
	})
}

// failing answers err for the first n calls, then out.
func failing(n int, err error, out string) func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	calls := 0
	return func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		calls++
		if calls <= n {
			return nil, err
		}
		return json.RawMessage(out), nil
	}
}

func callGaps(rt *fakeRuntime) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(rt.callTimes); i++ {
		gaps = append(gaps, rt.callTimes[i].Sub(rt.callTimes[i-1]))
	}
	return gaps
}

func TestRetry(t *testing.T) {
	const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
	boom := &Failure{Name: "Boom", Cause: "x"}
	tests := []struct {
		name      string
		retry     string
		failures  int
		err       error
		wantErr   string
		wantGaps  []time.Duration
		maxGaps   []time.Duration // with jitter: each gap at most this
		wantCalls int
	}{
		{"backoff 2, 4, 8 then success", `[{"ErrorEquals":["Boom"],"IntervalSeconds":2,"BackoffRate":2,"MaxAttempts":3}]`, 3, boom, "",
			[]time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}, nil, 4},
		{"attempts spent: the error stands", `[{"ErrorEquals":["Boom"],"IntervalSeconds":2,"BackoffRate":2,"MaxAttempts":3}]`, 10, boom, "Boom",
			[]time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}, nil, 4},
		{"defaults: 1s, rate 2, 3 attempts", `[{"ErrorEquals":["States.ALL"]}]`, 10, boom, "Boom",
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, nil, 4},
		{"MaxDelaySeconds caps", `[{"ErrorEquals":["Boom"],"IntervalSeconds":3,"BackoffRate":3,"MaxAttempts":4,"MaxDelaySeconds":10}]`, 10, boom, "Boom",
			[]time.Duration{3 * time.Second, 9 * time.Second, 10 * time.Second, 10 * time.Second}, nil, 5},
		{"JitterStrategy FULL stays under the delay", `[{"ErrorEquals":["Boom"],"IntervalSeconds":4,"BackoffRate":2,"MaxAttempts":3,"JitterStrategy":"FULL"}]`, 10, boom, "Boom",
			nil, []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second}, 4},
		{"MaxAttempts 0 never retries", `[{"ErrorEquals":["Boom"],"MaxAttempts":0},{"ErrorEquals":["States.ALL"]}]`, 10, boom, "Boom", nil, nil, 1},
		{"only the first matching retrier counts", `[{"ErrorEquals":["Boom"],"MaxAttempts":1,"IntervalSeconds":5},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}]`, 10, boom, "Boom",
			[]time.Duration{5 * time.Second}, nil, 2},
		{"another error is not retried", `[{"ErrorEquals":["Other"]}]`, 10, boom, "Boom", nil, nil, 1},
		{"States.TaskFailed matches a named error", `[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}]`, 1, boom, "", []time.Duration{time.Second}, nil, 2},
		{"a plain error is States.TaskFailed", `[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1,"IntervalSeconds":1}]`, 1, errors.New("plain"), "",
			[]time.Duration{time.Second}, nil, 2},
		{"States.ALL does not retry States.Runtime", `[{"ErrorEquals":["States.ALL"]}]`, 10, &Failure{Name: ErrRuntime, Cause: "r"}, ErrRuntime, nil, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				rt := newFake(failing(tc.failures, tc.err, `{"ok":true}`))
				def := single(`{"Type":"Task","Resource":"` + fn + `","Retry":` + tc.retry + `,"End":true}`)
				r := execute(t, def, `{}`, rt)
				if tc.wantErr == "" {
					checkOutput(t, r, `{"ok":true}`)
				} else {
					checkFailure(t, r, tc.wantErr, "")
				}
				if len(rt.Calls()) != tc.wantCalls {
					t.Fatalf("%d calls, want %d", len(rt.Calls()), tc.wantCalls)
				}
				gaps := callGaps(rt)
				if tc.wantGaps != nil && !reflect.DeepEqual(gaps, tc.wantGaps) {
					t.Fatalf("waits %v, want %v", gaps, tc.wantGaps)
				}
				if tc.maxGaps != nil {
					if len(gaps) != len(tc.maxGaps) {
						t.Fatalf("waits %v", gaps)
					}
					for i := range gaps {
						if gaps[i] < 0 || gaps[i] > tc.maxGaps[i] {
							t.Fatalf("wait %d: %v over %v", i, gaps[i], tc.maxGaps[i])
						}
					}
				}
			})
		})
	}
}

func TestRetryCountInContext(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newFake(failing(2, &Failure{Name: "Boom"}, `{}`))
		def := single(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"retry.$":"$$.State.RetryCount"},
			"Retry":[{"ErrorEquals":["Boom"]}],"End":true}`)
		checkOutput(t, execute(t, def, `{}`, rt), `{}`)
		var got []string
		for _, c := range rt.Calls() {
			got = append(got, string(c.Input))
		}
		if want := []string{`{"retry":0}`, `{"retry":1}`, `{"retry":2}`}; !reflect.DeepEqual(got, want) {
			t.Fatalf("inputs %v, want %v", got, want)
		}
	})
}

func TestCatch(t *testing.T) {
	const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
	tests := []struct {
		name, catch string
		err         error
		want        string // output, or "" when the execution fails
		wantErr     string
	}{
		{"ResultPath puts the error under a field", `[{"ErrorEquals":["Boom"],"ResultPath":"$.error","Next":"Handled"}]`,
			&Failure{Name: "Boom", Cause: "why"}, `{"in":1,"error":{"Error":"Boom","Cause":"why"}}`, ""},
		{"no ResultPath replaces the input", `[{"ErrorEquals":["Boom"],"Next":"Handled"}]`,
			&Failure{Name: "Boom", Cause: "why"}, `{"Error":"Boom","Cause":"why"}`, ""},
		{"ResultPath null keeps the input", `[{"ErrorEquals":["Boom"],"ResultPath":null,"Next":"Handled"}]`,
			&Failure{Name: "Boom", Cause: "why"}, `{"in":1}`, ""},
		{"no Cause, no Cause field", `[{"ErrorEquals":["Boom"],"ResultPath":"$.e","Next":"Handled"}]`,
			&Failure{Name: "Boom"}, `{"in":1,"e":{"Error":"Boom"}}`, ""},
		{"catchers in order", `[{"ErrorEquals":["Other"],"ResultPath":"$.first","Next":"Handled"},{"ErrorEquals":["Boom","Else"],"ResultPath":"$.second","Next":"Handled"},{"ErrorEquals":["States.ALL"],"ResultPath":"$.third","Next":"Handled"}]`,
			&Failure{Name: "Boom"}, `{"in":1,"second":{"Error":"Boom"}}`, ""},
		{"States.ALL catches anything else", `[{"ErrorEquals":["Other"],"Next":"Handled"},{"ErrorEquals":["States.ALL"],"ResultPath":"$.e","Next":"Handled"}]`,
			&Failure{Name: "Boom"}, `{"in":1,"e":{"Error":"Boom"}}`, ""},
		{"States.TaskFailed does not catch States.Timeout", `[{"ErrorEquals":["States.TaskFailed"],"Next":"Handled"}]`,
			&Failure{Name: ErrTimeout}, "", ErrTimeout},
		{"States.Timeout catches States.HeartbeatTimeout", `[{"ErrorEquals":["States.Timeout"],"ResultPath":"$.e","Next":"Handled"}]`,
			&Failure{Name: ErrHeartbeatTimeout}, `{"in":1,"e":{"Error":"States.HeartbeatTimeout"}}`, ""},
		{"States.ALL does not catch States.Runtime", `[{"ErrorEquals":["States.ALL"],"Next":"Handled"}]`,
			&Failure{Name: ErrRuntime}, "", ErrRuntime},
		{"States.Runtime is not caught by name either", `[{"ErrorEquals":["States.Runtime"],"Next":"Handled"}]`,
			&Failure{Name: ErrRuntime}, "", ErrRuntime},
		{"States.ALL does not catch States.DataLimitExceeded", `[{"ErrorEquals":["States.ALL"],"Next":"Handled"}]`,
			&Failure{Name: ErrDataLimitExceeded}, "", ErrDataLimitExceeded},
		{"Catch ResultPath that does not apply", `[{"ErrorEquals":["Boom"],"ResultPath":"$.in.x","Next":"Handled"}]`,
			&Failure{Name: "Boom"}, "", ErrResultPathMatchFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				rt := newFake(failing(100, tc.err, `{}`))
				def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fn + `","Catch":` + tc.catch + `,"Next":"Handled"},"Handled":{"Type":"Pass","End":true}}}`
				r := execute(t, def, `{"in":1}`, rt)
				if tc.wantErr != "" {
					checkFailure(t, r, tc.wantErr, "")
					return
				}
				checkOutput(t, r, tc.want)
			})
		})
	}
}

func TestTaskTimeout(t *testing.T) {
	const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
	tests := []struct {
		name, state, input string
		taskTakes          time.Duration
		wantErr            string
		wantElapsed        time.Duration
	}{
		{"TimeoutSeconds elapses", `{"Type":"Task","Resource":"` + fn + `","TimeoutSeconds":10,"End":true}`, `{}`, time.Hour, ErrTimeout, 10 * time.Second},
		{"task within TimeoutSeconds", `{"Type":"Task","Resource":"` + fn + `","TimeoutSeconds":10,"End":true}`, `{}`, 9 * time.Second, "", 9 * time.Second},
		{"TimeoutSecondsPath", `{"Type":"Task","Resource":"` + fn + `","TimeoutSecondsPath":"$.timeout","End":true}`, `{"timeout":60}`, time.Hour, ErrTimeout, time.Minute},
		{"timeout caught", `{"Type":"Task","Resource":"` + fn + `","TimeoutSeconds":5,"Catch":[{"ErrorEquals":["States.Timeout"],"ResultPath":"$.e","Next":"After"}],"End":true}`, `{}`, time.Hour, "", 5 * time.Second},
		{"timeout retried", `{"Type":"Task","Resource":"` + fn + `","TimeoutSeconds":5,"Retry":[{"ErrorEquals":["States.Timeout"],"MaxAttempts":1,"IntervalSeconds":1}],"End":true}`, `{}`, time.Hour, ErrTimeout, 11 * time.Second},
		{"TimeoutSecondsPath not a number", `{"Type":"Task","Resource":"` + fn + `","TimeoutSecondsPath":"$.timeout","End":true}`, `{"timeout":"x"}`, 0, ErrRuntime, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				rt := newFake(sleepFor(tc.taskTakes, `"done"`))
				def := `{"StartAt":"S","States":{"S":` + tc.state + `,"After":{"Type":"Pass","End":true}}}`
				if !strings.Contains(tc.state, "After") {
					def = single(tc.state)
				}
				r := execute(t, def, tc.input, rt)
				if tc.wantErr != "" {
					checkFailure(t, r, tc.wantErr, "")
				} else if r.fail != nil {
					t.Fatalf("failed: %v", r.fail)
				}
				if r.elapsed != tc.wantElapsed {
					t.Fatalf("elapsed %v, want %v", r.elapsed, tc.wantElapsed)
				}
				if tc.wantErr == ErrTimeout && !slicesContains(eventTypes(r.events), "LambdaFunctionTimedOut") {
					t.Fatalf("no LambdaFunctionTimedOut in %v", eventTypes(r.events))
				}
				if tc.wantErr == ErrTimeout && r.fail.Cause != "" {
					t.Fatalf("cause %q: AWS gives a task timeout none", r.fail.Cause)
				}
				for _, ev := range r.events {
					if ev.Type == "LambdaFunctionTimedOut" && (ev.Error != ErrTimeout || ev.Cause != "") {
						t.Fatalf("timed out event %+v", ev)
					}
				}
				if calls := rt.Calls(); tc.wantErr != ErrRuntime && tc.input == `{"timeout":60}` && calls[0].TimeoutSeconds != 60 {
					t.Fatalf("TaskCall.TimeoutSeconds %d", calls[0].TimeoutSeconds)
				}
			})
		})
	}
}

func TestWaitForTaskToken(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
			return json.RawMessage(`{"approved":true}`), nil
		})
		def := single(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters":{"FunctionName":"f","Payload":{"token.$":"$$.Task.Token","x.$":"$.x"}},
			"HeartbeatSeconds":60,"TimeoutSeconds":600,"ResultPath":"$.answer","End":true}`)
		r := execute(t, def, `{"x":1}`, rt)
		checkOutput(t, r, `{"x":1,"answer":{"approved":true}}`)
		calls := rt.Calls()
		if len(calls) != 1 {
			t.Fatalf("calls %v", calls)
		}
		c := calls[0]
		if c.TaskToken != "token-1" || c.HeartbeatSeconds != 60 || c.TimeoutSeconds != 600 {
			t.Fatalf("call %+v", c)
		}
		if canon(t, string(c.Input)) != canon(t, `{"FunctionName":"f","Payload":{"token":"token-1","x":1}}`) {
			t.Fatalf("input %s", c.Input)
		}
		if got := eventTypes(r.events); !reflect.DeepEqual(got, []string{"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited"}) {
			t.Fatalf("events %v", got)
		}
	})
}

func TestHistory(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newFake(nil)
		def := `{"StartAt":"P","States":{
			"P":{"Type":"Pass","Next":"T"},
			"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Next":"C"},
			"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":1,"Next":"W"}]},
			"W":{"Type":"Wait","Seconds":1,"Next":"Par"},
			"Par":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}],"OutputPath":"$[0]","Next":"M"},
			"M":{"Type":"Map","ItemsPath":"$.list","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"ResultPath":null,"Next":"Done"},
			"Done":{"Type":"Succeed"}}}`
		r := execute(t, def, `{"a":1,"list":[1]}`, rt)
		checkOutput(t, r, `{"a":1,"list":[1]}`)
		want := []string{
			"PassStateEntered", "PassStateExited",
			"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
			"ChoiceStateEntered", "ChoiceStateExited",
			"WaitStateEntered", "WaitStateExited",
			"ParallelStateEntered", "ParallelStateStarted", "PassStateEntered", "PassStateExited", "ParallelStateSucceeded", "ParallelStateExited",
			"MapStateEntered", "MapStateStarted", "MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded", "MapStateSucceeded", "MapStateExited",
			"SucceedStateEntered", "SucceedStateExited",
		}
		if got := eventTypes(r.events); !reflect.DeepEqual(got, want) {
			t.Fatalf("events\n got %v\nwant %v", got, want)
		}
		first := r.events[0]
		if first.State != "P" || canon(t, string(first.Input)) != canon(t, `{"a":1,"list":[1]}`) {
			t.Fatalf("first event %+v", first)
		}
		if r.events[3].Resource != "arn:aws:lambda:us-east-1:000000000000:function:f" {
			t.Fatalf("scheduled %+v", r.events[3])
		}
		for i := 1; i < len(r.events); i++ {
			if r.events[i].Timestamp.Before(r.events[i-1].Timestamp) {
				t.Fatalf("timestamps go back at %d", i)
			}
		}
	})
}

func TestHistoryFailure(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newFake(failing(1, &Failure{Name: "Boom", Cause: "c"}, `{}`))
		def := single(`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"a":1},"End":true}`)
		r := execute(t, def, `{}`, rt)
		checkFailure(t, r, "Boom", "c")
		if got := eventTypes(r.events); !reflect.DeepEqual(got, []string{"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed"}) {
			t.Fatalf("events %v", got)
		}
		if ev := r.events[3]; ev.Error != "Boom" || ev.Cause != "c" {
			t.Fatalf("TaskFailed %+v", ev)
		}
		if ev := r.events[1]; string(ev.Input) != `{"a":1}` {
			t.Fatalf("TaskScheduled %+v", ev)
		}
	})
}

func TestCancellation(t *testing.T) {
	t.Run("a cancelled context aborts", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				time.Sleep(time.Minute)
				cancel()
			}()
			r := executeCtx(t, ctx, single(`{"Type":"Wait","Seconds":3600,"End":true}`), `{}`, newFake(nil))
			checkFailure(t, r, ErrAborted, "")
			if !r.fail.Aborted() || r.fail.TimedOut() {
				t.Fatalf("Aborted %v TimedOut %v", r.fail.Aborted(), r.fail.TimedOut())
			}
			if r.elapsed != time.Minute {
				t.Fatalf("elapsed %v", r.elapsed)
			}
			if got := eventTypes(r.events); !reflect.DeepEqual(got, []string{"WaitStateEntered", "WaitStateAborted"}) {
				t.Fatalf("events %v", got)
			}
		})
	})
	t.Run("a cancelled task aborts and is not caught", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				time.Sleep(time.Minute)
				cancel()
			}()
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","TimeoutSeconds":3600,
				"Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`
			r := executeCtx(t, ctx, def, `{}`, newFake(sleepFor(time.Hour, `{}`)))
			checkFailure(t, r, ErrAborted, "")
			if !slicesContains(eventTypes(r.events), "TaskStateAborted") {
				t.Fatalf("events %v", eventTypes(r.events))
			}
		})
	})
	t.Run("the definition's TimeoutSeconds times out", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := `{"TimeoutSeconds":30,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`
			r := execute(t, def, `{}`, newFake(nil))
			checkFailure(t, r, ErrTimeout, "")
			if !r.fail.TimedOut() || r.fail.Aborted() {
				t.Fatalf("TimedOut %v Aborted %v", r.fail.TimedOut(), r.fail.Aborted())
			}
			if r.elapsed != 30*time.Second {
				t.Fatalf("elapsed %v", r.elapsed)
			}
		})
	})
	t.Run("an uncaught task timeout is not the execution's", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := `{"TimeoutSeconds":3000,"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":5,"End":true}}}`
			r := execute(t, def, `{}`, newFake(sleepFor(time.Hour, `{}`)))
			checkFailure(t, r, ErrTimeout, "")
			if r.fail.TimedOut() {
				t.Fatal("TimedOut for a task timeout")
			}
		})
	})
}

func TestDataLimit(t *testing.T) {
	big := `"` + strings.Repeat("x", MaxPayloadSize) + `"`
	t.Run("task result over the limit", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			rt := newFake(func(ctx context.Context, call TaskCall) (json.RawMessage, error) { return json.RawMessage(big), nil })
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`
			checkFailure(t, execute(t, def, `{}`, rt), ErrDataLimitExceeded, "The state/task 'T' returned a result with a size exceeding the maximum number of bytes service limit.")
		})
	})
	t.Run("state output over the limit", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := single(`{"Type":"Pass","Parameters":{"a.$":"$.s","b.$":"$.s"},"End":true}`)
			half := strings.Repeat("y", MaxPayloadSize/2)
			r := execute(t, def, `{"s":"`+half+`"}`, newFake(nil))
			checkFailure(t, r, ErrDataLimitExceeded, "")
			if want := "The state/task 'S' returned a result with a size exceeding the maximum number of bytes service limit."; r.fail.Cause != want {
				t.Fatalf("cause %q, want %q", r.fail.Cause, want)
			}
		})
	})
}

func TestInvalidInput(t *testing.T) {
	bubble(t, func(t *testing.T) {
		checkFailure(t, execute(t, single(`{"Type":"Pass","End":true}`), `{"a":`, newFake(nil)), ErrRuntime, "input")
		checkOutput(t, execute(t, single(`{"Type":"Pass","End":true}`), ``, newFake(nil)), `{}`)
	})
}

func TestRunIsReentrant(t *testing.T) {
	bubble(t, func(t *testing.T) {
		d := mustParse(t, single(`{"Type":"Pass","Parameters":{"v.$":"$.v","u.$":"States.UUID()"},"End":true}`))
		done := make(chan string, 20)
		for i := range 20 {
			go func() {
				out, f := d.Run(context.Background(), json.RawMessage(fmt.Sprintf(`{"v":%d}`, i)), testContext, newFake(nil), nil)
				if f != nil {
					done <- f.Error()
					return
				}
				done <- string(out)
			}()
		}
		for range 20 {
			if s := <-done; !strings.Contains(s, `"v":`) {
				t.Fatal(s)
			}
		}
	})
}

func TestStringMatchesPatterns(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"log-*.txt", "log-2024.txt", true},
		{"log-*.txt", "log-.txt", true},
		{"log-*.txt", "log-2024.txt.gz", false},
		{"*.txt", "a.txt", true},
		{"a*", "b", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"*b*b*", "abcb", true},
		{"*ab", "aab", true},
		{"a**b", "ab", true},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{`a\\b`, `a\b`, true},
		{`a\b`, `a\b`, true},
		{"é*ü", "éxxü", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.s, func(t *testing.T) {
			if got := matches(compilePattern(tc.pattern), tc.s); got != tc.want {
				t.Fatalf("matches(%q, %q) = %v", tc.pattern, tc.s, got)
			}
		})
	}
}
