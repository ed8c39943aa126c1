package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// rolloutIDPattern is controller.RolloutID's shape.
var rolloutIDPattern = regexp.MustCompile(`^r-[0-9a-f]{12}$`)

func newStatus(a *app) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status [<rollout-id> | <state-machine>[:<alias>]]",
		Short: "Show where a rollout stands: phase, step, weights, next step, alarms, the candidate's executions",
		Long: `Shows a rollout's phase, its step k of N, a bar of the candidate's weight, when the next step
is due, the state of the alarms it watches, and the candidate version's executions and failure
rate since traffic started. Given a state machine (and alias), shows its active rollout, or else
its latest one. Given nothing, shows every active rollout.

--watch redraws until the rollout ends. Exits 1 when the rollout shown rolled back, was aborted
or failed.`,
		Example: `  sfn-rollout status r-3f9a0c12d4e5
  sfn-rollout status orders:prod --watch
  sfn-rollout status -o json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(argv) == 0 {
				next := func(ctx context.Context) (frame, error) {
					views, err := a.activeStatuses(ctx)
					if err != nil {
						return frame{}, err
					}
					return a.statusesFrame(views), nil
				}
				return a.loop(ctx, out, watch, next)
			}
			r, err := a.findRollout(ctx, argv[0])
			if err != nil {
				return err
			}
			id := r.ID
			next := func(ctx context.Context) (frame, error) {
				if r.ID == "" {
					if r, err = a.rolloutByID(ctx, id); err != nil {
						return frame{}, err
					}
				}
				v, err := a.statusOf(ctx, r)
				r = rollout.Rollout{}
				if err != nil {
					return frame{}, err
				}
				return a.statusFrame(v), nil
			}
			return a.loop(ctx, out, watch, next)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw until the rollout ends")
	return cmd
}

func newList(a *app) *cobra.Command {
	var active bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rollouts: who deployed what, when, and how it ended",
		Long: `Lists rollouts newest first, across every state machine: the rollout id, the state machine and
alias, the phase, the stable and candidate versions, the candidate's weight, who uploaded it,
when, and the reason of its last decision. --active lists only the rollouts that have not ended.`,
		Example: `  sfn-rollout list --active
  sfn-rollout list --limit 50 -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			store, err := a.rollouts()
			if err != nil {
				return err
			}
			var records []rollout.Rollout
			if active {
				records, err = store.ListActive(ctx)
			} else {
				records, err = a.allRollouts(ctx, limit)
			}
			if err != nil {
				return err
			}
			sortNewestFirst(records)
			if limit > 0 && len(records) > limit {
				records = records[:limit]
			}
			return a.printRollouts(cmd.OutOrStdout(), records)
		},
	}
	cmd.Flags().BoolVar(&active, "active", false, "only rollouts that have not ended")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many rollouts (0: all)")
	return cmd
}

