package controller

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/statemachines"
)

// One synth serves every test (each costs seconds): a stack with a managed prefix and a
// notification topic, checked by cdk-nag's AwsSolutions pack in the same synth.
var (
	synthOnce sync.Once
	synthErr  error
	synthed   struct {
		stack    *Stack
		template assertions.Template
		json     map[string]any
		nag      []nagFinding
	}
	testSettings = Settings{
		StackName:                   "rollout-test",
		ManagedPrefix:               "team-",
		LogRetentionDays:            14,
		NotificationTopicArn:        "arn:aws:sns:eu-west-1:123456789012:oncall",
		NoncurrentVersionExpiryDays: 45,
		RollbackReservedConcurrency: 150,
	}
)

type nagFinding struct{ path, level, message string }

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close() // or every run leaves the jsii runtime's temporary folder behind
	os.Exit(code)
}

// fakeAssets writes an empty bootstrap per function: Code_FromAsset needs the folders.
func fakeAssets(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, fn := range topology.Functions {
		if err := os.MkdirAll(filepath.Join(root, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, fn, "bootstrap"), []byte("#!/bin/sh\n"+fn+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func synth(t *testing.T) {
	t.Helper()
	synthOnce.Do(func() {
		assets := fakeAssets(t)
		synthErr = func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("synth panicked: %v", r)
				}
			}()
			app := awscdk.NewApp(nil)
			awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
			st, err := NewStack(app, "Controller", &StackProps{
				StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}},
				Settings:   testSettings,
				AssetRoot:  assets,
			})
			if err != nil {
				return err
			}
			synthed.stack = st
			synthed.template = assertions.Template_FromStack(st.Stack, nil)
			synthed.json = *synthed.template.ToJSON()
			// The messages go through JSON: the Go type of a synthesis message is deprecated.
			ann := assertions.Annotations_FromStack(st.Stack)
			pack := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for level, found := range map[string]any{
				"error":   ann.FindError(jsii.String("*"), pack),
				"warning": ann.FindWarning(jsii.String("*"), pack),
			} {
				var messages []struct {
					ID    string `json:"id"`
					Entry struct {
						Data any `json:"data"`
					} `json:"entry"`
				}
				if err := json.Unmarshal([]byte(mustJSON(found)), &messages); err != nil {
					return err
				}
				for _, m := range messages {
					synthed.nag = append(synthed.nag, nagFinding{path: m.ID, level: level, message: fmt.Sprint(m.Entry.Data)})
				}
			}
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
}

// check runs one assertion: a failed assertions check panics, and would take the whole
// test binary with it.
func check(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", name, r)
		}
	}()
	f()
}

func hasProps(t *testing.T, typ string, props map[string]any) {
	t.Helper()
	check(t, typ, func() { synthed.template.HasResourceProperties(jsii.String(typ), props) })
}

func resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range synthed.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(res map[string]any) map[string]any {
	p, _ := res["Properties"].(map[string]any)
	return p
}

// logicalID finds the one resource of a type whose property equals want.
func logicalID(t *testing.T, typ, prop string, want any) string {
	t.Helper()
	for id, r := range resources(typ) {
		if reflect.DeepEqual(props(r)[prop], want) {
			return id
		}
	}
	t.Fatalf("no %s with %s=%v", typ, prop, want)
	return ""
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }
func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

func TestArtifactsBucket(t *testing.T) {
	synth(t)
	hasProps(t, "AWS::S3::Bucket", map[string]any{
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
		}},
		"PublicAccessBlockConfiguration": map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		"NotificationConfiguration": map[string]any{"EventBridgeConfiguration": map[string]any{"EventBridgeEnabled": true}},
		"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"NoncurrentVersionExpiration": map[string]any{"NoncurrentDays": testSettings.NoncurrentVersionExpiryDays},
				"Status":                      "Enabled",
			}),
		})},
	})
	hasProps(t, "AWS::S3::BucketPolicy", map[string]any{
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Deny",
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			}),
		})},
	})
	check(t, "no notifications custom resource", func() {
		synthed.template.ResourceCountIs(jsii.String("Custom::S3BucketNotifications"), jsii.Number(0))
		// The functions, and the deploy provider framework's onEvent, isComplete and onTimeout.
		synthed.template.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(len(topology.Functions)+3))
	})
}

