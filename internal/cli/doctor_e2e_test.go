package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/cli"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// doctor runs `sfn-rollout doctor -o json` against env and decodes its answer.
func doctor(t *testing.T, env *localenv.Env, args ...string) (cli.DoctorView, int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := cli.Run(ctx, append([]string{"--endpoint", env.Stack.URL, "doctor", "-o", "json"}, args...), &out, &errb)
	var v cli.DoctorView
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("doctor -o json: exit %d, %v\n%s%s", code, err, out.String(), errb.String())
	}
	return v, code, out.Bytes()
}

// failedChecks lists the checks that failed, as "group/name".
func failedChecks(v cli.DoctorView) []string {
	var out []string
	for _, c := range v.Checks {
		if c.Status == cli.CheckFailed {
			out = append(out, c.Group+"/"+c.Name)
		}
	}
	return out
}

func check(t *testing.T, v cli.DoctorView, group, name string) cli.Check {
	t.Helper()
	for _, c := range v.Checks {
		if c.Group == group && c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s/%s in %+v", group, name, v.Checks)
	return cli.Check{}
}

// wantOneFailure runs doctor and wants exactly the check group/name failed, with a fix
// that says fix, and exit 1.
func wantOneFailure(t *testing.T, env *localenv.Env, group, name, fix string, args ...string) {
	t.Helper()
	v, code, _ := doctor(t, env, args...)
	if failed := failedChecks(v); code != cli.ExitFailed || len(failed) != 1 || failed[0] != group+"/"+name {
		t.Fatalf("doctor: exit %d, failed %q; want exit 1 with %s/%s alone", code, failed, group, name)
	}
	if c := check(t, v, group, name); !strings.Contains(c.Fix, fix) {
		t.Errorf("fix of %s/%s is %q, want it to say %q", group, name, c.Fix, fix)
	}
}

// doctor against local mode: a healthy deployment passes every check (IAM is skipped:
// the endpoint has none), and breaking a rule, deleting an alarm or untagging the state
// machine each turns one check ✘ with its fix. The endpoint writes the Version dimension
// as the version ARN, which doctor reports.
func TestDoctorOnLocalMode(t *testing.T) {
	ctx := context.Background()
	env, err := localenv.Start(ctx, localenv.Options{Speed: speed, Seed: 7, VersionDimensionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	const name = "doctor-orders"
	alarm := topology.AliasFailuresAlarmName(name, "prod")
	m, err := env.CreateManaged(ctx, name, "prod", readFile(t, exampleFile("orders-v1.asl.json")), map[string]string{"alarms": alarm})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.AliasFailuresAlarm(ctx, m, "prod"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out, err := env.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(m.AliasArn), Name: aws.String("doctor-" + string(rune('a'+i))),
			Input: aws.String(`{"orderId":"o-1","items":[{"sku":"a","qty":1}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		waitExecution(t, env, aws.ToString(out.ExecutionArn))
	}

	v, code, out := doctor(t, env, "--state-machine", name+":prod")
	if code != cli.ExitOK || v.Failed != 0 || v.Skipped != 1 || check(t, v, "iam", "function roles").Status != cli.CheckSkipped {
		t.Fatalf("healthy deployment: exit %d, %d failed (%q), %d skipped; want exit 0, none failed, IAM skipped", code, v.Failed, failedChecks(v), v.Skipped)
	}
	if c := check(t, v, "state machine "+name, "metrics"); !strings.Contains(c.Detail, "as the version ARN") {
		t.Errorf("metrics check says %q, want the version ARN form", c.Detail)
	}
	// The alarm's state moves with the clock; the rest is the same on every run.
	stable := regexp.MustCompile(alarm+` (OK|INSUFFICIENT_DATA)`).ReplaceAll(out, []byte(alarm+" <state>"))
	cli.Golden(t, "doctor-local.json", stable)

	eb := eventbridge.NewFromConfig(env.Deployment.AWS)
	t.Run("rule disabled", func(t *testing.T) {
		if _, err := eb.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: aws.String(deploy.RuleUploads)}); err != nil {
			t.Fatal(err)
		}
		wantOneFailure(t, env, "rules", "uploads", "aws events enable-rule --name "+deploy.RuleUploads, "--state-machine", name+":prod")
		if _, err := eb.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: aws.String(deploy.RuleUploads)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("alarm deleted", func(t *testing.T) {
		if _, err := env.CloudWatch.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{alarm}}); err != nil {
			t.Fatal(err)
		}
		wantOneFailure(t, env, "state machine "+name, "alarms", "create them", "--state-machine", name+":prod")
		if _, err := env.AliasFailuresAlarm(ctx, m, "prod"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rollback reserved no concurrency", func(t *testing.T) {
		fn := lambda.NewFromConfig(env.Deployment.AWS)
		rollback := topology.FunctionName(deploy.Prefix, "rollback")
		if _, err := fn.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(rollback), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
		wantOneFailure(t, env, "functions", "rollback", "aws lambda delete-function-concurrency --function-name "+rollback, "--state-machine", name+":prod")
		if _, err := fn.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(rollback), ReservedConcurrentExecutions: aws.Int32(int32(topology.ReservedConcurrency("rollback")))}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("state machine untagged", func(t *testing.T) {
		if _, err := env.SFN.UntagResource(ctx, &sfn.UntagResourceInput{ResourceArn: aws.String(m.Arn), TagKeys: []string{topology.ManagedTag}}); err != nil {
			t.Fatal(err)
		}
		wantOneFailure(t, env, "state machine "+name, "managed", "aws stepfunctions tag-resource --resource-arn "+m.Arn, "--state-machine", name+":prod")
	})
}

// An account whose Lambda concurrency quota is under AWS's default 1,000 fails doctor's
// account check, with the quota to ask for.
func TestDoctorAccountConcurrency(t *testing.T) {
	env, err := localenv.Start(context.Background(), localenv.Options{Speed: speed, Seed: 7, LambdaConcurrency: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	wantOneFailure(t, env, "account", "concurrency", `"Concurrent executions" quota of 1000`)
	v, _, _ := doctor(t, env)
	if c := check(t, v, "account", "concurrency"); !strings.Contains(c.Detail, "300 executions at once") || !strings.Contains(c.Detail, "100 of them unreserved") {
		t.Errorf("account check says %q, want the limit 300 and 100 unreserved (rollback reserves 200)", c.Detail)
	}
}

func waitExecution(t *testing.T, env *localenv.Env, arn string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d, err := env.SFN.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != "RUNNING" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("execution %s still running after 30s", arn)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// awsFront serves env as AWS would be seen: it answers no /_sfn-rollout/config (so the CLI
// takes it for AWS), answers CloudFormation's DescribeStacks and IAM's
// SimulatePrincipalPolicy (which local mode lacks) from fixed replies in their awsQuery
// XML, and passes every other request to env.
func awsFront(t *testing.T, env *localenv.Env, stackStatus, managedPrefix string, outputs map[string]string, denied map[string]bool) *httptest.Server {
	t.Helper()
	target, err := url.Parse(env.Stack.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	service := regexp.MustCompile(`Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == cli.LocalConfigPath {
			http.NotFound(w, r)
			return
		}
		m := service.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil || (m[1] != "cloudformation" && m[1] != "iam") {
			proxy.ServeHTTP(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		switch r.Form.Get("Action") {
		case "DescribeStacks":
			var outs strings.Builder
			for k, v := range outputs {
				fmt.Fprintf(&outs, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>", k, v)
			}
			fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>
<StackName>%s</StackName><StackStatus>%s</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime><Outputs>%s</Outputs>
<Parameters><member><ParameterKey>%s</ParameterKey><ParameterValue>%s</ParameterValue></member></Parameters>
</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`,
				r.Form.Get("StackName"), stackStatus, outs.String(), topology.ParameterManagedPrefix, managedPrefix)
		case "SimulatePrincipalPolicy":
			if r.Form.Get("ContextEntries.member.1.ContextKeyName") != "aws:ResourceTag/"+topology.ManagedTag || r.Form.Get("ContextEntries.member.1.ContextKeyValues.member.1") != "true" {
				http.Error(w, "the simulation lacks the rollout:managed tag", http.StatusBadRequest)
				return
			}
			var results strings.Builder
			for i := 1; r.Form.Get(fmt.Sprintf("ActionNames.member.%d", i)) != ""; i++ {
				action := r.Form.Get(fmt.Sprintf("ActionNames.member.%d", i))
				decision := "allowed"
				if denied[action] {
					decision = "implicitDeny"
				}
				fmt.Fprintf(&results, "<member><EvalActionName>%s</EvalActionName><EvalResourceName>%s</EvalResourceName><EvalDecision>%s</EvalDecision></member>",
					action, r.Form.Get("ResourceArns.member.1"), decision)
			}
			fmt.Fprintf(w, `<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><SimulatePrincipalPolicyResult>
<EvaluationResults>%s</EvaluationResults><IsTruncated>false</IsTruncated></SimulatePrincipalPolicyResult>
<ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>`, results.String())
		default:
			http.Error(w, "unexpected "+r.Form.Get("Action"), http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// doctor as on AWS: the names come from the stack's outputs, the roles are simulated with
// IAM, and a failed stack or a role that may not make a call turns its check ✘.
func TestDoctorOnAWS(t *testing.T) {
	ctx := context.Background()
	env, err := localenv.Start(ctx, localenv.Options{Speed: speed, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	const name = "doctor-aws"
	if _, err := env.CreateManaged(ctx, name, "prod", readFile(t, exampleFile("orders-v1.asl.json")), nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	outputs := map[string]string{
		topology.OutputBucket: deploy.Bucket, topology.OutputTable: deploy.Table, topology.OutputScheduleGroup: topology.ScheduleGroupName(deploy.Prefix),
		topology.OutputController: env.Deployment.ControllerStateMachineArn, topology.OutputDashboard: deploy.Prefix,
	}
	run := func(front *httptest.Server) (cli.DoctorView, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := cli.Run(ctx, []string{"--endpoint", front.URL, "--region", "us-east-1", "doctor", "-o", "json", "--state-machine", name}, &out, &errb)
		var v cli.DoctorView
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("doctor: exit %d, %v\n%s%s", code, err, out.String(), errb.String())
		}
		return v, code
	}

	v, code := run(awsFront(t, env, "UPDATE_COMPLETE", "doctor-", outputs, nil))
	if code != cli.ExitOK || v.Target != "AWS" || v.Failed != 0 || v.Skipped != 0 {
		t.Fatalf("healthy stack: exit %d, target %s, failed %q, %d skipped; want exit 0 on AWS, all passed", code, v.Target, failedChecks(v), v.Skipped)
	}
	if c := check(t, v, "iam", "advance"); !strings.Contains(c.Detail, "may make its 4 Step Functions calls on arn:aws:states:us-east-1:000000000000:stateMachine:"+name) {
		t.Errorf("iam/advance says %q", c.Detail)
	}
	if c := check(t, v, "stack", "outputs"); !strings.Contains(c.Detail, "UPDATE_COMPLETE") {
		t.Errorf("stack/outputs says %q", c.Detail)
	}
	if c := check(t, v, "state machine "+name, "name"); !strings.Contains(c.Detail, `under the stack's ManagedPrefix "doctor-"`) {
		t.Errorf("the name check says %q", c.Detail)
	}

	// A state machine outside the stack's prefix: the roles' grants cannot reach it.
	v, code = run(awsFront(t, env, "UPDATE_COMPLETE", "team-", outputs, nil))
	if failed := failedChecks(v); code != cli.ExitFailed || !slices.Equal(failed, []string{"state machine " + name + "/name"}) {
		t.Errorf("outside the prefix: exit %d, failed %q; want exit 1, the name check alone", code, failed)
	}
	if c := check(t, v, "state machine "+name, "name"); !strings.Contains(c.Fix, "--parameters ManagedPrefix=") {
		t.Errorf("the name check's fix is %q", c.Fix)
	}

	v, code = run(awsFront(t, env, "UPDATE_COMPLETE", "", outputs, map[string]bool{"states:ListExecutions": true}))
	failed := failedChecks(v)
	if code != cli.ExitFailed || !slices.Equal(failed, []string{"iam/register", "iam/advance", "iam/rollback", "iam/finalize"}) {
		t.Errorf("roles without ListExecutions: exit %d, failed %q; want exit 1 and the four roles that read metrics", code, failed)
	}
	if c := check(t, v, "iam", "advance"); !strings.Contains(c.Detail, "states:ListExecutions (implicitDeny)") {
		t.Errorf("iam/advance says %q, want the denied action", c.Detail)
	}

	v, code = run(awsFront(t, env, "UPDATE_ROLLBACK_COMPLETE", "", outputs, nil))
	if failed := failedChecks(v); code != cli.ExitFailed || !slices.Equal(failed, []string{"stack/outputs"}) {
		t.Errorf("rolled-back stack: exit %d, failed %q; want exit 1, stack/outputs alone", code, failed)
	}
}
