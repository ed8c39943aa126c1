package stack_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/local/stack"
)

// BenchmarkStackStartExecutionAlias starts Pass executions through a 90/10 alias with the
// SDK over HTTP through the whole stack: the router, faults and quotas checks, Step
// Functions, and the AWS/States metrics and status change events each execution emits.
func BenchmarkStackStartExecutionAlias(b *testing.B) {
	st := startStack(b, stack.Options{Speed: 1, Seed: 1})
	c := ctx(b)
	client := sfn.NewFromConfig(awsConfig(st))
	m := newMachine(b, c, client, "bench", 90)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := client.StartExecution(c, &sfn.StartExecutionInput{StateMachineArn: aws.String(m.alias), Input: aws.String(`{"order":"o"}`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "starts/s")
}

// benchDefinition is about the size of the demo's definitions (~1 KB), different for every
// machine and version so that each update publishes a new version.
func benchDefinition(machine, version int) string {
	return fmt.Sprintf(`{"Comment":"orders %d v%d: prices the order and accepts it when it has items.","StartAt":"PriceOrder","States":{"PriceOrder":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:000000000000:function:price","Payload":{"orderId.$":"$.orderId","items.$":"$.items"}},"ResultSelector":{"price.$":"$.Payload.price"},"ResultPath":"$.priced","Retry":[{"ErrorEquals":["Lambda.ServiceException","Lambda.TooManyRequestsException"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":3}],"Next":"HasItems"},"HasItems":{"Type":"Choice","Choices":[{"Variable":"$.priced.price","NumericGreaterThan":%d,"Next":"Accepted"}],"Default":"Empty"},"Accepted":{"Type":"Succeed"},"Empty":{"Type":"Succeed"}}}`, machine, version, version)
}

// BenchmarkStackMemory1000Machines10Versions fills a running endpoint, through the SDK,
// with 1,000 state machines of 10 published versions each and reports the heap they hold.
func BenchmarkStackMemory1000Machines10Versions(b *testing.B) {
	const machines, versions, workers = 1000, 10, 8
	skipWithoutDynalite(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := ctx(b)
		st, err := stack.Start(c, stack.Options{Addr: "127.0.0.1:0", Speed: 1})
		if err != nil {
			b.Fatal(err)
		}
		client := sfn.NewFromConfig(awsConfig(st))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for m := w; m < machines; m += workers {
					created, err := client.CreateStateMachine(c, &sfn.CreateStateMachineInput{Name: aws.String(fmt.Sprintf("machine-%04d", m)),
						RoleArn: aws.String(roleArn), Definition: aws.String(benchDefinition(m, 1)), Publish: true})
					if err != nil {
						errs <- err
						return
					}
					for v := 2; v <= versions; v++ {
						if _, err := client.UpdateStateMachine(c, &sfn.UpdateStateMachineInput{StateMachineArn: created.StateMachineArn,
							Definition: aws.String(benchDefinition(m, v)), Publish: true}); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/machines, "bytes/statemachine")
		runtime.KeepAlive(st)
		st.Close()
		b.StartTimer()
	}
}
