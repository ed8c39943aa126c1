package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

func TestGoldenDoctor(t *testing.T) {
	v := DoctorView{Target: "AWS", Region: "eu-west-1", Stack: "sfn-rollout", Checks: []Check{
		{Group: "stack", Name: "outputs", Status: CheckPassed, Detail: "stack sfn-rollout is UPDATE_COMPLETE: bucket b, table t, controller arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-rollout-controller, schedule group sfn-rollout"},
		{Group: "rules", Name: "uploads", Status: CheckFailed, Detail: "rule sfn-rollout-UploadRule sends Object Created events of the bucket to the controller but is disabled", Fix: "aws events enable-rule --name sfn-rollout-UploadRule"},
		{Group: "iam", Name: "advance", Status: CheckSkipped, Detail: "IAM simulation unavailable: SimulatePrincipalPolicy: AccessDenied (the caller needs iam:SimulatePrincipalPolicy)"},
		{Group: "state machine orders", Name: "metrics", Status: CheckPassed, Detail: "AWS/States writes the Version dimension as the version ARN (2 series)"},
	}, Passed: 2, Failed: 1, Skipped: 1}
	both(t, "doctor", v, func(w io.Writer) error { return renderDoctor(w, v) })
}

func TestVersionForm(t *testing.T) {
	const sm = "arn:aws:states:us-east-1:000000000000:stateMachine:orders"
	tests := []struct {
		name    string
		values  []string
		want    rollout.MetricsForm
		wantErr bool
	}{
		{name: "none yet", values: nil, want: ""},
		{name: "numbers", values: []string{"1", "12"}, want: rollout.MetricsFormNumber},
		{name: "version ARNs", values: []string{sm + ":1", sm + ":12"}, want: rollout.MetricsFormArn},
		{name: "both", values: []string{"1", sm + ":2"}, wantErr: true},
		{name: "another state machine's ARN", values: []string{sm + "-other:1"}, wantErr: true},
		{name: "an alias name", values: []string{"prod"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := versionForm(sm, tt.values)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("versionForm = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSamePattern(t *testing.T) {
	want := map[string]any{"source": []string{"aws.s3"}, "detail": map[string]any{"bucket": map[string]any{"name": []string{"b"}}}}
	if !samePattern(`{"detail":{"bucket":{"name":["b"]}},"source":["aws.s3"]}`, want) {
		t.Error("the same pattern with its keys in another order reads as different")
	}
	for _, other := range []string{`{"source":["aws.s3"]}`, `{"detail":{"bucket":{"name":["c"]}},"source":["aws.s3"]}`, `not json`} {
		if samePattern(other, want) {
			t.Errorf("%s reads as the stack's pattern", other)
		}
	}
}

// A function's environment is held against the stack: what it needs to start (a stack older
// than the function's code lacks SFN_ROLLOUT_ROLLBACK_FUNCTION_ARN, and the function fails at
// every cold start), and the names of this stack's resources.
func TestFunctionEnvProblems(t *testing.T) {
	d := &doctor{stack: "ops", table: "t", scheduleGroup: "ops", bucket: "b"}
	const arn = "arn:aws:lambda:us-east-1:000000000000:function:ops-register"
	good := func() map[string]string {
		return map[string]string{
			topology.EnvTable:               "t",
			topology.EnvScheduleGroup:       "ops",
			topology.EnvSchedulerRoleArn:    "arn:aws:iam::000000000000:role/ops-scheduler",
			topology.EnvAdvanceFunctionArn:  "arn:aws:lambda:us-east-1:000000000000:function:ops-advance",
			topology.EnvRollbackFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:ops-rollback",
		}
	}
	if p := d.envProblems("register", arn, good()); len(p) != 0 {
		t.Errorf("the stack's own environment: %q", p)
	}
	tests := []struct {
		name string
		fn   string
		edit func(map[string]string)
		want string
	}{
		{"a stack older than the code", "register", func(e map[string]string) { delete(e, topology.EnvRollbackFunctionArn) }, "cannot start: missing environment: " + topology.EnvRollbackFunctionArn},
		{"another stack's table", "register", func(e map[string]string) { e[topology.EnvTable] = "other" }, topology.EnvTable + "=other, the stack's is t"},
		{"another stack's rollback", "register", func(e map[string]string) {
			e[topology.EnvRollbackFunctionArn] = "arn:aws:lambda:us-east-1:000000000000:function:dev-rollback"
		}, "the stack's is arn:aws:lambda:us-east-1:000000000000:function:ops-rollback"},
		{"a deploy function writing to another bucket", topology.DeployFunction, func(e map[string]string) { e[topology.EnvBucket] = "elsewhere" }, topology.EnvBucket + "=elsewhere, the stack's is b"},
		{"a deploy function without its bucket", topology.DeployFunction, func(map[string]string) {}, "cannot start: missing environment: " + topology.EnvBucket},
		{"a setting that does not parse", "register", func(e map[string]string) { e[topology.EnvMinInterval] = "soon" }, "cannot start: " + topology.EnvMinInterval},
	}
	for _, tt := range tests {
		env := good()
		tt.edit(env)
		p := d.envProblems(tt.fn, arn, env)
		if len(p) != 1 || !strings.Contains(p[0], tt.want) {
			t.Errorf("%s: problems %q, want one naming %q", tt.name, p, tt.want)
		}
	}
}