func TestRolloutTable(t *testing.T) {
	synth(t)
	keys := func(pk, sk string) []any {
		return []any{
			map[string]any{"AttributeName": pk, "KeyType": "HASH"},
			map[string]any{"AttributeName": sk, "KeyType": "RANGE"},
		}
	}
	index := func(name, pk, sk string) any {
		return map[string]any{"IndexName": name, "KeySchema": keys(pk, sk), "Projection": map[string]any{"ProjectionType": "ALL"}}
	}
	hasProps(t, "AWS::DynamoDB::Table", map[string]any{
		"BillingMode":                      "PAY_PER_REQUEST",
		"KeySchema":                        keys(topology.AttrPK, topology.AttrSK),
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": topology.AttrTTL, "Enabled": true},
		"GlobalSecondaryIndexes": assertions.Match_ArrayEquals(&[]any{
			index(topology.HistoryIndex, topology.AttrHistoryPK, topology.AttrHistorySK),
			index(topology.ActiveIndex, topology.AttrActivePK, topology.AttrActiveSK),
		}),
	})
	check(t, "table retained", func() {
		synthed.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
		})
	})
}

func TestFunctions(t *testing.T) {
	synth(t)
	prefix := testSettings.StackName
	tableID := logicalID(t, "AWS::DynamoDB::Table", "BillingMode", "PAY_PER_REQUEST")
	bucketID := ""
	for id := range resources("AWS::S3::Bucket") {
		bucketID = id
	}
	roleID := ""
	for id, r := range resources("AWS::IAM::Role") {
		if strings.Contains(fmt.Sprint(props(r)["AssumeRolePolicyDocument"]), "scheduler.amazonaws.com") {
			roleID = id
		}
	}
	advanceArn := map[string]any{"Fn::Join": []any{"", []any{
		"arn:", ref("AWS::Partition"), ":lambda:eu-west-1:123456789012:function:" + topology.FunctionName(prefix, "advance"),
	}}}
	rollbackArn := map[string]any{"Fn::Join": []any{"", []any{
		"arn:", ref("AWS::Partition"), ":lambda:eu-west-1:123456789012:function:" + topology.FunctionName(prefix, "rollback"),
	}}}
	// The stack has a concrete environment, so FormatArn keeps the region and account
	// as literals; the partition stays a pseudo parameter.
	wantEnv := map[string]any{
		topology.EnvRollbackFunctionArn: rollbackArn,
		topology.EnvTable:               ref(tableID),
		topology.EnvBucket:              ref(bucketID),
		topology.EnvScheduleGroup:       topology.ScheduleGroupName(prefix),
		topology.EnvSchedulerRoleArn:    getAtt(roleID, "Arn"),
		topology.EnvAdvanceFunctionArn:  advanceArn,
		topology.EnvEventBus:            topology.DefaultEventBus,
		topology.EnvTickRate:            topology.DefaultTickRate,
		topology.EnvMinInterval:         topology.DefaultMinInterval,
		topology.EnvDedupeTTL:           topology.DefaultDedupeTTL,
		topology.EnvLogLevel:            "INFO",
	}
	dlqID := ""
	for id := range resources("AWS::SQS::Queue") {
		if strings.HasPrefix(id, "FunctionDLQ") {
			dlqID = id
		}
	}
	roles := map[string]bool{}
	for _, fn := range topology.Functions {
		name := topology.FunctionName(prefix, fn)
		id := logicalID(t, "AWS::Lambda::Function", "FunctionName", name)
		p := props(resources("AWS::Lambda::Function")[id])
		check(t, fn+" runtime", func() {
			got := map[string]any{"Runtime": p["Runtime"], "Architectures": p["Architectures"], "Handler": p["Handler"], "Timeout": p["Timeout"]}
			want := map[string]any{"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap", "Timeout": topology.FunctionTimeout(fn).Seconds()}
			if !reflect.DeepEqual(got, want) {
				panic(fmt.Sprintf("got %v, want %v", got, want))
			}
		})
		check(t, fn+" environment", func() {
			got := p["Environment"].(map[string]any)["Variables"]
			if !reflect.DeepEqual(normalize(got), normalize(wantEnv)) {
				panic(fmt.Sprintf("got %s\nwant %s", mustJSON(got), mustJSON(wantEnv)))
			}
		})
		check(t, fn+" environment is what wiring reads", func() {
			vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			getenv := func(k string) string {
				switch v := vars[k].(type) {
				case nil:
					return ""
				case string:
					return v
				default:
					return "resolved-at-deploy" // a Ref or GetAtt
				}
			}
			if _, err := wiring.SettingsFromEnv(getenv); err != nil {
				panic(err)
			}
		})
		check(t, fn+" reserved concurrency", func() {
			var want any
			if fn == "rollback" {
				want = float64(testSettings.RollbackReservedConcurrency)
			}
			if !reflect.DeepEqual(p["ReservedConcurrentExecutions"], want) {
				panic(fmt.Sprintf("ReservedConcurrentExecutions %v, want %v", p["ReservedConcurrentExecutions"], want))
			}
		})
		check(t, fn+" dead-letter queue", func() {
			var want any
			if asyncInvoked(fn) {
				want = map[string]any{"TargetArn": getAtt(dlqID, "Arn")}
			}
			if !reflect.DeepEqual(p["DeadLetterConfig"], want) {
				panic(fmt.Sprintf("DeadLetterConfig %v, want %v", p["DeadLetterConfig"], want))
			}
		})
		check(t, fn+" log group", func() {
			logID := logicalID(t, "AWS::Logs::LogGroup", "LogGroupName", topology.FunctionLogGroup(name))
			lp := props(resources("AWS::Logs::LogGroup")[logID])
			if lp["RetentionInDays"] != float64(testSettings.LogRetentionDays) {
				panic(fmt.Sprintf("retention %v", lp["RetentionInDays"]))
			}
			if !reflect.DeepEqual(p["LoggingConfig"], map[string]any{"LogGroup": ref(logID)}) {
				panic(fmt.Sprintf("LoggingConfig %v", p["LoggingConfig"]))
			}
		})
		role := fmt.Sprint(p["Role"])
		if roles[role] {
			t.Errorf("%s shares its role %s", fn, role)
		}
		roles[role] = true
	}
	hasProps(t, "AWS::Lambda::EventInvokeConfig", map[string]any{"MaximumRetryAttempts": topology.FunctionAsyncInvoke.MaximumRetryAttempts})
	asyncs := 0
	for _, fn := range topology.Functions {
		if asyncInvoked(fn) {
			asyncs++
		}
	}
	check(t, "event invoke configs", func() {
		synthed.template.ResourceCountIs(jsii.String("AWS::Lambda::EventInvokeConfig"), jsii.Number(asyncs))
	})
}

