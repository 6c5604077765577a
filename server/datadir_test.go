package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2/vfs"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestDataDirModes: the data directory and everything in it are for the
// server's user only, whatever the umask: directories 0700, files 0600
// or stricter; looser ones found at start are tightened with a log line.
func TestDataDirModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	os.WriteFile(filepath.Join(dir, "tmp", "left-over"), []byte("x"), 0o644)
	ts := servertest.Start(t, func(c *server.Config) { c.DataDir = dir })
	if !strings.Contains(ts.Logs.String(), "tightened the mode") {
		t.Errorf("no log line for the loose entries found at start")
	}
	tok, _ := ts.Signup(t, "modes", "o@example.com", ownerPW)
	for range 50 {
		if _, err := ts.Clients(tok).Ledger.AppendEvents(context.Background(), req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.modes"}}})); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		st, _ := d.Info()
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", path, perm)
		}
		n++
		return nil
	})
	t.Logf("%d entries in the data directory, none readable by others", n)
}

// TestLooseKeyRefused: a key file that others could read may have
// leaked, so the server refuses to start on it rather than tighten it in
// passing.
func TestLooseKeyRefused(t *testing.T) {
	for _, f := range []string{"log.key", "kek.json", "evidence-signing.pem"} {
		t.Run(f, func(t *testing.T) {
			dir := t.TempDir()
			s, err := server.Open(server.Config{DataDir: dir, Logger: server.NewLogger(&servertest.SyncBuffer{}, 0)})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			os.Chmod(filepath.Join(dir, f), 0o640)
			if s, err := server.Open(server.Config{DataDir: dir, Logger: server.NewLogger(&servertest.SyncBuffer{}, 0)}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
				if s != nil {
					s.Close()
				}
				t.Fatalf("open with %s 0640: %v, want a refusal", f, err)
			}
		})
	}
}

// TestDataDirInUse: opening a data directory that a running nuxarid
// holds fails with ErrDataDirInUse, naming the directory and its lock
// file, and touches nothing of the running server's.
func TestDataDirInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nuxarid")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	s, err := server.Open(server.Config{DataDir: dir, Logger: server.NewLogger(&servertest.SyncBuffer{}, 0)})
	if err == nil {
		s.Close()
		t.Fatal("opened a data directory that another process serves")
	}
	want := "data directory " + dir + " is in use by another process (lock file " + filepath.Join(dir, "LOCK") + ")"
	if !errors.Is(err, server.ErrDataDirInUse) || err.Error() != want {
		t.Fatalf("open: %v\nwant ErrDataDirInUse: %s", err, want)
	}
	if _, err := p.clients("").Auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "none", Email: "o@example.com", Password: ownerPW})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("the running server after the refused open: %v, want Unauthenticated", err)
	}
}

// holdLockEnv names, in a child run of this test binary, the data
// directory whose lock the child takes and holds until killed.
const holdLockEnv = "NUXARI_TEST_HOLD_DATA_DIR_LOCK"

func init() {
	dir := os.Getenv(holdLockEnv)
	if dir == "" {
		return
	}
	if _, err := vfs.Default.Lock(filepath.Join(dir, "LOCK")); err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	select {}
}

// TestDataDirLockedBeforeKeys: a fresh data directory whose lock another
// process holds (as a first start racing another would find it) is
// refused as in use before any key is generated in it.
func TestDataDirLockedBeforeKeys(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("the child did not take the lock: %q %v", line, err)
	}
	s, err := server.Open(server.Config{DataDir: dir, Logger: server.NewLogger(&servertest.SyncBuffer{}, 0)})
	if err == nil {
		s.Close()
		t.Fatal("opened a data directory whose lock another process holds")
	}
	if !errors.Is(err, server.ErrDataDirInUse) || !strings.Contains(err.Error(), filepath.Join(dir, "LOCK")) {
		t.Fatalf("open: %v, want ErrDataDirInUse naming %s", err, filepath.Join(dir, "LOCK"))
	}
	for _, f := range []string{"log.key", "kek.json", "evidence-signing.pem", "ledger"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was made in a data directory in use: %v", f, err)
		}
	}
}
