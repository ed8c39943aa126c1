// Package scheduler is local mode's EventBridge Scheduler: schedule groups and schedules
// (rate(), at() and cron() in a time zone) over restJson1, fired on the virtual clock at
// in-process Lambda functions and Step Functions state machines.
package scheduler

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // ScheduleExpressionTimezone works without a system zoneinfo

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Options are the service's collaborators; interfaces, so the server can wire the
// services' circular dependencies late.
type Options struct {
	Clock      *core.Clock
	Functions  core.Functions
	Executions core.Executions
	Faults     *core.Faults
	Quotas     *core.Quotas // as service "scheduler"; nil: none
	Reporter   core.Reporter
}

// Service is the local EventBridge Scheduler.
type Service struct {
	clock      *core.Clock
	functions  core.Functions
	executions core.Executions
	faults     *core.Faults
	quotas     *core.Quotas
	reporter   core.Reporter

	dropped atomic.Int64 // firings given up: retries or event age spent, or refused

	mu        sync.Mutex
	groups    map[string]*group
	schedules map[string]*schedule // by group/name
	wake      chan struct{}        // tells the loop that the schedules changed
	started   bool
	running   sync.WaitGroup // the loop and the invocations under way
}

type group struct {
	name     string
	arn      string
	created  time.Time
	modified time.Time
}

type schedule struct {
	name                  string
	group                 string
	arn                   string
	description           *string
	expression            string
	expr                  expression
	timezone              string
	flexible              FlexibleTimeWindow
	target                Target
	defaultRetryPolicy    bool // the caller gave none: AWS's defaults are shown, local ones applied
	state                 string
	startDate             *time.Time
	endDate               *time.Time
	actionAfterCompletion string
	kmsKeyArn             *string
	clientToken           string
	created               time.Time
	modified              time.Time

	next    time.Time // the next fire time, valid when hasNext
	hasNext bool
}

const defaultGroup = "default"

// New makes the service with its default group. It does no I/O and fires nothing until
// Start.
func New(opts Options) *Service {
	clock := opts.Clock
	if clock == nil {
		clock = core.NewClock(1)
	}
	reporter := opts.Reporter
	if reporter == nil {
		reporter = core.ReporterFunc(func(string, ...any) {})
	}
	now := clock.Now()
	return &Service{
		clock:      clock,
		functions:  opts.Functions,
		executions: opts.Executions,
		faults:     opts.Faults,
		quotas:     opts.Quotas,
		reporter:   reporter,
		groups:     map[string]*group{defaultGroup: {name: defaultGroup, arn: groupArn(defaultGroup), created: now, modified: now}},
		schedules:  map[string]*schedule{},
		wake:       make(chan struct{}, 1),
	}
}

func groupArn(name string) string {
	return fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule-group/%s", core.Region, core.Account, name)
}

func scheduleArn(group, name string) string {
	return fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule/%s/%s", core.Region, core.Account, group, name)
}

func key(group, name string) string { return group + "/" + name }

// Dropped counts the firings given up for good: their retries or their event age spent, or
// refused by the target with a client error.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// ServeHTTP answers one Scheduler API call.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, name := route(r)
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
	if !s.quotas.Allow(signingName, op) {
		writeError(w, core.ErrSchedulerThrottling)
		return
	}
	var out any
	var apiErr *core.APIError
	q := r.URL.Query()
	switch op {
	case "CreateSchedule":
		out, apiErr = s.createSchedule(r, name)
	case "UpdateSchedule":
		out, apiErr = s.updateSchedule(r, name)
	case "GetSchedule":
		out, apiErr = s.getSchedule(name, q.Get("groupName"))
	case "DeleteSchedule":
		out, apiErr = s.deleteSchedule(name, q.Get("groupName"))
	case "ListSchedules":
		out, apiErr = s.listSchedules(q)
	case "CreateScheduleGroup":
		out, apiErr = s.createGroup(name)
	case "GetScheduleGroup":
		out, apiErr = s.getGroup(name)
	case "DeleteScheduleGroup":
		out, apiErr = s.deleteGroup(name)
	case "ListScheduleGroups":
		out, apiErr = s.listGroups(q)
	default:
		apiErr = core.Unsupported("EventBridge Scheduler", op)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, out)
}

