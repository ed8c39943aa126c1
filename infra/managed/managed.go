// Package managed is the ManagedStateMachine construct: a state machine that the
// sfn-rollout controller deploys to, with its alias, its rollout policy as tags and an alarm
// on the alias's failed executions.
package managed

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Policy is the rollout policy the state machine's tags carry (rollout:<field>), the
// layer between the built-in default and a rollout.json or the upload's metadata. Zero
// values are left out. The README's policy reference describes every field.
type Policy struct {
	Strategy          string   // ALL_AT_ONCE, CANARY, LINEAR, EXPONENTIAL, BLUE_GREEN, CUSTOM
	Percentage        int      // CANARY, LINEAR, EXPONENTIAL (start)
	Interval          string   // "5m"
	GrowthFactor      float64  // EXPONENTIAL
	Steps             []string // CUSTOM, short form: "weight:20", "pause:5m", "approval", "analysis:10m"
	BakeTime          string
	Alarms            []string // alarm names; nil means the alias's failures alarm alone
	MaxFailureRate    float64  // percent
	MinExecutions     int
	OnDrift           string // pause | rollback
	OnBusy            string // reject | queue | supersede
	OnFailure         string // rollback | pause
	PreexistingAlarms string // block | ignore
	KeepVersions      int
	TestAlias         string
	Approval          *bool // BLUE_GREEN
}

// Props configure a ManagedStateMachine.
type Props struct {
	// StateMachineName is required: uploads name the state machine in their key
	// (<stateMachineName>/<alias>/<name>.asl.json). It must start with the controller's
	// managed prefix.
	StateMachineName string
	// DefinitionFile is the ASL file of the first version; Definition the ASL itself.
	// Exactly one is set. Later versions arrive as uploads: see Construct's comment.
	DefinitionFile string
	Definition     string
	// DefinitionSubstitutions fill ${...} in the definition, as in the L2 StateMachine.
	DefinitionSubstitutions map[string]*string
	// Role is the state machine's execution role; CDK creates one when nil.
	Role awsiam.IRole
	// AliasName is the alias the controller moves; topology.DefaultAlias when empty.
	AliasName string
	Policy    Policy
	// Express makes an EXPRESS state machine (STANDARD otherwise). The controller judges an
	// Express candidate by its alarms and AWS/States metrics alone (Step Functions does not
	// list Express executions), and refuses uploads with .sync or .waitForTaskToken tasks,
	// which Express workflows cannot run.
	Express bool
	// Logs and TracingEnabled pass through to the state machine.
	Logs           *awsstepfunctions.LogOptions
	TracingEnabled *bool
	// AlarmThreshold is how many failed executions through the alias in one minute put
	// the failures alarm in ALARM (1 when zero); AlarmEvaluationPeriods how many such
	// minutes in a row (1 when zero).
	AlarmThreshold         float64
	AlarmEvaluationPeriods int
}

// ManagedStateMachine is a state machine the controller may deploy to: tagged
// rollout:managed=true with its policy as rollout:<field> tags, an initial version, an alias
// routed 100% to it, and an alarm on the alias's failed executions.
//
// The definition given here is only the first version's. Once deployed, new definitions go
// through the artifacts bucket; the controller then publishes versions and moves the alias,
// which CloudFormation does not see. Changing the definition (or the alias) in this
// construct afterwards makes CloudFormation publish a version and route the alias to it all
// at once, past the controller: leave them as they are after the first deploy.
type ManagedStateMachine struct {
	constructs.Construct
	StateMachine awsstepfunctions.StateMachine
	Version      awsstepfunctions.CfnStateMachineVersion
	Alias        awsstepfunctions.CfnStateMachineAlias
	// AliasName and AliasArn are what callers should start executions with: the
	// unqualified ARN always runs the latest revision, which may be an unapproved candidate.
	AliasName string
	AliasArn  *string
	// FailuresAlarm watches AWS/States ExecutionsFailed of the alias.
	FailuresAlarm awscloudwatch.Alarm
	// Tags are the tags the state machine carries.
	Tags map[string]string
}

