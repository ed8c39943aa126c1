// Package stack assembles the local endpoint: the virtual clock, every service, dynalite
// behind the DynamoDB proxy, and the front-door server on one loopback port.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/cloudwatch"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/dynalite"
	"github.com/sfn-rollout/sfn-rollout/internal/local/eventbridge"
	"github.com/sfn-rollout/sfn-rollout/internal/local/lambda"
	"github.com/sfn-rollout/sfn-rollout/internal/local/s3"
	"github.com/sfn-rollout/sfn-rollout/internal/local/scheduler"
	"github.com/sfn-rollout/sfn-rollout/internal/local/server"
	"github.com/sfn-rollout/sfn-rollout/internal/local/sfn"
)

// Options configure a local endpoint.
type Options struct {
	// Addr is the loopback address to listen on; "127.0.0.1:0" picks a free port.
	Addr string
	// Speed runs the virtual clock this many times faster than real time.
	Speed float64
	// Seed makes alias routing, names and injected faults repeat.
	Seed uint64
	// AWSQuotas starts the endpoint with AWS's API quotas in force (core.AWSQuotas); they can
	// be switched at run time (Stack.Quotas, /_sfn-rollout/quotas).
	AWSQuotas bool
	// Out receives one line per event worth seeing; nil discards them.
	Out io.Writer
	// FunctionTimeout is the wall-clock timeout of every in-process function, the
	// controller's included; 0 gives the controller's functions their deployed timeouts
	// (topology.FunctionTimeout) and any other function 60 s.
	FunctionTimeout time.Duration
	// LambdaConcurrency is Lambda's account concurrency: in-process invocations running at
	// once, synchronous and asynchronous together (0: AWS's 1,000).
	LambdaConcurrency int
	// DynaliteCLI is dynalite's cli.js; "" looks for it with dynalite.FindCLI.
	DynaliteCLI string
	// VersionDimensionArn publishes AWS/States's Version dimension as the version ARN
	// instead of the number (sfn.Options.VersionDimensionArn).
	VersionDimensionArn bool
}

// Stack is a running local endpoint.
type Stack struct {
	URL    string
	Clock  *core.Clock
	Faults *core.Faults
	// Quotas are the API rate limits, off unless Options.AWSQuotas; SetMode switches them
	// while the stack runs, as PUT /_sfn-rollout/quotas does.
	Quotas *core.Quotas
	// Reporter prints the endpoint's one-line events; the controller deployed on it adds its own.
	Reporter core.Reporter
	// FunctionTimeout is Options.FunctionTimeout: when set, every function's timeout.
	FunctionTimeout time.Duration

	Lambda        *lambda.Service
	StepFunctions *sfn.Service
	CloudWatch    *cloudwatch.Service
	EventBridge   *eventbridge.Service
	Scheduler     *scheduler.Service
	S3            *s3.Service
	Server        *server.Server
	Dynalite      *dynalite.Process

	http   *http.Server
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// lateExecutions lets EventBridge start executions of a Step Functions service built after it.
type lateExecutions struct {
	mu sync.RWMutex
	e  core.Executions
}

func (l *lateExecutions) set(e core.Executions) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e = e
}

func (l *lateExecutions) StartExecution(ctx context.Context, arn, name, input string) (string, error) {
	l.mu.RLock()
	e := l.e
	l.mu.RUnlock()
	if e == nil {
		return "", errors.New("step functions is not running")
	}
	return e.StartExecution(ctx, arn, name, input)
}

