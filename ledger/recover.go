package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/storage"
	"github.com/nuxari/nuxari/ledger/verify"
)

// recover finds every org at Open from the org directory (two scans of
// small records), or, in a ledger written before the directory, by
// walking the orgs' key spaces, reading each org's tree state and newest
// checkpoint key, and then writing the directory. An org's stored tree is
// verified on its first use (ensure). Verified at once are the first org
// (so that a log key that is not the one its checkpoints were signed with
// stops Open) and every org whose entries no checkpoint covers yet (the
// signer must sign it). A malformed record, or a tree verified at Open
// that does not verify, stops Open with a *CorruptionError.
func (l *Ledger) recover() error {
	layout, err := l.layout()
	if err != nil {
		return err
	}
	empty, err := l.empty()
	if err != nil {
		return err
	}
	switch {
	case layout == layoutTiles:
	case layout == 0 && empty:
		// A new store: it starts in the current layout.
		b := l.db.NewBatch(0)
		defer b.Close()
		b.Set(dirVersionKey, []byte{dirVersion})
		b.Set(layoutKey, []byte{layoutTiles})
		return l.commitSync(b)
	case layout == 0:
		return fmt.Errorf("%w: the store is in layout 1 (node records), this version reads layout %d (hash tiles)", ErrOldLayout, layoutTiles)
	default:
		return fmt.Errorf("ledger: the store is in layout %d, written by a newer version; this version reads layout %d", layout, layoutTiles)
	}
	v, err := l.db.Get(dirVersionKey)
	if errors.Is(err, storage.ErrNotFound) {
		return &CorruptionError{Reason: "the org directory is missing"}
	}
	if err != nil {
		return err
	}
	ok := len(v) == 1 && v[0] == dirVersion
	if !ok {
		return &CorruptionError{Reason: fmt.Sprintf("org directory of unknown version %x", v)}
	}
	return l.readDirectory()
}

// layout returns the store's layout, or 0 if none is recorded.
func (l *Ledger) layout() (byte, error) {
	v, err := l.db.Get(layoutKey)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 1 || v[0] == 0 {
		return 0, &CorruptionError{Reason: fmt.Sprintf("malformed layout record %x", v)}
	}
	return v[0], nil
}

// empty reports whether the store holds no org and no directory.
func (l *Ledger) empty() (bool, error) {
	it, err := l.db.NewIter(context.Background(), []byte{'d'}, []byte{'p'})
	if err != nil {
		return false, err
	}
	defer it.Close()
	if it.First() {
		return false, nil
	}
	return true, it.Error()
}

