package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// Operators' commands go to the control function by a synchronous Lambda Invoke rather than
// as a "Rollout Control Request" event: the answer comes back in the same call, so a command
// the rollout's phase refuses (approve when nothing waits for approval) is reported here
// with exit code 1, and a command that was carried out is in effect when the CLI returns.
// An event would be accepted by PutEvents whatever became of it.

var controlHelp = map[string]struct{ short, long, example string }{
	"pause": {
		"Pause a rollout: the weights stay where they are until resume or promote",
		"Holds the rollout at its current weights. Alarms are still watched. resume goes on; promote skips the current step.",
		"  sfn-rollout pause r-3f9a0c12d4e5 --reason \"checking latency\"",
	},
	"resume": {
		"Resume a paused rollout (an operator's pause, a failure, drift or an edited policy)",
		"Leaves the pause and puts the alias back on the rollout's intent. A rollout waiting for approval needs approve (or promote).",
		"  sfn-rollout resume r-3f9a0c12d4e5",
	},
	"promote": {
		"Skip the current hold (or, with --full, go to 100% at once)",
		"Ends the current pause, analysis or approval and moves to the next weight now. --full moves the candidate to 100% at once (then bakes, if the policy has bake time); during the bake, ends it.",
		"  sfn-rollout promote r-3f9a0c12d4e5\n  sfn-rollout promote r-3f9a0c12d4e5 --full --reason \"hotfix\"",
	},
	"abort": {
		"Abort a rollout: the alias goes back 100% to the stable version",
		"Puts the alias back on the stable version at once and ends the rollout as Aborted.",
		"  sfn-rollout abort r-3f9a0c12d4e5 --reason \"wrong build\"",
	},
	"approve": {
		"Approve a rollout that waits for approval",
		"Lets a rollout paused at an approval step (CUSTOM \"approval\", BLUE_GREEN with approval) go on. Refused, with exit code 1, when it waits for nothing.",
		"  sfn-rollout approve r-3f9a0c12d4e5 --reason \"QA signed off\"",
	},
}

func newControl(a *app, name string) *cobra.Command {
	var reason, commandID string
	var full bool
	h := controlHelp[name]
	cmd := &cobra.Command{
		Use:   name + " <rollout-id>",
		Short: h.short,
		Long: h.long + `

The command is sent to the control function (Lambda Invoke), recorded on the rollout's audit
trail with the caller's identity (STS GetCallerIdentity, else $USER) and the reason, and is in
effect when this returns. Exit code 1 when the rollout's phase does not allow it.

Each invocation sends a command id of its own; a rollout applies a command id once. When
a command fails in a way that may have left it applied (throttling, a timeout), run it
again with --command-id and the id the error names: it is then answered with its first
result and not applied twice. An upload queued for a busy alias (onBusy=queue) takes
abort (it is dropped and never deploys); every other command is refused until it starts.`,
		Example: h.example,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			command := rollout.Command(name)
			if full {
				command = rollout.CommandPromoteFull
			}
			v, err := a.control(cmd.Context(), argv[0], command, reason, commandID)
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return RenderControl(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	cmd.Flags().StringVar(&commandID, "command-id", "", "retry a command with the id it was sent with (default: a new id)")
	if name == "promote" {
		cmd.Flags().BoolVar(&full, "full", false, "move the candidate to 100% at once")
	}
	return cmd
}

// control sends one command and reads the rollout back. commandID is empty for a new
// command, or the id of one to retry.
func (a *app) control(ctx context.Context, id string, command rollout.Command, reason, commandID string) (ControlView, error) {
	if !rolloutIDPattern.MatchString(id) {
		return ControlView{}, usagef("%q is not a rollout id (r- and 12 hex digits, as deploy and list print)", id)
	}
	if err := a.connect(ctx); err != nil {
		return ControlView{}, err
	}
	if commandID == "" {
		commandID = rand.Text()
	}
	// retry tells how to send this command again without applying it twice.
	retry := func(err error) error {
		return fmt.Errorf("%w (it may have been applied: run it again with --command-id %s, which is applied at most once)", err, commandID)
	}
	req := controller.ControlRequest{RolloutID: id, Command: command, Actor: a.caller(ctx), Reason: reason, CommandID: commandID}
	payload, err := json.Marshal(req)
	if err != nil {
		return ControlView{}, err
	}
	out, err := a.lambda().Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(a.res.ControlFunction), Payload: payload})
	if err != nil {
		if errors.Is(awsapi.Classify("", err), controller.ErrNotFound) {
			return ControlView{}, usagef("no control function %q: set --control-function or SFN_ROLLOUT_CONTROL_FUNCTION", a.res.ControlFunction)
		}
		return ControlView{}, retry(fmt.Errorf("invoke %s: %w", a.res.ControlFunction, err))
	}
	if out.FunctionError != nil {
		var fe struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		switch fe.Type {
		case controller.ERolloutNotFound:
			return ControlView{}, usagef("no rollout %s", id)
		case controller.EInvalidEvent:
			return ControlView{}, usagef("%s", fe.Message)
		case controller.ECommandRejected:
			return ControlView{}, errors.New(fe.Message)
		case "":
			return ControlView{}, retry(fmt.Errorf("%s failed: %s", a.res.ControlFunction, out.Payload))
		}
		return ControlView{}, retry(fmt.Errorf("%s failed: %s: %s", a.res.ControlFunction, fe.Type, fe.Message))
	}
	var res controller.ControlResult
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		return ControlView{}, fmt.Errorf("read the answer of %s: %w", a.res.ControlFunction, err)
	}
	v := ControlView{Command: string(command), By: req.Actor, CommandID: commandID}
	if store, err := a.rollouts(); err == nil {
		r, err := store.GetRollout(ctx, id)
		if err != nil {
			return ControlView{}, err
		}
		v.RolloutView = NewRolloutView(r)
	} else {
		// Without the table, what the control function answered.
		v.RolloutView = RolloutView{RolloutID: res.RolloutID, Phase: res.Phase, Weights: res.Weights}
	}
	// The answer's reason is this command's, which a tick may already have replaced.
	v.Reason = res.Reason
	return v, nil
}
