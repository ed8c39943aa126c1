// Package server is the local endpoint's front door: one loopback HTTP server that sends
// each request to the service it is for, by X-Amz-Target, path and SigV4 signing name, plus
// the admin API under /_sfn-rollout/ (health, config, faults, request counts).
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// Services are the handlers of each AWS service; a nil one answers that it is not served.
type Services struct {
	StepFunctions http.Handler // awsJson1_0, AWSStepFunctions.*
	DynamoDB      http.Handler // awsJson1_0, DynamoDB_20120810.* (a proxy to dynalite)
	CloudWatch    http.Handler // rpc-v2-cbor under /service/GraniteServiceVersion20100801/, or awsQuery
	EventBridge   http.Handler // awsJson1_1, AWSEvents.*
	Scheduler     http.Handler // restJson1, signing name scheduler
	Lambda        http.Handler // restJson1, signing name lambda
	S3            http.Handler // restXml, signing name s3
}

// Server routes requests; it implements http.Handler.
type Server struct {
	services Services
	faults   *core.Faults
	quotas   *core.Quotas
	ready    atomic.Bool
	requests requestCounter

	mu     sync.Mutex
	config map[string]string
}

// New makes a server over the services. Faults and quotas may be nil: none (and quotas
// that cannot be switched on).
func New(s Services, faults *core.Faults, quotas *core.Quotas) *Server {
	if faults == nil {
		faults = core.NewFaults(0)
	}
	if quotas == nil {
		quotas = core.NewQuotas(nil, nil)
		_ = quotas.SetMode(core.QuotasOff)
	}
	return &Server{services: s, faults: faults, quotas: quotas, config: map[string]string{"region": core.Region, "account": core.Account}}
}

// SetReady marks every service ready: /_sfn-rollout/health answers 200 from then on.
func (s *Server) SetReady() { s.ready.Store(true) }

// SetConfig adds to what /_sfn-rollout/config answers (bucket, table, controllerStateMachineArn).
func (s *Server) SetConfig(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.config[key] = value
}

// DynamoDBProxy forwards DynamoDB requests to dynalite, consulting the faults first.
func DynamoDBProxy(target string, faults *core.Faults) (http.Handler, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		if lat, e := faults.Check("dynamodb", op); e != nil || lat > 0 {
			sleep(r, lat)
			if e != nil {
				core.WriteJSONError(w, e)
				return
			}
		}
		// dynalite dies on a request its client abandons half way (it throws on the
		// aborted socket), and a controller call that runs out of time (an alias write's
		// window, a Lambda's deadline) abandons its request. So the request is read whole
		// first and forwarded detached from its client: it always runs to its end, and an
		// answer nobody waits for any more is dropped here.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		out := r.Clone(context.WithoutCancel(r.Context()))
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		proxy.ServeHTTP(plainWriter{w}, out)
	}), nil
}

// plainWriter hides the CloseNotifier of a ResponseWriter, by which ReverseProxy would
// still cancel a detached request when its client goes away.
type plainWriter struct{ http.ResponseWriter }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sfn-rollout/") {
		s.admin(w, r)
		return
	}
	h, name := s.route(r)
	s.requests.add(r, name)
	if h == nil {
		core.WriteJSONError(w, &core.APIError{Code: "UnknownOperationException", Message: "sfn-rollout local does not serve " + name, Status: http.StatusBadRequest})
		return
	}
	h.ServeHTTP(w, r)
}

// route picks the service of a request.
func (s *Server) route(r *http.Request) (http.Handler, string) {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AWSStepFunctions."):
		return s.services.StepFunctions, "Step Functions"
	case strings.HasPrefix(target, "DynamoDB_20120810."):
		return s.services.DynamoDB, "DynamoDB"
	case strings.HasPrefix(target, "AWSEvents."):
		return s.services.EventBridge, "EventBridge"
	case strings.HasPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/"),
		strings.HasPrefix(target, "GraniteServiceVersion20100801."):
		return s.services.CloudWatch, "CloudWatch"
	}
	switch name := core.SigningName(r); name {
	case "states":
		return s.services.StepFunctions, "Step Functions"
	case "dynamodb":
		return s.services.DynamoDB, "DynamoDB"
	case "monitoring":
		return s.services.CloudWatch, "CloudWatch"
	case "events":
		return s.services.EventBridge, "EventBridge"
	case "scheduler":
		return s.services.Scheduler, "EventBridge Scheduler"
	case "lambda":
		return s.services.Lambda, "Lambda"
	case "s3":
		return s.services.S3, "S3"
	case "":
		// Unsigned requests: S3 by path is the only REST API a browser or curl would try.
		return s.services.S3, "S3"
	default:
		return nil, "the service " + name
	}
}

// admin serves /_sfn-rollout/health, /_sfn-rollout/config, /_sfn-rollout/faults,
// /_sfn-rollout/quotas and /_sfn-rollout/requests.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sfn-rollout/health":
		if !s.ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]string{"status": "ok"})
	case "/_sfn-rollout/config":
		s.mu.Lock()
		cfg := make(map[string]string, len(s.config))
		for k, v := range s.config {
			cfg[k] = v
		}
		s.mu.Unlock()
		writeJSON(w, cfg)
	case "/_sfn-rollout/faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, s.faults.List())
		case http.MethodPut, http.MethodPost:
			var faults []core.Fault
			if err := json.NewDecoder(r.Body).Decode(&faults); err != nil {
				http.Error(w, "want a JSON list of faults: "+err.Error(), http.StatusBadRequest)
				return
			}
			s.faults.Set(faults)
			writeJSON(w, s.faults.List())
		case http.MethodDelete:
			s.faults.Set(nil)
			writeJSON(w, []core.Fault{})
		default:
			http.Error(w, "GET, PUT or DELETE", http.StatusMethodNotAllowed)
		}
	case "/_sfn-rollout/quotas":
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut, http.MethodPost:
			var in struct {
				Mode string `json:"mode"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				http.Error(w, `want {"mode":"aws"} or {"mode":"off"}: `+err.Error(), http.StatusBadRequest)
				return
			}
			mode, err := core.ParseQuotaMode(in.Mode)
			if err == nil {
				err = s.quotas.SetMode(mode)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		default:
			http.Error(w, "GET or PUT", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, QuotasAnswer{Mode: s.quotas.Mode(), Quotas: s.quotas.Table()})
	case "/_sfn-rollout/requests":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, s.requests.list())
		case http.MethodDelete:
			s.requests.reset()
			writeJSON(w, []RequestCount{})
		default:
			http.Error(w, "GET or DELETE", http.StatusMethodNotAllowed)
		}
	default:
		http.NotFound(w, r)
	}
}

// QuotasAnswer is what /_sfn-rollout/quotas answers: the mode, and the buckets that apply
// when it is aws.
type QuotasAnswer struct {
	Mode   core.QuotaMode `json:"mode"`
	Quotas []core.Quota   `json:"quotas"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
