package asl

import (
	"strings"
)

// Payload templates: Parameters, ItemSelector and ResultSelector. A field whose name ends
// in ".$" takes its value from a path ($ the input, $$ the context object) or an intrinsic
// function call; other fields are copied. Objects and arrays are walked recursively.

type tkind uint8

const (
	tLiteral tkind = iota
	tObject
	tArray
	tPath
	tIntrinsic
)

type tnode struct {
	kind   tkind
	lit    any // tLiteral, and tObject/tArray when nothing in them is dynamic
	fields []tfield
	items  []*tnode
	path   *jsonPath
	call   *iexpr
	field  string // the ".$" field, for messages
}

type tfield struct {
	key  string
	node *tnode
}

// compileTemplate checks a payload template and compiles it. what names the template's
// field for messages ("Parameters").
func (c *checker) compileTemplate(v any, loc, what string) *tnode {
	if _, ok := v.(*object); !ok {
		c.schema(loc, "The value for the field '%s' must be an OBJECT", what)
		return nil
	}
	return c.templateNode(v, loc, 0)
}

func (c *checker) templateNode(v any, loc string, depth int) *tnode {
	switch t := v.(type) {
	case *object:
		n := &tnode{kind: tObject}
		dynamic := false
		for _, k := range t.keys {
			val := t.vals[k]
			floc := loc + "/" + k
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				s, isString := val.(string)
				if !isString {
					c.schema(floc, "The value for the field '%s' must be a STRING that contains a JSONPath or an intrinsic function", k)
					continue
				}
				child := c.dynamicValue(s, floc, k)
				if child == nil {
					continue
				}
				dynamic = true
				n.fields = append(n.fields, tfield{key: name, node: child})
				continue
			}
			child := c.templateNode(val, floc, depth+1)
			if child == nil {
				continue
			}
			if child.kind != tLiteral {
				dynamic = true
			}
			n.fields = append(n.fields, tfield{key: k, node: child})
		}
		if !dynamic {
			return &tnode{kind: tLiteral, lit: plain(t)}
		}
		return n
	case []any:
		n := &tnode{kind: tArray}
		dynamic := false
		for i, e := range t {
			child := c.templateNode(e, loc+"/"+itoa(i), depth+1)
			if child == nil {
				child = &tnode{kind: tLiteral}
			}
			if child.kind != tLiteral {
				dynamic = true
			}
			n.items = append(n.items, child)
		}
		if !dynamic {
			return &tnode{kind: tLiteral, lit: plain(t)}
		}
		return n
	default:
		return &tnode{kind: tLiteral, lit: t}
	}
}

// dynamicValue compiles the string value of a ".$" field: a path or an intrinsic call.
func (c *checker) dynamicValue(s, loc, field string) *tnode {
	if looksLikeIntrinsic(s) {
		call := c.intrinsic(s, loc, field)
		if call == nil {
			return nil
		}
		return &tnode{kind: tIntrinsic, call: call, field: field}
	}
	p, err := parsePath(s)
	if err != nil {
		if isUnsupported(err) {
			c.unsupportedPath(loc, s, field, err)
		} else {
			c.schema(loc, "The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call", field)
		}
		return nil
	}
	return &tnode{kind: tPath, path: p, field: field}
}

func (c *checker) intrinsic(s, loc, field string) *iexpr {
	call, err := parseIntrinsic(s)
	if err != nil {
		if ie, ok := err.(*intrinsicError); ok && ie.unsupported {
			c.unsupported(loc, "The field '%s': %s", field, ie.msg)
		} else {
			c.schema(loc, "The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call: %v", field, err)
		}
		return nil
	}
	return call
}

// eval builds the payload.
func (n *tnode) eval(env *evalEnv) (any, *Failure) {
	switch n.kind {
	case tLiteral:
		return n.lit, nil
	case tPath:
		saved := env.field
		env.field = n.field
		v, f := env.resolve(n.path)
		env.field = saved
		return v, f
	case tIntrinsic:
		saved := env.field
		env.field = n.field
		v, f := n.call.eval(env)
		env.field = saved
		return v, f
	case tArray:
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
