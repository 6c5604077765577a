// Package load is a load generator for nuxarid's API. It drives a server
// on loopback (one it is given by URL, or one it starts in-process) with
// the generated Connect clients, in the Connect or gRPC protocol, and
// reports each workload's throughput and latency percentiles against two
// baselines measured in the same run: the gRPC health Check, the
// cheapest call the server answers, sent by the same clients over the
// same connections (the ceiling); and, for appends, the in-process
// ledger appending the same events with the same batch sizes.
//
// Set-up signs up Orgs orgs, each with an owner who creates an API token
// (role admin); every workload call authenticates with one of those
// tokens. Concurrency clients (each one goroutine over its own HTTP/2
// connection, client i using org i mod Orgs) call back to back, each
// waiting for its answer, for Duration or until Count calls are done.
package load

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nuxari/nuxari/client"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/jcs"
	"github.com/nuxari/nuxari/governance/logapi"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// The workloads, in the order a run measures them.
const (
	// Health is grpc.health.v1.Health/Check: no credentials, no storage;
	// the ceiling the others are compared with.
	Health = "health"
	// Append is AppendEvents with one event per call.
	Append = "append"
	// Batch is AppendEvents with BatchSize events per call.
	Batch = "batch"
	// Proof is GetInclusionProof of a random event of the caller's org
	// (among the first ones, those present after the prefill) against
	// the latest checkpoint.
	Proof = "proof"
	// Checkpoint is GetCheckpoint of the latest checkpoint.
	Checkpoint = "checkpoint"
	// Mixed draws each call's kind at random with the MixedShares.
	Mixed = "mixed"
)

// Workloads lists every workload in the order a run measures them.
var Workloads = []string{Health, Append, Batch, Proof, Checkpoint, Mixed}

// MixedShares are the proportions, in percent, of the Mixed workload's
// calls: an org's integrations mostly read (proofs and checkpoints, as
// an auditor or a verifying client does) and append one event or a
// batch now and then.
var MixedShares = []struct {
	Workload string
	Percent  int
}{{Proof, 40}, {Checkpoint, 25}, {Append, 25}, {Batch, 10}}

// Bounds of a Config.
const (
	MaxConcurrency = 1024
	MaxDuration    = 10 * time.Minute
	MaxCount       = 10_000_000
	MaxOrgs        = 1000
	MaxPrefill     = 1_000_000
	// MaxBatch is the most events one AppendEvents call carries.
	MaxBatch = logapi.MaxAppendEvents
)

// Protocols are the wire protocols a run may use, both with binary
// protobuf.
var Protocols = []string{"connect", "grpc"}

