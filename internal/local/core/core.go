// Package core holds what the local endpoint's services share: the account and region, the
// virtual clock, the in-process contracts between services (EventBridge's bus, Lambda's
// functions, Step Functions' executions, CloudWatch's metrics), fault injection and the
// wire helpers of the AWS JSON protocols.
package core

import (
	"context"
	"encoding/json"
	"time"
)

// The one account and region local mode serves.
const (
	Region    = "us-east-1"
	Account   = "000000000000"
	Partition = "aws"
)

// Event is an EventBridge event as a service emits it.
type Event struct {
	Source     string
	DetailType string
	Resources  []string
	Detail     json.RawMessage
	Time       time.Time // zero: the clock's now
}

// Bus is EventBridge's PutEvents as the other services call it in-process: S3's Object
// Created, CloudWatch's alarm state changes, Step Functions' execution status changes.
type Bus interface {
	Emit(ctx context.Context, e Event) error
}

// FunctionError is a Lambda function's error: errorType and errorMessage.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Handler is an in-process Lambda function.
type Handler func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// Functions is Lambda's Invoke as the other services call it: EventBridge and Scheduler
// targets, Step Functions Task states. name is a function name or ARN. A handler's error
// comes back as a *FunctionError (its Type from the controller's named errors); an error
// of the invocation itself (no such function) is returned as err.
type Functions interface {
	Invoke(ctx context.Context, name string, payload json.RawMessage) (json.RawMessage, *FunctionError, error)
	// InvokeAsync queues an invocation (InvocationType Event) and returns at once.
	InvokeAsync(ctx context.Context, name string, payload json.RawMessage) error
}

// Executions is Step Functions' StartExecution as EventBridge and Scheduler targets call it.
type Executions interface {
	StartExecution(ctx context.Context, stateMachineArn, name, input string) (executionArn string, err error)
}

// Datum is one metric value.
type Datum struct {
	Namespace  string
	Name       string
	Dimensions map[string]string
	Value      float64
	Unit       string
	Time       time.Time
}

// Metrics is CloudWatch's PutMetricData as Step Functions calls it for AWS/States.
type Metrics interface {
	Put(ctx context.Context, data ...Datum)
}

// Reporter prints the lines worth seeing: rollout started, weights set, alarm changed,
// rolled back. Local mode prints them on stdout, one per line.
type Reporter interface {
	Report(format string, args ...any)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(format string, args ...any)

func (f ReporterFunc) Report(format string, args ...any) { f(format, args...) }

// Objects is S3 as Step Functions' Distributed Map ItemReader reads it in-process.
type Objects interface {
	// GetObject answers an object's content.
	GetObject(ctx context.Context, bucket, key string) ([]byte, error)
	// ListObjects answers every object of a bucket whose key starts with prefix, in key order.
	ListObjects(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
	// PutObject stores an object (a Distributed Map's ResultWriter).
	PutObject(ctx context.Context, bucket, key string, body []byte) error
}

// ObjectInfo is one object of a listing.
type ObjectInfo struct {
	Key          string
	ETag         string // quoted, as S3 answers it
	Size         int64
	LastModified time.Time
	StorageClass string
}
