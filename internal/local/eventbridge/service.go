// Package eventbridge is local mode's Amazon EventBridge: buses, rules with AWS's event
// pattern semantics, targets (in-process Lambda functions and Step Functions state
// machines, with Input, InputPath and InputTransformer) and PutEvents, over awsJson1_1.
package eventbridge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Options are the service's collaborators; interfaces, so the server can wire the
// services' circular dependencies late.
type Options struct {
	Clock      *core.Clock
	Functions  core.Functions
	Executions core.Executions
	Faults     *core.Faults
	Reporter   core.Reporter
}

// Service is the local EventBridge. It serves the EventBridge API over HTTP and takes the
// other services' events in-process (core.Bus).
type Service struct {
	clock      *core.Clock
	functions  core.Functions
	executions core.Executions
	faults     *core.Faults
	reporter   core.Reporter

	mu    sync.RWMutex
	buses map[string]*eventBus

	// deliveries run on ctx, so that Close stops their retries.
	ctx        context.Context
	cancel     context.CancelFunc
	deliveries sync.WaitGroup
}

var _ core.Bus = (*Service)(nil)

type eventBus struct {
	name        string
	arn         string
	description string
	created     time.Time
	rules       map[string]*rule
}

type rule struct {
	name        string
	arn         string
	bus         string
	pattern     string
	compiled    *Pattern
	state       string
	description string
	roleArn     string
	targets     []*storedTarget
}

// storedTarget is a target with its paths compiled. PutTargets replaces it whole, so a
// delivery may keep a pointer to it.
type storedTarget struct {
	Target
	kind      targetKind
	inputPath jsonPath
	paths     map[string]jsonPath
}

type targetKind int

const (
	lambdaTarget targetKind = iota
	stateMachineTarget
)

const defaultBus = "default"

// New makes the service with its default bus. It does no I/O.
func New(opts Options) *Service {
	clock := opts.Clock
	if clock == nil {
		clock = core.NewClock(1)
	}
	reporter := opts.Reporter
	if reporter == nil {
		reporter = core.ReporterFunc(func(string, ...any) {})
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		clock:      clock,
		functions:  opts.Functions,
		executions: opts.Executions,
		faults:     opts.Faults,
		reporter:   reporter,
		buses:      map[string]*eventBus{},
		ctx:        ctx,
		cancel:     cancel,
	}
	s.buses[defaultBus] = &eventBus{name: defaultBus, arn: busArn(defaultBus), created: clock.Now(), rules: map[string]*rule{}}
	return s
}

// Close stops retrying deliveries and waits for those under way.
func (s *Service) Close() error {
	s.cancel()
	s.deliveries.Wait()
	return nil
}

// ServeHTTP answers one EventBridge API call.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	latency, fault := s.faults.Check(signingName, op)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	if fault != nil {
		writeError(w, fault)
		return
	}
	handler, ok := operations[op]
	if !ok || r.Method != http.MethodPost {
		writeError(w, core.Unsupported("EventBridge", op))
		return
	}
	out, apiErr := handler(s, r)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, out)
}

type operation func(s *Service, r *http.Request) (any, *core.APIError)

var operations = map[string]operation{
	"PutRule":               (*Service).putRule,
	"DescribeRule":          (*Service).describeRule,
	"ListRules":             (*Service).listRules,
	"DeleteRule":            (*Service).deleteRule,
	"EnableRule":            (*Service).enableRule,
	"DisableRule":           (*Service).disableRule,
	"PutTargets":            (*Service).putTargets,
	"ListTargetsByRule":     (*Service).listTargetsByRule,
	"RemoveTargets":         (*Service).removeTargets,
	"ListRuleNamesByTarget": (*Service).listRuleNamesByTarget,
	"PutEvents":             (*Service).putEvents,
	"TestEventPattern":      (*Service).testEventPattern,
	"CreateEventBus":        (*Service).createEventBus,
	"DeleteEventBus":        (*Service).deleteEventBus,
	"DescribeEventBus":      (*Service).describeEventBus,
	"ListEventBuses":        (*Service).listEventBuses,
}

// Errors, worded as AWS words them.

func validationf(format string, args ...any) *core.APIError {
	return core.Errorf("ValidationException", format, args...)
}

func ruleNotFound(name, bus string) *core.APIError {
	return core.Errorf("ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name, bus)
}

func busNotFound(name string) *core.APIError {
	return core.Errorf("ResourceNotFoundException", "Event bus %s does not exist.", name)
}

// constraint is the Coral validation message AWS answers for a member out of its model.
func constraint(value, member, rule string) *core.APIError {
	return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, rule)
}

