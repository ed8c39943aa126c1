package eventbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Pattern is a compiled EventBridge event pattern. Its semantics follow AWS's event-ruler,
// which EventBridge runs:
//   - a field's array of values is an OR; the fields of an object are an AND;
//   - a pattern only matches leaves (strings, numbers, booleans, null): an object-valued
//     field does not "exist" for exists:true, and an empty array is no value at all;
//   - when the event holds an array, the pattern matches if any element matches, and the
//     fields of one pattern object must all match within the same array element;
//   - values are typed: the pattern "5" does not match the number 5, and numbers compare
//     numerically (5 matches 5.0);
//   - anything-but needs the field to be present, and matches any value of another type
//     (null, a number against a list of strings);
//   - "$or" takes two or more pattern objects, of which one must match.
type Pattern struct {
	root *patternNode
}

type patternNode struct {
	fields []patternField
	ors    [][]*patternNode // each "$or": alternatives, one of which must match
}

type patternField struct {
	key    string
	child  *patternNode // a nested object, or
	values []matcher    // an array of match values
}

type matchKind int

const (
	matchExactString matchKind = iota
	matchExactNumber
	matchExactBool
	matchExactNull
	matchPrefix
	matchSuffix
	matchEqualsIgnoreCase
	matchWildcard
	matchNumeric
	matchExists
	matchCIDR
	matchAnythingBut // values (strings or numbers)
	matchAnythingButPrefix
	matchAnythingButSuffix
	matchAnythingButIgnoreCase
	matchAnythingButWildcard
)

type matcher struct {
	kind       matchKind
	str        string   // exact, prefix, suffix, equals-ignore-case, wildcard
	strs       []string // anything-but lists
	nums       []float64
	num        float64
	text       string // an exact number's literal text
	b          bool   // exact bool, exists
	ignoreCase bool   // prefix/suffix with equals-ignore-case
	ranges     []numericBound
	prefix     netip.Prefix
}

type numericBound struct {
	op    string // =, <, <=, >, >=
	value float64
}

// PatternError is an event pattern that does not compile; Reason is worded as AWS words
// it (event-ruler's messages), without the parser position AWS appends.
type PatternError struct {
	Reason string
}

func (e *PatternError) Error() string { return "Event pattern is not valid. Reason: " + e.Reason }

func patternErrorf(format string, args ...any) *PatternError {
	return &PatternError{Reason: fmt.Sprintf(format, args...)}
}

// maxPatternDepth bounds the nesting of patterns and events the compiler walks, so no input
// can exhaust the stack.
const maxPatternDepth = 200

// CompilePattern parses and validates an event pattern.
func CompilePattern(text string) (*Pattern, error) {
	v, err := decodeOrdered([]byte(text))
	if err != nil {
		return nil, &PatternError{Reason: "Invalid JSON"}
	}
	obj, ok := v.(orderedObject)
	if !ok {
		return nil, patternErrorf("Filter is not an object")
	}
	root, err := compileNode(obj, 0)
	if err != nil {
		return nil, err
	}
	return &Pattern{root: root}, nil
}

func compileNode(obj orderedObject, depth int) (*patternNode, error) {
	if depth > maxPatternDepth {
		return nil, patternErrorf("Pattern is nested too deeply")
	}
	if len(obj) == 0 {
		return nil, patternErrorf("Empty objects are not allowed")
	}
	n := &patternNode{}
	for _, m := range obj {
		if m.key == "$or" {
			alts, err := compileOr(m.value, depth)
			if err != nil {
				return nil, err
			}
			n.ors = append(n.ors, alts)
			continue
		}
		switch v := m.value.(type) {
		case orderedObject:
			child, err := compileNode(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, patternField{key: m.key, child: child})
		case []any:
			values, err := compileValues(v)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, patternField{key: m.key, values: values})
		default:
			return nil, patternErrorf("%q must be an object or an array", m.key)
		}
	}
	return n, nil
}

// compileOr compiles "$or": [ {...}, {...} ]. event-ruler's exact wording for a malformed
// $or is not documented; these reasons are local.
func compileOr(v any, depth int) ([]*patternNode, error) {
	list, ok := v.([]any)
	if !ok || len(list) < 2 {
		return nil, patternErrorf("\"$or\" must be an array of at least two objects")
	}
	alts := make([]*patternNode, 0, len(list))
	for _, item := range list {
		obj, ok := item.(orderedObject)
		if !ok {
			return nil, patternErrorf("\"$or\" must be an array of at least two objects")
		}
		alt, err := compileNode(obj, depth+1)
		if err != nil {
			return nil, err
		}
		alts = append(alts, alt)
	}
	return alts, nil
}

