package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Sources of policy fields, lowest precedence first (DESIGN.md: later wins).
const (
	SourceDefault  = "default"
	SourceTags     = "tags"
	SourceFile     = "rollout.json"
	SourceMetadata = "metadata"
)

// TagPrefix, ManagedTag and MetadataPrefix mirror internal/topology; the domain keeps its
// own copy so that it needs nothing but the standard library.
const (
	TagPrefix      = "rollout:"
	ManagedTag     = "rollout:managed"
	MetadataPrefix = "rollout-"
)

// Layer is one source of policy fields. Fields hold JSON values keyed by canonical field name.
type Layer struct {
	Source string                     `json:"source"`
	Fields map[string]json.RawMessage `json:"fields"`
}

type fieldKind int

const (
	kindString fieldKind = iota
	kindEnum
	kindInt
	kindFloat
	kindDuration
	kindList
	kindSteps
	kindBool
)

// fields lists every policy field with the kind of its value.
var fields = map[string]fieldKind{
	"strategy":          kindEnum,
	"percentage":        kindInt,
	"interval":          kindDuration,
	"growthFactor":      kindFloat,
	"steps":             kindSteps,
	"bakeTime":          kindDuration,
	"alarms":            kindList,
	"maxFailureRate":    kindFloat,
	"minExecutions":     kindInt,
	"onDrift":           kindEnum,
	"onBusy":            kindEnum,
	"onFailure":         kindEnum,
	"preexistingAlarms": kindEnum,
	"keepVersions":      kindInt,
	"testAlias":         kindString,
	"approval":          kindBool,
}

// FieldNames lists the policy's fields in a stable order.
func FieldNames() []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// canonicalField maps "maxfailurerate", "max-failure-rate" or "max_failure_rate" to
// "maxFailureRate": S3 lower-cases metadata keys, and people write tags by hand.
func canonicalField(name string) (string, bool) {
	squash := func(s string) string {
		s = strings.ToLower(s)
		s = strings.ReplaceAll(s, "-", "")
		return strings.ReplaceAll(s, "_", "")
	}
	want := squash(name)
	for f := range fields {
		if squash(f) == want {
			return f, true
		}
	}
	return "", false
}

// FieldError is a policy problem tied to one field and the source that set it: Msg says what
// is wrong, or Err does when the decoder of the field's value found it.
type FieldError struct {
	Field  string
	Source string
	Msg    string
	Err    error
}

func (e *FieldError) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("policy field %q: %s", e.Field, e.Reason())
	}
	return fmt.Sprintf("policy field %q (from %s): %s", e.Field, e.Source, e.Reason())
}

func (e *FieldError) Unwrap() error { return e.Err }

// Reason is what is wrong with the field: Msg, then Err's text.
func (e *FieldError) Reason() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

// ParsePolicyJSON reads a rollout.json. Unknown fields are errors.
func ParsePolicyJSON(source string, data []byte) (Layer, error) {
	l := Layer{Source: source, Fields: map[string]json.RawMessage{}}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return l, fmt.Errorf("%s: not a JSON object: %w", source, err)
	}
	// dec.More would miss a stray ']' or '}' after the object.
	if _, err := dec.Token(); err != io.EOF {
		return l, fmt.Errorf("%s: trailing data after the JSON object", source)
	}
	if raw == nil {
		return l, fmt.Errorf("%s: want a JSON object, got null", source)
	}
	// Decode keeps the last of two equal keys: `"alarms": ["x"], …, "alarms": []` would
	// leave the rollout unguarded without a word.
	dups, err := duplicateKeys(data)
	if err != nil {
		return l, fmt.Errorf("%s: not a JSON object: %w", source, err)
	}
	var errs []error
	for _, d := range dups {
		errs = append(errs, &FieldError{Field: d.field, Source: source, Msg: d.msg()})
	}
	if len(errs) > 0 {
		return l, errors.Join(errs...)
	}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if _, ok := fields[name]; !ok {
			errs = append(errs, &FieldError{Field: name, Source: source, Msg: "unknown field (known: " + strings.Join(FieldNames(), ", ") + ")"})
			continue
		}
		if err := checkKind(name, raw[name]); err != nil {
			errs = append(errs, &FieldError{Field: name, Source: source, Err: err})
			continue
		}
		l.Fields[name] = raw[name]
	}
	return l, errors.Join(errs...)
}

