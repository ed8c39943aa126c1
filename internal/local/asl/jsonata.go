package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonata "github.com/blues/jsonata-go"
	"github.com/blues/jsonata-go/jlib"
	"github.com/blues/jsonata-go/jtypes"
)

// JSONata states ("QueryLanguage": "JSONata" at the top or on a state), as AWS's guide
// ("Transforming data with JSONata in Step Functions") describes them: Arguments, Output,
// Assign, Choice rules' Condition, Map's Items, and "{% ... %}" expressions in any string of
// those and of TimeoutSeconds, HeartbeatSeconds, Seconds, Timestamp, MaxConcurrency, Error,
// Cause and ItemSelector. $states holds input, result (Task, Parallel, Map: Output and
// Assign), errorOutput (Catchers) and context. An expression that fails at run time, or
// answers nothing or a value of the wrong type, fails the state with
// States.QueryEvaluationError.
//
// The evaluator is github.com/blues/jsonata-go, a port of jsonata-js: no JSONata 2.0
// release exists in Go, and AWS runs 2.0.6. What differs is listed in docs/local.md.
// States using JSONPath never reach this file: their states have no jx.

// ErrQueryEvaluation is a JSONata expression that failed at run time.
const ErrQueryEvaluation = "States.QueryEvaluationError"

// Fields each state type may have in a JSONata state.
var jsonataStateFields = map[string][]string{
	typePass:     {"Next", "End", "Output", "Assign"},
	typeTask:     {"Next", "End", "Resource", "Arguments", "Output", "Assign", "TimeoutSeconds", "HeartbeatSeconds", "Retry", "Catch"},
	typeChoice:   {"Choices", "Default", "Output", "Assign"},
	typeWait:     {"Next", "End", "Seconds", "Timestamp", "Output", "Assign"},
	typeSucceed:  {"Output"},
	typeFail:     {"Error", "Cause"},
	typeParallel: {"Next", "End", "Branches", "Arguments", "Output", "Assign", "Retry", "Catch"},
	typeMap:      {"Next", "End", "Items", "ItemSelector", "ItemProcessor", "Iterator", "MaxConcurrency", "Output", "Assign", "Retry", "Catch", "ItemReader", "ResultWriter", "ItemBatcher", "Label", "ToleratedFailurePercentage", "ToleratedFailureCount"},
}

var (
	jsonPathOnlyFields = map[string]bool{
		"InputPath": true, "OutputPath": true, "ResultPath": true, "Parameters": true, "ResultSelector": true,
		"Result": true, "ItemsPath": true, "TimeoutSecondsPath": true, "HeartbeatSecondsPath": true,
		"SecondsPath": true, "TimestampPath": true, "MaxConcurrencyPath": true, "ErrorPath": true, "CausePath": true,
		"ToleratedFailurePercentagePath": true, "ToleratedFailureCountPath": true,
	}
	jsonataOnlyFields = map[string]bool{"Arguments": true, "Output": true, "Items": true, "Condition": true}
)

// jsonataState is what a JSONata state has beyond the fields both languages share.
type jsonataState struct {
	arguments, output, assign, items, itemSelector *jnode
	values                                         map[string]*jnode // TimeoutSeconds, Seconds, Error, ... given as expressions
	choices                                        []*jsonataRule
}

type jsonataRule struct {
	condition      *jnode
	next           string
	assign, output *jnode
}

type jsonataCatcher struct {
	assign, output *jnode
}

// --- checking ---------------------------------------------------------------------------

// stateJSONata reads a state's QueryLanguage; a state without one takes the definition's.
// The messages of this file marked "(reported)" are AWS's as a public lint of
// CreateStateMachine errors quotes them; they are not confirmed against a recording.
func (c *checker) stateJSONata(o *object, loc string) bool {
	v, ok := o.get("QueryLanguage")
	if !ok {
		return c.topJSONata
	}
	if v == "JSONPath" && c.topJSONata {
		c.schema(loc+"/QueryLanguage", "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine") // (reported)
	}
	return v == "JSONata" || c.topJSONata
}

