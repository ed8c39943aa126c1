package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// bus records the events S3 emits.
type bus struct{ events chan core.Event }

func (b *bus) Emit(_ context.Context, e core.Event) error {
	b.events <- e
	return nil
}

// next waits for the next event.
func (b *bus) next(t *testing.T) core.Event {
	t.Helper()
	select {
	case e := <-b.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return core.Event{}
	}
}

// none checks that no event comes.
func (b *bus) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-b.events:
		t.Fatalf("unexpected event %s", e.Detail)
	case <-time.After(50 * time.Millisecond):
	}
}

type env struct {
	svc    *Service
	client *s3.Client
	bus    *bus
	faults *core.Faults
	url    string
}

// endpoint serves a new S3 on a loopback test server, with the real S3 client for it.
func endpoint(t *testing.T) *env {
	t.Helper()
	b := &bus{events: make(chan core.Event, 100)}
	faults := core.NewFaults(1)
	svc := New(Options{Clock: core.NewClock(1), Bus: b, Faults: faults})
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:           core.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		RetryMaxAttempts: 1,
	})
	return &env{svc: svc, client: client, bus: b, faults: faults, url: srv.URL}
}

func (e *env) bucket(t *testing.T, name string, versioned, events bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if versioned {
		if _, err := e.client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
	}
	if events {
		if _, err := e.client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(name),
			NotificationConfiguration: &types.NotificationConfiguration{EventBridgeConfiguration: &types.EventBridgeConfiguration{}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) put(t *testing.T, bucket, key, body string, meta map[string]string) *s3.PutObjectOutput {
	t.Helper()
	out, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) get(t *testing.T, in *s3.GetObjectInput) (string, *s3.GetObjectOutput) {
	t.Helper()
	out, err := e.client.GetObject(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), out
}

func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestBuckets(t *testing.T) {
	e := endpoint(t)
	ctx := context.Background()
	for _, name := range []string{"zeta", "alpha", "mid"} {
		e.bucket(t, name, false, false)
	}
	e.put(t, "mid", "k", "bucket-v", nil)

	tests := []struct {
		name     string
		call     func() error
		wantCode string
		wantMsg  string
	}{
		{name: "head an existing bucket", call: func() error {
			_, err := e.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
			return err
		}},
		{name: "create an owned bucket again (us-east-1 answers 200)", call: func() error {
			_, err := e.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
			return err
		}},
		{name: "head a missing bucket", call: func() error {
			_, err := e.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")})
			return err
		}, wantCode: "NotFound"},
		{name: "delete a bucket that is not empty", call: func() error {
			_, err := e.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("mid")})
			return err
		}, wantCode: "BucketNotEmpty", wantMsg: "The bucket you tried to delete is not empty"},
		{name: "delete a missing bucket", call: func() error {
			_, err := e.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("nope")})
			return err
		}, wantCode: "NoSuchBucket", wantMsg: "The specified bucket does not exist"},
		{name: "create a bucket with an invalid name", call: func() error {
			_, err := e.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("No_Way")})
			return err
		}, wantCode: "InvalidBucketName"},
		{name: "delete an empty bucket", call: func() error {
			_, err := e.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("zeta")})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			code, msg := apiError(t, err)
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Errorf("got %s: %s, want %s: %s", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}

	out, err := e.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	if got := strings.Join(names, ","); got != "alpha,mid" {
		t.Errorf("ListBuckets: %s, want alpha,mid", got)
	}
}