// route names the operation of a request by its method and path.
func route(r *http.Request) (op, name string) {
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	if len(parts) == 2 {
		name, _ = url.PathUnescape(parts[1])
	}
	resource := parts[0]
	switch {
	case resource == "schedules" && len(parts) == 1 && r.Method == http.MethodGet:
		return "ListSchedules", ""
	case resource == "schedules" && len(parts) == 2:
		switch r.Method {
		case http.MethodPost:
			return "CreateSchedule", name
		case http.MethodPut:
			return "UpdateSchedule", name
		case http.MethodGet:
			return "GetSchedule", name
		case http.MethodDelete:
			return "DeleteSchedule", name
		}
	case resource == "schedule-groups" && len(parts) == 1 && r.Method == http.MethodGet:
		return "ListScheduleGroups", ""
	case resource == "schedule-groups" && len(parts) == 2:
		switch r.Method {
		case http.MethodPost:
			return "CreateScheduleGroup", name
		case http.MethodGet:
			return "GetScheduleGroup", name
		case http.MethodDelete:
			return "DeleteScheduleGroup", name
		}
	case resource == "tags":
		switch r.Method {
		case http.MethodGet:
			return "ListTagsForResource", ""
		case http.MethodPost:
			return "TagResource", ""
		case http.MethodDelete:
			return "UntagResource", ""
		}
	}
	return r.Method + " " + r.URL.Path, ""
}

// Errors, worded as AWS words them.

func validationf(format string, args ...any) *core.APIError {
	return &core.APIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func constraint(value, member, rule string) *core.APIError {
	return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, rule)
}

func scheduleNotFound(name string) *core.APIError {
	return &core.APIError{Code: "ResourceNotFoundException", Message: fmt.Sprintf("Schedule %s does not exist.", name), Status: http.StatusNotFound}
}

// groupNotFound's wording is unconfirmed; it follows "Schedule <name> does not exist.".
func groupNotFound(name string) *core.APIError {
	return &core.APIError{Code: "ResourceNotFoundException", Message: fmt.Sprintf("Schedule group %s does not exist.", name), Status: http.StatusNotFound}
}

var namePattern = regexp.MustCompile(`^[0-9a-zA-Z-_.]+$`)

func checkName(value, member string) *core.APIError {
	if value == "" {
		return constraint(value, member, "Member must have length greater than or equal to 1")
	}
	if len(value) > 64 {
		return constraint(value, member, "Member must have length less than or equal to 64")
	}
	if !namePattern.MatchString(value) {
		return constraint(value, member, "Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$")
	}
	return nil
}

// Schedules.

