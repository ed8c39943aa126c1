package localenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The moves of an operator and the views of an observer, through the SDK clients: the
// control function, the audit trail, the controller's events, the alias over time, the
// controller's executions, and the endpoint's faults.

// CommandError is a command the control function refused, with the named error it
// answered (CommandRejected, RolloutNotFound, InvalidEvent).
type CommandError struct {
	Name    string
	Message string
}

func (e *CommandError) Error() string { return e.Name + ": " + e.Message }

// Control invokes the control function through Lambda's Invoke API, as `sfn-rollout
// pause|resume|approve|promote|abort` does, and returns its answer.
func (e *Env) Control(ctx context.Context, id string, cmd rollout.Command, actor string) (controller.ControlResult, error) {
	var res controller.ControlResult
	payload, _ := json.Marshal(controller.ControlRequest{RolloutID: id, Command: cmd, Actor: actor})
	out, err := e.Lambda.Invoke(ctx, &lambdasdk.InvokeInput{
		FunctionName: aws.String(topology.FunctionName(deploy.Prefix, "control")),
		Payload:      payload,
	})
	if err != nil {
		return res, fmt.Errorf("invoke control: %w", err)
	}
	if out.FunctionError != nil {
		var fe core.FunctionError
		_ = json.Unmarshal(out.Payload, &fe)
		return res, &CommandError{Name: fe.Type, Message: fe.Message}
	}
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		return res, fmt.Errorf("control answered %s: %w", out.Payload, err)
	}
	return res, nil
}

