package ledger

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/nuxari/nuxari/ledger/tile"
)

// TileReader reads an org's log as a C2SP tlog-tiles log
// (https://c2sp.org/tlog-tiles): hash tiles and entry bundles of a tree
// size. Org implements it over what the ledger stores: hash tiles, and
// leaf records for the entry bundles.
type TileReader interface {
	// ReadTile returns the hashes of tile t of the org's tree of the
	// given size, t.W·32 bytes. t must be one of the tiles of that tree
	// (tile.Tile.Of): a full tile the tree covers, or the tree's partial
	// tile of t's level with exactly its width; any other is
	// ErrNotFound. A size beyond the durable tree is ErrSizeOutOfRange.
	ReadTile(ctx context.Context, size uint64, t tile.Tile) ([]byte, error)
	// ReadEntryBundle returns the entry bundle of level-0 tile t of the
	// tree of the given size: the bytes of its t.W leaves in order, each
	// after its length as a big-endian uint16. Tiles are matched as by
	// ReadTile. A bundle holding a purged leaf is ErrPurged (its hashes
	// stay readable with ReadTile), one holding a leaf longer than
	// tile.MaxEntrySize is ErrBundleEntryTooLarge.
	ReadEntryBundle(ctx context.Context, size uint64, t tile.Tile) ([]byte, error)
}

var _ TileReader = (*Org)(nil)

// tileFor checks that t is a tile of the tree of size, itself within the
// org's durable tree.
func (h *Org) tileFor(size uint64, t tile.Tile) (*orgInfo, error) {
	o, err := h.info()
	if err != nil {
		return nil, err
	}
	if durable := o.size.Load(); size > durable {
		return nil, fmt.Errorf("%w: size %d, log size %d", ErrSizeOutOfRange, size, durable)
	}
	if !t.Of(size) {
		return nil, fmt.Errorf("%w: tile %s is not a tile of the tree of size %d", ErrNotFound, t.Path(), size)
	}
	return o, nil
}

// ReadTile implements TileReader: the stored hash tile, from the tile
// cache (Config.TileCacheSize) when a proof has put it there, else from
// storage, as stored (a reader needs only the tile's hashes, so it is
// not expanded for the cache).
func (h *Org) ReadTile(ctx context.Context, size uint64, t tile.Tile) ([]byte, error) {
	o, err := h.tileFor(size, t)
	if err != nil {
		return nil, err
	}
	if tn, ok := h.l.cachedTile(o, t.Level, t.N, t.W); ok {
		return append([]byte(nil), tn.row0()...), nil
	}
	data, err := h.l.readTileRecord(o, t.Level, t.N, t.W)
	if err != nil {
		return nil, err
	}
	return data[:t.W*tile.HashSize], nil
}

// ReadEntryBundle implements TileReader.
func (h *Org) ReadEntryBundle(ctx context.Context, size uint64, t tile.Tile) ([]byte, error) {
	if t.Level != 0 {
		return nil, fmt.Errorf("%w: entry bundles are of level 0, not %d", ErrNotFound, t.Level)
	}
	o, err := h.tileFor(size, t)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = h.l.leafRecords(ctx, o, t, func(i uint64, v []byte) error {
		switch {
		case len(v) == purgedLen:
			return fmt.Errorf("%w: leaf %d of entry bundle %s", ErrPurged, i, t.EntriesPath())
		case len(v) < purgedLen:
			return o.corrupt("leaf %d malformed", i)
		case len(v) > tile.MaxEntrySize:
			return fmt.Errorf("%w: leaf %d is %d bytes, an entry bundle carries at most %d", ErrBundleEntryTooLarge, i, len(v), tile.MaxEntrySize)
		}
		if data == nil {
			// Leaves of one tile are of similar sizes: one allocation
			// usually holds the bundle.
			data = make([]byte, 0, t.W*(2+len(v))*5/4)
		}
		data = binary.BigEndian.AppendUint16(data, uint16(len(v)))
		data = append(data, v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// leafRecords calls fn with each leaf record of level-0 tile t, in
// order, with one iterator; v is valid during the call only.
func (l *Ledger) leafRecords(ctx context.Context, o *orgInfo, t tile.Tile, fn func(index uint64, v []byte) error) error {
	return l.scanLeafRecords(ctx, o, t.First(), t.First()+uint64(t.W), fn)
}

// ReadTile reads a tlog-tiles hash tile of org's log; see Org.ReadTile.
func (l *Ledger) ReadTile(ctx context.Context, org string, size uint64, t tile.Tile) ([]byte, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.ReadTile(ctx, size, t)
}

// ReadEntryBundle reads a tlog-tiles entry bundle of org's log; see
// Org.ReadEntryBundle.
func (l *Ledger) ReadEntryBundle(ctx context.Context, org string, size uint64, t tile.Tile) ([]byte, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.ReadEntryBundle(ctx, size, t)
}
