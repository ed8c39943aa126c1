// Package wiring builds the controller from the environment and the SDK configuration, and
// adapts its use cases to the Lambda runtime (Typed): the Lambda mains, `make invoke-<fn>`
// and local mode's in-process functions all go through it, so they cannot wire differently.
package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Settings is the controller's configuration as the environment gives it.
type Settings struct {
	Table              string
	ScheduleGroup      string
	SchedulerRoleArn   string
	AdvanceFunctionArn string
	// RollbackFunctionArn is the target of a rollback's continuation schedules.
	RollbackFunctionArn string
	EventBus            string
	LogLevel            slog.Level
	Controller          controller.Config
}

// SettingsFromEnv reads the topology's environment variables. A missing required variable
// or a value that does not parse is an error, never a fallback.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	var s Settings
	var missing []string
	required := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	s.Table = required(topology.EnvTable)
	s.ScheduleGroup = required(topology.EnvScheduleGroup)
	s.SchedulerRoleArn = required(topology.EnvSchedulerRoleArn)
	s.AdvanceFunctionArn = required(topology.EnvAdvanceFunctionArn)
	s.RollbackFunctionArn = required(topology.EnvRollbackFunctionArn)
	if len(missing) > 0 {
		return s, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	s.EventBus = orDefault(getenv(topology.EnvEventBus), topology.DefaultEventBus)
	// The artifacts bucket: the deploy function writes definitions to it (FunctionSettings
	// requires it there); the others read it from their events.
	s.Controller.Bucket = strings.TrimSpace(getenv(topology.EnvBucket))
	s.Controller.TickRate = orDefault(getenv(topology.EnvTickRate), topology.DefaultTickRate)
	minInterval, err := rollout.ParseDuration(orDefault(getenv(topology.EnvMinInterval), topology.DefaultMinInterval))
	if err != nil {
		return s, fmt.Errorf("%s: %w", topology.EnvMinInterval, err)
	}
	s.Controller.MinInterval = minInterval.D()
	ttl, err := time.ParseDuration(orDefault(getenv(topology.EnvDedupeTTL), topology.DefaultDedupeTTL))
	if err != nil || ttl <= 0 {
		return s, fmt.Errorf("%s: want a positive duration like 192h, got %q", topology.EnvDedupeTTL, getenv(topology.EnvDedupeTTL))
	}
	s.Controller.DedupeTTL = ttl
	window, err := time.ParseDuration(orDefault(getenv(topology.EnvAliasWriteWindow), topology.DefaultAliasWriteWindow))
	if err != nil || window <= 0 {
		return s, fmt.Errorf("%s: want a positive duration like 5s, got %q", topology.EnvAliasWriteWindow, getenv(topology.EnvAliasWriteWindow))
	}
	s.Controller.AliasWriteWindow = window
	for _, n := range []struct {
		env string
		to  *int
	}{{topology.EnvSweepShards, &s.Controller.SweepShards}, {topology.EnvDriftReads, &s.Controller.DriftReads}} {
		if v := getenv(n.env); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 1 {
				return s, fmt.Errorf("%s: want a positive whole number, got %q", n.env, v)
			}
			*n.to = i
		}
	}
	if err := s.LogLevel.UnmarshalText([]byte(orDefault(getenv(topology.EnvLogLevel), "INFO"))); err != nil {
		return s, fmt.Errorf("%s: %w", topology.EnvLogLevel, err)
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

// Base is what every function is built on: the SDK configuration, the settings and the
// write budget, which the Step Functions client's calls go through.
type Base struct {
	Config   aws.Config
	Settings Settings
	Writes   *budget.Budget
}

// A Client adds the ports of one AWS client to the controller's. Each lives in a package of
// its own (internal/wiring/with*), so that a function's bootstrap links only the clients
// its main names (topology.FunctionClients), and local mode takes them all (withall).
type Client struct {
	Name string // a topology.Client*
	Add  func(b Base, p *controller.Ports)
}

// Build builds function's controller over real SDK clients, each with awsapi.NewRetryer
// (whatever retryer cfg had): the rollout table, which every function uses, and clients. It
// refuses clients that are not the ones topology.FunctionClients names for the function
// ("" takes any: local mode's one controller serves every function). It does no I/O.
//
// Its Step Functions calls go through the write budget (internal/budget), kept in the
// rollout table so that every invocation, in any sandbox, draws from the same view of the
// account's token buckets, and timed by the controller's clock.
func Build(function string, cfg aws.Config, s Settings, clock controller.Clock, log *slog.Logger, clients ...Client) (*controller.Controller, error) {
	if err := checkClients(function, clients); err != nil {
		return nil, err
	}
	cfg.Retryer = awsapi.NewRetryer
	ddb := dynamodb.NewFromConfig(cfg)
	store := dynamostore.New(ddb, s.Table)
	if clock != nil {
		store = store.WithClock(clock)
	}
	b := Base{Config: cfg, Settings: s, Writes: budget.New(dynamostore.NewBudgetStore(ddb, s.Table), budgetClock(clock), log)}
	p := controller.Ports{
		Rollouts: store, Locks: store, Queues: store, AlarmGuards: store, Uploads: store, Sweeps: store,
		Clock: clock, Log: log,
	}
	for _, c := range clients {
		c.Add(b, &p)
	}
	fillAbsent(&p)
	return controller.New(s.Controller, p)
}

// checkClients compares the clients a main passes with topology.FunctionClients.
func checkClients(function string, clients []Client) error {
	if function == "" {
		return nil
	}
	want, ok := topology.FunctionClients[function]
	if !ok {
		return fmt.Errorf("unknown function %q (want one of %s)", function, strings.Join(topology.Functions, ", "))
	}
	got := make([]string, len(clients))
	for i, c := range clients {
		got[i] = c.Name
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s is built with the clients %v, but topology.FunctionClients names %v", function, got, want)
	}
	return nil
}

// budgetClock is the controller's clock for the budget: with its own Sleep when it has one
// (local mode's virtual clock, whose refill must run as fast as its time), else waiting on
// the wall clock.
func budgetClock(clock controller.Clock) budget.Clock {
	switch c := clock.(type) {
	case nil:
		return budget.WallClock{}
	case budget.Clock:
		return c
	default:
		return wallSleep{clock}
	}
}

type wallSleep struct{ controller.Clock }

func (wallSleep) Sleep(ctx context.Context, d time.Duration) error {
	return budget.WallClock{}.Sleep(ctx, d)
}

// MustFromEnv is FromEnv for a function's main: a controller it cannot build ends the
// process with the reason on stderr, before the Lambda runtime starts (Lambda reports it as
// an init error).
func MustFromEnv(function string, clients ...Client) *controller.Controller {
	c, err := FromEnv(function, clients...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return c
}

// FunctionSettings are function's settings from its environment: SettingsFromEnv, and the
// artifacts bucket for the deploy function, which writes definitions to it. An error is what
// stops the function at its cold start.
func FunctionSettings(function string, getenv func(string) string) (Settings, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return s, err
	}
	if function == topology.DeployFunction && s.Controller.Bucket == "" {
		return s, fmt.Errorf("missing environment: %s", topology.EnvBucket)
	}
	return s, nil
}

// FromEnv is what a Lambda's main does once per cold start: the settings and the SDK
// configuration from the environment (awsapi.EnvConfig), and the clients the main names.
func FromEnv(function string, clients ...Client) (*controller.Controller, error) {
	s, err := FunctionSettings(function, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", function, err)
	}
	cfg, err := awsapi.EnvConfig(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", function, err)
	}
	return Build(function, cfg, s, nil, Logger(os.Stderr, s.LogLevel, function), clients...)
}

// Logger is the JSON logger of the functions: every line names the function and, inside an
// invocation, its aws_request_id.
func Logger(w *os.File, level slog.Level, function string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(requestIDHandler{h}).With("function", function)
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("aws_request_id", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Typed is a use case as lambda.Start takes it, for a function's main: the payload is
// decoded into the use case's input (controller.Decode: bad input is InvalidEvent), the use
// case runs with the function's budget priority, and its error reaches the runtime as
// LambdaError makes it, so that Step Functions sees "InvalidDefinition", never "wrapError".
func Typed[In, Out any](function string, use func(context.Context, In) (Out, error)) func(context.Context, json.RawMessage) (Out, error) {
	return atBoundary(run(function, use))
}

// atBoundary is h at the Lambda boundary: its error as LambdaError makes it.
func atBoundary[Out any](h func(context.Context, json.RawMessage) (Out, error)) func(context.Context, json.RawMessage) (Out, error) {
	return func(ctx context.Context, payload json.RawMessage) (Out, error) {
		out, err := h(ctx, payload)
		if err != nil {
			var none Out
			return none, LambdaError(err)
		}
		return out, nil
	}
}

// run is Typed short of the Lambda boundary: its error is the use case's, with its chain
// (errors.Is and errors.As see through it).
func run[In, Out any](function string, use func(context.Context, In) (Out, error)) func(context.Context, json.RawMessage) (Out, error) {
	return func(ctx context.Context, payload json.RawMessage) (Out, error) {
		var in In
		if err := controller.Decode(payload, &in); err != nil {
			var none Out
			return none, err
		}
		return use(withFunctionPriority(ctx, function), in)
	}
}

// Empty adapts a use case that answers nothing but its error (register) to one that
// answers {}, as the function always has.
func Empty[In any](use func(context.Context, In) error) func(context.Context, In) (struct{}, error) {
	return func(ctx context.Context, in In) (struct{}, error) {
		return struct{}{}, use(ctx, in)
	}
}

// LambdaError is err as the function reports it: the code of the controller.Error it holds
// as errorType (Internal when it holds none), and that error's text as errorMessage. It is
// a messages.InvokeResponse_Error value, which aws-lambda-go reports as it is
// (lambda/errors.go): any other error it would name by its Go type.
func LambdaError(err error) messages.InvokeResponse_Error {
	return messages.InvokeResponse_Error{Type: controller.ErrorCode(err), Message: controller.ErrorMessage(err)}
}

// Handler is function's use case over c for callers that choose the function by name
// (`make invoke-<fn>`, local mode's in-process functions): its Typed handler, answering any.
func Handler(c *controller.Controller, function string) (func(context.Context, json.RawMessage) (any, error), error) {
	h, ok := byName(c, function)
	if !ok {
		return nil, fmt.Errorf("unknown function %q (want one of %s)", function, strings.Join(topology.Functions, ", "))
	}
	return atBoundary(h), nil
}

// Dispatch runs one use case on a payload. Its error holds a controller.Error whose code
// Handler reports, or none for an Internal error.
func Dispatch(ctx context.Context, c *controller.Controller, function string, payload json.RawMessage) (any, error) {
	h, ok := byName(c, function)
	if !ok {
		return nil, fmt.Errorf("unknown function %q", function)
	}
	return h(ctx, payload)
}

// byName is function's use case over c, as its main passes it to lambda.Start. It is a
// switch in a function, not a table in a variable, so that a main, which names its own use
// case, links no other (and none of the client calls only the others make).
func byName(c *controller.Controller, function string) (untyped, bool) {
	switch function {
	case "prepare":
		return answerAny(run(function, c.Prepare)), true
	case "register":
		return answerAny(run(function, Empty(c.Register))), true
	case "advance":
		return answerAny(run(function, c.Advance)), true
	case "rollback":
		return answerAny(run(function, c.Rollback)), true
	case "finalize":
		return answerAny(run(function, c.Finalize)), true
	case "control":
		return answerAny(run(function, c.Control)), true
	case topology.DeployFunction:
		return answerAny(run(function, c.Deploy)), true
	case topology.DeployStatusFunction:
		return answerAny(run(function, c.DeployStatus)), true
	}
	return nil, false
}

// untyped is a handler answering any, for the callers that choose a function by name.
type untyped = func(context.Context, json.RawMessage) (any, error)

// answerAny is h answering any: nil with an error, as the Lambda runtime ignores the answer
// of a failed invocation.
func answerAny[Out any](h func(context.Context, json.RawMessage) (Out, error)) untyped {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		out, err := h(ctx, payload)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// withFunctionPriority gives the calls of the rollback function, which only ever puts
// aliases back on their stable versions, the budget's Rollback priority: they never wait
// behind forward work. Every other function's calls are Forward unless the use case says
// otherwise at the call (budget.WithPriority), which overrides this.
func withFunctionPriority(ctx context.Context, function string) context.Context {
	if function == "rollback" {
		return budget.WithPriority(ctx, budget.Rollback)
	}
	return ctx
}

// Timeout is the shortest of the functions' timeouts (topology.FunctionTimeout): the least
// time one invocation has.
const Timeout = 60 * time.Second
