package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger/storage"
	"github.com/nuxari/nuxari/ledger/tile"
)

// The tree's hashes are stored as C2SP tlog-tiles hash tiles
// (https://c2sp.org/tlog-tiles): tile (L, N) holds the hashes of tree
// level 8·L at positions N·256 … N·256+255; the levels between are the
// tile's interior nodes.
//
// A full tile is one record, written once by the commit that completes
// it, in its expanded form (below): its 256 hashes and the 255 nodes
// above them, so that a proof that reads it from storage hashes nothing.
// The partial tile at the right edge of a level is a run of segments,
// one per commit that added hashes to it, each holding only the hashes
// that commit added; the commit that completes the tile writes the full
// record and deletes the segments in the same batch. So a commit writes
// one record per tile level it touches, plus one per tile it completes,
// and never rewrites what it wrote before. The committer keeps each
// org's partial tiles in memory (treeState.edges) to write the full
// record without reading storage.
//
// Readers use the expanded form of a tile, level by level (tileNodes):
// a full tile's as stored, a partial tile's computed when read (at most
// 254 hashes). A tile's content at a width never changes; expanded tiles
// are cached (Config.TileCacheSize), partial ones under their width, so
// that proofs at a checkpoint's size read the same right edge from
// memory.

// tileLevels is how many tile levels a tree of the given size has: the
// levels whose count of hashes is not zero.
func tileLevels(size uint64) int {
	n := 0
	for ; size > 0; size >>= tile.Height {
		n++
	}
	return n
}

// tileWidthAt returns the width of tile (level, n) in the tree of size:
// 0 if the tree does not reach it.
func tileWidthAt(size uint64, level int, n uint64) int {
	count := size >> (tile.Height * uint(level))
	first := n * tile.Width
	if count <= first {
		return 0
	}
	return int(min(count-first, tile.Width))
}

// tileWrite is one record a commit writes for one org's tiles.
type tileWrite struct {
	level int
	n     uint64
	start int    // position of data's first hash in the tile
	data  []byte // a segment's hashes, or a full tile's expanded form
	full  bool
	// drop: the tile had segments, which the full record replaces.
	drop bool
}

// addTileHashes appends the new hashes of one tile level (hashes of tree
// level 8·level, the first at position first) to edges, the partial
// tiles of the tree before them, and returns the records to write. The
// edge of a level is replaced, never overwritten in place, when its tile
// completes, so a treeState built before stays intact.
func addTileHashes(edges [][]byte, level int, first uint64, hashes []byte, out []tileWrite) ([][]byte, []tileWrite) {
	for len(edges) <= level {
		edges = append(edges, nil)
	}
	pos := first
	for len(hashes) > 0 {
		n, off := pos/tile.Width, int(pos%tile.Width)
		take := min(tile.Width-off, len(hashes)/tile.HashSize)
		chunk := hashes[:take*tile.HashSize]
		hashes = hashes[len(chunk):]
		pos += uint64(take)
		edge := edges[level]
		if off+take == tile.Width {
			row0 := chunk
			if off > 0 {
				row0 = append(append(make([]byte, 0, tile.Width*tile.HashSize), edge...), chunk...)
			}
			out = append(out, tileWrite{level: level, n: n, data: expandTile(row0).nodes, full: true, drop: off > 0})
			edges[level] = nil
			continue
		}
		out = append(out, tileWrite{level: level, n: n, start: off, data: chunk})
		edges[level] = append(edge, chunk...)
	}
	return edges, out
}

// tileHashes collects the hashes that appending leaves adds to each tile
// level: levels[0] the leaf hashes, levels[L] the new nodes of tree level
// 8·L, in order.
type tileHashes struct {
	levels [][]byte
}

// newTileHashes is ready for n leaves; the leaf hashes never move, so
// the slices addLeaf returns stay valid.
func newTileHashes(n int) *tileHashes {
	return &tileHashes{levels: [][]byte{make([]byte, 0, n*tile.HashSize)}}
}

// addLeaf adds a leaf hash and returns the collector's copy of it.
func (t *tileHashes) addLeaf(h []byte) []byte {
	l0 := append(t.levels[0], h...)
	t.levels[0] = l0
	return l0[len(l0)-tile.HashSize : len(l0) : len(l0)]
}

// visit is the compact.VisitFn that collects the nodes of the upper
// tile levels.
func (t *tileHashes) visit(id compact.NodeID, h []byte) {
	if id.Level == 0 || id.Level%tile.Height != 0 {
		return
	}
	l := int(id.Level / tile.Height)
	for len(t.levels) <= l {
		t.levels = append(t.levels, nil)
	}
	t.levels[l] = append(t.levels[l], h...)
}