func TestObjects(t *testing.T) {
	e := endpoint(t)
	ctx := context.Background()
	e.bucket(t, "artifacts", false, false)
	put := e.put(t, "artifacts", "orders/prod/definition.asl.json", `{"StartAt":"A"}`,
		map[string]string{"Rollout-Strategy": "CANARY", "rollout-interval": "1m"})
	if aws.ToString(put.ETag) != `"`+md5hex(`{"StartAt":"A"}`)+`"` || put.VersionId != nil {
		t.Errorf("PutObject: etag %s, version %v", aws.ToString(put.ETag), aws.ToString(put.VersionId))
	}

	body, got := e.get(t, &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("orders/prod/definition.asl.json")})
	wantMeta := map[string]string{"rollout-strategy": "CANARY", "rollout-interval": "1m"}
	if body != `{"StartAt":"A"}` || !equalMaps(got.Metadata, wantMeta) || got.VersionId != nil || aws.ToString(got.ETag) != aws.ToString(put.ETag) {
		t.Errorf("GetObject: %q, metadata %v, version %v, etag %s", body, got.Metadata, aws.ToString(got.VersionId), aws.ToString(got.ETag))
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("orders/prod/definition.asl.json")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != 15 || !equalMaps(head.Metadata, wantMeta) || head.VersionId != nil {
		t.Errorf("HeadObject: length %d, metadata %v, version %v", aws.ToInt64(head.ContentLength), head.Metadata, aws.ToString(head.VersionId))
	}

	// A new put replaces the metadata; nothing of the old one stays.
	e.put(t, "artifacts", "orders/prod/definition.asl.json", `{}`, map[string]string{"other": "x"})
	_, got = e.get(t, &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("orders/prod/definition.asl.json")})
	if !equalMaps(got.Metadata, map[string]string{"other": "x"}) {
		t.Errorf("metadata after a second put: %v", got.Metadata)
	}

	errs := []struct {
		name              string
		call              func() error
		wantCode, wantMsg string
	}{
		{name: "get a missing key", call: func() error {
			_, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("nope")})
			return err
		}, wantCode: "NoSuchKey", wantMsg: "The specified key does not exist."},
		{name: "get from a missing bucket", call: func() error {
			_, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nope"), Key: aws.String("k")})
			return err
		}, wantCode: "NoSuchBucket", wantMsg: "The specified bucket does not exist"},
		{name: "head a missing key", call: func() error {
			_, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("nope")})
			return err
		}, wantCode: "NotFound"},
		{name: "put into a missing bucket", call: func() error {
			_, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nope"), Key: aws.String("k"), Body: strings.NewReader("x")})
			return err
		}, wantCode: "NoSuchBucket"},
		{name: "an unsupported subresource", call: func() error {
			_, err := e.client.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("artifacts"), Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("bucket-b")}}}})
			return err
		}, wantCode: "NotImplemented", wantMsg: "sfn-rollout local does not support the ?tagging subresource"},
		{name: "object tagging on a put", call: func() error {
			_, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("k"), Body: strings.NewReader("x"), Tagging: aws.String("a=b")})
			return err
		}, wantCode: "NotImplemented", wantMsg: "sfn-rollout local does not support object tagging (x-amz-tagging)"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := apiError(t, tt.call())
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Errorf("got %s: %s, want %s: %s", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}

	if _, err := e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("orders/prod/definition.asl.json")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("orders/prod/definition.asl.json")})
	if code, _ := apiError(t, err); code != "NoSuchKey" {
		t.Errorf("after delete: %s", code)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMetadataOnTheWire(t *testing.T) {
	e := endpoint(t)
	e.bucket(t, "bucket-b", false, false)
	e.put(t, "bucket-b", "k", "bucket-v", map[string]string{"Rollout-Strategy": "LINEAR"})
	rec := httptest.NewRecorder()
	e.svc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/bucket-b/k", nil))
	var names []string
	for name := range rec.Header() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.EqualFold(name, "x-amz-meta-rollout-strategy") && name != "x-amz-meta-rollout-strategy" {
			t.Errorf("metadata header named %q, want it lower-case", name)
		}
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-checksum") || lower == "x-amz-date" || lower == "x-amz-content-sha256" || strings.HasPrefix(lower, "x-sfn-local") {
			t.Errorf("request header %q echoed as object metadata", name)
		}
	}
	if i := sort.SearchStrings(names, "x-amz-meta-rollout-strategy"); i == len(names) || names[i] != "x-amz-meta-rollout-strategy" {
		t.Errorf("no x-amz-meta-rollout-strategy in %v", names)
	}
}

