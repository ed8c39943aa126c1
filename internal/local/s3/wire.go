package s3

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// errorMessages are S3's messages for the codes gofakes3 answers without one.
var errorMessages = map[string]string{
	"NoSuchKey":            "The specified key does not exist.",
	"NoSuchBucket":         "The specified bucket does not exist",
	"NoSuchVersion":        "The specified version does not exist.",
	"NoSuchUpload":         "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
	"BucketNotEmpty":       "The bucket you tried to delete is not empty",
	"InvalidPart":          "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
	"InvalidPartOrder":     "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
	"EntityTooSmall":       "Your proposed upload is smaller than the minimum allowed object size.",
	"MethodNotAllowed":     "The specified method is not allowed against this resource.",
	"InvalidRange":         "The requested range is not satisfiable",
	"MissingContentLength": "You must provide the Content-Length HTTP header.",
	"InternalError":        "We encountered an internal error. Please try again.",
	"BadDigest":            "The Content-MD5 you specified did not match what we received.",
	"InvalidDigest":        "The Content-MD5 you specified is not valid.",
}

// s3Error is S3's error document. Elements this type does not name (ArgumentName, …) are
// kept as they came.
type s3Error struct {
	XMLName   xml.Name    `xml:"Error"`
	Code      string      `xml:"Code"`
	Message   string      `xml:"Message"`
	Resource  string      `xml:"Resource,omitempty"`
	RequestID string      `xml:"RequestId"`
	HostID    string      `xml:"HostId,omitempty"`
	Extra     []extraElem `xml:",any"`
}

type extraElem struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// writeError answers an S3 error; a HEAD answer has no body, as on S3.
func writeError(w http.ResponseWriter, r *http.Request, status int, e s3Error) {
	// gofakes3 leaves some messages empty and gives others as the bare code.
	if m, ok := errorMessages[e.Code]; ok && (e.Message == "" || e.Message == e.Code) {
		e.Message = m
	}
	if e.RequestID == "" {
		e.RequestID = w.Header().Get("X-Amz-Request-Id")
	}
	if e.HostID == "" {
		e.HostID = hostID(e.RequestID)
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(e)
}

func writeXML(w http.ResponseWriter, v any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}

// newRequestID is an id in S3's form: 16 upper-case hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

func hostID(requestID string) string {
	return hex.EncodeToString([]byte(requestID + requestID))
}

// responseWriter sits between gofakes3 and the client. It answers metadata headers with
// lower-case names as S3 does (x-amz-meta-*), puts a multipart ETag in place, holds back an
// error document to give it S3's message and the request id, and keeps a copy of a small
// successful body when asked (CompleteMultipartUpload's result).
type responseWriter struct {
	http.ResponseWriter
	r       *http.Request
	status  int
	errBody *bytes.Buffer // an error document held back
	keep    bool
	kept    bytes.Buffer
}

func newResponseWriter(w http.ResponseWriter, r *http.Request, keepBody bool) *responseWriter {
	return &responseWriter{ResponseWriter: w, r: r, keep: keepBody}
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if status >= 400 {
		w.errBody = &bytes.Buffer{}
		return
	}
	h := w.Header()
	for name, values := range h {
		if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-amz-meta-") && name != lower {
			delete(h, name)
			h[lower] = values
		}
	}
	if etag := h.Get(etagHeader); etag != "" {
		h.Set("ETag", etag)
		h.Del(etagHeader)
	}
	h.Del(metaKeysEntry)
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.errBody != nil {
		return w.errBody.Write(p)
	}
	if w.keep && w.kept.Len() < 1<<16 {
		w.kept.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// finish sends the header of a bodiless answer, or a held-back error document, completed.
func (w *responseWriter) finish() {
	if w.status == 0 {
		// gofakes3 wrote neither a status nor a body (a HEAD): the header fix-ups still apply.
		w.WriteHeader(http.StatusOK)
	}
	if w.errBody == nil {
		return
	}
	var e s3Error
	if w.errBody.Len() > 0 {
		if err := xml.Unmarshal(w.errBody.Bytes(), &e); err != nil {
			w.ResponseWriter.WriteHeader(w.status)
			_, _ = w.ResponseWriter.Write(w.errBody.Bytes())
			return
		}
	} else {
		e.Code = strings.ReplaceAll(http.StatusText(w.status), " ", "")
	}
	writeError(w.ResponseWriter, w.r, w.status, e)
}

func (w *responseWriter) ok() bool { return w.status == 0 || w.status < 300 }

// discardBody answers a HEAD request with what gofakes3 writes for a GET.
type discardBody struct{ *responseWriter }

func (d discardBody) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.WriteHeader(http.StatusOK)
	}
	return len(p), nil
}

// decodeAWSChunked replaces an aws-chunked request body (SigV4 streaming, with or without a
// trailing checksum) by the payload it frames, as S3 does before storing it. gofakes3 reads
// only the signed variant without trailer.
func decodeAWSChunked(r *http.Request) error {
	sha := r.Header.Get("X-Amz-Content-Sha256")
	if !strings.HasPrefix(sha, "STREAMING-") && !strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "aws-chunked") {
		return nil
	}
	size, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return errors.New("an aws-chunked upload needs X-Amz-Decoded-Content-Length")
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{&chunkReader{src: bufio.NewReader(r.Body)}, r.Body}
	r.ContentLength = size
	r.Header.Set("Content-Length", strconv.FormatInt(size, 10))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Del("X-Amz-Trailer")
	if ce := stripAWSChunked(r.Header.Get("Content-Encoding")); ce != "" {
		r.Header.Set("Content-Encoding", ce)
	} else {
		r.Header.Del("Content-Encoding")
	}
	return nil
}

// chunkReader reads aws-chunked framing: "<hex size>[;chunk-signature=…]\r\n<data>\r\n" up to
// a chunk of size 0, after which come trailers, which it skips.
type chunkReader struct {
	src    *bufio.Reader
	remain int64
	done   bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.remain == 0 {
		line, err := c.src.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("aws-chunked: read chunk header: %w", err)
		}
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(line, 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("aws-chunked: bad chunk size %q", line)
		}
		if n == 0 {
			c.done = true
			_, _ = io.Copy(io.Discard, c.src) // trailers
			return 0, io.EOF
		}
		c.remain = n
	}
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	n, err := c.src.Read(p)
	c.remain -= int64(n)
	if c.remain == 0 && err == nil {
		if _, err := c.src.Discard(2); err != nil { // the chunk's CRLF
			return n, fmt.Errorf("aws-chunked: %w", err)
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// eventKey encodes an object key as S3 events carry it: form-URL-encoded (a space is "+",
// "(" is "%28") with "/" left as it is. The set of characters left unencoded is Java's
// URLEncoder's (letters, digits, ". - * _"); "*" and "~" are unconfirmed against AWS.
func eventKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '*', c == '_', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
