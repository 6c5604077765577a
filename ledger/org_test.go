package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// orgHandle returns the handle of org, failing the test on an error.
func orgHandle(t testing.TB, l *ledger.Ledger, org string) *ledger.Org {
	t.Helper()
	h, err := l.Org(org)
	if err != nil {
		t.Fatalf("Org(%q): %v", org, err)
	}
	return h
}

func TestOrgRejectsInvalidIDs(t *testing.T) {
	l := openLedger(t, testConfig(t))
	tests := []struct {
		id    string
		valid bool
	}{
		{"", false},
		{"../acme", false},
		{"a/b", false},
		{"a\x00b", false},
		{"a.b", false},
		{"a b", false},
		{"é", false},
		{strings.Repeat("a", leaf.MaxOrgLen+1), false},
		{"a", true},
		{"Acme_Corp-2", true},
		{strings.Repeat("a", leaf.MaxOrgLen), true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.id), func(t *testing.T) {
			h, err := l.Org(tt.id)
			if (leaf.ValidateOrg(tt.id) == nil) != tt.valid {
				t.Fatalf("leaf.ValidateOrg(%q) = %v", tt.id, leaf.ValidateOrg(tt.id))
			}
			if !tt.valid {
				if !errors.Is(err, ledger.ErrInvalidOrg) || h != nil {
					t.Fatalf("Org(%q) = %v, %v; want ErrInvalidOrg", tt.id, h, err)
				}
				return
			}
			if err != nil || h.ID() != tt.id || h.Origin() != l.Origin(tt.id) || h.VerifierKey() != l.VerifierKey() {
				t.Fatalf("Org(%q) = %v, %v", tt.id, h, err)
			}
		})
	}
	if n := len(l.Orgs()); n != 0 {
		t.Fatalf("making handles created %d orgs", n)
	}
}

