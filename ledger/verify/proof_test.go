package verify_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nuxari/nuxari/ledger/verify"
)

func TestInclusionAcceptsValidProofs(t *testing.T) {
	tr := newTree(t, maxTree)
	rng := rand.New(rand.NewPCG(3, 4))
	checked := 0
	for _, size := range proofSizes(rng) {
		root := tr.root(t, size)
		indexes := []uint64{0, size - 1, size / 2, rng.Uint64N(size), rng.Uint64N(size)}
		if size <= 64 {
			indexes = indexes[:0]
			for i := range size {
				indexes = append(indexes, i)
			}
		}
		for _, i := range indexes {
			p := tr.inclusion(t, i, size)
			if err := verify.Inclusion(tr.leafHash(i), i, size, p, root); err != nil {
				t.Fatalf("index %d, size %d: %v", i, size, err)
			}
			checked++
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d proofs checked", checked)
	}
}

func TestInclusionRejectsBadProofs(t *testing.T) {
	tr := newTree(t, 310)
	type inputs struct {
		leafHash    []byte
		index, size uint64
		proof       [][]byte
		root        []byte
	}
	for _, pos := range []struct{ index, size uint64 }{
		{0, 1}, {0, 2}, {1, 2}, {2, 3}, {0, 7}, {6, 7}, {3, 8}, {8, 9}, {100, 255}, {0, 256}, {255, 256}, {256, 257}, {77, 300},
	} {
		good := inputs{tr.leafHash(pos.index), pos.index, pos.size, tr.inclusion(t, pos.index, pos.size), tr.root(t, pos.size)}
		if err := verify.Inclusion(good.leafHash, good.index, good.size, good.proof, good.root); err != nil {
			t.Fatalf("valid proof for index %d, size %d: %v", pos.index, pos.size, err)
		}
		type mutation struct {
			name string
			in   inputs
		}
		var muts []mutation
		mut := func(name string, f func(in *inputs)) {
			in := good
			in.proof = clone(good.proof)
			f(&in)
			muts = append(muts, mutation{name, in})
		}
		for n := range good.proof {
			for _, bit := range []int{0, 7, 100, 255} {
				mut(fmt.Sprintf("node %d bit %d flipped", n, bit), func(in *inputs) { in.proof[n] = flip(in.proof[n], bit) })
			}
			mut(fmt.Sprintf("node %d removed", n), func(in *inputs) { in.proof = append(in.proof[:n], in.proof[n+1:]...) })
			mut(fmt.Sprintf("node %d short", n), func(in *inputs) { in.proof[n] = in.proof[n][:31] })
			mut(fmt.Sprintf("node %d long", n), func(in *inputs) { in.proof[n] = append(in.proof[n], 0) })
			mut(fmt.Sprintf("node %d nil", n), func(in *inputs) { in.proof[n] = nil })
		}
		if len(good.proof) > 1 {
			mut("nodes swapped", func(in *inputs) { in.proof[0], in.proof[1] = in.proof[1], in.proof[0] })
		}
		mut("node added at end", func(in *inputs) { in.proof = append(in.proof, tr.leafHash(0)) })
		mut("node added at start", func(in *inputs) { in.proof = append([][]byte{tr.leafHash(0)}, in.proof...) })
		mut("zero node added", func(in *inputs) { in.proof = append(in.proof, make([]byte, 32)) })
		for _, bit := range []int{0, 9, 255} {
			mut(fmt.Sprintf("leaf hash bit %d flipped", bit), func(in *inputs) { in.leafHash = flip(in.leafHash, bit) })
			mut(fmt.Sprintf("root bit %d flipped", bit), func(in *inputs) { in.root = flip(in.root, bit) })
		}
		mut("leaf hash of other leaf", func(in *inputs) { in.leafHash = tr.leafHash((pos.index + 1) % 300) })
		mut("leaf bytes instead of hash", func(in *inputs) { in.leafHash = tr.leaves[pos.index] })
		mut("leaf hash short", func(in *inputs) { in.leafHash = in.leafHash[:31] })
		mut("leaf hash long", func(in *inputs) { in.leafHash = append(in.leafHash, 0) })
		mut("leaf hash nil", func(in *inputs) { in.leafHash = nil })
		mut("root short", func(in *inputs) { in.root = in.root[:31] })
		mut("root long", func(in *inputs) { in.root = append(in.root, 0) })
		mut("root empty", func(in *inputs) { in.root = nil })
		mut("root of other size", func(in *inputs) { in.root = tr.root(t, pos.size+1) })
		mut("index is size", func(in *inputs) { in.index = pos.size })
		mut("index far out", func(in *inputs) { in.index = 1 << 63 })
		mut("size 0", func(in *inputs) { in.size = 0 })
		mut("size max", func(in *inputs) { in.size = ^uint64(0) })
		for _, d := range []uint64{1, 2, 3} {
			if pos.index >= d {
				mut(fmt.Sprintf("index minus %d", d), func(in *inputs) { in.index -= d })
			}
			if pos.index+d < pos.size {
				mut(fmt.Sprintf("index plus %d", d), func(in *inputs) { in.index += d })
			}
			// A leaf claimed in a tree of another size, with that tree's
			// root.
			if pos.size > d && pos.index < pos.size-d {
				mut(fmt.Sprintf("size minus %d", d), func(in *inputs) { in.size -= d; in.root = tr.root(t, in.size) })
			}
			mut(fmt.Sprintf("size plus %d", d), func(in *inputs) { in.size += d; in.root = tr.root(t, in.size) })
		}
		for _, m := range muts {
			t.Run(fmt.Sprintf("%d of %d/%s", pos.index, pos.size, m.name), func(t *testing.T) {
				err := verify.Inclusion(m.in.leafHash, m.in.index, m.in.size, m.in.proof, m.in.root)
				if !errors.Is(err, verify.ErrInclusion) {
					t.Fatalf("Inclusion = %v, want ErrInclusion", err)
				}
				if errors.Is(err, verify.ErrConsistency) {
					t.Fatalf("Inclusion error %v also wraps ErrConsistency", err)
				}
			})
		}
	}
}

func TestConsistencyAcceptsValidProofs(t *testing.T) {
	tr := newTree(t, maxTree)
	rng := rand.New(rand.NewPCG(5, 6))
	type pair struct{ size1, size2 uint64 }
	var pairs []pair
	for s2 := uint64(1); s2 <= 64; s2++ {
		for s1 := uint64(0); s1 <= s2; s1++ {
			pairs = append(pairs, pair{s1, s2})
		}
	}
	for _, s2 := range proofSizes(rng) {
		for _, s1 := range []uint64{0, 1, s2 / 2, s2 - 1, s2, rng.Uint64N(s2 + 1)} {
			pairs = append(pairs, pair{s1, s2})
		}
	}
	for _, p := range pairs {
		root1, root2 := tr.root(t, p.size1), tr.root(t, p.size2)
		proof := tr.consistency(t, p.size1, p.size2)
		if err := verify.Consistency(p.size1, p.size2, proof, root1, root2); err != nil {
			t.Fatalf("sizes %d to %d: %v", p.size1, p.size2, err)
		}
	}
	// Size 0 to size 0: both roots are the empty root.
	empty := sha256.Sum256(nil)
	if err := verify.Consistency(0, 0, nil, empty[:], empty[:]); err != nil {
		t.Fatalf("sizes 0 to 0: %v", err)
	}
}

// TestConsistencyFromEmptyTree pins that the empty tree has exactly one
// root, SHA-256 of nothing, while any tree extends it.
func TestConsistencyFromEmptyTree(t *testing.T) {
	tr := newTree(t, 5)
	empty := sha256.Sum256(nil)
	other := tr.root(t, 1)
	cases := []struct {
		name         string
		size2        uint64
		root1, root2 []byte
		ok           bool
	}{
		{"empty to empty", 0, empty[:], empty[:], true},
		{"empty to 5", 5, empty[:], tr.root(t, 5), true},
		{"empty to 5, any root2", 5, empty[:], other, true},
		{"other root1 to empty", 0, other, other, false},
		{"zero root1 to empty", 0, make([]byte, 32), make([]byte, 32), false},
		{"other root1 to 5", 5, other, tr.root(t, 5), false},
		{"zero root1 to 5", 5, make([]byte, 32), tr.root(t, 5), false},
		{"empty to empty with other root2", 0, empty[:], other, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := verify.Consistency(0, c.size2, nil, c.root1, c.root2)
			if c.ok && err != nil {
				t.Fatal(err)
			}
			if !c.ok && !errors.Is(err, verify.ErrConsistency) {
				t.Fatalf("Consistency = %v, want ErrConsistency", err)
			}
		})
	}
}

