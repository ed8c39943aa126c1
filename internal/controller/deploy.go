package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The deploy custom resource (topology/deploy.go): CloudFormation hands each definition of a
// ManagedStateMachine to the controller through the CDK provider framework, which calls
// Deploy (its onEvent) once per request and DeployStatus (its isComplete) every few seconds
// until it answers complete or an error. The framework's contract, as aws-cdk-lib 2.276's
// provider-framework runtime implements it:
//   - onEvent answers {PhysicalResourceId, Data}; an error fails the resource.
//   - isComplete gets the request with onEvent's PhysicalResourceId and Data, and answers
//     {IsComplete, Data}. Data with IsComplete false fails the resource ("Data" is not
//     allowed if "IsComplete" is "False"), so a poll that is not complete answers no Data.
//   - An error of either becomes the CloudFormation status reason: the function's
//     errorMessage, then a line "Logs: /aws/lambda/<function>". So the message is one line
//     that starts with what a `cdk deploy` user must read (deployFailure).
//   - A Delete must answer the PhysicalResourceId it was given.

// Request types of a CloudFormation custom resource.
const (
	RequestCreate = "Create"
	RequestUpdate = "Update"
	RequestDelete = "Delete"
)

// DeployEvent is the CloudFormation custom-resource request as the provider framework
// hands it to onEvent (Data empty) and to isComplete (with onEvent's PhysicalResourceId and
// Data). Fields CloudFormation or the framework add later are ignored.
type DeployEvent struct {
	RequestType        string `json:"RequestType"`
	ServiceToken       string `json:"ServiceToken,omitempty"`
	ResponseURL        string `json:"ResponseURL,omitempty"`
	StackID            string `json:"StackId"`
	RequestID          string `json:"RequestId"`
	LogicalResourceID  string `json:"LogicalResourceId"`
	PhysicalResourceID string `json:"PhysicalResourceId,omitempty"`
	ResourceType       string `json:"ResourceType"`
	// ResourceProperties are the resource's properties (topology.DeployProp*), every value a
	// string, plus the ServiceToken.
	ResourceProperties    map[string]any    `json:"ResourceProperties"`
	OldResourceProperties map[string]any    `json:"OldResourceProperties,omitempty"`
	Data                  map[string]string `json:"Data,omitempty"`
}

// DeployResponse is onEvent's answer.
type DeployResponse struct {
	PhysicalResourceID string            `json:"PhysicalResourceId"`
	Data               map[string]string `json:"Data,omitempty"`
}

// DeployStatusResponse is isComplete's answer.
type DeployStatusResponse struct {
	IsComplete bool              `json:"IsComplete"`
	Data       map[string]string `json:"Data,omitempty"`
}

// DecodeDeployEvent reads a custom-resource request. Unknown fields are ignored (AWS adds
// fields); a request without its type, ids or properties is InvalidEvent.
func DecodeDeployEvent(raw []byte) (DeployEvent, error) {
	var ev DeployEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, wrapf(EInvalidEvent, err, "decode the custom resource request")
	}
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"RequestType", ev.RequestType}, {"RequestId", ev.RequestID}, {"StackId", ev.StackID}, {"LogicalResourceId", ev.LogicalResourceID},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return ev, Errorf(EInvalidEvent, "custom resource request without %s", strings.Join(missing, ", "))
	}
	switch ev.RequestType {
	case RequestCreate, RequestUpdate, RequestDelete:
	default:
		return ev, Errorf(EInvalidEvent, "custom resource request type %q (want Create, Update or Delete)", ev.RequestType)
	}
	if ev.RequestType != RequestCreate && ev.PhysicalResourceID == "" {
		return ev, Errorf(EInvalidEvent, "%s request without PhysicalResourceId", ev.RequestType)
	}
	return ev, nil
}

// Check checks a Create or Update's properties as Deploy does before it touches anything; a
// Delete's are not read.
func (ev DeployEvent) Check() error {
	if ev.RequestType == RequestDelete {
		return nil
	}
	_, err := parseDeploy(ev)
	return err
}

// deployRequest is a Create or Update with its properties checked.
type deployRequest struct {
	ev         DeployEvent
	smArn      string
	smName     string
	aliasName  string
	aliasArn   string
	definition string
	wait       bool
	metadata   map[string]string
}

