package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
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

// Parse validates and compiles a definition for Run.
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

// Definition is a parsed state machine, ready to run any number of times concurrently.
type Definition struct {
	root      *machine
	timeout   int64 // TimeoutSeconds of the whole execution; 0: none
	variables bool  // some state assigns variables: executions keep a scope of them
}

// machine is a list of states with a start: the definition, a Parallel branch, a Map's
// item processor.
type machine struct {
	startAt string
	states  map[string]*state
	order   []string
}

// State types.
const (
	typePass     = "Pass"
	typeTask     = "Task"
	typeChoice   = "Choice"
	typeWait     = "Wait"
	typeSucceed  = "Succeed"
	typeFail     = "Fail"
	typeParallel = "Parallel"
	typeMap      = "Map"
)

// optPath is InputPath, OutputPath or ResultPath: absent is "$", null has its own meaning.
type optPath struct {
	null bool
	path *jsonPath // nil: "$"
}

// valueExpr is a Fail state's ErrorPath/CausePath: a path or an intrinsic call.
type valueExpr struct {
	raw  string
	path *jsonPath
	call *iexpr
}

type resourceKind uint8

const (
	resLambdaFunction resourceKind = iota // arn:aws:lambda:...:function:name
	resIntegration                        // arn:aws:states:::service:action[.sync|.sync:2]
	resWaitForToken                       // ...waitForTaskToken
)

type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        *tnode
	assign                            *tnode        // variables.go
	jx                                *jsonataState // set for a JSONata state (jsonata.go)
	result                            any
	hasResult                         bool

	// Task
	resource         string
	resourceKind     resourceKind
	timeoutSeconds   int64
	timeoutPath      *jsonPath
	heartbeatSeconds int64
	heartbeatPath    *jsonPath
	retry            []*retrier
	catch            []*catcher

	// Choice
	choices     []*rule
	defaultNext string

	// Wait
	seconds                    int64
	hasSeconds                 bool
	timestamp                  time.Time
	hasTimestamp               bool
	secondsPath, timestampPath *jsonPath

	// Fail
	failError, failCause string
	errorPath, causePath *valueExpr

	// Parallel
	branches []*machine

	// Map
	itemsPath          *jsonPath
	itemSelector       *tnode
	processor          *machine
	maxConcurrency     int64
	maxConcurrencyPath *jsonPath
	dist               *distributed // set for Mode DISTRIBUTED (distributed.go)

	// transitions to check once all states of the machine are known
	targets []target
}

type target struct {
	name, field, loc string
}

