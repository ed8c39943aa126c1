package s3

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Hidden metadata entries: they are stored with an object and never answered as headers.
const (
	// metaKeysEntry lists the metadata of the put that made the object version. s3mem merges
	// the previous version's metadata into every put, which S3 never does; the list lets reads
	// drop what was merged in.
	metaKeysEntry = "X-Sfn-Local-Meta-Keys"
	// etagHeader carries an ETag that is not an MD5 (a multipart upload's "<md5>-<parts>") from
	// the backend to the response writer, which puts it in the ETag header.
	etagHeader = "X-Sfn-Local-Etag"
)

// storedMeta is the metadata S3 keeps with an object and answers as headers. gofakes3 hands
// the backend every X-Amz-* request header (the signature's date, the payload hash, the
// checksum of the upload, the copy source…); only these survive.
func storedMeta(name string) bool {
	switch name {
	case "Content-Type", "Content-Disposition", "Content-Encoding", "Content-Language", "Cache-Control", "Expires",
		"Last-Modified", "X-Amz-Website-Redirect-Location":
		return true
	}
	return strings.HasPrefix(name, "X-Amz-Meta-")
}

// backend is s3mem with S3's behaviour where s3mem differs: a put replaces the metadata,
// buckets are listed by name, listings do not end on a page that only repeats a common
// prefix, an unversioned object has no version id, and a multipart object keeps its
// "-<parts>" ETag.
type backend struct {
	*s3mem.Backend

	mu          sync.Mutex
	multipartEt map[string]string // bucket/key/internal version id → ETag
}

var (
	_ gofakes3.Backend          = (*backend)(nil)
	_ gofakes3.VersionedBackend = (*backend)(nil)
)

func newBackend(ts gofakes3.TimeSource) *backend {
	return &backend{Backend: s3mem.New(s3mem.WithTimeSource(ts)), multipartEt: map[string]string{}}
}

