package scheduler

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// EventBridge Scheduler speaks restJson1: the operation is the method and path, errors
// carry their code in X-Amzn-ErrorType and {"Message"} in the body.
const signingName = "scheduler"

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		v = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// statusOf is the HTTP status Scheduler's model gives each error.
var statusOf = map[string]int{
	"ValidationException":           http.StatusBadRequest,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ConflictException":             http.StatusConflict,
	"ServiceQuotaExceededException": http.StatusPaymentRequired,
	"ThrottlingException":           http.StatusTooManyRequests,
	"InternalServerException":       http.StatusInternalServerError,
}

func writeError(w http.ResponseWriter, e *core.APIError) {
	status := e.Status
	if s, ok := statusOf[e.Code]; ok && (status == 0 || status == http.StatusBadRequest) {
		status = s
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Message": e.Message})
}

// epochTime is a timestamp as restJson1 carries it: seconds since the epoch.
type epochTime float64

func epoch(t time.Time) epochTime { return epochTime(float64(t.UnixMilli()) / 1000) }

func (e epochTime) time() time.Time {
	sec := int64(e)
	return time.Unix(sec, int64((float64(e)-float64(sec))*1e9)).UTC()
}

// FlexibleTimeWindow is the window a schedule may fire in.
type FlexibleTimeWindow struct {
	Mode                   string `json:"Mode"`
	MaximumWindowInMinutes *int   `json:"MaximumWindowInMinutes,omitempty"`
}

// RetryPolicy bounds the retries of a failed invocation.
type RetryPolicy struct {
	MaximumEventAgeInSeconds *int `json:"MaximumEventAgeInSeconds,omitempty"`
	MaximumRetryAttempts     *int `json:"MaximumRetryAttempts,omitempty"`
}

// DeadLetterConfig is stored and shown; local mode has no SQS to send to.
type DeadLetterConfig struct {
	Arn string `json:"Arn,omitempty"`
}

// Target is what a schedule invokes.
type Target struct {
	Arn              string            `json:"Arn"`
	RoleArn          string            `json:"RoleArn"`
	Input            *string           `json:"Input,omitempty"`
	RetryPolicy      *RetryPolicy      `json:"RetryPolicy,omitempty"`
	DeadLetterConfig *DeadLetterConfig `json:"DeadLetterConfig,omitempty"`
}

// scheduleInput is the body of CreateSchedule and UpdateSchedule.
type scheduleInput struct {
	ActionAfterCompletion      string              `json:"ActionAfterCompletion"`
	ClientToken                string              `json:"ClientToken"`
	Description                *string             `json:"Description"`
	EndDate                    *epochTime          `json:"EndDate"`
	FlexibleTimeWindow         *FlexibleTimeWindow `json:"FlexibleTimeWindow"`
	GroupName                  string              `json:"GroupName"`
	KmsKeyArn                  *string             `json:"KmsKeyArn"`
	ScheduleExpression         *string             `json:"ScheduleExpression"`
	ScheduleExpressionTimezone *string             `json:"ScheduleExpressionTimezone"`
	StartDate                  *epochTime          `json:"StartDate"`
	State                      string              `json:"State"`
	Target                     *Target             `json:"Target"`
}

type getScheduleOutput struct {
	ActionAfterCompletion      string             `json:"ActionAfterCompletion"`
	Arn                        string             `json:"Arn"`
	CreationDate               epochTime          `json:"CreationDate"`
	Description                *string            `json:"Description,omitempty"`
	EndDate                    *epochTime         `json:"EndDate,omitempty"`
	FlexibleTimeWindow         FlexibleTimeWindow `json:"FlexibleTimeWindow"`
	GroupName                  string             `json:"GroupName"`
	KmsKeyArn                  *string            `json:"KmsKeyArn,omitempty"`
	LastModificationDate       epochTime          `json:"LastModificationDate"`
	Name                       string             `json:"Name"`
	ScheduleExpression         string             `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string             `json:"ScheduleExpressionTimezone"`
	StartDate                  *epochTime         `json:"StartDate,omitempty"`
	State                      string             `json:"State"`
	Target                     Target             `json:"Target"`
}

type scheduleSummary struct {
	Arn                  string    `json:"Arn"`
	CreationDate         epochTime `json:"CreationDate"`
	GroupName            string    `json:"GroupName"`
	LastModificationDate epochTime `json:"LastModificationDate"`
	Name                 string    `json:"Name"`
	State                string    `json:"State"`
	Target               struct {
		Arn string `json:"Arn"`
	} `json:"Target"`
}

type groupOutput struct {
	Arn                  string    `json:"Arn"`
	CreationDate         epochTime `json:"CreationDate"`
	LastModificationDate epochTime `json:"LastModificationDate"`
	Name                 string    `json:"Name"`
	State                string    `json:"State"`
}
