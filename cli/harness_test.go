package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/server/servertest"
)

// harness runs nuxctl in-process with its own environment and records
// everything it printed, so a test can assert no secret ever leaked.
type harness struct {
	t      *testing.T
	env    map[string]string
	config string // the credentials file
	output strings.Builder
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	// A directory that does not exist yet: login must create it 0700.
	config := filepath.Join(t.TempDir(), "nuxari", "credentials.json")
	return &harness{t: t, config: config, env: map[string]string{cli.EnvConfig: config}}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs nuxctl with args and stdin.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli.CLI{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return h.env[k] },
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := c.Run(ctx, args)
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	h.output.WriteString(r.stdout)
	h.output.WriteString(r.stderr)
	return r
}

// ok runs nuxctl and fails the test unless it exits 0.
func (h *harness) ok(stdin string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != cli.ExitOK {
		h.t.Fatalf("nuxctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs nuxctl and fails the test unless it exits with code and its
// standard error holds every one of want.
func (h *harness) fails(code int, want []string, stdin string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != code {
		h.t.Fatalf("nuxctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			h.t.Errorf("nuxctl %s: stderr does not contain %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
	return r
}

// jsonOut runs nuxctl --json and decodes its standard output.
func (h *harness) jsonOut(v any, args ...string) {
	h.t.Helper()
	r := h.ok("", append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		h.t.Fatalf("nuxctl --json %s: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not ordering
	}
}

// closedPort returns a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// startServer starts a real nuxarid on loopback.
func startServer(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t)
}

// mode returns the permission bits of path.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