func TestVirtualHostUnderLocalhost(t *testing.T) {
	e := endpoint(t)
	e.bucket(t, "bucket-b", false, false)
	e.put(t, "bucket-b", "dir/k", "by host", nil)
	req := httptest.NewRequest(http.MethodGet, "/dir/k", nil)
	req.Host = "bucket-b.localhost:4599"
	rec := httptest.NewRecorder()
	e.svc.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "by host" {
		t.Errorf("got %d %q", rec.Code, rec.Body)
	}
}

func TestAWSChunkedUpload(t *testing.T) {
	e := endpoint(t)
	e.bucket(t, "bucket-b", false, false)
	tests := []struct {
		name, sha, body string
	}{
		{name: "unsigned with trailer", sha: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
			body: "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"},
		{name: "signed", sha: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
			body: "5;chunk-signature=aa\r\nhello\r\n6;chunk-signature=bb\r\n world\r\n0;chunk-signature=cc\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, "/bucket-b/chunked", strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Content-Sha256", tt.sha)
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", "11")
			req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			rec := httptest.NewRecorder()
			e.svc.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			body, out := e.get(t, &s3.GetObjectInput{Bucket: aws.String("bucket-b"), Key: aws.String("chunked")})
			if body != "hello world" || out.ContentEncoding != nil {
				t.Errorf("stored %q with content encoding %v", body, aws.ToString(out.ContentEncoding))
			}
		})
	}
}

func TestListObjectsV2(t *testing.T) {
	e := endpoint(t)
	e.bucket(t, "bucket-b", false, false)
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "c", "d/x/1", "d/y", "e"} {
		e.put(t, "bucket-b", k, k, nil)
	}
	tests := []struct {
		name, prefix, delimiter string
		maxKeys                 int32
		wantKeys, wantPrefixes  string
		wantPages               int
	}{
		{name: "everything", wantKeys: "a/1,a/2,a/3,b/1,c,d/x/1,d/y,e", wantPages: 1},
		{name: "prefix", prefix: "a/", wantKeys: "a/1,a/2,a/3", wantPages: 1},
		{name: "delimiter", delimiter: "/", wantKeys: "c,e", wantPrefixes: "a/,b/,d/", wantPages: 1},
		{name: "prefix and delimiter", prefix: "d/", delimiter: "/", wantKeys: "d/y", wantPrefixes: "d/x/", wantPages: 1},
		{name: "pages of two", maxKeys: 2, wantKeys: "a/1,a/2,a/3,b/1,c,d/x/1,d/y,e", wantPages: 4},
		{name: "pages of one with a delimiter", maxKeys: 1, delimiter: "/", wantKeys: "c,e", wantPrefixes: "a/,b/,d/", wantPages: 5},
		{name: "pages of one under a prefix", maxKeys: 1, prefix: "a/", wantKeys: "a/1,a/2,a/3", wantPages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &s3.ListObjectsV2Input{Bucket: aws.String("bucket-b")}
			if tt.prefix != "" {
				in.Prefix = aws.String(tt.prefix)
			}
			if tt.delimiter != "" {
				in.Delimiter = aws.String(tt.delimiter)
			}
			if tt.maxKeys > 0 {
				in.MaxKeys = aws.Int32(tt.maxKeys)
			}
			var keys, prefixes []string
			pages := 0
			p := s3.NewListObjectsV2Paginator(e.client, in)
			for p.HasMorePages() {
				page, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, c := range page.Contents {
					keys = append(keys, aws.ToString(c.Key))
					if aws.ToInt64(c.Size) != int64(len(aws.ToString(c.Key))) {
						t.Errorf("%s has size %d", aws.ToString(c.Key), aws.ToInt64(c.Size))
					}
				}
				for _, c := range page.CommonPrefixes {
					prefixes = append(prefixes, aws.ToString(c.Prefix))
				}
			}
			if got := strings.Join(keys, ","); got != tt.wantKeys {
				t.Errorf("keys %s, want %s", got, tt.wantKeys)
			}
			if got := strings.Join(prefixes, ","); got != tt.wantPrefixes {
				t.Errorf("common prefixes %s, want %s", got, tt.wantPrefixes)
			}
			if pages != tt.wantPages {
				t.Errorf("%d pages, want %d", pages, tt.wantPages)
			}
		})
	}
}

