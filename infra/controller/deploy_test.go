package controller

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/infra/managed"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// TestDeployProvider checks ManagedStateMachine's side of the controller: the provider
// framework calls deploy on each event and deploystatus every 30 seconds for at most two
// hours, its service token is exported under the name the construct imports, and the
// framework's waiter logs what it does.
func TestDeployProvider(t *testing.T) {
	synth(t)
	fnID := func(fn string) string {
		return logicalID(t, "AWS::Lambda::Function", "FunctionName", topology.FunctionName(testSettings.StackName, fn))
	}
	deploy, status := fnID(topology.DeployFunction), fnID(topology.DeployStatusFunction)
	var onEvent string
	for id, r := range resources("AWS::Lambda::Function") {
		if props(r)["Handler"] == "framework.onEvent" {
			onEvent = id
			vars := props(r)["Environment"].(map[string]any)["Variables"].(map[string]any)
			if !reflect.DeepEqual(vars["USER_ON_EVENT_FUNCTION_ARN"], getAtt(deploy, "Arn")) || !reflect.DeepEqual(vars["USER_IS_COMPLETE_FUNCTION_ARN"], getAtt(status, "Arn")) {
				t.Errorf("the framework calls %v and %v", vars["USER_ON_EVENT_FUNCTION_ARN"], vars["USER_IS_COMPLETE_FUNCTION_ARN"])
			}
		}
	}
	if onEvent == "" {
		t.Fatal("no provider framework onEvent function")
	}

	out, ok := synthed.json["Outputs"].(map[string]any)[topology.OutputDeployServiceToken].(map[string]any)
	if !ok {
		t.Fatalf("no output %s", topology.OutputDeployServiceToken)
	}
	if want := managed.ServiceTokenExportName(testSettings.StackName); !reflect.DeepEqual(out["Export"], map[string]any{"Name": want}) {
		t.Errorf("export %v, want %s", out["Export"], want)
	}
	if !reflect.DeepEqual(out["Value"], getAtt(onEvent, "Arn")) {
		t.Errorf("service token %v, want the framework's onEvent ARN", out["Value"])
	}

	// The waiter: isComplete every 30 s, 240 times (2 h), logging ALL to its own log group.
	var waiter map[string]any
	for id, r := range resources("AWS::StepFunctions::StateMachine") {
		if strings.HasPrefix(id, "DeployProviderwaiter") {
			waiter = props(r)
		}
	}
	if waiter == nil {
		t.Fatal("no waiter state machine")
	}
	definition := mustJSON(waiter["DefinitionString"])
	for _, want := range []string{`\"IntervalSeconds\":30`, `\"MaxAttempts\":240`, `\"BackoffRate\":1`} {
		if !strings.Contains(definition, want) {
			t.Errorf("waiter definition lacks %s: %s", want, definition)
		}
	}
	logs := logicalID(t, "AWS::Logs::LogGroup", "LogGroupName", topology.StateMachineLogGroup(testSettings.StackName+"-deploy-waiter"))
	wantLogging := map[string]any{"Level": "ALL", "IncludeExecutionData": false,
		"Destinations": []any{map[string]any{"CloudWatchLogsLogGroup": map[string]any{"LogGroupArn": getAtt(logs, "Arn")}}}}
	if !reflect.DeepEqual(normalize(waiter["LoggingConfiguration"]), normalize(wantLogging)) {
		t.Errorf("waiter logging %s", mustJSON(waiter["LoggingConfiguration"]))
	}
}

// TestDeployFunctionsAccess pins the two functions' statements beyond what
// TestFunctionRoles counts: where each may act.
func TestDeployFunctionsAccess(t *testing.T) {
	synth(t)
	bucket := ""
	for id := range resources("AWS::S3::Bucket") {
		bucket = id
	}
	table := logicalID(t, "AWS::DynamoDB::Table", "BillingMode", "PAY_PER_REQUEST")
	bySid := func(fn string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for path, sts := range statements() {
			if !strings.HasPrefix(path, "/"+exported(fn)+"RoleDefaultPolicy") {
				continue
			}
			for _, s := range sts {
				out[fmt.Sprint(s["Sid"])] = s
			}
		}
		return out
	}
	deploy := bySid(topology.DeployFunction)
	wantObjects := map[string]any{"Fn::Join": []any{"", []any{getAtt(bucket, "Arn"), "/*/" + topology.DeployUploadPrefix + "*" + topology.DefinitionSuffix}}}
	if s := deploy["UploadDeployedDefinitions"]; s == nil || !reflect.DeepEqual(s["Resource"], wantObjects) {
		t.Errorf("deploy's uploads: %s", mustJSON(s))
	}
	if s := deploy["ListArtifactVersions"]; s == nil || !reflect.DeepEqual(s["Resource"], getAtt(bucket, "Arn")) {
		t.Errorf("deploy's listing: %s", mustJSON(s))
	}
	for fn, want := range map[string][]string{
		topology.DeployFunction:       storeActions, // an abort writes as control does
		topology.DeployStatusFunction: readRecord,
	} {
		s := bySid(fn)["RolloutTable"]
		var got []string
		for _, a := range list(s["Action"]) {
			got = append(got, fmt.Sprint(a))
		}
		if !slices.Equal(got, want) || !reflect.DeepEqual(s["Resource"], getAtt(table, "Arn")) {
			t.Errorf("%s on the table: %s", fn, mustJSON(s))
		}
		if s, ok := bySid(fn)["ManagedStateMachinesOnly"]; !ok || s["Condition"] == nil {
			t.Errorf("%s: no tag-conditioned Step Functions statement: %s", fn, mustJSON(s))
		}
	}
	if _, ok := bySid(topology.DeployStatusFunction)["PutRolloutEvents"]; ok {
		t.Error("deploystatus may put events")
	}
}
