package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/nuxari/nuxari/internal/buildinfo"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestMain runs main instead of the tests when the test binary is started
// as nuxarid by execNuxarid.
func TestMain(m *testing.M) {
	if os.Getenv("NUXARID_TEST_RUN_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// execNuxarid runs this test binary as nuxarid with args and returns its
// stdout, stderr and exit status.
func execNuxarid(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NUXARID_TEST_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// clearEnv unsets every NUXARI_ variable for the test, so that the
// environment the tests run in does not configure the commands.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NUXARI_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// TestHelp: -h and --help print the usage, listing every command and
// the flags with their environment variables, and exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := execNuxarid(t, args...)
			if code != 0 {
				t.Fatalf("exit status %d, want 0; stderr: %s", code, stderr)
			}
			for _, want := range []string{"serve", "bootstrap", "backup", "restore", "migrate", "version", "--data-dir", "[$NUXARI_DATA_DIR]", "--addr", "[$NUXARI_ADDR]", "--version"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("usage does not mention %q:\n%s", want, stdout)
				}
			}
		})
	}
	stdout, _, code := execNuxarid(t, "bootstrap", "--help")
	if code != 0 || !strings.Contains(stdout, "--owner-email") || !strings.Contains(stdout, "[$NUXARI_ORG]") {
		t.Errorf("bootstrap --help: exit status %d:\n%s", code, stdout)
	}
}

// TestUsageErrors: an unknown command, argument or flag, or a bad value,
// is refused with exit status 2 before anything is opened.
func TestUsageErrors(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"unknown command", []string{"sevre"}, "", `unknown command "sevre" (did you mean "serve"?)`},
		{"argument after flags", []string{"--addr", "127.0.0.1:0", "now"}, "", `unknown command "now"`},
		{"serve argument", []string{"serve", "extra"}, "", `nuxarid serve takes no arguments, got "extra"`},
		{"bootstrap argument", []string{"bootstrap", "--org", "a", "extra"}, "", `takes no arguments`},
		{"version argument", []string{"version", "extra"}, "", `takes no arguments`},
		{"unknown flag", []string{"--no-such-flag"}, "", "unknown flag: --no-such-flag"},
		{"one dash", []string{"-addr", "127.0.0.1:0"}, "", "long flags take two dashes (--addr)"},
		{"bad value", []string{"--max-conns", "many"}, "", `invalid argument "many" for "--max-conns"`},
		{"bad variable", nil, "NUXARI_MAX_CONNS=many", "NUXARI_MAX_CONNS"},
		{"flags that go together", []string{"--tls-cert", "c.pem"}, "", "--tls-cert and --tls-key go together"},
		{"range", []string{"--password-memory-budget", "0"}, "", "--password-memory-budget must be"},
		{"request lifetime", []string{"--access-request-ttl", "30s"}, "", "--access-request-ttl must be 1m to 8760h"},
		{"backup without a directory", []string{"backup"}, "", "nuxarid backup takes one argument, the backup directory; got 0"},
		{"restore with two", []string{"restore", "a", "b"}, "", "nuxarid restore takes one argument, the backup directory; got 2"},
		{"migrate argument", []string{"migrate", "extra"}, "", `nuxarid migrate takes no arguments, got "extra"`},
		{"bad origin", []string{"--cors-origins", "https://console.example.com,console.example.com"}, "", `--cors-origins: server: CORS origin "console.example.com"`},
		{"bad origin variable", nil, "NUXARI_CORS_ORIGINS=https://a.example/path", `--cors-origins: server: CORS origin "https://a.example/path"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			t.Setenv("NUXARI_DATA_DIR", dir)
			if k, v, ok := strings.Cut(c.env, "="); ok {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), c.args, strings.NewReader(""), &stdout, &stderr)
			if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run %q: %v, want a usage error with %q", c.args, err, c.want)
			}
			if code := report(&bytes.Buffer{}, err); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the data directory was made (%v): the command went on", err)
			}
			if strings.Contains(stderr.String(), "serving") {
				t.Errorf("a server started: %s", stderr.String())
			}
		})
	}
	// The same, through the process's exit status.
	_, stderr, code := execNuxarid(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "sevre")
	if code != 2 || !strings.Contains(stderr, `unknown command "sevre"`) || !strings.Contains(stderr, "nuxarid --help") {
		t.Errorf("nuxarid sevre: exit status %d, stderr %q; want 2 and the error", code, stderr)
	}
}

// logLines decodes the JSON log lines in s.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.Lines(s) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// line returns the first log line whose message starts with msg.
func line(lines []map[string]any, msg string) map[string]any {
	for _, l := range lines {
		if m, _ := l["msg"].(string); strings.HasPrefix(m, msg) {
			return l
		}
	}
	return nil
}

// serveUntilServing runs args in this process until the server logs
// that it serves, and returns its log lines and a function that stops it
// and returns run's error.
func serveUntilServing(t *testing.T, args ...string) ([]map[string]any, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &servertest.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), &bytes.Buffer{}, logs) }()
	stop := func() error { cancel(); return <-done }
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"serving"`) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run %q ended before serving: %v\n%s", args, err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("run %q: not serving after 30 s:\n%s", args, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return logLines(t, logs.String()), stop
}