// policy is a topology retry policy as a target's RetryPolicy reads in the template.
func policy(p topology.RetryPolicy) map[string]any {
	return map[string]any{"MaximumRetryAttempts": float64(p.MaximumRetryAttempts), "MaximumEventAgeInSeconds": float64(p.MaximumEventAgeInSeconds())}
}

// normalize makes JSON-like values comparable after a round trip (numbers as float64).
func normalize(v any) any {
	var out any
	_ = json.Unmarshal([]byte(mustJSON(v)), &out)
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

func TestControllerStateMachine(t *testing.T) {
	synth(t)
	file, err := os.ReadFile("../../statemachines/rollout-controller.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	name := topology.ControllerName(testSettings.StackName)
	id := logicalID(t, "AWS::StepFunctions::StateMachine", "StateMachineName", name)
	p := props(resources("AWS::StepFunctions::StateMachine")[id])
	fnID := func(fn string) string {
		return logicalID(t, "AWS::Lambda::Function", "FunctionName", topology.FunctionName(testSettings.StackName, fn))
	}
	subs := map[string]any{
		"PrepareFunctionArn":  getAtt(fnID("prepare"), "Arn"),
		"RegisterFunctionArn": getAtt(fnID("register"), "Arn"),
		"FinalizeFunctionArn": getAtt(fnID("finalize"), "Arn"),
	}
	check(t, "substitutions", func() {
		if !reflect.DeepEqual(p["DefinitionSubstitutions"], subs) {
			panic(fmt.Sprintf("got %v", p["DefinitionSubstitutions"]))
		}
	})
	// The definition after substitution: each ${Name} becomes the value CloudFormation
	// substitutes, written as its intrinsic function; both sides must name the same ones.
	substitute := func(definition string) string {
		return placeholder.ReplaceAllStringFunc(definition, func(m string) string {
			v, ok := subs[placeholder.FindStringSubmatch(m)[1]]
			if !ok {
				t.Errorf("%s has no substitution", m)
				return m
			}
			return strings.Trim(mustJSON(mustJSON(v)), `"`)
		})
	}
	check(t, "definition equals the file after substitution", func() {
		got, ok := p["DefinitionString"].(string)
		if !ok {
			panic(fmt.Sprintf("DefinitionString is not inline: %v", p["DefinitionString"]))
		}
		var a, b any
		if err := json.Unmarshal([]byte(substitute(got)), &a); err != nil {
			panic(err)
		}
		if err := json.Unmarshal([]byte(substitute(string(file))), &b); err != nil {
			panic(err)
		}
		if !reflect.DeepEqual(a, b) {
			panic("the template's definition differs from statemachines/rollout-controller.asl.json")
		}
		if !strings.Contains(substitute(got), fnID("prepare")) {
			panic("prepare's ARN is not in the substituted definition")
		}
	})
	logID := logicalID(t, "AWS::Logs::LogGroup", "LogGroupName", topology.StateMachineLogGroup(name))
	hasProps(t, "AWS::StepFunctions::StateMachine", map[string]any{
		"StateMachineName":     name,
		"StateMachineType":     "STANDARD",
		"TracingConfiguration": map[string]any{"Enabled": true},
		"LoggingConfiguration": map[string]any{
			"Level":                "ALL",
			"IncludeExecutionData": true,
			"Destinations": []any{map[string]any{"CloudWatchLogsLogGroup": map[string]any{
				"LogGroupArn": getAtt(logID, "Arn"),
			}}},
		},
	})
}

func TestRules(t *testing.T) {
	synth(t)
	bucketID := ""
	for id := range resources("AWS::S3::Bucket") {
		bucketID = id
	}
	const bucketMarker = "BUCKET-NAME"
	uploads := normalize(topology.ObjectCreatedPattern(bucketMarker))
	uploads.(map[string]any)["detail"].(map[string]any)["bucket"].(map[string]any)["name"] = []any{ref(bucketID)}
	controller := logicalID(t, "AWS::StepFunctions::StateMachine", "StateMachineName", topology.ControllerName(testSettings.StackName))
	fn := func(name string) string {
		return logicalID(t, "AWS::Lambda::Function", "FunctionName", topology.FunctionName(testSettings.StackName, name))
	}
	for _, c := range []struct {
		name    string
		pattern any
		target  any
		policy  map[string]any
	}{
		{"uploads", uploads, ref(controller), policy(topology.UploadDelivery)},
		{"alarms", normalize(topology.AlarmStatePattern()), getAtt(fn("rollback"), "Arn"), policy(topology.RollbackDelivery)},
		{"control", normalize(topology.ControlRequestPattern()), getAtt(fn("control"), "Arn"), policy(topology.ControlDelivery)},
	} {
		var rule map[string]any
		for _, r := range resources("AWS::Events::Rule") {
			if reflect.DeepEqual(normalize(props(r)["EventPattern"]), c.pattern) {
				rule = props(r)
			}
		}
		if rule == nil {
			t.Errorf("%s: no rule with the pattern %s", c.name, mustJSON(c.pattern))
			continue
		}
		targets := rule["Targets"].([]any)
		if len(targets) != 1 {
			t.Errorf("%s: %d targets", c.name, len(targets))
			continue
		}
		target := targets[0].(map[string]any)
		if !reflect.DeepEqual(target["Arn"], c.target) {
			t.Errorf("%s: target %v, want %v", c.name, target["Arn"], c.target)
		}
		if !reflect.DeepEqual(target["RetryPolicy"], c.policy) {
			t.Errorf("%s: retry policy %v", c.name, target["RetryPolicy"])
		}
		if !strings.Contains(mustJSON(target["DeadLetterConfig"]), "EventsDLQ") {
			t.Errorf("%s: dead-letter config %v", c.name, target["DeadLetterConfig"])
		}
	}
}

func TestSchedules(t *testing.T) {
	synth(t)
	group := topology.ScheduleGroupName(testSettings.StackName)
	hasProps(t, "AWS::Scheduler::ScheduleGroup", map[string]any{"Name": group})
	hasProps(t, "AWS::IAM::Role", map[string]any{
		"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
			"Action":    "sts:AssumeRole",
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
			"Condition": map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": "123456789012"},
				"ArnEquals": map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{
					"arn:", ref("AWS::Partition"), ":scheduler:eu-west-1:123456789012:schedule-group/" + group,
				}}}},
			},
		}}},
	})
	hasProps(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": map[string]any{"Statement": []any{map[string]any{
		"Sid": "InvokeAdvance", "Action": "lambda:InvokeFunction", "Effect": "Allow",
		"Resource": map[string]any{"Fn::Join": []any{"", []any{
			"arn:", ref("AWS::Partition"), ":lambda:eu-west-1:123456789012:function:" + topology.FunctionName(testSettings.StackName, "advance"),
		}}},
	}, map[string]any{
		"Sid": "InvokeRollback", "Action": "lambda:InvokeFunction", "Effect": "Allow",
		"Resource": map[string]any{"Fn::Join": []any{"", []any{
			"arn:", ref("AWS::Partition"), ":lambda:eu-west-1:123456789012:function:" + topology.FunctionName(testSettings.StackName, "rollback"),
		}}},
	}}}})
}

