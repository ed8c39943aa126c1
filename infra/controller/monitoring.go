package controller

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// alarmPeriodMinutes is the window of the self-monitoring alarms.
const alarmPeriodMinutes = 5

// monitoring watches the controller itself: a failed controller execution means the
// controller is broken (every rollout outcome ends in Succeed), a function error or a
// message in a dead-letter queue means work was lost or is being retried. Missing data
// means nothing ran, which for an error count is no error: NOT_BREACHING.
func (st *Stack) monitoring() {
	prefix := st.Settings.StackName
	period := &awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(alarmPeriodMinutes)),
		Statistic: jsii.String("Sum"),
	}
	alarm := func(id, name, description string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(st.Stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(name),
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		st.Alarms = append(st.Alarms, a)
	}
	alarm("ControllerFailedAlarm", prefix+"-controller-failed",
		"sfn-rollout: a controller execution failed (finalize could not finish: an alias lock may still be held); see the execution history",
		st.Controller.MetricFailed(period))
	for _, fn := range topology.Functions {
		if !errorsAreFaults(fn) {
			continue
		}
		alarm(exported(fn)+"ErrorsAlarm", topology.FunctionName(prefix, fn)+"-errors",
			"sfn-rollout: the "+fn+" function returned errors; see its log group",
			st.Functions[fn].MetricErrors(period))
	}
	depth := &awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(alarmPeriodMinutes)),
		Statistic: jsii.String("Maximum"),
	}
	alarm("FunctionDLQAlarm", prefix+"-function-dlq",
		"sfn-rollout: an asynchronous invocation (a tick, an alarm's rollback, a command) failed every retry; its event is in the functions' dead-letter queue",
		st.FunctionDLQ.MetricApproximateNumberOfMessagesVisible(depth))
	alarm("EventsDLQAlarm", prefix+"-events-dlq",
		"sfn-rollout: EventBridge could not deliver an upload, an alarm or a command; the event is in the events dead-letter queue",
		st.EventsDLQ.MetricApproximateNumberOfMessagesVisible(depth))

	if arn := st.Settings.NotificationTopicArn; arn != "" {
		action := awscloudwatchactions.NewSnsAction(awssns.Topic_FromTopicArn(st.Stack, jsii.String("Notifications"), jsii.String(arn)))
		for _, a := range st.Alarms {
			a.AddAlarmAction(action)
			a.AddOkAction(action)
		}
	}
	st.dashboard()
}

// errorsAreFaults tells the functions whose errors mean the controller is broken. deploystatus
// fails the deploy custom resource by design whenever a rollout rolls back, fails or is
// aborted: the rollout's own outcome (its event, its record, the stack's events) reports
// that, and an alarm on it would page for every rolled-back deploy. The dashboard still
// graphs its errors.
func errorsAreFaults(fn string) bool { return fn != topology.DeployStatusFunction }

// Logs Insights queries over the functions' JSON logs (wiring.Logger): every decision is
// logged once, with its reason, by controller.commit.
var (
	decisionsQuery = []string{
		"fields @timestamp, rollout_id, state_machine, alias, action, phase, candidate_weight, reason, actor",
		`filter msg = "decision"`,
		"sort @timestamp desc",
		"limit 200",
	}
	outcomesQuery = []string{
		"fields @timestamp, rollout_id, state_machine, alias, phase, reason, error",
		`filter msg in ["prepared", "refused", "finalized"]`,
		"sort @timestamp desc",
		"limit 200",
	}
)

func (st *Stack) dashboard() {
	prefix := st.Settings.StackName
	var logGroups []*string
	var errs, durations, invocations []awscloudwatch.IMetric
	for _, fn := range topology.Functions {
		f := st.Functions[fn]
		logGroups = append(logGroups, jsii.String(topology.FunctionLogGroup(topology.FunctionName(prefix, fn))))
		errs = append(errs, f.MetricErrors(&awscloudwatch.MetricOptions{Label: jsii.String(fn)}))
		invocations = append(invocations, f.MetricInvocations(&awscloudwatch.MetricOptions{Label: jsii.String(fn)}))
		durations = append(durations, f.MetricDuration(&awscloudwatch.MetricOptions{Label: jsii.String(fn), Statistic: jsii.String("p99")}))
	}
	graph := func(title string, width float64, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &left,
		})
	}
	query := func(title string, lines []string) awscloudwatch.IWidget {
		return awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title: jsii.String(title), LogGroupNames: &logGroups, QueryLines: jsii.Strings(lines...),
			Width: jsii.Number(24), Height: jsii.Number(8),
		})
	}
	alarmRefs := make([]interfacesawscloudwatch.IAlarmRef, 0, len(st.Alarms))
	for _, a := range st.Alarms {
		alarmRefs = append(alarmRefs, a)
	}
	st.Dashboard = awscloudwatch.NewDashboard(st.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(topology.DashboardName(prefix)),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
					Markdown: jsii.String(strings.Join([]string{
						"# sfn-rollout: " + prefix,
						"One controller execution per upload. Decisions, refusals and outcomes below come from the functions' logs; " +
							"`sfn-rollout status` and `history` read the same records from the table.",
					}, "\n\n")),
					Width: jsii.Number(24), Height: jsii.Number(2),
				}),
			},
			{
				graph("Controller executions", 8,
					st.Controller.MetricStarted(nil), st.Controller.MetricSucceeded(nil), st.Controller.MetricFailed(nil)),
				graph("Function invocations", 8, invocations...),
				graph("Function errors", 8, errs...),
			},
			{
				graph("Function duration (p99)", 12, durations...),
				graph("Dead-letter queues", 12,
					st.FunctionDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("functions")}),
					st.EventsDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("events")})),
			},
			{query("Rollout decisions", decisionsQuery)},
			{query("Uploads: prepared, refused, finalized", outcomesQuery)},
			{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
				Title: jsii.String("Controller health"), Alarms: &alarmRefs, Width: jsii.Number(24), Height: jsii.Number(4),
			})},
		},
	})
}
