package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// A Distributed Map state (ItemProcessor.ProcessorConfig.Mode DISTRIBUTED) runs each item,
// or each batch of items, as a child workflow execution with its own context object and
// history, under a Map Run that counts them and that UpdateMapRun can retune while it runs.
// The runtime records them when it implements MapRunner; otherwise they run unrecorded.

// Error names of Distributed Map states.
const (
	ErrExceedToleratedFailureThreshold = "States.ExceedToleratedFailureThreshold"
	// The cause is the wording AWS is reported to use (unconfirmed).
	causeToleratedFailureThreshold = "The specified tolerated failure threshold was exceeded"
)

// maxDistributedConcurrency is how many child workflow executions a Map Run runs at once
// when MaxConcurrency is 0 or absent: AWS's "up to 10,000 parallel child workflow executions".
const maxDistributedConcurrency = 10000

// MapRunner is implemented by a Runtime that records Distributed Map runs (Map Runs and
// their child workflow executions) the way the Step Functions API shows them.
type MapRunner interface {
	StartMapRun(ctx context.Context, start MapRunStart) (MapRun, error)
}

// MapRunStart describes a Map Run as it starts.
type MapRunStart struct {
	State      string // the Map state's name
	Label      string // the Label field, or the state's name when there is none (unconfirmed)
	Express    bool   // ExecutionType EXPRESS
	Items      int    // items to process
	Executions int    // child workflow executions to start: the items, or their batches
	Control    *MapRunControl
}

// MapRun is one recorded Map Run.
type MapRun interface {
	ARN() string
	// StartChild records a child workflow execution of items items on input and answers
	// what its run needs; Done is called once with its end.
	StartChild(ctx context.Context, items int, input json.RawMessage) (MapChild, error)
	// Finish records the end of the Map Run: f nil is SUCCEEDED, f.Aborted() ABORTED,
	// anything else FAILED.
	Finish(f *Failure)
}

// MapChild is what one child workflow execution runs with.
type MapChild struct {
	Ctx     context.Context // cancelled when the child is stopped
	Context Context
	Runtime Runtime
	History func(HistoryEvent) // may be nil
	Done    func(output json.RawMessage, f *Failure)
}

// MapRunSettings are the settings of a Map Run that UpdateMapRun may change while it runs.
type MapRunSettings struct {
	MaxConcurrency             int64 // 0: no limit but AWS's
	ToleratedFailurePercentage float64
	ToleratedFailureCount      int64
	HasPercentage, HasCount    bool // the tolerance was set, by the definition or by an update
}

// MapRunControl holds a running Map Run's settings: Run reads them before every child
// execution it starts and after every one that fails.
type MapRunControl struct {
	mu       sync.Mutex
	settings MapRunSettings
	changed  chan struct{} // closed and replaced when the settings change
}

func newMapRunControl(s MapRunSettings) *MapRunControl {
	return &MapRunControl{settings: s, changed: make(chan struct{})}
}

// Settings answers the current settings.
func (c *MapRunControl) Settings() MapRunSettings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settings
}

