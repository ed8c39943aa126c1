package sfn

import (
	"context"
	"fmt"
	"regexp"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type tagJSON struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

var tagCharacters = regexp.MustCompile(tagPattern)

func checkTagKey(v *violations, key *string, member string) {
	v.length(key, member, 1, 128, true, false)
	if key != nil && !tagCharacters.MatchString(*key) {
		v.add(*key, member, "Member must satisfy regular expression pattern: "+tagPattern)
	}
}

// validateTags checks keys (1–128) and values (0–256) of letters, digits, spaces and
// _ . : / = + - @, and answers the tags.
func validateTags(v *violations, in []tagJSON) []tag {
	out := make([]tag, 0, len(in))
	for i, t := range in {
		member := fmt.Sprintf("tags.%d.member", i+1)
		checkTagKey(v, t.Key, member+".key")
		v.length(t.Value, member+".value", 0, 256, false, false)
		if t.Value != nil && !tagCharacters.MatchString(*t.Value) {
			v.add(*t.Value, member+".value", "Member must satisfy regular expression pattern: "+tagPattern)
		}
		out = append(out, tag{Key: deref(t.Key), Value: deref(t.Value)})
	}
	return out
}

// mergeTags sets tags on a list, replacing the value of a key that is already there.
func mergeTags(have, set []tag) []tag {
	for _, t := range set {
		replaced := false
		for i := range have {
			if have[i].Key == t.Key {
				have[i].Value = t.Value
				replaced = true
				break
			}
		}
		if !replaced {
			have = append(have, t)
		}
	}
	return have
}

// taggedLocked finds the state machine a tag call names: only unqualified state machine
// ARNs carry tags (they apply to all its versions).
func (s *Service) taggedLocked(arn *string) (*stateMachine, *core.APIError) {
	ref, e := parseMachineArn(*arn)
	if e != nil {
		return nil, e
	}
	m := s.machineLocked(ref)
	if m == nil || ref.qualifier != "" {
		return nil, apiError(codeResourceNotFound, msgTagResourceMissing, *arn)
	}
	return m, nil
}

type tagResourceInput struct {
	ResourceArn *string   `json:"resourceArn"`
	Tags        []tagJSON `json:"tags"`
}

func (s *Service) tagResource(_ context.Context, in *tagResourceInput) (any, *core.APIError) {
	var v violations
	v.length(in.ResourceArn, "resourceArn", 1, 256, true, false)
	if in.Tags == nil {
		v.null("tags")
	}
	tags := validateTags(&v, in.Tags)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.taggedLocked(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	merged := mergeTags(append([]tag(nil), m.tags...), tags)
	if len(merged) > maxTagsPerResource {
		return nil, apiError(codeTooManyTags, "Too many tags: a resource can have at most %d tags", maxTagsPerResource)
	}
	m.tags = merged
	return struct{}{}, nil
}

type untagResourceInput struct {
	ResourceArn *string   `json:"resourceArn"`
	TagKeys     []*string `json:"tagKeys"`
}

func (s *Service) untagResource(_ context.Context, in *untagResourceInput) (any, *core.APIError) {
	var v violations
	v.length(in.ResourceArn, "resourceArn", 1, 256, true, false)
	if in.TagKeys == nil {
		v.null("tagKeys")
	}
	for i, k := range in.TagKeys {
		checkTagKey(&v, k, fmt.Sprintf("tagKeys.%d.member", i+1))
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.taggedLocked(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	kept := m.tags[:0:0]
	for _, t := range m.tags {
		drop := false
		for _, k := range in.TagKeys {
			if *k == t.Key {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, t)
		}
	}
	m.tags = kept
	return struct{}{}, nil
}

func (s *Service) listTagsForResource(_ context.Context, in *struct {
	ResourceArn *string `json:"resourceArn"`
}) (any, *core.APIError) {
	var v violations
	v.length(in.ResourceArn, "resourceArn", 1, 256, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.taggedLocked(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	tags := append([]tag{}, m.tags...)
	return struct {
		Tags []tag `json:"tags"`
	}{tags}, nil
}
