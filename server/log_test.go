package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestLogDurations: the logger writes every time.Duration in Go's form,
// however it is logged (typed, as any, in a group, as a logger
// attribute), never as integer nanoseconds.
func TestLogDurations(t *testing.T) {
	logs := &servertest.SyncBuffer{}
	log := server.NewLogger(logs, slog.LevelDebug).With(slog.Duration("with", 2*time.Minute))
	log.Info("durations",
		slog.Duration("typed", 1500*time.Millisecond),
		slog.Any("any", 250*time.Microsecond),
		"pair", 3*time.Second,
		slog.Group("g", slog.Duration("nested", time.Hour+time.Nanosecond)),
		slog.Int64("count", 7),
	)
	lines := decodeLog(t, logs.String())
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %s", len(lines), logs.String())
	}
	l := lines[0]
	g, _ := l["g"].(map[string]any)
	for _, c := range []struct {
		key  string
		got  any
		want string
	}{
		{"with", l["with"], "2m0s"},
		{"typed", l["typed"], "1.5s"},
		{"any", l["any"], "250µs"},
		{"pair", l["pair"], "3s"},
		{"g.nested", g["nested"], "1h0m0.000000001s"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %q", c.key, c.got, c.want)
		}
	}
	if l["count"] != float64(7) {
		t.Errorf("count = %#v: a number that is no duration changed", l["count"])
	}
}

// TestRPCLogDuration: the log line of every call gives its duration in
// Go's form.
func TestRPCLogDuration(t *testing.T) {
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "durations", "o@example.com", ownerPW)
	if _, err := ts.Clients(tok).Auth.WhoAmI(context.Background(), req(&nuxariv1.WhoAmIRequest{})); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range decodeLog(t, ts.Logs.String()) {
		if l.msg() != "rpc" {
			continue
		}
		n++
		s, ok := l["duration"].(string)
		if !ok {
			t.Fatalf("rpc line duration %#v, want a string: %v", l["duration"], l)
		}
		if d, err := time.ParseDuration(s); err != nil || d <= 0 || !strings.ContainsAny(s, "smh") {
			t.Errorf("rpc line duration %q: %v", s, err)
		}
	}
	if n == 0 {
		t.Fatalf("no rpc line in the log: %s", ts.Logs.String())
	}
}

// logLine is one decoded JSON log line.
type logLine map[string]any

func (l logLine) msg() string { s, _ := l["msg"].(string); return s }

// files returns the line's "files" attribute.
func (l logLine) files() []string {
	var out []string
	as, _ := l["files"].([]any)
	for _, a := range as {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

// decodeLog decodes the JSON lines of logs.
func decodeLog(t *testing.T, logs string) []logLine {
	t.Helper()
	var out []logLine
	for s := range strings.Lines(logs) {
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		out = append(out, l)
	}
	return out
}

// findLine returns the first line whose message starts with prefix, or
// nil.
func findLine(lines []logLine, prefix string) logLine {
	for _, l := range lines {
		if strings.HasPrefix(l.msg(), prefix) {
			return l
		}
	}
	return nil
}
