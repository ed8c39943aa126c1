package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// delivery is one event on its way to one target of one rule.
type delivery struct {
	ruleName string
	ruleArn  string
	target   *storedTarget
	event    json.RawMessage // the envelope as delivered
	decoded  map[string]any  // the envelope as InputPath and InputTransformer read it
	ingested time.Time
}

// Retry defaults. AWS retries a failed delivery up to 185 times over 24 hours; local mode
// retries twice when the target sets no RetryPolicy, so that a broken target is reported
// within seconds of virtual time. A RetryPolicy that is set is honoured: the controller's
// rules carry the stack's (topology's) policies. The backoff is on the virtual clock;
// AWS documents an exponential backoff with jitter, but not its numbers.
const (
	defaultRetryAttempts = 2
	defaultMaxEventAge   = 24 * time.Hour
	firstBackoff         = time.Second
	maxBackoff           = time.Minute
)

func (s *Service) deliver(d delivery) {
	defer s.deliveries.Done()
	payload := d.payload()
	t := d.target
	retries, maxAge := defaultRetryAttempts, defaultMaxEventAge
	if p := t.RetryPolicy; p != nil {
		if p.MaximumRetryAttempts != nil {
			retries = *p.MaximumRetryAttempts
		}
		if p.MaximumEventAgeInSeconds != nil {
			maxAge = time.Duration(*p.MaximumEventAgeInSeconds) * time.Second
		}
	}
	// A Step Functions target keeps its execution name across retries, so a retry of a
	// start that did happen is answered with the same execution.
	executionName := newUUID()
	backoff := firstBackoff
	var err error
	attempts := 0
	tooOld := false
	for {
		attempts++
		err = s.invoke(d, payload, executionName)
		if err == nil || !retryable(err) || attempts > retries {
			break
		}
		if s.clock.Now().Add(backoff).Sub(d.ingested) > maxAge {
			tooOld = true
			break
		}
		if s.clock.Sleep(s.ctx, backoff) != nil {
			break
		}
		backoff = min(2*backoff, maxBackoff)
	}
	if err != nil && s.ctx.Err() == nil {
		s.dropped.Add(1)
		reason := ""
		if tooOld {
			reason = fmt.Sprintf(" (the next retry would pass the event's MaximumEventAgeInSeconds of %d)", int(maxAge/time.Second))
		}
		dlq := ""
		if t.DeadLetterConfig != nil && t.DeadLetterConfig.Arn != "" {
			dlq = fmt.Sprintf(" (dead-letter queue %s is not served locally)", t.DeadLetterConfig.Arn)
		}
		s.reporter.Report("eventbridge: rule %s: delivery to target %s (%s) failed after %d attempt(s)%s: %v%s",
			d.ruleName, t.Id, t.Arn, attempts, reason, err, dlq)
	}
}

func (s *Service) invoke(d delivery, payload json.RawMessage, executionName string) error {
	t := d.target
	switch t.kind {
	case lambdaTarget:
		if s.functions == nil {
			return errors.New("no Lambda functions are served")
		}
		return s.functions.InvokeAsync(s.ctx, t.Arn, payload)
	case stateMachineTarget:
		if s.executions == nil {
			return errors.New("no Step Functions executions are served")
		}
		_, err := s.executions.StartExecution(s.ctx, t.Arn, executionName, string(payload))
		return err
	}
	return fmt.Errorf("target %s: unknown kind", t.Id)
}

// retryable reports whether a failed delivery is worth another attempt: AWS does not retry
// a target that answers a client error (it does not exist, the input is refused), but
// retries throttling and server errors.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *core.APIError
	if errors.As(err, &apiErr) {
		if apiErr.Code == "ThrottlingException" || apiErr.Code == "TooManyRequestsException" {
			return true
		}
		return apiErr.Status == 0 || apiErr.Status >= http.StatusInternalServerError
	}
	return true
}

// payload is what the target receives: the Input, the part of the event InputPath
// selects, the InputTransformer's output, or else the whole event.
func (d delivery) payload() json.RawMessage {
	t := d.target
	switch {
	case t.Input != nil:
		return asPayload(*t.Input)
	case t.InputPath != nil && len(t.inputPath) == 0: // "$": the event as it is
		return d.event
	case t.inputPath != nil:
		v, ok := t.inputPath.eval(d.decoded)
		if !ok {
			return json.RawMessage("null")
		}
		return json.RawMessage(compactJSON(v))
	case t.InputTransformer != nil:
		vars := map[string]templateVar{
			"aws.events.rule-arn":             {value: d.ruleArn, present: true},
			"aws.events.rule-name":            {value: d.ruleName, present: true},
			"aws.events.event":                {raw: d.event, present: true},
			"aws.events.event.json":           {raw: d.event, present: true},
			"aws.events.event.ingestion-time": {value: d.ingested.UTC().Format("2006-01-02T15:04:05.000Z"), present: true},
		}
		for name, p := range t.paths {
			v, ok := p.eval(d.decoded)
			vars[name] = templateVar{value: v, present: ok}
		}
		return asPayload(renderTemplate(t.InputTransformer.InputTemplate, vars))
	}
	return d.event
}
