package load

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a run's outcome; it encodes as the --json output.
type Report struct {
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// LoadBefore and LoadAfter are the machine's 1-minute load averages
	// (-1: unknown).
	LoadBefore float64 `json:"load_before"`
	LoadAfter  float64 `json:"load_after"`
	// CommandLine is how the run was started, if the caller says.
	CommandLine string `json:"command_line,omitempty"`
	// Server is "in-process" or the URL.
	Server      string   `json:"server"`
	Protocol    string   `json:"protocol"`
	Orgs        int      `json:"orgs"`
	Concurrency int      `json:"concurrency"`
	Duration    string   `json:"duration,omitempty"`
	Count       int      `json:"count,omitempty"`
	BatchSize   int      `json:"batch_size"`
	Prefill     int      `json:"prefill_per_org"`
	Workloads   []string `json:"workloads"`
	// Results are the workloads over RPC, Health first.
	Results []Result `json:"results"`
	// Ledger are the in-process ledger baselines of the append
	// workloads (Workload "append" or "batch").
	Ledger  []Result       `json:"ledger,omitempty"`
	Targets []TargetResult `json:"targets"`
}

// Result is one workload's measurement.
type Result struct {
	Workload string `json:"workload"`
	// BatchSize is the events per append call (append workloads only).
	BatchSize int `json:"batch_size,omitempty"`
	// Calls and Events succeeded; Errors failed (FirstError is one).
	Calls      int64   `json:"calls"`
	Events     int64   `json:"events,omitempty"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// CallsPerSec and EventsPerSec are successful calls and appended
	// events per second of the workload's wall time.
	CallsPerSec  float64 `json:"calls_per_sec"`
	EventsPerSec float64 `json:"events_per_sec,omitempty"`
	// Latency of successful calls, from send to answer.
	Latency Latency `json:"latency_ms"`
	// CeilingRatio is CallsPerSec over the same run's health Check
	// calls/s (RPC workloads other than Health).
	CeilingRatio float64 `json:"ceiling_ratio,omitempty"`
	// CPUCeilingRatio is the health Check's CPU time per call over this
	// workload's: the share of the ceiling this workload would reach if
	// both were bound by this process's CPU alone. It depends far less on
	// what else the machine runs than CeilingRatio does. In-process
	// server only.
	CPUCeilingRatio float64 `json:"cpu_ceiling_ratio,omitempty"`
	// LedgerRatio is EventsPerSec over the in-process ledger's events/s
	// with the same batch size (append workloads).
	LedgerRatio float64 `json:"ledger_ratio,omitempty"`
	// CPU is the cores busy during the workload.
	CPU CPU `json:"cpu"`
}

// Latency percentiles, in milliseconds (within 0.8%; Max exact).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Target is a figure the project aims for.
type Target struct {
	Name string
	// Workload, BatchSize and Concurrency say which measurement it is
	// about: it is evaluated only on a run that has it.
	Workload    string
	BatchSize   int
	Concurrency int
	// MinCeiling, MinLedger and MaxP99 are its thresholds (zero: none).
	MinCeiling, MinLedger float64
	MaxP99                float64
}

// Targets are the project's RPC targets (single events with 64 clients,
// proofs, batches of 100 events).
var Targets = []Target{
	{Name: "AppendEvents, 1 event per call, 64 clients: ≥ 70% of the health-Check ceiling, p99 ≤ 25 ms", Workload: Append, BatchSize: 1, Concurrency: 64, MinCeiling: 0.70, MaxP99: 25},
	{Name: "GetInclusionProof, 64 clients: ≥ 80% of the health-Check ceiling", Workload: Proof, Concurrency: 64, MinCeiling: 0.80},
	{Name: "AppendEvents, 100 events per call, 64 clients: ≥ 60% of the in-process ledger's events/s", Workload: Batch, BatchSize: 100, Concurrency: 64, MinLedger: 0.60},
}

// TargetResult is a target's evaluation on a run: Met is meaningful only
// if Evaluated (the run measured what the target is about).
type TargetResult struct {
	Target    string `json:"target"`
	Measured  string `json:"measured"`
	Evaluated bool   `json:"evaluated"`
	Met       bool   `json:"met"`
}

func newReport(cfg Config) *Report {
	r := &Report{
		Date: time.Now().UTC(), Machine: machine(), LoadBefore: loadAvg(),
		Server: cfg.URL, Protocol: cfg.Protocol, Orgs: cfg.Orgs, Concurrency: cfg.Concurrency,
		Count: cfg.Count, BatchSize: cfg.BatchSize, Prefill: cfg.Prefill, Workloads: cfg.Workloads,
	}
	if r.Server == "" {
		r.Server = "in-process"
	}
	if cfg.Count == 0 {
		r.Duration = cfg.Duration.String()
	}
	return r
}

// Result returns the RPC result of a workload, nil if it did not run.
func (r *Report) Result(workload string) *Result { return find(r.Results, workload) }

// LedgerResult returns the ledger baseline of an append workload, nil if
// it did not run.
func (r *Report) LedgerResult(workload string) *Result { return find(r.Ledger, workload) }

func find(rs []Result, workload string) *Result {
	for i := range rs {
		if rs[i].Workload == workload {
			return &rs[i]
		}
	}
	return nil
}

// finish computes the ratios and evaluates the targets.
func (r *Report) finish() {
	r.LoadAfter = loadAvg()
	if h := r.Result(Health); h != nil && h.CallsPerSec > 0 {
		for i := range r.Results {
			if r.Results[i].Workload != Health {
				r.Results[i].CeilingRatio = round3(r.Results[i].CallsPerSec / h.CallsPerSec)
				// Only an in-process server's CPU time is this process's.
				if c := r.Results[i].CPU.PerCall; c > 0 && r.Server == "in-process" {
					r.Results[i].CPUCeilingRatio = round3(h.CPU.PerCall / c)
				}
			}
		}
	}
	for i := range r.Results {
		res := &r.Results[i]
		if l := r.LedgerResult(res.Workload); l != nil && l.EventsPerSec > 0 {
			res.LedgerRatio = round3(res.EventsPerSec / l.EventsPerSec)
		}
	}
	r.Targets = nil
	for _, t := range Targets {
		r.Targets = append(r.Targets, r.evaluate(t))
	}
}

func (r *Report) evaluate(t Target) TargetResult {
	tr := TargetResult{Target: t.Name}
	res := r.Result(t.Workload)
	switch {
	case res == nil:
		tr.Measured = "not measured"
		return tr
	case t.BatchSize != 0 && res.BatchSize != t.BatchSize:
		tr.Measured = fmt.Sprintf("not measured (batch size %d)", res.BatchSize)
		return tr
	case r.Concurrency != t.Concurrency:
		tr.Measured = fmt.Sprintf("not measured (%d clients)", r.Concurrency)
		return tr
	case res.Errors > 0:
		tr.Measured = fmt.Sprintf("%d errors", res.Errors)
		return tr
	}
	tr.Evaluated, tr.Met = true, true
	var parts []string
	if t.MinCeiling > 0 {
		parts = append(parts, fmt.Sprintf("%s calls/s, %s of the ceiling", num(res.CallsPerSec), pct(res.CeilingRatio)))
		tr.Met = tr.Met && res.CeilingRatio >= t.MinCeiling
	}
	if t.MaxP99 > 0 {
		parts = append(parts, fmt.Sprintf("p99 %.1f ms", res.Latency.P99))
		tr.Met = tr.Met && res.Latency.P99 <= t.MaxP99
	}
	if t.MinLedger > 0 {
		l := r.LedgerResult(t.Workload)
		if l == nil {
			tr.Evaluated, tr.Met = false, false
			parts = append(parts, "no ledger baseline")
		} else {
			parts = append(parts, fmt.Sprintf("%s events/s, %s of the ledger's %s", num(res.EventsPerSec), pct(res.LedgerRatio), num(l.EventsPerSec)))
			tr.Met = tr.Met && res.LedgerRatio >= t.MinLedger
		}
	}
	tr.Measured = strings.Join(parts, "; ")
	return tr
}

func (r *Report) describe() string {
	span := r.Duration + " per workload"
	if r.Count > 0 {
		span = fmt.Sprintf("%d calls per workload", r.Count)
	}
	server := "in-process server on loopback (client and server share the cores)"
	if r.Server != "in-process" {
		server = "server " + r.Server
	}
	return fmt.Sprintf("%s; %s protocol, binary protobuf; %d orgs, %d clients (one HTTP/2 connection each, client i on org i mod %d); %s; batch %d; prefill %s events per org",
		server, r.Protocol, r.Orgs, r.Concurrency, r.Orgs, span, r.BatchSize, num(float64(r.Prefill)))
}

func (r *Report) machineLine() string {
	m := r.Machine
	s := fmt.Sprintf("%d CPUs", m.NumCPU)
	if m.CPU != "" {
		s += " (" + m.CPU + ")"
	}
	if m.MemoryGiB > 0 {
		s += fmt.Sprintf(", %d GiB RAM", m.MemoryGiB)
	}
	return fmt.Sprintf("%s, %s, %s, GOMAXPROCS=%d", s, m.OS, m.Go, m.GOMAXPROCS)
}

func (r *Report) loadLine() string {
	return fmt.Sprintf("1-minute load average %.2f before, %.2f after (per workload, see the cores column)", r.LoadBefore, r.LoadAfter)
}

// rows returns the table's rows: the RPC workloads, then the ledger
// baselines.
func (r *Report) rows() [][]string {
	var out [][]string
	row := func(name string, res Result) []string {
		events, ceiling, cpuCeiling, ledger := "", "", "", ""
		if res.BatchSize > 0 || res.Events > 0 {
			events = num(res.EventsPerSec)
		}
		if res.CeilingRatio > 0 {
			ceiling = pct(res.CeilingRatio)
		}
		if res.CPUCeilingRatio > 0 {
			cpuCeiling = pct(res.CPUCeilingRatio)
		}
		if res.LedgerRatio > 0 {
			ledger = pct(res.LedgerRatio)
		}
		errs := fmt.Sprint(res.Errors)
		return []string{
			name, fmt.Sprint(res.Calls), errs, num(res.CallsPerSec), events,
			fmt.Sprintf("%.2f", res.Latency.P50), fmt.Sprintf("%.2f", res.Latency.P90),
			fmt.Sprintf("%.2f", res.Latency.P99), fmt.Sprintf("%.2f", res.Latency.Max),
			ceiling, ledger, fmt.Sprintf("%.0f", res.CPU.PerCall), cpuCeiling, fmt.Sprintf("%.2f / %.2f", res.CPU.Process, res.CPU.Others),
		}
	}
	for _, res := range r.Results {
		name := res.Workload
		if res.Workload == Batch {
			name = fmt.Sprintf("batch (%d)", res.BatchSize)
		}
		out = append(out, row(name, res))
	}
	for _, res := range r.Ledger {
		out = append(out, row(fmt.Sprintf("ledger, %d per append", res.BatchSize), res))
	}
	return out
}

// legend explains the table's derived columns.
const legend = "of ceiling: calls/s over the same run's health-Check calls/s. of ledger: events/s over the in-process ledger's with the same batch size. " +
	"CPU µs/call: this process's CPU time per call (the load generator's, and the server's if in-process). of ceiling by CPU (in-process server only): the health Check's CPU µs/call over the workload's, " +
	"the share of the ceiling the workload would reach were both bound by this process's CPU alone (robust to other load). cores: busy cores, this process / all others."

var header = []string{"workload", "calls", "errors", "calls/s", "events/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "of ceiling", "of ledger", "CPU µs/call", "of ceiling by CPU", "cores: this / others"}

// WriteTable writes the report as aligned text.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t\n", strings.Join(header, "\t"))
	for _, row := range r.rows() {
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n\n%s\nmachine: %s\nload: %s\n", legend, r.describe(), r.machineLine(), r.loadLine())
	for _, t := range r.Targets {
		fmt.Fprintf(w, "target %s: %s — %s\n", verdict(t), t.Target, t.Measured)
	}
	return r.writeErrors(w)
}

func (r *Report) writeErrors(w io.Writer) error {
	for _, res := range append(append([]Result{}, r.Results...), r.Ledger...) {
		if res.FirstError != "" {
			if _, err := fmt.Fprintf(w, "%s: %d errors, first: %s\n", res.Workload, res.Errors, res.FirstError); err != nil {
				return err
			}
		}
	}
	return nil
}

func verdict(t TargetResult) string {
	switch {
	case !t.Evaluated:
		return "n/a"
	case t.Met:
		return "met"
	}
	return "missed"
}

// WriteMarkdown writes the report as a bench/RESULTS.md section.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## %s — RPC load (nuxload)\n\n", r.Date.Format("2006-01-02"))
	fmt.Fprintf(&b, "Run %s UTC. Machine: %s. Load: %s. Set-up: %s.\n\n", r.Date.Format("2006-01-02 15:04"), r.machineLine(), r.loadLine(), r.describe())
	if r.CommandLine != "" {
		fmt.Fprintf(&b, "Command: `%s`\n\n", r.CommandLine)
	}
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, row := range r.rows() {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintf(&b, "\n%s\n", legend)
	b.WriteString("\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target, t.Measured, verdict(t))
	}
	if err := r.writeErrors(&b); err != nil {
		return err
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

// Record inserts the report's markdown section into the results file at
// path, above its first dated section (newest first), or at its end.
func (r *Report) Record(path string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var sec bytes.Buffer
	if err := r.WriteMarkdown(&sec); err != nil {
		return err
	}
	at := len(old)
	if i := bytes.Index(old, []byte("\n## ")); i >= 0 {
		at = i + 1
	}
	out := append(append(append([]byte{}, old[:at]...), sec.Bytes()...), old[at:]...)
	return os.WriteFile(path, out, 0o644)
}

// num formats a rate with thousands separators.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }
