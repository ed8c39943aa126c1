package controller_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A CUSTOM analysis step with its own maxFailureRate, and none at the policy level, reads
// the candidate's metrics: it rolls back a failing candidate, promotes a healthy one, and
// holds only while too few executions ran.
func TestStepAnalysisReadsMetrics(t *testing.T) {
	const policy = `{"strategy":"CUSTOM","steps":[{"setWeight":10},{"analysis":{"duration":"2m","maxFailureRate":5,"minExecutions":10}},{"setWeight":100}]}`
	tests := []struct {
		name            string
		started, failed int64
		wantPhase       rollout.Phase
		wantRouting     string
		wantReason      string
	}{
		{name: "failing 90% rolls back", started: 10, failed: 9, wantPhase: rollout.RolledBack, wantRouting: "v1=100", wantReason: "failure rate 90.0%"},
		{name: "healthy promotes", started: 40, failed: 1, wantPhase: rollout.Succeeded, wantRouting: "v2=100"},
		{name: "too few executions holds", started: 3, failed: 0, wantPhase: rollout.Progressing, wantRouting: "v1=90 v2=10", wantReason: "3 of 10 executions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, e := startOrders(t, policy)
			wantEqual(t, "alias after the first tick", w.sfn.routing(aliasOf("orders")), "v1=90 v2=10")
			w.metrics.set(versionOf("orders", 2), tc.started, tc.failed)
			for n := 0; n < 8 && !e.ended(); n++ {
				if err := e.tick(); err != nil {
					t.Fatal(err)
				}
			}
			r := wantPhase(t, w, e.id(), tc.wantPhase, "")
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), tc.wantRouting)
			reason := r.Reason
			if tc.wantPhase == rollout.Progressing {
				reason = w.ctlReason(e)
			}
			if !strings.Contains(reason, tc.wantReason) {
				t.Errorf("reason %q lacks %q", reason, tc.wantReason)
			}
			if w.faults.count("Metrics.VersionCounts")+w.faults.count("Metrics.ManyVersionCounts") == 0 {
				t.Error("the analysis never read the candidate's metrics")
			}
		})
	}
}

// A policy with neither a policy-level maxFailureRate nor an analysis step reads no
// metrics: GetMetricData costs money and quota.
func TestNoAnalysisReadsNoMetrics(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"LINEAR","percentage":50,"interval":"1m"}`)
	e.ticks(10)
	wantPhase(t, w, e.id(), rollout.Succeeded, "")
	wantEqual(t, "metric reads", w.faults.count("Metrics.VersionCounts"), 0)
}

// The Version dimension's form the candidate's metrics were found under is written on the
// record once, and every later read asks for that form alone.
func TestMetricsFormIsRemembered(t *testing.T) {
	w, e := startOrders(t, `{"strategy":"LINEAR","percentage":25,"interval":"1m","maxFailureRate":50,"minExecutions":1}`)
	w.metrics.mu.Lock()
	w.metrics.form = rollout.MetricsFormArn
	w.metrics.mu.Unlock()
	w.metrics.set(versionOf("orders", 2), 5, 0)
	e.ticks(3)
	r := w.record(e.id())
	wantEqual(t, "record's MetricsForm", string(r.MetricsForm), string(rollout.MetricsFormArn))
	w.metrics.mu.Lock()
	forms := slices.Clone(w.metrics.forms)
	w.metrics.mu.Unlock()
	i := slices.Index(forms, rollout.MetricsFormArn)
	if forms[0] != "" || i < 0 || slices.ContainsFunc(forms[i:], func(f rollout.MetricsForm) bool { return f != rollout.MetricsFormArn }) {
		t.Errorf("queries asked for forms %q: want unknown until the record holds the form, then arn alone", forms)
	}
}
