package eventbridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is the JSONPath subset EventBridge documents for InputPath and InputPathsMap:
// $, dot notation (names may hold dashes, underscores, slashes), array indexes and the *
// wildcard.
type jsonPath []pathStep

type pathStep struct {
	name     string
	index    int
	isIndex  bool
	wildcard bool
}

func parseJSONPath(p string) (jsonPath, error) {
	if p == "" || p[0] != '$' {
		return nil, fmt.Errorf("%q is not a JSON path starting with $", p)
	}
	var steps jsonPath
	rest := p[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" {
				return nil, fmt.Errorf("%q has an empty name", p)
			}
			if name == "*" {
				steps = append(steps, pathStep{wildcard: true})
			} else {
				steps = append(steps, pathStep{name: name})
			}
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%q has an unclosed [", p)
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			switch {
			case inner == "*":
				steps = append(steps, pathStep{wildcard: true})
			case len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0]:
				steps = append(steps, pathStep{name: inner[1 : len(inner)-1]})
			default:
				i, err := strconv.Atoi(inner)
				if err != nil || i < 0 {
					return nil, fmt.Errorf("%q has a bad index [%s]", p, inner)
				}
				steps = append(steps, pathStep{index: i, isIndex: true})
			}
		default:
			return nil, fmt.Errorf("%q is not a JSON path in dot notation", p)
		}
	}
	return steps, nil
}

// eval selects the value at the path; ok is false where the event has none. A path with
// a wildcard selects the list of what it matched.
func (p jsonPath) eval(v any) (any, bool) {
	wild := false
	current := []any{v}
	for _, s := range p {
		var next []any
		for _, c := range current {
			switch {
			case s.wildcard:
				wild = true
				switch x := c.(type) {
				case map[string]any:
					for _, e := range x {
						next = append(next, e)
					}
				case []any:
					next = append(next, x...)
				}
			case s.isIndex:
				if arr, ok := c.([]any); ok && s.index < len(arr) {
					next = append(next, arr[s.index])
				}
			default:
				if obj, ok := c.(map[string]any); ok {
					if e, ok := obj[s.name]; ok {
						next = append(next, e)
					}
				}
			}
		}
		current = next
	}
	if wild {
		if len(current) == 0 {
			return nil, false
		}
		return current, true
	}
	if len(current) != 1 {
		return nil, false
	}
	return current[0], true
}

// templateVar is one value an InputTemplate may name.
type templateVar struct {
	value   any             // the decoded JSON value
	raw     json.RawMessage // or the value as JSON text, kept as it is
	present bool            // false where the path selected nothing
}

// renderTemplate fills an InputTemplate as EventBridge does:
//   - a template that is JSON (it starts with { or [): a placeholder outside a string is
//     replaced by the value as JSON ("RUNNING" with its quotes, an object as an object), a
//     placeholder inside a string by the value's text;
//   - any other template (a quoted string such as "instance <id> is <state>"): placeholders
//     are replaced by the values' text.
//
// Placeholders that name no variable are left as they are. A variable whose path selected
// nothing becomes null outside a string and nothing inside one. Unlike AWS, which inserts
// values unescaped, text inside a JSON string is escaped so that the result stays valid
// JSON (a Lambda payload and an execution input must be JSON).
func renderTemplate(tpl string, vars map[string]templateVar) string {
	trimmed := strings.TrimSpace(tpl)
	jsonMode := strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")
	var out strings.Builder
	inString, escaped := false, false
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if inString && escaped {
			escaped = false
			out.WriteByte(c)
			continue
		}
		switch c {
		case '\\':
			if inString {
				escaped = true
			}
		case '"':
			inString = !inString
		case '<':
			if name, ok := placeholderAt(tpl[i:]); ok {
				if v, ok := vars[name]; ok {
					out.WriteString(substitute(v, inString, jsonMode))
					i += len(name) + 1
					continue
				}
			}
		}
		out.WriteByte(c)
	}
	return out.String()
}

// placeholderAt reads <name> at the start of s.
func placeholderAt(s string) (string, bool) {
	end := strings.IndexByte(s, '>')
	if end < 2 {
		return "", false
	}
	name := s[1:end]
	if strings.ContainsAny(name, "<\"\n\t ") {
		return "", false
	}
	return name, true
}

func substitute(v templateVar, inString, jsonMode bool) string {
	if !v.present {
		if jsonMode && !inString {
			return "null"
		}
		return ""
	}
	if s, ok := v.value.(string); ok {
		if inString {
			return escapeInString(s)
		}
		if jsonMode {
			return quoteJSON(s)
		}
		return s
	}
	text := string(v.raw)
	if v.raw == nil {
		text = compactJSON(v.value)
	}
	if inString {
		return escapeInString(text)
	}
	return text
}

func escapeInString(s string) string {
	q := quoteJSON(s)
	return q[1 : len(q)-1]
}

func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "null"
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// asPayload makes a transformed input a JSON document: minified when it is JSON (as AWS
// passes it), otherwise a JSON string of the text (AWS would pass the bare text, which
// neither a Lambda payload nor an execution input accepts).
func asPayload(text string) json.RawMessage {
	var buf bytes.Buffer
	if json.Valid([]byte(text)) && json.Compact(&buf, []byte(text)) == nil {
		return json.RawMessage(buf.Bytes())
	}
	return json.RawMessage(quoteJSON(text))
}
