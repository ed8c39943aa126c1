package controller_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// eventsDir holds the sample events: golden inputs here and `make invoke-<fn>` payloads.
const eventsDir = "../../events"

const (
	sampleBucket = "sfn-rollout-artifacts-000000000000"
	// sampleRolloutID is the rollout of s3-object-created.json, so that the samples can be
	// replayed in order: upload, tick, control.
	sampleRolloutID = "r-9ebcde5d084e"
)

// decoded is a sample event read the way its handler reads it. Exactly one part is set.
type decoded struct {
	env     controller.Envelope
	object  *controller.ObjectCreated
	alarm   *controller.AlarmStateChange
	tick    *controller.Tick
	control *controller.ControlRequest
	deploy  *controller.DeployEvent
	cont    *controller.Continuation
}

// decodeSample picks the decoder by the file name's prefix, as each trigger has its own.
func decodeSample(name string, raw []byte) (decoded, error) {
	var d decoded
	switch {
	case strings.HasPrefix(name, "s3-object-created"):
		env, obj, err := controller.DecodeObjectCreated(raw)
		d.env, d.object = env, &obj
		return d, err
	case strings.HasPrefix(name, "alarm-"):
		env, alarm, err := controller.DecodeAlarmStateChange(raw)
		d.env, d.alarm = env, &alarm
		return d, err
	case strings.HasPrefix(name, "rollback-continuation"):
		in, err := controller.DecodeContinuation(raw)
		d.cont = &in
		return d, err
	case strings.HasPrefix(name, "scheduler-tick"):
		d.tick = &controller.Tick{}
		return d, strictUnmarshal(raw, d.tick)
	case strings.HasPrefix(name, "cfn-deploy"):
		// The samples carry no field DeployEvent lacks; the handler itself ignores such
		// fields, as CloudFormation adds some.
		d.deploy = &controller.DeployEvent{}
		if err := strictUnmarshal(raw, d.deploy); err != nil {
			return d, err
		}
		ev, err := controller.DecodeDeployEvent(raw)
		if err != nil {
			return d, err
		}
		return d, ev.Check()
	case strings.HasPrefix(name, "control-request-event"):
		if err := strictUnmarshal(raw, &d.env); err != nil {
			return d, err
		}
		if d.env.Source != topology.EventSource || d.env.DetailType != topology.DetailControlRequest {
			return d, errors.New("not a control request event: " + d.env.Source + " / " + d.env.DetailType)
		}
		d.control = &controller.ControlRequest{}
		if err := strictUnmarshal(d.env.Detail, d.control); err != nil {
			return d, err
		}
		return d, d.control.Validate()
	case strings.HasPrefix(name, "control-"):
		d.control = &controller.ControlRequest{}
		if err := strictUnmarshal(raw, d.control); err != nil {
			return d, err
		}
		return d, d.control.Validate()
	}
	return d, errors.New("no decoder for this file name: add a prefix case and a table row")
}

