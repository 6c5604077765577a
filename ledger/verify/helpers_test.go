package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tree is an RFC 6962 Merkle tree kept by golang.org/x/mod/sumdb/tlog, an
// implementation independent of the one under test.
type tree struct {
	leaves [][]byte
	stored []tlog.Hash
}

// ReadHashes implements tlog.HashReader over the in-memory hashes.
func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.stored)) {
			return nil, fmt.Errorf("stored hash %d out of range", x)
		}
		out[i] = t.stored[x]
	}
	return out, nil
}

func (t *tree) add(tb testing.TB, data []byte) {
	tb.Helper()
	hs, err := tlog.StoredHashes(int64(len(t.leaves)), data, t)
	if err != nil {
		tb.Fatal(err)
	}
	t.leaves = append(t.leaves, data)
	t.stored = append(t.stored, hs...)
}

// newTree returns a tree of n distinct leaves.
func newTree(tb testing.TB, n int) *tree {
	tb.Helper()
	t := &tree{}
	for i := range n {
		t.add(tb, fmt.Appendf(nil, "leaf %d", i))
	}
	return t
}

func (t *tree) leafHash(i uint64) []byte {
	h := tlog.RecordHash(t.leaves[i])
	return h[:]
}

func (t *tree) root(tb testing.TB, size uint64) []byte {
	tb.Helper()
	h, err := tlog.TreeHash(int64(size), t)
	if err != nil {
		tb.Fatal(err)
	}
	return h[:]
}

func (t *tree) inclusion(tb testing.TB, index, size uint64) [][]byte {
	tb.Helper()
	p, err := tlog.ProveRecord(int64(size), int64(index), t)
	if err != nil {
		tb.Fatal(err)
	}
	return hashes(p)
}

// consistency returns the proof from size1 to size2; it is empty when
// size1 is 0 or equals size2.
func (t *tree) consistency(tb testing.TB, size1, size2 uint64) [][]byte {
	tb.Helper()
	if size1 == 0 {
		return nil
	}
	p, err := tlog.ProveTree(int64(size2), int64(size1), t)
	if err != nil {
		tb.Fatal(err)
	}
	return hashes(p)
}

func hashes[H ~[]tlog.Hash](p H) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i][:]...)
	}
	return out
}

func clone(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i]...)
	}
	return out
}

func flip(b []byte, bit int) []byte {
	out := append([]byte(nil), b...)
	out[bit/8%len(out)] ^= 1 << (bit % 8)
	return out
}

func sameProof(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// maxTree is the size of the tree the proof tests draw from.
const maxTree = 1100

// proofSizes returns every size up to 64, the sizes around powers of two up
// to maxTree, and random sizes.
func proofSizes(rng *rand.Rand) []uint64 {
	var out []uint64
	for s := uint64(1); s <= 64; s++ {
		out = append(out, s)
	}
	for p := uint64(128); p <= 1024; p *= 2 {
		out = append(out, p-1, p, p+1)
	}
	out = append(out, 1000, maxTree)
	for range 30 {
		out = append(out, 1+rng.Uint64N(maxTree))
	}
	return out
}

func seededReader(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

// logKey is a checkpoint signer and its verifier key.
type logKey struct {
	signer note.Signer
	vkey   string
}

func newLogKey(tb testing.TB, seed uint64, name string) logKey {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(seededReader(seed), name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return logKey{s, vkey}
}

// signText signs text as a note with every given signer.
func signText(tb testing.TB, text string, signers ...note.Signer) []byte {
	tb.Helper()
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func checkpointText(origin string, size uint64, root []byte) string {
	return string(log.Checkpoint{Origin: origin, Size: size, Hash: root}.Marshal())
}

const testOrigin = "nuxari-test/orgs/acme"

var sentinels = []error{
	verify.ErrVerifierKey, verify.ErrSignature, verify.ErrCheckpoint, verify.ErrOrigin,
	verify.ErrInclusion, verify.ErrConsistency, verify.ErrLeafHash, verify.ErrLeafMismatch,
}

// wrapsOnly reports whether err wraps want and no other sentinel.
func wrapsOnly(err, want error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) != (s == want) {
			return false
		}
	}
	return true
}
