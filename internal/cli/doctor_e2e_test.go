package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
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
	t.Run("state machine untagged", func(t *testing.T) {
		if _, err := env.SFN.UntagResource(ctx, &sfn.UntagResourceInput{ResourceArn: aws.String(m.Arn), TagKeys: []string{topology.ManagedTag}}); err != nil {
			t.Fatal(err)
		}
		wantOneFailure(t, env, "state machine "+name, "managed", "aws stepfunctions tag-resource --resource-arn "+m.Arn, "--state-machine", name+":prod")
	})
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
