package e2e_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/local/server"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// minSamples is the fewest alarm-to-stable measurements a run takes, so that its p99 means
// something whatever b.N is; -benchtime=200x takes more.
const minSamples = 30

// BenchmarkAlarmToStable measures, at speed 1 (wall-clock time), how long after an alarm
// enters ALARM the alias it guards routes 100% to the stable version again: SetAlarmState,
// CloudWatch's state change event, EventBridge, the rollback function, DynamoDB and
// UpdateStateMachineAlias, read back by polling DescribeStateMachineAlias. Each sample is a
// fresh rollout held at 20% of a CANARY step an hour long. The target is under 100 ms p99.
func BenchmarkAlarmToStable(b *testing.B) {
	ctx := context.Background()
	env, _ := ownEnv(b, 1, 31)
	type guarded struct {
		m     localenv.Managed
		alarm string
		last  string // the rollout before
	}
	// Rollouts on a few state machines in turn, so that one's Finalize runs while the next
	// is measured.
	var pool []*guarded
	for i := range 4 {
		m, err := env.CreateManaged(ctx, fmt.Sprintf("bench-alarm-%d", i), "prod", example(b, "orders-v1.asl.json"), nil)
		if err != nil {
			b.Fatal(err)
		}
		alarm := m.Name + "-errors"
		if _, err := env.CloudWatch.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(alarm), Namespace: aws.String("Orders"), MetricName: aws.String("Errors"),
			Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, TreatMissingData: aws.String("notBreaching"),
		}); err != nil {
			b.Fatal(err)
		}
		pool = append(pool, &guarded{m: m, alarm: alarm})
	}
	setAlarm := func(name string, state cwtypes.StateValue) {
		if _, err := env.CloudWatch.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String("benchmark")}); err != nil {
			b.Fatal(err)
		}
	}

	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N || len(samples) < minSamples; i++ {
		g := pool[i%len(pool)]
		if g.last != "" {
			if _, err := env.WaitFinalized(ctx, g.last, timeout); err != nil {
				b.Fatal(err)
			}
		}
		setAlarm(g.alarm, cwtypes.StateValueOk)
		id, err := env.Upload(ctx, g.m.Name, "prod", fmt.Sprintf("release-%d", i),
			strings.Replace(example(b, "orders-v2.asl.json"), `"orders v2:`, fmt.Sprintf(`"orders release %d:`, i), 1),
			map[string]string{"strategy": "CANARY", "percentage": "20", "interval": "1h", "alarms": g.alarm})
		if err != nil {
			b.Fatal(err)
		}
		g.last = id
		r, err := env.Wait(ctx, id, timeout, func(r rollout.Rollout) bool { return r.Phase == rollout.Progressing && r.CandidateWeight == 20 })
		if err != nil {
			b.Fatal(err)
		}
		stable := label(r.StableVersionArn) + "=100"
		for {
			routing, err := env.Routing(ctx, g.m.AliasArn)
			if err != nil {
				b.Fatal(err)
			}
			if routing != stable {
				break
			}
			time.Sleep(time.Millisecond)
		}

		start := time.Now()
		setAlarm(g.alarm, cwtypes.StateValueAlarm)
		for {
			out, err := env.SFN.DescribeStateMachineAlias(ctx, &sfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(g.m.AliasArn)})
			if err != nil {
				b.Fatal(err)
			}
			if len(out.RoutingConfiguration) == 1 && aws.ToString(out.RoutingConfiguration[0].StateMachineVersionArn) == r.StableVersionArn {
				break
			}
			if time.Since(start) > timeout {
				b.Fatalf("rollout %s: the alias was not back on stable %s after the alarm", id, timeout)
			}
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[min(len(samples)-1, int(p*float64(len(samples))))]) / float64(time.Millisecond)
	}
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	b.ReportMetric(float64(sum)/float64(len(samples)), "ns/op")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(samples[len(samples)-1])/float64(time.Millisecond), "max-ms")
	b.Logf("alarm → alias 100%% stable over %d rollouts: p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(samples), pct(0.5), pct(0.99), float64(samples[len(samples)-1])/float64(time.Millisecond))
}

