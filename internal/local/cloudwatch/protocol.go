package cloudwatch

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// CloudWatch answers three protocols, one per generation of client:
//   - Smithy RPC v2 CBOR, the default of aws-sdk-go-v2 service/cloudwatch v1.75 and boto3 1.43:
//     POST /service/GraniteServiceVersion20100801/operation/<Op>, smithy-protocol: rpc-v2-cbor;
//   - awsJson1_0 (X-Amz-Target: GraniteServiceVersion20100801.<Op>), which the model also lists;
//   - awsQuery (Action=<Op>&Version=2010-08-01, XML answers), spoken by the AWS CLI v1 and older SDKs.
type protocol int

const (
	protoCBOR protocol = iota
	protoJSON
	protoQuery
)

const (
	serviceName  = "GraniteServiceVersion20100801"
	cborPrefix   = "/service/" + serviceName + "/operation/"
	xmlNamespace = "http://monitoring.amazonaws.com/doc/2010-08-01/"
)

// The CBOR codec: fxamacker/cbor decodes the requests straight into the shapes (it reads the
// json tags) and accepts every encoding the Smithy serializers use (tag 1 timestamps, floats
// of any width, indefinite lengths). Empty containers are written as empty, never as null.
var (
	cborEnc, _ = cbor.EncOptions{NilContainers: cbor.NilContainerAsEmpty}.EncMode()
	cborDec, _ = cbor.DecOptions{MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 20}.DecMode()
)

// request is one decoded call: its protocol, operation and body.
type request struct {
	proto protocol
	op    string
	body  []byte
	form  url.Values
}

// readRequest finds the protocol and the operation of r.
func readRequest(r *http.Request) (*request, *core.APIError) {
	var in io.Reader = r.Body
	// The SDKs gzip PutMetricData bodies (the model's requestCompression trait).
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return &request{proto: protoCBOR}, core.Errorf("SerializationException", "read gzip body: %v", err)
		}
		defer zr.Close()
		in = zr
	}
	body, err := io.ReadAll(io.LimitReader(in, 16<<20))
	if err != nil {
		return &request{proto: protoCBOR}, core.Errorf("SerializationException", "read body: %v", err)
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/service/"):
		op, ok := strings.CutPrefix(r.URL.Path, cborPrefix)
		if !ok || op == "" || strings.Contains(op, "/") {
			return &request{proto: protoCBOR}, core.Errorf("UnknownOperationException", "sfn-rollout local does not serve %s", r.URL.Path)
		}
		return &request{proto: protoCBOR, op: op, body: body}, nil
	case r.Header.Get("X-Amz-Target") != "":
		target := r.Header.Get("X-Amz-Target")
		op, ok := strings.CutPrefix(target, serviceName+".")
		if !ok {
			return &request{proto: protoJSON}, core.Errorf("UnknownOperationException", "sfn-rollout local does not serve target %s", target)
		}
		return &request{proto: protoJSON, op: op, body: body}, nil
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return &request{proto: protoQuery}, core.Errorf("MalformedQueryString", "%v", err)
		}
		for k, v := range r.URL.Query() {
			if _, ok := form[k]; !ok {
				form[k] = v
			}
		}
		op := form.Get("Action")
		if op == "" {
			return &request{proto: protoQuery}, core.Errorf("MissingAction", "Missing Action")
		}
		return &request{proto: protoQuery, op: op, form: form}, nil
	}
}

// decode fills v from the request body.
func (q *request) decode(v any) *core.APIError {
	switch q.proto {
	case protoCBOR:
		if len(q.body) == 0 {
			return nil
		}
		if err := cborDec.Unmarshal(q.body, v); err != nil {
			return core.Errorf("SerializationException", "decode CBOR body: %v", err)
		}
	case protoJSON:
		if len(bytes.TrimSpace(q.body)) == 0 {
			return nil
		}
		if err := json.Unmarshal(q.body, v); err != nil {
			return core.Errorf("SerializationException", "decode JSON body: %v", err)
		}
	case protoQuery:
		return decodeForm(q.form, v)
	}
	return nil
}

// writeOutput answers a successful call.
func writeOutput(w http.ResponseWriter, q *request, requestID string, out any) {
	w.Header().Set("X-Amzn-Requestid", requestID)
	switch q.proto {
	case protoCBOR:
		b, err := cborEnc.Marshal(out)
		if err != nil {
			writeError(w, q, requestID, core.Errorf("InternalServiceError", "encode CBOR answer: %v", err))
			return
		}
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	case protoJSON:
		b, err := json.Marshal(out)
		if err != nil {
			writeError(w, q, requestID, core.Errorf("InternalServiceError", "encode JSON answer: %v", err))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write(b)
	case protoQuery:
		var b strings.Builder
		fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, q.op, xmlNamespace)
		if _, isEmpty := out.(empty); !isEmpty {
			writeXML(&b, q.op+"Result", out)
		}
		fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", requestID, q.op)
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, b.String())
	}
}

