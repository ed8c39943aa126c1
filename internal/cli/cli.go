// Package cli is the sfn-rollout command line: deploy, watch and steer rollouts against AWS
// or the local endpoint. Commands fetch into views (views.go), and renderers print them as a
// table or JSON (render.go), so that the output is tested apart from the fetching.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// Exit codes scripts can trust.
const (
	ExitOK       = 0
	ExitFailed   = 1 // the command ran and the thing failed: a rollout rolled back, a command was refused
	ExitBadUsage = 2 // bad flags or arguments, a missing file, an invalid policy, an unknown name or id
)

// UsageError marks an error that is the caller's: exit code 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// Run runs the command line args and returns the exit code. Errors are printed on stderr
// as one line. extra adds commands (the demo) that live outside this package.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, extra ...*cobra.Command) int {
	root := NewRoot(stdout, stderr, extra...)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "sfn-rollout: "+OneLine(err))
	return ExitCode(err)
}

// ExitCode is the exit code of an error Run got.
func ExitCode(err error) int {
	var usage UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage), isCobraUsage(err):
		return ExitBadUsage
	}
	return ExitFailed
}

// isCobraUsage recognises the errors cobra makes itself, which carry no type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "required flag", "accepts ", "requires ", "if any flags in the group", "flag needs an argument"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// OneLine is err's message on one line, with the SDK's long operation errors shortened to
// "<Operation>: <Code>: <message>".
func OneLine(err error) string {
	msg := err.Error()
	var op *smithy.OperationError
	if errors.As(err, &op) {
		short := op.Operation()
		var api smithy.APIError
		if errors.As(op.Err, &api) {
			short += ": " + api.ErrorCode()
			if m := api.ErrorMessage(); m != "" {
				short += ": " + m
			}
		} else if op.Err != nil {
			short += ": " + op.Err.Error()
		}
		msg = strings.Replace(msg, op.Error(), short, 1)
	}
	msg = strings.TrimSpace(msg)
	msg = strings.ReplaceAll(msg, "\r", "")
	return strings.ReplaceAll(msg, "\n", "; ")
}

// NewRoot builds the command tree, writing to stdout and stderr.
func NewRoot(stdout, stderr io.Writer, extra ...*cobra.Command) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "sfn-rollout",
		Short: "Progressive delivery for AWS Step Functions",
		Long: `sfn-rollout shifts a Step Functions alias from the stable version to a new one step by step,
watching alarms and the new version's failure rate, and rolls back within seconds.

It works the same against AWS and against local mode: point it at an endpoint with --endpoint
or AWS_ENDPOINT_URL. It finds the artifacts bucket, the rollout table and the control function
from flags, from SFN_ROLLOUT_BUCKET, SFN_ROLLOUT_TABLE and SFN_ROLLOUT_CONTROL_FUNCTION, or, on
a local endpoint, from its /_sfn-rollout/config.

Exit codes: 0 ok, 1 failed (a rollout rolled back, a command refused), 2 bad usage.`,
		Example: `  sfn-rollout local --speed 60 &
  export AWS_ENDPOINT_URL=http://127.0.0.1:4599
  sfn-rollout deploy orders --alias prod --file orders-v2.asl.json --strategy LINEAR --percentage 25 --interval 1m --wait
  sfn-rollout status orders:prod --watch
  sfn-rollout history orders -o json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch g.output {
			case "table", "json":
				return nil
			}
			return usagef("-o %q: want table or json", g.output)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoint, "endpoint", "", "AWS endpoint URL, e.g. a local endpoint (default $AWS_ENDPOINT_URL)")
	pf.StringVar(&g.region, "region", "", "AWS region (default $AWS_REGION or the profile's)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.bucket, "bucket", "", "artifacts bucket (default $SFN_ROLLOUT_BUCKET or the local endpoint's)")
	pf.StringVar(&g.table, "table", "", "rollout table (default $SFN_ROLLOUT_TABLE or the local endpoint's)")
	pf.StringVar(&g.controlFunction, "control-function", "", "control function name or ARN (default $SFN_ROLLOUT_CONTROL_FUNCTION, else sfn-rollout-control)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))

	a := &app{g: g, stdout: stdout, stderr: stderr}
	root.AddCommand(
		newDeploy(a), newStatus(a), newList(a), newHistory(a), newShow(a),
		newControl(a, "pause"), newControl(a, "resume"), newControl(a, "promote"), newControl(a, "abort"), newControl(a, "approve"),
		newVersions(a), newGC(a), newPolicy(a), newLocal(a), newVersion(a), newDoctor(a),
	)
	root.AddCommand(extra...)
	return root
}

// args wraps a cobra argument check so that its error is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return UsageError{err}
		}
		return nil
	}
}

// interrupted turns a cancelled context (Ctrl-C) into a short message.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return errors.New("interrupted")
	}
	return err
}
