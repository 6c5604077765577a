// Package tile names the resources of a C2SP tlog-tiles log
// (https://c2sp.org/tlog-tiles): hash tiles and entry bundles, their
// paths, and which of them a tree of a given size holds. It is pure
// arithmetic over the standard library, shared by the ledger that reads
// tiles and the server that serves them, and by any storage that keeps
// tiles natively.
//
// A tile at level L, index N, width W lists the W hashes at tree level
// 8·L with indices N·256 … N·256+W−1: each is the RFC 6962 Merkle Tree
// Hash of 256^L consecutive leaves. A full tile has W = 256; the
// rightmost tile of a level is partial (1 ≤ W ≤ 255) when the tree size
// is not a multiple of its span. The entry bundle N holds the leaves of
// the level-0 tile N.
package tile

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

const (
	// Height is the tree height one tile spans: 2^8 = 256 hashes.
	Height = 8
	// Width is the number of hashes of a full tile and entries of a full
	// bundle.
	Width = 1 << Height
	// HashSize is the size of every hash (SHA-256).
	HashSize = 32
	// MaxLevel is the highest level a path may name.
	MaxLevel = 63
	// MaxEntrySize is the largest entry an entry bundle can carry: its
	// length prefix is a big-endian uint16.
	MaxEntrySize = 1<<16 - 1
	// maxPathElements bounds the 3-digit elements of an index: six of
	// them name every index below 10^18, beyond any tree.
	maxPathElements = 6
)

// Tile is the coordinates of a hash tile, or (Level 0) of an entry
// bundle.
type Tile struct {
	Level int    // 0 … MaxLevel
	N     uint64 // index within the level
	W     int    // width: 1 … Width; Width is a full tile
}

// ErrMalformed is wrapped by every error of ParsePath.
var ErrMalformed = errors.New("malformed tile path")

// Full reports whether t is a full tile.
func (t Tile) Full() bool { return t.W == Width }

// Valid reports whether t's coordinates are in range.
func (t Tile) Valid() bool {
	return t.Level >= 0 && t.Level <= MaxLevel && t.W >= 1 && t.W <= Width
}

// First returns the index, at tree level 8·Level, of t's first hash.
func (t Tile) First() uint64 { return t.N * Width }

// Span returns how many leaves one hash of t stands for (256^Level), and
// false when that overflows 64 bits.
func (t Tile) Span() (uint64, bool) {
	if Height*t.Level >= 64 {
		return 0, false
	}
	return 1 << (Height * t.Level), true
}

// MinSize returns the smallest tree size that covers all of t's hashes,
// (N·256 + W)·256^Level, and false when no tree can be that large (it
// overflows 64 bits). For a partial tile it is also the smallest tree
// whose own tile at that place t is.
func (t Tile) MinSize() (uint64, bool) {
	span, ok := t.Span()
	if !ok || t.N > (1<<64-1-uint64(t.W))/Width {
		return 0, false
	}
	hi, lo := bits.Mul64(t.N*Width+uint64(t.W), span)
	return lo, hi == 0
}

// Covered reports whether the tree of the given size holds every hash of
// t: a full tile covered by a tree is final; a partial one is a prefix of
// a tile the tree holds (or is its own partial tile).
func (t Tile) Covered(size uint64) bool {
	if !t.Valid() {
		return false
	}
	n, ok := t.MinSize()
	return ok && n <= size
}

// Of reports whether t is one of the tiles of the tree of the given
// size, as the spec lists them: a full tile the tree covers, or the
// tree's partial tile of that level, with exactly the width
// floor(size / 256^Level) mod 256.
func (t Tile) Of(size uint64) bool {
	if !t.Covered(size) {
		return false
	}
	if t.Full() {
		return true
	}
	span, _ := t.Span()
	hashes := size / span // hashes at this level
	return hashes/Width == t.N && int(hashes%Width) == t.W
}

// PartialOf returns the partial tile of the tree of the given size at
// level, if the tree has one there.
func PartialOf(size uint64, level int) (Tile, bool) {
	t := Tile{Level: level}
	span, ok := t.Span()
	if !ok || level < 0 {
		return Tile{}, false
	}
	hashes := size / span
	t.N, t.W = hashes/Width, int(hashes%Width)
	return t, t.W > 0
}

// EncodeIndex writes n as the spec's zero-padded 3-digit path elements,
// all but the last prefixed with "x": 1234067 is "x001/x234/067".
func EncodeIndex(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

func (t Tile) suffix() string {
	if t.Full() {
		return ""
	}
	return ".p/" + strconv.Itoa(t.W)
}

// Path returns t's hash tile path: "tile/<L>/<N>[.p/<W>]".
func (t Tile) Path() string {
	return "tile/" + strconv.Itoa(t.Level) + "/" + EncodeIndex(t.N) + t.suffix()
}

// EntriesPath returns the path of the entry bundle of level-0 tile t:
// "tile/entries/<N>[.p/<W>]".
func (t Tile) EntriesPath() string {
	return "tile/entries/" + EncodeIndex(t.N) + t.suffix()
}

// ParsePath parses a hash tile path or an entry bundle path (entries
// true, Level 0), starting "tile/". Only the one spelling the spec allows
// is accepted: decimal levels and widths without leading zeroes, the
// level at most MaxLevel, widths 1 … 255, and the index in 3-digit
// elements whose first is not "x000". Every error wraps ErrMalformed.
func ParsePath(p string) (t Tile, entries bool, err error) {
	bad := func(format string, args ...any) (Tile, bool, error) {
		return Tile{}, false, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return bad("not under tile/")
	}
	level, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no index")
	}
	if level == "entries" {
		entries = true
	} else {
		l, ok := decimal(level, MaxLevel)
		if !ok {
			return bad("level %q is not a decimal from 0 to %d without leading zeroes", level, MaxLevel)
		}
		t.Level = int(l)
	}
	t.W = Width
	if i := strings.Index(rest, ".p/"); i >= 0 {
		w, ok := decimal(rest[i+len(".p/"):], Width-1)
		if !ok || w == 0 {
			return bad("width %q is not a decimal from 1 to %d without leading zeroes", rest[i+len(".p/"):], Width-1)
		}
		t.W, rest = int(w), rest[:i]
	}
	elems := strings.Split(rest, "/")
	if len(elems) > maxPathElements {
		return bad("index of more than %d elements", maxPathElements)
	}
	for i, e := range elems {
		if i < len(elems)-1 {
			if e, ok = strings.CutPrefix(e, "x"); !ok {
				return bad("index element %q does not start with x", elems[i])
			}
		}
		if len(e) != 3 || e[0] < '0' || e[0] > '9' || e[1] < '0' || e[1] > '9' || e[2] < '0' || e[2] > '9' {
			return bad("index element %q is not 3 digits", elems[i])
		}
		if i == 0 && len(elems) > 1 && e == "000" {
			return bad("index has a leading zero element")
		}
		t.N = t.N*1000 + uint64(e[0]-'0')*100 + uint64(e[1]-'0')*10 + uint64(e[2]-'0')
	}
	return t, entries, nil
}

// decimal parses s, a decimal without sign or leading zeroes, of at most
// max.
func decimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, n <= max
}
