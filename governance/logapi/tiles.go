package logapi

import (
	"context"
	"errors"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/tile"
)

// The log as C2SP tlog-tiles (docs/tlog.md): the hash tiles and entry
// bundles that the org's latest signed checkpoint covers.
//
// A full tile is read in the tree of the latest checkpoint; a partial
// tile of width W in the smallest tree it is the partial tile of. So a
// client that verified an older checkpoint still gets the partial tiles
// of that tree: every covered tile, partial or full, is a fixed part of
// a tree the org has signed, and never changes.

// ErrTilePurged is wrapped by the error of an entry bundle that holds a
// leaf purged after the org's retention window; its hash tile is still
// served.
var ErrTilePurged = ledger.ErrPurged

// ErrTileEntryTooLarge is wrapped by the error of an entry bundle that
// holds a leaf longer than the 65,535 bytes a bundle can carry.
var ErrTileEntryTooLarge = ledger.ErrBundleEntryTooLarge

// Tile returns hash tile t of the org's log.
func (s *Service) Tile(ctx context.Context, p *core.Principal, t tile.Tile) ([]byte, error) {
	return s.readTile(ctx, p, t, s.env.OrgOf(p).Log().ReadTile)
}

// EntryBundle returns the entry bundle of level-0 tile t of the org's
// log.
func (s *Service) EntryBundle(ctx context.Context, p *core.Principal, t tile.Tile) ([]byte, error) {
	if t.Level != 0 {
		return nil, errNoTile
	}
	return s.readTile(ctx, p, t, s.env.OrgOf(p).Log().ReadEntryBundle)
}

var errNoTile = errs.New(errs.NotFound, "the latest checkpoint covers no such tile")

func (s *Service) readTile(ctx context.Context, p *core.Principal, t tile.Tile, read func(context.Context, uint64, tile.Tile) ([]byte, error)) ([]byte, error) {
	cp, err := s.env.OrgOf(p).Log().Checkpoint(ctx)
	if err != nil {
		return nil, core.LedgerErr(err)
	}
	if !t.Covered(cp.Size) {
		return nil, errNoTile
	}
	size := cp.Size
	if !t.Full() {
		size, _ = t.MinSize()
	}
	release, err := s.reads.acquire(ctx, p.Org)
	if err != nil {
		return nil, err
	}
	defer release()
	data, err := read(ctx, size, t)
	switch {
	case errors.Is(err, ledger.ErrPurged):
		return nil, errs.Wrap(errs.Precondition, err, "the bundle holds entries purged after the org's retention window; their hashes are in the level-0 tile")
	case errors.Is(err, ledger.ErrBundleEntryTooLarge):
		return nil, errs.Wrap(errs.Precondition, err, "the bundle holds an entry longer than the 65,535 bytes an entry bundle can carry; read it with GetEvent")
	}
	return data, core.LedgerErr(err)
}
