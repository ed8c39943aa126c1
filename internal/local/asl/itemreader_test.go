package asl

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

// bucketRuntime is the fake runtime with one bucket of objects.
type bucketRuntime struct {
	*fakeRuntime
	objects map[string]string // key → content, in bucket "b"
}

func (r bucketRuntime) GetObject(_ context.Context, bucket, key string) ([]byte, error) {
	body, ok := r.objects[key]
	if bucket != "b" || !ok {
		return nil, errors.New("NoSuchKey: " + key)
	}
	return []byte(body), nil
}

func (r bucketRuntime) ListObjects(_ context.Context, bucket, prefix string) ([]ObjectInfo, error) {
	if bucket != "b" {
		return nil, errors.New("NoSuchBucket: " + bucket)
	}
	var out []ObjectInfo
	for k, v := range r.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ObjectInfo{Key: k, ETag: `"e-` + k + `"`, Size: int64(len(v)), LastModified: time.Unix(1700000000, 0), StorageClass: "STANDARD"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// readerMap is a Distributed Map over reader whose children return their input.
func readerMap(reader string) string {
	return distMap(`"ItemReader":`+reader, passProc)
}

func TestItemReader(t *testing.T) {
	objects := map[string]string{
		"orders.json":    `[{"id":1},{"id":2},{"id":3}]`,
		"object.json":    `{"id":1}`,
		"orders.csv":     "id,name\n1,ann\n2,\"bob, jr\"\n",
		"rows.csv":       "1,ann\n2,bob\n",
		"ragged.csv":     "id,name\n1\n",
		"in/a.txt":       "aa",
		"in/b.txt":       "bbb",
		"out/c.txt":      "c",
		"not-json.json":  `[1,`,
		"empty.json":     `[]`,
		"one-header.csv": "id\n",
	}
	tests := []struct {
		name, def, input string
		want             string // output, when it succeeds
		failure          string // error name, when it fails
	}{
		{"a JSON array", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"b","Key":"orders.json"}}`),
			`{}`, `[{"id":1},{"id":2},{"id":3}]`, ""},
		{"Parameters from the input, MaxItems", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON","MaxItems":2},"Parameters":{"Bucket.$":"$.bucket","Key.$":"$.key"}}`),
			`{"bucket":"b","key":"orders.json"}`, `[{"id":1},{"id":2}]`, ""},
		{"MaxItemsPath", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON","MaxItemsPath":"$.n"},"Parameters":{"Bucket":"b","Key":"orders.json"}}`),
			`{"n":1}`, `[{"id":1}]`, ""},
		{"an empty array", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"b","Key":"empty.json"}}`),
			`{}`, `[]`, ""},
		{"CSV with the headers in the first row: every value a string", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"FIRST_ROW"},"Parameters":{"Bucket":"b","Key":"orders.csv"}}`),
			`{}`, `[{"id":"1","name":"ann"},{"id":"2","name":"bob, jr"}]`, ""},
		{"CSV with given headers", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"GIVEN","CSVHeaders":["n","who"]},"Parameters":{"Bucket":"b","Key":"rows.csv"}}`),
			`{}`, `[{"n":"1","who":"ann"},{"n":"2","who":"bob"}]`, ""},
		{"a CSV header row and no rows", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"FIRST_ROW"},"Parameters":{"Bucket":"b","Key":"one-header.csv"}}`),
			`{}`, `[]`, ""},
		{"a listing under a prefix", readerMap(`{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket":"b","Prefix":"in/"}}`),
			`{}`, `[{"Etag":"\"e-in/a.txt\"","Key":"in/a.txt","LastModified":1700000000,"Size":2,"StorageClass":"STANDARD"},
				{"Etag":"\"e-in/b.txt\"","Key":"in/b.txt","LastModified":1700000000,"Size":3,"StorageClass":"STANDARD"}]`, ""},
		{"a listing with MaxItems", readerMap(`{"Resource":"arn:aws:states:::s3:listObjectsV2","ReaderConfig":{"MaxItems":1},"Parameters":{"Bucket":"b","Prefix":"out/"}}`),
			`{}`, `[{"Etag":"\"e-out/c.txt\"","Key":"out/c.txt","LastModified":1700000000,"Size":1,"StorageClass":"STANDARD"}]`, ""},
		{"a missing object", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"b","Key":"nope.json"}}`),
			`{}`, "", ErrItemReaderFailed},
		{"an object that is not an array", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"b","Key":"object.json"}}`),
			`{}`, "", ErrItemReaderFailed},
		{"an object that is not JSON", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON"},"Parameters":{"Bucket":"b","Key":"not-json.json"}}`),
			`{}`, "", ErrItemReaderFailed},
		{"a ragged CSV", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"FIRST_ROW"},"Parameters":{"Bucket":"b","Key":"ragged.csv"}}`),
			`{}`, "", ErrItemReaderFailed},
		{"no Bucket", readerMap(`{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Prefix":"in/"}}`),
			`{}`, "", ErrItemReaderFailed},
		{"JSONata Arguments and MaxItems", `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","End":true,
			"ItemReader":{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"JSON","MaxItems":"{% $states.input.n %}"},"Arguments":{"Bucket":"b","Key":"{% $states.input.key %}"}},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}}}}`,
			`{"key":"orders.json","n":2}`, `[{"id":1},{"id":2}]`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				r := execute(t, tc.def, tc.input, bucketRuntime{newFake(nil), objects})
				if tc.failure != "" {
					checkFailure(t, r, tc.failure, "")
					return
				}
				checkOutput(t, r, tc.want)
			})
		})
	}
}

func TestItemReaderValidate(t *testing.T) {
	for _, tc := range []struct{ name, def, loc, message string }{
		{"on an inline Map", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemReader":{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket":"b"}},"ItemProcessor":{"StartAt":"A","States":` + passProc + `}}}}`, "/States/M/ItemReader", "DISTRIBUTED"},
		{"getObject without an InputType", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","Parameters":{"Bucket":"b","Key":"k"}}`), "/States/M/ItemReader", "InputType"},
		{"GIVEN without CSVHeaders", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"GIVEN"},"Parameters":{"Bucket":"b","Key":"k"}}`), "/States/M/ItemReader/ReaderConfig", "CSVHeaders"},
		{"CSVHeaders with FIRST_ROW", readerMap(`{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"CSV","CSVHeaderLocation":"FIRST_ROW","CSVHeaders":["a"]},"Parameters":{"Bucket":"b","Key":"k"}}`), "/States/M/ItemReader/ReaderConfig/CSVHeaders", "GIVEN"},
		{"no Parameters", readerMap(`{"Resource":"arn:aws:states:::s3:listObjectsV2"}`), "/States/M/ItemReader", "Parameters"},
		{"ItemsPath too", distMap(`"ItemsPath":"$.xs","ItemReader":{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket":"b"}}`, passProc), "/States/M/ItemsPath", "mutually exclusive"},
		{"MaxItems and MaxItemsPath", readerMap(`{"Resource":"arn:aws:states:::s3:listObjectsV2","ReaderConfig":{"MaxItems":1,"MaxItemsPath":"$.n"},"Parameters":{"Bucket":"b"}}`), "/States/M/ItemReader/ReaderConfig", "mutually exclusive"},
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