func TestConsistencyRejectsBadProofs(t *testing.T) {
	tr := newTree(t, 310)
	type inputs struct {
		size1, size2 uint64
		proof        [][]byte
		root1, root2 []byte
	}
	for _, pos := range []struct{ size1, size2 uint64 }{
		{0, 1}, {0, 5}, {1, 1}, {1, 2}, {1, 3}, {2, 3}, {3, 7}, {4, 8}, {7, 8}, {8, 9}, {3, 255}, {255, 256}, {256, 257}, {100, 300}, {128, 300}, {299, 300},
	} {
		good := inputs{pos.size1, pos.size2, tr.consistency(t, pos.size1, pos.size2), tr.root(t, pos.size1), tr.root(t, pos.size2)}
		if err := verify.Consistency(good.size1, good.size2, good.proof, good.root1, good.root2); err != nil {
			t.Fatalf("valid proof for sizes %d to %d: %v", pos.size1, pos.size2, err)
		}
		type mutation struct {
			name string
			in   inputs
		}
		var muts []mutation
		mut := func(name string, f func(in *inputs)) {
			in := good
			in.proof = clone(good.proof)
			f(&in)
			muts = append(muts, mutation{name, in})
		}
		for n := range good.proof {
			for _, bit := range []int{0, 7, 100, 255} {
				mut(fmt.Sprintf("node %d bit %d flipped", n, bit), func(in *inputs) { in.proof[n] = flip(in.proof[n], bit) })
			}
			mut(fmt.Sprintf("node %d removed", n), func(in *inputs) { in.proof = append(in.proof[:n], in.proof[n+1:]...) })
			mut(fmt.Sprintf("node %d short", n), func(in *inputs) { in.proof[n] = in.proof[n][:31] })
			mut(fmt.Sprintf("node %d long", n), func(in *inputs) { in.proof[n] = append(in.proof[n], 0) })
			mut(fmt.Sprintf("node %d nil", n), func(in *inputs) { in.proof[n] = nil })
		}
		if len(good.proof) > 1 {
			mut("nodes swapped", func(in *inputs) { in.proof[0], in.proof[1] = in.proof[1], in.proof[0] })
		}
		mut("node added at end", func(in *inputs) { in.proof = append(in.proof, tr.leafHash(0)) })
		mut("node added at start", func(in *inputs) { in.proof = append([][]byte{tr.leafHash(0)}, in.proof...) })
		mut("root2 added as node", func(in *inputs) { in.proof = append(in.proof, in.root2) })
		for _, bit := range []int{0, 9, 255} {
			mut(fmt.Sprintf("root1 bit %d flipped", bit), func(in *inputs) { in.root1 = flip(in.root1, bit) })
		}
		mut("root1 short", func(in *inputs) { in.root1 = in.root1[:31] })
		mut("root1 long", func(in *inputs) { in.root1 = append(in.root1, 0) })
		mut("root1 zero", func(in *inputs) { in.root1 = make([]byte, 32) })
		mut("root1 of the next size", func(in *inputs) { in.root1 = tr.root(t, pos.size1+1) })
		mut("root2 short", func(in *inputs) { in.root2 = in.root2[:31] })
		mut("root2 nil", func(in *inputs) { in.root2 = nil })
		if pos.size1 < pos.size2 {
			mut("size1 > size2", func(in *inputs) { in.size1, in.size2 = in.size2, in.size1; in.root1, in.root2 = in.root2, in.root1 })
		}
		mut("size2 0", func(in *inputs) { in.size2 = 0 })
		// Every tree extends the empty tree, whatever its size and root:
		// the mutations below only apply from a non-empty tree.
		if pos.size1 > 0 {
			for _, bit := range []int{0, 9, 255} {
				mut(fmt.Sprintf("root2 bit %d flipped", bit), func(in *inputs) { in.root2 = flip(in.root2, bit) })
			}
			mut("roots swapped", func(in *inputs) {
				if bytes.Equal(in.root1, in.root2) {
					in.root1 = tr.root(t, pos.size2+1)
				}
				in.root1, in.root2 = in.root2, in.root1
			})
			mut("size2 max", func(in *inputs) { in.size2 = ^uint64(0) })
			for _, d := range []uint64{1, 2} {
				// The other size's real root, with this proof.
				if pos.size1 > d {
					mut(fmt.Sprintf("size1 minus %d", d), func(in *inputs) { in.size1 -= d; in.root1 = tr.root(t, in.size1) })
				}
				if pos.size1+d <= pos.size2 {
					mut(fmt.Sprintf("size1 plus %d", d), func(in *inputs) { in.size1 += d; in.root1 = tr.root(t, in.size1) })
				}
				if pos.size2 >= pos.size1+d {
					mut(fmt.Sprintf("size2 minus %d", d), func(in *inputs) { in.size2 -= d; in.root2 = tr.root(t, in.size2) })
				}
				mut(fmt.Sprintf("size2 plus %d", d), func(in *inputs) { in.size2 += d; in.root2 = tr.root(t, in.size2) })
				// The right size with the other size's root.
				mut(fmt.Sprintf("root2 of size2 plus %d", d), func(in *inputs) { in.root2 = tr.root(t, in.size2+d) })
			}
		}
		for _, m := range muts {
			if sameProof(m.in.proof, good.proof) && m.in.size1 == good.size1 && m.in.size2 == good.size2 &&
				bytes.Equal(m.in.root1, good.root1) && bytes.Equal(m.in.root2, good.root2) {
				t.Fatalf("mutation %q changed nothing", m.name)
			}
			t.Run(fmt.Sprintf("%d to %d/%s", pos.size1, pos.size2, m.name), func(t *testing.T) {
				err := verify.Consistency(m.in.size1, m.in.size2, m.in.proof, m.in.root1, m.in.root2)
				if !errors.Is(err, verify.ErrConsistency) {
					t.Fatalf("Consistency = %v, want ErrConsistency", err)
				}
				if errors.Is(err, verify.ErrInclusion) {
					t.Fatalf("Consistency error %v also wraps ErrInclusion", err)
				}
			})
		}
	}
}

// seededReader is a deterministic source of key material, so that fuzz
// seeds signed with it stay valid from run to run.
