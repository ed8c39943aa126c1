package statemachines_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

const (
	controllerFile = "rollout-controller.asl.json"
	examplesDir    = "examples"
	// validatorBin is asl-validator's bin, installed by `make tools`.
	validatorBin = "../.tools/node_modules/asl-validator/dist/bin/asl-validator.js"
)

// exampleArns fill the controller's ${...} substitutions the way CDK and local mode do.
var exampleArns = map[string]string{
	"PrepareFunctionArn":  "arn:aws:lambda:us-east-1:000000000000:function:sfn-rollout-prepare",
	"RegisterFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:sfn-rollout-register",
	"FinalizeFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:sfn-rollout-finalize",
}

var placeholder = regexp.MustCompile(`\$\{([^}]*)\}`)

func substitute(t *testing.T, raw []byte) []byte {
	t.Helper()
	return placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(placeholder.FindSubmatch(m)[1])
		arn, ok := exampleArns[name]
		if !ok {
			t.Fatalf("unknown substitution ${%s}", name)
		}
		return []byte(arn)
	})
}

// exampleWant says what a file of examples/ is. Every file must be listed, so that a new
// example is a decision, not an accident.
var exampleWant = map[string]string{
	"orders-v1.asl.json":            "valid",
	"orders-v2.asl.json":            "valid",
	"orders-v2-jsonata.asl.json":    "valid",
	"orders-v3-flaky.asl.json":      "valid",
	"invalid-missing-next.asl.json": "invalid",
	"malformed.asl.json":            "not-json",
	"orders-rollout.json":           "policy",
}

// --- checks that need no node ---------------------------------------------------------