// BenchmarkRolloutCost counts what one rollout of each strategy costs: the API calls the
// controller's functions make (by the SDK application id the endpoint counts them under),
// and the state transitions of its controller execution. Ticks are virtual (speed 600), so
// the counts are those of the policy's real duration.
func BenchmarkRolloutCost(b *testing.B) {
	env, _ := ownEnv(b, fastSpeed, 32)
	cases := slices.Clone(strategyCases)
	// A CANARY watched by an alarm reads the alarm at every tick.
	guarded := cases[1]
	guarded.name, guarded.alarm = "CANARY_with_alarm", true
	cases = append(cases, guarded)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			total := map[string]int{}
			transitions := 0
			for i := range b.N {
				m, err := env.CreateManaged(ctx, fmt.Sprintf("cost-%s-%d-%d", strings.ToLower(tc.name), b.N, i), "prod", example(b, "orders-v1.asl.json"), nil)
				if err != nil {
					b.Fatal(err)
				}
				policy := tc.policy
				if tc.alarm {
					alarm, err := env.AliasFailuresAlarm(ctx, m, "prod")
					if err != nil {
						b.Fatal(err)
					}
					policy = maps.Clone(policy)
					policy["alarms"] = alarm
				}
				before := controllerCalls(env.Stack.Server.Requests())
				id, err := env.Upload(ctx, m.Name, "prod", "v2", release(b, "v2"), policy)
				if err != nil {
					b.Fatal(err)
				}
				if tc.approve {
					if _, err := env.Wait(ctx, id, timeout, func(r rollout.Rollout) bool { return r.PauseKind == rollout.PauseApproval }); err != nil {
						b.Fatal(err)
					}
					if _, err := env.Control(ctx, id, rollout.CommandApprove, "bench"); err != nil {
						b.Fatal(err)
					}
				}
				r, err := env.WaitFinalized(ctx, id, timeout)
				if err != nil {
					b.Fatal(err)
				}
				if r.Phase != rollout.Succeeded {
					b.Fatalf("rollout %s ended %s: %s", id, r.Phase, r.Reason)
				}
				after := controllerCalls(env.Stack.Server.Requests())
				xs, err := env.ControllerExecutions(ctx, id)
				if err != nil || len(xs) != 1 {
					b.Fatalf("controller executions of %s: %d, %v", id, len(xs), err)
				}
				n, err := env.StateTransitions(ctx, xs[0].Arn)
				if err != nil {
					b.Fatal(err)
				}
				transitions += n
				for k, v := range after {
					if d := v - before[k]; d > 0 {
						total[k] += d
					}
				}
			}
			perService := map[string]int{}
			all := 0
			for k, v := range total {
				perService[strings.SplitN(k, " ", 2)[0]] += v
				all += v
			}
			if all == 0 {
				b.Fatal("no call was counted as the controller's")
			}
			per := func(n int) float64 { return float64(n) / float64(b.N) }
			b.ReportMetric(per(all), "calls/rollout")
			b.ReportMetric(per(transitions), "transitions/rollout")
			for _, svc := range []string{"states", "dynamodb", "monitoring", "s3", "scheduler", "events"} {
				b.ReportMetric(per(perService[svc]), svc+"-calls/rollout")
			}
			b.Logf("%s: %.1f calls and %.1f state transitions a rollout; by operation:\n%s", tc.name, per(all), per(transitions), describeCalls(total, b.N))
		})
	}
}

// serviceKeys shortens the endpoint's service names to their signing names.
var serviceKeys = map[string]string{
	"Step Functions": "states", "DynamoDB": "dynamodb", "CloudWatch": "monitoring", "S3": "s3",
	"EventBridge Scheduler": "scheduler", "EventBridge": "events", "Lambda": "lambda",
}

// controllerCalls are the controller's request counts as "<service> <operation>".
func controllerCalls(counts []server.RequestCount) map[string]int {
	out := map[string]int{}
	for _, c := range counts {
		if c.App != deploy.AppID {
			continue
		}
		svc := serviceKeys[c.Service]
		if svc == "" {
			svc = c.Service
		}
		out[svc+" "+c.Operation] += c.Count
	}
	return out
}

func describeCalls(total map[string]int, n int) string {
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-45s %6.1f\n", k, float64(total[k])/float64(n))
	}
	return b.String()
}
