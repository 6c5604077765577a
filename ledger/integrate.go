package ledger

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger/leaf"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// treeState is what the ledger keeps per org between commits: the tree size,
// the compact range covering [0, size), and the time of the last leaf.
// Only size and time are stored; the compact range is made of stored nodes
// and is read back from them on open.
type treeState struct {
	size     uint64
	hashes   [][]byte
	lastTime int64 // Unix nanoseconds
	// edges[L] holds the hashes of the partial tile of tile level L (nil
	// when the level's count of hashes is a multiple of 256).
	edges [][]byte
}

const stateVersion = 2

func (s treeState) marshal() []byte {
	b := make([]byte, 0, 17)
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint64(b, s.size)
	return binary.BigEndian.AppendUint64(b, uint64(s.lastTime))
}

// unmarshalState decodes a stored state; its hashes and edges are not
// filled in.
func unmarshalState(b []byte) (treeState, error) {
	if len(b) != 17 || b[0] != stateVersion {
		return treeState{}, fmt.Errorf("tree state record of %d bytes is malformed", len(b))
	}
	return treeState{size: binary.BigEndian.Uint64(b[1:]), lastTime: int64(binary.BigEndian.Uint64(b[9:]))}, nil
}

// root returns the root hash of the tree the state describes.
func (s treeState) root() []byte {
	if s.size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	r, err := rangeFactory.NewRange(0, s.size, s.hashes)
	if err != nil {
		panic(err) // states are validated on load and built by integrate
	}
	h, _ := r.GetRootHash(nil)
	return h
}

// newLeaf is one entry to integrate.
type newLeaf struct {
	event   []byte
	idemKey string
}

// integrated is the output of integrate: everything storage must persist.
type integrated struct {
	state treeState
	time  int64
	// records[i] and hashes[i] are the bytes and hash of leaf
	// state.size-len(records)+i.
	records [][]byte
	hashes  [][]byte
	// tiles are the hash tile records to write.
	tiles []tileWrite
	root  []byte
}

// integrate appends entries to the tree described by st at time now. It is
// a pure function: it builds leaf bytes and hashes, extends the compact
// range and the partial tiles, and reports the tile records to write;
// storage persists the result.
func integrate(org string, st treeState, now time.Time, entries []newLeaf) (integrated, error) {
	if st.size+uint64(len(entries)) > leaf.MaxIndex {
		return integrated{}, ErrLogFull
	}
	t := now.UnixNano()
	if t < st.lastTime {
		t = st.lastTime // time never runs backwards within an org
	}
	// The range is extended in place: copy the hash list so that st stays
	// valid if the commit of this integration fails.
	r, err := rangeFactory.NewRange(0, st.size, append([][]byte(nil), st.hashes...))
	if err != nil {
		return integrated{}, err
	}
	ts := time.Unix(0, t)
	lv := make([]leaf.Leaf, len(entries))
	total := 0
	for i, e := range entries {
		lv[i] = leaf.Leaf{Org: org, Index: st.size + uint64(i), Time: ts, IdempotencyKey: e.idemKey, Event: e.event}
		total += leaf.Size(&lv[i])
	}
	arena := make([]byte, 0, total)
	out := integrated{time: t, records: make([][]byte, len(entries)), hashes: make([][]byte, len(entries))}
	th := newTileHashes(len(entries))
	for i := range lv {
		start := len(arena)
		arena = leaf.Append(arena, &lv[i])
		out.records[i] = arena[start:len(arena):len(arena)]
		out.hashes[i] = th.addLeaf(leaf.Hash(out.records[i]))
		if err := r.Append(out.hashes[i], th.visit); err != nil {
			return integrated{}, err
		}
	}
	var edges [][]byte
	edges, out.tiles = th.writes(slices.Clone(st.edges), st.size)
	out.state = treeState{size: r.End(), hashes: r.Hashes(), lastTime: t, edges: edges}
	out.root, _ = r.GetRootHash(nil)
	return out, nil
}
