package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Continuations (docs/architecture.md, "Write budget"). In a storm of rollbacks the alias
// updates go one a second, in turns (budget.Reserve). A rollback writer whose turn lies
// further away than it waits (HandOverBeyond) keeps the turn and hands it to a continuation
// of itself: a one-time schedule shortly before the turn, which invokes the rollback
// function with a Continuation. So every turn of the line has a live writer, which writes
// without reading the alias, as the rollback's first writer would have; repairs by the sweep
// and Finalize (which read the alias first) are left for writers that died.

// HandOverBeyond is how far away a rollback writer's turn may be for it to wait in its own
// invocation; a farther turn is handed to a continuation. EventBridge Scheduler fires a
// one-time schedule within the minute it names (60-second precision), so a continuation
// waits up to two minutes for its turn whatever this is: waiting longer in the invocation
// would only hold a slot of the function's reserved concurrency for nothing.
// 150 s leaves the schedule's minute (continuationLead before the turn, truncated to the
// minute) at least 20 s ahead of the handing-over invocation.
const HandOverBeyond = 150 * time.Second

// continuationLead is how long before its turn a continuation's schedule names: the
// schedule fires within the minute after the time it names, and the invocation takes a
// moment to start, so it is there by the turn.
const continuationLead = 70 * time.Second

// continuationGrace is how long after its turn a continuation still counts as the
// rollback's writer (WriterUntil): Scheduler's minute, Lambda's start, the write window. If
// it has not written by then (its schedule never fired, or fired late), the sweep and
// Finalize repair the rollback as for any writer that died.
const continuationGrace = 2 * time.Minute

// errHandedOver says that a rollback's alias write was handed to a continuation (or that,
// when it was to be handed over, nothing was left to write): the writer is done.
var errHandedOver = errors.New("the alias write is handed to a continuation")

// Continuation is the rollback function's input from a continuation schedule: the rollout
// whose rollback is to be written, at its turn of the alias-update bucket.
type Continuation struct {
	RolloutID string    `json:"rolloutId"`
	TurnAt    time.Time `json:"turnAt"`
}

// isContinuation reports whether the rollback function's input is a Continuation (an
// object with rolloutId) rather than an EventBridge event.
func isContinuation(raw json.RawMessage) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return false
	}
	_, ok := fields["rolloutId"]
	return ok
}

// DecodeContinuation reads a Continuation strictly: an unknown field, a missing rollout or
// turn is InvalidEvent.
func DecodeContinuation(raw []byte) (Continuation, error) {
	var in Continuation
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, wrapf(EInvalidEvent, err, "decode continuation")
	}
	if in.RolloutID == "" || in.TurnAt.IsZero() {
		return in, Errorf(EInvalidEvent, "continuation without rolloutId or turnAt")
	}
	return in, nil
}

// handOver hands r's rollback write, whose turn of the alias-update bucket is at turn, to a
// continuation: it creates the continuation's schedule, then records the turn on the
// rollout (HandedTurn) with WriterUntil past it, so that the sweep and Finalize leave the
// write to it. The schedule comes first: a continuation that finds no turn of its own on
// the record does nothing, so a crash between the two costs the turn (one second of the
// line, once) and never a second write. On any failure the turn is given back and the
// error returned: the rollback is left to its next attempt, as before continuations.
func (c *Controller) handOver(ctx context.Context, r rollout.Rollout, turn time.Time) error {
	log := c.logFor(r)
	if err := c.scheduleContinuation(ctx, r.ID, turn); err != nil {
		c.giveTurnBack(ctx)
		log.WarnContext(ctx, "hand the rollback's turn over", "turn_at", turn, "err", err)
		return handOverFailed(turn, err)
	}
	if _, err := c.recordHandOver(ctx, r.ID, turn); err != nil {
		// The schedule fires and finds no turn of its own: it does nothing.
		c.giveTurnBack(ctx)
		if errors.Is(err, errNoLongerNeeded) {
			// Written or confirmed meanwhile (another writer, a read that found the
			// intent), or the alias is being given up: nothing is left to hand over.
			log.InfoContext(ctx, "rollback's turn given back: nothing left to write", "turn_at", turn)
			return errHandedOver
		}
		log.WarnContext(ctx, "record the rollback's handed turn", "turn_at", turn, "err", err)
		return handOverFailed(turn, err)
	}
	log.InfoContext(ctx, "rollback's turn handed to a continuation", "turn_at", turn)
	return errHandedOver
}