type retrier struct {
	errorEquals     []string
	intervalSeconds float64
	maxAttempts     int64
	backoffRate     float64
	maxDelaySeconds float64 // 0: no cap
	jitterFull      bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
	assign      *tnode
	jx          *jsonataCatcher // in a JSONata state
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

var (
	lambdaFunctionARN = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]{1,140}(:(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$`)
	integrationARN    = regexp.MustCompile(`^arn:aws[a-z-]*:states:::([a-zA-Z0-9-]+(:[a-zA-Z0-9-]+)*):([a-zA-Z0-9]+)(\.[a-zA-Z0-9:]+)?$`)
	activityARN       = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:activity:`)
)

func (c *checker) resource(st *state, v any, loc string) {
	s, ok := c.expectString(v, loc)
	if !ok {
		return
	}
	st.resource = s
	if lambdaFunctionARN.MatchString(s) {
		st.resourceKind = resLambdaFunction
		return
	}
	if activityARN.MatchString(s) {
		c.unsupported(loc, "The resource %s is an activity: activities are not supported by sfn-rollout local", s)
		return
	}
	m := integrationARN.FindStringSubmatch(s)
	if m == nil {
		c.schema(loc, "The resource provided %s is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.", s)
		return
	}
	service, action, pattern := m[1], m[3], m[4]
	// .waitForTaskToken only on the integrations local mode can call: AWS accepts it on SQS,
	// SNS, EventBridge and others, which would be accepted here and then fail every run.
	switch {
	case pattern == ".waitForTaskToken" && (service == "lambda" && action == "invoke" || service == "states" && action == "startExecution"):
		st.resourceKind = resWaitForToken
	case service == "lambda" && action == "invoke" && pattern == "":
		st.resourceKind = resIntegration
	case service == "states" && action == "startExecution" && (pattern == "" || pattern == ".sync" || pattern == ".sync:2"):
		st.resourceKind = resIntegration
	default:
		c.unsupported(loc, "The service integration %s is not supported by sfn-rollout local: use a Lambda function ARN, arn:aws:states:::lambda:invoke(.waitForTaskToken) or arn:aws:states:::states:startExecution(.sync, .sync:2, .waitForTaskToken)", s)
	}
}

func (c *checker) task(st *state, get getter, loc string) {
	if v, ok := get("Resource"); ok {
		c.resource(st, v, loc+"/Resource")
	} else {
		c.schema(loc, "These fields are required: [Resource]")
	}
	if v, ok := get("TimeoutSeconds"); ok && !c.jsonataValue(st, v, loc+"/TimeoutSeconds") {
		st.timeoutSeconds, _ = c.positiveInt(v, loc+"/TimeoutSeconds", "TimeoutSeconds")
	}
	if v, ok := get("TimeoutSecondsPath"); ok {
		if s, ok := c.expectString(v, loc+"/TimeoutSecondsPath"); ok {
			st.timeoutPath = c.referencePath(s, loc+"/TimeoutSecondsPath", "TimeoutSecondsPath", true)
		}
	}
	if v, ok := get("HeartbeatSeconds"); ok && !c.jsonataValue(st, v, loc+"/HeartbeatSeconds") {
		st.heartbeatSeconds, _ = c.positiveInt(v, loc+"/HeartbeatSeconds", "HeartbeatSeconds")
	}
	if v, ok := get("HeartbeatSecondsPath"); ok {
		if s, ok := c.expectString(v, loc+"/HeartbeatSecondsPath"); ok {
			st.heartbeatPath = c.referencePath(s, loc+"/HeartbeatSecondsPath", "HeartbeatSecondsPath", true)
		}
	}
	if _, a := get("TimeoutSeconds"); a {
		if _, b := get("TimeoutSecondsPath"); b {
			c.schema(loc, "The fields 'TimeoutSeconds' and 'TimeoutSecondsPath' are mutually exclusive")
		}
	}
	if _, a := get("HeartbeatSeconds"); a {
		if _, b := get("HeartbeatSecondsPath"); b {
			c.schema(loc, "The fields 'HeartbeatSeconds' and 'HeartbeatSecondsPath' are mutually exclusive")
		}
	}
	if st.heartbeatSeconds > 0 && st.timeoutSeconds > 0 && st.heartbeatSeconds >= st.timeoutSeconds {
		c.schema(loc+"/HeartbeatSeconds", "The value for the field 'HeartbeatSeconds' must be smaller than the value for the field 'TimeoutSeconds'")
	}
}

func (c *checker) choice(st *state, get getter, loc string) {
	v, ok := get("Choices")
	if !ok {
		c.schema(loc, "These fields are required: [Choices]")
	} else if arr, isArr := v.([]any); !isArr || len(arr) == 0 {
		c.schema(loc+"/Choices", "The field 'Choices' must be a non-empty array of choice rules")
	} else {
		for i, e := range arr {
			rloc := loc + "/Choices/" + itoa(i)
			if st.jx != nil {
				c.jsonataRule(st, e, rloc)
				continue
			}
			r := c.compileRule(e, rloc, true, 0)
			if r == nil {
				continue
			}
			st.choices = append(st.choices, r)
			if r.next != "" {
				st.targets = append(st.targets, target{r.next, "Next", rloc + "/Next"})
			}
		}
	}
	if v, ok := get("Default"); ok {
		if s, ok := c.expectString(v, loc+"/Default"); ok {
			st.defaultNext = s
			st.targets = append(st.targets, target{s, "Default", loc + "/Default"})
		}
	}
}

func (c *checker) wait(st *state, get getter, loc string) {
	n := 0
	if v, ok := get("Seconds"); ok {
		n++
		if !c.jsonataValue(st, v, loc+"/Seconds") {
			st.seconds, st.hasSeconds = c.nonNegativeInt(v, loc+"/Seconds", "Seconds")
		}
	}
	if v, ok := get("Timestamp"); ok && c.jsonataValue(st, v, loc+"/Timestamp") {
		n++
	} else if ok {
		n++
		t, ok := parseTimestamp(v)
		if !ok {
			c.schema(loc+"/Timestamp", "The value for the field 'Timestamp' must be an RFC 3339 timestamp, such as 2016-03-14T01:59:00Z")
		}
		st.timestamp, st.hasTimestamp = t, ok
	}
	for _, f := range []struct {
		name string
		dst  **jsonPath
	}{{"SecondsPath", &st.secondsPath}, {"TimestampPath", &st.timestampPath}} {
		if v, ok := get(f.name); ok {
			n++
			if s, ok := c.expectString(v, loc+"/"+f.name); ok {
				*f.dst = c.referencePath(s, loc+"/"+f.name, f.name, true)
			}
		}
	}
	if n != 1 {
		c.schema(loc, "A Wait state must have exactly one of the fields [Seconds, Timestamp, SecondsPath, TimestampPath]") // (unconfirmed)
	}
}

func (c *checker) fail(st *state, get getter, loc string) {
	if v, ok := get("Error"); ok && !c.jsonataValue(st, v, loc+"/Error") {
		st.failError, _ = c.expectString(v, loc+"/Error")
	}
	if v, ok := get("Cause"); ok && !c.jsonataValue(st, v, loc+"/Cause") {
		st.failCause, _ = c.expectString(v, loc+"/Cause")
	}
	if v, ok := get("ErrorPath"); ok {
		st.errorPath = c.valueExpr(v, loc+"/ErrorPath", "ErrorPath")
	}
	if v, ok := get("CausePath"); ok {
		st.causePath = c.valueExpr(v, loc+"/CausePath", "CausePath")
	}
	for _, pair := range [][2]string{{"Error", "ErrorPath"}, {"Cause", "CausePath"}} {
		_, a := get(pair[0])
		_, b := get(pair[1])
		if a && b {
			c.schema(loc, "A Fail state cannot include both field '%s' and '%s'", pair[0], pair[1])
		}
	}
}

func (c *checker) valueExpr(v any, loc, field string) *valueExpr {
	s, ok := c.expectString(v, loc)
	if !ok {
		return nil
	}
	if looksLikeIntrinsic(s) {
		call := c.intrinsic(s, loc, field)
		if call == nil {
			return nil
		}
		return &valueExpr{raw: s, call: call}
	}
	p := c.referencePath(s, loc, field, true)
	if p == nil {
		return nil
	}
	return &valueExpr{raw: s, path: p}
}

func (c *checker) parallel(st *state, get getter, loc string) {
	v, ok := get("Branches")
	if !ok {
		c.schema(loc, "These fields are required: [Branches]")
		return
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		c.schema(loc+"/Branches", "The field 'Branches' must be a non-empty array")
		return
	}
	for i, b := range arr {
		st.branches = append(st.branches, c.subMachine(b, loc+"/Branches/"+itoa(i), nil))
	}
}

// subMachine checks a Parallel branch or a Map's ItemProcessor/Iterator.
func (c *checker) subMachine(v any, loc string, processorConfig func(v any, loc string)) *machine {
	c.pushScope() // a branch or processor is a scope of its own for variables
	defer c.popScope()
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return &machine{states: map[string]*state{}}
	}
	for _, k := range o.keys {
		val := o.vals[k]
		switch k {
		case "StartAt", "States":
		case "Comment":
			c.expectString(val, loc+"/"+k)
		case "ProcessorConfig":
			if processorConfig != nil {
				processorConfig(val, loc+"/"+k)
				continue
			}
			c.unknownField(k, loc+"/"+k, "")
		default:
			c.unknownField(k, loc+"/"+k, "")
		}
	}
	return c.machine(o, loc)
}

