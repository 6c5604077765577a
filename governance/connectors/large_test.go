package connectors_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestLargeSyncBoundedMemory syncs 10,000 identities holding 20,000
// grants and checks that the heap grows by less than maxGrowth while it
// runs: the sync keeps the normalized items (about 100 bytes each), not
// the pages it read, and records them in chunks of 1,000.
func TestLargeSyncBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	const maxGrowth = 48 << 20
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	e.sys.Populate(10_000, 10)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}()
	start := time.Now()
	s := e.syncNow(t, c.ID)
	took := time.Since(start)
	close(stop)
	<-done
	if s.State != "succeeded" || s.Summary.Identities != 10_000 || s.Summary.Grants != 20_000 {
		t.Fatalf("sync %+v", s)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("10,000 identities, 20,000 grants: synced in %v, heap grew by at most %.1f MiB", took, float64(growth)/(1<<20))
	if growth > maxGrowth {
		t.Fatalf("the heap grew by %.1f MiB during the sync, more than %d MiB", float64(growth)/(1<<20), maxGrowth>>20)
	}
	gs, _ := e.allGrants(t, c.ID, 1000)
	if len(gs) != 20_000 {
		t.Fatalf("listed %d grants", len(gs))
	}
}

// BenchmarkSync syncs a system of 10,000 identities, 10 entitlements and
// 20,000 grants held in memory: the cost of a sync beside the system's
// own, reading, checking, sorting, chunking and recording the snapshot in
// one commit (Pebble in memory: no fsync).
func BenchmarkSync(b *testing.B) {
	e := newEnv(b)
	c := e.create(b, e.admin, "db").ID
	e.sys.Populate(10_000, 10)
	const items = 10_000 + 10 + 20_000
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s := e.syncNow(b, c); s.State != "succeeded" {
			b.Fatalf("sync %+v", s)
		}
	}
	b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "items/s")
}
