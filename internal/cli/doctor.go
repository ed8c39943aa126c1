package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
)

// CheckStatus is how one doctor check ended.
type CheckStatus string

const (
	CheckPassed  CheckStatus = "passed"
	CheckFailed  CheckStatus = "failed"
	CheckSkipped CheckStatus = "skipped" // could not be checked here (local mode has no IAM)
)

// Check is one thing doctor looked at, and for a failure the fix.
type Check struct {
	Group  string      `json:"group"`
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	Detail string      `json:"detail"`
	Fix    string      `json:"fix,omitempty"`
}

// DoctorView is what `sfn-rollout doctor` found.
type DoctorView struct {
	Target  string  `json:"target"` // "AWS" or "local endpoint"
	Region  string  `json:"region"`
	Stack   string  `json:"stack"`
	Checks  []Check `json:"checks"`
	Passed  int     `json:"passed"`
	Failed  int     `json:"failed"`
	Skipped int     `json:"skipped"`
}

// OK reports whether every check that could run passed.
func (v DoctorView) OK() bool { return v.Failed == 0 }

func newDoctor(a *app) *cobra.Command {
	var stack string
	var machines []string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployed controller: stack, functions, rules, bucket, schedules, IAM and the managed state machines",
		Long: `doctor checks, against AWS or a local endpoint, that the controller is deployed and wired as it
must be, and prints a fix for everything that is not:

  stack         the stack's outputs (on a local endpoint, its /_sfn-rollout/config), the rollout
                table, the controller state machine
  functions     the eight functions exist, are active, have the environment they need to start, and
                name the stack's table, schedule group, bucket and advance and rollback functions
  rules         the uploads, alarms and control rules are enabled, with the right pattern, and
                target the controller state machine, rollback and control
  bucket        the artifacts bucket sends its events to EventBridge
  schedules     the schedule group exists
  iam           each function's role may make its Step Functions calls on a managed state machine
                (iam:SimulatePrincipalPolicy with the rollout:managed tag; skipped where the
                endpoint has no IAM)
  state machine for each one named with --state-machine or with uploads in the bucket: tagged
                rollout:managed=true, its alias exists, its policy resolves, every alarm it names
                exists, and the form of the Version dimension its AWS/States metrics use

Exit 0 only when every check that could run passed; 1 otherwise.`,
		Example: `  sfn-rollout doctor
  sfn-rollout doctor --stack sfn-rollout --state-machine orders:prod -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			var refs []machineRef
			for _, m := range machines {
				ref, err := parseMachineRef(m)
				if err != nil {
					return err
				}
				refs = append(refs, ref)
			}
			v := runDoctor(ctx, a, stack, refs)
			if a.json() {
				if err := writeJSON(cmd.OutOrStdout(), v); err != nil {
					return err
				}
			} else if err := renderDoctor(cmd.OutOrStdout(), v); err != nil {
				return err
			}
			if !v.OK() {
				return fmt.Errorf("doctor: %d of %d checks failed", v.Failed, len(v.Checks))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stack, "stack", topology.DefaultPrefix, "the controller stack's name (cdk.json's stackName), which prefixes its functions and schedule group")
	cmd.Flags().StringArrayVar(&machines, "state-machine", nil, "a managed state machine to check, as name or name:alias (repeatable; those with uploads in the bucket are checked too)")
	return cmd
}

// machineRef is a state machine doctor checks, with the aliases it deploys to.
type machineRef struct {
	name    string
	aliases []string
}

func parseMachineRef(s string) (machineRef, error) {
	name, alias, _ := strings.Cut(strings.TrimSpace(s), ":")
	if name == "" {
		return machineRef{}, usagef("--state-machine %q: want name or name:alias", s)
	}
	ref := machineRef{name: name}
	if alias != "" {
		ref.aliases = []string{alias}
	}
	return ref, nil
}

// doctor runs the checks in order; each records its result and none stops the others.
type doctor struct {
	a     *app
	view  DoctorView
	stack string

	bucket, table, controllerArn, scheduleGroup string
	functions                                   map[string]functionInfo
	// managedPrefix is the stack's ManagedPrefix parameter; nil in local mode (no IAM, no
	// prefix) and for a stack without the parameter.
	managedPrefix *string
}

type functionInfo struct{ arn, role string }

func (d *doctor) add(group, name string, status CheckStatus, detail, fix string) {
	d.view.Checks = append(d.view.Checks, Check{Group: group, Name: name, Status: status, Detail: detail, Fix: fix})
	switch status {
	case CheckPassed:
		d.view.Passed++
	case CheckFailed:
		d.view.Failed++
	case CheckSkipped:
		d.view.Skipped++
	}
}

func (d *doctor) pass(group, name, detail string)      { d.add(group, name, CheckPassed, detail, "") }
func (d *doctor) fail(group, name, detail, fix string) { d.add(group, name, CheckFailed, detail, fix) }
func (d *doctor) skip(group, name, detail string)      { d.add(group, name, CheckSkipped, detail, "") }

const redeploy = "run `make build`, then `cdk deploy` of the infra/ app again (docs/deploy.md)"

func runDoctor(ctx context.Context, a *app, stack string, refs []machineRef) DoctorView {
	d := &doctor{a: a, stack: stack, functions: map[string]functionInfo{}}
	d.view = DoctorView{Target: "AWS", Region: a.res.Region, Stack: stack, Checks: []Check{}}
	if a.res.Local {
		d.view.Target = "local endpoint"
	}
	if !d.stackOutputs(ctx) {
		return d.view
	}
	d.tableAndController(ctx)
	d.checkFunctions(ctx)
	d.accountConcurrency(ctx)
	d.rules(ctx)
	d.bucketEvents(ctx)
	d.scheduleGroupExists(ctx)
	refs = d.machinesToCheck(ctx, refs)
	d.iamSimulation(ctx, refs)
	for _, ref := range refs {
		d.machine(ctx, ref)
	}
	return d.view
}

// stackOutputs finds the stack's resources: its outputs on AWS, the endpoint's config in
// local mode (which has no CloudFormation). Without them nothing else can be checked.
func (d *doctor) stackOutputs(ctx context.Context) bool {
	const group, name = "stack", "outputs"
	if d.a.res.Local {
		d.bucket, d.table, d.controllerArn = d.a.res.Bucket, d.a.res.Table, d.a.res.ControllerArn
		d.scheduleGroup = topology.ScheduleGroupName(d.stack)
		if d.bucket == "" || d.table == "" || d.controllerArn == "" {
			d.fail(group, name, "the local endpoint has no controller deployed", "start `sfn-rollout local` without --no-controller")
			return false
		}
		d.pass(group, name, fmt.Sprintf("local mode has no CloudFormation: bucket %s, table %s, controller %s from %s", d.bucket, d.table, d.controllerArn, LocalConfigPath))
		return true
	}
	out, err := cloudformation.NewFromConfig(d.a.cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(d.stack)})
	if err != nil || len(out.Stacks) == 0 {
		detail := "no such stack"
		if err != nil {
			detail = OneLine(err)
		}
		d.fail(group, name, fmt.Sprintf("stack %s in %s: %s", d.stack, d.a.res.Region, detail), "deploy it: "+redeploy+"; or name it with --stack")
		return false
	}
	st := out.Stacks[0]
	outputs := map[string]string{}
	for _, o := range st.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, p := range st.Parameters {
		if aws.ToString(p.ParameterKey) == topology.ParameterManagedPrefix {
			d.managedPrefix = aws.String(aws.ToString(p.ParameterValue))
		}
	}
	d.bucket, d.table, d.controllerArn, d.scheduleGroup = outputs[topology.OutputBucket], outputs[topology.OutputTable], outputs[topology.OutputController], outputs[topology.OutputScheduleGroup]
	var missing []string
	for _, key := range []string{topology.OutputBucket, topology.OutputTable, topology.OutputController, topology.OutputScheduleGroup} {
		if outputs[key] == "" {
			missing = append(missing, key)
		}
	}
	// The other commands take the bucket and table from flags or the environment; doctor
	// takes them from the stack it checks.
	d.a.res.Bucket, d.a.res.Table = d.bucket, d.table
	status := string(st.StackStatus)
	switch {
	case strings.HasSuffix(status, "_FAILED") || strings.Contains(status, "ROLLBACK") || status == string(cfntypes.StackStatusDeleteComplete):
		d.fail(group, name, fmt.Sprintf("stack %s is %s", d.stack, status), "look at its events (`aws cloudformation describe-stack-events --stack-name "+d.stack+"`), then "+redeploy)
	case len(missing) > 0:
		d.fail(group, name, fmt.Sprintf("stack %s (%s) lacks the outputs %s", d.stack, status, strings.Join(missing, ", ")), redeploy)
	default:
		d.pass(group, name, fmt.Sprintf("stack %s is %s: bucket %s, table %s, controller %s, schedule group %s", d.stack, status, d.bucket, d.table, d.controllerArn, d.scheduleGroup))
	}
	return len(missing) == 0
}

func (d *doctor) tableAndController(ctx context.Context) {
	t, err := dynamodb.NewFromConfig(d.a.cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.table)})
	switch {
	case err != nil:
		d.fail("stack", "rollout table", fmt.Sprintf("table %s: %s", d.table, OneLine(err)), redeploy)
	case t.Table.TableStatus != "ACTIVE":
		d.fail("stack", "rollout table", fmt.Sprintf("table %s is %s", d.table, t.Table.TableStatus), "wait until it is ACTIVE, or "+redeploy)
	default:
		d.pass("stack", "rollout table", fmt.Sprintf("table %s is ACTIVE", d.table))
	}
	sm, err := d.a.sfn().DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(d.controllerArn)})
	switch {
	case err != nil:
		d.fail("stack", "controller state machine", fmt.Sprintf("%s: %s", d.controllerArn, OneLine(err)), redeploy)
	case sm.Status != "ACTIVE":
		d.fail("stack", "controller state machine", fmt.Sprintf("%s is %s", d.controllerArn, sm.Status), redeploy)
	default:
		d.pass("stack", "controller state machine", fmt.Sprintf("%s is ACTIVE", d.controllerArn))
	}
}

// checkFunctions: each of topology.Functions (the rollout's six and the deploy custom
// resource's two) exists, is active, (where it reports its environment) can start with it
// and names this stack's resources (envProblems), and is not reserved a concurrency of 0.
func (d *doctor) checkFunctions(ctx context.Context) {
	for _, fn := range topology.Functions {
		name := topology.FunctionName(d.stack, fn)
		out, err := d.a.lambda().GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			d.fail("functions", fn, fmt.Sprintf("%s: %s", name, OneLine(err)), redeploy)
			continue
		}
		d.functions[fn] = functionInfo{arn: aws.ToString(out.FunctionArn), role: aws.ToString(out.Role)}
		var problems []string
		if out.State != "" && out.State != "Active" {
			problems = append(problems, fmt.Sprintf("state %s (%s)", out.State, aws.ToString(out.StateReason)))
		}
		if out.LastUpdateStatus == "Failed" {
			problems = append(problems, "last update failed: "+aws.ToString(out.LastUpdateStatusReason))
		}
		if out.Environment != nil {
			problems = append(problems, d.envProblems(fn, aws.ToString(out.FunctionArn), out.Environment.Variables)...)
		}
		fix := redeploy
		reserved, err := d.a.lambda().GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
		switch {
		case err != nil:
			problems = append(problems, "reserved concurrency: "+OneLine(err))
		case reserved.ReservedConcurrentExecutions != nil && *reserved.ReservedConcurrentExecutions == 0:
			// Lambda throttles every invocation of it: no alarm is ever rolled back, or no
			// rollout ever moves, and nothing else says so.
			problems = append(problems, "reserved concurrency 0: Lambda throttles every invocation")
			fix = "aws lambda delete-function-concurrency --function-name " + name + ", or " + redeploy
		}
		if len(problems) > 0 {
			sort.Strings(problems)
			d.fail("functions", fn, name+": "+strings.Join(problems, "; "), fix)
			continue
		}
		detail := fmt.Sprintf("%s is active", name)
		if n := reserved.ReservedConcurrentExecutions; n != nil {
			detail += fmt.Sprintf(", %d executions reserved", *n)
		}
		if out.Environment == nil {
			detail += " (no environment reported: local mode's functions run in-process)"
		} else {
			detail += ", with the stack's table, schedule group and functions"
		}
		d.pass("functions", fn, detail)
	}
}

// minAccountConcurrency is AWS's default Lambda concurrency quota, the one the scale
// figures (README, "Measured") assume: a storm of alarms runs one rollback an alarm.
const minAccountConcurrency = 1000

// accountConcurrency: the account's Lambda concurrency limit is at least AWS's default. A new
// account may have 10: rollbacks of a storm then queue behind one another and behind every
// other function of the account, and the stack's reservation for rollback cannot be made.
func (d *doctor) accountConcurrency(ctx context.Context) {
	out, err := d.a.lambda().GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		d.fail("account", "concurrency", OneLine(err), "grant the caller lambda:GetAccountSettings")
		return
	}
	if out.AccountLimit == nil {
		d.fail("account", "concurrency", "GetAccountSettings answered no AccountLimit", "")
		return
	}
	limit, unreserved := out.AccountLimit.ConcurrentExecutions, aws.ToInt32(out.AccountLimit.UnreservedConcurrentExecutions)
	detail := fmt.Sprintf("Lambda may run %d executions at once in this account and region, %d of them unreserved", limit, unreserved)
	if limit < minAccountConcurrency {
		d.fail("account", "concurrency", detail+fmt.Sprintf(": under AWS's default %d, a storm of alarms runs its rollbacks a few at a time", minAccountConcurrency),
			fmt.Sprintf("ask for Lambda's \"Concurrent executions\" quota of %d or more (Service Quotas); until then deploy with -c rollbackReservedConcurrency=0 if it is under 300", minAccountConcurrency))
		return
	}
	d.pass("account", "concurrency", detail)
}

// envProblems are what a function's environment says against the stack: a variable the
// function needs to start that is missing or does not parse (code newer than the stack that
// set its environment: the function fails at every cold start), another stack's table,
// schedule group or bucket, or advance and rollback ARNs (the schedules' targets) that are
// not this stack's functions. arn is the function's own ARN.
func (d *doctor) envProblems(fn, arn string, env map[string]string) []string {
	var problems []string
	if _, err := wiring.FunctionSettings(fn, func(k string) string { return env[k] }); err != nil {
		problems = append(problems, "cannot start: "+err.Error())
	}
	want := map[string]string{topology.EnvTable: d.table, topology.EnvScheduleGroup: d.scheduleGroup, topology.EnvBucket: d.bucket}
	if i := strings.LastIndex(arn, ":function:"); i >= 0 {
		prefix := arn[:i+len(":function:")]
		want[topology.EnvAdvanceFunctionArn] = prefix + topology.FunctionName(d.stack, "advance")
		want[topology.EnvRollbackFunctionArn] = prefix + topology.FunctionName(d.stack, "rollback")
	}
	for key, w := range want {
		// The deploy function alone names the artifacts bucket it writes definitions to.
		if got, ok := env[key]; ok && got != "" && got != w {
			problems = append(problems, fmt.Sprintf("%s=%s, the stack's is %s", key, got, w))
		}
	}
	sort.Strings(problems)
	return problems
}

// expectedRule is a rule the stack creates: what it matches and what it starts.
type expectedRule struct {
	name, what, target string
	pattern            map[string]any
}

// rules finds, for each of the stack's rules, the rules that target its function or state
// machine, and wants one enabled with the stack's pattern.
func (d *doctor) rules(ctx context.Context) {
	expected := []expectedRule{
		{"uploads", "Object Created events of the bucket", d.controllerArn, topology.ObjectCreatedPattern(d.bucket)},
		{"alarms", "alarm state changes", d.functions["rollback"].arn, topology.AlarmStatePattern()},
		{"control", "control requests", d.functions["control"].arn, topology.ControlRequestPattern()},
	}
	eb := eventbridge.NewFromConfig(d.a.cfg)
	for _, e := range expected {
		if e.target == "" {
			d.fail("rules", e.name, "its target does not exist (see the functions above)", redeploy)
			continue
		}
		names, err := eb.ListRuleNamesByTarget(ctx, &eventbridge.ListRuleNamesByTargetInput{TargetArn: aws.String(e.target)})
		if err != nil {
			d.fail("rules", e.name, OneLine(err), redeploy)
			continue
		}
		var disabled, otherPattern []string
		found := ""
		for _, rule := range names.RuleNames {
			r, err := eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(rule)})
			if err != nil {
				d.fail("rules", e.name, fmt.Sprintf("rule %s: %s", rule, OneLine(err)), redeploy)
				found = "reported"
				break
			}
			if !samePattern(aws.ToString(r.EventPattern), e.pattern) {
				otherPattern = append(otherPattern, rule)
				continue
			}
			if r.State != "ENABLED" {
				disabled = append(disabled, rule)
				continue
			}
			found = rule
			break
		}
		switch {
		case found == "reported":
		case found != "":
			d.pass("rules", e.name, fmt.Sprintf("rule %s is enabled and sends %s to %s", found, e.what, e.target))
		case len(disabled) > 0:
			d.fail("rules", e.name, fmt.Sprintf("rule %s sends %s to %s but is disabled", disabled[0], e.what, e.target),
				fmt.Sprintf("aws events enable-rule --name %s", disabled[0]))
		case len(otherPattern) > 0:
			d.fail("rules", e.name, fmt.Sprintf("rule %s targets %s with another pattern than the stack's %s", otherPattern[0], e.target, mustJSON(e.pattern)), redeploy)
		default:
			d.fail("rules", e.name, fmt.Sprintf("no rule sends %s to %s", e.what, e.target), redeploy)
		}
	}
}

// samePattern compares event patterns as JSON values, whatever their key order.
func samePattern(got string, want map[string]any) bool {
	var g, w any
	b, err := json.Marshal(want)
	if err != nil || json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal(b, &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (d *doctor) bucketEvents(ctx context.Context) {
	client, err := d.a.s3()
	if err != nil {
		d.fail("bucket", "events to EventBridge", OneLine(err), redeploy)
		return
	}
	out, err := client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(d.bucket)})
	switch {
	case err != nil:
		d.fail("bucket", "events to EventBridge", fmt.Sprintf("bucket %s: %s", d.bucket, OneLine(err)), redeploy)
	case out.EventBridgeConfiguration == nil:
		d.fail("bucket", "events to EventBridge", fmt.Sprintf("bucket %s does not send its events to EventBridge: uploads start no rollout", d.bucket),
			fmt.Sprintf(`aws s3api put-bucket-notification-configuration --bucket %s --notification-configuration '{"EventBridgeConfiguration":{}}'`, d.bucket))
	default:
		d.pass("bucket", "events to EventBridge", fmt.Sprintf("bucket %s sends its events to EventBridge", d.bucket))
	}
}

func (d *doctor) scheduleGroupExists(ctx context.Context) {
	out, err := scheduler.NewFromConfig(d.a.cfg).GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String(d.scheduleGroup)})
	switch {
	case err != nil:
		d.fail("schedules", "schedule group", fmt.Sprintf("%s: %s", d.scheduleGroup, OneLine(err)), redeploy)
	case out.State != "" && out.State != "ACTIVE":
		d.fail("schedules", "schedule group", fmt.Sprintf("%s is %s", d.scheduleGroup, out.State), redeploy)
	default:
		d.pass("schedules", "schedule group", fmt.Sprintf("%s exists", d.scheduleGroup))
	}
}

// iamSimulation asks IAM whether each function's role may make its Step Functions calls on
// a managed state machine (the first one checked, or one the prefix would name), with the
// rollout:managed tag in the request context.
func (d *doctor) iamSimulation(ctx context.Context, refs []machineRef) {
	if d.a.res.Local {
		d.skip("iam", "function roles", "the endpoint has no IAM: local mode allows every call")
		return
	}
	if len(refs) == 0 {
		d.skip("iam", "function roles", "no managed state machine to simulate the calls on: name one with --state-machine")
		return
	}
	resource := d.machineArn(refs[0].name)
	client := iam.NewFromConfig(d.a.cfg)
	for _, fn := range topology.Functions {
		role := d.functions[fn].role
		if role == "" {
			d.fail("iam", fn, "the function's role is unknown (see the functions above)", redeploy)
			continue
		}
		out, err := client.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(role),
			ActionNames:     topology.StateMachineActions[fn],
			ResourceArns:    []string{resource},
			ContextEntries: []iamtypes.ContextEntry{{
				ContextKeyName:   aws.String("aws:ResourceTag/" + topology.ManagedTag),
				ContextKeyType:   iamtypes.ContextKeyTypeEnumString,
				ContextKeyValues: []string{"true"},
			}},
		})
		if err != nil {
			d.skip("iam", fn, "IAM simulation unavailable: "+OneLine(err)+" (the caller needs iam:SimulatePrincipalPolicy)")
			continue
		}
		var denied []string
		for _, r := range out.EvaluationResults {
			if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed {
				denied = append(denied, fmt.Sprintf("%s (%s)", aws.ToString(r.EvalActionName), r.EvalDecision))
			}
		}
		if len(denied) > 0 {
			d.fail("iam", fn, fmt.Sprintf("role %s may not, on %s: %s", role, resource, strings.Join(denied, ", ")), redeploy)
			continue
		}
		d.pass("iam", fn, fmt.Sprintf("role %s may make its %d Step Functions calls on %s", role, len(topology.StateMachineActions[fn]), resource))
	}
}

func (d *doctor) machineArn(name string) string {
	account := d.a.res.Account
	if account == "" {
		if arn := d.controllerArn; strings.Count(arn, ":") >= 5 {
			account = strings.Split(arn, ":")[4]
		}
	}
	return topology.StateMachineArn(d.a.res.Partition, d.a.res.Region, account, name)
}

// machinesToCheck adds, to the state machines named by flag, those with uploads in the
// bucket (<sm>/<alias>/…), with their aliases; a state machine with no alias named gets
// the default one.
func (d *doctor) machinesToCheck(ctx context.Context, refs []machineRef) []machineRef {
	byName := map[string]*machineRef{}
	var order []string
	add := func(name, alias string) {
		r, ok := byName[name]
		if !ok {
			r = &machineRef{name: name}
			byName[name] = r
			order = append(order, name)
		}
		if alias != "" && !slices.Contains(r.aliases, alias) {
			r.aliases = append(r.aliases, alias)
		}
	}
	for _, r := range refs {
		add(r.name, "")
		for _, alias := range r.aliases {
			add(r.name, alias)
		}
	}
	if client, err := d.a.s3(); err == nil {
		for _, sm := range d.prefixes(ctx, client, "") {
			for _, alias := range d.prefixes(ctx, client, sm+"/") {
				add(sm, alias)
			}
		}
	}
	out := make([]machineRef, 0, len(order))
	for _, name := range order {
		r := *byName[name]
		if len(r.aliases) == 0 {
			r.aliases = []string{topology.DefaultAlias}
		}
		out = append(out, r)
	}
	return out
}

// prefixes lists the folder names right under prefix in the bucket.
func (d *doctor) prefixes(ctx context.Context, client *s3.Client, prefix string) []string {
	var names []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			d.fail("bucket", "uploads", fmt.Sprintf("list s3://%s/%s: %s", d.bucket, prefix, OneLine(err)), "give the caller s3:ListBucket on the bucket")
			return names
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

// machine checks one managed state machine: its tag, each alias, its policy, the alarms it
// names and the form of its metrics' Version dimension.
func (d *doctor) machine(ctx context.Context, ref machineRef) {
	group := "state machine " + ref.name
	arn := d.machineArn(ref.name)
	tags, err := d.a.machines().Tags(ctx, arn)
	if err != nil {
		d.fail(group, "exists", fmt.Sprintf("%s: %s", arn, OneLine(err)), "create it (the ManagedStateMachine construct, docs/deploy.md), or stop uploading to its folder")
		return
	}
	if rollout.IsManaged(tags) {
		d.pass(group, "managed", fmt.Sprintf("tagged %s=true", topology.ManagedTag))
	} else {
		d.fail(group, "managed", fmt.Sprintf("%s lacks the tag %s=true: the controller refuses its uploads", arn, topology.ManagedTag),
			fmt.Sprintf("aws stepfunctions tag-resource --resource-arn %s --tags key=%s,value=true", arn, topology.ManagedTag))
	}
	d.underPrefix(group, ref.name)
	var alarms []string
	for _, alias := range ref.aliases {
		aliasArn := topology.AliasArn(arn, alias)
		a, err := d.a.aliases().Describe(ctx, aliasArn)
		if err != nil {
			d.fail(group, "alias "+alias, fmt.Sprintf("%s: %s", aliasArn, OneLine(err)),
				fmt.Sprintf("aws stepfunctions create-state-machine-alias --name %s --routing-configuration stateMachineVersionArn=<version ARN>,weight=100", alias))
		} else {
			d.pass(group, "alias "+alias, fmt.Sprintf("%s routes %s", aliasArn, rollout.DescribeRouting(a.Routing)))
		}
		client, err := d.a.s3()
		if err != nil {
			continue
		}
		key := topology.ArtifactKey{StateMachine: ref.name, Alias: alias, Name: "doctor.asl.json"}
		policy, _, err := controller.ResolvePolicy(ctx, s3api.New(client), d.bucket, key, tags, nil, minInterval)
		switch {
		case controller.ErrorCode(err) == controller.EInvalidPolicy:
			d.fail(group, "policy "+alias, OneLine(err), fmt.Sprintf("fix the %s* tags of %s or s3://%s/%s (README, Policy reference)", topology.TagPrefix, ref.name, d.bucket, key.PolicyKey()))
		case err != nil:
			d.fail(group, "policy "+alias, OneLine(err), "check that the caller may read the bucket and the state machine's tags")
		default:
			d.pass(group, "policy "+alias, "resolves: "+describePolicy(policy))
			for _, name := range policy.Alarms {
				if !slices.Contains(alarms, name) {
					alarms = append(alarms, name)
				}
			}
		}
	}
	d.alarmsExist(ctx, group, ref.name, alarms)
	d.metricsForm(ctx, group, arn)
}

// underPrefix checks a state machine's name against the stack's ManagedPrefix: every
// grant of the controller's roles names arn:…:stateMachine:<prefix>*, so a state machine
// outside it is refused with AccessDenied however it is tagged.
func (d *doctor) underPrefix(group, name string) {
	switch p := d.managedPrefix; {
	case p == nil:
	case *p == "":
		d.pass(group, "name", fmt.Sprintf("the stack's %s is empty: any name, the tag %s=true is the boundary", topology.ParameterManagedPrefix, topology.ManagedTag))
	case strings.HasPrefix(name, *p):
		d.pass(group, "name", fmt.Sprintf("under the stack's %s %q", topology.ParameterManagedPrefix, *p))
	default:
		d.fail(group, "name", fmt.Sprintf("%s is not under the stack's %s %q: the controller's roles may not touch it", name, topology.ParameterManagedPrefix, *p),
			fmt.Sprintf("name the state machine %s…, or deploy the stack with --parameters %s=<a prefix its name has>", *p, topology.ParameterManagedPrefix))
	}
}

func (d *doctor) alarmsExist(ctx context.Context, group, name string, alarms []string) {
	if len(alarms) == 0 {
		d.pass(group, "alarms", "the policy names no alarm")
		return
	}
	states, err := d.a.alarms().States(ctx, alarms)
	if err != nil {
		d.fail(group, "alarms", OneLine(err), "give the caller cloudwatch:DescribeAlarms")
		return
	}
	var missing, found []string
	for _, a := range alarms {
		if s, ok := states[a]; !ok || s == rollout.AlarmMissing {
			missing = append(missing, a)
		} else {
			found = append(found, fmt.Sprintf("%s %s", a, s))
		}
	}
	if len(missing) > 0 {
		d.fail(group, "alarms", fmt.Sprintf("the policy names alarms that do not exist: %s; every upload is refused", strings.Join(missing, ", ")),
			fmt.Sprintf("create them, or remove them from the %salarms tag of %s or its rollout.json", topology.TagPrefix, name))
		return
	}
	d.pass(group, "alarms", "all exist: "+strings.Join(found, ", "))
}

// metricsForm reports the form of the Version dimension of the state machine's AWS/States
// series (ListMetrics, one call a page): the number, the version ARN, or none seen yet.
func (d *doctor) metricsForm(ctx context.Context, group, arn string) {
	in := &cloudwatch.ListMetricsInput{
		Namespace:  aws.String(topology.MetricsNamespace),
		MetricName: aws.String("ExecutionsStarted"),
		Dimensions: []cwtypes.DimensionFilter{{Name: aws.String(topology.DimStateMachineArn), Value: aws.String(arn)}, {Name: aws.String(topology.DimVersion)}},
	}
	var values []string
	p := cloudwatch.NewListMetricsPaginator(d.a.cloudwatch(), in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			d.fail(group, "metrics", OneLine(err), "give the caller cloudwatch:ListMetrics")
			return
		}
		for _, m := range page.Metrics {
			for _, dim := range m.Dimensions {
				if aws.ToString(dim.Name) == topology.DimVersion {
					values = append(values, aws.ToString(dim.Value))
				}
			}
		}
	}
	form, err := versionForm(arn, values)
	switch {
	case err != nil:
		d.fail(group, "metrics", err.Error(), "report it: the controller reads the number or the version ARN only")
	case form == "":
		d.pass(group, "metrics", "no AWS/States series with a Version dimension yet (no execution through a version or alias); the controller finds either form")
	default:
		spelled := map[rollout.MetricsForm]string{rollout.MetricsFormNumber: "the version number", rollout.MetricsFormArn: "the version ARN"}[form]
		d.pass(group, "metrics", fmt.Sprintf("AWS/States writes the Version dimension as %s (%d series)", spelled, len(values)))
	}
}

// versionForm says which form the Version values take: "number", "arn", or "" for none.
func versionForm(stateMachineArn string, values []string) (rollout.MetricsForm, error) {
	var form rollout.MetricsForm
	for _, v := range values {
		f := rollout.MetricsForm("")
		if _, err := strconv.ParseUint(v, 10, 64); err == nil {
			f = rollout.MetricsFormNumber
		} else if n, ok := strings.CutPrefix(v, stateMachineArn+":"); ok {
			if _, err := strconv.ParseUint(n, 10, 64); err == nil {
				f = rollout.MetricsFormArn
			}
		}
		switch {
		case f == "":
			return "", fmt.Errorf("a Version dimension holds %q, neither a version number nor a version ARN of %s", v, stateMachineArn)
		case form != "" && f != form:
			return "", fmt.Errorf("the Version dimension holds both numbers and version ARNs")
		}
		form = f
	}
	return form, nil
}

// renderDoctor prints one line per check, ✔, ✘ or -, with the fix under each ✘.
func renderDoctor(w io.Writer, v DoctorView) error {
	fmt.Fprintf(w, "sfn-rollout doctor: stack %s on %s, %s\n\n", v.Stack, v.Target, v.Region)
	group := ""
	for _, c := range v.Checks {
		if c.Group != group {
			group = c.Group
			fmt.Fprintf(w, "%s\n", group)
		}
		mark := map[CheckStatus]string{CheckPassed: "✔", CheckFailed: "✘", CheckSkipped: "-"}[c.Status]
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", c.Fix)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped\n", v.Passed, v.Failed, v.Skipped)
	return err
}
