package managed

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// The deploy custom resource must receive the ASL CloudFormation gives the state machine.
// The state machine's resource takes DefinitionString (a string, or an Fn::Join of literal
// text and intrinsics such as the ARNs of a chain's Lambda functions) and applies
// DefinitionSubstitutions itself: it replaces each "${key}" of the map with its value and
// leaves every other "${...}" as it is (no pseudo parameters, no "${!...}" escape). The
// custom resource gets the same text through Fn::Sub, whose own rules differ, so the text
// is rewritten for it:
//   - "${key}" of a substitution stays, and Fn::Sub fills it from the same map;
//   - every other "${" becomes "${<dollar-brace variable>}", whose value is "${" (so
//     "${AWS::Region}", "${Missing}" and "${!Literal}" reach both resources as written).
//     Fn::Sub's own escape, "${!", is not used: Fn::Sub reads "${!" up to the next "}", which
//     would swallow a "${key}" that follows an unclosed "${";
//   - each intrinsic of the Fn::Join becomes "${<part variable>}", the intrinsic itself the
//     variable's value, because Fn::Sub takes only literal text as its string.
//
// One difference remains: the state machine's resource substitutes repeatedly, so a value
// that itself holds "${otherKey}" is filled again, and so is such text that an intrinsic
// resolves to; Fn::Sub substitutes once. checkSubstitutions refuses literal values that
// would differ; a token's value is not known at synth.

// substitutionKey is what a DefinitionSubstitutions key may be: Fn::Sub takes such a name as
// a variable, and nothing else can be confused with a pseudo parameter or an attribute.
var substitutionKey = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// The construct's own Fn::Sub variables: partVariable<n> carries the definition's n-th
// intrinsic, dollarBrace the text "${". Substitution keys may not start with reserved.
const (
	reserved     = "ManagedStateMachine"
	partVariable = reserved + "DefinitionPart"
	dollarBrace  = reserved + "DollarBrace"
)

func checkSubstitutions(subs map[string]*string) error {
	var errs []error
	keys := slices.Sorted(maps.Keys(subs))
	for _, k := range keys {
		if !substitutionKey.MatchString(k) {
			errs = append(errs, fmt.Errorf("definition substitution %q: want 1-255 letters, digits or '_'", k))
			continue
		}
		if strings.HasPrefix(k, reserved) {
			errs = append(errs, fmt.Errorf("definition substitution %q: names starting %s are the construct's own", k, reserved))
		}
		v := subs[k]
		if v == nil {
			errs = append(errs, fmt.Errorf("definition substitution %q has no value", k))
			continue
		}
		if *awscdk.Token_IsUnresolved(v) {
			continue
		}
		for _, other := range keys {
			if strings.Contains(*v, "${"+other+"}") {
				errs = append(errs, fmt.Errorf("definition substitution %q holds ${%s}: CloudFormation would substitute it again in the state machine but not in the deployed definition", k, other))
			}
		}
	}
	return errors.Join(errs...)
}

// finalDefinition produces the custom resource's Definition when the template is written,
// from the state machine's DefinitionString as it resolves then (logical IDs are final).
type finalDefinition struct {
	definition    *string
	substitutions map[string]*string
}

func (d *finalDefinition) Produce(ctx awscdk.IResolveContext) any {
	resolved := ctx.Resolve(d.definition, nil)
	if len(d.substitutions) == 0 {
		return resolved
	}
	subs := make(map[string]any, len(d.substitutions))
	for k, v := range d.substitutions {
		subs[k] = ctx.Resolve(v, nil)
	}
	return substituted(resolved, subs)
}

// substituted is the Fn::Sub that gives the text CloudFormation's DefinitionSubstitutions
// make of definition (a resolved DefinitionString: a string or an intrinsic, usually an
// Fn::Join) with subs (resolved values).
func substituted(definition any, subs map[string]any) map[string]any {
	keys := make(map[string]bool, len(subs))
	vars := make(map[string]any, len(subs))
	for k, v := range subs {
		keys[k] = true
		vars[k] = v
	}
	var body strings.Builder
	parts, escaped := 0, false
	for _, part := range joinParts(definition) {
		if s, ok := part.(string); ok {
			text, n := escapeForSub(s, keys)
			body.WriteString(text)
			escaped = escaped || n > 0
			continue
		}
		name := fmt.Sprintf("%s%d", partVariable, parts)
		parts++
		vars[name] = part
		body.WriteString("${" + name + "}")
	}
	if escaped {
		vars[dollarBrace] = "${"
	}
	return map[string]any{"Fn::Sub": []any{body.String(), vars}}
}

// joinParts are the pieces of a resolved string value: the parts of an Fn::Join (its
// delimiter between them), or the value itself.
func joinParts(v any) []any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return []any{v}
	}
	join, ok := m["Fn::Join"].([]any)
	if !ok || len(join) != 2 {
		return []any{v}
	}
	delimiter, ok := join[0].(string)
	list, isList := join[1].([]any)
	if !ok || !isList {
		return []any{v}
	}
	var parts []any
	for i, p := range list {
		if i > 0 && delimiter != "" {
			parts = append(parts, delimiter)
		}
		// A nested join is flattened: its text is literal where its parts are.
		if _, nested := p.(map[string]any); nested {
			parts = append(parts, joinParts(p)...)
			continue
		}
		parts = append(parts, p)
	}
	return parts
}

// escapeForSub rewrites literal text for Fn::Sub: "${key}" of a substitution stays, every
// other "${" becomes the dollarBrace variable; n counts those.
func escapeForSub(s string, keys map[string]bool) (text string, n int) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), n
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		if j := strings.IndexByte(rest, '}'); j >= 0 && keys[rest[:j]] {
			b.WriteString("${" + rest[:j+1])
			s = rest[j+1:]
			continue
		}
		b.WriteString("${" + dollarBrace + "}")
		n++
		s = rest
	}
}
