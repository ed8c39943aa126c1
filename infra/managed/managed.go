// Package managed is the ManagedStateMachine construct: a state machine whose definitions
// `cdk deploy` hands to the sfn-rollout controller, with its policy as tags and an alarm.
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
	// The definition: exactly one of DefinitionBody (a file, a string or a chain of CDK
	// states, as the L2 StateMachine takes it), DefinitionFile (an ASL file) and Definition
	// (the ASL itself). A file is read at synth, so that the template holds its text.
	DefinitionBody awsstepfunctions.DefinitionBody
	DefinitionFile string
	Definition     string
	// DefinitionSubstitutions fill ${...} in the definition, as in the L2 StateMachine; the
	// values may be tokens (a Lambda ARN, a table name). Keys are letters, digits and '_'.
	DefinitionSubstitutions map[string]*string
	// Role is the state machine's execution role; CDK creates one when nil.
	Role awsiam.IRole
	// AliasName is the alias the controller moves; topology.DefaultAlias when empty.
	AliasName string
	Policy    Policy
	// Overrides are this deploy's policy overrides: the fields set here go with the
	// definition as the upload's rollout-<field> metadata, the layer above the tags (Policy)
	// and a rollout.json. They are checked at synth together with Policy.
	Overrides Policy
	// Wait keeps `cdk deploy` open until the rollout has ended (true when nil): the deploy
	// fails, and the stack rolls back, when the rollout does not succeed. false ends the
	// deploy once the rollout has started; a rollout that may outlast the provider
	// framework's two hours needs false (docs/deploy.md).
	Wait *bool
	// ServiceToken is the deploy custom resource's service token; when nil, the controller
	// stack's export <ControllerStackName>-DeployServiceToken is imported.
	ServiceToken *string
	// ControllerStackName names the controller stack whose export is imported;
	// topology.DefaultPrefix when empty.
	ControllerStackName string
	// Migrate is the first of two deploys that move a stack deployed with the construct's
	// earlier form (a CloudFormation version and alias) to the controller: it keeps that
	// version and alias as they were, with the alias now retained when it leaves the
	// template, and adds no custom resource. Deploy once with Migrate and the same
	// definition, then without it (docs/deploy.md, Migration).
	Migrate bool
	// Express makes an EXPRESS state machine (STANDARD otherwise). The controller judges an
	// Express candidate by its alarms and AWS/States metrics alone (Step Functions does not
	// list Express executions), and refuses uploads with .sync or .waitForTaskToken tasks,
	// which Express workflows cannot run.
	Express bool
	// Logs, TracingEnabled and RemovalPolicy pass through to the state machine. The
	// removal policy alone decides what `cdk destroy` does to it (DESTROY when empty).
	Logs           *awsstepfunctions.LogOptions
	TracingEnabled *bool
	RemovalPolicy  awscdk.RemovalPolicy
	// AlarmThreshold is how many failed executions through the alias in one minute put
	// the failures alarm in ALARM (1 when zero); AlarmEvaluationPeriods how many such
	// minutes in a row (1 when zero).
	AlarmThreshold         float64
	AlarmEvaluationPeriods int
}

