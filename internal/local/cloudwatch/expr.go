package cloudwatch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Metric math, the part of it local mode serves: + - * / with numbers, query ids and
// parentheses; arrays [a, b]; SUM, AVG, MIN, MAX (over an array: per timestamp; over one
// series: one number), FILL(series, number), ABS and METRICS(["filter"]). Anything else is
// refused with a message that names it.

// wording is an error whose text goes into an answer as it is, capitalized as AWS writes
// its messages.
type wording string

func (w wording) Error() string { return string(w) }

func worded(format string, args ...any) error { return wording(fmt.Sprintf(format, args...)) }

// timeSeries is a query's values on its grid: one slot per period from start, NaN where
// there is no data.
type timeSeries struct {
	start, period int64 // unix seconds
	values        []float64
	counts        []float64 // sample counts of a MetricStat series; nil for expressions
}

func (t *timeSeries) sameGrid(u *timeSeries) bool {
	return t.start == u.start && t.period == u.period && len(t.values) == len(u.values)
}

// mathValue is what an expression evaluates to: a number, a series or an array of series.
type mathValue struct {
	scalar float64
	series *timeSeries
	array  []*timeSeries
	kind   valueKind
}

type valueKind int

const (
	kindScalar valueKind = iota
	kindSeries
	kindArray
)

// mathNode is a parsed expression.
type mathNode interface{}

type (
	numNode struct{ v float64 }
	idNode  struct{ id string }
	strNode struct{ s string }
	negNode struct{ x mathNode }
	binNode struct {
		op   byte
		l, r mathNode
	}
	arrNode  struct{ items []mathNode }
	callNode struct {
		fn   string
		args []mathNode
	}
)

type mathParser struct {
	src string
	pos int
}

// parseMath parses an expression; the error names the first token it could not use.
func parseMath(src string) (mathNode, error) {
	p := &mathParser{src: src}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos < len(p.src) {
		return nil, worded("Unsupported token '%s' at char %d", p.token(), p.pos+1)
	}
	return n, nil
}

func (p *mathParser) skip() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *mathParser) token() string {
	end := p.pos + 1
	for end < len(p.src) && isIdent(p.src[end]) && isIdent(p.src[p.pos]) {
		end++
	}
	return p.src[p.pos:end]
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *mathParser) peek() byte {
	p.skip()
	if p.pos >= len(p.src) {
		return 0
	}
	return p.src[p.pos]
}

func (p *mathParser) expr() (mathNode, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for c := p.peek(); c == '+' || c == '-'; c = p.peek() {
		p.pos++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = binNode{op: c, l: l, r: r}
	}
	return l, nil
}

func (p *mathParser) term() (mathNode, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for c := p.peek(); c == '*' || c == '/'; c = p.peek() {
		p.pos++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = binNode{op: c, l: l, r: r}
	}
	return l, nil
}

func (p *mathParser) unary() (mathNode, error) {
	if p.peek() == '-' {
		p.pos++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return negNode{x}, nil
	}
	return p.primary()
}

func (p *mathParser) primary() (mathNode, error) {
	c := p.peek()
	switch {
	case c == 0:
		return nil, worded("Unexpected end of expression at char %d", p.pos+1)
	case c == '(':
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, p.unexpected()
		}
		p.pos++
		return n, nil
	case c == '[':
		p.pos++
		items, err := p.list(']')
		if err != nil {
			return nil, err
		}
		return arrNode{items}, nil
	case c == '"':
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return nil, p.unexpected()
		}
		s := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return strNode{s}, nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.pos
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.' || p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
			p.pos++
		}
		v, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil {
			p.pos = start
			return nil, p.unexpected()
		}
		return numNode{v}, nil
	case isIdent(c):
		start := p.pos
		for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
			p.pos++
		}
		name := p.src[start:p.pos]
		if p.peek() == '(' {
			p.pos++
			args, err := p.list(')')
			if err != nil {
				return nil, err
			}
			return callNode{fn: strings.ToUpper(name), args: args}, nil
		}
		return idNode{name}, nil
	default:
		return nil, p.unexpected()
	}
}

// list reads comma-separated expressions up to the closing byte.
func (p *mathParser) list(closing byte) ([]mathNode, error) {
	var items []mathNode
	if p.peek() == closing {
		p.pos++
		return items, nil
	}
	for {
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, n)
		switch p.peek() {
		case ',':
			p.pos++
		case closing:
			p.pos++
			return items, nil
		default:
			return nil, p.unexpected()
		}
	}
}