func compileValues(list []any) ([]matcher, error) {
	if len(list) == 0 {
		return nil, patternErrorf("Empty arrays are not allowed")
	}
	out := make([]matcher, 0, len(list))
	for _, item := range list {
		switch v := item.(type) {
		case string:
			out = append(out, matcher{kind: matchExactString, str: v})
		case json.Number:
			f, err := parseNumber(v)
			if err != nil {
				return nil, patternErrorf("Match value must be String, number, true, false, or null")
			}
			out = append(out, matcher{kind: matchExactNumber, num: f, text: string(v)})
		case bool:
			out = append(out, matcher{kind: matchExactBool, b: v})
		case nil:
			out = append(out, matcher{kind: matchExactNull})
		case orderedObject:
			m, err := compileExpression(v)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		default:
			return nil, patternErrorf("Match value must be String, number, true, false, or null")
		}
	}
	return out, nil
}

func compileExpression(obj orderedObject) (matcher, error) {
	if len(obj) == 0 {
		return matcher{}, patternErrorf("Match expression name not found")
	}
	name, value := obj[0].key, obj[0].value
	m, err := compileOperator(name, value)
	if err != nil {
		return matcher{}, err
	}
	if len(obj) > 1 {
		return matcher{}, patternErrorf("Only one key allowed in match expression")
	}
	return m, nil
}

func compileOperator(name string, value any) (matcher, error) {
	switch name {
	case "prefix", "suffix":
		kind := matchPrefix
		if name == "suffix" {
			kind = matchSuffix
		}
		switch v := value.(type) {
		case string:
			return matcher{kind: kind, str: v}, nil
		case orderedObject:
			if len(v) == 1 && v[0].key == "equals-ignore-case" {
				s, ok := v[0].value.(string)
				if !ok {
					return matcher{}, patternErrorf("equals-ignore-case match pattern must be a string")
				}
				return matcher{kind: kind, str: s, ignoreCase: true}, nil
			}
			if len(v) > 1 {
				return matcher{}, patternErrorf("Only one key allowed in match expression")
			}
			if len(v) == 1 {
				return matcher{}, patternErrorf("Unsupported %s pattern: %s", name, v[0].key)
			}
		}
		return matcher{}, patternErrorf("%s match pattern must be a string", name)
	case "equals-ignore-case":
		s, ok := value.(string)
		if !ok {
			return matcher{}, patternErrorf("equals-ignore-case match pattern must be a string")
		}
		return matcher{kind: matchEqualsIgnoreCase, str: s}, nil
	case "wildcard":
		s, ok := value.(string)
		if !ok {
			return matcher{}, patternErrorf("wildcard match pattern must be a string")
		}
		if err := validateWildcard(s); err != nil {
			return matcher{}, err
		}
		return matcher{kind: matchWildcard, str: s}, nil
	case "numeric":
		list, ok := value.([]any)
		if !ok {
			return matcher{}, patternErrorf("Value of numeric must be an array.")
		}
		bounds, err := compileNumeric(list)
		if err != nil {
			return matcher{}, err
		}
		return matcher{kind: matchNumeric, ranges: bounds}, nil
	case "exists":
		b, ok := value.(bool)
		if !ok {
			return matcher{}, patternErrorf("exists match pattern must be either true or false.")
		}
		return matcher{kind: matchExists, b: b}, nil
	case "cidr":
		s, ok := value.(string)
		if !ok {
			return matcher{}, patternErrorf("prefix match pattern must be a string")
		}
		p, err := compileCIDR(s)
		if err != nil {
			return matcher{}, err
		}
		return matcher{kind: matchCIDR, prefix: p}, nil
	case "anything-but":
		return compileAnythingBut(value)
	}
	return matcher{}, patternErrorf("Unrecognized match type %s", name)
}

