package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// policyFlags are deploy's flags, one per policy field, written as S3 user metadata
// rollout-<flag> on the upload: the layer of the policy that wins over tags and rollout.json.
var policyFlags = []struct{ field, flag, usage string }{
	{"strategy", "strategy", "ALL_AT_ONCE, CANARY, LINEAR, EXPONENTIAL, BLUE_GREEN or CUSTOM"},
	{"percentage", "percentage", "canary weight, linear increment or exponential start (1-99)"},
	{"interval", "interval", "hold between weights: 90s, 5m, 1h"},
	{"growthFactor", "growth-factor", "EXPONENTIAL: next weight = ceil(weight × factor)"},
	{"steps", "steps", `CUSTOM: steps such as "weight:20 pause:5m approval analysis:10m" (spaces or commas)`},
	{"bakeTime", "bake-time", "time at 100% with the alarms still watched"},
	{"alarms", "alarms", "CloudWatch alarm names (spaces or commas); any in ALARM rolls back"},
	{"maxFailureRate", "max-failure-rate", "percent of the candidate's executions that may fail"},
	{"minExecutions", "min-executions", "executions needed before the failure rate is judged"},
	{"onDrift", "on-drift", "pause or rollback when the alias was changed by hand"},
	{"onBusy", "on-busy", "reject, queue or supersede when another rollout holds the alias"},
	{"onFailure", "on-failure", "rollback or pause on an alarm, failure rate or failed analysis"},
	{"preexistingAlarms", "preexisting-alarms", "ignore or block when an alarm fires before the rollout"},
	{"keepVersions", "keep-versions", "unreferenced versions kept by garbage collection"},
	{"testAlias", "test-alias", "BLUE_GREEN: the alias routed 100% to the candidate during the test"},
	{"approval", "approval", "BLUE_GREEN: wait for approve before 100%"},
}

// listFields take several values, which metadata separates with spaces.
var listFields = map[string]bool{"alarms": true, "steps": true}

type deployOptions struct {
	alias, file, name string
	wait              bool
	timeout           time.Duration
	policy            map[string]*string
}