// otherLanguageField reports a field of the other query language; false if name is not one.
func (c *checker) otherLanguageField(st *state, name, loc string) bool {
	switch {
	case st.jx != nil && jsonPathOnlyFields[name]:
		c.schema(loc, "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", name) // (reported)
	case st.jx == nil && jsonataOnlyFields[name]:
		c.schema(loc, "The QueryLanguage is set to 'JSONPath', but field '%s' is only supported for the 'JSONata' QueryLanguage", name) // (reported)
	default:
		return false
	}
	return true
}

// jsonataAccess says which parts of $states a field may read: AWS refuses a definition that
// reads $states.result or $states.errorOutput where they are not set.
type jsonataAccess struct {
	result, errorOutput bool
}

// jsonataFields checks the fields only JSONata states have.
func (c *checker) jsonataFields(st *state, get getter, loc string) {
	withResult := jsonataAccess{result: st.typ == typeTask || st.typ == typeParallel || st.typ == typeMap}
	if v, ok := get("Arguments"); ok {
		st.jx.arguments = c.compileJSONata(v, loc+"/Arguments", "Arguments", jsonataAccess{})
	}
	if v, ok := get("Output"); ok {
		st.jx.output = c.compileJSONata(v, loc+"/Output", "Output", withResult)
	}
	if v, ok := get("Assign"); ok {
		st.jx.assign = c.compileJSONataAssign(v, loc+"/Assign", withResult)
	}
	if v, ok := get("Items"); ok {
		st.jx.items = c.compileJSONata(v, loc+"/Items", "Items", jsonataAccess{})
	}
}

// jsonataValue compiles a field that takes a constant or, in a JSONata state, an
// expression (TimeoutSeconds, Seconds, Timestamp, MaxConcurrency, Error, Cause). It answers
// whether v was an expression; the caller checks a constant as in JSONPath.
func (c *checker) jsonataValue(st *state, v any, loc string) bool {
	s, ok := v.(string)
	if st.jx == nil || !ok || !c.jsonataString(s, loc) {
		return false
	}
	field := loc[strings.LastIndexByte(loc, '/')+1:]
	if st.jx.values == nil {
		st.jx.values = map[string]*jnode{}
	}
	st.jx.values[field] = c.compileJSONata(s, loc, field, jsonataAccess{})
	return true
}

// jsonataString tells an expression ("{% ... %}") from a plain string, and reports one that
// opens or closes the brackets without the other, or pads them with spaces.
func (c *checker) jsonataString(s, loc string) bool {
	open, closed := strings.HasPrefix(s, "{%"), strings.HasSuffix(s, "%}")
	if open && closed && len(s) >= 4 {
		return true
	}
	t := strings.TrimSpace(s)
	if open || closed || t != s && strings.HasPrefix(t, "{%") && strings.HasSuffix(t, "%}") {
		c.schema(loc, "JSONata string must start with {%% and end with %%}") // (reported)
	}
	return false
}

type jkind uint8

const (
	jLiteral jkind = iota
	jExpr
	jObject
	jArray
)

// jnode is a JSONata template: constants, with "{% ... %}" strings evaluated wherever they
// are in objects and arrays.
type jnode struct {
	kind jkind
	lit  any
	expr *jsonata.Expr
	// applies is set for an expression with `~>`, which the library evaluates by adding
	// its left side to the parse tree's call on the right, for good: a second evaluation
	// of the same tree calls `$uppercase` with two arguments. Such an expression is
	// compiled again for each evaluation.
	applies bool
	src     string // the expression, for messages
	field   string // "Arguments/Input/name", for messages
	fields  []jfield
	items   []*jnode
}

type jfield struct {
	key  string
	node *jnode
}