// parseDeploy checks a Create or Update's properties before anything is read or written.
func parseDeploy(ev DeployEvent) (deployRequest, error) {
	p := ev.ResourceProperties
	str := func(name string) (string, error) {
		switch v := p[name].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		default:
			return "", Errorf(EInvalidEvent, "property %s is a %T, want a string", name, v)
		}
	}
	req := deployRequest{ev: ev, wait: true}
	var err error
	if req.smArn, err = str(topology.DeployPropStateMachineArn); err != nil {
		return req, err
	}
	if req.aliasName, err = str(topology.DeployPropAliasName); err != nil {
		return req, err
	}
	if req.definition, err = str(topology.DeployPropDefinition); err != nil {
		return req, err
	}
	var missing []string
	for _, f := range []struct{ name, value string }{
		{topology.DeployPropStateMachineArn, req.smArn}, {topology.DeployPropAliasName, req.aliasName}, {topology.DeployPropDefinition, req.definition},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return req, Errorf(EInvalidEvent, "%s %s without the properties %s", ev.ResourceType, ev.LogicalResourceID, strings.Join(missing, ", "))
	}
	parts := strings.Split(req.smArn, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return req, Errorf(EInvalidEvent, "property %s %q is not a state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>)", topology.DeployPropStateMachineArn, req.smArn)
	}
	req.smName = parts[6]
	if !rollout.ValidAliasName(req.aliasName) {
		return req, Errorf(EInvalidEvent, "property %s %q is not an alias name (1-80 of letters, digits, _ - ., not all digits)", topology.DeployPropAliasName, req.aliasName)
	}
	req.aliasArn = topology.AliasArn(req.smArn, req.aliasName)
	var def any
	if err := json.Unmarshal([]byte(req.definition), &def); err != nil {
		return req, wrapf(EInvalidDefinition, err, "property %s of %s is not JSON", topology.DeployPropDefinition, ev.LogicalResourceID)
	}
	if _, ok := def.(map[string]any); !ok {
		return req, Errorf(EInvalidDefinition, "property %s of %s is JSON but not an object", topology.DeployPropDefinition, ev.LogicalResourceID)
	}
	wait, err := str(topology.DeployPropWait)
	if err != nil {
		return req, err
	}
	switch strings.ToLower(wait) {
	case "", "true":
	case "false":
		req.wait = false
	default:
		return req, Errorf(EInvalidEvent, "property %s %q: want \"true\" or \"false\"", topology.DeployPropWait, wait)
	}
	req.metadata, err = deployMetadata(p[topology.DeployPropMetadata])
	return req, err
}

// deployMetadata reads the Metadata property: an object of strings, or the same object as
// a JSON string (CloudFormation hands a value built with Fn::ToJsonString that way).
func deployMetadata(v any) (map[string]string, error) {
	bad := func(err error) error {
		return wrapf(EInvalidEvent, err, "property %s: want an object of strings (rollout-<field>: value)", topology.DeployPropMetadata)
	}
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return map[string]string{}, nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, bad(err)
		}
		v = m
	}
	out := map[string]string{}
	switch m := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range m {
			s, ok := val.(string)
			if !ok {
				return nil, bad(fmt.Errorf("%s is a %T", k, val))
			}
			// S3 hands user metadata back with lower-case keys.
			out[strings.ToLower(k)] = s
		}
	default:
		return nil, bad(fmt.Errorf("a %T", v))
	}
	return out, nil
}

// deployActor names CloudFormation's resource as the rollout's actor:
// cloudformation:<stack name>/<logical id>.
func deployActor(ev DeployEvent) string {
	stack := ev.StackID
	// arn:aws:cloudformation:<region>:<account>:stack/<name>/<guid>
	if i := strings.Index(stack, ":stack/"); i >= 0 {
		stack = strings.SplitN(stack[i+len(":stack/"):], "/", 2)[0]
	}
	return "cloudformation:" + stack + "/" + ev.LogicalResourceID
}