// Config configures a run. Zero values are the defaults documented.
type Config struct {
	// URL is the server's base URL (http:// or https://, a loopback
	// address or "localhost"); empty starts a server in-process.
	URL string
	// Protocol is "connect" (default) or "grpc".
	Protocol string
	// Orgs is how many orgs are signed up (default 8); client i uses
	// org i mod Orgs. nuxarid runs at most 8 AppendEvents of one org at
	// once by default (governance.Config.OrgConcurrentAppends), so 64
	// clients over 8 orgs never wait for one another's org.
	Orgs int
	// Concurrency is how many clients call at once (default 64).
	Concurrency int
	// Duration is how long each workload runs (default 10 s), unless
	// Count is set.
	Duration time.Duration
	// Count, if positive, is how many calls each workload makes in all.
	Count int
	// BatchSize is the events per call of the Batch workload (default
	// 100, the most AppendEvents takes).
	BatchSize int
	// Prefill is how many events each org in use gets before the
	// workloads run, so that proofs have a log to prove against
	// (default 10,000; negative: none).
	Prefill int
	// Workloads selects the workloads (default all); Health always runs.
	Workloads []string
	// NoLedger skips the in-process ledger baselines of the append
	// workloads.
	NoLedger bool
	// CPUProfileDir, if set, receives a CPU profile of this process per
	// workload (<workload>.pprof, ledger-<workload>.pprof). Goroutines
	// carry the label side=server (the in-process server), side=client
	// or side=ledger, so `go tool pprof -tagfocus side=server` shows the
	// server's share alone. Only for an in-process server.
	CPUProfileDir string
	// Progress, if set, receives a line as each phase starts.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Protocol == "" {
		c.Protocol = "connect"
	}
	def(&c.Orgs, 8)
	def(&c.Concurrency, 64)
	def(&c.BatchSize, MaxBatch)
	def(&c.Prefill, 10_000)
	if c.Prefill < 0 {
		c.Prefill = 0
	}
	if c.Count == 0 && c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if len(c.Workloads) == 0 {
		c.Workloads = Workloads
	}
	if !slices.Contains(c.Workloads, Health) {
		c.Workloads = append([]string{Health}, c.Workloads...)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Validate checks a Config against the bounds; its defaults apply first.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(slices.Contains(Protocols, c.Protocol), "protocol %q: want one of %s", c.Protocol, strings.Join(Protocols, ", "))
	check(c.Orgs >= 1 && c.Orgs <= MaxOrgs, "orgs %d: want 1 to %d", c.Orgs, MaxOrgs)
	check(c.Concurrency >= 1 && c.Concurrency <= MaxConcurrency, "concurrency %d: want 1 to %d", c.Concurrency, MaxConcurrency)
	check(c.Count >= 0 && c.Count <= MaxCount, "count %d: want 0 to %d", c.Count, MaxCount)
	check(c.Count > 0 || (c.Duration > 0 && c.Duration <= MaxDuration), "duration %v: want more than 0 and at most %v", c.Duration, MaxDuration)
	check(c.BatchSize >= 1 && c.BatchSize <= MaxBatch, "batch size %d: want 1 to %d", c.BatchSize, MaxBatch)
	check(c.Prefill <= MaxPrefill, "prefill %d: want at most %d", c.Prefill, MaxPrefill)
	for _, w := range c.Workloads {
		check(slices.Contains(Workloads, w), "workload %q: want some of %s", w, strings.Join(Workloads, ", "))
	}
	if c.URL != "" {
		if err := CheckLoopback(c.URL); err != nil {
			errs = append(errs, err)
		}
		check(c.CPUProfileDir == "", "a CPU profile needs the in-process server, not a URL")
	}
	return errors.Join(errs...)
}

// CheckLoopback refuses a server URL that is not http:// or https:// on
// a loopback address: an IP literal in 127.0.0.0/8 or ::1, or
// "localhost" if every address it resolves to is one. No other name is
// looked up.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("server URL %q: want http:// or https://", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("server URL %q: want scheme, host and port only", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("server URL %q: %s is not a loopback address; only loopback servers may be loaded", raw, host)
		}
		return nil
	}
	if !strings.EqualFold(host, "localhost") {
		return fmt.Errorf("server URL %q: give a loopback IP address or localhost, not %q", raw, host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("server URL %q: %w", raw, err)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("server URL %q: localhost resolves to %s, not a loopback address", raw, a.IP)
		}
	}
	if len(addrs) == 0 {
		return fmt.Errorf("server URL %q: localhost resolves to nothing", raw)
	}
	return nil
}

// org is an org signed up for the run.
type org struct {
	id, token, tokenID string
	// size is the log's size after the prefill: proofs are of events
	// below it.
	size uint64
}

// worker is one client: its own HTTP/2 connection, with the ledger and
// health clients over it.
type worker struct {
	org    *org
	hc     *http.Client
	ledger nuxariv1connect.LedgerServiceClient
	health *grpchealth.Client
	rng    *mrand.Rand
	pool   *eventPool
	batch  int
	next   int
}

// eventPool holds distinct events reused round-robin: poolSize of them,
// plus the first MaxBatch again so a batch is always one slice.
type eventPool struct {
	msgs []*nuxariv1.NewEvent
	data []map[string]any
}

const poolSize = 1024

// eventType is the type of every event appended.
const eventType = "custom.nuxload"

func newEventPool() (*eventPool, error) {
	p := &eventPool{}
	for i := range poolSize {
		var note [36]byte
		_, _ = rand.Read(note[:])
		d := map[string]any{
			"action":      "deploy",
			"service":     "payments-api",
			"environment": "production",
			"host":        fmt.Sprintf("web-%02d", i%32),
			"version":     fmt.Sprintf("1.%d.%d", i%100, i),
			"seq":         float64(i),
			"note":        base64.StdEncoding.EncodeToString(note[:]),
		}
		s, err := structpb.NewStruct(d)
		if err != nil {
			return nil, err
		}
		p.data = append(p.data, d)
		p.msgs = append(p.msgs, &nuxariv1.NewEvent{Type: eventType, Data: s})
	}
	p.msgs = append(p.msgs, p.msgs[:MaxBatch]...)
	return p, nil
}