func (p *mathParser) unexpected() error {
	p.skip()
	if p.pos >= len(p.src) {
		return worded("Unexpected end of expression at char %d", p.pos+1)
	}
	return worded("Unsupported token '%s' at char %d", p.token(), p.pos+1)
}

// mathEnv resolves the ids an expression names.
type mathEnv struct {
	lookup  func(id string) (*timeSeries, error)
	metrics func(filter string) []*timeSeries // METRICS(): the MetricStat queries
}

func evalMath(n mathNode, env *mathEnv) (mathValue, error) {
	switch n := n.(type) {
	case numNode:
		return mathValue{kind: kindScalar, scalar: n.v}, nil
	case strNode:
		return mathValue{}, fmt.Errorf("a string may only be an argument of METRICS")
	case idNode:
		ts, err := env.lookup(n.id)
		if err != nil {
			return mathValue{}, err
		}
		return mathValue{kind: kindSeries, series: ts}, nil
	case negNode:
		x, err := evalMath(n.x, env)
		if err != nil {
			return mathValue{}, err
		}
		return apply(x, func(v float64) float64 { return -v }), nil
	case binNode:
		l, err := evalMath(n.l, env)
		if err != nil {
			return mathValue{}, err
		}
		r, err := evalMath(n.r, env)
		if err != nil {
			return mathValue{}, err
		}
		return combine(n.op, l, r)
	case arrNode:
		var arr []*timeSeries
		for _, item := range n.items {
			v, err := evalMath(item, env)
			if err != nil {
				return mathValue{}, err
			}
			switch v.kind {
			case kindSeries:
				arr = append(arr, v.series)
			case kindArray:
				arr = append(arr, v.array...)
			default:
				return mathValue{}, fmt.Errorf("an array may hold only time series")
			}
		}
		return mathValue{kind: kindArray, array: arr}, nil
	case callNode:
		return call(n, env)
	}
	return mathValue{}, fmt.Errorf("unknown expression")
}

func apply(x mathValue, f func(float64) float64) mathValue {
	switch x.kind {
	case kindScalar:
		return mathValue{kind: kindScalar, scalar: f(x.scalar)}
	case kindSeries:
		return mathValue{kind: kindSeries, series: mapSeries(x.series, f)}
	default:
		out := make([]*timeSeries, len(x.array))
		for i, s := range x.array {
			out[i] = mapSeries(s, f)
		}
		return mathValue{kind: kindArray, array: out}
	}
}

func mapSeries(s *timeSeries, f func(float64) float64) *timeSeries {
	out := &timeSeries{start: s.start, period: s.period, values: make([]float64, len(s.values))}
	for i, v := range s.values {
		if math.IsNaN(v) {
			out.values[i] = v
			continue
		}
		out.values[i] = f(v)
	}
	return out
}

func arith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	default:
		if b == 0 {
			return math.NaN() // no datapoint where CloudWatch would divide by zero
		}
		return a / b
	}
}

func combine(op byte, l, r mathValue) (mathValue, error) {
	switch {
	case l.kind == kindScalar && r.kind == kindScalar:
		return mathValue{kind: kindScalar, scalar: arith(op, l.scalar, r.scalar)}, nil
	case l.kind == kindScalar:
		return apply(r, func(v float64) float64 { return arith(op, l.scalar, v) }), nil
	case r.kind == kindScalar:
		return apply(l, func(v float64) float64 { return arith(op, v, r.scalar) }), nil
	case l.kind == kindSeries && r.kind == kindSeries:
		s, err := zip(op, l.series, r.series)
		if err != nil {
			return mathValue{}, err
		}
		return mathValue{kind: kindSeries, series: s}, nil
	case l.kind == kindArray && r.kind == kindSeries:
		out := make([]*timeSeries, len(l.array))
		for i, s := range l.array {
			z, err := zip(op, s, r.series)
			if err != nil {
				return mathValue{}, err
			}
			out[i] = z
		}
		return mathValue{kind: kindArray, array: out}, nil
	case l.kind == kindSeries && r.kind == kindArray:
		out := make([]*timeSeries, len(r.array))
		for i, s := range r.array {
			z, err := zip(op, l.series, s)
			if err != nil {
				return mathValue{}, err
			}
			out[i] = z
		}
		return mathValue{kind: kindArray, array: out}, nil
	default:
		return mathValue{}, fmt.Errorf("an arithmetic operation between two arrays is not supported")
	}
}