// Update changes the settings that are not nil, as UpdateMapRun does.
func (c *MapRunControl) Update(maxConcurrency *int64, percentage *float64, count *int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if maxConcurrency != nil {
		c.settings.MaxConcurrency = *maxConcurrency
	}
	if percentage != nil {
		c.settings.ToleratedFailurePercentage, c.settings.HasPercentage = *percentage, true
	}
	if count != nil {
		c.settings.ToleratedFailureCount, c.settings.HasCount = *count, true
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// exceeded reports whether failed of total items break the tolerance: with none set, any
// failure does; with both, either one.
func (s MapRunSettings) exceeded(failed, total int) bool {
	if failed == 0 {
		return false
	}
	if !s.HasPercentage && !s.HasCount {
		return true
	}
	if s.HasCount && int64(failed) > s.ToleratedFailureCount {
		return true
	}
	return s.HasPercentage && float64(failed)*100 > s.ToleratedFailurePercentage*float64(total)
}

// distributed is what a Distributed Map state has beyond an inline Map.
type distributed struct {
	express bool
	label   string
	child   *Definition   // the ItemProcessor, run as a workflow of its own
	reader  *itemReader   // ItemReader (itemreader.go); nil: the items are inline
	writer  *resultWriter // ResultWriter (resultwriter.go); nil: the outputs, as COMPACT

	batching                   bool
	maxItems, maxBytes         int64
	maxItemsPath, maxBytesPath *jsonPath
	batchInput                 *tnode
	jxBatchInput               *jnode
	percentage                 float64
	count                      int64
	hasPercentage, hasCount    bool
	percentagePath, countPath  *jsonPath
	jxPercentage, jxCount      *jnode
}

// distributedFields checks the fields only a Distributed Map has; an inline Map with one of
// them is refused.
func (c *checker) distributedFields(st *state, get getter, loc string) {
	d := st.dist
	for _, k := range []string{"ItemReader", "ResultWriter", "ItemBatcher", "Label", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath"} {
		if _, ok := get(k); ok && d == nil {
			c.schema(loc+"/"+k, "The field '%s' is only supported in a Map state whose ItemProcessor's ProcessorConfig has 'Mode' 'DISTRIBUTED'", k) // (unconfirmed)
		}
	}
	if d == nil {
		return
	}
	d.label = st.name
	if v, ok := get("Label"); ok {
		if s, ok := c.expectString(v, loc+"/Label"); ok {
			if len([]rune(s)) > 40 || s == "" || strings.ContainsAny(s, " \t\n\r<>{}[]?*\"#%\\^|~`$&,;:/") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				c.schema(loc+"/Label", "The value for the field 'Label' must be 1 to 40 characters, without whitespace, brackets, wildcards or special characters") // (unconfirmed)
			} else if c.labels[s] {
				c.schema(loc+"/Label", "The value for the field 'Label' must be unique among the Map states of the definition: %s", s) // (unconfirmed)
			}
			if c.labels == nil {
				c.labels = map[string]bool{}
			}
			c.labels[s] = true
			d.label = s
		}
	}
	d.child = &Definition{root: st.processor, variables: true}

	pathOf := func(v any, loc, field string) *jsonPath {
		if s, ok := c.expectString(v, loc); ok {
			return c.referencePath(s, loc, field, true)
		}
		return nil
	}
	if v, ok := get("ItemBatcher"); ok {
		c.itemBatcher(st, v, loc+"/ItemBatcher")
	}
	if v, ok := get("ItemReader"); ok {
		c.itemReader(st, v, loc+"/ItemReader")
		for _, k := range []string{"ItemsPath", "Items"} {
			if _, both := get(k); both {
				c.schema(loc+"/"+k, "The fields '%s' and 'ItemReader' are mutually exclusive", k) // (unconfirmed)
			}
		}
	}
	if v, ok := get("ResultWriter"); ok {
		c.resultWriter(st, v, loc+"/ResultWriter")
	}
	if v, ok := get("ToleratedFailurePercentage"); ok {
		if st.jx != nil && c.jsonataString(fmt.Sprint(v), loc+"/ToleratedFailurePercentage") {
			d.jxPercentage = c.compileJSONata(v, loc+"/ToleratedFailurePercentage", "ToleratedFailurePercentage", jsonataAccess{})
		} else if f, ok := float(v); !ok || f < 0 || f > 100 {
			c.schema(loc+"/ToleratedFailurePercentage", "The value for the field 'ToleratedFailurePercentage' must be a number from 0 to 100") // (unconfirmed)
		} else {
			d.percentage, d.hasPercentage = f, true
		}
	}
	if v, ok := get("ToleratedFailureCount"); ok {
		if st.jx != nil && c.jsonataString(fmt.Sprint(v), loc+"/ToleratedFailureCount") {
			d.jxCount = c.compileJSONata(v, loc+"/ToleratedFailureCount", "ToleratedFailureCount", jsonataAccess{})
		} else if n, ok := c.nonNegativeInt(v, loc+"/ToleratedFailureCount", "ToleratedFailureCount"); ok {
			d.count, d.hasCount = n, true
		}
	}
	if v, ok := get("ToleratedFailurePercentagePath"); ok {
		d.percentagePath = pathOf(v, loc+"/ToleratedFailurePercentagePath", "ToleratedFailurePercentagePath")
	}
	if v, ok := get("ToleratedFailureCountPath"); ok {
		d.countPath = pathOf(v, loc+"/ToleratedFailureCountPath", "ToleratedFailureCountPath")
	}
	for _, pair := range [][2]string{{"ToleratedFailurePercentage", "ToleratedFailurePercentagePath"}, {"ToleratedFailureCount", "ToleratedFailureCountPath"}} {
		_, a := get(pair[0])
		_, b := get(pair[1])
		if a && b {
			c.schema(loc, "The fields '%s' and '%s' are mutually exclusive", pair[0], pair[1]) // (unconfirmed)
		}
	}
}

func (c *checker) itemBatcher(st *state, v any, loc string) {
	d := st.dist
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return
	}
	d.batching = true
	pathOf := func(v any, loc, field string) *jsonPath {
		if st.jx != nil {
			c.schema(loc, "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", field)
			return nil
		}
		if s, ok := c.expectString(v, loc); ok {
			return c.referencePath(s, loc, field, true)
		}
		return nil
	}
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "MaxItemsPerBatch":
			d.maxItems, _ = c.positiveInt(val, kloc, k)
		case "MaxInputBytesPerBatch":
			if n, ok := c.positiveInt(val, kloc, k); ok && n > MaxPayloadSize {
				c.schema(kloc, "The value for the field 'MaxInputBytesPerBatch' must be at most %d", MaxPayloadSize) // (unconfirmed)
			} else {
				d.maxBytes = n
			}
		case "MaxItemsPerBatchPath":
			d.maxItemsPath = pathOf(val, kloc, k)
		case "MaxInputBytesPerBatchPath":
			d.maxBytesPath = pathOf(val, kloc, k)
		case "BatchInput":
			if st.jx != nil {
				d.jxBatchInput = c.compileJSONata(val, kloc, k, jsonataAccess{})
			} else {
				d.batchInput = c.compileTemplate(val, kloc, k)
			}
		default:
			c.unknownField(k, kloc, "")
		}
	}
	for _, pair := range [][2]string{{"MaxItemsPerBatch", "MaxItemsPerBatchPath"}, {"MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"}} {
		_, a := o.get(pair[0])
		_, b := o.get(pair[1])
		if a && b {
			c.schema(loc, "The fields '%s' and '%s' are mutually exclusive", pair[0], pair[1]) // (unconfirmed)
		}
	}
	if d.maxItems == 0 && d.maxBytes == 0 && d.maxItemsPath == nil && d.maxBytesPath == nil {
		c.schema(loc, "The field 'ItemBatcher' must specify at least one of [MaxItemsPerBatch, MaxItemsPerBatchPath, MaxInputBytesPerBatch, MaxInputBytesPerBatchPath]") // (unconfirmed)
	}
}