// statements lists every statement of every policy document in the template, with where
// it was found.
func statements() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if st, ok := x["Statement"].([]any); ok {
				for _, s := range st {
					out[path] = append(out[path], s.(map[string]any))
				}
				return
			}
			for k, c := range x {
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s/%d", path, i), c)
			}
		}
	}
	walk("", synthed.json["Resources"])
	return out
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func TestNoWildcardResourceForStatesDynamoDBS3(t *testing.T) {
	synth(t)
	found := 0
	for path, sts := range statements() {
		for _, s := range sts {
			found++
			for _, a := range list(s["Action"]) {
				action := fmt.Sprint(a)
				if !strings.HasPrefix(action, "states:") && !strings.HasPrefix(action, "dynamodb:") && !strings.HasPrefix(action, "s3:") {
					continue
				}
				for _, r := range list(s["Resource"]) {
					if r == "*" {
						t.Errorf("%s: %s on Resource \"*\"", path, action)
					}
				}
				if action == "states:*" || action == "dynamodb:*" || (action == "s3:*" && s["Effect"] != "Deny") {
					t.Errorf("%s: %s", path, action)
				}
			}
		}
	}
	if found < 20 {
		t.Errorf("found only %d policy statements: the walk missed documents", found)
	}
}

// TestFunctionRoles pins what each role may do: the statements NewStack writes from
// accessOf, and nothing else.
func TestFunctionRoles(t *testing.T) {
	synth(t)
	prefixArn := map[string]any{"Fn::Join": []any{"", []any{"arn:", ref("AWS::Partition"), ":states:eu-west-1:123456789012:stateMachine:", ref(ManagedPrefixParameter), "*"}}}
	controllerArn := map[string]any{"Fn::Join": []any{"", []any{"arn:", ref("AWS::Partition"), ":states:eu-west-1:123456789012:stateMachine:" + topology.ControllerName(testSettings.StackName)}}}
	tagged := map[string]any{"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/rollout:managed": "true"}}
	policies := resources("AWS::IAM::Policy")
	for _, fn := range topology.Functions {
		roleID := ""
		for id := range resources("AWS::IAM::Role") {
			if strings.HasPrefix(id, exported(fn)+"Role") {
				roleID = id
			}
		}
		var sts []map[string]any
		for _, p := range policies {
			if reflect.DeepEqual(props(p)["Roles"], []any{ref(roleID)}) {
				for _, s := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					sts = append(sts, s.(map[string]any))
				}
			}
		}
		bySid := map[string]map[string]any{}
		var actions []string
		for _, s := range sts {
			bySid[fmt.Sprint(s["Sid"])] = s
			for _, a := range list(s["Action"]) {
				actions = append(actions, fmt.Sprint(a))
			}
		}
		a := accessOf[fn]
		want := []string{"logs:CreateLogStream", "logs:PutLogEvents"}
		if asyncInvoked(fn) {
			want = append(want, "sqs:SendMessage")
		}
		want = append(want, a.table...)
		if a.queryIndexes {
			want = append(want, "dynamodb:Query")
		}
		if a.putEvents {
			want = append(want, "events:PutEvents")
		}
		if a.uploadDefinitions {
			want = append(want, "s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions")
		}
		want = append(want, a.stateMachineReads...)
		want = append(want, a.managedActions...)
		if a.validate {
			want = append(want, "states:ValidateStateMachineDefinition")
		}
		if a.answerTasks {
			want = append(want, "states:SendTaskSuccess", "states:SendTaskFailure")
		}
		if a.readArtifacts {
			want = append(want, "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket")
		}
		if a.describeAlarms {
			want = append(want, "cloudwatch:DescribeAlarms")
		}
		if a.metricData {
			want = append(want, "cloudwatch:GetMetricData")
		}
		if a.alarmHistory {
			want = append(want, "cloudwatch:DescribeAlarmHistory")
		}
		if a.createSchedule {
			want = append(want, "scheduler:CreateSchedule", "iam:PassRole")
		}
		if a.deleteSchedule {
			want = append(want, "scheduler:DeleteSchedule")
		}
		sort.Strings(actions)
		sort.Strings(want)
		if !slices.Equal(actions, want) {
			t.Errorf("%s may do %v, want %v", fn, actions, want)
		}
		if s, ok := bySid["ManagedStateMachinesOnly"]; ok {
			if !reflect.DeepEqual(s["Condition"], tagged) || !reflect.DeepEqual(s["Resource"], prefixArn) {
				t.Errorf("%s: managed statement %s", fn, mustJSON(s))
			}
		}
		if s, ok := bySid["ReadStateMachines"]; ok && !reflect.DeepEqual(s["Resource"], prefixArn) {
			t.Errorf("%s: read statement %s", fn, mustJSON(s))
		}
		if s, ok := bySid["AnswerControllerTasks"]; ok && !reflect.DeepEqual(s["Resource"], controllerArn) {
			t.Errorf("%s: task statement %s", fn, mustJSON(s))
		}
	}
}

