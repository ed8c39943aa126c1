package asl

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// distMap is a one-state definition whose Map runs in Distributed mode; fields are the Map's
// other fields and states its ItemProcessor's.
func distMap(fields, states string) string {
	return `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,` + fields + `,
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":` + states + `}}}}`
}

const passProc = `{"A":{"Type":"Pass","End":true}}`

func TestDistributedMapValidate(t *testing.T) {
	proc := func(config string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":` + config + `,"StartAt":"A","States":` + passProc + `}}}}`
	}
	accepted := []struct{ name, def string }{
		{"STANDARD children", proc(`{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"}`)},
		{"EXPRESS children", proc(`{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"}`)},
		{"every field", distMap(`"ItemsPath":"$.items","ItemSelector":{"v.$":"$$.Map.Item.Value"},"MaxConcurrency":5,"Label":"Orders",
			"ItemBatcher":{"MaxItemsPerBatch":10,"MaxInputBytesPerBatch":1024,"BatchInput":{"k.$":"$.k"}},"ToleratedFailurePercentage":12.5,"ToleratedFailureCount":3`, passProc)},
		{"the *Path fields", distMap(`"MaxConcurrencyPath":"$.c","ItemBatcher":{"MaxItemsPerBatchPath":"$.n","MaxInputBytesPerBatchPath":"$.b"},
			"ToleratedFailurePercentagePath":"$.p","ToleratedFailureCountPath":"$.f"`, passProc)},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","End":true,"Items":"{% $states.input.xs %}",
			"ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"k":"{% $states.input.k %}"}},"ToleratedFailureCount":"{% 1 %}","ToleratedFailurePercentage":50,
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			if diags := Validate([]byte(tc.def)); len(diags) != 0 {
				t.Fatalf("refused:\n%s", dumpDiags(diags))
			}
		})
	}

	inline := func(fields string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,` + fields + `,"ItemProcessor":{"StartAt":"A","States":` + passProc + `}}}}`
	}
	refused := []struct{ name, def, loc, message string }{
		{"DISTRIBUTED without ExecutionType", proc(`{"Mode":"DISTRIBUTED"}`), "/States/M/ItemProcessor/ProcessorConfig", "[ExecutionType]"},
		{"an unknown ExecutionType", proc(`{"Mode":"DISTRIBUTED","ExecutionType":"FAST"}`), "/States/M/ItemProcessor/ProcessorConfig/ExecutionType", "[STANDARD, EXPRESS]"},
		{"ExecutionType on an inline Map", proc(`{"Mode":"INLINE","ExecutionType":"STANDARD"}`), "/States/M/ItemProcessor/ProcessorConfig/ExecutionType", "DISTRIBUTED"},
		{"ItemBatcher on an inline Map", inline(`"ItemBatcher":{"MaxItemsPerBatch":2}`), "/States/M/ItemBatcher", "DISTRIBUTED"},
		{"Label on an inline Map", inline(`"Label":"x"`), "/States/M/Label", "DISTRIBUTED"},
		{"a tolerance on an inline Map", inline(`"ToleratedFailureCount":1`), "/States/M/ToleratedFailureCount", "DISTRIBUTED"},
		{"ProcessorConfig in the legacy Iterator", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"Iterator":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":` + passProc + `}}}}`, "/States/M/Iterator/ProcessorConfig", "ProcessorConfig"},
		{"an empty ItemBatcher", distMap(`"ItemBatcher":{}`, passProc), "/States/M/ItemBatcher", "at least one of"},
		{"a BatchInput alone", distMap(`"ItemBatcher":{"BatchInput":{"a":1}}`, passProc), "/States/M/ItemBatcher", "at least one of"},
		{"MaxItemsPerBatch 0", distMap(`"ItemBatcher":{"MaxItemsPerBatch":0}`, passProc), "/States/M/ItemBatcher/MaxItemsPerBatch", "MaxItemsPerBatch"},
		{"MaxInputBytesPerBatch over 256 KiB", distMap(`"ItemBatcher":{"MaxInputBytesPerBatch":262145}`, passProc), "/States/M/ItemBatcher/MaxInputBytesPerBatch", "262144"},
		{"MaxItemsPerBatch and its Path", distMap(`"ItemBatcher":{"MaxItemsPerBatch":1,"MaxItemsPerBatchPath":"$.n"}`, passProc), "/States/M/ItemBatcher", "mutually exclusive"},
		{"an unknown ItemBatcher field", distMap(`"ItemBatcher":{"MaxItemsPerBatch":1,"MaxBatches":2}`, passProc), "/States/M/ItemBatcher/MaxBatches", "MaxBatches"},
		{"a percentage over 100", distMap(`"ToleratedFailurePercentage":101`, passProc), "/States/M/ToleratedFailurePercentage", "0 to 100"},
		{"a negative count", distMap(`"ToleratedFailureCount":-1`, passProc), "/States/M/ToleratedFailureCount", "ToleratedFailureCount"},
		{"a count and its Path", distMap(`"ToleratedFailureCount":1,"ToleratedFailureCountPath":"$.n"`, passProc), "/States/M", "mutually exclusive"},
		{"a Label with a space", distMap(`"Label":"my label"`, passProc), "/States/M/Label", "Label"},
		{"a Label of 41 characters", distMap(`"Label":"`+strings.Repeat("a", 41)+`"`, passProc), "/States/M/Label", "40"},
		{"a Label used twice", `{"StartAt":"M","States":{"M":{"Type":"Map","Next":"N","Label":"L","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":` + passProc + `}},
			"N":{"Type":"Map","End":true,"Label":"L","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}}}}`, "/States/N/Label", "unique"},
		{"a *Path field in JSONata", `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","End":true,"ToleratedFailureCountPath":"$.n",
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`, "/States/M/ToleratedFailureCountPath", "JSONPath"},
		{"Label on a Task", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Label":"x","End":true}}}`, "/States/T/Label", "Label"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			diags := Validate([]byte(tc.def))
			for _, d := range diags {
				if d.Location == tc.loc && strings.Contains(d.Message, tc.message) && d.Severity == SeverityError {
					return
				}
			}
			t.Fatalf("no error containing %q at %s:\n%s", tc.message, tc.loc, dumpDiags(diags))
		})
	}
}