func TestASLControllerPlaceholders(t *testing.T) {
	raw := readFile(t, controllerFile)
	found := map[string]bool{}
	for _, m := range placeholder.FindAllSubmatch(raw, -1) {
		found[string(m[1])] = true
	}
	var got, want []string
	for name := range found {
		got = append(got, name)
	}
	for name := range exampleArns {
		want = append(want, name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("substitutions = %v, want exactly %v (infra/ and local mode fill these)", got, want)
	}
}

func TestASLControllerStructure(t *testing.T) {
	def := parseDefinition(t, substitute(t, readFile(t, controllerFile)))
	for _, p := range graphProblems(def, "") {
		t.Error(p)
	}
}

// TestASLErrorNames keeps ErrorEquals and the controller's error codes together: the
// functions report the code as errorType, so a renamed code silently stops matching.
func TestASLErrorNames(t *testing.T) {
	codes := map[string]bool{}
	for _, code := range controller.Codes {
		codes[code] = true
	}
	for _, want := range []string{controller.ETransient, controller.EInvalidDefinition, controller.ERolledBack} {
		if !codes[want] {
			t.Fatalf("controller.Codes lacks %s", want)
		}
	}
	def := parseDefinition(t, substitute(t, readFile(t, controllerFile)))
	used := 0
	walkStates(def, "", func(path string, s state) {
		for _, h := range s.handlers() {
			for _, name := range h.ErrorEquals {
				used++
				switch {
				case name == "States.Runtime" || name == "States.DataLimitExceeded":
					t.Errorf("%s: %s can be neither retried nor caught", path, name)
				case strings.HasPrefix(name, "States."):
					if !statesErrors[name] {
						t.Errorf("%s: %s is not an error Step Functions raises", path, name)
					}
				case strings.HasPrefix(name, "Lambda."):
				case codes[name]:
				default:
					t.Errorf("%s: ErrorEquals %q is neither States.*, Lambda.* nor a code of controller.Codes", path, name)
				}
			}
		}
	})
	if used == 0 {
		t.Fatal("no ErrorEquals found: the walk is wrong")
	}
}

// statesErrors are the predefined error names of the Amazon States Language.
var statesErrors = map[string]bool{
	"States.ALL": true, "States.HeartbeatTimeout": true, "States.Timeout": true,
	"States.TaskFailed": true, "States.Permissions": true, "States.ResultPathMatchFailure": true,
	"States.ParameterPathFailure": true, "States.QueryEvaluationError": true,
	"States.BranchFailed": true, "States.NoChoiceMatched": true, "States.IntrinsicFailure": true,
	"States.ExceedToleratedFailureThreshold": true, "States.ItemReaderFailed": true,
	"States.ResultWriterFailed": true, "States.Http.Socket": true,
}

// TestASLRetryAndCatch checks what asl-validator does not: the fields of retriers and
// catchers (its schema accepts anything there), and the States.ALL rule.
func TestASLRetryAndCatch(t *testing.T) {
	def := parseDefinition(t, substitute(t, readFile(t, controllerFile)))
	walkStates(def, "", func(path string, s state) {
		for i, raw := range s.Retry {
			var r struct {
				ErrorEquals     []string `json:"ErrorEquals"`
				IntervalSeconds *float64 `json:"IntervalSeconds"`
				MaxAttempts     *int     `json:"MaxAttempts"`
				BackoffRate     *float64 `json:"BackoffRate"`
				MaxDelaySeconds *int     `json:"MaxDelaySeconds"`
				JitterStrategy  string   `json:"JitterStrategy"`
			}
			where := fmt.Sprintf("%s/Retry[%d]", path, i)
			if err := strictUnmarshal(raw, &r); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if r.IntervalSeconds != nil && *r.IntervalSeconds < 1 {
				t.Errorf("%s: IntervalSeconds %v < 1", where, *r.IntervalSeconds)
			}
			if r.BackoffRate != nil && *r.BackoffRate < 1 {
				t.Errorf("%s: BackoffRate %v < 1", where, *r.BackoffRate)
			}
			if r.MaxAttempts != nil && (*r.MaxAttempts < 0 || *r.MaxAttempts > 99999999) {
				t.Errorf("%s: MaxAttempts %d out of range", where, *r.MaxAttempts)
			}
			if r.MaxDelaySeconds != nil && (*r.MaxDelaySeconds < 1 || *r.MaxDelaySeconds > 31622400) {
				t.Errorf("%s: MaxDelaySeconds %d out of range", where, *r.MaxDelaySeconds)
			}
			if r.JitterStrategy != "" && r.JitterStrategy != "FULL" && r.JitterStrategy != "NONE" {
				t.Errorf("%s: JitterStrategy %q, want FULL or NONE", where, r.JitterStrategy)
			}
			if slices.Contains(r.ErrorEquals, "States.Timeout") {
				t.Errorf("%s: retrying States.Timeout would restart a wait that ran out", where)
			}
		}
		for i, raw := range s.Catch {
			var c struct {
				ErrorEquals []string `json:"ErrorEquals"`
				Next        string   `json:"Next"`
				ResultPath  *string  `json:"ResultPath"`
			}
			where := fmt.Sprintf("%s/Catch[%d]", path, i)
			if err := strictUnmarshal(raw, &c); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if c.ResultPath == nil || *c.ResultPath == "$" {
				t.Errorf("%s: a Catch must keep the state and put the error beside it (ResultPath $.error)", where)
			}
		}
		handlers := s.handlers()
		for i, h := range handlers {
			if len(h.ErrorEquals) == 0 {
				t.Errorf("%s: empty ErrorEquals", path)
			}
			if slices.Contains(h.ErrorEquals, "States.ALL") && (len(h.ErrorEquals) != 1 || !h.last) {
				t.Errorf("%s: States.ALL must stand alone in the last retrier or catcher (entry %d)", path, i)
			}
		}
	})
}

// TestASLMatchesGoTypes checks the data paths of the controller against the Go types that
// read and write them: the register payloads against RegisterInput, the Map's results
// against TestResult, the Route choices against the Prepare actions, and every
// $.<field>.<field> against State and its parts.
func TestASLMatchesGoTypes(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(substitute(t, readFile(t, controllerFile)), &doc); err != nil {
		t.Fatal(err)
	}
	states := doc["States"].(map[string]any)

	registerFields := jsonFields(reflect.TypeFor[controller.RegisterInput]())
	waits := map[string]bool{}
	for name, s := range states {
		st := s.(map[string]any)
		params, _ := st["Parameters"].(map[string]any)
		if params["FunctionName"] != exampleArns["RegisterFunctionArn"] {
			continue
		}
		if st["Resource"] != "arn:aws:states:::lambda:invoke.waitForTaskToken" {
			t.Errorf("%s: register is called without .waitForTaskToken", name)
		}
		payload := params["Payload"].(map[string]any)
		for key := range payload {
			if !registerFields[strings.TrimSuffix(key, ".$")] {
				t.Errorf("%s: Payload field %q is not a field of controller.RegisterInput", name, key)
			}
		}
		if payload["taskToken.$"] != "$$.Task.Token" {
			t.Errorf("%s: Payload taskToken.$ = %v, want $$.Task.Token", name, payload["taskToken.$"])
		}
		wait, _ := payload["wait"].(string)
		waits[wait] = true
	}
	if !waits[controller.WaitProgress] || !waits[controller.WaitTurn] || len(waits) != 2 {
		t.Errorf("register waits = %v, want exactly %q and %q", waits, controller.WaitProgress, controller.WaitTurn)
	}

	actions := map[string]bool{}
	for _, c := range states["Route"].(map[string]any)["Choices"].([]any) {
		actions[c.(map[string]any)["StringEquals"].(string)] = true
	}
	if want := map[string]bool{controller.ActionStart: true, controller.ActionQueued: true, controller.ActionDuplicate: true}; !reflect.DeepEqual(actions, want) {
		t.Errorf("Route branches on %v, want the Prepare actions %v", actions, want)
	}

	// Each Map iteration ends in a Pass whose Parameters are one TestResult.
	resultFields := jsonFields(reflect.TypeFor[controller.TestResult]())
	processor := states["PreTraffic"].(map[string]any)["ItemProcessor"].(map[string]any)
	ends := 0
	for name, s := range processor["States"].(map[string]any) {
		st := s.(map[string]any)
		if st["End"] != true {
			continue
		}
		ends++
		params, ok := st["Parameters"].(map[string]any)
		if st["Type"] != "Pass" || !ok {
			t.Errorf("PreTraffic/%s ends an iteration without shaping a TestResult", name)
			continue
		}
		for key := range params {
			if !resultFields[strings.TrimSuffix(key, ".$")] {
				t.Errorf("PreTraffic/%s: %q is not a field of controller.TestResult", name, key)
			}
		}
		if params["name.$"] == nil || params["expect.$"] == nil {
			t.Errorf("PreTraffic/%s: a TestResult needs name and expect", name)
		}
	}
	if ends == 0 {
		t.Error("PreTraffic has no end state")
	}

	// Top-level paths name State fields; the ASL adds only finalize and finalizeError.
	second := map[string]map[string]bool{
		"prepare":  jsonFields(reflect.TypeFor[controller.PrepareResult]()),
		"error":    jsonFields(reflect.TypeFor[controller.TaskError]()),
		"progress": jsonFields(reflect.TypeFor[controller.Outcome]()),
		"finalize": jsonFields(reflect.TypeFor[controller.Outcome]()),
	}
	top := jsonFields(reflect.TypeFor[controller.State]())
	top["finalize"], top["finalizeError"] = true, true
	mapScope := map[string]bool{"run": true, "error": true}
	for key := range states["PreTraffic"].(map[string]any)["ItemSelector"].(map[string]any) {
		mapScope[strings.TrimSuffix(key, ".$")] = true
	}
	mapSecond := map[string]map[string]bool{
		"test":  jsonFields(reflect.TypeFor[controller.TestCase]()),
		"error": second["error"],
	}
	for name, s := range states {
		// A Map's ItemSelector reads the state; its ItemProcessor reads what ItemSelector made.
		outer := map[string]any{}
		for k, v := range s.(map[string]any) {
			if k == "ItemProcessor" {
				checkPaths(t, name+"/ItemProcessor", v, mapScope, mapSecond)
				continue
			}
			outer[k] = v
		}
		checkPaths(t, name, outer, top, second)
	}
}

var pathRef = regexp.MustCompile(`(^|[^$])\$\.([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?`)

// checkPaths finds every $.a.b in v's strings and checks a against first and b against
// second[a]. A ResultSelector reads the service's answer, not the state, and is skipped.
func checkPaths(t *testing.T, where string, v any, first map[string]bool, second map[string]map[string]bool) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k != "ResultSelector" && k != "Comment" {
				checkPaths(t, where, e, first, second)
			}
		}
	case []any:
		for _, e := range v {
			checkPaths(t, where, e, first, second)
		}
	case string:
		for _, m := range pathRef.FindAllStringSubmatch(v, -1) {
			a, b := m[2], m[3]
			if !first[a] {
				t.Errorf("%s: %q names $.%s, which is not a field here", where, v, a)
				continue
			}
			if fields, ok := second[a]; ok && b != "" && !fields[b] {
				t.Errorf("%s: %q names $.%s.%s, which is not a field of the Go type", where, v, a, b)
			}
		}
	}
}