// duplicateKey is a key written twice in one JSON object of a policy.
type duplicateKey struct {
	field string // the top-level policy field it is under (or is)
	path  string // where the object is below that field: "" at the top, "[1].analysis"
	key   string
}

func (d duplicateKey) msg() string {
	if d.path == "" && d.key == d.field {
		return "set twice in one object (JSON keeps only the last; say it once)"
	}
	return fmt.Sprintf("key %q set twice in %s%s (JSON keeps only the last; say it once)", d.key, d.field, d.path)
}

// duplicateKeys walks a JSON document token by token and lists the keys that appear twice
// in one object, at any depth. The document is known to be valid JSON.
func duplicateKeys(data []byte) ([]duplicateKey, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var dups []duplicateKey
	var walk func(field, path string) error
	walk = func(field, path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				f, p := field, path+"."+key
				if field == "" {
					f, p = key, ""
				}
				if seen[key] {
					dups = append(dups, duplicateKey{field: f, path: path, key: key})
				}
				seen[key] = true
				if err := walk(f, p); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(field, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ']'
			return err
		}
		return nil
	}
	return dups, walk("", "")
}

// IsManaged reports whether the tags mark a state machine the controller may touch.
// The key is matched in any case: a "rollout:Managed" tag must not leave a state machine
// silently unmanaged.
func IsManaged(tags map[string]string) bool {
	for k, v := range tags {
		if strings.EqualFold(k, ManagedTag) && strings.EqualFold(strings.TrimSpace(v), "true") {
			return true
		}
	}
	return false
}

// ParsePolicyTags reads the rollout:<field> tags of a state machine. Lists are
// space-separated, as tag values allow no commas.
func ParsePolicyTags(tags map[string]string) (Layer, error) {
	lower := make(map[string]string, len(tags))
	for k, v := range tags {
		if strings.HasPrefix(strings.ToLower(k), TagPrefix) {
			k = TagPrefix + k[len(TagPrefix):]
		}
		lower[k] = v
	}
	return parseStrings(SourceTags, TagPrefix, lower, func(k string) bool { return strings.EqualFold(k, ManagedTag) })
}

// ParsePolicyMetadata reads rollout-<field> S3 user metadata (keys in any case).
func ParsePolicyMetadata(meta map[string]string) (Layer, error) {
	const actor = MetadataPrefix + "actor"
	lower := make(map[string]string, len(meta))
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		lk := strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-")
		if _, dup := lower[lk]; dup && strings.HasPrefix(lk, MetadataPrefix) && lk != actor {
			// Keys that differ only in case: which one a map range hands over last is chance.
			errs = append(errs, &FieldError{Field: strings.TrimPrefix(lk, MetadataPrefix), Source: SourceMetadata, Msg: fmt.Sprintf("set twice, by keys that differ only in case (%q)", k)})
		}
		lower[lk] = meta[k]
	}
	l, err := parseStrings(SourceMetadata, MetadataPrefix, lower, func(k string) bool { return k == actor })
	if len(errs) > 0 {
		return l, errors.Join(append(errs, err)...)
	}
	return l, err
}

func parseStrings(source, prefix string, values map[string]string, skip func(string) bool) (Layer, error) {
	l := Layer{Source: source, Fields: map[string]json.RawMessage{}}
	keyOf := map[string]string{}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if !strings.HasPrefix(key, prefix) || skip(key) {
			continue
		}
		name, ok := canonicalField(strings.TrimPrefix(key, prefix))
		if !ok {
			errs = append(errs, &FieldError{Field: strings.TrimPrefix(key, prefix), Source: source, Msg: fmt.Sprintf("unknown field in %q (known: %s)", key, strings.Join(FieldNames(), ", "))})
			continue
		}
		if first, dup := keyOf[name]; dup {
			// "rollout:maxFailureRate" and "rollout:max-failure-rate" both set: neither may
			// quietly win.
			errs = append(errs, &FieldError{Field: name, Source: source, Msg: fmt.Sprintf("set twice, by %q and %q", first, key)})
			delete(l.Fields, name)
			continue
		}
		keyOf[name] = key
		raw, err := stringToJSON(fields[name], values[key])
		if err != nil {
			errs = append(errs, &FieldError{Field: name, Source: source, Err: err})
			continue
		}
		l.Fields[name] = raw
	}
	return l, errors.Join(errs...)
}

