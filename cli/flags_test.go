package cli_test

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/internal/buildinfo"
)

// TestFlagPositions: global flags go before or after the command, and a
// command's flags before or after its arguments, with the same result.
func TestFlagPositions(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	// --server after the command.
	h.ok(ownerPassword+"\n", "signup", "--server", srv.URL, "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "login", "--org", "acme", "--email", "owner@acme.test", "--server", srv.URL)

	// protojson varies its spacing: compare the values.
	var before, after map[string]any
	h.jsonOut(&before, "whoami")
	if err := jsonUnmarshal(h.ok("", "whoami", "--json").stdout, &after); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) || after["org_id"] != "acme" {
		t.Errorf("--json whoami: %v\nwhoami --json: %v", before, after)
	}
	h.ok("", "ledger", "append", "--type", "custom.deploy")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	h.ok("", "ledger", "event", "--out", a, "1")
	h.ok("", "ledger", "event", "1", "--out", b, "--json")
	ab, errA := os.ReadFile(a)
	bb, errB := os.ReadFile(b)
	if errA != nil || errB != nil || len(ab) == 0 || string(ab) != string(bb) {
		t.Errorf("ledger event --out before and after INDEX: %q (%v), %q (%v)", ab, errA, bb, errB)
	}
	// --flag=value and "--" work as with any GNU-style tool.
	if r := h.ok("", "ledger", "list", "--limit=1", "--json"); !strings.Contains(r.stdout, `"events"`) {
		t.Errorf("ledger list --limit=1 --json:\n%s", r.stdout)
	}

	// --config instead of $NUXCTL_CONFIG, before or after the command.
	other := &harness{t: t, env: map[string]string{}}
	other.fails(cli.ExitUnauthenticated, []string{"not logged in"}, "", "--config", filepath.Join(dir, "none.json"), "whoami")
	if r := other.ok("", "whoami", "--config", h.config); !strings.Contains(r.stdout, "owner@acme.test") {
		t.Errorf("whoami --config:\n%s", r.stdout)
	}
}

// TestCompletion: completion scripts for each shell, and the completions
// the scripts ask nuxctl for.
func TestCompletion(t *testing.T) {
	h := newHarness(t)
	for shell, want := range map[string]string{
		"bash":       "# bash completion V2 for nuxctl",
		"zsh":        "#compdef nuxctl",
		"fish":       "complete -c nuxctl",
		"powershell": "Register-ArgumentCompleter",
	} {
		if r := h.ok("", "completion", shell); !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s does not contain %q:\n%.300s", shell, want, r.stdout)
		}
	}
	if r := h.ok("", "completion", "-h"); !strings.HasPrefix(r.stdout, "Usage: nuxctl [global flags] completion bash|zsh|fish|powershell\n") {
		t.Errorf("completion -h:\n%s", r.stdout)
	}
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{""}, []string{"member\t", "ledger\t", "verify\t", "completion\t", "version\t"}, []string{"__complete"}},
		{[]string{"member", ""}, []string{"add\t", "remove\t", "end-sessions\t"}, []string{"ledger"}},
		{[]string{"member", "add", "--role", ""}, []string{"admin", "auditor", "owner", "readonly"}, nil},
		{[]string{"member", "role", "u1", ""}, []string{"approver", "requester"}, nil},
		{[]string{"agent", "collect", "a1", ""}, []string{"users", "sudoers", "packages", "file", "command"}, nil},
		{[]string{"agent", "join-token", ""}, []string{"list\t", "revoke\t"}, nil},
		{[]string{"connector", ""}, []string{"create\t", "sync-status\t", "keys\t"}, []string{"ledger"}},
		{[]string{"connector", "create", "--kind", ""}, []string{"postgres"}, nil},
		{[]string{"connector", "update", "c1", "--tls-mode", ""}, []string{"verify-full", "require", "disable"}, nil},
		{[]string{""}, []string{"policy\t", "request\t", "plan\t", "access\t"}, nil},
		{[]string{"policy", ""}, []string{"create\t", "get\t", "list\t", "update\t"}, []string{"submit"}},
		{[]string{"policy", "create", "--requester-role", ""}, []string{"requester", "approver", "admin", "owner"}, nil},
		{[]string{"policy", "update", "pol-1", "--approver-role", ""}, []string{"approver", "admin"}, nil},
		{[]string{"request", ""}, []string{"submit\t", "list\t", "get\t", "cancel\t"}, nil},
		{[]string{"plan", ""}, []string{"list\t", "get\t", "approve\t", "reject\t", "wait\t"}, nil},
		{[]string{"plan", "list", "--"}, []string{"--mine\t"}, nil},
		{[]string{"access", ""}, []string{"grants\t"}, nil},
		{[]string{"whoami", "--"}, []string{"--json\t", "--server\t", "--token\t", "--config\t"}, nil},
		{[]string{"ledger", "prove", "1", "--"}, []string{"--out\t", "--force\t", "--consistency-from\t"}, nil},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}, nil},
	}
	for _, tt := range tests {
		r := h.ok("", append([]string{"__complete"}, tt.args...)...)
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("completing %q: no %q in\n%s", tt.args, w, r.stdout)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(r.stdout, w) {
				t.Errorf("completing %q: %q in\n%s", tt.args, w, r.stdout)
			}
		}
	}
}

// TestVersion: --version and 'version' print the build information.
func TestVersion(t *testing.T) {
	h := newHarness(t)
	want := "nuxctl " + buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if r := h.ok("", args...); r.stdout != want || r.stderr != "" {
			t.Errorf("nuxctl %s: %q %q, want %q", args[0], r.stdout, r.stderr, want)
		}
	}
	if !strings.Contains(want, runtime.Version()) {
		t.Errorf("the version does not name the Go version: %q", want)
	}
	var v buildinfo.Info
	h.jsonOut(&v, "version")
	if v != buildinfo.Read() {
		t.Errorf("version --json: %+v, want %+v", v, buildinfo.Read())
	}
	if r := h.ok("", "--help"); !strings.Contains(r.stdout, "--version") {
		t.Errorf("--help does not list --version")
	}
}

// TestHelpDocumentsExitCodes: the exit codes are in 'nuxctl --help'.
func TestHelpDocumentsExitCodes(t *testing.T) {
	r := newHarness(t).ok("", "--help")
	for _, want := range []string{
		"Exit codes:", "  0  success", "  1  failure", "  2  usage error", "  3  not found", "  4  permission denied",
		"  5  unauthenticated", "  6  a waited-for (--wait) task, export, sync or reseal ended failed; for\n     'plan wait', the plan failed or was rejected, expired or canceled",
		"  7  --wait or 'plan wait' gave up after --timeout",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("nuxctl --help does not contain %q", want)
		}
	}
	for code, c := range map[int]int{0: cli.ExitOK, 1: cli.ExitFailure, 2: cli.ExitUsage, 3: cli.ExitNotFound, 4: cli.ExitPermissionDenied, 5: cli.ExitUnauthenticated, 6: cli.ExitFailed, 7: cli.ExitTimeout} {
		if code != c {
			t.Errorf("exit code constant %d is %d", code, c)
		}
	}
}
