package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The deploy custom resource end to end: the test plays CloudFormation and the CDK provider
// framework, invoking the deployed deploy (onEvent) and deploystatus (isComplete) functions
// through the local Lambda API with the sample requests in events/.

// cfn is one custom resource of a stack, as CloudFormation and the provider framework see it.
type cfn struct {
	t        *testing.T
	env      *localenv.Env
	name     string // the state machine
	requests int
}

// request is a sample request for this resource's state machine with a definition and a
// RequestId of its own.
func (c *cfn) request(sample, definition string, metadata map[string]string) controller.DeployEvent {
	c.t.Helper()
	raw, err := os.ReadFile("../../../events/" + sample)
	if err != nil {
		c.t.Fatal(err)
	}
	ev, err := controller.DecodeDeployEvent(raw)
	if err != nil {
		c.t.Fatal(err)
	}
	c.requests++
	ev.RequestID = fmt.Sprintf("%s-request-%d", c.name, c.requests)
	arn := topology.StateMachineArn("aws", core.Region, core.Account, c.name)
	ev.ResourceProperties[topology.DeployPropStateMachineArn] = arn
	ev.ResourceProperties[topology.DeployPropDefinition] = definition
	meta := map[string]any{}
	for k, v := range metadata {
		meta[topology.MetadataPrefix+k] = v
	}
	ev.ResourceProperties[topology.DeployPropMetadata] = meta
	if ev.PhysicalResourceID != "" {
		ev.PhysicalResourceID = topology.AliasArn(arn, "prod")
	}
	return ev
}

// invoke calls a function through Lambda's Invoke API and decodes its answer into out; a
// function error is returned as *core.FunctionError.
func (c *cfn) invoke(fn string, ev controller.DeployEvent, out any) error {
	c.t.Helper()
	payload, _ := json.Marshal(ev)
	res, err := c.env.Lambda.Invoke(context.Background(), &lambdasdk.InvokeInput{
		FunctionName: aws.String(topology.FunctionName(deploy.Prefix, fn)), Payload: payload,
	})
	if err != nil {
		c.t.Fatalf("invoke %s: %v", fn, err)
	}
	if res.FunctionError != nil {
		fe := &core.FunctionError{}
		_ = json.Unmarshal(res.Payload, fe)
		return fe
	}
	if err := json.Unmarshal(res.Payload, out); err != nil {
		c.t.Fatalf("%s answered %s: %v", fn, res.Payload, err)
	}
	return nil
}

// onEvent invokes the deploy function and fails the test on an error.
func (c *cfn) onEvent(ev controller.DeployEvent) (controller.DeployEvent, controller.DeployResponse) {
	c.t.Helper()
	var res controller.DeployResponse
	if err := c.invoke(topology.DeployFunction, ev, &res); err != nil {
		c.t.Fatalf("onEvent %s: %v", ev.RequestType, err)
	}
	ev.PhysicalResourceID, ev.Data = res.PhysicalResourceID, res.Data
	return ev, res
}

