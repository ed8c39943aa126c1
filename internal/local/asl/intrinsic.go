package asl

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"
)

// Intrinsic functions: States.Format('{} and {}', $.a, States.ArrayLength($.b)). The
// arguments are string literals in single quotes (\' \{ \} \\ escape), numbers, true,
// false, null, paths ($ or $$) and nested calls.

type ikind uint8

const (
	iCall ikind = iota
	iString
	iNumber
	iBool
	iNull
	iPath
)

type iexpr struct {
	kind ikind
	name string   // iCall: the function, "States.Format"
	args []*iexpr // iCall
	str  string   // iString: the value, escapes resolved
	src  string   // iString: the text between the quotes, escapes kept (Format templates)
	num  json.Number
	b    bool
	path *jsonPath
}

// intrinsicLimits keep hostile input cheap.
const (
	maxIntrinsicDepth = 64
	maxIntrinsicLen   = 64 << 10
	maxStringInput    = 10000 // Base64Encode/Decode and Hash take at most 10,000 characters
	maxArrayRange     = 1000
)

// intrinsicError is a malformed intrinsic call (a definition problem), naming what is wrong.
type intrinsicError struct {
	msg         string
	unsupported bool // a States.* function this engine does not implement
}

func (e *intrinsicError) Error() string { return e.msg }

// looksLikeIntrinsic tells a payload value meant as an intrinsic call from a path.
func looksLikeIntrinsic(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), "States.")
}

// parseIntrinsic parses a whole intrinsic call.
func parseIntrinsic(s string) (*iexpr, error) {
	if len(s) > maxIntrinsicLen {
		return nil, &intrinsicError{msg: "the intrinsic function call is too long"}
	}
	p := &iparser{s: s}
	p.space()
	e, err := p.call(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %q after the function call", p.s[p.i:])
	}
	return e, nil
}

type iparser struct {
	s string
	i int
}

func (p *iparser) errorf(format string, a ...any) error {
	return &intrinsicError{msg: fmt.Sprintf(format, a...)}
}

func (p *iparser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *iparser) call(depth int) (*iexpr, error) {
	if depth > maxIntrinsicDepth {
		return nil, p.errorf("intrinsic function calls are nested too deeply")
	}
	start := p.i
	for p.i < len(p.s) && (isIdentByte(p.s[p.i]) || p.s[p.i] == '.') {
		p.i++
	}
	name := p.s[start:p.i]
	if !strings.HasPrefix(name, "States.") || len(name) == len("States.") {
		return nil, p.errorf("expected an intrinsic function name (States.*) at position %d", start)
	}
	fn, ok := intrinsics[name]
	if !ok {
		return nil, &intrinsicError{msg: fmt.Sprintf("the intrinsic function %s is not supported by sfn-rollout local", name), unsupported: true}
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, p.errorf("expected '(' after %s", name)
	}
	p.i++
	e := &iexpr{kind: iCall, name: name}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			p.space()
			arg, err := p.arg(depth)
			if err != nil {
				return nil, err
			}
			e.args = append(e.args, arg)
			p.space()
			if p.i >= len(p.s) {
				return nil, p.errorf("missing ')' in the call of %s", name)
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			return nil, p.errorf("unexpected %q in the arguments of %s", p.s[p.i], name)
		}
	}
	if len(e.args) < fn.min || (fn.max >= 0 && len(e.args) > fn.max) {
		return nil, p.errorf("%s takes %s, not %d", name, fn.arity(), len(e.args))
	}
	return e, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (p *iparser) arg(depth int) (*iexpr, error) {
	if p.i >= len(p.s) {
		return nil, p.errorf("missing argument")
	}
	c := p.s[p.i]
	switch {
	case c == '\'':
		return p.stringLit()
	case c == '$':
		return p.pathArg()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.numberLit()
	case strings.HasPrefix(p.s[p.i:], "States."):
		return p.call(depth + 1)
	}
	for _, lit := range []struct {
		word string
		e    iexpr
	}{{"true", iexpr{kind: iBool, b: true}}, {"false", iexpr{kind: iBool}}, {"null", iexpr{kind: iNull}}} {
		if strings.HasPrefix(p.s[p.i:], lit.word) {
			end := p.i + len(lit.word)
			if end == len(p.s) || !isIdentByte(p.s[end]) {
				p.i = end
				e := lit.e
				return &e, nil
			}
		}
	}
	return nil, p.errorf("unexpected %q at position %d: an argument is a 'string', a number, true, false, null, a path or a call", c, p.i)
}