func (c *checker) compileJSONata(v any, loc, field string, access jsonataAccess) *jnode {
	switch t := v.(type) {
	case string:
		if !c.jsonataString(t, loc) {
			return &jnode{kind: jLiteral, lit: t}
		}
		src := strings.TrimSpace(t[2 : len(t)-2])
		for _, x := range []struct {
			name    string
			allowed bool
		}{{"$states.result", access.result}, {"$states.errorOutput", access.errorOutput}} {
			if !x.allowed && strings.Contains(src, x.name) {
				c.schema(loc, "The JSONata expression '%s' references %s, which is not available in the field '%s'", src, x.name, field) // (unconfirmed)
			}
		}
		expr, err := jsonata.Compile(src)
		if err != nil {
			c.schema(loc, "The JSONata expression '%s' specified for the field '%s' is not valid: %v", src, field, err) // (unconfirmed)
			return &jnode{kind: jLiteral}
		}
		return &jnode{kind: jExpr, expr: expr, applies: strings.Contains(src, "~>"), src: src, field: field}
	case *object:
		n := &jnode{kind: jObject}
		dynamic := false
		for _, k := range t.keys {
			child := c.compileJSONata(t.vals[k], loc+"/"+k, field+"/"+k, access)
			dynamic = dynamic || child.kind != jLiteral
			n.fields = append(n.fields, jfield{key: k, node: child})
		}
		if !dynamic {
			return &jnode{kind: jLiteral, lit: plain(t)}
		}
		return n
	case []any:
		n := &jnode{kind: jArray}
		dynamic := false
		for i, e := range t {
			child := c.compileJSONata(e, loc+"/"+itoa(i), field+"/"+itoa(i), access)
			dynamic = dynamic || child.kind != jLiteral
			n.items = append(n.items, child)
		}
		if !dynamic {
			return &jnode{kind: jLiteral, lit: plain(t)}
		}
		return n
	}
	return &jnode{kind: jLiteral, lit: v}
}

// compileJSONataAssign checks a JSONata Assign: keys name variables, values are templates.
func (c *checker) compileJSONataAssign(v any, loc string, access jsonataAccess) *jnode {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "The value for the field 'Assign' must be an OBJECT")
		return nil
	}
	for _, k := range o.keys {
		c.assignName(k, loc+"/"+k)
	}
	return c.compileJSONata(o, loc, "Assign", access)
}

// jsonataRule checks a rule of a JSONata Choice state: Condition, Next, Assign, Output.
func (c *checker) jsonataRule(st *state, v any, loc string) {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return
	}
	r := &jsonataRule{}
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "Comment":
			c.expectString(val, kloc)
		case "Next":
			if s, ok := c.expectString(val, kloc); ok {
				r.next = s
				st.targets = append(st.targets, target{s, "Next", kloc})
			}
		case "Condition":
			if b, ok := val.(bool); ok {
				r.condition = &jnode{kind: jLiteral, lit: b}
			} else if s, ok := val.(string); ok && c.jsonataString(s, kloc) {
				r.condition = c.compileJSONata(s, kloc, "Condition", jsonataAccess{})
			} else {
				c.schema(kloc, "The value for the field 'Condition' must be a JSONata expression or a boolean") // (unconfirmed)
			}
		case "Assign":
			r.assign = c.compileJSONataAssign(val, kloc, jsonataAccess{})
		case "Output":
			r.output = c.compileJSONata(val, kloc, "Output", jsonataAccess{})
		default:
			if _, isOp := operators[k]; isOp || k == "Variable" || k == "And" || k == "Or" || k == "Not" {
				c.schema(kloc, "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", k) // (reported)
				continue
			}
			c.schema(kloc, "The field \"%s\" is not supported by Step Functions", k)
		}
	}
	var missing []string
	if r.condition == nil {
		if _, has := o.get("Condition"); !has {
			missing = append(missing, "Condition")
		}
	}
	if _, has := o.get("Next"); !has {
		missing = append(missing, "Next")
	}
	if len(missing) > 0 {
		c.schema(loc, "These fields are required: [%s]", strings.Join(missing, ", "))
	}
	st.jx.choices = append(st.jx.choices, r)
}

func (c *checker) jsonataCatcher(o *object, loc string) *jsonataCatcher {
	k := &jsonataCatcher{}
	access := jsonataAccess{errorOutput: true}
	if v, ok := o.get("Assign"); ok {
		k.assign = c.compileJSONataAssign(v, loc+"/Assign", access)
	}
	if v, ok := o.get("Output"); ok {
		k.output = c.compileJSONata(v, loc+"/Output", "Output", access)
	}
	return k
}

// --- running ----------------------------------------------------------------------------

// jenv is what a JSONata state's expressions see: $states and the variables.
type jenv struct {
	e           *execution
	sr          *stateRun
	input       any
	result      any
	hasResult   bool
	errorOutput any
	hasError    bool
	bindings    map[string]any // built on first use
}

func (e *execution) jenv(input any, sr *stateRun) *jenv { return &jenv{e: e, sr: sr, input: input} }

// setResult makes $states.result the task's or sub-workflows' result, for Output and Assign.
func (env *jenv) setResult(v any) {
	env.result, env.hasResult = v, true
	env.bindings = nil
}

