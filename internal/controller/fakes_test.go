package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// This file is a small in-memory AWS for the controller's use cases: one fake per port,
// each honouring the contract written in ports.go and the AWS behaviour the contract
// stands for (AWS_BEHAVIOUR.md), plus a driver that plays the controller state machine's
// part. Every fake call goes through faults, so that a test can make any call fail
// (throttling, a crash, a lost race) or run code of its own in the middle of it.

const (
	testRegion  = "us-east-1"
	testAccount = "000000000000"
	testBucket  = "artifacts"
	tickEvery   = time.Minute
)

var epoch = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

func smArn(name string) string {
	return topology.StateMachineArn("aws", testRegion, testAccount, name)
}

// definition is a valid ASL document told apart by its label.
func definition(label string) string {
	return fmt.Sprintf(`{"Comment":%q,"StartAt":"Work","States":{"Work":{"Type":"Pass","Next":"Done"},"Done":{"Type":"Succeed"}}}`, label)
}

// refusedByPublish marks a definition that Validate accepts and Publish refuses.
const refusedByPublish = "REFUSED_BY_PUBLISH"

// throttled is what an adapter returns for ThrottlingException.
func throttled(op string) error {
	return fmt.Errorf("%s: ThrottlingException: Rate exceeded: %w", op, controller.ErrThrottled)
}

// errCrash stands for a Lambda that died in the middle of a call.
var errCrash = errors.New("lambda crashed: Runtime.ExitError")

// ---------------------------------------------------------------------------------------
// faults

// faults injects errors and code into fake calls, by operation name ("Aliases.Update").
type faults struct {
	mu    sync.Mutex
	queue map[string][]error
	hooks map[string]func(arg any) error
	calls map[string]int
}

func newFaults() *faults {
	return &faults{queue: map[string][]error{}, hooks: map[string]func(any) error{}, calls: map[string]int{}}
}

// fail makes the next calls of op return errs, one each; a nil entry lets a call through.
func (f *faults) fail(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue[op] = append(f.queue[op], errs...)
}

// hook runs fn at the start of every call of op, before the fake does anything; an error
// from fn is the call's answer. A nil fn removes the hook.
func (f *faults) hook(op string, fn func(arg any) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fn == nil {
		delete(f.hooks, op)
		return
	}
	f.hooks[op] = fn
}

