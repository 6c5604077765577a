package logapi_test

import (
	"bytes"
	"testing"

	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/ledger/tile"
)

// TestTilesOfTheLatestCheckpoint: the tiles served are those the latest
// checkpoint covers; a partial tile of an earlier tree is served, one
// wider than the tree is not.
func TestTilesOfTheLatestCheckpoint(t *testing.T) {
	e := newEnv(t, logapi.Config{})
	owner := e.Signup(t, "acme")
	other := e.Signup(t, "globex")
	var cp logapi.Checkpoint
	for range 3 {
		evs := make([]logapi.NewEvent, 100)
		for i := range evs {
			evs[i] = ev("custom.x", map[string]any{"i": i})
		}
		_, cp = e.append(t, owner, evs...)
	}
	if cp.Size <= 256 || cp.Size >= 512 {
		t.Fatalf("checkpoint size %d, want between 256 and 512", cp.Size)
	}
	ctx := domaintest.Ctx()
	w := int(cp.Size - 256)
	for _, tl := range []tile.Tile{{N: 0, W: 256}, {N: 1, W: w}, {N: 1, W: 1}, {N: 0, W: 7}, {Level: 1, N: 0, W: 1}} {
		if _, err := e.log.Tile(ctx, owner, tl); err != nil {
			t.Errorf("%s: %v", tl.Path(), err)
		}
		if tl.Level == 0 {
			if _, err := e.log.EntryBundle(ctx, owner, tl); err != nil {
				t.Errorf("%s: %v", tl.EntriesPath(), err)
			}
		}
	}
	for _, tl := range []tile.Tile{{N: 1, W: w + 1}, {N: 1, W: 256}, {N: 2, W: 1}, {Level: 1, N: 0, W: 2}, {Level: 2, N: 0, W: 1}, {N: 1 << 50, W: 256}} {
		_, err := e.log.Tile(ctx, owner, tl)
		domaintest.WantKind(t, tl.Path(), err, errs.NotFound)
		_, err = e.log.EntryBundle(ctx, owner, tl)
		domaintest.WantKind(t, tl.EntriesPath(), err, errs.NotFound)
	}
	// The same coordinates in another org are that org's tiles.
	e.append(t, other, ev("custom.x", nil))
	a, err := e.log.Tile(ctx, owner, tile.Tile{N: 0, W: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.log.Tile(ctx, other, tile.Tile{N: 0, W: 2})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Error("two orgs' tiles are equal")
	}
}