func (env *jenv) bind() map[string]any {
	if env.bindings != nil {
		return env.bindings
	}
	states := map[string]any{
		"input":   toJSONata(env.input),
		"context": toJSONata(env.e.contextObject(env.sr)),
	}
	if env.hasResult {
		states["result"] = toJSONata(env.result)
	}
	if env.hasError {
		states["errorOutput"] = toJSONata(env.errorOutput)
	}
	b := map[string]any{}
	var scopes []*varScope
	for s := env.sr.vars; s != nil; s = s.parent {
		scopes = append(scopes, s)
	}
	for i := len(scopes) - 1; i >= 0; i-- { // inner scopes last: theirs win
		for name, v := range scopes[i].vals {
			b[name] = toJSONata(v)
		}
	}
	for name, fn := range stepFunctionsFunctions {
		b[name] = fn
	}
	b["random"] = randomFunc{env: env}
	b["uuid"] = uuidFunc{env: env}
	ms := env.e.rt.Now().UnixMilli()
	b["now"] = nowFunc{ms: ms}
	b["millis"] = millisFunc{ms: ms}
	b["states"] = states
	env.bindings = b
	return b
}

func queryFailure(format string, a ...any) *Failure {
	return &Failure{Name: ErrQueryEvaluation, Cause: fmt.Sprintf(format, a...)}
}

func (n *jnode) eval(env *jenv) (any, *Failure) {
	switch n.kind {
	case jLiteral:
		return n.lit, nil
	case jExpr:
		return env.evalExpr(n)
	case jArray:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			v, f := it.eval(env)
			if f != nil {
				return nil, f
			}
			out[i] = v
		}
		return out, nil
	}
	out := make(map[string]any, len(n.fields))
	for _, fl := range n.fields {
		v, f := fl.node.eval(env)
		if f != nil {
			return nil, f
		}
		out[fl.key] = v
	}
	return out, nil
}

// jsonataMu makes one JSONata evaluation at a time, in the whole process. The library is
// not safe for concurrent evaluation: its built-in functions are values shared by every
// expression, and each call first sets the function's context (what a path step hands to
// `s.$uppercase()`) on that shared value, so concurrent Map iterations, Parallel branches
// and executions read each other's values (TestJSONataConcurrentEvaluations); `~>` also
// rewrites the shared parse tree. An evaluation takes microseconds, and what it calls back
// (the execution's random source) takes no lock that is held around an evaluation.
var jsonataMu sync.Mutex

func (env *jenv) evalExpr(n *jnode) (v any, f *Failure) {
	defer func() {
		if r := recover(); r != nil {
			f = queryFailure("The JSONata expression '%s' specified for the field '%s' threw an error during evaluation: %v", n.src, n.field, r) // (unconfirmed)
		}
	}()
	x := *n.expr // the compiled expression is shared by concurrent executions: bind a copy
	if n.applies {
		fresh, err := jsonata.Compile(n.src)
		if err != nil { // it compiled when the definition was parsed
			return nil, queryFailure("The JSONata expression '%s' specified for the field '%s' is not valid: %v", n.src, n.field, err) // (unconfirmed)
		}
		x = *fresh
	}
	jsonataMu.Lock()
	defer jsonataMu.Unlock()
	if err := x.RegisterVars(env.bind()); err != nil {
		return nil, queryFailure("The JSONata expression '%s' specified for the field '%s' could not be given its variables: %v", n.src, n.field, err) // (unconfirmed)
	}
	out, err := x.Eval(nil)
	switch {
	case errors.Is(err, jsonata.ErrUndefined):
		// AWS: "The JSONata expression '$states.input.pushLocation' specified for the field
		// 'Arguments/Input/pushLocation' returned nothing (undefined)."
		return nil, queryFailure("The JSONata expression '%s' specified for the field '%s' returned nothing (undefined).", n.src, n.field)
	case err != nil:
		return nil, queryFailure("The JSONata expression '%s' specified for the field '%s' threw an error during evaluation: %v", n.src, n.field, err) // (unconfirmed)
	}
	v, err = fromJSONata(reflect.ValueOf(out))
	if err != nil {
		return nil, queryFailure("The JSONata expression '%s' specified for the field '%s' returned %v", n.src, n.field, err) // (unconfirmed)
	}
	return v, nil
}

