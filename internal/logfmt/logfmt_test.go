package logfmt_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nuxari/nuxari/internal/logfmt"
)

// TestDurationsReadable: durations, at the top level and in a group, are
// written in Go's form; other values are left as they are.
func TestDurationsReadable(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logfmt.NewJSONHandler(&buf, slog.LevelInfo))
	log.Info("m", "retry_in", 1500*time.Millisecond, slog.Group("g", "took", 250*time.Millisecond), "n", 3)
	log.Debug("below the level")
	var line struct {
		RetryIn string         `json:"retry_in"`
		G       map[string]any `json:"g"`
		N       int            `json:"n"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if line.RetryIn != "1.5s" || line.G["took"] != "250ms" || line.N != 3 {
		t.Fatalf("line %s", buf.Bytes())
	}
}
