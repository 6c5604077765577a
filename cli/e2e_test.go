package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
)

const (
	ownerPassword   = "owner-password-0123"
	auditorPassword = "auditor-password-4567"
)

// protojson shapes of the messages the tests read, with the proto field
// names (--json prints snake_case).
type (
	jsonMember struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
		Role   string `json:"role"`
	}
	jsonCheckpoint struct {
		Checkpoint struct {
			Size string `json:"size"` // uint64 is a JSON string in protojson
			Note string `json:"note"`
		} `json:"checkpoint"`
		VerifierKey string `json:"verifier_key"`
	}
	jsonAppend struct {
		Events []struct {
			Index     string `json:"index"`
			Duplicate bool   `json:"duplicate"`
		} `json:"events"`
		Checkpoint struct {
			Size string `json:"size"`
		} `json:"checkpoint"`
	}
)

// TestEndToEnd drives every command against a real server, in the order a
// new org would use them, and ends by verifying a proof bundle offline.
func TestEndToEnd(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	dir := t.TempDir()

	// Sign-up and login go to --server; later commands use the stored URL.
	r := h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test", "--name", "Olive", "--org-name", "Acme Inc")
	if !strings.Contains(r.stdout, "Created org acme") || !strings.Contains(r.stdout, "nuxari/orgs/acme") {
		t.Errorf("signup output:\n%s", r.stdout)
	}
	h.fails(cli.ExitFailure, []string{"nuxctl: already_exists: "}, ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "x@acme.test")
	h.fails(cli.ExitUnauthenticated, []string{"nuxctl: unauthenticated: "}, "wrong-password-000\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	h.fails(cli.ExitFailure, []string{"password on the first line of standard input"}, "", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	if _, err := os.Stat(h.config); !os.IsNotExist(err) {
		t.Fatalf("a failed login left a credentials file: %v", err)
	}

	r = h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	if !strings.Contains(r.stdout, "Logged in to org acme") {
		t.Errorf("login output:\n%s", r.stdout)
	}
	if runtime.GOOS != "windows" {
		if m := mode(t, h.config); m != 0o600 {
			t.Errorf("credentials file mode %04o, want 0600", m)
		}
		if m := mode(t, filepath.Dir(h.config)); m != 0o700 {
			t.Errorf("credentials directory mode %04o, want 0700", m)
		}
	}
	var creds cli.Credentials
	b, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	if creds.Server != srv.URL || creds.OrgID != "acme" || creds.SessionToken == "" {
		t.Fatalf("stored credentials: server %q org %q token set %v", creds.Server, creds.OrgID, creds.SessionToken != "")
	}
	if s := fmt.Sprintf("%v %+v %#v %s", creds, creds, creds, &creds); strings.Contains(s, creds.SessionToken) {
		t.Errorf("formatting Credentials prints the session token: %s", s)
	}
	entries, _ := os.ReadDir(filepath.Dir(h.config))
	if len(entries) != 1 {
		t.Errorf("credentials directory holds %d entries, want only the file", len(entries))
	}

	// The first checkpoint is signed shortly after sign-up.
	waitFor(t, "the first checkpoint", func() bool { return h.run("", "ledger", "checkpoint").code == cli.ExitOK })
	r = h.ok("", "ledger", "checkpoint")
	if !strings.Contains(r.stdout, "Origin:") || !strings.Contains(r.stdout, "\n\nnuxari/orgs/acme\n") || !strings.Contains(r.stdout, "— nuxari ") {
		t.Errorf("ledger checkpoint:\n%s", r.stdout)
	}

	r = h.ok("", "whoami")
	for _, want := range []string{"owner@acme.test", "owner", "acme", srv.URL} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("whoami output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The stored session is never sent to another server.
	h.fails(cli.ExitUnauthenticated, []string{"the stored session is for " + srv.URL}, "", "--server", closedPort(t), "whoami")

	// Org settings.
	r = h.ok("", "org", "set", "--name", "Acme Corp", "--retention", "8760h")
	if !strings.Contains(r.stdout, "Acme Corp") || !strings.Contains(r.stdout, "365 days") {
		t.Errorf("org set output:\n%s", r.stdout)
	}
	var org struct {
		OrgID          string `json:"org_id"`
		LogOrigin      string `json:"log_origin"`
		LogVerifierKey string `json:"log_verifier_key"`
	}
	h.jsonOut(&org, "org", "get")
	if org.OrgID != "acme" || org.LogOrigin != "nuxari/orgs/acme" || org.LogVerifierKey == "" {
		t.Fatalf("org get: %+v", org)
	}

	// Members: add, list, role, remove.
	r = h.ok("", "member", "add", "--email", "audrey@acme.test", "--role", "auditor", "--name", "Audrey")
	setup := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "nxp.acme.") {
			setup = l
		}
	}
	if setup == "" || !strings.Contains(r.stdout, "password set") {
		t.Fatalf("member add prints no setup token and command:\n%s", r.stdout)
	}
	h.fails(cli.ExitUsage, []string{`unknown role "root"`}, "", "member", "add", "--email", "x@acme.test", "--role", "root")
	// The member sets their own password, then logs in, elsewhere.
	audrey := newHarness(t)
	audrey.fails(cli.ExitFailure, []string{"at least"}, setup+"\nshort\n", "--server", srv.URL, "password", "set")
	r = audrey.ok(setup+"\n"+auditorPassword+"\n", "--server", srv.URL, "password", "set")
	if !strings.Contains(r.stdout, "audrey@acme.test") {
		t.Errorf("password set output:\n%s", r.stdout)
	}
	audrey.fails(cli.ExitUnauthenticated, []string{"setup token is invalid, used or expired"}, setup+"\n"+auditorPassword+"\n", "--server", srv.URL, "password", "set")
	audrey.ok(auditorPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "audrey@acme.test")
	audrey.fails(cli.ExitPermissionDenied, []string{"current_password is wrong"}, "not the password\nauditor-password-8910\n", "password", "change")
	audrey.ok(auditorPassword+"\nauditor-password-8910\n", "password", "change")
	audrey.ok("", "whoami")
	members := listMembers(h)
	auditor := members["audrey@acme.test"]
	if auditor.Role != "ROLE_AUDITOR" || members["owner@acme.test"].Role != "ROLE_OWNER" {
		t.Fatalf("members: %+v", members)
	}
	r = h.ok("", "member", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "USER ID") {
		t.Fatalf("member list:\n%s", r.stdout)
	}
	for _, l := range lines[1:] { // aligned: each email starts under EMAIL
		if col := strings.Index(lines[0], "EMAIL"); !strings.HasPrefix(l[col:], "owner@") && !strings.HasPrefix(l[col:], "audrey@") {
			t.Errorf("member list is not aligned:\n%s", r.stdout)
		}
	}
	// An owner issues a fresh setup token and ends the member's sessions.
	r = h.ok("", "member", "setup-token", auditor.UserID, "--setup-ttl", "1h")
	if !strings.Contains(r.stdout, "nxp.acme.") {
		t.Errorf("member setup-token:\n%s", r.stdout)
	}
	r = h.ok("", "member", "end-sessions", auditor.UserID)
	if !strings.Contains(r.stdout, "Ended 1 sessions") {
		t.Errorf("member end-sessions:\n%s", r.stdout)
	}
	audrey.fails(cli.ExitUnauthenticated, []string{"unauthenticated"}, "", "whoami")
	h.ok("", "member", "role", auditor.UserID, "readonly")
	if got := listMembers(h)["audrey@acme.test"].Role; got != "ROLE_READONLY" {
		t.Errorf("role after 'member role': %s", got)
	}
	h.ok("", "member", "remove", auditor.UserID)
	if _, ok := listMembers(h)["audrey@acme.test"]; ok {
		t.Error("member still listed after 'member remove'")
	}

	// API tokens: the secret goes alone to stdout, once.
	r = h.ok("", "token", "create", "--name", "ci", "--role", "admin", "--ttl", "720h")
	secret := strings.TrimSpace(r.stdout)
	if secret == "" || strings.Contains(secret, "\n") || !strings.Contains(r.stderr, "shown only this once") {
		t.Fatalf("token create: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = h.ok("", "token", "list")
	if !strings.Contains(r.stdout, "TOKEN ID") || !strings.Contains(r.stdout, " ci ") || strings.Contains(r.stdout, secret) {
		t.Errorf("token list:\n%s", r.stdout)
	}
	r = h.ok("", "--token", secret, "whoami")
	if !strings.Contains(r.stdout, "API token") || !strings.Contains(r.stdout, "admin") {
		t.Errorf("whoami with --token:\n%s", r.stdout)
	}

	// The ledger, written with the API token from the environment.
	h.env[cli.EnvToken] = secret
	var app jsonAppend
	h.jsonOut(&app, "ledger", "append", "--type", "custom.deploy", "--data", `{"app":"web","version":3}`, "--idempotency-key", "deploy-1")
	index := app.Events[0].Index
	r = h.ok("", "ledger", "append", "--type", "custom.deploy", "--data", `{"app":"web","version":3}`, "--idempotency-key", "deploy-1")
	if !strings.Contains(r.stdout, "Already appended as event "+index) {
		t.Errorf("idempotent append:\n%s", r.stdout)
	}
	h.fails(cli.ExitUsage, []string{"--data is not a JSON object"}, "", "ledger", "append", "--type", "custom.x", "--data", "[1]")
	h.fails(cli.ExitFailure, []string{"nuxctl: invalid_argument: "}, "", "ledger", "append", "--type", "deploy")
	delete(h.env, cli.EnvToken)
	firstSize := app.Checkpoint.Size

	r = h.ok("", "ledger", "list", "--type", "custom.deploy")
	if !strings.Contains(r.stdout, "INDEX") || !strings.Contains(r.stdout, "custom.deploy") || strings.Count(r.stdout, "custom.deploy") != 1 {
		t.Errorf("ledger list --type:\n%s", r.stdout)
	}
	r = h.ok("", "ledger", "list", "--limit", "1")
	if n := strings.Count(strings.TrimSpace(r.stdout), "\n"); n != 1 || !strings.Contains(r.stderr, "showing the first 1 events") {
		t.Errorf("ledger list --limit 1: %d rows\n%s\n%s", n, r.stdout, r.stderr)
	}
	var listed struct {
		Events []struct {
			Index string `json:"index"`
			Type  string `json:"type"`
		} `json:"events"`
	}
	h.jsonOut(&listed, "ledger", "list", "--limit", "0", "--since", "2000-01-01T00:00:00Z")
	if len(listed.Events) < 5 || listed.Events[0].Type != "org.created" {
		t.Errorf("ledger list --limit 0: %+v", listed.Events)
	}

	leafFile := filepath.Join(dir, "leaf.json")
	r = h.ok("", "ledger", "event", index, "--out", leafFile)
	if !strings.Contains(r.stdout, "custom.deploy") || !strings.Contains(r.stdout, `"app": "web"`) || !strings.Contains(r.stdout, "deploy-1") {
		t.Errorf("ledger event:\n%s", r.stdout)
	}
	var ev struct {
		Leaf []byte `json:"leaf"`
	}
	h.jsonOut(&ev, "ledger", "event", index)
	if got, err := os.ReadFile(leafFile); err != nil || string(got) != string(ev.Leaf) || len(got) == 0 {
		t.Errorf("ledger event --out wrote %q, want the leaf %q (%v)", got, ev.Leaf, err)
	}

	// A later event, so that consistency from the first size is not trivial.
	h.ok("", "ledger", "append", "--type", "custom.other")
	var cp jsonCheckpoint
	waitFor(t, "a checkpoint past size "+firstSize, func() bool {
		h.jsonOut(&cp, "ledger", "checkpoint")
		return atoi(t, cp.Checkpoint.Size) > atoi(t, firstSize)
	})
	noteFile := filepath.Join(dir, "checkpoint.txt")
	h.ok("", "ledger", "checkpoint", "--size", firstSize, "--out", noteFile)
	if b, _ := os.ReadFile(noteFile); !strings.HasPrefix(string(b), "nuxari/orgs/acme\n"+firstSize+"\n") {
		t.Errorf("checkpoint note written:\n%s", b)
	}

	bundle := filepath.Join(dir, "bundle.json")
	h.ok("", "ledger", "prove", index, "--out", bundle, "--consistency-from", firstSize)
	h.fails(cli.ExitUsage, []string{"--out is required"}, "", "ledger", "prove", index)

	// Verify offline: a closed server port, no credentials, a bogus token.
	offline := &harness{t: t, env: map[string]string{
		cli.EnvServer: closedPort(t), cli.EnvToken: "bogus", cli.EnvConfig: filepath.Join(dir, "none.json"),
	}}
	r = offline.ok("", "--server", closedPort(t), "verify", bundle, "--key", org.LogVerifierKey, "--origin", org.LogOrigin)
	if !strings.Contains(r.stdout, "VERIFIED: event "+index+" is in the log nuxari/orgs/acme") || !strings.Contains(r.stdout, "consistency") {
		t.Errorf("verify output:\n%s", r.stdout)
	}
	var vr cli.VerifyResult
	offline.jsonOut(&vr, "verify", bundle, "--key", org.LogVerifierKey, "--org", "acme")
	if !vr.Verified || vr.Failure != nil || vr.Event == nil || vr.Event.Type != "custom.deploy" || vr.ConsistencyFrom == nil || strconv.FormatUint(*vr.ConsistencyFrom, 10) != firstSize {
		t.Errorf("verify --json: %+v", vr)
	}
	testTamper(t, offline, bundle, org.LogVerifierKey, org.LogOrigin)

	// Revoke the token; it stops working.
	var tokens struct {
		Tokens []struct {
			TokenID string `json:"token_id"`
		} `json:"tokens"`
	}
	h.jsonOut(&tokens, "token", "list")
	h.ok("", "token", "revoke", tokens.Tokens[0].TokenID)
	h.fails(cli.ExitUnauthenticated, []string{"nuxctl: unauthenticated: "}, "", "--token", secret, "whoami")

	// Logout ends the session and deletes the file.
	h.ok("", "logout")
	if _, err := os.Stat(h.config); !os.IsNotExist(err) {
		t.Errorf("credentials file after logout: %v", err)
	}
	h.fails(cli.ExitUnauthenticated, []string{"not logged in"}, "", "whoami")
	h.fails(cli.ExitUnauthenticated, []string{"nuxctl: unauthenticated: "}, "", "--server", srv.URL, "--token", creds.SessionToken, "whoami")

	// No password or session token was ever printed; the API token's
	// secret only by 'token create' (and in the --token failure above,
	// never: error messages do not echo it).
	all := h.output.String() + offline.output.String()
	for name, s := range map[string]string{"owner password": ownerPassword, "auditor password": auditorPassword, "session token": creds.SessionToken} {
		if strings.Contains(all, s) {
			t.Errorf("the %s appeared in nuxctl's output", name)
		}
	}
	if n := strings.Count(all, secret); n != 1 {
		t.Errorf("the API token's secret appeared %d times in nuxctl's output, want once", n)
	}
}

func listMembers(h *harness) map[string]jsonMember {
	var res struct {
		Members []jsonMember `json:"members"`
	}
	h.jsonOut(&res, "member", "list")
	m := map[string]jsonMember{}
	for _, x := range res.Members {
		m[x.Email] = x
	}
	return m
}

func atoi(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
