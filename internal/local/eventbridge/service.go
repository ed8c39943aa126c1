// Package eventbridge is local mode's Amazon EventBridge: buses, rules with AWS's event
// pattern semantics, targets (in-process Lambda functions and Step Functions state
// machines, with Input, InputPath and InputTransformer) and PutEvents, over awsJson1_1.
package eventbridge

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	Quotas     *core.Quotas // PutEvents' bucket, as service "events"; nil: none
	Reporter   core.Reporter
}

// Service is the local EventBridge. It serves the EventBridge API over HTTP and takes the
// other services' events in-process (core.Bus).
type Service struct {
	clock      *core.Clock
	functions  core.Functions
	executions core.Executions
	faults     *core.Faults
	quotas     *core.Quotas
	reporter   core.Reporter

	mu    sync.RWMutex
	buses map[string]*eventBus

	dropped atomic.Int64 // deliveries given up: retries or event age spent, or refused

	// deliveries run on ctx, so that Close stops their retries.
	ctx        context.Context
	cancel     context.CancelFunc
	closeMu    sync.Mutex // orders deliveries.Add against Close's Wait
	closed     bool
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
		quotas:     opts.Quotas,
		reporter:   reporter,
		buses:      map[string]*eventBus{},
		ctx:        ctx,
		cancel:     cancel,
	}
	s.buses[defaultBus] = &eventBus{name: defaultBus, arn: busArn(defaultBus), created: clock.Now(), rules: map[string]*rule{}}
	return s
}

// Dropped counts the deliveries given up for good: their retries or their event age spent,
// or refused by the target with a client error.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// Close stops retrying deliveries and waits for those under way.
func (s *Service) Close() error {
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
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
	if !s.quotas.Allow(signingName, op) {
		writeError(w, core.ErrThrottling)
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
