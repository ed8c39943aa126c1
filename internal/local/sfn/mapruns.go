package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/asl"
	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// mapRun is a Distributed Map state's run: the child workflow executions it starts, their
// counts, and the settings UpdateMapRun changes.
type mapRun struct {
	s       *Service
	parent  *execution
	arn     string
	label   string
	express bool
	start   time.Time
	seq     uint64
	control *asl.MapRunControl

	mu         sync.Mutex
	status     string
	stop       time.Time
	items      runCounts
	executions runCounts
	children   []*execution // the STANDARD children, in start order
}

// runCounts are DescribeMapRun's itemCounts or executionCounts.
type runCounts struct {
	Pending               int64 `json:"pending"`
	Running               int64 `json:"running"`
	Succeeded             int64 `json:"succeeded"`
	Failed                int64 `json:"failed"`
	TimedOut              int64 `json:"timedOut"`
	Aborted               int64 `json:"aborted"`
	Total                 int64 `json:"total"`
	ResultsWritten        int64 `json:"resultsWritten"`
	FailuresNotRedrivable int64 `json:"failuresNotRedrivable"`
	PendingRedrive        int64 `json:"pendingRedrive"`
}

func (c *runCounts) end(status string, n int64) {
	c.Running -= n
	switch status {
	case statusSucceeded:
		c.Succeeded += n
	case statusFailed:
		c.Failed += n
	case statusTimedOut:
		c.TimedOut += n
	default:
		c.Aborted += n
	}
}

var _ asl.MapRunner = (*execRuntime)(nil)

// StartMapRun records a Map Run of the execution. The Map Run ARN is
// arn:aws:states:<region>:<account>:mapRun:<state machine>/<label>:<id>, the form AWS shows.
func (rt *execRuntime) StartMapRun(_ context.Context, start asl.MapRunStart) (asl.MapRun, error) {
	s, x := rt.s, rt.x
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	s.seq++
	run := &mapRun{
		s:       s,
		parent:  x,
		arn:     arnPrefix + "mapRun:" + x.machineNm + "/" + start.Label + ":" + s.newIDLocked(),
		label:   start.Label,
		express: start.Express,
		start:   s.clock.Now(),
		seq:     s.seq,
		control: start.Control,
		status:  statusRunning,
	}
	run.items.Pending, run.items.Total = int64(start.Items), int64(start.Items)
	run.executions.Pending, run.executions.Total = int64(start.Executions), int64(start.Executions)
	if !x.express {
		// An Express parent keeps no history, so its Map Runs are not kept either.
		s.mapRuns[run.arn] = run
		s.mapRunsByExecution[x.arn] = append(s.mapRunsByExecution[x.arn], run)
	}
	return run, nil
}

func (r *mapRun) ARN() string { return r.arn }

var _ asl.ResultsRecorder = (*mapRun)(nil)

// ResultsWritten records what the Map Run's ResultWriter exported.
func (r *mapRun) ResultsWritten(items, executions int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items.ResultsWritten, r.executions.ResultsWritten = items, executions
}

// StartChild starts a child workflow execution: named by an id, under the parent's state
// machine and the Map's label, with a history of its own. STANDARD children are described,
// listed by mapRunArn and kept like other executions; EXPRESS ones, like any Express
// execution, are not. Children send no status change events and no metrics (unconfirmed).
func (r *mapRun) StartChild(ctx context.Context, items int, input json.RawMessage) (asl.MapChild, error) {
	s, p := r.s, r.parent
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return asl.MapChild{}, errClosed
	}
	name := s.newIDLocked()
	seed := s.rng.Uint64()
	s.seq++
	x := &execution{
		name:      name,
		arn:       executionArnTop + p.machineNm + "/" + r.label + ":" + name,
		machine:   machineArn(p.machineNm + "/" + r.label),
		machineNm: p.machineNm + "/" + r.label,
		rev:       p.rev,
		clock:     s.clock,
		input:     string(input),
		start:     s.clock.Now(),
		seq:       s.seq,
		status:    statusRunning,
		closed:    make(chan struct{}),
		express:   r.express,
		mapRun:    r,
		itemCount: items,
	}
	x.ctx, x.cancel = context.WithCancelCause(ctx)
	x.history = []historyEvent{{typ: "ExecutionStarted", input: x.input, at: x.start}}
	if !x.express {
		s.executions[x.arn] = x
	}
	s.mu.Unlock()

	r.mu.Lock()
	if !x.express {
		r.children = append(r.children, x)
	}
	r.executions.Pending--
	r.executions.Running++
	r.items.Pending -= int64(items)
	r.items.Running += int64(items)
	r.mu.Unlock()

	if x.express {
		go s.expressDeadline(x)
	}
	cx := asl.Context{
		ExecutionID:      x.arn,
		ExecutionName:    x.name,
		StartTime:        x.start,
		RoleArn:          x.rev.roleArn,
		StateMachineID:   x.machine,
		StateMachineName: x.machineNm,
	}
	done := func(out json.RawMessage, fail *asl.Failure) {
		defer x.cancel(errFinished)
		status, output, errName, cause := outcome(x, out, fail)
		if s.close(x, status, output, errName, cause) {
			close(x.closed)
		}
		status = x.snapshot().status // StopExecution may have ended it first
		r.mu.Lock()
		defer r.mu.Unlock()
		r.executions.end(status, 1)
		r.items.end(status, int64(items))
	}
	return asl.MapChild{Ctx: x.ctx, Context: cx, Runtime: &execRuntime{s: s, x: x, rng: newLockedRand(seed)}, History: x.record, Done: done}, nil
}

