package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
)

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)) }

func TestAppendAssignsDenseIndexesPerOrg(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	var wg sync.WaitGroup
	orgs := []string{"org-a", "org-b", "org-c"}
	const perOrg = 60
	got := make(map[string][]uint64)
	var mu sync.Mutex
	for _, org := range orgs {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perOrg/4; i++ {
					rs, err := l.Append(ctx, org, []ledger.Entry{{Event: event("%d-%d", g, i)}}, ledger.AckDurable)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got[org] = append(got[org], rs[0].Index)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, org := range orgs {
		seen := make(map[uint64]bool)
		for _, i := range got[org] {
			if seen[i] || i >= perOrg {
				t.Fatalf("org %s: index %d duplicated or out of range", org, i)
			}
			seen[i] = true
		}
		if n, err := l.Size(org); err != nil || n != perOrg {
			t.Fatalf("Size(%s) = %d, %v; want %d", org, n, err, perOrg)
		}
	}
}

func TestLeafBindsOrgIndexTimeAndKey(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	ctx := context.Background()
	ev := []byte(`{"actor":"u1","type":"login.succeeded"}`)
	rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: ev, IdempotencyKey: "req-1"}}, ledger.AckDurable)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.Leaf(ctx, "acme", rs[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf.Hash(lf.Bytes), rs[0].LeafHash) || !bytes.Equal(lf.Hash, rs[0].LeafHash) {
		t.Fatal("leaf hash does not match the stored bytes")
	}
	parsed, err := verify.LeafAt(lf.Bytes, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parsed.Event, ev) || parsed.IdempotencyKey != "req-1" || !parsed.Time.Equal(c.Now()) || !rs[0].Time.Equal(c.Now()) {
		t.Fatalf("leaf %+v does not bind event, key and time %v", parsed, c.Now())
	}
}

func TestTimeNeverRunsBackwards(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	start := c.Now()
	r1 := appendN(t, l, "acme", 1, ledger.AckDurable)
	c.Advance(-time.Hour) // the wall clock steps back
	r2 := appendN(t, l, "acme", 1, ledger.AckDurable)
	if r2[0].Time.Before(r1[0].Time) {
		t.Fatalf("time ran backwards: %v then %v", r1[0].Time, r2[0].Time)
	}
	// Another org is not held back by acme's clock.
	r3 := appendN(t, l, "other", 1, ledger.AckDurable)
	if !r3[0].Time.Equal(start.Add(-time.Hour)) {
		t.Fatalf("other org time %v, want %v", r3[0].Time, start.Add(-time.Hour))
	}
	c.Advance(2 * time.Hour)
	r4 := appendN(t, l, "acme", 1, ledger.AckDurable)
	if !r4[0].Time.Equal(start.Add(time.Hour)) {
		t.Fatalf("time %v, want %v", r4[0].Time, start.Add(time.Hour))
	}
}

func TestIdempotency(t *testing.T) {
	cfg := testConfig(t)
	l := openLedger(t, cfg)
	ctx := context.Background()
	e := ledger.Entry{Event: event("x"), IdempotencyKey: "k-1"}
	first, err := l.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckDurable)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acme", 3, ledger.AckDurable)
	again, err := l.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckDurable)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Index != first[0].Index || !again[0].Duplicate || first[0].Duplicate ||
		!bytes.Equal(again[0].LeafHash, first[0].LeafHash) || !again[0].Time.Equal(first[0].Time) {
		t.Fatalf("retry receipt %+v, first %+v", again[0], first[0])
	}
	if n, _ := l.Size("acme"); n != 4 {
		t.Fatalf("size %d after retry, want 4", n)
	}
	// Same key, other event.
	_, err = l.Append(ctx, "acme", []ledger.Entry{{Event: event("y"), IdempotencyKey: "k-1"}}, ledger.AckDurable)
	if !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("conflicting retry: %v", err)
	}
	// The same key in another org is another key.
	other, err := l.Append(ctx, "other", []ledger.Entry{e}, ledger.AckDurable)
	if err != nil || other[0].Duplicate || other[0].Index != 0 {
		t.Fatalf("other org: %+v, %v", other, err)
	}
	// Duplicates inside one append, and concurrent retries sharing a batch.
	rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("z"), IdempotencyKey: "k-2"}, {Event: event("z"), IdempotencyKey: "k-2"}}, ledger.AckDurable)
	if err != nil || rs[0].Index != rs[1].Index || rs[0].Duplicate || !rs[1].Duplicate {
		t.Fatalf("in-append duplicate: %+v, %v", rs, err)
	}
	var wg sync.WaitGroup
	idx := make([]uint64, 32)
	for i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("w"), IdempotencyKey: "k-3"}}, ledger.AckDurable)
			if err != nil {
				t.Error(err)
				return
			}
			idx[i] = rs[0].Index
		}()
	}
	wg.Wait()
	for _, i := range idx {
		if i != idx[0] {
			t.Fatalf("concurrent retries got indexes %v", idx)
		}
	}
	size, _ := l.Size("acme")
	if size != 6 {
		t.Fatalf("size %d, want 6", size)
	}
	// Keys survive a restart.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLedger(t, cfg)
	again, err = l2.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckDurable)
	if err != nil || again[0].Index != first[0].Index || !again[0].Duplicate {
		t.Fatalf("retry after reopen: %+v, %v", again, err)
	}
}