var namePattern = regexp.MustCompile(`^[\.\-_A-Za-z0-9]+$`)

func checkName(value, member string) *core.APIError {
	if len(value) > 64 {
		return constraint(value, member, "Member must have length less than or equal to 64")
	}
	if !namePattern.MatchString(value) {
		return constraint(value, member, `Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+`)
	}
	return nil
}

func checkLimit(limit *int) *core.APIError {
	if limit == nil {
		return nil
	}
	if *limit < 1 {
		return constraint(fmt.Sprint(*limit), "limit", "Member must have value greater than or equal to 1")
	}
	if *limit > 100 {
		return constraint(fmt.Sprint(*limit), "limit", "Member must have value less than or equal to 100")
	}
	return nil
}

// Buses.

func busArn(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", core.Region, core.Account, name)
}

func ruleArn(bus, name string) string {
	if bus == defaultBus {
		return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", core.Region, core.Account, name)
	}
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", core.Region, core.Account, bus, name)
}

// busName reads an EventBusName member: a name, an ARN, or empty for the default bus.
func busName(v string) string {
	if v == "" {
		return defaultBus
	}
	if strings.HasPrefix(v, "arn:") {
		if i := strings.LastIndex(v, ":event-bus/"); i >= 0 {
			return v[i+len(":event-bus/"):]
		}
	}
	return v
}

// bus returns the named bus; the caller holds s.mu.
func (s *Service) bus(nameOrArn string) (*eventBus, *core.APIError) {
	name := busName(nameOrArn)
	b, ok := s.buses[name]
	if !ok {
		return nil, busNotFound(name)
	}
	return b, nil
}

