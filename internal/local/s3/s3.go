// Package s3 is local mode's S3: gofakes3's in-memory, versioning-capable store behind S3's
// REST API, plus bucket notifications to EventBridge ("Object Created" on the core.Bus).
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// Options configure the service. Every field may be left zero.
type Options struct {
	Clock    *core.Clock   // Last-Modified, event times and sequencers; nil means real time
	Bus      core.Bus      // receives "Object Created" for buckets with EventBridge notifications
	Faults   *core.Faults  // consulted as service "s3" with S3's operation names
	Reporter core.Reporter // told about events the bus refused
}

// Service is S3. It implements http.Handler.
type Service struct {
	opts    Options
	store   *backend
	fake    http.Handler
	objects keyLocks

	mu         sync.Mutex
	eventsOn   map[string]bool   // buckets with EventBridge notifications
	sequencers map[string]uint64 // the last sequencer of each bucket
}

var _ http.Handler = (*Service)(nil)

// New makes an empty S3.
func New(opts Options) *Service {
	ts := timeSource{opts.Clock}
	store := newBackend(ts)
	fake := gofakes3.New(store,
		gofakes3.WithTimeSource(ts),
		// Clients sign with the wall clock; a virtual clock runs ahead of it.
		gofakes3.WithTimeSkewLimit(0),
		// Its request ids count from here; from 0 they would read 0000000000000001.
		gofakes3.WithRequestID(randomUint64()),
	)
	return &Service{
		opts:       opts,
		store:      store,
		fake:       fake.Server(),
		objects:    keyLocks{m: map[string]*keyLock{}},
		eventsOn:   map[string]bool{},
		sequencers: map[string]uint64{},
	}
}

// timeSource is the clock as gofakes3 reads time.
type timeSource struct{ clock *core.Clock }

var gmt = time.FixedZone("GMT", 0)

func (t timeSource) Now() time.Time {
	if t.clock == nil {
		return time.Now().In(gmt)
	}
	return t.clock.Now().In(gmt)
}

func (t timeSource) Since(at time.Time) time.Duration { return t.Now().Sub(at) }

func (s *Service) now() time.Time { return timeSource{s.opts.Clock}.Now().UTC() }

// request is one S3 call as the service sees it.
type request struct {
	op          string // S3's operation name
	bucket, key string
	query       url.Values
	unsupported string // what this endpoint does not serve, when it does not
}

// queryParams are the query parameters of the operations served; any other names a feature
// (a subresource such as ?tagging or ?policy) that is refused rather than misread.
var queryParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "max-keys": true, "continuation-token": true,
	"start-after": true, "fetch-owner": true, "encoding-type": true, "marker": true, "x-id": true,
	"versionId": true, "uploadId": true, "partNumber": true, "uploads": true, "versioning": true,
	"versions": true, "key-marker": true, "version-id-marker": true, "delete": true, "location": true,
	"notification": true, "max-uploads": true, "upload-id-marker": true, "part-number-marker": true,
	"max-parts": true, "response-content-type": true, "response-content-language": true,
	"response-expires": true, "response-cache-control": true, "response-content-disposition": true,
	"response-content-encoding": true,
}