// toJSONata makes a run-time value one the evaluator computes with: numbers as float64, as
// JavaScript's (so integers beyond 2^53 lose precision, as on AWS).
func toJSONata(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(t), 64)
		return f
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = toJSONata(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = toJSONata(e)
		}
		return a
	}
	return v
}

// fromJSONata turns what the evaluator answers (any slice, map or number type) back into
// a run-time value.
func fromJSONata(v reflect.Value) (any, error) {
	v = jtypes.Resolve(v)
	if !v.IsValid() {
		return nil, nil
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Float32, reflect.Float64:
		return jsNumber(v.Float())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intValue(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			e, err := fromJSONata(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, errors.New("an object with keys that are not strings")
		}
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			e, err := fromJSONata(iter.Value())
			if err != nil {
				return nil, err
			}
			out[iter.Key().String()] = e
		}
		return out, nil
	}
	if _, ok := jtypes.AsCallable(v); ok {
		return nil, errors.New("a function, which is not JSON")
	}
	return nil, fmt.Errorf("a value that is not JSON (%s)", v.Type())
}

// jsNumber writes a float64 as JavaScript's JSON.stringify does.
func jsNumber(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("a number JSON cannot hold")
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), nil
	}
	b, _ := json.Marshal(f)
	return json.Number(b), nil
}

// --- the functions Step Functions adds ------------------------------------------------------

// stepFunctionsFunctions are the JSONata counterparts of intrinsics that AWS adds; $random
// and $uuid draw from the execution's generator and are bound per evaluation. Numbers that
// must be integers are rounded down, as AWS documents for JSONata's built-in functions.
var stepFunctionsFunctions = map[string]jtypes.Callable{
	"partition": awsFunc{"partition", 2, func(args []any) (any, error) {
		return fnArrayPartition(nil, nil, []any{args[0], floorArg(args[1])})
	}},
	"range": awsFunc{"range", 3, func(args []any) (any, error) {
		return fnArrayRange(nil, nil, []any{floorArg(args[0]), floorArg(args[1]), floorArg(args[2])})
	}},
	"hash": awsFunc{"hash", 2, func(args []any) (any, error) { return fnHash(nil, nil, args) }},
	"parse": awsFunc{"parse", 1, func(args []any) (any, error) {
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("the argument must be a string, not %s", typeName(args[0]))
		}
		v, err := decodeValue([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("the argument is not JSON: %v", err)
		}
		return v, nil
	}},
}

func floorArg(v any) any {
	if f, ok := float(v); ok {
		return json.Number(strconv.FormatFloat(math.Floor(f), 'f', -1, 64))
	}
	return v
}

// awsFunc is a function of a fixed number of arguments over run-time values.
type awsFunc struct {
	name  string
	arity int
	fn    func(args []any) (any, error)
}

func (f awsFunc) Name() string    { return f.name }
func (f awsFunc) ParamCount() int { return f.arity }

func (f awsFunc) Call(argv []reflect.Value) (reflect.Value, error) {
	if len(argv) != f.arity {
		return reflect.Value{}, fmt.Errorf("$%s takes %d arguments, not %d", f.name, f.arity, len(argv))
	}
	args, err := callArgs(f.name, argv)
	if err != nil {
		return reflect.Value{}, err
	}
	out, err := f.fn(args)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("$%s: %w", f.name, err)
	}
	return reflect.ValueOf(toJSONata(out)), nil
}

func callArgs(name string, argv []reflect.Value) ([]any, error) {
	args := make([]any, len(argv))
	for i, a := range argv {
		if !jtypes.Resolve(a).IsValid() {
			return nil, fmt.Errorf("$%s: argument %d is undefined", name, i+1)
		}
		v, err := fromJSONata(a)
		if err != nil {
			return nil, fmt.Errorf("$%s: argument %d is %v", name, i+1, err)
		}
		args[i] = v
	}
	return args, nil
}

// randomFunc is $random([seed]): 0 ≤ n < 1; the same seed gives the same number.
type randomFunc struct{ env *jenv }

func (randomFunc) Name() string    { return "random" }
func (randomFunc) ParamCount() int { return 1 }

