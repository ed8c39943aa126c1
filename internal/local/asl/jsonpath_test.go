package asl

import (
	"testing"
)

func TestJSONPathGet(t *testing.T) {
	const doc = `{"a":{"b":[{"c":1},{"c":2},{"d":3}],"e f":"sp","x.y":"dot","n":null},"list":[10,20,30,40],"s":"str"}`
	tests := []struct {
		path, want string // want "" : not found
	}{
		{"$", doc},
		{"$.a['e f']", `"sp"`},
		{`$.a["x.y"]`, `"dot"`},
		{"$.a['x.y']", `"dot"`},
		{"$.a.n", `null`},
		{"$.a.b[1].c", `2`},
		{"$['a']['b'][0]['c']", `1`},
		{"$.list[0]", `10`},
		{"$.list[-1]", `40`},
		{"$.list[4]", ``},
		{"$.list[-5]", ``},
		{"$.missing", ``},
		{"$.s.x", ``},
		{"$.list.x", ``},
		{"$.a[0]", ``},
		{"$.list[*]", `[10,20,30,40]`},
		{"$.list[1:3]", `[20,30]`},
		{"$.list[:2]", `[10,20]`},
		{"$.list[2:]", `[30,40]`},
		{"$.list[-2:]", `[30,40]`},
		{"$.list[5:9]", `[]`},
		{"$.a.b[*].c", `[1,2]`},
		{"$.a.b[*].zz", `[]`},
		{"$.a.*", `[[{"c":1},{"c":2},{"d":3}],"sp",null,"dot"]`},
		{"$.s[*]", `[]`},
	}
	root, err := decodeValue([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p, err := parsePath(tc.path)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			v, ok := p.get(root)
			if tc.want == "" {
				if ok {
					t.Fatalf("found %s", encodeString(v))
				}
				return
			}
			if !ok {
				t.Fatal("not found")
			}
			if got := encodeString(v); got != canon(t, tc.want) {
				t.Fatalf("got %s, want %s", got, canon(t, tc.want))
			}
		})
	}
}

func TestJSONPathParse(t *testing.T) {
	tests := []struct {
		path        string
		reference   bool
		context     bool
		bad         bool
		unsupported bool
	}{
		{path: "$", reference: true},
		{path: "$$", reference: true, context: true},
		{path: "$$.Execution.Input.a[0]", reference: true, context: true},
		{path: "$.a.b", reference: true},
		{path: "$['a'][0]", reference: true},
		{path: "$.a[-1]"},
		{path: "$.a[*]"},
		{path: "$.a.*"},
		{path: "$.a[1:2]"},
		{path: "", bad: true},
		{path: "a.b", bad: true},
		{path: "$.", bad: true},
		{path: "$.a[", bad: true},
		{path: "$.a[x]", bad: true},
		{path: "$.a['b'", bad: true},
		{path: "$ a", bad: true}, // "$a" is the variable a (variables_test.go)
		{path: "$.a b'", bad: true},
		{path: "$.a[ 1]", bad: true},
		{path: "$..a", unsupported: true},
		{path: "$.a[?(@.b)]", unsupported: true},
		{path: "$.a[(@.length-1)]", unsupported: true},
		{path: "$.a[0,1]", unsupported: true},
		{path: "$['a','b']", unsupported: true},
		{path: "$.a[0:4:2]", unsupported: true},
		{path: "$.a.length()", unsupported: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p, err := parsePath(tc.path)
			switch {
			case tc.unsupported:
				if !isUnsupported(err) {
					t.Fatalf("error %v, want unsupported", err)
				}
			case tc.bad:
				if err == nil || isUnsupported(err) {
					t.Fatalf("error %v, want a syntax error", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if p.reference() != tc.reference || p.context != tc.context {
					t.Fatalf("reference %v context %v", p.reference(), p.context)
				}
			}
		})
	}
}

func TestJSONPathSet(t *testing.T) {
	tests := []struct {
		name, doc, path, val, want string // want "": cannot apply
	}{
		{"root", `{"a":1}`, "$", `2`, `2`},
		{"new field", `{"a":1}`, "$.b", `2`, `{"a":1,"b":2}`},
		{"deep new fields", `{}`, "$.a.b.c", `true`, `{"a":{"b":{"c":true}}}`},
		{"overwrite", `{"a":{"b":1,"c":2}}`, "$.a.b", `9`, `{"a":{"b":9,"c":2}}`},
		{"bracket name", `{}`, "$['x y']", `1`, `{"x y":1}`},
		{"array item", `{"a":[1,2]}`, "$.a[0]", `0`, `{"a":[0,2]}`},
		{"in an array item", `{"a":[{"b":1}]}`, "$.a[0].c", `2`, `{"a":[{"b":1,"c":2}]}`},
		{"through a string", `{"a":"s"}`, "$.a.b", `1`, ``},
		{"through null", `{"a":null}`, "$.a.b", `1`, ``},
		{"field of an array", `{"a":[]}`, "$.a.b", `1`, ``},
		{"index past the end", `{"a":[1]}`, "$.a[1]", `1`, ``},
		{"index of an object", `{"a":{}}`, "$.a[0]", `1`, ``},
		{"missing array", `{}`, "$.a[0]", `1`, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := decodeValue([]byte(tc.doc))
			before := encodeString(root)
			val, _ := decodeValue([]byte(tc.val))
			p, err := parsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.set(root, val)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("applied: %s", encodeString(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if encodeString(got) != canon(t, tc.want) {
				t.Fatalf("got %s, want %s", encodeString(got), canon(t, tc.want))
			}
			if encodeString(root) != before {
				t.Fatalf("the input changed: %s", encodeString(root))
			}
		})
	}
}