// leaves returns, for the ledger baseline, the events as the server
// stores them for an API token's append: the body core.Event in RFC 8785
// form, with the token as actor and a request ID, one per call.
func (p *eventPool) leaves(actor string) ([][]byte, error) {
	out := make([][]byte, 0, poolSize+MaxBatch)
	for i := range poolSize {
		var id [12]byte
		_, _ = rand.Read(id[:])
		b, err := jcs.Marshal(core.Event{Type: eventType, Actor: actor, Data: p.data[i], RequestID: hex.EncodeToString(id[:])})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return append(out, out[:MaxBatch]...), nil
}

func (w *worker) events(n int) []*nuxariv1.NewEvent {
	evs := w.pool.msgs[w.next : w.next+n]
	w.next = (w.next + n) % poolSize
	return evs
}

// call makes one call of a workload and returns the events it appended.
func (w *worker) call(ctx context.Context, kind string) (int, error) {
	switch kind {
	case Health:
		res, err := w.health.Check(ctx, &grpchealth.CheckRequest{})
		if err == nil && res.Status != grpchealth.StatusServing {
			err = fmt.Errorf("health: %v", res.Status)
		}
		return 0, err
	case Append:
		return w.appendEvents(ctx, 1)
	case Batch:
		return w.appendEvents(ctx, w.batch)
	case Proof:
		res, err := w.ledger.GetInclusionProof(ctx, connect.NewRequest(&nuxariv1.GetInclusionProofRequest{Index: w.rng.Uint64N(w.org.size)}))
		if err == nil && (res.Msg.Checkpoint == nil || len(res.Msg.LeafHash) == 0) {
			err = errors.New("GetInclusionProof: answer without checkpoint or leaf hash")
		}
		return 0, err
	case Checkpoint:
		res, err := w.ledger.GetCheckpoint(ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{}))
		if err == nil && res.Msg.Checkpoint == nil {
			err = errors.New("GetCheckpoint: answer without checkpoint")
		}
		return 0, err
	case Mixed:
		r := w.rng.IntN(100)
		for _, s := range MixedShares {
			if r < s.Percent {
				return w.call(ctx, s.Workload)
			}
			r -= s.Percent
		}
	}
	return 0, fmt.Errorf("unknown workload %q", kind)
}

func (w *worker) appendEvents(ctx context.Context, n int) (int, error) {
	res, err := w.ledger.AppendEvents(ctx, connect.NewRequest(&nuxariv1.AppendEventsRequest{Events: w.events(n)}))
	if err != nil {
		return 0, err
	}
	if len(res.Msg.Events) != n || res.Msg.Checkpoint == nil || res.Msg.Checkpoint.Size <= res.Msg.Events[n-1].Index {
		return 0, errors.New("AppendEvents: answer without every event or a covering checkpoint")
	}
	return n, nil
}

func protocolOptions(p string) []connect.ClientOption {
	if p == "grpc" {
		return []connect.ClientOption{connect.WithGRPC()}
	}
	return nil
}

