package sfn

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

func tags(kv ...string) []sfntypes.Tag {
	var out []sfntypes.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, sfntypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func TestTags(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDef)
	listed := func() string {
		out := must[*awssfn.ListTagsForResourceOutput](t)(h.client.ListTagsForResource(ctx(), &awssfn.ListTagsForResourceInput{ResourceArn: aws.String(orders)}))
		var kv []string
		for _, tg := range out.Tags {
			kv = append(kv, *tg.Key+"="+*tg.Value)
		}
		return strings.Join(kv, ",")
	}
	fifty := make([]string, 0, 100)
	for i := 0; i < 49; i++ {
		fifty = append(fifty, fmt.Sprintf("k%d", i), "v")
	}
	pattern := `Member must satisfy regular expression pattern: ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`
	tests := []struct {
		name     string
		arn      string
		tags     []sfntypes.Tag
		untag    []string
		want     string // the tags listed after, "" to skip
		wantCode string
		wantMsg  string
	}{
		{name: "add two", arn: orders, tags: tags("team", "payments", "alarms", "a b"), want: "team=payments,alarms=a b"},
		{name: "replace a value", arn: orders, tags: tags("team", "orders"), want: "team=orders,alarms=a b"},
		{name: "allowed characters", arn: orders, tags: tags("sfn-rollout:policy", "s3://bucket/key=+-@._ é"), want: "team=orders,alarms=a b,sfn-rollout:policy=s3://bucket/key=+-@._ é"},
		{name: "an empty value", arn: orders, tags: tags("empty", ""), want: "team=orders,alarms=a b,sfn-rollout:policy=s3://bucket/key=+-@._ é,empty="},
		{name: "untag", arn: orders, untag: []string{"empty", "sfn-rollout:policy", "never"}, want: "team=orders,alarms=a b"},
		{name: "a comma in a value", arn: orders, tags: tags("alarms", "a,b"), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: " + pattern},
		{name: "an empty key", arn: orders, tags: tags("", "v"), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{name: "a key of 129", arn: orders, tags: tags(strings.Repeat("k", 129), "v"), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '" + strings.Repeat("k", 129) + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{name: "a value of 257", arn: orders, tags: tags("k", strings.Repeat("v", 257)), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '" + strings.Repeat("v", 257) + "' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{name: "a key of 128 and a value of 256", arn: orders, tags: tags(strings.Repeat("k", 128), strings.Repeat("v", 256))},
		{name: "more than 50 in all", arn: orders, tags: tags(fifty...), wantCode: "TooManyTags"},
		{name: "a missing state machine", arn: machineArn("nope"), tags: tags("a", "b"), wantCode: "ResourceNotFound",
			wantMsg: "Resource not found: '" + machineArn("nope") + "'"},
		{name: "untag a missing state machine", arn: machineArn("nope"), untag: []string{"a"}, wantCode: "ResourceNotFound",
			wantMsg: "Resource not found: '" + machineArn("nope") + "'"},
		{name: "a version ARN", arn: orders + ":1", tags: tags("a", "b"), wantCode: "ResourceNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.untag != nil {
				_, err = h.client.UntagResource(ctx(), &awssfn.UntagResourceInput{ResourceArn: aws.String(tt.arn), TagKeys: tt.untag})
			} else {
				_, err = h.client.TagResource(ctx(), &awssfn.TagResourceInput{ResourceArn: aws.String(tt.arn), Tags: tt.tags})
			}
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := listed(); tt.want != "" && got != tt.want {
				t.Errorf("tags %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("list on a missing state machine", func(t *testing.T) {
		_, err := h.client.ListTagsForResource(ctx(), &awssfn.ListTagsForResourceInput{ResourceArn: aws.String(machineArn("nope"))})
		wantAPIError(t, err, "ResourceNotFound", "Resource not found: '"+machineArn("nope")+"'")
	})
	t.Run("tags given at creation", func(t *testing.T) {
		h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{Name: aws.String("tagged"), Definition: aws.String(passDef), RoleArn: aws.String(testRole), Tags: tags("a", "1")})
		out := must[*awssfn.ListTagsForResourceOutput](t)(h.client.ListTagsForResource(ctx(), &awssfn.ListTagsForResourceInput{ResourceArn: aws.String(machineArn("tagged"))}))
		if len(out.Tags) != 1 || *out.Tags[0].Key != "a" {
			t.Errorf("tags %+v", out.Tags)
		}
	})
}

func TestValidateStateMachineDefinition(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name       string
		definition string
		severity   sfntypes.ValidateStateMachineDefinitionSeverity
		maxResults int32
		wantResult sfntypes.ValidateStateMachineDefinitionResultCode
		wantCodes  string
		truncated  bool
		wantErr    string
	}{
		{name: "a valid definition", definition: passDef, wantResult: "OK"},
		{name: "not JSON", definition: "{", wantResult: "FAIL", wantCodes: "INVALID_JSON_DESCRIPTION"},
		{name: "a missing Next target", definition: `{"StartAt":"a","States":{"a":{"Type":"Pass","Next":"b"}}}`, wantResult: "FAIL", wantCodes: "MISSING_TRANSITION_TARGET"},
		{name: "two problems, one shown", definition: `{"StartAt":"a","States":{"a":{"Type":"Pass","Next":"b"},"c":{"Type":"Pass","Next":"d"}}}`, maxResults: 1, wantResult: "FAIL", truncated: true},
		{name: "maxResults over 100", definition: passDef, maxResults: 101, wantErr: "ValidationException"},
		{name: "a JSONata definition", definition: `{"QueryLanguage":"JSONata","StartAt":"a","States":{"a":{"Type":"Pass","Output":"{% $states.input %}","End":true}}}`, wantResult: "OK"},
		{name: "a JSONPath field in a JSONata state", definition: `{"QueryLanguage":"JSONata","StartAt":"a","States":{"a":{"Type":"Pass","InputPath":"$.x","End":true}}}`, wantResult: "FAIL", wantCodes: "SCHEMA_VALIDATION_FAILED"},
		{name: "variables assigned and read", definition: `{"StartAt":"a","States":{"a":{"Type":"Pass","Assign":{"x":1},"Next":"b"},"b":{"Type":"Pass","Parameters":{"x.$":"$x"},"End":true}}}`, wantResult: "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.ValidateStateMachineDefinition(ctx(), &awssfn.ValidateStateMachineDefinitionInput{
				Definition: aws.String(tt.definition), Severity: tt.severity, MaxResults: tt.maxResults,
			})
			if tt.wantErr != "" {
				wantAPIError(t, err, tt.wantErr, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, d := range out.Diagnostics {
				codes = append(codes, *d.Code)
				if d.Severity != "ERROR" || d.Message == nil {
					t.Errorf("diagnostic %+v", d)
				}
			}
			if out.Result != tt.wantResult || aws.ToBool(out.Truncated) != tt.truncated {
				t.Errorf("result %s truncated %v, want %s %v", out.Result, aws.ToBool(out.Truncated), tt.wantResult, tt.truncated)
			}
			if tt.wantCodes != "" && (len(codes) == 0 || codes[0] != tt.wantCodes) {
				t.Errorf("codes %v, want %s first", codes, tt.wantCodes)
			}
			if tt.truncated && len(codes) != 1 {
				t.Errorf("want one diagnostic, got %v", codes)
			}
		})
	}
}
