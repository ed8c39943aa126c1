package asl

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The JSONPath subset Step Functions definitions use, written here rather than taken from a
// library so that what is refused is refused by name: "$", "$$" (the context object),
// ".name", "['name']", "[n]" (and "[-n]" outside reference paths), and in paths that may
// select several nodes "[*]", ".*", "[start:end]" and filters "[?(...)]" (see filter.go).
// Recursive descent, unions, script expressions, slice steps and functions such as
// length() are refused as unsupported. A path that may select several nodes yields the
// array of what it selected, as Jayway JSONPath (behind Step Functions) does.

type segKind uint8

const (
	segField segKind = iota
	segIndex
	segWildcard
	segSlice
	segFilter
)

type segment struct {
	kind             segKind
	name             string
	index            int
	start, end       int
	hasStart, hasEnd bool
	filter           *filterExpr
}

// jsonPath is a parsed path.
type jsonPath struct {
	raw      string
	context  bool   // starts with $$: reads the context object
	variable string // starts with $name: reads a workflow variable (variables.go)
	segs     []segment
}

// definite reports whether the path selects at most one node.
func (p *jsonPath) definite() bool {
	for _, s := range p.segs {
		if s.kind == segWildcard || s.kind == segSlice || s.kind == segFilter {
			return false
		}
	}
	return true
}

// reference reports whether the path is a Reference Path: one node, no negative index.
func (p *jsonPath) reference() bool {
	for _, s := range p.segs {
		if s.kind == segWildcard || s.kind == segSlice || s.kind == segFilter || (s.kind == segIndex && s.index < 0) {
			return false
		}
	}
	return true
}

// unsupportedError is a JSONPath feature beyond the subset; other parse errors are plain
// syntax errors.
type unsupportedError struct{ feature string }

func (e *unsupportedError) Error() string {
	return e.feature + " is not supported by sfn-rollout local"
}

func isUnsupported(err error) bool {
	var u *unsupportedError
	return errors.As(err, &u)
}

// parsePath parses a path of the subset.
func parsePath(s string) (*jsonPath, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, errors.New("a path must start with '$'")
	}
	p := &jsonPath{raw: s}
	i := 1
	if strings.HasPrefix(s, "$$") {
		p.context = true
		i = 2
	} else if name, n := variablePrefix(s); n > 0 {
		p.variable, i = name, n
	}
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			if i >= len(s) {
				return nil, errors.New("a path must not end with '.'")
			}
			switch s[i] {
			case '.':
				return nil, &unsupportedError{"recursive descent '..'"}
			case '*':
				p.segs = append(p.segs, segment{kind: segWildcard})
				i++
				continue
			case '[':
				return nil, errors.New("'.' must be followed by a field name")
			}
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			name := s[i:j]
			if strings.ContainsAny(name, "()") {
				return nil, &unsupportedError{fmt.Sprintf("the JSONPath function '%s'", name)}
			}
			if strings.ContainsAny(name, "]'\",*@?: \t\r\n") {
				return nil, fmt.Errorf("invalid field name %q", name)
			}
			p.segs = append(p.segs, segment{kind: segField, name: name})
			i = j
		case '[':
			seg, n, err := parseBracket(s[i:])
			if err != nil {
				return nil, err
			}
			p.segs = append(p.segs, seg)
			i += n
		default:
			return nil, fmt.Errorf("unexpected %q at position %d", s[i], i)
		}
	}
	return p, nil
}

// parseBracket parses one "[...]" at the start of s and returns how many bytes it took.
func parseBracket(s string) (segment, int, error) {
	if len(s) < 2 {
		return segment{}, 0, errors.New("unterminated '['")
	}
	switch c := s[1]; {
	case c == '\'' || c == '"':
		var name strings.Builder
		i := 2
		for ; i < len(s) && s[i] != c; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			name.WriteByte(s[i])
		}
		if i >= len(s) {
			return segment{}, 0, errors.New("unterminated quoted name")
		}
		i++
		if i < len(s) && s[i] == ',' {
			return segment{}, 0, &unsupportedError{"a union of names"}
		}
		if i >= len(s) || s[i] != ']' {
			return segment{}, 0, errors.New("expected ']' after a quoted name")
		}
		return segment{kind: segField, name: name.String()}, i + 1, nil
	case c == '*':
		if len(s) < 3 || s[2] != ']' {
			return segment{}, 0, errors.New("expected ']' after '[*'")
		}
		return segment{kind: segWildcard}, 3, nil
	case c == '?':
		f, n, err := parseFilter(s)
		if err != nil {
			return segment{}, 0, err
		}
		return segment{kind: segFilter, filter: f}, n, nil
	case c == '(':
		return segment{}, 0, &unsupportedError{"a script expression '[(...)]'"}
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return segment{}, 0, errors.New("unterminated '['")
	}
	body := s[1:end]
	if strings.Contains(body, ",") {
		return segment{}, 0, &unsupportedError{"a union of indexes"}
	}
	if strings.Contains(body, ":") {
		parts := strings.Split(body, ":")
		if len(parts) > 2 {
			return segment{}, 0, &unsupportedError{"a slice step"}
		}
		seg := segment{kind: segSlice}
		if parts[0] != "" {
			n, err := parseIndex(parts[0])
			if err != nil {
				return segment{}, 0, err
			}
			seg.start, seg.hasStart = n, true
		}
		if parts[1] != "" {
			n, err := parseIndex(parts[1])
			if err != nil {
				return segment{}, 0, err
			}
			seg.end, seg.hasEnd = n, true
		}
		return seg, end + 1, nil
	}
	n, err := parseIndex(body)
	if err != nil {
		return segment{}, 0, err
	}
	return segment{kind: segIndex, index: n}, end + 1, nil
}

