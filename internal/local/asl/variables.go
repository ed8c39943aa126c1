package asl

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Workflow variables (JSONPath and JSONata states), as AWS's developer guide ("Passing data
// between states with variables") describes them:
//
//   - Assign is allowed on Pass, Task, Choice, Wait, Parallel and Map (not Succeed, Fail),
//     on top-level Choice rules and on Catchers.
//   - Every expression of one Assign is evaluated with the variables as they were when the
//     state was entered; the new values are visible from the next state on.
//   - In a JSONPath Assign, "$" is the result for Task, Map, Parallel (the raw result, next to
//     ResultSelector) and Pass (Result, or InputPath/Parameters), the effective input for
//     Choice and Wait. In a Catcher it is the error output: the guide does not say so for
//     JSONPath (unconfirmed); JSONata Catchers read it as $states.errorOutput.
//   - Parallel branches and Map iterations read the variables of the scopes around them and
//     keep their own; nothing they assign is visible once the state ends. A name assigned in
//     an outer scope cannot be assigned in an inner one (a definition error).
//   - A value is at most 256 KiB, one Assign at most 256 KiB together, all the variables of
//     an execution at most 10 MiB.
//   - A name is a Unicode identifier (UAX #31: ID_Start, then ID_Continue) of at most 80
//     characters; "states" is reserved.

const (
	maxVariableSize    = 256 << 10
	maxAssignSize      = 256 << 10
	maxVariablesTotal  = 10 << 20
	maxVariableNameLen = 80
	reservedVariable   = "states"
)

// variablePrefix reads the variable name of a path such as "$order.items[0]": the name and
// the offset where the rest of the path starts, or n 0 when s is not a variable reference
// ("$", "$.a", "$$.a", "$[0]", or a name that is not an identifier).
func variablePrefix(s string) (name string, n int) {
	if len(s) < 2 || s[0] != '$' {
		return "", 0
	}
	switch s[1] {
	case '$', '.', '[':
		return "", 0
	}
	end := strings.IndexAny(s[1:], ".[")
	if end < 0 {
		end = len(s) - 1
	}
	name = s[1 : 1+end]
	if !validVariableName(name) {
		return "", 0
	}
	return name, 1 + end
}

// validVariableName is UAX #31's default identifier: ID_Start then ID_Continue characters.
func validVariableName(name string) bool {
	if name == "" || !utf8.ValidString(name) {
		return false
	}
	for i, r := range name {
		if i == 0 && !idStart(r) || i > 0 && !idContinue(r) {
			return false
		}
	}
	return true
}

func idStart(r rune) bool {
	if unicode.Is(unicode.Pattern_Syntax, r) || unicode.Is(unicode.Pattern_White_Space, r) {
		return false
	}
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_ID_Start, r)
}

func idContinue(r rune) bool {
	if idStart(r) {
		return true
	}
	if unicode.Is(unicode.Pattern_Syntax, r) || unicode.Is(unicode.Pattern_White_Space, r) {
		return false
	}
	return unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc, unicode.Other_ID_Continue)
}

// --- checking ---------------------------------------------------------------------------

// scopeInfo is what one workflow-local scope (the definition, a Parallel branch, a Map's
// processor) assigns, for the rule that an inner scope cannot assign an outer name. Only
// scopes that assign get one, so that definitions without variables pay nothing.
type scopeInfo struct {
	outer    []int // the ids of the scopes around it, innermost last
	names    []string
	assigned map[string]string // name → the location of its first assignment
}

func (c *checker) pushScope() {
	c.scopeIDs++
	c.scopeStack = append(c.scopeStack, c.scopeIDs)
}

func (c *checker) popScope() { c.scopeStack = c.scopeStack[:len(c.scopeStack)-1] }

// checkScopes reports inner assignments of outer names, once every scope is known (an
// outer state may come after the Parallel or Map in the document).
func (c *checker) checkScopes() {
	for id := 1; id <= c.scopeIDs; id++ {
		s := c.scopes[id]
		if s == nil {
			continue
		}
		for _, name := range s.names {
			for i := len(s.outer) - 1; i >= 0; i-- {
				if outer := c.scopes[s.outer[i]]; outer != nil && outer.assigned[name] != "" {
					c.schema(s.assigned[name], "The variable '%s' is assigned in an outer scope and cannot be assigned again inside a Parallel or Map state", name) // (unconfirmed)
					break
				}
			}
		}
	}
}

// assignName checks one key of an Assign object and records the variable in the scope.
func (c *checker) assignName(key, loc string) {
	name, _ := strings.CutSuffix(key, ".$")
	switch {
	case name == reservedVariable:
		c.schema(loc, "The variable name '%s' is reserved", name) // (unconfirmed)
		return
	case utf8.RuneCountInString(name) > maxVariableNameLen:
		c.schema(loc, "The variable name '%s' is longer than %d characters", name, maxVariableNameLen) // (unconfirmed)
		return
	case !validVariableName(name):
		c.schema(loc, "The variable name '%s' is not valid: a variable name starts with a letter and goes on with letters, digits and '_'", name) // (unconfirmed)
		return
	}
	c.sawAssign = true
	if len(c.scopeStack) == 0 {
		return
	}
	id := c.scopeStack[len(c.scopeStack)-1]
	s := c.scopes[id]
	if s == nil {
		s = &scopeInfo{outer: append([]int(nil), c.scopeStack[:len(c.scopeStack)-1]...), assigned: map[string]string{}}
		if c.scopes == nil {
			c.scopes = map[int]*scopeInfo{}
		}
		c.scopes[id] = s
	}
	if _, ok := s.assigned[name]; !ok {
		s.assigned[name] = loc
		s.names = append(s.names, name)
	}
}

