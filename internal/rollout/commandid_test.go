package rollout_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// A command that moves the alias takes the step before from the alias, when it is ours.
func TestApplyObservedTakesTheStepBeforeFromTheAlias(t *testing.T) {
	mid := atStep(newRollout(t, linearPolicy), 3, t0) // 50% (was 25%)
	tests := []struct {
		name         string
		cmd          rollout.Command
		routing      []rollout.Route
		wantWeight   int
		wantPrevious int
	}{
		{"alias at the intent", rollout.CommandPromote, routes(50), 75, 50},
		{"alias lags a step (a failed write)", rollout.CommandPromote, routes(25), 75, 25},
		{"alias not read", rollout.CommandPromote, nil, 75, 50},
		{"alias routes a foreign version", rollout.CommandPromote, []rollout.Route{{VersionArn: foreignArn, Weight: 100}}, 75, 50},
		{"abort from a lagging alias", rollout.CommandAbort, routes(25), 0, 25},
		{"pause does not move the alias", rollout.CommandPause, routes(25), 50, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := rollout.ApplyObserved(mid, tt.cmd, tt.routing, t0)
			if err != nil {
				t.Fatal(err)
			}
			if d.Next.CandidateWeight != tt.wantWeight || d.Next.PreviousWeight != tt.wantPrevious {
				t.Errorf("weight %d (previous %d), want %d (previous %d)", d.Next.CandidateWeight, d.Next.PreviousWeight, tt.wantWeight, tt.wantPrevious)
			}
			foreign := tt.routing != nil && tt.routing[0].VersionArn == foreignArn // a hand change: drift indeed
			if tt.routing != nil && !foreign && d.SetAlias && !d.Next.AliasLags(tt.routing) && !sameWeight(d.Next, tt.routing) {
				t.Errorf("the alias as read (%s) is neither the intent nor the step before of %d/%d: it would read as drift", rollout.DescribeRouting(tt.routing), d.Next.CandidateWeight, d.Next.PreviousWeight)
			}
		})
	}
}

func sameWeight(r rollout.Rollout, routing []rollout.Route) bool {
	return rollout.DescribeRouting(r.Routing()) == rollout.DescribeRouting(routing)
}

func TestAppliedCommandsAreBounded(t *testing.T) {
	r := newRollout(t, linearPolicy)
	for i := range rollout.MaxAppliedCommands + 5 {
		r = r.WithCommand(rollout.AppliedCommand{ID: fmt.Sprint("c", i), Command: rollout.CommandPause})
	}
	if len(r.Commands) != rollout.MaxAppliedCommands {
		t.Fatalf("%d commands kept, want %d", len(r.Commands), rollout.MaxAppliedCommands)
	}
	if _, ok := r.AppliedCommand("c0"); ok {
		t.Error("the oldest command is still kept")
	}
	if c, ok := r.AppliedCommand(fmt.Sprint("c", rollout.MaxAppliedCommands+4)); !ok || c.Command != rollout.CommandPause {
		t.Error("the newest command is not kept")
	}
	// WithCommand copies: a decision built on a record does not change the record's list.
	before := r.Commands[0]
	_ = r.WithCommand(rollout.AppliedCommand{ID: "other"})
	if r.Commands[0] != before {
		t.Error("WithCommand changed the record it was given")
	}
}

// An upload queued behind another rollout (no versions yet) can be aborted, and only that.
func TestApplyToAQueuedUpload(t *testing.T) {
	queued := with(newRollout(t, linearPolicy), func(r *rollout.Rollout) {
		r.StableVersionArn, r.CandidateVersionArn, r.QueuedBehind = "", "", "r-0123456789ab"
	})
	d, err := rollout.Apply(queued, rollout.CommandAbort, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Next.Phase != rollout.Aborted || d.SetAlias || d.Action != rollout.ActionRollback {
		t.Errorf("abort of a queued upload: %s %s SetAlias=%v, want Aborted, Rollback, no alias update", d.Action, d.Next.Phase, d.SetAlias)
	}
	for _, cmd := range []rollout.Command{rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote, rollout.CommandPromoteFull, rollout.CommandApprove} {
		_, err := rollout.Apply(queued, cmd, t0)
		var ce *rollout.CommandError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "queued behind r-0123456789ab: it has not started; abort it to drop it") {
			t.Errorf("%s of a queued upload: %v, want a CommandError naming what it waits behind", cmd, err)
		}
	}
}