func TestAckCheckpointCoversEntries(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	v, err := verify.NewVerifier(l.VerifierKey(), l.Origin("acme"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("%d-%d", g, i)}}, ledger.AckCheckpoint)
				if err != nil {
					t.Error(err)
					return
				}
				cp := rs[0].Checkpoint
				if cp == nil || cp.Size <= rs[0].Index {
					t.Errorf("receipt %+v has no covering checkpoint", rs[0])
					return
				}
				vc, err := v.Checkpoint(cp.Note)
				if err != nil {
					t.Error(err)
					return
				}
				p, err := l.InclusionProof(ctx, "acme", rs[0].Index, vc.Size)
				if err != nil {
					t.Error(err)
					return
				}
				if err := verify.Inclusion(rs[0].LeafHash, rs[0].Index, vc.Size, p, vc.Root); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestDurableEntriesGetSignedWithinInterval(t *testing.T) {
	cfg := testConfig(t)
	cfg.CheckpointInterval = 50 * time.Millisecond
	l := openLedger(t, cfg)
	ctx := context.Background()
	rs := appendN(t, l, "acme", 5, ledger.AckDurable)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp, err := l.Checkpoint(ctx, "acme")
		if err == nil && cp.Size > rs[4].Index {
			break
		}
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers index %d: %v", rs[4].Index, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEveryCheckpointIsKept(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	var sizes []uint64
	for i := 0; i < 5; i++ {
		rs := appendN(t, l, "acme", i+1, ledger.AckCheckpoint)
		sizes = append(sizes, rs[len(rs)-1].Checkpoint.Size)
	}
	var listed []uint64
	if err := l.CheckpointSizes(ctx, "acme", func(s uint64) bool { listed = append(listed, s); return true }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(listed) != fmt.Sprint(sizes) {
		t.Fatalf("checkpoint sizes %v, issued %v", listed, sizes)
	}
	latest, err := l.Checkpoint(ctx, "acme")
	if err != nil || latest.Size != sizes[len(sizes)-1] {
		t.Fatalf("latest %+v, %v", latest, err)
	}
	for i, s := range sizes {
		cp, err := l.CheckpointAt(ctx, "acme", s)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			prev, _ := l.CheckpointAt(ctx, "acme", sizes[i-1])
			p, err := l.ConsistencyProof(ctx, "acme", prev.Size, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := verify.Consistency(prev.Size, cp.Size, p, prev.Root, cp.Root); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := l.CheckpointAt(ctx, "acme", 2); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("CheckpointAt(unissued size) = %v", err)
	}
}

func TestReads(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	rs := appendN(t, l, "acme", 20, ledger.AckCheckpoint)
	var n uint64
	err := l.Leaves(ctx, "acme", 5, 15, func(lf ledger.Leaf) error {
		if lf.Index != 5+n || !bytes.Equal(lf.Hash, rs[lf.Index].LeafHash) || !bytes.Equal(leaf.Hash(lf.Bytes), lf.Hash) {
			return fmt.Errorf("leaf %d wrong", lf.Index)
		}
		n++
		return nil
	})
	if err != nil || n != 10 {
		t.Fatalf("Leaves: %d leaves, %v", n, err)
	}
	stop := errors.New("stop")
	if err := l.Leaves(ctx, "acme", 0, 20, func(ledger.Leaf) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Leaves did not return the callback's error: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	appendN(t, l, "acme", 4, ledger.AckCheckpoint)
	big := append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), ledger.MaxEntrySize)...), `"}`...)
	max := append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), ledger.MaxEntrySize-8)...), `"}`...)
	appendErr := func(org string, es ...ledger.Entry) error {
		_, err := l.Append(ctx, org, es, ledger.AckDurable)
		return err
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"empty org", appendErr("", ledger.Entry{Event: event("a")}), ledger.ErrInvalidOrg},
		{"dot-dot org", appendErr("../", ledger.Entry{Event: event("a")}), ledger.ErrInvalidOrg},
		{"slash org", appendErr("a/b", ledger.Entry{Event: event("a")}), ledger.ErrInvalidOrg},
		{"NUL org", appendErr("a\x00b", ledger.Entry{Event: event("a")}), ledger.ErrInvalidOrg},
		{"long org", appendErr(strings.Repeat("a", 65), ledger.Entry{Event: event("a")}), ledger.ErrInvalidOrg},
		{"no entries", appendErr("acme"), ledger.ErrInvalidEntry},
		{"entry too large", appendErr("acme", ledger.Entry{Event: big}), ledger.ErrEntryTooLarge},
		{"not JSON", appendErr("acme", ledger.Entry{Event: []byte("hello")}), ledger.ErrInvalidEvent},
		{"JSON array", appendErr("acme", ledger.Entry{Event: []byte(`[1]`)}), ledger.ErrInvalidEvent},
		{"truncated JSON", appendErr("acme", ledger.Entry{Event: []byte(`{"a":}`)}), ledger.ErrInvalidEvent},
		{"bad idempotency key", appendErr("acme", ledger.Entry{Event: event("a"), IdempotencyKey: "a\"b"}), ledger.ErrInvalidIdempotencyKey},
		{"empty state key", appendErr("acme", ledger.Entry{Event: event("a"), Writes: []ledger.Write{{Value: []byte("v")}}}), ledger.ErrInvalidEntry},
		{"index = size", func() error { _, err := l.InclusionProof(ctx, "acme", 4, 4); return err }(), ledger.ErrIndexOutOfRange},
		{"size > log size", func() error { _, err := l.InclusionProof(ctx, "acme", 0, 5); return err }(), ledger.ErrSizeOutOfRange},
		{"consistency size1 > size2", func() error { _, err := l.ConsistencyProof(ctx, "acme", 3, 2); return err }(), ledger.ErrInvalidRange},
		{"consistency size2 > log size", func() error { _, err := l.ConsistencyProof(ctx, "acme", 1, 5); return err }(), ledger.ErrSizeOutOfRange},
		{"leaf index = size", func() error { _, err := l.Leaf(ctx, "acme", 4); return err }(), ledger.ErrIndexOutOfRange},
		{"leaves end > size", l.Leaves(ctx, "acme", 0, 5, func(ledger.Leaf) error { return nil }), ledger.ErrIndexOutOfRange},
		{"leaves start > end", l.Leaves(ctx, "acme", 3, 2, func(ledger.Leaf) error { return nil }), ledger.ErrInvalidRange},
		{"checkpoint at size > log size", func() error { _, err := l.CheckpointAt(ctx, "acme", 9); return err }(), ledger.ErrSizeOutOfRange},
		{"unknown org proof", func() error { _, err := l.InclusionProof(ctx, "nobody", 0, 1); return err }(), ledger.ErrUnknownOrg},
		{"unknown org checkpoint", func() error { _, err := l.Checkpoint(ctx, "nobody"); return err }(), ledger.ErrUnknownOrg},
		{"unknown org size", func() error { _, err := l.Size("nobody"); return err }(), ledger.ErrUnknownOrg},
		{"malformed org read", func() error { _, err := l.Leaf(ctx, "../acme", 0); return err }(), ledger.ErrInvalidOrg},
		{"zero retention", l.SetRetention(ctx, "acme", 0), ledger.ErrInvalidRetention},
		{"retention of unknown org", l.SetRetention(ctx, "nobody", time.Hour), ledger.ErrUnknownOrg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
	// The documented limit itself is accepted.
	if err := appendErr("acme", ledger.Entry{Event: max}); err != nil {
		t.Fatalf("event of %d bytes: %v", len(max), err)
	}
	// Nothing above created an org or a leaf.
	if n, _ := l.Size("acme"); n != 5 {
		t.Fatalf("size %d, want 5", n)
	}
	if got := l.Orgs(); len(got) != 1 {
		t.Fatalf("orgs %v", got)
	}
}