func (s *Service) createSchedule(r *http.Request, name string) (any, *core.APIError) {
	var in scheduleInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	sc, apiErr := s.build(name, in)
	if apiErr != nil {
		return nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[sc.group]; !ok {
		return nil, groupNotFound(sc.group)
	}
	if old, ok := s.schedules[key(sc.group, name)]; ok {
		// A retry of the same call (the SDK keeps its ClientToken across retries) is
		// answered as the first was.
		if in.ClientToken != "" && old.clientToken == in.ClientToken {
			return map[string]string{"ScheduleArn": old.arn}, nil
		}
		return nil, &core.APIError{Code: "ConflictException", Message: fmt.Sprintf("Schedule %s already exists.", name), Status: http.StatusConflict}
	}
	sc.created = sc.modified
	s.schedules[key(sc.group, name)] = sc
	s.notify()
	return map[string]string{"ScheduleArn": sc.arn}, nil
}

func (s *Service) updateSchedule(r *http.Request, name string) (any, *core.APIError) {
	var in scheduleInput
	if err := core.ReadJSON(r, &in); err != nil {
		return nil, err
	}
	sc, apiErr := s.build(name, in)
	if apiErr != nil {
		return nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[sc.group]; !ok {
		return nil, groupNotFound(sc.group)
	}
	old, ok := s.schedules[key(sc.group, name)]
	if !ok {
		return nil, scheduleNotFound(name)
	}
	// UpdateSchedule replaces the schedule whole; it keeps its creation date.
	sc.created = old.created
	sc.clientToken = old.clientToken
	s.schedules[key(sc.group, name)] = sc
	s.notify()
	return map[string]string{"ScheduleArn": sc.arn}, nil
}

// build validates a CreateSchedule or UpdateSchedule body into a schedule, its first fire
// time computed from the virtual now.
func (s *Service) build(name string, in scheduleInput) (*schedule, *core.APIError) {
	if err := checkName(name, "name"); err != nil {
		return nil, err
	}
	groupName := in.GroupName
	if groupName == "" {
		groupName = defaultGroup
	}
	if err := checkName(groupName, "groupName"); err != nil {
		return nil, err
	}
	if in.ScheduleExpression == nil {
		return nil, constraint("null", "scheduleExpression", "Member must not be null")
	}
	if in.FlexibleTimeWindow == nil {
		return nil, constraint("null", "flexibleTimeWindow", "Member must not be null")
	}
	if in.Target == nil {
		return nil, constraint("null", "target", "Member must not be null")
	}
	tz := "UTC"
	if in.ScheduleExpressionTimezone != nil && *in.ScheduleExpressionTimezone != "" {
		tz = *in.ScheduleExpressionTimezone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		// The wording is unconfirmed.
		return nil, validationf("Invalid time zone %s.", tz)
	}
	expr, err := parseExpression(*in.ScheduleExpression, loc)
	if err != nil {
		return nil, validationf("Invalid Schedule Expression %s.", *in.ScheduleExpression)
	}
	sc := &schedule{
		name: name, group: groupName, arn: scheduleArn(groupName, name), description: in.Description,
		expression: *in.ScheduleExpression, expr: expr, timezone: tz, kmsKeyArn: in.KmsKeyArn,
		clientToken: in.ClientToken, modified: s.clock.Now(),
	}
	if apiErr := checkFlexible(*in.FlexibleTimeWindow); apiErr != nil {
		return nil, apiErr
	}
	sc.flexible = *in.FlexibleTimeWindow
	if apiErr := checkTarget(*in.Target); apiErr != nil {
		return nil, apiErr
	}
	sc.target = *in.Target
	if sc.target.RetryPolicy == nil {
		// AWS's defaults, as GetSchedule shows them.
		sc.target.RetryPolicy = &RetryPolicy{MaximumEventAgeInSeconds: ptr(86400), MaximumRetryAttempts: ptr(185)}
		sc.defaultRetryPolicy = true
	}
	switch in.State {
	case "":
		sc.state = "ENABLED"
	case "ENABLED", "DISABLED":
		sc.state = in.State
	default:
		return nil, constraint(in.State, "state", "Member must satisfy enum value set: [DISABLED, ENABLED]")
	}
	switch in.ActionAfterCompletion {
	case "":
		sc.actionAfterCompletion = "NONE"
	case "NONE", "DELETE":
		sc.actionAfterCompletion = in.ActionAfterCompletion
	default:
		return nil, constraint(in.ActionAfterCompletion, "actionAfterCompletion", "Member must satisfy enum value set: [NONE, DELETE]")
	}
	if in.StartDate != nil {
		t := in.StartDate.time()
		if expr.recurring() && t.Before(sc.modified.Add(-5*time.Minute)) {
			return nil, validationf("The StartDate you specify cannot be earlier than 5 minutes ago.")
		}
		sc.startDate = &t
	}
	if in.EndDate != nil {
		t := in.EndDate.time()
		if sc.startDate != nil && !t.After(*sc.startDate) {
			// The wording is unconfirmed.
			return nil, validationf("The EndDate you specify must be after the StartDate.")
		}
		sc.endDate = &t
	}
	sc.schedule(sc.modified)
	return sc, nil
}

func ptr(n int) *int { return &n }

func checkFlexible(f FlexibleTimeWindow) *core.APIError {
	switch f.Mode {
	case "OFF":
		if f.MaximumWindowInMinutes != nil {
			// The wording is unconfirmed.
			return validationf("MaximumWindowInMinutes must not be set when FlexibleTimeWindow Mode is OFF.")
		}
	case "FLEXIBLE":
		if f.MaximumWindowInMinutes == nil {
			// The wording is unconfirmed.
			return validationf("MaximumWindowInMinutes must be set when FlexibleTimeWindow Mode is FLEXIBLE.")
		}
		if n := *f.MaximumWindowInMinutes; n < 1 || n > 1440 {
			rule := "Member must have value greater than or equal to 1"
			if n > 1440 {
				rule = "Member must have value less than or equal to 1440"
			}
			return constraint(strconv.Itoa(n), "flexibleTimeWindow.maximumWindowInMinutes", rule)
		}
	default:
		return constraint(f.Mode, "flexibleTimeWindow.mode", "Member must satisfy enum value set: [OFF, FLEXIBLE]")
	}
	return nil
}

func checkTarget(t Target) *core.APIError {
	if !isLambdaArn(t.Arn) && !isStateMachineArn(t.Arn) {
		// Never a silent success: AWS accepts these targets, local mode cannot invoke them.
		return validationf("sfn-rollout local invokes only Lambda functions (arn:aws:lambda:...:function:<name>) and Step Functions state machines (arn:aws:states:...:stateMachine:<name>), not %q", t.Arn)
	}
	if p := t.RetryPolicy; p != nil {
		if n := p.MaximumEventAgeInSeconds; n != nil && (*n < 60 || *n > 86400) {
			rule := "Member must have value greater than or equal to 60"
			if *n > 86400 {
				rule = "Member must have value less than or equal to 86400"
			}
			return constraint(strconv.Itoa(*n), "target.retryPolicy.maximumEventAgeInSeconds", rule)
		}
		if n := p.MaximumRetryAttempts; n != nil && (*n < 0 || *n > 185) {
			rule := "Member must have value greater than or equal to 0"
			if *n > 185 {
				rule = "Member must have value less than or equal to 185"
			}
			return constraint(strconv.Itoa(*n), "target.retryPolicy.maximumRetryAttempts", rule)
		}
	}
	return nil
}

func isLambdaArn(arn string) bool {
	parts := strings.SplitN(arn, ":", 8)
	return len(parts) >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" && parts[6] != ""
}

func isStateMachineArn(arn string) bool {
	parts := strings.SplitN(arn, ":", 8)
	return len(parts) >= 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "stateMachine" && parts[6] != ""
}

// schedule sets the first fire time of a schedule made or updated at now. A recurring
// schedule waits for its StartDate and ends at its EndDate.
func (sc *schedule) schedule(now time.Time) {
	anchor := now
	if sc.expr.recurring() && sc.startDate != nil && sc.startDate.After(now) {
		// From the StartDate on: a rate() fires first at the StartDate (unconfirmed), a
		// cron() at its first match from then.
		if _, ok := sc.expr.(rate); ok {
			sc.next, sc.hasNext = *sc.startDate, true
			sc.bound()
			return
		}
		anchor = sc.startDate.Add(-time.Nanosecond)
	}
	sc.next, sc.hasNext = sc.expr.first(anchor)
	sc.bound()
}

// bound drops a next fire time past the EndDate.
func (sc *schedule) bound() {
	if sc.hasNext && sc.expr.recurring() && sc.endDate != nil && sc.next.After(*sc.endDate) {
		sc.hasNext = false
	}
}

func (s *Service) getSchedule(name, groupName string) (any, *core.APIError) {
	if groupName == "" {
		groupName = defaultGroup
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[groupName]; !ok {
		return nil, groupNotFound(groupName)
	}
	sc, ok := s.schedules[key(groupName, name)]
	if !ok {
		return nil, scheduleNotFound(name)
	}
	out := getScheduleOutput{
		ActionAfterCompletion: sc.actionAfterCompletion, Arn: sc.arn, CreationDate: epoch(sc.created),
		Description: sc.description, FlexibleTimeWindow: sc.flexible, GroupName: sc.group, KmsKeyArn: sc.kmsKeyArn,
		LastModificationDate: epoch(sc.modified), Name: sc.name, ScheduleExpression: sc.expression,
		ScheduleExpressionTimezone: sc.timezone, State: sc.state, Target: sc.target,
	}
	if sc.startDate != nil {
		t := epoch(*sc.startDate)
		out.StartDate = &t
	}
	if sc.endDate != nil {
		t := epoch(*sc.endDate)
		out.EndDate = &t
	}
	return out, nil
}

func (s *Service) deleteSchedule(name, groupName string) (any, *core.APIError) {
	if groupName == "" {
		groupName = defaultGroup
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[groupName]; !ok {
		return nil, groupNotFound(groupName)
	}
	if _, ok := s.schedules[key(groupName, name)]; !ok {
		return nil, scheduleNotFound(name)
	}
	delete(s.schedules, key(groupName, name))
	s.notify()
	return nil, nil
}

func (s *Service) listSchedules(q url.Values) (any, *core.APIError) {
	limit, apiErr := maxResults(q.Get("MaxResults"))
	if apiErr != nil {
		return nil, apiErr
	}
	state := q.Get("State")
	if state != "" && state != "ENABLED" && state != "DISABLED" {
		return nil, constraint(state, "state", "Member must satisfy enum value set: [DISABLED, ENABLED]")
	}
	groupName, prefix := q.Get("ScheduleGroup"), q.Get("NamePrefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	if groupName != "" {
		if _, ok := s.groups[groupName]; !ok {
			return nil, groupNotFound(groupName)
		}
	}
	var keys []string
	for k, sc := range s.schedules {
		if (groupName == "" || sc.group == groupName) && strings.HasPrefix(sc.name, prefix) && (state == "" || sc.state == state) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	page, next, apiErr := paginate(keys, q.Get("NextToken"), limit)
	if apiErr != nil {
		return nil, apiErr
	}
	summaries := make([]scheduleSummary, 0, len(page))
	for _, k := range page {
		sc := s.schedules[k]
		sum := scheduleSummary{
			Arn: sc.arn, CreationDate: epoch(sc.created), GroupName: sc.group,
			LastModificationDate: epoch(sc.modified), Name: sc.name, State: sc.state,
		}
		sum.Target.Arn = sc.target.Arn
		summaries = append(summaries, sum)
	}
	out := map[string]any{"Schedules": summaries}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func maxResults(v string) (int, *core.APIError) {
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, constraint(v, "maxResults", "Member must have value greater than or equal to 1")
	}
	if n > 100 {
		return 0, constraint(v, "maxResults", "Member must have value less than or equal to 100")
	}
	return n, nil
}

// paginate pages sorted keys: the token is the key to start at.
func paginate(keys []string, token string, limit int) ([]string, string, *core.APIError) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", validationf("Invalid NextToken.")
		}
		start = sort.SearchStrings(keys, string(b))
	}
	end := min(start+limit, len(keys))
	next := ""
	if end < len(keys) {
		next = base64.RawURLEncoding.EncodeToString([]byte(keys[end]))
	}
	return keys[start:end], next, nil
}

// Schedule groups.

func (s *Service) createGroup(name string) (any, *core.APIError) {
	if err := checkName(name, "name"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[name]; ok {
		// The wording is unconfirmed.
		return nil, &core.APIError{Code: "ConflictException", Message: fmt.Sprintf("Schedule group %s already exists.", name), Status: http.StatusConflict}
	}
	now := s.clock.Now()
	g := &group{name: name, arn: groupArn(name), created: now, modified: now}
	s.groups[name] = g
	return map[string]string{"ScheduleGroupArn": g.arn}, nil
}

func (s *Service) getGroup(name string) (any, *core.APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return nil, groupNotFound(name)
	}
	return g.wire(), nil
}

func (g *group) wire() groupOutput {
	return groupOutput{Arn: g.arn, CreationDate: epoch(g.created), LastModificationDate: epoch(g.modified), Name: g.name, State: "ACTIVE"}
}

// deleteGroup deletes the group and its schedules, as the API reference documents (AWS
// does it asynchronously; here it is immediate).
func (s *Service) deleteGroup(name string) (any, *core.APIError) {
	if name == defaultGroup {
		// The wording is unconfirmed.
		return nil, validationf("The default schedule group cannot be deleted.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[name]; !ok {
		return nil, groupNotFound(name)
	}
	delete(s.groups, name)
	for k, sc := range s.schedules {
		if sc.group == name {
			delete(s.schedules, k)
		}
	}
	s.notify()
	return nil, nil
}

func (s *Service) listGroups(q url.Values) (any, *core.APIError) {
	limit, apiErr := maxResults(q.Get("MaxResults"))
	if apiErr != nil {
		return nil, apiErr
	}
	prefix := q.Get("NamePrefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.groups {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	page, next, apiErr := paginate(names, q.Get("NextToken"), limit)
	if apiErr != nil {
		return nil, apiErr
	}
	groups := make([]groupOutput, 0, len(page))
	for _, name := range page {
		groups = append(groups, s.groups[name].wire())
	}
	out := map[string]any{"ScheduleGroups": groups}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// notify wakes the loop to recompute its next wake-up; the caller holds s.mu.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
