package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/storage"
	"github.com/nuxari/nuxari/ledger/tile"
)

// migrateChunk is how many leaves one migration batch turns into tiles.
var migrateChunk uint64 = 64 * tile.Width

// testHookMigrated, if set, is called after each migration batch is
// durable; an error stops Migrate there, as a crash would.
var testHookMigrated func(org string, done uint64) error

// MigratedOrg reports one org's migration.
type MigratedOrg struct {
	Org string
	// Size is the org's tree size; Root its root hash, the same from the
	// layout-1 records and from the tiles.
	Size uint64
	Root []byte
	// ResumedAt is the size up to which an earlier, interrupted run had
	// already written the org's tiles (0 for a fresh start; Size if it
	// had finished the org).
	ResumedAt uint64
}

// Migrate converts the store in cfg.Dir from layout 1 (leaf records and
// per-leaf node records, written by the first releases) to hash tiles,
// which Open requires (it refuses layout 1 with ErrOldLayout). It must run
// with no Ledger open on the store.
//
// For each org, it hashes the leaf records in order into tiles, in synced
// batches that also record how far the org has come, so a crash or an
// error leaves a store the next Migrate resumes. Once an org's tiles are
// complete, their root must equal the root of the layout-1 node records
// and the tree must extend the org's latest checkpoint under cfg's key
// (so every checkpoint issued before verifies against the migrated log);
// only then are its node records deleted. Any mismatch is a
// *CorruptionError and the store stays in layout 1. The store switches to
// the tile layout in one last batch, when every org is done. progress,
// if not nil, is called after each batch.
//
// A store already in the tile layout is left as it is (nil, nil).
func Migrate(ctx context.Context, cfg Config, progress func(org string, done, size uint64)) ([]MigratedOrg, error) {
	l, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	defer l.closeStore()
	switch layout, err := l.layout(); {
	case err != nil:
		return nil, err
	case layout == layoutTiles:
		return nil, nil
	case layout != 0:
		return nil, fmt.Errorf("ledger: the store is in layout %d, written by a newer version", layout)
	}
	if err := l.findOrgs(); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(l.orgs))
	for id := range l.orgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var report []MigratedOrg
	for _, id := range ids {
		m, err := l.migrateOrg(ctx, l.orgs[id], progress)
		if err != nil {
			return report, err
		}
		report = append(report, m)
	}
	b := l.db.NewBatch(0)
	defer b.Close()
	lo, hi := dirSpan(dirMigrated)
	b.DeleteRange(lo, hi)
	b.Set(layoutKey, []byte{layoutTiles})
	if err := l.commitSync(b); err != nil {
		return report, err
	}
	return report, nil
}

// openStore opens cfg's store for Migrate: no committer, no signer.
func openStore(cfg Config) (*Ledger, error) {
	cfg.setDefaults()
	if cfg.Signer == nil || cfg.VerifierKey == "" {
		return nil, errors.New("ledger: Config.Signer and Config.VerifierKey are required")
	}
	db, err := openStorage(cfg)
	if err != nil {
		return nil, err
	}
	return &Ledger{cfg: cfg, db: db, signer: cfg.Signer, vkey: cfg.VerifierKey, orgs: make(map[string]*orgInfo)}, nil
}

func (l *Ledger) closeStore() { _ = l.db.Close() }

// findOrgs finds the orgs of a layout-1 store and their sizes, from the
// org directory or, if the store predates it, by walking the orgs' key
// spaces (and then writing the directory).
func (l *Ledger) findOrgs() error {
	v, err := l.db.Get(dirVersionKey)
	if errors.Is(err, storage.ErrNotFound) {
		if err := l.walkOrgs(); err != nil {
			return err
		}
		return l.writeDirectory()
	}
	if err != nil {
		return err
	}
	ok := len(v) == 1 && v[0] == dirVersion
	if !ok {
		return &CorruptionError{Reason: fmt.Sprintf("org directory of unknown version %x", v)}
	}
	return l.scanDirectory(dirSize, func(org string, size uint64) error {
		info, err := l.newOrgInfo(org)
		if err != nil {
			return err
		}
		info.size.Store(size)
		l.orgs[org] = info
		return nil
	})
}