func compileAnythingBut(value any) (matcher, error) {
	switch v := value.(type) {
	case string:
		return matcher{kind: matchAnythingBut, strs: []string{v}}, nil
	case json.Number:
		f, err := parseNumber(v)
		if err != nil {
			return matcher{}, patternErrorf("Value of anything-but must be an array or single string/number value.")
		}
		return matcher{kind: matchAnythingBut, nums: []float64{f}}, nil
	case []any:
		var m matcher
		m.kind = matchAnythingBut
		for _, item := range v {
			switch x := item.(type) {
			case string:
				m.strs = append(m.strs, x)
			case json.Number:
				f, err := parseNumber(x)
				if err != nil {
					return matcher{}, patternErrorf("Inside anything but list, start|null|boolean is not supported.")
				}
				m.nums = append(m.nums, f)
			default:
				return matcher{}, patternErrorf("Inside anything but list, start|null|boolean is not supported.")
			}
		}
		if (len(m.strs) > 0) == (len(m.nums) > 0) {
			return matcher{}, patternErrorf("Inside anything but list, either all values are number or string, mixed type is not supported")
		}
		return m, nil
	case orderedObject:
		if len(v) == 0 {
			return matcher{}, patternErrorf("Anything-But expression name not found")
		}
		if len(v) > 1 {
			return matcher{}, patternErrorf("Only one key allowed in match expression")
		}
		op, inner := v[0].key, v[0].value
		switch op {
		case "prefix", "suffix":
			strs, ok := stringOrStrings(inner)
			if !ok {
				return matcher{}, patternErrorf("prefix/suffix match pattern must be a string")
			}
			for _, s := range strs {
				if s == "" {
					return matcher{}, patternErrorf("Null prefix/suffix not allowed")
				}
			}
			kind := matchAnythingButPrefix
			if op == "suffix" {
				kind = matchAnythingButSuffix
			}
			return matcher{kind: kind, strs: strs}, nil
		case "equals-ignore-case":
			strs, ok := stringOrStrings(inner)
			if !ok {
				return matcher{}, patternErrorf("Inside anything-but/ignore-case list, number|start|null|boolean is not supported.")
			}
			return matcher{kind: matchAnythingButIgnoreCase, strs: strs}, nil
		case "wildcard":
			strs, ok := stringOrStrings(inner)
			if !ok {
				return matcher{}, patternErrorf("wildcard match pattern must be a string")
			}
			for _, s := range strs {
				if err := validateWildcard(s); err != nil {
					return matcher{}, err
				}
			}
			return matcher{kind: matchAnythingButWildcard, strs: strs}, nil
		}
		return matcher{}, patternErrorf("Unsupported anything-but pattern: %s", op)
	}
	return matcher{}, patternErrorf("Value of anything-but must be an array or single string/number value.")
}

func stringOrStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		if len(x) == 0 {
			return nil, false
		}
		out := make([]string, 0, len(x))
		for _, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// compileNumeric reads ["<op>", n] or [">"|">=", n, "<"|"<=", m], with event-ruler's
// messages.
func compileNumeric(list []any) ([]numericBound, error) {
	if len(list) == 0 {
		return nil, patternErrorf("Invalid member in numeric match: ]")
	}
	op, ok := list[0].(string)
	if !ok {
		return nil, patternErrorf("Invalid member in numeric match: %s", literal(list[0]))
	}
	switch op {
	case "=", "<", "<=", ">", ">=":
	default:
		return nil, patternErrorf("Unrecognized numeric range operator: %s", op)
	}
	first, err := numericOperand(op, list, 1)
	if err != nil {
		return nil, err
	}
	bounds := []numericBound{{op: op, value: first}}
	if len(list) == 2 {
		return bounds, nil
	}
	if op != ">" && op != ">=" {
		return nil, patternErrorf("Too many elements in numeric expression")
	}
	op2, ok := list[2].(string)
	if !ok {
		return nil, patternErrorf("Bad value in numeric range: %s", literal(list[2]))
	}
	if op2 != "<" && op2 != "<=" {
		return nil, patternErrorf("Bad numeric range operator: %s", op2)
	}
	second, err := numericOperand(op2, list, 3)
	if err != nil {
		return nil, err
	}
	if len(list) > 4 {
		return nil, patternErrorf("Too many terms in numeric range expression")
	}
	if second <= first {
		return nil, patternErrorf("Bottom must be less than top")
	}
	return append(bounds, numericBound{op: op2, value: second}), nil
}

func numericOperand(op string, list []any, i int) (float64, error) {
	name := op
	if op == "=" {
		name = "equals"
	}
	if i >= len(list) {
		return 0, patternErrorf("Value of %s must be numeric", name)
	}
	n, ok := list[i].(json.Number)
	if !ok {
		return 0, patternErrorf("Value of %s must be numeric", name)
	}
	f, err := parseNumber(n)
	if err != nil {
		return 0, patternErrorf("Value of %s must be numeric", name)
	}
	return f, nil
}

func compileCIDR(s string) (netip.Prefix, error) {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(bits, "/") {
		return netip.Prefix{}, patternErrorf("Malformed CIDR, one '/' required")
	}
	if _, err := strconv.Atoi(bits); err != nil {
		return netip.Prefix{}, patternErrorf("Malformed CIDR, mask bits must be an integer")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, patternErrorf("Nonstandard IP address: %s", addr)
	}
	return p.Masked(), nil
}

// validateWildcard refuses what event-ruler refuses: two wildcards in a row, a bad escape,
// and (a simplification of its complexity check) more than five wildcards.
func validateWildcard(s string) error {
	stars := 0
	prevStar := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return patternErrorf("Invalid escape character at pos %d", i)
			}
			i++
			prevStar = false
		case '*':
			if prevStar {
				return patternErrorf("Consecutive wildcard characters at pos %d", i)
			}
			prevStar = true
			stars++
		default:
			prevStar = false
		}
	}
	if stars > 5 {
		return patternErrorf("Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character")
	}
	return nil
}

func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "["
	case orderedObject:
		return "{"
	}
	return fmt.Sprint(v)
}

func parseNumber(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("not a finite number")
	}
	return f, nil
}

// Matches reports whether the event (a decoded JSON object) matches the pattern.
func (p *Pattern) Matches(event any) bool {
	if p == nil || p.root == nil {
		return false
	}
	return p.root.match(event, true)
}

// MatchesJSON decodes the event and matches it; an event that is not a JSON object never
// matches.
func (p *Pattern) MatchesJSON(event []byte) bool {
	v, err := decodeEvent(event)
	if err != nil {
		return false
	}
	if _, ok := v.(map[string]any); !ok {
		return false
	}
	return p.Matches(v)
}

