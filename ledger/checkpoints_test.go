package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// TestThinCheckpoints signs one checkpoint per entry, an entry every 30
// minutes over three days, hands some out, and thins: every checkpoint of
// the last 24 hours stays, and beyond them the latest, every one handed
// out (by receipt, Checkpoint or CheckpointAt) and the last of each hour;
// every kept one verifies against the latest. Thinning resumes where it
// stopped and changes nothing the second time; after reopening a day
// later, the markers were durable.
func TestThinCheckpoints(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	cfg := testConfig(t)
	cfg.Clock, cfg.CheckpointInterval = clock.Now, 5*time.Millisecond
	l := openLedgerNoCleanup(t, cfg)
	ctx := context.Background()
	const n = 144
	handed := map[uint64]bool{}
	times := map[uint64]time.Time{}
	for i := range n {
		size := uint64(i + 1)
		times[size] = clock.Now()
		ack := ledger.AckDurable
		if i%37 == 5 {
			ack = ledger.AckCheckpoint // handed out with the receipt
			handed[size] = true
		}
		e := ledger.Entry{Event: event("e%d", i)}
		if i == 59 {
			e.IdempotencyKey = "k59"
		}
		if _, err := l.Append(ctx, "acme", []ledger.Entry{e}, ack); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Minute)
		waitCheckpointSize(t, l, "acme", size)
		if i == 60 {
			// A retry's receipt hands out the checkpoint signed before.
			e.IdempotencyKey, e.Event = "k59", event("e%d", 59)
			rs, err := l.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckCheckpoint)
			if err != nil || !rs[0].Duplicate || rs[0].Checkpoint == nil {
				t.Fatalf("retry: %+v, %v", rs, err)
			}
			if rs[0].Checkpoint.Size != size || size%2 == 0 {
				t.Fatalf("retry's checkpoint %d: want %d, the first of its hour", rs[0].Checkpoint.Size, size)
			}
			handed[size] = true
		}
		if i%41 == 7 {
			// The stored checkpoint becomes the latest just after: every
			// one Checkpoint returns is handed out.
			for {
				cp, err := l.Checkpoint(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				handed[cp.Size] = true
				if cp.Size == size {
					break
				}
			}
		}
	}
	if _, err := l.CheckpointAt(ctx, "acme", 10); err != nil {
		t.Fatal(err)
	}
	handed[10] = true

	thin := func(l *ledger.Ledger) int {
		h, err := l.Org("acme")
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for more := true; more; {
			var k int
			if k, more, err = h.ThinCheckpoints(ctx); err != nil {
				t.Fatal(err)
			}
			total += k
		}
		return total
	}
	dropped := thin(l)
	now := clock.Now()
	var want []uint64
	for size := uint64(1); size <= n; size++ {
		ts := times[size]
		nextHour := size == n || times[size+1].Truncate(time.Hour) != ts.Truncate(time.Hour)
		if size == n || handed[size] || !ts.Before(now.Add(-24*time.Hour)) || nextHour {
			want = append(want, size)
		}
	}
	var got []uint64
	if err := l.CheckpointSizes(ctx, "acme", func(s uint64) bool { got = append(got, s); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || dropped != n-len(want) || dropped < 40 {
		t.Fatalf("kept %v (dropped %d), want %v", got, dropped, want)
	}
	if _, err := l.CheckpointAt(ctx, "acme", 1); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a thinned checkpoint: %v", err)
	}
	if k := thin(l); k != 0 {
		t.Fatalf("second thinning dropped %d", k)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A day later, after reopening: what was within the horizon is
	// thinned in turn; the markers of handed-out checkpoints were durable.
	clock.Advance(24 * time.Hour)
	l = openLedger(t, cfg)
	thin(l)
	got = got[:0]
	if err := l.CheckpointSizes(ctx, "acme", func(s uint64) bool { got = append(got, s); return true }); err != nil {
		t.Fatal(err)
	}
	for s := range handed {
		if !slices.Contains(got, s) {
			t.Fatalf("handed-out checkpoint %d thinned: kept %v", s, got)
		}
	}
	if len(got) > 72+len(handed)+1 {
		t.Fatalf("kept %d checkpoints of a three-day log: %v", len(got), got)
	}
	// Every one kept verifies against the latest (reading them hands
	// them out, so this comes last).
	latest, err := l.Checkpoint(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		cp, err := l.CheckpointAt(ctx, "acme", s)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.ConsistencyProof(ctx, "acme", s, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify.Consistency(s, latest.Size, p, cp.Root, latest.Root); err != nil {
			t.Fatalf("kept checkpoint %d: %v", s, err)
		}
	}
}

// TestThinCheckpointsKeepsAllWithNegativeHorizon: a negative horizon
// keeps every checkpoint.
func TestThinCheckpointsKeepsAllWithNegativeHorizon(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	cfg := testConfig(t)
	cfg.Clock, cfg.CheckpointHorizon = clock.Now, -1
	l := openLedger(t, cfg)
	for range 5 {
		appendN(t, l, "acme", 1, ledger.AckCheckpoint)
		clock.Advance(48 * time.Hour)
	}
	h, _ := l.Org("acme")
	if k, more, err := h.ThinCheckpoints(context.Background()); k != 0 || more || err != nil {
		t.Fatalf("ThinCheckpoints: %d, %v, %v", k, more, err)
	}
}

// waitCheckpointSize waits for the signer to store a checkpoint of org at
// size and make it the latest, without handing it out: when it is the
// only org with entries no checkpoint covers, the ledger's Stats say so.
func waitCheckpointSize(t *testing.T, l *ledger.Ledger, org string, size uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		var last uint64
		if err := l.CheckpointSizes(context.Background(), org, func(s uint64) bool { last = s; return true }); err != nil {
			t.Fatal(err)
		}
		if last >= size && l.Stats().Uncovered == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size %d: latest %d", size, last)
		}
	}
}

// TestThinPassLeavesIdleOrgsAlone: the thinning loop thins the orgs in
// use and neither verifies nor loads an org nobody has used since Open.
func TestThinPassLeavesIdleOrgsAlone(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	cfg := testConfig(t)
	cfg.Clock, cfg.CheckpointInterval = clock.Now, 5*time.Millisecond
	l := openLedgerNoCleanup(t, cfg)
	for _, org := range []string{"aaa", "acme", "idle"} {
		for i := range 3 {
			appendN(t, l, org, 1, ledger.AckDurable)
			clock.Advance(time.Minute)
			waitCheckpointSize(t, l, org, uint64(i+1))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	l = openLedger(t, cfg) // verifies "aaa", the first org, at once
	appendN(t, l, "acme", 1, ledger.AckDurable)
	l.ThinPass()
	if l.OrgInUse("idle") {
		t.Fatal("the thinning pass verified and loaded an idle org")
	}
	count := func(org string) int {
		n := 0
		if err := l.CheckpointSizes(context.Background(), org, func(uint64) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count("aaa"); got != 1 {
		t.Fatalf("aaa: %d checkpoints after a pass, want its latest", got)
	}
}