func parseRequest(r *http.Request) request {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	req := request{bucket: bucket, key: key, query: q}
	for name := range q {
		if !queryParams[name] && !strings.HasPrefix(strings.ToLower(name), "x-amz-") {
			req.unsupported = "the ?" + name + " subresource"
			return req
		}
	}
	has := func(name string) bool { _, ok := q[name]; return ok }
	m := r.Method
	switch {
	case bucket == "":
		if m == http.MethodGet {
			req.op = "ListBuckets"
		}
	case key == "":
		switch {
		case has("notification"):
			req.op = map[string]string{http.MethodPut: "PutBucketNotificationConfiguration", http.MethodGet: "GetBucketNotificationConfiguration"}[m]
		case has("versioning"):
			req.op = map[string]string{http.MethodPut: "PutBucketVersioning", http.MethodGet: "GetBucketVersioning"}[m]
		case has("versions"):
			req.op = map[string]string{http.MethodGet: "ListObjectVersions"}[m]
		case has("uploads"):
			req.op = map[string]string{http.MethodGet: "ListMultipartUploads"}[m]
		case has("location"):
			req.op = map[string]string{http.MethodGet: "GetBucketLocation"}[m]
		case has("delete"):
			req.op = map[string]string{http.MethodPost: "DeleteObjects"}[m]
		case m == http.MethodGet && q.Get("list-type") == "2":
			req.op = "ListObjectsV2"
		default:
			req.op = map[string]string{http.MethodGet: "ListObjects", http.MethodPut: "CreateBucket", http.MethodHead: "HeadBucket", http.MethodDelete: "DeleteBucket"}[m]
		}
	default:
		switch {
		case has("uploads"):
			req.op = map[string]string{http.MethodPost: "CreateMultipartUpload"}[m]
		case has("uploadId"):
			req.op = map[string]string{http.MethodPut: "UploadPart", http.MethodPost: "CompleteMultipartUpload", http.MethodDelete: "AbortMultipartUpload", http.MethodGet: "ListParts"}[m]
			if req.op == "UploadPart" && r.Header.Get("X-Amz-Copy-Source") != "" {
				req.op, req.unsupported = "UploadPartCopy", "UploadPartCopy"
			}
		case m == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
			req.op = "CopyObject"
		default:
			req.op = map[string]string{http.MethodGet: "GetObject", http.MethodHead: "HeadObject", http.MethodPut: "PutObject", http.MethodDelete: "DeleteObject"}[m]
		}
	}
	if req.op == "" && req.unsupported == "" {
		req.unsupported = m + " " + r.URL.Path
	}
	return req
}

// ServeHTTP answers S3's REST API with path-style addressing (and virtual hosts under
// localhost).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		if bucket, ok := strings.CutSuffix(host, ".localhost"); ok && bucket != "" {
			r.URL.Path = "/" + bucket + r.URL.Path
		}
	}
	requestID := newRequestID()
	w.Header().Set("X-Amz-Request-Id", requestID)
	w.Header().Set("X-Amz-Id-2", hostID(requestID))
	req := parseRequest(r)

	if latency, apiErr := s.opts.Faults.Check("s3", req.op); latency > 0 || apiErr != nil {
		sleep(r.Context(), latency)
		if apiErr != nil {
			status := apiErr.Status
			if status == 0 {
				status = http.StatusBadRequest
			}
			writeError(w, r, status, s3Error{Code: apiErr.Code, Message: apiErr.Message})
			return
		}
	}
	if req.unsupported == "" {
		req.unsupported = unsupportedHeaders(r, req.op)
	}
	if req.unsupported != "" {
		writeError(w, r, http.StatusNotImplemented, s3Error{Code: "NotImplemented",
			Message: "sfn-rollout local does not support " + req.unsupported})
		return
	}

	switch req.op {
	case "PutBucketNotificationConfiguration":
		s.putNotification(w, r, req)
	case "GetBucketNotificationConfiguration":
		s.getNotification(w, r, req)
	case "CreateBucket":
		s.createBucket(w, r, req)
	case "DeleteBucket":
		if rw := s.passThrough(w, r, false); rw.ok() {
			s.mu.Lock()
			delete(s.eventsOn, req.bucket)
			delete(s.sequencers, req.bucket)
			s.mu.Unlock()
		}
	case "CopyObject":
		s.copyObject(w, r, req, requestID)
	case "PutObject", "CompleteMultipartUpload":
		s.createObject(w, r, req, requestID)
	case "DeleteObject":
		unlock := s.objects.lock(req.bucket + "/" + req.key)
		defer unlock()
		s.passThrough(w, r, false)
	case "HeadObject":
		if v := req.query.Get("versionId"); v != "" && v != "null" {
			// gofakes3 answers the latest version to a HEAD of a version; a GET of it is right.
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			rw := newResponseWriter(w, r, false)
			s.fake.ServeHTTP(discardBody{rw}, get)
			rw.finish()
			return
		}
		s.passThrough(w, r, false)
	default:
		s.passThrough(w, r, false)
	}
}