// jsonFields lists the JSON names of a struct's fields, embedded structs flattened.
func jsonFields(t reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k := range jsonFields(f.Type) {
				fields[k] = true
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = true
	}
	return fields
}

// TestASLExamplesStructure runs the Go graph check on the examples: it must pass the valid
// ones and catch the broken one, which shows it catches what it claims to.
func TestASLExamplesStructure(t *testing.T) {
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			want, ok := exampleWant[e.Name()]
			if !ok {
				t.Fatalf("examples/%s is not in exampleWant: say whether it is valid", e.Name())
			}
			raw := readFile(t, filepath.Join(examplesDir, e.Name()))
			switch want {
			case "not-json":
				if json.Valid(raw) {
					t.Error("a malformed example that is valid JSON")
				}
			case "policy":
				var p map[string]any
				if err := strictUnmarshal(raw, &p); err != nil || p["strategy"] == nil {
					t.Errorf("policy example: %v, %v", err, p)
				}
			case "valid":
				for _, p := range graphProblems(parseDefinition(t, raw), "") {
					t.Error(p)
				}
			case "invalid":
				problems := graphProblems(parseDefinition(t, raw), "")
				if len(problems) == 0 {
					t.Error("the graph check found nothing wrong with an invalid example")
				}
				t.Logf("found, as it should: %v", problems)
			}
		})
	}
}

