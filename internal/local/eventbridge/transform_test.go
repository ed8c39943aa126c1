package eventbridge

import (
	"testing"
)

// TestRenderTemplate follows the examples of AWS's input transformation guide.
func TestRenderTemplate(t *testing.T) {
	event, err := decodeEvent([]byte(`{"time":"2015-11-11T21:29:54Z","detail":{"instance-id":"i-0123456789","state":"RUNNING","n":9,"o":{"a":[1,"x"]},"q":"say \"hi\""}}`))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]templateVar{}
	for name, path := range map[string]string{
		"instance": "$.detail.instance-id", "state": "$.detail.state", "n": "$.detail.n", "o": "$.detail.o",
		"q": "$.detail.q", "missing": "$.detail.nope", "second": "$.detail.o.a[1]", "all": "$.detail.o.a[*]",
	} {
		p, err := parseJSONPath(path)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := p.eval(event)
		vars[name] = templateVar{value: v, present: ok}
	}
	vars["aws.events.rule-name"] = templateVar{value: "example", present: true}
	tests := []struct {
		name     string
		template string
		want     string
	}{
		{"simple string", `"instance <instance> is in <state>"`, `"instance i-0123456789 is in RUNNING"`},
		{"string with escaped quotes", `"instance \"<instance>\" is in <state>"`, `"instance \"i-0123456789\" is in RUNNING"`},
		{"simple JSON", `{"instance" : <instance>, "state": <state>}`, `{"instance":"i-0123456789","state":"RUNNING"}`},
		{"JSON with strings and variables", `{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \"<instance>\" is in <state>"}`,
			`{"instance":"i-0123456789","state":"RUNNING","instanceStatus":"instance \"i-0123456789\" is in RUNNING"}`},
		{"JSON with static information", `{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}`,
			`{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}`},
		{"reserved variable in a string", `"<aws.events.rule-name> triggered"`, `"example triggered"`},
		{"number and object", `{"n": <n>, "o": <o>, "s": "<n>/<o>"}`, `{"n":9,"o":{"a":[1,"x"]},"s":"9/{\"a\":[1,\"x\"]}"}`},
		{"value with quotes stays valid JSON", `{"q": "<q>", "r": <q>}`, `{"q":"say \"hi\"","r":"say \"hi\""}`},
		{"missing path", `{"m": <missing>, "s": "<missing>!"}`, `{"m":null,"s":"!"}`},
		{"index and wildcard", `{"second": <second>, "all": <all>}`, `{"second":"x","all":[1,"x"]}`},
		{"undefined placeholder kept", `"<nope> and <state>"`, `"<nope> and RUNNING"`},
		{"bare text", `instance <instance>`, `"instance i-0123456789"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(asPayload(renderTemplate(tt.template, vars))); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseJSONPath(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		valid bool
	}{
		{"root", "$", true},
		{"dots", "$.detail.object.key", true},
		{"dashes and slashes", "$.detail.version-id/x", true},
		{"index", "$.resources[0]", true},
		{"quoted", "$['detail']['a b']", true},
		{"wildcard", "$.detail.*", true},
		{"no dollar", "detail.key", false},
		{"empty name", "$..key", false},
		{"bad index", "$.a[x]", false},
		{"unclosed", "$.a[0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseJSONPath(tt.path); (err == nil) != tt.valid {
				t.Errorf("parseJSONPath(%q) = %v, want valid %v", tt.path, err, tt.valid)
			}
		})
	}
}