func newDeploy(a *app) *cobra.Command {
	o := &deployOptions{policy: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "deploy <state-machine> --file <definition.asl.json> [policy flags]",
		Short: "Upload a definition to the artifacts bucket, as CI would, and start its rollout",
		Long: `Uploads the definition to s3://<bucket>/<state-machine>/<alias>/<name>.asl.json with the policy
flags as S3 user metadata (rollout-<field>) and the caller as rollout-actor: exactly what a CI
pipeline's "aws s3 cp" does. The policy is resolved as the controller resolves it — defaults <
the state machine's rollout:* tags < <sm>/<alias>/rollout.json < these flags — and checked
before anything is uploaded, with the definition, the alias, the managed tag and the alarms.

Prints the rollout id (derived from bucket/key#versionId, as the controller derives it) once
the controller has prepared it. --wait follows it to the end: exit 0 when it succeeded, 1 when
it rolled back, was aborted or failed.`,
		Example: `  sfn-rollout deploy orders --file orders-v2.asl.json
  sfn-rollout deploy orders --alias prod --file orders-v2.asl.json --strategy LINEAR --percentage 25 --interval 1m --bake-time 5m --wait
  sfn-rollout deploy orders --file v3.asl.json --strategy CUSTOM --steps "weight:10 pause:10m weight:50 approval" --alarms orders-prod-failures`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			meta := map[string]string{}
			for _, f := range policyFlags {
				if cmd.Flags().Changed(f.flag) {
					v := strings.TrimSpace(*o.policy[f.field])
					if listFields[f.field] {
						v = strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }), " ")
					}
					meta[topology.MetadataPrefix+f.flag] = v
				}
			}
			return a.deploy(cmd.Context(), cmd.OutOrStdout(), argv[0], o, meta)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.alias, "alias", topology.DefaultAlias, "the alias to roll out on")
	fl.StringVarP(&o.file, "file", "f", "", "the ASL definition to deploy (required)")
	fl.StringVar(&o.name, "name", "", "the object's name under <sm>/<alias>/ (default deploy-<time>)")
	fl.BoolVar(&o.wait, "wait", false, "follow the rollout to its end; exit 1 unless it succeeded")
	fl.DurationVar(&o.timeout, "timeout", 0, "with --wait, give up after this long (0: no limit)")
	_ = cmd.MarkFlagRequired("file")
	for _, f := range policyFlags {
		o.policy[f.field] = fl.String(f.flag, "", f.usage)
	}
	fl.Lookup("approval").NoOptDefVal = "true"
	_ = cmd.RegisterFlagCompletionFunc("strategy", cobra.FixedCompletions([]string{"ALL_AT_ONCE", "CANARY", "LINEAR", "EXPONENTIAL", "BLUE_GREEN", "CUSTOM"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("file", "json")
	return cmd
}

func (a *app) deploy(ctx context.Context, w io.Writer, stateMachine string, o *deployOptions, meta map[string]string) error {
	definition, err := os.ReadFile(o.file)
	if err != nil {
		return usagef("cannot read the definition: %v", err)
	}
	if !json.Valid(definition) {
		var v any
		err := json.Unmarshal(definition, &v)
		return usagef("%s is not JSON: %v", o.file, err)
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = "deploy-" + a.now().Format("20060102-150405")
	}
	name = strings.TrimSuffix(name, topology.DefinitionSuffix)
	key := topology.ArtifactKey{StateMachine: stateMachine, Alias: o.alias, Name: name + topology.DefinitionSuffix}
	if _, err := topology.ParseArtifactKey(key.Key()); err != nil || strings.ContainsAny(name, "/") || strings.Contains(stateMachine, "/") {
		return usagef("cannot deploy to key %q: want <state-machine>/<alias>/<name>.asl.json with no '/' in the parts", key.Key())
	}
	client, err := a.s3()
	if err != nil {
		return err
	}
	store, err := a.rollouts()
	if err != nil {
		return err
	}
	policy, err := a.checkUpload(ctx, key, string(definition), meta)
	if err != nil {
		return err
	}
	actor := a.caller(ctx)
	meta[topology.MetadataPrefix+"actor"] = actor

	out, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(a.res.Bucket), Key: aws.String(key.Key()), Body: strings.NewReader(string(definition)),
		Metadata: meta, ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", a.res.Bucket, key.Key(), err)
	}
	version := aws.ToString(out.VersionId)
	if version == "" {
		return fmt.Errorf("uploaded s3://%s/%s, but the bucket is not versioned: the controller names rollouts after the object's version, so its rollout cannot be told", a.res.Bucket, key.Key())
	}
	id := controller.RolloutID(a.res.Bucket + "/" + key.Key() + "#" + version)
	view := DeployView{Bucket: a.res.Bucket, Key: key.Key(), VersionID: version}
	if !a.json() {
		fmt.Fprintf(w, "uploaded s3://%s/%s (version %s) as %s: %s\n", a.res.Bucket, key.Key(), version, shortActor(actor), describePolicy(policy))
	}

	r, err := a.awaitPrepared(ctx, id, time.Minute)
	if err != nil {
		return err
	}
	if o.wait && !r.Phase.Terminal() {
		progress := w
		if a.json() {
			progress = a.stderr
		}
		if r, err = a.follow(ctx, progress, store, r, o.timeout); err != nil {
			return err
		}
	}
	view.RolloutView = NewRolloutView(r)
	switch {
	case a.json():
		if err := writeJSON(w, view); err != nil {
			return err
		}
	case o.wait:
		fmt.Fprintln(w)
		v, err := a.statusOf(ctx, r)
		if err != nil {
			return err
		}
		if err := RenderStatus(w, v); err != nil {
			return err
		}
	default:
		if err := RenderDeploy(w, view); err != nil {
			return err
		}
	}
	if view.Failed() {
		return fmt.Errorf("rollout %s %s: %s", r.ID, phaseLine(view.RolloutView), r.Reason)
	}
	return nil
}

// checkUpload refuses, before anything is uploaded, what the controller would refuse: an
// unknown state machine or alias, an unmanaged one, an invalid definition, a policy that
// does not resolve, intervals below the tick, alarms that do not exist.
func (a *app) checkUpload(ctx context.Context, key topology.ArtifactKey, definition string, meta map[string]string) (rollout.Policy, error) {
	arn, err := a.stateMachine(ctx, key.StateMachine)
	if err != nil {
		return rollout.Policy{}, err
	}
	aliasArn := topology.AliasArn(arn, key.Alias)
	if _, err := a.sfn().DescribeStateMachineAlias(ctx, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(aliasArn)}); err != nil {
		if errors.Is(awsapi.Classify("", err), controller.ErrNotFound) {
			return rollout.Policy{}, usagef("state machine %s has no alias %q", key.StateMachine, key.Alias)
		}
		return rollout.Policy{}, fmt.Errorf("describe alias %s: %w", aliasArn, err)
	}
	tags, err := a.machines().Tags(ctx, arn)
	if err != nil {
		return rollout.Policy{}, err
	}
	if !rollout.IsManaged(tags) {
		return rollout.Policy{}, usagef("state machine %s is not managed: it lacks the tag %s=true, so the controller would refuse the upload", key.StateMachine, topology.ManagedTag)
	}
	sm, err := a.machines().Describe(ctx, arn)
	if err != nil {
		return rollout.Policy{}, err
	}
	diags, err := a.machines().Validate(ctx, definition, sm.Type)
	if err != nil {
		return rollout.Policy{}, err
	}
	if len(diags) > 0 {
		msgs := make([]string, len(diags))
		for i, d := range diags {
			msgs[i] = fmt.Sprintf("%s: %s at %s", d.Code, d.Message, d.Location)
		}
		return rollout.Policy{}, usagef("the definition is not valid ASL: %s", strings.Join(msgs, "; "))
	}

	client, _ := a.s3()
	policy, _, err := controller.ResolvePolicy(ctx, s3api.New(client), a.res.Bucket, key, tags, meta, minInterval)
	switch {
	case controller.ErrorCode(err) == controller.EInvalidPolicy:
		return rollout.Policy{}, usagef("invalid policy: %v", err)
	case err != nil:
		return rollout.Policy{}, err
	}
	if len(policy.Alarms) > 0 {
		states, err := a.alarms().States(ctx, policy.Alarms)
		if err != nil {
			return rollout.Policy{}, err
		}
		var missing []string
		for _, name := range policy.Alarms {
			if s, ok := states[name]; !ok || s == rollout.AlarmMissing {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return rollout.Policy{}, usagef("the policy names alarms that do not exist: %s", strings.Join(missing, ", "))
		}
	}
	return policy, nil
}

// minInterval is the controller's shortest hold on AWS and in local mode alike: its tick.
var minInterval = func() time.Duration {
	d, _ := rollout.ParseDuration(topology.DefaultMinInterval)
	return d.D()
}()

// awaitPrepared waits until the controller has prepared the rollout: it has its candidate,
// waits in the queue, or was refused.
func (a *app) awaitPrepared(ctx context.Context, id string, timeout time.Duration) (rollout.Rollout, error) {
	store, err := a.rollouts()
	if err != nil {
		return rollout.Rollout{}, err
	}
	deadline := time.Now().Add(timeout)
	var last rollout.Rollout
	found := false
	for time.Now().Before(deadline) {
		r, err := store.GetRollout(ctx, id)
		switch {
		case err == nil:
			last, found = r, true
			if r.CandidateVersionArn != "" || r.Phase.Terminal() || strings.HasPrefix(r.Reason, "queued") {
				return r, nil
			}
		case !errors.Is(err, controller.ErrNotFound):
			return r, err
		}
		select {
		case <-ctx.Done():
			return last, errors.New("interrupted")
		case <-time.After(a.followEvery()):
		}
	}
	if found {
		return last, nil
	}
	return last, fmt.Errorf("rollout %s has no record %s after the upload: is the controller deployed and does it receive the bucket's events?", id, timeout)
}

// follow prints a line each time the rollout moves, until it ends and the controller has
// finalized it (released the alias, so that the next deploy finds it free).
func (a *app) follow(ctx context.Context, w io.Writer, store lockReader, r rollout.Rollout, timeout time.Duration) (rollout.Rollout, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	last := ""
	for {
		line := progressLine(r)
		if line != last {
			fmt.Fprintf(w, "%s  %s\n", clock(r.UpdatedAt)[11:], line)
			last = line
		}
		if r.Phase.Terminal() {
			break
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return r, fmt.Errorf("rollout %s is still %s after %s: %s", r.ID, r.Phase, timeout, r.Reason)
			}
			return r, errors.New("interrupted")
		case <-time.After(a.followEvery()):
		}
		next, err := store.GetRollout(ctx, r.ID)
		if err != nil {
			return r, interrupted(ctx, err)
		}
		r = next
	}
	// finalize releases the alias last; a minute is far more than it takes.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		holder, err := store.LockHolder(ctx, r.AliasArn)
		if err != nil {
			return r, interrupted(ctx, err)
		}
		if holder != r.ID {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, errors.New("interrupted")
		case <-time.After(a.followEvery() / 2):
		}
	}
	fmt.Fprintf(a.stderr, "sfn-rollout: warning: rollout %s ended %s but still holds alias %s\n", r.ID, r.Phase, r.AliasName)
	return r, nil
}

// lockReader is what follow reads of the table.
type lockReader interface {
	GetRollout(ctx context.Context, id string) (rollout.Rollout, error)
	LockHolder(ctx context.Context, aliasArn string) (string, error)
}

// progressLine is one line of deploy --wait: phase, step and weight, and the reason.
func progressLine(r rollout.Rollout) string {
	v := NewRolloutView(r)
	return fmt.Sprintf("%-12s step %d/%d  %s  %s", phaseLine(v), v.Step, v.Steps, Bar(v.Weights.Candidate), r.Reason)
}
