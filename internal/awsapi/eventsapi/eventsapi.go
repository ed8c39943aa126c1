// Package eventsapi implements the controller's Events port over aws-sdk-go-v2's
// EventBridge client: the rollout's own events, with source topology.EventSource.
package eventsapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// API is the part of *eventbridge.Client that Events uses.
type API interface {
	PutEvents(ctx context.Context, params *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ API = (*eventbridge.Client)(nil)

// Events is the controller.Events port over an EventBridge bus.
type Events struct {
	api API
	bus string
}

var _ controller.Events = (*Events)(nil)

// New returns the adapter for bus (a name or ARN; "" is the default bus). It makes no call.
func New(api API, bus string) *Events { return &Events{api: api, bus: bus} }

// Put publishes one event whose detail is detail as JSON.
func (e *Events) Put(ctx context.Context, detailType string, detail any) error {
	op := "put event " + detailType
	body, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("%s: encode detail: %w", op, err)
	}
	entry := types.PutEventsRequestEntry{
		Source:     aws.String(topology.EventSource),
		DetailType: aws.String(detailType),
		Detail:     aws.String(string(body)),
	}
	if e.bus != "" {
		entry.EventBusName = aws.String(e.bus)
	}
	out, err := e.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry}})
	if err != nil {
		return awsapi.Classify(op, err)
	}
	if out.FailedEntryCount == 0 {
		return nil
	}
	return entryError(op, out.Entries)
}

// entryError reports the first failed entry. PutEvents answers 200 when entries fail, each
// with its own code; throttling and internal failures are worth a retry.
func entryError(op string, entries []types.PutEventsResultEntry) error {
	for _, en := range entries {
		code := aws.ToString(en.ErrorCode)
		if code == "" {
			continue
		}
		msg := aws.ToString(en.ErrorMessage)
		if code == "ThrottlingException" || code == "InternalException" {
			return fmt.Errorf("%s: %w: entry failed: %s: %s", op, controller.ErrThrottled, code, msg)
		}
		return fmt.Errorf("%s: entry failed: %s: %s", op, code, msg)
	}
	return fmt.Errorf("%s: PutEvents reported a failed entry without an error code", op)
}