// writes extends edges, the partial tiles of the tree of size before the
// leaves, and returns the tile records to write.
func (t *tileHashes) writes(edges [][]byte, size uint64) ([][]byte, []tileWrite) {
	var out []tileWrite
	for level, hs := range t.levels {
		edges, out = addTileHashes(edges, level, size>>(tile.Height*uint(level)), hs, out)
	}
	return edges, out
}

// persistTiles adds one org's tile records to the batch.
func persistTiles(b storage.Batch, k orgKeys, writes []tileWrite) {
	for _, w := range writes {
		key := k.tile(w.level, w.n)
		if w.full {
			b.Set(key, w.data)
			if w.drop {
				b.DeleteRange(k.tileSegment(w.level, w.n, 0), prefixEnd(key))
			}
			continue
		}
		b.Set(k.tileSegment(w.level, w.n, w.start), w.data)
	}
}

// fullTileRecord is the size of a full tile's record: the 511 hashes of
// its expanded form.
const fullTileRecord = (2*tile.Width - 1) * tile.HashSize

// readTileRecord reads tile (level, n) of o from storage: its full record
// (the expanded tile), or its segments in order. Either way it starts
// with the tile's hashes, at least width of them (more if the stored tree
// has grown past the size that width is of).
func (l *Ledger) readTileRecord(o *orgInfo, level int, n uint64, width int) ([]byte, error) {
	key := o.keys.tile(level, n)
	if width == tile.Width {
		v, err := l.db.Get(key)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil, o.corrupt("hash tile %s missing", tile.Tile{Level: level, N: n, W: width}.Path())
			}
			return nil, err
		}
		if len(v) != fullTileRecord {
			return nil, o.corrupt("hash tile %s is %d bytes", tile.Tile{Level: level, N: n, W: width}.Path(), len(v))
		}
		return v, nil
	}
	it, err := l.db.NewIter(context.Background(), key, prefixEnd(key))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	data := make([]byte, 0, width*tile.HashSize)
	for it.First(); it.Valid(); it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, err
		}
		k := it.Key()
		if len(k) == len(key) {
			if len(v) != fullTileRecord {
				return nil, o.corrupt("hash tile %s is %d bytes", tile.Tile{Level: level, N: n, W: tile.Width}.Path(), len(v))
			}
			return append(data[:0], v...), nil
		}
		if len(k) != len(key)+1 || int(k[len(key)]) != len(data)/tile.HashSize || len(v) == 0 || len(v)%tile.HashSize != 0 || len(data)+len(v) > tile.Width*tile.HashSize {
			return nil, o.corrupt("hash tile %s has a malformed segment", tile.Tile{Level: level, N: n, W: width}.Path())
		}
		data = append(data, v...)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(data) < width*tile.HashSize {
		return nil, o.corrupt("hash tile %s holds %d hashes", tile.Tile{Level: level, N: n, W: width}.Path(), len(data)/tile.HashSize)
	}
	return data, nil
}

// tileNodes is the expanded form of a tile of width w: its w hashes (row
// 0), then each row above, row h holding the w>>h nodes of height h
// within the tile, up to row 8 (the tile's root, when full).
type tileNodes struct {
	w     int
	nodes []byte
}

// expandTile computes the rows of a tile from its hashes.
func expandTile(hashes []byte) tileNodes {
	w := len(hashes) / tile.HashSize
	total := 0
	for h := 0; h <= tile.Height; h++ {
		total += w >> h
	}
	nodes := make([]byte, 0, total*tile.HashSize)
	nodes = append(nodes, hashes...)
	row, rowLen := 0, w
	var buf [1 + 2*tile.HashSize]byte
	buf[0] = rfc6962.RFC6962NodeHashPrefix
	for h := 1; h <= tile.Height; h++ {
		next := len(nodes)
		for i := 0; i+1 < rowLen; i += 2 {
			copy(buf[1:], nodes[row+i*tile.HashSize:row+(i+2)*tile.HashSize])
			sum := sha256.Sum256(buf[:])
			nodes = append(nodes, sum[:]...)
		}
		row, rowLen = next, rowLen/2
	}
	return tileNodes{w: w, nodes: nodes}
}

// node returns the hash at height h, index i within the tile, or nil if
// the tile's width does not cover it.
func (t tileNodes) node(h int, i uint64) []byte {
	off := 0
	for j := 0; j < h; j++ {
		off += t.w >> j
	}
	if i >= uint64(t.w>>h) {
		return nil
	}
	p := (off + int(i)) * tile.HashSize
	return t.nodes[p : p+tile.HashSize : p+tile.HashSize]
}

// row0 returns the tile's hashes.
func (t tileNodes) row0() []byte { return t.nodes[:t.w*tile.HashSize] }

// tileKey names the expanded form of one org's tile of one width.
type tileKey struct {
	org   *orgInfo
	level int
	n     uint64
	w     int
}