// --- asl-validator ------------------------------------------------------------------------

func TestASLValidator(t *testing.T) {
	node := requireValidator(t)
	run := func(t *testing.T, path string) (string, error) {
		out, err := exec.Command(node, validatorBin, "--json-path", path).CombinedOutput()
		return string(out), err
	}

	t.Run(controllerFile, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), controllerFile)
		if err := os.WriteFile(path, substitute(t, readFile(t, controllerFile)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t, path); err != nil {
			t.Errorf("asl-validator refused the controller: %v\n%s", err, out)
		}
	})
	for name, want := range exampleWant {
		if !strings.HasSuffix(name, ".asl.json") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			out, err := run(t, filepath.Join(examplesDir, name))
			switch want {
			case "valid":
				if err != nil {
					t.Errorf("asl-validator refused a valid example: %v\n%s", err, out)
				}
			case "invalid":
				if err == nil || !strings.Contains(out, "MISSING_TRANSITION_TARGET") {
					t.Errorf("asl-validator should report MISSING_TRANSITION_TARGET; err %v\n%s", err, out)
				}
			case "not-json":
				if err == nil {
					t.Errorf("asl-validator accepted a malformed file:\n%s", out)
				}
			}
		})
	}
}

// requireValidator returns node's path. Without the tools a developer gets a skip, CI a
// failure: CI must test what the README promises.
func requireValidator(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: run `make tools` first)", msg)
		}
		t.Skipf("%s; run `make tools` to lint the ASL with asl-validator", msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(validatorBin); err != nil {
		missing("asl-validator is not installed (%v)", err)
	}
	return node
}

