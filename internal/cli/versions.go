package cli

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// maxCounted is how many executions of a version are counted (one ListExecutions page).
const maxCounted = 1000

func newVersions(a *app) *cobra.Command {
	var counts bool
	cmd := &cobra.Command{
		Use:   "versions <state-machine>",
		Short: "A state machine's versions: description, created, the aliases that route to each, executions",
		Long: `Lists the published versions of a state machine, newest first, with their description, when
each was created, which aliases route to it at which weight, and its executions by status (up
to 1000 a version are counted; "+" marks more).`,
		Example: `  sfn-rollout versions orders
  sfn-rollout versions orders -o json | jq '.[] | select(.aliases == [])'`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			views, err := a.versions(ctx, argv[0], counts)
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), views)
			}
			return RenderVersions(cmd.OutOrStdout(), views)
		},
	}
	cmd.Flags().BoolVar(&counts, "executions", true, "count each version's executions")
	return cmd
}

func (a *app) versions(ctx context.Context, stateMachine string, counts bool) ([]VersionView, error) {
	arn, err := a.stateMachine(ctx, stateMachine)
	if err != nil {
		return nil, err
	}
	versions, err := a.machines().ListVersions(ctx, arn)
	if err != nil {
		return nil, err
	}
	routes, err := a.aliasRoutes(ctx, arn)
	if err != nil {
		return nil, err
	}
	views := make([]VersionView, 0, len(versions))
	for _, ver := range versions {
		v := VersionView{Version: ver.Arn, Number: versionNumber(ver.Arn), Created: ver.Created, Aliases: routes[ver.Arn], Executions: map[string]int{}}
		if v.Aliases == nil {
			v.Aliases = []AliasRouteView{}
		}
		d, err := a.sfn().DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(ver.Arn)})
		if err != nil {
			return nil, err
		}
		v.Description = aws.ToString(d.Description)
		switch {
		case counts && d.Type == types.StateMachineTypeExpress:
			if err := a.expressCounts(ctx, arn, ver, &v); err != nil {
				return nil, err
			}
		case counts:
			out, err := a.sfn().ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(ver.Arn), MaxResults: maxCounted})
			if err != nil {
				return nil, err
			}
			for _, x := range out.Executions {
				v.Executions[string(x.Status)]++
			}
			v.More = aws.ToString(out.NextToken) != ""
		}
		views = append(views, v)
	}
	sortVersions(views)
	return views, nil
}

// metricsRetention is how far back CloudWatch keeps AWS/States's one-minute data points.
const metricsRetention = 15 * 24 * time.Hour

// expressCounts counts an Express version's executions from its AWS/States metrics since
// it was published (at most the last 15 days): Step Functions does not list Express
// executions (ListExecutions answers StateMachineTypeNotSupported). RUNNING is started less
// closed, which best-effort metrics may leave off by a few.
func (a *app) expressCounts(ctx context.Context, stateMachineArn string, ver controller.Version, v *VersionView) error {
	to := a.now()
	from := ver.Created
	if oldest := to.Add(-metricsRetention); from.Before(oldest) {
		from = oldest
	}
	n, err := a.metrics().VersionCounts(ctx, controller.CountsQuery{StateMachineArn: stateMachineArn, VersionArn: ver.Arn, From: from, To: to, Express: true})
	if err != nil {
		return err
	}
	for status, count := range map[string]int64{
		"SUCCEEDED": n.Succeeded,
		"FAILED":    n.Failed - n.TimedOut - n.Aborted,
		"TIMED_OUT": n.TimedOut,
		"ABORTED":   n.Aborted,
		"RUNNING":   max(0, n.Started-n.Closed),
	} {
		if count > 0 {
			v.Executions[status] = int(count)
		}
	}
	v.Source = SourceMetrics
	return nil
}

func sortVersions(views []VersionView) {
	sort.SliceStable(views, func(i, j int) bool { return views[i].Number > views[j].Number })
}

// aliasRoutes says which aliases route to each version, at which weight.
func (a *app) aliasRoutes(ctx context.Context, stateMachineArn string) (map[string][]AliasRouteView, error) {
	aliases, err := a.aliases().List(ctx, stateMachineArn)
	if err != nil {
		return nil, err
	}
	routes := map[string][]AliasRouteView{}
	for _, al := range aliases {
		for _, r := range al.Routing {
			routes[r.VersionArn] = append(routes[r.VersionArn], AliasRouteView{Alias: al.Name, Weight: r.Weight})
		}
	}
	return routes, nil
}

func newGC(a *app) *cobra.Command {
	var keep int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc <state-machine> --keep N",
		Short: "Delete old versions that no alias routes to, beyond the newest N",
		Long: `Deletes the state machine's versions that no alias routes to and no active rollout uses,
keeping the newest N of them, as the controller's finalize does with keepVersions.
--dry-run lists what would be deleted.`,
		Example: `  sfn-rollout gc orders --keep 5 --dry-run
  sfn-rollout gc orders --keep 5`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if keep < 0 {
				return usagef("--keep %d: want 0 or more", keep)
			}
			ctx := cmd.Context()
			if err := a.connect(ctx); err != nil {
				return err
			}
			v, err := a.gc(ctx, argv[0], keep, dryRun)
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return RenderGC(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 10, "unreferenced versions to keep, newest first")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted; delete nothing")
	return cmd
}

func (a *app) gc(ctx context.Context, stateMachine string, keep int, dryRun bool) (GCView, error) {
	v := GCView{StateMachine: stateMachine, Keep: keep, DryRun: dryRun, Deleted: []string{}, Kept: []string{}, InUse: []string{}, Refused: []string{}}
	store, err := a.rollouts()
	if err != nil {
		return v, err
	}
	arn, err := a.stateMachine(ctx, stateMachine)
	if err != nil {
		return v, err
	}
	versions, err := a.machines().ListVersions(ctx, arn)
	if err != nil {
		return v, err
	}
	routes, err := a.aliasRoutes(ctx, arn)
	if err != nil {
		return v, err
	}
	// A candidate routes nothing while its pre-traffic tests run: an active rollout's
	// versions are in use whatever the aliases say.
	active, err := store.ListActive(ctx)
	if err != nil {
		return v, err
	}
	inUse := map[string]bool{}
	for version := range routes {
		inUse[version] = true
	}
	for _, r := range active {
		if r.StateMachineArn == arn {
			inUse[r.StableVersionArn], inUse[r.CandidateVersionArn] = true, true
		}
	}
	sort.SliceStable(versions, func(i, j int) bool {
		if !versions[i].Created.Equal(versions[j].Created) {
			return versions[i].Created.After(versions[j].Created)
		}
		return versionNumber(versions[i].Arn) > versionNumber(versions[j].Arn)
	})
	for _, ver := range versions {
		switch {
		case inUse[ver.Arn]:
			v.InUse = append(v.InUse, ver.Arn)
		case len(v.Kept) < keep:
			v.Kept = append(v.Kept, ver.Arn)
		case dryRun:
			v.Deleted = append(v.Deleted, ver.Arn)
		default:
			err := a.machines().DeleteVersion(ctx, ver.Arn)
			switch {
			case errors.Is(err, controller.ErrConflict):
				v.Refused = append(v.Refused, ver.Arn)
			case err != nil:
				return v, err
			default:
				v.Deleted = append(v.Deleted, ver.Arn)
			}
		}
	}
	return v, nil
}
