package tile_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/nuxari/nuxari/ledger/tile"
)

func TestEncodeIndex(t *testing.T) {
	for n, want := range map[uint64]string{
		0:                       "000",
		7:                       "007",
		999:                     "999",
		1000:                    "x001/000",
		1234067:                 "x001/x234/067",
		1 << 45:                 "x035/x184/x372/x088/832",
		999_999_999_999_999_999: "x999/x999/x999/x999/x999/999",
	} {
		if got := tile.EncodeIndex(n); got != want {
			t.Errorf("EncodeIndex(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestPathsAgreeWithTlog checks every path against the Go checksum
// database's encoding (x/mod/sumdb/tlog, height 8), which spells the
// index the same way under "tile/8/".
func TestPathsAgreeWithTlog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		tl := tile.Tile{Level: rng.IntN(tile.MaxLevel + 1), N: rng.Uint64N(1 << uint(rng.IntN(50))), W: 1 + rng.IntN(tile.Width)}
		if i%3 == 0 {
			tl.W = tile.Width
		}
		ref := tlog.Tile{H: tile.Height, L: tl.Level, N: int64(tl.N), W: tl.W}
		want := "tile/" + strings.TrimPrefix(ref.Path(), "tile/8/")
		if got := tl.Path(); got != want {
			t.Fatalf("%+v: Path() = %q, tlog says %q", tl, got, want)
		}
		ref.L = -1
		want = "tile/entries/" + strings.TrimPrefix(ref.Path(), "tile/8/data/")
		if got := tl.EntriesPath(); got != want {
			t.Fatalf("%+v: EntriesPath() = %q, tlog says %q", tl, got, want)
		}
		back, entries, err := tile.ParsePath(tl.Path())
		if err != nil || entries || back != tl {
			t.Fatalf("ParsePath(%q) = %+v, %v, %v", tl.Path(), back, entries, err)
		}
		back, entries, err = tile.ParsePath(tl.EntriesPath())
		if want := (tile.Tile{N: tl.N, W: tl.W}); err != nil || !entries || back != want {
			t.Fatalf("ParsePath(%q) = %+v, %v, %v", tl.EntriesPath(), back, entries, err)
		}
	}
}

func TestParsePathRefuses(t *testing.T) {
	for _, p := range []string{
		"", "tile", "tile/", "tile/0", "tile/0/", "tiles/0/000", "/tile/0/000",
		"tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000", "tile/+1/000", "tile/a/000", "tile/1000/000",
		"tile/data/000", "tile/Entries/000",
		"tile/0/0", "tile/0/00", "tile/0/0000", "tile/0/00a", "tile/0/-01", "tile/0/ 01",
		"tile/0/001/002", "tile/0/x001", "tile/0/x000/001", "tile/0/x000/x001/002", "tile/0/y001/002", "tile/0/xx01/002",
		"tile/0/x001/x002/x003/x004/x005/x006/007",
		"tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/300", "tile/0/000.p/01", "tile/0/000.p/", "tile/0/000.p",
		"tile/0/000.p/1/", "tile/0/000.p/1.p/2", "tile/0/000/", "tile/0//000", "tile/0/000.P/1", "tile/0/000.p/x",
		"tile/entries/", "tile/entries/0", "tile/entries/000.p/0", "tile/entries/x000/001",
	} {
		if tl, _, err := tile.ParsePath(p); err == nil || !errors.Is(err, tile.ErrMalformed) {
			t.Errorf("ParsePath(%q) = %+v, %v; want ErrMalformed", p, tl, err)
		}
	}
}

// TestTilesOfSize checks Of and PartialOf against tlog.NewTiles, the
// tiles a tree of a given size publishes.
func TestTilesOfSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []uint64{1, 255, 256, 257, 511, 512, 65535, 65536, 65537, 70000, 16777216, 16777217}
	for range 200 {
		sizes = append(sizes, 1+rng.Uint64N(1<<uint(1+rng.IntN(24))))
	}
	for _, size := range sizes {
		want := map[tile.Tile]bool{}
		for _, rt := range tlog.NewTiles(tile.Height, 0, int64(size)) {
			want[tile.Tile{Level: rt.L, N: uint64(rt.N), W: rt.W}] = true
		}
		for tl := range want {
			if !tl.Of(size) || !tl.Covered(size) {
				t.Fatalf("size %d: %+v is one of its tiles, Of says no", size, tl)
			}
			if !tl.Full() {
				if p, ok := tile.PartialOf(size, tl.Level); !ok || p != tl {
					t.Fatalf("size %d: PartialOf(%d) = %+v, %v; want %+v", size, tl.Level, p, ok, tl)
				}
			}
			// Every other width at that place is not a tile of size.
			for _, w := range []int{tl.W - 1, tl.W + 1} {
				other := tile.Tile{Level: tl.Level, N: tl.N, W: w}
				if w >= 1 && w <= tile.Width && other.Of(size) {
					t.Fatalf("size %d: %+v is not one of its tiles, Of says yes", size, other)
				}
				if w >= 1 && w < tl.W && !other.Covered(size) {
					t.Fatalf("size %d: %+v is covered, Covered says no", size, other)
				}
			}
			next := tile.Tile{Level: tl.Level, N: tl.N + 1, W: 1}
			if next.Covered(size) && !want[tile.Tile{Level: tl.Level, N: tl.N + 1, W: tile.Width}] {
				if p, ok := tile.PartialOf(size, tl.Level); !ok || p.N != next.N {
					t.Fatalf("size %d: %+v covered past the level's end", size, next)
				}
			}
		}
		for level := 0; level < 5; level++ {
			if p, ok := tile.PartialOf(size, level); ok && !want[p] {
				t.Fatalf("size %d: PartialOf(%d) = %+v, which tlog does not publish", size, level, p)
			}
		}
	}
}

func TestCoveredBounds(t *testing.T) {
	for _, tc := range []struct {
		tl   tile.Tile
		size uint64
		want bool
	}{
		{tile.Tile{Level: 0, N: 0, W: 256}, 256, true},
		{tile.Tile{Level: 0, N: 0, W: 256}, 255, false},
		{tile.Tile{Level: 0, N: 0, W: 1}, 1, true},
		{tile.Tile{Level: 1, N: 0, W: 1}, 256, true},
		{tile.Tile{Level: 1, N: 0, W: 1}, 255, false},
		{tile.Tile{Level: 2, N: 0, W: 1}, 65536, true},
		{tile.Tile{Level: 7, N: 0, W: 1}, 1<<64 - 1, true},
		{tile.Tile{Level: 8, N: 0, W: 1}, 1<<64 - 1, false},
		{tile.Tile{Level: 63, N: 0, W: 1}, 1<<64 - 1, false},
		{tile.Tile{Level: 0, N: 1<<64 - 1, W: 256}, 1<<64 - 1, false},
		{tile.Tile{Level: 0, N: 1 << 56, W: 1}, 1<<64 - 1, false},
		{tile.Tile{Level: 1, N: 1 << 48, W: 1}, 1<<64 - 1, false},
		{tile.Tile{Level: 0, N: 0, W: 0}, 1 << 20, false},
		{tile.Tile{Level: 0, N: 0, W: 257}, 1 << 20, false},
		{tile.Tile{Level: 64, N: 0, W: 1}, 1<<64 - 1, false},
	} {
		if got := tc.tl.Covered(tc.size); got != tc.want {
			t.Errorf("%+v.Covered(%d) = %v, want %v", tc.tl, tc.size, got, tc.want)
		}
	}
}
