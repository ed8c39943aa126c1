package sfn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// revision is an immutable snapshot of a state machine's definition and configuration.
// Versions point at the revision they were published from, so they share it.
type revision struct {
	id         string // "" for the first revision: AWS shows no revisionId until an update
	definition string
	roleArn    string
	logging    json.RawMessage // canonical JSON, nil when never set
	tracing    json.RawMessage
	date       time.Time
	version    *version // the live version published from this revision

	once     sync.Once
	compiled program
	parseErr error
}

// program compiles the definition the first time an execution needs it.
func (r *revision) program() (program, error) {
	r.once.Do(func() { r.compiled, r.parseErr = parseDefinition(r.definition) })
	return r.compiled, r.parseErr
}

func (r *revision) same(o *revision) bool {
	return r.definition == o.definition && r.roleArn == o.roleArn &&
		bytes.Equal(r.logging, o.logging) && bytes.Equal(r.tracing, o.tracing)
}

type version struct {
	number      int
	arn         string
	rev         *revision
	description string
	created     time.Time
}

type stateMachine struct {
	name, arn   string
	typ         string // STANDARD or EXPRESS, fixed at creation
	created     time.Time
	rev         *revision
	versions    map[int]*version
	lastVersion int // version numbers only increase, and are never reused
	aliases     map[string]*alias
	tags        []tag
	seq         uint64
}

// versionsNewestFirst lists the live versions, highest number first.
func (m *stateMachine) versionsNewestFirst() []*version {
	out := make([]*version, 0, len(m.versions))
	for _, v := range m.versions {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *version) int { return b.number - a.number })
	return out
}

// aliasesOldestFirst lists the aliases in creation order.
func (m *stateMachine) aliasesOldestFirst() []*alias {
	out := make([]*alias, 0, len(m.aliases))
	for _, a := range m.aliases {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *alias) int { return int(a.seq) - int(b.seq) })
	return out
}

// machineLocked finds the state machine of a parsed ARN, or nil.
func (s *Service) machineLocked(ref machineRef) *stateMachine {
	if ref.foreign {
		return nil
	}
	return s.machines[ref.name]
}

// publishLocked publishes the current revision, or answers its live version: publishing is
// idempotent per revision.
func (s *Service) publishLocked(m *stateMachine, description string) (*version, *core.APIError) {
	if v := m.rev.version; v != nil {
		return v, nil
	}
	if len(m.versions) >= maxVersionsPerMachine {
		return nil, versionQuota(m)
	}
	m.lastVersion++
	v := &version{
		number:      m.lastVersion,
		arn:         fmt.Sprintf("%s:%d", m.arn, m.lastVersion),
		rev:         m.rev,
		description: description,
		created:     s.clock.Now(),
	}
	m.versions[v.number] = v
	m.rev.version = v
	return v, nil
}

func versionQuota(m *stateMachine) *core.APIError {
	return apiError(codeQuota, "Failed to publish the State Machine version: the state machine '%s' has reached the limit of %d versions", m.arn, maxVersionsPerMachine)
}

// definitionProblem refuses a definition the ASL package reports errors for.
func definitionProblem(definition string) *core.APIError {
	if msg, bad := checkDefinition(definition); bad {
		return apiError(codeInvalidDefinition, "%s", msg)
	}
	return nil
}

func roleArnProblem(role string) *core.APIError {
	parts := strings.Split(role, ":")
	if len(parts) < 6 || parts[0] != "arn" || parts[2] != "iam" {
		return apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN prefix: %s'", role)
	}
	return nil
}

type createStateMachineInput struct {
	Name                    *string         `json:"name"`
	Definition              *string         `json:"definition"`
	RoleArn                 *string         `json:"roleArn"`
	Type                    *string         `json:"type"`
	Tags                    []tagJSON       `json:"tags"`
	Publish                 bool            `json:"publish"`
	VersionDescription      *string         `json:"versionDescription"`
	LoggingConfiguration    json.RawMessage `json:"loggingConfiguration"`
	TracingConfiguration    json.RawMessage `json:"tracingConfiguration"`
	EncryptionConfiguration json.RawMessage `json:"encryptionConfiguration"`
}

type createStateMachineOutput struct {
	StateMachineArn        string  `json:"stateMachineArn"`
	CreationDate           *epoch  `json:"creationDate"`
	StateMachineVersionArn *string `json:"stateMachineVersionArn,omitempty"`
}

