package cli_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
)

// commands lists every runnable command.
var commands = []string{
	"signup", "login", "logout", "whoami",
	"org get", "org set",
	"member add", "member remove", "member role", "member list", "member setup-token", "member end-sessions",
	"password set", "password change",
	"token create", "token list", "token revoke",
	"ledger checkpoint", "ledger event", "ledger list", "ledger append", "ledger prove",
	"connector create", "connector get", "connector list", "connector update", "connector test", "connector pause",
	"connector resume", "connector rotate", "connector sync", "connector sync-status", "connector grants",
	"connector decommission", "connector keys", "connector keys rotate",
	"policy create", "policy get", "policy list", "policy update",
	"request submit", "request list", "request get", "request cancel",
	"drift baseline", "drift list",
	"plan list", "plan get", "plan approve", "plan reject", "plan wait",
	"access grants",
	"review start", "review list", "review get", "review items", "review decide", "review cancel", "review export",
	"verify",
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	r := h.ok("", "help")
	for _, c := range commands {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("'nuxctl help' does not list %q", c)
		}
	}
	for _, want := range []string{"--server", "--token", "--json"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("'nuxctl help' does not document %s", want)
		}
	}
	if r := h.ok("", "-h"); !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("nuxctl -h:\n%s", r.stdout)
	}
	for _, c := range commands {
		args := strings.Fields(c)
		for _, form := range [][]string{append(args, "-h"), append([]string{"help"}, args...)} {
			r := h.ok("", form...)
			if !strings.HasPrefix(r.stdout, "Usage: nuxctl [global flags] "+c+" ") && !strings.HasPrefix(r.stdout, "Usage: nuxctl [global flags] "+c+"\n") {
				t.Errorf("nuxctl %s: usage:\n%s", strings.Join(form, " "), r.stdout)
			}
		}
	}
	for _, g := range []string{"org", "member", "token", "ledger", "connector", "policy", "request", "plan", "access", "review"} {
		if r := h.ok("", g, "--help"); !strings.Contains(r.stdout, "Usage: nuxctl [global flags] "+g+" <command>") {
			t.Errorf("nuxctl %s --help:\n%s", g, r.stdout)
		}
		h.ok("", "help", g)
	}
}

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"member"}, "Usage: nuxctl [global flags] member <command>"},
		{[]string{"member", "frobnicate"}, `unknown command "member frobnicate"`},
		{[]string{"--bogus", "whoami"}, "unknown flag: --bogus"},
		{[]string{"whoami", "--bogus"}, "nuxctl whoami: unknown flag: --bogus\nRun 'nuxctl whoami -h' for usage."},
		{[]string{"--bogus"}, "nuxctl: unknown flag: --bogus\nRun 'nuxctl help' for usage."},
		{[]string{"whoami", "--server"}, "flag needs an argument: --server"},
		{[]string{"ledger", "list", "--limit", "many"}, `invalid argument "many" for "--limit"`},
		{[]string{"agent", "join-token", "frobnicate"}, `unexpected argument "frobnicate"`},
		{[]string{"ledger", "prove", "1", "--out", "f.json", "--timeout", "1m"}, "unknown flag: --timeout"},
		{[]string{"agent", "collect", "a1", "users", "--timeout", "1m"}, "--timeout needs --wait"},
		{[]string{"agent", "collect", "a1", "users", "--wait", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"evidence", "export", "--timeout", "1m"}, "--timeout needs --wait"},
		{[]string{"plan"}, "Usage: nuxctl [global flags] plan <command>"},
		{[]string{"plan", "wait", "p1", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"evidence", "download", "x1", "--url", "--force"}, "--force goes with --out"},
		{[]string{"completion"}, "missing arguments: want bash|zsh|fish|powershell"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh"`},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
		{[]string{"whoami", "extra"}, `unexpected argument "extra"`},
		{[]string{"ledger", "event"}, "missing arguments: want INDEX"},
		{[]string{"ledger", "event", "seven"}, `INDEX "seven" is not a non-negative integer`},
		{[]string{"ledger", "event", "7", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"ledger", "list", "--since", "yesterday"}, `--since "yesterday" is not an RFC 3339 time`},
		{[]string{"ledger", "list", "--limit", "-1"}, "--limit must not be negative"},
		{[]string{"ledger", "append"}, "--type is required"},
		{[]string{"ledger", "prove", "1", "--out", "f.json", "--consistency-from", "0"}, "--consistency-from must be a tree size"},
		{[]string{"org", "set"}, "nothing to change"},
		{[]string{"org", "set", "--retention", "-1h"}, "--retention must be positive"},
		{[]string{"signup", "--org", "acme"}, "--email is required"},
		{[]string{"login", "--email", "a@b.c"}, "--org is required"},
		{[]string{"member", "add", "--email", "a@b.c", "--role", "Owner"}, `unknown role "Owner"`},
		{[]string{"member", "role", "u1"}, "missing arguments: want USER_ID ROLE"},
		{[]string{"token", "create", "--name", "ci", "--role", "admin", "--ttl", "-1h"}, "--ttl must be positive"},
		{[]string{"token", "revoke"}, "missing arguments: want TOKEN_ID"},
		{[]string{"--server", "ftp://example.com", "whoami"}, `server "ftp://example.com" is not an http:// or https:// URL`},
		{[]string{"verify"}, "missing arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h.t = t
			r := h.fails(cli.ExitUsage, []string{tt.want}, "", tt.args...)
			if r.stdout != "" {
				t.Errorf("stdout on a usage error: %q", r.stdout)
			}
		})
	}
}

// TestPositionalAfterDashDash: "--" ends the flags, so an argument that
// looks like a flag is taken as is (and the command then needs a login).
func TestPositionalAfterDashDash(t *testing.T) {
	h := newHarness(t)
	h.fails(cli.ExitUnauthenticated, []string{"not logged in"}, "", "member", "remove", "--", "-odd-id")
}

// TestLoginReplacesCredentials: a login over an existing, too-open or
// corrupt file replaces it with a fresh 0600 file.
func TestLoginReplacesCredentials(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "beta", "--email", "owner@beta.test")
	if err := os.MkdirAll(filepath.Dir(h.config), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.config, []byte("{corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.config, 0o644); err != nil {
		t.Fatal(err)
	}
	h.fails(cli.ExitFailure, []string{"credentials file " + h.config + " is corrupt"}, "", "whoami")
	r := h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "beta", "--email", "owner@beta.test")
	if !strings.Contains(r.stderr, "ignoring the stored credentials") {
		t.Errorf("login over a corrupt file: stderr %q", r.stderr)
	}
	if runtime.GOOS != "windows" {
		if m := mode(t, h.config); m != 0o600 {
			t.Errorf("credentials file mode %04o after login, want 0600", m)
		}
		// A file others can read is used, with a warning.
		if err := os.Chmod(h.config, 0o640); err != nil {
			t.Fatal(err)
		}
		r = h.ok("", "whoami")
		if !strings.Contains(r.stderr, "is accessible by other users (mode 0640)") {
			t.Errorf("whoami with a 0640 credentials file: stderr %q", r.stderr)
		}
	}
	// Logout without a reachable server still deletes the file.
	h.env[cli.EnvServer] = ""
	srv.Stop()
	h.fails(cli.ExitFailure, []string{"nuxctl: unavailable: ", "the credentials file was deleted"}, "", "logout")
	if _, err := os.Stat(h.config); !os.IsNotExist(err) {
		t.Errorf("credentials file after logout: %v", err)
	}
}
