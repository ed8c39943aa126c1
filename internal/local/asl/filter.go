package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// JSONPath filters, "$.items[?(@.price > 10)]", in the forms Step Functions definitions
// use: a field of the current item ("@.a.b", "@['a b']", "@.list[0]", or "@" itself)
// compared with a number, a string ('s' or "s"), true, false, null or another such field
// by == != < <= > >=; the existence of a field ("@.isbn"); && and || with parentheses.
// What Jayway JSONPath (behind Step Functions) also has is refused by name: negation,
// regular expressions (=~), the word operators (in, nin, subsetof, anyof, noneof, size,
// empty, contains), functions such as length(), references to the root ($) and wildcards,
// slices and nested filters inside a filter.

// filterExpr is one node of a filter's expression.
type filterExpr struct {
	op          string // "||", "&&", "exists", or a comparison: "==", "!=", "<", "<=", ">", ">="
	left, right *filterExpr
	a, b        filterOperand
}

// filterOperand is a field of the current item or a literal.
type filterOperand struct {
	isPath bool
	segs   []segment // relative to @; none: @ itself
	lit    any
}

// parseFilter parses "[?(...)]" at the start of s and answers how many bytes it took.
func parseFilter(s string) (*filterExpr, int, error) {
	if len(s) < 3 || s[2] != '(' {
		return nil, 0, errors.New("a filter must be written '[?(...)]'")
	}
	depth := 0
	var quote byte
	end := -1
scan:
	for i := 2; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				end = i
				break scan
			}
		}
	}
	if end < 0 || end+1 >= len(s) || s[end+1] != ']' {
		return nil, 0, errors.New("unterminated filter '[?(...)]'")
	}
	p := &filterParser{s: s[3:end]}
	e, err := p.or()
	if err != nil {
		return nil, 0, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, 0, fmt.Errorf("unexpected %q in a filter", p.s[p.i:])
	}
	return e, end + 2, nil
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *filterParser) take(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *filterParser) or() (*filterExpr, error) {
	left, err := p.and()
	for err == nil && p.take("||") {
		var right *filterExpr
		if right, err = p.and(); err == nil {
			left = &filterExpr{op: "||", left: left, right: right}
		}
	}
	return left, err
}

func (p *filterParser) and() (*filterExpr, error) {
	left, err := p.unary()
	for err == nil && p.take("&&") {
		var right *filterExpr
		if right, err = p.unary(); err == nil {
			left = &filterExpr{op: "&&", left: left, right: right}
		}
	}
	return left, err
}

func (p *filterParser) unary() (*filterExpr, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("a filter ends too early")
	}
	switch p.s[p.i] {
	case '!':
		return nil, &unsupportedError{"negation '!' in a filter"}
	case '(':
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.take(")") {
			return nil, errors.New("expected ')' in a filter")
		}
		return e, nil
	}
	a, err := p.operand()
	if err != nil {
		return nil, err
	}
	p.space()
	rest := p.s[p.i:]
	if strings.HasPrefix(rest, "=~") {
		return nil, &unsupportedError{"a regular expression '=~' in a filter"}
	}
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(rest, op) {
			p.i += len(op)
			b, err := p.operand()
			if err != nil {
				return nil, err
			}
			return &filterExpr{op: op, a: a, b: b}, nil
		}
	}
	for _, word := range []string{"nin", "in", "subsetof", "anyof", "noneof", "size", "empty", "contains"} {
		if strings.HasPrefix(rest, word) && (len(rest) == len(word) || !isNameByte(rest[len(word)])) {
			return nil, &unsupportedError{fmt.Sprintf("the filter operator '%s'", word)}
		}
	}
	if rest != "" && !strings.HasPrefix(rest, "&&") && !strings.HasPrefix(rest, "||") && !strings.HasPrefix(rest, ")") {
		return nil, fmt.Errorf("unexpected %q in a filter", rest)
	}
	if !a.isPath {
		return nil, errors.New("a filter's condition must compare or name a field of '@'")
	}
	return &filterExpr{op: "exists", a: a}, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func (p *filterParser) operand() (filterOperand, error) {
	p.space()
	if p.i >= len(p.s) {
		return filterOperand{}, errors.New("a filter ends too early")
	}
	switch c := p.s[p.i]; {
	case c == '@':
		p.i++
		return p.relativePath()
	case c == '$':
		return filterOperand{}, &unsupportedError{"a reference to the root '$' inside a filter"}
	case c == '\'' || c == '"':
		var b strings.Builder
		i := p.i + 1
		for ; i < len(p.s) && p.s[i] != c; i++ {
			if p.s[i] == '\\' && i+1 < len(p.s) {
				i++
			}
			b.WriteByte(p.s[i])
		}
		if i >= len(p.s) {
			return filterOperand{}, errors.New("unterminated string in a filter")
		}
		p.i = i + 1
		return filterOperand{lit: b.String()}, nil
	case c == '[' || c == '{':
		return filterOperand{}, &unsupportedError{"an array or object literal in a filter"}
	case c == '/':
		return filterOperand{}, &unsupportedError{"a regular expression '=~' in a filter"}
	case c == '-' || c >= '0' && c <= '9':
		j := p.i + 1
		for j < len(p.s) && strings.IndexByte("0123456789.eE+-", p.s[j]) >= 0 {
			j++
		}
		n := json.Number(p.s[p.i:j])
		if _, ok := number(n); !ok || !json.Valid([]byte(n)) {
			return filterOperand{}, fmt.Errorf("invalid number %q in a filter", string(n))
		}
		p.i = j
		return filterOperand{lit: n}, nil
	}
	for word, v := range map[string]any{"true": true, "false": false, "null": nil} {
		rest := p.s[p.i:]
		if strings.HasPrefix(rest, word) && (len(rest) == len(word) || !isNameByte(rest[len(word)])) {
			p.i += len(word)
			return filterOperand{lit: v}, nil
		}
	}
	return filterOperand{}, fmt.Errorf("unexpected %q in a filter", p.s[p.i:])
}

