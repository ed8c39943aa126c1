package controller

import (
	"strings"
	"testing"
)

func TestFailedTests(t *testing.T) {
	failedChild := `{"ExecutionArn":"arn:aws:states:us-east-1:000000000000:execution:orders:r-1-pretraffic-0","Status":"FAILED"}`
	tests := []struct {
		name   string
		result TestResult
		want   string // "" = passes
	}{
		{name: "succeeded as expected", result: TestResult{Name: "happy", Expect: "SUCCEEDED", Status: "SUCCEEDED"}},
		{name: "expect defaults to SUCCEEDED", result: TestResult{Name: "happy", Status: "SUCCEEDED"}},
		{name: "failed as expected, from the caught cause", result: TestResult{Name: "no-items", Expect: "FAILED", Error: "States.TaskFailed", Cause: failedChild}},
		{name: "failed, expected to succeed", result: TestResult{Name: "happy", Expect: "SUCCEEDED", Error: "States.TaskFailed", Cause: failedChild}, want: "happy ended FAILED, expected SUCCEEDED"},
		{name: "succeeded, expected to fail", result: TestResult{Name: "no-items", Expect: "FAILED", Status: "SUCCEEDED"}, want: "no-items ended SUCCEEDED, expected FAILED"},
		{name: "timed out never passes, even when failure was expected", result: TestResult{Name: "no-items", Expect: "FAILED", Error: "States.Timeout", Cause: "timed out"}, want: "no-items did not run to an end (States.Timeout"},
		{name: "not allowed to start never passes", result: TestResult{Name: "no-items", Expect: "FAILED", Error: "States.TaskFailed", Cause: "AccessDeniedException: not authorized"}, want: "did not run to an end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failedTests([]TestResult{tt.result})
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("failedTests = %v, want a pass", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("failedTests = %v, want one failure containing %q", got, tt.want)
			}
		})
	}
}