// modeledError is how the CloudWatch model names an error code: CloudWatch is
// awsQueryCompatible, so its RPC v2 and JSON errors carry the model's shape ID in __type and
// the awsQuery code in X-Amzn-Query-Error, which the SDKs hand to callers as the error code.
type modeledError struct {
	shape  string
	member string // the message member's name in the shape
	status int
}

var modeledErrors = map[string]modeledError{
	"InvalidParameterValue":       {"InvalidParameterValueException", "message", 400},
	"InvalidParameterCombination": {"InvalidParameterCombinationException", "message", 400},
	"MissingParameter":            {"MissingRequiredParameterException", "message", 400},
	"ResourceNotFound":            {"ResourceNotFound", "message", 404},
	"LimitExceeded":               {"LimitExceededFault", "message", 400},
	"InvalidNextToken":            {"InvalidNextToken", "message", 400},
	"InvalidFormat":               {"InvalidFormatFault", "message", 400},
	"ValidationError":             {"ValidationException", "message", 400},
	"InternalServiceError":        {"InternalServiceFault", "Message", 500},
}

// apiError makes an error with the model's HTTP status for code.
func apiError(code, format string, args ...any) *core.APIError {
	status := http.StatusBadRequest
	if m, ok := modeledErrors[code]; ok {
		status = m.status
	}
	return &core.APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// writeError answers a failed call in the request's protocol.
func writeError(w http.ResponseWriter, q *request, requestID string, e *core.APIError) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	typ, member := e.Code, "message"
	if m, ok := modeledErrors[e.Code]; ok {
		typ, member = "com.amazonaws.cloudwatch#"+m.shape, m.member
	}
	if e.Code == core.ErrCloudWatchThrottling.Code {
		// Throttling is not in CloudWatch's model: it comes from the service framework, whose
		// shape ID this is (unconfirmed); the SDKs take the code from X-Amzn-Query-Error.
		typ = "com.amazon.coral.availability#ThrottlingException"
	}
	w.Header().Set("X-Amzn-Requestid", requestID)
	switch q.proto {
	case protoCBOR, protoJSON:
		w.Header().Set("X-Amzn-Query-Error", e.Code+";"+fault)
		body := map[string]string{"__type": typ}
		if e.Message != "" {
			body["message"] = e.Message
			body[member] = e.Message
		}
		if q.proto == protoCBOR {
			b, _ := cborEnc.Marshal(body)
			w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
			w.Header().Set("Content-Type", "application/cbor")
			w.WriteHeader(status)
			_, _ = w.Write(b)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Errortype", e.Code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		var b strings.Builder
		fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>`, xmlNamespace, fault)
		xmlEscape(&b, e.Code)
		b.WriteString("</Code>")
		if e.Message != "" {
			b.WriteString("<Message>")
			xmlEscape(&b, e.Message)
			b.WriteString("</Message>")
		}
		fmt.Fprintf(&b, "</Error><RequestId>%s</RequestId></ErrorResponse>", requestID)
		_, _ = io.WriteString(w, b.String())
	}
}

// newRequestID makes a UUID-shaped request ID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// epoch is a timestamp as each protocol writes it: CBOR tag 1 with float64 epoch seconds
// (what the Smithy RPC v2 deserializer requires), JSON epoch seconds, awsQuery ISO 8601.
type epoch time.Time

func epochOf(t time.Time) *epoch {
	e := epoch(t)
	return &e
}

func (e epoch) time() time.Time { return time.Time(e) }

func (e epoch) seconds() float64 { return float64(time.Time(e).UnixMilli()) / 1e3 }

// MarshalCBOR writes tag 1 (epoch-based date/time) around a float64.
func (e epoch) MarshalCBOR() ([]byte, error) {
	b := make([]byte, 10)
	b[0] = 0xc1 // major type 6, tag 1
	b[1] = 0xfb // major type 7, float64
	binary.BigEndian.PutUint64(b[2:], math.Float64bits(e.seconds()))
	return b, nil
}

// UnmarshalCBOR reads a tag 1 timestamp (integer or float seconds), or an RFC 3339 string.
func (e *epoch) UnmarshalCBOR(b []byte) error {
	var t time.Time
	if err := cbor.Unmarshal(b, &t); err != nil {
		return err
	}
	*e = epoch(t.UTC())
	return nil
}

func (e epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(e.seconds(), 'f', -1, 64)), nil
}

func (e *epoch) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return e.UnmarshalText([]byte(s))
	}
	return e.UnmarshalText(b)
}

func (e epoch) MarshalText() ([]byte, error) {
	return []byte(time.Time(e).UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

// UnmarshalText reads ISO 8601 (what awsQuery sends) or epoch seconds.
func (e *epoch) UnmarshalText(b []byte) error {
	s := string(b)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*e = epoch(time.UnixMilli(int64(math.Round(f * 1e3))).UTC())
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			*e = epoch(t.UTC())
			return nil
		}
	}
	return fmt.Errorf("timestamp %q is neither ISO 8601 nor epoch seconds", s)
}