func (r *mapRun) Finish(f *asl.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop = r.s.clock.Now()
	switch {
	case f == nil:
		r.status = statusSucceeded
	case f.Aborted():
		r.status = statusAborted
	default:
		r.status = statusFailed
	}
}

// parseMapRunArn checks arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>.
func parseMapRunArn(arn string) *core.APIError {
	parts := strings.Split(arn, ":")
	if len(parts) < 7 || parts[0] != "arn" || parts[2] != "states" {
		return apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN prefix: %s'", arn)
	}
	if parts[5] != "mapRun" {
		return apiError(codeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: %s'", parts[5])
	}
	if len(parts) != 8 || !strings.Contains(parts[6], "/") {
		return apiError(codeInvalidArn, "Invalid Arn: 'Invalid ARN: %s'", arn)
	}
	return nil
}

func (s *Service) findMapRun(arn *string) (*mapRun, *core.APIError) {
	var v violations
	v.length(arn, "mapRunArn", 1, 2000, true, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := parseMapRunArn(*arn); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.mapRuns[*arn]
	if run == nil {
		return nil, apiError(codeResourceNotFound, "Resource not found: '%s'", *arn) // (unconfirmed)
	}
	return run, nil
}

// mapRunChildren are ListExecutions' answer for a mapRunArn, newest first.
func (s *Service) mapRunChildren(arn string) ([]*execution, *core.APIError) {
	run, e := s.findMapRun(&arn)
	if e != nil {
		return nil, e
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	out := make([]*execution, 0, len(run.children))
	for i := len(run.children) - 1; i >= 0; i-- {
		out = append(out, run.children[i])
	}
	return out, nil
}

type mapRunArnInput struct {
	MapRunArn *string `json:"mapRunArn"`
}

type describeMapRunOutput struct {
	MapRunArn                  string    `json:"mapRunArn"`
	ExecutionArn               string    `json:"executionArn"`
	Status                     string    `json:"status"`
	StartDate                  *epoch    `json:"startDate"`
	StopDate                   *epoch    `json:"stopDate,omitempty"`
	MaxConcurrency             int64     `json:"maxConcurrency"`
	ToleratedFailurePercentage float64   `json:"toleratedFailurePercentage"`
	ToleratedFailureCount      int64     `json:"toleratedFailureCount"`
	ItemCounts                 runCounts `json:"itemCounts"`
	ExecutionCounts            runCounts `json:"executionCounts"`
	RedriveCount               int       `json:"redriveCount"`
}

func (s *Service) describeMapRun(_ context.Context, in *mapRunArnInput) (any, *core.APIError) {
	run, e := s.findMapRun(in.MapRunArn)
	if e != nil {
		return nil, e
	}
	settings := run.control.Settings()
	run.mu.Lock()
	defer run.mu.Unlock()
	return describeMapRunOutput{
		MapRunArn:                  run.arn,
		ExecutionArn:               run.parent.arn,
		Status:                     run.status,
		StartDate:                  stamp(run.start),
		StopDate:                   stamp(run.stop),
		MaxConcurrency:             settings.MaxConcurrency,
		ToleratedFailurePercentage: settings.ToleratedFailurePercentage,
		ToleratedFailureCount:      settings.ToleratedFailureCount,
		ItemCounts:                 run.items,
		ExecutionCounts:            run.executions,
	}, nil
}

type listMapRunsInput struct {
	ExecutionArn *string `json:"executionArn"`
	MaxResults   int32   `json:"maxResults"`
	NextToken    *string `json:"nextToken"`
}

type mapRunItem struct {
	ExecutionArn    string `json:"executionArn"`
	MapRunArn       string `json:"mapRunArn"`
	StateMachineArn string `json:"stateMachineArn"`
	StartDate       *epoch `json:"startDate"`
	StopDate        *epoch `json:"stopDate,omitempty"`
}

// listMapRuns lists an execution's Map Runs in the order they started (unconfirmed).
func (s *Service) listMapRuns(_ context.Context, in *listMapRunsInput) (any, *core.APIError) {
	var v violations
	v.length(in.ExecutionArn, "executionArn", 1, 256, true, false)
	v.between(in.MaxResults, "maxResults", 0, 1000)
	v.length(in.NextToken, "nextToken", 1, 3096, false, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	x, e := s.executionLocked(in.ExecutionArn)
	var runs []*mapRun
	if e == nil {
		runs = append(runs, s.mapRunsByExecution[x.arn]...)
	}
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	page, next, e := paginate(runs, func(r *mapRun) uint64 { return r.seq }, false, in.MaxResults, "mapRuns", in.NextToken)
	if e != nil {
		return nil, e
	}
	items := make([]mapRunItem, 0, len(page))
	for _, r := range page {
		r.mu.Lock()
		items = append(items, mapRunItem{ExecutionArn: x.arn, MapRunArn: r.arn, StateMachineArn: x.machine, StartDate: stamp(r.start), StopDate: stamp(r.stop)})
		r.mu.Unlock()
	}
	return struct {
		MapRuns   []mapRunItem `json:"mapRuns"`
		NextToken *string      `json:"nextToken,omitempty"`
	}{items, next}, nil
}

type updateMapRunInput struct {
	MapRunArn                  *string  `json:"mapRunArn"`
	MaxConcurrency             *int64   `json:"maxConcurrency"`
	ToleratedFailurePercentage *float64 `json:"toleratedFailurePercentage"`
	ToleratedFailureCount      *int64   `json:"toleratedFailureCount"`
}

// updateMapRun changes a Map Run's MaxConcurrency and tolerance; a running Map Run starts
// children and judges failures by the new values from then on.
func (s *Service) updateMapRun(_ context.Context, in *updateMapRunInput) (any, *core.APIError) {
	var v violations
	if in.MaxConcurrency != nil && (*in.MaxConcurrency < 0 || *in.MaxConcurrency > math.MaxInt32) {
		v.add(*in.MaxConcurrency, "maxConcurrency", "Member must have value greater than or equal to 0")
	}
	if p := in.ToleratedFailurePercentage; p != nil && (*p < 0 || *p > 100) {
		v.add(*p, "toleratedFailurePercentage", "Member must have value less than or equal to 100")
	}
	if c := in.ToleratedFailureCount; c != nil && *c < 0 {
		v.add(*c, "toleratedFailureCount", "Member must have value greater than or equal to 0")
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	run, e := s.findMapRun(in.MapRunArn)
	if e != nil {
		return nil, e
	}
	if in.MaxConcurrency == nil && in.ToleratedFailurePercentage == nil && in.ToleratedFailureCount == nil {
		return nil, apiError(codeValidation, "Must provide at least one of maxConcurrency, toleratedFailurePercentage or toleratedFailureCount") // (unconfirmed)
	}
	run.control.Update(in.MaxConcurrency, in.ToleratedFailurePercentage, in.ToleratedFailureCount)
	return struct{}{}, nil
}

var (
	_ asl.ObjectReader = (*execRuntime)(nil)
	_ asl.ObjectWriter = (*execRuntime)(nil)
)

var errNoObjects = errors.New("this endpoint has no S3 for an ItemReader or a ResultWriter")

// GetObject reads an object of the local S3 for a Distributed Map's ItemReader.
func (rt *execRuntime) GetObject(ctx context.Context, bucket, key string) ([]byte, error) {
	if rt.s.opts.Objects == nil {
		return nil, errNoObjects
	}
	return rt.s.opts.Objects.GetObject(ctx, bucket, key)
}

// ListObjects lists objects of the local S3 for a Distributed Map's ItemReader.
func (rt *execRuntime) ListObjects(ctx context.Context, bucket, prefix string) ([]asl.ObjectInfo, error) {
	if rt.s.opts.Objects == nil {
		return nil, errNoObjects
	}
	list, err := rt.s.opts.Objects.ListObjects(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]asl.ObjectInfo, len(list))
	for i, o := range list {
		out[i] = asl.ObjectInfo{Key: o.Key, ETag: o.ETag, StorageClass: o.StorageClass, Size: o.Size, LastModified: o.LastModified}
	}
	return out, nil
}

// PutObject writes an object to the local S3 for a Distributed Map's ResultWriter.
func (rt *execRuntime) PutObject(ctx context.Context, bucket, key string, body []byte) error {
	if rt.s.opts.Objects == nil {
		return errNoObjects
	}
	return rt.s.opts.Objects.PutObject(ctx, bucket, key, body)
}
