package controller_test

import (
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

func TestRatePeriod(t *testing.T) {
	tests := []struct {
		expr    string
		want    time.Duration
		wantErr bool
	}{
		{expr: "rate(1 minute)", want: time.Minute},
		{expr: "rate(5 minutes)", want: 5 * time.Minute},
		{expr: "rate(2 hours)", want: 2 * time.Hour},
		{expr: "rate(1 day)", want: 24 * time.Hour},
		{expr: "rate(0 minutes)", wantErr: true},
		{expr: "rate(1 fortnight)", wantErr: true},
		{expr: "cron(0 * * * ? *)", wantErr: true},
		{expr: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := controller.RatePeriod(tt.expr)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("RatePeriod(%q) = %s, %v; want %s (error %v)", tt.expr, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