// cleanMeta keeps what S3 stores of a put's metadata, and the list of it.
func cleanMeta(meta map[string]string) map[string]string {
	out := make(map[string]string, len(meta)+1)
	var keys []string
	for k, v := range meta {
		k = http.CanonicalHeaderKey(k)
		if !storedMeta(k) {
			continue
		}
		if k == "Content-Encoding" {
			// aws-chunked is how the upload was framed, not how the object is encoded.
			v = stripAWSChunked(v)
			if v == "" {
				continue
			}
		}
		out[k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out[metaKeysEntry] = strings.Join(keys, ",")
	return out
}

func stripAWSChunked(v string) string {
	var kept []string
	for _, part := range strings.Split(v, ",") {
		if p := strings.TrimSpace(part); p != "" && !strings.EqualFold(p, "aws-chunked") {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ",")
}

func (b *backend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	return b.Backend.PutObject(bucket, key, cleanMeta(meta), input, size, conditions)
}

// CopyObject is never reached: the service answers CopyObject itself.
func (b *backend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

func (b *backend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	buckets, err := b.Backend.ListBuckets()
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].Name < buckets[j].Name })
	return buckets, err
}

// ListBucket fixes the end of a page. s3mem ends a page on the key it stopped at, so the next
// page starts inside the common prefix it just reported and reports it again; and it calls a
// page truncated when anything at all follows, even keys the prefix excludes.
func (b *backend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	list, err := b.Backend.ListBucket(name, prefix, page)
	if err != nil {
		return nil, err
	}
	if list.IsTruncated {
		next := list.NextMarker
		endsOnKey := len(list.Contents) > 0 && list.Contents[len(list.Contents)-1].Key == next
		if !endsOnKey && len(list.CommonPrefixes) > 0 {
			// No key of valid UTF-8 has a 0xff byte: the marker sorts after the whole prefix.
			next = list.CommonPrefixes[len(list.CommonPrefixes)-1].Prefix + "\xff"
		}
		rest, err := b.Backend.ListBucket(name, prefix, gofakes3.ListBucketPage{Marker: next, HasMarker: true, MaxKeys: 1})
		if err != nil {
			return nil, err
		}
		if len(rest.Contents) == 0 && len(rest.CommonPrefixes) == 0 {
			list.IsTruncated, next = false, ""
		}
		list.NextMarker = next
	} else {
		list.NextMarker = ""
	}
	for _, c := range list.Contents {
		if obj, err := b.Backend.HeadObject(name, c.Key); err == nil {
			if etag := b.multipartETag(name, c.Key, obj.VersionID); etag != "" {
				c.ETag = etag
			}
		}
	}
	return list, nil
}

func (b *backend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	obj, err := b.Backend.HeadObject(bucket, key)
	if err != nil {
		return nil, err
	}
	// s3mem gives every version an id; S3 answers one only in a versioned bucket.
	if !b.versioned(bucket) {
		return b.answer(bucket, obj, true), nil
	}
	return b.answer(bucket, obj, false), nil
}

func (b *backend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	obj, err := b.Backend.GetObject(bucket, key, rng)
	if err != nil {
		return nil, err
	}
	out := b.answer(bucket, obj, false)
	if obj.VersionID == "" {
		// s3mem hid the id of an unversioned object, under which a multipart ETag is filed.
		if head, err := b.Backend.HeadObject(bucket, key); err == nil && string(head.Hash) == string(obj.Hash) {
			if etag := b.multipartETag(bucket, key, head.VersionID); etag != "" {
				out.Metadata[etagHeader] = etag
			}
		}
	}
	return out, nil
}

func (b *backend) GetObjectVersion(bucket, key string, version gofakes3.VersionID, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	obj, err := b.Backend.GetObjectVersion(bucket, key, version, rng)
	if err != nil {
		return nil, err
	}
	return b.answer(bucket, obj, false), nil
}

func (b *backend) HeadObjectVersion(bucket, key string, version gofakes3.VersionID) (*gofakes3.Object, error) {
	obj, err := b.Backend.HeadObjectVersion(bucket, key, version)
	if err != nil {
		return nil, err
	}
	return b.answer(bucket, obj, false), nil
}

// answer is obj as S3 answers it: only the metadata of its own put, the multipart ETag, and
// no version id when hideVersion.
func (b *backend) answer(bucket string, obj *gofakes3.Object, hideVersion bool) *gofakes3.Object {
	out := *obj
	out.Metadata = map[string]string{}
	keys, listed := obj.Metadata[metaKeysEntry]
	for k, v := range obj.Metadata {
		if k == metaKeysEntry || !storedMeta(k) {
			continue
		}
		if listed && !containsKey(keys, k) {
			continue
		}
		out.Metadata[k] = v
	}
	if etag := b.multipartETag(bucket, obj.Name, obj.VersionID); etag != "" {
		out.Metadata[etagHeader] = etag
	}
	if hideVersion {
		out.VersionID = ""
	}
	return &out
}

func containsKey(list, key string) bool {
	for _, k := range strings.Split(list, ",") {
		if k == key {
			return true
		}
	}
	return false
}

func (b *backend) versioned(bucket string) bool {
	v, err := b.Backend.VersioningConfiguration(bucket)
	return err == nil && v.Status == gofakes3.VersioningEnabled
}

// latest is the current version of key as stored, with s3mem's internal version id.
func (b *backend) latest(bucket, key string) (*gofakes3.Object, error) {
	return b.Backend.HeadObject(bucket, key)
}

// setMultipartETag files the ETag of a completed multipart upload under the version it made.
func (b *backend) setMultipartETag(bucket, key string, version gofakes3.VersionID, etag string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.multipartEt[bucket+"/"+key+"/"+string(version)] = etag
}

func (b *backend) multipartETag(bucket, key string, version gofakes3.VersionID) string {
	if version == "" {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.multipartEt[bucket+"/"+key+"/"+string(version)]
}