// Run signs up the orgs, prefills their logs if a workload reads proofs,
// and measures each workload in turn, each append workload followed by
// its in-process ledger baseline.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rep := newReport(cfg)
	base := cfg.URL
	if base == "" {
		fmt.Fprintln(cfg.Progress, "starting an in-process server")
		srv, err := startServer()
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := srv.close(); err != nil {
				fmt.Fprintf(cfg.Progress, "closing the in-process server: %v\n", err)
			}
		}()
		base = srv.url
	}
	base = strings.TrimRight(base, "/")
	pool, err := newEventPool()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "signing up %d orgs\n", cfg.Orgs)
	orgs, err := signUpAll(ctx, base, cfg)
	if err != nil {
		return nil, err
	}
	ws := make([]*worker, cfg.Concurrency)
	for i := range ws {
		o := orgs[i%len(orgs)]
		hc := client.HTTPClient(base)
		opts := protocolOptions(cfg.Protocol)
		ws[i] = &worker{
			org:    o,
			hc:     hc,
			ledger: nuxariv1connect.NewLedgerServiceClient(hc, base, append([]connect.ClientOption{connect.WithInterceptors(client.Bearer(o.token))}, opts...)...),
			health: grpchealth.NewClient(hc, base, opts...),
			rng:    mrand.New(mrand.NewPCG(uint64(i), 0x6e75786c6f6164)),
			pool:   pool,
			batch:  cfg.BatchSize,
			next:   i * 37 % poolSize,
		}
	}
	defer func() {
		for _, w := range ws {
			w.hc.CloseIdleConnections()
		}
	}()
	// Connect every client (its connection's goroutines then carry the
	// client's profile label).
	if err := eachWorker(ctx, ws, func(ctx context.Context, w *worker) error {
		_, err := w.call(ctx, Health)
		return err
	}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if cfg.Prefill > 0 && (slices.Contains(cfg.Workloads, Proof) || slices.Contains(cfg.Workloads, Mixed)) {
		fmt.Fprintf(cfg.Progress, "prefilling %d events per org in use\n", cfg.Prefill)
		if err := prefill(ctx, ws, cfg.Prefill); err != nil {
			return nil, fmt.Errorf("prefill: %w", err)
		}
	}
	// Each org's log size, from a client of that org.
	var sizeMu sync.Mutex
	if err := eachWorker(ctx, ws, func(ctx context.Context, w *worker) error {
		// A new org's first checkpoint is signed within the checkpoint
		// interval (100 ms by default).
		res, err := w.ledger.GetCheckpoint(ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{}))
		for tries := 0; connect.CodeOf(err) == connect.CodeNotFound && tries < 100; tries++ {
			time.Sleep(50 * time.Millisecond)
			res, err = w.ledger.GetCheckpoint(ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{}))
		}
		if err != nil {
			return err
		}
		sizeMu.Lock()
		w.org.size = max(w.org.size, res.Msg.Checkpoint.GetSize())
		sizeMu.Unlock()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var bl *baseline
	if !cfg.NoLedger && (slices.Contains(cfg.Workloads, Append) || slices.Contains(cfg.Workloads, Batch)) {
		if bl, err = openBaseline(ctx, cfg, pool, orgs); err != nil {
			return nil, err
		}
		defer bl.close()
	}
	for _, name := range Workloads {
		if !slices.Contains(cfg.Workloads, name) {
			continue
		}
		fmt.Fprintf(cfg.Progress, "measuring %s\n", name)
		res, err := measure(ctx, cfg, name, "client", len(ws), func(ctx context.Context, i int) (int, error) {
			return ws[i].call(ctx, name)
		})
		if err != nil {
			return nil, err
		}
		if name == Batch {
			res.BatchSize = cfg.BatchSize
		} else if name == Append {
			res.BatchSize = 1
		}
		rep.Results = append(rep.Results, res)
		if bl != nil && (name == Append || name == Batch) {
			fmt.Fprintf(cfg.Progress, "measuring the in-process ledger, batches of %d\n", res.BatchSize)
			lres, err := bl.measure(ctx, cfg, name, res.BatchSize)
			if err != nil {
				return nil, err
			}
			rep.Ledger = append(rep.Ledger, lres)
		}
	}
	rep.finish()
	return rep, nil
}

// eachWorker runs fn for every worker at once, labelled as the client.
func eachWorker(ctx context.Context, ws []*worker, fn func(context.Context, *worker) error) error {
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) { errs[i] = fn(ctx, w) })
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prefill appends n events to each org in use, in batches of MaxBatch
// from every client of the org.
func prefill(ctx context.Context, ws []*worker, n int) error {
	left := map[*org]*atomic.Int64{}
	for _, w := range ws {
		if left[w.org] == nil {
			left[w.org] = new(atomic.Int64)
			left[w.org].Store(int64(n))
		}
	}
	return eachWorker(ctx, ws, func(ctx context.Context, w *worker) error {
		for {
			k := min(left[w.org].Add(-MaxBatch)+MaxBatch, MaxBatch)
			if k <= 0 {
				return nil
			}
			if _, err := w.appendEvents(ctx, int(k)); err != nil {
				return err
			}
		}
	})
}

// signUpAll signs up cfg.Orgs orgs, four at a time, over one connection.
func signUpAll(ctx context.Context, base string, cfg Config) ([]*org, error) {
	hc := client.HTTPClient(base)
	defer hc.CloseIdleConnections()
	var run [3]byte
	_, _ = rand.Read(run[:])
	orgs := make([]*org, cfg.Orgs)
	errs := make([]error, cfg.Orgs)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range orgs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			orgs[i], errs[i] = signUp(ctx, hc, base, cfg.Protocol, fmt.Sprintf("nuxload-%x-%04d", run, i))
		})
	}
	wg.Wait()
	return orgs, errors.Join(errs...)
}

