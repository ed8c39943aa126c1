package asl

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// diag is an expected diagnostic: code and location exactly, message as a substring.
type diag struct{ code, loc, msg string }

func checkDiags(t *testing.T, got []Diagnostic, want []diag) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d diagnostics, want %d:\n%s", len(got), len(want), dumpDiags(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Severity != SeverityError || g.Code != w.code || g.Location != w.loc || !strings.Contains(g.Message, w.msg) {
			t.Fatalf("diagnostic %d:\n got %s %s %q at %q\nwant %s %q at %q\nall:\n%s", i, g.Severity, g.Code, g.Message, g.Location, w.code, w.msg, w.loc, dumpDiags(got))
		}
	}
}

func dumpDiags(ds []Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.Code + ": " + d.Message + " at " + d.Location + "\n")
	}
	return b.String()
}

// passTo is a Pass state going to next.
func passTo(next string) string { return `{"Type":"Pass","Next":"` + next + `"}` }

const end = `{"Type":"Pass","End":true}`

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		def  string
		want []diag
	}{
		{"valid", `{"StartAt":"A","States":{"A":` + end + `}}`, nil},
		{"invalid JSON", `{"StartAt":`, []diag{{CodeInvalidJSON, "", "unexpected EOF"}}},
		{"trailing data", `{"StartAt":"A","States":{"A":` + end + `}} x`, []diag{{CodeInvalidJSON, "", "invalid character"}}},
		{"empty", `  `, []diag{{CodeSchema, "", "Definition must be a valid JSON object"}}},
		{"not an object", `[1]`, []diag{{CodeSchema, "", "Definition must be a valid JSON object"}}},
		{"empty object", `{}`, []diag{{CodeSchema, "/", "These fields are required: [States, StartAt]"}}},
		{"no StartAt", `{"States":{"A":` + end + `}}`, []diag{{CodeSchema, "/", "These fields are required: [StartAt]"}}},
		{"StartAt not a string", `{"StartAt":1,"States":{"A":` + end + `}}`, []diag{{CodeSchema, "/StartAt", "STRING"}}},
		{"empty States", `{"StartAt":"A","States":{}}`, []diag{{CodeSchema, "/States", "at least one state"}}},
		{"unknown top-level field", `{"StartAt":"A","Foo":1,"States":{"A":` + end + `}}`, []diag{{CodeSchema, "/Foo", `The field "Foo" is not supported by Step Functions`}}},
		{"top-level TimeoutSeconds 0", `{"StartAt":"A","TimeoutSeconds":0,"States":{"A":` + end + `}}`, []diag{{CodeSchema, "/TimeoutSeconds", "TimeoutSeconds"}}},
		{"missing Next target and unreachable state", `{"StartAt":"pass1","States":{"pass1":` + passTo("pass3") + `,"pass2":` + end + `}}`, []diag{
			{CodeMissingTarget, "/States/pass1/Next", "Missing 'Next' target: pass3"},
			{CodeMissingTarget, "/States/pass2", `State "pass2" is not reachable.`},
		}},
		{"missing StartAt target", `{"StartAt":"Nope","States":{"A":` + end + `}}`, []diag{{CodeMissingTarget, "/StartAt", "Missing 'StartAt' target: Nope"}}},
		{"missing Default and Choice targets", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"Next":"X"}],"Default":"Y"}}}`, []diag{
			{CodeMissingTarget, "/States/C/Choices/0/Next", "Missing 'Next' target: X"},
			{CodeMissingTarget, "/States/C/Default", "Missing 'Default' target: Y"},
		}},
		{"missing Catch target", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Gone"}],"End":true}}}`, []diag{
			{CodeMissingTarget, "/States/T/Catch/0/Next", "Missing 'Next' target: Gone"},
		}},
		{"a state reached only through Catch is reachable", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL"],"Next":"H"}],"End":true},"H":{"Type":"Succeed"}}}`, nil},
		{"End and Next together", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B","End":true},"B":` + end + `}}`, []diag{{CodeSchema, "/States/A", "'Next' and 'End'"}}},
		{"neither End nor Next", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, []diag{{CodeSchema, "/States/A", "Next or End"}}},
		{"End false without Next", `{"StartAt":"A","States":{"A":{"Type":"Pass","End":false}}}`, []diag{{CodeSchema, "/States/A", "Next or End"}}},
		{"state without Type", `{"StartAt":"A","States":{"A":{"End":true}}}`, []diag{{CodeSchema, "/States/A", "These fields are required: [Type]"}}},
		{"unknown state type", `{"StartAt":"A","States":{"A":{"Type":"Foo","End":true}}}`, []diag{{CodeSchema, "/States/A/Type", `"Foo"`}}},
		{"state not an object", `{"StartAt":"A","States":{"A":1}}`, []diag{{CodeSchema, "/States/A", "OBJECT"}}},
		{"a field of another state type", `{"StartAt":"A","States":{"A":{"Type":"Pass","Resource":"x","End":true}}}`, []diag{{CodeSchema, "/States/A/Resource", "The field 'Resource' is not supported by state type 'Pass'"}}},
		{"an unknown field", `{"StartAt":"A","States":{"A":{"Type":"Pass","Foo":1,"End":true}}}`, []diag{{CodeSchema, "/States/A/Foo", `The field "Foo" is not supported by Step Functions`}}},
		{"Fail with Next", `{"StartAt":"A","States":{"A":{"Type":"Fail","Next":"A"}}}`, []diag{{CodeSchema, "/States/A/Next", "not supported by state type 'Fail'"}}},
		{"Succeed with End", `{"StartAt":"A","States":{"A":{"Type":"Succeed","End":true}}}`, []diag{{CodeSchema, "/States/A/End", "not supported by state type 'Succeed'"}}},
		{"Choice without Choices", `{"StartAt":"C","States":{"C":{"Type":"Choice","Default":"D"},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C", "These fields are required: [Choices]"}}},
		{"Choice with empty Choices", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[],"Default":"D"},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices", "non-empty"}}},
		{"Choice rule without Next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true}],"Default":"D"},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0", "These fields are required: [Next]"}}},
		{"Choice rule with two operators", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"IsString":true,"Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0", "exactly one"}}},
		{"Choice rule without Variable", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"StringEquals":"x","Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0", "[Variable]"}}},
		{"nested Choice rule with Next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsNull":true,"Next":"D"},"Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0/Not/Next", "nested"}}},
		{"Choice operand of the wrong type", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":"1","Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0/NumericEquals", "NUMBER"}}},
		{"Choice timestamp literal not a timestamp", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","TimestampEquals":"yesterday","Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{{CodeSchema, "/States/C/Choices/0/TimestampEquals", "RFC 3339"}}},
		{"Choice unknown operator", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringContains":"x","Next":"D"}]},"D":{"Type":"Succeed"}}}`, []diag{
			{CodeSchema, "/States/C/Choices/0/StringContains", `"StringContains"`},
			{CodeSchema, "/States/C/Choices/0", "exactly one"},
		}},
		{"Wait with two durations", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, []diag{{CodeSchema, "/States/W", "exactly one"}}},
		{"Wait with none", `{"StartAt":"W","States":{"W":{"Type":"Wait","End":true}}}`, []diag{{CodeSchema, "/States/W", "exactly one"}}},
		{"Wait Seconds negative", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":-1,"End":true}}}`, []diag{{CodeSchema, "/States/W/Seconds", "Seconds"}}},
		{"Wait Timestamp not a timestamp", `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"2024-13-01","End":true}}}`, []diag{{CodeSchema, "/States/W/Timestamp", "RFC 3339"}}},
		{"Fail with Error and ErrorPath", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","ErrorPath":"$.e"}}}`, []diag{{CodeSchema, "/States/F", "'Error' and 'ErrorPath'"}}},
		{"Task without Resource", `{"StartAt":"T","States":{"T":{"Type":"Task","End":true}}}`, []diag{{CodeSchema, "/States/T", "These fields are required: [Resource]"}}},
		{"Task resource not an ARN", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"${PrepareFunctionArn}","End":true}}}`, []diag{{CodeSchema, "/States/T/Resource", "The resource provided ${PrepareFunctionArn} is not recognized"}}},
		{"Task TimeoutSeconds 0", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":0,"End":true}}}`, []diag{{CodeSchema, "/States/T/TimeoutSeconds", "TimeoutSeconds"}}},
		{"Task HeartbeatSeconds not below TimeoutSeconds", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":10,"HeartbeatSeconds":10,"End":true}}}`, []diag{{CodeSchema, "/States/T/HeartbeatSeconds", "smaller"}}},
		{"Task TimeoutSeconds and TimeoutSecondsPath", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":10,"TimeoutSecondsPath":"$.t","End":true}}}`, []diag{{CodeSchema, "/States/T", "mutually exclusive"}}},
		{"Retry States.ALL not last", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}],"End":true}}}`, []diag{{CodeSchema, "/States/T/Retry/0", "last"}}},
		{"Catch States.ALL not alone", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL","X"],"Next":"T"}],"End":true}}}`, []diag{{CodeSchema, "/States/T/Catch/0/ErrorEquals", "alone"}}},
		{"Catch States.ALL not last", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["States.ALL"],"Next":"T"},{"ErrorEquals":["X"],"Next":"T"}],"End":true}}}`, []diag{{CodeSchema, "/States/T/Catch/0", "last"}}},
		{"Retry bad fields", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Retry":[{"ErrorEquals":[],"BackoffRate":0.5,"MaxAttempts":-1,"JitterStrategy":"SOME","Foo":1}],"End":true}}}`, []diag{
			{CodeSchema, "/States/T/Retry/0/ErrorEquals", "non-empty"},
			{CodeSchema, "/States/T/Retry/0/BackoffRate", "BackoffRate"},
			{CodeSchema, "/States/T/Retry/0/MaxAttempts", "MaxAttempts"},
			{CodeSchema, "/States/T/Retry/0/JitterStrategy", "FULL, NONE"},
			{CodeSchema, "/States/T/Retry/0/Foo", `"Foo"`},
		}},
		{"Catch without Next", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Catch":[{"ErrorEquals":["X"]}],"End":true}}}`, []diag{{CodeSchema, "/States/T/Catch/0", "These fields are required: [Next]"}}},
		{"ResultPath with a wildcard", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, []diag{{CodeSchema, "/States/A/ResultPath", "ReferencePath"}}},
		{"ResultPath into the context object", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$$.a","End":true}}}`, []diag{{CodeSchema, "/States/A/ResultPath", "ReferencePath"}}},
		{"InputPath not a path", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"a.b","End":true}}}`, []diag{{CodeSchema, "/States/A/InputPath", "valid JSONPath"}}},
		{"Parameters not an object", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":[1],"End":true}}}`, []diag{{CodeSchema, "/States/A/Parameters", "OBJECT"}}},
		{"Parameters .$ field not a string", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":1},"End":true}}}`, []diag{{CodeSchema, "/States/A/Parameters/a.$", "STRING"}}},
		{"Parameters .$ field neither path nor intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x":{"a.$":"abc"}},"End":true}}}`, []diag{{CodeSchema, "/States/A/Parameters/x/a.$", "valid JSONPath or a valid intrinsic"}}},
		{"Parameters bad intrinsic syntax", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"States.Format('x'"},"End":true}}}`, []diag{{CodeSchema, "/States/A/Parameters/a.$", "missing ')'"}}},
		{"Parameters intrinsic arity", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"States.ArrayLength($.a, $.b)"},"End":true}}}`, []diag{{CodeSchema, "/States/A/Parameters/a.$", "States.ArrayLength takes 1 arguments, not 2"}}},
		{"Map with ItemProcessor and Iterator", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"A","States":{"A":` + end + `}},"Iterator":{"StartAt":"B","States":{"B":` + end + `}},"End":true}}}`, []diag{{CodeSchema, "/States/M", "mutually exclusive"}}},
		{"Map without a processor", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true}}}`, []diag{{CodeSchema, "/States/M", "[ItemProcessor]"}}},
		{"Map with ItemSelector and Parameters", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemSelector":{},"Parameters":{},"ItemProcessor":{"StartAt":"A","States":{"A":` + end + `}},"End":true}}}`, []diag{{CodeSchema, "/States/M", "mutually exclusive"}}},
		{"Parallel without Branches", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true}}}`, []diag{{CodeSchema, "/States/P", "[Branches]"}}},
		{"nested branch problems", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
			{"StartAt":"A","States":{"A":` + end + `}},
			{"StartAt":"x","States":{"x":` + passTo("nowhere") + `,"y":{"Type":"Pass"},"z":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"i","States":{"i":` + end + `,"j":` + end + `}}}}}]}}}`, []diag{
			{CodeSchema, "/States/P/Branches/1/States/y", "Next or End"},
			{CodeMissingTarget, "/States/P/Branches/1/States/z/ItemProcessor/States/j", `State "j" is not reachable.`},
			{CodeMissingTarget, "/States/P/Branches/1/States/x/Next", "Missing 'Next' target: nowhere"},
			{CodeMissingTarget, "/States/P/Branches/1/States/y", `State "y" is not reachable.`},
			{CodeMissingTarget, "/States/P/Branches/1/States/z", `State "z" is not reachable.`},
		}},
		{"a branch cannot go to an outer state", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"Out","Branches":[{"StartAt":"A","States":{"A":` + passTo("Out") + `}}]},"Out":` + end + `}}`, []diag{
			{CodeMissingTarget, "/States/P/Branches/0/States/A/Next", "Missing 'Next' target: Out"},
		}},
		{"branch without StartAt", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"States":{"A":` + end + `}}]}}}`, []diag{{CodeSchema, "/States/P/Branches/0", "These fields are required: [StartAt]"}}},
		{"duplicate state names across branches", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"A","States":{"A":` + end + `}},{"StartAt":"A","States":{"A":` + end + `}}]}}}`, []diag{
			{CodeDuplicateStateName, "/States/P/Branches/1/States/A", "Duplicate State name: A"},
		}},
		{"state name over 80 characters", `{"StartAt":"` + strings.Repeat("n", 81) + `","States":{"` + strings.Repeat("n", 81) + `":` + end + `}}`, []diag{{CodeSchema, "/States/" + strings.Repeat("n", 81), "80"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDiags(t, Validate([]byte(tc.def)), tc.want)
		})
	}
}

func TestValidateUnsupported(t *testing.T) {
	task := func(fields string) string {
		return `{"StartAt":"T","States":{"T":{"Type":"Task",` + fields + `,"End":true}}}`
	}
	mapState := func(fields string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map",` + fields + `,"End":true}}}`
	}
	const distProc = `"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`
	tests := []struct {
		name, def, loc, names string
	}{
		{"Credentials", task(`"Resource":"arn:aws:states:::lambda:invoke","Credentials":{"RoleArn":"r"}`), "/States/T/Credentials", "Credentials"},
		{"an activity", task(`"Resource":"arn:aws:states:us-east-1:000000000000:activity:approve"`), "/States/T/Resource", "activity"},
		{"a DynamoDB integration", task(`"Resource":"arn:aws:states:::dynamodb:putItem"`), "/States/T/Resource", "arn:aws:states:::dynamodb:putItem"},
		{"an AWS SDK integration", task(`"Resource":"arn:aws:states:::aws-sdk:s3:getObject"`), "/States/T/Resource", "arn:aws:states:::aws-sdk:s3:getObject"},
		{"lambda:invoke.sync", task(`"Resource":"arn:aws:states:::lambda:invoke.sync"`), "/States/T/Resource", "lambda:invoke.sync"},
		{"an SQS callback", task(`"Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken"`), "/States/T/Resource", "arn:aws:states:::sqs:sendMessage.waitForTaskToken"},
		{"an EventBridge callback", task(`"Resource":"arn:aws:states:::events:putEvents.waitForTaskToken"`), "/States/T/Resource", "events:putEvents.waitForTaskToken"},
		{"startExecution.sync:3", task(`"Resource":"arn:aws:states:::states:startExecution.sync:3"`), "/States/T/Resource", "startExecution.sync:3"},
		{"an ItemReader of JSONL", mapState(distProc + `,"ItemReader":{"Resource":"arn:aws:states:::s3:getObject","Parameters":{"Bucket":"b","Key":"k"},"ReaderConfig":{"InputType":"JSONL"}}`), "/States/M/ItemReader/ReaderConfig/InputType", "JSONL"},
		{"an ItemReader of a DynamoDB export", mapState(distProc + `,"ItemReader":{"Resource":"arn:aws:states:::dynamodb:scan","Parameters":{}}`), "/States/M/ItemReader/Resource", "dynamodb:scan"},
		{"an unknown intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"States.StringReverse($.s)"},"End":true}}}`, "/States/A/Parameters/a.$", "States.StringReverse"},
		{"a nested unknown intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"States.Format('{}', States.Nope())"},"End":true}}}`, "/States/A/Parameters/a.$", "States.Nope"},
		{"recursive descent", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"$..id"},"End":true}}}`, "/States/A/Parameters/a.$", "recursive descent"},
		{"a regular expression in a filter", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[?(@.x =~ /a.*/)]","End":true}}}`, "/States/A/InputPath", "regular expression '=~'"},
		{"a filter operator 'in'", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"$.a[?(@.x in ['a'])]"},"End":true}}}`, "/States/A/Parameters/a.$", "the filter operator 'in'"},
		{"negation in a filter", `{"StartAt":"A","States":{"A":{"Type":"Pass","OutputPath":"$.a[?(!@.x)]","End":true}}}`, "/States/A/OutputPath", "negation '!'"},
		{"a function in a filter", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[?(@.x.length() > 1)]","End":true}}}`, "/States/A/InputPath", "length()"},
		{"the root inside a filter", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[?(@.x > $.min)]","End":true}}}`, "/States/A/InputPath", "root '$'"},
		{"a JSONPath function", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"n.$":"$.items.length()"},"End":true}}}`, "/States/A/Parameters/n.$", "length()"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diags := Validate([]byte(tc.def))
			var found bool
			for _, d := range diags {
				if d.Code == CodeUnsupported && d.Location == tc.loc && strings.Contains(d.Message, tc.names) && d.Severity == SeverityError {
					found = true
				}
			}
			if !found {
				t.Fatalf("no UNSUPPORTED_FEATURE naming %q at %s:\n%s", tc.names, tc.loc, dumpDiags(diags))
			}
			if _, err := Parse([]byte(tc.def)); err == nil {
				t.Fatal("Parse accepted it")
			}
		})
	}
}

func TestValidateAcceptsResources(t *testing.T) {
	for _, res := range []string{
		"arn:aws:lambda:us-east-1:000000000000:function:prepare",
		"arn:aws:lambda:us-east-1:000000000000:function:prepare:live",
		"arn:aws:lambda:us-east-1:000000000000:function:prepare:$LATEST",
		"arn:aws:lambda:eu-west-1:123456789012:function:my-fn_2:7",
		"arn:aws:states:::lambda:invoke",
		"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"arn:aws:states:::states:startExecution",
		"arn:aws:states:::states:startExecution.sync",
		"arn:aws:states:::states:startExecution.sync:2",
		"arn:aws:states:::states:startExecution.waitForTaskToken",
	} {
		t.Run(res, func(t *testing.T) {
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + res + `","End":true}}}`
			checkDiags(t, Validate([]byte(def)), nil)
		})
	}
}

