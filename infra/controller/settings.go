package controller

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Context keys of the controller app (cdk.json's "context", or `cdk deploy -c key=value`).
const (
	ContextStackName             = "stackName"
	ContextManagedPrefix         = "managedPrefix"
	ContextLogRetentionDays      = "logRetentionDays"
	ContextNotificationTopicArn  = "notificationTopicArn"
	ContextNoncurrentVersionDays = "noncurrentVersionExpiryDays"
	ContextRollbackConcurrency   = "rollbackReservedConcurrency"
	defaultLogRetentionDays      = 30
	defaultNoncurrentVersionDays = 30
	maxStackNameForFunctionNames = 40 // "<stack>-finalize" must stay within Lambda's 64 characters
	maxManagedPrefixLength       = 80
)

// Settings are the controller stack's parameters.
type Settings struct {
	// StackName names the stack and prefixes every named resource (topology.FunctionName…).
	StackName string
	// ManagedPrefix is the name prefix of the state machines the controller may touch; ""
	// means any name. IAM also requires the tag rollout:managed=true wherever it can.
	ManagedPrefix string
	// LogRetentionDays is the retention of every log group: one of CloudWatch Logs' values.
	LogRetentionDays int
	// NotificationTopicArn receives the self-monitoring alarms; "" sends them nowhere.
	NotificationTopicArn string
	// NoncurrentVersionExpiryDays is how long overwritten artifacts are kept.
	NoncurrentVersionExpiryDays int
	// RollbackReservedConcurrency is the rollback function's reserved concurrency
	// (topology.ReservedConcurrency says why 200); 0 reserves none, for an account whose
	// concurrency quota is too low to set 200 aside (Lambda keeps 100 unreserved).
	RollbackReservedConcurrency int
}

// DefaultSettings are the values cdk.json also holds.
func DefaultSettings() Settings {
	return Settings{
		StackName:                   topology.DefaultPrefix,
		LogRetentionDays:            defaultLogRetentionDays,
		NoncurrentVersionExpiryDays: defaultNoncurrentVersionDays,
		RollbackReservedConcurrency: topology.ReservedConcurrency("rollback"),
	}
}

// retentionDays are the retentions CloudWatch Logs accepts, in days.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

var (
	stackNamePattern     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	managedPrefixPattern = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
	topicArnPattern      = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$`)
)

// Validate checks every setting; unknown or malformed values are errors, never defaults.
func (s Settings) Validate() error {
	var errs []string
	if !stackNamePattern.MatchString(s.StackName) || len(s.StackName) > maxStackNameForFunctionNames {
		errs = append(errs, fmt.Sprintf("%s %q: want a letter, then letters, digits or '-', at most %d characters", ContextStackName, s.StackName, maxStackNameForFunctionNames))
	}
	if !managedPrefixPattern.MatchString(s.ManagedPrefix) || len(s.ManagedPrefix) > maxManagedPrefixLength {
		errs = append(errs, fmt.Sprintf("%s %q: want letters, digits, '-' or '_' (a state machine name prefix)", ContextManagedPrefix, s.ManagedPrefix))
	}
	if _, ok := retentionDays[s.LogRetentionDays]; !ok {
		days := slices.Sorted(maps.Keys(retentionDays))
		errs = append(errs, fmt.Sprintf("%s %d: want one of %v", ContextLogRetentionDays, s.LogRetentionDays, days))
	}
	if s.NotificationTopicArn != "" && !topicArnPattern.MatchString(s.NotificationTopicArn) {
		errs = append(errs, fmt.Sprintf("%s %q: want an SNS topic ARN or nothing", ContextNotificationTopicArn, s.NotificationTopicArn))
	}
	if s.NoncurrentVersionExpiryDays < 1 {
		errs = append(errs, fmt.Sprintf("%s %d: want a whole number of days, at least 1", ContextNoncurrentVersionDays, s.NoncurrentVersionExpiryDays))
	}
	if s.RollbackReservedConcurrency < 0 {
		errs = append(errs, fmt.Sprintf("%s %d: want 0 (none) or a number of concurrent executions", ContextRollbackConcurrency, s.RollbackReservedConcurrency))
	}
	if len(errs) > 0 {
		return fmt.Errorf("controller settings: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (s Settings) retention() awslogs.RetentionDays {
	return retentionDays[s.LogRetentionDays]
}

// SettingsFromContext reads the settings from the app's context over DefaultSettings.
// Values given with -c arrive as strings; cdk.json may hold numbers.
func SettingsFromContext(app awscdk.App) (Settings, error) {
	s := DefaultSettings()
	node := app.Node()
	var errs []string
	str := func(key string, into *string) {
		if v := node.TryGetContext(&key); v != nil {
			text, ok := v.(string)
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: want a string, got %v", key, v))
				return
			}
			*into = strings.TrimSpace(text)
		}
	}
	num := func(key string, into *int) {
		v := node.TryGetContext(&key)
		switch n := v.(type) {
		case nil:
		case float64:
			if n != float64(int(n)) {
				errs = append(errs, fmt.Sprintf("%s: want a whole number, got %v", key, n))
				return
			}
			*into = int(n)
		case string:
			i, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: want a whole number, got %q", key, n))
				return
			}
			*into = i
		default:
			errs = append(errs, fmt.Sprintf("%s: want a whole number, got %v", key, v))
		}
	}
	str(ContextStackName, &s.StackName)
	str(ContextManagedPrefix, &s.ManagedPrefix)
	str(ContextNotificationTopicArn, &s.NotificationTopicArn)
	num(ContextLogRetentionDays, &s.LogRetentionDays)
	num(ContextNoncurrentVersionDays, &s.NoncurrentVersionExpiryDays)
	num(ContextRollbackConcurrency, &s.RollbackReservedConcurrency)
	if len(errs) > 0 {
		return s, fmt.Errorf("controller context: %s", strings.Join(errs, "; "))
	}
	return s, s.Validate()
}