// unsupportedHeaders names a request header that asks for a feature this endpoint lacks.
func unsupportedHeaders(r *http.Request, op string) string {
	switch op {
	case "PutObject", "CopyObject", "CreateMultipartUpload":
		if r.Header.Get("X-Amz-Tagging") != "" {
			return "object tagging (x-amz-tagging)"
		}
		if r.Header.Get("X-Amz-Object-Lock-Mode") != "" || r.Header.Get("X-Amz-Object-Lock-Legal-Hold") != "" {
			return "object lock"
		}
	}
	if op == "CopyObject" {
		for name := range r.Header {
			if strings.HasPrefix(name, "X-Amz-Copy-Source-If-") {
				return "conditional copies (" + strings.ToLower(name) + ")"
			}
		}
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// passThrough lets gofakes3 answer.
func (s *Service) passThrough(w http.ResponseWriter, r *http.Request, keepBody bool) *responseWriter {
	if err := decodeAWSChunked(r); err != nil {
		rw := newResponseWriter(w, r, false)
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "InvalidRequest", Message: err.Error()})
		rw.status = http.StatusBadRequest
		return rw
	}
	rw := newResponseWriter(w, r, keepBody)
	s.fake.ServeHTTP(rw, r)
	rw.finish()
	return rw
}

// createBucket answers a CreateBucket of a bucket the account already owns with 200, as
// us-east-1 does for legacy compatibility (other regions answer BucketAlreadyOwnedByYou).
func (s *Service) createBucket(w http.ResponseWriter, r *http.Request, req request) {
	if exists, err := s.store.BucketExists(req.bucket); err == nil && exists {
		w.Header().Set("Location", "/"+req.bucket)
		w.WriteHeader(http.StatusOK)
		return
	}
	s.passThrough(w, r, false)
}

// createObject lets gofakes3 store a PutObject or a CompleteMultipartUpload and announces
// the object. The key is locked so that the version read back is the one this call made.
func (s *Service) createObject(w http.ResponseWriter, r *http.Request, req request, requestID string) {
	unlock := s.objects.lock(req.bucket + "/" + req.key)
	rw := s.passThrough(w, r, req.op == "CompleteMultipartUpload")
	if !rw.ok() {
		unlock()
		return
	}
	etag := w.Header().Get("ETag")
	// gofakes3 answered with its own request id.
	if id := w.Header().Get("X-Amz-Request-Id"); id != "" {
		requestID = id
	}
	if req.op == "CompleteMultipartUpload" {
		var result gofakes3.CompleteMultipartUploadResult
		if err := xml.Unmarshal(rw.kept.Bytes(), &result); err != nil || result.ETag == "" {
			unlock()
			s.report("s3: %s/%s: no ETag in the CompleteMultipartUpload result: %v", req.bucket, req.key, err)
			return
		}
		etag = result.ETag
	}
	obj, err := s.store.latest(req.bucket, req.key)
	if err != nil {
		unlock()
		s.report("s3: %s/%s: read back after %s: %v", req.bucket, req.key, req.op, err)
		return
	}
	if req.op == "CompleteMultipartUpload" {
		s.store.setMultipartETag(req.bucket, req.key, obj.VersionID, etag)
	}
	ev, ok := s.objectCreated(req.bucket, req.key, req.op, etag, obj, requestID)
	unlock()
	if ok {
		s.emit(r.Context(), ev)
	}
}