// Deploy answers the provider framework's onEvent. The physical id is the alias ARN, the
// same on every update, so that CloudFormation never replaces the resource.
//
// Create and Update (a Create whose alias exists is a retried Create, and is an Update):
//  1. The state machine must exist and be managed (rollout:managed=true); nothing is written
//     otherwise.
//  2. No alias yet: the first deploy publishes the definition (version 1) and creates the
//     alias at 100% on it. No rollout: there is no traffic to shift. Outcome Created.
//  3. A rollout runs on the alias and the definition is its stable version's: CloudFormation
//     is rolling the stack back past an update it gave up on (cancelled, timed out). The
//     rollout is aborted as an operator's abort is; isComplete waits until the alias is back
//     on stable. Outcome Aborting. A definition that is the running rollout's candidate is
//     that rollout (a retried deploy), followed without a new upload. Outcome Started.
//  4. The alias routes 100% to a version with this definition: nothing to do, and no upload.
//     This is what the stack rollback after a rolled-back rollout sends. Outcome Unchanged.
//  5. Otherwise the definition is uploaded as any upload, and the controller rolls it out.
//     Outcome Started, with the rollout's id (derived from the upload, as Prepare derives it).
//
// Delete deletes nothing: the versions and the alias are the state machine's, which
// CloudFormation removes with it when the user removes it.
func (c *Controller) Deploy(ctx context.Context, ev DeployEvent) (DeployResponse, error) {
	if ev.RequestType == RequestDelete {
		c.Log.InfoContext(ctx, "deploy: delete leaves the alias and its versions", "physical_id", ev.PhysicalResourceID, "actor", deployActor(ev))
		return DeployResponse{PhysicalResourceID: ev.PhysicalResourceID}, nil
	}
	req, err := parseDeploy(ev)
	if err != nil {
		return DeployResponse{}, err
	}
	if c.cfg.Bucket == "" {
		return DeployResponse{}, Errorf(EInternal, "the deploy function has no artifacts bucket (%s)", topology.EnvBucket)
	}
	return whileThrottled(ctx, c, func() string { return "" }, func(ctx context.Context) (DeployResponse, error) {
		return c.deployOnce(ctx, req)
	})
}

// deployOnce is one attempt of Deploy's Create or Update: it is safe to run again.
func (c *Controller) deployOnce(ctx context.Context, req deployRequest) (DeployResponse, error) {
	if err := c.checkManaged(ctx, req); err != nil {
		return DeployResponse{}, err
	}
	alias, err := retryCall(ctx, c, func() (Alias, error) { return c.Aliases.Describe(ctx, req.aliasArn) })
	switch {
	case errors.Is(err, ErrNotFound):
		res, err := c.deployFirst(ctx, req)
		if errors.Is(err, ErrConflict) {
			// The alias appeared since it was read (a retry of this Create ran beside it):
			// this request goes on as an update of that alias.
			c.Log.InfoContext(ctx, "deploy: the alias appeared meanwhile; going on as an update", "alias", req.aliasArn, "err", err)
			return c.deployOnce(ctx, req)
		}
		return res, err
	case err != nil:
		return DeployResponse{}, transient(fmt.Errorf("describe alias %s: %w", req.aliasArn, err))
	}
	running, err := c.runningRollout(ctx, req.aliasArn)
	if err != nil {
		return DeployResponse{}, err
	}
	if running != nil {
		if res, done, err := c.deployBeside(ctx, req, alias, *running); done || err != nil {
			return res, err
		}
	}
	if v, ok := soleVersion(alias.Routing); ok {
		same, err := c.hasDefinition(ctx, v, req.definition)
		if err != nil {
			return DeployResponse{}, err
		}
		if same {
			c.Log.InfoContext(ctx, "deploy: unchanged", "state_machine", req.smName, "alias", req.aliasName, "version", v, "actor", deployActor(req.ev))
			return req.answer(topology.DeployOutcomeUnchanged, "", v), nil
		}
	}
	return c.deployUpload(ctx, req)
}

// answer is onEvent's answer with an outcome.
func (req deployRequest) answer(outcome, rolloutID, versionArn string) DeployResponse {
	return DeployResponse{PhysicalResourceID: req.aliasArn, Data: map[string]string{
		topology.DeployDataOutcome: outcome, topology.DeployDataRolloutID: rolloutID,
		topology.DeployDataVersionArn: versionArn, topology.DeployDataAliasArn: req.aliasArn,
	}}
}