// processorConfig reads an ItemProcessor's ProcessorConfig: Mode INLINE (the default) or
// DISTRIBUTED, which needs an ExecutionType for its child workflow executions.
func (c *checker) processorConfig(st *state, v any, loc string) {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return
	}
	distributedMode := false
	for _, k := range o.keys {
		val := o.vals[k]
		switch k {
		case "Mode":
			switch val {
			case "INLINE":
			case "DISTRIBUTED":
				distributedMode = true
			default:
				c.schema(loc+"/Mode", "Value should be one of the following: [INLINE, DISTRIBUTED]")
			}
		case "ExecutionType":
			switch val {
			case "STANDARD", "EXPRESS":
			default:
				c.schema(loc+"/ExecutionType", "Value should be one of the following: [STANDARD, EXPRESS]")
			}
		default:
			c.unknownField(k, loc+"/"+k, "")
		}
	}
	execType, hasType := o.get("ExecutionType")
	switch {
	case distributedMode && !hasType:
		c.schema(loc, "These fields are required: [ExecutionType]") // (unconfirmed)
	case !distributedMode && hasType:
		c.schema(loc+"/ExecutionType", "The field 'ExecutionType' is only supported when 'Mode' is 'DISTRIBUTED'") // (unconfirmed)
	case distributedMode:
		st.dist = &distributed{express: execType == "EXPRESS"}
	}
}

