package managed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// evaluate is CloudFormation's value of a template expression, with a reference or an
// attribute written as <Ref X> or <X.Attr> and a pseudo parameter as <AWS::Name>: enough
// of Ref, Fn::GetAtt, Fn::Join and Fn::Sub to compare two expressions.
func evaluate(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	case map[string]any:
		if name, ok := x["Ref"].(string); ok {
			return "<Ref " + name + ">"
		}
		if att, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("<%v.%v>", att[0], att[1])
		}
		if join, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range join[1].([]any) {
				parts = append(parts, evaluate(t, p))
			}
			return strings.Join(parts, join[0].(string))
		}
		if sub, ok := x["Fn::Sub"].([]any); ok {
			vars := map[string]string{}
			for k, v := range sub[1].(map[string]any) {
				vars[k] = evaluate(t, v)
			}
			return fnSub(t, sub[0].(string), vars)
		}
	}
	t.Fatalf("cannot evaluate %v", v)
	return ""
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// fnSub is Fn::Sub, read left to right, each "${" up to the next "}": "${!x}" is the text
// "${x}"; "${name}" is the variable, else a pseudo parameter, else a reference or attribute
// of the template, whose absence fails the deploy.
func fnSub(t *testing.T, body string, vars map[string]string) string {
	t.Helper()
	return subVariable.ReplaceAllStringFunc(body, func(m string) string {
		name := m[2 : len(m)-1]
		switch {
		case strings.HasPrefix(name, "!"):
			return "${" + name[1:] + "}"
		case vars[name] != "":
			return vars[name]
		case strings.HasPrefix(name, "AWS::"):
			return "<" + name + ">"
		}
		t.Errorf("Fn::Sub names %s, which is no variable: the deploy would fail", m)
		return m
	})
}

// definitionSubstitutions is what the state machine's resource does with
// DefinitionSubstitutions: replace each "${key}" by its value, again and again until
// nothing changes, and leave every other "${...}" alone.
func definitionSubstitutions(definition string, subs map[string]string) string {
	for range 10 {
		next := definition
		for k, v := range subs {
			next = strings.ReplaceAll(next, "${"+k+"}", v)
		}
		if next == definition {
			break
		}
		definition = next
	}
	return definition
}