func TestMonitoring(t *testing.T) {
	synth(t)
	alarms := resources("AWS::CloudWatch::Alarm")
	// The controller's failures, each function's errors but deploystatus's, two dead-letter queues.
	if want := 1 + len(topology.Functions) - 1 + 2; len(alarms) != want {
		t.Errorf("%d alarms, want %d", len(alarms), want)
	}
	names := map[string]bool{}
	for id, a := range alarms {
		p := props(a)
		names[fmt.Sprint(p["AlarmName"])] = true
		if !reflect.DeepEqual(p["AlarmActions"], []any{testSettings.NotificationTopicArn}) || !reflect.DeepEqual(p["OKActions"], []any{testSettings.NotificationTopicArn}) {
			t.Errorf("%s: actions %v %v", id, p["AlarmActions"], p["OKActions"])
		}
	}
	prefix := testSettings.StackName
	for _, n := range []string{prefix + "-controller-failed", prefix + "-function-dlq", prefix + "-events-dlq", topology.FunctionName(prefix, "rollback") + "-errors"} {
		if !names[n] {
			t.Errorf("no alarm %s (have %v)", n, names)
		}
	}
	hasProps(t, "AWS::CloudWatch::Alarm", map[string]any{
		"AlarmName": prefix + "-controller-failed", "MetricName": "ExecutionsFailed", "Namespace": "AWS/States",
		"Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
	})
	hasProps(t, "AWS::CloudWatch::Dashboard", map[string]any{"DashboardName": topology.DashboardName(prefix)})
	check(t, "dashboard queries", func() {
		body := mustJSON(props(firstOf("AWS::CloudWatch::Dashboard"))["DashboardBody"])
		for _, want := range []string{"Rollout decisions", `filter msg = \\\"decision\\\"`, topology.FunctionLogGroup(topology.FunctionName(prefix, "advance"))} {
			if !strings.Contains(body, want) {
				panic("dashboard lacks " + want)
			}
		}
	})
}