// ManagedStateMachine is a state machine the controller deploys to: tagged
// rollout:managed=true with its policy as rollout:<field> tags, an alias, an alarm on the
// alias's failed executions, and a deploy custom resource (topology.DeployResourceType)
// served by the controller stack.
//
// CloudFormation creates and updates the state machine itself; it never publishes a
// version or moves the alias. The custom resource hands each definition the app gives to
// the controller: on the first deploy the controller publishes version 1 and creates the
// alias at 100% on it; afterwards a changed definition is uploaded as
// <stateMachine>/<alias>/cdk-<hash>.asl.json with Overrides as its metadata and rolled
// out under the policy, and `cdk deploy` waits for the outcome (see Props.Wait). A
// definition equal to the stable version's changes nothing. Deleting the construct
// deletes no version and no alias (docs/deploy.md).
type ManagedStateMachine struct {
	constructs.Construct
	StateMachine awsstepfunctions.StateMachine
	// Deployment is the deploy custom resource; nil with Props.Migrate.
	Deployment awscdk.CustomResource
	// LegacyVersion and LegacyAlias are the earlier form's resources, kept only with
	// Props.Migrate.
	LegacyVersion awsstepfunctions.CfnStateMachineVersion
	LegacyAlias   awsstepfunctions.CfnStateMachineAlias
	// AliasName and AliasArn are what callers should start executions with: the
	// unqualified ARN always runs the latest revision, which may be an unapproved candidate.
	AliasName string
	AliasArn  *string
	// FailuresAlarm watches AWS/States ExecutionsFailed of the alias.
	FailuresAlarm awscloudwatch.Alarm
	// Tags are the tags the state machine carries; Metadata the overrides' upload metadata.
	Tags     map[string]string
	Metadata map[string]string
}

// RolloutID is the deploy's rollout id ("" when nothing was rolled out), VersionArn the
// version the alias routes 100% to once the deploy is complete, and Outcome what the deploy
// did (topology.DeployDataOutcome): Fn::GetAtt of the custom resource. Nil with Migrate.
func (m *ManagedStateMachine) RolloutID() *string { return m.deployData(topology.DeployDataRolloutID) }

// VersionArn: see RolloutID.
func (m *ManagedStateMachine) VersionArn() *string {
	return m.deployData(topology.DeployDataVersionArn)
}

// Outcome: see RolloutID.
func (m *ManagedStateMachine) Outcome() *string { return m.deployData(topology.DeployDataOutcome) }

func (m *ManagedStateMachine) deployData(key string) *string {
	if m.Deployment == nil {
		return nil
	}
	return m.Deployment.GetAttString(jsii.String(key))
}

// ServiceTokenExportName is the export of the deploy custom resource's service token by
// the controller stack of that name.
func ServiceTokenExportName(controllerStack string) string {
	return controllerStack + "-" + topology.OutputDeployServiceToken
}