var (
	stateMachineNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	aliasNamePattern        = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,80}$`)
	aliasHasNonDigit        = regexp.MustCompile(`[A-Za-z_.-]`)
	// Step Functions tag values: letters, digits, spaces and _ . : / = + - @, at most 256.
	tagValuePattern = regexp.MustCompile(`^[\p{L}\p{N} _.:/=+\-@]{0,256}$`)
)

// minInterval is the shortest hold the controller accepts on AWS (topology.DefaultMinInterval).
const minInterval = time.Minute

// New builds the construct. The policy is resolved and validated as the controller will
// resolve it, so that synth fails on a policy that every upload would be refused for.
func New(scope constructs.Construct, id string, props Props) (*ManagedStateMachine, error) {
	alias := props.AliasName
	if alias == "" {
		alias = topology.DefaultAlias
	}
	if !stateMachineNamePattern.MatchString(props.StateMachineName) {
		return nil, fmt.Errorf("managed state machine name %q: want 1-80 letters, digits, '-' or '_'", props.StateMachineName)
	}
	if !aliasNamePattern.MatchString(alias) || !aliasHasNonDigit.MatchString(alias) {
		return nil, fmt.Errorf("alias name %q: want 1-80 letters, digits, '-', '_' or '.', not only digits", alias)
	}
	definition, err := loadDefinition(props)
	if err != nil {
		return nil, err
	}
	alarmName := topology.AliasFailuresAlarmName(props.StateMachineName, alias)
	tags, err := PolicyTags(props.Policy, alarmName)
	if err != nil {
		return nil, fmt.Errorf("managed state machine %s: %w", props.StateMachineName, err)
	}

	// Children are created under the construct's interface value: jsii cannot take a Go
	// struct that embeds a construct as a scope.
	node := constructs.NewConstruct(scope, jsii.String(id))
	m := &ManagedStateMachine{Construct: node, AliasName: alias, Tags: tags}
	var subs *map[string]*string
	if len(props.DefinitionSubstitutions) > 0 {
		subs = &props.DefinitionSubstitutions
	}
	machineType := awsstepfunctions.StateMachineType_STANDARD
	if props.Express {
		machineType = awsstepfunctions.StateMachineType_EXPRESS
	}
	m.StateMachine = awsstepfunctions.NewStateMachine(node, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(props.StateMachineName),
		StateMachineType:        machineType,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(definition)),
		DefinitionSubstitutions: subs,
		Role:                    props.Role,
		Logs:                    props.Logs,
		TracingEnabled:          props.TracingEnabled,
	})
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// Only the state machine: its role and log group need no rollout tags.
		awscdk.Tags_Of(m.StateMachine).Add(jsii.String(k), jsii.String(tags[k]), &awscdk.TagProps{
			IncludeResourceTypes: jsii.Strings("AWS::StepFunctions::StateMachine"),
		})
	}
	cfnMachine := m.StateMachine.Node().DefaultChild().(awsstepfunctions.CfnStateMachine)
	m.Version = awsstepfunctions.NewCfnStateMachineVersion(node, jsii.String("Version"), &awsstepfunctions.CfnStateMachineVersionProps{
		StateMachineArn:        m.StateMachine.StateMachineArn(),
		StateMachineRevisionId: cfnMachine.AttrStateMachineRevisionId(),
		Description:            jsii.String("first version (ManagedStateMachine); later versions come from sfn-rollout"),
	})
	// A replaced version may still be routed to by the alias the controller moved.
	m.Version.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	m.Alias = awsstepfunctions.NewCfnStateMachineAlias(node, jsii.String("Alias"), &awsstepfunctions.CfnStateMachineAliasProps{
		Name:        jsii.String(alias),
		Description: jsii.String("moved by sfn-rollout"),
		RoutingConfiguration: &[]any{&awsstepfunctions.CfnStateMachineAlias_RoutingConfigurationVersionProperty{
			StateMachineVersionArn: m.Version.AttrArn(),
			Weight:                 jsii.Number(100),
		}},
	})
	m.AliasArn = m.Alias.AttrArn()

	threshold, periods := props.AlarmThreshold, props.AlarmEvaluationPeriods
	if threshold <= 0 {
		threshold = 1
	}
	if periods <= 0 {
		periods = 1
	}
	m.FailuresAlarm = awscloudwatch.NewAlarm(node, jsii.String("FailuresAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(alarmName),
		AlarmDescription: jsii.String(fmt.Sprintf("sfn-rollout: executions of %s through alias %s failed; rollouts that name this alarm roll back", props.StateMachineName, alias)),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:  jsii.String(topology.MetricsNamespace),
			MetricName: jsii.String(topology.MetricExecutionsFailed),
			// The Alias dimension holds the alias name, as local mode emits it; AWS documents
			// the dimension ("state machine alias used to start the execution") without
			// showing a value, so name versus ARN is unconfirmed.
			DimensionsMap: &map[string]*string{
				topology.DimStateMachineArn: m.StateMachine.StateMachineArn(),
				topology.DimAlias:           jsii.String(alias),
			},
			Statistic: jsii.String("Sum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(1)),
		}),
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(float64(periods)),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		// No executions in a minute is no failure.
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	return m, nil
}

func loadDefinition(props Props) (string, error) {
	if (props.DefinitionFile == "") == (props.Definition == "") {
		return "", errors.New("set exactly one of DefinitionFile and Definition")
	}
	definition := props.Definition
	if props.DefinitionFile != "" {
		b, err := os.ReadFile(props.DefinitionFile)
		if err != nil {
			return "", fmt.Errorf("read definition: %w", err)
		}
		definition = string(b)
	}
	if !json.Valid([]byte(definition)) {
		return "", fmt.Errorf("definition of %s is not JSON", props.StateMachineName)
	}
	return definition, nil
}

// PolicyTags are the tags of a managed state machine with this policy: rollout:managed=true
// and rollout:<field> for each field set, lists space-separated (tag values allow no
// commas). defaultAlarm is named when the policy names no alarms. The result is resolved and
// validated as the controller resolves tags.
func PolicyTags(p Policy, defaultAlarm string) (map[string]string, error) {
	if p.Alarms == nil && defaultAlarm != "" {
		p.Alarms = []string{defaultAlarm}
	}
	tags := map[string]string{topology.ManagedTag: "true"}
	set := func(field, value string) { tags[topology.TagPrefix+field] = value }
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	var errs []error
	if p.Strategy != "" {
		set("strategy", p.Strategy)
	}
	if p.Percentage != 0 {
		set("percentage", strconv.Itoa(p.Percentage))
	}
	if p.Interval != "" {
		set("interval", p.Interval)
	}
	if p.GrowthFactor != 0 {
		set("growthFactor", num(p.GrowthFactor))
	}
	if len(p.Steps) > 0 {
		set("steps", strings.Join(p.Steps, " "))
	}
	if p.BakeTime != "" {
		set("bakeTime", p.BakeTime)
	}
	for _, a := range p.Alarms {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			errs = append(errs, fmt.Errorf("alarm name %q: a tag holds the list space-separated, so a name cannot be empty or hold spaces", a))
		}
	}
	if len(p.Alarms) > 0 {
		set("alarms", strings.Join(p.Alarms, " "))
	}
	if p.MaxFailureRate != 0 {
		set("maxFailureRate", num(p.MaxFailureRate))
	}
	if p.MinExecutions != 0 {
		set("minExecutions", strconv.Itoa(p.MinExecutions))
	}
	if p.OnDrift != "" {
		set("onDrift", p.OnDrift)
	}
	if p.OnBusy != "" {
		set("onBusy", p.OnBusy)
	}
	if p.OnFailure != "" {
		set("onFailure", p.OnFailure)
	}
	if p.PreexistingAlarms != "" {
		set("preexistingAlarms", p.PreexistingAlarms)
	}
	if p.KeepVersions != 0 {
		set("keepVersions", strconv.Itoa(p.KeepVersions))
	}
	if p.TestAlias != "" {
		set("testAlias", p.TestAlias)
	}
	if p.Approval != nil {
		set("approval", strconv.FormatBool(*p.Approval))
	}
	for k, v := range tags {
		if !tagValuePattern.MatchString(v) {
			errs = append(errs, fmt.Errorf("tag %s=%q: Step Functions tag values hold at most 256 letters, digits, spaces and _ . : / = + - @", k, v))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	layer, err := rollout.ParsePolicyTags(tags)
	if err != nil {
		return nil, fmt.Errorf("rollout policy: %w", err)
	}
	policy, err := rollout.Resolve(layer)
	if err != nil {
		return nil, fmt.Errorf("rollout policy: %w", err)
	}
	if err := policy.CheckTick(minInterval); err != nil {
		return nil, fmt.Errorf("rollout %w", err)
	}
	return tags, nil
}
