package eventbridge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// baseEvent is an envelope whose detail the rows fill in.
func baseEvent(detail string) string {
	return `{"version":"0","id":"1","detail-type":"test-detail-type","source":"test-source","account":"123456789012",` +
		`"time":"2022-07-13T13:48:01Z","region":"us-east-2","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-1"],"detail":` + detail + `}`
}

func TestPatternMatching(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		event   string
		want    bool
	}{
		// Exact values: an array is an OR, fields are an AND.
		{"exact string", `{"source":["test-source"]}`, baseEvent(`{}`), true},
		{"exact string differs", `{"source":["other"]}`, baseEvent(`{}`), false},
		{"array is OR", `{"source":["a","test-source","b"]}`, baseEvent(`{}`), true},
		{"fields are AND", `{"source":["test-source"],"detail-type":["nope"]}`, baseEvent(`{}`), false},
		{"missing field", `{"detail":{"state":["x"]}}`, baseEvent(`{}`), false},
		{"nested object", `{"detail":{"a":{"b":["c"]}}}`, baseEvent(`{"a":{"b":"c"}}`), true},
		{"nested object differs", `{"detail":{"a":{"b":["c"]}}}`, baseEvent(`{"a":{"b":"d"}}`), false},
		{"string does not match number", `{"detail":{"n":["5"]}}`, baseEvent(`{"n":5}`), false},
		{"number does not match string", `{"detail":{"n":[5]}}`, baseEvent(`{"n":"5"}`), false},
		{"number matches numerically", `{"detail":{"n":[5]}}`, baseEvent(`{"n":5.0}`), true},
		{"big account number", `{"account":["123456789012"]}`, baseEvent(`{}`), true},
		{"boolean", `{"detail":{"b":[false]}}`, baseEvent(`{"b":false}`), true},
		{"boolean differs", `{"detail":{"b":[true]}}`, baseEvent(`{"b":false}`), false},
		{"null matches null", `{"detail":{"v":[null]}}`, baseEvent(`{"v":null}`), true},
		{"null does not match missing", `{"detail":{"v":[null]}}`, baseEvent(`{}`), false},
		{"null does not match empty string", `{"detail":{"v":[null]}}`, baseEvent(`{"v":""}`), false},
		{"empty string matches empty string", `{"detail":{"v":[""]}}`, baseEvent(`{"v":""}`), true},
		{"empty string does not match null", `{"detail":{"v":[""]}}`, baseEvent(`{"v":null}`), false},
		{"null does not match empty array", `{"resources":[null]}`, strings.Replace(baseEvent(`{}`), `["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]`, `[]`, 1), false},
		{"object is not a leaf", `{"detail":{"a":["x"]}}`, baseEvent(`{"a":{"b":"x"}}`), false},

		// Arrays in the event: any element matches.
		{"event array any element", `{"detail":{"tags":["b"]}}`, baseEvent(`{"tags":["a","b"]}`), true},
		{"event array no element", `{"detail":{"tags":["c"]}}`, baseEvent(`{"tags":["a","b"]}`), false},
		{"resources element", `{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]}`, baseEvent(`{}`), true},
		{"array of objects", `{"detail":{"items":{"id":["2"]}}}`, baseEvent(`{"items":[{"id":"1"},{"id":"2"}]}`), true},
		{"array of objects same element", `{"detail":{"items":{"id":["1"],"v":["b"]}}}`, baseEvent(`{"items":[{"id":"1","v":"a"},{"id":"2","v":"b"}]}`), false},
		{"array of objects one element has both", `{"detail":{"items":{"id":["2"],"v":["b"]}}}`, baseEvent(`{"items":[{"id":"1","v":"a"},{"id":"2","v":"b"}]}`), true},

		// prefix, suffix, equals-ignore-case, wildcard.
		{"prefix", `{"detail":{"k":[{"prefix":"orders/"}]}}`, baseEvent(`{"k":"orders/prod/x"}`), true},
		{"prefix differs", `{"detail":{"k":[{"prefix":"orders/"}]}}`, baseEvent(`{"k":"other/x"}`), false},
		{"prefix on a number", `{"detail":{"k":[{"prefix":"1"}]}}`, baseEvent(`{"k":12}`), false},
		{"prefix ignore case", `{"detail":{"k":[{"prefix":{"equals-ignore-case":"ORDERS/"}}]}}`, baseEvent(`{"k":"orders/x"}`), true},
		{"suffix", `{"detail":{"k":[{"suffix":".asl.json"}]}}`, baseEvent(`{"k":"a/b/c.asl.json"}`), true},
		{"suffix differs", `{"detail":{"k":[{"suffix":".asl.json"}]}}`, baseEvent(`{"k":"a/b/rollout.json"}`), false},
		{"suffix ignore case", `{"detail":{"k":[{"suffix":{"equals-ignore-case":".PNG"}}]}}`, baseEvent(`{"k":"a.png"}`), true},
		{"equals-ignore-case", `{"detail":{"s":[{"equals-ignore-case":"alarm"}]}}`, baseEvent(`{"s":"ALARM"}`), true},
		{"equals-ignore-case differs", `{"detail":{"s":[{"equals-ignore-case":"alarm"}]}}`, baseEvent(`{"s":"OK"}`), false},
		{"equals-ignore-case empty", `{"detail":{"s":[{"equals-ignore-case":""}]}}`, baseEvent(`{"s":""}`), true},
		{"wildcard middle", `{"detail":{"k":[{"wildcard":"orders/*/x.json"}]}}`, baseEvent(`{"k":"orders/prod/x.json"}`), true},
		{"wildcard matches empty run", `{"detail":{"k":[{"wildcard":"ab*c"}]}}`, baseEvent(`{"k":"abc"}`), true},
		{"wildcard differs", `{"detail":{"k":[{"wildcard":"*/dir/*"}]}}`, baseEvent(`{"k":"a/other/b"}`), false},
		{"wildcard escaped star", `{"detail":{"k":[{"wildcard":"a\\*b"}]}}`, baseEvent(`{"k":"a*b"}`), true},
		{"wildcard escaped star is literal", `{"detail":{"k":[{"wildcard":"a\\*b"}]}}`, baseEvent(`{"k":"axb"}`), false},
		{"wildcard on a number", `{"detail":{"k":[{"wildcard":"*"}]}}`, baseEvent(`{"k":1}`), false},

		// anything-but.
		{"anything-but string", `{"detail":{"s":[{"anything-but":"initializing"}]}}`, baseEvent(`{"s":"running"}`), true},
		{"anything-but string equal", `{"detail":{"s":[{"anything-but":"initializing"}]}}`, baseEvent(`{"s":"initializing"}`), false},
		{"anything-but missing field", `{"detail":{"s":[{"anything-but":"initializing"}]}}`, baseEvent(`{}`), false},
		{"anything-but null value", `{"detail":{"s":[{"anything-but":"initializing"}]}}`, baseEvent(`{"s":null}`), true},
		{"anything-but list", `{"detail":{"s":[{"anything-but":["stopped","overloaded"]}]}}`, baseEvent(`{"s":"stopped"}`), false},
		{"anything-but list other", `{"detail":{"s":[{"anything-but":["stopped","overloaded"]}]}}`, baseEvent(`{"s":"running"}`), true},
		{"anything-but number", `{"detail":{"n":[{"anything-but":0}]}}`, baseEvent(`{"n":789}`), true},
		{"anything-but number equal", `{"detail":{"n":[{"anything-but":[100,200]}]}}`, baseEvent(`{"n":200.0}`), false},
		{"anything-but strings vs number", `{"detail":{"n":[{"anything-but":["5"]}]}}`, baseEvent(`{"n":5}`), true},
		{"anything-but prefix", `{"detail":{"s":[{"anything-but":{"prefix":"init"}}]}}`, baseEvent(`{"s":"initializing"}`), false},
		{"anything-but prefix other", `{"detail":{"s":[{"anything-but":{"prefix":"init"}}]}}`, baseEvent(`{"s":"running"}`), true},
		{"anything-but prefix list", `{"detail":{"s":[{"anything-but":{"prefix":["init","stop"]}}]}}`, baseEvent(`{"s":"stopped"}`), false},
		{"anything-but prefix on number", `{"detail":{"s":[{"anything-but":{"prefix":"init"}}]}}`, baseEvent(`{"s":12}`), true},
		{"anything-but prefix null", `{"detail":{"s":[{"anything-but":{"prefix":"init"}}]}}`, baseEvent(`{"s":null}`), true},
		{"anything-but suffix", `{"detail":{"k":[{"anything-but":{"suffix":".txt"}}]}}`, baseEvent(`{"k":"a.txt"}`), false},
		{"anything-but suffix other", `{"detail":{"k":[{"anything-but":{"suffix":".txt"}}]}}`, baseEvent(`{"k":"a.json"}`), true},
		{"anything-but ignore case", `{"detail":{"s":[{"anything-but":{"equals-ignore-case":["OK"]}}]}}`, baseEvent(`{"s":"ok"}`), false},
		{"anything-but wildcard", `{"detail":{"k":[{"anything-but":{"wildcard":"*/dir/*"}}]}}`, baseEvent(`{"k":"a/dir/b"}`), false},
		{"anything-but wildcard on number", `{"detail":{"k":[{"anything-but":{"wildcard":"*/dir/*"}}]}}`, baseEvent(`{"k":123}`), true},
		{"anything-but on event array", `{"detail":{"s":[{"anything-but":"a"}]}}`, baseEvent(`{"s":["a","b"]}`), true},

		// numeric.
		{"numeric =", `{"detail":{"n":[{"numeric":["=",300]}]}}`, baseEvent(`{"n":300}`), true},
		{"numeric = differs", `{"detail":{"n":[{"numeric":["=",300]}]}}`, baseEvent(`{"n":301}`), false},
		{"numeric <", `{"detail":{"n":[{"numeric":["<",10]}]}}`, baseEvent(`{"n":9.5}`), true},
		{"numeric < bound", `{"detail":{"n":[{"numeric":["<",10]}]}}`, baseEvent(`{"n":10}`), false},
		{"numeric <=", `{"detail":{"n":[{"numeric":["<=",10]}]}}`, baseEvent(`{"n":10}`), true},
		{"numeric >", `{"detail":{"n":[{"numeric":[">",0]}]}}`, baseEvent(`{"n":0}`), false},
		{"numeric >=", `{"detail":{"n":[{"numeric":[">=",0]}]}}`, baseEvent(`{"n":0}`), true},
		{"numeric range in", `{"detail":{"n":[{"numeric":[">",0,"<=",5]}]}}`, baseEvent(`{"n":5}`), true},
		{"numeric range out", `{"detail":{"n":[{"numeric":[">",0,"<=",5]}]}}`, baseEvent(`{"n":5.01}`), false},
		{"numeric on a string", `{"detail":{"n":[{"numeric":[">",0]}]}}`, baseEvent(`{"n":"5"}`), false},
		{"numeric negative", `{"detail":{"n":[{"numeric":["<",-1e3]}]}}`, baseEvent(`{"n":-1001}`), true},

		// exists.
		{"exists true", `{"detail":{"s":[{"exists":true}]}}`, baseEvent(`{"s":"x"}`), true},
		{"exists true null value", `{"detail":{"s":[{"exists":true}]}}`, baseEvent(`{"s":null}`), true},
		{"exists true missing", `{"detail":{"s":[{"exists":true}]}}`, baseEvent(`{}`), false},
		{"exists true on object", `{"detail":{"s":[{"exists":true}]}}`, baseEvent(`{"s":{"a":1}}`), false},
		{"exists true on empty array", `{"detail":{"s":[{"exists":true}]}}`, baseEvent(`{"s":[]}`), false},
		{"exists false missing", `{"detail":{"s":[{"exists":false}]}}`, baseEvent(`{}`), true},
		{"exists false present", `{"detail":{"s":[{"exists":false}]}}`, baseEvent(`{"s":"x"}`), false},
		{"exists false deep missing", `{"detail":{"a":{"b":{"c":[{"exists":false}]}}}}`, baseEvent(`{"a":{"x":"y"}}`), true},
		{"exists false no detail", `{"detail":{"a":[{"exists":false}]}}`, `{"id":"1","source":"s"}`, true},

		// cidr.
		{"cidr in", `{"detail":{"ip":[{"cidr":"10.0.0.0/24"}]}}`, baseEvent(`{"ip":"10.0.0.255"}`), true},
		{"cidr out", `{"detail":{"ip":[{"cidr":"10.0.0.0/24"}]}}`, baseEvent(`{"ip":"10.0.1.1"}`), false},
		{"cidr v6", `{"detail":{"ip":[{"cidr":"2001:db8::/32"}]}}`, baseEvent(`{"ip":"2001:db8::1"}`), true},

		// $or.
		{"$or first", `{"$or":[{"source":["test-source"]},{"detail-type":["x"]}]}`, baseEvent(`{}`), true},
		{"$or second", `{"$or":[{"source":["x"]},{"detail-type":["test-detail-type"]}]}`, baseEvent(`{}`), true},
		{"$or none", `{"$or":[{"source":["x"]},{"detail-type":["y"]}]}`, baseEvent(`{}`), false},
		{"$or nested with AND", `{"source":["test-source"],"detail":{"$or":[{"a":[1]},{"b":[2]}]}}`, baseEvent(`{"b":2}`), true},
		{"$or nested with AND fails", `{"source":["nope"],"detail":{"$or":[{"a":[1]},{"b":[2]}]}}`, baseEvent(`{"b":2}`), false},

		// Several match kinds in one array are an OR.
		{"mixed OR", `{"detail":{"k":["exact",{"prefix":"pre"},{"numeric":[">",5]}]}}`, baseEvent(`{"k":7}`), true},
		{"mixed OR none", `{"detail":{"k":["exact",{"prefix":"pre"},{"numeric":[">",5]}]}}`, baseEvent(`{"k":"post"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatalf("CompilePattern(%s): %v", tt.pattern, err)
			}
			if got := p.MatchesJSON([]byte(tt.event)); got != tt.want {
				t.Errorf("pattern %s on %s = %v, want %v", tt.pattern, tt.event, got, tt.want)
			}
		})
	}
}

func TestPatternErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		reason  string
	}{
		{"not JSON", `{bad`, `Invalid JSON`},
		{"trailing data", `{"a":["b"]} x`, `Invalid JSON`},
		{"not an object", `["a"]`, `Filter is not an object`},
		{"scalar field", `{"source":"aws.s3"}`, `"source" must be an object or an array`},
		{"empty object", `{}`, `Empty objects are not allowed`},
		{"empty nested object", `{"detail":{}}`, `Empty objects are not allowed`},
		{"empty array", `{"source":[]}`, `Empty arrays are not allowed`},
		{"nested array", `{"source":[["a"]]}`, `Match value must be String, number, true, false, or null`},
		{"unknown match type", `{"source":[{"anything":"x"}]}`, `Unrecognized match type anything`},
		{"two keys", `{"source":[{"prefix":"a","suffix":"b"}]}`, `Only one key allowed in match expression`},
		{"empty match expression", `{"source":[{}]}`, `Match expression name not found`},
		{"prefix not string", `{"source":[{"prefix":1}]}`, `prefix match pattern must be a string`},
		{"suffix not string", `{"source":[{"suffix":["a"]}]}`, `suffix match pattern must be a string`},
		{"equals-ignore-case not string", `{"source":[{"equals-ignore-case":1}]}`, `equals-ignore-case match pattern must be a string`},
		{"wildcard not string", `{"source":[{"wildcard":1}]}`, `wildcard match pattern must be a string`},
		{"wildcard consecutive", `{"source":[{"wildcard":"a**b"}]}`, `Consecutive wildcard characters at pos 2`},
		{"exists not bool", `{"source":[{"exists":"yes"}]}`, `exists match pattern must be either true or false.`},
		{"numeric not array", `{"n":[{"numeric":5}]}`, `Value of numeric must be an array.`},
		{"numeric empty", `{"n":[{"numeric":[]}]}`, `Invalid member in numeric match: ]`},
		{"numeric bad operator", `{"n":[{"numeric":["!=",5]}]}`, `Unrecognized numeric range operator: !=`},
		{"numeric not numeric", `{"n":[{"numeric":["=","5"]}]}`, `Value of equals must be numeric`},
		{"numeric too many", `{"n":[{"numeric":["<",5,">",1]}]}`, `Too many elements in numeric expression`},
		{"numeric bad range operator", `{"n":[{"numeric":[">",1,">",5]}]}`, `Bad numeric range operator: >`},
		{"numeric bottom above top", `{"n":[{"numeric":[">",5,"<",1]}]}`, `Bottom must be less than top`},
		{"numeric too many terms", `{"n":[{"numeric":[">",1,"<",5,"=",3]}]}`, `Too many terms in numeric range expression`},
		{"anything-but bool", `{"s":[{"anything-but":true}]}`, `Value of anything-but must be an array or single string/number value.`},
		{"anything-but null in list", `{"s":[{"anything-but":["a",null]}]}`, `Inside anything but list, start|null|boolean is not supported.`},
		{"anything-but mixed list", `{"s":[{"anything-but":["a",1]}]}`, `Inside anything but list, either all values are number or string, mixed type is not supported`},
		{"anything-but unsupported", `{"s":[{"anything-but":{"numeric":[">",1]}}]}`, `Unsupported anything-but pattern: numeric`},
		{"anything-but empty prefix", `{"s":[{"anything-but":{"prefix":""}}]}`, `Null prefix/suffix not allowed`},
		{"anything-but prefix number", `{"s":[{"anything-but":{"prefix":1}}]}`, `prefix/suffix match pattern must be a string`},
		{"cidr malformed", `{"ip":[{"cidr":"10.0.0.0"}]}`, `Malformed CIDR, one '/' required`},
		{"cidr bad mask", `{"ip":[{"cidr":"10.0.0.0/x"}]}`, `Malformed CIDR, mask bits must be an integer`},
		{"cidr bad address", `{"ip":[{"cidr":"10.0.0.300/8"}]}`, `Nonstandard IP address: 10.0.0.300`},
		{"first problem reported", `{"a":"x","b":[]}`, `"a" must be an object or an array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompilePattern(tt.pattern)
			want := "Event pattern is not valid. Reason: " + tt.reason
			if err == nil || err.Error() != want {
				t.Errorf("CompilePattern(%s) = %v, want %q", tt.pattern, err, want)
			}
		})
	}
}

