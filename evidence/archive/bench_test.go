package archive_test

import (
	"bufio"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/ledger/verify"
)

// syntheticFixture is a fixture whose log keeps only leaf hashes, so that
// a large log fits in little memory; its leaves are syntheticLeaf.
func syntheticFixture(tb testing.TB, n uint64) *fixture {
	tb.Helper()
	fx := newFixture(tb, 0)
	for i := range n {
		fx.log.hashes = append(fx.log.hashes, sha256.Sum256(append([]byte{0}, syntheticLeaf(testOrg, i)...)))
	}
	return fx
}

// writeSynthetic writes the package of the leaves [lo, hi) of a tree of
// n leaves: the events of one time range.
func writeSynthetic(tb testing.TB, out io.Writer, fx *fixture, n, lo, hi uint64) {
	tb.Helper()
	l := fx.log
	ms := func(i uint64) time.Time { return baseTime.Add(time.Duration(i) * time.Millisecond) }
	w, err := archive.NewWriter(out, fx.signer, archive.Meta{
		Org: l.org, LogOrigin: l.origin, LogKey: l.vkey, Created: baseTime,
		Scope: archive.Scope{StartTime: ms(lo), EndTime: ms(hi)}, TreeSize: n, Checkpoint: l.checkpoint(tb, n),
	})
	if err != nil {
		tb.Fatal(err)
	}
	for i := lo; i < hi; i++ {
		if err := w.AddEvent(syntheticLeaf(testOrg, i)); err != nil {
			tb.Fatal(err)
		}
	}
	sel := func(yield func(uint64) bool) {
		for i := lo; i < hi && yield(i); i++ {
		}
	}
	nodes, err := archive.Nodes(n, sel, func(a, b uint64) ([]byte, error) { h := l.subtree(a, b); return h[:], nil })
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.SetProof(nodes); err != nil {
		tb.Fatal(err)
	}
	if err := w.AddConsistency(lo, l.checkpoint(tb, lo), consistencyProof(l, lo, n)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// consistencyProof is the RFC 6962 (RFC 9162, section 2.1.4) consistency
// proof from size m to size n, from the leaf hashes.
func consistencyProof(l *testLog, m, n uint64) [][]byte {
	var sub func(m, lo, hi uint64, whole bool) [][]byte
	sub = func(m, lo, hi uint64, whole bool) [][]byte {
		if m == hi-lo {
			if whole {
				return nil
			}
			h := l.subtree(lo, hi)
			return [][]byte{h[:]}
		}
		k := uint64(1)
		for k<<1 < hi-lo {
			k <<= 1
		}
		if m <= k {
			h := l.subtree(lo+k, hi)
			return append(sub(m, lo, lo+k, whole), h[:])
		}
		h := l.subtree(lo, lo+k)
		return append(sub(m-k, lo+k, hi, false), h[:])
	}
	return sub(m, 0, n, true)
}

// TestVerifyMillion writes a package of 1,000,000 events of a tree of
// 1,000,500 leaves to disk and verifies it.
func TestVerifyMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if raceEnabled {
		t.Skip("too slow with the race detector")
	}
	const n, lo, hi = 1_000_500, 250, 1_000_250
	start := time.Now()
	fx := syntheticFixture(t, n)
	path := filepath.Join(t.TempDir(), "package.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	writeSynthetic(t, bw, fx, n, lo, hi)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("log and package built in %v", time.Since(start))

	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	rep, err := archive.Verify(f, st.Size(), fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if rep.Events.Count != hi-lo || rep.Events.FirstIndex != lo || rep.Events.LastIndex != hi-1 || rep.Gaps != 0 || rep.TreeSize != n {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Consistency) != 1 || rep.Consistency[0] != lo {
		t.Fatalf("consistency %v", rep.Consistency)
	}
	t.Logf("verified %d events (%d MB) in %v: %.0f events/s, GOMAXPROCS %d",
		rep.Events.Count, st.Size()>>20, d, float64(rep.Events.Count)/d.Seconds(), runtime.GOMAXPROCS(0))
}

// BenchmarkVerify verifies a package of 100,000 events held in memory.
func BenchmarkVerify(b *testing.B) {
	const n, lo, hi = 100_100, 50, 100_050
	fx := syntheticFixture(b, n)
	var buf writerBuffer
	writeSynthetic(b, &buf, fx, n, lo, hi)
	r := readerAt(buf)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		rep, err := archive.Verify(r, int64(len(buf)), fx.pins)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Events.Count != hi-lo {
			b.Fatalf("%d events", rep.Events.Count)
		}
	}
	b.ReportMetric(float64(hi-lo)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

type writerBuffer []byte

func (w *writerBuffer) Write(b []byte) (int, error) {
	*w = append(*w, b...)
	return len(b), nil
}

type readerAt []byte

func (r readerAt) ReadAt(b []byte, off int64) (int, error) {
	if off >= int64(len(r)) {
		return 0, io.EOF
	}
	n := copy(b, r[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// TestConsistencyProofHelper checks the helper against tlog.
func TestConsistencyProofHelper(t *testing.T) {
	l := newTestLog(t, testOrg, 70)
	for m := uint64(1); m < 70; m++ {
		want := l.consistency(t, m, 70)
		got := consistencyProof(l, m, 70)
		if err := verify.Consistency(m, 70, got, l.root(m), l.root(70)); err != nil || len(got) != len(want) {
			t.Fatalf("size %d: %v (%d nodes, tlog %d)", m, err, len(got), len(want))
		}
	}
}
