package e2e_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/deploy"
	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/local/server"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The scale benchmark: 1,000 running rollouts in one account and region, through local mode
// with the real SDK clients, at scaleSpeed (a virtual minute is a wall second).
var (
	scaleRollouts = flag.Int("scale.rollouts", 1000, "BenchmarkScale1000: running rollouts (besides the one-alarm samples)")
	scaleStorm    = flag.Int("scale.storm", 200, "BenchmarkScale1000: alarms at once in the storm (at most -scale.rollouts)")
	scaleLog      = flag.String("scale.log", "", "BenchmarkScale1000: write the controller's log to this file")
)

const (
	scaleSpeed = 60
	// scaleSamples rollouts more than -scale.rollouts run, one for each one-alarm sample;
	// scaleBurst is the uploads at once. Both are measured at speed 1, where the quotas, not this
	// machine's cores, bound them.
	scaleSamples = 100
	scaleBurst   = 200
	// The Step Functions control-plane buckets the storm and the burst draw on
	// (UpdateStateMachineAlias, ValidateStateMachineDefinition, …): burst and refill a second.
	controlBurst, controlRefill = 100, 1.0
)

// scaleRollout is one rollout of the benchmark: its state machine, alarm and record.
type scaleRollout struct {
	m     localenv.Managed
	alarm string
	id    string
	r     rollout.Rollout
}

// BenchmarkScale1000 runs 1,000 rollouts holding a CANARY step and reports:
//   - calls per running rollout-minute of each API the controller calls while they hold
//     (quotas off, so that nothing is delayed), and the number of running rollouts each
//     account-wide bucket allows at that rate (its ceiling);
//   - with AWS's quotas on: one alarm's time from ALARM to its alias on stable amid the
//     1,000 (p50, p99 over samples, wall time); the time for scaleStorm alarms at once to
//     bring every alias back, against the quota's lower bound (N − burst) / refill; and the
//     time for scaleBurst uploads at once to all reach their first step, against the same
//     bound, with the number that ended Failed.
//
// Setting up and the calls per rollout-minute run at scaleSpeed; the rest at speed 1.
// It takes a few minutes of wall time: run it alone, `go test -run '^$' -bench Scale1000
// -benchtime 1x ./internal/local/e2e/`.
func BenchmarkScale1000(b *testing.B) {
	for range b.N {
		runScale(b)
	}
}