func (f randomFunc) Call(argv []reflect.Value) (reflect.Value, error) {
	if len(argv) > 1 {
		return reflect.Value{}, fmt.Errorf("$random takes at most 1 argument, not %d", len(argv))
	}
	if len(argv) == 1 && jtypes.Resolve(argv[0]).IsValid() {
		args, err := callArgs("random", argv)
		if err != nil {
			return reflect.Value{}, err
		}
		seed, ok := float(args[0])
		if !ok {
			return reflect.Value{}, fmt.Errorf("$random: the seed must be a number, not %s", typeName(args[0]))
		}
		s := uint64(int64(math.Floor(seed)))
		return reflect.ValueOf(rand.New(rand.NewPCG(s, s)).Float64()), nil
	}
	var n float64
	f.env.e.withRand(func(r *rand.Rand) { n = r.Float64() })
	return reflect.ValueOf(n), nil
}

// uuidFunc is $uuid(): a version 4 UUID from the execution's generator.
type uuidFunc struct{ env *jenv }

func (uuidFunc) Name() string    { return "uuid" }
func (uuidFunc) ParamCount() int { return 0 }

func (f uuidFunc) Call(argv []reflect.Value) (reflect.Value, error) {
	if len(argv) != 0 {
		return reflect.Value{}, fmt.Errorf("$uuid takes no arguments, not %d", len(argv))
	}
	v, err := fnUUID(nil, &evalEnv{rand: f.env.e.withRand}, nil)
	if err != nil {
		return reflect.Value{}, err
	}
	return reflect.ValueOf(v), nil
}

// nowFunc is $now([picture [, timezone]]) and millisFunc $millis() on the execution's clock
// (virtual in local mode), so that they agree with $states.context's times; the library's
// read the wall clock. As jsonata-js reads the clock once per evaluation, both are read once
// for the fields a state evaluates together.
type nowFunc struct{ ms int64 }

func (nowFunc) Name() string    { return "now" }
func (nowFunc) ParamCount() int { return 2 }

func (f nowFunc) Call(argv []reflect.Value) (reflect.Value, error) {
	if len(argv) > 2 {
		return reflect.Value{}, fmt.Errorf("$now takes at most 2 arguments, not %d", len(argv))
	}
	var opts [2]jtypes.OptionalString // picture, timezone
	for i, a := range argv {
		a = jtypes.Resolve(a)
		if !a.IsValid() {
			continue
		}
		s, ok := jtypes.AsString(a)
		if !ok {
			return reflect.Value{}, fmt.Errorf("$now: argument %d must be a string", i+1)
		}
		opts[i] = jtypes.NewOptionalString(s)
	}
	s, err := jlib.FromMillis(f.ms, opts[0], opts[1])
	if err != nil {
		return reflect.Value{}, fmt.Errorf("$now: %w", err)
	}
	return reflect.ValueOf(s), nil
}

type millisFunc struct{ ms int64 }

func (millisFunc) Name() string    { return "millis" }
func (millisFunc) ParamCount() int { return 0 }

func (f millisFunc) Call(argv []reflect.Value) (reflect.Value, error) {
	if len(argv) != 0 {
		return reflect.Value{}, fmt.Errorf("$millis takes no arguments, not %d", len(argv))
	}
	return reflect.ValueOf(float64(f.ms)), nil
}

// --- states ----------------------------------------------------------------------------