// concurrencyProbe is a task that waits a second of the bubble's clock and records how many
// of its calls overlapped at most.
type concurrencyProbe struct {
	mu           sync.Mutex
	running, max int
	fail         func(input string) bool
}

func (p *concurrencyProbe) invoke(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	p.mu.Lock()
	p.running++
	p.max = max(p.max, p.running)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running--
		p.mu.Unlock()
	}()
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p.fail != nil && p.fail(string(call.Input)) {
		return nil, &Failure{Name: "Boom", Cause: string(call.Input)}
	}
	return call.Input, nil
}

const probeTask = `{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}`

func TestDistributedMapRuns(t *testing.T) {
	tests := []struct {
		name     string
		def      string
		input    string
		fail     func(input string) bool
		want     string // output, when it succeeds
		failure  string // error name, when it fails
		children int    // child executions started (task calls)
		maxConc  int    // 0: not checked
	}{
		{
			name:     "items with ItemSelector, results in order",
			def:      distMap(`"ItemsPath":"$.xs","ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index","k.$":"$.k"}`, probeTask),
			input:    `{"k":"K","xs":["a","b","c"]}`,
			want:     `[{"v":"a","i":0,"k":"K"},{"v":"b","i":1,"k":"K"},{"v":"c","i":2,"k":"K"}]`,
			children: 3,
		},
		{
			name:     "MaxConcurrency bounds the children running at once",
			def:      distMap(`"ItemsPath":"$.xs","MaxConcurrency":2`, probeTask),
			input:    `{"xs":[1,2,3,4,5]}`,
			want:     `[1,2,3,4,5]`,
			children: 5,
			maxConc:  2,
		},
		{
			name:     "MaxConcurrencyPath",
			def:      distMap(`"ItemsPath":"$.xs","MaxConcurrencyPath":"$.c"`, probeTask),
			input:    `{"c":1,"xs":[1,2,3]}`,
			want:     `[1,2,3]`,
			children: 3,
			maxConc:  1,
		},
		{
			name:     "MaxItemsPerBatch with BatchInput: each child gets BatchInput and Items",
			def:      distMap(`"ItemsPath":"$.xs","ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"k.$":"$.k"}}`, probeTask),
			input:    `{"k":"K","xs":[1,2,3,4,5]}`,
			want:     `[{"BatchInput":{"k":"K"},"Items":[1,2]},{"BatchInput":{"k":"K"},"Items":[3,4]},{"BatchInput":{"k":"K"},"Items":[5]}]`,
			children: 3,
		},
		{
			name:     "MaxItemsPerBatchPath without BatchInput",
			def:      distMap(`"ItemsPath":"$.xs","ItemBatcher":{"MaxItemsPerBatchPath":"$.n"}`, probeTask),
			input:    `{"n":3,"xs":[1,2,3,4]}`,
			want:     `[{"Items":[1,2,3]},{"Items":[4]}]`,
			children: 2,
		},
		{
			// {"Items":["aaaa","bbbb"]} is 25 bytes; a third item would make it 32.
			name:     "MaxInputBytesPerBatch",
			def:      distMap(`"ItemsPath":"$.xs","ItemBatcher":{"MaxInputBytesPerBatch":25}`, probeTask),
			input:    `{"xs":["aaaa","bbbb","cccc"]}`,
			want:     `[{"Items":["aaaa","bbbb"]},{"Items":["cccc"]}]`,
			children: 2,
		},
		{
			name:     "an item larger than MaxInputBytesPerBatch fails the state",
			def:      distMap(`"ItemsPath":"$.xs","ItemBatcher":{"MaxInputBytesPerBatch":15}`, probeTask),
			input:    `{"xs":["aaaaaaaaaa"]}`,
			failure:  ErrRuntime,
			children: 0,
		},
		{
			name:     "no tolerance: one failed child fails the Map",
			def:      distMap(`"ItemsPath":"$.xs"`, probeTask),
			input:    `{"xs":[1,2,3]}`,
			fail:     func(in string) bool { return in == "2" },
			failure:  ErrExceedToleratedFailureThreshold,
			children: 3,
		},
		{
			name:     "ToleratedFailureCount 1 tolerates one failure; its result is left out",
			def:      distMap(`"ItemsPath":"$.xs","ToleratedFailureCount":1`, probeTask),
			input:    `{"xs":[1,2,3]}`,
			fail:     func(in string) bool { return in == "2" },
			want:     `[1,3]`,
			children: 3,
		},
		{
			name:     "ToleratedFailureCount 1 does not tolerate two",
			def:      distMap(`"ItemsPath":"$.xs","ToleratedFailureCount":1`, probeTask),
			input:    `{"xs":[1,2,3]}`,
			fail:     func(in string) bool { return in != "1" },
			failure:  ErrExceedToleratedFailureThreshold,
			children: 3,
		},
		{
			name:     "ToleratedFailurePercentage 50 tolerates 2 of 4",
			def:      distMap(`"ItemsPath":"$.xs","ToleratedFailurePercentage":50`, probeTask),
			input:    `{"xs":[1,2,3,4]}`,
			fail:     func(in string) bool { return in == "1" || in == "4" },
			want:     `[2,3]`,
			children: 4,
		},
		{
			name:     "ToleratedFailurePercentagePath 25 does not tolerate 2 of 4",
			def:      distMap(`"ItemsPath":"$.xs","ToleratedFailurePercentagePath":"$.p","MaxConcurrency":1`, probeTask),
			input:    `{"p":25,"xs":[1,2,3,4]}`,
			fail:     func(in string) bool { return in == "1" || in == "2" },
			failure:  ErrExceedToleratedFailureThreshold,
			children: 2, // the run stops at the second failure: 3 and 4 never start
		},
		{
			name:     "a failed batch counts all its items",
			def:      distMap(`"ItemsPath":"$.xs","ItemBatcher":{"MaxItemsPerBatch":2},"ToleratedFailureCount":1`, probeTask),
			input:    `{"xs":[1,2,3]}`,
			fail:     func(in string) bool { return strings.Contains(in, "[1,2]") },
			failure:  ErrExceedToleratedFailureThreshold,
			children: 2,
		},
		{
			name: "JSONata Items, ItemBatcher and tolerance",
			def: `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","End":true,"Items":"{% $states.input.xs %}",
				"ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"k":"{% $states.input.k %}"}},"ToleratedFailureCount":"{% $states.input.n %}",
				"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"A","States":
					{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}}}}}`,
			input:    `{"k":"K","n":2,"xs":[1,2,3]}`,
			fail:     func(in string) bool { return strings.Contains(in, "[3]") },
			want:     `[{"BatchInput":{"k":"K"},"Items":[1,2]}]`,
			children: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				probe := &concurrencyProbe{fail: tc.fail}
				rt := newFake(probe.invoke)
				r := execute(t, tc.def, tc.input, rt)
				if tc.failure != "" {
					checkFailure(t, r, tc.failure, "")
				} else {
					checkOutput(t, r, tc.want)
				}
				if n := len(rt.Calls()); n != tc.children {
					t.Fatalf("%d child executions, want %d", n, tc.children)
				}
				if tc.maxConc > 0 && probe.max != tc.maxConc {
					t.Fatalf("at most %d children at once, want %d", probe.max, tc.maxConc)
				}
			})
		})
	}
}

