package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// fixtureOrgs are the orgs of the layout-1 fixture, in ID order.
var fixtureOrgs = []string{"acme", "beta", "delta", "gamma"}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// layout1Config is the server configuration of a layout-1 data
// directory.
func layout1Config(fx servertest.Layout1) server.Config {
	return server.Config{DataDir: fx.DataDir, LogName: fx.LogName, Logger: quiet()}
}

// latestRoot returns the root of the fixture's latest checkpoint of org,
// verified under its key.
func latestRoot(t *testing.T, fx servertest.Layout1, org string) []byte {
	t.Helper()
	cps := fx.Checkpoints[org]
	return checkNote(t, fx, org, cps[len(cps)-1]).Root
}

func checkNote(t *testing.T, fx servertest.Layout1, org, note string) verify.Checkpoint {
	t.Helper()
	v, err := verify.NewVerifier(fx.VerifierKey, verify.Origin(fx.LogName, org))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint([]byte(note))
	if err != nil {
		t.Fatalf("%s: checkpoint %q: %v", org, note, err)
	}
	return cp
}

// checkReport checks a report's orgs against the fixture: every org,
// its size and the root its latest checkpoint states; resumed names the
// orgs an earlier run had begun.
func checkReport(t *testing.T, fx servertest.Layout1, orgs []server.MigratedOrg, resumed ...string) {
	t.Helper()
	var ids []string
	for _, o := range orgs {
		ids = append(ids, o.Org)
		if o.TreeSize != fx.Sizes[o.Org] || o.RootHash != hex.EncodeToString(latestRoot(t, fx, o.Org)) {
			t.Errorf("%s: tree size %d, root %s; want %d and its latest checkpoint's root", o.Org, o.TreeSize, o.RootHash, fx.Sizes[o.Org])
		}
		if o.Resumed != slices.Contains(resumed, o.Org) {
			t.Errorf("%s: resumed %v", o.Org, o.Resumed)
		}
	}
	if !slices.Equal(ids, fixtureOrgs) {
		t.Errorf("orgs %v, want %v", ids, fixtureOrgs)
	}
}