// runJSONata runs a JSONata state: Task, Parallel and Map under their Retry and Catch.
func (e *execution) runJSONata(ctx context.Context, st *state, raw any, sr *stateRun) (any, string, *Failure) {
	jx := st.jx
	switch st.typ {
	case typePass, typeSucceed:
		env := e.jenv(raw, sr)
		out, f := e.jsonataFinish(jx.assign, jx.output, env, raw)
		next := st.next
		if st.typ == typeSucceed {
			next = ""
		}
		return out, next, f
	case typeFail:
		env := e.jenv(raw, sr)
		out := &Failure{Name: st.failError, Cause: st.failCause}
		for _, x := range []struct {
			field string
			dst   *string
		}{{"Error", &out.Name}, {"Cause", &out.Cause}} {
			if n := jx.values[x.field]; n != nil {
				v, f := n.eval(env)
				if f != nil {
					return nil, "", f
				}
				s, ok := v.(string)
				if !ok {
					return nil, "", queryFailure("The JSONata expression '%s' specified for the field '%s' returned %s, not a string", n.src, x.field, typeName(v)) // (unconfirmed)
				}
				*x.dst = s
			}
		}
		return nil, "", out
	case typeWait:
		return e.jsonataWait(ctx, st, raw, sr)
	case typeChoice:
		return e.jsonataChoice(st, raw, sr)
	case typeTask:
		return e.withRetry(ctx, st, raw, sr, func() (any, *Failure) { return e.jsonataTask(ctx, st, raw, sr) })
	case typeParallel:
		return e.withRetry(ctx, st, raw, sr, func() (any, *Failure) {
			env := e.jenv(raw, sr)
			input, f := evalOr(jx.arguments, env, raw)
			if f != nil {
				return nil, f
			}
			results, f := e.runBranches(ctx, st, input, sr)
			if f != nil {
				return nil, f
			}
			env.setResult(results)
			return e.jsonataFinish(jx.assign, jx.output, env, results)
		})
	case typeMap:
		return e.withRetry(ctx, st, raw, sr, func() (any, *Failure) { return e.jsonataMap(ctx, st, raw, sr) })
	}
	return nil, "", runtimeFailure("unknown state type %s", st.typ)
}

// evalOr evaluates n, or answers def when the state has no such field.
func evalOr(n *jnode, env *jenv, def any) (any, *Failure) {
	if n == nil {
		return def, nil
	}
	return n.eval(env)
}

// jsonataFinish evaluates Assign and Output side by side (neither sees the other's
// values): the variables are staged, the output answered (def when there is no Output).
func (e *execution) jsonataFinish(assign, output *jnode, env *jenv, def any) (any, *Failure) {
	if assign != nil {
		v, f := assign.eval(env)
		if f != nil {
			return nil, f
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, queryFailure("The field 'Assign' must evaluate to an object, not %s", typeName(v))
		}
		if f := e.stageAssign(m, env.sr); f != nil {
			return nil, f
		}
	}
	return evalOr(output, env, def)
}

func (e *execution) jsonataCatch(c *catcher, raw, errOut any, sr *stateRun) (any, *Failure) {
	env := e.jenv(raw, sr)
	env.errorOutput, env.hasError = errOut, true
	if c.jx == nil {
		return errOut, nil
	}
	return e.jsonataFinish(c.jx.assign, c.jx.output, env, errOut)
}

// jsonataInt evaluates a field that must be a whole number in [lo, 99999999].
func jsonataInt(n *jnode, env *jenv, field string, lo int64) (int64, *Failure) {
	v, f := n.eval(env)
	if f != nil {
		return 0, f
	}
	i, ok := integer(v)
	if !ok || i < lo || i > 99999999 {
		return 0, queryFailure("The JSONata expression '%s' specified for the field '%s' returned %s, not an integer from %d to 99999999", n.src, field, encodeString(v), lo) // (unconfirmed)
	}
	return i, nil
}

func (e *execution) jsonataWait(ctx context.Context, st *state, raw any, sr *stateRun) (any, string, *Failure) {
	jx := st.jx
	env := e.jenv(raw, sr)
	var d time.Duration
	switch {
	case jx.values["Seconds"] != nil:
		n, f := jsonataInt(jx.values["Seconds"], env, "Seconds", 0)
		if f != nil {
			return nil, "", f
		}
		d = time.Duration(n) * time.Second
	case jx.values["Timestamp"] != nil:
		n := jx.values["Timestamp"]
		v, f := n.eval(env)
		if f != nil {
			return nil, "", f
		}
		t, ok := parseTimestamp(v)
		if !ok {
			return nil, "", queryFailure("The JSONata expression '%s' specified for the field 'Timestamp' returned %s, not an ISO-8601 extended offset date-time", n.src, encodeString(v)) // (unconfirmed)
		}
		d = t.Sub(e.rt.Now())
	case st.hasSeconds:
		d = time.Duration(st.seconds) * time.Second
	case st.hasTimestamp:
		d = st.timestamp.Sub(e.rt.Now())
	}
	out, f := e.jsonataFinish(jx.assign, jx.output, env, raw)
	if f != nil {
		return nil, "", f
	}
	if d > 0 {
		if err := e.rt.Sleep(ctx, d); err != nil {
			return nil, "", e.aborted(ctx)
		}
	}
	return out, st.next, nil
}

