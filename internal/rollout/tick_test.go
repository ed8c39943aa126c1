package rollout_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestCheckTick(t *testing.T) {
	tests := []struct {
		name, policy, wantField string
	}{
		{name: "interval of a minute", policy: `{"strategy":"LINEAR","percentage":50,"interval":"1m"}`},
		{name: "interval below the tick", policy: `{"strategy":"LINEAR","percentage":50,"interval":"30s"}`, wantField: "interval"},
		{name: "a short pause step", policy: `{"strategy":"CUSTOM","steps":["weight:10","pause:20s"]}`, wantField: "steps"},
		{name: "a short analysis step", policy: `{"strategy":"CUSTOM","maxFailureRate":5,"steps":["weight:10","analysis:5s"]}`, wantField: "steps"},
		{name: "an approval has no duration", policy: `{"strategy":"CUSTOM","steps":["weight:10","approval"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rollout.ParsePolicy([]byte(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			err = p.CheckTick(time.Minute)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("CheckTick: %v", err)
				}
				return
			}
			var fe *rollout.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.Contains(err.Error(), "shorter than the controller's tick of 1m") {
				t.Fatalf("CheckTick = %v, want a FieldError on %s naming the tick", err, tt.wantField)
			}
		})
	}
}
