package budget_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// docQuotas reads the table of docs/architecture.md's "Write budget" section: the numbers
// of AWS_BEHAVIOUR.md's Quotas that the budget uses, as the docs state them.
func docQuotas(t *testing.T) map[budget.API]budget.Bucket {
	t.Helper()
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Write budget")
	if !ok {
		t.Fatal(`docs/architecture.md has no "## Write budget" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile(`(?m)^\| (\w+) \| (\d+) / (\d+(?:\.\d+)?) \|$`)
	got := map[budget.API]budget.Bucket{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		burst, _ := strconv.Atoi(m[2])
		refill, _ := strconv.ParseFloat(m[3], 64)
		got[budget.API(m[1])] = budget.Bucket{Burst: burst, Refill: refill}
	}
	return got
}

func TestQuotasMatchTheDocs(t *testing.T) {
	doc := docQuotas(t)
	for api, want := range budget.Quotas {
		if got, ok := doc[api]; !ok {
			t.Errorf("%s: not in the docs' table", api)
		} else if got.Burst != want.Burst || got.Refill != want.Refill {
			t.Errorf("%s: docs say %d / %v, budget.Quotas %d / %v", api, got.Burst, got.Refill, want.Burst, want.Refill)
		}
	}
	for api := range doc {
		if _, ok := budget.Quotas[api]; !ok {
			t.Errorf("%s: in the docs' table, not in budget.Quotas", api)
		}
	}
}

// The local endpoint's --quotas aws throttles with the same numbers, where it has them.
func TestQuotasMatchTheLocalEndpoint(t *testing.T) {
	local := map[string]core.Quota{}
	for _, q := range core.AWSQuotas() {
		if q.Service == "states" {
			local[q.Operation] = q
		}
	}
	for api, want := range budget.Quotas {
		got, ok := local[string(api)]
		if !ok {
			t.Logf("%s: the local endpoint does not throttle it", api)
			continue
		}
		if got.Burst != float64(want.Burst) || got.Rate != want.Refill {
			t.Errorf("%s: local endpoint %v / %v, budget %d / %v", api, got.Burst, got.Rate, want.Burst, want.Refill)
		}
	}
}