// handOverFailed is the error of a turn that could not be handed over, and was given back:
// out of reach as a turn the writer gave back before continuations (budget.ErrExhausted),
// so that the writer stops there and leaves the rollback to its next attempt.
func handOverFailed(turn time.Time, err error) error {
	return fmt.Errorf("hand the turn at %s over: %w: %w", turn.Format(time.RFC3339), budget.ErrExhausted, err)
}

// scheduleContinuation creates the one-time schedule of the continuation of id's rollback
// at turn. One that exists already is the same continuation (a retried invocation).
func (c *Controller) scheduleContinuation(ctx context.Context, id string, turn time.Time) error {
	input, err := json.Marshal(Continuation{RolloutID: id, TurnAt: turn.UTC()})
	if err != nil {
		return wrapf(EInternal, err, "encode continuation")
	}
	fireAt := turn.Add(-continuationLead).UTC().Truncate(time.Minute)
	return c.Schedules.Create(ctx, Schedule{
		Name:                  topology.ContinuationScheduleName(id, turn),
		Expression:            "at(" + fireAt.Format("2006-01-02T15:04:05") + ")",
		Input:                 string(input),
		Target:                TargetRollback,
		DeleteAfterCompletion: true,
	})
}

// errNoLongerNeeded says that a rollout's rollback write is not needed any more: it landed,
// the rollout gives its alias up, or it is no rollback.
var errNoLongerNeeded = errors.New("the rollback's alias write is no longer needed")

// needsRollbackWrite reports whether r's rollback still has to be put on the alias.
func needsRollbackWrite(r rollout.Rollout) bool {
	return r.Phase.Terminal() && r.CandidateWeight == 0 && r.CandidateVersionArn != "" && !r.Confirmed() && r.FenceClosedAt.IsZero()
}

// recordHandOver saves turn as id's handed turn, with WriterUntil past it.
func (c *Controller) recordHandOver(ctx context.Context, id string, turn time.Time) (rollout.Rollout, error) {
	return c.editRollout(ctx, id, func(r *rollout.Rollout) error {
		if !needsRollbackWrite(*r) {
			return errNoLongerNeeded
		}
		r.HandedTurn, r.WriterUntil = turn, turn.Add(continuationGrace)
		return nil
	})
}

// editRollout reads id's record, lets edit change it, and saves it, again on a lost race.
func (c *Controller) editRollout(ctx context.Context, id string, edit func(*rollout.Rollout) error) (rollout.Rollout, error) {
	for range maxAttempts {
		r, err := c.Rollouts.GetRollout(ctx, id)
		if err != nil {
			return r, c.notFound(id, err)
		}
		if err := edit(&r); err != nil {
			return r, err
		}
		saved, err := c.Rollouts.SaveRollout(ctx, r)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return r, transient(fmt.Errorf("save rollout %s: %w", id, err))
		}
		return saved, nil
	}
	return rollout.Rollout{}, Errorf(ETransient, "rollout %s: the record kept moving", id)
}

// errNotThisTurn says that a continuation found another turn than its own on the record:
// its schedule fired twice, or the turn was handed over again since.
var errNotThisTurn = errors.New("the record holds no turn of this continuation")

