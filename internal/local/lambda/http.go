package lambda

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// The paths of Lambda's REST API: each operation keeps the API version it was added in.
const (
	functionsPath       = "/2015-03-31/functions"
	getConcurrencyPath  = "/2019-09-30/functions/" // GetFunctionConcurrency: <name>/concurrency
	putConcurrencyPath  = "/2017-10-31/functions/" // Put- and DeleteFunctionConcurrency: <name>/concurrency
	concurrencySuffix   = "/concurrency"
	accountSettingsPath = "/2016-08-19/account-settings"
)

// ServeHTTP answers Lambda's REST API (restJson1): Invoke, GetFunction,
// GetFunctionConfiguration, ListFunctions, Get-, Put- and DeleteFunctionConcurrency and
// GetAccountSettings. Anything else is refused by name.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("X-Amzn-Requestid", requestID)
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && (p == accountSettingsPath || p == accountSettingsPath+"/"):
		s.serveAccountSettings(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(p, getConcurrencyPath) && strings.HasSuffix(p, concurrencySuffix):
		s.serveConcurrency(w, r, strings.TrimSuffix(strings.TrimPrefix(p, getConcurrencyPath), concurrencySuffix), "GetFunctionConcurrency")
	case r.Method == http.MethodPut && strings.HasPrefix(p, putConcurrencyPath) && strings.HasSuffix(p, concurrencySuffix):
		s.serveConcurrency(w, r, strings.TrimSuffix(strings.TrimPrefix(p, putConcurrencyPath), concurrencySuffix), "PutFunctionConcurrency")
	case r.Method == http.MethodDelete && strings.HasPrefix(p, putConcurrencyPath) && strings.HasSuffix(p, concurrencySuffix):
		s.serveConcurrency(w, r, strings.TrimSuffix(strings.TrimPrefix(p, putConcurrencyPath), concurrencySuffix), "DeleteFunctionConcurrency")
	case r.Method == http.MethodGet && (p == functionsPath || p == functionsPath+"/"):
		s.serveList(w, r)
	case strings.HasPrefix(p, functionsPath+"/"):
		rest := strings.TrimPrefix(p, functionsPath+"/")
		name, sub, _ := strings.Cut(rest, "/")
		switch {
		case r.Method == http.MethodPost && sub == "invocations":
			s.serveInvoke(w, r, name, requestID)
		case r.Method == http.MethodGet && sub == "":
			s.serveGet(w, r, name, "GetFunction")
		case r.Method == http.MethodGet && sub == "configuration":
			s.serveGet(w, r, name, "GetFunctionConfiguration")
		default:
			writeError(w, core.Unsupported("Lambda", r.Method+" "+p))
		}
	default:
		writeError(w, core.Unsupported("Lambda", r.Method+" "+p))
	}
}

func (s *Service) serveInvoke(w http.ResponseWriter, r *http.Request, name, requestID string) {
	if err := s.fault(r.Context(), "Invoke"); err != nil {
		writeErr(w, err)
		return
	}
	name = withQualifier(name, r.URL.Query().Get("Qualifier"))
	invocationType := r.Header.Get("X-Amz-Invocation-Type")
	if invocationType == "" {
		invocationType = "RequestResponse"
	}
	switch invocationType {
	case "RequestResponse", "Event", "DryRun":
	default:
		writeError(w, core.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invocationType))
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, MaxSyncPayload+1))
	if err != nil {
		writeError(w, core.Errorf("InvalidRequestContentException", "read request body: %v", err))
		return
	}
	if len(payload) > MaxSyncPayload {
		writeError(w, &core.APIError{Code: "RequestTooLargeException", Message: fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", MaxSyncPayload), Status: http.StatusRequestEntityTooLarge})
		return
	}
	if len(strings.TrimSpace(string(payload))) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		var v any
		jerr := json.Unmarshal(payload, &v)
		writeError(w, core.Errorf("InvalidRequestContentException", "Could not parse request body into json: %v", jerr))
		return
	}
	fn, invoked, apiErr := s.lookup(name)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	switch invocationType {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		if err := s.enqueue(&asyncInvocation{fn: fn, invoked: invoked, payload: payload, requestID: requestID, received: s.now()}); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	pool := s.slotsOf(fn)
	if !acquire(pool) {
		writeError(w, s.throttled(pool))
		return
	}
	out, err := s.run(r.Context(), fn, invoked, payload, requestID)
	<-pool
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if r.Header.Get("X-Amz-Log-Type") == "Tail" {
		w.Header().Set("X-Amz-Log-Result", tailLog(requestID, out.duration, out.err))
	}
	w.Header().Set("Content-Type", "application/json")
	if out.err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(out.err)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.payload)
}

