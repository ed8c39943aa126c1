package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Renderers print views as a table for people or as JSON for scripts. They take the time
// to measure "ago" and "in" against, so that their output is a pure function of the view.

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

const timeLayout = "2006-01-02 15:04:05"

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// ago is "5m ago" or "in 5m" relative to now.
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > time.Second:
		return "in " + short(d)
	case d < -time.Second:
		return short(-d) + " ago"
	}
	return "now"
}

// short rounds a duration to what a person reads: 45s, 3m20s, 2h5m, 3d4h.
func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		if s := d % time.Minute; s != 0 {
			return fmt.Sprintf("%dm%ds", d/time.Minute, s/time.Second)
		}
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		if m := d % time.Hour; m != 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, m/time.Minute)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

// Bar is a progress bar of the candidate's weight: [█████░░░░░░░░░░░░░░░]  25%.
func Bar(weight int) string {
	const width = 20
	weight = max(0, min(100, weight))
	filled := weight * width / 100
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("█", filled), strings.Repeat("░", width-filled), weight)
}

// shortActor drops the partition, service and account of an STS identity ARN
// ("operator:arn:aws:sts::123456789012:assumed-role/Oncall/erin" reads
// "operator:assumed-role/Oncall/erin"): a table names people, the JSON keeps the whole ARN.
func shortActor(a string) string {
	if a == "" {
		return "-"
	}
	i := strings.Index(a, "arn:")
	if i < 0 {
		return a
	}
	if parts := strings.SplitN(a[i:], ":", 6); len(parts) == 6 {
		return a[:i] + parts[5]
	}
	return a
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func target(v RolloutView) string { return v.StateMachine + ":" + v.Alias }

func describePolicy(p rollout.Policy) string {
	var b strings.Builder
	b.WriteString(string(p.Strategy))
	switch p.Strategy {
	case rollout.Canary:
		fmt.Fprintf(&b, " %d%% for %s", p.Percentage, p.Interval)
	case rollout.Linear:
		fmt.Fprintf(&b, " %d%% every %s", p.Percentage, p.Interval)
	case rollout.Exponential:
		fmt.Fprintf(&b, " from %d%% ×%g every %s", p.Percentage, p.GrowthFactor, p.Interval)
	case rollout.Custom:
		steps := make([]string, len(p.Steps))
		for i, st := range p.Steps {
			steps[i] = st.String()
		}
		b.WriteString(" " + strings.Join(steps, " "))
	case rollout.BlueGreen:
		if p.Interval > 0 {
			fmt.Fprintf(&b, " test for %s", p.Interval)
		}
		if p.Approval {
			b.WriteString(", then approval")
		}
	}
	if p.BakeTime > 0 {
		fmt.Fprintf(&b, ", bake %s", p.BakeTime)
	}
	if len(p.Alarms) > 0 {
		fmt.Fprintf(&b, ", alarms %s", strings.Join(p.Alarms, " "))
	}
	if p.MaxFailureRate > 0 {
		fmt.Fprintf(&b, ", max failure rate %g%% of at least %d", p.MaxFailureRate, p.MinExecutions)
	}
	return b.String()
}

// writeFields prints "Label:  value" lines, aligned.
func writeFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}

func weightsLine(v RolloutView) string {
	if v.CandidateVersion == "" {
		return "" // refused or queued before a candidate was published
	}
	return fmt.Sprintf("%s  %s, stable %s %d%%", Bar(v.Weights.Candidate), versionLabel(v.CandidateVersion), versionLabel(v.StableVersion), v.Weights.Stable)
}

func stepLine(v RolloutView, current string) string {
	if v.Steps == 0 || v.CandidateVersion == "" {
		return ""
	}
	s := fmt.Sprintf("%d/%d", v.Step, v.Steps)
	if current != "" {
		s += "  " + current
	}
	return s
}

func deployedLine(v RolloutView) string {
	s := clock(v.CreatedAt) + " by " + shortActor(v.Actor)
	if v.Source != "" {
		s += " from " + v.Source
	}
	return s
}

func finishedLine(v RolloutView) string {
	if v.FinishedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s (%s after the upload)", clock(v.FinishedAt), short(v.FinishedAt.Sub(v.CreatedAt)))
}

