package logapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
)

// Migration is what a conversion of the ledger's storage layout did to
// one org's log, as its ledger.migrated event records it.
type Migration struct {
	FromLayout, ToLayout int
	// TreeSize and RootHash are the log's tree when it was converted.
	TreeSize uint64
	RootHash []byte
	// Resumed says an earlier, interrupted run had begun the conversion.
	Resumed bool
}

// MigrationKey is the idempotency key of an org's ledger.migrated event
// for the layout it converted to: one such event per org and layout.
func MigrationKey(toLayout int) string {
	return fmt.Sprintf("%s:%d", ec.LedgerMigrated, toLayout)
}

// RecordMigration appends org's ledger.migrated event (actor system,
// subject the org) once: a second call for the same layout, after a
// crash or a rerun, finds the first by its idempotency key
// (MigrationKey) and appends nothing. It returns the event's index and
// whether this call appended it. The operator's migration command calls
// it with the server stopped, so nothing else is appended meanwhile.
func (s *Service) RecordMigration(ctx context.Context, org string, m Migration) (index uint64, appended bool, err error) {
	o, err := s.env.Store.Org(org)
	if err != nil {
		return 0, false, err
	}
	if _, err := o.Log().Size(); err != nil {
		return 0, false, fmt.Errorf("org %s: %w", org, err)
	}
	ev := core.NewEvent(ctx, ec.LedgerMigrated, ec.System, org, map[string]any{
		"from_layout": m.FromLayout,
		"to_layout":   m.ToLayout,
		"tree_size":   m.TreeSize,
		"root_hash":   hex.EncodeToString(m.RootHash),
		"resumed":     m.Resumed,
	})
	// A rerun must build the same event: no request ID.
	ev.RequestID = ""
	key := MigrationKey(m.ToLayout)
	rs, err := o.Commit(ctx, ledger.AckDurable, store.Change{Event: ev, IdempotencyKey: key})
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return 0, false, fmt.Errorf("org %s: its log already holds an event under the idempotency key %q that is not this migration's: %w", org, key, err)
	}
	if err != nil {
		return 0, false, err
	}
	return rs[0].Index, !rs[0].Duplicate, nil
}