func (c *checker) mapState(st *state, get getter, loc string) {
	if v, ok := get("ItemsPath"); ok {
		if s, ok := c.expectString(v, loc+"/ItemsPath"); ok {
			st.itemsPath = c.referencePath(s, loc+"/ItemsPath", "ItemsPath", true)
		}
	}
	itemSelector, hasSelector := get("ItemSelector")
	_, hasParams := get("Parameters")
	switch {
	case hasSelector && hasParams:
		c.schema(loc, "The fields 'ItemSelector' and 'Parameters' are mutually exclusive")
	case hasSelector && st.jx != nil:
		st.jx.itemSelector = c.compileJSONata(itemSelector, loc+"/ItemSelector", "ItemSelector", jsonataAccess{})
	case hasSelector:
		st.itemSelector = c.compileTemplate(itemSelector, loc+"/ItemSelector", "ItemSelector")
	case hasParams:
		st.itemSelector = st.parameters // the legacy name of ItemSelector
	}
	st.parameters = nil
	proc, hasProc := get("ItemProcessor")
	iter, hasIter := get("Iterator")
	switch {
	case hasProc && hasIter:
		c.schema(loc, "The fields 'ItemProcessor' and 'Iterator' are mutually exclusive")
	case hasProc:
		st.processor = c.subMachine(proc, loc+"/ItemProcessor", func(v any, loc string) { c.processorConfig(st, v, loc) })
	case hasIter:
		st.processor = c.subMachine(iter, loc+"/Iterator", nil)
	default:
		c.schema(loc, "These fields are required: [ItemProcessor]")
	}
	if v, ok := get("MaxConcurrency"); ok && !c.jsonataValue(st, v, loc+"/MaxConcurrency") {
		st.maxConcurrency, _ = c.nonNegativeInt(v, loc+"/MaxConcurrency", "MaxConcurrency")
	}
	if v, ok := get("MaxConcurrencyPath"); ok {
		if _, both := get("MaxConcurrency"); both {
			c.schema(loc, "The fields 'MaxConcurrency' and 'MaxConcurrencyPath' are mutually exclusive")
		}
		if s, ok := c.expectString(v, loc+"/MaxConcurrencyPath"); ok {
			st.maxConcurrencyPath = c.referencePath(s, loc+"/MaxConcurrencyPath", "MaxConcurrencyPath", true)
		}
	}
	c.distributedFields(st, get, loc)
}

func (c *checker) errorEquals(o *object, loc string) []string {
	v, ok := o.get("ErrorEquals")
	if !ok {
		c.schema(loc, "These fields are required: [ErrorEquals]")
		return nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		c.schema(loc+"/ErrorEquals", "The field 'ErrorEquals' must be a non-empty array of error names")
		return nil
	}
	var names []string
	for i, e := range arr {
		s, ok := c.expectString(e, loc+"/ErrorEquals/"+itoa(i))
		if ok {
			names = append(names, s)
		}
	}
	for _, n := range names {
		if n == ErrAll && len(names) > 1 {
			c.schema(loc+"/ErrorEquals", "'States.ALL' must appear alone in 'ErrorEquals'") // (unconfirmed)
		}
	}
	return names
}

