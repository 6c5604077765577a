package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger/storage"
)

// Leaf is one stored leaf.
type Leaf struct {
	Index uint64
	// Hash is the RFC 6962 leaf hash.
	Hash []byte
	// Bytes are the leaf bytes, verbatim; nil once purged.
	Bytes []byte
}

// Size returns the durable tree size of the org's log.
func (h *Org) Size() (uint64, error) {
	o, err := h.info()
	if err != nil {
		return 0, err
	}
	return o.size.Load(), nil
}

// Checkpoint returns the latest checkpoint of the org's log.
func (h *Org) Checkpoint(ctx context.Context) (Checkpoint, error) {
	o, err := h.info()
	if err != nil {
		return Checkpoint{}, err
	}
	cp := o.cp.Load()
	if cp == nil {
		return Checkpoint{}, fmt.Errorf("%w: org %q has no checkpoint yet", ErrNotFound, h.id)
	}
	if err := h.l.handOut(o, cp); err != nil {
		return Checkpoint{}, err
	}
	return *cp, nil
}

// CheckpointAt returns the checkpoint issued for the org's log at exactly
// the given size.
func (h *Org) CheckpointAt(ctx context.Context, size uint64) (Checkpoint, error) {
	o, err := h.info()
	if err != nil {
		return Checkpoint{}, err
	}
	if size > o.size.Load() {
		return Checkpoint{}, fmt.Errorf("%w: size %d, log size %d", ErrSizeOutOfRange, size, o.size.Load())
	}
	// Read and marked as handed out under the lock that thinning takes.
	h.l.cpMu.RLock()
	defer h.l.cpMu.RUnlock()
	v, err := h.l.db.Get(o.keys.checkpoint(size))
	if err == storage.ErrNotFound {
		return Checkpoint{}, fmt.Errorf("%w: no checkpoint at size %d", ErrNotFound, size)
	}
	if err != nil {
		return Checkpoint{}, err
	}
	cp, err := o.verifier.Checkpoint(v)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := h.l.handOutLocked(o, &cp); err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}

// CheckpointSizes calls fn with the size of every checkpoint issued for
// the org's log, in increasing order, until fn returns false.
func (h *Org) CheckpointSizes(ctx context.Context, fn func(size uint64) bool) error {
	o, err := h.info()
	if err != nil {
		return err
	}
	lo, hi := o.keys.span(kindCheckpoint)
	it, err := h.l.db.NewIter(ctx, lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if !fn(binary.BigEndian.Uint64(it.Key()[len(lo):])) {
			break
		}
	}
	return it.Error()
}

// InclusionProof returns the proof that leaf index is in the tree of the
// given size, built from the stored hash tiles.
func (h *Org) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	o, err := h.info()
	if err != nil {
		return nil, err
	}
	if size > o.size.Load() {
		return nil, fmt.Errorf("%w: size %d, log size %d", ErrSizeOutOfRange, size, o.size.Load())
	}
	if index >= size {
		return nil, fmt.Errorf("%w: index %d, tree size %d", ErrIndexOutOfRange, index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRange, err)
	}
	return h.l.fetch(o, size, nodes)
}

// ConsistencyProof returns the proof that the tree of size2 extends the
// tree of size1, built from the stored hash tiles.
func (h *Org) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	o, err := h.info()
	if err != nil {
		return nil, err
	}
	if size1 > size2 {
		return nil, fmt.Errorf("%w: size1 %d > size2 %d", ErrInvalidRange, size1, size2)
	}
	if size2 > o.size.Load() {
		return nil, fmt.Errorf("%w: size %d, log size %d", ErrSizeOutOfRange, size2, o.size.Load())
	}
	return h.l.consistency(o, size1, size2)
}

func (l *Ledger) consistency(o *orgInfo, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRange, err)
	}
	return l.fetch(o, size2, nodes)
}

// Leaf returns leaf index of the org's log. A purged leaf is returned with
// its hash and no bytes, together with ErrPurged.
func (h *Org) Leaf(ctx context.Context, index uint64) (Leaf, error) {
	o, err := h.info()
	if err != nil {
		return Leaf{}, err
	}
	if size := o.size.Load(); index >= size {
		return Leaf{}, fmt.Errorf("%w: index %d, log size %d", ErrIndexOutOfRange, index, size)
	}
	v, err := h.l.db.Get(o.keys.leaf(index))
	if err != nil {
		if err == storage.ErrNotFound {
			return Leaf{}, o.corrupt("leaf %d missing", index)
		}
		return Leaf{}, err
	}
	return decodeLeaf(o, index, v)
}