func TestFormatInvalid(t *testing.T) {
	def := `{"StartAt":"pass1","States":{"pass1":{"Type":"Pass","Next":"pass3"},"pass2":{"Type":"Pass","End":true}}}`
	_, err := Parse([]byte(def))
	var de *DefinitionError
	if !errors.As(err, &de) {
		t.Fatalf("Parse error %v", err)
	}
	want := `Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: State "pass2" is not reachable. at /States/pass2'`
	if got := FormatInvalid(de.Diagnostics); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if de.Error() != want {
		t.Fatalf("Error() %s", de.Error())
	}
	// A diagnostic without a location has no " at ", and warnings are left out.
	got := FormatInvalid([]Diagnostic{
		{Severity: SeverityError, Code: CodeSchema, Message: "Definition must be a valid JSON object"},
		{Severity: SeverityWarning, Code: "X", Message: "ignored", Location: "/x"},
	})
	if got != `Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Definition must be a valid JSON object'` {
		t.Fatal(got)
	}
}

// The project's own definitions: the controller (with its ${...} substitutions filled as
// CDK and local mode fill them) and the examples.
func TestValidateProjectDefinitions(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "statemachines")
	placeholder := regexp.MustCompile(`\$\{([A-Za-z]+)FunctionArn\}`)
	read := func(t *testing.T, name string) []byte {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Skipf("no %s: %v", name, err)
		}
		return placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
			fn := strings.ToLower(string(placeholder.FindSubmatch(m)[1]))
			return []byte("arn:aws:lambda:us-east-1:000000000000:function:sfn-rollout-" + fn)
		})
	}
	tests := []struct {
		file string
		want []diag
	}{
		{"rollout-controller.asl.json", nil},
		{"examples/orders-v1.asl.json", nil},
		{"examples/orders-v2.asl.json", nil},
		{"examples/orders-v2-jsonata.asl.json", nil},
		{"examples/orders-v3-flaky.asl.json", nil},
		{"examples/invalid-missing-next.asl.json", []diag{
			{CodeMissingTarget, "/States/PriceOrder/Next", "Missing 'Next' target: Acepted"},
			{CodeMissingTarget, "/States/Accepted", `State "Accepted" is not reachable.`},
		}},
		{"examples/malformed.asl.json", []diag{{CodeInvalidJSON, "", ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			checkDiags(t, Validate(read(t, tc.file)), tc.want)
		})
	}
}