func firstOf(typ string) map[string]any {
	for _, r := range resources(typ) {
		return r
	}
	return nil
}

// TestCdkNag requires cdk-nag's AwsSolutions pack to find no unsuppressed error; every
// suppression carries its reason in nag.go.
func TestCdkNag(t *testing.T) {
	synth(t)
	for _, f := range synthed.nag {
		if f.level == "error" {
			t.Errorf("cdk-nag %s at %s: %s", f.level, f.path, f.message)
		} else {
			t.Logf("cdk-nag %s at %s: %s", f.level, f.path, f.message)
		}
	}
}

func TestSettings(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"stack name", func(s *Settings) { s.StackName = "1bad" }, ContextStackName},
		{"long stack name", func(s *Settings) { s.StackName = strings.Repeat("a", 41) }, ContextStackName},
		{"prefix", func(s *Settings) { s.ManagedPrefix = "team*" }, ContextManagedPrefix},
		{"retention", func(s *Settings) { s.LogRetentionDays = 31 }, ContextLogRetentionDays},
		{"topic", func(s *Settings) { s.NotificationTopicArn = "oncall" }, ContextNotificationTopicArn},
		{"expiry", func(s *Settings) { s.NoncurrentVersionExpiryDays = 0 }, ContextNoncurrentVersionDays},
		{"rollback concurrency", func(s *Settings) { s.RollbackReservedConcurrency = -1 }, ContextRollbackConcurrency},
	} {
		s := DefaultSettings()
		c.edit(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.want)
		}
	}
}

func TestSettingsFromContext(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{
		ContextStackName:             "ops-rollout",
		ContextManagedPrefix:         "orders",
		ContextLogRetentionDays:      "90", // as -c passes it
		ContextNotificationTopicArn:  "arn:aws:sns:us-east-1:123456789012:pager",
		ContextNoncurrentVersionDays: 7.0, // as cdk.json holds it
		ContextRollbackConcurrency:   "0", // an account whose quota cannot set 200 aside
	}})
	s, err := SettingsFromContext(app)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{StackName: "ops-rollout", ManagedPrefix: "orders", LogRetentionDays: 90, NotificationTopicArn: "arn:aws:sns:us-east-1:123456789012:pager", NoncurrentVersionExpiryDays: 7}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	bad := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{ContextLogRetentionDays: "a month"}})
	if _, err := SettingsFromContext(bad); err == nil || !strings.Contains(err.Error(), ContextLogRetentionDays) {
		t.Errorf("a retention that is no number: got %v", err)
	}
}

