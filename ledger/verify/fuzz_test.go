package verify_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/ledger/verify"
	"golang.org/x/mod/sumdb/note"
)

// fuzzTreeSize is the size of the real tree the proof fuzzers check
// against: not a power of two, so the tree has a ragged right edge.
const fuzzTreeSize = 77

// join concatenates proof nodes into the fuzzers' byte form.
func join(p [][]byte) []byte {
	return bytes.Join(p, nil)
}

// split cuts b into 32-byte nodes; a shorter remainder is a last, short
// node.
func split(b []byte) [][]byte {
	var p [][]byte
	for len(b) > 0 {
		n := min(len(b), verify.HashSize)
		p = append(p, b[:n:n])
		b = b[n:]
	}
	return p
}

// fuzzRoots returns the roots of every prefix of tr (index 0 is the empty
// tree's root) and a hash that is no tree's root.
func fuzzRoots(tb testing.TB, tr *tree) (roots [][]byte, bogus []byte) {
	roots = make([][]byte, len(tr.leaves)+1)
	for s := range roots {
		roots[s] = tr.root(tb, uint64(s))
	}
	if empty := sha256.Sum256(nil); !bytes.Equal(roots[0], empty[:]) {
		tb.Fatalf("empty root %x, want %x", roots[0], empty)
	}
	return roots, sha256Of([]byte("not a root"))
}

func FuzzInclusion(f *testing.F) {
	tr := newTree(f, fuzzTreeSize)
	roots, bogus := fuzzRoots(f, tr)
	for _, c := range []struct{ index, size uint64 }{{0, 1}, {0, 2}, {1, 2}, {2, 3}, {5, 8}, {64, 65}, {70, 77}, {76, 77}, {0, 64}} {
		p := join(tr.inclusion(f, c.index, c.size))
		f.Add(c.index, c.size, c.index, p, false)
		f.Add(c.index, c.size, c.index, p, true)
		f.Add(c.index, c.size, c.index+1, p, false)
		f.Add(c.index+1, c.size, c.index+1, p, false)
		f.Add(c.index, c.size+1, c.index, p, false)
		f.Add(c.index, c.size-1, c.index, p, false)
		f.Add(c.index, c.size, c.index, append(p, 0), false)
		f.Add(c.index, c.size, c.index, append(p, roots[1]...), false)
		if len(p) > 0 {
			f.Add(c.index, c.size, c.index, p[:len(p)-1], false)
			f.Add(c.index, c.size, c.index, p[:len(p)-32], false)
			q := bytes.Clone(p)
			q[len(q)/2] ^= 0x10
			f.Add(c.index, c.size, c.index, q, false)
		}
	}
	f.Add(uint64(0), uint64(0), uint64(0), []byte(nil), false)
	f.Add(^uint64(0), ^uint64(0), uint64(0), []byte(nil), false)
	f.Add(uint64(1)<<63, uint64(1)<<63+1, uint64(0), make([]byte, 63*32), false)

	f.Fuzz(func(t *testing.T, index, size, leafSel uint64, proofBytes []byte, flipRoot bool) {
		// The leaf hash is a real leaf's, or no leaf's.
		leafHash := sha256Of([]byte("not a leaf"))
		if leafSel < fuzzTreeSize {
			leafHash = tr.leafHash(leafSel)
		}
		root := bogus
		if size >= 1 && size <= fuzzTreeSize {
			root = roots[size]
		}
		if flipRoot {
			root = flip(root, 0)
		}
		p := split(proofBytes)
		err := verify.Inclusion(leafHash, index, size, p, root)

		want := !flipRoot && leafSel == index && index < size && size <= fuzzTreeSize &&
			sameProof(p, tr.inclusion(t, index, size))
		if (err == nil) != want {
			t.Fatalf("Inclusion(leaf %d, index %d, size %d, %d nodes, flipped root %v) = %v; want accepted: %v",
				leafSel, index, size, len(p), flipRoot, err, want)
		}
		if err != nil && !wrapsOnly(err, verify.ErrInclusion) {
			t.Fatalf("error %v does not wrap exactly ErrInclusion", err)
		}
	})
}

