package managed

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func check(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", name, r)
		}
	}()
	f()
}

const definition = `{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"${WorkArn}","End":true}}}`

// TestConstruct synthesizes one stack with one ManagedStateMachine and checks what the
// controller relies on: the tags, the deploy custom resource and its properties, the alarm,
// and that CloudFormation holds no version or alias.
func TestConstruct(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Team"), nil)
	m, err := New(stack, "Payments", Props{
		StateMachineName:        "team-payments",
		Definition:              definition,
		DefinitionSubstitutions: map[string]*string{"WorkArn": jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:work")},
		AliasName:               "live",
		Policy: Policy{
			Strategy: "CANARY", Percentage: 20, Interval: "10m",
			Alarms: []string{"payments-latency", "payments-errors"},
			Steps:  nil, OnBusy: "queue", Approval: nil,
		},
		AlarmThreshold: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	template := synthesize(t, stack)
	if template == nil {
		return
	}
	raw := *template.ToJSON()
	ids := idsByType(raw)
	machine := ids["AWS::StepFunctions::StateMachine"]

	check(t, "state machine and tags", func() {
		template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"StateMachineName":        "team-payments",
			"DefinitionString":        definition,
			"DefinitionSubstitutions": map[string]any{"WorkArn": "arn:aws:lambda:eu-west-1:123456789012:function:work"},
			"Tags": assertions.Match_ArrayEquals(&[]any{
				map[string]any{"Key": "rollout:alarms", "Value": "payments-latency payments-errors"},
				map[string]any{"Key": "rollout:interval", "Value": "10m"},
				map[string]any{"Key": "rollout:managed", "Value": "true"},
				map[string]any{"Key": "rollout:onBusy", "Value": "queue"},
				map[string]any{"Key": "rollout:percentage", "Value": "20"},
				map[string]any{"Key": "rollout:strategy", "Value": "CANARY"},
			}),
		})
	})
	check(t, "rollout tags stay on the state machine", func() {
		for id, r := range raw["Resources"].(map[string]any) {
			res := r.(map[string]any)
			props, _ := res["Properties"].(map[string]any)
			tags, _ := json.Marshal(props["Tags"])
			if res["Type"] != "AWS::StepFunctions::StateMachine" && strings.Contains(string(tags), `"rollout:`) {
				panic(id + " carries rollout tags")
			}
		}
	})
	check(t, "no version or alias in CloudFormation", func() {
		template.ResourceCountIs(jsii.String("AWS::StepFunctions::StateMachineVersion"), jsii.Number(0))
		template.ResourceCountIs(jsii.String("AWS::StepFunctions::StateMachineAlias"), jsii.Number(0))
	})
	check(t, "deploy custom resource", func() {
		template.HasResource(jsii.String(topology.DeployResourceType), map[string]any{
			"Properties": map[string]any{
				"ServiceToken":                     map[string]any{"Fn::ImportValue": topology.DefaultPrefix + "-" + topology.OutputDeployServiceToken},
				topology.DeployPropStateMachineArn: map[string]any{"Ref": machine},
				topology.DeployPropAliasName:       "live",
				topology.DeployPropWait:            "true",
				topology.DeployPropDefinition: map[string]any{"Fn::Sub": []any{definition, map[string]any{
					"WorkArn": "arn:aws:lambda:eu-west-1:123456789012:function:work",
				}}},
				topology.DeployPropMetadata: assertions.Match_Absent(),
			},
			"DependsOn": assertions.Match_ArrayWith(&[]any{ids["AWS::CloudWatch::Alarm"], machine}),
		})
	})
	check(t, "alias ARN", func() {
		got := stack.Resolve(m.AliasArn)
		want := map[string]any{"Fn::Join": []any{":", []any{map[string]any{"Ref": machine}, "live"}}}
		if !reflect.DeepEqual(got, want) {
			panic(fmt.Sprintf("AliasArn %v, want %v", got, want))
		}
		if got := stack.Resolve(m.RolloutID()); !reflect.DeepEqual(got, map[string]any{"Fn::GetAtt": []any{ids[topology.DeployResourceType], topology.DeployDataRolloutID}}) {
			panic(fmt.Sprintf("RolloutID %v", got))
		}
	})
	check(t, "failures alarm", func() {
		template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"AlarmName":  topology.AliasFailuresAlarmName("team-payments", "live"),
			"Namespace":  "AWS/States",
			"MetricName": "ExecutionsFailed",
			"Dimensions": assertions.Match_ArrayEquals(&[]any{
				map[string]any{"Name": "Alias", "Value": "live"},
				map[string]any{"Name": "StateMachineArn", "Value": map[string]any{"Ref": machine}},
			}),
			"Statistic": "Sum", "Period": 60, "Threshold": 3, "EvaluationPeriods": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
		})
	})
	if m.AliasName != "live" || m.Tags[topology.ManagedTag] != "true" || m.Deployment == nil {
		t.Errorf("construct fields: alias %q, tags %v, deployment %v", m.AliasName, m.Tags, m.Deployment)
	}
}

