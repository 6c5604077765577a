package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

func TestRetentionPurgesOnlyOutsideWindow(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	ctx := context.Background()
	const day = 24 * time.Hour

	old := appendN(t, l, "acme", 7, ledger.AckDurable)
	c.Advance(10 * day)
	recent := appendN(t, l, "acme", 5, ledger.AckCheckpoint)
	cp := recent[4].Checkpoint
	appendN(t, l, "other", 3, ledger.AckDurable)

	// The default window (years) keeps everything.
	r, err := l.Purge(ctx, "acme")
	if err != nil || r.PurgedThrough != 0 || r.Window != 7*365*day {
		t.Fatalf("purge under default window: %+v, %v", r, err)
	}
	if err := l.SetRetention(ctx, "acme", 5*day); err != nil {
		t.Fatal(err)
	}
	// Exactly at the window's edge nothing young is purged.
	r, err = l.Purge(ctx, "acme")
	if err != nil || r.PurgedThrough != 7 {
		t.Fatalf("purge: %+v, %v; want through 7", r, err)
	}
	for _, rc := range old {
		lf, err := l.Leaf(ctx, "acme", rc.Index)
		if !errors.Is(err, ledger.ErrPurged) || lf.Bytes != nil || !bytes.Equal(lf.Hash, rc.LeafHash) {
			t.Fatalf("purged leaf %d: %+v, %v", rc.Index, lf, err)
		}
	}
	for _, rc := range recent {
		lf, err := l.Leaf(ctx, "acme", rc.Index)
		if err != nil || !bytes.Equal(verify.LeafHash(lf.Bytes), rc.LeafHash) {
			t.Fatalf("leaf %d inside the window: %v", rc.Index, err)
		}
	}
	// Proofs of purged and kept leaves still verify.
	for _, rc := range append(old, recent...) {
		p, err := l.InclusionProof(ctx, "acme", rc.Index, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify.Inclusion(rc.LeafHash, rc.Index, cp.Size, p, cp.Root); err != nil {
			t.Fatalf("leaf %d after purge: %v", rc.Index, err)
		}
	}
	// Leaves streams purged leaves without bytes.
	var purged int
	if err := l.Leaves(ctx, "acme", 0, 12, func(lf ledger.Leaf) error {
		if lf.Bytes == nil {
			purged++
		}
		return nil
	}); err != nil || purged != 7 {
		t.Fatalf("Leaves: %d purged, %v", purged, err)
	}
	// The other org is untouched.
	if _, err := l.Leaf(ctx, "other", 0); err != nil {
		t.Fatalf("other org's leaf: %v", err)
	}
	// Purge is idempotent, and progress survives a restart.
	if r, err := l.Purge(ctx, "acme"); err != nil || r.PurgedThrough != 7 {
		t.Fatalf("second purge: %+v, %v", r, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, cfg)
	r, err = l.Retention(ctx, "acme")
	if err != nil || r.PurgedThrough != 7 || r.Window != 5*day {
		t.Fatalf("retention after reopen: %+v, %v", r, err)
	}
	// Time passes: the rest leaves the window.
	c.Advance(6 * day)
	if r, err := l.Purge(ctx, "acme"); err != nil || r.PurgedThrough != 12 {
		t.Fatalf("later purge: %+v, %v", r, err)
	}
}

func TestPurgeNeverTouchesTheWindowWhenClockIsBehind(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	ctx := context.Background()
	appendN(t, l, "acme", 3, ledger.AckDurable)
	if err := l.SetRetention(ctx, "acme", time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Advance(-48 * time.Hour) // the wall clock jumps back
	if r, err := l.Purge(ctx, "acme"); err != nil || r.PurgedThrough != 0 {
		t.Fatalf("purge with clock behind: %+v, %v", r, err)
	}
}

// TestRetentionWithEntry: an entry's Retention sets the window in the
// entry's batch: applied with it, not at all when the append is refused,
// kept across a purge (which rewrites the purge progress) and a reopen.
func TestRetentionWithEntry(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	l := openLedger(t, cfg)
	const day = 24 * time.Hour
	appendN(t, l, "acme", 1, ledger.AckDurable)
	window := func() time.Duration {
		t.Helper()
		r, err := l.Retention(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return r.Window
	}
	if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("set"), Retention: 400 * day,
		Writes: []ledger.Write{{Key: []byte("org"), Value: []byte("v1")}}}}, ledger.AckDurable); err != nil {
		t.Fatal(err)
	}
	if w := window(); w != 400*day {
		t.Fatalf("window %v after an entry set 400d", w)
	}
	_, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("refused"), Retention: 500 * day,
		Conditions: []ledger.Condition{{Key: []byte("org"), Value: []byte("stale")}}}}, ledger.AckDurable)
	if !errors.Is(err, ledger.ErrPrecondition) {
		t.Fatalf("stale condition: %v", err)
	}
	if w := window(); w != 400*day {
		t.Fatalf("a refused entry changed the window to %v", w)
	}
	if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("bad"), Retention: -day}}, ledger.AckDurable); !errors.Is(err, ledger.ErrInvalidRetention) {
		t.Fatalf("negative retention: %v", err)
	}
	if _, err := l.Purge(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if w := window(); w != 400*day {
		t.Fatalf("window %v after a purge", w)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, cfg)
	if w := window(); w != 400*day {
		t.Fatalf("window %v after reopening", w)
	}
}
