package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Diagnostic codes.
const (
	CodeInvalidJSON        = "INVALID_JSON_DESCRIPTION"
	CodeSchema             = "SCHEMA_VALIDATION_FAILED"
	CodeMissingTarget      = "MISSING_TRANSITION_TARGET"
	CodeDuplicateStateName = "DUPLICATE_STATE_NAME"
	CodeUnsupported        = "UNSUPPORTED_FEATURE"
)

// Severity of a Diagnostic.
const (
	SeverityError   = "ERROR"
	SeverityWarning = "WARNING"
)

// Messages marked "(unconfirmed)" in a comment follow the style of the confirmed ones
// ("These fields are required: [...]", "Missing 'Next' target: x", "State \"x\" is not
// reachable.") where no recording of AWS's exact words was at hand.

// Validate reports every problem of a definition: JSON, schema, transitions, reachability
// and the features this engine does not implement. No diagnostic with severity ERROR
// means Parse accepts it.
func Validate(definition []byte) []Diagnostic {
	_, diags := compile(definition)
	return diags
}

// DefinitionError is a definition Parse refuses.
type DefinitionError struct {
	Diagnostics []Diagnostic
}

func (e *DefinitionError) Error() string { return FormatInvalid(e.Diagnostics) }

// Parse validates and compiles a definition for Run: a *DefinitionError, with the
// diagnostics, when Validate reports an ERROR.
func Parse(definition []byte) (*Definition, error) {
	def, diags := compile(definition)
	for _, d := range diags {
		if d.Severity == SeverityError {
			return nil, &DefinitionError{Diagnostics: diags}
		}
	}
	return def, nil
}

// FormatInvalid is CreateStateMachine's InvalidDefinition message for the diagnostics with
// severity ERROR: "Invalid State Machine Definition: 'CODE: message at /location, ...'".
func FormatInvalid(diags []Diagnostic) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != SeverityError {
			continue
		}
		s := d.Code + ": " + d.Message
		if d.Location != "" {
			s += " at " + d.Location
		}
		parts = append(parts, s)
	}
	return "Invalid State Machine Definition: '" + strings.Join(parts, ", ") + "'"
}

// checker collects the diagnostics of one definition while compiling it.
type checker struct {
	diags []Diagnostic
	names map[string]bool // state names are unique in the whole definition

	// variables.go
	scopeStack []int              // the ids of the scopes being checked, innermost last
	scopeIDs   int                // scopes seen so far
	scopes     map[int]*scopeInfo // the scopes that assign, by id
	sawAssign  bool

	topJSONata bool // jsonata.go: the definition's QueryLanguage is JSONata

	labels map[string]bool // distributed.go: Distributed Map labels are unique
}

func (c *checker) add(code, loc, format string, a ...any) {
	c.diags = append(c.diags, Diagnostic{Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, a...), Location: loc})
}

func (c *checker) schema(loc, format string, a ...any) { c.add(CodeSchema, loc, format, a...) }

func (c *checker) unsupported(loc, format string, a ...any) {
	c.add(CodeUnsupported, loc, format, a...)
}

func (c *checker) unsupportedPath(loc, path, field string, err error) {
	c.unsupported(loc, "The JSONPath '%s' of the field '%s': %v", path, field, err)
}

func itoa(i int) string { return strconv.Itoa(i) }