// An Express ManagedStateMachine is the same construct with an EXPRESS state machine.
func TestConstructExpress(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Team"), nil)
	if _, err := New(stack, "Quotes", Props{StateMachineName: "team-quotes", Definition: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, Express: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(stack, "Orders", Props{StateMachineName: "team-orders", Definition: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`}); err != nil {
		t.Fatal(err)
	}
	template := synthesize(t, stack)
	if template == nil {
		return
	}
	for name, typ := range map[string]string{"team-quotes": "EXPRESS", "team-orders": "STANDARD"} {
		check(t, name, func() {
			template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
				"StateMachineName": name,
				"StateMachineType": typ,
			})
		})
	}
	check(t, "both have their deploy custom resource", func() {
		template.ResourceCountIs(jsii.String(topology.DeployResourceType), jsii.Number(2))
		template.ResourceCountIs(jsii.String("AWS::StepFunctions::StateMachineVersion"), jsii.Number(0))
		template.ResourceCountIs(jsii.String("AWS::StepFunctions::StateMachineAlias"), jsii.Number(0))
	})
}

func TestPolicyTags(t *testing.T) {
	yes := true
	tags, err := PolicyTags(Policy{}, "orders-prod-failures")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rollout:managed": "true", "rollout:alarms": "orders-prod-failures"}
	if !reflect.DeepEqual(tags, want) {
		t.Errorf("default policy: got %v, want %v", tags, want)
	}
	tags, err = PolicyTags(Policy{
		Strategy: "CUSTOM", Steps: []string{"weight:10", "pause:5m", "analysis:10m", "weight:50", "approval", "weight:100"},
		MaxFailureRate: 2.5, MinExecutions: 20, KeepVersions: 5, OnDrift: "rollback", Alarms: []string{},
	}, "x-prod-failures")
	if err != nil {
		t.Fatal(err)
	}
	if tags["rollout:steps"] != "weight:10 pause:5m analysis:10m weight:50 approval weight:100" || tags["rollout:maxFailureRate"] != "2.5" {
		t.Errorf("custom policy tags: %v", tags)
	}
	if _, ok := tags["rollout:alarms"]; ok {
		t.Errorf("an explicitly empty alarm list must not name the default alarm: %v", tags)
	}
	// The controller reads the tags back to the same policy.
	layer, err := rollout.ParsePolicyTags(tags)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rollout.Resolve(layer)
	if err != nil {
		t.Fatal(err)
	}
	if p.Strategy != rollout.Custom || len(p.Steps) != 6 || p.MaxFailureRate != 2.5 || p.KeepVersions != 5 {
		t.Errorf("resolved policy %+v", p)
	}
	if _, err := PolicyTags(Policy{Strategy: "BLUE_GREEN", Approval: &yes}, ""); err != nil {
		t.Errorf("blue/green with approval: %v", err)
	}

	for _, c := range []struct {
		name   string
		policy Policy
		want   string
	}{
		{"unknown strategy", Policy{Strategy: "SOMETIMES"}, "strategy"},
		{"interval under the tick", Policy{Strategy: "LINEAR", Percentage: 10, Interval: "30s"}, "interval"},
		{"pause under the tick", Policy{Strategy: "CUSTOM", Steps: []string{"weight:50", "pause:10s", "weight:100"}}, "steps"},
		{"bad step", Policy{Strategy: "CUSTOM", Steps: []string{"weight:150"}}, "steps"},
		{"alarm with a space", Policy{Alarms: []string{"orders failures"}}, "alarm name"},
		{"alarm with a comma", Policy{Alarms: []string{"a,b"}}, "tag rollout:alarms"},
		{"percentage out of range", Policy{Strategy: "CANARY", Percentage: 120}, "percentage"},
		{"unknown onBusy", Policy{OnBusy: "wait"}, "onBusy"},
	} {
		_, err := PolicyTags(c.policy, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %s", c.name, err, c.want)
		}
	}
}

func TestNewRefusesBadProps(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Bad"), nil)
	for _, c := range []struct {
		name  string
		props Props
		want  string
	}{
		{"no definition", Props{StateMachineName: "a"}, "exactly one"},
		{"two definitions", Props{StateMachineName: "a", Definition: "{}", DefinitionFile: "x.json"}, "exactly one"},
		{"a body and a definition", Props{StateMachineName: "a", Definition: "{}", DefinitionBody: awsstepfunctions.DefinitionBody_FromString(jsii.String("{}"))}, "exactly one"},
		{"string body not JSON", Props{StateMachineName: "a", DefinitionBody: awsstepfunctions.DefinitionBody_FromString(jsii.String("{"))}, "not JSON"},
		{"file body missing", Props{StateMachineName: "a", DefinitionBody: awsstepfunctions.DefinitionBody_FromFile(jsii.String("does-not-exist.asl.json"), nil)}, "read definition"},
		{"substitution key", Props{StateMachineName: "a", Definition: "{}", DefinitionSubstitutions: map[string]*string{"AWS::Region": jsii.String("x")}}, "substitution"},
		{"substitution within a substitution", Props{StateMachineName: "a", Definition: "{}", DefinitionSubstitutions: map[string]*string{"A": jsii.String("${B}"), "B": jsii.String("b")}}, "substitute it again"},
		{"invalid overrides", Props{StateMachineName: "a", Definition: "{}", Overrides: Policy{Strategy: "LINEAR", Percentage: 10, Interval: "10s"}}, "overrides"},
		{"overrides with a non-ASCII alarm", Props{StateMachineName: "a", Definition: "{}", Overrides: Policy{Alarms: []string{"café"}}}, "US-ASCII"},
		{"not JSON", Props{StateMachineName: "a", Definition: "{"}, "not JSON"},
		{"missing file", Props{StateMachineName: "a", DefinitionFile: "does-not-exist.asl.json"}, "read definition"},
		{"bad name", Props{StateMachineName: "orders/prod", Definition: "{}"}, "name"},
		{"numeric alias", Props{StateMachineName: "a", Definition: "{}", AliasName: "42"}, "alias"},
		{"invalid policy", Props{StateMachineName: "a", Definition: "{}", Policy: Policy{Strategy: "LINEAR", Percentage: 10, Interval: "5s"}}, "interval"},
	} {
		_, err := New(stack, "M"+strings.ReplaceAll(c.name, " ", ""), c.props)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
	}
	// Nothing was created for the refused props.
	if n := len(*stack.Node().Children()); n != 0 {
		t.Errorf("%d constructs created for refused props", n)
	}
	if !json.Valid([]byte(definition)) {
		t.Fatal("test definition is not JSON")
	}
}

// synthesize is the stack's template, or nil after reporting why it did not synthesize.
func synthesize(t *testing.T, stack awscdk.Stack) assertions.Template {
	t.Helper()
	var template assertions.Template
	check(t, "synth", func() { template = assertions.Template_FromStack(stack, nil) })
	return template
}

// idsByType maps each resource type of a template to the logical id of (one of) its resources.
func idsByType(raw map[string]any) map[string]string {
	ids := map[string]string{}
	for id, r := range raw["Resources"].(map[string]any) {
		ids[r.(map[string]any)["Type"].(string)] = id
	}
	return ids
}
