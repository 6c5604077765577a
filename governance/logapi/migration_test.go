package logapi_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/logapi"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
)

// TestRecordMigration: an org's ledger.migrated event is appended once,
// by the system, with the fields the catalog lists; a second call (a
// rerun after a crash) finds it by its idempotency key and appends
// nothing; an org without a log has nothing to record.
func TestRecordMigration(t *testing.T) {
	e := newEnv(t, logapi.Config{})
	e.CreateOrg(t, "acme")
	size := e.F.LogSize(t, "acme")
	root := bytes.Repeat([]byte{0xab}, 32)
	m := logapi.Migration{FromLayout: 1, ToLayout: 2, TreeSize: size, RootHash: root, Resumed: true}
	// A request's context: the event must not carry its ID, or a rerun
	// from another request would not be the same event.
	index, appended, err := e.log.RecordMigration(domaintest.Ctx(), "acme", m)
	if err != nil || !appended || index != size {
		t.Fatalf("RecordMigration: index %d, appended %v, %v; want index %d, appended", index, appended, err, size)
	}
	again, appended, err := e.log.RecordMigration(context.Background(), "acme", m)
	if err != nil || appended || again != index {
		t.Fatalf("second RecordMigration: index %d, appended %v, %v; want the first's index %d, not appended", again, appended, err, index)
	}
	evs := e.F.EventsOfType(t, "acme", ec.LedgerMigrated)
	if len(evs) != 1 {
		t.Fatalf("%d ledger.migrated events, want 1", len(evs))
	}
	ev := evs[0]
	domaintest.CheckCatalog(t, evs)
	if ev.Actor != ec.System || ev.Subject != "acme" || ev.RequestID != "" {
		t.Errorf("actor %q, subject %q, request ID %q; want system, acme, none", ev.Actor, ev.Subject, ev.RequestID)
	}
	want := map[string]any{"from_layout": 1.0, "to_layout": 2.0, "tree_size": float64(size), "root_hash": strings.Repeat("ab", 32), "resumed": true}
	for k, v := range want {
		if ev.Data[k] != v {
			t.Errorf("%s = %v, want %v", k, ev.Data[k], v)
		}
	}
	if got := e.F.LogSize(t, "acme"); got != size+1 {
		t.Errorf("log size %d after two calls, want %d", got, size+1)
	}

	// The same key with other fields is another migration's event.
	m.TreeSize++
	if _, _, err := e.log.RecordMigration(context.Background(), "acme", m); err == nil || !strings.Contains(err.Error(), logapi.MigrationKey(2)) {
		t.Errorf("RecordMigration with other fields under the same key: %v, want a refusal naming the key", err)
	}
	if _, _, err := e.log.RecordMigration(context.Background(), "nobody", m); err == nil {
		t.Error("RecordMigration for an org without a log succeeded")
	}
	if got := e.F.LogSize(t, "acme"); got != size+1 {
		t.Errorf("log size %d after refused calls, want %d", got, size+1)
	}
}