// copyObject is CopyObject: gofakes3 copies neither a given source version, nor by the
// metadata directive, and answers the source's version id as the new one's.
func (s *Service) copyObject(w http.ResponseWriter, r *http.Request, req request, requestID string) {
	srcBucket, srcKey, srcVersion, ok := parseCopySource(r.Header.Get("X-Amz-Copy-Source"))
	if !ok {
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "InvalidArgument", Message: "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"})
		return
	}
	directive := r.Header.Get("X-Amz-Metadata-Directive")
	switch directive {
	case "", "COPY", "REPLACE":
	default:
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "InvalidArgument", Message: "Unknown metadata directive."})
		return
	}
	if exists, _ := s.store.BucketExists(req.bucket); !exists {
		writeError(w, r, http.StatusNotFound, s3Error{Code: "NoSuchBucket", Resource: req.bucket})
		return
	}
	if srcBucket == req.bucket && srcKey == req.key && srcVersion == "" && directive != "REPLACE" {
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "InvalidRequest", Message: "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."})
		return
	}

	unlock := s.objects.lock(req.bucket + "/" + req.key)
	var src *gofakes3.Object
	var err error
	if srcVersion != "" {
		src, err = s.store.GetObjectVersion(srcBucket, srcKey, gofakes3.VersionID(srcVersion), nil)
	} else {
		src, err = s.store.GetObject(srcBucket, srcKey, nil)
	}
	if err != nil {
		unlock()
		s.writeStoreError(w, r, err)
		return
	}
	defer src.Contents.Close()
	if src.IsDeleteMarker {
		unlock()
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "InvalidRequest", Message: "The source of a copy request may not specifically refer to a delete marker by version id."})
		return
	}
	meta := map[string]string{}
	if directive == "REPLACE" {
		for name := range r.Header {
			if storedMeta(name) && name != "Last-Modified" {
				meta[name] = r.Header.Get(name)
			}
		}
	} else {
		for k, v := range src.Metadata {
			if k != etagHeader {
				meta[k] = v
			}
		}
	}
	modified := s.now()
	meta["Last-Modified"] = modified.Format(http.TimeFormat)
	body, err := io.ReadAll(src.Contents)
	if err != nil {
		unlock()
		s.writeStoreError(w, r, err)
		return
	}
	if _, err := s.store.PutObject(req.bucket, req.key, meta, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		unlock()
		s.writeStoreError(w, r, err)
		return
	}
	obj, err := s.store.latest(req.bucket, req.key)
	if err != nil {
		unlock()
		s.writeStoreError(w, r, err)
		return
	}
	sum := md5.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	ev, emit := s.objectCreated(req.bucket, req.key, req.op, etag, obj, requestID)
	unlock()

	if src.VersionID != "" {
		w.Header().Set("X-Amz-Copy-Source-Version-Id", string(src.VersionID))
	}
	if s.store.versioned(req.bucket) {
		w.Header().Set("X-Amz-Version-Id", string(obj.VersionID))
	}
	writeXML(w, gofakes3.CopyObjectResult{ETag: etag, LastModified: gofakes3.NewContentTime(modified)})
	if emit {
		s.emit(r.Context(), ev)
	}
}

// parseCopySource reads x-amz-copy-source: "[/]bucket/key[?versionId=id]", URL-encoded.
func parseCopySource(v string) (bucket, key, version string, ok bool) {
	path, query, _ := strings.Cut(v, "?")
	decoded, err := url.PathUnescape(path)
	if err != nil {
		return "", "", "", false
	}
	bucket, key, found := strings.Cut(strings.TrimPrefix(decoded, "/"), "/")
	if !found || bucket == "" || key == "" {
		return "", "", "", false
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", "", false
		}
		version = q.Get("versionId")
		if version == "null" {
			version = ""
		}
	}
	return bucket, key, version, true
}

func (s *Service) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	code := gofakes3.ErrInternal
	if e, ok := err.(interface{ ErrorCode() gofakes3.ErrorCode }); ok {
		code = e.ErrorCode()
	}
	msg := ""
	if code == gofakes3.ErrInternal {
		msg = err.Error()
	}
	writeError(w, r, code.Status(), s3Error{Code: string(code), Message: msg})
}

// notificationConfiguration is the document of Put/GetBucketNotificationConfiguration.
// Only EventBridge is a destination here: no SNS topic, SQS queue or Lambda function exists
// to send to.
type notificationConfiguration struct {
	XMLName     xml.Name   `xml:"NotificationConfiguration"`
	Xmlns       string     `xml:"xmlns,attr,omitempty"`
	EventBridge *struct{}  `xml:"EventBridgeConfiguration"`
	Topics      []struct{} `xml:"TopicConfiguration"`
	Queues      []struct{} `xml:"QueueConfiguration"`
	Functions   []struct{} `xml:"CloudFunctionConfiguration"`
}

