// Package bench holds the macro benchmarks: the ledger's group-commit append
// throughput against a raw Pebble baseline, proof generation, latency at a
// fixed offered load and bytes on disk; and the API end to end over RPC.
// Figures are recorded in RESULTS.md.
//
// Each benchmark runs a fixed workload per iteration and reports its own
// rate (entries/s, proofs/s) or latency; run them with -benchtime=1x.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/storage/pebblestore"
)

const payloadSize = 512

func config(b *testing.B) ledger.Config {
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "nuxari-bench")
	if err != nil {
		b.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		b.Fatal(err)
	}
	return ledger.Config{Dir: b.TempDir(), LogName: "nuxari-bench", Signer: s, VerifierKey: vkey}
}

// payload returns a 512-byte JSON event of random base64 text, which
// barely compresses.
func payload(seed uint64) []byte {
	raw := make([]byte, payloadSize)
	binary.BigEndian.PutUint64(raw, seed)
	_, _ = rand.Read(raw[8:])
	ev := append([]byte(`{"d":"`), base64.RawURLEncoding.EncodeToString(raw)...)
	ev = ev[:payloadSize-2]
	return append(ev, `"}`...)
}

// payloads is a pool of distinct events reused round-robin.
var payloads = sync.OnceValue(func() [][]byte {
	out := make([][]byte, 4096)
	for i := range out {
		out[i] = payload(uint64(i))
	}
	return out
})

// appendLoad appends total entries from the given number of appenders
// spread over orgs, each appending one entry and waiting for it, and
// returns the rate.
func appendLoad(b *testing.B, l *ledger.Ledger, orgs, appenders, total int, ack ledger.Ack) float64 {
	ctx := context.Background()
	ps := payloads()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := fmt.Sprintf("org-%04d", a%orgs)
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				if _, err := l.Append(ctx, org, []ledger.Entry{{Event: ps[i%int64(len(ps))]}}, ack); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}

