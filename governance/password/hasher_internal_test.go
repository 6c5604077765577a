package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var small = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// gate is a fake Argon2id that records the memory of the hashes running
// at once and holds each until released.
type gate struct {
	running, peak atomic.Int64 // KiB
	calls         atomic.Int64
	release       chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) idKey(_, _ []byte, _, memory uint32, _ uint8, keyLen uint32) []byte {
	g.calls.Add(1)
	now := g.running.Add(int64(memory))
	for {
		p := g.peak.Load()
		if now <= p || g.peak.CompareAndSwap(p, now) {
			break
		}
	}
	<-g.release
	g.running.Add(-int64(memory))
	return make([]byte, keyLen)
}

func (h *Hasher) queued() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiters.Len()
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHasherMemoryBound: 60 hashes, verifications and dummy verifications
// at once never hold more than the memory budget, whatever the memory of
// each; all of them complete.
func TestHasherMemoryBound(t *testing.T) {
	const budgetKiB = 4 * 64 // four hashes of small, or two of big
	h := NewHasher(HasherConfig{Params: small, MemoryBudget: budgetKiB * 1024, MaxQueue: 100})
	if n := h.Concurrency(); n != 4 {
		t.Fatalf("Concurrency = %d; want 4", n)
	}
	big := small
	big.Memory = 2 * small.Memory
	bigHash, err := Hash("a password for verify", big)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	h.idKey = g.idKey

	const n = 60
	ctx := context.Background()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.Hash(ctx, "a password to hash")
			case 1:
				_, err = h.Verify(ctx, "a password for verify", bigHash)
			case 2:
				err = h.DummyVerify(ctx, "a guess")
			}
			errs <- err
		})
	}
	// The budget fills, the rest queue, and nothing more runs.
	waitFor(t, "every hash to run or queue", func() bool {
		return int(g.calls.Load())+h.queued() == n
	})
	if got := g.peak.Load(); got > budgetKiB {
		t.Fatalf("%d KiB of hashes ran at once; budget %d KiB", got, budgetKiB)
	}
	if g.calls.Load() < 2 {
		t.Fatalf("%d hashes running with room for at least 2", g.calls.Load())
	}
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := g.peak.Load(); got > budgetKiB {
		t.Fatalf("%d KiB of hashes ran at once; budget %d KiB", got, budgetKiB)
	}
	if c := g.calls.Load(); c != n {
		t.Fatalf("%d hashes ran; want %d", c, n)
	}
	if h.used != 0 || h.queued() != 0 {
		t.Fatalf("after all: %d KiB used, %d queued", h.used, h.queued())
	}
}

// TestHasherRefuses: a full queue refuses at once; a wait ends with the
// caller's context or after MaxWait; waiters that give up leave the queue
// and the budget as they found them.
func TestHasherRefuses(t *testing.T) {
	h := NewHasher(HasherConfig{Params: small, MemoryBudget: 64 * 1024, MaxQueue: 2, MaxWait: time.Hour})
	g := newGate()
	h.idKey = g.idKey
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- h.DummyVerify(ctx, "x") }()
	waitFor(t, "the first hash to run", func() bool { return g.calls.Load() == 1 })

	cctx, cancel := context.WithCancel(ctx)
	queued := make(chan error, 2)
	go func() { queued <- h.DummyVerify(cctx, "x") }()
	go func() { _, err := h.Hash(ctx, "x"); queued <- err }()
	waitFor(t, "two hashes to queue", func() bool { return h.queued() == 2 })

	if _, err := h.Hash(ctx, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("with the queue full: %v; want ErrBusy", err)
	}
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while queued: %v; want context.Canceled", err)
	}
	waitFor(t, "the cancelled hash to leave the queue", func() bool { return h.queued() == 1 })
	if err := h.DummyVerify(cctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("with a cancelled context: %v", err)
	}

	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatalf("the hash left queued: %v", err)
	}
	if h.used != 0 || h.queued() != 0 {
		t.Fatalf("after all: %d KiB used, %d queued", h.used, h.queued())
	}

	// A wait gives up after MaxWait.
	short := NewHasher(HasherConfig{Params: small, MemoryBudget: 64 * 1024, MaxWait: time.Millisecond})
	g = newGate()
	short.idKey = g.idKey
	go func() { first <- short.DummyVerify(ctx, "x") }()
	waitFor(t, "the first hash to run", func() bool { return g.calls.Load() == 1 })
	if err := short.DummyVerify(ctx, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("after MaxWait: %v; want ErrBusy", err)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if short.used != 0 || short.queued() != 0 {
		t.Fatalf("after all: %d KiB used, %d queued", short.used, short.queued())
	}
}

// TestHasherHashes: a Hasher's hashes verify with Verify, and the
// package's hashes with the Hasher; a hash bigger than the budget runs
// alone.
func TestHasherHashes(t *testing.T) {
	h := NewHasher(HasherConfig{Params: small, MemoryBudget: 1024})
	if n := h.Concurrency(); n != 1 {
		t.Fatalf("Concurrency = %d with a budget below one hash; want 1", n)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"wrong horse battery", false}} {
		if ok, err := Verify(tc.pw, enc); err != nil || ok != tc.want {
			t.Fatalf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
		if ok, err := h.Verify(ctx, tc.pw, enc); err != nil || ok != tc.want {
			t.Fatalf("Hasher.Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	if _, err := h.Verify(ctx, "x", "$argon2id$v=19$bad"); !errors.Is(err, ErrMalformedHash) {
		t.Fatalf("malformed: %v", err)
	}
	if err := h.DummyVerify(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHasher(HasherConfig{Params: Params{Memory: 1 << 21}}).Hash(ctx, "x"); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("Hash with 2 GiB: %v; want ErrInvalidParams", err)
	}
	d := NewHasher(HasherConfig{})
	if n := d.Concurrency(); n != DefaultMemoryBudget/(int(DefaultParams.Memory)*1024) || n != 4 {
		t.Fatalf("default Concurrency = %d; want 4", n)
	}
}
