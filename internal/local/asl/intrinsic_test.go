package asl

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// evalIntrinsic parses and evaluates an intrinsic call against input.
func evalIntrinsic(t testing.TB, expr, input string, rnd *rand.Rand) (any, *Failure, error) {
	t.Helper()
	call, err := parseIntrinsic(expr)
	if err != nil {
		return nil, nil, err
	}
	in, derr := decodeValue([]byte(input))
	if derr != nil {
		t.Fatalf("input: %v", derr)
	}
	env := &evalEnv{
		input:   in,
		context: func() any { return map[string]any{"Execution": map[string]any{"Name": "exec-1"}} },
		field:   "x.$",
		rand:    func(fn func(*rand.Rand)) { fn(rnd) },
	}
	v, f := call.eval(env)
	return v, f, nil
}

func TestIntrinsics(t *testing.T) {
	const input = `{"a":1,"b":2,"s":"hello","arr":[1,2,3,2,1],"objs":[{"x":1},{"x":1},{"x":2}],"obj1":{"a":1,"b":{"c":1}},"obj2":{"b":{"d":2},"e":3},
		"json":"{\"k\":[1,2]}","big":9007199254740993,"neg":-5,"f":1.5,"csv":"a,b;c","none":null,"t":true,"tmpl":"{} + {}","empty":""}`
	tests := []struct {
		name, expr, want string // want: JSON
	}{
		{"Format", `States.Format('Hello, {}!', $.s)`, `"Hello, hello!"`},
		{"Format with several values of every kind", `States.Format('{} {} {} {} {}', $.a, $.f, $.t, $.none, 'str')`, `"1 1.5 true null str"`},
		{"Format an object and an array as Java does", `States.Format('{} {}', $.obj1, $.arr)`, `"{a=1, b={c=1}} [1, 2, 3, 2, 1]"`},
		{"Format with escaped braces and quotes", `States.Format('\{\} {} it\'s \\ done', $.a)`, `"{} 1 it's \\ done"`},
		{"Format with a template from a path", `States.Format($.tmpl, $.a, $.b)`, `"1 + 2"`},
		{"Format nested call", `States.Format('n={}', States.ArrayLength($.arr))`, `"n=5"`},
		{"Format from the context object", `States.Format('{}', $$.Execution.Name)`, `"exec-1"`},
		{"StringToJson", `States.StringToJson($.json)`, `{"k":[1,2]}`},
		{"StringToJson literal", `States.StringToJson('{"n":1}')`, `{"n":1}`},
		{"StringToJson of an empty string is null, as on AWS", `States.StringToJson('')`, `null`},
		{"StringToJson of an empty string from a path", `States.StringToJson($.empty)`, `null`},
		{"JsonToString", `States.JsonToString($.obj1)`, `"{\"a\":1,\"b\":{\"c\":1}}"`},
		{"Array", `States.Array($.a, 'two', 3, true, null, $.obj1.b)`, `[1,"two",3,true,null,{"c":1}]`},
		{"Array empty", `States.Array()`, `[]`},
		{"ArrayPartition", `States.ArrayPartition($.arr, 2)`, `[[1,2],[3,2],[1]]`},
		{"ArrayPartition bigger chunk", `States.ArrayPartition($.arr, 10)`, `[[1,2,3,2,1]]`},
		{"ArrayPartition empty", `States.ArrayPartition(States.Array(), 3)`, `[]`},
		{"ArrayContains true", `States.ArrayContains($.arr, 3)`, `true`},
		{"ArrayContains false", `States.ArrayContains($.arr, 4)`, `false`},
		{"ArrayContains an object", `States.ArrayContains($.objs, $.objs[2])`, `true`},
		{"ArrayRange", `States.ArrayRange(1, 9, 2)`, `[1,3,5,7,9]`},
		{"ArrayRange rounds", `States.ArrayRange(0.6, 3.4, 1.5)`, `[1,3]`},
		{"ArrayRange wrong direction", `States.ArrayRange(1, 0, 1)`, `[]`},
		{"ArrayGetItem", `States.ArrayGetItem($.arr, 2)`, `3`},
		{"ArrayGetItem index from a path", `States.ArrayGetItem($.arr, $.a)`, `2`},
		{"ArrayLength", `States.ArrayLength($.arr)`, `5`},
		{"ArrayUnique", `States.ArrayUnique($.arr)`, `[1,2,3]`},
		{"ArrayUnique objects", `States.ArrayUnique($.objs)`, `[{"x":1},{"x":2}]`},
		{"Base64Encode", `States.Base64Encode('Data to encode')`, `"RGF0YSB0byBlbmNvZGU="`},
		{"Base64Decode", `States.Base64Decode('RGF0YSB0byBlbmNvZGU=')`, `"Data to encode"`},
		{"Hash MD5", `States.Hash($.s, 'MD5')`, `"5d41402abc4b2a76b9719d911017c592"`},
		{"Hash SHA-1", `States.Hash($.s, 'SHA-1')`, `"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"`},
		{"Hash SHA-256", `States.Hash($.s, 'SHA-256')`, `"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`},
		{"Hash SHA-384", `States.Hash($.s, 'SHA-384')`, `"59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f"`},
		{"Hash SHA-512", `States.Hash($.s, 'SHA-512')`, `"9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"`},
		{"JsonMerge is shallow", `States.JsonMerge($.obj1, $.obj2, false)`, `{"a":1,"b":{"d":2},"e":3}`},
		{"MathRandom with a seed repeats", `States.Array(States.MathRandom(1, 1000, 7), States.MathRandom(1, 1000, 7))`, ``},
		{"MathAdd", `States.MathAdd($.a, $.neg)`, `-4`},
		{"MathAdd literals", `States.MathAdd(111, -1)`, `110`},
		{"MathAdd beyond float precision", `States.MathAdd($.big, 0)`, `9007199254740993`},
		{"MathAdd rounds like Java", `States.MathAdd(1.5, -2.5)`, `0`},
		{"MathRandom rounds its bounds", `States.MathRandom(0.6, 1.6)`, `1`},
		{"StringSplit", `States.StringSplit('1,2,3', ',')`, `["1","2","3"]`},
		{"StringSplit several delimiters", `States.StringSplit($.csv, ',;')`, `["a","b","c"]`},
		{"StringSplit drops empty parts", `States.StringSplit(',a,,b,', ',')`, `["a","b"]`},
		{"spaces around arguments", `States.Array( 1 ,  $.a , 'x' )`, `[1,1,"x"]`},
		{"a path with brackets and a comma in a name", `States.Array($['a'], $.arr[0])`, `[1,1]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, f, err := evalIntrinsic(t, tc.expr, input, rand.New(rand.NewPCG(1, 1)))
			if err != nil || f != nil {
				t.Fatalf("parse %v, eval %v", err, f)
			}
			if tc.want == "" { // seeded MathRandom: both draws equal and in range
				a := v.([]any)
				if encodeString(a[0]) != encodeString(a[1]) {
					t.Fatalf("seeded draws differ: %v", a)
				}
				n, _ := integer(a[0])
				if n < 1 || n >= 1000 {
					t.Fatalf("draw %d out of [1,1000)", n)
				}
				return
			}
			if got := encodeString(v); got != canon(t, tc.want) {
				t.Fatalf("got %s, want %s", got, canon(t, tc.want))
			}
		})
	}
}

func TestIntrinsicRandomAndUUID(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	seen := map[int64]bool{}
	for range 500 {
		v, f, err := evalIntrinsic(t, `States.MathRandom(0, 10)`, `{}`, rnd)
		if err != nil || f != nil {
			t.Fatal(err, f)
		}
		n, _ := integer(v)
		if n < 0 || n >= 10 {
			t.Fatalf("draw %d out of [0,10)", n)
		}
		seen[n] = true
	}
	if len(seen) != 10 {
		t.Fatalf("draws cover %d of 10 values", len(seen))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, _, _ := evalIntrinsic(t, `States.UUID()`, `{}`, rand.New(rand.NewPCG(5, 6)))
	b, _, _ := evalIntrinsic(t, `States.UUID()`, `{}`, rand.New(rand.NewPCG(5, 6)))
	c, _, _ := evalIntrinsic(t, `States.UUID()`, `{}`, rand.New(rand.NewPCG(7, 8)))
	if !uuid.MatchString(a.(string)) || a != b || a == c {
		t.Fatalf("UUIDs %v %v %v", a, b, c)
	}
}

func TestIntrinsicFailures(t *testing.T) {
	const input = `{"s":"x","arr":[1,2],"obj":{"a":1},"n":1.5,"big":"` + "" + `"}`
	long := strings.Repeat("a", 10001)
	tests := []struct {
		name, expr, cause string
	}{
		{"Format placeholder count", `States.Format('{} {}', 1)`, "2 placeholders but 1 values"},
		{"Format too many values", `States.Format('{}', 1, 2)`, "1 placeholders but 2 values"},
		{"Format template not a string", `States.Format($.arr)`, "must be a string"},
		{"Format unescaped brace", `States.Format('a { b')`, "unescaped"},
		{"StringToJson not JSON", `States.StringToJson('{nope')`, "not JSON"},
		{"StringToJson not a string", `States.StringToJson($.arr)`, "must be a string"},
		{"ArrayPartition chunk 0", `States.ArrayPartition($.arr, 0)`, "positive"},
		{"ArrayPartition chunk not an integer", `States.ArrayPartition($.arr, 1.5)`, "integer"},
		{"ArrayPartition not an array", `States.ArrayPartition($.s, 1)`, "array"},
		{"ArrayContains not an array", `States.ArrayContains($.obj, 1)`, "array"},
		{"ArrayRange step 0", `States.ArrayRange(1, 5, 0)`, "step"},
		{"ArrayRange negative step", `States.ArrayRange(5, 1, -1)`, "step"},
		{"ArrayRange too long", `States.ArrayRange(1, 2000, 1)`, "1000"},
		{"ArrayRange not numbers", `States.ArrayRange(1, $.s, 1)`, "number"},
		{"ArrayGetItem out of range", `States.ArrayGetItem($.arr, 2)`, "out of bounds"},
		{"ArrayGetItem negative", `States.ArrayGetItem($.arr, -1)`, "out of bounds"},
		{"ArrayLength not an array", `States.ArrayLength($.s)`, "array"},
		{"ArrayUnique not an array", `States.ArrayUnique($.obj)`, "array"},
		{"Base64Encode too long", `States.Base64Encode('` + long + `')`, "10000"},
		{"Base64Encode not a string", `States.Base64Encode($.arr)`, "must be a string"},
		{"Base64Decode not base64", `States.Base64Decode('***')`, "not base64"},
		{"Hash unknown algorithm", `States.Hash('x', 'SHA-3')`, "SHA-3"},
		{"Hash too long", `States.Hash('` + long + `', 'MD5')`, "10000"},
		{"JsonMerge deep", `States.JsonMerge($.obj, $.obj, true)`, "deep"},
		{"JsonMerge not objects", `States.JsonMerge($.obj, $.arr, false)`, "objects"},
		{"MathRandom start not below end", `States.MathRandom(5, 5)`, "less than"},
		{"MathRandom not numbers", `States.MathRandom($.s, 5)`, "number"},
		{"MathAdd not numbers", `States.MathAdd($.arr, 1)`, "number"},
		{"MathAdd overflow", `States.MathAdd(9223372036854775807, 1)`, "overflow"},
		{"StringSplit not strings", `States.StringSplit($.arr, ',')`, "must be a string"},
		{"a path that names nothing", `States.ArrayLength($.missing)`, "$.missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, f, err := evalIntrinsic(t, tc.expr, input, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if f == nil {
				t.Fatalf("succeeded with %s", encodeString(v))
			}
			wantName := ErrIntrinsicFailure
			if tc.name == "a path that names nothing" {
				wantName = ErrRuntime
			}
			if f.Name != wantName || !strings.Contains(f.Cause, tc.cause) {
				t.Fatalf("failure %s: %s, want %s containing %q", f.Name, f.Cause, wantName, tc.cause)
			}
		})
	}
}

func TestIntrinsicParseErrors(t *testing.T) {
	tests := []struct {
		name, expr, msg string
		unsupported     bool
	}{
		{"not a call", `$.a`, "States.*", false},
		{"unknown function", `States.Nope(1)`, "States.Nope", true},
		{"missing parenthesis", `States.Array(1`, "missing ')'", false},
		{"unterminated string", `States.Format('abc)`, "unterminated", false},
		{"trailing text", `States.Array(1) x`, "after the function call", false},
		{"bad argument", `States.Array(@)`, "unexpected", false},
		{"bad number", `States.Array(1.2.3)`, "invalid number", false},
		{"too few arguments", `States.Hash('a')`, "2 arguments, not 1", false},
		{"too many arguments", `States.UUID(1)`, "0 arguments, not 1", false},
		{"a wildcard path", `States.Array($.a[*])`, "single value", false},
		{"an unsupported path", `States.Array($..a)`, "recursive descent", true},
		{"missing comma", `States.Array(1 2)`, "unexpected", false},
		{"nested too deep", strings.Repeat("States.Array(", 100) + strings.Repeat(")", 100), "nested too deeply", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseIntrinsic(tc.expr)
			ie, ok := err.(*intrinsicError)
			if !ok || !strings.Contains(ie.msg, tc.msg) || ie.unsupported != tc.unsupported {
				t.Fatalf("error %v (unsupported %v), want %q (unsupported %v)", err, ok && ie.unsupported, tc.msg, tc.unsupported)
			}
		})
	}
}

// Intrinsic failures in a Task's Parameters can be caught; in a Pass they fail the run.
func TestIntrinsicFailureInStates(t *testing.T) {
	bubble(t, func(t *testing.T) {
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"x.$":"States.ArrayGetItem($.a, 5)"},
			"Catch":[{"ErrorEquals":["States.IntrinsicFailure"],"ResultPath":"$.e","Next":"D"}],"End":true},"D":{"Type":"Succeed"}}}`
		r := execute(t, def, `{"a":[]}`, newFake(nil))
		if r.fail != nil || !strings.Contains(string(r.out), ErrIntrinsicFailure) {
			t.Fatalf("out %s fail %v", r.out, r.fail)
		}
		r = execute(t, single(`{"Type":"Pass","Parameters":{"x.$":"States.StringToJson($.s)"},"End":true}`), `{"s":"nope"}`, newFake(nil))
		checkFailure(t, r, ErrIntrinsicFailure, "States.StringToJson")
	})
}