// checkManaged refuses a state machine that does not exist or is not managed.
func (c *Controller) checkManaged(ctx context.Context, req deployRequest) error {
	tags, err := retryCall(ctx, c, func() (map[string]string, error) { return c.StateMachines.Tags(ctx, req.smArn) })
	switch {
	case errors.Is(err, ErrNotFound):
		return Errorf(EStateMachineNotFound, "state machine %s does not exist", req.smArn)
	case err != nil:
		return transient(fmt.Errorf("tags of %s: %w", req.smArn, err))
	case !rollout.IsManaged(tags):
		return Errorf(ENotManaged, "state machine %s lacks the tag %s=true, so the controller may not touch it", req.smName, topology.ManagedTag)
	}
	return nil
}

// deployFirstDescription is the description of an alias the first deploy creates: the same
// on every retry, so that a replayed create answers the alias it made.
const deployFirstDescription = "sfn-rollout: created by the first deploy"

// deployFirst publishes the definition and creates the alias at 100% on it.
func (c *Controller) deployFirst(ctx context.Context, req deployRequest) (DeployResponse, error) {
	desc := truncate("sfn-rollout: first deploy by "+deployActor(req.ev), 256)
	version, err := retryCall(ctx, c, func() (string, error) { return c.StateMachines.Publish(ctx, req.smArn, req.definition, desc) })
	switch {
	case errors.Is(err, ErrInvalidDefinition):
		return DeployResponse{}, wrapf(EInvalidDefinition, err, "definition of %s", req.ev.LogicalResourceID)
	case errors.Is(err, ErrNotFound):
		return DeployResponse{}, Errorf(EStateMachineNotFound, "state machine %s does not exist", req.smArn)
	case err != nil:
		return DeployResponse{}, transient(fmt.Errorf("publish %s: %w", req.smArn, err))
	}
	routing := []rollout.Route{{VersionArn: version, Weight: 100}}
	if _, err := retryCall(ctx, c, func() (string, error) {
		return c.Aliases.Create(ctx, req.smArn, req.aliasName, deployFirstDescription, routing)
	}); err != nil {
		// ErrConflict: an alias of that name appeared since it was read, routed otherwise.
		// Create never moves it; deployOnce reads it and goes on as an update.
		return DeployResponse{}, transient(fmt.Errorf("create alias %s: %w", req.aliasArn, err))
	}
	// The first deploy has no rollout record: the operator finds it in this log line (and
	// the alias's description), and every later deploy in `sfn-rollout history`.
	c.Log.InfoContext(ctx, "deploy: created", "state_machine", req.smName, "alias", req.aliasName, "version", version, "actor", deployActor(req.ev), "request_id", req.ev.RequestID)
	return req.answer(topology.DeployOutcomeCreated, "", version), nil
}

// runningRollout is the rollout that holds the alias and has not ended, or nil.
func (c *Controller) runningRollout(ctx context.Context, aliasArn string) (*rollout.Rollout, error) {
	holder, err := c.Locks.LockHolder(ctx, aliasArn)
	if err != nil {
		return nil, transient(fmt.Errorf("lock of %s: %w", aliasArn, err))
	}
	if holder == "" {
		return nil, nil
	}
	r, err := c.Rollouts.GetRollout(ctx, holder)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, transient(fmt.Errorf("read rollout %s: %w", holder, err))
	case r.Phase.Terminal():
		return nil, nil
	}
	return &r, nil
}

// deployBeside decides a deploy while another rollout runs on the alias: the stable
// definition aborts it, its own candidate's follows it; anything else is not decided here
// (done false) and is uploaded, for the policy's onBusy to decide.
func (c *Controller) deployBeside(ctx context.Context, req deployRequest, alias Alias, r rollout.Rollout) (DeployResponse, bool, error) {
	stable := r.StableVersionArn
	if stable == "" {
		stable, _ = soleVersion(alias.Routing)
	}
	if stable != "" {
		same, err := c.hasDefinition(ctx, stable, req.definition)
		if err != nil {
			return DeployResponse{}, true, err
		}
		if same {
			if err := c.abortForDeploy(ctx, req, r); err != nil {
				return DeployResponse{}, true, err
			}
			return req.answer(topology.DeployOutcomeAborting, r.ID, stable), true, nil
		}
	}
	if r.CandidateVersionArn != "" {
		same, err := c.hasDefinition(ctx, r.CandidateVersionArn, req.definition)
		if err != nil {
			return DeployResponse{}, true, err
		}
		if same {
			c.logFor(r).InfoContext(ctx, "deploy: follows the rollout of this definition", "actor", deployActor(req.ev), "request_id", req.ev.RequestID)
			return req.answer(topology.DeployOutcomeStarted, r.ID, ""), true, nil
		}
	}
	return DeployResponse{}, false, nil
}

