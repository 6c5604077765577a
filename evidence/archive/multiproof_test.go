package archive_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nuxari/nuxari/evidence/archive"
	"golang.org/x/mod/sumdb/tlog"
)

// naiveNodes walks the whole tree: a subtree without a selected leaf is a
// node, any other is split (RFC 9162, section 2.1.1).
func naiveNodes(l *testLog, lo, hi uint64, sel map[uint64]bool, out *[]archive.Node) {
	has := false
	for i := lo; i < hi; i++ {
		has = has || sel[i]
	}
	if !has {
		h := l.subtree(lo, hi)
		*out = append(*out, archive.Node{Start: lo, End: hi, Hash: h[:]})
		return
	}
	if hi-lo == 1 {
		return
	}
	k := uint64(1)
	for k<<1 < hi-lo {
		k <<= 1
	}
	naiveNodes(l, lo, lo+k, sel, out)
	naiveNodes(l, lo+k, hi, sel, out)
}

// selections returns named selections of [0, n).
func selections(rng *rand.Rand, n uint64) map[string][]uint64 {
	out := map[string][]uint64{"empty": nil}
	all := make([]uint64, n)
	for i := range all {
		all[i] = uint64(i)
	}
	out["all"] = all
	out["first"] = []uint64{0}
	out["last"] = []uint64{n - 1}
	out["single"] = []uint64{rng.Uint64N(n)}
	a, b := rng.Uint64N(n), rng.Uint64N(n)
	if a > b {
		a, b = b, a
	}
	out["contiguous"] = all[a : b+1]
	for _, p := range []float64{0.05, 0.3, 0.8} {
		var s []uint64
		for i := range n {
			if rng.Float64() < p {
				s = append(s, i)
			}
		}
		out[fmt.Sprintf("sparse %.2f", p)] = s
	}
	return out
}

func treeSizes(rng *rand.Rand) []uint64 {
	var out []uint64
	for s := uint64(1); s <= 40; s++ {
		out = append(out, s)
	}
	for p := uint64(64); p <= 1024; p *= 2 {
		out = append(out, p-1, p, p+1)
	}
	for range 10 {
		out = append(out, 1+rng.Uint64N(1500))
	}
	return out
}

// leafSeq yields the (index, leaf hash) of the selected leaves.
func leafSeq(l *testLog, sel []uint64) iter.Seq2[uint64, []byte] {
	return func(yield func(uint64, []byte) bool) {
		for _, i := range sel {
			if !yield(i, l.hashes[i][:]) {
				return
			}
		}
	}
}

// tlogRoot is the root by golang.org/x/mod/sumdb/tlog.
func (l *testLog) tlogRoot(t *testing.T, n uint64) []byte {
	t.Helper()
	l.consistency(t, n, n) // builds the stored hashes
	h, err := tlog.TreeHash(int64(n), l)
	if err != nil {
		t.Fatal(err)
	}
	return h[:]
}

func TestNodesMatchNaiveTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := newTestLog(t, testOrg, 1500)
	cases := 0
	for _, n := range treeSizes(rng) {
		root := l.tlogRoot(t, n)
		for name, sel := range selections(rng, n) {
			set := map[uint64]bool{}
			for _, i := range sel {
				set[i] = true
			}
			var want []archive.Node
			naiveNodes(l, 0, n, set, &want)
			var asked [][2]uint64
			got, err := archive.Nodes(n, slices.Values(sel), func(lo, hi uint64) ([]byte, error) {
				asked = append(asked, [2]uint64{lo, hi})
				h := l.subtree(lo, hi)
				return h[:], nil
			})
			if err != nil {
				t.Fatalf("n=%d %s: %v", n, name, err)
			}
			if !slices.EqualFunc(got, want, func(a, b archive.Node) bool {
				return a.Start == b.Start && a.End == b.End && bytes.Equal(a.Hash, b.Hash)
			}) {
				t.Fatalf("n=%d %s (%d selected): got %d nodes %v, want %d nodes %v", n, name, len(sel), len(got), ranges(got), len(want), ranges(want))
			}
			if len(asked) != len(got) {
				t.Fatalf("n=%d %s: hash called %d times for %d nodes", n, name, len(asked), len(got))
			}
			r, err := archive.Root(n, leafSeq(l, sel), got)
			if err != nil {
				t.Fatalf("n=%d %s: Root: %v", n, name, err)
			}
			if !bytes.Equal(r, root) {
				t.Fatalf("n=%d %s: Root %x, tlog root %x", n, name, r, root)
			}
			cases++
		}
	}
	t.Logf("%d cases", cases)
}

func ranges(ns []archive.Node) string {
	var b []byte
	for _, n := range ns {
		b = fmt.Appendf(b, "[%d,%d)", n.Start, n.End)
	}
	return string(b)
}

