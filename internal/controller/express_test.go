package controller_test

import (
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// callbackDefinition waits on a task token: a Standard state machine may run it, an Express
// one may not (Express workflows support the Request Response pattern only).
const callbackDefinition = `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"approver","Payload":{"token.$":"$$.Task.Token"}},"End":true}}}`

// An Express target is recorded as such, and its candidate is counted by metrics alone:
// every counts query says Express, so the adapter never asks ListExecutions (which Step
// Functions refuses for Express state machines). A Standard one's queries do not.
func TestExpressCandidateIsJudgedByMetricsAlone(t *testing.T) {
	for _, typ := range []string{rollout.TypeExpress, ""} {
		t.Run("type "+typ, func(t *testing.T) {
			w := newWorld(t)
			w.machine("orders", managed())
			w.sfn.mu.Lock()
			w.sfn.machines[smArn("orders")].typ = typ
			w.sfn.mu.Unlock()
			w.policy("orders", `{"strategy":"CANARY","percentage":20,"interval":"3m","maxFailureRate":10,"minExecutions":20}`)
			e := w.execute(w.upload(ordersKey, definition("orders v2"), nil))
			e.prepare()
			if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
				t.Fatalf("Prepare = %+v, %v; want start", e.prepared, e.prepareErr)
			}
			e.register()
			w.metrics.set(versionOf("orders", 2), 30, 6)
			if err := e.tick(); err != nil {
				t.Fatal(err)
			}
			r := wantPhase(t, w, e.id(), rollout.RolledBack, "")
			if !strings.Contains(r.Reason, "failure rate") {
				t.Errorf("reason %q, want the failure rate", r.Reason)
			}
			wantType := typ
			if wantType == "" {
				wantType = rollout.TypeStandard
			}
			if r.StateMachineType != wantType || r.Express() != (typ == rollout.TypeExpress) {
				t.Errorf("record's stateMachineType %q, want %q", r.StateMachineType, wantType)
			}
			w.metrics.mu.Lock()
			defer w.metrics.mu.Unlock()
			if len(w.metrics.express) == 0 {
				t.Fatal("no counts query")
			}
			for i, express := range w.metrics.express {
				if express != (typ == rollout.TypeExpress) {
					t.Errorf("counts query %d: Express %v, want %v", i, express, typ == rollout.TypeExpress)
				}
			}
		})
	}
}

// An upload for an Express state machine is validated as EXPRESS: a callback task is refused
// by name before anything is published; the same upload for a Standard one starts.
func TestExpressUploadValidatedForItsType(t *testing.T) {
	for _, tc := range []struct {
		typ       string
		wantError string
	}{{rollout.TypeExpress, "InvalidDefinition"}, {rollout.TypeStandard, ""}} {
		t.Run(tc.typ, func(t *testing.T) {
			w := newWorld(t)
			w.machine("orders", managed())
			w.sfn.mu.Lock()
			w.sfn.machines[smArn("orders")].typ = tc.typ
			w.sfn.mu.Unlock()
			e := w.execute(w.upload(ordersKey, callbackDefinition, nil))
			e.prepare()
			if tc.wantError == "" {
				if e.prepareErr != nil || e.prepared.Action != controller.ActionStart {
					t.Fatalf("Prepare = %+v, %v; want start", e.prepared, e.prepareErr)
				}
				return
			}
			if e.prepareErr == nil || !strings.Contains(e.prepareErr.Error(), "Express state machine does not support '.waitForTaskToken'") {
				t.Fatalf("Prepare error %v, want the Express refusal", e.prepareErr)
			}
			wantEqual(t, "alias", w.sfn.routing(aliasOf("orders")), "v1=100")
			if n := len(w.sfn.machines[smArn("orders")].versions); n != 1 {
				t.Errorf("%d versions: the refused definition was published", n)
			}
		})
	}
}