func parseIndex(s string) (int, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return 0, fmt.Errorf("invalid index %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 1<<30 || n < -(1<<30) {
		return 0, fmt.Errorf("invalid index %q", s)
	}
	return n, nil
}

// get evaluates the path. A definite path that names nothing is not found; a path that may
// select several nodes always yields an array (possibly empty).
func (p *jsonPath) get(root any) (any, bool) {
	if p.definite() {
		cur := root
		for _, s := range p.segs {
			next, ok := step(cur, s)
			if !ok {
				return nil, false
			}
			cur = next
		}
		return cur, true
	}
	nodes := []any{root}
	for _, s := range p.segs {
		var next []any
		for _, n := range nodes {
			next = appendSelected(next, n, s)
		}
		nodes = next
	}
	if nodes == nil {
		nodes = []any{}
	}
	return nodes, true
}

func step(cur any, s segment) (any, bool) {
	switch s.kind {
	case segField:
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := m[s.name]
		return v, ok
	case segIndex:
		a, ok := cur.([]any)
		if !ok {
			return nil, false
		}
		i := s.index
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, false
		}
		return a[i], true
	}
	return nil, false
}

func appendSelected(out []any, cur any, s segment) []any {
	switch s.kind {
	case segField, segIndex:
		if v, ok := step(cur, s); ok {
			out = append(out, v)
		}
	case segWildcard:
		switch t := cur.(type) {
		case []any:
			out = append(out, t...)
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				out = append(out, t[k])
			}
		}
	case segFilter:
		switch t := cur.(type) {
		case []any:
			for _, e := range t {
				if s.filter.match(e) {
					out = append(out, e)
				}
			}
		case map[string]any:
			// Jayway applies a filter to an object itself: the object, or nothing.
			if s.filter.match(t) {
				out = append(out, t)
			}
		}
	case segSlice:
		a, ok := cur.([]any)
		if !ok {
			return out
		}
		start, end := 0, len(a)
		if s.hasStart {
			start = clampIndex(s.start, len(a))
		}
		if s.hasEnd {
			end = clampIndex(s.end, len(a))
		}
		if start < end {
			out = append(out, a[start:end]...)
		}
	}
	return out
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// normalized renders the path as the JSONPath library behind Step Functions names it in
// its messages: $['a']['b'][0].
func (p *jsonPath) normalized() string {
	var b strings.Builder
	b.WriteString("$")
	if p.context {
		b.WriteString("$")
	}
	for _, s := range p.segs {
		switch s.kind {
		case segField:
			b.WriteString("['" + s.name + "']")
		case segIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case segWildcard:
			b.WriteString("[*]")
		case segFilter:
			b.WriteString("[?]")
		case segSlice:
			b.WriteString("[")
			if s.hasStart {
				b.WriteString(strconv.Itoa(s.start))
			}
			b.WriteString(":")
			if s.hasEnd {
				b.WriteString(strconv.Itoa(s.end))
			}
			b.WriteString("]")
		}
	}
	return b.String()
}

// errResultPath is a ResultPath that cannot be applied to the input.
var errResultPath = errors.New("the path cannot be applied to the input")

// set returns root with the node the (reference) path names replaced by val, creating
// missing objects on the way. root itself is not modified: the objects and arrays on the
// path are copied.
func (p *jsonPath) set(root, val any) (any, error) {
	return setAt(root, true, p.segs, val)
}

func setAt(cur any, exists bool, segs []segment, val any) (any, error) {
	if len(segs) == 0 {
		return val, nil
	}
	s := segs[0]
	switch s.kind {
	case segField:
		var m map[string]any
		if !exists {
			m = map[string]any{}
		} else {
			old, ok := cur.(map[string]any)
			if !ok {
				return nil, errResultPath
			}
			m = make(map[string]any, len(old)+1)
			for k, v := range old {
				m[k] = v
			}
		}
		child, ok := m[s.name]
		nv, err := setAt(child, ok, segs[1:], val)
		if err != nil {
			return nil, err
		}
		m[s.name] = nv
		return m, nil
	case segIndex:
		old, ok := cur.([]any)
		if !exists || !ok || s.index < 0 || s.index >= len(old) {
			return nil, errResultPath
		}
		a := make([]any, len(old))
		copy(a, old)
		nv, err := setAt(a[s.index], true, segs[1:], val)
		if err != nil {
			return nil, err
		}
		a[s.index] = nv
		return a, nil
	}
	return nil, errResultPath
}
