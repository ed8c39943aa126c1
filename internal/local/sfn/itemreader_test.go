package sfn

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/local/s3"
)

// localS3 is the endpoint's S3 with objects put through its own protocol.
func localS3(t *testing.T, clock *core.Clock, bucket string, objects map[string]string) *s3.Service {
	t.Helper()
	svc := s3.New(s3.Options{Clock: clock})
	put := func(path, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPut, path, strings.NewReader(body))
		req.Header.Set("Content-Length", itoa(len(body)))
		svc.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	put("/"+bucket, "")
	for k, v := range objects {
		put("/"+bucket+"/"+k, v)
	}
	return svc
}

func TestItemReaderOverLocalS3(t *testing.T) {
	clock := core.NewClock(3600)
	objects := localS3(t, clock, "data", map[string]string{
		"orders.csv":  "id,city\n1,Lima\n2,Oslo\n3,Pune\n",
		"orders.json": `[{"id":1},{"id":2}]`,
		"in/a.txt":    "aa",
		"in/b.txt":    "bbb",
		"skip.txt":    "s",
	})
	h := newHarness(t, func(o *Options) { o.Clock, o.Objects = clock, objects })
	mapOver := func(reader string) string {
		return `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemReader":` + reader + `,
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`
	}
	tests := []struct {
		name, reader, input string
		check               func(t *testing.T, output string)
		items               int64
	}{
		{"a CSV object, its first row the headers, MaxItems 2",
			`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"FIRST_ROW","MaxItems":2},"Parameters":{"Bucket":"data","Key.$":"$.key"}}`,
			`{"key":"orders.csv"}`,
			func(t *testing.T, out string) {
				if canonical(t, out) != canonical(t, `[{"id":"1","city":"Lima"},{"id":"2","city":"Oslo"}]`) {
					t.Fatalf("output %s", out)
				}
			}, 2},
		{"a JSON object", `{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"data","Key":"orders.json"}}`, `{}`,
			func(t *testing.T, out string) {
				if canonical(t, out) != canonical(t, `[{"id":1},{"id":2}]`) {
					t.Fatalf("output %s", out)
				}
			}, 2},
		{"a listing under a prefix", `{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket":"data","Prefix":"in/"}}`, `{}`,
			func(t *testing.T, out string) {
				// Each item is {"Etag","Key","LastModified","Size","StorageClass"}.
				for _, want := range []string{`"Key":"in/a.txt"`, `"Key":"in/b.txt"`, `"Size":3`, `"StorageClass":"STANDARD"`, `"Etag":"\"`, `"LastModified":`} {
					if !strings.Contains(canonical(t, out), want) {
						t.Fatalf("output %s lacks %s", out, want)
					}
				}
				if strings.Contains(out, "skip.txt") {
					t.Fatalf("output %s lists an object outside the prefix", out)
				}
			}, 2},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := h.start(t, h.machine(t, "reader-"+itoa(i), mapOver(tc.reader)), "", tc.input)
			d := h.wait(t, parent)
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("status %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			tc.check(t, aws.ToString(d.Output))
			run := h.mapRuns(t, parent)[0]
			dm := must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: run.MapRunArn}))
			if dm.ItemCounts.Total != tc.items || dm.ItemCounts.Succeeded != tc.items {
				t.Fatalf("itemCounts %+v, want %d", *dm.ItemCounts, tc.items)
			}
		})
	}
	t.Run("a missing object fails the Map with States.ItemReaderFailed", func(t *testing.T) {
		parent := h.start(t, h.machine(t, "reader-missing", mapOver(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"data","Key":"nope.json"}}`)), "", `{}`)
		if d := h.wait(t, parent); d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != "States.ItemReaderFailed" {
			t.Fatalf("status %s, error %q", d.Status, aws.ToString(d.Error))
		}
	})
}

// A Distributed Map's ResultWriter exports the Map Run's results to the local S3: the
// manifest names the Map Run the API lists, SUCCEEDED_0.json holds one record per child,
// each naming a child execution the API lists under that Map Run.
func TestResultWriterOverLocalS3(t *testing.T) {
	clock := core.NewClock(3600)
	objects := localS3(t, clock, "results", nil)
	h := newHarness(t, func(o *Options) { o.Clock, o.Objects = clock, objects })
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemsPath":"$.items",
		"ResultWriter":{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"results","Prefix":"orders"}},
		"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`
	parent := h.start(t, h.machine(t, "writer", def), "", `{"items":[{"id":1},{"id":2}]}`)
	d := h.wait(t, parent)
	if d.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	run := aws.ToString(h.mapRuns(t, parent)[0].MapRunArn)
	var out struct {
		MapRunArn           string
		ResultWriterDetails struct{ Bucket, Key string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
		t.Fatal(err)
	}
	dir := "orders/" + run[strings.LastIndex(run, ":")+1:] + "/"
	if out.MapRunArn != run || out.ResultWriterDetails.Bucket != "results" || out.ResultWriterDetails.Key != dir+"manifest.json" {
		t.Fatalf("output %s, Map Run %s", aws.ToString(d.Output), run)
	}
	body, err := objects.GetObject(ctx(), "results", dir+"manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		MapRunArn   string
		ResultFiles map[string][]struct{ Key string }
	}
	if err := json.Unmarshal(body, &manifest); err != nil || manifest.MapRunArn != run || len(manifest.ResultFiles["SUCCEEDED"]) != 1 {
		t.Fatalf("manifest %s (%v)", body, err)
	}
	body, err = objects.GetObject(ctx(), "results", manifest.ResultFiles["SUCCEEDED"][0].Key)
	if err != nil {
		t.Fatal(err)
	}
	var records []struct{ ExecutionArn, Status, Input, Output string }
	if err := json.Unmarshal(body, &records); err != nil || len(records) != 2 {
		t.Fatalf("SUCCEEDED_0.json %s (%v)", body, err)
	}
	dm := must[*awssfn.DescribeMapRunOutput](t)(h.client.DescribeMapRun(ctx(), &awssfn.DescribeMapRunInput{MapRunArn: aws.String(run)}))
	if dm.ItemCounts.ResultsWritten != 2 || dm.ExecutionCounts.ResultsWritten != 2 {
		t.Errorf("resultsWritten %d items, %d executions, want 2 and 2", dm.ItemCounts.ResultsWritten, dm.ExecutionCounts.ResultsWritten)
	}
	children := must[*awssfn.ListExecutionsOutput](t)(h.client.ListExecutions(ctx(), &awssfn.ListExecutionsInput{MapRunArn: aws.String(run)}))
	listed := map[string]bool{}
	for _, c := range children.Executions {
		listed[aws.ToString(c.ExecutionArn)] = true
	}
	for _, r := range records {
		if !listed[r.ExecutionArn] || r.Status != "SUCCEEDED" || r.Input != r.Output || !strings.HasPrefix(r.Input, `{"id":`) {
			t.Errorf("record %+v (children %v)", r, listed)
		}
	}
}