func TestStateWritesCommitWithEntries(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	_, err := l.Append(ctx, "acme", []ledger.Entry{{
		Event:      event("org.created"),
		Conditions: []ledger.Condition{{Key: []byte("org")}},
		Writes:     []ledger.Write{{Key: []byte("org"), Value: []byte("v1")}, {Key: []byte("member/u1"), Value: []byte("owner")}},
	}}, ledger.AckDurable)
	if err != nil {
		t.Fatal(err)
	}
	// A failed precondition appends nothing and writes nothing.
	_, err = l.Append(ctx, "acme", []ledger.Entry{{
		Event:      event("org.created again"),
		Conditions: []ledger.Condition{{Key: []byte("org")}},
		Writes:     []ledger.Write{{Key: []byte("org"), Value: []byte("v2")}},
	}}, ledger.AckDurable)
	if !errors.Is(err, ledger.ErrPrecondition) {
		t.Fatalf("got %v, want ErrPrecondition", err)
	}
	if n, _ := l.Size("acme"); n != 1 {
		t.Fatalf("size %d, want 1", n)
	}
	if v, err := l.State(ctx, "acme", []byte("org")); err != nil || string(v) != "v1" {
		t.Fatalf("state %q, %v", v, err)
	}
	// Conditions on values, deletes, and a scan.
	_, err = l.Append(ctx, "acme", []ledger.Entry{{
		Event:      event("member.removed"),
		Conditions: []ledger.Condition{{Key: []byte("member/u1"), Value: []byte("owner")}},
		Writes:     []ledger.Write{{Key: []byte("member/u1"), Delete: true}, {Key: []byte("member/u2"), Value: []byte("admin")}},
	}}, ledger.AckDurable)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := l.ScanState(ctx, "acme", []byte("member/"), func(k, v []byte) error { keys = append(keys, string(k)+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[member/u2=admin]" {
		t.Fatalf("scan %v", keys)
	}
	// Another org sees none of it.
	appendN(t, l, "other", 1, ledger.AckDurable)
	if _, err := l.State(ctx, "other", []byte("org")); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("other org read acme's state: %v", err)
	}
}

func TestCloseDrainsQueuedAppends(t *testing.T) {
	cfg := testConfig(t)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type ack struct {
		org string
		r   ledger.Receipt
	}
	var mu sync.Mutex
	var acks []ack
	var wg sync.WaitGroup
	started := make(chan struct{}, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := fmt.Sprintf("org-%d", g%4)
			for i := 0; ; i++ {
				mode := ledger.AckDurable
				if i%2 == 1 {
					mode = ledger.AckCheckpoint
				}
				rs, err := l.Append(ctx, org, []ledger.Entry{{Event: event("%d-%d", g, i)}}, mode)
				if errors.Is(err, ledger.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{org, rs[0]})
				mu.Unlock()
				if i == 3 {
					started <- struct{}{}
				}
			}
		}()
	}
	for i := 0; i < 64; i++ {
		<-started
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	l2 := openLedger(t, cfg)
	for _, a := range acks {
		lf, err := l2.Leaf(ctx, a.org, a.r.Index)
		if err != nil || !bytes.Equal(lf.Hash, a.r.LeafHash) {
			t.Fatalf("acknowledged leaf %s/%d lost: %v", a.org, a.r.Index, err)
		}
	}
	// Close signed a final checkpoint for every org.
	for _, org := range l2.Orgs() {
		cp, err := l2.Checkpoint(ctx, org)
		n, _ := l2.Size(org)
		if err != nil || cp.Size != n {
			t.Fatalf("org %s: checkpoint %d, size %d, %v", org, cp.Size, n, err)
		}
	}
	if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("late")}}, ledger.AckDurable); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestMetricsRegistered(t *testing.T) {
	cfg := testConfig(t)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	l := openLedger(t, cfg)
	appendN(t, l, "acme", 3, ledger.AckCheckpoint)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "acme") {
					t.Fatalf("metric %s carries an org label", mf.GetName())
				}
			}
		}
	}
	for _, n := range []string{"nuxari_ledger_commit_batch_entries", "nuxari_ledger_commit_seconds", "nuxari_ledger_queue_depth", "nuxari_ledger_checkpoints_signed_total", "nuxari_ledger_sign_round_seconds"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}