// ControlEvent sends the command as a "Rollout Control Request" event on the default bus;
// the control rule delivers it to the control function.
func (e *Env) ControlEvent(ctx context.Context, id string, cmd rollout.Command, actor string) error {
	detail, _ := json.Marshal(controller.ControlRequest{RolloutID: id, Command: cmd, Actor: actor})
	out, err := e.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String(topology.EventSource), DetailType: aws.String(topology.DetailControlRequest), Detail: aws.String(string(detail)),
	}}})
	if err != nil {
		return fmt.Errorf("put control request: %w", err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("put control request: %s", aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}

// Audit reads a rollout's audit trail in order.
func (e *Env) Audit(ctx context.Context, id string) ([]controller.Event, error) {
	return e.Store.ListEvents(ctx, id)
}

// SetFaults puts faults in force through the endpoint's admin API (PUT /_sfn-rollout/faults);
// none clears them.
func (e *Env) SetFaults(ctx context.Context, faults ...core.Fault) error {
	if faults == nil {
		faults = []core.Fault{}
	}
	body, _ := json.Marshal(faults)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, e.Stack.URL+"/_sfn-rollout/faults", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("put faults: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("put faults: %s", resp.Status)
	}
	return nil
}

// RecordedEvent is one event an EventLog received.
type RecordedEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       time.Time       `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
	// Raw is the event as the target received it.
	Raw json.RawMessage `json:"-"`
	// Received is the wall-clock time it arrived.
	Received time.Time `json:"-"`
}

// RolloutEvent is one of the controller's own events.
type RolloutEvent struct {
	DetailType string
	Detail     controller.EventDetail
}

// EventLog collects the events an EventBridge rule delivers to an in-process function.
type EventLog struct {
	mu     sync.Mutex
	events []RecordedEvent
	added  chan struct{}
}

// RecordEvents registers an in-process function called name, and a rule of the same name
// with pattern that targets it, and records every event the rule delivers.
func (e *Env) RecordEvents(ctx context.Context, name string, pattern map[string]any) (*EventLog, error) {
	log := &EventLog{added: make(chan struct{}, 1)}
	e.Stack.Lambda.Register(name, func(_ context.Context, payload json.RawMessage) (json.RawMessage, error) {
		var ev RecordedEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		ev.Raw = append(json.RawMessage(nil), payload...)
		ev.Received = time.Now()
		log.mu.Lock()
		log.events = append(log.events, ev)
		log.mu.Unlock()
		select {
		case log.added <- struct{}{}:
		default:
		}
		return json.RawMessage(`null`), nil
	})
	p, _ := json.Marshal(pattern)
	if _, err := e.EventBridge.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(string(p))}); err != nil {
		return nil, fmt.Errorf("rule %s: %w", name, err)
	}
	out, err := e.EventBridge.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name),
		Targets: []ebtypes.Target{{Id: aws.String("recorder"), Arn: aws.String(lambda.FunctionArn(name))}}})
	if err != nil {
		return nil, fmt.Errorf("target of %s: %w", name, err)
	}
	if out.FailedEntryCount > 0 {
		return nil, fmt.Errorf("target of %s: %s", name, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return log, nil
}

// RecordRolloutEvents records the controller's own events (source sfn-rollout) and the
// uploads' Object Created events.
func (e *Env) RecordRolloutEvents(ctx context.Context) (*EventLog, error) {
	return e.RecordEvents(ctx, "observer-rollout-events", map[string]any{
		"source": []string{topology.EventSource, "aws.s3"},
	})
}

// All returns every event received so far.
func (l *EventLog) All() []RecordedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RecordedEvent(nil), l.events...)
}

// Rollout returns the controller's events about one rollout, in the order received
// (control requests, which are events too, are left out).
func (l *EventLog) Rollout(id string) []RolloutEvent {
	var out []RolloutEvent
	for _, ev := range l.All() {
		if ev.Source != topology.EventSource || ev.DetailType == topology.DetailControlRequest {
			continue
		}
		var d controller.EventDetail
		if json.Unmarshal(ev.Detail, &d) != nil || d.RolloutID != id {
			continue
		}
		out = append(out, RolloutEvent{DetailType: ev.DetailType, Detail: d})
	}
	return out
}

// Wait waits until done holds for the events received, or the real-time timeout passes.
func (l *EventLog) Wait(ctx context.Context, timeout time.Duration, done func([]RecordedEvent) bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if done(l.All()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the events awaited did not come within %s", timeout)
		case <-l.added:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitRollout waits until the rollout's events include one of detailType.
func (l *EventLog) WaitRollout(ctx context.Context, id, detailType string, timeout time.Duration) (RolloutEvent, error) {
	var found RolloutEvent
	err := l.Wait(ctx, timeout, func([]RecordedEvent) bool {
		for _, ev := range l.Rollout(id) {
			if ev.DetailType == detailType {
				found = ev
				return true
			}
		}
		return false
	})
	if err != nil {
		var got []string
		for _, ev := range l.Rollout(id) {
			got = append(got, ev.DetailType)
		}
		return found, fmt.Errorf("rollout %s: no %q event (got %q): %w", id, detailType, got, err)
	}
	return found, nil
}

// RoutingSample is an alias's routing (and, when watched, an alarm's state) as one
// reading saw it, with the virtual and the wall-clock time of the reading.
type RoutingSample struct {
	Routing string
	Alarm   string
	Virtual time.Time
	Real    time.Time
}

// AliasWatch reads an alias's routing over and over in the background and keeps every
// reading that differs from the one before.
type AliasWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	samples []RoutingSample
	errs    int
}

// WatchAlias starts reading aliasArn's routing every period of real time, and the state of
// alarm with it when alarm is not "".
func (e *Env) WatchAlias(ctx context.Context, aliasArn, alarm string, period time.Duration) *AliasWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &AliasWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			routing, err := e.Routing(ctx, aliasArn)
			s := RoutingSample{Routing: routing, Virtual: e.Now(), Real: time.Now()}
			if err == nil && alarm != "" {
				s.Alarm = e.AlarmState(ctx, alarm)
			}
			w.mu.Lock()
			switch {
			case ctx.Err() != nil:
			case err != nil:
				w.errs++
			case len(w.samples) == 0 || w.samples[len(w.samples)-1].Routing != s.Routing || w.samples[len(w.samples)-1].Alarm != s.Alarm:
				w.samples = append(w.samples, s)
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(period):
			}
		}
	}()
	return w
}

// Samples returns the readings kept so far.
func (w *AliasWatch) Samples() []RoutingSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]RoutingSample(nil), w.samples...)
}

// Routings returns the distinct routings seen, in order.
func (w *AliasWatch) Routings() []string {
	var out []string
	for _, s := range w.Samples() {
		if len(out) == 0 || out[len(out)-1] != s.Routing {
			out = append(out, s.Routing)
		}
	}
	return out
}

// Stop ends the watch and returns the distinct routings seen.
func (w *AliasWatch) Stop() []string {
	w.cancel()
	<-w.done
	return w.Routings()
}

// ControllerExecution is one execution of the controller state machine.
type ControllerExecution struct {
	Arn       string
	RolloutID string
	Status    sfntypes.ExecutionStatus
	Output    string
}

// ControllerExecutions lists the controller state machine's executions for a rollout,
// oldest first: one per delivery of its upload.
func (e *Env) ControllerExecutions(ctx context.Context, id string) ([]ControllerExecution, error) {
	var out []ControllerExecution
	p := sfn.NewListExecutionsPaginator(e.SFN, &sfn.ListExecutionsInput{StateMachineArn: aws.String(e.Deployment.ControllerStateMachineArn), MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, x := range page.Executions {
			arn := aws.ToString(x.ExecutionArn)
			rid, err := e.executionRollout(ctx, arn)
			if err != nil {
				return nil, err
			}
			if rid != id {
				continue
			}
			d, err := e.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: x.ExecutionArn})
			if err != nil {
				return nil, err
			}
			out = append(out, ControllerExecution{Arn: arn, RolloutID: rid, Status: d.Status, Output: aws.ToString(d.Output)})
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// executionRollout names the rollout a controller execution is for, from its input (the
// Object Created event); the answer is kept, since an input never changes.
func (e *Env) executionRollout(ctx context.Context, arn string) (string, error) {
	e.execMu.Lock()
	id, ok := e.execRollouts[arn]
	e.execMu.Unlock()
	if ok {
		return id, nil
	}
	d, err := e.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return "", err
	}
	_, obj, err := controller.DecodeObjectCreated([]byte(aws.ToString(d.Input)))
	if err == nil {
		version := obj.Object.VersionID
		key := obj.Object.Key
		if k, kerr := topology.ParseArtifactKey(key); kerr == nil {
			key = k.Key()
		}
		id = controller.RolloutID(obj.Bucket.Name + "/" + key + "#" + version)
	}
	e.execMu.Lock()
	if e.execRollouts == nil {
		e.execRollouts = map[string]string{}
	}
	e.execRollouts[arn] = id
	e.execMu.Unlock()
	return id, nil
}

// StateTransitions counts the states an execution entered, Map iterations included: what
// Step Functions bills a standard workflow for.
func (e *Env) StateTransitions(ctx context.Context, executionArn string) (int, error) {
	n := 0
	p := sfn.NewGetExecutionHistoryPaginator(e.SFN, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(executionArn), MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, ev := range page.Events {
			if strings.HasSuffix(string(ev.Type), "StateEntered") {
				n++
			}
		}
	}
	return n, nil
}