func FuzzConsistency(f *testing.F) {
	tr := newTree(f, fuzzTreeSize)
	roots, bogus := fuzzRoots(f, tr)
	for _, c := range []struct{ size1, size2 uint64 }{{0, 0}, {0, 5}, {1, 1}, {1, 2}, {2, 3}, {3, 7}, {4, 8}, {7, 8}, {8, 9}, {31, 77}, {64, 77}, {76, 77}, {77, 77}} {
		p := join(tr.consistency(f, c.size1, c.size2))
		for _, tamper := range []uint8{0, 1, 2, 3} {
			f.Add(c.size1, c.size2, p, tamper)
		}
		f.Add(c.size2, c.size1, p, uint8(0))
		f.Add(c.size1+1, c.size2, p, uint8(0))
		f.Add(c.size1, c.size2+1, p, uint8(0))
		f.Add(c.size1, c.size2, append(p, 0), uint8(0))
		f.Add(c.size1, c.size2, append(p, roots[1]...), uint8(0))
		if len(p) > 0 {
			f.Add(c.size1, c.size2, p[:len(p)-1], uint8(0))
			f.Add(c.size1, c.size2, p[32:], uint8(0))
			q := bytes.Clone(p)
			q[len(q)/3] ^= 0x01
			f.Add(c.size1, c.size2, q, uint8(0))
		}
	}
	f.Add(^uint64(0), ^uint64(0), []byte(nil), uint8(0))
	f.Add(uint64(1)<<62, uint64(1)<<63+5, make([]byte, 64*32), uint8(0))

	rootOf := func(size uint64) []byte {
		if size <= fuzzTreeSize {
			return roots[size]
		}
		return bogus
	}
	f.Fuzz(func(t *testing.T, size1, size2 uint64, proofBytes []byte, tamper uint8) {
		root1, root2 := rootOf(size1), rootOf(size2)
		if tamper&1 != 0 {
			root1 = flip(root1, 0)
		}
		if tamper&2 != 0 {
			root2 = flip(root2, 0)
		}
		p := split(proofBytes)
		err := verify.Consistency(size1, size2, p, root1, root2)

		var want bool
		switch {
		case size1 > size2:
			want = false
		case size1 == 0:
			// Every tree extends the empty tree, which has one root.
			want = len(p) == 0 && bytes.Equal(root1, roots[0]) && (size2 > 0 || bytes.Equal(root2, root1))
		case size1 == size2:
			want = len(p) == 0 && bytes.Equal(root1, root2)
		default:
			want = size2 <= fuzzTreeSize && tamper&3 == 0 && sameProof(p, tr.consistency(t, size1, size2))
		}
		if (err == nil) != want {
			t.Fatalf("Consistency(%d, %d, %d nodes, tamper %d) = %v; want accepted: %v", size1, size2, len(p), tamper, err, want)
		}
		if err != nil && !wrapsOnly(err, verify.ErrConsistency) {
			t.Fatalf("error %v does not wrap exactly ErrConsistency", err)
		}
	})
}

func FuzzCheckpoint(f *testing.F) {
	key := newLogKey(f, 1, "nuxari-test")
	other := newLogKey(f, 2, "other-log")
	sameName := newLogKey(f, 3, "nuxari-test")
	witness := newLogKey(f, 4, "witness.example")
	v, err := verify.NewVerifier(key.vkey, testOrigin)
	if err != nil {
		f.Fatal(err)
	}
	nv, err := note.NewVerifier(key.vkey)
	if err != nil {
		f.Fatal(err)
	}
	tr := newTree(f, 10)
	root := tr.root(f, 10)
	b64 := base64.StdEncoding.EncodeToString(root)
	valid := checkpointText(testOrigin, 10, root)
	signed := signText(f, valid, key.signer)
	for _, b := range [][]byte{
		signed,
		signText(f, valid, key.signer, witness.signer),
		signText(f, valid, witness.signer, key.signer),
		signText(f, valid, other.signer),
		signText(f, valid, sameName.signer),
		signText(f, checkpointText(testOrigin, 0, tr.root(f, 0)), key.signer),
		signText(f, checkpointText(testOrigin, 0, root), key.signer),
		signText(f, checkpointText("nuxari-test/orgs/other", 10, root), key.signer),
		signText(f, valid+"ext\n", key.signer),
		signText(f, checkpointText(testOrigin, 10, root[:31]), key.signer),
		signText(f, testOrigin+"\nten\n"+b64+"\n", key.signer),
		signText(f, testOrigin+"\n010\n"+b64+"\n", key.signer),
		signText(f, testOrigin+"\n10\n"+b64[:len(b64)-1]+"\n", key.signer),
		bytes.Replace(signed, []byte("\n10\n"), []byte("\n11\n"), 1),
		flipSignature(f, signed),
		[]byte(valid),
		nil,
	} {
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := v.Checkpoint(b)
		if err != nil {
			if !wrapsOnly(err, verify.ErrSignature) && !wrapsOnly(err, verify.ErrCheckpoint) && !wrapsOnly(err, verify.ErrOrigin) {
				t.Fatalf("error %v wraps no single checkpoint error", err)
			}
			if errors.Is(err, verify.ErrOrigin) {
				// An origin mismatch is reported only for a well-signed note.
				if _, err := note.Open(b, note.VerifierList(nv)); err != nil {
					t.Fatalf("origin checked on a note that does not verify: %v", err)
				}
			}
			return
		}
		// Accepted: the note must really carry the pinned key's signature,
		// and the result must be exactly what the signed text says.
		n, err := note.Open(b, note.VerifierList(nv))
		if err != nil {
			t.Fatalf("Checkpoint accepted a note that note.Open rejects: %v", err)
		}
		signedByKey := false
		for _, s := range n.Sigs {
			if s.Name == nv.Name() && s.Hash == nv.KeyHash() {
				signedByKey = true
			}
		}
		if !signedByKey {
			t.Fatal("Checkpoint accepted a note without the pinned key's signature")
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) != 4 || lines[3] != "" {
			t.Fatalf("accepted checkpoint text %q does not have exactly three lines", n.Text)
		}
		if lines[0] != testOrigin || cp.Origin != testOrigin {
			t.Fatalf("accepted origin %q (text %q), want %q", cp.Origin, lines[0], testOrigin)
		}
		size, err := strconv.ParseUint(lines[1], 10, 64)
		if err != nil || size != cp.Size {
			t.Fatalf("accepted size %d, text says %q", cp.Size, lines[1])
		}
		r, err := base64.StdEncoding.DecodeString(lines[2])
		if err != nil || !bytes.Equal(r, cp.Root) || len(cp.Root) != verify.HashSize {
			t.Fatalf("accepted root %x, text says %q", cp.Root, lines[2])
		}
		if cp.Size == 0 && !bytes.Equal(cp.Root, tr.root(t, 0)) {
			t.Fatalf("accepted empty tree with root %x", cp.Root)
		}
		if !bytes.Equal(cp.Note, b) {
			t.Fatal("Checkpoint.Note is not the input")
		}
	})
}
