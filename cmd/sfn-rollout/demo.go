package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/local/localenv"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/statemachines"
)

func newDemo() *cobra.Command {
	var speed float64
	var budget time.Duration
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run two rollouts end to end on the local endpoint: a healthy one and a bad one",
		Long: `Starts local mode with a fast clock and deploys the controller on it. Then, through the AWS SDK
only: creates the state machine "orders" (v1) with alias "prod", tags it for management and
alarms on the alias's failed executions, sends a steady stream of executions to the alias,
uploads a healthy v2 with a LINEAR policy and lets it finish, then uploads a v3 that fails
about 30% of its executions with a CANARY policy, which the alarm must roll back.
Exits 0 only when v2 succeeded and v3 was rolled back within the time budget.`,
		Example: `  sfn-rollout demo
  sfn-rollout demo --speed 120 --verbose`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), budget)
			defer cancel()
			var events io.Writer = io.Discard
			if verbose {
				events = os.Stderr
			}
			return runDemo(ctx, os.Stdout, events, speed)
		},
	}
	cmd.Flags().Float64Var(&speed, "speed", 60, "virtual clock speed (60: a minute a second)")
	cmd.Flags().DurationVar(&budget, "budget", 60*time.Second, "wall-clock time the demo may take")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "print the endpoint's event lines on stderr")
	return cmd
}

type demoRun struct {
	label, strategy, id string
	want                rollout.Phase
	r                   rollout.Rollout
	started             time.Time
}

func runDemo(ctx context.Context, out, events io.Writer, speed float64) error {
	wall := time.Now()
	fmt.Fprintf(out, "sfn-rollout demo: local endpoint at %gx (a virtual minute takes %s)\n", speed, time.Duration(float64(time.Minute)/speed).Round(time.Millisecond))
	env, err := localenv.Start(ctx, localenv.Options{Speed: speed, Seed: 42, Out: events})
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Fprintf(out, "endpoint %s, controller %s\n", env.Stack.URL, env.Deployment.ControllerStateMachineArn)

	example := func(name string) (string, error) {
		b, err := statemachines.Examples.ReadFile("examples/" + name)
		return string(b), err
	}
	v1, err := example("orders-v1.asl.json")
	if err != nil {
		return err
	}
	m, err := env.CreateManaged(ctx, "orders", "prod", v1, nil)
	if err != nil {
		return err
	}
	alarm, err := env.AliasFailuresAlarm(ctx, m, "prod")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created orders v1, alias prod → v1 100%%, alarm %s\n", alarm)
	traffic := env.StartTraffic(ctx, m.AliasArn, 100)
	defer traffic.Stop()

	runs := []*demoRun{
		{label: "v2 (healthy)", strategy: "LINEAR 25% every 1m, bake 1m", want: rollout.Succeeded},
		{label: "v3 (fails ~30%)", strategy: "CANARY 10% for 5m", want: rollout.RolledBack},
	}
	uploads := []struct {
		file   string
		policy map[string]string
	}{
		{"orders-v2.asl.json", map[string]string{"strategy": "LINEAR", "percentage": "25", "interval": "1m", "bakeTime": "1m", "alarms": alarm}},
		{"orders-v3-flaky.asl.json", map[string]string{"strategy": "CANARY", "percentage": "10", "interval": "5m", "alarms": alarm}},
	}
	for i, run := range runs {
		def, err := example(uploads[i].file)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nupload %s with %s\n", uploads[i].file, run.strategy)
		run.started = env.Now()
		if run.id, err = env.Upload(ctx, "orders", "prod", "release-"+strings.SplitN(run.label, " ", 2)[0], def, uploads[i].policy); err != nil {
			return err
		}
		if run.r, err = follow(ctx, out, env, m, alarm, run.id); err != nil {
			return err
		}
	}
	errs := traffic.Stop()

	fmt.Fprintln(out, "\nsummary")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLLOUT\tCANDIDATE\tSTRATEGY\tOUTCOME\tVIRTUAL TIME\tREASON")
	ok := true
	for _, run := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", run.id, run.label, run.strategy, run.r.Phase, run.r.FinishedAt.Sub(run.started).Round(time.Second), run.r.Reason)
		ok = ok && run.r.Phase == run.want
	}
	tw.Flush()
	counts, err := env.Executions(ctx, m.AliasArn)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nexecutions through orders:prod")
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSUCCEEDED\tFAILED\tOTHER")
	versions := make([]string, 0, len(counts))
	for v := range counts {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	for _, v := range versions {
		c := counts[v]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", v, c["SUCCEEDED"], c["FAILED"], c["RUNNING"]+c["ABORTED"]+c["TIMED_OUT"])
	}
	tw.Flush()
	routing, _ := env.Routing(ctx, m.AliasArn)
	fmt.Fprintf(out, "\nalias prod: %s; %d starts refused; %s of wall time\n", routing, errs, time.Since(wall).Round(100*time.Millisecond))
	if !ok {
		return errors.New("demo failed: want v2 Succeeded and v3 RolledBack")
	}
	fmt.Fprintln(out, "demo passed: v2 succeeded, v3 was rolled back")
	return nil
}

// follow prints the rollout's progress until the controller has finalized it.
func follow(ctx context.Context, out io.Writer, env *localenv.Env, m localenv.Managed, alarm, id string) (rollout.Rollout, error) {
	last := ""
	for {
		r, found, err := env.Rollout(ctx, id)
		if err != nil {
			return r, err
		}
		if found {
			routing, _ := env.Routing(ctx, m.AliasArn)
			line := fmt.Sprintf("  %-11s step %d/%d  alias %-14s %s", r.Phase, r.StepIndex, len(r.Steps), routing, r.Reason)
			if line != last {
				fmt.Fprintf(out, "%s  %s\n", env.Now().Format("15:04:05"), line)
				fmt.Fprintf(out, "           executions %s; alarm %s\n", executionSummary(ctx, env, m), env.AlarmState(ctx, alarm))
				last = line
			}
			if r.Phase.Terminal() {
				return env.WaitFinalized(ctx, id, 20*time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("rollout %s did not end in time: %w", id, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// executionSummary is "v1 120 ok, v2 30 ok 2 failed" for the alias so far.
func executionSummary(ctx context.Context, env *localenv.Env, m localenv.Managed) string {
	counts, err := env.Executions(ctx, m.AliasArn)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	versions := make([]string, 0, len(counts))
	for v := range counts {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	parts := make([]string, 0, len(versions))
	for _, v := range versions {
		c := counts[v]
		part := fmt.Sprintf("%s %d ok", v, c["SUCCEEDED"])
		if c["FAILED"] > 0 {
			part += fmt.Sprintf(" %d failed", c["FAILED"])
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}