func decodeLeaf(o *orgInfo, index uint64, v []byte) (Leaf, error) {
	h, ok := leafRecordHash(v)
	if !ok {
		return Leaf{}, o.corrupt("leaf %d malformed", index)
	}
	lf := Leaf{Index: index, Hash: h}
	if len(v) == purgedLen {
		return lf, fmt.Errorf("%w: leaf %d", ErrPurged, index)
	}
	lf.Bytes = append([]byte(nil), v...)
	return lf, nil
}

// Leaves calls fn for each leaf in [start, end) of the org's log, in order,
// streaming from storage, until fn returns an error (which Leaves
// returns). Purged leaves come with Bytes nil.
func (h *Org) Leaves(ctx context.Context, start, end uint64, fn func(Leaf) error) error {
	o, err := h.info()
	if err != nil {
		return err
	}
	if start > end {
		return fmt.Errorf("%w: start %d > end %d", ErrInvalidRange, start, end)
	}
	if size := o.size.Load(); end > size {
		return fmt.Errorf("%w: end %d, log size %d", ErrIndexOutOfRange, end, size)
	}
	if start == end {
		return nil
	}
	return h.l.scanLeafRecords(ctx, o, start, end, func(idx uint64, v []byte) error {
		lf, err := decodeLeaf(o, idx, v)
		if err != nil && lf.Hash == nil {
			return err
		}
		return fn(lf)
	})
}

// scanLeafRecords calls fn with each leaf record in [start, end) of o's
// log, in order, with one iterator, until fn returns an error (which it
// returns); v is valid during the call only. A missing record is
// corruption.
func (l *Ledger) scanLeafRecords(ctx context.Context, o *orgInfo, start, end uint64, fn func(index uint64, v []byte) error) error {
	it, err := l.db.NewIter(ctx, o.keys.leaf(start), o.keys.leaf(end))
	if err != nil {
		return err
	}
	defer it.Close()
	next := start
	for it.First(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		if idx != next {
			return o.corrupt("leaf %d missing", next)
		}
		v, err := it.Value()
		if err != nil {
			return err
		}
		if err := fn(idx, v); err != nil {
			return err
		}
		next++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if next != end {
		return o.corrupt("leaf %d missing", next)
	}
	return nil
}

// State returns the value of the org's governance state key, or
// ErrNotFound. State written by an Append is visible once it is applied,
// which may be just before it is durable.
func (h *Org) State(ctx context.Context, key []byte) ([]byte, error) {
	if err := validStateKey(key); err != nil {
		return nil, err
	}
	o, err := h.info()
	if err != nil {
		return nil, err
	}
	v, err := h.l.db.Get(o.keys.value(key))
	if err == storage.ErrNotFound {
		return nil, fmt.Errorf("%w: state key %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), v...), nil
}

// ScanState calls fn for each governance state key of the org with the
// given prefix, in key order, until fn returns an error (which ScanState
// returns). The slices are only valid during the call.
func (h *Org) ScanState(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	o, err := h.info()
	if err != nil {
		return err
	}
	lo := o.keys.value(prefix)
	hi := prefixEnd(lo)
	it, err := h.l.db.NewIter(ctx, lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	base := len(o.keys.value(nil))
	for it.First(); it.Valid(); it.Next() {
		v, err := it.Value()
		if err != nil {
			return err
		}
		if err := fn(it.Key()[base:], v); err != nil {
			return err
		}
	}
	return it.Error()
}

// SubtreeHash returns the RFC 6962 hash of the leaves [lo, hi) of the org's
// log, where [lo, hi) is a subtree of the RFC 6962 recursion (MTH splits a
// range at the largest power of two below its size): lo is a multiple of
// the smallest power of two not below hi-lo. It is built from stored node
// hashes, as proofs are.
func (h *Org) SubtreeHash(ctx context.Context, lo, hi uint64) ([]byte, error) {
	o, err := h.info()
	if err != nil {
		return nil, err
	}
	if lo >= hi {
		return nil, fmt.Errorf("%w: empty subtree [%d, %d)", ErrInvalidRange, lo, hi)
	}
	if size := o.size.Load(); hi > size {
		return nil, fmt.Errorf("%w: subtree end %d, log size %d", ErrSizeOutOfRange, hi, size)
	}
	if span := uint64(1) << bits.Len64(hi-lo-1); lo%span != 0 {
		return nil, fmt.Errorf("%w: [%d, %d) is not a subtree of the RFC 6962 recursion", ErrInvalidRange, lo, hi)
	}
	ids := compact.RangeNodes(lo, hi, nil)
	hashes, err := h.l.fetch(o, hi, proof.Nodes{IDs: ids})
	if err != nil {
		return nil, err
	}
	// The nodes are perfect subtrees of decreasing size, left to right:
	// MTH folds them from the right.
	root := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		root = rfc6962.DefaultHasher.HashChildren(hashes[i], root)
	}
	return root, nil
}
