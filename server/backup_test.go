package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestBackupAndRestore: a running server writes a backup through its
// admin socket while it serves; the live log moves on; the backup
// restores into a new data directory, which is refused until accepted,
// logs each org's newest checkpoint, and then serves the backup's state
// (the owner logs in; the log holds what it held at the backup).
func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "acme", "owner@example.com", ownerPW)
	owner := ts.Clients(tok)
	appendCustom := func(c servertest.Clients, n int) *nuxariv1.Checkpoint {
		t.Helper()
		evs := make([]*nuxariv1.NewEvent, n)
		for i := range evs {
			evs[i] = &nuxariv1.NewEvent{Type: "custom.backup"}
		}
		res, err := c.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: evs}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.Checkpoint
	}
	atBackup := appendCustom(owner, 5)

	// Only the server's own user may ask for a backup.
	if fi, err := os.Stat(filepath.Join(ts.DataDir, "admin.sock")); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v, want a socket of mode 0600", fi, err)
	}
	backupDir := filepath.Join(t.TempDir(), "backup")
	m, running, err := server.RequestBackup(ctx, ts.DataDir, backupDir)
	if err != nil || !running {
		t.Fatalf("backup through the admin socket: running %v, %v", running, err)
	}
	if len(m.Checkpoints) != 1 || m.Checkpoints[0].Org != "acme" || m.Checkpoints[0].TreeSize < atBackup.Size {
		t.Fatalf("backup manifest checkpoints %+v, want acme at %d or more", m.Checkpoints, atBackup.Size)
	}
	for _, f := range []string{"log.key", "kek.json", "evidence-signing.pem", "backup.json", "ledger"} {
		fi, err := os.Stat(filepath.Join(backupDir, f))
		if err != nil {
			t.Fatalf("backup lacks %s: %v", f, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s in the backup is %v: readable by others", f, fi.Mode().Perm())
		}
	}
	if _, _, err := server.RequestBackup(ctx, ts.DataDir, backupDir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second backup into the same directory: %v", err)
	}
	live := appendCustom(owner, 7) // the lost server goes on past the backup

	dataDir := filepath.Join(t.TempDir(), "restored")
	cps, err := server.Restore(backupDir, dataDir, "nuxari")
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 1 || cps[0].Org != "acme" || cps[0].TreeSize < atBackup.Size || cps[0].TreeSize >= live.Size {
		t.Fatalf("restored checkpoints %+v: want acme between %d and %d", cps, atBackup.Size, live.Size)
	}
	if _, err := server.Restore(backupDir, dataDir, "nuxari"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a restore over a data directory: %v", err)
	}

	logs := &servertest.SyncBuffer{}
	_, err = server.Open(server.Config{DataDir: dataDir, Logger: server.NewLogger(logs, slog.LevelInfo)})
	if !errors.Is(err, server.ErrRestored) {
		t.Fatalf("open a restored data directory without accepting it: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"restored checkpoint","org":"acme","tree_size":`) {
		t.Fatalf("no log line of the restored checkpoint:\n%s", logs)
	}

	rs := servertest.Start(t, func(c *server.Config) { c.DataDir, c.AcceptRestore = dataDir, true })
	if _, err := os.Stat(filepath.Join(dataDir, "RESTORED.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the restore mark stays after an accepted start: %v", err)
	}
	rtok := rs.Login(t, "acme", "owner@example.com", ownerPW)
	cp, err := rs.Clients(rtok).Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	// The log holds what the backup held, plus the restored server's own
	// login event.
	if got := cp.Msg.Checkpoint.Size; got < cps[0].TreeSize || got >= live.Size {
		t.Fatalf("restored log at %d: want from %d, below the lost server's %d", got, cps[0].TreeSize, live.Size)
	}
	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	// Accepted once: it starts again without the flag.
	servertest.Start(t, func(c *server.Config) { c.DataDir = dataDir })
}

// TestBackupOfAStoppedServer: with no server running on the data
// directory, the admin socket answers nothing, and the backup is taken
// from the data directory itself; a directory without a ledger is not
// one to back up.
func TestBackupOfAStoppedServer(t *testing.T) {
	ctx := context.Background()
	ts := servertest.Start(t)
	ts.Signup(t, "acme", "owner@example.com", ownerPW)
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	if _, running, err := server.RequestBackup(ctx, ts.DataDir, dir); running || err != nil {
		t.Fatalf("admin socket of a stopped server: running %v, %v", running, err)
	}
	m, err := server.BackupStopped(ts.DataDir, dir, "nuxari")
	if err != nil || len(m.Checkpoints) != 1 {
		t.Fatalf("backup of a stopped server: %+v %v", m, err)
	}
	if _, err := server.BackupStopped(t.TempDir(), filepath.Join(t.TempDir(), "b"), "nuxari"); err == nil {
		t.Fatal("a backup of a directory with no ledger")
	}
}