func TestMissingBootstrap(t *testing.T) {
	_, err := NewStack(awscdk.NewApp(nil), "Missing", &StackProps{Settings: DefaultSettings(), AssetRoot: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("got %v, want an error that says to run make build", err)
	}
}

// The metrics adapter counts a candidate's executions with ListExecutions when its
// AWS/States metrics say nothing: every function that reads metrics may list executions
// of the managed state machines.
func TestMetricReadersMayListExecutions(t *testing.T) {
	for fn, a := range accessOf {
		if a.metricData && !slices.Contains(a.stateMachineReads, "states:ListExecutions") {
			t.Errorf("%s reads metrics but may not call states:ListExecutions", fn)
		}
	}
}

// sfn-rollout doctor simulates, for each role, the Step Functions actions of
// topology.StateMachineActions: exactly what the stack grants the function on managed
// state machines.
func TestDoctorSimulatesWhatTheRolesGrant(t *testing.T) {
	for _, fn := range topology.Functions {
		a := accessOf[fn]
		granted := append(slices.Clone(a.stateMachineReads), a.managedActions...)
		simulated := slices.Clone(topology.StateMachineActions[fn])
		sort.Strings(granted)
		sort.Strings(simulated)
		if !slices.Equal(granted, simulated) {
			t.Errorf("%s: the stack grants %v on managed state machines, doctor simulates %v", fn, granted, simulated)
		}
	}
}

// resourceText is a statement's resource as text, with Fn::Join's parts joined, a
// reference to a stack parameter written as the parameter's default, and any other
// intrinsic written as <intrinsic>.
func resourceText(r any) string {
	switch x := r.(type) {
	case string:
		return x
	case map[string]any:
		if name, ok := x["Ref"].(string); ok {
			if p, ok := synthed.json["Parameters"].(map[string]any)[name].(map[string]any); ok {
				if d, ok := p["Default"].(string); ok {
					return d
				}
			}
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range list(j[1]) {
				parts = append(parts, resourceText(p))
			}
			return strings.Join(parts, fmt.Sprint(j[0]))
		}
	}
	return "<intrinsic>"
}

// readOnlyStates are the Step Functions actions that change nothing.
func readOnlyStates(action string) bool {
	name := strings.TrimPrefix(action, "states:")
	return strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "List") || strings.HasPrefix(name, "Get") || name == "ValidateStateMachineDefinition"
}

// Least privilege whatever the managed prefix (none by default): no statement reaches
// every execution of the prefix's state machines without a condition — executions are
// granted by a fixed name prefix —, and no Step Functions write reaches the prefix's state
// machines without the rollout:managed tag condition.
func TestNoUnconditionedExecutionsOrStateMachineWrites(t *testing.T) {
	synth(t)
	anyExecution := regexp.MustCompile(`:execution:` + regexp.QuoteMeta(testSettings.ManagedPrefix) + `\*(:\*)?$`)
	prefixMachines := regexp.MustCompile(`:stateMachine:` + regexp.QuoteMeta(testSettings.ManagedPrefix) + `\*$`)
	executions := 0
	for path, sts := range statements() {
		for _, s := range sts {
			if s["Effect"] == "Deny" || s["Condition"] != nil {
				continue
			}
			for _, r := range list(s["Resource"]) {
				res := resourceText(r)
				if strings.Contains(res, ":execution:") {
					executions++
					if anyExecution.MatchString(res) {
						t.Errorf("%s: %v on every execution (%s) without a condition", path, s["Action"], res)
					}
				}
				if !prefixMachines.MatchString(res) {
					continue
				}
				for _, a := range list(s["Action"]) {
					if action := fmt.Sprint(a); !readOnlyStates(action) {
						t.Errorf("%s: %s on %s without the %s condition", path, action, res, topology.ManagedTag)
					}
				}
			}
		}
	}
	if executions == 0 {
		t.Error("no statement names executions: the pre-traffic tests' grant is missing")
	}
}