// isComplete polls the deploystatus function as the framework does, until it answers
// complete or an error; it returns the answer, how many polls it took, and the error.
func (c *cfn) isComplete(ev controller.DeployEvent) (controller.DeployStatusResponse, int, error) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for polls := 1; time.Now().Before(deadline); polls++ {
		var st controller.DeployStatusResponse
		if err := c.invoke(topology.DeployStatusFunction, ev, &st); err != nil {
			return st, polls, err
		}
		if st.IsComplete {
			return st, polls, nil
		}
		if len(st.Data) > 0 {
			c.t.Fatalf("poll %d answered Data while not complete (the framework fails the resource): %v", polls, st.Data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("isComplete never completed within %s", timeout)
	return controller.DeployStatusResponse{}, 0, nil
}

// rollouts is how many rollouts the state machine has had.
func (c *cfn) rollouts() int {
	c.t.Helper()
	rs, err := c.env.Store.History(context.Background(), topology.StateMachineArn("aws", core.Region, core.Account, c.name), 100)
	if err != nil {
		c.t.Fatal(err)
	}
	return len(rs)
}

func TestDeployCustomResourceCreatesTheFirstVersion(t *testing.T) {
	t.Parallel()
	env, _ := shared(t)
	ctx := context.Background()
	name := uniqueName("cfn-create")
	// As CloudFormation creates the state machine of a ManagedStateMachine: tagged, with its
	// definition, no version, no alias.
	def := example(t, "orders-v1.asl.json")
	if _, err := env.SFN.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String(deploy.RoleArn),
		Tags: []sfntypes.Tag{{Key: aws.String(topology.ManagedTag), Value: aws.String("true")}},
	}); err != nil {
		t.Fatal(err)
	}
	c := &cfn{t: t, env: env, name: name}
	ev, res := c.onEvent(c.request("cfn-deploy-create.json", def, nil))
	arn := topology.StateMachineArn("aws", core.Region, core.Account, name)
	if res.PhysicalResourceID != topology.AliasArn(arn, "prod") {
		t.Errorf("PhysicalResourceId = %q, want the alias ARN", res.PhysicalResourceID)
	}
	if res.Data[topology.DeployDataOutcome] != topology.DeployOutcomeCreated || res.Data[topology.DeployDataVersionArn] != arn+":1" {
		t.Errorf("onEvent Data = %v, want Created on version 1", res.Data)
	}
	st, polls, err := c.isComplete(ev)
	if err != nil || polls != 1 {
		t.Fatalf("isComplete = %+v, %v after %d polls; want complete at the first", st, err, polls)
	}
	if r, err := env.Routing(ctx, topology.AliasArn(arn, "prod")); err != nil || r != "v1=100" {
		t.Errorf("alias routes %q (%v), want v1=100", r, err)
	}
	if n := c.rollouts(); n != 0 {
		t.Errorf("%d rollouts, want none for the first deploy", n)
	}
}

func TestDeployCustomResourceRollsOutAnUpdate(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	ctx := context.Background()
	m := newMachine(t, env, log, "cfn-update")
	c := &cfn{t: t, env: env, name: m.Name}
	ev, res := c.onEvent(c.request("cfn-deploy-update.json", release(t, "cfn"), map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "2m"}))
	id := res.Data[topology.DeployDataRolloutID]
	if res.Data[topology.DeployDataOutcome] != topology.DeployOutcomeStarted || id == "" {
		t.Fatalf("onEvent Data = %v, want Started with a rollout", res.Data)
	}
	st, polls, err := c.isComplete(ev)
	if err != nil {
		t.Fatalf("isComplete: %v", err)
	}
	if polls < 2 {
		t.Errorf("complete after %d poll: the deploy did not wait for the rollout", polls)
	}
	if st.Data[topology.DeployDataOutcome] != string(rollout.Succeeded) || st.Data[topology.DeployDataVersionArn] != m.version(2) {
		t.Errorf("isComplete Data = %v, want Succeeded on version 2", st.Data)
	}
	if r := m.routing(); r != "v2=100" {
		t.Errorf("alias routes %q, want v2=100", r)
	}
	r := m.finalized(id)
	if r.Actor != "cloudformation:orders/OrdersDeployment" {
		t.Errorf("rollout actor %q, want CloudFormation's resource", r.Actor)
	}
	// The upload is where any upload goes, with the request's id.
	key := m.Name + "/prod/" + topology.DeployUploadName(release(t, "cfn"))
	head, err := env.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(env.Deployment.Bucket), Key: aws.String(key)})
	if err != nil || head.Metadata[topology.DeployMetaRequestID] != ev.RequestID {
		t.Errorf("upload %s: metadata %v, %v", key, head.Metadata, err)
	}

	// Delete deletes nothing and completes at once.
	del, _ := c.onEvent(c.request("cfn-deploy-delete.json", release(t, "cfn"), nil))
	if _, polls, err := c.isComplete(del); err != nil || polls != 1 {
		t.Fatalf("isComplete(Delete) = %v after %d polls", err, polls)
	}
	if r := m.routing(); r != "v2=100" {
		t.Errorf("alias after Delete routes %q, want v2=100", r)
	}
	if vs := m.versions(); len(vs) != 2 {
		t.Errorf("versions after Delete: %v, want both", vs)
	}
}

