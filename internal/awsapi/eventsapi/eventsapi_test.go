package eventsapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/eventsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

type fakeEvents struct {
	requests []eventbridge.PutEventsInput
	out      *eventbridge.PutEventsOutput
	err      error
}

func (f *fakeEvents) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.requests = append(f.requests, *in)
	if f.out == nil {
		return &eventbridge.PutEventsOutput{Entries: []types.PutEventsResultEntry{{EventId: aws.String("e1")}}}, f.err
	}
	return f.out, f.err
}

func failed(code string) *eventbridge.PutEventsOutput {
	return &eventbridge.PutEventsOutput{
		FailedEntryCount: 1,
		Entries:          []types.PutEventsResultEntry{{ErrorCode: aws.String(code), ErrorMessage: aws.String("it failed")}},
	}
}

func TestPut(t *testing.T) {
	tests := []struct {
		name        string
		bus         string
		out         *eventbridge.PutEventsOutput
		err         error
		wantErr     bool
		wantIs      error
		wantBusName *string
	}{
		{name: "default bus", bus: "", wantBusName: nil},
		{name: "named bus", bus: "rollouts", wantBusName: aws.String("rollouts")},
		{name: "throttled entry", bus: "rollouts", wantBusName: aws.String("rollouts"), out: failed("ThrottlingException"), wantErr: true, wantIs: controller.ErrThrottled},
		{name: "internal failure of an entry", bus: "rollouts", wantBusName: aws.String("rollouts"), out: failed("InternalException"), wantErr: true, wantIs: controller.ErrThrottled},
		{name: "refused entry", bus: "rollouts", wantBusName: aws.String("rollouts"), out: failed("AccessDeniedException"), wantErr: true},
		{name: "throttled call", bus: "rollouts", wantBusName: aws.String("rollouts"), err: &smithy.GenericAPIError{Code: "ThrottlingException"}, wantErr: true, wantIs: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeEvents{out: tt.out, err: tt.err}
			err := eventsapi.New(fake, tt.bus).Put(context.Background(), topology.DetailRolloutStep, map[string]any{"rolloutId": "r1", "candidateWeight": 20})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want an error: %v", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v, want %v", err, tt.wantIs)
			}
			if tt.wantErr && tt.wantIs == nil && errors.Is(err, controller.ErrThrottled) {
				t.Errorf("err %v must not be worth a retry", err)
			}
			if len(fake.requests) != 1 || len(fake.requests[0].Entries) != 1 {
				t.Fatalf("requests %+v", fake.requests)
			}
			entry := fake.requests[0].Entries[0]
			if aws.ToString(entry.Source) != topology.EventSource || aws.ToString(entry.DetailType) != topology.DetailRolloutStep {
				t.Errorf("source %q detail-type %q", aws.ToString(entry.Source), aws.ToString(entry.DetailType))
			}
			if aws.ToString(entry.EventBusName) != aws.ToString(tt.wantBusName) || (entry.EventBusName == nil) != (tt.wantBusName == nil) {
				t.Errorf("bus %v, want %v", entry.EventBusName, tt.wantBusName)
			}
			var detail map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(entry.Detail)), &detail); err != nil || detail["rolloutId"] != "r1" || detail["candidateWeight"] != 20.0 {
				t.Errorf("detail %q (%v)", aws.ToString(entry.Detail), err)
			}
		})
	}
}

func TestPutRefusesADetailThatIsNotJSON(t *testing.T) {
	fake := &fakeEvents{}
	if err := eventsapi.New(fake, "").Put(context.Background(), "x", func() {}); err == nil || len(fake.requests) != 0 {
		t.Errorf("err %v after %d calls, want an error and no call", err, len(fake.requests))
	}
}
