// Command sfn-rollout deploys, watches and steers progressive rollouts of AWS Step Functions
// state machines, and runs the local AWS-compatible endpoint (`sfn-rollout local`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes scripts can trust.
const (
	exitOK       = 0
	exitFailed   = 1 // the command ran and the thing failed (a rollout rolled back)
	exitBadUsage = 2 // bad flags, bad input
)

// usageError marks an error that is the caller's: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "sfn-rollout:", err)
	var usage usageError
	if errors.As(err, &usage) {
		return exitBadUsage
	}
	return exitFailed
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "sfn-rollout",
		Short:         "Progressive delivery for AWS Step Functions",
		Long:          "sfn-rollout shifts a Step Functions alias from the stable version to a new one step by step,\nwatching alarms and the new version's failure rate, and rolls back within seconds.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newLocal(), newDemo())
	return root
}