func (s *Service) createStateMachine(_ context.Context, in *createStateMachineInput) (any, *core.APIError) {
	var v violations
	v.length(in.Name, "name", 1, 80, true, false)
	v.length(in.Definition, "definition", 1, maxDefinitionLength, true, true)
	v.length(in.RoleArn, "roleArn", 1, 256, true, false)
	v.enum(in.Type, "type", typeStandard, typeExpress)
	v.length(in.VersionDescription, "versionDescription", 0, 256, false, false)
	tags := validateTags(&v, in.Tags)
	if e := v.err(); e != nil {
		return nil, e
	}
	if in.VersionDescription != nil && !in.Publish {
		return nil, apiError(codeValidation, msgVersionDescription)
	}
	typ := deref(in.Type)
	if typ == "" {
		typ = typeStandard
	}
	if !validName(*in.Name) {
		return nil, apiError(codeInvalidName, msgInvalidName, *in.Name)
	}
	if e := roleArnProblem(*in.RoleArn); e != nil {
		return nil, e
	}
	if e := loggingProblem(in.LoggingConfiguration); e != nil {
		return nil, e
	}
	if e := definitionProblem(*in.Definition); e != nil {
		return nil, e
	}
	if typ == typeExpress {
		if e := expressDefinitionProblem(*in.Definition); e != nil {
			return nil, e
		}
	}
	rev := &revision{
		definition: *in.Definition,
		roleArn:    *in.RoleArn,
		logging:    canonicalJSON(in.LoggingConfiguration),
		tracing:    canonicalJSON(in.TracingConfiguration),
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	m := s.machines[*in.Name]
	if m != nil {
		// Create is idempotent for the same definition, role and type; anything else is a clash.
		if m.rev.definition != rev.definition || m.rev.roleArn != rev.roleArn || m.typ != typ {
			return nil, apiError(codeMachineExists, msgMachineExists, m.arn)
		}
	} else {
		if len(s.machines) >= maxStateMachines {
			return nil, apiError(codeMachineLimit, "State Machine Limit Exceeded: '%d'", maxStateMachines)
		}
		if len(tags) > maxTagsPerResource {
			return nil, apiError(codeTooManyTags, "Too many tags: a resource can have at most %d tags", maxTagsPerResource)
		}
		rev.date = now
		s.seq++
		m = &stateMachine{
			name:     *in.Name,
			arn:      machineArn(*in.Name),
			typ:      typ,
			created:  now,
			rev:      rev,
			versions: map[int]*version{},
			aliases:  map[string]*alias{},
			tags:     mergeTags(nil, tags),
			seq:      s.seq,
		}
		s.machines[m.name] = m
	}
	out := createStateMachineOutput{StateMachineArn: m.arn, CreationDate: stamp(m.created)}
	if in.Publish {
		ver, e := s.publishLocked(m, deref(in.VersionDescription))
		if e != nil {
			return nil, e
		}
		out.StateMachineVersionArn = &ver.arn
	}
	return out, nil
}

type describeStateMachineInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
	IncludedData    *string `json:"includedData"`
}

type describeStateMachineOutput struct {
	StateMachineArn      string          `json:"stateMachineArn"`
	Name                 string          `json:"name"`
	Status               string          `json:"status"`
	Definition           string          `json:"definition"`
	RoleArn              string          `json:"roleArn"`
	Type                 string          `json:"type"`
	CreationDate         *epoch          `json:"creationDate"`
	LoggingConfiguration json.RawMessage `json:"loggingConfiguration"`
	TracingConfiguration json.RawMessage `json:"tracingConfiguration"`
	RevisionID           string          `json:"revisionId,omitempty"`
	Description          string          `json:"description,omitempty"`
}

func loggingOf(r *revision) json.RawMessage {
	if r.logging == nil {
		return json.RawMessage(defaultLoggingConfig)
	}
	return r.logging
}

func tracingOf(r *revision) json.RawMessage {
	if r.tracing == nil {
		return json.RawMessage(defaultTracingConfig)
	}
	return r.tracing
}

func (s *Service) describeStateMachine(_ context.Context, in *describeStateMachineInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineArn, "stateMachineArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machineLocked(ref)
	if m == nil || ref.isAlias() {
		return nil, machineMissing(ref.arn)
	}
	out := describeStateMachineOutput{
		StateMachineArn: m.arn,
		Name:            m.name,
		Status:          "ACTIVE",
		Type:            m.typ,
		CreationDate:    stamp(m.created),
	}
	rev := m.rev
	if ref.isVersion() {
		ver := m.versions[ref.version]
		if ver == nil {
			return nil, machineMissing(ref.arn)
		}
		rev = ver.rev
		out.StateMachineArn = ver.arn
		out.CreationDate = stamp(ver.created)
		out.Description = ver.description
	}
	out.Definition = rev.definition
	out.RoleArn = rev.roleArn
	out.RevisionID = rev.id
	out.LoggingConfiguration = loggingOf(rev)
	out.TracingConfiguration = tracingOf(rev)
	return out, nil
}

