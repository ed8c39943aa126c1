package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synth is the example's template for a definition.
func synth(t *testing.T, definition string) map[string]any {
	t.Helper()
	var out map[string]any
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synth: %v", r)
			}
		}()
		_, stack, err := NewApp(Options{Definition: definition, Wait: true, Outdir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		out = *assertions.Template_FromStack(stack, nil).ToJSON()
	}()
	return out
}

// diff lists the paths where two JSON values differ.
func diff(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var out []string
		for k := range keys {
			out = append(out, diff(path+"/"+k, am[k], bm[k])...)
		}
		sort.Strings(out)
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []string
		for i := range al {
			out = append(out, diff(fmt.Sprintf("%s/%d", path, i), al[i], bl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{path}
}

// TestChangedDefinitionChangesOnlyTheDefinition is issue 11's done-when: the example app
// synthesized with two definitions gives templates that differ only in the state machine's
// definition and the deploy custom resource's Definition, and neither holds a version or
// an alias resource, so CloudFormation can publish no version and move no alias.
func TestChangedDefinitionChangesOnlyTheDefinition(t *testing.T) {
	v2 := strings.Replace(definition, `"NumericGreaterThan": 0`, `"NumericGreaterThan": 1`, 1)
	v2 = strings.Replace(v2, "orders v1", "orders v2", 1)
	if v2 == definition {
		t.Fatal("the second definition is the first")
	}
	before, after := synth(t, definition), synth(t, v2)

	for _, tpl := range []map[string]any{before, after} {
		for id, r := range tpl["Resources"].(map[string]any) {
			switch typ := r.(map[string]any)["Type"]; typ {
			case "AWS::StepFunctions::StateMachineVersion", "AWS::StepFunctions::StateMachineAlias":
				t.Errorf("%s is a %s: CloudFormation would publish or route", id, typ)
			}
		}
	}
	machine, deployment := "", ""
	for id, r := range before["Resources"].(map[string]any) {
		switch r.(map[string]any)["Type"] {
		case "AWS::StepFunctions::StateMachine":
			machine = id
		case topology.DeployResourceType:
			deployment = id
		}
	}
	if machine == "" || deployment == "" {
		t.Fatalf("state machine %q, deploy custom resource %q", machine, deployment)
	}
	allowed := map[string]bool{
		"/Resources/" + machine + "/Properties/DefinitionString":                    true,
		"/Resources/" + deployment + "/Properties/" + topology.DeployPropDefinition: true,
	}
	changed := diff("", before, after)
	for _, p := range changed {
		if !allowed[strings.Join(strings.Split(p, "/")[:5], "/")] {
			t.Errorf("%s changed", p)
		}
	}
	seen := map[string]bool{}
	for _, p := range changed {
		seen[strings.Join(strings.Split(p, "/")[:5], "/")] = true
	}
	for p := range allowed {
		if !seen[p] {
			t.Errorf("%s did not change (changed: %v)", p, changed)
		}
	}
}

// The example shows what the docs describe: the substitution of the table's name, Wait,
// the imported service token, and the alias ARN as an output.
func TestExample(t *testing.T) {
	tpl := synth(t, definition)
	var deployment, machine map[string]any
	tableID := ""
	for id, r := range tpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		switch res["Type"] {
		case topology.DeployResourceType:
			deployment = res["Properties"].(map[string]any)
		case "AWS::StepFunctions::StateMachine":
			machine = res["Properties"].(map[string]any)
		case "AWS::DynamoDB::Table":
			tableID = id
		}
	}
	want := map[string]any{
		"ServiceToken":                     map[string]any{"Fn::ImportValue": "sfn-rollout-" + topology.OutputDeployServiceToken},
		topology.DeployPropAliasName:       topology.DefaultAlias,
		topology.DeployPropWait:            "true",
		topology.DeployPropStateMachineArn: nil,
		topology.DeployPropDefinition:      nil,
	}
	for k, v := range want {
		if v != nil && !reflect.DeepEqual(deployment[k], v) {
			t.Errorf("%s = %v, want %v", k, deployment[k], v)
		}
	}
	sub, ok := deployment[topology.DeployPropDefinition].(map[string]any)["Fn::Sub"].([]any)
	if !ok || !reflect.DeepEqual(sub[1], map[string]any{"OrdersTable": map[string]any{"Ref": tableID}}) {
		t.Errorf("Definition %v", deployment[topology.DeployPropDefinition])
	}
	if !reflect.DeepEqual(machine["DefinitionSubstitutions"], map[string]any{"OrdersTable": map[string]any{"Ref": tableID}}) {
		t.Errorf("state machine substitutions %v", machine["DefinitionSubstitutions"])
	}
	var body any
	if err := json.Unmarshal([]byte(sub[0].(string)), &body); err != nil {
		t.Errorf("the definition with ${OrdersTable} is not JSON: %v", err)
	}
	if _, ok := tpl["Outputs"].(map[string]any)["OrdersAlias"]; !ok {
		t.Error("no OrdersAlias output")
	}
}