// tailLog is the last 4 KB of the invocation's log as X-Amz-Log-Result carries it. Handlers
// here log elsewhere, so only the platform lines are in it.
func tailLog(requestID string, d time.Duration, ferr *messages.InvokeResponse_Error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "START RequestId: %s Version: $LATEST\n", requestID)
	if ferr != nil {
		if out, err := json.Marshal(ferr); err == nil {
			b.Write(out)
			b.WriteByte('\n')
		}
	}
	ms := float64(d.Microseconds()) / 1000
	fmt.Fprintf(&b, "END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n", requestID, requestID, ms, int64(ms)+1)
	log := b.String()
	if len(log) > 4096 {
		log = log[len(log)-4096:]
	}
	return base64.StdEncoding.EncodeToString([]byte(log))
}

// withQualifier adds the Qualifier query parameter to a function name that has none.
func withQualifier(name, qualifier string) string {
	if qualifier == "" {
		return name
	}
	if _, q, err := parseFunctionName(name); err == nil && q == "" {
		return name + ":" + qualifier
	}
	return name
}

// configuration is a FunctionConfiguration: what GetFunction and ListFunctions say of an
// in-process function, as a provided.al2023 Go function would be described.
type configuration struct {
	FunctionName     string   `json:"FunctionName"`
	FunctionArn      string   `json:"FunctionArn"`
	Runtime          string   `json:"Runtime"`
	Handler          string   `json:"Handler"`
	Role             string   `json:"Role"`
	Timeout          int      `json:"Timeout"`
	MemorySize       int      `json:"MemorySize"`
	Version          string   `json:"Version"`
	PackageType      string   `json:"PackageType"`
	Architectures    []string `json:"Architectures"`
	State            string   `json:"State"`
	LastUpdateStatus string   `json:"LastUpdateStatus"`
	LastModified     string   `json:"LastModified"`
	CodeSize         int64    `json:"CodeSize"`
	Description      string   `json:"Description"`
}

func (f *function) configuration() configuration {
	timeout := int((f.timeout + time.Second - 1) / time.Second)
	return configuration{
		FunctionName:     f.name,
		FunctionArn:      f.arn(),
		Runtime:          "provided.al2023",
		Handler:          "bootstrap",
		Role:             fmt.Sprintf("arn:%s:iam::%s:role/%s", core.Partition, core.Account, f.name),
		Timeout:          timeout,
		MemorySize:       128,
		Version:          "$LATEST",
		PackageType:      "Zip",
		Architectures:    []string{"arm64"},
		State:            "Active",
		LastUpdateStatus: "Successful",
		LastModified:     f.modified.Format("2006-01-02T15:04:05.000-0700"),
		Description:      "in-process function of sfn-rollout local",
	}
}

func (s *Service) serveGet(w http.ResponseWriter, r *http.Request, name, op string) {
	if err := s.fault(r.Context(), op); err != nil {
		writeErr(w, err)
		return
	}
	name = withQualifier(name, r.URL.Query().Get("Qualifier"))
	fn, _, apiErr := s.lookup(name)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if op == "GetFunctionConfiguration" {
		writeJSON(w, fn.configuration())
		return
	}
	writeJSON(w, map[string]any{
		"Configuration": fn.configuration(),
		"Code":          map[string]string{"RepositoryType": "S3", "Location": ""},
		"Tags":          map[string]string{},
	})
}