// --- the graph check ----------------------------------------------------------------------

type definition struct {
	StartAt string                     `json:"StartAt"`
	States  map[string]json.RawMessage `json:"States"`
}

type state struct {
	Type    string `json:"Type"`
	Next    string `json:"Next"`
	End     bool   `json:"End"`
	Default string `json:"Default"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Retry         []json.RawMessage `json:"Retry"`
	Catch         []json.RawMessage `json:"Catch"`
	ItemProcessor *definition       `json:"ItemProcessor"`
	Iterator      *definition       `json:"Iterator"`
	Branches      []definition      `json:"Branches"`
}

type handler struct {
	ErrorEquals []string `json:"ErrorEquals"`
	Next        string   `json:"Next"`
	last        bool
}

// handlers are the retriers and then the catchers, each list's last entry marked.
func (s state) handlers() []handler {
	var hs []handler
	for _, list := range [][]json.RawMessage{s.Retry, s.Catch} {
		for i, raw := range list {
			var h handler
			_ = json.Unmarshal(raw, &h) // shapes are checked by TestASLRetryAndCatch
			h.last = i == len(list)-1
			hs = append(hs, h)
		}
	}
	return hs
}

func (s state) children() []definition {
	var defs []definition
	if s.ItemProcessor != nil {
		defs = append(defs, *s.ItemProcessor)
	}
	if s.Iterator != nil {
		defs = append(defs, *s.Iterator)
	}
	return append(defs, s.Branches...)
}

// targets are the states s may go to next, with where each is named.
func (s state) targets() map[string]string {
	out := map[string]string{}
	if s.Next != "" {
		out["Next"] = s.Next
	}
	if s.Default != "" {
		out["Default"] = s.Default
	}
	for i, c := range s.Choices {
		out[fmt.Sprintf("Choices[%d]", i)] = c.Next
	}
	for i, raw := range s.Catch {
		var h handler
		_ = json.Unmarshal(raw, &h)
		out[fmt.Sprintf("Catch[%d]", i)] = h.Next
	}
	return out
}

func parseDefinition(t *testing.T, raw []byte) definition {
	t.Helper()
	var def definition
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return def
}

// graphProblems finds what Step Functions refuses as MISSING_TRANSITION_TARGET and
// unreachable states, in def and in every nested machine, each within its own scope.
func graphProblems(def definition, scope string) []string {
	var problems []string
	states := map[string]state{}
	for name, raw := range def.States {
		var s state
		if err := json.Unmarshal(raw, &s); err != nil {
			problems = append(problems, fmt.Sprintf("%s/%s: %v", scope, name, err))
			continue
		}
		states[name] = s
	}
	if _, ok := states[def.StartAt]; !ok {
		problems = append(problems, fmt.Sprintf("%s: StartAt %q names no state", scope, def.StartAt))
	}
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := states[name]
		where := scope + "/" + name
		terminal := s.Type == "Succeed" || s.Type == "Fail"
		switch {
		case s.Type == "Choice":
			if len(s.Choices) == 0 {
				problems = append(problems, where+": a Choice without Choices")
			}
		case terminal:
			if s.Next != "" || s.End {
				problems = append(problems, where+": Succeed and Fail take neither Next nor End")
			}
		case (s.Next == "") == !s.End:
			problems = append(problems, where+": needs exactly one of Next and End")
		}
		for field, target := range s.targets() {
			if _, ok := states[target]; !ok {
				problems = append(problems, fmt.Sprintf("%s: %s %q names no state in this scope", where, field, target))
			}
		}
		for i, child := range s.children() {
			problems = append(problems, graphProblems(child, fmt.Sprintf("%s[%d]", where, i))...)
		}
	}
	reached := map[string]bool{}
	queue := []string{def.StartAt}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		s, ok := states[name]
		if !ok || reached[name] {
			continue
		}
		reached[name] = true
		for _, target := range s.targets() {
			queue = append(queue, target)
		}
	}
	for _, name := range names {
		if !reached[name] {
			problems = append(problems, fmt.Sprintf("%s/%s: not reachable from StartAt", scope, name))
		}
	}
	return problems
}

func walkStates(def definition, scope string, visit func(path string, s state)) {
	for name, raw := range def.States {
		var s state
		if err := json.Unmarshal(raw, &s); err != nil {
			continue // graphProblems reports it
		}
		path := scope + "/" + name
		visit(path, s)
		for _, child := range s.children() {
			walkStates(child, path, visit)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestASLThrottledIsRetriedForTheLongestDeadline: every task that runs prepare, register or
// finalize retries Throttled in a retrier of its own (so that throttling never spends
// Transient's few attempts), the first that matches it (States.TaskFailed and States.ALL
// match it too), with full jitter, at most MaxDelaySeconds apart, and MaxAttempts enough to
// span the longest rollout deadline: a Throttled answer comes only after the function
// retried for its own time (controller.ThrottledAfter of the function timeout), so
// MaxAttempts of them last at least controller.MaxRolloutTimeout. Throttled is never in a
// list that is not retried (MaxAttempts 0) nor caught before its retries are spent.
func TestASLThrottledIsRetriedForTheLongestDeadline(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(substitute(t, readFile(t, controllerFile)), &doc); err != nil {
		t.Fatal(err)
	}
	functions := map[string]bool{}
	for _, arn := range exampleArns {
		functions[arn] = true
	}
	perAttempt := controller.ThrottledAfter(wiring.Timeout)
	need := int((controller.MaxRolloutTimeout + perAttempt - 1) / perAttempt)
	tasks := 0
	for name, raw := range doc["States"].(map[string]any) {
		st := raw.(map[string]any)
		params, _ := st["Parameters"].(map[string]any)
		if !functions[fmt.Sprint(st["Resource"])] && !functions[fmt.Sprint(params["FunctionName"])] {
			continue
		}
		tasks++
		retry, _ := st["Retry"].([]any)
		found := false
		for i, r := range retry {
			r := r.(map[string]any)
			var names []string
			for _, n := range r["ErrorEquals"].([]any) {
				names = append(names, n.(string))
			}
			matches := slices.Contains(names, "Throttled") || slices.Contains(names, "States.TaskFailed") || slices.Contains(names, "States.ALL")
			if !matches {
				continue
			}
			where := fmt.Sprintf("%s/Retry[%d]", name, i)
			// Lambda's own throttling (the account's concurrency spent, by invocations
			// waiting for Step Functions tokens among others) is retried as long.
			if !slices.Equal(names, []string{"Throttled", "Lambda.TooManyRequestsException"}) {
				t.Errorf("%s %v is the first retrier to match Throttled; want one of its own (with Lambda.TooManyRequestsException) before it", where, names)
				break
			}
			found = true
			if r["JitterStrategy"] != "FULL" {
				t.Errorf("%s: JitterStrategy %v, want FULL: throttled callers must not retry in step", where, r["JitterStrategy"])
			}
			if d, _ := r["MaxDelaySeconds"].(float64); d < 1 || d > 300 {
				t.Errorf("%s: MaxDelaySeconds %v, want a bound of at most a few minutes", where, r["MaxDelaySeconds"])
			}
			if n, _ := r["MaxAttempts"].(float64); int(n) < need {
				t.Errorf("%s: MaxAttempts %v; %d attempts of at least %s each are needed to span %s", where, r["MaxAttempts"], need, perAttempt, controller.MaxRolloutTimeout)
			}
			break
		}
		if !found {
			t.Errorf("%s runs a controller function and does not retry Throttled", name)
		}
		catch, _ := st["Catch"].([]any)
		for i, c := range catch {
			for _, n := range c.(map[string]any)["ErrorEquals"].([]any) {
				if n == "Throttled" {
					t.Errorf("%s/Catch[%d] names Throttled: it is retried, then caught by States.ALL", name, i)
				}
			}
		}
	}
	if tasks != 4 {
		t.Errorf("%d tasks run prepare, register or finalize; want 4 (Prepare, WaitForTurn, Progress, Finalize)", tasks)
	}
}