func (p *iparser) stringLit() (*iexpr, error) {
	p.i++ // the opening quote
	start := p.i
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return nil, p.errorf("unterminated string literal")
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		case '\'':
			e := &iexpr{kind: iString, str: b.String(), src: p.s[start:p.i]}
			p.i++
			return e, nil
		}
		b.WriteByte(c)
		p.i++
	}
	return nil, p.errorf("unterminated string literal")
}

func (p *iparser) numberLit() (*iexpr, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.s) && strings.IndexByte("0123456789.eE+-", p.s[p.i]) >= 0 {
		p.i++
	}
	text := p.s[start:p.i]
	if !json.Valid([]byte(text)) {
		return nil, p.errorf("invalid number %q", text)
	}
	if _, ok := number(json.Number(text)); !ok {
		return nil, p.errorf("invalid number %q", text)
	}
	return &iexpr{kind: iNumber, num: json.Number(text)}, nil
}

// pathArg reads a path up to the ',' or ')' that ends the argument, minding brackets and
// quoted names.
func (p *iparser) pathArg() (*iexpr, error) {
	start := p.i
	depth := 0
	var quote byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		if quote != 0 {
			if c == '\\' {
				p.i++
			} else if c == quote {
				quote = 0
			}
			p.i++
			continue
		}
		if c == '\'' || c == '"' {
			if depth == 0 {
				return nil, p.errorf("unexpected quote in the path at position %d", p.i)
			}
			quote = c
		} else if c == '[' {
			depth++
		} else if c == ']' {
			depth--
		} else if depth <= 0 && (c == ',' || c == ')' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			break
		}
		p.i++
	}
	text := p.s[start:min(p.i, len(p.s))]
	path, err := parsePath(text)
	if err != nil {
		if isUnsupported(err) {
			return nil, &intrinsicError{msg: fmt.Sprintf("the path %s: %v", text, err), unsupported: true}
		}
		return nil, p.errorf("invalid path %q: %v", text, err)
	}
	if !path.definite() {
		return nil, p.errorf("the path %q must select a single value", text)
	}
	return &iexpr{kind: iPath, path: path}, nil
}

// evalEnv is what evaluating payloads and intrinsics needs.
type evalEnv struct {
	input   any
	context func() any
	field   string // the payload field, for messages: "name.$"
	rand    func(func(*rand.Rand))
	vars    *varScope // the state's variables ($name paths)
}

func (env *evalEnv) resolve(p *jsonPath) (any, *Failure) {
	if p.variable != "" {
		return env.vars.resolve(p, env.field)
	}
	root, where := env.input, "input"
	if p.context {
		root, where = env.context(), "context object"
	}
	v, ok := p.get(root)
	if !ok {
		return nil, runtimeFailure("The JSONPath '%s' specified for the field '%s' could not be found in the %s '%s'", p.raw, env.field, where, encodeString(root))
	}
	return v, nil
}

func intrinsicFailure(format string, a ...any) *Failure {
	return &Failure{Name: ErrIntrinsicFailure, Cause: fmt.Sprintf(format, a...)}
}

func (e *iexpr) eval(env *evalEnv) (any, *Failure) {
	switch e.kind {
	case iString:
		return e.str, nil
	case iNumber:
		return e.num, nil
	case iBool:
		return e.b, nil
	case iNull:
		return nil, nil
	case iPath:
		return env.resolve(e.path)
	}
	args := make([]any, len(e.args))
	for i, a := range e.args {
		v, f := a.eval(env)
		if f != nil {
			return nil, f
		}
		args[i] = v
	}
	fn := intrinsics[e.name]
	v, err := fn.call(e, env, args)
	if err != nil {
		return nil, intrinsicFailure("%s: %v", e.name, err)
	}
	return v, nil
}

type intrinsic struct {
	min, max int // max -1: any number
	call     func(e *iexpr, env *evalEnv, args []any) (any, error)
}