func TestNodesEmptyTree(t *testing.T) {
	got, err := archive.Nodes(0, slices.Values([]uint64(nil)), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("Nodes(0) = %v, %v; want no nodes", got, err)
	}
	r, err := archive.Root(0, leafSeq(nil, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; hex.EncodeToString(r) != want {
		t.Fatalf("empty root %x, want %s", r, want)
	}
}

func TestNodesRejectsBadSelections(t *testing.T) {
	hash := func(lo, hi uint64) ([]byte, error) { return make([]byte, 32), nil }
	for _, c := range []struct {
		n   uint64
		sel []uint64
	}{
		{10, []uint64{3, 3}},
		{10, []uint64{4, 3}},
		{10, []uint64{10}},
		{10, []uint64{2, 11}},
		{0, []uint64{0}},
	} {
		if _, err := archive.Nodes(c.n, slices.Values(c.sel), hash); !errors.Is(err, archive.ErrSelection) {
			t.Errorf("Nodes(%d, %v) = %v, want ErrSelection", c.n, c.sel, err)
		}
	}
	boom := errors.New("boom")
	if _, err := archive.Nodes(10, slices.Values([]uint64{4}), func(lo, hi uint64) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("hash error: got %v", err)
	}
	if _, err := archive.Nodes(10, slices.Values([]uint64{4}), func(lo, hi uint64) ([]byte, error) { return make([]byte, 31), nil }); err == nil {
		t.Error("short hash accepted")
	}
}

// TestRootRejectsBadProofs: every change to a valid multiproof, its
// leaves or its tree size gives an error or another root.
func TestRootRejectsBadProofs(t *testing.T) {
	l := newTestLog(t, testOrg, 300)
	for _, c := range []struct {
		n   uint64
		sel []uint64
	}{
		{7, []uint64{2, 5}}, {1, []uint64{0}}, {2, []uint64{1}}, {300, []uint64{0, 1, 2, 77, 78, 200, 299}},
		{257, []uint64{128}}, {255, nil}, {64, []uint64{31, 32}},
	} {
		nodes, err := archive.Nodes(c.n, slices.Values(c.sel), func(lo, hi uint64) ([]byte, error) { h := l.subtree(lo, hi); return h[:], nil })
		if err != nil {
			t.Fatal(err)
		}
		root := l.root(c.n)
		type in struct {
			n     uint64
			sel   []uint64
			nodes []archive.Node
			hash  func(i uint64) []byte
		}
		good := in{c.n, c.sel, nodes, func(i uint64) []byte { return l.hashes[i][:] }}
		muts := map[string]in{}
		mut := func(name string, f func(m *in)) {
			m := good
			m.sel = slices.Clone(good.sel)
			m.nodes = slices.Clone(good.nodes)
			f(&m)
			muts[name] = m
		}
		for i := range nodes {
			mut(fmt.Sprintf("node %d dropped", i), func(m *in) { m.nodes = slices.Delete(m.nodes, i, i+1) })
			mut(fmt.Sprintf("node %d duplicated", i), func(m *in) { m.nodes = slices.Insert(m.nodes, i, m.nodes[i]) })
			mut(fmt.Sprintf("node %d hash flipped", i), func(m *in) {
				h := bytes.Clone(m.nodes[i].Hash)
				h[5] ^= 1
				m.nodes[i].Hash = h
			})
			mut(fmt.Sprintf("node %d hash short", i), func(m *in) { m.nodes[i].Hash = m.nodes[i].Hash[:31] })
			mut(fmt.Sprintf("node %d start moved", i), func(m *in) { m.nodes[i].Start++ })
			mut(fmt.Sprintf("node %d end moved", i), func(m *in) { m.nodes[i].End-- })
			if i > 0 {
				mut(fmt.Sprintf("nodes %d and %d swapped", i-1, i), func(m *in) { m.nodes[i-1], m.nodes[i] = m.nodes[i], m.nodes[i-1] })
			}
		}
		mut("extra node", func(m *in) { m.nodes = append(m.nodes, archive.Node{Start: 0, End: 1, Hash: l.hashes[0][:]}) })
		for j := range c.sel {
			mut(fmt.Sprintf("leaf %d dropped", j), func(m *in) { m.sel = slices.Delete(m.sel, j, j+1) })
			mut(fmt.Sprintf("leaf %d duplicated", j), func(m *in) { m.sel = slices.Insert(m.sel, j, m.sel[j]) })
			mut(fmt.Sprintf("leaf %d hash changed", j), func(m *in) {
				x := m.sel[j]
				m.hash = func(i uint64) []byte {
					if i == x {
						return l.hashes[(i+1)%300][:]
					}
					return l.hashes[i][:]
				}
			})
			if j > 0 {
				mut(fmt.Sprintf("leaves %d and %d swapped", j-1, j), func(m *in) { m.sel[j-1], m.sel[j] = m.sel[j], m.sel[j-1] })
			}
		}
		mut("leaf added", func(m *in) {
			for i := range c.n {
				if !slices.Contains(m.sel, i) {
					m.sel = append(m.sel, i)
					slices.Sort(m.sel)
					return
				}
			}
			m.sel = append(m.sel, c.n) // every leaf selected: one past the end
		})
		mut("leaf beyond the tree", func(m *in) { m.sel = append(m.sel, c.n) })
		mut("tree one larger", func(m *in) { m.n++ })
		if c.n > 1 {
			mut("tree one smaller", func(m *in) { m.n-- })
		}
		for name, m := range muts {
			t.Run(fmt.Sprintf("n=%d/%s", c.n, name), func(t *testing.T) {
				leaves := func(yield func(uint64, []byte) bool) {
					for _, i := range m.sel {
						h := make([]byte, 32)
						if i < 300 {
							h = m.hash(i)
						}
						if !yield(i, h) {
							return
						}
					}
				}
				r, err := archive.Root(m.n, leaves, m.nodes)
				if err == nil && bytes.Equal(r, root) {
					t.Fatal("accepted")
				}
				if err != nil && !errors.Is(err, archive.ErrProof) {
					t.Fatalf("error %v does not wrap ErrProof", err)
				}
			})
		}
	}
}

// The worked example of docs/evidence-package.md: N = 7, leaves 2 and 5
// selected, leaves syntheticLeaf("acme", i). Hashes are base64, as in
// proof.json.
const (
	exampleLeaf2 = `{"event":{"actor":"user-2","resource":"db/prod/table-2","subject":"user:2","type":"login"},"idempotency_key":"req-2","index":2,"org":"acme","time":"2026-03-01T12:00:00.002000000Z"}`
	exampleLeaf5 = `{"event":{"actor":"user-5","resource":"db/prod/table-5","subject":"user:0","type":"login"},"index":5,"org":"acme","time":"2026-03-01T12:00:00.005000000Z"}`
)

var exampleHashes = map[string]string{
	"leaf 2": "dFenxNlh+pdupGu6eMSTR8NKS2XAh8ftJWAOTWAM7G8=",
	"leaf 5": "JkVB4BXT8gFpXksR58S7ClZJauy0o1vLRCLf0y7idB0=",
	"[0,2)":  "+G9VX6lo9Tw4AU6wy1aEKA5izZOqGFiQMAxbLRF3HeE=",
	"[3,4)":  "6ZV9+XLkqxDlLmlXryRMNu21TP5hoQSbbyaZIm/7+Fc=",
	"[4,5)":  "mhmfRXM1E9/rqDqm2UJ8eI3CMW0JvpfpVKQYK+kq6bM=",
	"[6,7)":  "MZmHyzr37wHlOwRkYXyi9HfmqkYeilku3+C5WxNmmv8=",
	"[2,4)":  "s9sst0Ffu/DcxAs943Z3tkGK7MZgueXXoUNtAvf2lhM=",
	"[0,4)":  "sXntYU6ZXpeLMXQjoAw2S9DQ/vK9KvKiYZdKVnnlJzw=",
	"[4,6)":  "27L9Kh7j24d5Cbuc9GhXJqwhIHmi48b1z6RAjYOsarY=",
	"[4,7)":  "sEA28q7Q9RedFmJrjGDKUMCevR34ao3jO0TPnoQHLGo=",
	"root":   "ckpweWQ+BAh9BGdwwxhFor9VHHyxPcjpzdmQxQcfC6M=",
}

func TestWorkedExample(t *testing.T) {
	l := newTestLog(t, testOrg, 7)
	if string(l.leaves[2]) != exampleLeaf2 || string(l.leaves[5]) != exampleLeaf5 {
		t.Fatalf("leaves changed:\n%s\n%s", l.leaves[2], l.leaves[5])
	}
	nodes, err := archive.Nodes(7, slices.Values([]uint64{2, 5}), func(lo, hi uint64) ([]byte, error) { h := l.subtree(lo, hi); return h[:], nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := ranges(nodes); got != "[0,2)[3,4)[4,5)[6,7)" {
		t.Fatalf("nodes %s", got)
	}
	r, err := archive.Root(7, leafSeq(l, []uint64{2, 5}), nodes)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	got := map[string]string{"leaf 2": b64(l.hashes[2][:]), "leaf 5": b64(l.hashes[5][:]), "root": b64(r)}
	for _, n := range nodes {
		got[fmt.Sprintf("[%d,%d)", n.Start, n.End)] = b64(n.Hash)
	}
	for _, s := range [][2]uint64{{2, 4}, {0, 4}, {4, 6}, {4, 7}} {
		h := l.subtree(s[0], s[1])
		got[fmt.Sprintf("[%d,%d)", s[0], s[1])] = b64(h[:])
	}
	if !bytes.Equal(r, l.tlogRoot(t, 7)) {
		t.Fatalf("root %x is not the tlog root", r)
	}
	for k, want := range exampleHashes {
		if got[k] != want {
			t.Errorf("%s: %s, the document says %s", k, got[k], want)
		}
	}
}