// signUp creates an org, logs its owner in and creates an API token with
// the admin role (which may read and append to the log).
func signUp(ctx context.Context, hc *http.Client, base, protocol, id string) (*org, error) {
	opts := protocolOptions(protocol)
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	password := hex.EncodeToString(pw[:])
	const email = "owner@nuxload.example"
	orgc := nuxariv1connect.NewOrgServiceClient(hc, base, opts...)
	if _, err := orgc.CreateOrg(ctx, connect.NewRequest(&nuxariv1.CreateOrgRequest{OrgId: id, OwnerEmail: email, OwnerPassword: password})); err != nil {
		return nil, fmt.Errorf("sign up %s: %w", id, err)
	}
	login, err := nuxariv1connect.NewAuthServiceClient(hc, base, opts...).Login(ctx, connect.NewRequest(&nuxariv1.LoginRequest{OrgId: id, Email: email, Password: password}))
	if err != nil {
		return nil, fmt.Errorf("log in to %s: %w", id, err)
	}
	owner := nuxariv1connect.NewAuthServiceClient(hc, base, append([]connect.ClientOption{connect.WithInterceptors(client.Bearer(login.Msg.SessionToken))}, opts...)...)
	tok, err := owner.CreateAPIToken(ctx, connect.NewRequest(&nuxariv1.CreateAPITokenRequest{Name: "nuxload", Role: nuxariv1.Role_ROLE_ADMIN}))
	if err != nil {
		return nil, fmt.Errorf("API token of %s: %w", id, err)
	}
	if _, err := owner.Logout(ctx, connect.NewRequest(&nuxariv1.LogoutRequest{})); err != nil {
		return nil, fmt.Errorf("log out of %s: %w", id, err)
	}
	return &org{id: id, token: tok.Msg.Secret, tokenID: tok.Msg.Token.GetTokenId()}, nil
}

// measure runs n callers of call at once, for cfg.Duration or until
// cfg.Count calls are done, and returns their throughput and latency.
// A caller stops after 10 failures in a row.
func measure(ctx context.Context, cfg Config, name, side string, n int, call func(ctx context.Context, i int) (int, error)) (Result, error) {
	type tally struct {
		h             hist
		calls, events int64
		errs          int64
		firstErr      error
		_             [64]byte // keeps tallies on separate cache lines
	}
	ts := make([]tally, n)
	if cfg.CPUProfileDir != "" {
		file := name
		if side == "ledger" {
			file = "ledger-" + name
		}
		f, err := os.Create(filepath.Join(cfg.CPUProfileDir, file+".pprof"))
		if err != nil {
			return Result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return Result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	var budget atomic.Int64
	cpu0 := sampleCPU()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for i := range ts {
		wg.Go(func() {
			t := &ts[i]
			pprof.Do(ctx, pprof.Labels("side", side, "workload", name), func(ctx context.Context) {
				failures := 0
				for ctx.Err() == nil && failures < 10 {
					if cfg.Count > 0 {
						if budget.Add(1) > int64(cfg.Count) {
							return
						}
					} else if !time.Now().Before(deadline) {
						return
					}
					t0 := time.Now()
					ev, err := call(ctx, i)
					d := time.Since(t0)
					if err != nil {
						t.errs++
						if t.firstErr == nil {
							t.firstErr = err
						}
						failures++
						continue
					}
					failures = 0
					t.h.record(d)
					t.calls++
					t.events += int64(ev)
				}
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res := Result{Workload: name, Seconds: round3(elapsed.Seconds()), CPU: cpuSince(cpu0)}
	var h hist
	for i := range ts {
		t := &ts[i]
		h.merge(&t.h)
		res.Calls += t.calls
		res.Events += t.events
		res.Errors += t.errs
		if t.firstErr != nil && res.FirstError == "" {
			res.FirstError = t.firstErr.Error()
		}
	}
	if res.Calls > 0 {
		res.CPU.PerCall = round1(res.CPU.Process * elapsed.Seconds() / float64(res.Calls) * 1e6)
	}
	res.CallsPerSec = round1(float64(res.Calls) / elapsed.Seconds())
	res.EventsPerSec = round1(float64(res.Events) / elapsed.Seconds())
	res.Latency = Latency{
		P50: ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)),
		P99: ms(h.quantile(0.99)), Max: ms(h.max),
	}
	return res, nil
}

func ms(d time.Duration) float64 { return round3(float64(d) / 1e6) }
func round1(v float64) float64   { return float64(int64(v*10+0.5)) / 10 }
func round3(v float64) float64   { return float64(int64(v*1000+0.5)) / 1000 }