func (f intrinsic) arity() string {
	switch {
	case f.max < 0:
		return fmt.Sprintf("at least %d arguments", f.min)
	case f.min == f.max:
		return fmt.Sprintf("%d arguments", f.min)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

var intrinsics map[string]intrinsic

func init() {
	intrinsics = map[string]intrinsic{
		"States.Format":         {1, -1, fnFormat},
		"States.StringToJson":   {1, 1, fnStringToJSON},
		"States.JsonToString":   {1, 1, fnJSONToString},
		"States.Array":          {0, -1, fnArray},
		"States.ArrayPartition": {2, 2, fnArrayPartition},
		"States.ArrayContains":  {2, 2, fnArrayContains},
		"States.ArrayRange":     {3, 3, fnArrayRange},
		"States.ArrayGetItem":   {2, 2, fnArrayGetItem},
		"States.ArrayLength":    {1, 1, fnArrayLength},
		"States.ArrayUnique":    {1, 1, fnArrayUnique},
		"States.Base64Encode":   {1, 1, fnBase64Encode},
		"States.Base64Decode":   {1, 1, fnBase64Decode},
		"States.Hash":           {2, 2, fnHash},
		"States.JsonMerge":      {3, 3, fnJSONMerge},
		"States.MathRandom":     {2, 3, fnMathRandom},
		"States.MathAdd":        {2, 2, fnMathAdd},
		"States.StringSplit":    {2, 2, fnStringSplit},
		"States.UUID":           {0, 0, fnUUID},
	}
}

func argString(args []any, i int, what string) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("the %s (argument %d) must be a string, not %s", what, i+1, typeName(args[i]))
	}
	return s, nil
}

func argArray(args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, fmt.Errorf("argument %d must be an array, not %s", i+1, typeName(args[i]))
	}
	return a, nil
}

func argInt(args []any, i int, what string) (int64, error) {
	n, ok := integer(args[i])
	if !ok {
		return 0, fmt.Errorf("the %s (argument %d) must be an integer, not %s", what, i+1, encodeString(args[i]))
	}
	return n, nil
}

// argRounded reads a number, rounding a non-integer to the nearest integer as Java's
// Math.round does: Step Functions rounds the numbers of MathAdd, MathRandom and ArrayRange.
func argRounded(args []any, i int, what string) (int64, error) {
	if n, ok := integer(args[i]); ok {
		return n, nil
	}
	f, ok := float(args[i])
	if !ok || f > 9.2e18 || f < -9.2e18 {
		return 0, fmt.Errorf("the %s (argument %d) must be a number, not %s", what, i+1, encodeString(args[i]))
	}
	return int64(math.Floor(f + 0.5)), nil
}

func fnFormat(e *iexpr, _ *evalEnv, args []any) (any, error) {
	tmpl, err := argString(args, 0, "format string")
	if err != nil {
		return nil, err
	}
	escapes := false
	if e.args[0].kind == iString {
		tmpl, escapes = e.args[0].src, true
	}
	var out strings.Builder
	used := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case escapes && c == '\\' && i+1 < len(tmpl):
			out.WriteByte(tmpl[i+1])
			i++
		case c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}':
			used++
			if used < len(args) {
				out.WriteString(formatArg(args[used]))
			}
			i++
		case escapes && (c == '{' || c == '}'):
			return nil, fmt.Errorf("an unescaped '%c' in the format string (write \\\\%c)", c, c)
		default:
			out.WriteByte(c)
		}
	}
	if used != len(args)-1 {
		return nil, fmt.Errorf("the format string has %d placeholders but %d values were given", used, len(args)-1)
	}
	return out.String(), nil
}