// tileCache is a size-bounded LRU of expanded tiles. A tile's hashes at a
// given width never change, so it needs no invalidation.
type tileCache = lruCache[tileKey]

func newTileCache(maxBytes int64) *tileCache {
	return newLRUCache(maxBytes, func(k tileKey) uint64 { return k.n + 7*uint64(k.level) })
}

// tileAt returns the expanded tile (level, n) of o's tree of the given
// size, from the cache or from storage.
func (l *Ledger) tileAt(o *orgInfo, size uint64, level int, n uint64) (tileNodes, error) {
	w := tileWidthAt(size, level, n)
	if w == 0 {
		return tileNodes{}, fmt.Errorf("%w: tile (%d, %d) is beyond tree size %d", ErrInvalidRange, level, n, size)
	}
	if t, ok := l.cachedTile(o, level, n, w); ok {
		return t, nil
	}
	data, err := l.readTileRecord(o, level, n, w)
	if err != nil {
		return tileNodes{}, err
	}
	var t tileNodes
	if w == tile.Width {
		t = tileNodes{w: w, nodes: data} // stored expanded
	} else {
		t = expandTile(data[:w*tile.HashSize])
	}
	if l.tiles != nil {
		l.tiles.put(tileKey{org: o, level: level, n: n, w: w}, t.nodes)
	}
	return t, nil
}

// cachedTile returns the expanded tile (level, n) of width w if the
// cache holds it.
func (l *Ledger) cachedTile(o *orgInfo, level int, n uint64, w int) (tileNodes, bool) {
	if l.tiles == nil {
		return tileNodes{}, false
	}
	v := l.tiles.get(tileKey{org: o, level: level, n: n, w: w})
	return tileNodes{w: w, nodes: v}, v != nil
}

// nodeTile returns the tile that holds node id, and id's height and index
// within it.
func nodeTile(id compact.NodeID) (level int, n uint64, h int, i uint64) {
	level, h = int(id.Level)/tile.Height, int(id.Level)%tile.Height
	first := id.Index << h // position of its first hash in the tile level
	n = first / tile.Width
	return level, n, h, (first % tile.Width) >> h
}

// fetch returns the hashes of a proof's nodes, all within the tree of the
// given size, and folds the ephemeral ones. Each tile is read once.
func (l *Ledger) fetch(o *orgInfo, size uint64, nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	buf := make([]byte, 0, len(nodes.IDs)*tile.HashSize)
	type ref struct {
		level int
		n     uint64
	}
	var seen [8]struct {
		ref
		t tileNodes
	}
	used := 0
	for i, id := range nodes.IDs {
		level, n, h, idx := nodeTile(id)
		var t *tileNodes
		for j := range used {
			if seen[j].ref == (ref{level, n}) {
				t = &seen[j].t
				break
			}
		}
		if t == nil {
			tn, err := l.tileAt(o, size, level, n)
			if err != nil {
				return nil, err
			}
			if used < len(seen) {
				seen[used].ref, seen[used].t = ref{level, n}, tn
				used++
			}
			t = &tn
		}
		hh := t.node(h, idx)
		if hh == nil {
			return nil, o.corrupt("node (level %d, index %d) missing from its tile", id.Level, id.Index)
		}
		// Copied: the tile may be the cache's.
		start := len(buf)
		buf = append(buf, hh...)
		hashes[i] = buf[start:len(buf):len(buf)]
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// nodeHash returns the stored hash of node id, within the tree of size.
func (l *Ledger) nodeHash(o *orgInfo, size uint64, id compact.NodeID) ([]byte, error) {
	hs, err := l.fetch(o, size, proof.Nodes{IDs: []compact.NodeID{id}})
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// loadEdges reads the partial tiles of o's tree of size: what the
// committer extends.
func (l *Ledger) loadEdges(o *orgInfo, size uint64) ([][]byte, error) {
	levels := tileLevels(size)
	edges := make([][]byte, levels)
	for level := range levels {
		count := size >> (tile.Height * uint(level))
		w := int(count % tile.Width)
		if w == 0 {
			continue
		}
		data, err := l.readTileRecord(o, level, count/tile.Width, w)
		if err != nil {
			return nil, err
		}
		if len(data) != w*tile.HashSize {
			return nil, o.corrupt("partial hash tile %s holds %d hashes", tile.Tile{Level: level, N: count / tile.Width, W: w}.Path(), len(data)/tile.HashSize)
		}
		edges[level] = slices.Clip(data)
	}
	return edges, nil
}

func (k orgKeys) tile(level int, n uint64) []byte {
	b := append(k.kind(kindTile, 10), byte(level))
	return binary.BigEndian.AppendUint64(b, n)
}

func (k orgKeys) tileSegment(level int, n uint64, start int) []byte {
	return append(k.tile(level, n), byte(start))
}
