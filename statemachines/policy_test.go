package statemachines_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The example policies are what users copy: each must resolve and validate.
func TestExamplePoliciesResolve(t *testing.T) {
	files, err := filepath.Glob("examples/*rollout*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example policy under examples/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := rollout.ParsePolicy(data)
			if err != nil {
				t.Fatalf("%s does not resolve: %v", f, err)
			}
			steps := p.Expand()
			if last := steps[len(steps)-1]; last.SetWeight == nil || *last.SetWeight != 100 {
				t.Errorf("%s expands to %v, which does not end at 100%%", f, steps)
			}
		})
	}
}
