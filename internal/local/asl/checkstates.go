// The checks of each state type's fields; the checker's core is in validate.go.

package asl

import (
	"encoding/json"
	"regexp"
)

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