func compile(data []byte) (*Definition, []Diagnostic) {
	c := &checker{names: map[string]bool{}}
	if len(bytes.TrimSpace(data)) == 0 {
		c.schema("", "Definition must be a valid JSON object")
		return nil, c.diags
	}
	v, err := decodeDefinition(data)
	if err != nil {
		c.add(CodeInvalidJSON, "", "%v", err)
		return nil, c.diags
	}
	o, ok := v.(*object)
	if !ok {
		c.schema("", "Definition must be a valid JSON object")
		return nil, c.diags
	}
	def := &Definition{}
	for _, k := range o.keys {
		val := o.vals[k]
		loc := "/" + k
		switch k {
		case "Comment", "Version":
			c.expectString(val, loc)
		case "TimeoutSeconds":
			def.timeout, _ = c.positiveInt(val, loc, k)
		case "QueryLanguage":
			c.queryLanguage(val, loc)
			c.topJSONata = val == "JSONata"
		case "StartAt", "States":
		default:
			c.unknownField(k, loc, "")
		}
	}
	c.pushScope()
	def.root = c.machine(o, "")
	c.popScope()
	c.checkScopes()
	def.variables = c.sawAssign
	return def, c.diags
}

// machine checks a set of states: the definition, a Parallel branch or a Map's processor.
func (c *checker) machine(o *object, loc string) *machine {
	m := &machine{states: map[string]*state{}}
	statesVal, hasStates := o.get("States")
	startVal, hasStart := o.get("StartAt")
	var missing []string
	if !hasStates {
		missing = append(missing, "States")
	}
	if !hasStart {
		missing = append(missing, "StartAt")
	}
	if len(missing) > 0 {
		c.schema(orRoot(loc), "These fields are required: [%s]", strings.Join(missing, ", "))
	}
	if hasStart {
		m.startAt, hasStart = c.expectString(startVal, loc+"/StartAt")
	}
	states, ok := statesVal.(*object)
	if hasStates && !ok {
		c.schema(loc+"/States", "Expected value of type [OBJECT]")
	}
	if !ok {
		return m
	}
	if len(states.keys) == 0 {
		c.schema(loc+"/States", "The field 'States' must contain at least one state")
	}
	for _, name := range states.keys {
		st := c.state(name, states.vals[name], loc+"/States/"+name)
		if st != nil {
			m.states[name] = st
		}
		m.order = append(m.order, name)
	}
	if hasStart && len(states.keys) > 0 {
		if _, ok := states.vals[m.startAt]; !ok {
			c.add(CodeMissingTarget, loc+"/StartAt", "Missing 'StartAt' target: %s", m.startAt) // (unconfirmed)
			hasStart = false
		}
	}
	for _, name := range m.order {
		st := m.states[name]
		if st == nil {
			continue
		}
		for _, t := range st.targets {
			if _, ok := states.vals[t.name]; !ok {
				c.add(CodeMissingTarget, t.loc, "Missing '%s' target: %s", t.field, t.name)
			}
		}
	}
	if hasStart {
		reached := map[string]bool{m.startAt: true}
		queue := []string{m.startAt}
		for len(queue) > 0 {
			st := m.states[queue[0]]
			queue = queue[1:]
			if st == nil {
				continue
			}
			for _, t := range st.targets {
				if _, ok := states.vals[t.name]; ok && !reached[t.name] {
					reached[t.name] = true
					queue = append(queue, t.name)
				}
			}
		}
		for _, name := range m.order {
			if !reached[name] {
				c.add(CodeMissingTarget, loc+"/States/"+name, "State \"%s\" is not reachable.", name)
			}
		}
	}
	return m
}

func orRoot(loc string) string {
	if loc == "" {
		return "/"
	}
	return loc
}

// Fields each state type may have (JSONPath query language).
var stateFields = map[string][]string{
	typePass:     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign"},
	typeTask:     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch", "Assign"},
	typeChoice:   {"InputPath", "OutputPath", "Choices", "Default", "Assign"},
	typeWait:     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"},
	typeSucceed:  {"InputPath", "OutputPath"},
	typeFail:     {"Error", "Cause", "ErrorPath", "CausePath"},
	typeParallel: {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Branches", "Retry", "Catch", "Assign"},
	typeMap:      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "ItemsPath", "ItemSelector", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath", "Retry", "Catch", "Assign", "ItemReader", "ResultWriter", "ItemBatcher", "Label", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath"},
}