func hasAll(names []string) bool {
	for _, n := range names {
		if n == ErrAll {
			return true
		}
	}
	return false
}

func (c *checker) retriers(v any, loc string) []*retrier {
	arr, ok := v.([]any)
	if !ok {
		c.schema(loc, "Expected value of type [ARRAY]")
		return nil
	}
	var out []*retrier
	for i, e := range arr {
		rloc := loc + "/" + itoa(i)
		o, ok := e.(*object)
		if !ok {
			c.schema(rloc, "Expected value of type [OBJECT]")
			continue
		}
		r := &retrier{intervalSeconds: 1, maxAttempts: 3, backoffRate: 2}
		r.errorEquals = c.errorEquals(o, rloc)
		if hasAll(r.errorEquals) && i != len(arr)-1 {
			c.schema(rloc, "A Retrier with 'States.ALL' must be the last one") // (unconfirmed)
		}
		for _, k := range o.keys {
			val := o.vals[k]
			kloc := rloc + "/" + k
			switch k {
			case "ErrorEquals":
			case "Comment":
				c.expectString(val, kloc)
			case "IntervalSeconds":
				n, _ := c.positiveInt(val, kloc, k)
				r.intervalSeconds = float64(n)
			case "MaxAttempts":
				r.maxAttempts, _ = c.nonNegativeInt(val, kloc, k)
			case "BackoffRate":
				f, ok := float(val)
				if _, isNum := val.(json.Number); !isNum || !ok || f < 1 || f > 1e6 {
					c.schema(kloc, "The value for the field 'BackoffRate' must be a number of at least 1.0")
					continue
				}
				r.backoffRate = f
			case "MaxDelaySeconds":
				n, _ := c.positiveInt(val, kloc, k)
				r.maxDelaySeconds = float64(n)
			case "JitterStrategy":
				switch val {
				case "FULL":
					r.jitterFull = true
				case "NONE":
				default:
					c.schema(kloc, "Value should be one of the following: [FULL, NONE]")
				}
			default:
				c.schema(kloc, "The field \"%s\" is not supported by Step Functions", k)
			}
		}
		out = append(out, r)
	}
	return out
}

func (c *checker) catchers(st *state, v any, loc string) []*catcher {
	arr, ok := v.([]any)
	if !ok {
		c.schema(loc, "Expected value of type [ARRAY]")
		return nil
	}
	var out []*catcher
	for i, e := range arr {
		cloc := loc + "/" + itoa(i)
		o, ok := e.(*object)
		if !ok {
			c.schema(cloc, "Expected value of type [OBJECT]")
			continue
		}
		k := &catcher{}
		k.errorEquals = c.errorEquals(o, cloc)
		if hasAll(k.errorEquals) && i != len(arr)-1 {
			c.schema(cloc, "A Catcher with 'States.ALL' must be the last one") // (unconfirmed)
		}
		if nv, ok := o.get("Next"); !ok {
			c.schema(cloc, "These fields are required: [Next]")
		} else if s, ok := c.expectString(nv, cloc+"/Next"); ok {
			k.next = s
			st.targets = append(st.targets, target{s, "Next", cloc + "/Next"})
		}
		get := func(name string) (any, bool) { return o.get(name) }
		if st.jx != nil {
			k.jx = c.jsonataCatcher(o, cloc)
		} else {
			k.resultPath = c.optionalPath(get, "ResultPath", cloc, true)
		}
		for _, key := range o.keys {
			switch key {
			case "ErrorEquals", "Next":
			case "ResultPath", "Assign", "Output":
				if st.jx == nil && key == "Assign" {
					k.assign = c.compileAssign(o.vals[key], cloc+"/"+key)
				} else if st.jx == nil && key == "Output" || st.jx != nil && key == "ResultPath" {
					c.otherLanguageField(st, key, cloc+"/"+key)
				}
			case "Comment":
				c.expectString(o.vals[key], cloc+"/"+key)
			default:
				c.unknownField(key, cloc+"/"+key, "")
			}
		}
		out = append(out, k)
	}
	return out
}