func newHistory(a *app) *cobra.Command {
	var alias string
	var limit int
	cmd := &cobra.Command{
		Use:   "history <state-machine>",
		Short: "A state machine's rollouts, newest first: who deployed what and why it ended as it did",
		Example: `  sfn-rollout history orders
  sfn-rollout history orders --alias prod --limit 5 -o json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			store, err := a.rollouts()
			if err != nil {
				return err
			}
			arn, err := a.stateMachine(ctx, argv[0])
			if err != nil {
				return err
			}
			records, err := store.History(ctx, arn, 0)
			if err != nil {
				return err
			}
			var kept []rollout.Rollout
			for _, r := range records {
				if alias == "" || r.AliasName == alias {
					kept = append(kept, r)
				}
			}
			if limit > 0 && len(kept) > limit {
				kept = kept[:limit]
			}
			return a.printRollouts(cmd.OutOrStdout(), kept)
		},
	}
	cmd.Flags().StringVar(&alias, "alias", "", "only rollouts of this alias")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many rollouts (0: all)")
	return cmd
}

func newShow(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show <rollout-id>",
		Short: "A rollout with its policy, steps and full audit trail",
		Long: `Shows a rollout's record — target, versions, policy and its hash, the expanded steps, phase and
reason — and its whole audit trail: every weight change, pause, approval, alarm and rollback,
with the actor and the time.`,
		Example: `  sfn-rollout show r-3f9a0c12d4e5
  sfn-rollout show r-3f9a0c12d4e5 -o json | jq '.events[] | select(.actor | startswith("operator:"))'`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			r, err := a.rolloutByID(ctx, argv[0])
			if err != nil {
				return err
			}
			store, _ := a.rollouts()
			events, err := store.ListEvents(ctx, r.ID)
			if err != nil {
				return err
			}
			v := NewShowView(r, events)
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return RenderShow(cmd.OutOrStdout(), v)
		},
	}
}

func (a *app) printRollouts(w io.Writer, records []rollout.Rollout) error {
	views := make([]RolloutView, 0, len(records))
	for _, r := range records {
		views = append(views, NewRolloutView(r))
	}
	if a.json() {
		return writeJSON(w, views)
	}
	return RenderList(w, views, a.now())
}

func sortNewestFirst(records []rollout.Rollout) {
	sort.SliceStable(records, func(i, j int) bool { return records[i].CreatedAt.After(records[j].CreatedAt) })
}

// allRollouts reads the newest rollouts of every state machine: the table has a history
// index per state machine and none across them.
func (a *app) allRollouts(ctx context.Context, limit int) ([]rollout.Rollout, error) {
	store, err := a.rollouts()
	if err != nil {
		return nil, err
	}
	arns, err := a.stateMachines(ctx)
	if err != nil {
		return nil, err
	}
	var all []rollout.Rollout
	for _, arn := range arns {
		records, err := store.History(ctx, arn, limit)
		if err != nil {
			return nil, err
		}
		all = append(all, records...)
	}
	return all, nil
}

// rolloutByID reads a record; an id with no record is the caller's mistake.
func (a *app) rolloutByID(ctx context.Context, id string) (rollout.Rollout, error) {
	if !rolloutIDPattern.MatchString(id) {
		return rollout.Rollout{}, usagef("%q is not a rollout id (r- and 12 hex digits, as deploy and list print)", id)
	}
	store, err := a.rollouts()
	if err != nil {
		return rollout.Rollout{}, err
	}
	r, err := store.GetRollout(ctx, id)
	if errors.Is(err, controller.ErrNotFound) {
		return r, usagef("no rollout %s", id)
	}
	return r, err
}

// findRollout reads a rollout by id, or the active (else latest) rollout of
// <state-machine>[:<alias>].
func (a *app) findRollout(ctx context.Context, arg string) (rollout.Rollout, error) {
	if rolloutIDPattern.MatchString(arg) {
		return a.rolloutByID(ctx, arg)
	}
	sm, alias := splitTarget(arg)
	store, err := a.rollouts()
	if err != nil {
		return rollout.Rollout{}, err
	}
	arn, err := a.stateMachine(ctx, sm)
	if err != nil {
		return rollout.Rollout{}, err
	}
	active, err := store.ListActive(ctx)
	if err != nil {
		return rollout.Rollout{}, err
	}
	sortNewestFirst(active)
	for _, r := range active {
		if r.StateMachineArn == arn && (alias == "" || r.AliasName == alias) {
			return r, nil
		}
	}
	history, err := store.History(ctx, arn, 0)
	if err != nil {
		return rollout.Rollout{}, err
	}
	for _, r := range history {
		if alias == "" || r.AliasName == alias {
			return r, nil
		}
	}
	return rollout.Rollout{}, fmt.Errorf("%s has no rollouts", arg)
}

// splitTarget reads "orders", "orders:prod" or a state machine or alias ARN.
func splitTarget(arg string) (stateMachine, alias string) {
	if strings.HasPrefix(arg, "arn:") {
		parts := strings.Split(arg, ":")
		if len(parts) == 8 {
			return strings.Join(parts[:7], ":"), parts[7]
		}
		return arg, ""
	}
	stateMachine, alias, _ = strings.Cut(arg, ":")
	return stateMachine, alias
}

// statusOf adds what the world looks like now to a record.
func (a *app) statusOf(ctx context.Context, r rollout.Rollout) (StatusView, error) {
	now := a.now()
	var routing []rollout.Route
	if r.AliasArn != "" {
		alias, err := a.aliases().Describe(ctx, r.AliasArn)
		if err != nil && !errors.Is(err, controller.ErrNotFound) {
			return StatusView{}, err
		}
		routing = alias.Routing
	}
	var states map[string]rollout.AlarmState
	if len(r.Policy.Alarms) > 0 {
		var err error
		if states, err = a.alarms().States(ctx, r.Policy.Alarms); err != nil {
			return StatusView{}, err
		}
	}
	var exec *ExecutionsView
	if r.CandidateVersionArn != "" && !r.TrafficStartedAt.IsZero() {
		to := now
		if !r.FinishedAt.IsZero() {
			to = r.FinishedAt
		}
		n, err := a.metrics().VersionCounts(ctx, controller.CountsQuery{StateMachineArn: r.StateMachineArn, VersionArn: r.CandidateVersionArn, From: r.TrafficStartedAt, To: to, Form: r.MetricsForm, Express: r.Express()})
		if err != nil {
			return StatusView{}, err
		}
		exec = &ExecutionsView{Started: n.Started, Closed: n.Closed, Failed: n.Failed, DimensionForm: string(n.Form)}
		if n.FromExecutions {
			exec.Source = "ListExecutions"
		}
		if n.Closed > 0 {
			exec.FailureRate = math.Round(float64(n.Failed)*1000/float64(n.Closed)) / 10
		}
	}
	v := NewStatusView(r, routing, states, exec, now)
	if r.NotStarted() {
		if err := a.queuedStatus(ctx, r, &v); err != nil {
			return StatusView{}, err
		}
	}
	return v, nil
}

// queuedStatus adds, for an upload waiting for its alias, whom it waits behind and its
// place in the queue; an upload not in the queue is being prepared.
func (a *app) queuedStatus(ctx context.Context, r rollout.Rollout, v *StatusView) error {
	store, err := a.rollouts()
	if err != nil {
		return err
	}
	queue, err := store.Queue(ctx, r.AliasArn)
	if err != nil {
		return err
	}
	for i, q := range queue {
		if q.RolloutID != r.ID {
			continue
		}
		holder, err := store.LockHolder(ctx, r.AliasArn)
		if err != nil {
			return err
		}
		if holder == "" {
			holder = r.QueuedBehind // released a moment ago: its turn is coming
		}
		v.Queued(holder, i+1)
		return nil
	}
	return nil
}

func (a *app) activeStatuses(ctx context.Context) ([]StatusView, error) {
	store, err := a.rollouts()
	if err != nil {
		return nil, err
	}
	active, err := store.ListActive(ctx)
	if err != nil {
		return nil, err
	}
	views := make([]StatusView, 0, len(active))
	for _, r := range active {
		v, err := a.statusOf(ctx, r)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// frame is one drawing of a watched view.
type frame struct {
	text string
	key  string // what, when it changes, is worth a new frame on a terminal-less output
	done bool   // nothing more will change
	err  error  // what the command answers once done (a rollout that failed)
}

func statusKey(v StatusView) string {
	b, _ := json.Marshal([]any{v.RolloutID, v.Phase, v.PauseKind, v.Step, v.Weights, v.Routing, v.Alarms, v.Reason})
	return string(b)
}

func (a *app) statusFrame(v StatusView) frame {
	f := frame{key: statusKey(v), done: v.Phase.Terminal()}
	var b strings.Builder
	if a.json() {
		_ = writeJSON(&b, v)
	} else {
		_ = RenderStatus(&b, v)
	}
	f.text = b.String()
	if v.Failed() {
		f.err = fmt.Errorf("rollout %s %s: %s", v.RolloutID, phaseLine(v.RolloutView), v.Reason)
	}
	return f
}

func (a *app) statusesFrame(views []StatusView) frame {
	f := frame{done: len(views) == 0}
	var b strings.Builder
	if a.json() {
		_ = writeJSON(&b, views)
	} else {
		_ = RenderStatuses(&b, views)
	}
	for _, v := range views {
		f.key += statusKey(v)
	}
	f.text = b.String()
	return f
}

// loop draws frames until one is done (or once, without watch). On a terminal each frame
// replaces the last in place (ANSI cursor home and clear); elsewhere a frame is printed when
// what it shows has changed, so that a log holds every step once.
func (a *app) loop(ctx context.Context, w io.Writer, watch bool, next func(context.Context) (frame, error)) error {
	tty := isTerminal(w)
	lastKey := ""
	for {
		f, err := next(ctx)
		if err != nil {
			return interrupted(ctx, err)
		}
		switch {
		case tty && watch:
			// Home and clear, rather than up by the frame's lines: a line the terminal
			// wrapped would throw the count off.
			io.WriteString(w, "\x1b[H\x1b[J"+f.text)
		case f.key != lastKey || !watch:
			if lastKey != "" && !a.json() {
				fmt.Fprintln(w)
			}
			io.WriteString(w, f.text)
		}
		lastKey = f.key
		if !watch || f.done {
			return f.err
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-time.After(a.pollEvery()):
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