func phaseLine(v RolloutView) string {
	s := string(v.Phase)
	if v.PauseKind != "" {
		s += " (" + v.PauseKind + ")"
	}
	if v.Error != "" {
		s += " (" + v.Error + ")"
	}
	return s
}

// RenderStatus prints one rollout's status.
func RenderStatus(w io.Writer, v StatusView) error {
	var alarms []string
	for _, a := range v.Alarms {
		alarms = append(alarms, a.Name+" "+string(a.State))
	}
	var routing []string
	for _, r := range v.Routing {
		routing = append(routing, fmt.Sprintf("%s %d%%", versionLabel(r.Version), r.Weight))
	}
	next := v.NextStep
	if !v.NextStepAt.IsZero() {
		next = fmt.Sprintf("%s (%s): %s", clock(v.NextStepAt), relative(v.NextStepAt, v.Now), v.NextStep)
	}
	execs := ""
	if c := v.Candidate; c != nil {
		execs = fmt.Sprintf("%s: %d started, %d ended, %d failed (%.1f%% of ended)", versionLabel(v.CandidateVersion), c.Started, c.Closed, c.Failed, c.FailureRate)
		if c.Source != "" {
			execs += ", counted by " + c.Source + " (the metrics had none)"
		}
	}
	alarmLine := strings.Join(alarms, ", ")
	if len(v.Alarms) == 0 {
		alarmLine = "none in the policy"
	}
	return writeFields(w, [][2]string{
		{"Rollout", v.RolloutID},
		{"Target", target(v.RolloutView)},
		{"Phase", phaseLine(v.RolloutView)},
		{"Strategy", v.Strategy},
		{"Step", stepLine(v.RolloutView, v.CurrentStep)},
		{"Candidate", weightsLine(v.RolloutView)},
		{"Alias routes", strings.Join(routing, ", ")},
		{"Next", next},
		{"Alarms", alarmLine},
		{"Executions", execs},
		{"Reason", v.Reason},
		{"Deployed", deployedLine(v.RolloutView)},
		{"Finished", finishedLine(v.RolloutView)},
	})
}

// RenderStatuses prints several rollouts' status, a blank line apart.
func RenderStatuses(w io.Writer, views []StatusView) error {
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no active rollouts")
		return err
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := RenderStatus(w, v); err != nil {
			return err
		}
	}
	return nil
}

// RenderList prints rollouts one a line, newest first as given.
func RenderList(w io.Writer, views []RolloutView, now time.Time) error {
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no rollouts")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLLOUT\tTARGET\tPHASE\tVERSIONS\tCANDIDATE\tSTEP\tACTOR\tCREATED\tREASON")
	for _, v := range views {
		versions, weight, step := "-", "-", "-"
		if v.CandidateVersion != "" {
			versions = versionLabel(v.StableVersion) + "→" + versionLabel(v.CandidateVersion)
			weight = fmt.Sprintf("%d%%", v.Weights.Candidate)
			step = fmt.Sprintf("%d/%d", v.Step, v.Steps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.RolloutID, target(v), phaseLine(v), versions, weight, step,
			truncate(shortActor(v.Actor), 24), relative(v.CreatedAt, now), truncate(v.Reason, 70))
	}
	return tw.Flush()
}