// formatArg renders a value the way Step Functions (a Java service) does in States.Format:
// strings as they are, arrays as [a, b], objects as {key=value, ...} (keys sorted here),
// other values as JSON.
func formatArg(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = formatArg(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + formatArg(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return encodeString(v)
}

func fnStringToJSON(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	s, err := argString(args, 0, "value")
	if err != nil {
		return nil, err
	}
	// AWS answers null for an empty string rather than failing. Blank strings are taken
	// the same way, as a JSON reader that skips whitespace sees nothing in them either
	// (unconfirmed for blanks).
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := decodeValue([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("the string is not JSON: %v", err)
	}
	return v, nil
}

func fnJSONToString(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	return encodeString(args[0]), nil
}

func fnArray(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

func fnArrayPartition(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	size, err := argInt(args, 1, "chunk size")
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("the chunk size must be positive, not %d", size)
	}
	out := []any{}
	for i := 0; i < len(a); i += int(min(size, int64(len(a)))) {
		end := i + int(min(size, int64(len(a)-i)))
		chunk := make([]any, end-i)
		copy(chunk, a[i:end])
		out = append(out, chunk)
	}
	return out, nil
}

func fnArrayContains(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	for _, v := range a {
		if equalValues(v, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func fnArrayRange(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	first, err := argRounded(args, 0, "first value")
	if err != nil {
		return nil, err
	}
	last, err := argRounded(args, 1, "last value")
	if err != nil {
		return nil, err
	}
	stepBy, err := argRounded(args, 2, "step")
	if err != nil {
		return nil, err
	}
	if stepBy <= 0 {
		return nil, fmt.Errorf("the step must be positive, not %d", stepBy)
	}
	out := []any{}
	for v := first; v <= last; v += stepBy {
		if len(out) == maxArrayRange {
			return nil, fmt.Errorf("the range has more than %d items", maxArrayRange)
		}
		out = append(out, intValue(v))
		if v > math.MaxInt64-stepBy {
			break // the next step would overflow
		}
	}
	return out, nil
}

func fnArrayGetItem(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	i, err := argInt(args, 1, "index")
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(a)) {
		return nil, fmt.Errorf("the index %d is out of bounds for an array of %d items", i, len(a))
	}
	return a[i], nil
}

func fnArrayLength(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	return intValue(int64(len(a))), nil
}

func fnArrayUnique(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, err := argArray(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
	seen := map[string]bool{}
	for _, v := range a {
		key := canonicalKey(v)
		if !seen[key] {
			seen[key] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// canonicalKey is a string equal for equal JSON values (numbers by value, keys sorted).
func canonicalKey(v any) string {
	if n, ok := v.(json.Number); ok {
		if r, ok := number(n); ok {
			return "n:" + r.RatString()
		}
	}
	if a, ok := v.([]any); ok {
		parts := make([]string, len(a))
		for i, e := range a {
			parts[i] = canonicalKey(e)
		}
		return "a:[" + strings.Join(parts, ",") + "]"
	}
	if m, ok := v.(map[string]any); ok {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = encodeString(k) + ":" + canonicalKey(m[k])
		}
		return "o:{" + strings.Join(parts, ",") + "}"
	}
	return "v:" + encodeString(v)
}

func fnBase64Encode(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	s, err := argString(args, 0, "value")
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(s) > maxStringInput {
		return nil, fmt.Errorf("the value has more than %d characters", maxStringInput)
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	s, err := argString(args, 0, "value")
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(s) > maxStringInput {
		return nil, fmt.Errorf("the value has more than %d characters", maxStringInput)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the value is not base64: %v", err)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("the decoded value is not UTF-8 text")
	}
	return string(b), nil
}

var hashes = map[string]func() hash.Hash{
	"MD5":     md5.New,
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
}

func fnHash(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	s, err := argString(args, 0, "data")
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(s) > maxStringInput {
		return nil, fmt.Errorf("the data has more than %d characters", maxStringInput)
	}
	alg, err := argString(args, 1, "algorithm")
	if err != nil {
		return nil, err
	}
	newHash, ok := hashes[alg]
	if !ok {
		return nil, fmt.Errorf("the algorithm %q is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", alg)
	}
	h := newHash()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnJSONMerge(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, ok1 := args[0].(map[string]any)
	b, ok2 := args[1].(map[string]any)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("both values to merge must be objects, not %s and %s", typeName(args[0]), typeName(args[1]))
	}
	deep, ok := args[2].(bool)
	if !ok {
		return nil, fmt.Errorf("the deep flag (argument 3) must be a boolean, not %s", typeName(args[2]))
	}
	if deep {
		return nil, errors.New("deep merging is not supported: the third argument must be false")
	}
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out, nil
}

func fnMathRandom(_ *iexpr, env *evalEnv, args []any) (any, error) {
	start, err := argRounded(args, 0, "start")
	if err != nil {
		return nil, err
	}
	end, err := argRounded(args, 1, "end")
	if err != nil {
		return nil, err
	}
	if start >= end {
		return nil, fmt.Errorf("the start %d must be less than the end %d", start, end)
	}
	span := uint64(end - start)
	if len(args) == 3 {
		seed, err := argRounded(args, 2, "seed")
		if err != nil {
			return nil, err
		}
		r := rand.New(rand.NewPCG(uint64(seed), uint64(seed)))
		return intValue(start + int64(r.Uint64N(span))), nil
	}
	var n uint64
	env.rand(func(r *rand.Rand) { n = r.Uint64N(span) })
	return intValue(start + int64(n)), nil
}

func fnMathAdd(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	a, err := argRounded(args, 0, "first value")
	if err != nil {
		return nil, err
	}
	b, err := argRounded(args, 1, "second value")
	if err != nil {
		return nil, err
	}
	sum := a + b
	if (b > 0 && sum < a) || (b < 0 && sum > a) {
		return nil, errors.New("the sum overflows")
	}
	return intValue(sum), nil
}

func fnStringSplit(_ *iexpr, _ *evalEnv, args []any) (any, error) {
	s, err := argString(args, 0, "value")
	if err != nil {
		return nil, err
	}
	delims, err := argString(args, 1, "delimiter")
	if err != nil {
		return nil, err
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func fnUUID(_ *iexpr, env *evalEnv, _ []any) (any, error) {
	var b [16]byte
	env.rand(func(r *rand.Rand) {
		for i := 0; i < 16; i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
	})
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