func TestDistributedMapHistoryAndContext(t *testing.T) {
	bubble(t, func(t *testing.T) {
		def := distMap(`"ItemsPath":"$.xs","Label":"Lines"`, `{"A":{"Type":"Pass","Parameters":{"id.$":"$$.Execution.Id","sm.$":"$$.StateMachine.Id","v.$":"$"},"End":true}}`)
		r := execute(t, def, `{"xs":["a"]}`, newFake(nil))
		if r.fail != nil {
			t.Fatal(r.fail)
		}
		var out []map[string]any
		if err := json.Unmarshal(r.out, &out); err != nil || len(out) != 1 {
			t.Fatalf("output %s", r.out)
		}
		// A child workflow execution is an execution of its own, named under the Map's label.
		childID := regexp.MustCompile(`^arn:aws:states:us-east-1:\d{12}:execution:[^:/]+/Lines:[0-9a-f-]{36}$`)
		if id, _ := out[0]["id"].(string); !childID.MatchString(id) || id == testContext.ExecutionID {
			t.Fatalf("child $$.Execution.Id %q", id)
		}
		if got := eventTypes(r.events); strings.Join(got, ",") != "MapStateEntered,MapRunStarted,MapRunSucceeded,MapStateExited" {
			t.Fatalf("parent history %v (the children's events are theirs)", got)
		}
		mapRun := regexp.MustCompile(`^arn:aws:states:us-east-1:\d{12}:mapRun:[^:/]+/Lines:[0-9a-f-]{36}$`)
		if arn := r.events[1].MapRunArn; !mapRun.MatchString(arn) {
			t.Fatalf("MapRunStarted mapRunArn %q", arn)
		}
	})
	bubble(t, func(t *testing.T) {
		def := distMap(`"ItemsPath":"$.xs"`, `{"A":{"Type":"Fail","Error":"Nope"}}`)
		r := execute(t, def, `{"xs":[1]}`, newFake(nil))
		checkFailure(t, r, ErrExceedToleratedFailureThreshold, "")
		got := eventTypes(r.events)
		if len(got) < 3 || got[2] != "MapRunFailed" || r.events[2].Error != ErrExceedToleratedFailureThreshold {
			t.Fatalf("history %v", got)
		}
	})
}

