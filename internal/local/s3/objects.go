package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/johannesboyne/gofakes3"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

var _ core.Objects = (*Service)(nil)

// GetObject answers an object's content, for Step Functions' ItemReader.
func (s *Service) GetObject(_ context.Context, bucket, key string) ([]byte, error) {
	obj, err := s.store.GetObject(bucket, key, nil)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// ListObjects answers every object under prefix, page by page, for Step Functions' ItemReader.
func (s *Service) ListObjects(_ context.Context, bucket, prefix string) ([]core.ObjectInfo, error) {
	var (
		out  []core.ObjectInfo
		page = gofakes3.ListBucketPage{MaxKeys: 1000}
	)
	p := gofakes3.NewPrefix(&prefix, nil)
	for {
		list, err := s.store.ListBucket(bucket, &p, page)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, c := range list.Contents {
			class := string(c.StorageClass)
			if class == "" {
				class = "STANDARD"
			}
			out = append(out, core.ObjectInfo{Key: c.Key, ETag: c.ETag, Size: c.Size, LastModified: c.LastModified.Time, StorageClass: class})
		}
		if !list.IsTruncated || list.NextMarker == "" {
			return out, nil
		}
		page = gofakes3.ListBucketPage{Marker: list.NextMarker, HasMarker: true, MaxKeys: 1000}
	}
}

// PutObject stores an object, for a Distributed Map's ResultWriter, and announces it as the
// PutObject API does when the bucket sends events to EventBridge.
func (s *Service) PutObject(ctx context.Context, bucket, key string, body []byte) error {
	unlock := s.objects.lock(bucket + "/" + key)
	meta := map[string]string{"Content-Type": "application/json"}
	if _, err := s.store.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		unlock()
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	obj, err := s.store.latest(bucket, key)
	if err != nil {
		unlock()
		return fmt.Errorf("put s3://%s/%s: read back: %w", bucket, key, err)
	}
	sum := md5.Sum(body)
	ev, emit := s.objectCreated(bucket, key, "PutObject", `"`+hex.EncodeToString(sum[:])+`"`, obj, newRequestID())
	unlock()
	if emit {
		s.emit(ctx, ev)
	}
	return nil
}