// migrateOrg writes o's tiles from its leaf records, from where an
// earlier run stopped, checks them and deletes its node records.
func (l *Ledger) migrateOrg(ctx context.Context, o *orgInfo, progress func(org string, done, size uint64)) (MigratedOrg, error) {
	size := o.size.Load()
	m := MigratedOrg{Org: o.id, Size: size}
	done, err := l.migratedThrough(o)
	if err != nil {
		return m, err
	}
	m.ResumedAt = done
	if done > size {
		return m, o.corrupt("migrated through size %d, beyond the tree", done)
	}
	r := rangeFactory.NewEmptyRange(0)
	var edges [][]byte
	if done > 0 {
		// Resume from the tiles written so far.
		hashes, err := l.fetch(o, done, proof.Nodes{IDs: compact.RangeNodes(0, done, nil)})
		if err != nil {
			return m, err
		}
		if r, err = rangeFactory.NewRange(0, done, hashes); err != nil {
			return m, err
		}
		if edges, err = l.loadEdges(o, done); err != nil {
			return m, err
		}
	}
	for done < size {
		end := min(size, done+migrateChunk)
		th := newTileHashes(int(end - done))
		err := l.scanLeafRecords(ctx, o, done, end, func(i uint64, v []byte) error {
			lh, ok := leafRecordHash(v)
			if !ok {
				return o.corrupt("leaf %d malformed", i)
			}
			return r.Append(th.addLeaf(lh), th.visit)
		})
		if err != nil {
			return m, err
		}
		var writes []tileWrite
		edges, writes = th.writes(edges, done)
		b := l.db.NewBatch(0)
		if done == 0 {
			// Tiles left by anything but this migration are rebuilt.
			b.DeleteRange(o.keys.tile(0, 0), prefixEnd(o.keys.kind(kindTile, 0)))
		}
		persistTiles(b, o.keys, writes)
		b.Set(dirKey(dirMigrated, o.id), be64(end))
		if end == size {
			root, err := r.GetRootHash(nil)
			if err == nil {
				err = l.checkLayout1Root(o, size, root)
			}
			if err != nil {
				b.Close()
				return m, err
			}
			m.Root = root
			// Layout 1 did not record which checkpoints it handed out:
			// every one it issued is kept, none is ever thinned.
			latest, err := l.latestCheckpointSize(o)
			if err != nil {
				b.Close()
				return m, err
			}
			b.Set(o.keys.thinned(), be64(latest))
			lo, hi := o.keys.span(kindNode)
			b.DeleteRange(lo, hi)
			lo, hi = o.keys.span(kindHash)
			b.DeleteRange(lo, hi)
		}
		err = l.commitSync(b)
		b.Close()
		if err != nil {
			return m, err
		}
		done = end
		if progress != nil {
			progress(o.id, done, size)
		}
		if testHookMigrated != nil {
			if err := testHookMigrated(o.id, done); err != nil {
				return m, err
			}
		}
	}
	// The tiles must extend the latest checkpoint, as Open will check.
	if err := l.verifyOrg(o); err != nil {
		return m, err
	}
	if m.Root == nil {
		m.Root = o.st.root()
	}
	return m, nil
}

// latestCheckpointSize returns the size of o's latest stored checkpoint
// (0 if none).
func (l *Ledger) latestCheckpointSize(o *orgInfo) (uint64, error) {
	lo, hi := o.keys.span(kindCheckpoint)
	it, err := l.db.NewIter(context.Background(), lo, hi)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[len(lo):]), nil
}

// migratedThrough returns the size up to which o's tiles are written.
func (l *Ledger) migratedThrough(o *orgInfo) (uint64, error) {
	v, err := l.db.Get(dirKey(dirMigrated, o.id))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, o.corrupt("malformed migration record")
	}
	return binary.BigEndian.Uint64(v), nil
}

// checkLayout1Root checks that root, computed from o's leaf records, is
// the root of the tree of size that o's layout-1 node records hold. An
// org without node records (a store that was in tiles and lost its
// directory) has only its checkpoint to be checked against.
func (l *Ledger) checkLayout1Root(o *orgInfo, size uint64, root []byte) error {
	lo, hi := o.keys.span(kindNode)
	it, err := l.db.NewIter(context.Background(), lo, hi)
	if err != nil {
		return err
	}
	has := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if !has && size > 1 {
		return nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		var key []byte
		off := 0
		if id.Level == 0 {
			key = o.keys.leaf(id.Index)
		} else {
			k := (id.Index+1)<<id.Level - 1 // the leaf whose record holds it
			key = binary.BigEndian.AppendUint64(o.keys.kind(kindNode, 8), k)
			off = int(id.Level-1) * tile.HashSize
		}
		v, err := l.db.Get(key)
		if errors.Is(err, storage.ErrNotFound) {
			return o.corrupt("layout-1 node (level %d, index %d) missing", id.Level, id.Index)
		}
		if err != nil {
			return err
		}
		var h []byte
		ok := true
		if id.Level == 0 {
			h, ok = leafRecordHash(v)
		} else if k := (id.Index+1)<<id.Level - 1; len(v) != bits.TrailingZeros64(k+1)*tile.HashSize {
			ok = false
		} else {
			h = append([]byte(nil), v[off:off+tile.HashSize]...)
		}
		if !ok {
			return o.corrupt("layout-1 node (level %d, index %d) malformed", id.Level, id.Index)
		}
		hashes[i] = h
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return err
	}
	old, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(old, root) {
		return o.corrupt("the leaf records hash to a root the layout-1 nodes do not have")
	}
	return nil
}

// writeDirectory writes the org directory of the orgs found by walking,
// with its version, in one synced batch: a crash before it leaves the
// next run to walk again.
func (l *Ledger) writeDirectory() error {
	b := l.db.NewBatch(0)
	defer b.Close()
	for id, o := range l.orgs {
		b.Set(dirKey(dirSize, id), be64(o.size.Load()))
		if c := o.claimed.Load(); c > 0 {
			b.Set(dirKey(dirCP, id), be64(c))
		}
	}
	b.Set(dirVersionKey, []byte{dirVersion})
	return l.commitSync(b)
}

// walkOrgs finds every org of a store written before the org directory
// by walking the orgs' key spaces.
func (l *Ledger) walkOrgs() error {
	it, err := l.db.NewIter(context.Background(), []byte{'o'}, []byte{'p'})
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
		if err := discoverOrg(it, info); err != nil {
			return err
		}
		l.orgs[org] = info
		_, hi := info.keys.all()
		valid = it.SeekGE(hi)
	}
	return it.Error()
}

// discoverOrg reads o's tree size and latest checkpoint size with it.
func discoverOrg(it storage.Iterator, o *orgInfo) error {
	if !it.SeekGE(o.keys.state()) || !bytes.Equal(it.Key(), o.keys.state()) {
		if err := it.Error(); err != nil {
			return err
		}
		return &CorruptionError{Org: o.id, Reason: "records without a tree state"}
	}
	v, err := it.Value()
	if err != nil {
		return err
	}
	st, err := unmarshalState(v)
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
	return nil
}