func TestDistributedMapCatch(t *testing.T) {
	bubble(t, func(t *testing.T) {
		def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","Catch":[{"ErrorEquals":["States.ExceedToleratedFailureThreshold"],"Next":"C"}],"End":true,
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Fail","Error":"Nope"}}}},
			"C":{"Type":"Pass","End":true}}}`
		r := execute(t, def, `{"xs":[1]}`, newFake(nil))
		checkOutput(t, r, `{"Error":"States.ExceedToleratedFailureThreshold","Cause":"`+causeToleratedFailureThreshold+`"}`)
	})
}

// recordingRunner is a MapRunner that records what the engine asks of it.
type recordingRunner struct {
	*fakeRuntime
	mu       sync.Mutex
	starts   []MapRunStart
	children []json.RawMessage
	finished []*Failure
	refuse   error
}

func (r *recordingRunner) StartMapRun(_ context.Context, start MapRunStart) (MapRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse != nil {
		return nil, r.refuse
	}
	r.starts = append(r.starts, start)
	return recordedRun{r}, nil
}

type recordedRun struct{ r *recordingRunner }

func (run recordedRun) ARN() string { return "arn:aws:states:us-east-1:000000000000:mapRun:sm/M:1" }

func (run recordedRun) StartChild(ctx context.Context, items int, input json.RawMessage) (MapChild, error) {
	run.r.mu.Lock()
	defer run.r.mu.Unlock()
	run.r.children = append(run.r.children, input)
	return MapChild{Ctx: ctx, Context: testContext, Runtime: run.r.fakeRuntime, Done: func(json.RawMessage, *Failure) {}}, nil
}

func (run recordedRun) Finish(f *Failure) {
	run.r.mu.Lock()
	defer run.r.mu.Unlock()
	run.r.finished = append(run.r.finished, f)
}

func TestDistributedMapUsesTheRuntimesMapRuns(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := &recordingRunner{fakeRuntime: newFake(nil)}
		def := distMap(`"ItemsPath":"$.xs","MaxConcurrency":3,"ToleratedFailureCount":2,"ItemBatcher":{"MaxItemsPerBatch":2}`, passProc)
		r := execute(t, def, `{"xs":[1,2,3]}`, rt)
		checkOutput(t, r, `[{"Items":[1,2]},{"Items":[3]}]`)
		if len(rt.starts) != 1 {
			t.Fatalf("%d Map Runs", len(rt.starts))
		}
		s := rt.starts[0]
		if s.Label != "M" || s.Items != 3 || s.Executions != 2 || s.Express {
			t.Fatalf("start %+v", s)
		}
		if got := s.Control.Settings(); got.MaxConcurrency != 3 || got.ToleratedFailureCount != 2 || !got.HasCount || got.HasPercentage {
			t.Fatalf("settings %+v", got)
		}
		if len(rt.children) != 2 || len(rt.finished) != 1 || rt.finished[0] != nil {
			t.Fatalf("children %d, finished %v", len(rt.children), rt.finished)
		}
		if r.events[1].MapRunArn != (recordedRun{}).ARN() {
			t.Fatalf("MapRunStarted %+v", r.events[1])
		}
	})
	bubble(t, func(t *testing.T) {
		rt := &recordingRunner{fakeRuntime: newFake(nil), refuse: errors.New("no room")}
		r := execute(t, distMap(`"ItemsPath":"$.xs"`, passProc), `{"xs":[1]}`, rt)
		checkFailure(t, r, ErrTaskFailed, "no room")
	})
}

func TestDistributedMapUpdateWhileRunning(t *testing.T) {
	bubble(t, func(t *testing.T) {
		probe := &concurrencyProbe{}
		rt := &recordingRunner{fakeRuntime: newFake(probe.invoke)}
		d := mustParse(t, distMap(`"ItemsPath":"$.xs","MaxConcurrency":1`, probeTask))
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.Run(context.Background(), json.RawMessage(`{"xs":[1,2,3,4,5,6]}`), testContext, rt, nil)
		}()
		time.Sleep(time.Second / 2) // the first child is running
		rt.mu.Lock()
		control := rt.starts[0].Control
		rt.mu.Unlock()
		three := int64(3)
		control.Update(&three, nil, nil)
		<-done
		if probe.max != 3 {
			t.Fatalf("at most %d children at once after raising MaxConcurrency to 3", probe.max)
		}
	})
}

func TestDistributedMapChildrenDoNotSeeTheParentsVariables(t *testing.T) {
	bubble(t, func(t *testing.T) {
		def := `{"StartAt":"S","States":{"S":{"Type":"Pass","Assign":{"x":1},"Next":"M"},
			"M":{"Type":"Map","ItemsPath":"$.xs","End":true,"ItemSelector":{"x.$":"$x","v.$":"$$.Map.Item.Value"},
				"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$x"},"End":true}}}}}}`
		r := execute(t, def, `{"xs":[1]}`, newFake(nil))
		// The ItemSelector, evaluated in the parent, reads $x; the child cannot, so it fails.
		checkFailure(t, r, ErrExceedToleratedFailureThreshold, "")
		def = strings.Replace(def, `"Parameters":{"x.$":"$x"}`, `"Parameters":{"x.$":"$.x"}`, 1)
		checkOutput(t, execute(t, def, `{"xs":[1]}`, newFake(nil)), `[{"x":1}]`)
	})
}
