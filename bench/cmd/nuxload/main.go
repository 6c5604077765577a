// Command nuxload measures nuxarid's RPC throughput and latency (package
// bench/load): against a server on loopback given by --url, or against
// one it starts in-process. It prints a table (or JSON with --json) and
// can record the figures as a section of bench/RESULTS.md (--record).
//
//	go run ./bench/cmd/nuxload                  # in-process server, every workload, 10 s each
//	go run ./bench/cmd/nuxload --url http://127.0.0.1:8080 --protocol grpc --workloads append,proof
//	go run ./bench/cmd/nuxload --count 1000 --json -
//
// Against a nuxarid, the set-up's sign-ups count against its sign-up
// limits (by default 5 at once from one source, then one a minute): run
// it with --signup-burst at least --orgs, or give fewer orgs.
//
// It exits 1 if a call failed, 2 on bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/nuxari/nuxari/bench/load"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("nuxload", flag.ContinueOnError)
	var cfg load.Config
	var workloads, jsonOut, record string
	fs.StringVar(&cfg.URL, "url", "", "server base URL on loopback (http://127.0.0.1:8080); empty: start a server in-process")
	fs.StringVar(&cfg.Protocol, "protocol", "connect", "wire protocol: "+strings.Join(load.Protocols, " or "))
	fs.IntVar(&cfg.Orgs, "orgs", 8, fmt.Sprintf("orgs to sign up, each with an owner and an API token (1 to %d)", load.MaxOrgs))
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, fmt.Sprintf("clients calling at once, one connection each (1 to %d)", load.MaxConcurrency))
	fs.DurationVar(&cfg.Duration, "duration", 0, fmt.Sprintf("how long each workload runs (default 10s unless --count; at most %v)", load.MaxDuration))
	fs.IntVar(&cfg.Count, "count", 0, fmt.Sprintf("calls per workload instead of a duration (at most %d)", load.MaxCount))
	fs.IntVar(&cfg.BatchSize, "batch", load.MaxBatch, fmt.Sprintf("events per call of the batch workload (1 to %d)", load.MaxBatch))
	fs.IntVar(&cfg.Prefill, "prefill", 10_000, "events appended to each org in use before the workloads, for proofs (0: none)")
	fs.StringVar(&workloads, "workloads", strings.Join(load.Workloads, ","), "comma-separated workloads; health always runs")
	fs.BoolVar(&cfg.NoLedger, "no-ledger", false, "skip the in-process ledger baselines of the append workloads")
	fs.StringVar(&cfg.CPUProfileDir, "cpuprofile", "", "directory for a CPU profile of each workload (in-process server only; labels side=server|client|ledger)")
	fs.StringVar(&jsonOut, "json", "", `write the report as JSON to this file ("-": standard output, instead of the table)`)
	fs.StringVar(&record, "record", "", "insert the report as a section of this results file (bench/RESULTS.md)")
	quiet := fs.Bool("quiet", false, "no progress lines on standard error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nuxload [flags]\n\nWorkloads: %s. The mixed workload's calls are", strings.Join(load.Workloads, ", "))
		for i, s := range load.MixedShares {
			sep := ","
			if i == len(load.MixedShares)-1 {
				sep = "."
			}
			fmt.Fprintf(fs.Output(), " %d%% %s%s", s.Percent, s.Workload, sep)
		}
		fmt.Fprintf(fs.Output(), "\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "nuxload: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if cfg.Prefill == 0 {
		cfg.Prefill = -1 // none
	}
	for w := range strings.SplitSeq(workloads, ",") {
		if w = strings.TrimSpace(w); w != "" {
			cfg.Workloads = append(cfg.Workloads, w)
		}
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "nuxload: %v\n", err)
		return 2
	}
	if cfg.CPUProfileDir != "" {
		if err := os.MkdirAll(cfg.CPUProfileDir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "nuxload: %v\n", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nuxload: %v\n", err)
		return 1
	}
	rep.CommandLine = commandLine(args)
	if jsonOut != "-" {
		if err := rep.WriteTable(os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "nuxload: %v\n", err)
			return 1
		}
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			b = append(b, '\n')
			if jsonOut == "-" {
				_, err = os.Stdout.Write(b)
			} else {
				err = os.WriteFile(jsonOut, b, 0o644)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "nuxload: %v\n", err)
			return 1
		}
	}
	if record != "" {
		if err := rep.Record(record); err != nil {
			fmt.Fprintf(os.Stderr, "nuxload: %v\n", err)
			return 1
		}
	}
	for _, r := range append(rep.Results, rep.Ledger...) {
		if r.Errors > 0 {
			return 1
		}
	}
	return 0
}

// commandLine is the run's command, quoted for a shell where needed.
func commandLine(args []string) string {
	out := []string{"nuxload"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}