func TestVersioning(t *testing.T) {
	e := endpoint(t)
	ctx := context.Background()
	e.bucket(t, "bucket-v", true, false)
	v1 := e.put(t, "bucket-v", "k", "first", map[string]string{"n": "1"})
	v2 := e.put(t, "bucket-v", "k", "second!", map[string]string{"n": "2"})
	if v1.VersionId == nil || v2.VersionId == nil || *v1.VersionId == *v2.VersionId {
		t.Fatalf("version ids %v %v", aws.ToString(v1.VersionId), aws.ToString(v2.VersionId))
	}
	cfg, err := e.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("bucket-v")})
	if err != nil || cfg.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("GetBucketVersioning: %v %v", cfg, err)
	}

	tests := []struct {
		name              string
		version           *string
		wantBody, wantN   string
		wantVersion       *string
		wantCode, wantMsg string
	}{
		{name: "latest", wantBody: "second!", wantN: "2", wantVersion: v2.VersionId},
		{name: "older version", version: v1.VersionId, wantBody: "first", wantN: "1", wantVersion: v1.VersionId},
		{name: "current version by id", version: v2.VersionId, wantBody: "second!", wantN: "2", wantVersion: v2.VersionId},
		{name: "unknown version", version: aws.String("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"), wantCode: "NoSuchVersion", wantMsg: "The specified version does not exist."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-v"), Key: aws.String("k"), VersionId: tt.version})
			if tt.wantCode != "" {
				code, msg := apiError(t, err)
				if code != tt.wantCode || msg != tt.wantMsg {
					t.Errorf("got %s: %s, want %s: %s", code, msg, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != tt.wantBody || out.Metadata["n"] != tt.wantN || aws.ToString(out.VersionId) != aws.ToString(tt.wantVersion) {
				t.Errorf("GetObject: %q n=%s version %s", b, out.Metadata["n"], aws.ToString(out.VersionId))
			}
			head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bucket-v"), Key: aws.String("k"), VersionId: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != int64(len(tt.wantBody)) || head.Metadata["n"] != tt.wantN || aws.ToString(head.VersionId) != aws.ToString(tt.wantVersion) {
				t.Errorf("HeadObject: length %d n=%s version %s", aws.ToInt64(head.ContentLength), head.Metadata["n"], aws.ToString(head.VersionId))
			}
		})
	}

	// A delete leaves a marker: the key is gone, its versions are not.
	del, err := e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bucket-v"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("DeleteObject: %v %v", del, err)
	}
	_, err = e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-v"), Key: aws.String("k")})
	if code, _ := apiError(t, err); code != "NoSuchKey" {
		t.Errorf("after delete: %s", code)
	}
	if body, _ := e.get(t, &s3.GetObjectInput{Bucket: aws.String("bucket-v"), Key: aws.String("k"), VersionId: v1.VersionId}); body != "first" {
		t.Errorf("old version after delete: %q", body)
	}
}