// TestSubstitutedMatchesDefinitionSubstitutions: for literal text and intrinsics, the
// custom resource's Fn::Sub evaluates to what the state machine's DefinitionSubstitutions
// make of the same definition, whatever "${" sequences the text holds.
func TestSubstitutedMatchesDefinitionSubstitutions(t *testing.T) {
	subs := map[string]any{
		"Table":  map[string]any{"Ref": "Orders"},
		"Worker": map[string]any{"Fn::GetAtt": []any{"Work", "Arn"}},
		"Stage":  "prod",
	}
	join := func(parts ...any) any { return map[string]any{"Fn::Join": []any{"", parts}} }
	for _, c := range []struct {
		name       string
		definition any
	}{
		{"plain", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`},
		{"keys", `{"Resource":"${Worker}","Parameters":{"TableName":"${Table}","s":"${Stage}-${Stage}"}}`},
		{"escape", `{"a":"${!Literal}","b":"${!Table}"}`},
		{"pseudo parameter", `{"a":"${AWS::Region}","b":"${AWS::AccountId}"}`},
		{"unknown", `{"a":"${Missing}","b":"${ Table }","c":"${Table","d":"$${Table}","e":"${}"}`},
		{"JSONata", `{"Output":"{% $states.input.${Stage} %}"}`},
		{"intrinsics", join(`{"Resource":"`, map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}, `","T":"${Table}","R":"`, map[string]any{"Ref": "AWS::Region"}, `"}`)},
		{"nested join", map[string]any{"Fn::Join": []any{"-", []any{"${Stage}", join("${Table}", map[string]any{"Ref": "X"}), "${!x}"}}}},
	} {
		resolved := map[string]string{}
		for k, v := range subs {
			resolved[k] = evaluate(t, v)
		}
		want := definitionSubstitutions(evaluate(t, c.definition), resolved)
		got := evaluate(t, substituted(c.definition, subs))
		if got != want {
			t.Errorf("%s: Fn::Sub gives\n%s\nthe state machine gets\n%s", c.name, got, want)
		}
	}
}

// TestChainDefinition: a chain of CDK states with a Lambda invoke, and a substitution of a
// table name, reach the custom resource as the state machine gets them: the template holds
// the function's Fn::GetAtt and the table's Ref in both.
func TestChainDefinition(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Team"), nil)
	fn := awslambda.NewFunction(stack, jsii.String("Work"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("exports.handler = async () => ({})")),
	})
	table := awsdynamodb.NewTable(stack, jsii.String("OrdersTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
	})
	work := awsstepfunctionstasks.NewLambdaInvoke(stack, jsii.String("Invoke"), &awsstepfunctionstasks.LambdaInvokeProps{LambdaFunction: fn})
	record := awsstepfunctions.NewPass(stack, jsii.String("Record"), &awsstepfunctions.PassProps{
		Result: awsstepfunctions.Result_FromObject(&map[string]any{"table": "${TableName}", "literal": "${!kept}"}),
	})
	_, err := New(stack, "Orders", Props{
		StateMachineName:        "team-orders",
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromChainable(work.Next(record)),
		DefinitionSubstitutions: map[string]*string{"TableName": table.TableName()},
	})
	if err != nil {
		t.Fatal(err)
	}
	template := synthesize(t, stack)
	if template == nil {
		return
	}
	raw := *template.ToJSON()
	var machine, deployment map[string]any
	var fnID, tableID string
	for id, r := range raw["Resources"].(map[string]any) {
		res := r.(map[string]any)
		switch res["Type"] {
		case "AWS::StepFunctions::StateMachine":
			machine = res["Properties"].(map[string]any)
		case topology.DeployResourceType:
			deployment = res["Properties"].(map[string]any)
		case "AWS::Lambda::Function":
			fnID = id
		case "AWS::DynamoDB::Table":
			tableID = id
		}
	}
	cr := mustJSON(deployment[topology.DeployPropDefinition])
	for _, want := range []string{mustJSON(map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}}), mustJSON(map[string]any{"Ref": tableID})} {
		if !strings.Contains(cr, want) {
			t.Errorf("the custom resource's definition lacks %s: %s", want, cr)
		}
	}
	subs := map[string]string{}
	for k, v := range machine["DefinitionSubstitutions"].(map[string]any) {
		subs[k] = evaluate(t, v)
	}
	want := definitionSubstitutions(evaluate(t, machine["DefinitionString"]), subs)
	got := evaluate(t, deployment[topology.DeployPropDefinition])
	if got != want {
		t.Errorf("the custom resource gets\n%s\nthe state machine\n%s", got, want)
	}
	for _, part := range []string{"<" + fnID + ".Arn>", "<Ref " + tableID + ">", `${!kept}`} {
		if !strings.Contains(got, part) {
			t.Errorf("the deployed definition lacks %s: %s", part, got)
		}
	}
	// The L2 still grants the state machine's role what the chain calls.
	check(t, "invoke grant", func() {
		template.HasResourceProperties(jsii.String("AWS::IAM::Policy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Action": "lambda:InvokeFunction"}),
			})},
		})
	})
}

// TestFileDefinitionBody: a file body is read at synth, so that both the state machine and
// the custom resource hold its text, with no asset; Wait, Overrides, the controller stack's
// name and the removal policy reach the template.
func TestFileDefinitionBody(t *testing.T) {
	file := filepath.Join(t.TempDir(), "flow.asl.json")
	if err := os.WriteFile(file, []byte(definition), 0o644); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Team"), nil)
	no := false
	if _, err := New(stack, "Flow", Props{
		StateMachineName:    "team-flow",
		DefinitionBody:      awsstepfunctions.DefinitionBody_FromFile(jsii.String(file), nil),
		Wait:                &no,
		ControllerStackName: "ops-rollout",
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
		Overrides:           Policy{Strategy: "LINEAR", Percentage: 50, Interval: "2m", Alarms: []string{"flow-latency"}},
	}); err != nil {
		t.Fatal(err)
	}
	template := synthesize(t, stack)
	if template == nil {
		return
	}
	check(t, "inline definition, retained state machine", func() {
		template.HasResource(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"Properties": map[string]any{
				"DefinitionString":     definition,
				"DefinitionS3Location": assertions.Match_Absent(),
			},
			"DeletionPolicy": "Retain",
		})
	})
	check(t, "custom resource", func() {
		template.HasResourceProperties(jsii.String(topology.DeployResourceType), map[string]any{
			"ServiceToken":                map[string]any{"Fn::ImportValue": "ops-rollout-" + topology.OutputDeployServiceToken},
			topology.DeployPropDefinition: definition,
			topology.DeployPropWait:       "false",
			topology.DeployPropMetadata: map[string]any{
				"rollout-strategy": "LINEAR", "rollout-percentage": "50", "rollout-interval": "2m", "rollout-alarms": "flow-latency",
			},
		})
	})
}

// TestServiceTokenAndMigrate: a given service token is used as is; Migrate keeps the
// earlier form's version and alias with their logical IDs and properties, the alias now
// retained, and adds no custom resource.
func TestServiceTokenAndMigrate(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Team"), nil)
	const token = "arn:aws:lambda:eu-west-1:123456789012:function:provider"
	if _, err := New(stack, "Given", Props{StateMachineName: "team-given", Definition: definition, ServiceToken: jsii.String(token)}); err != nil {
		t.Fatal(err)
	}
	old, err := New(stack, "Payments", Props{StateMachineName: "team-payments", Definition: definition, AliasName: "live", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	template := synthesize(t, stack)
	if template == nil {
		return
	}
	raw := *template.ToJSON()
	ids := idsByType(raw)
	check(t, "given token", func() {
		template.ResourceCountIs(jsii.String(topology.DeployResourceType), jsii.Number(1))
		template.HasResourceProperties(jsii.String(topology.DeployResourceType), map[string]any{"ServiceToken": token})
	})
	version, alias := ids["AWS::StepFunctions::StateMachineVersion"], ids["AWS::StepFunctions::StateMachineAlias"]
	// The logical IDs the earlier form gave them (construct IDs Version and Alias).
	if !strings.HasPrefix(version, "PaymentsVersion") || !strings.HasPrefix(alias, "PaymentsAlias") {
		t.Errorf("legacy logical IDs %s, %s", version, alias)
	}
	machine := ""
	for id, r := range raw["Resources"].(map[string]any) {
		if strings.HasPrefix(id, "PaymentsStateMachine") && r.(map[string]any)["Type"] == "AWS::StepFunctions::StateMachine" {
			machine = id
		}
	}
	check(t, "legacy version", func() {
		template.HasResource(jsii.String("AWS::StepFunctions::StateMachineVersion"), map[string]any{
			"Properties": map[string]any{
				"StateMachineArn":        map[string]any{"Ref": machine},
				"StateMachineRevisionId": map[string]any{"Fn::GetAtt": []any{machine, "StateMachineRevisionId"}},
				"Description":            "first version (ManagedStateMachine); later versions come from sfn-rollout",
			},
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
		})
	})
	check(t, "legacy alias, retained", func() {
		template.HasResource(jsii.String("AWS::StepFunctions::StateMachineAlias"), map[string]any{
			"Properties": map[string]any{
				"Name":        "live",
				"Description": "moved by sfn-rollout",
				"RoutingConfiguration": []any{map[string]any{
					"StateMachineVersionArn": map[string]any{"Fn::GetAtt": []any{version, "Arn"}},
					"Weight":                 100,
				}},
			},
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
		})
	})
	if old.Deployment != nil || old.RolloutID() != nil {
		t.Error("Migrate made a deploy custom resource")
	}
	if got := stack.Resolve(old.AliasArn); !reflect.DeepEqual(got, map[string]any{"Fn::GetAtt": []any{alias, "Arn"}}) {
		t.Errorf("Migrate AliasArn %v", got)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