// unsupportedFields are real Amazon States Language fields this engine does not implement.
var unsupportedFields = map[string]string{
	"Credentials": "cross-account task credentials (Credentials)",
}

var stateTypes = []string{typePass, typeTask, typeChoice, typeWait, typeSucceed, typeFail, typeParallel, typeMap}

func knownField(name string) bool {
	for _, fields := range stateFields {
		for _, f := range fields {
			if f == name {
				return true
			}
		}
	}
	return false
}

func (c *checker) unknownField(name, loc, stateType string) {
	if what, ok := unsupportedFields[name]; ok {
		c.unsupported(loc, "The field '%s' is not supported by sfn-rollout local: %s", name, what)
		return
	}
	if stateType != "" && knownField(name) {
		c.schema(loc, "The field '%s' is not supported by state type '%s'", name, stateType) // (unconfirmed)
		return
	}
	c.schema(loc, "The field \"%s\" is not supported by Step Functions", name)
}

func (c *checker) queryLanguage(v any, loc string) {
	switch v {
	case "JSONPath", "JSONata":
	default:
		c.schema(loc, "Value should be one of the following: [JSONPath, JSONata]")
	}
}

func (c *checker) state(name string, v any, loc string) *state {
	if c.names[name] {
		c.add(CodeDuplicateStateName, loc, "Duplicate State name: %s", name)
	}
	c.names[name] = true
	if name == "" || len([]rune(name)) > 80 {
		c.schema(loc, "A state name must be 1 to 80 characters long") // (unconfirmed)
	}
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return nil
	}
	typVal, ok := o.get("Type")
	if !ok {
		c.schema(loc, "These fields are required: [Type]")
		return nil
	}
	typ, _ := typVal.(string)
	fields, ok := stateFields[typ]
	if !ok {
		c.schema(loc+"/Type", "Value is not a valid state type: %s. Valid values: [%s]", encodeString(plain(typVal)), strings.Join(stateTypes, ", ")) // (unconfirmed)
		return nil
	}
	st := &state{name: name, typ: typ}
	if c.stateJSONata(o, loc) {
		st.jx = &jsonataState{}
		fields = jsonataStateFields[typ]
	}
	allowed := make(map[string]bool, len(fields)+3)
	allowed["Type"], allowed["Comment"], allowed["QueryLanguage"] = true, true, true
	for _, f := range fields {
		allowed[f] = true
	}
	for _, k := range o.keys {
		if !allowed[k] && !c.otherLanguageField(st, k, loc+"/"+k) {
			c.unknownField(k, loc+"/"+k, typ)
		}
	}
	if v, ok := o.get("Comment"); ok {
		c.expectString(v, loc+"/Comment")
	}
	if v, ok := o.get("QueryLanguage"); ok {
		c.queryLanguage(v, loc+"/QueryLanguage")
	}
	get := func(k string) (any, bool) {
		if !allowed[k] {
			return nil, false
		}
		return o.get(k)
	}

	// Transitions.
	switch typ {
	case typeChoice, typeSucceed, typeFail:
	default:
		nextVal, hasNext := get("Next")
		endVal, hasEnd := get("End")
		if hasEnd {
			b, ok := endVal.(bool)
			if !ok {
				c.schema(loc+"/End", "Expected value of type [BOOLEAN]")
			}
			st.end = b
		}
		if hasNext {
			if s, ok := c.expectString(nextVal, loc+"/Next"); ok {
				st.next = s
				st.targets = append(st.targets, target{s, "Next", loc + "/Next"})
			}
		}
		switch {
		case hasNext && st.end:
			c.schema(loc, "The fields 'Next' and 'End' are mutually exclusive") // (unconfirmed)
		case !hasNext && !st.end:
			c.schema(loc, "These fields are required: [Next or End]") // (unconfirmed)
		}
	}

	// Input and output.
	st.inputPath = c.optionalPath(get, "InputPath", loc, false)
	st.outputPath = c.optionalPath(get, "OutputPath", loc, false)
	st.resultPath = c.optionalPath(get, "ResultPath", loc, true)
	if v, ok := get("Parameters"); ok {
		st.parameters = c.compileTemplate(v, loc+"/Parameters", "Parameters")
	}
	if v, ok := get("ResultSelector"); ok {
		st.resultSelector = c.compileTemplate(v, loc+"/ResultSelector", "ResultSelector")
	}
	if v, ok := get("Result"); ok {
		st.result, st.hasResult = plain(v), true
	}
	if st.jx != nil {
		c.jsonataFields(st, get, loc)
	} else if v, ok := get("Assign"); ok {
		st.assign = c.compileAssign(v, loc+"/Assign")
	}

	switch typ {
	case typeTask:
		c.task(st, get, loc)
	case typeChoice:
		c.choice(st, get, loc)
	case typeWait:
		c.wait(st, get, loc)
	case typeFail:
		c.fail(st, get, loc)
	case typeParallel:
		c.parallel(st, get, loc)
	case typeMap:
		c.mapState(st, get, loc)
	}
	if v, ok := get("Retry"); ok {
		st.retry = c.retriers(v, loc+"/Retry")
	}
	if v, ok := get("Catch"); ok {
		st.catch = c.catchers(st, v, loc+"/Catch")
	}
	return st
}