// batchPlan is a Distributed Map's batching and tolerance, evaluated on its input.
type batchPlan struct {
	maxItems, maxBytes int64
	batchInput         any
	hasBatchInput      bool
	settings           MapRunSettings
}

// plan evaluates the *Path fields (JSONPath) or expressions (JSONata) of a Distributed Map.
func (d *distributed) plan(limit int64, lookup func(*jsonPath) (any, bool), jx *jenv, tpl *evalEnv) (batchPlan, *Failure) {
	p := batchPlan{maxItems: d.maxItems, maxBytes: d.maxBytes}
	p.settings = MapRunSettings{MaxConcurrency: limit, ToleratedFailurePercentage: d.percentage, ToleratedFailureCount: d.count, HasPercentage: d.hasPercentage, HasCount: d.hasCount}
	whole := func(path *jsonPath, lo, hi int64) (int64, *Failure) {
		v, found := lookup(path)
		n, ok := integer(v)
		if !found || !ok || n < lo || n > hi {
			return 0, runtimeFailure("The value of '%s' must be an integer from %d to %d, not %s", path.raw, lo, hi, describe(v, found)) // (unconfirmed)
		}
		return n, nil
	}
	var f *Failure
	if d.maxItemsPath != nil {
		if p.maxItems, f = whole(d.maxItemsPath, 1, 99999999); f != nil {
			return p, f
		}
	}
	if d.maxBytesPath != nil {
		if p.maxBytes, f = whole(d.maxBytesPath, 1, MaxPayloadSize); f != nil {
			return p, f
		}
	}
	if d.countPath != nil {
		if p.settings.ToleratedFailureCount, f = whole(d.countPath, 0, 99999999); f != nil {
			return p, f
		}
		p.settings.HasCount = true
	}
	if d.percentagePath != nil {
		v, found := lookup(d.percentagePath)
		pct, ok := float(v)
		if !found || !ok || pct < 0 || pct > 100 {
			return p, runtimeFailure("The value of '%s' must be a number from 0 to 100, not %s", d.percentagePath.raw, describe(v, found)) // (unconfirmed)
		}
		p.settings.ToleratedFailurePercentage, p.settings.HasPercentage = pct, true
	}
	if d.jxCount != nil {
		if p.settings.ToleratedFailureCount, f = jsonataInt(d.jxCount, jx, "ToleratedFailureCount", 0); f != nil {
			return p, f
		}
		p.settings.HasCount = true
	}
	if d.jxPercentage != nil {
		v, f := d.jxPercentage.eval(jx)
		if f != nil {
			return p, f
		}
		pct, ok := float(v)
		if !ok || pct < 0 || pct > 100 {
			return p, queryFailure("The JSONata expression '%s' specified for the field 'ToleratedFailurePercentage' returned %s, not a number from 0 to 100", d.jxPercentage.src, encodeString(v)) // (unconfirmed)
		}
		p.settings.ToleratedFailurePercentage, p.settings.HasPercentage = pct, true
	}
	switch {
	case d.batchInput != nil:
		if p.batchInput, f = d.batchInput.eval(tpl); f != nil {
			return p, f
		}
		p.hasBatchInput = true
	case d.jxBatchInput != nil:
		if p.batchInput, f = d.jxBatchInput.eval(jx); f != nil {
			return p, f
		}
		p.hasBatchInput = true
	}
	return p, nil
}

