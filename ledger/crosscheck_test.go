package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// crossTree is golang.org/x/mod/sumdb/tlog's own storage of a log: an
// RFC 6962 implementation independent of the ledger's.
type crossTree struct {
	stored []tlog.Hash
	n      int64
}

// ReadHashes implements tlog.HashReader.
func (c *crossTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(c.stored)) {
			return nil, fmt.Errorf("stored hash %d out of range", x)
		}
		out[i] = c.stored[x]
	}
	return out, nil
}

func (c *crossTree) add(t *testing.T, data []byte) {
	t.Helper()
	hs, err := tlog.StoredHashes(c.n, data, c)
	if err != nil {
		t.Fatal(err)
	}
	c.stored = append(c.stored, hs...)
	c.n++
}

func (c *crossTree) root(t *testing.T, size uint64) []byte {
	t.Helper()
	h, err := tlog.TreeHash(int64(size), c)
	if err != nil {
		t.Fatal(err)
	}
	return h[:]
}

func crossHashes[H ~[]tlog.Hash](p H) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i][:]...)
	}
	return out
}

func crossTlogProof(p [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i := range p {
		copy(out[i][:], p[i])
	}
	return out
}

func crossEqual(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// TestCrossCheckTlog builds a real ledger in chunks, so that it signs
// checkpoints at chosen sizes, and checks its roots and proofs node for
// node against golang.org/x/mod/sumdb/tlog fed with the ledger's own leaf
// bytes.
func TestCrossCheckTlog(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	const org, otherOrg = "acme", "globex"
	rng := mrand.New(mrand.NewPCG(11, 12))

	sizes := []uint64{1, 2, 3, 7, 8, 9, 255, 256, 257, 1000}
	for range 3 {
		sizes = append(sizes, 10+rng.Uint64N(245))
	}
	for range 2 {
		sizes = append(sizes, 258+rng.Uint64N(742))
	}
	sizes = append(sizes, 1001+rng.Uint64N(300))
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	n := sizes[len(sizes)-1]

	var cur uint64
	for _, s := range sizes {
		rs := appendN(t, l, org, int(s-cur), ledger.AckCheckpoint)
		last := rs[len(rs)-1]
		if last.Index != s-1 || last.Checkpoint == nil || last.Checkpoint.Size != s {
			t.Fatalf("append up to size %d: last receipt %+v", s, last)
		}
		cur = s
	}
	appendN(t, l, otherOrg, 3, ledger.AckCheckpoint)

	// tlog's tree, from the leaf bytes the ledger serves.
	ct := &crossTree{}
	leafHashes := make([][]byte, 0, n)
	err := l.Leaves(ctx, org, 0, n, func(lf ledger.Leaf) error {
		if lf.Index != uint64(len(leafHashes)) {
			return fmt.Errorf("leaf %d out of order, want %d", lf.Index, len(leafHashes))
		}
		if h := tlog.RecordHash(lf.Bytes); !bytes.Equal(h[:], lf.Hash) {
			return fmt.Errorf("leaf %d: stored hash %x, tlog hashes the bytes to %x", lf.Index, lf.Hash, h)
		}
		if _, err := verify.LeafAt(lf.Bytes, org, lf.Index); err != nil {
			return err
		}
		ct.add(t, lf.Bytes)
		leafHashes = append(leafHashes, lf.Hash)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(leafHashes)) != n {
		t.Fatalf("Leaves returned %d leaves, want %d", len(leafHashes), n)
	}

	v, err := verify.NewVerifier(l.VerifierKey(), l.Origin(org))
	if err != nil {
		t.Fatal(err)
	}
	roots := make(map[uint64][]byte)
	notes := make(map[uint64][]byte)

	t.Run("checkpoint roots", func(t *testing.T) {
		for _, s := range sizes {
			cp, err := l.CheckpointAt(ctx, org, s)
			if err != nil {
				t.Fatalf("CheckpointAt(%d): %v", s, err)
			}
			vc, err := v.Checkpoint(cp.Note)
			if err != nil {
				t.Fatalf("checkpoint at %d: %v", s, err)
			}
			if vc.Size != s || !bytes.Equal(vc.Root, cp.Root) {
				t.Fatalf("checkpoint at %d says size %d, root %x; CheckpointAt said %x", s, vc.Size, vc.Root, cp.Root)
			}
			if want := ct.root(t, s); !bytes.Equal(vc.Root, want) {
				t.Fatalf("size %d: ledger root %x, tlog root %x", s, vc.Root, want)
			}
			roots[s], notes[s] = vc.Root, cp.Note
		}
		latest, err := l.Checkpoint(ctx, org)
		if err != nil || latest.Size != n || !bytes.Equal(latest.Root, roots[n]) {
			t.Fatalf("Checkpoint = %+v, %v; want size %d", latest, err, n)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("roots at every size", func(t *testing.T) {
		// Between checkpoints the ledger's root at size s is pinned by its
		// consistency proof to the latest checkpoint.
		for s := uint64(1); s < n; s++ {
			p, err := l.ConsistencyProof(ctx, org, s, n)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", s, n, err)
			}
			if err := verify.Consistency(s, n, p, ct.root(t, s), roots[n]); err != nil {
				t.Fatalf("tlog root at %d is not consistent with the ledger's checkpoint %d: %v", s, n, err)
			}
		}
	})

	t.Run("inclusion proofs", func(t *testing.T) {
		for _, s := range sizes {
			for i := range s {
				p, err := l.InclusionProof(ctx, org, i, s)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d): %v", i, s, err)
				}
				tp, err := tlog.ProveRecord(int64(s), int64(i), ct)
				if err != nil {
					t.Fatal(err)
				}
				if !crossEqual(p, crossHashes(tp)) {
					t.Fatalf("index %d, size %d: ledger proof %x, tlog proof %x", i, s, p, crossHashes(tp))
				}
				if err := tlog.CheckRecord(crossTlogProof(p), int64(s), tlog.Hash(roots[s]), int64(i), tlog.Hash(leafHashes[i])); err != nil {
					t.Fatalf("tlog rejects the ledger's proof of %d in %d: %v", i, s, err)
				}
				if err := verify.Inclusion(leafHashes[i], i, s, p, roots[s]); err != nil {
					t.Fatalf("index %d, size %d: %v", i, s, err)
				}
			}
		}
	})

	t.Run("consistency proofs", func(t *testing.T) {
		type pair struct{ s1, s2 uint64 }
		var pairs []pair
		for _, s2 := range sizes {
			for _, s1 := range sizes {
				if s1 <= s2 {
					pairs = append(pairs, pair{s1, s2})
				}
			}
		}
		for range 300 {
			s2 := 1 + rng.Uint64N(n)
			pairs = append(pairs, pair{1 + rng.Uint64N(s2), s2})
		}
		for _, pr := range pairs {
			p, err := l.ConsistencyProof(ctx, org, pr.s1, pr.s2)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", pr.s1, pr.s2, err)
			}
			tp, err := tlog.ProveTree(int64(pr.s2), int64(pr.s1), ct)
			if err != nil {
				t.Fatal(err)
			}
			if !crossEqual(p, crossHashes(tp)) {
				t.Fatalf("sizes %d to %d: ledger proof %x, tlog proof %x", pr.s1, pr.s2, p, crossHashes(tp))
			}
			r1, r2 := ct.root(t, pr.s1), ct.root(t, pr.s2)
			if err := tlog.CheckTree(crossTlogProof(p), int64(pr.s2), tlog.Hash(r2), int64(pr.s1), tlog.Hash(r1)); err != nil {
				t.Fatalf("tlog rejects the ledger's proof from %d to %d: %v", pr.s1, pr.s2, err)
			}
			if err := verify.Consistency(pr.s1, pr.s2, p, r1, r2); err != nil {
				t.Fatalf("sizes %d to %d: %v", pr.s1, pr.s2, err)
			}
		}
		// From the empty tree the proof is empty.
		p, err := l.ConsistencyProof(ctx, org, 0, n)
		if err != nil || len(p) != 0 {
			t.Fatalf("ConsistencyProof(0, %d) = %x, %v; want empty", n, p, err)
		}
		if err := verify.Consistency(0, n, p, ct.root(t, 0), roots[n]); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("tampered inclusion proofs", func(t *testing.T) {
		for _, pos := range []struct{ index, size uint64 }{{0, 2}, {5, 9}, {6, 7}, {100, 255}, {0, 256}, {256, 257}, {999, 1000}, {0, n}, {n - 1, n}} {
			p, err := l.InclusionProof(ctx, org, pos.index, pos.size)
			if err != nil {
				t.Fatal(err)
			}
			root := ct.root(t, pos.size)
			h := leafHashes[pos.index]
			if err := verify.Inclusion(h, pos.index, pos.size, p, root); err != nil {
				t.Fatalf("untampered proof of %d in %d: %v", pos.index, pos.size, err)
			}
			type attempt struct {
				name        string
				index, size uint64
				proof       [][]byte
				root        []byte
			}
			var bad []attempt
			for k := range p {
				for _, bit := range []int{0, 131, 255} {
					q := slices.Clone(p)
					q[k] = slices.Clone(q[k])
					q[k][bit/8] ^= 1 << (bit % 8)
					bad = append(bad, attempt{fmt.Sprintf("node %d bit %d flipped", k, bit), pos.index, pos.size, q, root})
				}
				bad = append(bad, attempt{fmt.Sprintf("node %d removed", k), pos.index, pos.size, slices.Delete(slices.Clone(p), k, k+1), root})
			}
			bad = append(bad,
				attempt{"node added", pos.index, pos.size, append(slices.Clone(p), leafHashes[0]), root},
				attempt{"node added first", pos.index, pos.size, append([][]byte{leafHashes[1]}, p...), root},
				attempt{"index is size", pos.size, pos.size, p, root},
			)
			if pos.index > 0 {
				bad = append(bad, attempt{"index minus 1", pos.index - 1, pos.size, p, root})
			}
			if pos.index+1 < pos.size {
				bad = append(bad, attempt{"index plus 1", pos.index + 1, pos.size, p, root})
			}
			for _, s := range []uint64{pos.size - 1, pos.size + 1} {
				if s > pos.index && s <= n {
					bad = append(bad, attempt{fmt.Sprintf("size %d with its root", s), pos.index, s, p, ct.root(t, s)})
				}
			}
			for _, a := range bad {
				err := verify.Inclusion(h, a.index, a.size, a.proof, a.root)
				if !errors.Is(err, verify.ErrInclusion) {
					t.Errorf("%d in %d, %s: Inclusion = %v, want ErrInclusion", pos.index, pos.size, a.name, err)
				}
			}
		}
	})

	t.Run("checkpoint origin and key", func(t *testing.T) {
		otherCP, err := l.Checkpoint(ctx, otherOrg)
		if err != nil {
			t.Fatal(err)
		}
		vOther, err := verify.NewVerifier(l.VerifierKey(), l.Origin(otherOrg))
		if err != nil {
			t.Fatal(err)
		}
		vOtherLog, err := verify.NewVerifier(l.VerifierKey(), verify.Origin("another-log", org))
		if err != nil {
			t.Fatal(err)
		}
		_, sameNameKey, err := note.GenerateKey(rand.Reader, "nuxari-test")
		if err != nil {
			t.Fatal(err)
		}
		_, otherNameKey, err := note.GenerateKey(rand.Reader, "another-log")
		if err != nil {
			t.Fatal(err)
		}
		vSameName, err := verify.NewVerifier(sameNameKey, l.Origin(org))
		if err != nil {
			t.Fatal(err)
		}
		vOtherName, err := verify.NewVerifier(otherNameKey, l.Origin(org))
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			v    *verify.Verifier
			note []byte
			want error
		}{
			{"own checkpoint", v, notes[n], nil},
			{"other org's own checkpoint", vOther, otherCP.Note, nil},
			{"acme's checkpoint as globex's", vOther, notes[n], verify.ErrOrigin},
			{"globex's checkpoint as acme's", v, otherCP.Note, verify.ErrOrigin},
			{"acme's checkpoint as another log's", vOtherLog, notes[n], verify.ErrOrigin},
			{"another key with the same name", vSameName, notes[n], verify.ErrSignature},
			{"another key", vOtherName, notes[n], verify.ErrSignature},
			{"other org's checkpoint, another key", vSameName, otherCP.Note, verify.ErrSignature},
		}
		for _, c := range cases {
			_, err := c.v.Checkpoint(c.note)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("%s: Checkpoint = %v, want %v", c.name, err, c.want)
			}
		}
	})
}
