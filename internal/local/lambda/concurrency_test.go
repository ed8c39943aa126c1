package lambda

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// Reserved concurrency and the account's limit through the real SDK client, as doctor reads
// them: GetFunctionConcurrency answers nothing for a function without a reservation, Put
// sets it (0 throttles every synchronous invocation), Delete takes it away, and
// GetAccountSettings counts every reservation out of the limit.
func TestConcurrencyAPIs(t *testing.T) {
	ctx := context.Background()
	svc := New(Options{Concurrency: 500})
	svc.Register("advance", echo)
	svc.Register("rollback", echo)
	client := endpoint(t, svc)

	reserved := func(name string) *int32 {
		t.Helper()
		out, err := client.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatalf("GetFunctionConcurrency %s: %v", name, err)
		}
		return out.ReservedConcurrentExecutions
	}
	account := func() (int32, int32) {
		t.Helper()
		out, err := client.GetAccountSettings(ctx, &awslambda.GetAccountSettingsInput{})
		if err != nil {
			t.Fatalf("GetAccountSettings: %v", err)
		}
		return out.AccountLimit.ConcurrentExecutions, aws.ToInt32(out.AccountLimit.UnreservedConcurrentExecutions)
	}

	if n := reserved("advance"); n != nil {
		t.Errorf("advance's reserved concurrency before any = %d, want none", *n)
	}
	if limit, unreserved := account(); limit != 500 || unreserved != 500 {
		t.Errorf("account = %d limit, %d unreserved; want 500, 500", limit, unreserved)
	}
	out, err := client.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("rollback"), ReservedConcurrentExecutions: aws.Int32(200)})
	if err != nil || aws.ToInt32(out.ReservedConcurrentExecutions) != 200 {
		t.Fatalf("PutFunctionConcurrency rollback 200: %+v, %v", out, err)
	}
	if _, err := client.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String(FunctionArn("advance")), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatalf("PutFunctionConcurrency advance 0 (by ARN): %v", err)
	}
	if n := reserved("rollback"); aws.ToInt32(n) != 200 {
		t.Errorf("rollback's reserved concurrency = %v, want 200", n)
	}
	if n := reserved("advance"); n == nil || *n != 0 {
		t.Errorf("advance's reserved concurrency = %v, want 0", n)
	}
	if limit, unreserved := account(); limit != 500 || unreserved != 300 {
		t.Errorf("account = %d limit, %d unreserved; want 500, 300", limit, unreserved)
	}
	// Reserved 0: Lambda throttles every synchronous invocation.
	var tooMany *types.TooManyRequestsException
	if _, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("advance")}); !errors.As(err, &tooMany) || tooMany.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Errorf("Invoke with reserved concurrency 0: %v, want TooManyRequestsException with Reason ReservedFunctionConcurrentInvocationLimitExceeded", err)
	}
	if _, err := client.DeleteFunctionConcurrency(ctx, &awslambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("advance")}); err != nil {
		t.Fatalf("DeleteFunctionConcurrency: %v", err)
	}
	if n := reserved("advance"); n != nil {
		t.Errorf("advance's reserved concurrency after Delete = %d, want none", *n)
	}
	if _, err := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("advance")}); err != nil {
		t.Errorf("Invoke after DeleteFunctionConcurrency: %v", err)
	}

	// Bad input is refused by name, and nothing changes.
	var notFound *types.ResourceNotFoundException
	if _, err := client.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String("nope")}); !errors.As(err, &notFound) {
		t.Errorf("GetFunctionConcurrency of an unknown function: %v, want ResourceNotFoundException", err)
	}
	var apiErr smithy.APIError
	if _, err := client.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("rollback"), ReservedConcurrentExecutions: aws.Int32(-1)}); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Errorf("PutFunctionConcurrency -1: %v, want ValidationException", err)
	}
	if n := reserved("rollback"); aws.ToInt32(n) != 200 {
		t.Errorf("rollback's reserved concurrency after a refused Put = %v, want 200", n)
	}
}
