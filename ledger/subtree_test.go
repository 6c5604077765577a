package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"math/bits"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger"
)

// mth is RFC 6962's Merkle tree hash, computed from leaf hashes alone.
func mth(h [][]byte) []byte {
	if len(h) == 1 {
		return h[0]
	}
	k := 1 << (bits.Len(uint(len(h)-1)) - 1)
	return rfc6962.DefaultHasher.HashChildren(mth(h[:k]), mth(h[k:]))
}

// TestSubtreeHash compares every subtree of the RFC 6962 recursion, for
// tree sizes 1 to 70, with the hash computed from the leaves.
func TestSubtreeHash(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, testConfig(t))
	rs := appendN(t, l, "acme", 70, ledger.AckDurable)
	hashes := make([][]byte, len(rs))
	for i, r := range rs {
		hashes[i] = r.LeafHash
	}
	var walk func(lo, hi uint64)
	checked := 0
	walk = func(lo, hi uint64) {
		got, err := l.SubtreeHash(ctx, "acme", lo, hi)
		if err != nil {
			t.Fatalf("SubtreeHash(%d, %d): %v", lo, hi, err)
		}
		if want := mth(hashes[lo:hi]); !bytes.Equal(got, want) {
			t.Fatalf("SubtreeHash(%d, %d) = %x, want %x", lo, hi, got, want)
		}
		checked++
		if hi-lo > 1 {
			k := uint64(1) << (bits.Len64(hi-lo-1) - 1)
			walk(lo, lo+k)
			walk(lo+k, hi)
		}
	}
	for size := uint64(1); size <= 70; size++ {
		walk(0, size)
	}
	t.Logf("%d subtrees checked", checked)
	for _, bad := range []struct {
		lo, hi uint64
		err    error
	}{
		{3, 3, ledger.ErrInvalidRange},
		{5, 4, ledger.ErrInvalidRange},
		{1, 3, ledger.ErrInvalidRange}, // not aligned
		{6, 10, ledger.ErrInvalidRange},
		{64, 71, ledger.ErrSizeOutOfRange},
	} {
		if _, err := l.SubtreeHash(ctx, "acme", bad.lo, bad.hi); !errors.Is(err, bad.err) {
			t.Errorf("SubtreeHash(%d, %d): %v, want %v", bad.lo, bad.hi, err, bad.err)
		}
	}
	if _, err := l.SubtreeHash(ctx, "nobody", 0, 1); !errors.Is(err, ledger.ErrUnknownOrg) {
		t.Errorf("unknown org: %v", err)
	}
}