// readDirectory finds the orgs in the org directory.
func (l *Ledger) readDirectory() error {
	var order []*orgInfo
	err := l.scanDirectory(dirSize, func(org string, size uint64) error {
		info, err := l.newOrgInfo(org)
		if err != nil {
			return err
		}
		info.size.Store(size)
		l.orgs[org] = info
		order = append(order, info)
		return nil
	})
	if err != nil {
		return err
	}
	err = l.scanDirectory(dirCP, func(org string, size uint64) error {
		info := l.orgs[org]
		if info == nil {
			return &CorruptionError{Org: org, Size: size, Reason: "the org directory lists a checkpoint of an org without a tree"}
		}
		info.claimed.Store(size)
		return nil
	})
	if err != nil {
		return err
	}
	for i, o := range order {
		if i == 0 || o.claimed.Load() < o.size.Load() {
			if err := l.ensure(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanDirectory calls fn with each org and size of one kind of directory
// record, in org order.
func (l *Ledger) scanDirectory(kind byte, fn func(org string, size uint64) error) error {
	lo, hi := dirSpan(kind)
	it, err := l.db.NewIter(context.Background(), lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		org := string(it.Key()[len(lo):])
		v, err := it.Value()
		if err != nil {
			return err
		}
		if leaf.ValidateOrg(org) != nil || len(v) != 8 {
			return &CorruptionError{Org: org, Reason: fmt.Sprintf("malformed org directory record %q", it.Key())}
		}
		if err := fn(org, binary.BigEndian.Uint64(v)); err != nil {
			return err
		}
	}
	return it.Error()
}

// ensure verifies o's stored tree once, on its first use: every use of an
// org's log (its handle, the committer, the signer) calls it before
// touching its tree, and fails with its error if the tree does not
// verify.
func (l *Ledger) ensure(o *orgInfo) error {
	o.ready.Do(func() {
		if o.readyErr = l.recoverOrg(o); o.readyErr != nil {
			l.cfg.Logger.Error("org log does not verify", slog.String("org", o.id), slog.String("error", o.readyErr.Error()))
			return
		}
		o.inUse.Store(true)
	})
	return o.readyErr
}

// recoverOrg checks o's stored tree (verifyOrg), and that its size is
// the one Open found for it.
func (l *Ledger) recoverOrg(o *orgInfo) error {
	found := o.size.Load()
	if err := l.verifyOrg(o); err != nil {
		return err
	}
	if found != o.st.size {
		return &CorruptionError{Org: o.id, Size: o.st.size, Reason: fmt.Sprintf("the org directory says tree size %d", found)}
	}
	return nil
}

// verifyOrg checks o's stored tree: the compact range is read from the
// stored nodes the tree state's size names, the last leaf must exist, and
// the tree must equal or extend the latest checkpoint (which must verify
// under the log's key and origin). Any mismatch is a *CorruptionError.
func (l *Ledger) verifyOrg(o *orgInfo) error {
	corrupt := func(size uint64, format string, args ...any) error {
		return &CorruptionError{Org: o.id, Size: size, Reason: fmt.Sprintf(format, args...)}
	}
	v, err := l.db.Get(o.keys.state())
	if errors.Is(err, storage.ErrNotFound) {
		return corrupt(0, "records without a tree state")
	}
	if err != nil {
		return err
	}
	st, err := unmarshalState(v)
	if err != nil {
		return corrupt(0, "%v", err)
	}
	o.size.Store(st.size)

	// The compact range is the stored nodes it stands for.
	if st.size > 0 {
		if st.hashes, err = l.fetch(o, st.size, proof.Nodes{IDs: compact.RangeNodes(0, st.size, nil)}); err != nil {
			return err
		}
		// The last leaf must be there, and be the leaf its tile names.
		v, err := l.db.Get(o.keys.leaf(st.size - 1))
		if errors.Is(err, storage.ErrNotFound) {
			return corrupt(st.size, "leaf %d missing", st.size-1)
		}
		if err != nil {
			return err
		}
		lh, ok := leafRecordHash(v)
		last, err := l.nodeHash(o, st.size, compact.NewNodeID(0, st.size-1))
		if err != nil {
			return err
		}
		if !ok || !bytes.Equal(lh, last) {
			return corrupt(st.size, "leaf %d does not match its hash tile", st.size-1)
		}
	}
	o.st = st

	// The tree must extend the latest checkpoint.
	lo, hi := o.keys.span(kindCheckpoint)
	it, err := l.db.NewIter(context.Background(), lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return err
		}
		return l.loadOrgEdges(o)
	}
	keySize := binary.BigEndian.Uint64(it.Key()[len(lo):])
	v, err = it.Value()
	if err != nil {
		return err
	}
	cp, err := o.verifier.Checkpoint(append([]byte(nil), v...))
	if err != nil {
		return corrupt(keySize, "latest checkpoint does not verify: %v", err)
	}
	if cp.Size != keySize {
		return corrupt(keySize, "checkpoint stored under size %d says size %d", keySize, cp.Size)
	}
	root := st.root()
	switch {
	case cp.Size > st.size:
		return corrupt(st.size, "tree is smaller than its latest checkpoint (size %d)", cp.Size)
	case cp.Size == st.size:
		if !bytes.Equal(cp.Root, root) {
			return corrupt(st.size, "root hash differs from the checkpoint of the same size")
		}
	default:
		p, err := l.consistency(o, cp.Size, st.size)
		if err != nil {
			return err
		}
		if err := verify.Consistency(cp.Size, st.size, p, cp.Root, root); err != nil {
			return corrupt(st.size, "tree does not extend the latest checkpoint (size %d): %v", cp.Size, err)
		}
	}
	o.cp.Store(&cp)
	return l.loadOrgEdges(o)
}

// loadOrgEdges loads the partial tiles of o's tree, which the committer
// extends.
func (l *Ledger) loadOrgEdges(o *orgInfo) error {
	if o.st.size == 0 {
		return nil
	}
	edges, err := l.loadEdges(o, o.st.size)
	if err != nil {
		return err
	}
	o.st.edges = edges
	return nil
}