// migratedEvents returns every ledger.migrated event of org's log, with
// its index.
func migratedEvents(t *testing.T, l *ledger.Ledger, org string) map[uint64]map[string]any {
	t.Helper()
	size, err := l.Size(org)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]map[string]any{}
	err = l.Leaves(context.Background(), org, 0, size, func(lf ledger.Leaf) error {
		if lf.Bytes == nil {
			return nil // purged
		}
		p, err := leaf.Parse(lf.Bytes)
		if err != nil {
			return err
		}
		var ev map[string]any
		if err := json.Unmarshal(p.Event, &ev); err != nil {
			return err
		}
		if ev["type"] == ec.LedgerMigrated {
			out[lf.Index] = ev
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMigratedLog opens the migrated data directory and checks each
// org's log: one ledger.migrated event, right after the entries it
// migrated, by the system, with the report's fields; a new checkpoint
// that covers it, signed by the same key, extends every checkpoint the
// layout-1 ledger issued, and proves the event's inclusion.
func checkMigratedLog(t *testing.T, fx servertest.Layout1, resumed ...string) {
	t.Helper()
	ctx := context.Background()
	s, err := server.Open(layout1Config(fx))
	if err != nil {
		t.Fatalf("open the migrated data directory: %v", err)
	}
	defer s.Close()
	l := s.Ledger()
	for _, org := range fixtureOrgs {
		size := fx.Sizes[org]
		evs := migratedEvents(t, l, org)
		ev, ok := evs[size]
		if len(evs) != 1 || !ok {
			t.Fatalf("%s: ledger.migrated events at %v, want one at %d", org, slices.Collect(mapKeys(evs)), size)
		}
		data, _ := ev["data"].(map[string]any)
		want := map[string]any{
			"from_layout": 1.0, "to_layout": 2.0, "tree_size": float64(size),
			"root_hash": hex.EncodeToString(latestRoot(t, fx, org)), "resumed": slices.Contains(resumed, org),
		}
		if ev["actor"] != ec.System || ev["subject"] != org || len(data) != len(want) {
			t.Errorf("%s: event %v", org, ev)
		}
		for k, v := range want {
			if data[k] != v {
				t.Errorf("%s: %s = %v, want %v", org, k, data[k], v)
			}
		}
		var latest ledger.Checkpoint
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if latest, err = l.Checkpoint(ctx, org); err == nil && latest.Size == size+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no checkpoint of size %d: %v, %v", org, size+1, latest.Size, err)
			}
		}
		signed := checkNote(t, fx, org, string(latest.Note))
		for _, note := range fx.Checkpoints[org] {
			cp := checkNote(t, fx, org, note)
			p, err := l.ConsistencyProof(ctx, org, cp.Size, signed.Size)
			if err == nil {
				err = verify.Consistency(cp.Size, signed.Size, p, cp.Root, signed.Root)
			}
			if err != nil {
				t.Errorf("%s: the checkpoint of size %d issued before the migration does not verify: %v", org, cp.Size, err)
			}
		}
		lf, err := l.Leaf(ctx, org, size)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.InclusionProof(ctx, org, size, signed.Size)
		if err == nil {
			err = verify.Inclusion(verify.LeafHash(lf.Bytes), size, signed.Size, p, signed.Root)
		}
		if err != nil {
			t.Errorf("%s: the ledger.migrated event's inclusion: %v", org, err)
		}
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func noMigrationRecord(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "MIGRATION.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the migration record is still there: %v", err)
	}
}

// TestOpenRefusesOldLayout: a data directory whose ledger is in the
// first storage layout is refused by Open and by a backup with the
// server stopped, each with the command that migrates it, and left as
// it was.
func TestOpenRefusesOldLayout(t *testing.T) {
	fx := servertest.Layout1DataDir(t)
	cmd := "'nuxarid migrate --data-dir " + fx.DataDir + " --log-name nuxari-fixture'"
	for range 2 {
		_, err := server.Open(layout1Config(fx))
		if !errors.Is(err, ledger.ErrOldLayout) {
			t.Fatalf("Open: %v, want ErrOldLayout", err)
		}
		for _, want := range []string{"the ledger of data directory " + fx.DataDir + " is in an older storage layout (layout 1)", "with no server running, run " + cmd, `docs/operations.md, "Upgrades"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open: %q does not say %q", err, want)
			}
		}
	}
	entries, err := os.ReadDir(fx.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != "ledger" && n != "log.key" && n != "LOCK" {
			t.Errorf("a refused start left %s in the data directory", n)
		}
	}
	backup := filepath.Join(t.TempDir(), "backup")
	_, err = server.BackupStopped(fx.DataDir, backup, fx.LogName)
	if !errors.Is(err, ledger.ErrOldLayout) || !strings.Contains(err.Error(), "with the nuxarid that wrote it") || !strings.Contains(err.Error(), "then run "+cmd) {
		t.Errorf("BackupStopped: %v, want ErrOldLayout with what to do", err)
	}
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup left %s: %v", backup, err)
	}
	noMigrationRecord(t, fx.DataDir)
	// Without a --log-name of its own, the command names none.
	if got, want := server.MigrateCommand("/var/lib/nuxari data", "nuxari"), "nuxarid migrate --data-dir '/var/lib/nuxari data'"; got != want {
		t.Errorf("MigrateCommand: %q, want %q", got, want)
	}
}

// TestMigrateLedger: MigrateLedger converts a layout-1 data directory,
// reporting each org's size and root (those of its latest checkpoint)
// and its progress; each org's log then holds one ledger.migrated event,
// and every checkpoint issued before verifies against the migrated log.
// A second run changes nothing.
func TestMigrateLedger(t *testing.T) {
	ctx := context.Background()
	fx := servertest.Layout1DataDir(t)
	final := map[string]bool{}
	rep, err := server.MigrateLedger(ctx, layout1Config(fx), func(org string, done, size uint64) {
		if size != fx.Sizes[org] || done > size {
			t.Errorf("progress %s: %d of %d", org, done, size)
		}
		if done == size {
			final[org] = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != server.MigrationMigrated || rep.FromLayout != 1 || rep.ToLayout != 2 || rep.DataDir != fx.DataDir || rep.RecordPending {
		t.Errorf("report %+v", rep)
	}
	checkReport(t, fx, rep.Orgs)
	for _, o := range rep.Orgs {
		if !final[o.Org] {
			t.Errorf("%s: no progress with its end", o.Org)
		}
		if o.Event == nil || *o.Event != o.TreeSize || !o.Recorded {
			t.Errorf("%s: event %v, recorded %v; want %d, recorded", o.Org, o.Event, o.Recorded, o.TreeSize)
		}
	}
	noMigrationRecord(t, fx.DataDir)
	checkMigratedLog(t, fx)

	rep, err = server.MigrateLedger(ctx, layout1Config(fx), func(string, uint64, uint64) { t.Error("progress on a migrated ledger") })
	if err != nil || rep.Status != server.MigrationCurrent || len(rep.Orgs) != 0 {
		t.Fatalf("second run: %+v, %v; want current, nothing done", rep, err)
	}
	checkMigratedLog(t, fx)
}

// TestMigrateLedgerResumes: a run interrupted after one org leaves the
// data directory refused; the next run goes on, and the org it had
// begun is recorded as resumed.
func TestMigrateLedgerResumes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fx := servertest.Layout1DataDir(t)
	_, err := server.MigrateLedger(ctx, layout1Config(fx), func(org string, done, size uint64) {
		if org == "acme" && done == size {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "run the command again") {
		t.Fatalf("interrupted run: %v, want context.Canceled and what to do", err)
	}
	if _, err := server.Open(layout1Config(fx)); !errors.Is(err, ledger.ErrOldLayout) {
		t.Fatalf("Open after an interrupted migration: %v, want ErrOldLayout", err)
	}
	rep, err := server.MigrateLedger(context.Background(), layout1Config(fx), nil)
	if err != nil || rep.Status != server.MigrationMigrated {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
	checkReport(t, fx, rep.Orgs, "acme")
	noMigrationRecord(t, fx.DataDir)
	checkMigratedLog(t, fx, "acme")
}

// TestMigrationRecordedAfterACrash: a run that stopped after the ledger
// switched layouts, before the orgs' events were all recorded, leaves
// them to the next run, or to the next start; the events are recorded
// once, with the tree each org was migrated at.
func TestMigrationRecordedAfterACrash(t *testing.T) {
	ctx := context.Background()
	// crashAfterSwitch makes the data directory a run leaves that stops
	// right after ledger.Migrate switched layouts: the record has no org
	// yet.
	crashAfterSwitch := func(t *testing.T) servertest.Layout1 {
		fx := servertest.Layout1DataDir(t)
		if err := server.WriteMigrationRecord(fx.DataDir, nil); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(fx.DataDir, "log.key"))
		if err != nil {
			t.Fatal(err)
		}
		s, vkey, err := ledger.ParseSignerKey(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.Migrate(ctx, ledger.Config{Dir: filepath.Join(fx.DataDir, "ledger"), LogName: fx.LogName, Signer: s, VerifierKey: vkey}, nil); err != nil {
			t.Fatal(err)
		}
		return fx
	}

	t.Run("rerun", func(t *testing.T) {
		fx := crashAfterSwitch(t)
		rep, err := server.MigrateLedger(ctx, layout1Config(fx), nil)
		if err != nil || rep.Status != server.MigrationRecorded {
			t.Fatalf("rerun: %+v, %v; want recorded", rep, err)
		}
		// Which orgs the interrupted run had begun is lost with it; the
		// conversion took two runs.
		checkReport(t, fx, rep.Orgs, fixtureOrgs...)
		noMigrationRecord(t, fx.DataDir)
		checkMigratedLog(t, fx, fixtureOrgs...)
	})

	t.Run("start", func(t *testing.T) {
		fx := crashAfterSwitch(t)
		checkMigratedLog(t, fx, fixtureOrgs...)
		noMigrationRecord(t, fx.DataDir)
	})

	t.Run("while recording", func(t *testing.T) {
		// A run that recorded every event and stopped before removing
		// the record: the next run and the next start append nothing.
		fx := servertest.Layout1DataDir(t)
		rep, err := server.MigrateLedger(ctx, layout1Config(fx), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, next := range []string{"rerun", "start"} {
			if err := server.WriteMigrationRecord(fx.DataDir, rep.Orgs); err != nil {
				t.Fatal(err)
			}
			if next == "rerun" {
				again, err := server.MigrateLedger(ctx, layout1Config(fx), nil)
				if err != nil || again.Status != server.MigrationRecorded {
					t.Fatalf("rerun: %+v, %v", again, err)
				}
				for i, o := range again.Orgs {
					if o.Recorded || o.Event == nil || *o.Event != *rep.Orgs[i].Event {
						t.Errorf("%s: recorded again: %+v", o.Org, o)
					}
				}
			}
			checkMigratedLog(t, fx)
			noMigrationRecord(t, fx.DataDir)
		}
	})
}

// TestMigrateRestoredBackup: a backup of a layout-1 data directory
// restores, marked restored, with the command that migrates it; the
// migration converts it but records its events only at the first start
// that accepts the restore.
func TestMigrateRestoredBackup(t *testing.T) {
	ctx := context.Background()
	fx := servertest.Layout1DataDir(t)
	// A backup as the first releases wrote it: the ledger and the log key.
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(fx.DataDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(backup, "log.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(backup, "backup.json"), []byte(`{"created":"2026-01-10T00:00:00Z","version":"v0.1.0","files":["log.key"],"checkpoints":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	_, err := server.Restore(backup, dir, fx.LogName)
	if !errors.Is(err, ledger.ErrOldLayout) || !strings.Contains(err.Error(), "run 'nuxarid migrate --data-dir "+dir+" --log-name nuxari-fixture' to convert the restored copy") {
		t.Fatalf("Restore of a layout-1 backup: %v, want ErrOldLayout and the command", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "RESTORED.json")); err != nil {
		t.Fatalf("the restored data directory is not marked restored: %v", err)
	}
	fx.DataDir = dir
	rep, err := server.MigrateLedger(ctx, layout1Config(fx), nil)
	if err != nil || rep.Status != server.MigrationMigrated || !rep.RecordPending {
		t.Fatalf("migrate the restored data directory: %+v, %v; want migrated, its events pending", rep, err)
	}
	checkReport(t, fx, rep.Orgs)
	for _, o := range rep.Orgs {
		if o.Event != nil || o.Recorded {
			t.Errorf("%s: recorded before the restore was accepted", o.Org)
		}
	}
	// A rerun says the same and does nothing more.
	if rep, err := server.MigrateLedger(ctx, layout1Config(fx), nil); err != nil || rep.Status != server.MigrationCurrent || !rep.RecordPending || len(rep.Orgs) != 4 {
		t.Fatalf("rerun: %+v, %v", rep, err)
	}
	if _, err := server.Open(layout1Config(fx)); !errors.Is(err, server.ErrRestored) {
		t.Fatalf("Open without accepting the restore: %v, want ErrRestored", err)
	}
	cfg := layout1Config(fx)
	cfg.AcceptRestore = true
	s, err := server.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	noMigrationRecord(t, dir)
	checkMigratedLog(t, fx)
}

// TestMigrateLedgerNothingToDo: a data directory without a ledger, or
// one a server of this version made, is left unchanged.
func TestMigrateLedgerNothingToDo(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "none")
	rep, err := server.MigrateLedger(ctx, server.Config{DataDir: missing}, nil)
	if err != nil || rep.Status != server.MigrationNoLedger {
		t.Fatalf("no data directory: %+v, %v", rep, err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data directory was made: %v", err)
	}

	// (A server running in another process: TestMigrateCommand.)
	ts := servertest.Start(t)
	ts.Signup(t, "acme", "owner@example.com", ownerPW)
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}
	size := func() uint64 {
		l, err := server.Open(server.Config{DataDir: ts.DataDir, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		n, err := l.Ledger().Size("acme")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := size()
	rep, err = server.MigrateLedger(ctx, server.Config{DataDir: ts.DataDir}, nil)
	if err != nil || rep.Status != server.MigrationCurrent {
		t.Fatalf("a current data directory: %+v, %v", rep, err)
	}
	if after := size(); after != before {
		t.Errorf("log size %d, was %d", after, before)
	}
	noMigrationRecord(t, ts.DataDir)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(rep)
	if !strings.Contains(b.String(), `"status":"current"`) {
		t.Errorf("JSON report %s", b.String())
	}
}