type updateStateMachineInput struct {
	StateMachineArn         *string         `json:"stateMachineArn"`
	Definition              *string         `json:"definition"`
	RoleArn                 *string         `json:"roleArn"`
	LoggingConfiguration    json.RawMessage `json:"loggingConfiguration"`
	TracingConfiguration    json.RawMessage `json:"tracingConfiguration"`
	Publish                 bool            `json:"publish"`
	VersionDescription      *string         `json:"versionDescription"`
	EncryptionConfiguration json.RawMessage `json:"encryptionConfiguration"`
}

type updateStateMachineOutput struct {
	UpdateDate             *epoch  `json:"updateDate"`
	RevisionID             *string `json:"revisionId,omitempty"`
	StateMachineVersionArn *string `json:"stateMachineVersionArn,omitempty"`
}

func (s *Service) updateStateMachine(_ context.Context, in *updateStateMachineInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineArn, "stateMachineArn", 1, 256, true, false)
	v.length(in.Definition, "definition", 1, maxDefinitionLength, false, true)
	v.length(in.RoleArn, "roleArn", 1, 256, false, false)
	v.length(in.VersionDescription, "versionDescription", 0, 256, false, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if in.VersionDescription != nil && !in.Publish {
		return nil, apiError(codeValidation, msgVersionDescription)
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, e
	}
	if ref.qualifier != "" {
		return nil, machineMissing(ref.arn)
	}
	logging, tracing := canonicalJSON(in.LoggingConfiguration), canonicalJSON(in.TracingConfiguration)
	if in.Definition == nil && in.RoleArn == nil && logging == nil && tracing == nil && !in.Publish {
		return nil, apiError(codeMissingParameter, "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")
	}
	if in.RoleArn != nil {
		if e := roleArnProblem(*in.RoleArn); e != nil {
			return nil, e
		}
	}
	if e := loggingProblem(in.LoggingConfiguration); e != nil {
		return nil, e
	}
	if in.Definition != nil {
		if e := definitionProblem(*in.Definition); e != nil {
			return nil, e
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machineLocked(ref)
	if m == nil {
		return nil, machineMissing(ref.arn)
	}
	if in.Definition != nil && m.typ == typeExpress {
		if e := expressDefinitionProblem(*in.Definition); e != nil {
			return nil, e
		}
	}
	next := &revision{
		definition: m.rev.definition,
		roleArn:    m.rev.roleArn,
		logging:    m.rev.logging,
		tracing:    m.rev.tracing,
	}
	if in.Definition != nil {
		next.definition = *in.Definition
	}
	if in.RoleArn != nil {
		next.roleArn = *in.RoleArn
	}
	if logging != nil {
		next.logging = logging
	}
	if tracing != nil {
		next.tracing = tracing
	}
	var out updateStateMachineOutput
	if next.same(m.rev) {
		// Nothing changed: no new revision, and no revisionId in the answer.
		out.UpdateDate = stamp(m.rev.date)
	} else {
		if in.Publish && len(m.versions) >= maxVersionsPerMachine {
			return nil, versionQuota(m) // before anything changes
		}
		next.id = s.newIDLocked()
		next.date = s.clock.Now()
		m.rev = next
		out.UpdateDate = stamp(next.date)
		out.RevisionID = &next.id
	}
	if in.Publish {
		ver, e := s.publishLocked(m, deref(in.VersionDescription))
		if e != nil {
			return nil, e
		}
		out.StateMachineVersionArn = &ver.arn
	}
	return out, nil
}

type listInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
	MaxResults      int32   `json:"maxResults"`
	NextToken       *string `json:"nextToken"`
}

func (in *listInput) check(v *violations, arnRequired bool) {
	if arnRequired {
		v.length(in.StateMachineArn, "stateMachineArn", 1, 256, true, false)
	}
	v.between(in.MaxResults, "maxResults", 0, 1000)
	v.length(in.NextToken, "nextToken", 1, 1024, false, false)
}

type stateMachineItem struct {
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Type            string `json:"type"`
	CreationDate    *epoch `json:"creationDate"`
}

func (s *Service) listStateMachines(_ context.Context, in *listInput) (any, *core.APIError) {
	var v violations
	in.check(&v, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	all := make([]*stateMachine, 0, len(s.machines))
	for _, m := range s.machines {
		all = append(all, m)
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *stateMachine) int { return int(a.seq) - int(b.seq) })
	page, next, e := paginate(all, func(m *stateMachine) uint64 { return m.seq }, false, in.MaxResults, "machines", in.NextToken)
	if e != nil {
		return nil, e
	}
	items := make([]stateMachineItem, 0, len(page))
	for _, m := range page {
		items = append(items, stateMachineItem{StateMachineArn: m.arn, Name: m.name, Type: m.typ, CreationDate: stamp(m.created)})
	}
	return struct {
		StateMachines []stateMachineItem `json:"stateMachines"`
		NextToken     *string            `json:"nextToken,omitempty"`
	}{items, next}, nil
}

type machineArnInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
}

