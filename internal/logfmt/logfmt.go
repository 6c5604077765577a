// Package logfmt is the one form of every Nuxari binary's JSON log lines:
// durations in Go's form ("1.5s", "250ms"), never integer nanoseconds.
package logfmt

import (
	"io"
	"log/slog"
)

// NewJSONHandler returns a JSON handler writing to w at level, with every
// time.Duration attribute in Go's form.
func NewJSONHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDuration})
}

// readableDuration writes a duration as its String form.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
