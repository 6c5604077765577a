package ledger_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/tile"
)

// tileSource is a tlog.TileReader over Org.ReadTile for one tree size.
type tileSource struct {
	ctx  context.Context
	org  *ledger.Org
	size uint64
	read atomic.Int64
	// levels has bit L set once a tile of level L was read.
	levels atomic.Uint64
}

func (s *tileSource) Height() int { return tile.Height }

func (s *tileSource) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		data, err := s.org.ReadTile(s.ctx, s.size, tile.Tile{Level: t.L, N: uint64(t.N), W: t.W})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Path(), err)
		}
		out[i] = data
		s.read.Add(1)
		s.levels.Or(1 << t.L)
	}
	return out, nil
}

func (s *tileSource) SaveTiles([]tlog.Tile, [][]byte) {}

// bigAppend appends n small events to org in chunks of up to 4,096, the
// last acknowledged with a checkpoint.
func bigAppend(t testing.TB, l *ledger.Ledger, org string, n int) {
	t.Helper()
	for done := 0; done < n; {
		k := min(4096, n-done)
		ack := ledger.AckDurable
		if done+k == n {
			ack = ledger.AckCheckpoint
		}
		entries := make([]ledger.Entry, k)
		for i := range entries {
			entries[i] = ledger.Entry{Event: event("%s-%d", org, done+i)}
		}
		if _, err := l.Append(context.Background(), org, entries, ack); err != nil {
			t.Fatal(err)
		}
		done += k
	}
}

// TestTilesAgreeWithTlog reads tiles of many tree sizes of a
// 70,000-entry log (so that tiles of levels 0, 1 and 2 exist), through
// golang.org/x/mod/sumdb/tlog's TileHashReader, which authenticates every
// tile against the tree hash that tlog computes itself from the leaf
// bytes; proves records and trees with them; and compares every tile
// with tlog's own and every entry bundle with its level-0 tile.
func TestTilesAgreeWithTlog(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			cfg := testConfig(t)
			if !cached {
				cfg.TileCacheSize = -1
			}
			l := openLedger(t, cfg)
			ctx := context.Background()
			const n = 70_001
			bigAppend(t, l, "acme", n)
			bigAppend(t, l, "other", 300)
			ct := &crossTree{}
			if err := l.Leaves(ctx, "acme", 0, n, func(lf ledger.Leaf) error { ct.add(t, lf.Bytes); return nil }); err != nil {
				t.Fatal(err)
			}
			org := orgHandle(t, l, "acme")
			rng := mrand.New(mrand.NewPCG(21, 22))
			sizes := []uint64{1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537, 65792, n}
			for range 12 {
				sizes = append(sizes, 1+rng.Uint64N(n))
			}
			for _, size := range sizes {
				root := ct.root(t, size)
				src := &tileSource{ctx: ctx, org: org, size: size}
				tr := tlog.Tree{N: int64(size), Hash: tlog.Hash(root)}
				hr := tlog.TileHashReader(tr, src)
				if th, err := tlog.TreeHash(int64(size), hr); err != nil || th != tr.Hash {
					t.Fatalf("size %d: tree hash from tiles %x, %v; want %x", size, th, err, root)
				}
				for range 4 {
					i := rng.Int64N(int64(size))
					p, err := tlog.ProveRecord(int64(size), i, hr)
					if err != nil {
						t.Fatalf("size %d: ProveRecord(%d): %v", size, i, err)
					}
					lf, err := org.Leaf(ctx, uint64(i))
					if err != nil {
						t.Fatal(err)
					}
					if err := tlog.CheckRecord(p, int64(size), tr.Hash, i, tlog.RecordHash(lf.Bytes)); err != nil {
						t.Fatalf("size %d: CheckRecord(%d): %v", size, i, err)
					}
					old := 1 + rng.Int64N(int64(size))
					tp, err := tlog.ProveTree(int64(size), old, hr)
					if err != nil {
						t.Fatalf("size %d: ProveTree(%d): %v", size, old, err)
					}
					if err := tlog.CheckTree(tp, int64(size), tr.Hash, old, tlog.Hash(ct.root(t, uint64(old)))); err != nil {
						t.Fatalf("size %d: CheckTree(%d): %v", size, old, err)
					}
				}
				if src.read.Load() == 0 {
					t.Fatalf("size %d: no tile read", size)
				}
				if size > 65536 && src.levels.Load() != 0b111 {
					t.Fatalf("size %d: tiles of levels %b read, want 0, 1 and 2", size, src.levels.Load())
				}
				// Every tile of the tree, byte for byte as tlog builds it.
				for _, rt := range tlog.NewTiles(tile.Height, 0, int64(size)) {
					if rt.L == 0 && rt.N%37 != 0 && rt.W == tile.Width {
						continue // a sample of the full level-0 tiles is enough
					}
					tl := tile.Tile{Level: rt.L, N: uint64(rt.N), W: rt.W}
					got, err := org.ReadTile(ctx, size, tl)
					if err != nil {
						t.Fatalf("size %d: %s: %v", size, tl.Path(), err)
					}
					want, err := tlog.ReadTileData(rt, ct)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("size %d: %s differs from tlog's", size, tl.Path())
					}
					if tl.Level == 0 {
						checkBundle(t, org, size, tl, got)
					}
				}
			}
		})
	}
}

// checkBundle reads the entry bundle of level-0 tile tl and checks that
// its entries hash to the tile's hashes.
func checkBundle(t *testing.T, org *ledger.Org, size uint64, tl tile.Tile, hashes []byte) {
	t.Helper()
	b, err := org.ReadEntryBundle(context.Background(), size, tl)
	if err != nil {
		t.Fatalf("size %d: %s: %v", size, tl.EntriesPath(), err)
	}
	entries, err := splitBundle(b)
	if err != nil {
		t.Fatalf("%s: %v", tl.EntriesPath(), err)
	}
	if len(entries) != tl.W {
		t.Fatalf("%s: %d entries, want %d", tl.EntriesPath(), len(entries), tl.W)
	}
	for i, e := range entries {
		if h := tlog.RecordHash(e); !bytes.Equal(h[:], hashes[i*32:i*32+32]) {
			t.Fatalf("%s: entry %d hashes to %x, the tile says %x", tl.EntriesPath(), i, h, hashes[i*32:i*32+32])
		}
	}
}

// splitBundle splits an entry bundle into its entries.
func splitBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, errors.New("truncated entry")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}

func TestTilesNotOfTheTree(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	appendN(t, l, "acme", 600, ledger.AckCheckpoint)
	org := orgHandle(t, l, "acme")
	for _, tc := range []struct {
		size uint64
		tl   tile.Tile
		want error
	}{
		{600, tile.Tile{Level: 0, N: 2, W: 88}, nil},
		{600, tile.Tile{Level: 0, N: 1, W: 256}, nil},
		{600, tile.Tile{Level: 1, N: 0, W: 2}, nil},
		{600, tile.Tile{Level: 0, N: 2, W: 87}, ledger.ErrNotFound},  // a width of another size
		{600, tile.Tile{Level: 0, N: 2, W: 89}, ledger.ErrNotFound},  // beyond the tree
		{600, tile.Tile{Level: 0, N: 2, W: 256}, ledger.ErrNotFound}, // not full yet
		{600, tile.Tile{Level: 0, N: 1, W: 100}, ledger.ErrNotFound}, // partial of a full one
		{600, tile.Tile{Level: 0, N: 3, W: 1}, ledger.ErrNotFound},
		{600, tile.Tile{Level: 1, N: 0, W: 3}, ledger.ErrNotFound},
		{600, tile.Tile{Level: 1, N: 0, W: 256}, ledger.ErrNotFound},
		{600, tile.Tile{Level: 2, N: 0, W: 1}, ledger.ErrNotFound},
		{600, tile.Tile{Level: 0, N: 1 << 60, W: 256}, ledger.ErrNotFound},
		{600, tile.Tile{Level: 63, N: 0, W: 1}, ledger.ErrNotFound},
		{600, tile.Tile{Level: 0, N: 0, W: 0}, ledger.ErrNotFound},
		{100, tile.Tile{Level: 0, N: 0, W: 100}, nil}, // an earlier tree
		{100, tile.Tile{Level: 0, N: 0, W: 88}, ledger.ErrNotFound},
		{601, tile.Tile{Level: 0, N: 2, W: 89}, ledger.ErrSizeOutOfRange},
	} {
		for _, read := range []func(context.Context, uint64, tile.Tile) ([]byte, error){org.ReadTile, org.ReadEntryBundle} {
			if tc.tl.Level > 0 && tc.want == nil {
				continue
			}
			_, err := read(ctx, tc.size, tc.tl)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("size %d, %+v: %v, want %v", tc.size, tc.tl, err, tc.want)
			}
		}
	}
	if _, err := org.ReadEntryBundle(ctx, 600, tile.Tile{Level: 1, N: 0, W: 2}); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("entry bundle of level 1: %v", err)
	}
	none := orgHandle(t, l, "nobody")
	if _, err := none.ReadTile(ctx, 1, tile.Tile{W: 1}); !errors.Is(err, ledger.ErrUnknownOrg) {
		t.Errorf("tile of an org without a log: %v", err)
	}
}

