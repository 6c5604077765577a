package ledger_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// walGate holds every WAL sync while closed.
type walGate struct {
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (g *walGate) close() { g.mu.Lock(); g.gate = make(chan struct{}); g.mu.Unlock() }

func (g *walGate) open() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *walGate) MaybeError(op errorfs.Op) error {
	if !strings.HasSuffix(op.Path, ".log") || op.Kind != errorfs.OpFileSync && op.Kind != errorfs.OpFileSyncData {
		return nil
	}
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return nil
}

func (g *walGate) String() string { return "wal-gate" }

// gauge reads a gauge from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s missing", name)
	return 0
}

// TestBackpressure stalls the WAL: the pipeline fills, the bounded queue
// fills, and further callers block until their context ends, instead of
// queueing without bound. Once the WAL moves again, every queued append
// completes.
func TestBackpressure(t *testing.T) {
	gate := &walGate{}
	cfg := testConfig(t)
	cfg.Dir = "ledger"
	cfg.FS = errorfs.Wrap(vfs.NewMem(), gate)
	cfg.QueueLength = 4
	// Small batches, so the few batches in the pipeline cannot absorb
	// every caller and the queue itself must fill.
	cfg.MaxBatchEntries = 2
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	l := openLedger(t, cfg)
	appendN(t, l, "acme", 1, ledger.AckDurable)

	gate.close()
	defer gate.open() // lets Close finish even if the test fails
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(context.Background(), "acme", []ledger.Entry{{Event: event("queued-%d", i)}}, ledger.AckDurable)
			errs <- err
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); gauge(t, reg, "nuxari_ledger_queue_depth") < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("queue never filled while the WAL was stalled")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("blocked")}}, ledger.AckDurable); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append into a full queue: %v, want context.DeadlineExceeded", err)
	}
	if d := gauge(t, reg, "nuxari_ledger_queue_depth"); d > 4 {
		t.Fatalf("queue depth %v beyond its bound 4", d)
	}
	gate.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("queued append after the stall: %v", err)
		}
	}
	if n, _ := l.Size("acme"); n < 65 {
		t.Fatalf("size %d after the stall, want at least 65", n)
	}
}

// TestSigningAtMostOncePerCommit: however many appenders wait on one org,
// it is signed at most once per group commit, and every checkpoint size
// is issued once.
func TestSigningAtMostOncePerCommit(t *testing.T) {
	cfg := testConfig(t)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	cfg.CheckpointInterval = time.Hour // only waiters trigger signing
	l := openLedger(t, cfg)
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := l.Append(context.Background(), "acme", []ledger.Entry{{Event: event("%d-%d", g, i)}}, ledger.AckCheckpoint); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	commits := gauge(t, reg, "nuxari_ledger_commit_batch_entries")
	signed := gauge(t, reg, "nuxari_ledger_checkpoints_signed_total")
	if signed == 0 || signed > commits {
		t.Fatalf("%v checkpoints signed for %v commits", signed, commits)
	}
	var sizes []uint64
	if err := l.CheckpointSizes(context.Background(), "acme", func(s uint64) bool { sizes = append(sizes, s); return true }); err != nil {
		t.Fatal(err)
	}
	if float64(len(sizes)) != signed {
		t.Fatalf("%d checkpoints stored, %v signed", len(sizes), signed)
	}
	t.Logf("%v commits, %v checkpoints for 1280 waiting appends", commits, signed)
}

// TestSignatureBudgetPerRound: with more orgs waiting than the budget, a
// round signs at most MaxSignaturesPerRound of them, and every waiter is
// still served.
func TestSignatureBudgetPerRound(t *testing.T) {
	cfg := testConfig(t)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	cfg.MaxSignaturesPerRound = 3
	cfg.CheckpointInterval = time.Hour
	l := openLedger(t, cfg)
	var wg sync.WaitGroup
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := "org-" + string(rune('a'+g%20))
			if _, err := l.Append(context.Background(), org, []ledger.Entry{{Event: event("%d", g)}}, ledger.AckCheckpoint); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rounds := gauge(t, reg, "nuxari_ledger_sign_round_seconds")
	signed := gauge(t, reg, "nuxari_ledger_checkpoints_signed_total")
	if signed > 3*rounds {
		t.Fatalf("%v checkpoints in %v rounds exceeds the budget of 3 a round", signed, rounds)
	}
	if signed < 20 {
		t.Fatalf("%v checkpoints for 20 orgs", signed)
	}
}

// checks returns nuxari_ledger_checkpoint_checks_total by where it read.
func checks(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "nuxari_ledger_checkpoint_checks_total" {
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestCheckpointsCheckedInMemory: each checkpoint after an org's first is
// checked against the previous one from memory (its signed compact range
// extended by the leaves committed since), with no storage read; after a
// reopen, the first is checked from storage, then memory again. Every
// checkpoint still verifies against its predecessor.
func TestCheckpointsCheckedInMemory(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	for round := range 2 {
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		l, err := ledger.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			appendN(t, l, "acme", 1+i%3, ledger.AckCheckpoint)
			appendN(t, l, "beta", 2, ledger.AckDurable)
		}
		got := checks(t, reg)
		// "beta" is signed by the interval, acme after each append.
		if got["storage"] > 2 || got["memory"] < 8 {
			t.Fatalf("round %d: checks %v, want nearly all from memory", round, got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Registerer = nil
	l := openLedger(t, cfg)
	var sizes []uint64
	if err := l.CheckpointSizes(ctx, "acme", func(s uint64) bool { sizes = append(sizes, s); return true }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(sizes); i++ {
		a, err := l.CheckpointAt(ctx, "acme", sizes[i-1])
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.CheckpointAt(ctx, "acme", sizes[i])
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.ConsistencyProof(ctx, "acme", a.Size, b.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify.Consistency(a.Size, b.Size, p, a.Root, b.Root); err != nil {
			t.Fatalf("checkpoint %d does not extend %d: %v", b.Size, a.Size, err)
		}
	}
	if len(sizes) < 20 {
		t.Fatalf("%d checkpoints of acme", len(sizes))
	}
}
