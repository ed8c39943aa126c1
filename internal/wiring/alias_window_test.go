package wiring

import (
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// The alias write window is configurable, 5s by default; a value that does not parse is an
// error, never a fallback.
func TestSettingsAliasWriteWindow(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 5 * time.Second, true},
		{"200ms", 200 * time.Millisecond, true},
		{"0s", 0, false},
		{"soon", 0, false},
	} {
		env := fullEnv()
		env[topology.EnvAliasWriteWindow] = tc.value
		s, err := SettingsFromEnv(func(k string) string { return env[k] })
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.value, err, tc.ok)
			continue
		}
		if tc.ok && s.Controller.AliasWriteWindow != tc.want {
			t.Errorf("%q: window %s, want %s", tc.value, s.Controller.AliasWriteWindow, tc.want)
		}
	}
}