func TestCopyObject(t *testing.T) {
	e := endpoint(t)
	ctx := context.Background()
	e.bucket(t, "src", true, false)
	e.bucket(t, "dst", true, false)
	v1 := e.put(t, "src", "def.json", "one", map[string]string{"strategy": "CANARY"})
	e.put(t, "src", "def.json", "two", map[string]string{"strategy": "LINEAR"})

	tests := []struct {
		name              string
		in                s3.CopyObjectInput
		wantBody          string
		wantMeta          map[string]string
		wantSrcVersion    *string
		wantCode, wantMsg string
	}{
		{name: "latest, metadata copied", in: s3.CopyObjectInput{CopySource: aws.String("src/def.json")},
			wantBody: "two", wantMeta: map[string]string{"strategy": "LINEAR"}},
		{name: "a version", in: s3.CopyObjectInput{CopySource: aws.String("src/def.json?versionId=" + aws.ToString(v1.VersionId))},
			wantBody: "one", wantMeta: map[string]string{"strategy": "CANARY"}, wantSrcVersion: v1.VersionId},
		{name: "metadata replaced", in: s3.CopyObjectInput{CopySource: aws.String("/src/def.json"), MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"owner": "ci"}},
			wantBody: "two", wantMeta: map[string]string{"owner": "ci"}},
		{name: "a missing source", in: s3.CopyObjectInput{CopySource: aws.String("src/nope")}, wantCode: "NoSuchKey", wantMsg: "The specified key does not exist."},
		{name: "a missing source bucket", in: s3.CopyObjectInput{CopySource: aws.String("nope/def.json")}, wantCode: "NoSuchBucket", wantMsg: "The specified bucket does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Bucket, in.Key = aws.String("dst"), aws.String("copy.json")
			out, err := e.client.CopyObject(ctx, &in)
			if tt.wantCode != "" {
				code, msg := apiError(t, err)
				if code != tt.wantCode || msg != tt.wantMsg {
					t.Errorf("got %s: %s, want %s: %s", code, msg, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, got := e.get(t, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy.json")})
			if body != tt.wantBody || !equalMaps(got.Metadata, tt.wantMeta) {
				t.Errorf("copy holds %q with %v", body, got.Metadata)
			}
			if aws.ToString(out.VersionId) != aws.ToString(got.VersionId) || out.VersionId == nil {
				t.Errorf("CopyObject answered version %s, the copy is %s", aws.ToString(out.VersionId), aws.ToString(got.VersionId))
			}
			if tt.wantSrcVersion != nil && aws.ToString(out.CopySourceVersionId) != aws.ToString(tt.wantSrcVersion) {
				t.Errorf("copy source version %s", aws.ToString(out.CopySourceVersionId))
			}
			if aws.ToString(out.CopyObjectResult.ETag) != `"`+md5hex(tt.wantBody)+`"` {
				t.Errorf("etag %s", aws.ToString(out.CopyObjectResult.ETag))
			}
		})
	}

	_, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("def.json"), CopySource: aws.String("src/def.json")})
	code, msg := apiError(t, err)
	if code != "InvalidRequest" || !strings.HasPrefix(msg, "This copy request is illegal because it is trying to copy an object to itself") {
		t.Errorf("copy onto itself: %s: %s", code, msg)
	}
}