func runScale(b *testing.B) {
	ctx := context.Background()
	opts := localenv.Options{Speed: scaleSpeed, Seed: 41, Out: verbose()}
	if *scaleLog != "" {
		f, err := os.Create(*scaleLog)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		opts.Log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	env, err := localenv.Start(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	setQuotas(b, env, false)
	policy := func(alarm string) map[string]string {
		return map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "10h", "alarms": alarm,
			"maxFailureRate": "50", "minExecutions": "1000000"}
	}
	rs := make([]*scaleRollout, scaleSamples+*scaleRollouts+scaleBurst)
	parallel(b, len(rs), func(i int) error {
		name := fmt.Sprintf("scale-%04d", i)
		m, err := env.CreateManaged(ctx, name, "prod", example(b, "orders-v1.asl.json"), nil)
		if err != nil {
			return err
		}
		alarm := name + "-errors"
		if _, err := env.CloudWatch.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String(alarm), Namespace: aws.String("Scale"), MetricName: aws.String("Errors"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Machine"), Value: aws.String(name)}},
			Statistic:  cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, TreatMissingData: aws.String("notBreaching"),
		}); err != nil {
			return err
		}
		rs[i] = &scaleRollout{m: m, alarm: alarm}
		return nil
	})
	running, burst := rs[:scaleSamples+*scaleRollouts], rs[scaleSamples+*scaleRollouts:]
	b.Logf("%s: %d state machines and alarms", time.Now().Format(time.TimeOnly), len(rs))
	upload := func(r *scaleRollout) error {
		id, err := env.Upload(ctx, r.m.Name, "prod", "release-2",
			strings.Replace(example(b, "orders-v2.asl.json"), `"orders v2:`, `"`+r.m.Name+` v2:`, 1), policy(r.alarm))
		r.id = id
		return err
	}
	parallel(b, len(running), func(i int) error { return upload(running[i]) })
	// Setting up is bound by this machine's cores, not by quotas: on a 2-core machine shared
	// with other builds, 1,100 rollouts took over ten minutes to reach their first step.
	waitAll(b, env, running, 20*time.Minute, func(r rollout.Rollout) bool { return r.Phase == rollout.Progressing && r.CandidateWeight == 10 })
	b.Logf("%s: %d rollouts hold at 10%%", time.Now().Format(time.TimeOnly), len(running))

	// 1. Calls per running rollout-minute while they hold.
	resetRequests(b, env)
	start := env.Now()
	time.Sleep(15 * time.Second) // 15 virtual minutes
	minutes := env.Now().Sub(start).Minutes()
	perAPI := map[string]float64{}
	total := 0.0
	for _, c := range requests(b, env) {
		if c.App != deploy.AppID {
			continue
		}
		v := float64(c.Count) / (float64(len(running)) * minutes)
		perAPI[c.Operation] += v
		total += v
	}
	refill := map[string]float64{ // per second, AWS_BEHAVIOUR.md
		"DescribeStateMachineAlias": 1, "ListTagsForResource": 1, "UpdateStateMachineAlias": 1,
		"DescribeAlarms": 9, "GetMetricData": 50, "DescribeStateMachine": 20,
	}
	for _, op := range sortedKeys(perAPI) {
		b.ReportMetric(perAPI[op], op+"/rollout-min")
		if r, ok := refill[op]; ok && perAPI[op] > 0 {
			b.ReportMetric(r*60/perAPI[op], op+"-ceiling-rollouts")
		}
	}
	b.ReportMetric(total, "calls/rollout-min")

	// 2. One alarm amid the 1,000, quotas on, at the wall clock's speed: from here on what is
	// measured is bound by the quotas, and a virtual second is a real one.
	env.Stack.Clock.SetSpeed(1)
	setQuotas(b, env, true)
	var samples []time.Duration
	for _, r := range running[:scaleSamples] {
		// SetAlarmState allows 3 a second: a throttled one's SDK retry would be timed too.
		time.Sleep(400 * time.Millisecond)
		samples = append(samples, alarmToStable(b, env, []*scaleRollout{r}))
	}
	slices.Sort(samples)
	b.ReportMetric(ms(samples[len(samples)/2]), "one-alarm-p50-ms")
	p99 := samples[(len(samples)*99+99)/100-1] // nearest rank
	b.ReportMetric(ms(p99), "one-alarm-p99-ms")
	b.ReportMetric(ms(samples[len(samples)-1]), "one-alarm-max-ms")
	b.Logf("%s: one alarm amid %d: p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d samples", time.Now().Format(time.TimeOnly),
		len(running), ms(samples[len(samples)/2]), ms(p99), ms(samples[len(samples)-1]), len(samples))

	// 3. A storm: -scale.storm alarms at once (none of the samples above), from full
	// buckets (the samples spent a token each).
	waitAll(b, env, running[:scaleSamples], 10*time.Minute, func(r rollout.Rollout) bool { return r.Settled })
	settle(env)
	storm := running[len(running)-min(*scaleStorm, *scaleRollouts):]
	resetRequests(b, env)
	took := stormToStable(b, env, storm)
	bound := max(0, float64(len(storm)-controlBurst)/controlRefill)
	b.ReportMetric(took, "storm-virtual-s")
	b.ReportMetric(bound, "storm-bound-s")
	b.ReportMetric(took/bound, "storm/bound")

	b.Logf("%s: storm of %d took %.0f s (bound %.0f s)", time.Now().Format(time.TimeOnly), len(storm), took, bound)

	// The storm's aftermath settles (every Finalize done), and AWS's buckets and the
	// controller's view of them refill, at scaleSpeed: the burst's bound assumes full
	// buckets, as an account that has been quiet for a few minutes has.
	waitAll(b, env, storm, 20*time.Minute, func(r rollout.Rollout) bool { return r.Settled })
	settle(env)

	// 4. A burst of uploads at once.
	resetRequests(b, env)
	startV := env.Now()
	parallel(b, len(burst), func(i int) error { return upload(burst[i]) })
	waitAll(b, env, burst, 20*time.Minute, func(r rollout.Rollout) bool { return r.CandidateWeight == 10 || r.Phase.Terminal() })
	took = env.Now().Sub(startV).Seconds()
	failed := 0
	for _, r := range burst {
		if r.r.Phase.Terminal() {
			failed++
			b.Logf("burst upload %s ended %s: %s", r.id, r.r.Phase, r.r.Reason)
		}
	}
	// The quota's lower bound: each upload makes one call of each 100 / 1 bucket
	// (ListTagsForResource, ValidateStateMachineDefinition, the publish, the first step's
	// UpdateStateMachineAlias), so (N − burst) / refill. The bound of the calls actually
	// made, bucket by bucket, is logged beside it: above it, the controller made calls an
	// upload does not need.
	bound = max(0, float64(len(burst)-controlBurst)/controlRefill)
	made, binding := quotaBound(b, env)
	b.Logf("burst of %d took %.0f s; bound %.0f s; the calls made allow %.0f s (%s)", len(burst), took, bound, made, binding)
	b.ReportMetric(made, "burst-calls-bound-s")
	b.ReportMetric(took, "burst-virtual-s")
	b.ReportMetric(bound, "burst-bound-s")
	b.ReportMetric(took/bound, "burst/bound")
	b.ReportMetric(float64(failed), "burst-failed")
}