// compileAssign checks a JSONPath Assign: an object whose keys name variables; a key ending
// in ".$" takes its value from a path or an intrinsic, as in Parameters.
func (c *checker) compileAssign(v any, loc string) *tnode {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "The value for the field 'Assign' must be an OBJECT")
		return nil
	}
	for _, k := range o.keys {
		c.assignName(k, loc+"/"+k)
	}
	return c.templateNode(o, loc, 0)
}

// --- running ----------------------------------------------------------------------------

// varScope holds the variables of one workflow-local scope at run time. A scope is written
// only by its own states, which run one at a time; the scopes inside it (branches,
// iterations) only read it, and only while the state that started them is running, so no
// lock is needed.
type varScope struct {
	parent  *varScope
	vals    map[string]any
	sizes   map[string]int
	budget  *varBudget
	pending *pendingAssign // what the running state's Assign evaluated to, stored when it ends
}

// varBudget is the execution's total, for the 10 MiB limit.
type varBudget struct {
	mu    sync.Mutex
	total int
}

func newRootScope() *varScope { return &varScope{budget: &varBudget{}} }

// child makes the scope of a Parallel branch or a Map iteration; nil stays nil (a
// definition without Assign has no variables to read).
func (s *varScope) child() *varScope {
	if s == nil {
		return nil
	}
	return &varScope{parent: s, budget: s.budget}
}

// release gives back a finished inner scope's share of the execution's total.
func (s *varScope) release() {
	if s == nil || len(s.sizes) == 0 {
		return
	}
	n := 0
	for _, size := range s.sizes {
		n += size
	}
	s.budget.mu.Lock()
	s.budget.total -= n
	s.budget.mu.Unlock()
}

func (s *varScope) get(name string) (any, bool) {
	for sc := s; sc != nil; sc = sc.parent {
		if v, ok := sc.vals[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// pendingAssign is what a state's Assign evaluated to, stored when the state succeeds.
type pendingAssign struct {
	vals  map[string]any
	sizes map[string]int
}

// evalAssign evaluates a state's, rule's or catcher's Assign against root ("$") and keeps the
// values on the state's run until it ends.
func (e *execution) evalAssign(a *tnode, root any, sr *stateRun) *Failure {
	env := e.env(root, sr)
	env.field = "Assign"
	v, f := a.eval(env)
	if f != nil {
		return f
	}
	m, ok := v.(map[string]any)
	if !ok {
		return runtimeFailure("The field 'Assign' must evaluate to an object, not %s", typeName(v))
	}
	return e.stageAssign(m, sr)
}

// stageAssign checks the sizes of evaluated assignments and keeps them on the state's run.
func (e *execution) stageAssign(m map[string]any, sr *stateRun) *Failure {
	p := &pendingAssign{vals: m, sizes: make(map[string]int, len(m))}
	sum := 0
	for name, v := range m {
		size := len(encode(v))
		if size > maxVariableSize {
			return &Failure{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The value of the variable '%s' has a size of %d bytes, exceeding the maximum of %d bytes for a variable", name, size, maxVariableSize)} // (unconfirmed)
		}
		p.sizes[name] = size
		sum += size
	}
	if sum > maxAssignSize {
		return &Failure{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The variables assigned by the state have a size of %d bytes together, exceeding the maximum of %d bytes for one Assign", sum, maxAssignSize)} // (unconfirmed)
	}
	sr.vars.pending = p // a definition with an Assign runs every state with a scope
	return nil
}

// dropPending forgets what the running state's Assign evaluated to.
func (s *varScope) dropPending() {
	if s != nil {
		s.pending = nil
	}
}

// commitAssign stores a state's staged assignments in its scope when the state ends, and
// answers them as the StateExited event's assignedVariables shows them: each value as
// serialized JSON.
func (e *execution) commitAssign(sr *stateRun) (map[string]json.RawMessage, *Failure) {
	s := sr.vars
	if s == nil || s.pending == nil {
		return nil, nil
	}
	p := s.pending
	s.pending = nil
	delta := 0
	for name, size := range p.sizes {
		delta += size - s.sizes[name]
	}
	s.budget.mu.Lock()
	if s.budget.total+delta > maxVariablesTotal {
		total := s.budget.total + delta
		s.budget.mu.Unlock()
		return nil, &Failure{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The variables of the execution would have a size of %d bytes, exceeding the maximum of %d bytes", total, maxVariablesTotal)} // (unconfirmed)
	}
	s.budget.total += delta
	s.budget.mu.Unlock()
	if s.vals == nil {
		s.vals = make(map[string]any, len(p.vals))
		s.sizes = make(map[string]int, len(p.vals))
	}
	assigned := make(map[string]json.RawMessage, len(p.vals))
	for name, v := range p.vals {
		s.vals[name] = v
		s.sizes[name] = p.sizes[name]
		assigned[name] = encode(v)
	}
	return assigned, nil
}

// resolveVariable reads a path that starts with a variable ("$order.items[0]").
func (s *varScope) resolve(p *jsonPath, field string) (any, *Failure) {
	root, ok := s.get(p.variable)
	if !ok {
		return nil, runtimeFailure("The JSONPath '%s' specified for the field '%s' references the variable '%s', which has not been assigned", p.raw, field, p.variable) // (unconfirmed)
	}
	v, ok := p.get(root)
	if !ok {
		return nil, runtimeFailure("The JSONPath '%s' specified for the field '%s' could not be found in the variable '%s' '%s'", p.raw, field, p.variable, encodeString(root)) // (unconfirmed)
	}
	return v, nil
}

// lookup reads a variable path for Choice rules and the *Path fields: found or not.
func (s *varScope) lookup(p *jsonPath) (any, bool) {
	root, ok := s.get(p.variable)
	if !ok {
		return nil, false
	}
	return p.get(root)
}
