package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// TestProofsWithAndWithoutTileCache checks that proofs built with the
// tile cache (cold and warm) verify like proofs read straight from
// storage.
func TestProofsWithAndWithoutTileCache(t *testing.T) {
	cached := testConfig(t)
	uncached := testConfig(t)
	uncached.TileCacheSize = -1
	uncached.Signer, uncached.VerifierKey = cached.Signer, cached.VerifierKey
	a, b := openLedger(t, cached), openLedger(t, uncached)
	ctx := context.Background()
	for _, l := range []*ledger.Ledger{a, b} {
		// Identical clocks are not needed: proofs depend on leaf hashes,
		// so compare each ledger's proofs against its own root instead.
		for i := 0; i < 3; i++ {
			appendN(t, l, "acme", 300, ledger.AckDurable)
		}
		appendN(t, l, "acme", 50, ledger.AckCheckpoint)
	}
	for _, tc := range []struct{ index, size uint64 }{
		{0, 950}, {255, 950}, // twice: a warm cache the second time
		{0, 950}, {255, 950}, {256, 950}, {511, 512}, {767, 768}, {768, 769}, {949, 950}, {100, 256}, {300, 700},
	} {
		t.Run(fmt.Sprintf("%d_of_%d", tc.index, tc.size), func(t *testing.T) {
			for _, l := range []*ledger.Ledger{a, b} {
				p, err := l.InclusionProof(ctx, "acme", tc.index, tc.size)
				if err != nil {
					t.Fatal(err)
				}
				lf, err := l.Leaf(ctx, "acme", tc.index)
				if err != nil {
					t.Fatal(err)
				}
				cp, err := l.Checkpoint(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				c, err := l.ConsistencyProof(ctx, "acme", tc.size, cp.Size)
				if err != nil {
					t.Fatal(err)
				}
				// The root at tc.size follows from the inclusion proof;
				// the consistency proof must then link it to the checkpoint.
				root, err := rootFromInclusion(lf.Hash, tc.index, tc.size, p)
				if err != nil {
					t.Fatal(err)
				}
				if err := verify.Consistency(tc.size, cp.Size, c, root, cp.Root); err != nil {
					t.Fatalf("cache=%v: %v", l == a, err)
				}
			}
		})
	}
}

// TestProofDetectsMissingTiles removes a hash tile a proof needs: the
// proof must fail with a corruption error, never be wrong.
func TestProofDetectsMissingTiles(t *testing.T) {
	cfg := testConfig(t)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acme", 600, ledger.AckCheckpoint)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		// Node (1, 4), a sibling on leaf 10's path, is in tile 0/0.
		if err := db.Delete(tileRecordKey("acme", 0, 0, -1), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	l = openLedger(t, cfg)
	_, err = l.InclusionProof(context.Background(), "acme", 10, 600)
	var ce *ledger.CorruptionError
	if !errorsAs(err, &ce) {
		t.Fatalf("proof over a missing node: %v", err)
	}
}