// TestServeIsTheDefault: flags without a command serve, like "serve";
// flags come from NUXARI_* variables, and flags win over them. The first
// log lines say where the data is, what was generated, which evidence
// store is used and where the server listens.
func TestServeIsTheDefault(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct {
		name string
		args func(dir string) []string
		env  func(t *testing.T, dir string)
	}{
		{"flags", func(dir string) []string { return []string{"--data-dir", dir, "--addr", "127.0.0.1:0"} }, nil},
		{"serve", func(dir string) []string { return []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"} }, nil},
		{"environment", func(string) []string { return nil }, func(t *testing.T, dir string) {
			t.Setenv("NUXARI_DATA_DIR", dir)
			t.Setenv("NUXARI_ADDR", "127.0.0.1:0")
		}},
		{"flags win", func(dir string) []string { return []string{"--data-dir", dir, "--addr", "127.0.0.1:0"} }, func(t *testing.T, dir string) {
			t.Setenv("NUXARI_DATA_DIR", filepath.Join(dir, "not-this-one"))
			t.Setenv("NUXARI_ADDR", "not an address")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if c.env != nil {
				c.env(t, dir)
			}
			lines, stop := serveUntilServing(t, c.args(dir)...)
			if err := stop(); err != nil {
				t.Fatalf("run after SIGTERM: %v", err)
			}
			if l := line(lines, "starting nuxarid"); l == nil || l["version"] == "" {
				t.Errorf("no start line with the version: %v", lines)
			}
			if l := line(lines, "data directory"); l == nil || l["path"] != dir {
				t.Errorf("data directory line %v, want path %s", l, dir)
			}
			if l := line(lines, "generated new keys"); l == nil || l["level"] != "WARN" || !strings.Contains(l["msg"].(string), "back these files up") {
				t.Errorf("no warning about the generated keys to back up: %v", l)
			}
			if l := line(lines, "evidence store: local directory"); l == nil || l["level"] != "WARN" || !strings.Contains(l["msg"].(string), "no WORM guarantee") {
				t.Errorf("no warning about the local evidence store: %v", l)
			}
			if l := line(lines, "serving"); l == nil || l["protocol"] != "h2c" || !strings.HasPrefix(l["addr"].(string), "127.0.0.1:") {
				t.Errorf("serving line %v, want h2c on 127.0.0.1", l)
			}
			if _, err := os.Stat(filepath.Join(dir, "not-this-one")); err == nil {
				t.Errorf("the environment's data directory was used over the flag's")
			}
		})
	}
}

// TestDataDirInUse: a second nuxarid on a data directory that another
// process serves says so, and exits 1.
func TestDataDirInUse(t *testing.T) {
	clearEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := serveUntilServing(t, "--data-dir", dir, "--addr", "127.0.0.1:0")
	defer stop()
	_, stderr, code := execNuxarid(t, "--data-dir", dir, "--addr", "127.0.0.1:0")
	want := "nuxarid: data directory " + dir + " is in use by another process (lock file " + filepath.Join(dir, "LOCK") + ")"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("second nuxarid: exit status %d, stderr:\n%s\nwant 1 and %q", code, stderr, want)
	}
	if strings.Contains(stderr, "temporarily unavailable") {
		t.Errorf("the errno reached the message: %s", stderr)
	}
}

// TestVersion: "version" and "--version" print the same build
// description and exit 0.
func TestVersion(t *testing.T) {
	v, stderr, code := execNuxarid(t, "version")
	if code != 0 || !strings.HasPrefix(v, "nuxarid ") || !strings.Contains(v, "\ngo go1.") {
		t.Fatalf("version: exit status %d, output %q, stderr %q", code, v, stderr)
	}
	flag, _, code := execNuxarid(t, "--version")
	if code != 0 || flag != v {
		t.Errorf("--version: exit status %d, output %q, want %q", code, flag, v)
	}
}

// TestBuildString: the version text has the module version, and the VCS
// revision and time when the build recorded them.
func TestBuildString(t *testing.T) {
	for _, c := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			"nuxarid v1.2.0\ngo go1.26.8\n"},
		{"vcs", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-29T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "nuxarid (devel)\nrevision 0123abcd (modified)\ntime 2026-11-29T10:00:00Z\ngo go1.26.8\n"},
		{"clean tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.1-0.20261129100000-0123abcd"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "false"},
		}}, "nuxarid v1.2.1-0.20261129100000-0123abcd\nrevision 0123abcd\ngo go1.26.8\n"},
		{"no version", debug.BuildInfo{GoVersion: "go1.26.8"}, "nuxarid (devel)\ngo go1.26.8\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := versionText(buildinfo.FromBuildInfo(&c.bi)); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// TestBackupRestoreCommands: "nuxarid backup" asks the running server for
// a backup; "nuxarid restore" restores it into a new data directory and
// prints each org's checkpoint; serving it is refused until
// --accept-restore.
func TestBackupRestoreCommands(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	if err := run(ctx, []string{"bootstrap", "--data-dir", dir, "--org", "acme", "--owner-email", "o@example.com"}, strings.NewReader("a long owner password\n"), &out, &out); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out.String())
	}
	_, stop := serveUntilServing(t, "--data-dir", dir, "--addr", "127.0.0.1:0")
	backup := filepath.Join(t.TempDir(), "backup")
	out.Reset()
	err := run(ctx, []string{"backup", "--data-dir", dir, backup}, strings.NewReader(""), &out, &out)
	if serr := stop(); serr != nil {
		t.Fatalf("serve: %v", serr)
	}
	if err != nil || !strings.Contains(out.String(), "backup written to "+backup) || !strings.Contains(out.String(), "org acme: tree size ") {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	if err := run(ctx, []string{"restore", "--data-dir", restored, "--json", backup}, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	var res struct {
		Checkpoints []struct {
			Org      string `json:"org"`
			TreeSize uint64 `json:"tree_size"`
			RootHash string `json:"root_hash"`
		} `json:"checkpoints"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Checkpoints) != 1 || res.Checkpoints[0].Org != "acme" || len(res.Checkpoints[0].RootHash) != 64 {
		t.Fatalf("restore --json: %v\n%s", err, out.String())
	}
	out.Reset()
	err = run(ctx, []string{"--data-dir", restored, "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "--accept-restore") {
		t.Fatalf("serving a restored data directory without --accept-restore: %v", err)
	}
	_, stop = serveUntilServing(t, "--data-dir", restored, "--addr", "127.0.0.1:0", "--accept-restore")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateCommand: serving a data directory whose ledger is in the
// first storage layout fails with the command that migrates it;
// "nuxarid migrate" refuses while a server runs on the data directory,
// converts it with progress on stderr and each org's tree on stdout, and
// then says there is nothing to do; the server then serves it.
func TestMigrateCommand(t *testing.T) {
	clearEnv(t)
	fx := servertest.Layout1DataDir(t)
	dir := fx.DataDir
	_, stderr, code := execNuxarid(t, "--data-dir", dir, "--log-name", fx.LogName, "--addr", "127.0.0.1:0")
	want := "nuxarid: the ledger of data directory " + dir + " is in an older storage layout (layout 1), which this version of nuxarid does not read: " +
		"back it up, then, with no server running, run 'nuxarid migrate --data-dir " + dir + " --log-name nuxari-fixture' (see docs/operations.md, \"Upgrades\")"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("serve: exit status %d, stderr:\n%s\nwant 1 and %q", code, stderr, want)
	}

	stdout, stderr, code := execNuxarid(t, "migrate", "--data-dir", dir, "--log-name", fx.LogName)
	if code != 0 {
		t.Fatalf("migrate: exit status %d, stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "migrated the ledger of "+dir+" from storage layout 1 to 2 (hash tiles): 4 orgs\n") {
		t.Errorf("migrate printed:\n%s", stdout)
	}
	for org, size := range fx.Sizes {
		if w := fmt.Sprintf("  org %s: tree size %d, root hash ", org, size); !strings.Contains(stdout, w) {
			t.Errorf("migrate does not print %q:\n%s", w, stdout)
		}
		if w := fmt.Sprintf(", ledger.migrated at index %d\n", size); !strings.Contains(stdout, w) {
			t.Errorf("migrate does not print %q:\n%s", w, stdout)
		}
		if w := fmt.Sprintf("migrated org %s: %d/%d entries\n", org, size, size); !strings.Contains(stderr, w) {
			t.Errorf("migrate's progress lacks %q:\n%s", w, stderr)
		}
	}

	stdout, stderr, code = execNuxarid(t, "migrate", "--data-dir", dir, "--log-name", fx.LogName)
	if code != 0 || stdout != "the ledger of "+dir+" is already in this version's storage layout: nothing changed\n" || stderr != "" {
		t.Errorf("second migrate: exit status %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	_, stop := serveUntilServing(t, "--data-dir", dir, "--log-name", fx.LogName, "--addr", "127.0.0.1:0")
	_, stderr, code = execNuxarid(t, "migrate", "--data-dir", dir, "--log-name", fx.LogName)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want = "nuxarid: data directory " + dir + " is in use by another process (lock file " + filepath.Join(dir, "LOCK") + ")"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("migrate while serving: exit status %d, stderr:\n%s\nwant 1 and %q", code, stderr, want)
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--data-dir", filepath.Join(t.TempDir(), "none"), "--json"}, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Status != "no_ledger" {
		t.Errorf("migrate --json of a data directory without a ledger: %v\n%s", err, out.String())
	}
}

// TestMigrateProgress: an org's progress is printed at most once a
// second, and its end always.
func TestMigrateProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p := progressPrinter{w: &b, every: time.Second, now: func() time.Time { return now }, last: map[string]time.Time{}}
	for _, step := range []struct {
		after     time.Duration
		org       string
		done, all uint64
	}{
		{0, "acme", 10, 100}, {500 * time.Millisecond, "acme", 20, 100}, {0, "beta", 5, 5},
		{600 * time.Millisecond, "acme", 30, 100}, {100 * time.Millisecond, "acme", 100, 100},
	} {
		now = now.Add(step.after)
		p.report(step.org, step.done, step.all)
	}
	want := "migrating org acme: 10/100 entries\nmigrated org beta: 5/5 entries\nmigrating org acme: 30/100 entries\nmigrated org acme: 100/100 entries\n"
	if b.String() != want {
		t.Errorf("progress:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestConsoleFlag: the web console is served unless --console=false or
// NUXARI_CONSOLE=false turns it off.
func TestConsoleFlag(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct {
		name string
		args []string
		env  string
		off  bool
	}{
		{"default", nil, "", false},
		{"flag off", []string{"--console=false"}, "", true},
		{"variable off", nil, "false", true},
		{"flag wins", []string{"--console=true"}, "false", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("NUXARI_CONSOLE", c.env)
			}
			var f serveFlags
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			f.register(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(fs); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config(io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DisableConsole != c.off {
				t.Fatalf("DisableConsole = %t, want %t", cfg.DisableConsole, c.off)
			}
		})
	}
}