// settle lets five virtual minutes pass at scaleSpeed: every bucket the controller draws on
// (the largest holds 200 tokens and refills one a second) is full again afterwards, in AWS's
// view and in the controller's.
func settle(env *localenv.Env) {
	env.Stack.Clock.SetSpeed(scaleSpeed)
	time.Sleep(5 * time.Minute / scaleSpeed)
	env.Stack.Clock.SetSpeed(1)
}

// alarmToStable sets the alarms of rs to ALARM at once and waits until every alias routes
// 100% to its stable version: the wall time it took.
func alarmToStable(b *testing.B, env *localenv.Env, rs []*scaleRollout) time.Duration {
	ctx := context.Background()
	start := time.Now()
	parallel(b, len(rs), func(i int) error {
		_, err := env.CloudWatch.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(rs[i].alarm), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("benchmark")})
		return err
	})
	waitStable(b, env, rs)
	return time.Since(start)
}

// waitStable waits until every rollout of rs is RolledBack with its alias write confirmed:
// the controller records aliasConfirmed only once its write of 100% stable landed. It
// reads records, never the alias: the alias's reads draw on the account's bucket the
// rollbacks' repairs need, and polling it would slow what is measured.
func waitStable(b *testing.B, env *localenv.Env, rs []*scaleRollout) {
	waitAll(b, env, rs, 20*time.Minute, func(r rollout.Rollout) bool { return r.Phase == rollout.RolledBack && r.Confirmed() })
}

// checkStable reads every alias of rs once, quotas off: each routes 100% to its stable
// version.
func checkStable(b *testing.B, env *localenv.Env, rs []*scaleRollout) {
	ctx := context.Background()
	parallel(b, len(rs), func(i int) error {
		want := label(rs[i].r.StableVersionArn) + "=100"
		if routing, err := env.Routing(ctx, rs[i].m.AliasArn); err != nil || routing != want {
			return fmt.Errorf("%s: alias %s (%v), want %s", rs[i].id, routing, err, want)
		}
		return nil
	})
}

// stormToStable makes the alarms of rs breach at once, as a bad release makes them: one
// PutMetricData each (SetAlarmState allows only 3 a second), so that CloudWatch's next
// evaluation puts them all in ALARM. It waits until every alias routes 100% to its stable
// version, and answers the virtual seconds from the first alarm's change to the last alias
// back.
func stormToStable(b *testing.B, env *localenv.Env, rs []*scaleRollout) float64 {
	ctx := context.Background()
	parallel(b, len(rs), func(i int) error {
		_, err := env.CloudWatch.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Scale"), MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("Errors"), Value: aws.Float64(5), Timestamp: aws.Time(env.Now()),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Machine"), Value: aws.String(rs[i].m.Name)}},
		}}})
		return err
	})
	waitStable(b, env, rs)
	end := env.Now()
	first := end
	// Measured: the aliases are checked and the alarms' history read with the quotas off
	// (DescribeAlarmHistory allows 3 a second); switched on again, they start full.
	setQuotas(b, env, false)
	defer setQuotas(b, env, true)
	checkStable(b, env, rs)
	for start := 0; start < len(rs); start += 100 {
		var names []string
		for _, r := range rs[start:min(start+100, len(rs))] {
			names = append(names, r.alarm)
		}
		out, err := env.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range out.MetricAlarms {
			// The alarm went to ALARM, and may be back to OK by now (no more data): its
			// history has when it entered ALARM.
			hist, err := env.CloudWatch.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{AlarmName: a.AlarmName, HistoryItemType: cwtypes.HistoryItemTypeStateUpdate})
			if err != nil {
				b.Fatal(err)
			}
			for _, h := range hist.AlarmHistoryItems {
				if strings.Contains(aws.ToString(h.HistorySummary), "to ALARM") && h.Timestamp != nil && h.Timestamp.Before(first) {
					first = *h.Timestamp
				}
			}
		}
	}
	return end.Sub(first).Seconds()
}

