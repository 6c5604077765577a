package ledger

import (
	"encoding/binary"

	"github.com/nuxari/nuxari/ledger/leaf"
)

// Storage layout. Every key of an org starts with 'o' + org ID + 0x00; org
// IDs cannot contain 0x00 (see leaf.ValidateOrg), so no org's key space is a
// prefix of another's. The kind byte that follows names the record:
//
//	's'                      tree state (size, last time)
//	'l' index(8)             leaf record: the leaf bytes; once purged, the
//	                         32-byte leaf hash alone (a leaf is always
//	                         longer than 32 bytes)
//	't' level(1) n(8)        full hash tile (level, n), expanded: the 256
//	                         hashes of tree level 8·level, then the 255
//	                         nodes above them (hashtiles.go)
//	't' level(1) n(8) start(1)  a segment of the partial tile (level, n):
//	                         the hashes one commit added from position
//	                         start; deleted when the tile is full
//	'i' key                  idempotency record: index(8) || SHA-256(event)
//	'c' size(8)              signed checkpoint note
//	'k' size(8)              the checkpoint of that size was handed out
//	                         (no value): never thinned
//	'x'                      thinning progress: checkpoints of sizes up
//	                         to size(8) are decided
//	'r'                      retention: window(8) || purged-through(8);
//	                         its window is the org's only if 'w' is absent
//	'w'                      retention window(8), set by SetRetention or
//	                         by an entry, in the batch of that entry
//	'v' key                  governance state written atomically with entries
//
// Integers are big-endian so that keys sort by number.
//
// Layout 1 (the first release) stored, instead of tiles, 'n' leaf(8): the
// interior nodes completed by appending that leaf, levels 1 …
// trailing-zeros(leaf+1), and 'h' hash[:8] index(8), a leaf-hash lookup;
// Migrate turns them into tiles.
//
// The org directory is outside every org's key space ('d' < 'o'): what
// Open needs of each org, read in two short scans.
//
//	'd' 's' org              the org's tree size(8), written with its tree
//	                         state
//	'd' 'c' org              the size(8) of its latest checkpoint, written
//	                         with the checkpoint
//	'd' 'v'                  the directory's version(1), written once it
//	                         lists every org
//	'd' 'f'                  the storage layout(1): 2, tiles; absent in
//	                         layout 1 and in a new store
//	'd' 'm' org              migration progress: the org's tree is in
//	                         tiles up to size(8) (Migrate)
const (
	kindState      = 's'
	kindLeaf       = 'l'
	kindTile       = 't'
	kindNode       = 'n' // layout 1
	kindHash       = 'h' // layout 1
	kindIdem       = 'i'
	kindCheckpoint = 'c'
	kindHandedOut  = 'k'
	kindThinned    = 'x'
	kindRetention  = 'r'
	kindWindow     = 'w'
	kindValue      = 'v'
)

// orgKeys builds keys inside one org's key space and nowhere else: it is
// the only way this package forms a storage key, so a read or write across
// orgs cannot be expressed.
type orgKeys struct {
	prefix []byte // 'o' org 0x00
}

func keysFor(org string) orgKeys {
	p := make([]byte, 0, len(org)+2)
	p = append(p, 'o')
	p = append(p, org...)
	p = append(p, 0)
	return orgKeys{prefix: p}
}

func (k orgKeys) kind(kind byte, extra int) []byte {
	b := make([]byte, len(k.prefix), len(k.prefix)+1+extra)
	copy(b, k.prefix)
	return append(b, kind)
}

// all returns the bounds of the org's whole key space.
func (k orgKeys) all() (lo, hi []byte) {
	lo = append([]byte(nil), k.prefix...)
	hi = append([]byte(nil), k.prefix...)
	hi[len(hi)-1] = 1
	return lo, hi
}

// span returns the bounds of one kind of record.
func (k orgKeys) span(kind byte) (lo, hi []byte) {
	return k.kind(kind, 0), k.kind(kind+1, 0)
}

func (k orgKeys) state() []byte     { return k.kind(kindState, 0) }
func (k orgKeys) retention() []byte { return k.kind(kindRetention, 0) }
func (k orgKeys) window() []byte    { return k.kind(kindWindow, 0) }

func (k orgKeys) leaf(index uint64) []byte {
	return binary.BigEndian.AppendUint64(k.kind(kindLeaf, 8), index)
}

func (k orgKeys) idem(key string) []byte {
	return append(k.kind(kindIdem, len(key)), key...)
}

func (k orgKeys) checkpoint(size uint64) []byte {
	return binary.BigEndian.AppendUint64(k.kind(kindCheckpoint, 8), size)
}

func (k orgKeys) handedOut(size uint64) []byte {
	return binary.BigEndian.AppendUint64(k.kind(kindHandedOut, 8), size)
}

func (k orgKeys) thinned() []byte { return k.kind(kindThinned, 0) }

func (k orgKeys) value(key []byte) []byte {
	return append(k.kind(kindValue, len(key)), key...)
}

// orgOfKey returns the org ID of a key in the org key space, or false.
func orgOfKey(key []byte) (string, bool) {
	if len(key) < 3 || key[0] != 'o' {
		return "", false
	}
	for i := 1; i < len(key); i++ {
		if key[i] == 0 {
			return string(key[1:i]), i > 1
		}
	}
	return "", false
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// leafRecordHash returns the leaf hash a leaf record stands for: the hash
// of its bytes, or the hash itself once purged.
func leafRecordHash(v []byte) ([]byte, bool) {
	switch {
	case len(v) == purgedLen:
		return append([]byte(nil), v...), true
	case len(v) > purgedLen:
		return leaf.Hash(v), true
	}
	return nil, false
}

// purgedLen is the length of a purged leaf record: the leaf hash.
const purgedLen = 32

// The org directory's keys.
const (
	dirVersion = 1
	dirSize    = 's'
	dirCP      = 'c'
)

var (
	dirVersionKey = []byte{'d', 'v'}
	layoutKey     = []byte{'d', 'f'}
)

// layoutTiles is the storage layout this version writes: hash tiles.
const layoutTiles = 2

const dirMigrated = 'm'

func dirKey(kind byte, org string) []byte {
	return append([]byte{'d', kind}, org...)
}

// dirSpan returns the bounds of one kind of directory record.
func dirSpan(kind byte) (lo, hi []byte) {
	return []byte{'d', kind}, []byte{'d', kind + 1}
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
