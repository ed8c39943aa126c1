package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// chain makes a machine of states S0, S1, ... in order; each state's JSON is given without
// Next/End, which chain adds.
func chain(states ...string) string {
	var b strings.Builder
	b.WriteString(`{"StartAt":"S0","States":{`)
	for i, st := range states {
		if i > 0 {
			b.WriteString(",")
		}
		flow := fmt.Sprintf(`"Next":"S%d"`, i+1)
		if i == len(states)-1 {
			flow = `"End":true`
		}
		if strings.HasPrefix(st, `{"Type":"Succeed"`) || strings.HasPrefix(st, `{"Type":"Fail"`) || strings.HasPrefix(st, `{"Type":"Choice"`) {
			flow = ""
		}
		body := strings.TrimSuffix(st, "}")
		if flow != "" {
			body += "," + flow
		}
		fmt.Fprintf(&b, `"S%d":%s}`, i, body)
	}
	b.WriteString("}}")
	return b.String()
}

func TestVariables(t *testing.T) {
	tests := []struct {
		name, def, input, want string
	}{
		{"literals and paths, read in Parameters, intrinsics and Choice",
			chain(
				`{"Type":"Pass","Assign":{"lit":{"a":[1,2]},"n.$":"$.n","id.$":"$$.Execution.Name","len.$":"States.ArrayLength($.items)"}}`,
				`{"Type":"Choice","Choices":[{"Variable":"$n","NumericGreaterThan":1,"Next":"S2"}],"Default":"S2"}`,
				`{"Type":"Pass","Parameters":{"lit.$":"$lit","second.$":"$lit.a[1]","id.$":"$id","f.$":"States.Format('{} of {}', $len, $id)"}}`,
			), `{"n":2,"items":[1,2,3]}`, `{"lit":{"a":[1,2]},"second":2,"id":"exec-1","f":"3 of exec-1"}`},
		// AWS's guide: starting with $x=3, $a=6, {"x": $a, "nextX": $x} ends with $x=6, $nextX=3.
		{"every expression of an Assign sees the values from before the state",
			chain(
				`{"Type":"Pass","Assign":{"x":3,"a":6}}`,
				`{"Type":"Pass","Assign":{"x.$":"$a","nextX.$":"$x"}}`,
				`{"Type":"Pass","Parameters":{"x.$":"$x","nextX.$":"$nextX","a.$":"$a"}}`,
			), `{}`, `{"x":6,"nextX":3,"a":6}`},
		{"Pass: $ is the result (Parameters), not the input",
			chain(
				`{"Type":"Pass","Parameters":{"p.$":"$.a"},"ResultPath":"$.r","Assign":{"got.$":"$"}}`,
				`{"Type":"Pass","Parameters":{"got.$":"$got"}}`,
			), `{"a":1}`, `{"got":{"p":1}}`},
		{"Pass: $ is the Result",
			chain(
				`{"Type":"Pass","Result":{"k":"v"},"ResultPath":null,"Assign":{"got.$":"$.k"}}`,
				`{"Type":"Pass","Parameters":{"got.$":"$got"}}`,
			), `{}`, `{"got":"v"}`},
		{"Task: $ is the raw result, beside ResultSelector",
			chain(
				`{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"v":7},"ResultSelector":{"w.$":"$.v"},"ResultPath":"$.sel","Assign":{"raw.$":"$"}}`,
				`{"Type":"Pass","Parameters":{"raw.$":"$raw","sel.$":"$.sel"}}`,
			), `{}`, `{"raw":{"v":7},"sel":{"w":7}}`},
		{"Choice and Wait: $ is the effective input (after InputPath)",
			chain(
				`{"Type":"Wait","Seconds":0,"InputPath":"$.w","Assign":{"w.$":"$"}}`,
				`{"Type":"Choice","InputPath":"$.k","Choices":[{"Variable":"$","NumericEquals":99,"Next":"S2"}],"Default":"S2","Assign":{"c.$":"$"}}`,
				`{"Type":"Pass","Parameters":{"w.$":"$w","c.$":"$c"}}`,
			), `{"w":{"k":1}}`, `{"w":{"k":1},"c":1}`},
		{"Choice: the matched rule's Assign",
			chain(
				`{"Type":"Choice","Choices":[{"Variable":"$.k","NumericEquals":1,"Assign":{"lane":"one"},"Next":"S1"}],"Default":"S1","Assign":{"lane":"default"}}`,
				`{"Type":"Pass","Parameters":{"lane.$":"$lane"}}`,
			), `{"k":1}`, `{"lane":"one"}`},
		{"Choice: the state's Assign when Default is taken",
			chain(
				`{"Type":"Choice","Choices":[{"Variable":"$.k","NumericEquals":1,"Assign":{"lane":"one"},"Next":"S1"}],"Default":"S1","Assign":{"lane":"default"}}`,
				`{"Type":"Pass","Parameters":{"lane.$":"$lane"}}`,
			), `{"k":2}`, `{"lane":"default"}`},
		{"variables in InputPath, ItemsPath and Wait SecondsPath",
			chain(
				`{"Type":"Pass","Assign":{"obj":{"list":[1,2]},"secs":0}}`,
				`{"Type":"Wait","SecondsPath":"$secs"}`,
				`{"Type":"Pass","InputPath":"$obj"}`,
				`{"Type":"Map","ItemsPath":"$obj.list","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}`,
			), `{}`, `[1,2]`},
		{"Map iterations read outer variables",
			chain(
				`{"Type":"Pass","Assign":{"factor":10}}`,
				`{"Type":"Map","ItemSelector":{"v.$":"$$.Map.Item.Value","f.$":"$factor"},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Parameters":{"v.$":"$.v","f.$":"$factor"},"End":true}}}}`,
			), `[1,2]`, `[{"v":1,"f":10},{"v":2,"f":10}]`},
		{"each Map iteration has its own variables",
			chain(
				`{"Type":"Map","ItemProcessor":{"StartAt":"A","States":{
					"A":{"Type":"Pass","Assign":{"mine.$":"$"},"Next":"B"},
					"B":{"Type":"Pass","Parameters":{"mine.$":"$mine"},"End":true}}}}`,
			), `["a","b","c"]`, `[{"mine":"a"},{"mine":"b"},{"mine":"c"}]`},
		{"Parallel branches read outer variables and keep their own",
			chain(
				`{"Type":"Pass","Assign":{"base":"b"}}`,
				`{"Type":"Parallel","Branches":[
					{"StartAt":"X","States":{"X":{"Type":"Pass","Assign":{"own":1},"Next":"X2"},"X2":{"Type":"Pass","Parameters":{"own.$":"$own","base.$":"$base"},"End":true}}},
					{"StartAt":"Y","States":{"Y":{"Type":"Pass","Assign":{"own":2},"Next":"Y2"},"Y2":{"Type":"Pass","Parameters":{"own.$":"$own"},"End":true}}}]}`,
			), `{}`, `[{"own":1,"base":"b"},{"own":2}]`},
		{"a Parallel state's Assign sees the branches' results",
			chain(
				`{"Type":"Parallel","Assign":{"first.$":"$[0]"},"ResultPath":null,"Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass","Result":"x","End":true}}}]}`,
				`{"Type":"Pass","Parameters":{"first.$":"$first"}}`,
			), `{}`, `{"first":"x"}`},
		{"a Catcher's Assign gets the error output and assigns in the state's scope",
			`{"StartAt":"P","States":{
				"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"why"}}}],
					"Assign":{"never":1},
					"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"err.$":"$.Error","cause.$":"$.Cause"},"ResultPath":null,"Next":"After"}],"End":true},
				"After":{"Type":"Pass","Parameters":{"err.$":"$err","cause.$":"$cause"},"End":true}}}`,
			`{}`, `{"err":"Boom","cause":"why"}`},
		{"a name that looks like a field is a literal outside .$",
			chain(
				`{"Type":"Pass","Assign":{"x":"$.a"}}`,
				`{"Type":"Pass","Parameters":{"x.$":"$x"}}`,
			), `{"a":1}`, `{"x":"$.a"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				checkOutput(t, execute(t, tc.def, tc.input, newFake(nil)), tc.want)
			})
		})
	}
}

func TestVariableFailures(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	tests := []struct {
		name, def, input, wantErr, wantCause string
	}{
		{"an unassigned variable", chain(`{"Type":"Pass","Parameters":{"v.$":"$nope"}}`), `{}`, ErrRuntime, "'$nope'"},
		{"a variable path that names nothing", chain(`{"Type":"Pass","Assign":{"x":{}}}`, `{"Type":"Pass","Parameters":{"v.$":"$x.y"}}`), `{}`, ErrRuntime, "'$x.y'"},
		{"a state's own assignment is not visible in its OutputPath",
			chain(`{"Type":"Pass","Assign":{"y":1},"OutputPath":"$y"}`), `{}`, ErrRuntime, "'$y'"},
		{"assignments inside a Map do not leak out",
			chain(
				`{"Type":"Map","ItemProcessor":{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"inner":1},"End":true}}}}`,
				`{"Type":"Pass","Parameters":{"v.$":"$inner"}}`,
			), `[1]`, ErrRuntime, "'$inner'"},
		{"assignments inside a Parallel branch do not leak out",
			chain(
				`{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"inner":1},"End":true}}}]}`,
				`{"Type":"Pass","Parameters":{"v.$":"$inner"}}`,
			), `{}`, ErrRuntime, "'$inner'"},
		{"a Choice comparison on an unassigned variable", chain(`{"Type":"Choice","Choices":[{"Variable":"$nope","IsNull":true,"Next":"S1"}]}`, `{"Type":"Succeed"}`), `{}`, ErrRuntime, "'$nope'"},
		{"a value over 256 KiB", chain(`{"Type":"Pass","Assign":{"v.$":"States.Format('{}{}', $.s, $.s)"}}`), `{"s":"` + big + `"}`, ErrDataLimitExceeded, "'v'"},
		{"one Assign over 256 KiB together", chain(`{"Type":"Pass","Assign":{"a.$":"$.s","b.$":"$.s"}}`), `{"s":"` + big + `"}`, ErrDataLimitExceeded, "one Assign"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				checkFailure(t, execute(t, tc.def, tc.input, newFake(nil)), tc.wantErr, tc.wantCause)
			})
		})
	}
}

// The variables of an execution are at most 10 MiB: 51 values of 200 KiB fit, the 52nd
// does not; replacing a value does not add to the total.
func TestVariablesExecutionLimit(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	states := func(n int, sameName bool) string {
		var s []string
		for i := range n {
			name := fmt.Sprintf("v%d", i)
			if sameName {
				name = "v"
			}
			s = append(s, `{"Type":"Pass","ResultPath":null,"Assign":{"`+name+`.$":"$.s"}}`)
		}
		return chain(append(s, `{"Type":"Pass","Result":"done"}`)...)
	}
	bubble(t, func(t *testing.T) {
		checkOutput(t, execute(t, states(51, false), `{"s":"`+big+`"}`, newFake(nil)), `"done"`)
		checkFailure(t, execute(t, states(52, false), `{"s":"`+big+`"}`, newFake(nil)), ErrDataLimitExceeded, "10485760")
		checkOutput(t, execute(t, states(60, true), `{"s":"`+big+`"}`, newFake(nil)), `"done"`)
	})
}

// A caught failure leaves the state's own Assign unapplied; the Catcher's applies.
func TestVariablesTaskCatch(t *testing.T) {
	def := `{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Assign":{"from":"task"},
			"Catch":[{"ErrorEquals":["Boom"],"Assign":{"from":"catch"},"ResultPath":null,"Next":"R"}],"End":true},
		"R":{"Type":"Pass","Parameters":{"from.$":"$from"},"End":true}}}`
	bubble(t, func(t *testing.T) {
		rt := newFake(func(context.Context, TaskCall) (json.RawMessage, error) {
			return nil, &Failure{Name: "Boom"}
		})
		checkOutput(t, execute(t, def, `{}`, rt), `{"from":"catch"}`)
	})
}

func TestValidateVariables(t *testing.T) {
	pass := func(assign string) string {
		return `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":` + assign + `,"End":true}}}`
	}
	tests := []struct {
		name string
		def  string
		want []diag
	}{
		{"valid names", pass(`{"a":1,"_b":2,"ü":3,"x1_y":4,"camelCase.$":"$.a"}`), []diag{{CodeSchema, "/States/A/Assign/_b", "not valid"}}},
		{"Unicode letters are identifiers", pass(`{"größe":1,"名前":2}`), nil},
		{"a name starting with a digit", pass(`{"1x":1}`), []diag{{CodeSchema, "/States/A/Assign/1x", "not valid"}}},
		{"a name with a dot or bracket", pass(`{"x.y":1,"x[2]":1}`), []diag{
			{CodeSchema, "/States/A/Assign/x.y", "not valid"},
			{CodeSchema, "/States/A/Assign/x[2]", "not valid"},
		}},
		{"the reserved name", pass(`{"states":1}`), []diag{{CodeSchema, "/States/A/Assign/states", "reserved"}}},
		{"a name of 81 characters", pass(`{"` + strings.Repeat("a", 81) + `":1}`), []diag{{CodeSchema, "/States/A/Assign/" + strings.Repeat("a", 81), "80"}}},
		{"a name of 80 characters", pass(`{"` + strings.Repeat("a", 80) + `":1}`), nil},
		{"Assign not an object", pass(`[1]`), []diag{{CodeSchema, "/States/A/Assign", "OBJECT"}}},
		{"a bad path in Assign", pass(`{"a.$":"a.b"}`), []diag{{CodeSchema, "/States/A/Assign/a.$", "valid JSONPath"}}},
		{"Succeed cannot Assign", `{"StartAt":"A","States":{"A":{"Type":"Succeed","Assign":{"a":1}}}}`, []diag{{CodeSchema, "/States/A/Assign", "not supported by state type 'Succeed'"}}},
		{"Fail cannot Assign", `{"StartAt":"A","States":{"A":{"Type":"Fail","Assign":{"a":1}}}}`, []diag{{CodeSchema, "/States/A/Assign", "not supported by state type 'Fail'"}}},
		{"a nested Choice rule cannot Assign", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsNull":true,"Assign":{"x":1}},"Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0/Not/Assign", "nested"}}},
		{"no variables in ResultPath", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$x.y","End":true}}}`, []diag{{CodeSchema, "/States/A/ResultPath", "ReferencePath"}}},
		{"a Map iteration cannot assign an outer name", `{"StartAt":"M","States":{
			"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Assign":{"total":1},"End":true}}},"Next":"Out"},
			"Out":{"Type":"Pass","Assign":{"total":0},"End":true}}}`, []diag{{CodeSchema, "/States/M/ItemProcessor/States/I/Assign/total", "outer scope"}}},
		{"a Parallel branch cannot assign an outer name, not even two levels down", `{"StartAt":"A","States":{
			"A":{"Type":"Pass","Assign":{"x":0},"Next":"P"},
			"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
				"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Assign":{"x":1},"End":true}}}}}}]}}}`,
			[]diag{{CodeSchema, "/States/P/Branches/0/States/M/ItemProcessor/States/I/Assign/x", "outer scope"}}},
		{"sibling scopes may use one name", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"x":1},"End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Pass","Assign":{"x":2},"End":true}}}]}}}`, nil},
		{"a Catcher's Assign is in the state's scope", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"E",
			"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"x":1},"Next":"E"}],
			"Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"y":1},"End":true}}}]},"E":{"Type":"Pass","Assign":{"x":2},"End":true}}}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDiags(t, Validate([]byte(tc.def)), tc.want)
		})
	}
}