type getter func(string) (any, bool)

func (c *checker) expectString(v any, loc string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		c.schema(loc, "Expected value of type [STRING]")
	}
	return s, ok
}

// positiveInt reads a whole number of at least 1 (seconds, counts).
func (c *checker) positiveInt(v any, loc, field string) (int64, bool) {
	n, ok := integer(v)
	if _, isNum := v.(json.Number); !isNum || !ok || n < 1 || n > 99999999 {
		c.schema(loc, "The value for the field '%s' must be an integer from 1 to 99999999", field)
		return 0, false
	}
	return n, true
}

func (c *checker) nonNegativeInt(v any, loc, field string) (int64, bool) {
	n, ok := integer(v)
	if _, isNum := v.(json.Number); !isNum || !ok || n < 0 || n > 99999999 {
		c.schema(loc, "The value for the field '%s' must be an integer from 0 to 99999999", field)
		return 0, false
	}
	return n, true
}

// optionalPath reads InputPath/OutputPath (any path) or ResultPath (a reference path).
func (c *checker) optionalPath(get getter, field, loc string, reference bool) optPath {
	v, ok := get(field)
	if !ok {
		return optPath{}
	}
	if v == nil {
		return optPath{null: true}
	}
	s, ok := c.expectString(v, loc+"/"+field)
	if !ok {
		return optPath{}
	}
	var p *jsonPath
	if reference {
		p = c.referencePath(s, loc+"/"+field, field, false)
	} else {
		p = c.anyPath(s, loc+"/"+field, field)
	}
	if p != nil && len(p.segs) == 0 && !p.context && p.variable == "" {
		p = nil // "$"
	}
	return optPath{path: p}
}

func (c *checker) anyPath(s, loc, field string) *jsonPath {
	p, err := parsePath(s)
	if err != nil {
		if isUnsupported(err) {
			c.unsupportedPath(loc, s, field, err)
		} else {
			c.schema(loc, "The value for the field '%s' must be a valid JSONPath", field)
		}
		return nil
	}
	return p
}

// referencePath reads a path that names one node; context says whether $$ is allowed.
func (c *checker) referencePath(s, loc, field string, context bool) *jsonPath {
	p := c.anyPath(s, loc, field)
	if p == nil {
		return nil
	}
	// context is false only for ResultPath, where neither $$ nor variables are allowed.
	if !p.reference() || (p.context || p.variable != "") && !context {
		c.schema(loc, "The value for the field '%s' must be a valid ReferencePath", field)
		return nil
	}
	return p
}