func TestNotificationConfiguration(t *testing.T) {
	e := endpoint(t)
	ctx := context.Background()
	e.bucket(t, "bucket-b", false, false)
	get := func() *types.EventBridgeConfiguration {
		out, err := e.client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("bucket-b")})
		if err != nil {
			t.Fatal(err)
		}
		return out.EventBridgeConfiguration
	}
	if get() != nil {
		t.Error("a new bucket sends events")
	}
	tests := []struct {
		name              string
		bucket            string
		cfg               types.NotificationConfiguration
		wantOn            bool
		wantCode, wantMsg string
	}{
		{name: "EventBridge on", bucket: "bucket-b", cfg: types.NotificationConfiguration{EventBridgeConfiguration: &types.EventBridgeConfiguration{}}, wantOn: true},
		{name: "an SNS topic", bucket: "bucket-b", cfg: types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:t"), Events: []types.Event{"s3:ObjectCreated:*"}}}},
			wantOn: true, wantCode: "NotImplemented", wantMsg: "sfn-rollout local sends bucket notifications only to EventBridge (EventBridgeConfiguration), not TopicConfiguration"},
		{name: "a missing bucket", bucket: "nope", cfg: types.NotificationConfiguration{}, wantOn: true, wantCode: "NoSuchBucket", wantMsg: "The specified bucket does not exist"},
		{name: "everything off", bucket: "bucket-b", cfg: types.NotificationConfiguration{}, wantOn: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			_, err := e.client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(tt.bucket), NotificationConfiguration: &cfg})
			if tt.wantCode != "" {
				code, msg := apiError(t, err)
				if code != tt.wantCode || msg != tt.wantMsg {
					t.Errorf("got %s: %s, want %s: %s", code, msg, tt.wantCode, tt.wantMsg)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if on := get() != nil; on != tt.wantOn {
				t.Errorf("EventBridge on: %v, want %v", on, tt.wantOn)
			}
		})
	}
}