// batches groups the child inputs: one an item without an ItemBatcher, else
// {"BatchInput": ..., "Items": [...]} of at most maxItems items and maxBytes bytes.
func (d *distributed) batches(inputs []any, p batchPlan) ([]any, []int, *Failure) {
	if !d.batching {
		counts := make([]int, len(inputs))
		for i := range counts {
			counts[i] = 1
		}
		return inputs, counts, nil
	}
	base := len(`{"Items":[]}`)
	if p.hasBatchInput {
		base += len(`"BatchInput":,`) + len(encode(p.batchInput))
	}
	var (
		out    []any
		counts []int
		cur    []any
		size   int
	)
	flush := func() {
		if len(cur) == 0 {
			return
		}
		b := map[string]any{"Items": cur}
		if p.hasBatchInput {
			b["BatchInput"] = p.batchInput
		}
		out, counts = append(out, b), append(counts, len(cur))
		cur, size = nil, 0
	}
	for _, in := range inputs {
		n := len(encode(in))
		if p.maxBytes > 0 && int64(base+n) > p.maxBytes {
			return nil, nil, runtimeFailure("An item of %d bytes does not fit in a batch of MaxInputBytesPerBatch %d bytes", n, p.maxBytes) // (unconfirmed)
		}
		next := size + n
		if len(cur) > 0 {
			next++ // the comma
		}
		if len(cur) > 0 && (p.maxItems > 0 && int64(len(cur)) >= p.maxItems || p.maxBytes > 0 && int64(base+next) > p.maxBytes) {
			flush()
			next = n
		}
		cur, size = append(cur, in), next
	}
	flush()
	return out, counts, nil
}