// relativePath reads what follows '@': .name and [...] steps to one node.
func (p *filterParser) relativePath() (filterOperand, error) {
	op := filterOperand{isPath: true}
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '.':
			p.i++
			if p.i < len(p.s) && p.s[p.i] == '.' {
				return filterOperand{}, &unsupportedError{"recursive descent '..'"}
			}
			if p.i < len(p.s) && p.s[p.i] == '*' {
				return filterOperand{}, &unsupportedError{"a wildcard inside a filter"}
			}
			j := p.i
			for j < len(p.s) && isNameByte(p.s[j]) {
				j++
			}
			if j == p.i {
				return filterOperand{}, errors.New("'.' in a filter must be followed by a field name")
			}
			if j < len(p.s) && p.s[j] == '(' {
				return filterOperand{}, &unsupportedError{fmt.Sprintf("the JSONPath function '%s()'", p.s[p.i:j])}
			}
			op.segs = append(op.segs, segment{kind: segField, name: p.s[p.i:j]})
			p.i = j
		case '[':
			seg, n, err := parseBracket(p.s[p.i:])
			if err != nil {
				return filterOperand{}, err
			}
			if seg.kind != segField && seg.kind != segIndex {
				return filterOperand{}, &unsupportedError{"a wildcard, slice or filter inside a filter"}
			}
			op.segs = append(op.segs, seg)
			p.i += n
		default:
			return op, nil
		}
	}
	return op, nil
}

// match decides the filter for one item.
func (f *filterExpr) match(item any) bool {
	switch f.op {
	case "||":
		return f.left.match(item) || f.right.match(item)
	case "&&":
		return f.left.match(item) && f.right.match(item)
	case "exists":
		_, ok := f.a.value(item)
		return ok
	}
	a, aok := f.a.value(item)
	b, bok := f.b.value(item)
	if f.op == "!=" {
		// As in Jayway, a missing field is unequal to everything.
		return !aok || !bok || !filterEqual(a, b)
	}
	if !aok || !bok {
		return false
	}
	if f.op == "==" {
		return filterEqual(a, b)
	}
	var cmp int
	if x, ok := number(a); ok {
		y, ok := number(b)
		if !ok {
			return false
		}
		cmp = x.Cmp(y)
	} else if x, ok := a.(string); ok {
		y, ok := b.(string)
		if !ok {
			return false
		}
		cmp = strings.Compare(x, y)
	} else {
		return false // only numbers and strings are ordered
	}
	switch f.op {
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	default: // ">="
		return cmp >= 0
	}
}

// filterEqual is JSON equality, except that a number and a string holding a number are
// equal when their values are, as Jayway compares them (unconfirmed against AWS).
func filterEqual(a, b any) bool {
	x, xs := a.(string)
	y, ys := b.(string)
	if xs != ys {
		text := y
		if xs {
			text = x
		}
		text = strings.TrimSpace(text)
		if !json.Valid([]byte(text)) {
			return false
		}
		if xs {
			a = json.Number(text)
		} else {
			b = json.Number(text)
		}
		if _, ok := number(a); !ok {
			return false
		}
		if _, ok := number(b); !ok {
			return false
		}
	}
	return equalValues(a, b)
}

func (o filterOperand) value(item any) (any, bool) {
	if !o.isPath {
		return o.lit, true
	}
	cur := item
	for _, s := range o.segs {
		next, ok := step(cur, s)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}
