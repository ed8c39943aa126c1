package eventbridge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Rules and their targets.

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
		r := b.rules[name].wire()
		r.CreatedBy = "" // ListRules' Rule shape has no CreatedBy
		rules = append(rules, r)
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
