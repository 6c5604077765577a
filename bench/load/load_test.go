package load

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/server/servertest"
)

// TestRun runs every workload for a few calls against an in-process
// server and checks the report's shape, not its speed.
func TestRun(t *testing.T) {
	const count, batch = 12, 5
	profiles := t.TempDir()
	rep, err := Run(context.Background(), Config{
		Orgs: 2, Concurrency: 3, Count: count, BatchSize: batch, Prefill: 20, CPUProfileDir: profiles,
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Workload)
	}
	if !slices.Equal(names, Workloads) {
		t.Fatalf("workloads %v, want %v", names, Workloads)
	}
	for _, r := range append(slices.Clone(rep.Results), rep.Ledger...) {
		if r.Calls != count || r.Errors != 0 || r.FirstError != "" {
			t.Errorf("%s: %d calls, %d errors (%s); want %d, 0", r.Workload, r.Calls, r.Errors, r.FirstError, count)
		}
		l := r.Latency
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("%s: latency %+v not ordered", r.Workload, l)
		}
		if r.CallsPerSec <= 0 || r.Seconds <= 0 {
			t.Errorf("%s: %v calls/s over %v s", r.Workload, r.CallsPerSec, r.Seconds)
		}
		if (r.Workload == Health) != (r.CeilingRatio == 0) && !slices.Contains(rep.Ledger, r) {
			t.Errorf("%s: ceiling ratio %v", r.Workload, r.CeilingRatio)
		}
	}
	for _, c := range []struct {
		workload    string
		batch       int
		events      int64
		ledgerRatio bool
	}{{Append, 1, count, true}, {Batch, batch, count * batch, true}, {Proof, 0, 0, false}, {Checkpoint, 0, 0, false}} {
		r := rep.Result(c.workload)
		if r.BatchSize != c.batch || r.Events != c.events || (r.LedgerRatio > 0) != c.ledgerRatio {
			t.Errorf("%s: batch %d, %d events, ledger ratio %v", c.workload, r.BatchSize, r.Events, r.LedgerRatio)
		}
		if c.ledgerRatio {
			l := rep.LedgerResult(c.workload)
			if l == nil || l.BatchSize != c.batch || l.Events != c.events || l.EventsPerSec <= 0 {
				t.Errorf("%s: ledger baseline %+v", c.workload, l)
			}
		}
	}
	if len(rep.Ledger) != 2 {
		t.Errorf("%d ledger baselines, want 2", len(rep.Ledger))
	}
	if len(rep.Targets) != len(Targets) {
		t.Fatalf("%d targets, want %d", len(rep.Targets), len(Targets))
	}
	for _, tr := range rep.Targets {
		// Targets are about 64 clients; this run has 3.
		if tr.Evaluated || tr.Met || !strings.Contains(tr.Measured, "not measured") {
			t.Errorf("target %+v evaluated on a 3-client run", tr)
		}
	}
	for _, name := range []string{"health", "append", "batch", "proof", "checkpoint", "mixed", "ledger-append", "ledger-batch"} {
		if fi, err := os.Stat(filepath.Join(profiles, name+".pprof")); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"date", "machine", "load_before", "server", "protocol", "orgs", "concurrency", "results", "ledger", "targets"} {
		if _, ok := decoded[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	first := decoded["results"].([]any)[1].(map[string]any)
	for _, k := range []string{"workload", "calls", "calls_per_sec", "events_per_sec", "latency_ms", "ceiling_ratio", "ledger_ratio", "cpu"} {
		if _, ok := first[k]; !ok {
			t.Errorf("JSON result lacks %q: %v", k, first)
		}
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"p99 ms", "of ceiling", "batch (5)", "ledger, 5 per append", "mixed", "target n/a"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, &table)
		}
	}

	results := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := os.WriteFile(results, []byte("# Benchmark results\n\nIntro.\n\n## 2026-01-01 — older\n\nOld.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep.CommandLine = "nuxload --count 12"
	if err := rep.Record(results); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(results)
	newer := strings.Index(string(md), "— RPC load (nuxload)")
	older := strings.Index(string(md), "## 2026-01-01 — older")
	if !strings.HasPrefix(string(md), "# Benchmark results\n\nIntro.\n\n## ") || newer < 0 || older < newer ||
		!strings.Contains(string(md), "Command: `nuxload --count 12`") || !strings.Contains(string(md), "| target | measured | met |") {
		t.Errorf("recorded results:\n%s", md)
	}
}

// TestRunURL loads a server given by URL, in the gRPC protocol.
func TestRunURL(t *testing.T) {
	ts := servertest.Start(t)
	rep, err := Run(context.Background(), Config{
		URL: ts.URL, Protocol: "grpc", Orgs: 1, Concurrency: 2, Count: 6, Prefill: -1,
		Workloads: []string{Append, Proof}, NoLedger: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Server != ts.URL || rep.Protocol != "grpc" || len(rep.Results) != 3 || len(rep.Ledger) != 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Calls != 6 || r.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors (%s)", r.Workload, r.Calls, r.Errors, r.FirstError)
		}
	}
	if r := rep.Result(Append); r.LedgerRatio != 0 || r.CeilingRatio <= 0 || r.CPUCeilingRatio != 0 {
		t.Errorf("append without a ledger baseline: %+v", r)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{}, ""},
		{Config{URL: "http://127.0.0.1:8080"}, ""},
		{Config{URL: "http://[::1]:8080/", Protocol: "grpc"}, ""},
		{Config{URL: "http://localhost:8080"}, ""},
		{Config{URL: "http://10.1.2.3:8080"}, "not a loopback address"},
		{Config{URL: "http://0.0.0.0:8080"}, "not a loopback address"},
		{Config{URL: "http://example.com:8080"}, "give a loopback IP address or localhost"},
		{Config{URL: "ftp://127.0.0.1"}, "want http:// or https://"},
		{Config{URL: "http://127.0.0.1:8080/api"}, "scheme, host and port only"},
		{Config{URL: "http://127.0.0.1:8080", CPUProfileDir: "p"}, "needs the in-process server"},
		{Config{Protocol: "grpcweb"}, "protocol"},
		{Config{Concurrency: MaxConcurrency + 1}, "concurrency"},
		{Config{Duration: MaxDuration + time.Second}, "duration"},
		{Config{Count: MaxCount + 1}, "count"},
		{Config{Orgs: MaxOrgs + 1}, "orgs"},
		{Config{BatchSize: MaxBatch + 1}, "batch size"},
		{Config{Prefill: MaxPrefill + 1}, "prefill"},
		{Config{Workloads: []string{"append", "login"}}, `workload "login"`},
	} {
		err := c.cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10_000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/128 {
			t.Errorf("quantile(%v) = %v, want %v within 1/128", c.q, got, c.want)
		}
	}
	var other hist
	other.record(time.Second)
	h.merge(&other)
	if h.n != 10_001 || h.max != time.Second || h.quantile(1) != time.Second {
		t.Errorf("merged: n %d, max %v, q(1) %v", h.n, h.max, h.quantile(1))
	}
}
