package sfn

import (
	"strconv"
	"strings"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

const (
	arnPrefix       = "arn:" + core.Partition + ":states:" + core.Region + ":" + core.Account + ":"
	machineArnRoot  = arnPrefix + "stateMachine:"
	executionArnTop = arnPrefix + "execution:"
)

func machineArn(name string) string { return machineArnRoot + name }

func executionArn(machine, name string) string { return executionArnTop + machine + ":" + name }

// machineRef is a parsed state machine ARN: plain, version (…:name:N) or alias (…:name:alias).
type machineRef struct {
	arn       string // as given
	name      string
	qualifier string
	version   int
	foreign   bool // another account or region: never found here
}

func (r machineRef) plain() string   { return machineArn(r.name) }
func (r machineRef) isVersion() bool { return r.version > 0 }
func (r machineRef) isAlias() bool   { return r.qualifier != "" && r.version == 0 }

// parseMachineArn reads arn:aws:states:<region>:<account>:stateMachine:<name>[:<qualifier>].
func parseMachineArn(arn string) (machineRef, *core.APIError) {
	parts := strings.Split(arn, ":")
	if len(parts) < 7 || parts[0] != "arn" || parts[2] != "states" {
		return machineRef{}, apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN prefix: %s'", arn)
	}
	if parts[5] != "stateMachine" {
		return machineRef{}, apiError(codeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: %s'", parts[5])
	}
	if len(parts) > 8 || parts[6] == "" {
		return machineRef{}, apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN: %s'", arn)
	}
	r := machineRef{arn: arn, name: parts[6]}
	r.foreign = parts[1] != core.Partition || parts[3] != core.Region || parts[4] != core.Account
	if len(parts) == 8 {
		r.qualifier = parts[7]
		if r.qualifier == "" {
			return machineRef{}, apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN: %s'", arn)
		}
		if n, err := strconv.Atoi(r.qualifier); err == nil && allDigits(r.qualifier) {
			if n <= 0 {
				return machineRef{}, apiError(codeInvalidArn, "Invalid Arn: 'Invalid version number: %s'", arn)
			}
			r.version = n
		}
	}
	return r, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// parseExecutionArn reads arn:aws:states:<region>:<account>:execution:<machine>:<name>.
func parseExecutionArn(arn string) *core.APIError {
	parts := strings.Split(arn, ":")
	if len(parts) < 7 || parts[0] != "arn" || parts[2] != "states" {
		return apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN prefix: %s'", arn)
	}
	if parts[5] != "execution" {
		return apiError(codeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: %s'", parts[5])
	}
	if len(parts) != 8 {
		return apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN: %s'", arn)
	}
	return nil
}