// serveConcurrency answers Get-, Put- and DeleteFunctionConcurrency for the function name
// (a name, partial ARN or ARN, without a qualifier: reserved concurrency is the function's).
func (s *Service) serveConcurrency(w http.ResponseWriter, r *http.Request, name, op string) {
	if err := s.fault(r.Context(), op); err != nil {
		writeErr(w, err)
		return
	}
	fn, _, apiErr := s.lookup(name)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	switch op {
	case "GetFunctionConcurrency":
		out := map[string]int{}
		if n, ok := s.FunctionConcurrency(fn.name); ok {
			out["ReservedConcurrentExecutions"] = n
		}
		writeJSON(w, out)
	case "DeleteFunctionConcurrency":
		s.DeleteFunctionConcurrency(fn.name)
		w.WriteHeader(http.StatusNoContent)
	default:
		var in struct {
			ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.ReservedConcurrentExecutions == nil {
			writeError(w, core.Errorf("ValidationException", "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null"))
			return
		}
		n := *in.ReservedConcurrentExecutions
		if n < 0 {
			writeError(w, core.Errorf("ValidationException", "1 validation error detected: Value '%d' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0", n))
			return
		}
		if err := s.PutFunctionConcurrency(fn.name, n); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, map[string]int{"ReservedConcurrentExecutions": n})
	}
}

// serveAccountSettings answers GetAccountSettings: the concurrency of AccountConcurrency, and
// AWS's default code-storage limits (local mode stores no code).
func (s *Service) serveAccountSettings(w http.ResponseWriter, r *http.Request) {
	if err := s.fault(r.Context(), "GetAccountSettings"); err != nil {
		writeErr(w, err)
		return
	}
	limit, unreserved := s.AccountConcurrency()
	writeJSON(w, map[string]any{
		"AccountLimit": map[string]int64{
			"ConcurrentExecutions": int64(limit), "UnreservedConcurrentExecutions": int64(unreserved),
			"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
		},
		"AccountUsage": map[string]int64{"FunctionCount": int64(len(s.registered())), "TotalCodeSize": 0},
	})
}

func (s *Service) serveList(w http.ResponseWriter, r *http.Request) {
	if err := s.fault(r.Context(), "ListFunctions"); err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	maxItems := 50
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, core.Errorf("InvalidParameterValueException", "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000", v))
			return
		}
		maxItems = n
	}
	marker := q.Get("Marker")
	var page []configuration
	next := ""
	for _, f := range s.registered() {
		if marker != "" && f.name <= marker {
			continue
		}
		if len(page) == maxItems {
			next = page[len(page)-1].FunctionName
			break
		}
		page = append(page, f.configuration())
	}
	out := map[string]any{"Functions": page}
	if page == nil {
		out["Functions"] = []configuration{}
	}
	if next != "" {
		out["NextMarker"] = next
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers an error of the invocation itself: an *core.APIError as it is, anything
// else (the client went away) as a service error.
func writeErr(w http.ResponseWriter, err error) {
	var apiErr *core.APIError
	if errors.As(err, &apiErr) {
		writeError(w, apiErr)
		return
	}
	writeError(w, &core.APIError{Code: "ServiceException", Message: err.Error(), Status: http.StatusInternalServerError})
}

// writeError answers as Lambda does: the code in X-Amzn-Errortype, {"Type","Message"} in
// the body, and for a concurrency limit its Reason.
func writeError(w http.ResponseWriter, e *core.APIError) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	kind := "User"
	if status >= 500 {
		kind = "Service"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(status)
	body := map[string]string{"Type": kind, "Message": e.Message}
	switch e {
	case errConcurrency:
		body["Reason"] = "ConcurrentInvocationLimitExceeded"
	case errReservedConcurrency:
		body["Reason"] = "ReservedFunctionConcurrentInvocationLimitExceeded"
	}
	_ = json.NewEncoder(w).Encode(body)
}
