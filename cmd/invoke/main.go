// Command invoke runs one of the controller's functions once on an event file, with the same
// wiring as in Lambda (the environment of internal/topology, AWS_ENDPOINT_URL for a local
// endpoint): `make invoke-advance EVENT=events/scheduler-tick.json`, or
// `make invoke-deploy EVENT=events/cfn-deploy-update.json` (the deploy function also needs
// SFN_ROLLOUT_BUCKET).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/awsconfig"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring"
	"github.com/sfn-rollout/sfn-rollout/internal/wiring/withall"
)

func main() {
	fn := flag.String("fn", "", "function: prepare, register, advance, rollback, finalize, control, deploy or deploystatus")
	event := flag.String("event", "", "path of the event JSON")
	flag.Parse()
	if *fn == "" || *event == "" {
		fmt.Fprintln(os.Stderr, "usage: invoke -fn <function> -event <file.json>")
		os.Exit(2)
	}
	os.Exit(run(*fn, *event))
}

func run(fn, event string) int {
	payload, err := os.ReadFile(event)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if !json.Valid(payload) {
		fmt.Fprintf(os.Stderr, "%s is not JSON\n", event)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), topology.FunctionTimeout(fn))
	defer cancel()
	c, err := controllerFromEnv(ctx, fn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	h, err := wiring.Handler(c, fn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out, err := h(ctx, payload)
	if err != nil {
		// As the Lambda runtime would report it: Handler's error is the runtime's own
		// messages.InvokeResponse_Error, with errorType and errorMessage.
		b, _ := json.MarshalIndent(err, "", "  ")
		fmt.Println(string(b))
		return 1
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
	return 0
}

// controllerFromEnv wires every client, from the settings in the environment and the SDK's
// default configuration chain (a profile, or AWS_ENDPOINT_URL for a local endpoint).
func controllerFromEnv(ctx context.Context, fn string) (*controller.Controller, error) {
	s, err := wiring.SettingsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	return withall.Build(cfg, s, nil, wiring.Logger(os.Stderr, s.LogLevel, fn))
}