// strictUnmarshal refuses fields the type does not have, so that a sample cannot carry a
// misspelt field that the handler would silently ignore.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestEventSamples(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, d decoded)
	}{
		{"s3-object-created.json", func(t *testing.T, d decoded) {
			checkUpload(t, d, "orders/prod/definition.asl.json", "PutObject")
			if d.object.Object.VersionID != "" {
				t.Errorf("version-id = %q, want none (unversioned bucket)", d.object.Object.VersionID)
			}
			// Without a version id the sequencer tells uploads of one key apart.
			upload := d.object.Bucket.Name + "/" + d.object.Object.Key + "#" + d.object.Object.Sequencer
			if got := controller.RolloutID(upload); got != sampleRolloutID {
				t.Errorf("RolloutID = %q, want %q: update the tick and control samples", got, sampleRolloutID)
			}
		}},
		{"s3-object-created-versioned.json", func(t *testing.T, d decoded) {
			checkUpload(t, d, "orders/prod/definition.asl.json", "PutObject")
			if d.object.Object.VersionID == "" {
				t.Error("version-id is empty")
			}
		}},
		{"s3-object-created-multipart.json", func(t *testing.T, d decoded) {
			checkUpload(t, d, "orders/prod/definition.asl.json", "CompleteMultipartUpload")
			if got := d.object.Object.ETag; got != "d41d8cd98f00b204e9800998ecf8427e-3" {
				t.Errorf("etag = %q, want the multipart form <md5>-<parts>", got)
			}
		}},
		{"s3-object-created-urlencoded-key.json", func(t *testing.T, d decoded) {
			// The event carries the key URL-encoded; it stays so until ParseArtifactKey.
			checkUpload(t, d, "orders/prod/my+release%282%29.asl.json", "CopyObject")
			k, err := topology.ParseArtifactKey(d.object.Object.Key)
			if err != nil {
				t.Fatalf("ParseArtifactKey: %v", err)
			}
			if k.Name != "my release(2).asl.json" {
				t.Errorf("decoded name = %q, want %q", k.Name, "my release(2).asl.json")
			}
		}},
		{"alarm-metric-ok-to-alarm.json", func(t *testing.T, d decoded) {
			checkAlarm(t, d, "orders-prod-failures", rollout.AlarmOK, rollout.AlarmAlarm)
			var c struct {
				Metrics []struct {
					MetricStat struct {
						Metric struct {
							Namespace string `json:"namespace"`
							Name      string `json:"name"`
						} `json:"metric"`
					} `json:"metricStat"`
				} `json:"metrics"`
			}
			if err := json.Unmarshal(d.alarm.Configuration, &c); err != nil || len(c.Metrics) != 1 {
				t.Fatalf("configuration.metrics: %v, %d metrics", err, len(c.Metrics))
			}
			if m := c.Metrics[0].MetricStat.Metric; m.Namespace != "AWS/States" || m.Name != "ExecutionsFailed" {
				t.Errorf("metric = %s/%s, want AWS/States/ExecutionsFailed", m.Namespace, m.Name)
			}
		}},
		{"alarm-metric-alarm-to-ok.json", func(t *testing.T, d decoded) {
			checkAlarm(t, d, "orders-prod-failures", rollout.AlarmAlarm, rollout.AlarmOK)
		}},
		{"alarm-composite-ok-to-alarm.json", func(t *testing.T, d decoded) {
			checkAlarm(t, d, "orders-prod-health", rollout.AlarmOK, rollout.AlarmAlarm)
			var c struct {
				AlarmRule string `json:"alarmRule"`
			}
			if err := json.Unmarshal(d.alarm.Configuration, &c); err != nil || !strings.Contains(c.AlarmRule, "ALARM(orders-prod-failures)") {
				t.Errorf("configuration.alarmRule = %q (%v), want a rule over orders-prod-failures", c.AlarmRule, err)
			}
		}},
		{"scheduler-tick.json", func(t *testing.T, d decoded) {
			if d.tick.RolloutID != sampleRolloutID {
				t.Errorf("rolloutId = %q, want %q", d.tick.RolloutID, sampleRolloutID)
			}
		}},
		{"rollback-continuation.json", func(t *testing.T, d decoded) {
			if d.cont.RolloutID != sampleRolloutID || d.cont.TurnAt.IsZero() {
				t.Errorf("continuation %+v, want rollout %s and a turn", *d.cont, sampleRolloutID)
			}
		}},
		{"control-pause.json", func(t *testing.T, d decoded) { checkControl(t, d, rollout.CommandPause) }},
		{"control-promote.json", func(t *testing.T, d decoded) { checkControl(t, d, rollout.CommandPromote) }},
		{"control-abort.json", func(t *testing.T, d decoded) { checkControl(t, d, rollout.CommandAbort) }},
		{"control-approve.json", func(t *testing.T, d decoded) { checkControl(t, d, rollout.CommandApprove) }},
		{"control-request-event.json", func(t *testing.T, d decoded) {
			checkControl(t, d, rollout.CommandAbort)
			if d.env.AccountID != "000000000000" || d.env.Region != "us-east-1" {
				t.Errorf("account/region = %s/%s, want the example 000000000000/us-east-1", d.env.AccountID, d.env.Region)
			}
		}},
		{"cfn-deploy-create.json", func(t *testing.T, d decoded) {
			checkDeploy(t, d, controller.RequestCreate, "orders v1")
			if d.deploy.PhysicalResourceID != "" || d.deploy.OldResourceProperties != nil {
				t.Errorf("a Create has no physical id or old properties: %+v", d.deploy)
			}
		}},
		{"cfn-deploy-update.json", func(t *testing.T, d decoded) {
			checkDeploy(t, d, controller.RequestUpdate, "orders v2")
			checkOldDefinition(t, d, "orders v1")
		}},
		{"cfn-deploy-update-to-stable.json", func(t *testing.T, d decoded) {
			checkDeploy(t, d, controller.RequestUpdate, "orders v1")
			checkOldDefinition(t, d, "orders v2")
		}},
		{"cfn-deploy-delete.json", func(t *testing.T, d decoded) {
			checkDeploy(t, d, controller.RequestDelete, "orders v1")
		}},
		{"cfn-deploystatus-update.json", func(t *testing.T, d decoded) {
			checkDeploy(t, d, controller.RequestUpdate, "orders v2")
			data := d.deploy.Data
			if data[topology.DeployDataOutcome] != topology.DeployOutcomeStarted {
				t.Errorf("Data.Outcome = %q, want Started", data[topology.DeployDataOutcome])
			}
			// The upload is where Deploy puts this definition, and the rollout is the one
			// the upload's event starts.
			def := d.deploy.ResourceProperties[topology.DeployPropDefinition].(string)
			upload := strings.TrimPrefix(data[topology.DeployDataUpload], "s3://")
			wantKey := sampleBucket + "/orders/prod/" + topology.DeployUploadName(def) + "#"
			if !strings.HasPrefix(upload, wantKey) {
				t.Errorf("Data.Upload = %q, want %s<version>", upload, wantKey)
			}
			if got, want := data[topology.DeployDataRolloutID], controller.RolloutID(upload); got != want {
				t.Errorf("Data.RolloutId = %q, want %q", got, want)
			}
		}},
	}

	entries, err := os.ReadDir(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, tt := range tests {
		known[tt.file] = true
	}
	for _, e := range entries {
		if !known[e.Name()] {
			t.Errorf("events/%s has no row in this table: add one, so that every sample is decoded", e.Name())
		}
	}

	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(eventsDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeSample(tt.file, raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d.env.Version != "" && d.env.AccountID != "000000000000" {
				t.Errorf("account = %q: samples use 000000000000, never a real account", d.env.AccountID)
			}
			tt.check(t, d)
		})
	}
}

