package server

import (
	"context"
	"io"
	"log/slog"

	"github.com/nuxari/nuxari/internal/logfmt"

	"github.com/nuxari/nuxari/governance/core"
)

// NewLogger returns a JSON logger that adds each request's ID to the lines
// logged with its context, and writes every time.Duration in Go's form
// ("1.5s", "250ms") rather than as integer nanoseconds.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(requestIDHandler{logfmt.NewJSONHandler(w, level)})
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if ri := core.RequestInfoFrom(ctx); ri.ID != "" {
		r.AddAttrs(slog.String("request_id", ri.ID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