// abortForDeploy aborts r as an operator's abort does (Control), with the request's id as
// the command's, so that a retried onEvent aborts once.
func (c *Controller) abortForDeploy(ctx context.Context, req deployRequest, r rollout.Rollout) error {
	_, err := c.Control(ctx, ControlInput{Request: ControlRequest{
		RolloutID: r.ID, Command: rollout.CommandAbort, Actor: deployActor(req.ev),
		Reason:    "CloudFormation deploys the stable definition again (stack rollback)",
		CommandID: "cloudformation-" + req.ev.RequestID,
	}})
	if ErrorCode(err) == ECommandRejected {
		// It ended meanwhile (an alarm, an operator): isComplete reads how.
		c.logFor(r).InfoContext(ctx, "deploy: the rollout to abort has ended", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	c.logFor(r).InfoContext(ctx, "deploy: aborted the rollout for the stable definition", "actor", deployActor(req.ev), "request_id", req.ev.RequestID)
	return nil
}

// deployUpload puts the definition where any upload goes, with the Metadata property's
// entries and the request's id, and answers the rollout the upload starts. A retried
// request (Lambda's retry of the framework, the framework's own) finds its upload as the
// key's latest version, and reuses it instead of starting a second rollout. A new request
// with the same definition (the user's retry after a rollback) is a new upload.
func (c *Controller) deployUpload(ctx context.Context, req deployRequest) (DeployResponse, error) {
	bucket := c.cfg.Bucket
	key := topology.ArtifactKey{StateMachine: req.smName, Alias: req.aliasName, Name: topology.DeployUploadName(req.definition)}.Key()
	version, err := c.uploadedBy(ctx, bucket, key, req.ev.RequestID)
	if err != nil {
		return DeployResponse{}, err
	}
	if version == "" {
		meta := map[string]string{}
		for k, v := range req.metadata {
			meta[k] = v
		}
		if meta[rollout.MetadataPrefix+"actor"] == "" {
			meta[rollout.MetadataPrefix+"actor"] = deployActor(req.ev)
		}
		meta[topology.DeployMetaRequestID] = req.ev.RequestID
		meta[topology.DeployMetaStack] = req.ev.StackID
		meta[topology.DeployMetaLogicalID] = req.ev.LogicalResourceID
		version, err = c.Artifacts.Put(ctx, bucket, key, []byte(req.definition), meta)
		if err != nil {
			return DeployResponse{}, transient(fmt.Errorf("put s3://%s/%s: %w", bucket, key, err))
		}
		if version == "" {
			return DeployResponse{}, Errorf(EInternal, "bucket %s is not versioned: an upload has no version id to name its rollout by", bucket)
		}
	}
	upload := bucket + "/" + key + "#" + version
	id := RolloutID(upload)
	res := req.answer(topology.DeployOutcomeStarted, id, "")
	res.Data[topology.DeployDataUpload] = "s3://" + upload
	res.Data[topology.DeployDataUploadedAt] = c.now().Format(time.RFC3339)
	c.Log.InfoContext(ctx, "deploy: uploaded", "rollout_id", id, "state_machine", req.smName, "alias", req.aliasName, "upload", upload, "wait", req.wait, "actor", deployActor(req.ev), "request_id", req.ev.RequestID)
	return res, nil
}

// uploadedBy is the version id of key's latest version if the request uploaded it, else "".
func (c *Controller) uploadedBy(ctx context.Context, bucket, key, requestID string) (string, error) {
	obj, err := c.Artifacts.Get(ctx, bucket, key, "")
	switch {
	case errors.Is(err, ErrNotFound):
		return "", nil
	case err != nil:
		return "", transient(fmt.Errorf("read s3://%s/%s: %w", bucket, key, err))
	case obj.Metadata[topology.DeployMetaRequestID] == requestID:
		return obj.VersionID, nil
	}
	return "", nil
}