func checkUpload(t *testing.T, d decoded, key, reason string) {
	t.Helper()
	if d.env.Source != "aws.s3" || d.env.DetailType != "Object Created" {
		t.Errorf("event = %s / %s", d.env.Source, d.env.DetailType)
	}
	if d.object.Bucket.Name != sampleBucket {
		t.Errorf("bucket = %q, want %q", d.object.Bucket.Name, sampleBucket)
	}
	if d.object.Object.Key != key {
		t.Errorf("key = %q, want %q", d.object.Object.Key, key)
	}
	if d.object.Reason != reason {
		t.Errorf("reason = %q, want %q", d.object.Reason, reason)
	}
	if d.object.Object.ETag == "" || d.object.Object.Sequencer == "" || d.object.Object.Size <= 0 {
		t.Errorf("object = %+v: etag, sequencer and size are what dedupe and audit use", d.object.Object)
	}
	if d.env.Time.IsZero() || d.env.ID == "" {
		t.Errorf("envelope id/time missing: %q %v", d.env.ID, d.env.Time)
	}
}

func checkAlarm(t *testing.T, d decoded, name string, from, to rollout.AlarmState) {
	t.Helper()
	if d.alarm.AlarmName != name {
		t.Errorf("alarmName = %q, want %q", d.alarm.AlarmName, name)
	}
	if want := "arn:aws:cloudwatch:us-east-1:000000000000:alarm:" + name; len(d.env.Resources) != 1 || d.env.Resources[0] != want {
		t.Errorf("resources = %v, want [%s]", d.env.Resources, want)
	}
	if got := rollout.AlarmState(d.alarm.PreviousState.Value); got != from {
		t.Errorf("previousState.value = %q, want %q", got, from)
	}
	if got := rollout.AlarmState(d.alarm.State.Value); got != to {
		t.Errorf("state.value = %q, want %q", got, to)
	}
	if d.alarm.State.Reason == "" || d.alarm.State.Timestamp == "" || !json.Valid([]byte(d.alarm.State.ReasonData)) {
		t.Errorf("state = %+v: reason, timestamp and JSON reasonData expected", d.alarm.State)
	}
	if len(d.alarm.Configuration) == 0 {
		t.Error("configuration is missing")
	}
}

func checkControl(t *testing.T, d decoded, command rollout.Command) {
	t.Helper()
	if d.control.Command != command {
		t.Errorf("command = %q, want %q", d.control.Command, command)
	}
	if d.control.RolloutID != sampleRolloutID {
		t.Errorf("rolloutId = %q, want %q", d.control.RolloutID, sampleRolloutID)
	}
}

func checkDeploy(t *testing.T, d decoded, requestType, comment string) {
	t.Helper()
	ev := d.deploy
	if ev.RequestType != requestType || ev.ResourceType != topology.DeployResourceType {
		t.Errorf("request %s of %s, want %s of %s", ev.RequestType, ev.ResourceType, requestType, topology.DeployResourceType)
	}
	if !strings.Contains(ev.StackID, ":000000000000:stack/") {
		t.Errorf("StackId %q: samples use 000000000000, never a real account", ev.StackID)
	}
	if got := ev.ResourceProperties[topology.DeployPropStateMachineArn]; got != smArn("orders") {
		t.Errorf("StateMachineArn = %v, want %s", got, smArn("orders"))
	}
	if requestType != controller.RequestCreate && ev.PhysicalResourceID != aliasOf("orders") {
		t.Errorf("PhysicalResourceId = %q, want the alias ARN %s", ev.PhysicalResourceID, aliasOf("orders"))
	}
	if def, _ := ev.ResourceProperties[topology.DeployPropDefinition].(string); !strings.Contains(def, `"Comment":"`+comment+`"`) {
		t.Errorf("Definition %q, want %q's", def, comment)
	}
}

