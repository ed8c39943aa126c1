package sfn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// epoch is an awsJson timestamp: seconds since the epoch, with milliseconds.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

func stamp(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// The error codes this service answers with.
const (
	codeValidation          = "ValidationException"
	codeInvalidArn          = "InvalidArn"
	codeInvalidName         = "InvalidName"
	codeInvalidDefinition   = "InvalidDefinition"
	codeInvalidInput        = "InvalidExecutionInput"
	codeInvalidOutput       = "InvalidOutput"
	codeInvalidToken        = "InvalidToken"
	codeTaskTimedOut        = "TaskTimedOut"
	codeMachineMissing      = "StateMachineDoesNotExist"
	codeMachineExists       = "StateMachineAlreadyExists"
	codeMachineLimit        = "StateMachineLimitExceeded"
	codeTypeNotSupported    = "StateMachineTypeNotSupported"
	codeExecutionMissing    = "ExecutionDoesNotExist"
	codeExecutionExists     = "ExecutionAlreadyExists"
	codeConflict            = "ConflictException"
	codeQuota               = "ServiceQuotaExceededException"
	codeResourceNotFound    = "ResourceNotFound"
	codeTooManyTags         = "TooManyTags"
	codeMissingParameter    = "MissingRequiredParameter"
	msgAliasMissing         = "Request references a resource that does not exist."
	msgTaskGone             = "Task Timed Out: 'Provided task does not exist anymore'"
	msgVersionDescription   = "Version description can only be set when publish is true"
	msgRoutingVersionArns   = "Routing configuration must contain state machine version ARNs. Received: [%s]"
	msgRoutingDistinct      = "Routing configuration must contain distinct state machine version ARNs. Received: [%s]"
	msgRoutingSum           = "Sum of routing configuration weights must equal 100. Received: [%s]"
	msgRoutingOneMachine    = "Routing configuration must contain versions of the same state machine. Received: [%s]"
	msgAliasConflict        = "Failed to create alias because an alias with the same name and a different routing configuration already exists."
	msgVersionReferenced    = "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [%s]"
	msgPublishConflict      = "Failed to publish the State Machine version for revision %s. The current State Machine revision is %s."
	msgMachineMissing       = "State Machine Does Not Exist: '%s'"
	msgMachineExists        = "State Machine Already Exists: '%s'"
	msgExecutionMissing     = "Execution Does Not Exist: '%s'"
	msgExecutionExists      = "Execution Already Exists: '%s'"
	msgInvalidName          = "Invalid Name: '%s'"
	msgTagResourceMissing   = "Resource not found: '%s'"
	aliasNamePattern        = `^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$`
	tagPattern              = `^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`
	maxVersionsPerMachine   = 1000
	maxAliasesPerMachine    = 100
	maxTagsPerResource      = 50
	maxStateMachines        = 10000
	maxDefinitionLength     = 1048576
	maxPayloadLength        = 262144
	maxErrorLength          = 256
	maxCauseLength          = 32768
	defaultPageSize         = 100
	statusRunning           = "RUNNING"
	statusSucceeded         = "SUCCEEDED"
	statusFailed            = "FAILED"
	statusTimedOut          = "TIMED_OUT"
	statusAborted           = "ABORTED"
	typeStandard            = "STANDARD"
	typeExpress             = "EXPRESS"
	defaultLoggingConfig    = `{"level":"OFF","includeExecutionData":false}`
	defaultTracingConfig    = `{"enabled":false}`
	serviceName             = "states"
	eventSource             = "aws.states"
	eventDetailType         = "Step Functions Execution Status Change"
	metricsNamespace        = "AWS/States"
	unitCount               = "Count"
	unitMilliseconds        = "Milliseconds"
	notRedrivable           = "NOT_REDRIVABLE"
	redriveUnsupportedCause = "sfn-rollout local does not redrive executions"
)

func apiError(code, format string, args ...any) *core.APIError {
	return core.Errorf(code, format, args...)
}

func machineMissing(arn string) *core.APIError {
	return apiError(codeMachineMissing, msgMachineMissing, arn)
}

func aliasMissing() *core.APIError { return apiError(codeResourceNotFound, msgAliasMissing) }

// violations collects the model constraint failures of one request and answers them as AWS
// does: "2 validation errors detected: Value 'x' at 'name' failed to satisfy constraint:
// Member must ...; Value ...".
type violations []string

func (v *violations) add(value any, member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

// addHidden is for sensitive members (input, output, cause), whose value AWS leaves out.
func (v *violations) addHidden(member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", member, constraint))
}

func (v *violations) null(member string) {
	*v = append(*v, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

// length checks a string member's length (in characters); a nil one is null.
func (v *violations) length(s *string, member string, minimum, maximum int, required, hidden bool) {
	if s == nil {
		if required {
			v.null(member)
		}
		return
	}
	n := len([]rune(*s))
	var constraint string
	switch {
	case n < minimum:
		constraint = fmt.Sprintf("Member must have length greater than or equal to %d", minimum)
	case maximum > 0 && n > maximum:
		constraint = fmt.Sprintf("Member must have length less than or equal to %d", maximum)
	default:
		return
	}
	if hidden {
		v.addHidden(member, constraint)
		return
	}
	v.add(*s, member, constraint)
}

func (v *violations) enum(s *string, member string, values ...string) {
	if s == nil || *s == "" {
		return
	}
	for _, x := range values {
		if *s == x {
			return
		}
	}
	v.add(*s, member, "Member must satisfy enum value set: ["+strings.Join(values, ", ")+"]")
}

func (v *violations) between(n int32, member string, minimum, maximum int32) {
	switch {
	case n < minimum:
		v.add(n, member, fmt.Sprintf("Member must have value greater than or equal to %d", minimum))
	case n > maximum:
		v.add(n, member, fmt.Sprintf("Member must have value less than or equal to %d", maximum))
	}
}

func (v violations) err() *core.APIError {
	if len(v) == 0 {
		return nil
	}
	noun := "error"
	if len(v) > 1 {
		noun = "errors"
	}
	return apiError(codeValidation, "%d validation %s detected: %s", len(v), noun, strings.Join(v, "; "))
}

// validName is Step Functions' rule for state machine and execution names: no whitespace,
// brackets, wildcards, special or control characters.
func validName(name string) bool {
	for _, r := range name {
		switch {
		case r <= 0x20, r >= 0x7f && r <= 0x9f:
			return false
		case strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r):
			return false
		case r == 0x2028 || r == 0x2029 || r == 0xa0:
			return false
		}
	}
	return true
}

// validAliasName is ^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$ (Go's regexp has no lookahead).
func validAliasName(name string) bool {
	nonDigit := false
	for _, r := range name {
		switch {
		case r >= '0' && r <= '9':
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == '-', r == '.':
			nonDigit = true
		default:
			return false
		}
	}
	return nonDigit && name != ""
}

// pageToken is an opaque nextToken: the key of the first item of the next page.
func pageToken(kind string, key uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatUint(key, 10)))
}

func readPageToken(kind string, token *string) (uint64, bool, *core.APIError) {
	if token == nil || *token == "" {
		return 0, false, nil
	}
	bad := apiError(codeInvalidToken, "Invalid Token: '%s'", *token)
	b, err := base64.RawURLEncoding.DecodeString(*token)
	if err != nil {
		return 0, false, bad
	}
	k, v, ok := strings.Cut(string(b), ":")
	if !ok || k != kind {
		return 0, false, bad
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, bad
	}
	return n, true, nil
}

// paginate pages items that are already in answer order, keyed by a key that is strictly
// monotonic in that order (descending when desc), so that a token survives inserts.
func paginate[T any](items []T, key func(T) uint64, desc bool, limit int32, kind string, token *string) ([]T, *string, *core.APIError) {
	n := int(limit)
	if n <= 0 {
		n = defaultPageSize
	}
	from, has, e := readPageToken(kind, token)
	if e != nil {
		return nil, nil, e
	}
	start := 0
	if has {
		start = len(items)
		for i, it := range items {
			if k := key(it); (desc && k <= from) || (!desc && k >= from) {
				start = i
				break
			}
		}
	}
	end := min(start+n, len(items))
	var next *string
	if end < len(items) {
		t := pageToken(kind, key(items[end]))
		next = &t
	}
	return items[start:end], next, nil
}

// sleepReal waits an injected latency in wall-clock time (latency is about the endpoint,
// not the virtual clock).
func sleepReal(r *http.Request, d time.Duration) { _ = sleepCtx(r.Context(), d) }

// canonicalJSON re-encodes a JSON value with sorted keys, so that configurations compare.
func canonicalJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