// waitAll polls the records of rs until every one satisfies done. While many are left it
// reads each about once a second (the reads share dynalite, one process, with the
// controller, whose speed is what is measured); at most five left, every 5 ms. Every 30 s it
// logs how many are left and the alias updates made so far, so that a slow phase shows
// where its time went.
func waitAll(b *testing.B, env *localenv.Env, rs []*scaleRollout, timeout time.Duration, done func(rollout.Rollout) bool) {
	ctx := context.Background()
	start := time.Now()
	deadline, logAt := start.Add(timeout), start.Add(30*time.Second)
	left := slices.Clone(rs)
	for len(left) > 0 {
		if now := time.Now(); now.After(logAt) {
			updates := 0
			for _, c := range requests(b, env) {
				if c.App == deploy.AppID && c.Operation == "UpdateStateMachineAlias" {
					updates += c.Count
				}
			}
			b.Logf("%s: %d of %d left after %.0f s; %d alias updates since the phase began", now.Format(time.TimeOnly), len(left), len(rs), now.Sub(start).Seconds(), updates)
			logAt = logAt.Add(30 * time.Second)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d rollouts not there after %s; first %s: %s %d%% %s", len(left), timeout, left[0].id, left[0].r.Phase, left[0].r.CandidateWeight, left[0].r.Reason)
		}
		var still []*scaleRollout
		for _, r := range left {
			rec, ok, err := env.Rollout(ctx, r.id)
			if err == nil && ok {
				r.r = rec
				if done(rec) {
					continue
				}
			}
			still = append(still, r)
		}
		left = still
		switch {
		case len(left) > 5:
			time.Sleep(time.Second)
		case len(left) > 0:
			time.Sleep(5 * time.Millisecond) // a latency is measured: poll finely
		}
	}
}

// parallel runs fn for 0…n-1 on 16 goroutines and fails the benchmark on the first error.
func parallel(b *testing.B, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func adminURL(env *localenv.Env, path string) string {
	return strings.TrimSuffix(env.Stack.URL, "/") + path
}

func requests(b testing.TB, env *localenv.Env) []server.RequestCount {
	resp, err := http.Get(adminURL(env, "/_sfn-rollout/requests"))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out []server.RequestCount
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		b.Fatal(err)
	}
	return out
}

func resetRequests(b testing.TB, env *localenv.Env) {
	req, _ := http.NewRequest(http.MethodDelete, adminURL(env, "/_sfn-rollout/requests"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// awsQuotas are the buckets of AWS_BEHAVIOUR.md the controller's calls draw on.
var awsQuotas = map[string]struct{ burst, refill float64 }{
	"UpdateStateMachineAlias": {100, 1}, "PublishStateMachineVersion": {100, 1}, "UpdateStateMachine": {100, 1},
	"CreateStateMachineAlias": {100, 1}, "DeleteStateMachineAlias": {100, 1}, "DeleteStateMachineVersion": {100, 1},
	"ListStateMachineVersions": {100, 1}, "ListStateMachineAliases": {100, 1}, "ValidateStateMachineDefinition": {100, 1},
	"ListTagsForResource": {100, 1}, "DescribeStateMachineAlias": {200, 1}, "DescribeStateMachine": {200, 20},
}

// quotaBound is the lower bound AWS's quotas put on the controller's calls since the last
// reset: for each bucket, the calls beyond its burst at its refill; the largest, and which.
func quotaBound(b *testing.B, env *localenv.Env) (float64, string) {
	bound, binding := 0.0, ""
	calls := controllerCalls(requests(b, env))
	for op, q := range awsQuotas {
		n := calls["states "+op]
		if t := (float64(n) - q.burst) / q.refill; t > bound {
			bound, binding = t, fmt.Sprintf("%s: %d calls", op, n)
		}
	}
	return bound, binding
}

// setQuotas switches AWS's quotas on or off in the running endpoint.
func setQuotas(b *testing.B, env *localenv.Env, on bool) {
	b.Helper()
	mode := core.QuotasOff
	if on {
		mode = core.QuotasAWS
	}
	if err := env.Stack.Quotas.SetMode(mode); err != nil {
		b.Fatal(err)
	}
}