func checkOldDefinition(t *testing.T, d decoded, comment string) {
	t.Helper()
	if def, _ := d.deploy.OldResourceProperties[topology.DeployPropDefinition].(string); !strings.Contains(def, `"Comment":"`+comment+`"`) {
		t.Errorf("old Definition %q, want %q's", def, comment)
	}
}

// addEventSeeds seeds a fuzz target with every sample, whatever its kind: the decoders
// must refuse the other kinds cleanly too.
func addEventSeeds(f *testing.F) {
	entries, err := os.ReadDir(eventsDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(eventsDir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"source":"aws.s3","detail-type":"Object Created","detail":null}`))
	f.Add([]byte(`{"source":"aws.cloudwatch","detail-type":"CloudWatch Alarm State Change","detail":{"alarmName":"a","state":{}}}`))
}

// checkDecodeError holds for every decoder: an error says what is wrong and is one the
// state machine can name.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if err.Error() == "" {
		t.Fatal("error with an empty message")
	}
	if name := controller.ErrorCode(err); name != "InvalidEvent" {
		t.Fatalf("error %q is named %s, want InvalidEvent", err, name)
	}
}

func FuzzDecodeObjectCreated(f *testing.F) {
	addEventSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, d, err := controller.DecodeObjectCreated(raw)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if d.Bucket.Name == "" || d.Object.Key == "" {
			t.Fatalf("nil error without bucket and key: %+v", d)
		}
	})
}

func FuzzDecodeDeployEvent(f *testing.F) {
	addEventSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := controller.DecodeDeployEvent(raw)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if ev.RequestID == "" || ev.RequestType == "" {
			t.Fatalf("nil error without RequestType and RequestId: %+v", ev)
		}
		if err := ev.Check(); err != nil {
			if name := controller.ErrorCode(err); name != "InvalidEvent" && name != "InvalidDefinition" {
				t.Fatalf("Check error %q is named %s", err, name)
			}
		}
	})
}

func FuzzDecodeAlarmStateChange(f *testing.F) {
	addEventSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, d, err := controller.DecodeAlarmStateChange(raw)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if d.AlarmName == "" || d.State.Value == "" {
			t.Fatalf("nil error without alarmName and state: %+v", d)
		}
	})
}

// Each EventBridge decoder takes its own kind of event alone: an upload is never read as an
// alarm, nor an alarm as an upload, even where the detail's fields would fit.
func TestEventDecodersRefuseTheOtherKind(t *testing.T) {
	for _, c := range []struct{ file, decoder, want string }{
		{"s3-object-created.json", "alarm", `not "CloudWatch Alarm State Change" from "aws.cloudwatch"`},
		{"alarm-metric-ok-to-alarm.json", "upload", `not "Object Created" from "aws.s3"`},
		{"scheduler-tick.json", "upload", `not "Object Created" from "aws.s3"`},
	} {
		raw, err := os.ReadFile(filepath.Join(eventsDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if c.decoder == "alarm" {
			_, _, err = controller.DecodeAlarmStateChange(raw)
		} else {
			_, _, err = controller.DecodeObjectCreated(raw)
		}
		if err == nil || controller.ErrorCode(err) != "InvalidEvent" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s as an %s: %v, want InvalidEvent saying %s", c.file, c.decoder, err, c.want)
		}
	}
	// The right kind with its detail's key fields empty.
	for raw, want := range map[string]string{
		`{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{}}}`:                 "Object Created event without bucket name or object key",
		`{"source":"aws.cloudwatch","detail-type":"CloudWatch Alarm State Change","detail":{"alarmName":"a","state":{}}}`: "CloudWatch Alarm State Change event without alarmName or state.value",
	} {
		var err error
		if strings.Contains(raw, "aws.s3") {
			_, _, err = controller.DecodeObjectCreated([]byte(raw))
		} else {
			_, _, err = controller.DecodeAlarmStateChange([]byte(raw))
		}
		if err == nil || controller.ErrorCode(err) != "InvalidEvent" || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want InvalidEvent saying %s", raw, err, want)
		}
	}
}