func (s *Service) deleteStateMachine(_ context.Context, in *machineArnInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineArn, "stateMachineArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, e
	}
	if ref.qualifier != "" {
		return nil, apiError(codeValidation, "DeleteStateMachine takes an unqualified state machine ARN; use DeleteStateMachineVersion or DeleteStateMachineAlias for '%s'", ref.arn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Versions, aliases and tags go with it; running executions go on and stay listed.
	if m := s.machineLocked(ref); m != nil {
		delete(s.machines, m.name)
	}
	return struct{}{}, nil
}

type publishInput struct {
	StateMachineArn *string `json:"stateMachineArn"`
	RevisionID      *string `json:"revisionId"`
	Description     *string `json:"description"`
}

type publishOutput struct {
	CreationDate           *epoch `json:"creationDate"`
	StateMachineVersionArn string `json:"stateMachineVersionArn"`
}

func (s *Service) publishStateMachineVersion(_ context.Context, in *publishInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineArn, "stateMachineArn", 1, 256, true, false)
	v.length(in.RevisionID, "revisionId", 0, 2048, false, false)
	v.length(in.Description, "description", 0, 256, false, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machineLocked(ref)
	if m == nil || ref.qualifier != "" {
		return nil, machineMissing(ref.arn)
	}
	if in.RevisionID != nil {
		current := m.rev.id
		if current == "" {
			current = "INITIAL"
		}
		if *in.RevisionID != current {
			return nil, apiError(codeConflict, msgPublishConflict, *in.RevisionID, current)
		}
	}
	ver, e := s.publishLocked(m, deref(in.Description))
	if e != nil {
		return nil, e
	}
	return publishOutput{CreationDate: stamp(ver.created), StateMachineVersionArn: ver.arn}, nil
}

type versionItem struct {
	StateMachineVersionArn string `json:"stateMachineVersionArn"`
	CreationDate           *epoch `json:"creationDate"`
}

func (s *Service) listStateMachineVersions(_ context.Context, in *listInput) (any, *core.APIError) {
	var v violations
	in.check(&v, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	ref, e := parseMachineArn(*in.StateMachineArn)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	m := s.machineLocked(ref)
	if m == nil || ref.qualifier != "" {
		s.mu.Unlock()
		return nil, machineMissing(ref.arn)
	}
	all := m.versionsNewestFirst()
	s.mu.Unlock()
	page, next, e := paginate(all, func(v *version) uint64 { return uint64(v.number) }, true, in.MaxResults, "versions", in.NextToken)
	if e != nil {
		return nil, e
	}
	items := make([]versionItem, 0, len(page))
	for _, ver := range page {
		items = append(items, versionItem{StateMachineVersionArn: ver.arn, CreationDate: stamp(ver.created)})
	}
	return struct {
		StateMachineVersions []versionItem `json:"stateMachineVersions"`
		NextToken            *string       `json:"nextToken,omitempty"`
	}{items, next}, nil
}

type deleteVersionInput struct {
	StateMachineVersionArn *string `json:"stateMachineVersionArn"`
}

func (s *Service) deleteStateMachineVersion(_ context.Context, in *deleteVersionInput) (any, *core.APIError) {
	var v violations
	v.length(in.StateMachineVersionArn, "stateMachineVersionArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	ref, e := parseMachineArn(*in.StateMachineVersionArn)
	if e != nil {
		return nil, e
	}
	if !ref.isVersion() {
		return nil, apiError(codeValidation, "Invalid state machine version ARN: '%s'", ref.arn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machineLocked(ref)
	if m == nil {
		return struct{}{}, nil
	}
	ver := m.versions[ref.version]
	if ver == nil {
		return struct{}{}, nil
	}
	var names []string
	for _, a := range m.aliasesOldestFirst() {
		if a.routesTo(ver.arn) {
			names = append(names, a.name)
		}
	}
	if len(names) > 0 {
		return nil, apiError(codeConflict, msgVersionReferenced, strings.Join(names, ", "))
	}
	delete(m.versions, ver.number)
	if ver.rev.version == ver {
		ver.rev.version = nil
	}
	return struct{}{}, nil
}
