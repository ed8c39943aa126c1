package cloudwatch

import (
	"strings"
	"unicode"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// A composite alarm's AlarmRule: ALARM(x), OK(x), INSUFFICIENT_DATA(x) with x an alarm name
// or ARN, quoted or not; TRUE and FALSE; NOT, AND, OR (binding in that order) and
// parentheses.

type ruleNode interface {
	eval(state func(name string) string) bool
}

type (
	ruleConst bool
	ruleState struct{ want, name string }
	ruleNot   struct{ x ruleNode }
	ruleAnd   struct{ l, r ruleNode }
	ruleOr    struct{ l, r ruleNode }
)

func (c ruleConst) eval(func(string) string) bool       { return bool(c) }
func (s ruleState) eval(state func(string) string) bool { return state(s.name) == s.want }
func (n ruleNot) eval(state func(string) string) bool   { return !n.x.eval(state) }
func (a ruleAnd) eval(state func(string) string) bool   { return a.l.eval(state) && a.r.eval(state) }
func (o ruleOr) eval(state func(string) string) bool    { return o.l.eval(state) || o.r.eval(state) }

// alarmArnPrefix is what an alarm's ARN starts with; what follows is its name.
const alarmArnPrefix = "arn:" + core.Partition + ":cloudwatch:" + core.Region + ":" + core.Account + ":alarm:"

type ruleToken struct {
	text string
	pos  int // 1-based
}

// parseRule parses an AlarmRule and returns the alarm names it references, in order of
// first appearance. Errors read like CloudWatch's ("Unsupported token ')' at char 1", seen
// in aws/aws-cdk#34662); the caller wraps them in "Error in AlarmRule [...]".
func parseRule(src string) (ruleNode, []string, error) {
	toks, err := tokenizeRule(src)
	if err != nil {
		return nil, nil, err
	}
	p := &ruleParser{toks: toks, end: len(src) + 1, seen: map[string]bool{}}
	n, err := p.or()
	if err != nil {
		return nil, nil, err
	}
	if p.i < len(p.toks) {
		return nil, nil, p.unsupported()
	}
	return n, p.names, nil
}

func tokenizeRule(src string) ([]ruleToken, error) {
	var toks []ruleToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '(' || c == ')':
			toks = append(toks, ruleToken{string(c), i + 1})
			i++
		case c == '"':
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return nil, worded("Unterminated string at char %d", i+1)
			}
			toks = append(toks, ruleToken{src[i : i+end+2], i + 1})
			i += end + 2
		default:
			start := i
			for i < len(src) && !unicode.IsSpace(rune(src[i])) && src[i] != '(' && src[i] != ')' && src[i] != '"' {
				i++
			}
			toks = append(toks, ruleToken{src[start:i], start + 1})
		}
	}
	return toks, nil
}

type ruleParser struct {
	toks  []ruleToken
	i     int
	end   int
	names []string
	seen  map[string]bool
}

func (p *ruleParser) peek() string {
	if p.i >= len(p.toks) {
		return ""
	}
	return p.toks[p.i].text
}

func (p *ruleParser) unsupported() error {
	if p.i >= len(p.toks) {
		return worded("Unexpected end of rule at char %d", p.end)
	}
	t := p.toks[p.i]
	return worded("Unsupported token '%s' at char %d", t.text, t.pos)
}

func (p *ruleParser) or() (ruleNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "OR") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = ruleOr{l, r}
	}
	return l, nil
}

func (p *ruleParser) and() (ruleNode, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "AND") {
		p.i++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = ruleAnd{l, r}
	}
	return l, nil
}

func (p *ruleParser) not() (ruleNode, error) {
	if strings.EqualFold(p.peek(), "NOT") {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return ruleNot{x}, nil
	}
	return p.primary()
}

func (p *ruleParser) primary() (ruleNode, error) {
	tok := p.peek()
	switch strings.ToUpper(tok) {
	case "(":
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, p.unsupported()
		}
		p.i++
		return n, nil
	case "TRUE":
		p.i++
		return ruleConst(true), nil
	case "FALSE":
		p.i++
		return ruleConst(false), nil
	case "ALARM", "OK", "INSUFFICIENT_DATA":
		want := strings.ToUpper(tok)
		p.i++
		if p.peek() != "(" {
			return nil, p.unsupported()
		}
		p.i++
		// A name may hold spaces when quoted; unquoted it is one token.
		if p.i >= len(p.toks) || p.peek() == ")" {
			return nil, p.unsupported()
		}
		name := strings.Trim(p.peek(), `"`)
		p.i++
		if p.peek() != ")" {
			return nil, p.unsupported()
		}
		p.i++
		name = strings.TrimPrefix(name, alarmArnPrefix)
		if !p.seen[name] {
			p.seen[name] = true
			p.names = append(p.names, name)
		}
		return ruleState{want: want, name: name}, nil
	default:
		return nil, p.unsupported()
	}
}
