package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"math/bits"
	"strconv"

	"github.com/nuxari/nuxari/internal/strictjson"
)

// hashSize is the size of every hash of the log (SHA-256).
const hashSize = sha256.Size

// split returns the size of the left subtree of a tree of n > 1 leaves:
// the largest power of two below n (RFC 9162, section 2.1.1).
func split(n uint64) uint64 {
	return 1 << (bits.Len64(n-1) - 1)
}

// hashChildren is the RFC 6962 interior node hash SHA-256(0x01 || l || r).
func hashChildren(l, r *[hashSize]byte) [hashSize]byte {
	var b [1 + 2*hashSize]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[1+hashSize:], r[:])
	return sha256.Sum256(b[:])
}

// Nodes returns the multiproof of the selected leaves in a tree of n
// leaves: the hashes of the maximal subtrees of the RFC 6962 recursion over
// [0, n) that contain no selected leaf, in left-to-right order.
//
// selected MUST yield strictly increasing indices below n; it is consumed
// once, as a stream. hash MUST return the RFC 6962 hash of the leaves
// [lo, hi), always a subtree of the recursion; it is called once per node,
// in order. Nodes takes O(k log n) time for k selected leaves and memory
// O(log n) beyond its result.
func Nodes(n uint64, selected iter.Seq[uint64], hash func(lo, hi uint64) ([]byte, error)) ([]Node, error) {
	var out []Node
	err := eachNode(n, selected, func(lo, hi uint64) error {
		h, err := hash(lo, hi)
		if err != nil {
			return fmt.Errorf("subtree [%d, %d): %w", lo, hi, err)
		}
		if len(h) != hashSize {
			return fmt.Errorf("subtree [%d, %d): hash is %d bytes, want %d", lo, hi, len(h), hashSize)
		}
		out = append(out, Node{Start: lo, End: hi, Hash: h})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachNode calls emit for each node of the multiproof, in order. The nodes
// between two consecutive selected leaves (or a selected leaf and an end of
// the tree) are the maximal subtrees inside the gap between them: the
// parent of such a subtree reaches past the gap, so it holds a selected
// leaf.
func eachNode(n uint64, selected iter.Seq[uint64], emit func(lo, hi uint64) error) error {
	next := uint64(0) // first leaf not yet covered
	first := true
	for i := range selected {
		if i >= n {
			return fmt.Errorf("%w: index %d is not below the tree size %d", ErrSelection, i, n)
		}
		if !first && i < next {
			return fmt.Errorf("%w: index %d follows index %d", ErrSelection, i, next-1)
		}
		first = false
		if err := gap(0, n, next, i, emit); err != nil {
			return err
		}
		next = i + 1
	}
	return gap(0, n, next, n, emit)
}

// gap emits the maximal subtrees of [lo, hi) inside [a, b), left to right.
func gap(lo, hi, a, b uint64, emit func(lo, hi uint64) error) error {
	if b <= lo || hi <= a || a >= b {
		return nil
	}
	if a <= lo && hi <= b {
		return emit(lo, hi)
	}
	k := split(hi - lo)
	if err := gap(lo, lo+k, a, b, emit); err != nil {
		return err
	}
	return gap(lo+k, hi, a, b, emit)
}

// leafSource yields the leaf hashes of a multiproof in index order.
type leafSource interface {
	// peek returns the index of the next leaf, ok false when there is none.
	// An error stops the proof.
	peek() (index uint64, ok bool, err error)
	// take consumes the peeked leaf and returns its hash.
	take() [hashSize]byte
}

// nodeSource yields the nodes of a multiproof in order; io.EOF when there
// are no more.
type nodeSource interface {
	next() (Node, error)
}

// proofError is a multiproof that does not verify.
type proofError struct {
	node   int64 // the node at fault (0-based), or -1
	reason string
}

func (e *proofError) Error() string {
	if e.node >= 0 {
		return fmt.Sprintf("node %d: %s", e.node, e.reason)
	}
	return e.reason
}

func (e *proofError) Unwrap() error { return ErrProof }

// multiproof recomputes a root from a leaf stream and a node stream.
type multiproof struct {
	leaves leafSource
	nodes  nodeSource
	used   int64 // nodes consumed
}

// root returns the root of the tree of n leaves. It fails on any missing,
// extra or misplaced node; the caller checks that the leaf stream has
// ended.
func (m *multiproof) root(n uint64) ([hashSize]byte, error) {
	var r [hashSize]byte
	if n == 0 {
		r = sha256.Sum256(nil)
	} else {
		var err error
		if r, err = m.sub(0, n); err != nil {
			return r, err
		}
	}
	switch nd, err := m.nodes.next(); {
	case err == io.EOF:
		return r, nil
	case err != nil:
		return r, err
	default:
		return r, &proofError{m.used, fmt.Sprintf("extra node [%d, %d) after the whole tree is covered", nd.Start, nd.End)}
	}
}

func (m *multiproof) sub(lo, hi uint64) ([hashSize]byte, error) {
	idx, ok, err := m.leaves.peek()
	if err != nil {
		return [hashSize]byte{}, err
	}
	if !ok || idx >= hi {
		return m.node(lo, hi)
	}
	if idx < lo {
		return [hashSize]byte{}, &proofError{-1, fmt.Sprintf("leaf index %d out of order", idx)}
	}
	if hi-lo == 1 {
		return m.leaves.take(), nil
	}
	k := split(hi - lo)
	l, err := m.sub(lo, lo+k)
	if err != nil {
		return l, err
	}
	r, err := m.sub(lo+k, hi)
	if err != nil {
		return r, err
	}
	return hashChildren(&l, &r), nil
}

// node takes the next node, which must be exactly [lo, hi).
func (m *multiproof) node(lo, hi uint64) ([hashSize]byte, error) {
	var h [hashSize]byte
	nd, err := m.nodes.next()
	if err == io.EOF {
		return h, &proofError{m.used, fmt.Sprintf("missing: the proof ends where a node for [%d, %d) is needed", lo, hi)}
	}
	if err != nil {
		return h, err
	}
	defer func() { m.used++ }()
	if nd.Start != lo || nd.End != hi {
		return h, &proofError{m.used, fmt.Sprintf("covers [%d, %d), but the next subtree without selected events is [%d, %d): events were added or removed, or the node is wrong", nd.Start, nd.End, lo, hi)}
	}
	if len(nd.Hash) != hashSize {
		return h, &proofError{m.used, fmt.Sprintf("hash is %d bytes, want %d", len(nd.Hash), hashSize)}
	}
	copy(h[:], nd.Hash)
	return h, nil
}

// Root recomputes the root of a tree of n leaves from the leaf hashes of
// the selected leaves, yielded as (index, hash) in strictly increasing
// index order, and their multiproof nodes. It fails, wrapping [ErrProof],
// on any missing, extra or misplaced node or leaf. The caller compares the
// result with the checkpoint's root.
func Root(n uint64, leaves iter.Seq2[uint64, []byte], nodes []Node) ([]byte, error) {
	next, stop := iter.Pull2(leaves)
	defer stop()
	ls := &pulledLeaves{next: next, n: n}
	m := &multiproof{leaves: ls, nodes: &sliceNodes{nodes: nodes}}
	r, err := m.root(n)
	if err != nil {
		return nil, err
	}
	if _, ok, err := ls.peek(); err != nil {
		return nil, err
	} else if ok {
		return nil, &proofError{-1, "leaf beyond the tree"}
	}
	return r[:], nil
}

type pulledLeaves struct {
	next   func() (uint64, []byte, bool)
	n      uint64
	have   bool
	idx    uint64
	hash   [hashSize]byte
	count  uint64
	last   uint64
	failed error
}

func (p *pulledLeaves) peek() (uint64, bool, error) {
	if p.failed != nil {
		return 0, false, p.failed
	}
	if p.have {
		return p.idx, true, nil
	}
	i, h, ok := p.next()
	if !ok {
		return 0, false, nil
	}
	switch {
	case i >= p.n:
		p.failed = &proofError{-1, fmt.Sprintf("leaf index %d is not below the tree size %d", i, p.n)}
	case p.count > 0 && i <= p.last:
		p.failed = &proofError{-1, fmt.Sprintf("leaf index %d follows index %d", i, p.last)}
	case len(h) != hashSize:
		p.failed = &proofError{-1, fmt.Sprintf("leaf %d: hash is %d bytes, want %d", i, len(h), hashSize)}
	}
	if p.failed != nil {
		return 0, false, p.failed
	}
	p.have, p.idx, p.last = true, i, i
	p.count++
	copy(p.hash[:], h)
	return i, true, nil
}

func (p *pulledLeaves) take() [hashSize]byte {
	p.have = false
	return p.hash
}

type sliceNodes struct {
	nodes []Node
	i     int
}

func (s *sliceNodes) next() (Node, error) {
	if s.i == len(s.nodes) {
		return Node{}, io.EOF
	}
	s.i++
	return s.nodes[s.i-1], nil
}

// isProofError reports whether err is a multiproof failure rather than a
// failure of the leaf or node stream.
func isProofError(err error) (*proofError, bool) {
	var pe *proofError
	ok := errors.As(err, &pe)
	return pe, ok
}

// proofReader streams the nodes of proof.json:
// {"tree_size":N,"nodes":[{"start":a,"end":b,"hash":"<base64>"},...]},
// members in exactly this order, read by strictjson's rules.
type proofReader struct {
	dec      *strictjson.Decoder
	r        io.Reader
	h        hash.Hash
	wantSHA  string
	treeSize uint64
	started  bool
	ended    bool
	count    int64
}

func newProofReader(r io.Reader, treeSize uint64, wantSHA string) *proofReader {
	h := sha256.New()
	tr := io.TeeReader(r, h)
	return &proofReader{dec: strictjson.NewDecoder(tr), r: tr, h: h, wantSHA: wantSHA, treeSize: treeSize}
}

func (p *proofReader) fail(err error) *Failure {
	f := failf(CheckProof, FileProof, "malformed: %v", err)
	f.Err = err
	return f
}

func (p *proofReader) start() error {
	if err := p.dec.Delim("", '{'); err != nil {
		return p.fail(err)
	}
	if err := p.dec.Key("", "tree_size"); err != nil {
		return p.fail(err)
	}
	n, err := p.dec.Uint("tree_size")
	if err != nil {
		return p.fail(err)
	}
	if n != p.treeSize {
		return failf(CheckProof, FileProof, "tree_size %d, manifest.json gives %d", n, p.treeSize)
	}
	if err := p.dec.Key("", "nodes", "tree_size"); err != nil {
		return p.fail(err)
	}
	if err := p.dec.Delim("nodes", '['); err != nil {
		return p.fail(err)
	}
	return nil
}

func (p *proofReader) end() error {
	p.ended = true
	if err := p.dec.Delim("nodes", ']'); err != nil {
		return p.fail(err)
	}
	if err := p.dec.EndObject("", "tree_size", "nodes"); err != nil {
		return p.fail(err)
	}
	if err := p.dec.End(); err != nil {
		return p.fail(err)
	}
	if _, err := io.Copy(io.Discard, p.r); err != nil {
		return failf(CheckProof, FileProof, "unreadable: %v", err)
	}
	if hex.EncodeToString(p.h.Sum(nil)) != p.wantSHA {
		return failf(CheckProof, FileProof, "the file changed while it was verified")
	}
	return io.EOF
}

func (p *proofReader) next() (Node, error) {
	if p.ended {
		return Node{}, io.EOF
	}
	if !p.started {
		p.started = true
		if err := p.start(); err != nil {
			return Node{}, err
		}
	}
	if !p.dec.More() {
		return Node{}, p.end()
	}
	path := "nodes[" + strconv.FormatInt(p.count, 10) + "]"
	var nd Node
	err := p.dec.Delim(path, '{')
	if err == nil {
		err = p.dec.Key(path, "start")
	}
	if err == nil {
		nd.Start, err = p.dec.Uint(path + ".start")
	}
	if err == nil {
		err = p.dec.Key(path, "end", "start")
	}
	if err == nil {
		nd.End, err = p.dec.Uint(path + ".end")
	}
	if err == nil {
		err = p.dec.Key(path, "hash", "start", "end")
	}
	if err == nil {
		nd.Hash, err = p.dec.Bytes(path + ".hash")
	}
	if err == nil {
		err = p.dec.EndObject(path, "start", "end", "hash")
	}
	if err != nil {
		return Node{}, p.fail(err)
	}
	p.count++
	return nd, nil
}
