package deploy

import (
	"context"
	"log/slog"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// ReportingHandler turns the controller's log lines worth seeing — a rollout prepared,
// refused, a decision that moved something, finalized — into one console line each, and
// passes every record on to next (which may be nil).
func ReportingHandler(r core.Reporter, next slog.Handler) slog.Handler {
	return &reportingHandler{r: r, next: next}
}

type reportingHandler struct {
	r     core.Reporter
	next  slog.Handler
	attrs []slog.Attr
}

func (h *reportingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *reportingHandler) Handle(ctx context.Context, rec slog.Record) error {
	a := map[string]string{}
	for _, at := range h.attrs {
		a[at.Key] = at.Value.String()
	}
	rec.Attrs(func(at slog.Attr) bool { a[at.Key] = at.Value.String(); return true })
	id, sm, alias := a["rollout_id"], a["state_machine"], a["alias"]
	switch rec.Message {
	case "prepared":
		h.r.Report("rollout %s %s:%s prepared: %s → %s", id, sm, alias, rollout.VersionLabel(a["stable"]), rollout.VersionLabel(a["candidate"]))
	case "refused":
		h.r.Report("rollout %s %s:%s refused: %s: %s", id, sm, alias, a["error"], a["reason"])
	case "decision":
		if a["action"] != "Wait" {
			h.r.Report("rollout %s %s:%s %s → %s, candidate %s%%: %s", id, sm, alias, a["action"], a["phase"], a["candidate_weight"], a["reason"])
		}
	case "finalized":
		h.r.Report("rollout %s %s:%s finalized %s", id, sm, alias, a["phase"])
	}
	if h.next != nil && h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *reportingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &reportingHandler{r: h.r, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
	if h.next != nil {
		n.next = h.next.WithAttrs(attrs)
	}
	return n
}

func (h *reportingHandler) WithGroup(name string) slog.Handler {
	n := &reportingHandler{r: h.r, attrs: h.attrs}
	if h.next != nil {
		n.next = h.next.WithGroup(name)
	}
	return n
}
