package sfn

import (
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
