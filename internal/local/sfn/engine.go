package sfn

import (
	"context"
	"encoding/json"

	"github.com/sfn-rollout/sfn-rollout/internal/local/asl"
)

// program is a parsed definition, as internal/local/asl runs it.
type program interface {
	Run(ctx context.Context, input json.RawMessage, cx asl.Context, rt asl.Runtime, history func(asl.HistoryEvent)) (json.RawMessage, *asl.Failure)
}

// diagnose lists every problem of a definition, as ValidateStateMachineDefinition reports it.
func diagnose(definition string) []asl.Diagnostic { return asl.Validate([]byte(definition)) }

// checkDefinition answers the InvalidDefinition message of a definition with errors.
func checkDefinition(definition string) (string, bool) {
	diags := asl.Validate([]byte(definition))
	for _, d := range diags {
		if d.Severity == "ERROR" {
			return asl.FormatInvalid(diags), true
		}
	}
	return "", false
}

func parseDefinition(definition string) (program, error) {
	d, err := asl.Parse([]byte(definition))
	if err != nil {
		return nil, err
	}
	return d, nil
}
