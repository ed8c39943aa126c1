package rollout_test

import (
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func TestValidAliasName(t *testing.T) {
	for name, want := range map[string]bool{
		"":                      false,
		"prod":                  true,
		"green-2":               true,
		"v1.2_rc":               true,
		"-":                     true,
		"123":                   false, // it would read as a version ARN
		"1a":                    true,
		"a b":                   false,
		"prod/1":                false,
		"prod:1":                false,
		"é":                     false,
		strings.Repeat("a", 80): true,
		strings.Repeat("a", 81): false,
	} {
		if got := rollout.ValidAliasName(name); got != want {
			t.Errorf("ValidAliasName(%q) = %v, want %v", name, got, want)
		}
	}
}
