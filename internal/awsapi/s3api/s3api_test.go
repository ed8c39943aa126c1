package s3api_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

type fakeS3 struct {
	gets  []s3.GetObjectInput
	lists []s3.ListObjectsV2Input

	puts []s3.PutObjectInput

	GetFn  func(*s3.GetObjectInput) (*s3.GetObjectOutput, error)
	ListFn func(*s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error)
	PutFn  func(*s3.PutObjectInput) (*s3.PutObjectOutput, error)
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.puts = append(f.puts, *in)
	return f.PutFn(in)
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.gets = append(f.gets, *in)
	return f.GetFn(in)
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.lists = append(f.lists, *in)
	return f.ListFn(in)
}

func TestGet(t *testing.T) {
	object := func(*s3.GetObjectInput) (*s3.GetObjectOutput, error) {
		return &s3.GetObjectOutput{
			Body:      io.NopCloser(strings.NewReader(`{"StartAt":"a"}`)),
			Metadata:  map[string]string{"rollout-strategy": "LINEAR"},
			VersionId: aws.String("v2"),
			ETag:      aws.String(`"etag"`),
		}, nil
	}
	tests := []struct {
		name          string
		versionID     string
		answer        func(*s3.GetObjectInput) (*s3.GetObjectOutput, error)
		wantVersionID *string
		want          controller.Object
		wantErr       error
	}{
		{
			name:   "latest",
			answer: object,
			want:   controller.Object{Body: []byte(`{"StartAt":"a"}`), Metadata: map[string]string{"rollout-strategy": "LINEAR"}, VersionID: "v2", ETag: `"etag"`},
		},
		{
			name:          "given version",
			versionID:     "v2",
			answer:        object,
			wantVersionID: aws.String("v2"),
			want:          controller.Object{Body: []byte(`{"StartAt":"a"}`), Metadata: map[string]string{"rollout-strategy": "LINEAR"}, VersionID: "v2", ETag: `"etag"`},
		},
		{
			name: "no such key",
			answer: func(*s3.GetObjectInput) (*s3.GetObjectOutput, error) {
				return nil, &types.NoSuchKey{Message: aws.String("no")}
			},
			wantErr: controller.ErrNotFound,
		},
		{
			name:    "not found without a body",
			answer:  func(*s3.GetObjectInput) (*s3.GetObjectOutput, error) { return nil, &types.NotFound{} },
			wantErr: controller.ErrNotFound,
		},
		{
			name: "slow down",
			answer: func(*s3.GetObjectInput) (*s3.GetObjectOutput, error) {
				return nil, &smithy.GenericAPIError{Code: "SlowDown"}
			},
			wantErr: controller.ErrThrottled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeS3{GetFn: tt.answer}
			got, err := s3api.New(fake).Get(context.Background(), "artifacts", "orders/prod/a.asl.json", tt.versionID)
			in := fake.gets[0]
			if aws.ToString(in.Bucket) != "artifacts" || aws.ToString(in.Key) != "orders/prod/a.asl.json" || !reflect.DeepEqual(in.VersionId, tt.wantVersionID) {
				t.Errorf("request bucket %q key %q version %v", aws.ToString(in.Bucket), aws.ToString(in.Key), in.VersionId)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Get = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestListPaginates(t *testing.T) {
	fake := &fakeS3{ListFn: func(in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
		if in.ContinuationToken == nil {
			return &s3.ListObjectsV2Output{
				Contents:              []types.Object{{Key: aws.String("orders/prod/tests/1.json")}},
				IsTruncated:           aws.Bool(true),
				NextContinuationToken: aws.String("next"),
			}, nil
		}
		return &s3.ListObjectsV2Output{Contents: []types.Object{{Key: aws.String("orders/prod/tests/2.json")}}, IsTruncated: aws.Bool(false)}, nil
	}}
	keys, err := s3api.New(fake).List(context.Background(), "artifacts", "orders/prod/tests/")
	if err != nil || !reflect.DeepEqual(keys, []string{"orders/prod/tests/1.json", "orders/prod/tests/2.json"}) {
		t.Errorf("List = %v, %v", keys, err)
	}
	if len(fake.lists) != 2 || aws.ToString(fake.lists[0].Prefix) != "orders/prod/tests/" || aws.ToString(fake.lists[1].ContinuationToken) != "next" {
		t.Errorf("requests %+v", fake.lists)
	}
}

func TestPut(t *testing.T) {
	fake := &fakeS3{PutFn: func(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) {
		body, _ := io.ReadAll(in.Body)
		if string(body) != `{"StartAt":"a"}` {
			t.Errorf("body %q", body)
		}
		return &s3.PutObjectOutput{VersionId: aws.String("v3")}, nil
	}}
	meta := map[string]string{"rollout-strategy": "LINEAR", "cfn-request-id": "req-1"}
	v, err := s3api.New(fake).Put(context.Background(), "artifacts", "orders/prod/cdk-1.asl.json", []byte(`{"StartAt":"a"}`), meta)
	if err != nil || v != "v3" {
		t.Fatalf("Put = %q, %v; want v3", v, err)
	}
	in := fake.puts[0]
	if aws.ToString(in.Bucket) != "artifacts" || aws.ToString(in.Key) != "orders/prod/cdk-1.asl.json" || !reflect.DeepEqual(in.Metadata, meta) {
		t.Errorf("request %+v", in)
	}

	fake.PutFn = func(*s3.PutObjectInput) (*s3.PutObjectOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "SlowDown"}
	}
	if _, err := s3api.New(fake).Put(context.Background(), "artifacts", "k", nil, nil); !errors.Is(err, controller.ErrThrottled) {
		t.Errorf("SlowDown: %v, want ErrThrottled", err)
	}
}
