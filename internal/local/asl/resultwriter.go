package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ErrResultWriterFailed is raised when a Distributed Map cannot export its results.
const ErrResultWriterFailed = "States.ResultWriterFailed"

// ObjectWriter is implemented by a Runtime that can write the Amazon S3 objects a
// Distributed Map's ResultWriter exports.
type ObjectWriter interface {
	PutObject(ctx context.Context, bucket, key string, body []byte) error
}

// Transformations of a ResultWriter's WriterConfig.
const (
	transformNone    = "NONE"    // each child as a record: ARN, name, input, output or error, status, dates
	transformCompact = "COMPACT" // each succeeded child's output
	transformFlatten = "FLATTEN" // COMPACT, with array outputs spliced in
)

// resultWriter is a Distributed Map's ResultWriter (Step Functions developer guide,
// "ResultWriter (Map)"): the Map Run's results exported to Amazon S3
// (arn:aws:states:::s3:putObject with Bucket and Prefix), or only reshaped (WriterConfig
// alone).
type resultWriter struct {
	s3             bool
	params         *tnode // Parameters (JSONPath)
	jxArgs         *jnode // Arguments (JSONata)
	transformation string // "" when WriterConfig leaves it out
	jsonl          bool   // OutputType JSONL
}

func (c *checker) resultWriter(st *state, v any, loc string) {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return
	}
	w := &resultWriter{}
	st.dist.writer = w
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "Resource":
			if val != "arn:aws:states:::s3:putObject" {
				c.schema(kloc, "The value for the field 'Resource' must be arn:aws:states:::s3:putObject") // (unconfirmed)
			}
			w.s3 = true
		case "Parameters":
			if st.jx != nil {
				c.schema(kloc, "The QueryLanguage is set to 'JSONata', but field 'Parameters' is only supported for the 'JSONPath' QueryLanguage")
				continue
			}
			w.params = c.compileTemplate(val, kloc, k)
		case "Arguments":
			if st.jx == nil {
				c.schema(kloc, "The field 'Arguments' is only supported for the 'JSONata' QueryLanguage")
				continue
			}
			w.jxArgs = c.compileJSONata(val, kloc, k, jsonataAccess{})
		case "WriterConfig":
			c.writerConfig(w, val, kloc)
		default:
			c.unknownField(k, kloc, "")
		}
	}
	hasArgs := w.params != nil || w.jxArgs != nil
	switch {
	case len(o.keys) == 0:
		c.schema(loc, "The ResultWriter field cannot be empty: specify WriterConfig, Resource and %s, or all three", argsField(st)) // (unconfirmed)
	case w.s3 && !hasArgs:
		c.schema(loc, "These fields are required: [%s]", argsField(st))
	case !w.s3 && hasArgs:
		c.schema(loc, "These fields are required: [Resource]")
	}
}

func argsField(st *state) string {
	if st.jx != nil {
		return "Arguments"
	}
	return "Parameters"
}

func (c *checker) writerConfig(w *resultWriter, v any, loc string) {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return
	}
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "Transformation":
			switch val {
			case transformNone, transformCompact, transformFlatten:
				w.transformation = val.(string)
			default:
				c.schema(kloc, "Value is not a valid Transformation: %s. Valid values: [NONE, COMPACT, FLATTEN]", encodeString(plain(val))) // (unconfirmed)
			}
		case "OutputType":
			switch val {
			case "JSON":
			case "JSONL":
				w.jsonl = true
			default:
				c.schema(kloc, "Value is not a valid OutputType: %s. Valid values: [JSON, JSONL]", encodeString(plain(val))) // (unconfirmed)
			}
		default:
			c.unknownField(k, kloc, "")
		}
	}
}

// writerTarget is where a ResultWriter exports to, evaluated from the state's input when
// the state starts.
type writerTarget struct {
	bucket, prefix string
}

// target evaluates the writer's Parameters (JSONPath, tpl) or Arguments (JSONata, jx);
// nil when the writer exports nothing.
func (w *resultWriter) target(tpl *evalEnv, jx *jenv) (*writerTarget, *Failure) {
	if w == nil || !w.s3 {
		return nil, nil
	}
	var (
		args any
		f    *Failure
	)
	if w.params != nil {
		args, f = w.params.eval(tpl)
	} else if w.jxArgs != nil {
		args, f = w.jxArgs.eval(jx)
	}
	if f != nil {
		return nil, f
	}
	m, _ := args.(map[string]any)
	bucket, _ := m["Bucket"].(string)
	if bucket == "" {
		return nil, writerFailure("The ResultWriter's parameters must name a Bucket, not %s", encodeString(args))
	}
	prefix, _ := m["Prefix"].(string)
	return &writerTarget{bucket: bucket, prefix: prefix}, nil
}

func writerFailure(format string, a ...any) *Failure {
	return &Failure{Name: ErrResultWriterFailed, Cause: fmt.Sprintf(format, a...)} // (cause unconfirmed)
}