// Start builds every service, starts dynalite, listens on opts.Addr (loopback only) and
// serves until Close. The stack is ready (health 200) when Start returns.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:4599"
	}
	if err := loopbackOnly(opts.Addr); err != nil {
		return nil, err
	}
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	defaultTimeout := opts.FunctionTimeout
	if defaultTimeout <= 0 {
		defaultTimeout = 60 * time.Second
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	s := &Stack{Clock: core.NewClock(opts.Speed), Faults: core.NewFaults(opts.Seed), FunctionTimeout: max(opts.FunctionTimeout, 0)}
	var outMu sync.Mutex
	reporter := core.ReporterFunc(func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, "%s  %s\n", s.Clock.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	})
	s.Reporter = reporter
	s.Quotas = core.NewQuotas(s.Clock, core.AWSQuotas())
	if !opts.AWSQuotas {
		_ = s.Quotas.SetMode(core.QuotasOff)
	}

	s.Lambda = lambda.New(lambda.Options{Faults: s.Faults, Reporter: reporter, Timeout: defaultTimeout, Clock: s.Clock, Concurrency: opts.LambdaConcurrency})
	executions := &lateExecutions{}
	s.EventBridge = eventbridge.New(eventbridge.Options{Clock: s.Clock, Functions: s.Lambda, Executions: executions, Faults: s.Faults, Quotas: s.Quotas, Reporter: reporter})
	s.CloudWatch = cloudwatch.New(cloudwatch.Options{Clock: s.Clock, Bus: s.EventBridge, Faults: s.Faults, Quotas: s.Quotas, Reporter: reporter})
	s.S3 = s3.New(s3.Options{Clock: s.Clock, Bus: s.EventBridge, Faults: s.Faults, Reporter: reporter})
	s.StepFunctions = sfn.New(sfn.Options{Clock: s.Clock, Bus: s.EventBridge, Functions: s.Lambda, Objects: s.S3, Metrics: s.CloudWatch, Faults: s.Faults, Quotas: s.Quotas, Seed: opts.Seed, Reporter: reporter, VersionDimensionArn: opts.VersionDimensionArn})
	executions.set(s.StepFunctions)
	s.Scheduler = scheduler.New(scheduler.Options{Clock: s.Clock, Functions: s.Lambda, Executions: s.StepFunctions, Faults: s.Faults, Quotas: s.Quotas, Reporter: reporter})

	cli := opts.DynaliteCLI
	var err error
	if cli == "" {
		if cli, err = dynalite.FindCLI(); err != nil {
			s.closeServices()
			return nil, err
		}
	}
	if s.Dynalite, err = dynalite.Start(ctx, cli); err != nil {
		s.closeServices()
		return nil, err
	}
	dynamo, err := server.DynamoDBProxy(s.Dynalite.URL, s.Faults)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Server = server.New(server.Services{
		StepFunctions: s.StepFunctions, DynamoDB: dynamo, CloudWatch: s.CloudWatch,
		EventBridge: s.EventBridge, Scheduler: s.Scheduler, Lambda: s.Lambda, S3: s.S3,
	}, s.Faults, s.Quotas)

	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s.URL = "http://" + l.Addr().String()
	s.http = &http.Server{Handler: s.Server, ReadHeaderTimeout: 10 * time.Second}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Add(3)
	go func() { defer s.done.Done(); _ = s.http.Serve(l) }()
	go func() { defer s.done.Done(); s.CloudWatch.Start(runCtx) }()
	go func() { defer s.done.Done(); s.Scheduler.Start(runCtx) }()
	s.Server.SetConfig("endpoint", s.URL)
	s.Server.SetReady()
	reporter.Report("local endpoint ready on %s (speed %gx, dynalite pid %d)", s.URL, opts.Speed, s.Dynalite.PID())
	return s, nil
}

// Close stops serving, every service and dynalite.
func (s *Stack) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	s.done.Wait()
	s.closeServices()
	s.Dynalite.Stop()
}

func (s *Stack) closeServices() {
	if s.StepFunctions != nil {
		s.StepFunctions.Close()
	}
	if s.EventBridge != nil {
		_ = s.EventBridge.Close()
	}
	if s.Lambda != nil {
		s.Lambda.Close()
	}
}

// loopbackOnly refuses an address that is not on the loopback interface.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: local mode binds to loopback addresses only (127.0.0.1)", addr)
	}
	return nil
}
