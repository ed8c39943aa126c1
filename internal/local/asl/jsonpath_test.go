package asl

import (
	"testing"
)

func TestJSONPathGet(t *testing.T) {
	const doc = `{"a":{"b":[{"c":1},{"c":2},{"d":3}],"e f":"sp","x.y":"dot","n":null},"list":[10,20,30,40],"s":"str","q\"d":"double","it's":"single","back\\slash":"bs"}`
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
		// Quotes inside a bracketed name: escaped with a backslash, or the other quote.
		{`$['q"d']`, `"double"`},
		{`$['q\"d']`, `"double"`},
		{`$["q\"d"]`, `"double"`},
		{`$["it's"]`, `"single"`},
		{`$['it\'s']`, `"single"`},
		{`$['back\\slash']`, `"bs"`},
		{`$.a['x.y']`, `"dot"`},
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
		{path: "$.a[?(@.b)]"},
		{path: "$.a[?(@.b > 1 && (@.c == 'x' || @['d e'][0] != null))]"},
		{path: "$$.Execution.Input.a[?(@.b)].c", context: true},
		{path: "$.a[?(@.b)", bad: true},
		{path: "$.a[?@.b]", bad: true},
		{path: "$.a[?(@.b ==)]", bad: true},
		{path: "$.a[?(1)]", bad: true},
		{path: "$.a[?(@.b > 1 @.c)]", bad: true},
		{path: "$.a[?(@.b == 'x)]", bad: true},
		{path: "$.a[?(@.b =~ /x/)]", unsupported: true},
		{path: "$.a[?(!@.b)]", unsupported: true},
		{path: "$.a[?(@.b in ['x'])]", unsupported: true},
		{path: "$.a[?(@.b nin ['x'])]", unsupported: true},
		{path: "$.a[?(@.b size 2)]", unsupported: true},
		{path: "$.a[?(@.b empty true)]", unsupported: true},
		{path: "$.a[?(@.b subsetof ['x'])]", unsupported: true},
		{path: "$.a[?(@.b anyof ['x'])]", unsupported: true},
		{path: "$.a[?(@.b noneof ['x'])]", unsupported: true},
		{path: "$.a[?(@.b contains 'x')]", unsupported: true},
		{path: "$.a[?(@.b.length() > 1)]", unsupported: true},
		{path: "$.a[?(@.b == $.c)]", unsupported: true},
		{path: "$.a[?(@..b)]", unsupported: true},
		{path: "$.a[?(@.b[*] == 1)]", unsupported: true},
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

// Filters as Jayway JSONPath (behind Step Functions) evaluates them: the array of the items
// the condition holds for, in order; an object filtered is itself or nothing.
func TestJSONPathFilter(t *testing.T) {
	const doc = `{"items":[
		{"id":1,"price":5,"name":"pen","tags":["a"],"stock":{"n":0},"sale":true},
		{"id":2,"price":15,"name":"book","stock":{"n":3},"sale":false,"note":null},
		{"id":3,"price":10.5,"name":"ink","it's":"q"},
		{"id":4,"price":"20","name":"cap"},
		7],
		"one":{"price":50},"nums":[1,5,10,"10"]}`
	tests := []struct{ path, want string }{
		{"$.items[?(@.price > 10)]", `[{"id":2,"price":15,"name":"book","stock":{"n":3},"sale":false,"note":null},{"id":3,"price":10.5,"name":"ink","it's":"q"}]`},
		{"$.items[?(@.price > 10)].id", `[2,3]`},
		{"$.items[?(@.price >= 10.5)].id", `[2,3]`},
		{"$.items[?(@.price < 10)].id", `[1]`},
		{"$.items[?(@.price <= 5)].id", `[1]`},
		{"$.items[?(@.price == 15)].id", `[2]`},
		{"$.items[?(@.price == 15.0)].id", `[2]`},
		{"$.items[?(@.price != 15)].id", `[1,3,4]`},
		{"$.items[?(@.name == 'ink')].id", `[3]`},
		{`$.items[?(@.name == "ink")].id`, `[3]`},
		{"$.items[?(@.name > 'd')].id", `[1,3]`},
		{"$.items[?(@.price == '20')].id", `[4]`},
		{"$.items[?(@.price == 20)].id", `[4]`},
		{"$.items[?(@.price == '15')].id", `[2]`},
		{"$.items[?(@.name == 5)].id", `[]`},
		{"$.nums[?(@ == '10/1')]", `[]`},
		{"$.nums[?(@ == '\"10\"')]", `[]`},
		{"$.items[?(@.sale != true)].id", `[2,3,4]`},
		{"$.items[?(@.sale == true)].missing", `[]`},
		{"$.items[?(@.sale == true)].id", `[1]`},
		{"$.items[?(@.sale == false)].id", `[2]`},
		{"$.items[?(@.note == null)].id", `[2]`},
		{"$.items[?(@.sale)].id", `[1,2]`},
		{"$.items[?(@.note)].id", `[2]`},
		{"$.items[?(@.stock.n > 0)].id", `[2]`},
		{"$.items[?(@['it\\'s'])].id", `[3]`},
		{"$.items[?(@.tags[0] == 'a')].id", `[1]`},
		{"$.items[?(@.price > 1 && @.sale == false)].id", `[2]`},
		{"$.items[?(@.id == 1 || @.id == 3)].name", `["pen","ink"]`},
		{"$.items[?((@.id == 1 || @.id == 4) && @.name != 'cap')].id", `[1]`},
		{"$.items[?(@.id==2)].id", `[2]`},
		{"$.items[?(@.price > -1)].id", `[1,2,3]`},
		{"$.items[?(@.missing > 1)]", `[]`},
		{"$.items[?(@.price > 'a')]", `[]`},
		{"$.nums[?(@ >= 5)]", `[5,10]`},
		{"$.nums[?(@ == 10)]", `[10,"10"]`}, // a string holding the number is equal to it
		{"$.one[?(@.price > 10)]", `[{"price":50}]`},
		{"$.one[?(@.price > 100)]", `[]`},
		{"$.missing[?(@.a)]", `[]`},
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
			if p.definite() || p.reference() {
				t.Fatal("a filter path is definite")
			}
			v, ok := p.get(root)
			if !ok {
				t.Fatal("not found")
			}
			if got := encodeString(v); got != canon(t, tc.want) {
				t.Fatalf("got %s, want %s", got, canon(t, tc.want))
			}
		})
	}
}
