package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
)

// TestEvidenceExportDownloadVerify walks an auditor through exporting,
// downloading and verifying a package offline, and through tampering.
func TestEvidenceExportDownloadVerify(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	dir := t.TempDir()
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	h.ok("", "ledger", "append", "--type", "custom.deploy", "--data", `{"service":"api"}`)

	var org struct {
		LogVerifierKey string `json:"log_verifier_key"`
	}
	h.jsonOut(&org, "org", "get")
	keyFile := filepath.Join(dir, "manifest-key.pem")
	h.ok("", "evidence", "signing-key", "--out", keyFile)

	var x struct {
		ExportID   string `json:"export_id"`
		State      string `json:"state"`
		EventCount string `json:"event_count"`
	}
	h.fails(cli.ExitUsage, []string{`--type "member.addded" is neither an event type`}, "", "evidence", "export", "--type", "member.addded")
	r := h.ok("", "--json", "evidence", "export", "--type", "custom.deploy", "--wait")
	if err := json.Unmarshal([]byte(r.stdout), &x); err != nil || x.State != "EXPORT_STATE_SUCCEEDED" || x.EventCount != "1" {
		t.Fatalf("export: %v %+v", err, x)
	}
	// Not a terminal: plain progress lines on stderr, and what it waits for.
	if !strings.Contains(r.stderr, "waiting for export "+x.ExportID+" to finish (up to 10m0s)") ||
		!regexp.MustCompile(`(?m)^export `+x.ExportID+`: (\d+) of (\d+) log entries read \(100%\)$`).MatchString(r.stderr) {
		t.Errorf("export --wait stderr:\n%s", r.stderr)
	}
	r = h.ok("", "evidence", "list")
	if !strings.Contains(r.stdout, x.ExportID) || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("evidence list:\n%s", r.stdout)
	}
	r = h.ok("", "evidence", "status", x.ExportID)
	if !strings.Contains(r.stdout, "no WORM guarantee") {
		t.Fatalf("status does not warn about local storage:\n%s", r.stdout)
	}
	pkg := filepath.Join(dir, "acme.zip")
	r = h.ok("", "evidence", "download", x.ExportID, "--out", pkg)
	if !regexp.MustCompile(`(?m)^downloading ` + x.ExportID + `: [0-9.]+ KiB of [0-9.]+ KiB \(100%\)$`).MatchString(r.stderr) {
		t.Errorf("download stderr:\n%s", r.stderr)
	}
	h.fails(cli.ExitFailure, []string{"exists"}, "", "evidence", "download", x.ExportID, "--out", pkg)
	h.fails(cli.ExitFailure, []string{"failed_precondition"}, "", "evidence", "download", x.ExportID, "--url")

	// Offline: no server, no credentials.
	off := newHarness(t)
	off.env["NUXARI_SERVER"] = closedPort(t)
	r = off.ok("", "verify", pkg, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	if !strings.Contains(r.stdout, "VERIFIED") || !strings.Contains(r.stdout, "custom.deploy") {
		t.Fatalf("verify output:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^verifying acme.zip: [0-9.]+ KiB of [0-9.]+ KiB \(100%\)$`).MatchString(r.stderr) {
		t.Errorf("verify stderr:\n%s", r.stderr)
	}
	var rep struct {
		Verified bool `json:"verified"`
	}
	off.jsonOut(&rep, "verify", pkg, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	if !rep.Verified {
		t.Fatal("--json report not verified")
	}
	off.fails(2, []string{"--signing-key"}, "", "verify", pkg, "--org", "acme", "--key", org.LogVerifierKey)
	off.fails(cli.ExitFailure, []string{"nuxctl: verify"}, "", "verify", pkg, "--org", "other", "--key", org.LogVerifierKey, "--signing-key", keyFile)

	// Tampered: one byte flipped anywhere after the first entry's header.
	b, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)/2] ^= 1
	badFile := filepath.Join(dir, "bad.zip")
	if err := os.WriteFile(badFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	r = off.run("", "--json", "verify", badFile, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	var fail struct {
		Verified bool `json:"verified"`
		Failure  struct {
			Check string `json:"check"`
		} `json:"failure"`
	}
	if r.code != cli.ExitFailure || json.Unmarshal([]byte(r.stdout), &fail) != nil || fail.Verified || fail.Failure.Check == "" {
		t.Fatalf("tampered package: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(h.output.String(), ownerPassword) {
		t.Fatal("the password was printed")
	}
}