func TestOrgBeforeFirstAppendSeesTheLog(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	// Handles made, and read through, before the org has a log.
	early := orgHandle(t, l, "fresh")
	other := orgHandle(t, l, "fresh")
	if _, err := early.Size(); !errors.Is(err, ledger.ErrUnknownOrg) {
		t.Fatalf("Size before the first append: %v", err)
	}
	if _, err := other.State(ctx, []byte("k")); !errors.Is(err, ledger.ErrUnknownOrg) {
		t.Fatalf("State before the first append: %v", err)
	}
	if _, err := early.Checkpoint(ctx); !errors.Is(err, ledger.ErrUnknownOrg) {
		t.Fatalf("Checkpoint before the first append: %v", err)
	}
	// The first append, through the early handle, creates the log.
	rs, err := early.Append(ctx, []ledger.Entry{{Event: event("first"), Writes: []ledger.Write{{Key: []byte("k"), Value: []byte("v1")}}}}, ledger.AckCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := early.Size(); err != nil || n != 1 {
		t.Fatalf("Size after the first append = %d, %v", n, err)
	}
	if v, err := other.State(ctx, []byte("k")); err != nil || string(v) != "v1" {
		t.Fatalf("other handle's State after the first append = %q, %v", v, err)
	}
	if cp, err := other.Checkpoint(ctx); err != nil || cp.Size != 1 {
		t.Fatalf("other handle's Checkpoint = %+v, %v", cp, err)
	}
	// Appends through the org ID reach the same log.
	appendN(t, l, "fresh", 2, ledger.AckDurable)
	for _, h := range []*ledger.Org{early, other} {
		if n, err := h.Size(); err != nil || n != 3 {
			t.Fatalf("Size after appends by org ID = %d, %v", n, err)
		}
		if lf, err := h.Leaf(ctx, 0); err != nil || !bytes.Equal(lf.Hash, rs[0].LeafHash) {
			t.Fatalf("Leaf(0) = %+v, %v", lf, err)
		}
	}
	// A handle of an org whose first append is refused sees no log.
	refused := orgHandle(t, l, "refused")
	if _, err := refused.Append(ctx, []ledger.Entry{{Event: event("x"), Conditions: []ledger.Condition{{Key: []byte("k"), Value: []byte("v")}}}}, ledger.AckDurable); !errors.Is(err, ledger.ErrPrecondition) {
		t.Fatalf("refused first append: %v", err)
	}
	if _, err := refused.Size(); !errors.Is(err, ledger.ErrUnknownOrg) {
		t.Fatalf("Size after a refused first append: %v", err)
	}
}

// outcome is a read's printable result.
func outcome(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%x", v)
}

func TestOrgReadsAndAppendsEqualOrgIDMethods(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	ctx := context.Background()
	const org = "acme"
	h := orgHandle(t, l, org)

	// Appends alternate between the two doors; they share one log, one
	// state, one set of idempotency keys.
	var rs []ledger.Receipt
	for i := range 10 {
		e := ledger.Entry{
			Event:          event("e%d", i),
			IdempotencyKey: fmt.Sprintf("key-%d", i),
			Writes:         []ledger.Write{{Key: fmt.Appendf(nil, "s/%02d", i), Value: fmt.Appendf(nil, "v%d", i)}},
		}
		if i > 0 {
			e.Conditions = []ledger.Condition{{Key: fmt.Appendf(nil, "s/%02d", i-1), Value: fmt.Appendf(nil, "v%d", i-1)}}
		}
		// The last append waits for its checkpoint, so that none is
		// issued while the reads below are compared.
		ack := ledger.AckDurable
		if i == 9 {
			ack = ledger.AckCheckpoint
		}
		var got []ledger.Receipt
		var err error
		if i%2 == 0 {
			got, err = h.Append(ctx, []ledger.Entry{e}, ack)
		} else {
			got, err = l.Append(ctx, org, []ledger.Entry{e}, ack)
		}
		if err != nil || got[0].Index != uint64(i) {
			t.Fatalf("append %d: %+v, %v", i, got, err)
		}
		rs = append(rs, got...)
		c.Advance(time.Hour)
	}
	// A retry through the other door is a duplicate.
	dup, err := l.Append(ctx, org, []ledger.Entry{{Event: event("e%d", 0), IdempotencyKey: "key-0"}}, ledger.AckDurable)
	if err != nil || !dup[0].Duplicate || dup[0].Index != 0 {
		t.Fatalf("retry by org ID of a handle's append: %+v, %v", dup, err)
	}
	dup, err = h.Append(ctx, []ledger.Entry{{Event: event("e%d", 1), IdempotencyKey: "key-1"}}, ledger.AckCheckpoint)
	if err != nil || !dup[0].Duplicate || dup[0].Index != 1 || dup[0].Checkpoint == nil {
		t.Fatalf("retry by handle of an append by org ID: %+v, %v", dup, err)
	}
	if err := h.SetRetention(ctx, 5*time.Hour); err != nil {
		t.Fatal(err)
	}
	size := uint64(len(rs))

	collectLeaves := func(leaves func(fn func(ledger.Leaf) error) error) (any, error) {
		var out []ledger.Leaf
		err := leaves(func(lf ledger.Leaf) error { out = append(out, lf); return nil })
		return out, err
	}
	collectState := func(scan func(fn func(k, v []byte) error) error) (any, error) {
		var out []string
		err := scan(func(k, v []byte) error { out = append(out, string(k)+"="+string(v)); return nil })
		return out, err
	}
	collectSizes := func(sizes func(fn func(uint64) bool) error) (any, error) {
		var out []uint64
		err := sizes(func(n uint64) bool { out = append(out, n); return true })
		return out, err
	}
	reads := []struct {
		name     string
		byHandle func() (any, error)
		byID     func() (any, error)
	}{
		{"Size", func() (any, error) { return h.Size() }, func() (any, error) { return l.Size(org) }},
		{"Checkpoint", func() (any, error) { return h.Checkpoint(ctx) }, func() (any, error) { return l.Checkpoint(ctx, org) }},
		{"CheckpointAt", func() (any, error) { return h.CheckpointAt(ctx, size) }, func() (any, error) { return l.CheckpointAt(ctx, org, size) }},
		{"CheckpointAt 3", func() (any, error) { return h.CheckpointAt(ctx, 3) }, func() (any, error) { return l.CheckpointAt(ctx, org, 3) }},
		{"CheckpointSizes", func() (any, error) {
			return collectSizes(func(fn func(uint64) bool) error { return h.CheckpointSizes(ctx, fn) })
		},
			func() (any, error) {
				return collectSizes(func(fn func(uint64) bool) error { return l.CheckpointSizes(ctx, org, fn) })
			}},
		{"InclusionProof", func() (any, error) { return h.InclusionProof(ctx, 3, size) }, func() (any, error) { return l.InclusionProof(ctx, org, 3, size) }},
		{"InclusionProof out of range", func() (any, error) { return h.InclusionProof(ctx, size, size) }, func() (any, error) { return l.InclusionProof(ctx, org, size, size) }},
		{"ConsistencyProof", func() (any, error) { return h.ConsistencyProof(ctx, 3, size) }, func() (any, error) { return l.ConsistencyProof(ctx, org, 3, size) }},
		{"SubtreeHash", func() (any, error) { return h.SubtreeHash(ctx, 4, 8) }, func() (any, error) { return l.SubtreeHash(ctx, org, 4, 8) }},
		{"Leaf", func() (any, error) { return h.Leaf(ctx, 7) }, func() (any, error) { return l.Leaf(ctx, org, 7) }},
		{"Leaf out of range", func() (any, error) { return h.Leaf(ctx, size) }, func() (any, error) { return l.Leaf(ctx, org, size) }},
		{"Leaves", func() (any, error) {
			return collectLeaves(func(fn func(ledger.Leaf) error) error { return h.Leaves(ctx, 0, size, fn) })
		}, func() (any, error) {
			return collectLeaves(func(fn func(ledger.Leaf) error) error { return l.Leaves(ctx, org, 0, size, fn) })
		}},
		{"State", func() (any, error) { return h.State(ctx, []byte("s/04")) }, func() (any, error) { return l.State(ctx, org, []byte("s/04")) }},
		{"State absent", func() (any, error) { return h.State(ctx, []byte("s/99")) }, func() (any, error) { return l.State(ctx, org, []byte("s/99")) }},
		{"ScanState", func() (any, error) {
			return collectState(func(fn func(k, v []byte) error) error { return h.ScanState(ctx, []byte("s/0"), fn) })
		}, func() (any, error) {
			return collectState(func(fn func(k, v []byte) error) error { return l.ScanState(ctx, org, []byte("s/0"), fn) })
		}},
		{"Retention", func() (any, error) { return h.Retention(ctx) }, func() (any, error) { return l.Retention(ctx, org) }},
		{"Origin", func() (any, error) { return h.Origin(), nil }, func() (any, error) { return l.Origin(org), nil }},
	}
	check := func(stage string) {
		t.Helper()
		for _, r := range reads {
			a, b := outcome(r.byHandle()), outcome(r.byID())
			if a != b {
				t.Errorf("%s: %s: handle %s, org ID %s", stage, r.name, a, b)
			}
		}
	}
	check("before purge")
	// The reads are of this log, not merely equal to each other.
	if n, _ := h.Size(); n != size {
		t.Fatalf("Size = %d, want %d", n, size)
	}
	if r, err := l.Retention(ctx, org); err != nil || r.Window != 5*time.Hour {
		t.Fatalf("retention set by the handle, read by org ID: %+v, %v", r, err)
	}
	if lf, err := h.Leaf(ctx, 7); err != nil || !bytes.Equal(lf.Hash, rs[7].LeafHash) {
		t.Fatalf("Leaf(7) = %+v, %v", lf, err)
	}
	// Purge through the handle, then again by org ID: the same state.
	r1, err := h.Purge(ctx)
	if err != nil || r1.PurgedThrough != 5 {
		t.Fatalf("handle Purge = %+v, %v; want purged through 5", r1, err)
	}
	r2, err := l.Purge(ctx, org)
	if err != nil || r2 != r1 {
		t.Fatalf("Purge by org ID after the handle's = %+v, %v; want %+v", r2, err, r1)
	}
	check("after purge")
}

// TestOrgHandlesAreIsolated appends to orgs whose IDs prefix each other
// ("a" and "a-b"), and orgs whose IDs are another's ID followed by a
// record kind ("al", "av"), and checks that each handle sees only its own.
func TestOrgHandlesAreIsolated(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	ctx := context.Background()
	orgs := []string{"a", "a-b", "al", "av", "a_", "ab"}
	handles := make(map[string]*ledger.Org)
	receipts := make(map[string][]ledger.Receipt)
	for i, org := range orgs {
		h := orgHandle(t, l, org)
		handles[org] = h
		for j := range i + 2 {
			rs, err := h.Append(ctx, []ledger.Entry{{
				Event:          event("%s-%d", org, j),
				IdempotencyKey: fmt.Sprintf("k%d", j),
				Writes: []ledger.Write{
					{Key: fmt.Appendf(nil, "k%d", j), Value: []byte(org)},
					{Key: []byte("only/" + org), Value: []byte(org)},
				},
			}}, ledger.AckCheckpoint)
			if err != nil {
				t.Fatalf("append to %q: %v", org, err)
			}
			receipts[org] = append(receipts[org], rs...)
		}
	}
	for i, org := range orgs {
		h := handles[org]
		n := uint64(i + 2)
		if got, err := h.Size(); err != nil || got != n {
			t.Fatalf("%q: Size = %d, %v; want %d", org, got, err, n)
		}
		if cp, err := h.Checkpoint(ctx); err != nil || cp.Size != n || cp.Origin != l.Origin(org) {
			t.Fatalf("%q: Checkpoint = %+v, %v", org, cp, err)
		}
		var leaves uint64
		if err := h.Leaves(ctx, 0, n, func(lf ledger.Leaf) error {
			p, err := leaf.Parse(lf.Bytes)
			if err != nil || p.Org != org || p.Index != lf.Index {
				return fmt.Errorf("leaf %d of %q: %+v, %v", lf.Index, org, p, err)
			}
			leaves++
			return nil
		}); err != nil || leaves != n {
			t.Fatalf("%q: Leaves: %d, %v", org, leaves, err)
		}
		var keys int
		if err := h.ScanState(ctx, nil, func(k, v []byte) error {
			if string(v) != org {
				return fmt.Errorf("%q scanned state %q=%q", org, k, v)
			}
			keys++
			return nil
		}); err != nil || keys != int(n)+1 {
			t.Fatalf("%q: ScanState: %d keys, %v; want %d", org, keys, err, n+1)
		}
		for _, other := range orgs {
			if other == org {
				continue
			}
			if _, err := h.State(ctx, []byte("only/"+other)); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("%q read %q's state: %v", org, other, err)
			}
		}
		// Idempotency keys and conditions are the org's own: every org
		// used key "k0", and another org's state key is absent here.
		dup, err := h.Append(ctx, []ledger.Entry{{Event: event("%s-%d", org, 0), IdempotencyKey: "k0"}}, ledger.AckDurable)
		if err != nil || !dup[0].Duplicate || !bytes.Equal(dup[0].LeafHash, receipts[org][0].LeafHash) {
			t.Fatalf("%q: retry of k0 = %+v, %v", org, dup, err)
		}
		other := orgs[(i+1)%len(orgs)]
		_, err = h.Append(ctx, []ledger.Entry{{Event: event("cond"), Conditions: []ledger.Condition{{Key: []byte("only/" + other), Value: []byte(other)}}}}, ledger.AckDurable)
		if !errors.Is(err, ledger.ErrPrecondition) {
			t.Fatalf("%q: condition on %q's state held: %v", org, other, err)
		}
	}
	// Retention and purge of "a" touch no other org.
	if err := handles["a"].SetRetention(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Hour)
	if r, err := handles["a"].Purge(ctx); err != nil || r.PurgedThrough != 2 {
		t.Fatalf("purge of a: %+v, %v", r, err)
	}
	for _, org := range orgs[1:] {
		h := handles[org]
		r, err := h.Purge(ctx)
		if err != nil || r.PurgedThrough != 0 || r.Window == time.Hour {
			t.Fatalf("%q after a's purge: %+v, %v", org, r, err)
		}
		if lf, err := h.Leaf(ctx, 0); err != nil || lf.Bytes == nil {
			t.Fatalf("%q's leaf 0 after a's purge: %v", org, err)
		}
	}
}