func (s *Service) createEventBus(r *http.Request) (any, *core.APIError) {
	var in eventBusInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if strings.Contains(in.Name, "/") {
		return nil, validationf("Event bus name must not contain '/'.")
	}
	if err := checkName(in.Name, "name"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buses[in.Name]; ok {
		return nil, core.Errorf("ResourceAlreadyExistsException", "Event bus %s already exists.", in.Name)
	}
	b := &eventBus{name: in.Name, arn: busArn(in.Name), description: in.Description, created: s.clock.Now(), rules: map[string]*rule{}}
	s.buses[in.Name] = b
	out := map[string]any{"EventBusArn": b.arn}
	if b.description != "" {
		out["Description"] = b.description
	}
	return out, nil
}

func (s *Service) deleteEventBus(r *http.Request) (any, *core.APIError) {
	var in eventBusInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if busName(in.Name) == defaultBus {
		return nil, validationf("Cannot delete event bus default.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Deleting a bus that does not exist succeeds, as on AWS.
	delete(s.buses, busName(in.Name))
	return nil, nil
}

func (s *Service) describeEventBus(r *http.Request) (any, *core.APIError) {
	var in eventBusInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, apiErr := s.bus(in.Name)
	if apiErr != nil {
		return nil, apiErr
	}
	return b.wire(), nil
}

func (b *eventBus) wire() wireEventBus {
	return wireEventBus{Name: b.name, Arn: b.arn, Description: b.description, CreationTime: epoch(b.created), LastModifiedTime: epoch(b.created)}
}

func (s *Service) listEventBuses(r *http.Request) (any, *core.APIError) {
	var in listEventBusesInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if err := checkLimit(in.Limit); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var names []string
	for name := range s.buses {
		if strings.HasPrefix(name, in.NamePrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	page, next, apiErr := paginate(names, in.NextToken, in.Limit)
	buses := make([]wireEventBus, 0, len(page))
	for _, name := range page {
		buses = append(buses, s.buses[name].wire())
	}
	s.mu.RUnlock()
	if apiErr != nil {
		return nil, apiErr
	}
	out := map[string]any{"EventBuses": buses}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// paginate pages sorted names: the token is the name to start at.
func paginate(names []string, token string, limit *int) ([]string, string, *core.APIError) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", validationf("The nextToken provided is invalid.")
		}
		start = sort.SearchStrings(names, string(b))
	}
	n := 100
	if limit != nil {
		n = *limit
	}
	end := min(start+n, len(names))
	next := ""
	if end < len(names) {
		next = base64.RawURLEncoding.EncodeToString([]byte(names[end]))
	}
	return names[start:end], next, nil
}

// Rules.

func (s *Service) putRule(r *http.Request) (any, *core.APIError) {
	var in putRuleInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if err := checkName(in.Name, "name"); err != nil {
		return nil, err
	}
	switch in.State {
	case "", "ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
	default:
		return nil, constraint(in.State, "state", "Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]")
	}
	if in.EventPattern == nil && in.ScheduleExpression == nil {
		return nil, validationf("Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if in.ScheduleExpression != nil {
		// Never a silent success: local mode runs schedules in EventBridge Scheduler only.
		return nil, validationf("sfn-rollout local does not run EventBridge rules with a ScheduleExpression; use EventBridge Scheduler (CreateSchedule) instead")
	}
	if len(*in.EventPattern) > 4096 {
		return nil, constraint(*in.EventPattern, "eventPattern", "Member must have length less than or equal to 4096")
	}
	compiled, err := CompilePattern(*in.EventPattern)
	if err != nil {
		return nil, core.Errorf("InvalidEventPatternException", "%s", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, apiErr := s.bus(in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	ru, ok := b.rules[in.Name]
	if !ok {
		ru = &rule{name: in.Name, arn: ruleArn(b.name, in.Name), bus: b.name, state: "ENABLED"}
	} else {
		// Deliveries under way keep the rule they matched; replace, never mutate.
		cp := *ru
		ru = &cp
	}
	ru.pattern = *in.EventPattern
	ru.compiled = compiled
	if in.State != "" {
		ru.state = in.State
	}
	if in.Description != nil {
		ru.description = *in.Description
	}
	if in.RoleArn != nil {
		ru.roleArn = *in.RoleArn
	}
	b.rules[in.Name] = ru
	return map[string]string{"RuleArn": ru.arn}, nil
}

func (ru *rule) wire() wireRule {
	return wireRule{
		Name: ru.name, Arn: ru.arn, EventPattern: ru.pattern, State: ru.state,
		Description: ru.description, RoleArn: ru.roleArn, EventBusName: ru.bus, CreatedBy: core.Account,
	}
}

// rule returns a rule; the caller holds s.mu.
func (s *Service) rule(name, bus string) (*eventBus, *rule, *core.APIError) {
	b, apiErr := s.bus(bus)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	ru, ok := b.rules[name]
	if !ok {
		return nil, nil, ruleNotFound(name, b.name)
	}
	return b, ru, nil
}

func (s *Service) describeRule(r *http.Request) (any, *core.APIError) {
	var in ruleRef
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ru, apiErr := s.rule(in.Name, in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	return ru.wire(), nil
}

func (s *Service) listRules(r *http.Request) (any, *core.APIError) {
	var in listRulesInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if err := checkLimit(in.Limit); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, apiErr := s.bus(in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	var names []string
	for name := range b.rules {
		if strings.HasPrefix(name, in.NamePrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	page, next, apiErr := paginate(names, in.NextToken, in.Limit)
	if apiErr != nil {
		return nil, apiErr
	}
	rules := make([]wireRule, 0, len(page))
	for _, name := range page {
		rules = append(rules, b.rules[name].wire())
	}
	out := map[string]any{"Rules": rules}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Service) deleteRule(r *http.Request) (any, *core.APIError) {
	var in ruleRef
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, apiErr := s.bus(in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	ru, ok := b.rules[in.Name]
	if !ok {
		// Deleting a rule that does not exist succeeds, as on AWS.
		return nil, nil
	}
	if len(ru.targets) > 0 {
		return nil, validationf("Rule can't be deleted since it has targets.")
	}
	delete(b.rules, in.Name)
	return nil, nil
}

func (s *Service) enableRule(r *http.Request) (any, *core.APIError) {
	return s.setRuleState(r, "ENABLED")
}

func (s *Service) disableRule(r *http.Request) (any, *core.APIError) {
	return s.setRuleState(r, "DISABLED")
}

func (s *Service) setRuleState(r *http.Request, state string) (any, *core.APIError) {
	var in ruleRef
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ru, apiErr := s.rule(in.Name, in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	cp := *ru
	cp.state = state
	b.rules[in.Name] = &cp
	return nil, nil
}

// Targets.

func (s *Service) putTargets(r *http.Request) (any, *core.APIError) {
	var in putTargetsInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if len(in.Targets) == 0 {
		return nil, constraint("[]", "targets", "Member must have length greater than or equal to 1")
	}
	if len(in.Targets) > 10 {
		return nil, constraint(targetIDs(in.Targets), "targets", "Member must have length less than or equal to 10")
	}
	for i, t := range in.Targets {
		member := fmt.Sprintf("targets.%d.member.id", i+1)
		if t.Id == "" {
			return nil, constraint(t.Id, member, "Member must have length greater than or equal to 1")
		}
		if err := checkName(t.Id, member); err != nil {
			return nil, err
		}
		inputs := 0
		for _, set := range []bool{t.Input != nil, t.InputPath != nil, t.InputTransformer != nil} {
			if set {
				inputs++
			}
		}
		if inputs > 1 {
			return nil, validationf("Only one of Input, InputPath, or InputTransformer must be provided for target %s.", t.Id)
		}
	}
	result := targetsResult{FailedEntries: []failedEntry{}}
	var accepted []*storedTarget
	for _, t := range in.Targets {
		st, apiErr := compileTarget(t)
		if apiErr != nil {
			result.FailedEntries = append(result.FailedEntries, failedEntry{TargetId: t.Id, ErrorCode: apiErr.Code, ErrorMessage: apiErr.Message})
			continue
		}
		accepted = append(accepted, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ru, apiErr := s.rule(in.Rule, in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	targets := append([]*storedTarget(nil), ru.targets...)
	for _, st := range accepted {
		replaced := false
		for i, old := range targets {
			if old.Id == st.Id {
				targets[i] = st
				replaced = true
				break
			}
		}
		if !replaced {
			targets = append(targets, st)
		}
	}
	if len(targets) > 5 {
		return nil, core.Errorf("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
	}
	cp := *ru
	cp.targets = targets
	b.rules[in.Rule] = &cp
	result.FailedEntryCount = len(result.FailedEntries)
	return result, nil
}

func targetIDs(ts []Target) string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.Id
	}
	return "[" + strings.Join(ids, ", ") + "]"
}

// compileTarget checks what local mode can deliver to and compiles the input paths. The
// problems are reported as failed entries (the wording is local: AWS accepts these ARNs).
func compileTarget(t Target) (*storedTarget, *core.APIError) {
	st := &storedTarget{Target: t}
	switch {
	case isLambdaArn(t.Arn):
		st.kind = lambdaTarget
	case isStateMachineArn(t.Arn):
		st.kind = stateMachineTarget
	default:
		return nil, validationf("sfn-rollout local delivers only to Lambda functions (arn:aws:lambda:...:function:<name>) and Step Functions state machines (arn:aws:states:...:stateMachine:<name>), not to %q", t.Arn)
	}
	if t.Input != nil && !json.Valid([]byte(*t.Input)) {
		return nil, validationf("Input for target %s is not valid JSON.", t.Id)
	}
	if t.InputPath != nil {
		p, err := parseJSONPath(*t.InputPath)
		if err != nil {
			return nil, validationf("InputPath for target %s is not valid: %v", t.Id, err)
		}
		st.inputPath = p
	}
	if tr := t.InputTransformer; tr != nil {
		if tr.InputTemplate == "" {
			return nil, validationf("InputTemplate for target %s must not be empty.", t.Id)
		}
		st.paths = map[string]jsonPath{}
		for name, path := range tr.InputPathsMap {
			if _, reserved := predefinedVars[name]; reserved {
				return nil, validationf("InputPathsMap for target %s uses the reserved name %s.", t.Id, name)
			}
			p, err := parseJSONPath(path)
			if err != nil {
				return nil, validationf("InputPathsMap for target %s is not valid: %v", t.Id, err)
			}
			st.paths[name] = p
		}
	}
	return st, nil
}

var predefinedVars = map[string]bool{
	"aws.events.rule-arn":             true,
	"aws.events.rule-name":            true,
	"aws.events.event":                true,
	"aws.events.event.json":           true,
	"aws.events.event.ingestion-time": true,
}

func isLambdaArn(arn string) bool {
	parts := strings.SplitN(arn, ":", 8)
	return len(parts) >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" && parts[6] != ""
}

func isStateMachineArn(arn string) bool {
	parts := strings.SplitN(arn, ":", 8)
	return len(parts) >= 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "stateMachine" && parts[6] != ""
}

func (s *Service) listTargetsByRule(r *http.Request) (any, *core.APIError) {
	var in listTargetsInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if err := checkLimit(in.Limit); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ru, apiErr := s.rule(in.Rule, in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	ids := make([]string, 0, len(ru.targets))
	byID := map[string]Target{}
	for _, t := range ru.targets {
		ids = append(ids, t.Id)
		byID[t.Id] = t.Target
	}
	sort.Strings(ids)
	page, next, apiErr := paginate(ids, in.NextToken, in.Limit)
	if apiErr != nil {
		return nil, apiErr
	}
	targets := make([]Target, 0, len(page))
	for _, id := range page {
		targets = append(targets, byID[id])
	}
	out := map[string]any{"Targets": targets}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Service) removeTargets(r *http.Request) (any, *core.APIError) {
	var in removeTargetsInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ru, apiErr := s.rule(in.Rule, in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	remove := map[string]bool{}
	for _, id := range in.Ids {
		remove[id] = true
	}
	var kept []*storedTarget
	for _, t := range ru.targets {
		if !remove[t.Id] {
			kept = append(kept, t)
		}
	}
	cp := *ru
	cp.targets = kept
	b.rules[in.Rule] = &cp
	return targetsResult{FailedEntries: []failedEntry{}}, nil
}

func (s *Service) listRuleNamesByTarget(r *http.Request) (any, *core.APIError) {
	var in struct {
		TargetArn    string `json:"TargetArn"`
		EventBusName string `json:"EventBusName"`
		NextToken    string `json:"NextToken"`
		Limit        *int   `json:"Limit"`
	}
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if err := checkLimit(in.Limit); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, apiErr := s.bus(in.EventBusName)
	if apiErr != nil {
		return nil, apiErr
	}
	var names []string
	for name, ru := range b.rules {
		for _, t := range ru.targets {
			if t.Arn == in.TargetArn {
				names = append(names, name)
				break
			}
		}
	}
	sort.Strings(names)
	page, next, apiErr := paginate(names, in.NextToken, in.Limit)
	if apiErr != nil {
		return nil, apiErr
	}
	out := map[string]any{"RuleNames": append([]string{}, page...)}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// Events.

// maxEntriesSize is PutEvents' 256 KB limit on the entries of one request.
const maxEntriesSize = 256 * 1024

func (s *Service) putEvents(r *http.Request) (any, *core.APIError) {
	var in putEventsInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 {
		return nil, constraint("[]", "entries", "Member must have length greater than or equal to 1")
	}
	if len(in.Entries) > 10 {
		return nil, constraint(fmt.Sprintf("[%d entries]", len(in.Entries)), "entries", "Member must have length less than or equal to 10")
	}
	size := 0
	for _, e := range in.Entries {
		size += entrySize(e)
	}
	if size > maxEntriesSize {
		return nil, validationf("Total size of the entries in the request is over the limit.")
	}
	out := putEventsOutput{Entries: make([]putEventsResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		ev, code, msg := s.eventFromEntry(e)
		if code == "" {
			code, msg = s.route(busName(e.EventBusName), ev)
		}
		if code != "" {
			out.Entries[i] = putEventsResultEntry{ErrorCode: code, ErrorMessage: msg}
			out.FailedEntryCount++
			continue
		}
		out.Entries[i] = putEventsResultEntry{EventId: ev.ID}
	}
	return out, nil
}

// entrySize follows AWS's PutEvents size calculation: the UTF-8 bytes of Source,
// DetailType, Detail and each resource, and 14 bytes for a Time.
func entrySize(e putEventsEntry) int {
	n := 0
	for _, p := range []*string{e.Source, e.DetailType, e.Detail} {
		if p != nil {
			n += len(*p)
		}
	}
	for _, res := range e.Resources {
		n += len(res)
	}
	if e.Time != nil {
		n += 14
	}
	return n
}

// eventFromEntry validates one PutEvents entry, answering an entry error code and message
// as AWS does.
func (s *Service) eventFromEntry(e putEventsEntry) (*envelope, string, string) {
	switch {
	case e.Source == nil || *e.Source == "":
		return nil, "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
	case e.DetailType == nil || *e.DetailType == "":
		return nil, "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case e.Detail == nil || *e.Detail == "":
		return nil, "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."
	case !isJSONObject(*e.Detail):
		return nil, "MalformedDetail", "Detail is malformed."
	case strings.HasPrefix(*e.Source, "aws."):
		// Sources of AWS services are reserved for the services themselves.
		return nil, "NotAuthorizedForSourceException", "Not authorized for the source."
	}
	t := s.clock.Now()
	if e.Time != nil {
		sec := int64(*e.Time)
		t = time.Unix(sec, int64((*e.Time-float64(sec))*1e9))
	}
	return s.envelope(*e.Source, *e.DetailType, e.Resources, json.RawMessage(*e.Detail), t), "", ""
}

func isJSONObject(s string) bool {
	v, err := decodeEvent([]byte(s))
	if err != nil {
		return false
	}
	_, ok := v.(map[string]any)
	return ok
}

func (s *Service) envelope(source, detailType string, resources []string, detail json.RawMessage, t time.Time) *envelope {
	if resources == nil {
		resources = []string{}
	}
	return &envelope{
		Version: "0", ID: newUUID(), DetailType: detailType, Source: source, Account: core.Account,
		Time: t.UTC().Format("2006-01-02T15:04:05Z"), Region: core.Region, Resources: resources, Detail: detail,
	}
}

// Emit puts an event from another local service on the default bus. It never blocks on a
// target: deliveries run on their own goroutines.
func (s *Service) Emit(ctx context.Context, e core.Event) error {
	if e.Source == "" || e.DetailType == "" {
		return fmt.Errorf("emit event: source and detail type are required")
	}
	detail := e.Detail
	if len(detail) == 0 {
		detail = json.RawMessage("{}")
	}
	if !isJSONObject(string(detail)) {
		return fmt.Errorf("emit %s event %q: detail is not a JSON object", e.Source, e.DetailType)
	}
	t := e.Time
	if t.IsZero() {
		t = s.clock.Now()
	}
	ev := s.envelope(e.Source, e.DetailType, append([]string(nil), e.Resources...), detail, t)
	if code, msg := s.route(defaultBus, ev); code != "" {
		return fmt.Errorf("emit %s event %q: %s: %s", e.Source, e.DetailType, code, msg)
	}
	return nil
}

// route matches the event against the enabled rules of the bus and starts a delivery to
// each target of each matching rule.
func (s *Service) route(bus string, ev *envelope) (code, message string) {
	decoded := ev.decoded()
	var jobs []delivery
	s.mu.RLock()
	b, ok := s.buses[bus]
	if !ok {
		s.mu.RUnlock()
		// The exact entry error for an unknown bus is unconfirmed; AWS's not-found wording.
		return "ResourceNotFoundException", fmt.Sprintf("Event bus %s does not exist.", bus)
	}
	for _, ru := range b.rules {
		if ru.state == "DISABLED" || len(ru.targets) == 0 || !ru.compiled.Matches(decoded) {
			continue
		}
		for _, t := range ru.targets {
			jobs = append(jobs, delivery{ruleName: ru.name, ruleArn: ru.arn, target: t})
		}
	}
	s.mu.RUnlock()
	if len(jobs) == 0 {
		return "", ""
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return "InternalException", err.Error()
	}
	ingested := s.clock.Now()
	for _, j := range jobs {
		j.event = raw
		j.decoded = decoded
		j.ingested = ingested
		s.deliveries.Add(1)
		go s.deliver(j)
	}
	return "", ""
}

// decoded is the event as the pattern matcher and the input paths see it.
func (ev *envelope) decoded() map[string]any {
	resources := make([]any, len(ev.Resources))
	for i, r := range ev.Resources {
		resources[i] = r
	}
	detail, _ := decodeEvent(ev.Detail)
	return map[string]any{
		"version": ev.Version, "id": ev.ID, "detail-type": ev.DetailType, "source": ev.Source,
		"account": ev.Account, "time": ev.Time, "region": ev.Region, "resources": resources, "detail": detail,
	}
}

func (s *Service) testEventPattern(r *http.Request) (any, *core.APIError) {
	var in testEventPatternInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	p, err := CompilePattern(in.EventPattern)
	if err != nil {
		return nil, core.Errorf("InvalidEventPatternException", "%s", err.Error())
	}
	v, decErr := decodeEvent([]byte(in.Event))
	event, ok := v.(map[string]any)
	if decErr != nil || !ok {
		return nil, validationf("Parameter Event is not valid.")
	}
	for _, field := range []string{"id", "account", "source", "time", "region", "detail-type"} {
		if _, ok := event[field]; !ok {
			return nil, validationf("Parameter Event is not valid.")
		}
	}
	return map[string]bool{"Result": p.Matches(event)}, nil
}

// newUUID is a random (version 4) UUID: event IDs and execution names.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
