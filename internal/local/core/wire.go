package core

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// APIError is an AWS error answer: the code clients switch on, its message and status.
type APIError struct {
	Code    string
	Message string
	Status  int // 400 when zero
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Errorf makes a 400 APIError.
func Errorf(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Common errors.
var (
	ErrInternal = &APIError{Code: "InternalServerError", Message: "Internal server error (injected)", Status: http.StatusInternalServerError}
)

// Unsupported answers an operation the local endpoint does not serve: a clear error, never
// a silent success.
func Unsupported(service, op string) *APIError {
	return &APIError{Code: "UnknownOperationException", Message: fmt.Sprintf("sfn-rollout local does not support %s %s", service, op), Status: http.StatusBadRequest}
}

// ReadJSON decodes an awsJson request body.
func ReadJSON(r *http.Request, v any) *APIError {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return Errorf("SerializationException", "read body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Errorf("SerializationException", "%v", err)
	}
	return nil
}

// WriteJSON answers an awsJson1_0 request.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if v == nil {
		v = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// WriteJSONError answers an awsJson1_0 request with an error: {"__type", "message"}.
func WriteJSONError(w http.ResponseWriter, e *APIError) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

// SigningName is the service name in the request's SigV4 credential scope
// (Credential=AKID/20261126/us-east-1/states/aws4_request), or "".
func SigningName(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	scope := auth[i+len("Credential="):]
	if j := strings.IndexAny(scope, ", "); j >= 0 {
		scope = scope[:j]
	}
	parts := strings.Split(scope, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}