func TestOrgHandlesConcurrentAppends(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const (
		orgCount   = 12
		writers    = 3
		perWriter  = 15
		entriesPer = writers * perWriter
	)
	orgs := make([]string, orgCount)
	shared := make([]*ledger.Org, orgCount)
	for i := range orgs {
		orgs[i] = fmt.Sprintf("org-%d", i)
		shared[i] = orgHandle(t, l, orgs[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, orgCount*(writers+1))
	done := make(chan struct{})
	for i, org := range orgs {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each writer makes its own handle; half use the shared one.
				h := shared[i]
				if w%2 == 1 {
					var err error
					if h, err = l.Org(org); err != nil {
						errs <- err
						return
					}
				}
				for j := range perWriter {
					key := fmt.Appendf(nil, "w%d/%02d", w, j)
					rs, err := h.Append(ctx, []ledger.Entry{{Event: event("%s-%d-%d", org, w, j), Writes: []ledger.Write{{Key: key, Value: []byte(org)}}}}, ledger.AckDurable)
					if err != nil {
						errs <- fmt.Errorf("%s: append: %w", org, err)
						return
					}
					if v, err := h.State(ctx, key); err != nil || string(v) != org {
						errs <- fmt.Errorf("%s: state %s after its append = %q, %v", org, key, v, err)
						return
					}
					if lf, err := h.Leaf(ctx, rs[0].Index); err != nil || !bytes.Equal(lf.Hash, rs[0].LeafHash) {
						errs <- fmt.Errorf("%s: leaf %d after its append: %v", org, rs[0].Index, err)
						return
					}
				}
			}()
		}
	}
	// Readers poll the shared handles while their orgs are created.
	var readers sync.WaitGroup
	for i := range orgs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for range 500 {
				n, err := shared[i].Size()
				switch {
				case errors.Is(err, ledger.ErrUnknownOrg) && last == 0:
				case err != nil:
					errs <- fmt.Errorf("%s: Size: %w", orgs[i], err)
					return
				case n < last:
					errs <- fmt.Errorf("%s: size went from %d to %d", orgs[i], last, n)
					return
				default:
					last = n
				}
				select {
				case <-done:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i, org := range orgs {
		h := shared[i]
		if n, err := h.Size(); err != nil || n != entriesPer {
			t.Fatalf("%s: Size = %d, %v; want %d", org, n, err, entriesPer)
		}
		seen := make(map[string]bool)
		if err := h.Leaves(ctx, 0, entriesPer, func(lf ledger.Leaf) error {
			p, err := leaf.Parse(lf.Bytes)
			if err != nil || p.Org != org {
				return fmt.Errorf("leaf %d: %+v, %v", lf.Index, p, err)
			}
			seen[string(p.Event)] = true
			return nil
		}); err != nil || len(seen) != entriesPer {
			t.Fatalf("%s: %d distinct events, %v", org, len(seen), err)
		}
		var keys []string
		if err := h.ScanState(ctx, nil, func(k, v []byte) error {
			if string(v) != org {
				return fmt.Errorf("%s: state %q=%q", org, k, v)
			}
			keys = append(keys, string(k))
			return nil
		}); err != nil || len(keys) != entriesPer {
			t.Fatalf("%s: %d state keys, %v", org, len(keys), err)
		}
	}
	if got := l.Orgs(); len(got) != orgCount {
		t.Fatalf("Orgs = %v", got)
	}
}