// RenderShow prints a rollout with its policy, steps and audit trail.
func RenderShow(w io.Writer, v ShowView) error {
	if err := writeFields(w, [][2]string{
		{"Rollout", v.RolloutID},
		{"Target", target(v.RolloutView)},
		{"Phase", phaseLine(v.RolloutView)},
		{"Candidate", weightsLine(v.RolloutView)},
		{"Stable", v.StableVersion},
		{"Candidate ARN", v.CandidateVersion},
		{"Policy", describePolicy(v.Policy)},
		{"Policy hash", v.PolicyHash},
		{"Steps", strings.Join(v.StepList, " ")},
		{"Step", stepLine(v.RolloutView, "")},
		{"Reason", v.Reason},
		{"Deployed", deployedLine(v.RolloutView)},
		{"Finished", finishedLine(v.RolloutView)},
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(v.Events) == 0 {
		_, err := fmt.Fprintln(w, "no audit events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tPHASE\tSTEP\tCANDIDATE\tREASON")
	for _, e := range v.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d%%\t%s\n", e.Seq, clock(e.Time), shortActor(e.Actor), e.Action, e.Phase, e.StepIndex, e.CandidateWeight, e.Reason)
	}
	return tw.Flush()
}

// RenderDeploy prints the rollout an upload started.
func RenderDeploy(w io.Writer, v DeployView) error {
	line := fmt.Sprintf("rollout %s on %s: %s", v.RolloutID, target(v.RolloutView), phaseLine(v.RolloutView))
	if v.CandidateVersion != "" {
		line += fmt.Sprintf(", candidate %s over stable %s, %s in %d steps", versionLabel(v.CandidateVersion), versionLabel(v.StableVersion), v.Strategy, v.Steps)
	}
	if v.Reason != "" {
		line += ": " + v.Reason
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// RenderControl prints a rollout after an operator's command.
func RenderControl(w io.Writer, v ControlView) error {
	_, err := fmt.Fprintf(w, "%s %s: %s, candidate %s %d%%, stable %s %d%%: %s\n", v.Command, v.RolloutID, phaseLine(v.RolloutView),
		versionLabel(v.CandidateVersion), v.Weights.Candidate, versionLabel(v.StableVersion), v.Weights.Stable, v.Reason)
	return err
}

// RenderVersions prints a state machine's versions, newest first.
func RenderVersions(w io.Writer, views []VersionView) error {
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no versions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCREATED\tALIASES\tSUCCEEDED\tFAILED\tRUNNING\tOTHER\tDESCRIPTION")
	for _, v := range views {
		var aliases []string
		for _, a := range v.Aliases {
			aliases = append(aliases, fmt.Sprintf("%s %d%%", a.Alias, a.Weight))
		}
		alias := strings.Join(aliases, ", ")
		if alias == "" {
			alias = "-"
		}
		other := 0
		for status, n := range v.Executions {
			switch status {
			case "SUCCEEDED", "FAILED", "RUNNING":
			default:
				other += n
			}
		}
		more := ""
		if v.More {
			more = "+"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d%s\t%d%s\t%d%s\t%d%s\t%s\n", versionLabel(v.Version), clock(v.Created), alias,
			v.Executions["SUCCEEDED"], more, v.Executions["FAILED"], more, v.Executions["RUNNING"], more, other, more, truncate(v.Description, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(views) > 0 && views[0].Source == SourceMetrics {
		// Every version of one state machine has its type.
		_, err := fmt.Fprintln(w, "executions counted from AWS/States metrics (an Express state machine: Step Functions does not list its executions), since each version was published, at most 15 days back")
		return err
	}
	return nil
}

// RenderGC prints what gc deleted or would delete.
func RenderGC(w io.Writer, v GCView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tACTION")
	deleted := "deleted"
	if v.DryRun {
		deleted = "would delete"
	}
	for _, group := range []struct {
		versions []string
		action   string
	}{{v.InUse, "in use"}, {v.Kept, "kept (newest " + fmt.Sprint(v.Keep) + ")"}, {v.Deleted, deleted}, {v.Refused, "refused by Step Functions (an alias routes to it)"}} {
		for _, ver := range group.versions {
			fmt.Fprintf(tw, "%s\t%s\n", versionLabel(ver), group.action)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := "deleted"
	if v.DryRun {
		verb = "would delete"
	}
	_, err := fmt.Fprintf(w, "%s: %s %d of %d versions\n", v.StateMachine, verb, len(v.Deleted), len(v.Deleted)+len(v.Kept)+len(v.InUse)+len(v.Refused))
	return err
}

// RenderExplain prints a policy's steps with when each starts.
func RenderExplain(w io.Writer, v ExplainView) error {
	fmt.Fprintf(w, "%s\n\n", describePolicy(v.Policy))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tACTION\tCANDIDATE\tSTARTS AT")
	for _, s := range v.Steps {
		step := "-"
		if s.Step > 0 {
			step = fmt.Sprint(s.Step)
		}
		action := s.Action
		if s.WaitsForever {
			action += " (waits for approve)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d%%\t%s\n", step, action, s.CandidateWeight, s.StartsAt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	planned := "planned duration " + v.PlannedDuration + ", from the first tick"
	if v.WaitsForApproval {
		planned += ", plus the wait for approval"
	}
	_, err := fmt.Fprintf(w, "\n%s; the controller ticks once a minute, so each hold ends at the tick after it\n", planned)
	return err
}