// BenchmarkAppend measures durable appends of 512-byte events, each
// appender waiting for its own acknowledgement.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		orgs, appenders int
		ack             ledger.Ack
	}{
		{1, 1024, ledger.AckDurable},
		{1000, 1024, ledger.AckDurable},
		{1, 64, ledger.AckDurable},
		{1000, 64, ledger.AckDurable},
		{1, 1024, ledger.AckCheckpoint},
		{1000, 1024, ledger.AckCheckpoint},
		{1000, 16384, ledger.AckCheckpoint},
		{1, 8192, ledger.AckDurable},
	} {
		name := fmt.Sprintf("ack=%s/orgs=%d/appenders=%d", ackName(c.ack), c.orgs, c.appenders)
		b.Run(name, func(b *testing.B) {
			total := 400_000
			for range b.N {
				b.StopTimer()
				cfg := config(b)
				reg := prometheus.NewRegistry()
				cfg.Registerer = reg
				l, err := ledger.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				// Warm up: create every org's log.
				appendLoad(b, l, c.orgs, min(c.appenders, c.orgs), c.orgs, ledger.AckDurable)
				b.StartTimer()
				rate := appendLoad(b, l, c.orgs, c.appenders, total, c.ack)
				b.StopTimer()
				b.ReportMetric(rate, "entries/s")
				reportCommits(b, reg)
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCommits reports the mean entries and latency per group commit.
func reportCommits(b *testing.B, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil || h.GetSampleCount() == 0 {
				continue
			}
			mean := h.GetSampleSum() / float64(h.GetSampleCount())
			switch mf.GetName() {
			case "nuxari_ledger_commit_batch_entries":
				b.ReportMetric(mean, "entries/commit")
			case "nuxari_ledger_commit_seconds":
				b.ReportMetric(mean*1e3, "ms/commit")
			case "nuxari_ledger_sign_round_seconds":
				b.ReportMetric(float64(h.GetSampleCount()), "sign-rounds")
			}
		}
	}
}

// BenchmarkAppendBatched measures appends that carry 64 entries each
// (an integration posting events in bulk), 16 appenders on one org: the
// same 1,024 entries in flight as BenchmarkAppend, with fewer round trips.
func BenchmarkAppendBatched(b *testing.B) {
	const per, appenders, total = 64, 16, 400_000
	ps := payloads()
	for range b.N {
		b.StopTimer()
		l, err := ledger.Open(config(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for a := 0; a < appenders; a++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				es := make([]ledger.Entry, per)
				for {
					i := next.Add(per) - per
					if i >= total {
						return
					}
					for j := range es {
						es[j] = ledger.Entry{Event: ps[(int(i)+j)%len(ps)]}
					}
					if _, err := l.Append(context.Background(), "org-0000", es, ledger.AckDurable); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "entries/s")
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func ackName(a ledger.Ack) string {
	if a == ledger.AckCheckpoint {
		return "checkpoint"
	}
	return "durable"
}

// BenchmarkRawPebble is the baseline: the same leaf-sized records written
// by one writer in synced batches of 1,000, with no Merkle work.
func BenchmarkRawPebble(b *testing.B) {
	for _, orgs := range []int{1, 1000} {
		b.Run(fmt.Sprintf("orgs=%d", orgs), func(b *testing.B) {
			const total, batch = 400_000, 1000
			ps := payloads()
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				db, err := pebble.Open(dir, pebbleOptions())
				if err != nil {
					b.Fatal(err)
				}
				// A record as the ledger stores it: hash, then the leaf
				// (the event wrapped with org, index and time).
				val := make([]byte, 32+payloadSize+90)
				_, _ = rand.Read(val)
				b.StartTimer()
				start := time.Now()
				for i := 0; i < total; i += batch {
					wb := db.NewBatch()
					for j := i; j < i+batch; j++ {
						copy(val[32:], ps[j%len(ps)])
						key := fmt.Appendf(nil, "oorg-%04d\x00l", j%orgs)
						key = binary.BigEndian.AppendUint64(key, uint64(j/orgs))
						_ = wb.Set(key, val, nil)
					}
					if err := wb.Commit(pebble.Sync); err != nil {
						b.Fatal(err)
					}
					wb.Close()
				}
				rate := float64(total) / time.Since(start).Seconds()
				b.StopTimer()
				b.ReportMetric(rate, "entries/s")
				db.Close()
			}
		})
	}
}

// pebbleOptions are the options the ledger opens Pebble with.
func pebbleOptions() *pebble.Options {
	o := pebblestore.Options(pebble.NewCache(256 << 20))
	o.Logger = quiet{}
	return o
}

type quiet struct{}

func (quiet) Infof(string, ...any)         {}
func (quiet) Errorf(string, ...any)        {}
func (quiet) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// bigLog builds an org with n entries; compacted, it then compacts the
// whole store and reopens, to measure reads in steady state rather than
// while compactions of the bulk load still run.
func bigLog(b *testing.B, n int, compacted bool, tileCache int64) *ledger.Ledger {
	cfg := config(b)
	cfg.TileCacheSize = tileCache
	l, err := ledger.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ps := payloads()
	const chunk = 1000
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries := make([]ledger.Entry, chunk)
			for {
				i := next.Add(1) - 1
				if i*chunk >= int64(n) {
					return
				}
				for j := range entries {
					entries[j] = ledger.Entry{Event: ps[(int(i)*chunk+j)%len(ps)]}
				}
				if _, err := l.Append(ctx, "big", entries, ledger.AckDurable); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if compacted {
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		compactAll(b, cfg.Dir)
		if l, err = ledger.Open(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

// compactAll compacts a closed ledger's whole store.
func compactAll(b *testing.B, dir string) *pebble.Metrics {
	db, err := pebble.Open(dir, pebbleOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
	return db.Metrics()
}

// BenchmarkProofs measures inclusion and consistency proof generation on
// a 1,000,000-entry org (PROOF_BENCH_ENTRIES), from both cores, right
// after the bulk load and in steady state (compacted), with the tile
// cache at its default (96 MiB: every tile of the log) and at 8 MiB
// (about one tile in eight: most full tiles read from Pebble, as in a
// log ten times larger).
func BenchmarkProofs(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PROOF_BENCH_ENTRIES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1000 {
			b.Fatalf("PROOF_BENCH_ENTRIES=%q: want an integer of at least 1000", s)
		}
	}
	for _, c := range []struct {
		compacted bool
		cache     int64
	}{{false, 0}, {true, 0}, {true, 8 << 20}} {
		cache := "default"
		if c.cache > 0 {
			cache = fmt.Sprintf("%dMiB", c.cache>>20)
		}
		name := fmt.Sprintf("entries=%d/compacted=%v/tile-cache=%s", n, c.compacted, cache)
		b.Run(name, func(b *testing.B) { benchProofs(b, uint64(n), c.compacted, c.cache) })
	}
}

func benchProofs(b *testing.B, n uint64, compacted bool, cache int64) {
	l := bigLog(b, int(n), compacted, cache)
	ctx := context.Background()
	size, err := l.Size("big")
	if err != nil || size != n {
		b.Fatalf("size %d, %v", size, err)
	}
	const total = 400_000
	run := func(b *testing.B, f func(i uint64) error) {
		for range b.N {
			var next atomic.Uint64
			var wg sync.WaitGroup
			start := time.Now()
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > total {
							return
						}
						if err := f(i * 2654435761 % n); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "proofs/s")
		}
	}
	b.Run("inclusion", func(b *testing.B) {
		run(b, func(i uint64) error {
			_, err := l.InclusionProof(ctx, "big", i, n)
			return err
		})
	})
	b.Run("consistency", func(b *testing.B) {
		run(b, func(i uint64) error {
			_, err := l.ConsistencyProof(ctx, "big", i+1, n)
			return err
		})
	})
}

// BenchmarkLatency offers 5,000 appends/s (open loop, one goroutine per
// append) for 5 seconds and reports the latency from call to
// acknowledgement.
func BenchmarkLatency(b *testing.B) {
	for _, ack := range []ledger.Ack{ledger.AckDurable, ledger.AckCheckpoint} {
		b.Run("ack="+ackName(ack), func(b *testing.B) {
			const rate, dur = 5000, 5 * time.Second
			for range b.N {
				l, err := ledger.Open(config(b))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				ps := payloads()
				lat := make([]time.Duration, 0, rate*int(dur/time.Second))
				var mu sync.Mutex
				var wg sync.WaitGroup
				// Open loop: issue, every 1 ms, the appends due by then, so
				// the offered rate holds whatever the timer resolution.
				tick := time.NewTicker(time.Millisecond)
				start := time.Now()
				i := 0
				for now := range tick.C {
					elapsed := now.Sub(start)
					if elapsed >= dur {
						break
					}
					for due := int(elapsed.Seconds() * rate); i < due; i++ {
						wg.Add(1)
						go func(i int) {
							defer wg.Done()
							t0 := time.Now()
							_, err := l.Append(ctx, fmt.Sprintf("org-%d", i%100), []ledger.Entry{{Event: ps[i%len(ps)]}}, ack)
							d := time.Since(t0)
							if err != nil {
								b.Error(err)
							}
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}(i)
					}
				}
				tick.Stop()
				wg.Wait()
				slices.Sort(lat)
				q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
				b.ReportMetric(float64(len(lat))/dur.Seconds(), "offered/s")
				b.ReportMetric(q(0.50), "p50-ms")
				b.ReportMetric(q(0.99), "p99-ms")
				b.ReportMetric(q(0.999), "p99.9-ms")
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiskPerEntry appends distinct 512-byte events, compacts, and
// reports the sstable bytes per entry beyond the payload, both against the
// nominal 512 bytes and against the same payloads stored alone in Pebble
// (keyed by index, same options), which accounts for what compression
// does to the payload itself.
func BenchmarkDiskPerEntry(b *testing.B) {
	for _, orgs := range []int{1, 1000} {
		b.Run(fmt.Sprintf("orgs=%d", orgs), func(b *testing.B) {
			const n = 200_000
			events := make([][]byte, n)
			for i := range events {
				events[i] = payload(uint64(i))
			}
			for range b.N {
				cfg := config(b)
				l, err := ledger.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				for a := 0; a < 1024; a++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1) - 1
							if i >= n {
								return
							}
							org := fmt.Sprintf("org-%04d", i%int64(orgs))
							if _, err := l.Append(ctx, org, []ledger.Entry{{Event: events[i]}}, ledger.AckDurable); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				var checkpoints int
				for _, org := range l.Orgs() {
					if err := l.CheckpointSizes(ctx, org, func(uint64) bool { checkpoints++; return true }); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				ledgerBytes := sstBytes(b, cfg.Dir)
				b.ReportMetric(float64(checkpoints)/n, "checkpoints/entry")

				raw := b.TempDir()
				db, err := pebble.Open(raw, pebbleOptions())
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < n; i += 1000 {
					wb := db.NewBatch()
					for j := i; j < i+1000; j++ {
						_ = wb.Set(binary.BigEndian.AppendUint64(nil, uint64(j)), events[j], nil)
					}
					if err := wb.Commit(pebble.NoSync); err != nil {
						b.Fatal(err)
					}
					wb.Close()
				}
				db.Close()
				payloadBytes := sstBytes(b, raw)
				b.ReportMetric(float64(ledgerBytes)/n-payloadSize, "bytes/entry-over-512")
				b.ReportMetric(float64(ledgerBytes-payloadBytes)/n, "bytes/entry-over-stored-payload")
				b.ReportMetric(float64(payloadBytes)/n, "stored-payload-bytes/entry")
			}
		})
	}
}

// sstBytes compacts a closed store and returns the size of its sstables.
func sstBytes(b *testing.B, dir string) int64 {
	compactAll(b, dir)
	var total int64
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Ext(p) == ".sst" {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// BenchmarkOpen measures opening a ledger of many orgs, each with a few
// entries and a checkpoint.
func BenchmarkOpen(b *testing.B) {
	for _, orgs := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("orgs=%d", orgs), func(b *testing.B) {
			cfg := config(b)
			l, err := ledger.Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			// Three entries an org, from 256 appenders, each waiting for a
			// checkpoint.
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 256 {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < int64(orgs*3); i = next.Add(1) - 1 {
						org := fmt.Sprintf("org-%06d", i%int64(orgs))
						if _, err := l.Append(context.Background(), org, []ledger.Entry{{Event: payloads()[i%4096]}}, ledger.AckCheckpoint); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			var before, after runtime.MemStats
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				l, err := ledger.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := len(l.Orgs()); got != orgs {
					b.Fatalf("%d orgs open, want %d", got, orgs)
				}
				// What an idle org costs: the heap the open ledger holds
				// (its block cache is outside the Go heap).
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(orgs), "heap-B/org")
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
