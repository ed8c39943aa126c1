package asl

import (
	"encoding/json"
	"strings"
	"time"
)

// Choice rules. A comparison whose Variable (or *Path operand) names nothing fails the
// execution with States.Runtime, except IsPresent, which is what it tests. A comparison of
// values of the wrong type is false, as in Step Functions.

type opFamily uint8

const (
	famString opFamily = iota
	famNumeric
	famBoolean
	famTimestamp
	famMatches
	famTest // IsNull, IsPresent, ...
)

type opRel uint8

const (
	relEQ opRel = iota
	relLT
	relGT
	relLE
	relGE
)

type operator struct {
	family opFamily
	rel    opRel
	path   bool // the operand is a path to compare with
}

var operators = map[string]operator{}

func init() {
	rels := []struct {
		suffix string
		rel    opRel
	}{{"Equals", relEQ}, {"LessThan", relLT}, {"GreaterThan", relGT}, {"LessThanEquals", relLE}, {"GreaterThanEquals", relGE}}
	for _, fam := range []struct {
		prefix string
		family opFamily
	}{{"String", famString}, {"Numeric", famNumeric}, {"Timestamp", famTimestamp}} {
		for _, r := range rels {
			operators[fam.prefix+r.suffix] = operator{family: fam.family, rel: r.rel}
			operators[fam.prefix+r.suffix+"Path"] = operator{family: fam.family, rel: r.rel, path: true}
		}
	}
	operators["BooleanEquals"] = operator{family: famBoolean}
	operators["BooleanEqualsPath"] = operator{family: famBoolean, path: true}
	operators["StringMatches"] = operator{family: famMatches}
	for _, t := range []string{"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"} {
		operators[t] = operator{family: famTest}
	}
}

type rule struct {
	name     string // And, Or, Not or the operator
	children []*rule
	variable *jsonPath
	op       operator
	operand  any       // the literal: string, json.Number, bool, time.Time, or []matchPart
	other    *jsonPath // the operand of a *Path operator
	next     string    // top-level rules only
	assign   *tnode    // top-level rules only: applied when the rule matches
}

// matchPart is a piece of a StringMatches pattern: literal text, or a '*' wildcard.
type matchPart struct {
	text     string
	wildcard bool
}

func compilePattern(p string) []matchPart {
	var parts []matchPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, matchPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && (p[i+1] == '*' || p[i+1] == '\\'):
			lit.WriteByte(p[i+1])
			i++
		case p[i] == '*':
			flush()
			if len(parts) == 0 || !parts[len(parts)-1].wildcard {
				parts = append(parts, matchPart{wildcard: true})
			}
		default:
			lit.WriteByte(p[i])
		}
	}
	flush()
	return parts
}

// matches is glob matching with '*' only. With no other wildcard, taking each middle literal
// at its leftmost place is always right; the first and last literals are anchored unless a
// '*' stands before or after them.
func matches(parts []matchPart, s string) bool {
	if len(parts) == 1 && !parts[0].wildcard {
		return s == parts[0].text
	}
	if len(parts) > 0 && !parts[0].wildcard {
		if !strings.HasPrefix(s, parts[0].text) {
			return false
		}
		s = s[len(parts[0].text):]
		parts = parts[1:]
	}
	if n := len(parts); n > 0 && !parts[n-1].wildcard {
		if !strings.HasSuffix(s, parts[n-1].text) {
			return false
		}
		s = s[:len(s)-len(parts[n-1].text)]
		parts = parts[:n-1]
	}
	if len(parts) == 0 {
		return s == ""
	}
	for _, p := range parts {
		if p.wildcard {
			continue
		}
		i := strings.Index(s, p.text)
		if i < 0 {
			return false
		}
		s = s[i+len(p.text):]
	}
	return true
}

