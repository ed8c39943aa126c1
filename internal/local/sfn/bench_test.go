package sfn

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
)

// BenchmarkStartExecutionAlias starts Pass executions through an alias with the real SDK
// client over loopback HTTP, the way the demo's traffic does.
func BenchmarkStartExecutionAlias(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.Bus, o.Metrics = nil, nil })
	prod := benchAlias(b, h)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := h.client.StartExecution(ctx(), &awssfn.StartExecutionInput{StateMachineArn: aws.String(prod), Input: aws.String(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "starts/s")
}

// BenchmarkStartExecutionAliasInProcess is the same through core.Executions (EventBridge
// and Scheduler targets): the service's own cost, without HTTP and the SDK.
func BenchmarkStartExecutionAliasInProcess(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.Bus, o.Metrics = nil, nil })
	prod := benchAlias(b, h)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := h.svc.StartExecution(ctx(), prod, "", "{}"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "starts/s")
}

func benchAlias(b *testing.B, h *harness) string {
	out, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{Name: aws.String("orders"), Definition: aws.String(passDefN(1)), RoleArn: aws.String(testRole), Publish: true})
	if err != nil {
		b.Fatal(err)
	}
	v2, err := h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: out.StateMachineArn, Definition: aws.String(passDefN(2)), Publish: true})
	if err != nil {
		b.Fatal(err)
	}
	a, err := h.client.CreateStateMachineAlias(ctx(), &awssfn.CreateStateMachineAliasInput{Name: aws.String("prod"), RoutingConfiguration: routing(*out.StateMachineVersionArn, 90, *v2.StateMachineVersionArn, 10)})
	if err != nil {
		b.Fatal(err)
	}
	return *a.StateMachineAliasArn
}

// realisticDef is a definition of the size the demo's state machines have (~1 KB).
func realisticDef(machine, version int) string {
	return fmt.Sprintf(`{"Comment":"orders %d v%d: prices the order and accepts it when it has items.","StartAt":"PriceOrder","States":{"PriceOrder":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:000000000000:function:price","Payload":{"orderId.$":"$.orderId","items.$":"$.items"}},"ResultSelector":{"price.$":"$.Payload.price"},"ResultPath":"$.priced","Retry":[{"ErrorEquals":["Lambda.ServiceException","Lambda.TooManyRequestsException"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":3}],"Next":"HasItems"},"HasItems":{"Type":"Choice","Choices":[{"Variable":"$.priced.price","NumericGreaterThan":%d,"Next":"Accepted"}],"Default":"Empty"},"Accepted":{"Type":"Succeed"},"Empty":{"Type":"Succeed"}}}`, machine, version, version)
}

// BenchmarkMemory1000Machines10Versions holds 1,000 state machines of 10 published versions
// each (every version a different ~1 KB definition) and reports the heap they take.
func BenchmarkMemory1000Machines10Versions(b *testing.B) {
	const machines, versions = 1000, 10
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		for m := 0; m < machines; m++ {
			name := fmt.Sprintf("machine-%04d", m)
			def := realisticDef(m, 0)
			if _, e := s.createStateMachine(ctx(), &createStateMachineInput{Name: &name, Definition: &def, RoleArn: aws.String(testRole)}); e != nil {
				b.Fatal(e)
			}
			arn := machineArn(name)
			for v := 1; v <= versions; v++ {
				def := realisticDef(m, v)
				if _, e := s.updateStateMachine(ctx(), &updateStateMachineInput{StateMachineArn: &arn, Definition: &def, Publish: true}); e != nil {
					b.Fatal(e)
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/machines, "bytes/statemachine")
		runtime.KeepAlive(s)
		s.Close()
	}
}
