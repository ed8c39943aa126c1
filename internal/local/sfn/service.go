// Package sfn is the local Step Functions: state machines, versions, aliases and tags over
// awsJson1_0, and executions that run the ASL on the virtual clock.
package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Options are the service's collaborators. Any of Bus, Functions, Objects, Metrics and Reporter may
// be nil: that effect is skipped. Faults and Quotas may be nil: off.
type Options struct {
	Clock     *core.Clock
	Bus       core.Bus
	Functions core.Functions
	Objects   core.Objects // S3, which a Distributed Map's ItemReader reads and ResultWriter writes
	Metrics   core.Metrics
	Faults    *core.Faults
	Quotas    *core.Quotas
	Seed      uint64 // alias routing, generated names, revision ids and task tokens
	Reporter  core.Reporter
	// KeepFinished bounds the finished executions kept for Describe/List/History (AWS keeps
	// them 90 days; a long local run would grow without end). The oldest are forgotten
	// first; 0 means DefaultKeepFinished.
	KeepFinished int
	// VersionDimensionArn publishes the Version dimension of AWS/States metrics as the
	// version ARN instead of the version number: AWS does not document which it writes,
	// and the controller must find the candidate's metrics either way.
	VersionDimensionArn bool
}

// DefaultKeepFinished is how many finished executions the service keeps by default.
const DefaultKeepFinished = 100_000

// Service is the local Step Functions. It implements http.Handler (awsJson1_0, POST /,
// X-Amz-Target: AWSStepFunctions.<Operation>) and core.Executions.
type Service struct {
	opts  Options
	clock *core.Clock

	mu         sync.Mutex
	machines   map[string]*stateMachine // by name
	executions map[string]*execution    // by ARN
	byMachine  map[string][]*execution  // by state machine name, in start order
	tokens     map[string]*taskToken
	mapRuns    map[string]*mapRun // by ARN (mapruns.go)
	// mapRunsByExecution are the Map Runs of each execution, in start order.
	mapRunsByExecution map[string][]*mapRun
	rng                *rand.Rand // ids, generated names, tokens, per-execution seeds
	routing            *rand.Rand // alias routing draws only, so that a seed repeats the same split
	seq                uint64     // orders state machines, aliases and executions
	closed             bool
	finished           []*execution // finished executions, oldest first, for KeepFinished

	root   context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

var (
	_ http.Handler    = (*Service)(nil)
	_ core.Executions = (*Service)(nil)
)

var (
	errClosed   = errors.New("sfn-rollout local is shutting down")
	errStopped  = errors.New("execution stopped")
	errFinished = errors.New("execution finished")
)

// New makes an empty service; it starts nothing until an execution is started.
func New(opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = core.NewClock(1)
	}
	if opts.KeepFinished <= 0 {
		opts.KeepFinished = DefaultKeepFinished
	}
	root, cancel := context.WithCancelCause(context.Background())
	return &Service{
		opts:               opts,
		clock:              opts.Clock,
		machines:           map[string]*stateMachine{},
		executions:         map[string]*execution{},
		byMachine:          map[string][]*execution{},
		tokens:             map[string]*taskToken{},
		mapRuns:            map[string]*mapRun{},
		mapRunsByExecution: map[string][]*mapRun{},
		rng:                rand.New(rand.NewPCG(opts.Seed, 0x5eed5eed)),
		routing:            rand.New(rand.NewPCG(opts.Seed, 0xa11a5)),
		root:               root,
		cancel:             cancel,
	}
}

// Close stops every running execution and waits for them to end. The executions are left
// ABORTED without events or metrics: the endpoint is going away.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel(errClosed)
	s.wg.Wait()
}

type operation func(s *Service, ctx context.Context, body []byte) (any, *core.APIError)

// handle adapts a typed operation to the table.
func handle[In any](f func(s *Service, ctx context.Context, in *In) (any, *core.APIError)) operation {
	return func(s *Service, ctx context.Context, body []byte) (any, *core.APIError) {
		var in In
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				return nil, apiError("SerializationException", "%v", err)
			}
		}
		return f(s, ctx, &in)
	}
}

