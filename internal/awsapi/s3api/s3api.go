// Package s3api implements the controller's Artifacts port over aws-sdk-go-v2's S3 client:
// reading definitions, policies and test inputs from the artifacts bucket.
package s3api

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// API is the part of *s3.Client that Artifacts uses.
type API interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ API = (*s3.Client)(nil)

// Artifacts is the controller.Artifacts port over an S3 bucket.
type Artifacts struct{ api API }

var _ controller.Artifacts = (*Artifacts)(nil)

// New returns the adapter; it makes no call.
func New(api API) *Artifacts { return &Artifacts{api: api} }

// maxObjectSize bounds what Get reads into memory. A state machine definition is at most
// 1 MiB; the rest of the bucket's files are smaller still.
const maxObjectSize = 8 << 20

// Get reads an object, the given version when versionID is set. A missing key or version
// is ErrNotFound.
func (a *Artifacts) Get(ctx context.Context, bucket, key, versionID string) (controller.Object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	op := fmt.Sprintf("get s3://%s/%s", bucket, key)
	out, err := a.api.GetObject(ctx, in)
	if err != nil {
		return controller.Object{}, awsapi.Classify(op, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxObjectSize+1))
	if err != nil {
		return controller.Object{}, awsapi.Classify(op, err)
	}
	if len(body) > maxObjectSize {
		return controller.Object{}, fmt.Errorf("%s: object is larger than %d bytes", op, maxObjectSize)
	}
	return controller.Object{
		Body:      body,
		Metadata:  out.Metadata,
		VersionID: aws.ToString(out.VersionId),
		ETag:      aws.ToString(out.ETag),
	}, nil
}

// List returns every key under prefix.
func (a *Artifacts) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := a.api.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, awsapi.Classify(fmt.Sprintf("list s3://%s/%s", bucket, prefix), err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return keys, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// ClientOptions is an option of s3.NewFromConfig. A configured endpoint (a local one)
// serves buckets by path: virtual-host names like bucket.127.0.0.1 do not resolve.
func ClientOptions(o *s3.Options) {
	if o.BaseEndpoint != nil {
		o.UsePathStyle = true
	}
}