// childRecord is what a Map Run knows of one child workflow execution when it ends.
type childRecord struct {
	started     bool
	arn, name   string
	machine     string
	input       json.RawMessage
	output      json.RawMessage
	failure     *Failure
	start, stop time.Time
}

func (r childRecord) status() string {
	switch {
	case !r.started:
		return "PENDING"
	case r.failure == nil:
		return "SUCCEEDED"
	case r.failure.Aborted():
		return "ABORTED"
	case r.failure.TimedOut():
		return "TIMED_OUT"
	}
	return "FAILED"
}

// record is a child as a NONE transformation shows it: DescribeExecution's fields, the input
// and output as JSON text.
func (r childRecord) record() map[string]any {
	m := map[string]any{
		"ExecutionArn":    r.arn,
		"Name":            r.name,
		"StateMachineArn": r.machine,
		"Input":           string(r.input),
		"InputDetails":    map[string]any{"Included": true},
		"Status":          r.status(),
		"StartDate":       r.start.UTC().Format("2006-01-02T15:04:05.000Z"),
		"StopDate":        r.stop.UTC().Format("2006-01-02T15:04:05.000Z"),
		"RedriveCount":    intValue(0),
		"RedriveStatus":   "NOT_REDRIVABLE",
	}
	if r.failure == nil {
		m["Output"] = string(r.output)
		m["OutputDetails"] = map[string]any{"Included": true}
		m["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
	} else {
		m["Error"], m["Cause"] = r.failure.Name, r.failure.Cause
	}
	return m
}

// shape is the children's results as the transformation gives them: the succeeded outputs
// (COMPACT, the default), spliced when they are arrays (FLATTEN), or every child's record
// (NONE).
func shape(records []childRecord, transformation string, succeeded bool) []any {
	out := []any{}
	for _, r := range records {
		if !r.started || (r.failure == nil) != succeeded {
			continue
		}
		if transformation == transformNone || !succeeded {
			// A failed child's result is its record, whatever the transformation.
			out = append(out, r.record())
			continue
		}
		v := decodeRaw(r.output)
		if a, ok := v.([]any); ok && transformation == transformFlatten {
			out = append(out, a...)
			continue
		}
		out = append(out, v)
	}
	return out
}

// results is the Map state's result: without an export, the children's outputs as the
// WriterConfig shapes them (the succeeded ones', or every child's record with NONE); with
// one, the objects written under <Prefix>/<Map Run id>/ and {"MapRunArn",
// "ResultWriterDetails": {"Bucket", "Key"}} naming the manifest.
func (w *resultWriter) results(ctx context.Context, rt Runtime, mapRunArn string, records []childRecord, to *writerTarget) (any, *Failure) {
	transformation := transformCompact
	if w != nil && w.transformation != "" {
		transformation = w.transformation
	}
	if to == nil {
		out := shape(records, transformation, true)
		if transformation == transformNone {
			out = append(out, shape(records, transformation, false)...)
		}
		return out, nil
	}
	if w.transformation == "" {
		transformation = transformNone // the default when exporting
	}
	objects, ok := rt.(ObjectWriter)
	if !ok {
		return nil, writerFailure("This runtime cannot write Amazon S3 objects")
	}
	dir := to.prefix
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	dir += mapRunArn[strings.LastIndex(mapRunArn, ":")+1:] + "/"
	files := map[string][]any{"SUCCEEDED": {}, "FAILED": {}, "PENDING": {}}
	for _, status := range []string{"SUCCEEDED", "FAILED"} {
		items := shape(records, transformation, status == "SUCCEEDED")
		if len(items) == 0 {
			continue
		}
		key, ext := dir+status+"_0", ".json"
		if w.jsonl {
			ext = ".jsonl"
		}
		body := encodeResults(items, w.jsonl)
		if err := objects.PutObject(ctx, to.bucket, key+ext, body); err != nil {
			return nil, writerFailure("%v", err)
		}
		files[status] = append(files[status], map[string]any{"Key": key + ext, "Size": intValue(int64(len(body)))})
	}
	manifest := map[string]any{"DestinationBucket": to.bucket, "MapRunArn": mapRunArn, "ResultFiles": files}
	key := dir + "manifest.json"
	if err := objects.PutObject(ctx, to.bucket, key, encode(manifest)); err != nil {
		return nil, writerFailure("%v", err)
	}
	return map[string]any{"MapRunArn": mapRunArn, "ResultWriterDetails": map[string]any{"Bucket": to.bucket, "Key": key}}, nil
}

// encodeResults is a result file: a JSON array, or JSON Lines.
func encodeResults(items []any, jsonl bool) []byte {
	if !jsonl {
		return encode(items)
	}
	var b bytes.Buffer
	for _, it := range items {
		b.Write(encode(it))
		b.WriteByte('\n')
	}
	return b.Bytes()
}