// decodeEvent decodes an event keeping numbers as json.Number.
func decodeEvent(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// match matches one pattern object against the value at its place in the event. present is
// false where the event has no such field.
func (n *patternNode) match(v any, present bool) bool {
	if arr, ok := v.([]any); ok && present {
		elems := objectsIn(arr, nil, 0)
		if len(elems) == 0 {
			return n.match(nil, false)
		}
		for _, e := range elems {
			if n.match(e, true) {
				return true
			}
		}
		return false
	}
	obj, _ := v.(map[string]any)
	if !present {
		obj = nil
	}
	for i := range n.fields {
		f := &n.fields[i]
		cv, ok := obj[f.key]
		if f.child != nil {
			if !f.child.match(cv, ok) {
				return false
			}
			continue
		}
		if !matchLeaf(f.values, cv, ok) {
			return false
		}
	}
	for _, alts := range n.ors {
		matched := false
		for _, alt := range alts {
			if alt.match(obj, obj != nil) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// objectsIn collects the objects of an array, looking into nested arrays.
func objectsIn(arr []any, out []map[string]any, depth int) []map[string]any {
	if depth > maxPatternDepth {
		return out
	}
	for _, e := range arr {
		switch x := e.(type) {
		case map[string]any:
			out = append(out, x)
		case []any:
			out = objectsIn(x, out, depth+1)
		}
	}
	return out
}

// leavesIn collects the scalar values of a field: the value itself, or the scalars of an
// array (nested arrays included). Objects are not leaves.
func leavesIn(v any, out []any, depth int) []any {
	switch x := v.(type) {
	case map[string]any:
		return out
	case []any:
		if depth > maxPatternDepth {
			return out
		}
		for _, e := range x {
			out = leavesIn(e, out, depth+1)
		}
		return out
	default:
		return append(out, v)
	}
}

func matchLeaf(ms []matcher, v any, present bool) bool {
	var leaves []any
	if present {
		leaves = leavesIn(v, nil, 0)
	}
	if len(leaves) == 0 {
		for i := range ms {
			if ms[i].kind == matchExists && !ms[i].b {
				return true
			}
		}
		return false
	}
	for i := range ms {
		m := &ms[i]
		if m.kind == matchExists {
			if m.b {
				return true
			}
			continue
		}
		for _, leaf := range leaves {
			if m.matchValue(leaf) {
				return true
			}
		}
	}
	return false
}

func (m *matcher) matchValue(v any) bool {
	s, isString := v.(string)
	switch m.kind {
	case matchExactString:
		return isString && s == m.str
	case matchExactNumber:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if string(n) == m.text {
			return true
		}
		f, err := parseNumber(n)
		return err == nil && f == m.num
	case matchExactBool:
		b, ok := v.(bool)
		return ok && b == m.b
	case matchExactNull:
		return v == nil
	case matchPrefix:
		if !isString {
			return false
		}
		if m.ignoreCase {
			return len(s) >= len(m.str) && strings.EqualFold(s[:len(m.str)], m.str)
		}
		return strings.HasPrefix(s, m.str)
	case matchSuffix:
		if !isString {
			return false
		}
		if m.ignoreCase {
			return len(s) >= len(m.str) && strings.EqualFold(s[len(s)-len(m.str):], m.str)
		}
		return strings.HasSuffix(s, m.str)
	case matchEqualsIgnoreCase:
		return isString && strings.EqualFold(s, m.str)
	case matchWildcard:
		return isString && wildcardMatch(m.str, s)
	case matchNumeric:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := parseNumber(n)
		if err != nil {
			return false
		}
		for _, b := range m.ranges {
			if !b.holds(f) {
				return false
			}
		}
		return true
	case matchCIDR:
		if !isString {
			return false
		}
		addr, err := netip.ParseAddr(s)
		return err == nil && m.prefix.Contains(addr.Unmap())
	case matchAnythingBut:
		if isString {
			for _, x := range m.strs {
				if x == s {
					return false
				}
			}
			return true
		}
		if n, ok := v.(json.Number); ok {
			f, err := parseNumber(n)
			if err != nil {
				return true
			}
			for _, x := range m.nums {
				if x == f {
					return false
				}
			}
		}
		return true
	case matchAnythingButPrefix:
		if !isString {
			return true
		}
		for _, x := range m.strs {
			if strings.HasPrefix(s, x) {
				return false
			}
		}
		return true
	case matchAnythingButSuffix:
		if !isString {
			return true
		}
		for _, x := range m.strs {
			if strings.HasSuffix(s, x) {
				return false
			}
		}
		return true
	case matchAnythingButIgnoreCase:
		if !isString {
			return true
		}
		for _, x := range m.strs {
			if strings.EqualFold(s, x) {
				return false
			}
		}
		return true
	case matchAnythingButWildcard:
		if !isString {
			return true
		}
		for _, x := range m.strs {
			if wildcardMatch(x, s) {
				return false
			}
		}
		return true
	}
	return false
}

func (b numericBound) holds(f float64) bool {
	switch b.op {
	case "=":
		return f == b.value
	case "<":
		return f < b.value
	case "<=":
		return f <= b.value
	case ">":
		return f > b.value
	case ">=":
		return f >= b.value
	}
	return false
}

// wildcardMatch matches s against a pattern where * is any run of characters (also
// none), \* a literal star and \\ a literal backslash. Greedy with one backtrack point, so
// it runs in O(len(pattern)·len(s)).
func wildcardMatch(pattern, s string) bool {
	type token struct {
		star bool
		c    byte
	}
	toks := make([]token, 0, len(pattern))
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '\\' && i+1 < len(pattern) {
			i++
			toks = append(toks, token{c: pattern[i]})
			continue
		}
		toks = append(toks, token{star: c == '*', c: c})
	}
	pi, si := 0, 0
	starAt, matchAt := -1, 0
	for si < len(s) {
		switch {
		case pi < len(toks) && !toks[pi].star && toks[pi].c == s[si]:
			pi++
			si++
		case pi < len(toks) && toks[pi].star:
			starAt = pi
			matchAt = si
			pi++
		case starAt >= 0:
			pi = starAt + 1
			matchAt++
			si = matchAt
		default:
			return false
		}
	}
	for pi < len(toks) && toks[pi].star {
		pi++
	}
	return pi == len(toks)
}

// orderedObject is a JSON object that keeps its members' order, so that the first problem
// of a pattern is the one reported, as event-ruler's streaming parser does.
type orderedObject []member

type member struct {
	key   string
	value any
}

// decodeOrdered decodes one JSON value, objects as orderedObject and numbers as
// json.Number, refusing trailing data and nesting deeper than maxPatternDepth.
func decodeOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxPatternDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := orderedObject{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				val, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj = append(obj, member{key: key, value: val})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				val, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil
	}
}