// The controller state machine's role: what it may do, pinned statement by statement
// (CDK adds its own log-delivery and X-Ray statements, on "*", which this test leaves to
// TestCdkNag's reviewed findings).
func TestControllerRole(t *testing.T) {
	synth(t)
	const account = ":states:eu-west-1:123456789012:"
	tagged := map[string]any{"StringEqualsIgnoreCase": map[string]any{"aws:ResourceTag/rollout:managed": "true"}}
	want := map[string]struct {
		actions   []string
		resources []string
		condition any
	}{
		"RunPreTrafficTests": {[]string{"states:StartExecution"}, []string{"arn:<intrinsic>" + account + "stateMachine:" + testSettings.ManagedPrefix + "*"}, tagged},
		"WatchPreTrafficTests": {[]string{"states:DescribeExecution", "states:StopExecution"}, []string{
			"arn:<intrinsic>" + account + "execution:" + testSettings.ManagedPrefix + "*:" + topology.PreTrafficExecutionPrefix + "*",
			"arn:<intrinsic>" + account + "express:" + testSettings.ManagedPrefix + "*:" + topology.PreTrafficExecutionPrefix + "*"}, nil},
		"SyncExecutionRule": {[]string{"events:PutTargets", "events:PutRule", "events:DescribeRule"}, []string{"arn:<intrinsic>:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"}, nil},
	}
	seen := map[string]bool{}
	for path, sts := range statements() {
		if !strings.HasPrefix(path, "/ControllerRoleDefaultPolicy") {
			continue
		}
		for _, s := range sts {
			sid, _ := s["Sid"].(string)
			w, ok := want[sid]
			if !ok {
				continue
			}
			seen[sid] = true
			var actions, resources []string
			for _, a := range list(s["Action"]) {
				actions = append(actions, fmt.Sprint(a))
			}
			for _, r := range list(s["Resource"]) {
				resources = append(resources, resourceText(r))
			}
			if !slices.Equal(actions, w.actions) || !slices.Equal(resources, w.resources) || !reflect.DeepEqual(s["Condition"], w.condition) {
				t.Errorf("%s: %v on %v if %v; want %v on %v if %v", sid, actions, resources, s["Condition"], w.actions, w.resources, w.condition)
			}
		}
	}
	for sid := range want {
		if !seen[sid] {
			t.Errorf("the controller's role has no statement %s", sid)
		}
	}
	// The definition names its test executions with the prefix the role is granted.
	if !strings.Contains(statemachines.Controller, "States.Format('"+topology.PreTrafficExecutionPrefix+"{}-{}'") {
		t.Errorf("the controller definition does not name its pre-traffic executions %s<rollout id>-<index>", topology.PreTrafficExecutionPrefix)
	}
}

// The managed prefix is a stack parameter (its default the managedPrefix context), with
// the pattern Settings.Validate checks, and it alone names the managed state machines:
// the template holds no literal stateMachine:<prefix>, so `cdk deploy --parameters
// ManagedPrefix=…` narrows every statement at once.
func TestManagedPrefixIsAStackParameter(t *testing.T) {
	synth(t)
	p, ok := synthed.json["Parameters"].(map[string]any)[ManagedPrefixParameter].(map[string]any)
	if !ok {
		t.Fatalf("no %s parameter in %v", ManagedPrefixParameter, synthed.json["Parameters"])
	}
	if p["Type"] != "String" || p["Default"] != testSettings.ManagedPrefix || fmt.Sprint(p["MaxLength"]) != "80" {
		t.Errorf("parameter %v: want a String defaulting to %q, at most 80 characters", p, testSettings.ManagedPrefix)
	}
	pattern, err := regexp.Compile(fmt.Sprint(p["AllowedPattern"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "team-", "Orders_2"} {
		if !pattern.MatchString(prefix) {
			t.Errorf("AllowedPattern %s refuses %q", pattern, prefix)
		}
	}
	for _, prefix := range []string{"team*", "a:b", "x/y"} {
		if pattern.MatchString(prefix) {
			t.Errorf("AllowedPattern %s takes %q", pattern, prefix)
		}
	}
	body, err := json.Marshal(synthed.json["Resources"])
	if err != nil {
		t.Fatal(err)
	}
	if literal := "stateMachine:" + testSettings.ManagedPrefix; strings.Contains(string(body), literal) {
		t.Errorf("the resources name %q literally: the parameter must govern every grant", literal)
	}
	refs := strings.Count(string(body), `{"Ref":"`+ManagedPrefixParameter+`"}`)
	if refs < len(topology.Functions)+2 {
		t.Errorf("%d references to %s: want one per function role and the controller's two", refs, ManagedPrefixParameter)
	}
}

// A role is granted calls of the services whose clients the function's main builds
// (topology.FunctionClients), no more and no fewer: a client without a grant fails at run
// time with AccessDenied, and a grant without a client is access nothing uses.
func TestRolesGrantTheServicesOfTheFunctionsClients(t *testing.T) {
	for _, fn := range topology.Functions {
		a := accessOf[fn]
		var granted []string
		if len(a.stateMachineReads)+len(a.managedActions) > 0 || a.validate || a.answerTasks {
			granted = append(granted, topology.ClientStepFunctions)
		}
		if a.describeAlarms || a.metricData || a.alarmHistory {
			granted = append(granted, topology.ClientCloudWatch)
		}
		if a.readArtifacts || a.uploadDefinitions {
			granted = append(granted, topology.ClientS3)
		}
		if a.createSchedule || a.deleteSchedule {
			granted = append(granted, topology.ClientScheduler)
		}
		if a.putEvents {
			granted = append(granted, topology.ClientEventBridge)
		}
		want := slices.Clone(topology.FunctionClients[fn])
		sort.Strings(granted)
		sort.Strings(want)
		if !slices.Equal(granted, want) {
			t.Errorf("%s: its role grants calls of %v, its main builds clients of %v", fn, granted, want)
		}
	}
}
