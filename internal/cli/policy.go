package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

func newPolicy(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check a rollout.json and see the steps it expands to",
		Long: `A rollout.json is checked by the rules the controller applies to an upload with only that file
beside it: unknown fields, ranges, and holds no shorter than the controller's one-minute tick.
Tags on the state machine and upload metadata may still override its fields.`,
		Example: `  sfn-rollout policy validate rollout.json
  sfn-rollout policy explain rollout.json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("policy needs a subcommand: validate or explain")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate <rollout.json>",
		Short: "Check a policy file; exit 2 with the field, its source and the range when it is wrong",
		Example: `  sfn-rollout policy validate orders/prod/rollout.json
  sfn-rollout policy validate rollout.json -o json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			p, err := readPolicy(argv[0])
			if err != nil {
				return err
			}
			v := NewExplainView(p)
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), struct {
					Valid bool `json:"valid"`
					ExplainView
				}{true, v})
			}
			approval := ""
			if v.WaitsForApproval {
				approval = ", plus the wait for approval"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %s; %d steps, planned %s%s\n", argv[0], describePolicy(p), len(p.Expand()), v.PlannedDuration, approval)
			return err
		},
	}, &cobra.Command{
		Use:   "explain <rollout.json>",
		Short: "The steps a policy expands to, with the time each starts at",
		Example: `  sfn-rollout policy explain rollout.json
  sfn-rollout policy explain rollout.json -o json | jq .plannedDuration`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			p, err := readPolicy(argv[0])
			if err != nil {
				return err
			}
			v := NewExplainView(p)
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return RenderExplain(cmd.OutOrStdout(), v)
		},
	})
	return cmd
}

// readPolicy reads and validates a policy file; every problem is a usage error.
func readPolicy(path string) (rollout.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return rollout.Policy{}, usagef("cannot read the policy: %v", err)
	}
	p, err := rollout.ParsePolicy(data)
	if err != nil {
		return rollout.Policy{}, usagef("invalid policy %s: %s", path, joinErrors(err))
	}
	if err := p.CheckTick(minInterval); err != nil {
		return rollout.Policy{}, usagef("invalid policy: %v", err)
	}
	return p, nil
}

// joinErrors writes errors.Join's lines as one.
func joinErrors(err error) string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var parts []string
		for _, e := range joined.Unwrap() {
			parts = append(parts, joinErrors(e))
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}