func TestDeployCustomResourceFailsOnARolledBackRollout(t *testing.T) {
	t.Parallel()
	env, log := ownEnv(t, trafficSpeed, 5)
	ctx := context.Background()
	m := newMachine(t, env, log, "cfn-flaky")
	alarm, err := env.AliasFailuresAlarm(ctx, m.Managed, "prod")
	if err != nil {
		t.Fatal(err)
	}
	traffic := env.StartTraffic(ctx, m.AliasArn, trafficPerSec)
	defer traffic.Stop()
	c := &cfn{t: t, env: env, name: m.Name}
	policy := map[string]string{"strategy": "CANARY", "percentage": "30", "interval": "10m", "alarms": alarm}
	ev, res := c.onEvent(c.request("cfn-deploy-update.json", example(t, "orders-v3-flaky.asl.json"), policy))
	id := res.Data[topology.DeployDataRolloutID]
	_, _, err = c.isComplete(ev)
	traffic.Stop()
	fe, ok := err.(*core.FunctionError)
	if !ok {
		t.Fatalf("isComplete = %v, want the rollout's failure", err)
	}
	// The function's errorMessage is what the framework hands CloudFormation as the
	// status reason.
	for _, want := range []string{"rollout " + id + " of " + m.Name + "/prod ended RolledBack (RolledBack)", alarm, "routes 100% to the stable version v1"} {
		if !strings.Contains(fe.Message, want) {
			t.Errorf("errorMessage %q lacks %q", fe.Message, want)
		}
	}
	if fe.Type != "RolledBack" {
		t.Errorf("errorType %q, want RolledBack", fe.Type)
	}
	m.waitRouting("v1=100")
	m.finalized(id)

	// CloudFormation's stack rollback sends the stable definition back: complete at once,
	// without a new rollout.
	before := c.rollouts()
	back, res := c.onEvent(c.request("cfn-deploy-update-to-stable.json", example(t, "orders-v1.asl.json"), nil))
	if res.Data[topology.DeployDataOutcome] != topology.DeployOutcomeUnchanged {
		t.Errorf("onEvent Data = %v, want Unchanged", res.Data)
	}
	if _, polls, err := c.isComplete(back); err != nil || polls != 1 {
		t.Fatalf("isComplete of the stack rollback = %v after %d polls; want complete at once", err, polls)
	}
	if n := c.rollouts(); n != before {
		t.Errorf("%d rollouts after the stack rollback, want %d", n, before)
	}
	if r := m.routing(); r != "v1=100" {
		t.Errorf("alias routes %q, want v1=100", r)
	}
}

// A stack update that CloudFormation gave up on (cancelled, or the provider timed out) is
// rolled back with the stable definition while its rollout still runs: the rollout is
// aborted, and isComplete completes once the alias is back on stable.
func TestDeployCustomResourceStackRollbackAbortsTheRunningRollout(t *testing.T) {
	t.Parallel()
	env, log := shared(t)
	m := newMachine(t, env, log, "cfn-abort")
	c := &cfn{t: t, env: env, name: m.Name}
	slow := map[string]string{"strategy": "LINEAR", "percentage": "20", "interval": "30m"}
	_, res := c.onEvent(c.request("cfn-deploy-update.json", release(t, "cfn-slow"), slow))
	id := res.Data[topology.DeployDataRolloutID]
	m.waitWeight(id, rollout.Progressing, 20)

	back, res := c.onEvent(c.request("cfn-deploy-update-to-stable.json", example(t, "orders-v1.asl.json"), nil))
	if res.Data[topology.DeployDataOutcome] != topology.DeployOutcomeAborting || res.Data[topology.DeployDataRolloutID] != id {
		t.Fatalf("onEvent Data = %v, want Aborting %s", res.Data, id)
	}
	st, _, err := c.isComplete(back)
	if err != nil || st.Data[topology.DeployDataOutcome] != string(rollout.Aborted) || st.Data[topology.DeployDataVersionArn] != m.version(1) {
		t.Fatalf("isComplete = %+v, %v; want complete, Aborted, on version 1", st, err)
	}
	if r := m.routing(); r != "v1=100" {
		t.Errorf("alias routes %q, want v1=100", r)
	}
	r := m.finalized(id)
	if r.Phase != rollout.Aborted || !strings.Contains(r.Reason, "cloudformation:orders/OrdersDeployment") {
		t.Errorf("rollout ended %s: %q; want Aborted by CloudFormation's resource", r.Phase, r.Reason)
	}
}