func parseTimestamp(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// eval decides the rule against the state's effective input.
func (r *rule) eval(env *evalEnv) (bool, *Failure) {
	switch r.name {
	case "And":
		for _, c := range r.children {
			ok, f := c.eval(env)
			if f != nil || !ok {
				return false, f
			}
		}
		return true, nil
	case "Or":
		for _, c := range r.children {
			ok, f := c.eval(env)
			if f != nil || ok {
				return ok, f
			}
		}
		return false, nil
	case "Not":
		ok, f := r.children[0].eval(env)
		return !ok, f
	}
	v, found := env.lookup(r.variable)
	if r.name == "IsPresent" {
		return found == r.operand.(bool), nil
	}
	if !found {
		return false, runtimeFailure("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable.raw)
	}
	if r.op.family == famTest {
		want := r.operand.(bool)
		var is bool
		switch r.name {
		case "IsNull":
			is = v == nil
		case "IsNumeric":
			_, is = number(v)
		case "IsString":
			_, is = v.(string)
		case "IsBoolean":
			_, is = v.(bool)
		case "IsTimestamp":
			_, is = parseTimestamp(v)
		}
		return is == want, nil
	}
	operand := r.operand
	if r.op.path {
		o, found := env.lookup(r.other)
		if !found {
			return false, runtimeFailure("Invalid path '%s': The choice state's condition path references an invalid value.", r.other.raw)
		}
		operand = o
		if r.op.family == famTimestamp {
			t, ok := parseTimestamp(o)
			if !ok {
				return false, nil
			}
			operand = t
		}
	}
	switch r.op.family {
	case famString:
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		return relation(r.op.rel, strings.Compare(a, b)), nil
	case famMatches:
		s, ok := v.(string)
		return ok && matches(operand.([]matchPart), s), nil
	case famNumeric:
		a, ok1 := number(v)
		b, ok2 := number(operand)
		if !ok1 || !ok2 {
			return false, nil
		}
		return relation(r.op.rel, a.Cmp(b)), nil
	case famBoolean:
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	case famTimestamp:
		a, ok := parseTimestamp(v)
		if !ok {
			return false, nil
		}
		return relation(r.op.rel, a.Compare(operand.(time.Time))), nil
	}
	return false, nil
}

func relation(rel opRel, cmp int) bool {
	switch rel {
	case relEQ:
		return cmp == 0
	case relLT:
		return cmp < 0
	case relGT:
		return cmp > 0
	case relLE:
		return cmp <= 0
	}
	return cmp >= 0
}

// lookup reads a path of the input or of the context object.
func (env *evalEnv) lookup(p *jsonPath) (any, bool) {
	if p.variable != "" {
		return env.vars.lookup(p)
	}
	if p.context {
		return p.get(env.context())
	}
	return p.get(env.input)
}

// compileRule checks one choice rule. top rules carry Next; nested ones must not.
func (c *checker) compileRule(v any, loc string, top bool, depth int) *rule {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return nil
	}
	if depth > 100 {
		c.schema(loc, "Choice rules are nested too deeply")
		return nil
	}
	r := &rule{}
	var opNames []string
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "Comment":
			c.expectString(val, kloc)
		case "Next":
			if !top {
				c.schema(kloc, "The field 'Next' is not supported in a nested choice rule")
				continue
			}
			if s, ok := c.expectString(val, kloc); ok {
				r.next = s
			}
		case "Variable":
			if s, ok := c.expectString(val, kloc); ok {
				r.variable = c.referencePath(s, kloc, k, true)
			}
		case "And", "Or":
			opNames = append(opNames, k)
			r.name = k
			arr, ok := val.([]any)
			if !ok || len(arr) == 0 {
				c.schema(kloc, "The field '%s' must be a non-empty array of choice rules", k)
				continue
			}
			for i, e := range arr {
				if child := c.compileRule(e, kloc+"/"+itoa(i), false, depth+1); child != nil {
					r.children = append(r.children, child)
				}
			}
		case "Not":
			opNames = append(opNames, k)
			r.name = k
			if child := c.compileRule(val, kloc, false, depth+1); child != nil {
				r.children = []*rule{child}
			}
		case "Assign":
			if !top {
				c.schema(kloc, "The field 'Assign' is not supported in a nested choice rule") // (unconfirmed)
				continue
			}
			r.assign = c.compileAssign(val, kloc)
		case "Condition":
			c.schema(kloc, "The QueryLanguage is set to 'JSONPath', but field 'Condition' is only supported for the 'JSONata' QueryLanguage") // (reported: jsonata.go)
		default:
			op, known := operators[k]
			if !known {
				c.schema(kloc, "The field \"%s\" is not supported by Step Functions", k)
				continue
			}
			opNames = append(opNames, k)
			r.name, r.op = k, op
			r.operand = c.operand(k, op, val, kloc)
			if op.path {
				if s, ok := val.(string); ok {
					r.other = c.referencePath(s, kloc, k, true)
				}
			}
		}
	}
	switch {
	case len(opNames) == 0:
		// The rule is still returned so that its Next counts for reachability.
		c.schema(loc, "A choice rule must have exactly one comparison operator or And, Or, Not")
		return r
	case len(opNames) > 1:
		c.schema(loc, "A choice rule must have exactly one comparison operator or And, Or, Not, not [%s]", strings.Join(opNames, ", "))
		return r
	}
	if top {
		if _, ok := o.get("Next"); !ok {
			c.schema(loc, "These fields are required: [Next]")
		}
	}
	isCombinator := r.name == "And" || r.name == "Or" || r.name == "Not"
	if _, has := o.get("Variable"); isCombinator && has {
		c.schema(loc+"/Variable", "The field 'Variable' is not supported with '%s'", r.name)
	} else if !isCombinator && !has {
		c.schema(loc, "These fields are required: [Variable]")
	}
	return r
}

// operand checks the literal operand of a comparison.
func (c *checker) operand(name string, op operator, v any, loc string) any {
	if op.path {
		if _, ok := v.(string); !ok {
			c.schema(loc, "Expected value of type [STRING] for '%s'", name)
		}
		return nil
	}
	switch op.family {
	case famString, famMatches:
		s, ok := v.(string)
		if !ok {
			c.schema(loc, "Expected value of type [STRING] for '%s'", name)
			return nil
		}
		if op.family == famMatches {
			return compilePattern(s)
		}
		return s
	case famNumeric:
		if _, ok := v.(json.Number); !ok {
			c.schema(loc, "Expected value of type [NUMBER] for '%s'", name)
			return nil
		}
		if _, ok := number(v); !ok {
			c.schema(loc, "The number for '%s' is out of range", name)
		}
		return v
	case famBoolean, famTest:
		b, ok := v.(bool)
		if !ok {
			c.schema(loc, "Expected value of type [BOOLEAN] for '%s'", name)
			return nil
		}
		return b
	case famTimestamp:
		t, ok := parseTimestamp(v)
		if !ok {
			c.schema(loc, "The value for '%s' must be an RFC 3339 timestamp, such as 2016-03-14T01:59:00Z", name)
			return nil
		}
		return t
	}
	return nil
}