// runDistributed runs a Distributed Map state's items as child workflow executions under a
// Map Run, and answers its result: the outputs of the children that succeeded, in item
// order, unless a ResultWriter reshapes or exports them (to, when it exports).
func (e *execution) runDistributed(ctx context.Context, st *state, items []any, p batchPlan, selector func(i int, item any) (any, *Failure), to *writerTarget) (any, *Failure) {
	d := st.dist
	inputs := items
	if selector != nil {
		inputs = make([]any, len(items))
		for i, item := range items {
			v, f := selector(i, item)
			if f != nil {
				return nil, f
			}
			inputs[i] = v
		}
	}
	children, counts, f := d.batches(inputs, p)
	if f != nil {
		return nil, f
	}
	control := newMapRunControl(p.settings)
	start := MapRunStart{State: st.name, Label: d.label, Express: d.express, Items: len(items), Executions: len(children), Control: control}
	var run MapRun
	if runner, ok := e.rt.(MapRunner); ok {
		r, err := runner.StartMapRun(ctx, start)
		if err != nil {
			return nil, e.taskFailure(ctx, err)
		}
		run = r
	} else {
		run = e.unrecordedMapRun(d.label)
	}
	e.emit(HistoryEvent{Type: "MapRunStarted", State: st.name, MapRunArn: run.ARN()})

	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := make([]childRecord, len(children))
	var (
		mu          sync.Mutex
		running     int64
		failedItems int
		exceeded    bool
		wg          sync.WaitGroup
	)
	// slot waits until fewer than MaxConcurrency children run, reading the setting anew
	// whenever it changes or a child ends.
	ended := make(chan struct{}, 1)
	slot := func() bool {
		for {
			control.mu.Lock()
			limit, changed := control.settings.MaxConcurrency, control.changed
			control.mu.Unlock()
			if limit <= 0 || limit > maxDistributedConcurrency {
				limit = maxDistributedConcurrency
			}
			mu.Lock()
			if running < limit {
				running++
				mu.Unlock()
				return true
			}
			mu.Unlock()
			select {
			case <-changed:
			case <-ended:
			case <-ictx.Done():
				return false
			}
		}
	}
	for i, input := range children {
		if !slot() {
			break
		}
		raw := encode(input)
		child, err := run.StartChild(ictx, counts[i], raw)
		if err != nil {
			mu.Lock()
			running--
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := childRecord{started: true, arn: child.Context.ExecutionID, name: child.Context.ExecutionName, machine: child.Context.StateMachineID,
				input: raw, start: child.Context.StartTime}
			out, f := d.child.Run(child.Ctx, raw, child.Context, child.Runtime, child.History)
			child.Done(out, f)
			rec.output, rec.failure, rec.stop = out, f, child.Runtime.Now()
			mu.Lock()
			running--
			records[i] = rec
			if f != nil && (!f.Aborted() || ictx.Err() == nil) {
				failedItems += counts[i]
				if !exceeded && control.Settings().exceeded(failedItems, len(items)) {
					exceeded = true
					cancel()
				}
			}
			mu.Unlock()
			select {
			case ended <- struct{}{}:
			default:
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		f := e.aborted(ctx)
		run.Finish(f)
		e.emit(HistoryEvent{Type: "MapRunAborted", State: st.name})
		return nil, f
	}
	if exceeded {
		f := &Failure{Name: ErrExceedToleratedFailureThreshold, Cause: causeToleratedFailureThreshold}
		if to != nil {
			// The results are exported before the Map Run fails (unconfirmed): they are
			// what tells which items failed.
			if _, wf := d.writer.results(ctx, e.rt, run.ARN(), records, to); wf != nil {
				f = wf
			} else {
				countWritten(run, records, counts)
			}
		}
		run.Finish(f)
		e.emit(HistoryEvent{Type: "MapRunFailed", State: st.name, Error: f.Name, Cause: f.Cause})
		return nil, f
	}
	out, f := d.writer.results(ctx, e.rt, run.ARN(), records, to)
	if f == nil && to != nil {
		countWritten(run, records, counts)
	}
	run.Finish(f)
	if f != nil {
		e.emit(HistoryEvent{Type: "MapRunFailed", State: st.name, Error: f.Name, Cause: f.Cause})
		return nil, f
	}
	e.emit(HistoryEvent{Type: "MapRunSucceeded", State: st.name})
	return out, nil
}

// ResultsRecorder is implemented by a MapRun that counts what a ResultWriter exported:
// DescribeMapRun's resultsWritten of items and of executions.
type ResultsRecorder interface {
	ResultsWritten(items, executions int64)
}

// countWritten tells run how many items and children the exported files hold: every child
// that ran, succeeded or not.
func countWritten(run MapRun, records []childRecord, counts []int) {
	rec, ok := run.(ResultsRecorder)
	if !ok {
		return
	}
	var items, executions int64
	for i, r := range records {
		if r.started {
			items += int64(counts[i])
			executions++
		}
	}
	rec.ResultsWritten(items, executions)
}

// decodeRaw turns a child's JSON output back into a value.
func decodeRaw(raw json.RawMessage) any {
	out, err := decodeValue(raw)
	if err != nil {
		return nil
	}
	return out
}

// unrecordedMapRun runs children with the parent's runtime when the runtime keeps no Map
// Runs: ARNs in AWS's form, no history.
func (e *execution) unrecordedMapRun(label string) MapRun {
	return &unrecordedRun{e: e, arn: strings.Replace(e.cx.StateMachineID, ":stateMachine:", ":mapRun:", 1) + "/" + label + ":" + e.newID(), label: label}
}

type unrecordedRun struct {
	e          *execution
	arn, label string
}

func (r *unrecordedRun) ARN() string { return r.arn }

func (r *unrecordedRun) StartChild(ctx context.Context, _ int, _ json.RawMessage) (MapChild, error) {
	name := r.e.newID()
	cx := r.e.cx
	cx.ExecutionName = name
	cx.ExecutionID = strings.Replace(cx.StateMachineID, ":stateMachine:", ":execution:", 1) + "/" + r.label + ":" + name
	cx.StateMachineID += "/" + r.label
	cx.StartTime = r.e.rt.Now()
	cx.RedriveCount, cx.RedriveTime = 0, time.Time{}
	return MapChild{Ctx: ctx, Context: cx, Runtime: r.e.rt, Done: func(json.RawMessage, *Failure) {}}, nil
}

func (r *unrecordedRun) Finish(*Failure) {}

// newID is a version 4 UUID from the execution's generator.
func (e *execution) newID() string {
	var hi, lo uint64
	e.withRand(func(r *rand.Rand) { hi, lo = r.Uint64(), r.Uint64() })
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