// TestTopologyPatterns matches the controller's own rules against the repository's golden
// events and variants of them, as they must match on AWS.
func TestTopologyPatterns(t *testing.T) {
	const bucket = "sfn-rollout-artifacts-000000000000"
	objectCreated := readEvent(t, "s3-object-created.json")
	withKey := func(key string) string { return setPath(t, objectCreated, key, "detail", "object", "key") }
	alarm := readEvent(t, "alarm-metric-ok-to-alarm.json")
	alarmOK := readEvent(t, "alarm-metric-alarm-to-ok.json")
	control := readEvent(t, "control-request-event.json")
	tests := []struct {
		name    string
		pattern map[string]any
		event   string
		want    bool
	}{
		{"definition upload", topology.ObjectCreatedPattern(bucket), withKey("orders/prod/x.asl.json"), true},
		{"policy upload", topology.ObjectCreatedPattern(bucket), withKey("orders/prod/rollout.json"), false},
		{"test input upload", topology.ObjectCreatedPattern(bucket), withKey("orders/prod/tests/a.json"), false},
		{"golden object created", topology.ObjectCreatedPattern(bucket), objectCreated, true},
		{"golden multipart", topology.ObjectCreatedPattern(bucket), readEvent(t, "s3-object-created-multipart.json"), true},
		{"other bucket", topology.ObjectCreatedPattern("other-bucket"), objectCreated, false},
		{"alarm event is not an upload", topology.ObjectCreatedPattern(bucket), alarm, false},
		{"alarm to ALARM", topology.AlarmStatePattern(), alarm, true},
		{"composite alarm to ALARM", topology.AlarmStatePattern(), readEvent(t, "alarm-composite-ok-to-alarm.json"), true},
		{"alarm to OK", topology.AlarmStatePattern(), alarmOK, false},
		{"control request", topology.ControlRequestPattern(), control, true},
		{"upload is not a control request", topology.ControlRequestPattern(), objectCreated, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			p, err := CompilePattern(string(b))
			if err != nil {
				t.Fatalf("CompilePattern(%s): %v", b, err)
			}
			if got := p.MatchesJSON([]byte(tt.event)); got != tt.want {
				t.Errorf("pattern %s = %v, want %v", b, got, tt.want)
			}
		})
	}
}

func readEvent(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setPath returns the event with the string at path set to value.
func setPath(t *testing.T, event, value string, path ...string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(event), &v); err != nil {
		t.Fatal(err)
	}
	m := v
	for _, p := range path[:len(path)-1] {
		m = m[p].(map[string]any)
	}
	m[path[len(path)-1]] = value
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