func (s *Service) putNotification(w http.ResponseWriter, r *http.Request, req request) {
	if exists, _ := s.store.BucketExists(req.bucket); !exists {
		writeError(w, r, http.StatusNotFound, s3Error{Code: "NoSuchBucket", Resource: req.bucket})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "IncompleteBody", Message: err.Error()})
		return
	}
	var cfg notificationConfiguration
	if err := xml.Unmarshal(body, &cfg); err != nil {
		writeError(w, r, http.StatusBadRequest, s3Error{Code: "MalformedXML", Message: "The XML you provided was not well-formed or did not validate against our published schema"})
		return
	}
	var refused []string
	if len(cfg.Topics) > 0 {
		refused = append(refused, "TopicConfiguration")
	}
	if len(cfg.Queues) > 0 {
		refused = append(refused, "QueueConfiguration")
	}
	if len(cfg.Functions) > 0 {
		refused = append(refused, "CloudFunctionConfiguration")
	}
	if len(refused) > 0 {
		writeError(w, r, http.StatusNotImplemented, s3Error{Code: "NotImplemented",
			Message: "sfn-rollout local sends bucket notifications only to EventBridge (EventBridgeConfiguration), not " + strings.Join(refused, ", ")})
		return
	}
	s.mu.Lock()
	s.eventsOn[req.bucket] = cfg.EventBridge != nil
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Service) getNotification(w http.ResponseWriter, r *http.Request, req request) {
	if exists, _ := s.store.BucketExists(req.bucket); !exists {
		writeError(w, r, http.StatusNotFound, s3Error{Code: "NoSuchBucket", Resource: req.bucket})
		return
	}
	cfg := notificationConfiguration{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	if s.notifying(req.bucket) {
		cfg.EventBridge = &struct{}{}
	}
	writeXML(w, cfg)
}

func (s *Service) notifying(bucket string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventsOn[bucket]
}

// objectCreated makes the event of a new object, if its bucket sends events. obj is the
// stored version, with s3mem's version id. The caller holds the key's lock, so that
// sequencers follow the order of the writes.
func (s *Service) objectCreated(bucket, key, reason, etag string, obj *gofakes3.Object, requestID string) (core.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.eventsOn[bucket] {
		return core.Event{}, false
	}
	now := s.now()
	seq := uint64(now.UnixNano())
	if last := s.sequencers[bucket]; seq <= last {
		seq = last + 1
	}
	s.sequencers[bucket] = seq

	var d topology.ObjectCreatedDetail
	d.Version = "0"
	d.Bucket.Name = bucket
	d.Object.Key = eventKey(key)
	d.Object.Size = obj.Size
	d.Object.ETag = strings.Trim(etag, `"`)
	if s.store.versioned(bucket) {
		d.Object.VersionID = string(obj.VersionID)
	}
	d.Object.Sequencer = fmt.Sprintf("%018X", seq)
	d.RequestID = requestID
	d.Requester = core.Account
	d.SourceIPAddress = "127.0.0.1"
	d.Reason = reason
	detail, _ := json.Marshal(d)
	ev := core.Event{
		Source:     "aws.s3",
		DetailType: "Object Created",
		Resources:  []string{"arn:" + core.Partition + ":s3:::" + bucket},
		Detail:     detail,
	}
	if s.opts.Clock != nil {
		ev.Time = now
	}
	return ev, true
}

// emit puts the event on the bus. It outlives the request: a client that hangs up after its
// put still made an object.
func (s *Service) emit(ctx context.Context, ev core.Event) {
	if s.opts.Bus == nil {
		return
	}
	if err := s.opts.Bus.Emit(context.WithoutCancel(ctx), ev); err != nil {
		s.report("s3: Object Created for %s: %v", ev.Resources[0], err)
	}
}

func (s *Service) report(format string, args ...any) {
	if s.opts.Reporter != nil {
		s.opts.Reporter.Report(format, args...)
	}
}

// keyLocks serialise the writes of one object key.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