// TestTilesOfPurgedLeaves: a purged leaf keeps its hash, so its tiles
// are served as before; its entry bundle is refused with ErrPurged, and
// bundles past the purge are served.
func TestTilesOfPurgedLeaves(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock = c.Now
	l := openLedger(t, cfg)
	ctx := context.Background()
	appendN(t, l, "acme", 300, ledger.AckDurable)
	c.Advance(48 * time.Hour)
	appendN(t, l, "acme", 300, ledger.AckCheckpoint)
	org := orgHandle(t, l, "acme")
	full0, full1 := tile.Tile{N: 0, W: 256}, tile.Tile{N: 1, W: 256}
	before, err := org.ReadTile(ctx, 600, full1)
	if err != nil {
		t.Fatal(err)
	}
	if err := org.SetRetention(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, err := org.Purge(ctx); err != nil || r.PurgedThrough != 300 {
		t.Fatalf("purge: %+v, %v", r, err)
	}
	after, err := org.ReadTile(ctx, 600, full1)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("tile of purged leaves: %v, equal %v", err, bytes.Equal(before, after))
	}
	t0, err := org.ReadTile(ctx, 600, full0)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 256; i++ {
		lf, _ := org.Leaf(ctx, i)
		if !bytes.Equal(lf.Hash, t0[i*32:i*32+32]) {
			t.Fatalf("hash %d of tile 0 after the purge", i)
		}
	}
	for _, tl := range []tile.Tile{full0, full1} {
		if _, err := org.ReadEntryBundle(ctx, 600, tl); !errors.Is(err, ledger.ErrPurged) {
			t.Errorf("bundle %s of purged leaves: %v, want ErrPurged", tl.EntriesPath(), err)
		}
	}
	if _, err := org.ReadEntryBundle(ctx, 600, tile.Tile{N: 2, W: 88}); err != nil {
		t.Errorf("bundle past the purge: %v", err)
	}
	if _, err := org.ReadEntryBundle(ctx, 300, tile.Tile{N: 1, W: 44}); !errors.Is(err, ledger.ErrPurged) {
		t.Errorf("partial bundle of purged leaves: %v", err)
	}
}

// TestTilesPurgedWithoutCache reads the tiles of purged leaves from
// storage (no tile cache): the purged records are their hashes.
func TestTilesPurgedWithoutCache(t *testing.T) {
	c := newClock()
	cfg := testConfig(t)
	cfg.Clock, cfg.TileCacheSize = c.Now, -1
	l := openLedger(t, cfg)
	ctx := context.Background()
	rs := appendN(t, l, "acme", 256, ledger.AckDurable)
	c.Advance(48 * time.Hour)
	appendN(t, l, "acme", 1, ledger.AckCheckpoint)
	org := orgHandle(t, l, "acme")
	if err := org.SetRetention(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, err := org.Purge(ctx); err != nil || r.PurgedThrough != 256 {
		t.Fatalf("purge: %+v, %v", r, err)
	}
	got, err := org.ReadTile(ctx, 257, tile.Tile{W: 256})
	if err != nil {
		t.Fatal(err)
	}
	for i, rc := range rs {
		if !bytes.Equal(got[i*32:i*32+32], rc.LeafHash) {
			t.Fatalf("hash %d of a purged tile", i)
		}
	}
}

// TestBundleRefusesLargeLeaves: an entry bundle cannot carry a leaf of
// more than 65,535 bytes; its tile is served.
func TestBundleRefusesLargeLeaves(t *testing.T) {
	l := openLedger(t, testConfig(t))
	ctx := context.Background()
	appendN(t, l, "acme", 3, ledger.AckDurable)
	big := fmt.Appendf(nil, `{"type":"big","d":%q}`, strings.Repeat("x", tile.MaxEntrySize))
	if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: big}}, ledger.AckCheckpoint); err != nil {
		t.Fatal(err)
	}
	org := orgHandle(t, l, "acme")
	if _, err := org.ReadEntryBundle(ctx, 4, tile.Tile{W: 4}); !errors.Is(err, ledger.ErrBundleEntryTooLarge) {
		t.Errorf("bundle with a large leaf: %v", err)
	}
	if _, err := org.ReadEntryBundle(ctx, 3, tile.Tile{W: 3}); err != nil {
		t.Errorf("bundle before the large leaf: %v", err)
	}
	if _, err := org.ReadTile(ctx, 4, tile.Tile{W: 4}); err != nil {
		t.Errorf("tile with a large leaf: %v", err)
	}
}

// TestTileCacheConcurrent reads the same full tiles from many goroutines
// (with -race, the cache's locking).
func TestTileCacheConcurrent(t *testing.T) {
	cfg := testConfig(t)
	cfg.TileCacheSize = 64 << 10 // a few tiles: evictions happen
	l := openLedger(t, cfg)
	ctx := context.Background()
	bigAppend(t, l, "acme", 20*256+2)
	org := orgHandle(t, l, "acme")
	want := make([][]byte, 20)
	for i := range want {
		var err error
		if want[i], err = org.ReadTile(ctx, 20*256, tile.Tile{N: uint64(i), W: 256}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 200 {
				i := (g*7 + k) % 20
				got, err := org.ReadTile(ctx, 20*256+uint64(k%3), tile.Tile{N: uint64(i), W: 256})
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Errorf("tile %d: %v", i, err)
					return
				}
				got[0] ^= 1 // the caller's copy
			}
		}()
	}
	wg.Wait()
	if !slices.EqualFunc(want[:1], [][]byte{mustTile(t, org, 20*256, 0)}, bytes.Equal) {
		t.Error("a caller's change reached the cache")
	}
}

func mustTile(t *testing.T, org *ledger.Org, size, n uint64) []byte {
	t.Helper()
	b, err := org.ReadTile(context.Background(), size, tile.Tile{N: n, W: 256})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
