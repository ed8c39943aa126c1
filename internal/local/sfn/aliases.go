package sfn

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

type alias struct {
	name, arn   string
	description string
	routes      []route
	created     time.Time
	updated     time.Time
	seq         uint64
}

type route struct {
	versionArn string
	number     int
	weight     int
}

func (a *alias) routesTo(versionArn string) bool {
	for _, r := range a.routes {
		if r.versionArn == versionArn {
			return true
		}
	}
	return false
}

// sameRouting compares routing as a set of (version, weight): the order of the entries
// does not make an alias different.
func sameRouting(a, b []route) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x.versionArn == y.versionArn && x.weight == y.weight {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// draw picks the version of one execution, independently per call, by the weights.
func (a *alias) draw(n int) route {
	for _, r := range a.routes {
		if n < r.weight {
			return r
		}
		n -= r.weight
	}
	return a.routes[len(a.routes)-1]
}

// describeRouting is the routing as the Reporter shows it: "v1 80% v2 20%".
func (a *alias) describeRouting() string {
	parts := make([]string, 0, len(a.routes))
	for _, r := range a.routes {
		parts = append(parts, fmt.Sprintf("v%d %d%%", r.number, r.weight))
	}
	return strings.Join(parts, " ")
}

type routeJSON struct {
	StateMachineVersionArn *string `json:"stateMachineVersionArn"`
	Weight                 *int32  `json:"weight"`
}

func (r routeJSON) String() string {
	w := "null"
	if r.Weight != nil {
		w = strconv.Itoa(int(*r.Weight))
	}
	return fmt.Sprintf("RoutingConfigurationListItem(stateMachineVersionArn=%s, weight=%s)", deref(r.StateMachineVersionArn), w)
}

// checkRoutingShape applies the model's constraints to a routing configuration.
func checkRoutingShape(v *violations, routes []routeJSON) {
	switch {
	case len(routes) < 1:
		v.add(routingString(routes), "routingConfiguration", "Member must have length greater than or equal to 1")
	case len(routes) > 2:
		v.add(routingString(routes), "routingConfiguration", "Member must have length less than or equal to 2")
	}
	for i, r := range routes {
		member := fmt.Sprintf("routingConfiguration.%d.member", i+1)
		v.length(r.StateMachineVersionArn, member+".stateMachineVersionArn", 1, 2048, true, false)
		if r.Weight == nil {
			v.null(member + ".weight")
			continue
		}
		v.between(*r.Weight, member+".weight", 0, 100)
	}
}

func routingString(routes []routeJSON) string {
	parts := make([]string, len(routes))
	for i, r := range routes {
		parts[i] = r.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// resolveRoutingLocked checks what the model cannot (version ARNs, distinct, sum, one state
// machine, versions exist) and answers the state machine and its routes.
func (s *Service) resolveRoutingLocked(routes []routeJSON) (*stateMachine, []route, *core.APIError) {
	arns := make([]string, len(routes))
	weights := make([]string, len(routes))
	refs := make([]machineRef, len(routes))
	for i, r := range routes {
		arns[i] = *r.StateMachineVersionArn
		weights[i] = strconv.Itoa(int(*r.Weight))
	}
	for i, a := range arns {
		ref, e := parseMachineArn(a)
		if e != nil || !ref.isVersion() {
			return nil, nil, apiError(codeValidation, msgRoutingVersionArns, strings.Join(arns, ", "))
		}
		refs[i] = ref
	}
	if len(arns) == 2 && arns[0] == arns[1] {
		return nil, nil, apiError(codeValidation, msgRoutingDistinct, strings.Join(arns, ", "))
	}
	sum := 0
	for _, r := range routes {
		sum += int(*r.Weight)
	}
	if sum != 100 {
		return nil, nil, apiError(codeValidation, msgRoutingSum, strings.Join(weights, ", "))
	}
	for _, ref := range refs[1:] {
		if ref.name != refs[0].name || ref.foreign != refs[0].foreign {
			return nil, nil, apiError(codeValidation, msgRoutingOneMachine, strings.Join(arns, ", "))
		}
	}
	m := s.machineLocked(refs[0])
	if m == nil {
		return nil, nil, aliasMissing()
	}
	out := make([]route, len(routes))
	for i, ref := range refs {
		ver := m.versions[ref.version]
		if ver == nil {
			return nil, nil, aliasMissing()
		}
		out[i] = route{versionArn: ver.arn, number: ver.number, weight: int(*routes[i].Weight)}
	}
	return m, out, nil
}

type createAliasInput struct {
	Name                 *string     `json:"name"`
	Description          *string     `json:"description"`
	RoutingConfiguration []routeJSON `json:"routingConfiguration"`
}

type createAliasOutput struct {
	StateMachineAliasArn string `json:"stateMachineAliasArn"`
	CreationDate         *epoch `json:"creationDate"`
}

func checkAliasName(v *violations, name *string) {
	v.length(name, "name", 1, 80, true, false)
	if name != nil && *name != "" && !validAliasName(*name) {
		v.add(*name, "name", "Member must satisfy regular expression pattern: "+aliasNamePattern)
	}
}

func (s *Service) createStateMachineAlias(_ context.Context, in *createAliasInput) (any, *core.APIError) {
	var v violations
	checkAliasName(&v, in.Name)
	v.length(in.Description, "description", 0, 256, false, false)
	if in.RoutingConfiguration == nil {
		v.null("routingConfiguration")
	} else {
		checkRoutingShape(&v, in.RoutingConfiguration)
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, routes, e := s.resolveRoutingLocked(in.RoutingConfiguration)
	if e != nil {
		return nil, e
	}
	if a := m.aliases[*in.Name]; a != nil {
		if a.description != deref(in.Description) || !sameRouting(a.routes, routes) {
			return nil, apiError(codeConflict, msgAliasConflict)
		}
		return createAliasOutput{StateMachineAliasArn: a.arn, CreationDate: stamp(a.created)}, nil
	}
	if len(m.aliases) >= maxAliasesPerMachine {
		return nil, apiError(codeQuota, "Failed to create alias: the state machine '%s' has reached the limit of %d aliases", m.arn, maxAliasesPerMachine)
	}
	now := s.clock.Now()
	s.seq++
	a := &alias{
		name:        *in.Name,
		arn:         m.arn + ":" + *in.Name,
		description: deref(in.Description),
		routes:      routes,
		created:     now,
		updated:     now,
		seq:         s.seq,
	}
	m.aliases[a.name] = a
	s.report("alias %s:%s → %s", m.name, a.name, a.describeRouting())
	return createAliasOutput{StateMachineAliasArn: a.arn, CreationDate: stamp(a.created)}, nil
}

type aliasArnInput struct {
	StateMachineAliasArn *string `json:"stateMachineAliasArn"`
}

// aliasLocked finds an alias by its ARN; a missing one is ResourceNotFound.
func (s *Service) aliasLocked(arn *string) (*stateMachine, *alias, *core.APIError) {
	ref, e := parseMachineArn(*arn)
	if e != nil {
		return nil, nil, e
	}
	if !ref.isAlias() {
		return nil, nil, apiError(codeInvalidArn, "Invalid Arn: 'Not a state machine alias ARN: %s'", ref.arn)
	}
	m := s.machineLocked(ref)
	if m == nil {
		return nil, nil, aliasMissing()
	}
	a := m.aliases[ref.qualifier]
	if a == nil {
		return nil, nil, aliasMissing()
	}
	return m, a, nil
}

type routeOut struct {
	StateMachineVersionArn string `json:"stateMachineVersionArn"`
	Weight                 int    `json:"weight"`
}

func (s *Service) describeStateMachineAlias(_ context.Context, in *aliasArnInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineAliasArn, "stateMachineAliasArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, a, e := s.aliasLocked(in.StateMachineAliasArn)
	if e != nil {
		return nil, e
	}
	routes := make([]routeOut, len(a.routes))
	for i, r := range a.routes {
		routes[i] = routeOut{StateMachineVersionArn: r.versionArn, Weight: r.weight}
	}
	return struct {
		StateMachineAliasArn string     `json:"stateMachineAliasArn"`
		Name                 string     `json:"name"`
		Description          string     `json:"description,omitempty"`
		RoutingConfiguration []routeOut `json:"routingConfiguration"`
		CreationDate         *epoch     `json:"creationDate"`
		UpdateDate           *epoch     `json:"updateDate"`
	}{a.arn, a.name, a.description, routes, stamp(a.created), stamp(a.updated)}, nil
}

type updateAliasInput struct {
	StateMachineAliasArn *string     `json:"stateMachineAliasArn"`
	Description          *string     `json:"description"`
	RoutingConfiguration []routeJSON `json:"routingConfiguration"`
}

func (s *Service) updateStateMachineAlias(_ context.Context, in *updateAliasInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineAliasArn, "stateMachineAliasArn", 1, 256, true, false)
	v.length(in.Description, "description", 0, 256, false, false)
	if in.RoutingConfiguration != nil {
		checkRoutingShape(&v, in.RoutingConfiguration)
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	if in.Description == nil && in.RoutingConfiguration == nil {
		return nil, apiError(codeValidation, "Either the description or the routingConfiguration must be specified")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, a, e := s.aliasLocked(in.StateMachineAliasArn)
	if e != nil {
		return nil, e
	}
	changed := false
	if in.RoutingConfiguration != nil {
		target, routes, e := s.resolveRoutingLocked(in.RoutingConfiguration)
		if e != nil {
			return nil, e
		}
		if target != m {
			return nil, apiError(codeValidation, msgRoutingOneMachine, a.arn+", "+routes[0].versionArn)
		}
		changed = !sameRouting(a.routes, routes)
		a.routes = routes // replaced whole, in the order given
	}
	if in.Description != nil {
		a.description = *in.Description
	}
	a.updated = s.clock.Now()
	if changed {
		s.report("alias %s:%s → %s", m.name, a.name, a.describeRouting())
	}
	return struct {
		UpdateDate *epoch `json:"updateDate"`
	}{stamp(a.updated)}, nil
}

type aliasItem struct {
	StateMachineAliasArn string `json:"stateMachineAliasArn"`
	CreationDate         *epoch `json:"creationDate"`
}

func (s *Service) listStateMachineAliases(_ context.Context, in *listInput) (any, *core.APIError) {
	var v violations
	in.check(&v, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, e
	}
	if ref.isAlias() {
		return nil, apiError(codeInvalidArn, "Invalid Arn: 'Not a state machine or version ARN: %s'", ref.arn)
	}
	s.mu.Lock()
	m := s.machineLocked(ref)
	if m == nil {
		s.mu.Unlock()
		return nil, machineMissing(ref.plain())
	}
	all := m.aliasesOldestFirst()
	if ref.isVersion() {
		ver := m.versions[ref.version]
		if ver == nil {
			s.mu.Unlock()
			return nil, aliasMissing()
		}
		routing := all[:0:0]
		for _, a := range all {
			if a.routesTo(ver.arn) {
				routing = append(routing, a)
			}
		}
		all = routing
	}
	s.mu.Unlock()
	page, next, e := paginate(all, func(a *alias) uint64 { return a.seq }, false, in.MaxResults, "aliases", in.NextToken)
	if e != nil {
		return nil, e
	}
	items := make([]aliasItem, 0, len(page))
	for _, a := range page {
		items = append(items, aliasItem{StateMachineAliasArn: a.arn, CreationDate: stamp(a.created)})
	}
	return struct {
		StateMachineAliases []aliasItem `json:"stateMachineAliases"`
		NextToken           *string     `json:"nextToken,omitempty"`
	}{items, next}, nil
}

func (s *Service) deleteStateMachineAlias(_ context.Context, in *aliasArnInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineAliasArn, "stateMachineAliasArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, a, e := s.aliasLocked(in.StateMachineAliasArn)
	if e != nil {
		if e.Code == codeResourceNotFound {
			return struct{}{}, nil // deleting a missing alias succeeds
		}
		return nil, e
	}
	delete(m.aliases, a.name)
	return struct{}{}, nil
}