var (
	stateMachineNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	aliasNamePattern        = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,80}$`)
	aliasHasNonDigit        = regexp.MustCompile(`[A-Za-z_.-]`)
	// Step Functions tag values: letters, digits, spaces and _ . : / = + - @, at most 256.
	tagValuePattern = regexp.MustCompile(`^[\p{L}\p{N} _.:/=+\-@]{0,256}$`)
	// S3 user metadata travels as HTTP headers: printable US-ASCII.
	metadataValuePattern = regexp.MustCompile(`^[ -~]*$`)
	stackNamePattern     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
)

// minInterval is the shortest hold the controller accepts on AWS (topology.DefaultMinInterval).
const minInterval = time.Minute

// New builds the construct. The policy and the overrides are resolved and validated as
// the controller will resolve them, so that synth fails on a policy that every deploy
// would be refused for.
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
	controllerStack := props.ControllerStackName
	if controllerStack == "" {
		controllerStack = topology.DefaultPrefix
	}
	if props.ServiceToken == nil && !stackNamePattern.MatchString(controllerStack) {
		return nil, fmt.Errorf("controller stack name %q: want a CloudFormation stack name", controllerStack)
	}
	body, err := definitionBody(props)
	if err != nil {
		return nil, err
	}
	if err := checkSubstitutions(props.DefinitionSubstitutions); err != nil {
		return nil, fmt.Errorf("managed state machine %s: %w", props.StateMachineName, err)
	}
	alarmName := topology.AliasFailuresAlarmName(props.StateMachineName, alias)
	tags, err := PolicyTags(props.Policy, alarmName)
	if err != nil {
		return nil, fmt.Errorf("managed state machine %s: %w", props.StateMachineName, err)
	}
	metadata, err := PolicyMetadata(props.Overrides, tags)
	if err != nil {
		return nil, fmt.Errorf("managed state machine %s: overrides: %w", props.StateMachineName, err)
	}

	// Children are created under the construct's interface value: jsii cannot take a Go
	// struct that embeds a construct as a scope.
	node := constructs.NewConstruct(scope, jsii.String(id))
	m := &ManagedStateMachine{Construct: node, AliasName: alias, Tags: tags, Metadata: metadata}
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
		DefinitionBody:          body,
		DefinitionSubstitutions: subs,
		Role:                    props.Role,
		Logs:                    props.Logs,
		TracingEnabled:          props.TracingEnabled,
		RemovalPolicy:           props.RemovalPolicy,
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
	if props.Migrate {
		m.legacy(node, cfnMachine, alias)
	} else {
		token := props.ServiceToken
		if token == nil {
			token = awscdk.Fn_ImportValue(jsii.String(ServiceTokenExportName(controllerStack)))
		}
		wait := props.Wait == nil || *props.Wait
		properties := map[string]any{
			topology.DeployPropStateMachineArn: m.StateMachine.StateMachineArn(),
			topology.DeployPropAliasName:       alias,
			topology.DeployPropDefinition: awscdk.Lazy_UncachedAny(&finalDefinition{
				definition: cfnMachine.DefinitionString(), substitutions: props.DefinitionSubstitutions,
			}, nil),
			topology.DeployPropWait: strconv.FormatBool(wait),
		}
		if len(metadata) > 0 {
			properties[topology.DeployPropMetadata] = metadata
		}
		m.Deployment = awscdk.NewCustomResource(node, jsii.String("Deployment"), &awscdk.CustomResourceProps{
			ServiceToken: token,
			ResourceType: jsii.String(topology.DeployResourceType),
			Properties:   &properties,
		})
		// The state machine with its role and the role's policy: the first deploy publishes
		// version 1 of the state machine as CloudFormation left it.
		m.Deployment.Node().AddDependency(m.StateMachine)
		// The alias is the handler's; its ARN is the state machine's and the alias name.
		m.AliasArn = awscdk.Fn_Join(jsii.String(":"), jsii.Strings(*m.StateMachine.StateMachineArn(), alias))
	}

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
	if m.Deployment != nil {
		// The controller refuses a rollout whose alarms do not exist: the alarm the policy
		// names by default exists before a definition is handed over.
		m.Deployment.Node().AddDependency(m.FailuresAlarm)
	}
	return m, nil
}

// legacy is the earlier form's version and alias, with the logical IDs and properties it
// deployed, so that a Migrate deploy changes neither; the alias is now retained, so that the
// next deploy, which leaves both out of the template, deletes neither.
func (m *ManagedStateMachine) legacy(node constructs.Construct, cfnMachine awsstepfunctions.CfnStateMachine, alias string) {
	m.LegacyVersion = awsstepfunctions.NewCfnStateMachineVersion(node, jsii.String("Version"), &awsstepfunctions.CfnStateMachineVersionProps{
		StateMachineArn:        m.StateMachine.StateMachineArn(),
		StateMachineRevisionId: cfnMachine.AttrStateMachineRevisionId(),
		Description:            jsii.String("first version (ManagedStateMachine); later versions come from sfn-rollout"),
	})
	m.LegacyVersion.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	m.LegacyAlias = awsstepfunctions.NewCfnStateMachineAlias(node, jsii.String("Alias"), &awsstepfunctions.CfnStateMachineAliasProps{
		Name:        jsii.String(alias),
		Description: jsii.String("moved by sfn-rollout"),
		RoutingConfiguration: &[]any{&awsstepfunctions.CfnStateMachineAlias_RoutingConfigurationVersionProperty{
			StateMachineVersionArn: m.LegacyVersion.AttrArn(),
			Weight:                 jsii.Number(100),
		}},
	})
	m.LegacyAlias.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	m.AliasArn = m.LegacyAlias.AttrArn()
}

// definitionBody is the body the state machine is given: a file is read here (the L2 would
// upload it as an asset, and the template would hold only its S3 location).
func definitionBody(props Props) (awsstepfunctions.DefinitionBody, error) {
	set := 0
	for _, ok := range []bool{props.DefinitionBody != nil, props.DefinitionFile != "", props.Definition != ""} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("set exactly one of DefinitionBody, DefinitionFile and Definition")
	}
	definition, file := props.Definition, props.DefinitionFile
	switch b := props.DefinitionBody.(type) {
	case nil:
	case awsstepfunctions.FileDefinitionBody:
		file = *b.Path()
	case awsstepfunctions.StringDefinitionBody:
		if *awscdk.Token_IsUnresolved(b.Body()) {
			return b, nil
		}
		definition = *b.Body()
	default:
		// A chain of states: the L2 renders it, and grants its role what the states call.
		return b, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read definition: %w", err)
		}
		definition = string(b)
	}
	if !json.Valid([]byte(definition)) {
		return nil, fmt.Errorf("definition of %s is not JSON", props.StateMachineName)
	}
	return awsstepfunctions.DefinitionBody_FromString(jsii.String(definition)), nil
}

// PolicyTags are the tags of a managed state machine with this policy: rollout:managed=true
// and rollout:<field> for each field set, lists space-separated (tag values allow no
// commas). defaultAlarm is named when the policy names no alarms. The result is resolved and
// validated as the controller resolves tags.
func PolicyTags(p Policy, defaultAlarm string) (map[string]string, error) {
	if p.Alarms == nil && defaultAlarm != "" {
		p.Alarms = []string{defaultAlarm}
	}
	fields, errs := policyFields(p)
	tags := map[string]string{topology.ManagedTag: "true"}
	for f, v := range fields {
		tags[topology.TagPrefix+f] = v
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
	if err := checkPolicy(layer); err != nil {
		return nil, err
	}
	return tags, nil
}

// PolicyMetadata is the upload metadata of per-deploy overrides (rollout-<field> for each
// field set, lists space-separated), resolved and validated as the controller resolves
// them over the state machine's tags. Nil alarms override nothing; no overrides is an
// empty map.
func PolicyMetadata(overrides Policy, tags map[string]string) (map[string]string, error) {
	fields, errs := policyFields(overrides)
	metadata := map[string]string{}
	for f, v := range fields {
		metadata[topology.MetadataPrefix+f] = v
		if !metadataValuePattern.MatchString(v) {
			errs = append(errs, fmt.Errorf("metadata %s%s=%q: S3 user metadata holds printable US-ASCII only", topology.MetadataPrefix, f, v))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(metadata) == 0 {
		return metadata, nil
	}
	tagLayer, err := rollout.ParsePolicyTags(tags)
	if err != nil {
		return nil, fmt.Errorf("rollout policy: %w", err)
	}
	layer, err := rollout.ParsePolicyMetadata(metadata)
	if err != nil {
		return nil, fmt.Errorf("rollout policy: %w", err)
	}
	if err := checkPolicy(tagLayer, layer); err != nil {
		return nil, err
	}
	return metadata, nil
}

// checkPolicy resolves the layers over the built-in default as the controller does, and
// checks that the policy's holds suit the controller's tick on AWS.
func checkPolicy(layers ...rollout.Layer) error {
	policy, err := rollout.Resolve(layers...)
	if err != nil {
		return fmt.Errorf("rollout policy: %w", err)
	}
	if err := policy.CheckTick(minInterval); err != nil {
		return fmt.Errorf("rollout %w", err)
	}
	return nil
}

// policyFields are the policy's fields that are set, by name, as tag and metadata values
// write them.
func policyFields(p Policy) (map[string]string, []error) {
	fields := map[string]string{}
	set := func(field, value string) { fields[field] = value }
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
	return fields, errs
}
