package cli_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/cli"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// snakeCase is the form of every member name nuxctl prints or writes.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkNames fails for every member name in the JSON text b that is not
// snake_case, naming where it is.
func checkNames(t *testing.T, what string, b []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, b)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snakeCase.MatchString(k) {
					t.Errorf("%s: member %q at %s is not snake_case", what, k, path)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("$", v)
}

// TestJSONConvention: every --json output and every file nuxctl writes
// names its members in snake_case.
func TestJSONConvention(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	dir := t.TempDir()
	js := func(stdin string, args ...string) string {
		t.Helper()
		r := h.ok(stdin, append([]string{"--json"}, args...)...)
		checkNames(t, "nuxctl "+strings.Join(args, " "), []byte(r.stdout))
		return r.stdout
	}
	js(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test", "--name", "Olive")
	js(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	b, err := os.ReadFile(h.config)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, "the credentials file", b)
	js("", "whoami")
	js("", "org", "set", "--retention", "8760h")
	var org struct {
		LogVerifierKey string `json:"log_verifier_key"`
	}
	if err := json.Unmarshal([]byte(js("", "org", "get")), &org); err != nil {
		t.Fatal(err)
	}
	var added struct {
		Member struct {
			UserID string `json:"user_id"`
		} `json:"member"`
	}
	if err := json.Unmarshal([]byte(js("", "member", "add", "--email", "a@acme.test", "--role", "auditor")), &added); err != nil || added.Member.UserID == "" {
		t.Fatalf("member add --json: %v %+v", err, added)
	}
	js("", "member", "list")
	js("", "member", "setup-token", added.Member.UserID)
	js("", "member", "role", added.Member.UserID, "readonly")
	js("", "member", "end-sessions", added.Member.UserID)
	js("", "token", "create", "--name", "ci", "--role", "admin")
	js("", "token", "list")
	js("", "ledger", "append", "--type", "custom.deploy", "--data", `{"someField":1}`)
	waitFor(t, "a checkpoint", func() bool { return h.run("", "ledger", "checkpoint").code == cli.ExitOK })
	js("", "ledger", "checkpoint")
	js("", "ledger", "event", "0")
	js("", "ledger", "list")
	bundle := filepath.Join(dir, "bundle.json")
	js("", "ledger", "prove", "0", "--out", bundle)
	if b, err = os.ReadFile(bundle); err != nil {
		t.Fatal(err)
	}
	checkNames(t, "the proof bundle", b)
	js("", "verify", bundle, "--org", "acme", "--key", org.LogVerifierKey)
	keyFile := filepath.Join(dir, "key.pem")
	js("", "evidence", "signing-key")
	js("", "evidence", "signing-key", "--out", keyFile)
	var x struct {
		ExportID string `json:"export_id"`
	}
	if err := json.Unmarshal([]byte(js("", "evidence", "export", "--wait")), &x); err != nil {
		t.Fatal(err)
	}
	js("", "evidence", "status", x.ExportID)
	js("", "evidence", "list")
	pkg := filepath.Join(dir, "acme.zip")
	js("", "evidence", "download", x.ExportID, "--out", pkg)
	js("", "verify", pkg, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	// A failed verification prints JSON too.
	bad := h.run("", "--json", "verify", pkg, "--org", "other", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	checkNames(t, "verify --json of a failed package", []byte(bad.stdout))

	join := js("", "agent", "join-token")
	var jt struct {
		JoinToken string `json:"join_token"`
	}
	if err := json.Unmarshal([]byte(join), &jt); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	res, err := srv.Clients("").Gateway.Enroll(context.Background(), connect.NewRequest(&nuxariv1.EnrollRequest{JoinToken: jt.JoinToken, PublicKey: pub, Hostname: "db-01"}))
	if err != nil {
		t.Fatal(err)
	}
	js("", "agent", "join-token")
	js("", "agent", "join-token", "list")
	js("", "agent", "list")
	var task struct {
		TaskID string `json:"task_id"`
	}
	if err := json.Unmarshal([]byte(js("", "agent", "collect", res.Msg.AgentId, "users")), &task); err != nil {
		t.Fatal(err)
	}
	js("", "agent", "task", task.TaskID)
	js("", "agent", "decommission", res.Msg.AgentId)
	js("", "version")
	js("", "logout")
}