// Continue is a continuation of a rollback writer (Rollback's input from a continuation
// schedule). It claims its turn on the record (clears HandedTurn), so that a second firing
// of its schedule does nothing; then, if the rollout still needs its rollback written, it
// writes it at its turn, fenced as every alias write is; if the rollout moved on meanwhile
// (written by someone else, giving its alias up, its lock another rollout's), it gives the
// turn back and ends.
func (c *Controller) Continue(ctx context.Context, in Continuation) (Outcome, error) {
	ctx = budget.WithHandOver(budget.WithPriority(ctx, budget.Rollback), HandOverBeyond)
	ctx = withTokenSlot(ctx)
	defer c.giveBack(ctx) // a turn held and not used (a fence refused the write)
	r, err := c.claimTurn(ctx, in)
	switch {
	case errors.Is(err, errNotThisTurn), ErrorCode(err) == ERolloutNotFound:
		c.Log.InfoContext(ctx, "continuation: nothing to do", "rollout_id", in.RolloutID, "turn_at", in.TurnAt, "reason", err)
		return Outcome{RolloutID: in.RolloutID, Reason: err.Error()}, nil
	case err != nil:
		// The turn stays on the record: the invocation's retry claims it.
		return Outcome{RolloutID: in.RolloutID}, err
	}
	log := c.logFor(r)
	if !needsRollbackWrite(r) {
		c.giveTurnBack(ctx)
		c.releaseWriter(ctx, r)
		log.InfoContext(ctx, "continuation: the rollout moved on, turn given back", "turn_at", in.TurnAt, "phase", r.Phase, "confirmed", r.Confirmed())
		return Outcome{RolloutID: r.ID, Phase: r.Phase, Reason: errNoLongerNeeded.Error()}, nil
	}
	if err := c.useTurn(ctx, in.TurnAt); err != nil {
		c.giveTurnBack(ctx)
		c.releaseWriter(ctx, r)
		return Outcome{RolloutID: r.ID}, transient(fmt.Errorf("wait for the turn at %s: %w", in.TurnAt.Format(time.RFC3339), err))
	}
	applied, err := c.setAlias(ctx, r, 0)
	switch {
	case errors.Is(err, errHandedOver):
		return Outcome{RolloutID: r.ID, Phase: r.Phase, Reason: "throttled at its turn: handed over again"}, nil
	case ErrorCode(err) == ELockLost:
		c.releaseWriter(ctx, r)
		log.InfoContext(ctx, "continuation: fenced off, turn given back", "err", err)
		return Outcome{RolloutID: r.ID, Phase: r.Phase, Reason: err.Error()}, nil
	case err != nil:
		c.releaseWriter(ctx, r)
		return Outcome{RolloutID: r.ID}, err
	}
	if applied.Rev == r.Rev || sameRouting(applied.Routing(), r.Routing()) {
		applied = c.confirm(ctx, applied, true, "")
	}
	log.InfoContext(ctx, "continuation wrote the rollback", "turn_at", in.TurnAt)
	return Outcome{RolloutID: r.ID, Phase: applied.Phase, Reason: applied.Reason}, nil
}

// claimTurn marks in's turn claimed on its rollout's record (ClaimedTurn), and answers the
// record as saved; errNotThisTurn when the record holds another turn, none, or this one
// claimed already. The turn stays handed (HandedTurn) while the continuation waits for it,
// so that repairers and a repeated event still leave the write to it.
func (c *Controller) claimTurn(ctx context.Context, in Continuation) (rollout.Rollout, error) {
	return c.editRollout(ctx, in.RolloutID, func(r *rollout.Rollout) error {
		if !r.HandedTurn.Equal(in.TurnAt) || r.ClaimedTurn.Equal(in.TurnAt) {
			return errNotThisTurn
		}
		r.ClaimedTurn = in.TurnAt
		return nil
	})
}

// turnKeeper is the Aliases port of Budgeted: it waits for a turn a continuation was
// handed, and gives a turn back.
type turnKeeper interface {
	UseTurn(ctx context.Context, api budget.API, at time.Time) error
	GiveTurnBack(ctx context.Context, api budget.API)
}

// useTurn waits for the turn at and holds it in ctx's slot: the next alias update made with
// ctx uses it. Ports that are not budgeted wait for nothing.
func (c *Controller) useTurn(ctx context.Context, at time.Time) error {
	if k, ok := c.Aliases.(turnKeeper); ok {
		return k.UseTurn(ctx, budget.UpdateStateMachineAlias, at)
	}
	return nil
}

// giveTurnBack gives back a turn of the alias-update bucket kept for a continuation
// (budget.LateTurn) and not used.
func (c *Controller) giveTurnBack(ctx context.Context) {
	if k, ok := c.Aliases.(turnKeeper); ok {
		k.GiveTurnBack(ctx, budget.UpdateStateMachineAlias)
	}
}