// jsonataChoice takes the first rule whose Condition is true, with its Assign and Output;
// with none, Default with the state's (as for JSONPath, after LocalStack's recordings).
func (e *execution) jsonataChoice(st *state, raw any, sr *stateRun) (any, string, *Failure) {
	env := e.jenv(raw, sr)
	for _, r := range st.jx.choices {
		v, f := r.condition.eval(env)
		if f != nil {
			return nil, "", f
		}
		b, ok := v.(bool)
		if !ok {
			return nil, "", queryFailure("The JSONata expression '%s' specified for the field 'Condition' returned %s, not a boolean", r.condition.src, encodeString(v)) // (unconfirmed)
		}
		if b {
			out, f := e.jsonataFinish(r.assign, r.output, env, raw)
			return out, r.next, f
		}
	}
	if st.defaultNext == "" {
		return nil, "", &Failure{Name: ErrNoChoiceMatched, Cause: "No Matches!"}
	}
	out, f := e.jsonataFinish(st.jx.assign, st.jx.output, env, raw)
	return out, st.defaultNext, f
}

func (e *execution) jsonataTask(ctx context.Context, st *state, raw any, sr *stateRun) (any, *Failure) {
	jx := st.jx
	sr.token = ""
	if st.resourceKind == resWaitForToken {
		sr.token = e.rt.NewTaskToken()
	}
	env := e.jenv(raw, sr)
	args, f := evalOr(jx.arguments, env, raw)
	if f != nil {
		return nil, f
	}
	timeout, heartbeat := st.timeoutSeconds, st.heartbeatSeconds
	if n := jx.values["TimeoutSeconds"]; n != nil {
		if timeout, f = jsonataInt(n, env, "TimeoutSeconds", 1); f != nil {
			return nil, f
		}
	}
	if n := jx.values["HeartbeatSeconds"]; n != nil {
		if heartbeat, f = jsonataInt(n, env, "HeartbeatSeconds", 1); f != nil {
			return nil, f
		}
	}
	result, f := e.invokeTask(ctx, st, args, timeout, heartbeat, sr)
	if f != nil {
		return nil, f
	}
	env.setResult(result)
	return e.jsonataFinish(jx.assign, jx.output, env, result)
}

func (e *execution) jsonataMap(ctx context.Context, st *state, raw any, sr *stateRun) (any, *Failure) {
	jx := st.jx
	env := e.jenv(raw, sr)
	itemsVal, f := evalOr(jx.items, env, raw)
	if st.dist != nil && st.dist.reader != nil {
		itemsVal, f = st.dist.reader.read(ctx, e.rt, nil, env, nil)
	}
	if f != nil {
		return nil, f
	}
	items, ok := itemsVal.([]any)
	if !ok {
		if jx.items != nil && jx.items.kind == jExpr {
			return nil, queryFailure("The JSONata expression '%s' specified for the field 'Items' returned %s, not an array", jx.items.src, typeName(itemsVal)) // (unconfirmed)
		}
		return nil, runtimeFailure("The Map state's items must be an array, not %s: %s", typeName(itemsVal), encodeString(itemsVal))
	}
	limit := st.maxConcurrency
	if n := jx.values["MaxConcurrency"]; n != nil {
		if limit, f = jsonataInt(n, env, "MaxConcurrency", 0); f != nil {
			return nil, f
		}
	}
	var selector func(i int, item any) (any, *Failure)
	if jx.itemSelector != nil {
		selector = func(i int, item any) (any, *Failure) {
			isr := &stateRun{name: sr.name, entered: sr.entered, retryCount: sr.retryCount, mapItem: &mapItem{index: i, value: item}, vars: sr.vars}
			return jx.itemSelector.eval(e.jenv(raw, isr))
		}
	}
	var results any
	if st.dist != nil {
		p, f := st.dist.plan(limit, nil, env, nil)
		if f != nil {
			return nil, f
		}
		to, f := st.dist.writer.target(nil, env)
		if f != nil {
			return nil, f
		}
		results, f = e.runDistributed(ctx, st, items, p, selector, to)
		if f != nil {
			return nil, f
		}
	} else if results, f = e.runItems(ctx, st, items, limit, selector, sr); f != nil {
		return nil, f
	}
	env.setResult(results)
	return e.jsonataFinish(jx.assign, jx.output, env, results)
}
