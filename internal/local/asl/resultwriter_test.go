package asl

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

// writerRuntime is the fake runtime with a bucket "out" that keeps what is written to it.
type writerRuntime struct {
	*fakeRuntime
	mu      *sync.Mutex
	written map[string]string // key → body
}

func newWriterRuntime() writerRuntime {
	return writerRuntime{fakeRuntime: newFake(nil), mu: &sync.Mutex{}, written: map[string]string{}}
}

func (r writerRuntime) PutObject(_ context.Context, bucket, key string, body []byte) error {
	if bucket != "out" {
		return errors.New("NoSuchBucket: " + bucket)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written[key] = string(body)
	return nil
}

// failOdd is an ItemProcessor that fails the items whose "bad" is true.
const failOdd = `{"A":{"Type":"Choice","Choices":[{"Variable":"$.bad","BooleanEquals":true,"Next":"F"}],"Default":"P"},
	"F":{"Type":"Fail","Error":"Bad","Cause":"bad item"},"P":{"Type":"Pass","Parameters":{"n.$":"$.n","pair.$":"States.Array($.n, $.n)"},"OutputPath":"$.pair","End":true}}`

const threeItems = `{"items":[{"n":1,"bad":false},{"n":2,"bad":true},{"n":3,"bad":false}]}`

func TestResultWriterValidate(t *testing.T) {
	for _, tc := range []struct{ name, writer string }{
		{"WriterConfig alone", `{"WriterConfig":{"Transformation":"FLATTEN","OutputType":"JSON"}}`},
		{"Resource and Parameters", `{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"out","Prefix.$":"$.prefix"}}`},
		{"all three", `{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"out"},"WriterConfig":{"Transformation":"COMPACT","OutputType":"JSONL"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diags := Validate([]byte(distMap(`"ResultWriter":`+tc.writer, passProc))); len(diags) != 0 {
				t.Fatalf("refused:\n%s", dumpDiags(diags))
			}
		})
	}
	t.Run("JSONata Arguments", func(t *testing.T) {
		def := `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","End":true,"Items":"{% $states.input.xs %}",
			"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Arguments":{"Bucket":"out","Prefix":"{% $states.input.p %}"}},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`
		if diags := Validate([]byte(def)); len(diags) != 0 {
			t.Fatalf("refused:\n%s", dumpDiags(diags))
		}
	})
	for _, tc := range []struct{ name, def, loc, message string }{
		{"empty", distMap(`"ResultWriter":{}`, passProc), "/States/M/ResultWriter", "cannot be empty"},
		{"Resource without Parameters", distMap(`"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject"}`, passProc), "/States/M/ResultWriter", "Parameters"},
		{"Parameters without Resource", distMap(`"ResultWriter":{"Parameters":{"Bucket":"out"}}`, passProc), "/States/M/ResultWriter", "Resource"},
		{"another resource", distMap(`"ResultWriter":{"Resource":"arn:aws:states:::s3:getObject","Parameters":{"Bucket":"out"}}`, passProc), "/States/M/ResultWriter/Resource", "s3:putObject"},
		{"an unknown Transformation", distMap(`"ResultWriter":{"WriterConfig":{"Transformation":"SQUASH"}}`, passProc), "/States/M/ResultWriter/WriterConfig/Transformation", "SQUASH"},
		{"an unknown OutputType", distMap(`"ResultWriter":{"WriterConfig":{"OutputType":"CSV"}}`, passProc), "/States/M/ResultWriter/WriterConfig/OutputType", "CSV"},
		{"on an inline Map", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ResultWriter":{"WriterConfig":{"Transformation":"NONE"}},"ItemProcessor":{"StartAt":"A","States":` + passProc + `}}}}`, "/States/M/ResultWriter", "DISTRIBUTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags := Validate([]byte(tc.def))
			for _, d := range diags {
				if d.Location == tc.loc && strings.Contains(d.Message, tc.message) {
					return
				}
			}
			t.Fatalf("no error containing %q at %s:\n%s", tc.message, tc.loc, dumpDiags(diags))
		})
	}
}

// WriterConfig alone reshapes the Map's result: COMPACT is the outputs of the children that
// succeeded, FLATTEN splices array outputs, NONE is every child's record.
func TestResultWriterConfigAlone(t *testing.T) {
	run := func(t *testing.T, transformation string) result {
		def := distMap(`"ItemsPath":"$.items","ToleratedFailureCount":1,"ResultWriter":{"WriterConfig":{"Transformation":"`+transformation+`"}}`, failOdd)
		return execute(t, def, threeItems, newFake(nil))
	}
	t.Run("COMPACT", func(t *testing.T) {
		bubble(t, func(t *testing.T) { checkOutput(t, run(t, "COMPACT"), `[[1,1],[3,3]]`) })
	})
	t.Run("FLATTEN", func(t *testing.T) { bubble(t, func(t *testing.T) { checkOutput(t, run(t, "FLATTEN"), `[1,1,3,3]`) }) })
	t.Run("NONE", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			r := run(t, "NONE")
			if r.fail != nil {
				t.Fatal(r.fail)
			}
			var recs []map[string]any
			if err := decodeInto(r.out, &recs); err != nil || len(recs) != 3 {
				t.Fatalf("output %s: want three records (%v)", r.out, err)
			}
			statuses := map[string]int{}
			for _, rec := range recs {
				statuses[rec["Status"].(string)]++
				for _, k := range []string{"ExecutionArn", "Name", "StateMachineArn", "Input", "StartDate", "StopDate"} {
					if s, _ := rec[k].(string); s == "" {
						t.Errorf("record without %s: %v", k, rec)
					}
				}
				switch rec["Status"] {
				case "SUCCEEDED":
					if _, ok := rec["Output"].(string); !ok {
						t.Errorf("a succeeded record's Output is not JSON text: %v", rec)
					}
				case "FAILED":
					if rec["Error"] != "Bad" || rec["Cause"] != "bad item" || rec["Output"] != nil {
						t.Errorf("failed record %v", rec)
					}
				}
			}
			if statuses["SUCCEEDED"] != 2 || statuses["FAILED"] != 1 {
				t.Fatalf("statuses %v", statuses)
			}
		})
	})
}

