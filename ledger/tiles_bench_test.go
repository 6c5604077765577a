package ledger_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/tile"
)

// BenchmarkReadTile measures tlog-tiles reads on one org of
// TILE_BENCH_ENTRIES entries (default 1,000,000) of about 300-byte events,
// from GOMAXPROCS goroutines at random tiles: full level-0 and level-1
// hash tiles read from their stored records (with the tile cache off), or
// from the tile cache warmed by proofs, full entry bundles, and the
// partial level-0 tile and bundle at the tree's right edge. The log is built once, closed, and reopened for each
// case, so Pebble's block cache (256 MiB, the default) is warm only from
// the case's own reads.
// Run it with -benchtime 3s or more; the build takes a minute or so on 2
// cores.
func BenchmarkReadTile(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("TILE_BENCH_ENTRIES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 65536 {
			b.Fatalf("TILE_BENCH_ENTRIES=%q: want an integer of at least 65536", s)
		}
	}
	cfg := testConfig(b)
	cfg.CacheSize = 0 // Pebble's block cache at its default, 256 MiB, as nuxarid runs it
	start := time.Now()
	l := openLedger(b, cfg)
	payload := make([]byte, 240)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	for done := 0; done < n; {
		k := min(4096, n-done)
		ack := ledger.AckDurable
		if done+k == n {
			ack = ledger.AckCheckpoint
		}
		entries := make([]ledger.Entry, k)
		for i := range entries {
			entries[i] = ledger.Entry{Event: fmt.Appendf(nil, `{"type":"bench","n":%d,"d":%q}`, done+i, payload)}
		}
		if _, err := l.Append(context.Background(), "big", entries, ack); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d entries in %v", n, time.Since(start).Round(time.Millisecond))
	size := uint64(n)
	full0 := size / tile.Width
	full1 := size / (tile.Width * tile.Width)
	edge, _ := tile.PartialOf(size, 0)
	for _, c := range []struct {
		name    string
		cache   int64
		entries bool
		tile    func(i uint64) tile.Tile
	}{
		{"level0/uncached", -1, false, func(i uint64) tile.Tile { return tile.Tile{N: i % full0, W: tile.Width} }},
		{"level0/cached-by-proofs", 0, false, func(i uint64) tile.Tile { return tile.Tile{N: i % full0, W: tile.Width} }},
		{"level1/uncached", -1, false, func(i uint64) tile.Tile { return tile.Tile{Level: 1, N: i % full1, W: tile.Width} }},
		{"level0/partial", 0, false, func(uint64) tile.Tile { return edge }},
		{"entries/full", 0, true, func(i uint64) tile.Tile { return tile.Tile{N: i % full0, W: tile.Width} }},
		{"entries/partial", 0, true, func(uint64) tile.Tile { return edge }},
	} {
		b.Run(c.name, func(b *testing.B) {
			cc := cfg
			cc.TileCacheSize = c.cache
			l := openLedger(b, cc)
			org := orgHandle(b, l, "big")
			read := org.ReadTile
			if c.entries {
				read = org.ReadEntryBundle
			}
			ctx := context.Background()
			if c.cache == 0 && !c.entries {
				// Proofs put the tiles they read into the tile cache.
				for i := uint64(0); i < full0; i++ {
					if _, err := org.InclusionProof(ctx, i*tile.Width, size); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := uint64(time.Now().UnixNano())
				for pb.Next() {
					i = i*6364136223846793005 + 1442695040888963407
					if _, err := read(ctx, size, c.tile(i>>11)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tiles/s")
		})
	}
}
