package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
)

// entries lists a directory's file names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestOutFiles: every command that writes a file refuses to replace one
// without --force, replaces it with --force, and leaves no temporary file
// behind, whether it succeeds or fails.
func TestOutFiles(t *testing.T) {
	h, _ := loggedIn(t)
	h.ok("", "ledger", "append", "--type", "custom.deploy")
	waitFor(t, "a checkpoint", func() bool { return h.run("", "ledger", "checkpoint").code == cli.ExitOK })
	var x struct {
		ExportID string `json:"export_id"`
	}
	h.jsonOut(&x, "evidence", "export", "--wait")

	tests := []struct {
		name string
		args []string // the command, without --out FILE
		want string   // in the file written
	}{
		{"checkpoint", []string{"ledger", "checkpoint"}, "nuxari/orgs/acme\n"},
		{"event", []string{"ledger", "event", "0"}, `"type":"org.created"`},
		{"prove", []string{"ledger", "prove", "0"}, `"log_origin": "nuxari/orgs/acme"`},
		{"signing-key", []string{"evidence", "signing-key"}, "-----BEGIN PUBLIC KEY-----"},
		{"download", []string{"evidence", "download", x.ExportID}, "PK\x03\x04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			dir := t.TempDir()
			file := filepath.Join(dir, "out")
			if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := h.fails(cli.ExitFailure, []string{file + " exists: pass --force to replace it"}, "", append(tt.args, "--out", file)...)
			if b, _ := os.ReadFile(file); string(b) != "keep" {
				t.Errorf("the refused command changed the file: %q", b)
			}
			if strings.Contains(r.stderr, ".tmp") || strings.Contains(r.stderr, ".nuxctl") {
				t.Errorf("the message names a temporary file: %s", r.stderr)
			}
			h.ok("", append(tt.args, "--out", file, "--force")...)
			if b, _ := os.ReadFile(file); !strings.Contains(string(b), tt.want) {
				t.Errorf("--force wrote %.200q, want it to contain %q", b, tt.want)
			}
			// A new file, then the same again without --force.
			fresh := filepath.Join(dir, "fresh")
			h.ok("", append(tt.args, "--out", fresh)...)
			first, _ := os.ReadFile(fresh)
			h.fails(cli.ExitFailure, []string{"exists"}, "", append(tt.args, "--out", fresh)...)
			if again, _ := os.ReadFile(fresh); string(again) != string(first) || !strings.Contains(string(first), tt.want) {
				t.Errorf("the second write changed the file")
			}
			// A dangling symbolic link is in the way too, and is not
			// followed.
			target := filepath.Join(dir, "target")
			link := filepath.Join(dir, "link")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			h.fails(cli.ExitFailure, []string{"exists"}, "", append(tt.args, "--out", link)...)
			if _, err := os.Lstat(target); !os.IsNotExist(err) {
				t.Errorf("the command wrote through the symbolic link: %v", err)
			}
			// A directory that does not exist: named, with no temporary
			// file name.
			missing := filepath.Join(dir, "no", "such", "dir", "out")
			r = h.fails(cli.ExitFailure, []string{"write " + missing + ": "}, "", append(tt.args, "--out", missing)...)
			if strings.Contains(r.stderr, ".tmp") || strings.Contains(r.stderr, ".nuxctl") {
				t.Errorf("the message names a temporary file: %s", r.stderr)
			}
			if got := entries(t, dir); !slices.Equal(got, []string{"fresh", "link", "out"}) {
				t.Errorf("the directory holds %q, want only fresh, link and out", got)
			}
		})
	}
	h.t = t

	// A failed download leaves nothing.
	dir := t.TempDir()
	h.fails(cli.ExitNotFound, []string{"not_found"}, "", "evidence", "download", "0123456789abcdef01234567", "--out", filepath.Join(dir, "x.zip"))
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("a failed download left %q", got)
	}
	// The package is written 0600, other files 0644.
	h.ok("", "evidence", "download", x.ExportID, "--out", filepath.Join(dir, "p.zip"))
	h.ok("", "ledger", "checkpoint", "--out", filepath.Join(dir, "cp.txt"))
	if m := mode(t, filepath.Join(dir, "p.zip")); m != 0o600 {
		t.Errorf("package mode %04o, want 0600", m)
	}
	if m := mode(t, filepath.Join(dir, "cp.txt")); m != 0o644 {
		t.Errorf("checkpoint mode %04o, want 0644", m)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"cp.txt", "p.zip"}) {
		t.Errorf("the directory holds %q", got)
	}
}

// TestOutFileReadOnlyDir: a directory nuxctl may not write to fails the
// command, naming the file and not the temporary one.
func TestOutFileReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only directories")
	}
	h, _ := loggedIn(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	file := filepath.Join(dir, "key.pem")
	r := h.fails(cli.ExitFailure, []string{"write " + file + ": permission denied"}, "", "evidence", "signing-key", "--out", file)
	if strings.Contains(r.stderr, ".tmp") {
		t.Errorf("the message names a temporary file: %s", r.stderr)
	}
}
