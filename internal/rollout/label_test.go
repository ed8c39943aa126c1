package rollout_test

import (
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestVersionLabel(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:states:us-east-1:000000000000:stateMachine:orders:12", "v12"},
		{"arn:aws:states:us-east-1:000000000000:stateMachine:orders:prod", "arn:aws:states:us-east-1:000000000000:stateMachine:orders:prod"},
		{"arn:aws:states:us-east-1:000000000000:stateMachine:orders:", "arn:aws:states:us-east-1:000000000000:stateMachine:orders:"},
		{"orders", "orders"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := rollout.VersionLabel(tt.arn); got != tt.want {
			t.Errorf("VersionLabel(%q) = %q, want %q", tt.arn, got, tt.want)
		}
	}
}
