package rollout

import (
	"slices"
	"time"
)

// AppliedCommand is an operator's command that a rollout carried out, kept under its id
// with the answer it got: a retry of the same command (Lambda's retry of an asynchronous
// invocation, an operator's retry by hand) is answered alike and changes nothing.
type AppliedCommand struct {
	ID      string    `json:"id"`
	Command Command   `json:"command"`
	Actor   string    `json:"actor,omitempty"`
	At      time.Time `json:"at"`
	Phase   Phase     `json:"phase"`
	Weights Weights   `json:"weights"`
	Reason  string    `json:"reason,omitempty"`
}

// MaxAppliedCommands bounds Rollout.Commands: retries come within hours (Lambda gives up
// on an asynchronous invocation after six), and a rollout gets a handful of commands.
const MaxAppliedCommands = 20

// AppliedCommand returns the command this rollout applied under id, if it did.
func (r Rollout) AppliedCommand(id string) (AppliedCommand, bool) {
	for _, c := range r.Commands {
		if c.ID == id {
			return c, true
		}
	}
	return AppliedCommand{}, false
}

// WithCommand records an applied command, dropping the oldest beyond MaxAppliedCommands.
// It is saved in the same conditional write as the command's effect, so that "applied"
// and "effect" cannot be split by a crash.
func (r Rollout) WithCommand(c AppliedCommand) Rollout {
	cmds := append(slices.Clone(r.Commands), c)
	if n := len(cmds) - MaxAppliedCommands; n > 0 {
		cmds = cmds[n:]
	}
	r.Commands = cmds
	return r
}

// NotStarted reports whether the rollout is an upload that Prepare has not published yet:
// queued behind another rollout of its alias (onBusy=queue), or still in Prepare. Prepare
// sets both versions at once, so a record with only one of them is broken, not this.
func (r Rollout) NotStarted() bool {
	return r.Phase == Pending && r.StableVersionArn == "" && r.CandidateVersionArn == ""
}

// ApplyObserved is Apply with the alias's live routing (nil when it could not be read):
// a command that moves the alias takes the step before from the alias, not from the
// record. The two differ when the controller's own alias update failed after its record
// was saved; with the record's, a command that then fails to move the alias too would
// leave the alias two steps from the intent, which reads as drift. With the alias's, the
// alias still equals the step before, and the next tick repairs it.
func ApplyObserved(r Rollout, cmd Command, routing []Route, now time.Time) (Decision, error) {
	d, err := Apply(r, cmd, now)
	if err != nil || !d.SetAlias || routing == nil {
		return d, err
	}
	if live, ours := r.liveWeight(routing); ours {
		d.Next.PreviousWeight = live
	}
	return d, nil
}

// AliasIsOwn reports whether the observed alias is where the rollout put it: at its intent,
// or at a weight of its own that may still be landing (see Intents). Anything else was set
// by someone else.
func (r Rollout) AliasIsOwn(obs Observation) bool {
	live, ours := r.liveWeight(obs.Routing)
	return ours && (live == r.CandidateWeight || r.ownLag(live, obs))
}

// AliasLags reports whether the alias is exactly at the step before the intent: the
// controller's own alias update did not land, and setting the alias to the intent repairs it.
func (r Rollout) AliasLags(routing []Route) bool {
	live, ours := r.liveWeight(routing)
	return ours && live != r.CandidateWeight && live == r.PreviousWeight
}

// applyNotStarted answers a command on an upload that has not started: abort drops it
// (there is no traffic to move back); anything else is refused, pause included, since
// there is nothing to hold.
func applyNotStarted(r Rollout, cmd Command, now time.Time) (Decision, error) {
	if cmd == CommandAbort {
		d := Stop(r, Aborted, "aborted by an operator before it started", now)
		d.SetAlias = false
		return d, nil
	}
	where := "being prepared"
	if r.QueuedBehind != "" {
		where = "queued behind " + r.QueuedBehind
	}
	return Decision{}, &CommandError{Command: cmd, Phase: r.Phase, Msg: "rollout " + r.ID + " is " + where + ": it has not started; abort it to drop it"}
}
