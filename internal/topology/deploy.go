package topology

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// The deploy custom resource: ManagedStateMachine (infra/managed) hands each definition the
// CDK app gives it to the controller through a CloudFormation custom resource served by the
// CDK provider framework. The deploy function answers the framework's onEvent (it uploads
// the definition as any upload, or creates version 1 and the alias on the first deploy);
// the deploystatus function answers its isComplete polls from the rollout record.
const (
	DeployFunction       = "deploy"
	DeployStatusFunction = "deploystatus"
	// DeployResourceType is the custom resource's CloudFormation type.
	DeployResourceType = "Custom::SfnRolloutDeployment"
	// OutputDeployServiceToken is the controller stack's output (exported as
	// "<stack name>-DeployServiceToken") of the provider's service token, which
	// ManagedStateMachine imports unless it is given one.
	OutputDeployServiceToken = "DeployServiceToken"
	// DeployUploadPrefix starts the name of every definition the custom resource uploads:
	// <stateMachine>/<alias>/cdk-<hash>.asl.json.
	DeployUploadPrefix = "cdk-"
)

// Properties of the deploy custom resource. CloudFormation hands every value to the
// function as a string (numbers and booleans too).
const (
	DeployPropStateMachineArn = "StateMachineArn"
	DeployPropAliasName       = "AliasName"
	// DeployPropDefinition is the final ASL: CloudFormation has resolved its substitutions.
	DeployPropDefinition = "Definition"
	// DeployPropWait is "true" (the default: the stack update waits for the rollout's
	// outcome) or "false" (it ends once the rollout has started).
	DeployPropWait = "Wait"
	// DeployPropMetadata is an object of upload metadata (rollout-<field> → value): the
	// construct's per-deploy policy overrides, stored on the uploaded object.
	DeployPropMetadata = "Metadata"
)

// Data the deploy custom resource answers (Fn::GetAtt on the resource).
const (
	DeployDataRolloutID  = "RolloutId"  // "" when nothing was rolled out
	DeployDataVersionArn = "VersionArn" // the version the alias routes 100% to once the deploy is complete
	DeployDataAliasArn   = "AliasArn"
	// DeployDataOutcome is Created (first deploy: version 1, alias at 100%), Unchanged (the
	// definition is the stable version's), Started (a rollout runs), or the rollout's end
	// phase once complete.
	DeployDataOutcome = "Outcome"
)

// DeployUploadName is the object name (the last part of the key) the custom resource uploads
// a definition under: cdk-<first 16 hex digits of the SHA-256 of the definition as compact
// JSON>.asl.json, so that a redeploy of the same definition names the same object.
func DeployUploadName(definition string) string {
	b := []byte(definition)
	var compact bytes.Buffer
	if json.Compact(&compact, b) == nil {
		b = compact.Bytes()
	}
	sum := sha256.Sum256(b)
	return DeployUploadPrefix + hex.EncodeToString(sum[:8]) + DefinitionSuffix
}

// More Data the deploy custom resource answers: where onEvent put the definition, and when,
// so that isComplete can tell an upload that never started a rollout from one that has not
// started it yet.
const (
	DeployDataUpload     = "Upload"     // s3://<bucket>/<key>#<versionId>; "" when nothing was uploaded
	DeployDataUploadedAt = "UploadedAt" // RFC 3339
)

// Outcomes (DeployDataOutcome) onEvent answers; once complete, Outcome is the rollout's end
// phase (Succeeded, or Aborted after DeployOutcomeAborting).
const (
	DeployOutcomeCreated   = "Created"
	DeployOutcomeUnchanged = "Unchanged"
	DeployOutcomeStarted   = "Started"
	// DeployOutcomeAborting: the definition is the stable version's while a rollout runs on
	// the alias (CloudFormation's stack rollback after a cancelled or timed-out update):
	// the rollout is aborted, and isComplete waits until the alias is back on stable.
	DeployOutcomeAborting = "Aborting"
)

// Object metadata the custom resource adds to each upload besides the Metadata property's
// entries. Keys without the rollout- prefix are not policy fields.
const (
	DeployMetaRequestID = "cfn-request-id" // the CloudFormation request that uploaded it: a retry reuses the upload
	DeployMetaStack     = "cfn-stack-id"
	DeployMetaLogicalID = "cfn-logical-id"
)
