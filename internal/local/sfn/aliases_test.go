package sfn

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// aliasFixture is orders with versions 1–3 and a second state machine, billing, with one.
func aliasFixture(t *testing.T) *harness {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(0))
	for i := 1; i <= 3; i++ {
		h.publish(t, orders, passDefN(i))
	}
	h.machine(t, "billing", passDefN(0))
	h.publish(t, machineArn("billing"), passDefN(1))
	return h
}

func TestCreateStateMachineAliasValidation(t *testing.T) {
	h := aliasFixture(t)
	v1, v2, v3 := orders+":1", orders+":2", orders+":3"
	long := strings.Repeat("a", 81)
	item := func(arn string, w int) string {
		return fmt.Sprintf("RoutingConfigurationListItem(stateMachineVersionArn=%s, weight=%d)", arn, w)
	}
	tests := []struct {
		name     string
		alias    string
		routes   []sfntypes.RoutingConfigurationListItem
		wantCode string
		wantMsg  string
	}{
		{name: "name of digits only", alias: "123", routes: routing(v1, 100), wantCode: "ValidationException",
			wantMsg: `1 validation error detected: Value '123' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$`},
		{name: "name with a space", alias: "my prod", routes: routing(v1, 100), wantCode: "ValidationException",
			wantMsg: `1 validation error detected: Value 'my prod' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$`},
		{name: "name longer than 80", alias: long, routes: routing(v1, 100), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '" + long + "' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80"},
		{name: "three routing entries", alias: "prod", routes: routing(v1, 50, v2, 25, v3, 25), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '[" + item(v1, 50) + ", " + item(v2, 25) + ", " + item(v3, 25) + "]' at 'routingConfiguration' failed to satisfy constraint: Member must have length less than or equal to 2"},
		{name: "no routing entries", alias: "prod", routes: []sfntypes.RoutingConfigurationListItem{}, wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '[]' at 'routingConfiguration' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{name: "weight over 100", alias: "prod", routes: routing(v1, 101), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '101' at 'routingConfiguration.1.member.weight' failed to satisfy constraint: Member must have value less than or equal to 100"},
		{name: "negative weight", alias: "prod", routes: routing(v1, 100, v2, -1), wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '-1' at 'routingConfiguration.2.member.weight' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{name: "two violations at once", alias: "1", routes: routing(v1, 101), wantCode: "ValidationException",
			wantMsg: `2 validation errors detected: Value '1' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$; Value '101' at 'routingConfiguration.1.member.weight' failed to satisfy constraint: Member must have value less than or equal to 100`},
		{name: "weights that do not sum to 100", alias: "prod", routes: routing(v1, 70, v2, 29), wantCode: "ValidationException",
			wantMsg: "Sum of routing configuration weights must equal 100. Received: [70, 29]"},
		{name: "the same version twice", alias: "prod", routes: routing(v1, 50, v1, 50), wantCode: "ValidationException",
			wantMsg: "Routing configuration must contain distinct state machine version ARNs. Received: [" + v1 + ", " + v1 + "]"},
		{name: "a plain state machine ARN", alias: "prod", routes: routing(orders, 100), wantCode: "ValidationException",
			wantMsg: "Routing configuration must contain state machine version ARNs. Received: [" + orders + "]"},
		{name: "an alias ARN", alias: "prod", routes: routing(v1, 50, orders+":beta", 50), wantCode: "ValidationException",
			wantMsg: "Routing configuration must contain state machine version ARNs. Received: [" + v1 + ", " + orders + ":beta]"},
		{name: "versions of two state machines", alias: "prod", routes: routing(v1, 50, machineArn("billing")+":1", 50), wantCode: "ValidationException",
			wantMsg: "Routing configuration must contain versions of the same state machine. Received: [" + v1 + ", " + machineArn("billing") + ":1]"},
		{name: "a version that does not exist", alias: "prod", routes: routing(orders+":9", 100), wantCode: "ResourceNotFound",
			wantMsg: "Request references a resource that does not exist."},
		{name: "a state machine that does not exist", alias: "prod", routes: routing(machineArn("nope")+":1", 100), wantCode: "ResourceNotFound",
			wantMsg: "Request references a resource that does not exist."},
		{name: "description longer than 256", alias: "prod", routes: routing(v1, 100), wantCode: "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &awssfn.CreateStateMachineAliasInput{Name: aws.String(tt.alias), RoutingConfiguration: tt.routes}
			if strings.HasPrefix(tt.name, "description") {
				in.Description = aws.String(strings.Repeat("d", 257))
			}
			_, err := h.client.CreateStateMachineAlias(ctx(), in)
			wantAPIError(t, err, tt.wantCode, tt.wantMsg)
		})
	}
	t.Run("a weight that is null", func(t *testing.T) {
		status, code, msg := h.raw(t, "CreateStateMachineAlias", `{"name":"prod","routingConfiguration":[{"stateMachineVersionArn":"`+v1+`"}]}`)
		if status != 400 || code != "ValidationException" || msg != "1 validation error detected: Value null at 'routingConfiguration.1.member.weight' failed to satisfy constraint: Member must not be null" {
			t.Errorf("got %d %s %q", status, code, msg)
		}
	})
}

func TestCreateStateMachineAliasIdempotency(t *testing.T) {
	h := aliasFixture(t)
	v1, v2 := orders+":1", orders+":2"
	first := must[*awssfn.CreateStateMachineAliasOutput](t)(h.client.CreateStateMachineAlias(ctx(), &awssfn.CreateStateMachineAliasInput{
		Name: aws.String("prod"), Description: aws.String("live"), RoutingConfiguration: routing(v1, 80, v2, 20),
	}))
	if *first.StateMachineAliasArn != orders+":prod" {
		t.Fatalf("alias ARN %s", *first.StateMachineAliasArn)
	}
	tests := []struct {
		name        string
		description *string
		routes      []sfntypes.RoutingConfigurationListItem
		wantErr     bool
	}{
		{name: "identical replay", description: aws.String("live"), routes: routing(v1, 80, v2, 20)},
		{name: "identical replay, entries in another order", description: aws.String("live"), routes: routing(v2, 20, v1, 80)},
		{name: "other weights", description: aws.String("live"), routes: routing(v1, 70, v2, 30), wantErr: true},
		{name: "another version", description: aws.String("live"), routes: routing(v1, 80, orders+":3", 20), wantErr: true},
		{name: "another description", description: aws.String("dark"), routes: routing(v1, 80, v2, 20), wantErr: true},
		{name: "no description", routes: routing(v1, 80, v2, 20), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.CreateStateMachineAlias(ctx(), &awssfn.CreateStateMachineAliasInput{
				Name: aws.String("prod"), Description: tt.description, RoutingConfiguration: tt.routes,
			})
			if tt.wantErr {
				wantAPIError(t, err, "ConflictException", "Failed to create alias because an alias with the same name and a different routing configuration already exists.")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *out.StateMachineAliasArn != *first.StateMachineAliasArn || !out.CreationDate.Equal(*first.CreationDate) {
				t.Errorf("replay answered %v", out)
			}
		})
	}
}

func TestAliasQuota(t *testing.T) {
	h := aliasFixture(t)
	for i := 0; i < maxAliasesPerMachine; i++ {
		h.alias(t, fmt.Sprintf("a%d", i), orders+":1", 100)
	}
	_, err := h.client.CreateStateMachineAlias(ctx(), &awssfn.CreateStateMachineAliasInput{Name: aws.String("one-too-many"), RoutingConfiguration: routing(orders+":1", 100)})
	wantAPIError(t, err, "ServiceQuotaExceededException", "")
	// An identical replay of an existing alias is still answered.
	if _, err := h.client.CreateStateMachineAlias(ctx(), &awssfn.CreateStateMachineAliasInput{Name: aws.String("a0"), RoutingConfiguration: routing(orders+":1", 100)}); err != nil {
		t.Errorf("replay at the quota: %v", err)
	}
}

func TestDescribeAndUpdateStateMachineAlias(t *testing.T) {
	h := aliasFixture(t)
	v1, v2, v3 := orders+":1", orders+":2", orders+":3"
	prod := h.alias(t, "prod", v1, 100)
	describe := func() *awssfn.DescribeStateMachineAliasOutput {
		return must[*awssfn.DescribeStateMachineAliasOutput](t)(h.client.DescribeStateMachineAlias(ctx(), &awssfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(prod)}))
	}
	d := describe()
	if *d.Name != "prod" || *d.StateMachineAliasArn != prod || !d.UpdateDate.Equal(*d.CreationDate) || len(d.RoutingConfiguration) != 1 {
		t.Fatalf("new alias %+v", d)
	}
	created := *d.CreationDate
	tests := []struct {
		name        string
		arn         string
		description *string
		routes      []sfntypes.RoutingConfigurationListItem
		wantRoutes  string
		wantDesc    string
		wantCode    string
		wantMsg     string
	}{
		{name: "routing replaced whole", arn: prod, routes: routing(v2, 90, v3, 10), wantRoutes: "2:90 3:10"},
		{name: "description only keeps the routing", arn: prod, description: aws.String("live"), wantRoutes: "2:90 3:10", wantDesc: "live"},
		{name: "idempotent", arn: prod, routes: routing(v2, 90, v3, 10), wantRoutes: "2:90 3:10", wantDesc: "live"},
		{name: "neither description nor routing", arn: prod, wantCode: "ValidationException"},
		{name: "weights that do not sum to 100", arn: prod, routes: routing(v2, 50, v3, 49), wantCode: "ValidationException",
			wantMsg: "Sum of routing configuration weights must equal 100. Received: [50, 49]"},
		{name: "a version of another state machine", arn: prod, routes: routing(machineArn("billing")+":1", 100), wantCode: "ValidationException"},
		{name: "a missing alias", arn: orders + ":nope", routes: routing(v1, 100), wantCode: "ResourceNotFound",
			wantMsg: "Request references a resource that does not exist."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.UpdateStateMachineAlias(ctx(), &awssfn.UpdateStateMachineAliasInput{
				StateMachineAliasArn: aws.String(tt.arn), Description: tt.description, RoutingConfiguration: tt.routes,
			})
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := describe()
			var got []string
			for _, r := range d.RoutingConfiguration {
				got = append(got, fmt.Sprintf("%s:%d", strings.TrimPrefix(*r.StateMachineVersionArn, orders+":"), r.Weight))
			}
			if strings.Join(got, " ") != tt.wantRoutes || aws.ToString(d.Description) != tt.wantDesc {
				t.Errorf("routing %v description %q", got, aws.ToString(d.Description))
			}
			if !d.UpdateDate.Equal(*out.UpdateDate) || !d.CreationDate.Equal(created) || d.UpdateDate.Before(created) {
				t.Errorf("dates: created %v updated %v (answered %v)", d.CreationDate, d.UpdateDate, out.UpdateDate)
			}
		})
	}
	t.Run("describe a missing alias", func(t *testing.T) {
		_, err := h.client.DescribeStateMachineAlias(ctx(), &awssfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(orders + ":nope")})
		wantAPIError(t, err, "ResourceNotFound", "Request references a resource that does not exist.")
	})
}

func TestListAndDeleteStateMachineAliases(t *testing.T) {
	h := aliasFixture(t)
	v1, v2, v3 := orders+":1", orders+":2", orders+":3"
	prod := h.alias(t, "prod", v1, 90, v2, 10)
	beta := h.alias(t, "beta", v2, 100)
	canary := h.alias(t, "canary", v3, 100)
	list := func(arn string, maxResults int32) ([]string, error) {
		var token *string
		var got []string
		for {
			out, err := h.client.ListStateMachineAliases(ctx(), &awssfn.ListStateMachineAliasesInput{StateMachineArn: aws.String(arn), MaxResults: maxResults, NextToken: token})
			if err != nil {
				return nil, err
			}
			for _, a := range out.StateMachineAliases {
				got = append(got, strings.TrimPrefix(*a.StateMachineAliasArn, orders+":"))
			}
			if token = out.NextToken; token == nil {
				return got, nil
			}
		}
	}
	tests := []struct {
		name     string
		arn      string
		max      int32
		want     string
		wantCode string
	}{
		{name: "all, oldest first", arn: orders, want: "prod beta canary"},
		{name: "all, in pages of one", arn: orders, max: 1, want: "prod beta canary"},
		{name: "a version ARN lists the aliases routing to it", arn: v2, want: "prod beta"},
		{name: "the newest version", arn: orders + ":3", want: "canary"},
		{name: "a missing state machine", arn: machineArn("nope"), wantCode: "StateMachineDoesNotExist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := list(tt.arn, tt.max)
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
	for _, arn := range []string{beta, beta, orders + ":never"} {
		if _, err := h.client.DeleteStateMachineAlias(ctx(), &awssfn.DeleteStateMachineAliasInput{StateMachineAliasArn: aws.String(arn)}); err != nil {
			t.Errorf("delete %s: %v", arn, err)
		}
	}
	if got, _ := list(orders, 0); strings.Join(got, " ") != "prod canary" {
		t.Errorf("after delete: %v", got)
	}
	// Deleting an alias leaves its versions.
	if _, err := h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(v2)}); err != nil {
		t.Errorf("version 2 after its alias went: %v", err)
	}
	_ = prod
	_ = canary
}

func TestAliasReporter(t *testing.T) {
	var lines []string
	h := newHarness(t, func(o *Options) {
		o.Reporter = core.ReporterFunc(func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) })
	})
	h.machine(t, "orders", passDefN(0))
	v1 := h.publish(t, orders, passDefN(1))
	v2 := h.publish(t, orders, passDefN(2))
	prod := h.alias(t, "prod", v1, 100)
	must[*awssfn.UpdateStateMachineAliasOutput](t)(h.client.UpdateStateMachineAlias(ctx(), &awssfn.UpdateStateMachineAliasInput{
		StateMachineAliasArn: aws.String(prod), RoutingConfiguration: routing(v1, 80, v2, 20),
	}))
	want := "alias orders:prod → v1 100%|alias orders:prod → v1 80% v2 20%"
	if strings.Join(lines, "|") != want {
		t.Errorf("lines %q, want %q", lines, want)
	}
}
