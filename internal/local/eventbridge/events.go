package eventbridge

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Events: PutEvents, the other services' Emit, routing to rules, TestEventPattern.

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
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return "InternalException", "the local event bus is shut down"
	}
	s.deliveries.Add(len(jobs))
	for _, j := range jobs {
		j.event = raw
		j.decoded = decoded
		j.ingested = ingested
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
