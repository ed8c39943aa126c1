// Package statemachines holds the controller's state machine definition; infra/ embeds it
// so that a CDK app importing the controller stack needs no file beside it.
package statemachines

import "embed"

// Controller is rollout-controller.asl.json with its ${...} substitutions still in place.
//
//go:embed rollout-controller.asl.json
var Controller string

// Examples are the example definitions and policies that the demo and the tests deploy.
//
//go:embed examples
var Examples embed.FS