func TestObjectCreatedEvents(t *testing.T) {
	e := endpoint(t)
	ctx := context.Background()
	e.bucket(t, "artifacts", false, true)
	e.bucket(t, "versioned", true, true)
	e.bucket(t, "quiet", false, false)
	part1 := strings.Repeat("a", 5<<20)
	part2 := "tail"

	type created struct {
		bucket, etag, versionID, requestID string
		size                               int64
	}
	tests := []struct {
		name       string
		create     func(t *testing.T) created
		wantKey    string
		wantReason string
		wantNone   bool
	}{
		{name: "plain put", wantKey: "orders/prod/definition.asl.json", wantReason: "PutObject", create: func(t *testing.T) created {
			out := e.put(t, "artifacts", "orders/prod/definition.asl.json", `{"a":1}`, nil)
			id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			return created{bucket: "artifacts", etag: md5hex(`{"a":1}`), size: 7, requestID: id}
		}},
		{name: "versioned put", wantKey: "orders/prod/definition.asl.json", wantReason: "PutObject", create: func(t *testing.T) created {
			out := e.put(t, "versioned", "orders/prod/definition.asl.json", `{"a":2}`, nil)
			id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			return created{bucket: "versioned", etag: md5hex(`{"a":2}`), size: 7, versionID: aws.ToString(out.VersionId), requestID: id}
		}},
		{name: "copy", wantKey: "orders/prod/copy.asl.json", wantReason: "CopyObject", create: func(t *testing.T) created {
			e.put(t, "quiet", "source.json", "copied", nil)
			out, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("versioned"), Key: aws.String("orders/prod/copy.asl.json"), CopySource: aws.String("quiet/source.json")})
			if err != nil {
				t.Fatal(err)
			}
			id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			return created{bucket: "versioned", etag: md5hex("copied"), size: 6, versionID: aws.ToString(out.VersionId), requestID: id}
		}},
		{name: "key with a space and parentheses", wantKey: "orders/prod/my+release%282%29.asl.json", wantReason: "PutObject", create: func(t *testing.T) created {
			out := e.put(t, "artifacts", "orders/prod/my release(2).asl.json", "{}", nil)
			id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			return created{bucket: "artifacts", etag: md5hex("{}"), size: 2, requestID: id}
		}},
		{name: "multipart upload", wantKey: "orders/prod/big.asl.json", wantReason: "CompleteMultipartUpload", create: func(t *testing.T) created {
			up, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("versioned"), Key: aws.String("orders/prod/big.asl.json")})
			if err != nil {
				t.Fatal(err)
			}
			var parts []types.CompletedPart
			var sums []byte
			for i, body := range []string{part1, part2} {
				p, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("versioned"), Key: aws.String("orders/prod/big.asl.json"),
					UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader(body)})
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i + 1))})
				sum := md5.Sum([]byte(body))
				sums = append(sums, sum[:]...)
			}
			out, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("versioned"), Key: aws.String("orders/prod/big.asl.json"),
				UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			if err != nil {
				t.Fatal(err)
			}
			whole := md5.Sum(sums)
			etag := hex.EncodeToString(whole[:]) + "-2"
			if aws.ToString(out.ETag) != `"`+etag+`"` {
				t.Errorf("CompleteMultipartUpload ETag %s, want %s", aws.ToString(out.ETag), etag)
			}
			// The object keeps the multipart ETag.
			head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("versioned"), Key: aws.String("orders/prod/big.asl.json")})
			if err != nil || aws.ToString(head.ETag) != `"`+etag+`"` {
				t.Errorf("HeadObject after multipart: %v %v", aws.ToString(head.ETag), err)
			}
			list, err := e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("versioned"), Prefix: aws.String("orders/prod/big")})
			if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].ETag) != `"`+etag+`"` {
				t.Errorf("ListObjectsV2 after multipart: %+v %v", list, err)
			}
			id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			return created{bucket: "versioned", etag: etag, size: int64(len(part1) + len(part2)), versionID: aws.ToString(out.VersionId), requestID: id}
		}},
		{name: "notifications off", wantNone: true, create: func(t *testing.T) created {
			e.put(t, "quiet", "orders/prod/definition.asl.json", "{}", nil)
			return created{}
		}},
	}
	lastSequencer := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.create(t)
			if tt.wantNone {
				e.bus.none(t)
				return
			}
			ev := e.bus.next(t)
			if ev.Source != "aws.s3" || ev.DetailType != "Object Created" || len(ev.Resources) != 1 || ev.Resources[0] != "arn:aws:s3:::"+c.bucket || ev.Time.IsZero() {
				t.Errorf("event %+v", ev)
			}
			var detail map[string]any
			if err := json.Unmarshal(ev.Detail, &detail); err != nil {
				t.Fatal(err)
			}
			object, _ := detail["object"].(map[string]any)
			sequencer, _ := object["sequencer"].(string)
			if len(sequencer) != 18 || sequencer <= lastSequencer[c.bucket] {
				t.Errorf("sequencer %q after %q", sequencer, lastSequencer[c.bucket])
			}
			lastSequencer[c.bucket] = sequencer
			if c.requestID == "" {
				t.Error("no request id in the response")
			}
			want := map[string]any{
				"version": "0",
				"bucket":  map[string]any{"name": c.bucket},
				"object": map[string]any{
					"key": tt.wantKey, "size": float64(c.size), "etag": c.etag, "sequencer": sequencer,
				},
				"request-id":        c.requestID,
				"requester":         "000000000000",
				"source-ip-address": "127.0.0.1",
				"reason":            tt.wantReason,
			}
			if c.versionID != "" {
				want["object"].(map[string]any)["version-id"] = c.versionID
			}
			wantJSON, _ := json.Marshal(want)
			gotJSON, _ := json.Marshal(detail)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("detail\n got %s\nwant %s", gotJSON, wantJSON)
			}
			e.bus.none(t)
		})
	}
}

func TestFaults(t *testing.T) {
	e := endpoint(t)
	e.bucket(t, "bucket-b", false, true)
	e.faults.Set([]core.Fault{{Service: "s3", Operation: "PutObject", Code: "SlowDown", Message: "Please reduce your request rate.", Status: 503, Rate: 1}})
	_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bucket-b"), Key: aws.String("k"), Body: strings.NewReader("x")})
	code, msg := apiError(t, err)
	if code != "SlowDown" || msg != "Please reduce your request rate." {
		t.Errorf("got %s: %s", code, msg)
	}
	e.bus.none(t)
	// Other operations are untouched.
	if _, err := e.client.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("bucket-b")}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
}
