package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/agent"
	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// loggedIn starts a server with org acme and returns a harness logged in
// as its owner.
func loggedIn(t *testing.T) (*harness, string) {
	t.Helper()
	srv := startServer(t)
	h := newHarness(t)
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	return h, srv.URL
}

// TestExitCodesFromServer: the documented exit codes, each caused for real
// against a server.
func TestExitCodesFromServer(t *testing.T) {
	srv := startServer(t)
	owner := newHarness(t)
	owner.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	ownerToken := srv.Login(t, "acme", "owner@acme.test", ownerPassword)
	auditorToken, _ := srv.AddMember(t, ownerToken, "acme", "audrey@acme.test", auditorPassword, nuxariv1.Role_ROLE_AUDITOR)
	owner.env[cli.EnvServer] = srv.URL
	owner.env[cli.EnvToken] = ownerToken
	auditor := newHarness(t)
	auditor.env[cli.EnvServer] = srv.URL
	auditor.env[cli.EnvToken] = auditorToken
	nobody := newHarness(t)
	nobody.env[cli.EnvServer] = srv.URL

	tests := []struct {
		name string
		h    *harness
		code int
		want string
		args []string
	}{
		{"ok", owner, cli.ExitOK, "", []string{"whoami"}},
		{"failure", owner, cli.ExitFailure, "invalid_argument", []string{"ledger", "append", "--type", "deploy"}},
		{"usage", owner, cli.ExitUsage, "unknown flag", []string{"whoami", "--frobnicate"}},
		{"not found: member", owner, cli.ExitNotFound, "nuxctl: not_found: ", []string{"member", "remove", "nosuchuser1"}},
		{"not found: export", owner, cli.ExitNotFound, "nuxctl: not_found: ", []string{"evidence", "status", "0123456789abcdef01234567"}},
		{"permission denied", auditor, cli.ExitPermissionDenied, "nuxctl: permission_denied: ", []string{"member", "add", "--email", "x@acme.test", "--role", "admin"}},
		{"unauthenticated: bad token", owner, cli.ExitUnauthenticated, "nuxctl: unauthenticated: ", []string{"--token", "nxa.acme.bogus", "whoami"}},
		{"unauthenticated: no credentials", nobody, cli.ExitUnauthenticated, "not logged in", []string{"whoami"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.h.t = t
			if tt.code == cli.ExitOK {
				tt.h.ok("", tt.args...)
				return
			}
			r := tt.h.fails(tt.code, []string{tt.want}, "", tt.args...)
			if r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
		})
	}
}

// startAgent enrols a real agent with the collectors of col and runs it
// until the test ends. It returns the agent's ID.
func startAgent(t *testing.T, h *harness, server string, col agent.Collectors) string {
	t.Helper()
	join := strings.TrimSpace(h.ok("", "agent", "join-token").stdout)
	cfg := agent.Config{Server: server, StateDir: filepath.Join(t.TempDir(), "state"), Collectors: col, Hostname: "db-01",
		BackoffBase: time.Millisecond, BackoffMax: 50 * time.Millisecond}
	id, err := agent.Enroll(context.Background(), cfg, secret.New(join))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop")
		}
	})
	return id.AgentID
}

// TestCollectWait: --wait says what it waits for, prints the finished
// task, and exits 0 when it succeeded, 6 when it failed, 7 on --timeout.
func TestCollectWait(t *testing.T) {
	h, server := loggedIn(t)
	dir := t.TempDir()
	allowed := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(allowed, []byte("listen 443\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := startAgent(t, h, server, agent.Collectors{Files: []string{allowed}})

	r := h.ok("", "agent", "collect", id, "file", allowed, "--wait", "--timeout", "30s")
	if !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stderr, "waiting for task ") || !strings.Contains(r.stderr, "on agent "+id+" (db-01") {
		t.Errorf("collect --wait of an allowed file:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	// Refused by the agent's own configuration: the task fails.
	r = h.fails(cli.ExitFailed, []string{"waiting for task ", "nuxctl: task ", " failed: "}, "", "agent", "collect", id, "users", "--wait")
	if !strings.Contains(r.stdout, "State:") || !strings.Contains(r.stdout, "failed") {
		t.Errorf("collect --wait of a refused collector: stdout:\n%s", r.stdout)
	}
	var task struct {
		TaskID string `json:"task_id"`
		State  string `json:"state"`
	}
	r = h.fails(cli.ExitFailed, nil, "", "--json", "agent", "collect", id, "users", "--wait")
	if err := jsonUnmarshal(r.stdout, &task); err != nil || task.State != "TASK_STATE_FAILED" {
		t.Errorf("collect --wait --json of a refused collector: %v %+v\n%s", err, task, r.stdout)
	}
}

// TestCollectWaitOffline: an agent that is not connected is named
// offline, and --timeout ends the wait with exit 7, the task still queued.
func TestCollectWaitOffline(t *testing.T) {
	h, server := loggedIn(t)
	join := strings.TrimSpace(h.ok("", "agent", "join-token").stdout)
	cfg := agent.Config{Server: server, StateDir: filepath.Join(t.TempDir(), "state")}
	id, err := agent.Enroll(context.Background(), cfg, secret.New(join))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := h.fails(cli.ExitTimeout, []string{
		"waiting for task ", "on agent " + id.AgentID, "offline", // said before waiting
		"gave up after 1s (--timeout) waiting for task ", "(still pending)", "follow it with 'nuxctl agent task ",
	}, "", "agent", "collect", id.AgentID, "users", "--wait", "--timeout", "1s")
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("--timeout 1s returned after %s", elapsed)
	}
	if r.stdout != "" {
		t.Errorf("stdout after a timeout: %q", r.stdout)
	}
	if r := h.ok("", "agent", "list"); !strings.Contains(r.stdout, id.AgentID) {
		t.Fatalf("agent list:\n%s", r.stdout)
	}
	// The task is still there for the agent.
	var tasks []string
	for l := range strings.SplitSeq(r.stderr, "\n") {
		if rest, ok := strings.CutPrefix(l, "waiting for task "); ok {
			tasks = append(tasks, strings.Fields(rest)[0])
		}
	}
	if len(tasks) != 1 {
		t.Fatalf("stderr names %d tasks:\n%s", len(tasks), r.stderr)
	}
	if r := h.ok("", "agent", "task", tasks[0]); !strings.Contains(r.stdout, "pending") {
		t.Errorf("the task after the timeout:\n%s", r.stdout)
	}
}

// TestExportWaitFailed: an export that ends failed makes 'evidence export
// --wait' exit 6 after printing it. The server's package store is broken
// under it (its directory replaced by a file), so the export fails for
// real.
func TestExportWaitFailed(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	store := filepath.Join(srv.DataDir, "evidence")
	if err := os.RemoveAll(store); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.fails(cli.ExitFailed, []string{"waiting for export ", " failed: "}, "", "evidence", "export", "--wait", "--timeout", "1m")
	if !strings.Contains(r.stdout, "failed") {
		t.Errorf("the failed export is not printed:\n%s", r.stdout)
	}
}