func zip(op byte, a, b *timeSeries) (*timeSeries, error) {
	if !a.sameGrid(b) {
		return nil, fmt.Errorf("sfn-rollout local computes metric math only over queries with the same Period")
	}
	out := &timeSeries{start: a.start, period: a.period, values: make([]float64, len(a.values))}
	for i := range a.values {
		x, y := a.values[i], b.values[i]
		if math.IsNaN(x) || math.IsNaN(y) {
			out.values[i] = math.NaN()
			continue
		}
		out.values[i] = arith(op, x, y)
	}
	return out, nil
}

func call(n callNode, env *mathEnv) (mathValue, error) {
	switch n.fn {
	case "METRICS":
		filter := ""
		if len(n.args) > 1 {
			return mathValue{}, worded("METRICS takes at most one argument")
		}
		if len(n.args) == 1 {
			s, ok := n.args[0].(strNode)
			if !ok {
				return mathValue{}, fmt.Errorf("the argument of METRICS must be a string")
			}
			filter = s.s
		}
		return mathValue{kind: kindArray, array: env.metrics(filter)}, nil
	case "SUM", "AVG", "MIN", "MAX":
		if len(n.args) != 1 {
			return mathValue{}, fmt.Errorf("%s takes one argument", n.fn)
		}
		x, err := evalMath(n.args[0], env)
		if err != nil {
			return mathValue{}, err
		}
		return reduce(n.fn, x)
	case "ABS":
		if len(n.args) != 1 {
			return mathValue{}, worded("ABS takes one argument")
		}
		x, err := evalMath(n.args[0], env)
		if err != nil {
			return mathValue{}, err
		}
		return apply(x, math.Abs), nil
	case "FILL":
		if len(n.args) != 2 {
			return mathValue{}, worded("FILL takes two arguments")
		}
		x, err := evalMath(n.args[0], env)
		if err != nil {
			return mathValue{}, err
		}
		with, err := evalMath(n.args[1], env)
		if err != nil {
			return mathValue{}, err
		}
		if with.kind != kindScalar {
			return mathValue{}, fmt.Errorf("sfn-rollout local supports FILL only with a number (not REPEAT, LINEAR or a series)")
		}
		fill := func(s *timeSeries) *timeSeries {
			out := &timeSeries{start: s.start, period: s.period, values: make([]float64, len(s.values))}
			for i, v := range s.values {
				if math.IsNaN(v) {
					v = with.scalar
				}
				out.values[i] = v
			}
			return out
		}
		switch x.kind {
		case kindSeries:
			return mathValue{kind: kindSeries, series: fill(x.series)}, nil
		case kindArray:
			out := make([]*timeSeries, len(x.array))
			for i, s := range x.array {
				out[i] = fill(s)
			}
			return mathValue{kind: kindArray, array: out}, nil
		default:
			return mathValue{}, fmt.Errorf("the first argument of FILL must be a time series")
		}
	default:
		return mathValue{}, fmt.Errorf("sfn-rollout local does not support the function %s (supported: SUM, AVG, MIN, MAX, ABS, FILL, METRICS)", n.fn)
	}
}

// reduce applies SUM/AVG/MIN/MAX: per timestamp across an array, or to one number over a series.
func reduce(fn string, x mathValue) (mathValue, error) {
	fold := func(vals []float64) float64 {
		n, acc := 0, 0.0
		for _, v := range vals {
			if math.IsNaN(v) {
				continue
			}
			switch {
			case n == 0:
				acc = v
			case fn == "MIN":
				acc = math.Min(acc, v)
			case fn == "MAX":
				acc = math.Max(acc, v)
			default:
				acc += v
			}
			n++
		}
		if n == 0 {
			return math.NaN()
		}
		if fn == "AVG" {
			return acc / float64(n)
		}
		return acc
	}
	switch x.kind {
	case kindScalar:
		return x, nil
	case kindSeries:
		return mathValue{kind: kindScalar, scalar: fold(x.series.values)}, nil
	default:
		if len(x.array) == 0 {
			return mathValue{}, fmt.Errorf("%s of an empty array", fn)
		}
		first := x.array[0]
		out := &timeSeries{start: first.start, period: first.period, values: make([]float64, len(first.values))}
		col := make([]float64, len(x.array))
		for i := range out.values {
			for j, s := range x.array {
				if !s.sameGrid(first) {
					return mathValue{}, fmt.Errorf("sfn-rollout local computes metric math only over queries with the same Period")
				}
				col[j] = s.values[i]
			}
			out.values[i] = fold(col)
		}
		return mathValue{kind: kindSeries, series: out}, nil
	}
}