// Exported to S3: SUCCEEDED_0 and FAILED_0 under <Prefix>/<Map Run id>/, a manifest that
// lists them with their sizes, and the Map's result naming the manifest.
func TestResultWriterExportsToS3(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newWriterRuntime()
		def := distMap(`"ItemsPath":"$.items","ToleratedFailureCount":1,
			"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"out","Prefix.$":"$.prefix"}}`, failOdd)
		r := execute(t, def, `{"prefix":"runs","items":[{"n":1,"bad":false},{"n":2,"bad":true},{"n":3,"bad":false}]}`, rt)
		if r.fail != nil {
			t.Fatal(r.fail)
		}
		var out struct {
			MapRunArn           string
			ResultWriterDetails struct{ Bucket, Key string }
		}
		if err := decodeInto(r.out, &out); err != nil {
			t.Fatal(err)
		}
		id := out.MapRunArn[strings.LastIndex(out.MapRunArn, ":")+1:]
		dir := "runs/" + id + "/"
		if !strings.Contains(out.MapRunArn, ":mapRun:") || out.ResultWriterDetails.Bucket != "out" || out.ResultWriterDetails.Key != dir+"manifest.json" {
			t.Fatalf("result %s", r.out)
		}
		var manifest struct {
			DestinationBucket, MapRunArn string
			ResultFiles                  map[string][]struct {
				Key  string
				Size int
			}
		}
		if err := decodeInto([]byte(rt.written[dir+"manifest.json"]), &manifest); err != nil {
			t.Fatalf("manifest %q: %v", rt.written[dir+"manifest.json"], err)
		}
		if manifest.DestinationBucket != "out" || manifest.MapRunArn != out.MapRunArn || len(manifest.ResultFiles["PENDING"]) != 0 {
			t.Fatalf("manifest %+v", manifest)
		}
		for status, n := range map[string]int{"SUCCEEDED": 2, "FAILED": 1} {
			files := manifest.ResultFiles[status]
			if len(files) != 1 || files[0].Key != dir+status+"_0.json" || files[0].Size != len(rt.written[files[0].Key]) {
				t.Fatalf("%s files %+v (written %v)", status, files, keys(rt.written))
			}
			var recs []map[string]any
			if err := decodeInto([]byte(rt.written[files[0].Key]), &recs); err != nil || len(recs) != n {
				t.Fatalf("%s: %d records, want %d (%v)", status, len(recs), n, err)
			}
			for _, rec := range recs {
				if rec["Status"] != status {
					t.Errorf("%s file holds %v", status, rec)
				}
			}
		}
	})
}

func TestResultWriterJSONLAndCompact(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rt := newWriterRuntime()
		def := distMap(`"ItemsPath":"$.items",
			"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"out","Prefix":"p/"},"WriterConfig":{"Transformation":"COMPACT","OutputType":"JSONL"}}`, failOdd)
		r := execute(t, def, `{"items":[{"n":1,"bad":false},{"n":3,"bad":false}]}`, rt)
		if r.fail != nil {
			t.Fatal(r.fail)
		}
		var body string
		for k, v := range rt.written {
			if strings.HasPrefix(k, "p/") && strings.HasSuffix(k, "/SUCCEEDED_0.jsonl") {
				body = v
			}
		}
		if body != "[1,1]\n[3,3]\n" {
			t.Fatalf("SUCCEEDED_0.jsonl %q (written %v)", body, keys(rt.written))
		}
	})
}

func TestResultWriterFailures(t *testing.T) {
	t.Run("a bucket that does not exist", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := distMap(`"ItemsPath":"$.items","ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"elsewhere"}}`, passProc)
			checkFailure(t, execute(t, def, `{"items":[1]}`, newWriterRuntime()), ErrResultWriterFailed, "NoSuchBucket")
		})
	})
	t.Run("no Bucket", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			def := distMap(`"ItemsPath":"$.items","ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Prefix":"p"}}`, passProc)
			checkFailure(t, execute(t, def, `{"items":[1]}`, newWriterRuntime()), ErrResultWriterFailed, "Bucket")
		})
	})
	t.Run("the tolerance exceeded: the results are written, then the state fails", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			rt := newWriterRuntime()
			def := distMap(`"ItemsPath":"$.items","MaxConcurrency":1,"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"out"}}`, failOdd)
			checkFailure(t, execute(t, def, threeItems, rt), ErrExceedToleratedFailureThreshold, "")
			var failed string
			for k, v := range rt.written {
				if strings.HasSuffix(k, "/FAILED_0.json") {
					failed = v
				}
			}
			if !strings.Contains(failed, `"Error":"Bad"`) {
				t.Fatalf("FAILED_0.json %q (written %v)", failed, keys(rt.written))
			}
		})
	})
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func decodeInto(raw []byte, v any) error { return json.Unmarshal(raw, v) }
