package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/transparency-dev/merkle/compact"
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
	v, closer, err := l.db.Get(dirVersionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		if err := l.walkOrgs(); err != nil {
			return err
		}
		return l.writeDirectory()
	}
	if err != nil {
		return err
	}
	ok := len(v) == 1 && v[0] == dirVersion
	closer.Close()
	if !ok {
		return &CorruptionError{Reason: fmt.Sprintf("org directory of unknown version %x", v)}
	}
	return l.readDirectory()
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
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		org := string(it.Key()[len(lo):])
		if leaf.ValidateOrg(org) != nil || len(it.Value()) != 8 {
			return &CorruptionError{Org: org, Reason: fmt.Sprintf("malformed org directory record %q", it.Key())}
		}
		if err := fn(org, binary.BigEndian.Uint64(it.Value())); err != nil {
			return err
		}
	}
	return it.Error()
}

// writeDirectory writes the org directory of the orgs found by walking,
// with its version, in one synced batch: a crash before it leaves the
// next Open to walk again.
func (l *Ledger) writeDirectory() error {
	b := l.db.NewBatch()
	defer b.Close()
	for id, o := range l.orgs {
		_ = b.Set(dirKey(dirSize, id), be64(o.size.Load()), nil)
		if c := o.claimed.Load(); c > 0 {
			_ = b.Set(dirKey(dirCP, id), be64(c), nil)
		}
	}
	_ = b.Set(dirVersionKey, []byte{dirVersion}, nil)
	return l.commitSync(b)
}

// walkOrgs finds every org by walking the orgs' key spaces.
func (l *Ledger) walkOrgs() error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'o'}, UpperBound: []byte{'p'}})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; {
		org, ok := orgOfKey(it.Key())
		if !ok || leaf.ValidateOrg(org) != nil {
			return &CorruptionError{Org: org, Reason: fmt.Sprintf("stray key %q", it.Key())}
		}
		info, err := l.newOrgInfo(org)
		if err != nil {
			return err
		}
		if err := l.discoverOrg(it, info, len(l.orgs) == 0); err != nil {
			return err
		}
		l.orgs[org] = info
		_, hi := info.keys.all()
		valid = it.SeekGE(hi)
	}
	return it.Error()
}

// discoverOrg reads o's tree size and latest checkpoint size with it,
// and verifies o now if asked to or if the checkpoint does not cover the
// tree.
func (l *Ledger) discoverOrg(it *pebble.Iterator, o *orgInfo, verifyNow bool) error {
	if !it.SeekGE(o.keys.state()) || !bytes.Equal(it.Key(), o.keys.state()) {
		if err := it.Error(); err != nil {
			return err
		}
		return &CorruptionError{Org: o.id, Reason: "records without a tree state"}
	}
	st, err := unmarshalState(it.Value())
	if err != nil {
		return &CorruptionError{Org: o.id, Reason: err.Error()}
	}
	o.size.Store(st.size)
	lo, hi := o.keys.span(kindCheckpoint)
	var claimed uint64
	if it.SeekLT(hi) && bytes.Compare(it.Key(), lo) >= 0 {
		claimed = binary.BigEndian.Uint64(it.Key()[len(lo):])
	} else if err := it.Error(); err != nil {
		return err
	}
	o.claimed.Store(claimed)
	if verifyNow || claimed < st.size {
		return l.ensure(o)
	}
	return nil
}

// ensure verifies o's stored tree once, on its first use: every use of an
// org's log (its handle, the committer, the signer) calls it before
// touching its tree, and fails with its error if the tree does not
// verify.
func (l *Ledger) ensure(o *orgInfo) error {
	o.ready.Do(func() {
		if o.readyErr = l.recoverOrg(o); o.readyErr != nil {
			l.cfg.Logger.Error("org log does not verify", slog.String("org", o.id), slog.String("error", o.readyErr.Error()))
		}
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
	v, closer, err := l.db.Get(o.keys.state())
	if errors.Is(err, pebble.ErrNotFound) {
		return corrupt(0, "records without a tree state")
	}
	if err != nil {
		return err
	}
	st, err := unmarshalState(v)
	closer.Close()
	if err != nil {
		return corrupt(0, "%v", err)
	}
	o.size.Store(st.size)

	// The compact range is the stored nodes it stands for.
	for _, id := range compact.RangeNodes(0, st.size, nil) {
		h, err := l.nodeHash(o, id, nil)
		if err != nil {
			return err
		}
		st.hashes = append(st.hashes, h)
	}
	o.st = st
	if st.size > 0 {
		if _, err := l.nodeHash(o, compact.NewNodeID(0, st.size-1), nil); err != nil {
			return err
		}
	}

	// The tree must extend the latest checkpoint.
	lo, hi := o.keys.span(kindCheckpoint)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	keySize := binary.BigEndian.Uint64(it.Key()[len(lo):])
	cp, err := o.verifier.Checkpoint(append([]byte(nil), it.Value()...))
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
	return nil
}