var operations = map[string]operation{
	"CreateStateMachine":               handle((*Service).createStateMachine),
	"DescribeStateMachine":             handle((*Service).describeStateMachine),
	"UpdateStateMachine":               handle((*Service).updateStateMachine),
	"ListStateMachines":                handle((*Service).listStateMachines),
	"DeleteStateMachine":               handle((*Service).deleteStateMachine),
	"PublishStateMachineVersion":       handle((*Service).publishStateMachineVersion),
	"ListStateMachineVersions":         handle((*Service).listStateMachineVersions),
	"DeleteStateMachineVersion":        handle((*Service).deleteStateMachineVersion),
	"CreateStateMachineAlias":          handle((*Service).createStateMachineAlias),
	"DescribeStateMachineAlias":        handle((*Service).describeStateMachineAlias),
	"UpdateStateMachineAlias":          handle((*Service).updateStateMachineAlias),
	"ListStateMachineAliases":          handle((*Service).listStateMachineAliases),
	"DeleteStateMachineAlias":          handle((*Service).deleteStateMachineAlias),
	"ValidateStateMachineDefinition":   handle((*Service).validateStateMachineDefinition),
	"StartExecution":                   handle((*Service).startExecution),
	"StartSyncExecution":               handle((*Service).startSyncExecution),
	"DescribeExecution":                handle((*Service).describeExecution),
	"ListExecutions":                   handle((*Service).listExecutions),
	"StopExecution":                    handle((*Service).stopExecution),
	"GetExecutionHistory":              handle((*Service).getExecutionHistory),
	"DescribeStateMachineForExecution": handle((*Service).describeStateMachineForExecution),
	"SendTaskSuccess":                  handle((*Service).sendTaskSuccess),
	"SendTaskFailure":                  handle((*Service).sendTaskFailure),
	"SendTaskHeartbeat":                handle((*Service).sendTaskHeartbeat),
	"ListMapRuns":                      handle((*Service).listMapRuns),
	"DescribeMapRun":                   handle((*Service).describeMapRun),
	"UpdateMapRun":                     handle((*Service).updateMapRun),
	"TagResource":                      handle((*Service).tagResource),
	"UntagResource":                    handle((*Service).untagResource),
	"ListTagsForResource":              handle((*Service).listTagsForResource),
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	op := operations[name]
	if r.Method != http.MethodPost || !ok || op == nil {
		core.WriteJSONError(w, core.Unsupported(serviceName, name))
		return
	}
	// The body is read first: only then does the server notice a client that goes away.
	body, err := io.ReadAll(r.Body)
	lat, fault := s.opts.Faults.Check(serviceName, name)
	sleepReal(r, lat)
	if r.Context().Err() != nil {
		// The caller gave up during the injected latency (its deadline passed): like a request
		// AWS never got to, it is not applied. The controller's alias write window relies on
		// a timed-out write not landing later.
		return
	}
	if fault != nil {
		core.WriteJSONError(w, fault)
		return
	}
	if err != nil {
		core.WriteJSONError(w, apiError("SerializationException", "read body: %v", err))
		return
	}
	if !s.opts.Quotas.Allow(serviceName, name) {
		if name == "StartExecution" {
			s.throttled(body)
		}
		core.WriteJSONError(w, core.ErrThrottling)
		return
	}
	out, e := op(s, r.Context(), body)
	if e != nil {
		core.WriteJSONError(w, e)
		return
	}
	core.WriteJSON(w, out)
}

// StartExecution starts an execution for EventBridge and Scheduler targets, under the same
// faults, quotas and rules as the API call.
func (s *Service) StartExecution(ctx context.Context, stateMachineArn, name, input string) (string, error) {
	lat, fault := s.opts.Faults.Check(serviceName, "StartExecution")
	if err := sleepCtx(ctx, lat); err != nil {
		return "", err
	}
	if fault != nil {
		return "", fault
	}
	if !s.opts.Quotas.Allow(serviceName, "StartExecution") {
		s.throttledArn(stateMachineArn)
		return "", core.ErrThrottling
	}
	in := startExecutionInput{StateMachineArn: &stateMachineArn}
	if input != "" {
		in.Input = &input
	}
	if name != "" {
		in.Name = &name
	}
	x, _, e := s.start(in)
	if e != nil {
		return "", e
	}
	return x.arn, nil
}

// throttled counts a refused StartExecution as ExecutionThrottled on its state machine.
func (s *Service) throttled(body []byte) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if json.Unmarshal(body, &in) == nil {
		s.throttledArn(in.StateMachineArn)
	}
}

func (s *Service) report(format string, args ...any) {
	if s.opts.Reporter != nil {
		s.opts.Reporter.Report(format, args...)
	}
}

// newIDLocked is a random UUID (version 4 layout) from the seeded source.
func (s *Service) newIDLocked() string {
	hi, lo := s.rng.Uint64(), s.rng.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

// sleepCtx waits an injected latency in wall-clock time, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
