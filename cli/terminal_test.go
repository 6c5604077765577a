//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuxari/nuxari/cli"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the master end, where the test types
// and reads what the terminal shows, and the terminal itself.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	rc, err := m.SyscallConn() // not Fd, which would make reads blocking
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); err != nil || ioErr != nil {
		t.Skipf("no pseudo-terminals: %v %v", err, ioErr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// drain collects what the terminal shows until the test ends.
type drain struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func startDrain(t *testing.T, master *os.File) *drain {
	d := &drain{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			d.mu.Lock()
			d.buf.Write(b[:n])
			d.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return d
}

// shown returns what the terminal showed, once everything written to it
// has been read.
func (d *drain) shown(t *testing.T, master *os.File) string {
	t.Helper()
	// The kernel hands output to the master as it is written; a read
	// deadline ends the drain once nothing more is pending.
	if err := master.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

// syncBuffer is a bytes.Buffer for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPasswordNotEchoed: a password typed at a terminal is read without
// echo, and the terminal is restored afterwards.
func TestPasswordNotEchoed(t *testing.T) {
	srv := startServer(t)
	srv.Signup(t, "acme", "owner@acme.test", ownerPassword)
	master, tty := openPTY(t)
	d := startDrain(t, master)
	config := filepath.Join(t.TempDir(), "credentials.json")
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	c := &cli.CLI{Stdin: tty, Stdout: &stdout, Stderr: stderr,
		Getenv: func(k string) string { return map[string]string{cli.EnvConfig: config}[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- c.Run(ctx, []string{"--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test"})
	}()

	echo := func() (bool, error) {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			return false, err
		}
		return tio.Lflag&unix.ECHO != 0, nil
	}
	// Type only once echo is off: a terminal echoes input as it arrives.
	waitFor(t, "echo off and a prompt", func() bool {
		on, err := echo()
		if err != nil {
			t.Fatal(err)
		}
		return !on && strings.Contains(stderr.String(), "Password: ")
	})
	if _, err := master.Write([]byte(ownerPassword + "\n")); err != nil {
		t.Fatal(err)
	}
	if got := <-code; got != cli.ExitOK {
		t.Fatalf("login: exit %d\n%s\n%s", got, stdout.String(), stderr.String())
	}
	if shown := d.shown(t, master); strings.Contains(shown, ownerPassword) {
		t.Errorf("the terminal echoed the password: %q", shown)
	}
	if strings.Contains(stderr.String(), "echoed") {
		t.Errorf("stderr: %q", stderr.String())
	}
	if on, err := echo(); err != nil || !on {
		t.Errorf("echo is not back on after login: %v %v", on, err)
	}
	if !strings.Contains(stdout.String(), "Logged in to org acme") {
		t.Errorf("login output:\n%s", stdout.String())
	}
}

// TestProgressBarOnTerminal: a download and the verification of a package
// show a progress bar on a terminal.
func TestProgressBarOnTerminal(t *testing.T) {
	h, _ := loggedIn(t)
	h.ok("", "ledger", "append", "--type", "custom.deploy")
	var x struct {
		ExportID string `json:"export_id"`
	}
	h.jsonOut(&x, "evidence", "export", "--wait")
	var org struct {
		LogVerifierKey string `json:"log_verifier_key"`
	}
	h.jsonOut(&org, "org", "get")
	dir := t.TempDir()
	keyFile, pkg := filepath.Join(dir, "key.pem"), filepath.Join(dir, "acme.zip")
	h.ok("", "evidence", "signing-key", "--out", keyFile)

	for _, args := range [][]string{
		{"evidence", "download", x.ExportID, "--out", pkg},
		{"verify", pkg, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile},
	} {
		master, tty := openPTY(t)
		d := startDrain(t, master)
		var stdout bytes.Buffer
		c := &cli.CLI{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: tty, Getenv: func(k string) string { return h.env[k] }}
		if code := c.Run(context.Background(), args); code != cli.ExitOK {
			t.Fatalf("nuxctl %s: exit %d\n%s", strings.Join(args, " "), code, stdout.String())
		}
		shown := d.shown(t, master)
		if !strings.Contains(shown, "100%") || !strings.Contains(shown, "|") {
			t.Errorf("nuxctl %s showed no progress bar on the terminal: %q", strings.Join(args, " "), shown)
		}
		if strings.Contains(stdout.String(), "100%") {
			t.Errorf("nuxctl %s: the progress went to stdout", strings.Join(args, " "))
		}
	}
}
