package eventbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

const (
	fnArn = "arn:aws:lambda:us-east-1:000000000000:function:advance"
	smArn = "arn:aws:states:us-east-1:000000000000:stateMachine:controller"
)

func TestErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustPutRule(t, f, "with-targets", `{"source":["x"]}`)
	mustPutTargets(t, f, "with-targets", types.Target{Id: aws.String("t1"), Arn: aws.String(fnArn)})
	mustPutRule(t, f, "full", `{"source":["x"]}`)
	for i := range 5 {
		mustPutTargets(t, f, "full", types.Target{Id: aws.String(fmt.Sprint("t", i)), Arn: aws.String(fnArn)})
	}
	if _, err := f.client.CreateEventBus(ctx, &ebsdk.CreateEventBusInput{Name: aws.String("custom")}); err != nil {
		t.Fatal(err)
	}
	tooMany := make([]types.PutEventsRequestEntry, 11)
	for i := range tooMany {
		tooMany[i] = types.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String("{}")}
	}

	tests := []struct {
		name     string
		call     func(c *ebsdk.Client) error
		wantCode string
		wantMsg  string
	}{
		{
			name: "describe missing rule",
			call: func(c *ebsdk.Client) error {
				_, err := c.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("nope")})
				return err
			},
			wantCode: "ResourceNotFoundException", wantMsg: "Rule nope does not exist on EventBus default.",
		},
		{
			name: "describe rule on missing bus",
			call: func(c *ebsdk.Client) error {
				_, err := c.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("r"), EventBusName: aws.String("nope")})
				return err
			},
			wantCode: "ResourceNotFoundException", wantMsg: "Event bus nope does not exist.",
		},
		{
			name: "describe rule on custom bus",
			call: func(c *ebsdk.Client) error {
				_, err := c.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("full"), EventBusName: aws.String("custom")})
				return err
			},
			wantCode: "ResourceNotFoundException", wantMsg: "Rule full does not exist on EventBus custom.",
		},
		{
			name: "pattern not JSON",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{bad`)})
				return err
			},
			wantCode: "InvalidEventPatternException", wantMsg: "Event pattern is not valid. Reason: Invalid JSON",
		},
		{
			name: "pattern scalar field",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":"aws.s3"}`)})
				return err
			},
			wantCode: "InvalidEventPatternException", wantMsg: `Event pattern is not valid. Reason: "source" must be an object or an array`,
		},
		{
			name: "pattern unknown operator",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":[{"startsWith":"a"}]}`)})
				return err
			},
			wantCode: "InvalidEventPatternException", wantMsg: "Event pattern is not valid. Reason: Unrecognized match type startsWith",
		},
		{
			name: "rule without pattern or schedule",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("r")})
				return err
			},
			wantCode: "ValidationException", wantMsg: "Parameter(s) EventPattern or ScheduleExpression must be specified.",
		},
		{
			name: "schedule rule refused",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("r"), ScheduleExpression: aws.String("rate(1 minute)")})
				return err
			},
			wantCode: "ValidationException", wantMsg: "sfn-rollout local does not run EventBridge rules with a ScheduleExpression; use EventBridge Scheduler (CreateSchedule) instead",
		},
		{
			name: "rule name pattern",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("a b"), EventPattern: aws.String(`{"source":["x"]}`)})
				return err
			},
			wantCode: "ValidationException", wantMsg: `1 validation error detected: Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+`,
		},
		{
			name: "rule state enum",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutRule(ctx, &ebsdk.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["x"]}`), State: "ON"})
				return err
			},
			wantCode: "ValidationException", wantMsg: "1 validation error detected: Value 'ON' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]",
		},
		{
			name: "delete rule with targets",
			call: func(c *ebsdk.Client) error {
				_, err := c.DeleteRule(ctx, &ebsdk.DeleteRuleInput{Name: aws.String("with-targets")})
				return err
			},
			wantCode: "ValidationException", wantMsg: "Rule can't be deleted since it has targets.",
		},
		{
			name: "enable missing rule",
			call: func(c *ebsdk.Client) error {
				_, err := c.EnableRule(ctx, &ebsdk.EnableRuleInput{Name: aws.String("nope")})
				return err
			},
			wantCode: "ResourceNotFoundException", wantMsg: "Rule nope does not exist on EventBus default.",
		},
		{
			name: "targets of missing rule",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutTargets(ctx, &ebsdk.PutTargetsInput{Rule: aws.String("nope"), Targets: []types.Target{{Id: aws.String("t"), Arn: aws.String(fnArn)}}})
				return err
			},
			wantCode: "ResourceNotFoundException", wantMsg: "Rule nope does not exist on EventBus default.",
		},
		{
			name: "target with two inputs",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutTargets(ctx, &ebsdk.PutTargetsInput{Rule: aws.String("with-targets"), Targets: []types.Target{
					{Id: aws.String("t2"), Arn: aws.String(fnArn), Input: aws.String("{}"), InputPath: aws.String("$.detail")},
				}})
				return err
			},
			wantCode: "ValidationException", wantMsg: "Only one of Input, InputPath, or InputTransformer must be provided for target t2.",
		},
		{
			name: "target id pattern",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutTargets(ctx, &ebsdk.PutTargetsInput{Rule: aws.String("with-targets"), Targets: []types.Target{
					{Id: aws.String("ok"), Arn: aws.String(fnArn)}, {Id: aws.String("not ok"), Arn: aws.String(fnArn)},
				}})
				return err
			},
			wantCode: "ValidationException", wantMsg: `1 validation error detected: Value 'not ok' at 'targets.2.member.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+`,
		},
		{
			name: "sixth target",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutTargets(ctx, &ebsdk.PutTargetsInput{Rule: aws.String("full"), Targets: []types.Target{{Id: aws.String("t5"), Arn: aws.String(fnArn)}}})
				return err
			},
			wantCode: "LimitExceededException", wantMsg: "The requested resource exceeds the maximum number allowed.",
		},
		{
			name: "eleven events",
			call: func(c *ebsdk.Client) error {
				_, err := c.PutEvents(ctx, &ebsdk.PutEventsInput{Entries: tooMany})
				return err
			},
			wantCode: "ValidationException", wantMsg: "1 validation error detected: Value '[11 entries]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10",
		},
		{
			name: "events over 256 KB",
			call: func(c *ebsdk.Client) error {
				big := `{"a":"` + strings.Repeat("x", 256*1024) + `"}`
				_, err := c.PutEvents(ctx, &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String(big)}}})
				return err
			},
			wantCode: "ValidationException", wantMsg: "Total size of the entries in the request is over the limit.",
		},
		{
			name: "test pattern on an invalid event",
			call: func(c *ebsdk.Client) error {
				_, err := c.TestEventPattern(ctx, &ebsdk.TestEventPatternInput{EventPattern: aws.String(`{"source":["x"]}`), Event: aws.String(`{"source":"x"}`)})
				return err
			},
			wantCode: "ValidationException", wantMsg: "Parameter Event is not valid.",
		},
		{
			name: "test pattern invalid",
			call: func(c *ebsdk.Client) error {
				_, err := c.TestEventPattern(ctx, &ebsdk.TestEventPatternInput{EventPattern: aws.String(`{"source":[]}`), Event: aws.String(baseEvent(`{}`))})
				return err
			},
			wantCode: "InvalidEventPatternException", wantMsg: "Event pattern is not valid. Reason: Empty arrays are not allowed",
		},
		{
			name: "create existing bus",
			call: func(c *ebsdk.Client) error {
				_, err := c.CreateEventBus(ctx, &ebsdk.CreateEventBusInput{Name: aws.String("custom")})
				return err
			},
			wantCode: "ResourceAlreadyExistsException", wantMsg: "Event bus custom already exists.",
		},
		{
			name: "delete default bus",
			call: func(c *ebsdk.Client) error {
				_, err := c.DeleteEventBus(ctx, &ebsdk.DeleteEventBusInput{Name: aws.String("default")})
				return err
			},
			wantCode: "ValidationException", wantMsg: "Cannot delete event bus default.",
		},
		{
			name: "describe missing bus",
			call: func(c *ebsdk.Client) error {
				_, err := c.DescribeEventBus(ctx, &ebsdk.DescribeEventBusInput{Name: aws.String("nope")})
				return err
			},
			wantCode: "ResourceNotFoundException", wantMsg: "Event bus nope does not exist.",
		},
		{
			name: "unsupported operation",
			call: func(c *ebsdk.Client) error {
				_, err := c.ListArchives(ctx, &ebsdk.ListArchivesInput{})
				return err
			},
			wantCode: "UnknownOperationException", wantMsg: "sfn-rollout local does not support EventBridge ListArchives",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := apiError(tt.call(f.client))
			if code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("got %s %q, want %s %q", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t)
	f.faults.Set([]core.Fault{{Service: "events", Operation: "PutEvents", Code: "ThrottlingException", Rate: 1}})
	_, err := f.client.PutEvents(context.Background(), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String("{}")},
	}})
	if code, msg := apiError(err); code != "ThrottlingException" || msg != "Rate exceeded" {
		t.Errorf("PutEvents = %s %q, want ThrottlingException %q", code, msg, "Rate exceeded")
	}
	if _, err := f.client.ListRules(context.Background(), &ebsdk.ListRulesInput{}); err != nil {
		t.Errorf("ListRules has no fault, got %v", err)
	}
}

func TestRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	out, err := f.client.PutRule(ctx, &ebsdk.PutRuleInput{
		Name: aws.String("uploads"), EventPattern: aws.String(`{"source":["aws.s3"]}`), Description: aws.String("d"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.RuleArn), "arn:aws:events:us-east-1:000000000000:rule/uploads"; got != want {
		t.Errorf("RuleArn = %s, want %s", got, want)
	}
	desc, err := f.client.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("uploads")})
	if err != nil {
		t.Fatal(err)
	}
	if desc.State != types.RuleStateEnabled || aws.ToString(desc.EventPattern) != `{"source":["aws.s3"]}` ||
		aws.ToString(desc.EventBusName) != "default" || aws.ToString(desc.Description) != "d" {
		t.Errorf("DescribeRule = %+v", desc)
	}

	if _, err := f.client.DisableRule(ctx, &ebsdk.DisableRuleInput{Name: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	desc, _ = f.client.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("uploads")})
	if desc.State != types.RuleStateDisabled {
		t.Errorf("after DisableRule, State = %s", desc.State)
	}
	// PutRule without State keeps the rule's state.
	mustPutRule(t, f, "uploads", `{"source":["aws.s3"],"detail-type":["Object Created"]}`)
	desc, _ = f.client.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("uploads")})
	if desc.State != types.RuleStateDisabled || !strings.Contains(aws.ToString(desc.EventPattern), "Object Created") {
		t.Errorf("after PutRule, rule = %+v", desc)
	}

	if _, err := f.client.CreateEventBus(ctx, &ebsdk.CreateEventBusInput{Name: aws.String("rollouts")}); err != nil {
		t.Fatal(err)
	}
	out, err = f.client.PutRule(ctx, &ebsdk.PutRuleInput{
		Name: aws.String("uploads"), EventPattern: aws.String(`{"source":["x"]}`),
		EventBusName: aws.String("arn:aws:events:us-east-1:000000000000:event-bus/rollouts"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.RuleArn), "arn:aws:events:us-east-1:000000000000:rule/rollouts/uploads"; got != want {
		t.Errorf("RuleArn on a custom bus = %s, want %s", got, want)
	}

	for _, name := range []string{"r-c", "r-a", "r-e", "r-b", "r-d", "other"} {
		mustPutRule(t, f, name, `{"source":["x"]}`)
	}
	var names []string
	var token *string
	pages := 0
	for {
		page, err := f.client.ListRules(ctx, &ebsdk.ListRulesInput{NamePrefix: aws.String("r-"), Limit: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Rules {
			names = append(names, aws.ToString(r.Name))
		}
		if page.NextToken == nil {
			break
		}
		token = page.NextToken
	}
	if got := strings.Join(names, ","); got != "r-a,r-b,r-c,r-d,r-e" || pages != 3 {
		t.Errorf("ListRules pages = %d, names %s", pages, got)
	}

	if _, err := f.client.DeleteRule(ctx, &ebsdk.DeleteRuleInput{Name: aws.String("never-existed")}); err != nil {
		t.Errorf("DeleteRule of a missing rule = %v, want success", err)
	}
	mustPutTargets(t, f, "r-a", types.Target{Id: aws.String("t"), Arn: aws.String(fnArn)})
	if _, err := f.client.RemoveTargets(ctx, &ebsdk.RemoveTargetsInput{Rule: aws.String("r-a"), Ids: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DeleteRule(ctx, &ebsdk.DeleteRuleInput{Name: aws.String("r-a")}); err != nil {
		t.Errorf("DeleteRule after RemoveTargets = %v", err)
	}
	if _, err := f.client.DescribeRule(ctx, &ebsdk.DescribeRuleInput{Name: aws.String("r-a")}); err == nil {
		t.Error("the deleted rule is still described")
	}
}

func TestTargets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustPutRule(t, f, "r", `{"source":["x"]}`)
	out, err := f.client.PutTargets(ctx, &ebsdk.PutTargetsInput{Rule: aws.String("r"), Targets: []types.Target{
		{
			Id: aws.String("fn"), Arn: aws.String(fnArn), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
			RetryPolicy:      &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(3), MaximumEventAgeInSeconds: aws.Int32(120)},
			DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:dlq")},
			InputTransformer: &types.InputTransformer{InputPathsMap: map[string]string{"s": "$.detail.s"}, InputTemplate: aws.String(`{"s":<s>}`)},
		},
		{Id: aws.String("sm"), Arn: aws.String(smArn), InputPath: aws.String("$.detail")},
		{Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:q")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 1 || len(out.FailedEntries) != 1 || aws.ToString(out.FailedEntries[0].TargetId) != "queue" ||
		aws.ToString(out.FailedEntries[0].ErrorCode) != "ValidationException" {
		t.Errorf("PutTargets = %d failed: %+v", out.FailedEntryCount, out.FailedEntries)
	}
	list, err := f.client.ListTargetsByRule(ctx, &ebsdk.ListTargetsByRuleInput{Rule: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Targets) != 2 {
		t.Fatalf("ListTargetsByRule = %d targets, want 2", len(list.Targets))
	}
	fn := list.Targets[0]
	if aws.ToString(fn.Id) != "fn" || aws.ToInt32(fn.RetryPolicy.MaximumRetryAttempts) != 3 ||
		aws.ToString(fn.DeadLetterConfig.Arn) != "arn:aws:sqs:us-east-1:000000000000:dlq" ||
		aws.ToString(fn.InputTransformer.InputTemplate) != `{"s":<s>}` || fn.InputTransformer.InputPathsMap["s"] != "$.detail.s" {
		t.Errorf("target fn = %+v", fn)
	}
	if aws.ToString(list.Targets[1].InputPath) != "$.detail" {
		t.Errorf("target sm = %+v", list.Targets[1])
	}
	names, err := f.client.ListRuleNamesByTarget(ctx, &ebsdk.ListRuleNamesByTargetInput{TargetArn: aws.String(smArn)})
	if err != nil || len(names.RuleNames) != 1 || names.RuleNames[0] != "r" {
		t.Errorf("ListRuleNamesByTarget = %v, %v", names, err)
	}
}

func TestPutEventsEntries(t *testing.T) {
	f := newFixture(t)
	entry := func(source, detailType, detail string) types.PutEventsRequestEntry {
		e := types.PutEventsRequestEntry{}
		if source != "" {
			e.Source = aws.String(source)
		}
		if detailType != "" {
			e.DetailType = aws.String(detailType)
		}
		if detail != "" {
			e.Detail = aws.String(detail)
		}
		return e
	}
	unknownBus := entry("app", "d", "{}")
	unknownBus.EventBusName = aws.String("nope")
	out, err := f.client.PutEvents(context.Background(), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		entry("app", "Thing Happened", `{"a":1}`),
		entry("", "d", "{}"),
		entry("app", "", "{}"),
		entry("app", "d", ""),
		entry("app", "d", `{"a":`),
		entry("app", "d", `[1,2]`),
		entry("aws.cloudwatch", "CloudWatch Alarm State Change", `{}`),
		unknownBus,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ code, msg string }{
		{"", ""},
		{"InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."},
		{"InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."},
		{"InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."},
		{"MalformedDetail", "Detail is malformed."},
		{"MalformedDetail", "Detail is malformed."},
		{"NotAuthorizedForSourceException", "Not authorized for the source."},
		{"ResourceNotFoundException", "Event bus nope does not exist."},
	}
	if out.FailedEntryCount != int32(len(want)-1) || len(out.Entries) != len(want) {
		t.Fatalf("FailedEntryCount = %d, entries %d", out.FailedEntryCount, len(out.Entries))
	}
	if !uuidPattern.MatchString(aws.ToString(out.Entries[0].EventId)) {
		t.Errorf("EventId = %q, want a UUID", aws.ToString(out.Entries[0].EventId))
	}
	for i, w := range want[1:] {
		e := out.Entries[i+1]
		if aws.ToString(e.ErrorCode) != w.code || aws.ToString(e.ErrorMessage) != w.msg || e.EventId != nil {
			t.Errorf("entry %d = %s %q (id %v), want %s %q", i+1, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage), e.EventId, w.code, w.msg)
		}
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestTestEventPattern(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		pattern string
		event   string
		want    bool
	}{
		{"prefix on detail", `{"detail":{"k":[{"prefix":"orders/"}]}}`, baseEvent(`{"k":"orders/prod"}`), true},
		{"numeric on detail", `{"detail":{"n":[{"numeric":[">",10]}]}}`, baseEvent(`{"n":5}`), false},
		{"alarm event", `{"source":["aws.cloudwatch"],"detail":{"state":{"value":["ALARM"]}}}`, readEvent(t, "alarm-metric-ok-to-alarm.json"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.TestEventPattern(context.Background(), &ebsdk.TestEventPatternInput{
				EventPattern: aws.String(tt.pattern), Event: aws.String(tt.event),
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.Result != tt.want {
				t.Errorf("Result = %v, want %v", out.Result, tt.want)
			}
		})
	}
}

// TestDelivery sends one event through rules whose targets take it whole, as Input,
// InputPath and InputTransformer, to a Lambda function and a state machine.
func TestDelivery(t *testing.T) {
	const detail = `{"instance":"i-0123","state":"RUNNING","n":7,"tags":["a","b"],"nested":{"k":"v"}}`
	tests := []struct {
		name   string
		target types.Target
		want   string // the payload; "" means the whole event
	}{
		{"whole event", types.Target{Arn: aws.String(fnArn)}, ""},
		{"input", types.Target{Arn: aws.String(fnArn), Input: aws.String(`{ "fixed": true }`)}, `{"fixed":true}`},
		{"input path", types.Target{Arn: aws.String(fnArn), InputPath: aws.String("$.detail.nested")}, `{"k":"v"}`},
		{"input path index", types.Target{Arn: aws.String(fnArn), InputPath: aws.String("$.detail.tags[1]")}, `"b"`},
		{"input path missing", types.Target{Arn: aws.String(fnArn), InputPath: aws.String("$.detail.nope")}, `null`},
		{"transformer JSON", types.Target{Arn: aws.String(fnArn), InputTransformer: &types.InputTransformer{
			InputPathsMap: map[string]string{"instance": "$.detail.instance", "state": "$.detail.state", "n": "$.detail.n", "nested": "$.detail.nested"},
			InputTemplate: aws.String(`{"instance": <instance>, "state": [9, <state>, true], "n": <n>, "nested": <nested>, "msg": "instance \"<instance>\" is in <state>"}`),
		}}, `{"instance":"i-0123","state":[9,"RUNNING",true],"n":7,"nested":{"k":"v"},"msg":"instance \"i-0123\" is in RUNNING"}`},
		{"transformer string", types.Target{Arn: aws.String(fnArn), InputTransformer: &types.InputTransformer{
			InputPathsMap: map[string]string{"instance": "$.detail.instance", "state": "$.detail.state"},
			InputTemplate: aws.String(`"instance <instance> is in <state>"`),
		}}, `"instance i-0123 is in RUNNING"`},
		{"transformer predefined", types.Target{Arn: aws.String(fnArn), InputTransformer: &types.InputTransformer{
			InputTemplate: aws.String(`{"rule": <aws.events.rule-name>, "arn": "<aws.events.rule-arn>"}`),
		}}, `{"rule":"deliver","arn":"arn:aws:events:us-east-1:000000000000:rule/deliver"}`},
		{"transformer missing path", types.Target{Arn: aws.String(fnArn), InputTransformer: &types.InputTransformer{
			InputPathsMap: map[string]string{"x": "$.detail.nope"},
			InputTemplate: aws.String(`{"x": <x>, "y": "<x>"}`),
		}}, `{"x":null,"y":""}`},
		{"state machine", types.Target{Arn: aws.String(smArn), InputPath: aws.String("$.detail.nested")}, `{"k":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			mustPutRule(t, f, "deliver", `{"source":["app"],"detail":{"state":["RUNNING"]}}`)
			tt.target.Id = aws.String("t")
			mustPutTargets(t, f, "deliver", tt.target)
			before := f.clock.Now().Truncate(time.Second)
			out, err := f.client.PutEvents(ctx, &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{
				{Source: aws.String("app"), DetailType: aws.String("Instance State"), Detail: aws.String(detail), Resources: []string{"arn:r"}},
				{Source: aws.String("app"), DetailType: aws.String("Instance State"), Detail: aws.String(`{"state":"STOPPED"}`)},
			}})
			if err != nil || out.FailedEntryCount != 0 {
				t.Fatalf("PutEvents = %+v, %v", out, err)
			}
			calls := f.functions.calls
			if aws.ToString(tt.target.Arn) == smArn {
				calls = f.executions.calls
			}
			got := waitCall(t, calls)
			if got.target != aws.ToString(tt.target.Arn) {
				t.Errorf("delivered to %s", got.target)
			}
			if calls == f.executions.calls && !uuidPattern.MatchString(got.name) {
				t.Errorf("execution name %q is not a UUID", got.name)
			}
			if tt.want != "" {
				if got.payload != tt.want {
					t.Errorf("payload = %s\nwant      %s", got.payload, tt.want)
				}
			} else {
				checkEnvelope(t, got.payload, aws.ToString(out.Entries[0].EventId), detail, before)
			}
			noCall(t, f, calls)
		})
	}
}

func checkEnvelope(t *testing.T, payload, id, detail string, notBefore time.Time) {
	t.Helper()
	var ev struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	if ev.Version != "0" || ev.ID != id || ev.DetailType != "Instance State" || ev.Source != "app" ||
		ev.Account != core.Account || ev.Region != core.Region || len(ev.Resources) != 1 || string(ev.Detail) != detail {
		t.Errorf("envelope = %s", payload)
	}
	at, err := time.Parse(time.RFC3339, ev.Time)
	if err != nil || at.Before(notBefore) || !strings.HasSuffix(ev.Time, "Z") {
		t.Errorf("time = %q (%v), want RFC3339 UTC from the virtual clock, not before %s", ev.Time, err, notBefore)
	}
	if !strings.HasPrefix(payload, `{"version":"0","id":`) {
		t.Errorf("envelope members are not in AWS's order: %s", payload)
	}
}

func TestDisabledRuleDeliversNothing(t *testing.T) {
	f := newFixture(t)
	mustPutRule(t, f, "r", `{"source":["app"]}`)
	mustPutTargets(t, f, "r", types.Target{Id: aws.String("t"), Arn: aws.String(fnArn)})
	if _, err := f.client.DisableRule(context.Background(), &ebsdk.DisableRuleInput{Name: aws.String("r")}); err != nil {
		t.Fatal(err)
	}
	putEvent(t, f, "app", `{}`)
	noCall(t, f, f.functions.calls)
}

func TestRetries(t *testing.T) {
	throttled := &core.APIError{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400}
	missing := &core.APIError{Code: "StateMachineDoesNotExist", Message: "State Machine Does Not Exist: 'x'", Status: 400}
	tests := []struct {
		name       string
		arn        string
		policy     *types.RetryPolicy
		fail       []error
		wantCalls  int
		wantReport string // "" when the delivery succeeds in the end
	}{
		{"succeeds after two failures", fnArn, nil, []error{fmt.Errorf("boom"), fmt.Errorf("boom")}, 3, ""},
		{"default gives up after three attempts", fnArn, nil, []error{fmt.Errorf("boom"), fmt.Errorf("boom"), fmt.Errorf("boom")}, 3,
			"eventbridge: rule r: delivery to target t (" + fnArn + ") failed after 3 attempt(s): boom"},
		{"policy without retries", fnArn, &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(0)}, []error{fmt.Errorf("boom")}, 1,
			"eventbridge: rule r: delivery to target t (" + fnArn + ") failed after 1 attempt(s): boom"},
		{"throttling is retried", smArn, nil, []error{throttled}, 2, ""},
		// The alarm rule's policy as the stack sets it: 20 retries within the hour, so a
		// target that fails 20 times is still reached, on the virtual clock.
		{"the rollback policy reaches a target on its 21st attempt", fnArn, policyOf(topology.RollbackDelivery), repeat(fmt.Errorf("boom"), 20), 21, ""},
		{"the rollback policy gives up after its 20 retries", fnArn, policyOf(topology.RollbackDelivery), repeat(fmt.Errorf("boom"), 21), 21,
			"eventbridge: rule r: delivery to target t (" + fnArn + ") failed after 21 attempt(s): boom"},
		{"client error is not retried", smArn, nil, []error{missing, missing}, 1,
			"eventbridge: rule r: delivery to target t (" + smArn + ") failed after 1 attempt(s): StateMachineDoesNotExist: State Machine Does Not Exist: 'x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.functions.fail = tt.fail
			f.executions.fail = tt.fail
			mustPutRule(t, f, "r", `{"source":["app"]}`)
			mustPutTargets(t, f, "r", types.Target{Id: aws.String("t"), Arn: aws.String(tt.arn), RetryPolicy: tt.policy})
			putEvent(t, f, "app", `{}`)
			calls := f.functions.calls
			if tt.arn == smArn {
				calls = f.executions.calls
			}
			var names []string
			for range tt.wantCalls {
				names = append(names, waitCall(t, calls).name)
			}
			noCall(t, f, calls)
			if tt.arn == smArn && len(names) > 1 && names[0] != names[1] {
				t.Errorf("retries used execution names %v, want one name", names)
			}
			f.reports.mu.Lock()
			lines := f.reports.lines
			f.reports.mu.Unlock()
			if tt.wantReport == "" && len(lines) != 0 {
				t.Errorf("reported %q, want nothing", lines)
			}
			if tt.wantReport != "" && (len(lines) != 1 || lines[0] != tt.wantReport) {
				t.Errorf("reported %q, want %q", lines, tt.wantReport)
			}
		})
	}
}

func policyOf(p topology.RetryPolicy) *types.RetryPolicy {
	return &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(int32(p.MaximumRetryAttempts)), MaximumEventAgeInSeconds: aws.Int32(int32(p.MaximumEventAgeInSeconds()))}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// A delivery whose next retry would come after the event's MaximumEventAgeInSeconds is
// given up, reported and counted, although retries are left. With backoffs of 1, 2, 4, 8,
// 16 and 32 virtual seconds, an event of at most 60 seconds gets six attempts at most.
func TestRetriesStopAtTheEventAge(t *testing.T) {
	f := newFixture(t)
	f.functions.fail = repeat(fmt.Errorf("boom"), 100)
	mustPutRule(t, f, "r", `{"source":["app"]}`)
	mustPutTargets(t, f, "r", types.Target{Id: aws.String("t"), Arn: aws.String(fnArn),
		RetryPolicy: &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(185), MaximumEventAgeInSeconds: aws.Int32(60)}})
	putEvent(t, f, "app", `{}`)
	waitCall(t, f.functions.calls)
	f.svc.deliveries.Wait()
	if n := 1 + len(drainCalls(f.functions.calls)); n < 2 || n > 6 {
		t.Errorf("%d attempts, want 2 to 6 within 60 seconds of backoff", n)
	}
	f.reports.mu.Lock()
	lines := f.reports.lines
	f.reports.mu.Unlock()
	if len(lines) != 1 || !strings.Contains(lines[0], "the next retry would pass the event's MaximumEventAgeInSeconds of 60") {
		t.Errorf("reported %q", lines)
	}
	if f.svc.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", f.svc.Dropped())
	}
}

func drainCalls(ch chan call) []call {
	var out []call
	for {
		select {
		case c := <-ch:
			out = append(out, c)
		default:
			return out
		}
	}
}

// TestEmit routes the other services' events (S3's Object Created here) through the
// controller's own rule, and never waits for a target.
func TestEmit(t *testing.T) {
	f := newFixture(t)
	f.functions.block = make(chan struct{})
	b, _ := json.Marshal(map[string]any{
		"source": []string{"aws.s3"}, "detail-type": []string{"Object Created"},
		"detail": map[string]any{"object": map[string]any{"key": []any{map[string]string{"suffix": ".asl.json"}}}},
	})
	mustPutRule(t, f, "uploads", string(b))
	mustPutTargets(t, f, "uploads", types.Target{Id: aws.String("prepare"), Arn: aws.String(fnArn)})
	ctx := context.Background()
	emit := func(key string) error {
		return f.svc.Emit(ctx, core.Event{
			Source: "aws.s3", DetailType: "Object Created", Resources: []string{"arn:aws:s3:::bucket"},
			Detail: json.RawMessage(`{"bucket":{"name":"bucket"},"object":{"key":"` + key + `"}}`),
		})
	}
	if err := emit("orders/prod/x.asl.json"); err != nil {
		t.Fatal(err)
	}
	if err := emit("orders/prod/rollout.json"); err != nil {
		t.Fatal(err)
	}
	close(f.functions.block) // Emit returned while the target was blocked
	got := waitCall(t, f.functions.calls)
	if !strings.Contains(got.payload, `"key":"orders/prod/x.asl.json"`) || !strings.Contains(got.payload, `"source":"aws.s3"`) {
		t.Errorf("payload = %s", got.payload)
	}
	noCall(t, f, f.functions.calls)

	if err := f.svc.Emit(ctx, core.Event{Source: "aws.s3", DetailType: "x", Detail: json.RawMessage(`[1]`)}); err == nil {
		t.Error("Emit of a detail that is not an object succeeded")
	}
}

func mustPutRule(t testing.TB, f *fixture, name, pattern string) {
	t.Helper()
	if _, err := f.client.PutRule(context.Background(), &ebsdk.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
}

func mustPutTargets(t testing.TB, f *fixture, rule string, targets ...types.Target) {
	t.Helper()
	out, err := f.client.PutTargets(context.Background(), &ebsdk.PutTargetsInput{Rule: aws.String(rule), Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("PutTargets failed entries: %+v", out.FailedEntries)
	}
}

func putEvent(t testing.TB, f *fixture, source, detail string) {
	t.Helper()
	out, err := f.client.PutEvents(context.Background(), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String(source), DetailType: aws.String("d"), Detail: aws.String(detail)},
	}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents = %+v, %v", out, err)
	}
}

// With quotas in force PutEvents has a bucket; a call over it is answered ThrottlingException,
// which the SDK's retryer takes for throttling.
func TestPutEventsQuota(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	quotas := core.NewQuotas(core.NewClockOn(1, func() time.Time { return at }),
		[]core.Quota{{Service: "events", Operation: "PutEvents", Burst: 3, Rate: 3}})
	svc := New(Options{Clock: core.NewClock(1000), Functions: newFakeFunctions(), Executions: newFakeExecutions(), Quotas: quotas})
	srv := httptest.NewServer(svc)
	t.Cleanup(func() { srv.Close(); _ = svc.Close() })
	client := ebsdk.New(ebsdk.Options{Region: core.Region, Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1})
	put := func() error {
		_, err := client.PutEvents(context.Background(), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{
			{Source: aws.String("app"), DetailType: aws.String("t"), Detail: aws.String(`{}`)}}})
		return err
	}
	for i := range 3 {
		if err := put(); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := put()
	if code, msg := apiError(err); code != "ThrottlingException" || msg != "Rate exceeded" {
		t.Fatalf("over the burst: %v, want ThrottlingException", err)
	}
	if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		t.Errorf("the SDK does not see %v as throttling", err)
	}
	if _, err := client.ListRules(context.Background(), &ebsdk.ListRulesInput{}); err != nil {
		t.Errorf("an operation without a bucket: %v", err)
	}
	if err := quotas.SetMode(core.QuotasOff); err != nil {
		t.Fatal(err)
	}
	if err := put(); err != nil {
		t.Errorf("with quotas off: %v", err)
	}
}