// count is how many times op was called.
func (f *faults) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// hit is called first by every fake method. It holds no lock while a hook runs, so that a
// hook may call the controller again.
func (f *faults) hit(op string, arg any) error {
	f.mu.Lock()
	f.calls[op]++
	var err error
	if q := f.queue[op]; len(q) > 0 {
		err, f.queue[op] = q[0], q[1:]
	}
	fn := f.hooks[op]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if fn != nil {
		return fn(arg)
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// clock

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ---------------------------------------------------------------------------------------
// Step Functions

// fakeSFN is Step Functions' control plane: state machines with tags, revisions,
// versions numbered from 1 that are never reused, and aliases with weighted routing.
type fakeSFN struct {
	f        *faults
	clock    *fakeClock
	mu       sync.Mutex
	machines map[string]*machine
	// updates logs every alias routing change, in order.
	updates []aliasChange
	// window is the controller's alias write window: an alias write that would apply
	// window or more after it was checked (a hook ran long inside it or its pre-check)
	// times out instead, as a request cut off by its deadline does.
	window time.Duration
	checks *checks
}

type machine struct {
	arn, name  string
	typ        string // "" is STANDARD; rollout.TypeExpress
	tags       map[string]string
	definition string
	revision   string // "" until the first update, as AWS
	revs       int
	published  map[string]string // revision ("" for the initial one) → version ARN
	versions   []*version
	lastN      int
	aliases    []*fakeAlias // creation order
}

type version struct {
	n          int
	arn        string
	definition string
	revision   string
	created    time.Time
	deleted    bool
}

type fakeAlias struct {
	arn, name   string
	description string
	routing     []rollout.Route
	updated     time.Time // updateDate: the last create or update
}

type aliasChange struct {
	At      time.Time
	Alias   string
	Routing string
}

func newFakeSFN(f *faults, clock *fakeClock) *fakeSFN {
	return &fakeSFN{f: f, clock: clock, machines: map[string]*machine{}, checks: &checks{}}
}

// create makes a state machine with definition published as version 1 and an alias
// routing 100% to it.
func (s *fakeSFN) create(name, def string, tags map[string]string, alias string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn = smArn(name)
	m := &machine{arn: arn, name: name, tags: map[string]string{}, definition: def, published: map[string]string{}}
	for k, v := range tags {
		m.tags[k] = v
	}
	s.machines[arn] = m
	v := m.publishLocked(s.clock.Now())
	if alias != "" {
		m.aliases = append(m.aliases, &fakeAlias{arn: topology.AliasArn(arn, alias), name: alias, routing: []rollout.Route{{VersionArn: v, Weight: 100}}, updated: s.clock.Now()})
	}
	return arn
}

func (m *machine) publishLocked(now time.Time) string {
	if v, ok := m.published[m.revision]; ok && !m.versionLocked(v).deleted {
		return v
	}
	m.lastN++
	v := &version{n: m.lastN, arn: m.arn + ":" + strconv.Itoa(m.lastN), definition: m.definition, revision: m.revision, created: now}
	m.versions = append(m.versions, v)
	m.published[m.revision] = v.arn
	return v.arn
}

func (m *machine) versionLocked(arn string) *version {
	for _, v := range m.versions {
		if v.arn == arn {
			return v
		}
	}
	return nil
}

func (m *machine) aliasLocked(arn string) *fakeAlias {
	for _, a := range m.aliases {
		if a.arn == arn {
			return a
		}
	}
	return nil
}

// split finds the state machine of a plain, version or alias ARN and the qualifier.
func (s *fakeSFN) split(arn string) (*machine, string) {
	parts := strings.Split(arn, ":")
	switch len(parts) {
	case 7:
		return s.machines[arn], ""
	case 8:
		return s.machines[strings.Join(parts[:7], ":")], parts[7]
	}
	return nil, ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// publishNew sets a definition by hand and publishes it, as a human with the console would.
func (s *fakeSFN) publishNew(name, def string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machines[smArn(name)]
	m.revs++
	m.definition, m.revision = def, fmt.Sprintf("rev-%d", m.revs)
	return m.publishLocked(s.clock.Now())
}

// route sets an alias's routing by hand (drift).
func (s *fakeSFN) route(aliasArn string, routing ...rollout.Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(aliasArn)
	a := m.aliasLocked(aliasArn)
	a.routing = slices.Clone(routing)
	a.updated = s.clock.Now()
	s.updates = append(s.updates, aliasChange{At: s.clock.Now(), Alias: aliasArn, Routing: routingString(a.routing)})
}

// routing is an alias's routing as "v1=90 v2=10", or "absent".
func (s *fakeSFN) routing(aliasArn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(aliasArn)
	if m == nil {
		return "absent"
	}
	a := m.aliasLocked(aliasArn)
	if a == nil {
		return "absent"
	}
	return routingString(a.routing)
}

// liveVersions lists the versions not deleted, as "v1 v2 …".
func (s *fakeSFN) liveVersions(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.machines[smArn(name)].versions {
		if !v.deleted {
			out = append(out, "v"+strconv.Itoa(v.n))
		}
	}
	return strings.Join(out, " ")
}

func routingString(routes []rollout.Route) string {
	rs := slices.Clone(routes)
	sort.Slice(rs, func(i, j int) bool { return versionNumber(rs[i].VersionArn) < versionNumber(rs[j].VersionArn) })
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("v%d=%d", versionNumber(r.VersionArn), r.Weight)
	}
	return strings.Join(parts, " ")
}

func versionNumber(arn string) int {
	n, _ := strconv.Atoi(arn[strings.LastIndexByte(arn, ':')+1:])
	return n
}

// validate reports what ValidateStateMachineDefinition reports: JSON that does not parse,
// a StartAt, Next or Default that names no state.
func validateASL(def string) []controller.Diagnostic {
	var doc struct {
		StartAt string                     `json:"StartAt"`
		States  map[string]json.RawMessage `json:"States"`
	}
	if err := json.Unmarshal([]byte(def), &doc); err != nil {
		return []controller.Diagnostic{{Severity: "ERROR", Code: "INVALID_JSON_DESCRIPTION", Message: err.Error(), Location: "/"}}
	}
	var diags []controller.Diagnostic
	missing := func(target, where string) {
		if _, ok := doc.States[target]; !ok {
			diags = append(diags, controller.Diagnostic{Severity: "ERROR", Code: "MISSING_TRANSITION_TARGET", Message: "Missing 'Next' target: " + target, Location: where})
		}
	}
	if len(doc.States) == 0 {
		return []controller.Diagnostic{{Severity: "ERROR", Code: "SCHEMA_VALIDATION_FAILED", Message: "States is required", Location: "/States"}}
	}
	missing(doc.StartAt, "/StartAt")
	names := make([]string, 0, len(doc.States))
	for n := range doc.States {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var st struct {
			Next    string `json:"Next"`
			Default string `json:"Default"`
		}
		_ = json.Unmarshal(doc.States[name], &st)
		if st.Next != "" {
			missing(st.Next, "/States/"+name+"/Next")
		}
		if st.Default != "" {
			missing(st.Default, "/States/"+name+"/Default")
		}
	}
	return diags
}

// smPort is the StateMachines port over fakeSFN.
type smPort struct{ *fakeSFN }

var _ controller.StateMachines = smPort{}

func (s smPort) Describe(ctx context.Context, arn string) (controller.StateMachine, error) {
	if err := s.f.hit("StateMachines.Describe", arn); err != nil {
		return controller.StateMachine{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, q := s.split(arn)
	switch {
	case m == nil:
	case q == "":
		return controller.StateMachine{Arn: m.arn, Name: m.name, Definition: m.definition, RevisionID: m.revision, Type: m.typ}, nil
	case isDigits(q):
		if v := m.versionLocked(arn); v != nil && !v.deleted {
			return controller.StateMachine{Arn: v.arn, Name: m.name, Definition: v.definition, RevisionID: v.revision, Type: m.typ}, nil
		}
	}
	return controller.StateMachine{}, fmt.Errorf("describe %s: StateMachineDoesNotExist: %w", arn, controller.ErrNotFound)
}

func (s smPort) Tags(ctx context.Context, arn string) (map[string]string, error) {
	if err := s.f.hit("StateMachines.Tags", arn); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, q := s.split(arn)
	if m == nil || q != "" {
		return nil, fmt.Errorf("tags of %s: ResourceNotFound: %w", arn, controller.ErrNotFound)
	}
	tags := make(map[string]string, len(m.tags))
	for k, v := range m.tags {
		tags[k] = v
	}
	return tags, nil
}

func (s smPort) Validate(ctx context.Context, def, typ string) ([]controller.Diagnostic, error) {
	if err := s.f.hit("StateMachines.Validate", def); err != nil {
		return nil, err
	}
	diags := validateASL(def)
	if typ == rollout.TypeExpress && strings.Contains(def, ".waitForTaskToken") {
		// As AWS refuses it: Express workflows support Request Response only.
		diags = append(diags, controller.Diagnostic{Severity: "ERROR", Code: "SCHEMA_VALIDATION_FAILED",
			Message: "Express state machine does not support '.waitForTaskToken' service integration", Location: "/States"})
	}
	return diags, nil
}

func (s smPort) Publish(ctx context.Context, arn, def, description string) (string, error) {
	if err := s.f.hit("StateMachines.Publish", def); err != nil {
		return "", err
	}
	if len(description) > 256 {
		return "", fmt.Errorf("publish: ValidationException: description longer than 256")
	}
	diags := validateASL(def)
	if strings.Contains(def, refusedByPublish) {
		// What ValidateStateMachineDefinition lets through and UpdateStateMachine refuses.
		diags = append(diags, controller.Diagnostic{Code: "SCHEMA_VALIDATION_FAILED", Message: "refused on update", Location: "/"})
	}
	if len(diags) > 0 {
		msgs := make([]string, len(diags))
		for i, d := range diags {
			msgs[i] = d.Code + ": " + d.Message + " at " + d.Location
		}
		return "", fmt.Errorf("update %s: InvalidDefinition: Invalid State Machine Definition: '%s': %w", arn, strings.Join(msgs, ", "), controller.ErrInvalidDefinition)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, q := s.split(arn)
	if m == nil || q != "" {
		return "", fmt.Errorf("update %s: StateMachineDoesNotExist: %w", arn, controller.ErrNotFound)
	}
	if def != m.definition {
		m.revs++
		m.definition, m.revision = def, fmt.Sprintf("rev-%d", m.revs)
	}
	return m.publishLocked(s.clock.Now()), nil
}

func (s smPort) ListVersions(ctx context.Context, arn string) ([]controller.Version, error) {
	if err := s.f.hit("StateMachines.ListVersions", arn); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(arn)
	if m == nil {
		return nil, fmt.Errorf("list versions of %s: StateMachineDoesNotExist: %w", arn, controller.ErrNotFound)
	}
	var out []controller.Version
	for i := len(m.versions) - 1; i >= 0; i-- { // newest first
		if v := m.versions[i]; !v.deleted {
			out = append(out, controller.Version{Arn: v.arn, Created: v.created})
		}
	}
	return out, nil
}

func (s smPort) DeleteVersion(ctx context.Context, arn string) error {
	if err := s.f.hit("StateMachines.DeleteVersion", arn); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(arn)
	if m == nil {
		return nil
	}
	v := m.versionLocked(arn)
	if v == nil || v.deleted {
		return nil
	}
	var by []string
	for _, a := range m.aliases {
		for _, r := range a.routing {
			if r.VersionArn == arn {
				by = append(by, a.name)
			}
		}
	}
	if len(by) > 0 {
		return fmt.Errorf("delete version %s: ConflictException: Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [%s]: %w", arn, strings.Join(by, ","), controller.ErrConflict)
	}
	v.deleted = true
	return nil
}

// aliasPort is the Aliases port over fakeSFN.
type aliasPort struct{ *fakeSFN }

var _ controller.Aliases = aliasPort{}

func (s aliasPort) Describe(ctx context.Context, arn string) (controller.Alias, error) {
	if err := s.f.hit("Aliases.Describe", arn); err != nil {
		return controller.Alias{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(arn)
	if m != nil {
		if a := m.aliasLocked(arn); a != nil {
			return controller.Alias{Arn: a.arn, Name: a.name, Routing: slices.Clone(a.routing), UpdatedAt: a.updated}, nil
		}
	}
	return controller.Alias{}, fmt.Errorf("describe alias %s: ResourceNotFound: %w", arn, controller.ErrNotFound)
}

// checkRouting applies the rules of AWS_BEHAVIOUR.md; zero weights are dropped first, as
// the port says.
func (m *machine) checkRouting(routing []rollout.Route) ([]rollout.Route, error) {
	var out []rollout.Route
	sum := 0
	for _, r := range routing {
		if r.Weight < 0 || r.Weight > 100 {
			return nil, fmt.Errorf("ValidationException: weight %d", r.Weight)
		}
		if r.Weight == 0 {
			continue
		}
		i := strings.LastIndexByte(r.VersionArn, ':')
		if i < 0 || r.VersionArn[:i] != m.arn || !isDigits(r.VersionArn[i+1:]) {
			return nil, fmt.Errorf("ValidationException: Routing configuration must contain state machine version ARNs. Received: [%s]", r.VersionArn)
		}
		if v := m.versionLocked(r.VersionArn); v == nil || v.deleted {
			return nil, fmt.Errorf("ResourceNotFound: version %s: %w", r.VersionArn, controller.ErrNotFound)
		}
		for _, o := range out {
			if o.VersionArn == r.VersionArn {
				return nil, fmt.Errorf("ValidationException: Routing configuration must contain distinct state machine version ARNs")
			}
		}
		sum += r.Weight
		out = append(out, r)
	}
	if len(out) < 1 || len(out) > 2 {
		return nil, fmt.Errorf("ValidationException: routingConfiguration must have 1–2 entries, got %d", len(out))
	}
	if sum != 100 {
		return nil, fmt.Errorf("ValidationException: Sum of routing configuration weights must equal 100. Received: %v", out)
	}
	return out, nil
}

// checks remembers, for each context with a deadline (the controller gives one to every
// alias write and its pre-check), the fake time of its first call: the time the write was
// checked, from which its window runs.
type checks struct {
	mu    sync.Mutex
	first map[context.Context]time.Time
}

// seen records ctx's first call at now.
func (c *checks) seen(ctx context.Context, now time.Time) {
	if _, ok := ctx.Deadline(); !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == nil {
		c.first = map[context.Context]time.Time{}
	}
	if _, ok := c.first[ctx]; !ok {
		c.first[ctx] = now
	}
}

// since is when ctx's first call came, or now for a context seen first here.
func (c *checks) since(ctx context.Context, now time.Time) time.Time {
	c.seen(ctx, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.first[ctx]; ok {
		return t
	}
	return now
}

// late answers a write that outlived the write window, counted from its pre-check (or
// from the call when it had none), as the SDK does when the call's deadline passes: it
// never applies.
func (s *fakeSFN) late(op string, started time.Time) error {
	if s.window > 0 && s.clock.Now().Sub(started) >= s.window {
		return fmt.Errorf("%s: RequestCanceled: %w (%w)", op, context.DeadlineExceeded, controller.ErrThrottled)
	}
	return nil
}

// aliasChanges lists every alias routing change so far.
func (s *fakeSFN) aliasChanges() []aliasChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.updates)
}

func (s aliasPort) Update(ctx context.Context, arn string, routing []rollout.Route) error {
	started := s.checks.since(ctx, s.clock.Now())
	if err := s.f.hit("Aliases.Update", routing); err != nil {
		return err
	}
	if err := s.late("update alias "+arn, started); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(arn)
	var a *fakeAlias
	if m != nil {
		a = m.aliasLocked(arn)
	}
	if a == nil {
		return fmt.Errorf("update alias %s: ResourceNotFound: Request references a resource that does not exist.: %w", arn, controller.ErrNotFound)
	}
	rs, err := m.checkRouting(routing)
	if err != nil {
		return fmt.Errorf("update alias %s: %w", arn, err)
	}
	a.routing = rs
	a.updated = s.clock.Now()
	s.updates = append(s.updates, aliasChange{At: s.clock.Now(), Alias: arn, Routing: routingString(rs)})
	return nil
}

func (s aliasPort) Create(ctx context.Context, arn, name, description string, routing []rollout.Route) (string, error) {
	started := s.checks.since(ctx, s.clock.Now())
	if err := s.f.hit("Aliases.Create", name); err != nil {
		return "", err
	}
	if err := s.late("create alias "+name, started); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, q := s.split(arn)
	if m == nil || q != "" {
		return "", fmt.Errorf("create alias %s: StateMachineDoesNotExist: %w", name, controller.ErrNotFound)
	}
	rs, err := m.checkRouting(routing)
	if err != nil {
		return "", fmt.Errorf("create alias %s: %w", name, err)
	}
	aliasArn := topology.AliasArn(m.arn, name)
	if a := m.aliasLocked(aliasArn); a != nil {
		if a.description != description || routingString(a.routing) != routingString(rs) {
			return "", fmt.Errorf("create alias %s: ConflictException: Failed to create alias because an alias with the same name and a different routing configuration already exists.: %w", name, controller.ErrConflict)
		}
		return aliasArn, nil
	}
	m.aliases = append(m.aliases, &fakeAlias{arn: aliasArn, name: name, description: description, routing: rs, updated: s.clock.Now()})
	s.updates = append(s.updates, aliasChange{At: s.clock.Now(), Alias: aliasArn, Routing: routingString(rs)})
	return aliasArn, nil
}

func (s aliasPort) Delete(ctx context.Context, arn string) error {
	if err := s.f.hit("Aliases.Delete", arn); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(arn)
	if m == nil {
		return nil
	}
	m.aliases = slices.DeleteFunc(m.aliases, func(a *fakeAlias) bool { return a.arn == arn })
	return nil
}

func (s aliasPort) List(ctx context.Context, arn string) ([]controller.Alias, error) {
	if err := s.f.hit("Aliases.List", arn); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.split(arn)
	if m == nil {
		return nil, fmt.Errorf("list aliases of %s: StateMachineDoesNotExist: %w", arn, controller.ErrNotFound)
	}
	out := make([]controller.Alias, 0, len(m.aliases))
	for _, a := range m.aliases {
		out = append(out, controller.Alias{Arn: a.arn, Name: a.name, Routing: slices.Clone(a.routing)})
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------
// CloudWatch

type fakeAlarms struct {
	f      *faults
	clock  *fakeClock
	mu     sync.Mutex
	states map[string]rollout.AlarmState
	// transitioned is each alarm's StateTransitionedTimestamp; history its StateUpdate
	// items, oldest first, as DescribeAlarmHistory keeps them.
	transitioned map[string]time.Time
	history      map[string][]controller.AlarmTransition
}

var _ controller.Alarms = (*fakeAlarms)(nil)

func newFakeAlarms(f *faults, clock *fakeClock) *fakeAlarms {
	return &fakeAlarms{f: f, clock: clock, states: map[string]rollout.AlarmState{},
		transitioned: map[string]time.Time{}, history: map[string][]controller.AlarmTransition{}}
}

// set changes an alarm's state at the clock's time. A new alarm starts in
// INSUFFICIENT_DATA, as in CloudWatch; setting the state it is in already changes nothing.
func (a *fakeAlarms) set(name string, s rollout.AlarmState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	from, ok := a.states[name]
	if !ok {
		from = rollout.AlarmInsufficientData
	}
	a.states[name] = s
	if ok && from == s {
		return
	}
	now := a.clock.Now()
	a.transitioned[name] = now
	a.history[name] = append(a.history[name], controller.AlarmTransition{Time: now, From: from, To: s})
}

func (a *fakeAlarms) States(ctx context.Context, names []string) (map[string]rollout.AlarmState, error) {
	if err := a.f.hit("Alarms.States", names); err != nil {
		return nil, err
	}
	if len(names) > 100 {
		return nil, fmt.Errorf("DescribeAlarms: ValidationException: at most 100 names")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]rollout.AlarmState, len(names))
	for _, n := range names {
		if s, ok := a.states[n]; ok {
			out[n] = s
		}
	}
	return out, nil
}

func (a *fakeAlarms) Statuses(ctx context.Context, names []string) (map[string]controller.AlarmStatus, error) {
	if err := a.f.hit("Alarms.Statuses", names); err != nil {
		return nil, err
	}
	if len(names) > 100 {
		return nil, fmt.Errorf("DescribeAlarms: ValidationException: at most 100 names")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]controller.AlarmStatus, len(names))
	for _, n := range names {
		if s, ok := a.states[n]; ok {
			out[n] = controller.AlarmStatus{State: s, TransitionedAt: a.transitioned[n]}
		}
	}
	return out, nil
}

func (a *fakeAlarms) History(ctx context.Context, name string, from, to time.Time) ([]controller.AlarmTransition, error) {
	if err := a.f.hit("Alarms.History", name); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []controller.AlarmTransition
	for _, h := range a.history[name] {
		if !h.Time.Before(from) && !h.Time.After(to) {
			out = append(out, h)
		}
	}
	return out, nil
}

type counts struct{ started, failed int64 }

type fakeMetrics struct {
	f         *faults
	mu        sync.Mutex
	byVersion map[string]counts
	// form is the Version dimension's form the fake's series are under ("" answers none);
	// forms records the Form of every query, in order.
	form  rollout.MetricsForm
	forms []rollout.MetricsForm
	// express records the Express flag of every query, in order.
	express []bool
}

// answer is the counts of one query, under the fake's form.
func (m *fakeMetrics) answer(q controller.CountsQuery) controller.Counts {
	m.forms = append(m.forms, q.Form)
	m.express = append(m.express, q.Express)
	c := m.byVersion[q.VersionArn]
	return controller.Counts{Started: c.started, Closed: c.started, Failed: c.failed, Form: m.form}
}

var _ controller.Metrics = (*fakeMetrics)(nil)

func (m *fakeMetrics) set(versionArn string, started, failed int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byVersion[versionArn] = counts{started, failed}
}

// The fake's executions are closed as soon as they start: Closed is Started.
func (m *fakeMetrics) VersionCounts(ctx context.Context, q controller.CountsQuery) (controller.Counts, error) {
	if err := m.f.hit("Metrics.VersionCounts", q.VersionArn); err != nil {
		return controller.Counts{}, err
	}
	if !q.To.After(q.From) && !q.To.Equal(q.From) {
		return controller.Counts{}, fmt.Errorf("GetMetricData: ValidationException: end %s before start %s", q.To, q.From)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answer(q), nil
}

func (m *fakeMetrics) ManyVersionCounts(ctx context.Context, qs []controller.CountsQuery) ([]controller.Counts, error) {
	if err := m.f.hit("Metrics.ManyVersionCounts", len(qs)); err != nil {
		return nil, err
	}
	out := make([]controller.Counts, len(qs))
	for i, q := range qs {
		if !q.To.After(q.From) && !q.To.Equal(q.From) {
			return nil, fmt.Errorf("GetMetricData: ValidationException: end %s before start %s", q.To, q.From)
		}
		m.mu.Lock()
		out[i] = m.answer(q)
		m.mu.Unlock()
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------
// DynamoDB

// fakeStore is the table of DESIGN.md, one fake per port the controller has of it (see
// ports.go); a test reaches each through world.store, and the controller is given each
// part as its own port. The fault names stay the table's: "Store.<method>".
type fakeStore struct {
	*fakeRollouts
	*fakeLocks
	*fakeQueues
	*fakeAlarmGuards
	*fakeUploads
	*fakeSweeps
}

// fakeRollouts keeps the records and their audit trails in maps. Records are stored
// encoded, as DynamoDB would, so that a caller's later change to a slice cannot reach the
// stored record and a field that does not survive encoding is lost here too.
type fakeRollouts struct {
	f        *faults
	clock    *fakeClock
	mu       sync.Mutex
	rollouts map[string]storedRollout
	events   map[string]map[int64]controller.Event
	// checks is shared with the fake Step Functions: the alias write window runs from a
	// write's pre-check, which reads the store.
	checks *checks
	// copy encodes and decodes a record; the benchmark swaps in a cheaper deep copy.
	encode func(rollout.Rollout) any
	decode func(any) rollout.Rollout
}

// fakeLocks keeps the aliases' locks.
type fakeLocks struct {
	f     *faults
	clock *fakeClock
	mu    sync.Mutex
	locks map[string]string
	// checks is the fake Step Functions', as fakeRollouts'.
	checks *checks
}

// fakeQueues keeps the uploads waiting for a busy alias.
type fakeQueues struct {
	f      *faults
	mu     sync.Mutex
	queues map[string][]controller.Queued
}

// fakeAlarmGuards keeps which rollouts each alarm guards.
type fakeAlarmGuards struct {
	f      *faults
	mu     sync.Mutex
	guards map[string]map[string]bool // alarm → rollout ids
}

// fakeUploads keeps the upload claims.
type fakeUploads struct {
	f      *faults
	clock  *fakeClock
	mu     sync.Mutex
	claims map[string]controller.UploadClaim
}

// fakeSweeps keeps the SWEEP/WANTED mark, and lists the running rollouts of records (the
// same items, read through the index).
type fakeSweeps struct {
	f           *faults
	mu          sync.Mutex
	sweepWanted time.Time
	records     *fakeRollouts
}

type storedRollout struct {
	data  any
	rev   int64
	phase rollout.Phase
	sm    string
	made  time.Time
	id    string
}

var (
	_ controller.Rollouts    = (*fakeRollouts)(nil)
	_ controller.Locks       = (*fakeLocks)(nil)
	_ controller.Queues      = (*fakeQueues)(nil)
	_ controller.AlarmGuards = (*fakeAlarmGuards)(nil)
	_ controller.Uploads     = (*fakeUploads)(nil)
	_ controller.Sweeps      = (*fakeSweeps)(nil)
)

func newFakeStore(f *faults, clock *fakeClock) *fakeStore {
	rollouts := &fakeRollouts{
		f: f, clock: clock, rollouts: map[string]storedRollout{}, events: map[string]map[int64]controller.Event{},
		encode: encodeJSON, decode: decodeJSON, checks: &checks{},
	}
	return &fakeStore{
		fakeRollouts:    rollouts,
		fakeLocks:       &fakeLocks{f: f, clock: clock, locks: map[string]string{}, checks: rollouts.checks},
		fakeQueues:      &fakeQueues{f: f, queues: map[string][]controller.Queued{}},
		fakeAlarmGuards: &fakeAlarmGuards{f: f, guards: map[string]map[string]bool{}},
		fakeUploads:     &fakeUploads{f: f, clock: clock, claims: map[string]controller.UploadClaim{}},
		fakeSweeps:      &fakeSweeps{f: f, records: rollouts},
	}
}

// shareChecks gives the fakes that read before an alias write the fake Step Functions'
// checks.
func (s *fakeStore) shareChecks(c *checks) {
	s.fakeRollouts.checks, s.fakeLocks.checks = c, c
}

type jsonRecord struct {
	body  []byte
	token string
}

func encodeJSON(r rollout.Rollout) any {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return jsonRecord{body: b, token: r.TaskToken}
}

func decodeJSON(v any) rollout.Rollout {
	rec := v.(jsonRecord)
	var r rollout.Rollout
	if err := json.Unmarshal(rec.body, &r); err != nil {
		panic(err)
	}
	r.TaskToken = rec.token
	return r
}

// cloneRollout is a deep copy of the parts of a record that are shared by reference.
func cloneRollout(r rollout.Rollout) any {
	r.Steps = slices.Clone(r.Steps)
	r.Policy.Steps = slices.Clone(r.Policy.Steps)
	r.Policy.Alarms = slices.Clone(r.Policy.Alarms)
	r.PreexistingAlarms = slices.Clone(r.PreexistingAlarms)
	r.Layers = slices.Clone(r.Layers)
	return r
}

func (s *fakeRollouts) put(r rollout.Rollout) {
	s.rollouts[r.ID] = storedRollout{data: s.encode(r), rev: r.Rev, phase: r.Phase, sm: r.StateMachineArn, made: r.CreatedAt, id: r.ID}
}

func (s *fakeUploads) ClaimUpload(ctx context.Context, c controller.UploadClaim) (controller.UploadClaim, error) {
	if err := s.f.hit("Store.ClaimUpload", c); err != nil {
		return controller.UploadClaim{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.claims[c.UploadID]; ok && (old.ExpiresAt.IsZero() || old.ExpiresAt.After(s.clock.Now())) {
		return old, fmt.Errorf("claim upload %s: claimed by rollout %s: %w", c.UploadID, old.RolloutID, controller.ErrConflict)
	}
	s.claims[c.UploadID] = c
	return c, nil
}

func (s *fakeRollouts) CreateRollout(ctx context.Context, r rollout.Rollout) error {
	if err := s.f.hit("Store.CreateRollout", r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rollouts[r.ID]; ok {
		return fmt.Errorf("create rollout %s: %w", r.ID, controller.ErrConflict)
	}
	s.put(r)
	return nil
}

func (s *fakeRollouts) GetRollout(ctx context.Context, id string) (rollout.Rollout, error) {
	s.checks.seen(ctx, s.clock.Now())
	if err := s.f.hit("Store.GetRollout", id); err != nil {
		return rollout.Rollout{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.rollouts[id]
	if !ok {
		return rollout.Rollout{}, fmt.Errorf("get rollout %s: %w", id, controller.ErrNotFound)
	}
	return s.decode(st.data), nil
}

// get reads a record for a test's assertions, without faults.
func (s *fakeRollouts) get(id string) (rollout.Rollout, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.rollouts[id]
	if !ok {
		return rollout.Rollout{}, false
	}
	return s.decode(st.data), true
}

func (s *fakeRollouts) SaveRollout(ctx context.Context, r rollout.Rollout) (rollout.Rollout, error) {
	if err := s.f.hit("Store.SaveRollout", r); err != nil {
		return rollout.Rollout{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.rollouts[r.ID]
	if !ok || st.rev != r.Rev {
		return rollout.Rollout{}, fmt.Errorf("save rollout %s rev %d: ConditionalCheckFailedException: %w", r.ID, r.Rev, controller.ErrConflict)
	}
	r.Rev++
	s.put(r)
	return s.decode(s.rollouts[r.ID].data), nil
}

func (s *fakeRollouts) AppendEvent(ctx context.Context, id string, e controller.Event) error {
	if err := s.f.hit("Store.AppendEvent", e); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events[id] == nil {
		s.events[id] = map[int64]controller.Event{}
	}
	s.events[id][e.Seq] = e
	return nil
}

func (s *fakeRollouts) ListEvents(ctx context.Context, id string) ([]controller.Event, error) {
	if err := s.f.hit("Store.ListEvents", id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]controller.Event, 0, len(s.events[id]))
	for _, e := range s.events[id] {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

func (s *fakeRollouts) sorted(keep func(storedRollout) bool, newestFirst bool) []rollout.Rollout {
	var sts []storedRollout
	for _, st := range s.rollouts {
		if keep(st) {
			sts = append(sts, st)
		}
	}
	sort.Slice(sts, func(i, j int) bool {
		a, b := sts[i], sts[j]
		if !a.made.Equal(b.made) {
			return a.made.Before(b.made) != newestFirst
		}
		return (a.id < b.id) != newestFirst
	})
	out := make([]rollout.Rollout, len(sts))
	for i, st := range sts {
		out[i] = s.decode(st.data)
	}
	return out
}

func (s *fakeRollouts) ListActive(ctx context.Context) ([]rollout.Rollout, error) {
	if err := s.f.hit("Store.ListActive", nil); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sorted(func(st storedRollout) bool { return !st.phase.Terminal() }, false), nil
}

func (s *fakeSweeps) ListRunning(ctx context.Context) ([]rollout.Rollout, error) {
	if err := s.f.hit("Store.ListRunning", nil); err != nil {
		return nil, err
	}
	r := s.records
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sorted(func(st storedRollout) bool { return r.decode(st.data).Running() }, false), nil
}

func (s *fakeSweeps) WantSweep(ctx context.Context, at time.Time) error {
	if err := s.f.hit("Store.WantSweep", at); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepWanted = at
	return nil
}

func (s *fakeSweeps) SweepWanted(ctx context.Context) (time.Time, error) {
	if err := s.f.hit("Store.SweepWanted", nil); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweepWanted, nil
}

func (s *fakeRollouts) History(ctx context.Context, sm string, limit int) ([]rollout.Rollout, error) {
	if err := s.f.hit("Store.History", sm); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sorted(func(st storedRollout) bool { return st.sm == sm }, true)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *fakeLocks) AcquireLock(ctx context.Context, alias, id string) (string, bool, error) {
	if err := s.f.hit("Store.AcquireLock", id); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	holder, ok := s.locks[alias]
	switch {
	case ok && holder != id:
		return holder, false, fmt.Errorf("lock alias %s for rollout %s: held by rollout %s: %w", alias, id, holder, controller.ErrConflict)
	case ok:
		return id, false, nil
	}
	s.locks[alias] = id
	return id, true, nil
}

func (s *fakeLocks) LockHolder(ctx context.Context, alias string) (string, error) {
	s.checks.seen(ctx, s.clock.Now())
	if err := s.f.hit("Store.LockHolder", alias); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[alias], nil
}

func (s *fakeLocks) ReleaseLock(ctx context.Context, alias, id string) error {
	if err := s.f.hit("Store.ReleaseLock", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[alias] == id {
		delete(s.locks, alias)
	}
	return nil
}

func (s *fakeLocks) lockHolder(alias string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[alias]
}

func (s *fakeQueues) Enqueue(ctx context.Context, q controller.Queued) error {
	if err := s.f.hit("Store.Enqueue", q); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.queues[q.AliasArn] {
		if o.RolloutID == q.RolloutID && o.QueuedAt.Equal(q.QueuedAt) {
			return nil
		}
	}
	s.queues[q.AliasArn] = append(s.queues[q.AliasArn], q)
	sort.SliceStable(s.queues[q.AliasArn], func(i, j int) bool {
		return s.queues[q.AliasArn][i].QueuedAt.Before(s.queues[q.AliasArn][j].QueuedAt)
	})
	return nil
}

func (s *fakeQueues) Queue(ctx context.Context, alias string) ([]controller.Queued, error) {
	if err := s.f.hit("Store.Queue", alias); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []controller.Queued
	for _, q := range s.queues[alias] {
		if !seen[q.RolloutID] {
			seen[q.RolloutID] = true
			out = append(out, q)
		}
	}
	return out, nil
}

func (s *fakeQueues) Dequeue(ctx context.Context, alias, id string) error {
	if err := s.f.hit("Store.Dequeue", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[alias] = slices.DeleteFunc(s.queues[alias], func(q controller.Queued) bool { return q.RolloutID == id })
	return nil
}

func (s *fakeAlarmGuards) GuardAlarms(ctx context.Context, id string, alarms []string) error {
	if err := s.f.hit("Store.GuardAlarms", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alarms {
		if s.guards[a] == nil {
			s.guards[a] = map[string]bool{}
		}
		s.guards[a][id] = true
	}
	return nil
}

func (s *fakeAlarmGuards) UnguardAlarms(ctx context.Context, id string, alarms []string) error {
	if err := s.f.hit("Store.UnguardAlarms", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alarms {
		delete(s.guards[a], id)
	}
	return nil
}

func (s *fakeAlarmGuards) GuardedBy(ctx context.Context, alarm string) ([]string, error) {
	if err := s.f.hit("Store.GuardedBy", alarm); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.guards[alarm]))
	for id := range s.guards[alarm] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// ---------------------------------------------------------------------------------------
// S3

type fakeArtifacts struct {
	f       *faults
	mu      sync.Mutex
	objects map[string][]storedObject // bucket/key → versions, oldest first
	keys    map[string][]string       // bucket → keys, sorted, for List by prefix
	n       int
}

type storedObject struct {
	controller.Object
	sequencer string
}

var _ controller.Artifacts = (*fakeArtifacts)(nil)

func (a *fakeArtifacts) put(bucket, key, body string, meta map[string]string) storedObject {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	o := storedObject{
		Object: controller.Object{
			Body: []byte(body), Metadata: meta,
			VersionID: fmt.Sprintf("ver%04d", a.n), ETag: fmt.Sprintf("etag%04d", a.n),
		},
		sequencer: fmt.Sprintf("0065A1B2C3D4E5%04d", a.n),
	}
	if len(a.objects[bucket+"/"+key]) == 0 {
		keys := a.keys[bucket]
		i, _ := slices.BinarySearch(keys, key)
		a.keys[bucket] = slices.Insert(keys, i, key)
	}
	a.objects[bucket+"/"+key] = append(a.objects[bucket+"/"+key], o)
	return o
}

func (a *fakeArtifacts) Get(ctx context.Context, bucket, key, versionID string) (controller.Object, error) {
	if err := a.f.hit("Artifacts.Get", key); err != nil {
		return controller.Object{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	vs := a.objects[bucket+"/"+key]
	for i := len(vs) - 1; i >= 0; i-- {
		if versionID == "" || vs[i].VersionID == versionID {
			o := vs[i].Object
			o.Body = slices.Clone(o.Body)
			return o, nil
		}
	}
	return controller.Object{}, fmt.Errorf("get s3://%s/%s: NoSuchKey: %w", bucket, key, controller.ErrNotFound)
}

// Put stores a new version, as a PutObject into the versioned bucket.
func (a *fakeArtifacts) Put(ctx context.Context, bucket, key string, body []byte, meta map[string]string) (string, error) {
	if err := a.f.hit("Artifacts.Put", key); err != nil {
		return "", err
	}
	return a.put(bucket, key, string(body), maps.Clone(meta)).VersionID, nil
}

func (a *fakeArtifacts) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	if err := a.f.hit("Artifacts.List", prefix); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	all := a.keys[bucket]
	i, _ := slices.BinarySearch(all, prefix)
	var keys []string
	for ; i < len(all) && strings.HasPrefix(all[i], prefix); i++ {
		keys = append(keys, all[i])
	}
	return keys, nil
}

// ---------------------------------------------------------------------------------------
// Scheduler, task tokens, EventBridge

type fakeSchedules struct {
	f       *faults
	mu      sync.Mutex
	live    map[string]controller.Schedule
	created []string
	deleted []string
}

var _ controller.Schedules = (*fakeSchedules)(nil)

func (s *fakeSchedules) Create(ctx context.Context, sc controller.Schedule) error {
	if err := s.f.hit("Schedules.Create", sc); err != nil {
		return err
	}
	if _, err := scheduleTime(sc); err != nil {
		return fmt.Errorf("create schedule %s: ValidationException: %w", sc.Name, err)
	}
	if len(sc.Name) > 64 {
		return fmt.Errorf("create schedule %s: ValidationException: name longer than 64", sc.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A name that exists is Scheduler's ConflictException, which the adapter answers as
	// success: the same schedule, made again by a retry.
	if _, ok := s.live[sc.Name]; !ok {
		s.live[sc.Name] = sc
		s.created = append(s.created, sc.Name)
	}
	return nil
}

// scheduleTime is when a one-time schedule fires (zero for a rate()): at() names a UTC
// second, and Scheduler fires within the minute after it.
func scheduleTime(sc controller.Schedule) (time.Time, error) {
	switch {
	case strings.HasPrefix(sc.Expression, "rate("):
		return time.Time{}, nil
	case strings.HasPrefix(sc.Expression, "at(") && strings.HasSuffix(sc.Expression, ")"):
		return time.Parse("2006-01-02T15:04:05", strings.TrimSuffix(strings.TrimPrefix(sc.Expression, "at("), ")"))
	}
	return time.Time{}, fmt.Errorf("expression %q", sc.Expression)
}

// dueOnce takes the one-time schedules due at now: deleted as they fire when they say so
// (ActionAfterCompletion DELETE), kept otherwise (and then fired again by the next call,
// which a test may use as a second delivery).
func (s *fakeSchedules) dueOnce(now time.Time) []controller.Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []controller.Schedule
	for name, sc := range s.live {
		at, _ := scheduleTime(sc)
		if at.IsZero() || at.After(now) {
			continue
		}
		out = append(out, sc)
		if sc.DeleteAfterCompletion {
			delete(s.live, name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *fakeSchedules) Delete(ctx context.Context, name string) error {
	if err := s.f.hit("Schedules.Delete", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[name]; ok {
		delete(s.live, name)
		s.deleted = append(s.deleted, name)
	}
	return nil
}

func (s *fakeSchedules) exists(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.live[name]
	return ok
}

// due lists the live schedules, by name.
func (s *fakeSchedules) due() []controller.Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]controller.Schedule, 0, len(s.live))
	for _, sc := range s.live {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// taskOutcome is how a wait's token was answered.
type taskOutcome struct {
	Succeeded bool
	Output    string
	Error     string
	Cause     string
}

type fakeTasks struct {
	f        *faults
	mu       sync.Mutex
	open     map[string]bool // issued and not yet answered or expired
	outcomes map[string]taskOutcome
	answers  map[string]int // every answer attempt, by token
}

var _ controller.Tasks = (*fakeTasks)(nil)

func (t *fakeTasks) issue(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open[token] = true
}

// expire closes a token as a timed-out wait does.
func (t *fakeTasks) expire(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, token)
}

func (t *fakeTasks) outcome(token string) (taskOutcome, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.outcomes[token]
	return o, ok
}

func (t *fakeTasks) answer(token string, o taskOutcome) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.answers[token]++
	if !t.open[token] {
		return fmt.Errorf("send task outcome: TaskTimedOut: %w", controller.ErrNotFound)
	}
	delete(t.open, token)
	t.outcomes[token] = o
	return nil
}

func (t *fakeTasks) Succeed(ctx context.Context, token, output string) error {
	if err := t.f.hit("Tasks.Succeed", token); err != nil {
		return err
	}
	if !json.Valid([]byte(output)) {
		return fmt.Errorf("send task success: InvalidOutput: %q", output)
	}
	return t.answer(token, taskOutcome{Succeeded: true, Output: output})
}

func (t *fakeTasks) Fail(ctx context.Context, token, name, cause string) error {
	if err := t.f.hit("Tasks.Fail", token); err != nil {
		return err
	}
	return t.answer(token, taskOutcome{Error: name, Cause: cause})
}

type published struct {
	DetailType string
	Detail     controller.EventDetail
}

type fakeEvents struct {
	f   *faults
	mu  sync.Mutex
	all []published
}

var _ controller.Events = (*fakeEvents)(nil)

func (e *fakeEvents) Put(ctx context.Context, detailType string, detail any) error {
	if err := e.f.hit("Events.Put", detailType); err != nil {
		return err
	}
	d, ok := detail.(controller.EventDetail)
	if !ok {
		return fmt.Errorf("put event: detail is %T, want controller.EventDetail", detail)
	}
	if _, err := json.Marshal(detail); err != nil {
		return fmt.Errorf("put event: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, published{DetailType: detailType, Detail: d})
	return nil
}

// of lists the detail types published for one rollout, in order.
func (e *fakeEvents) of(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, p := range e.all {
		if p.Detail.RolloutID == id {
			out = append(out, p.DetailType)
		}
	}
	return out
}

func (e *fakeEvents) last(id string) (published, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.all) - 1; i >= 0; i-- {
		if e.all[i].Detail.RolloutID == id {
			return e.all[i], true
		}
	}
	return published{}, false
}

// ---------------------------------------------------------------------------------------
// the world

// world is one account and region with the controller over the fakes.
type world struct {
	t       testing.TB
	ctx     context.Context
	faults  *faults
	clock   *fakeClock
	sfn     *fakeSFN
	alarms  *fakeAlarms
	metrics *fakeMetrics
	store   *fakeStore
	s3      *fakeArtifacts
	sched   *fakeSchedules
	tasks   *fakeTasks
	events  *fakeEvents
	ctl     *controller.Controller
	execs   int
	// commands numbers the ids of the commands sent by control.
	commands int
}

func newWorld(t testing.TB) *world {
	f := newFaults()
	clock := &fakeClock{now: epoch}
	w := &world{
		t: t, ctx: context.Background(), faults: f, clock: clock,
		sfn:     newFakeSFN(f, clock),
		alarms:  newFakeAlarms(f, clock),
		metrics: &fakeMetrics{f: f, byVersion: map[string]counts{}},
		store:   newFakeStore(f, clock),
		s3:      &fakeArtifacts{f: f, objects: map[string][]storedObject{}, keys: map[string][]string{}},
		sched:   &fakeSchedules{f: f, live: map[string]controller.Schedule{}},
		tasks:   &fakeTasks{f: f, open: map[string]bool{}, outcomes: map[string]taskOutcome{}, answers: map[string]int{}},
		events:  &fakeEvents{f: f},
	}
	ctl, err := controller.New(controller.Config{TickRate: topology.DefaultTickRate, MinInterval: time.Minute, DedupeTTL: 24 * time.Hour, SweepWorkers: 1, Bucket: testBucket}, controller.Ports{
		StateMachines: smPort{w.sfn}, Aliases: aliasPort{w.sfn}, Alarms: w.alarms, Metrics: w.metrics,
		Rollouts: w.store.fakeRollouts, Locks: w.store.fakeLocks, Queues: w.store.fakeQueues,
		AlarmGuards: w.store.fakeAlarmGuards, Uploads: w.store.fakeUploads, Sweeps: w.store.fakeSweeps,
		Artifacts: w.s3, Schedules: w.sched, Tasks: w.tasks, Events: w.events, Clock: clock,
		Sleep: func(ctx context.Context, d time.Duration) error { clock.Advance(d); return ctx.Err() },
		// The longest wait, so that retries are the same in every run and test.
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ctl = ctl
	w.sfn.window = fenceWindow
	w.store.shareChecks(w.sfn.checks)
	return w
}

// fenceWindow is the controller's alias write window in the fakes.
const fenceWindow = 5 * time.Second

// managed are the tags ManagedStateMachine writes, with extra rollout:<field> tags.
func managed(extra ...string) map[string]string {
	tags := map[string]string{topology.ManagedTag: "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		tags[topology.TagPrefix+extra[i]] = extra[i+1]
	}
	return tags
}

// machine creates a state machine whose alias prod routes 100% to version 1.
func (w *world) machine(name string, tags map[string]string) string {
	return w.sfn.create(name, definition(name+" v1"), tags, "prod")
}

func aliasOf(name string) string { return topology.AliasArn(smArn(name), "prod") }

func versionOf(name string, n int) string { return smArn(name) + ":" + strconv.Itoa(n) }

// policy writes <sm>/prod/rollout.json.
func (w *world) policy(name, body string) {
	w.s3.put(testBucket, name+"/prod/rollout.json", body, nil)
}

// upload puts a definition and returns the "Object Created" event S3 sends for it, built
// on the sample in events/.
func (w *world) upload(key, body string, meta map[string]string) json.RawMessage {
	w.t.Helper()
	return w.objectCreated(key, len(body), w.s3.put(testBucket, key, body, meta))
}

// objectCreated is the "Object Created" event S3 sends for a stored version of key.
func (w *world) objectCreated(key string, size int, o storedObject) json.RawMessage {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join(eventsDir, "s3-object-created-versioned.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		w.t.Fatal(err)
	}
	ev["id"] = "event-" + o.VersionID
	ev["time"] = w.clock.Now().Format(time.RFC3339)
	detail := ev["detail"].(map[string]any)
	detail["bucket"] = map[string]any{"name": testBucket}
	obj := detail["object"].(map[string]any)
	obj["key"] = key
	obj["size"] = size
	obj["etag"] = o.ETag
	obj["version-id"] = o.VersionID
	obj["sequencer"] = o.sequencer
	out, err := json.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// tick lets the clock run one tick and fires every live schedule, as EventBridge
// Scheduler would. It returns each rollout's Advance error.
func (w *world) tick() map[string]error {
	w.clock.Advance(tickEvery)
	errs := map[string]error{}
	for _, sc := range w.sched.due() {
		if sc.Target != controller.TargetAdvance {
			continue // a continuation fires at its time (w.continueDue)
		}
		var t controller.Tick
		if err := json.Unmarshal([]byte(sc.Input), &t); err != nil {
			w.t.Fatalf("schedule %s input %q: %v", sc.Name, sc.Input, err)
		}
		if t.Sweep != nil {
			res, _ := w.ctl.Sweep(w.ctx, *t.Sweep)
			for id, err := range res.Errors {
				errs[id] = err
			}
			continue
		}
		if _, err := w.ctl.Advance(w.ctx, t); err != nil {
			errs[t.RolloutID] = err
		}
	}
	return errs
}

// continueDue fires the continuation schedules due by now, as EventBridge Scheduler would
// (at the start of the minute they name), and returns each one's Rollback error.
func (w *world) continueDue() map[string]error {
	errs := map[string]error{}
	for _, sc := range w.sched.dueOnce(w.clock.Now()) {
		if sc.Target != controller.TargetRollback {
			w.t.Fatalf("one-time schedule %s targets %d", sc.Name, sc.Target)
		}
		if _, err := invoke(w.ctx, w.ctl.Rollback, json.RawMessage(sc.Input)); err != nil {
			errs[sc.Name] = err
		}
	}
	return errs
}

// alarm sends a "CloudWatch Alarm State Change" to Rollback, built on the sample in events/.
func (w *world) alarm(name string, from, to rollout.AlarmState) (controller.RollbackResult, error) {
	w.t.Helper()
	w.alarms.set(name, to)
	raw, err := os.ReadFile(filepath.Join(eventsDir, "alarm-metric-ok-to-alarm.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		w.t.Fatal(err)
	}
	detail := ev["detail"].(map[string]any)
	detail["alarmName"] = name
	detail["state"].(map[string]any)["value"] = string(to)
	detail["previousState"].(map[string]any)["value"] = string(from)
	out, _ := json.Marshal(ev)
	return invoke(w.ctx, w.ctl.Rollback, out)
}

// control sends an operator's command with a command id of its own, as the CLI does.
func (w *world) control(id string, cmd rollout.Command, actor string) (controller.ControlResult, error) {
	w.commands++
	raw, _ := json.Marshal(controller.ControlRequest{RolloutID: id, Command: cmd, Actor: actor, CommandID: fmt.Sprintf("command-%d", w.commands)})
	return invoke(w.ctx, w.ctl.Control, raw)
}

func (w *world) record(id string) rollout.Rollout {
	w.t.Helper()
	r, ok := w.store.get(id)
	if !ok {
		w.t.Fatalf("no record of rollout %s", id)
	}
	return r
}

// audit lists a rollout's audit trail as "Action by actor" lines.
func (w *world) audit(id string) []controller.Event {
	w.t.Helper()
	evs, err := w.store.ListEvents(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

func actions(evs []controller.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action
	}
	return out
}

// ---------------------------------------------------------------------------------------
// the driver: the controller state machine's part

// execution is one run of the controller state machine for one upload event.
type execution struct {
	w         *world
	name      string
	state     controller.State
	token     string // the progress wait's task token
	turnToken string // the WaitForTurn task token

	prepared   controller.PrepareResult
	prepareErr error
	// routing is the alias's routing after Register and after each tick, e.g. "v1=90 v2=10".
	routing     []string
	registerErr error
	final       controller.Outcome
	finalErr    error
	finalized   bool
}

// execute starts an execution for an event; nothing runs yet.
func (w *world) execute(event json.RawMessage) *execution {
	w.execs++
	name := fmt.Sprintf("exec-%d", w.execs)
	return &execution{
		w: w, name: name,
		state: controller.State{Event: event, Execution: "arn:aws:states:us-east-1:000000000000:execution:sfn-rollout-controller:" + name},
	}
}

// id is the rollout's id (known even when Prepare failed).
func (e *execution) id() string {
	if e.prepared.RolloutID != "" {
		return e.prepared.RolloutID
	}
	_, obj, err := controller.DecodeObjectCreated(e.state.Event)
	if err != nil {
		e.w.t.Fatal(err)
	}
	version := obj.Object.VersionID
	return controller.RolloutID(obj.Bucket.Name + "/" + obj.Object.Key + "#" + version)
}

// catch records a task's error as a Catch with ResultPath $.error does.
func (e *execution) catch(err error) {
	e.state.Error = &controller.TaskError{Error: controller.ErrorCode(err), Cause: err.Error()}
}

// aslRetried reports whether the state machine retries a task's error: Transient a few
// times, Throttled for as long as the longest deadline (here a thousand times, so that a
// test that throttles for ever ends). attempts counts each retrier's failed attempts.
func aslRetried(err error, attempts *[2]int, transient int) bool {
	i, limit := 0, transient
	switch controller.ErrorCode(err) {
	case "Throttled":
		i, limit = 1, 1000
	case "Transient":
	default:
		return false
	}
	attempts[i]++
	return attempts[i] <= limit
}

// prepare runs Prepare, retried on Transient and Throttled as the state machine's Retry does.
func (e *execution) prepare() {
	e.w.t.Helper()
	for attempts := [2]int{}; ; {
		e.prepared, e.prepareErr = e.w.ctl.Prepare(e.w.ctx, e.state)
		if !aslRetried(e.prepareErr, &attempts, 5) {
			break
		}
	}
	if e.prepareErr != nil {
		e.catch(e.prepareErr)
		return
	}
	p := e.prepared
	e.state.Prepare = &p
}

// register runs the progress wait's Register with the pre-traffic results.
func (e *execution) register(results ...controller.TestResult) {
	e.w.t.Helper()
	if results == nil {
		results = []controller.TestResult{}
	}
	e.state.PreTraffic = results
	e.token = "token-progress-" + e.name
	e.w.tasks.issue(e.token)
	for attempts := [2]int{}; ; {
		e.registerErr = e.w.ctl.Register(e.w.ctx, controller.RegisterInput{State: e.state, TaskToken: e.token, Wait: controller.WaitProgress})
		if !aslRetried(e.registerErr, &attempts, 5) {
			break
		}
	}
	if e.registerErr != nil {
		e.w.tasks.expire(e.token)
		e.catch(e.registerErr)
	}
	e.observe()
}

// waitTurn runs WaitForTurn's Register.
func (e *execution) waitTurn() error {
	e.turnToken = "token-turn-" + e.name
	e.w.tasks.issue(e.turnToken)
	return e.w.ctl.Register(e.w.ctx, controller.RegisterInput{State: e.state, TaskToken: e.turnToken, Wait: controller.WaitTurn})
}

// turnCame reports whether WaitForTurn's token was answered with success.
func (e *execution) turnCame() bool {
	o, ok := e.w.tasks.outcome(e.turnToken)
	return ok && o.Succeeded
}

func (e *execution) alias() string {
	_, obj, err := controller.DecodeObjectCreated(e.state.Event)
	if err != nil {
		e.w.t.Fatal(err)
	}
	k, err := topology.ParseArtifactKey(obj.Object.Key)
	if err != nil {
		e.w.t.Fatal(err)
	}
	return topology.AliasArn(smArn(k.StateMachine), k.Alias)
}

func (e *execution) observe() { e.routing = append(e.routing, e.w.sfn.routing(e.alias())) }

// ended reports whether the progress wait's token got its outcome.
func (e *execution) ended() bool {
	_, ok := e.w.tasks.outcome(e.token)
	return ok
}

// tick runs one tick of the world and returns this rollout's Advance error.
func (e *execution) tick() error {
	errs := e.w.tick()
	e.observe()
	return errs[e.id()]
}

// ticks runs ticks until the progress wait ends, at most max; it fails the test on an
// Advance error.
func (e *execution) ticks(max int) int {
	e.w.t.Helper()
	n := 0
	for ; n < max && !e.ended(); n++ {
		if err := e.tick(); err != nil {
			e.w.t.Fatalf("tick %d: %v", n+1, err)
		}
	}
	return n
}

// finalize ends the progress wait the way the state machine does and runs Finalize.
func (e *execution) finalize() {
	e.w.t.Helper()
	e.waitEnded()
	for attempts := [2]int{}; ; {
		e.final, e.finalErr = e.w.ctl.Finalize(e.w.ctx, e.state)
		if !aslRetried(e.finalErr, &attempts, 9) {
			break
		}
	}
	e.finalized = true
	e.observe()
}

// finalizeOnce ends the progress wait as finalize does and runs one invocation of
// Finalize, which the state machine would retry if it failed.
func (e *execution) finalizeOnce() {
	e.w.t.Helper()
	e.waitEnded()
	e.final, e.finalErr = e.w.ctl.Finalize(e.w.ctx, e.state)
	e.observe()
}

// waitEnded puts the progress wait's outcome in the state, as the Progress task's
// ResultPath or Catch does.
func (e *execution) waitEnded() {
	e.w.t.Helper()
	if o, ok := e.w.tasks.outcome(e.token); ok && e.state.Error == nil {
		if o.Succeeded {
			var out controller.Outcome
			if err := json.Unmarshal([]byte(o.Output), &out); err != nil {
				e.w.t.Fatalf("progress output %q: %v", o.Output, err)
			}
			e.state.Progress = &out
		} else {
			e.state.Error = &controller.TaskError{Error: o.Error, Cause: o.Cause}
		}
	}
}

// run plays a whole execution: Prepare, Register, ticks until the wait ends (at most
// max), Finalize. A duplicate ends at once; a queued upload stops after WaitForTurn.
func (e *execution) run(max int) *execution {
	e.w.t.Helper()
	e.prepare()
	if e.prepareErr != nil {
		e.finalize()
		return e
	}
	switch e.prepared.Action {
	case controller.ActionDuplicate:
		return e
	case controller.ActionQueued:
		if err := e.waitTurn(); err != nil {
			e.w.t.Fatalf("register turn: %v", err)
		}
		return e
	}
	e.register()
	if e.registerErr != nil {
		e.finalize()
		return e
	}
	e.ticks(max)
	e.finalize()
	return e
}

// distinct drops repeats that follow each other: the routing as it changed.
func distinct(seq []string) []string {
	var out []string
	for _, s := range seq {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// TestFakesHonourTheirContracts checks the fakes against ports.go and AWS_BEHAVIOUR.md, so
// that a scenario passing here means something.
func TestFakesHonourTheirContracts(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	w.machine("orders", managed())
	sm, al := smPort{w.sfn}, aliasPort{w.sfn}

	// Versions: publish of an unchanged definition returns the existing version; numbers
	// only grow, also after a delete.
	v2, err := sm.Publish(ctx, smArn("orders"), definition("b"), "")
	if err != nil || v2 != versionOf("orders", 2) {
		t.Fatalf("Publish = %s, %v", v2, err)
	}
	if again, _ := sm.Publish(ctx, smArn("orders"), definition("b"), ""); again != v2 {
		t.Errorf("unchanged Publish = %s, want %s", again, v2)
	}
	if err := sm.DeleteVersion(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if v3, _ := sm.Publish(ctx, smArn("orders"), definition("c"), ""); v3 != versionOf("orders", 3) {
		t.Errorf("Publish after a delete = %s, want version 3", v3)
	}
	if _, err := sm.Describe(ctx, v2); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Describe of a deleted version: %v", err)
	}
	if err := sm.DeleteVersion(ctx, versionOf("orders", 1)); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("DeleteVersion of a routed version: %v, want ErrConflict", err)
	}
	if _, err := sm.Publish(ctx, smArn("orders"), `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, ""); !errors.Is(err, controller.ErrInvalidDefinition) {
		t.Errorf("Publish of a bad definition: %v", err)
	}
	if d, _ := sm.Validate(ctx, `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, ""); len(d) != 1 || d[0].Code != "MISSING_TRANSITION_TARGET" {
		t.Errorf("Validate = %+v", d)
	}
	// Aliases: routing rules.
	for _, bad := range [][]rollout.Route{
		{{VersionArn: versionOf("orders", 1), Weight: 70}, {VersionArn: versionOf("orders", 3), Weight: 29}},
		{{VersionArn: versionOf("orders", 1), Weight: 50}, {VersionArn: versionOf("orders", 1), Weight: 50}},
		{{VersionArn: versionOf("orders", 2), Weight: 100}},
		{{VersionArn: smArn("orders"), Weight: 100}},
	} {
		if err := al.Update(ctx, aliasOf("orders"), bad); err == nil {
			t.Errorf("Update(%v) accepted", bad)
		}
	}
	if err := al.Update(ctx, aliasOf("orders"), []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 0}, {VersionArn: versionOf("orders", 3), Weight: 100}}); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "zero weights dropped", w.sfn.routing(aliasOf("orders")), "v3=100")
	if err := al.Update(ctx, topology.AliasArn(smArn("orders"), "nope"), []rollout.Route{{VersionArn: versionOf("orders", 3), Weight: 100}}); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Update of a missing alias: %v", err)
	}

	// Aliases: Create never moves an alias; an identical replay answers the same one.
	v3 := []rollout.Route{{VersionArn: versionOf("orders", 3), Weight: 100}}
	created, err := al.Create(ctx, smArn("orders"), "preview", "mine", v3)
	if err != nil || created != topology.AliasArn(smArn("orders"), "preview") {
		t.Fatalf("Create = %q, %v", created, err)
	}
	if again, err := al.Create(ctx, smArn("orders"), "preview", "mine", v3); err != nil || again != created {
		t.Errorf("identical replay of Create = %q, %v", again, err)
	}
	for _, other := range []struct {
		desc    string
		routing []rollout.Route
	}{{"theirs", v3}, {"mine", []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}}} {
		if _, err := al.Create(ctx, smArn("orders"), "preview", other.desc, other.routing); !errors.Is(err, controller.ErrConflict) {
			t.Errorf("Create over an alias with another description or routing: %v", err)
		}
	}
	wantEqual(t, "alias after refused creates", w.sfn.routing(created), "v3=100")
	if _, err := al.Create(ctx, smArn("orders"), "prod", "", []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("Create over the production alias: %v", err)
	}
	wantEqual(t, "production alias after a refused create", w.sfn.routing(aliasOf("orders")), "v3=100")

	// Rollouts: the optimistic lock; a stored record shares nothing with its caller.
	var rollouts controller.Rollouts = w.store.fakeRollouts
	r := rollout.Rollout{ID: "r-1", StateMachineArn: smArn("orders"), Phase: rollout.Pending, TaskToken: "tok", Steps: []rollout.Step{{Pause: &rollout.Pause{}}}}
	if err := rollouts.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := rollouts.CreateRollout(ctx, r); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("second CreateRollout: %v", err)
	}
	saved, err := rollouts.SaveRollout(ctx, r)
	if err != nil || saved.Rev != 1 || saved.TaskToken != "tok" {
		t.Fatalf("SaveRollout = rev %d token %q, %v", saved.Rev, saved.TaskToken, err)
	}
	if _, err := rollouts.SaveRollout(ctx, r); !errors.Is(err, controller.ErrConflict) {
		t.Errorf("SaveRollout with a stale rev: %v", err)
	}
	saved.Steps[0].Pause = nil // a caller's change must not reach the stored record
	if got, _ := rollouts.GetRollout(ctx, "r-1"); got.Steps[0].Pause == nil {
		t.Error("the stored record shares memory with the caller")
	}
	// Locks: one holder per alias; only the holder releases.
	var locks controller.Locks = w.store.fakeLocks
	if h, acquired, err := locks.AcquireLock(ctx, "a", "r-1"); err != nil || h != "r-1" || !acquired {
		t.Fatal(h, acquired, err)
	}
	if h, acquired, err := locks.AcquireLock(ctx, "a", "r-1"); err != nil || h != "r-1" || acquired {
		t.Errorf("AcquireLock by the holder = %s, acquired %v, %v; want r-1, not acquired anew", h, acquired, err)
	}
	if h, acquired, err := locks.AcquireLock(ctx, "a", "r-2"); !errors.Is(err, controller.ErrConflict) || h != "r-1" || acquired {
		t.Errorf("AcquireLock of a held lock = %s, %v, %v", h, acquired, err)
	}
	locks.ReleaseLock(ctx, "a", "r-2")
	wantEqual(t, "holder after a foreign release", w.store.lockHolder("a"), "r-1")
	if h, err := locks.LockHolder(ctx, "a"); err != nil || h != "r-1" {
		t.Errorf("LockHolder = %q, %v; want r-1", h, err)
	}
	locks.ReleaseLock(ctx, "a", "r-1")
	if h, err := locks.LockHolder(ctx, "a"); err != nil || h != "" {
		t.Errorf("LockHolder of a free alias = %q, %v; want \"\"", h, err)
	}
	// Alias writes are bounded by the write window: one still running a whole window after
	// it started is cut off and never applies.
	before := w.sfn.routing(aliasOf("orders"))
	w.faults.hook("Aliases.Update", func(any) error { w.clock.Advance(fenceWindow); return nil })
	if err := al.Update(ctx, aliasOf("orders"), []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update that outlived the write window: %v, want a deadline error", err)
	}
	w.faults.hook("Aliases.Update", nil)
	wantEqual(t, "routing after a write cut off", w.sfn.routing(aliasOf("orders")), before)
	// Uploads: a claim holds until it expires.
	var uploads controller.Uploads = w.store.fakeUploads
	c := controller.UploadClaim{UploadID: "u", RolloutID: "r-1", Execution: "e1", ExpiresAt: w.clock.Now().Add(time.Hour)}
	if _, err := uploads.ClaimUpload(ctx, c); err != nil {
		t.Fatal(err)
	}
	c2 := c
	c2.Execution = "e2"
	if got, err := uploads.ClaimUpload(ctx, c2); !errors.Is(err, controller.ErrConflict) || got.Execution != "e1" {
		t.Errorf("second claim = %+v, %v", got, err)
	}
	w.clock.Advance(2 * time.Hour)
	if _, err := uploads.ClaimUpload(ctx, c2); err != nil {
		t.Errorf("claim after expiry: %v", err)
	}
	// Queues: oldest first, an entry replayed is kept once, Dequeue takes a rollout out.
	var queues controller.Queues = w.store.fakeQueues
	q1 := controller.Queued{AliasArn: "a", RolloutID: "r-2", TaskToken: "t2", QueuedAt: w.clock.Now()}
	q0 := controller.Queued{AliasArn: "a", RolloutID: "r-1", TaskToken: "t1", QueuedAt: w.clock.Now().Add(-time.Minute)}
	for _, q := range []controller.Queued{q1, q0, q1} {
		if err := queues.Enqueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	queued, err := queues.Queue(ctx, "a")
	wantEqual(t, "Queue", fmt.Sprint(queued, err), fmt.Sprint([]controller.Queued{q0, q1}, nil))
	if err := queues.Dequeue(ctx, "a", "r-1"); err != nil {
		t.Fatal(err)
	}
	queued, err = queues.Queue(ctx, "a")
	wantEqual(t, "Queue after a Dequeue", fmt.Sprint(queued, err), fmt.Sprint([]controller.Queued{q1}, nil))
	if queued, err := queues.Queue(ctx, "b"); err != nil || len(queued) != 0 {
		t.Errorf("Queue of another alias = %v, %v", queued, err)
	}
	// AlarmGuards: an alarm guards the rollouts that guarded it and were not unguarded.
	var guards controller.AlarmGuards = w.store.fakeAlarmGuards
	if err := guards.GuardAlarms(ctx, "r-1", []string{"x", "y"}); err != nil {
		t.Fatal(err)
	}
	if err := guards.GuardAlarms(ctx, "r-2", []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if err := guards.UnguardAlarms(ctx, "r-1", []string{"x", "y"}); err != nil {
		t.Fatal(err)
	}
	for alarm, want := range map[string][]string{"x": {"r-2"}, "y": {}} {
		ids, err := guards.GuardedBy(ctx, alarm)
		slices.Sort(ids)
		wantEqual(t, "GuardedBy "+alarm, fmt.Sprint(ids, err), fmt.Sprint(want, nil))
	}
	// Sweeps: the mark is zero until wanted; the running rollouts include r-1 (pending).
	var sweeps controller.Sweeps = w.store.fakeSweeps
	if at, err := sweeps.SweepWanted(ctx); err != nil || !at.IsZero() {
		t.Errorf("SweepWanted before any WantSweep = %v, %v", at, err)
	}
	if err := sweeps.WantSweep(ctx, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if at, err := sweeps.SweepWanted(ctx); err != nil || !at.Equal(w.clock.Now()) {
		t.Errorf("SweepWanted = %v, %v; want %v", at, err, w.clock.Now())
	}
	if running, err := sweeps.ListRunning(ctx); err != nil || len(running) != 1 || running[0].ID != "r-1" {
		t.Errorf("ListRunning = %v, %v; want r-1", running, err)
	}
	// Tasks: an unknown token is not found.
	if err := w.tasks.Succeed(ctx, "nobody", "{}"); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("Succeed of an unknown token: %v", err)
	}
	// Alarms: StateTransitionedTimestamp moves with the state value only; the history has
	// every change (a new alarm starts in INSUFFICIENT_DATA), both window ends included;
	// an absent alarm is absent.
	t1 := w.clock.Now()
	w.alarms.set("a", rollout.AlarmOK)
	w.clock.Advance(time.Minute)
	w.alarms.set("a", rollout.AlarmOK)
	w.alarms.set("a", rollout.AlarmAlarm)
	t2 := w.clock.Now()
	statuses, err := w.alarms.Statuses(ctx, []string{"a", "gone"})
	wantEqual(t, "Statuses", fmt.Sprint(statuses, err), fmt.Sprint(map[string]controller.AlarmStatus{"a": {State: rollout.AlarmAlarm, TransitionedAt: t2}}, nil))
	hist, err := w.alarms.History(ctx, "a", t1, t2)
	wantEqual(t, "History", fmt.Sprint(hist, err), fmt.Sprint([]controller.AlarmTransition{
		{Time: t1, From: rollout.AlarmInsufficientData, To: rollout.AlarmOK}, {Time: t2, From: rollout.AlarmOK, To: rollout.AlarmAlarm}}, nil))
	if hist, _ := w.alarms.History(ctx, "a", t1.Add(time.Second), t2.Add(-time.Second)); len(hist) != 0 {
		t.Errorf("History outside the window: %v", hist)
	}
}

// invoke hands a use case its payload as the Lambda runtime does through wiring.Typed:
// decoded by controller.Decode, whose error is the use case's answer.
func invoke[In, Out any](ctx context.Context, use func(context.Context, In) (Out, error), raw []byte) (Out, error) {
	var in In
	if err := controller.Decode(raw, &in); err != nil {
		var none Out
		return none, err
	}
	return use(ctx, in)
}
