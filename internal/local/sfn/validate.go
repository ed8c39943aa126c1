package sfn

import (
	"context"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

type validateInput struct {
	Definition *string `json:"definition"`
	Type       *string `json:"type"`
	Severity   *string `json:"severity"`
	MaxResults int32   `json:"maxResults"`
}

type diagnosticOut struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Location string `json:"location,omitempty"`
}

// validateStateMachineDefinition answers 200 for any definition: a bad one is result FAIL
// with diagnostics, never an error.
func (s *Service) validateStateMachineDefinition(_ context.Context, in *validateInput) (any, *core.APIError) {
	var v violations
	v.length(in.Definition, "definition", 1, maxDefinitionLength, true, true)
	v.enum(in.Type, "type", typeStandard, typeExpress)
	v.enum(in.Severity, "severity", "ERROR", "WARNING")
	v.between(in.MaxResults, "maxResults", 0, 100)
	if e := v.err(); e != nil {
		return nil, e
	}
	limit := int(in.MaxResults)
	if limit == 0 {
		limit = 100
	}
	withWarnings := deref(in.Severity) == "WARNING"
	result := "OK"
	diagnostics := []diagnosticOut{}
	truncated := false
	diags := diagnose(*in.Definition)
	if deref(in.Type) == typeExpress {
		diags = append(diags, expressProblems(*in.Definition)...)
	}
	for _, d := range diags {
		if d.Severity == "ERROR" {
			result = "FAIL"
		} else if !withWarnings {
			continue
		}
		if len(diagnostics) == limit {
			truncated = true
			continue
		}
		diagnostics = append(diagnostics, diagnosticOut{Severity: d.Severity, Code: d.Code, Message: d.Message, Location: d.Location})
	}
	return struct {
		Result      string          `json:"result"`
		Diagnostics []diagnosticOut `json:"diagnostics"`
		Truncated   bool            `json:"truncated"`
	}{result, diagnostics, truncated}, nil
}
