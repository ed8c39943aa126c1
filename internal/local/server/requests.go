package server

import (
	"net/http"
	"sort"
	"strings"
	"sync"
)

// RequestCount is how many requests one caller made of one operation: what a rollout
// costs in API calls. App is the SDK's application id (aws.Config.AppID, sent as
// "app/<id>" in the User-Agent), so that the controller's calls can be told from a
// test's or a user's; "" when the caller set none.
type RequestCount struct {
	App       string `json:"app"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Count     int    `json:"count"`
}

type requestKey struct{ app, service, operation string }

// requestCounter counts requests by caller, service and operation.
type requestCounter struct {
	mu     sync.Mutex
	counts map[requestKey]int
}

func (c *requestCounter) add(r *http.Request, service string) {
	k := requestKey{app: appID(r.Header.Get("User-Agent")), service: service, operation: operationName(r, service)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[requestKey]int{}
	}
	c.counts[k]++
}

func (c *requestCounter) list() []RequestCount {
	c.mu.Lock()
	out := make([]RequestCount, 0, len(c.counts))
	for k, n := range c.counts {
		out = append(out, RequestCount{App: k.app, Service: k.service, Operation: k.operation, Count: n})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.App != b.App {
			return a.App < b.App
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Operation < b.Operation
	})
	return out
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
}

// Requests lists the requests served since the start or the last ResetRequests.
func (s *Server) Requests() []RequestCount { return s.requests.list() }

// ResetRequests starts the counts again.
func (s *Server) ResetRequests() { s.requests.reset() }

// appID reads "app/<id>" from a User-Agent.
func appID(userAgent string) string {
	for _, f := range strings.Fields(userAgent) {
		if id, ok := strings.CutPrefix(f, "app/"); ok {
			return id
		}
	}
	return ""
}

// operationName names the operation of a request the way the service's API does. The JSON
// and CBOR protocols name it in the request; for the REST ones (S3, Scheduler, Lambda) the
// calls the system makes are named from method and path, and any other is "<METHOD> <path
// shape>".
func operationName(r *http.Request, service string) string {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		return target[strings.LastIndexByte(target, '.')+1:]
	}
	p := r.URL.Path
	if op, ok := strings.CutPrefix(p, "/service/GraniteServiceVersion20100801/operation/"); ok {
		return op
	}
	segments := strings.Split(strings.Trim(p, "/"), "/")
	if len(segments) == 1 && segments[0] == "" {
		segments = nil
	}
	q := r.URL.Query()
	switch service {
	case "S3":
		// Path-style requests: /<bucket>[/<key>].
		switch {
		case len(segments) >= 2 && r.Method == http.MethodGet:
			return "GetObject"
		case len(segments) >= 2 && r.Method == http.MethodHead:
			return "HeadObject"
		case len(segments) >= 2 && r.Method == http.MethodPut:
			return "PutObject"
		case len(segments) >= 2 && r.Method == http.MethodDelete:
			return "DeleteObject"
		case len(segments) == 1 && r.Method == http.MethodGet && q.Get("list-type") == "2":
			return "ListObjectsV2"
		case len(segments) == 1 && r.Method == http.MethodGet && q.Has("versions"):
			return "ListObjectVersions"
		case len(segments) == 1 && r.Method == http.MethodPut && q.Has("versioning"):
			return "PutBucketVersioning"
		case len(segments) == 1 && r.Method == http.MethodPut && q.Has("notification"):
			return "PutBucketNotificationConfiguration"
		case len(segments) == 1 && r.Method == http.MethodPut:
			return "CreateBucket"
		}
	case "EventBridge Scheduler":
		crud := map[string]string{http.MethodPost: "Create", http.MethodGet: "Get", http.MethodPut: "Update", http.MethodDelete: "Delete"}
		switch {
		case len(segments) == 2 && segments[0] == "schedules" && crud[r.Method] != "":
			return crud[r.Method] + "Schedule"
		case len(segments) == 1 && segments[0] == "schedules" && r.Method == http.MethodGet:
			return "ListSchedules"
		case len(segments) == 2 && segments[0] == "schedule-groups" && crud[r.Method] != "" && r.Method != http.MethodPut:
			return crud[r.Method] + "ScheduleGroup"
		case len(segments) == 1 && segments[0] == "schedule-groups" && r.Method == http.MethodGet:
			return "ListScheduleGroups"
		}
	case "Lambda":
		switch {
		case len(segments) == 4 && segments[3] == "invocations" && r.Method == http.MethodPost:
			return "Invoke"
		case len(segments) == 3 && r.Method == http.MethodGet:
			return "GetFunction"
		case len(segments) == 4 && segments[3] == "configuration" && r.Method == http.MethodGet:
			return "GetFunctionConfiguration"
		case len(segments) == 2 && segments[1] == "functions" && r.Method == http.MethodGet:
			return "ListFunctions"
		case len(segments) == 2 && segments[1] == "account-settings" && r.Method == http.MethodGet:
			return "GetAccountSettings"
		case len(segments) == 4 && segments[3] == "concurrency" && (r.Method == http.MethodGet || r.Method == http.MethodPut || r.Method == http.MethodDelete):
			return map[string]string{http.MethodGet: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete"}[r.Method] + "FunctionConcurrency"
		}
	}
	shape := make([]string, len(segments))
	for i, s := range segments {
		shape[i] = s
		if i > 0 {
			shape[i] = "{}"
		}
	}
	return r.Method + " /" + strings.Join(shape, "/")
}
