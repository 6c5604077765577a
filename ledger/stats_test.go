package ledger_test

import (
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger"
)

// TestStats: the totals count orgs with entries and their entries; an
// entry waiting for a checkpoint is uncovered, and its wait is dated from
// its org's newest checkpoint; a checkpoint covers it and dates the
// newest checkpoint.
func TestStats(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	cfg.CheckpointInterval = time.Hour // no checkpoint until a waiter asks
	l := openLedger(t, cfg)
	if st := l.Stats(); st != (ledger.Stats{}) {
		t.Fatalf("empty ledger: %+v", st)
	}
	appendN(t, l, "acme", 2, ledger.AckCheckpoint)
	signedAt := c.Now()
	c.Advance(time.Minute)
	appendN(t, l, "acme", 3, ledger.AckDurable)
	appendN(t, l, "beta", 1, ledger.AckCheckpoint)
	st := l.Stats()
	if st.Orgs != 2 || st.Entries != 6 || st.Uncovered != 3 {
		t.Fatalf("stats %+v; want 2 orgs, 6 entries, 3 uncovered", st)
	}
	if !st.UncoveredSince.Equal(signedAt) || !st.NewestCheckpoint.Equal(c.Now()) {
		t.Fatalf("uncovered since %v (want %v), newest checkpoint %v (want %v)", st.UncoveredSince, signedAt, st.NewestCheckpoint, c.Now())
	}
	appendN(t, l, "acme", 1, ledger.AckCheckpoint)
	if st := l.Stats(); st.Uncovered != 0 || !st.UncoveredSince.IsZero() || st.Entries != 7 {
		t.Fatalf("after a checkpoint covers all: %+v", st)
	}
}