// stringToJSON turns a tag or metadata value into the JSON value of its field.
func stringToJSON(kind fieldKind, v string) (json.RawMessage, error) {
	v = strings.TrimSpace(v)
	switch kind {
	case kindString, kindEnum, kindDuration:
		return json.Marshal(v)
	case kindInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("want a whole number, got %q", v)
		}
		return json.Marshal(n)
	case kindFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("want a number, got %q", v)
		}
		return json.Marshal(f)
	case kindBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", v)
		}
		return json.Marshal(b)
	case kindList:
		return json.Marshal(strings.Fields(v))
	case kindSteps:
		var steps []Step
		for _, tok := range strings.Fields(v) {
			s, err := ParseStep(tok)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s)
		}
		return json.Marshal(steps)
	}
	return nil, fmt.Errorf("unknown field kind %d", kind)
}

// checkKind decodes one rollout.json value into its Go type, to name the field on error.
func checkKind(name string, raw json.RawMessage) error {
	var err error
	switch fields[name] {
	case kindString, kindEnum:
		var s string
		err = json.Unmarshal(raw, &s)
		if err != nil {
			return fmt.Errorf("want a string, got %s", raw)
		}
	case kindInt:
		var n int
		if json.Unmarshal(raw, &n) != nil {
			return fmt.Errorf("want a whole number, got %s", raw)
		}
	case kindFloat:
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return fmt.Errorf("want a number, got %s", raw)
		}
	case kindBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return fmt.Errorf("want true or false, got %s", raw)
		}
	case kindDuration:
		var d Duration
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
	case kindList:
		var l []string
		if json.Unmarshal(raw, &l) != nil {
			return fmt.Errorf("want a list of strings, got %s", raw)
		}
	case kindSteps:
		var s []Step
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
	}
	return nil
}

// Resolve merges layers (later wins per field) over the built-in default, fills the
// defaults that depend on the strategy, and validates the result.
func Resolve(layers ...Layer) (Policy, error) {
	merged := map[string]json.RawMessage{}
	origin := map[string]string{}
	for _, l := range layers {
		for name, v := range l.Fields {
			merged[name] = v
			origin[name] = l.Source
		}
	}
	if _, ok := merged["strategy"]; !ok {
		merged["strategy"] = json.RawMessage(`"CANARY"`)
		origin["strategy"] = SourceDefault
	}
	var p Policy
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		one, _ := json.Marshal(map[string]json.RawMessage{name: merged[name]})
		if err := json.Unmarshal(one, &p); err != nil {
			errs = append(errs, &FieldError{Field: name, Source: origin[name], Err: err})
		}
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	p = p.normalized().withDefaults()
	if err := p.validate(origin); err != nil {
		return p, err
	}
	return p, nil
}

// ParsePolicy reads a whole policy from JSON, as `policy validate` does: the same rules as
// an upload with only a rollout.json.
func ParsePolicy(data []byte) (Policy, error) {
	l, err := ParsePolicyJSON(SourceFile, data)
	if err != nil {
		return Policy{}, err
	}
	return Resolve(l)
}

// normalized puts enums in their canonical case.
func (p Policy) normalized() Policy {
	p.Strategy = Strategy(strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(string(p.Strategy))), "-", "_"))
	p.OnDrift = OnDrift(strings.ToLower(strings.TrimSpace(string(p.OnDrift))))
	p.OnBusy = OnBusy(strings.ToLower(strings.TrimSpace(string(p.OnBusy))))
	p.OnFailure = OnFailure(strings.ToLower(strings.TrimSpace(string(p.OnFailure))))
	p.PreexistingAlarms = PreexistingAlarms(strings.ToLower(strings.TrimSpace(string(p.PreexistingAlarms))))
	return p
}
