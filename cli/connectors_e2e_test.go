package cli_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/internal/pgtest"
)

// TestConnectorWalkthrough follows the README's connector walk-through
// with nuxctl against a real nuxarid and a real PostgreSQL: create, test,
// sync, grants, rotate, pause, resume, decommission; then every step is
// in the org's log, and a proof of the rotation verifies offline.
//
// The README's cluster is the reader's own; the test's is shared with
// the tests of other packages, running at once. So the test's roles
// carry its prefix, and the connector, given it as its role prefix, sees
// them alone, as the README's connector sees its cluster.
func TestConnectorWalkthrough(t *testing.T) {
	pg := pgtest.Need(t)
	admin := pg.Admin(t, pg.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	role, group, user := p+"nuxari", p+"app readers", p+"alice"
	pw1, pw2 := "connector password 1 "+p, "connector password 2 "+p
	q := pgtest.Ident
	pgtest.Exec(t, admin,
		"CREATE ROLE "+q(role)+" LOGIN CREATEROLE PASSWORD "+pgtest.Literal(pw1),
		"CREATE ROLE "+q(group)+" NOLOGIN", "CREATE ROLE "+q(user)+" LOGIN", "GRANT "+q(group)+" TO "+q(user))

	srv := startServer(t)
	h := newHarness(t)
	dir := t.TempDir()
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")

	h.ok(pw1+"\n", "connector", "create", "--name", "prod-db", "--kind", "postgres",
		"--host", "localhost", "--port", strconv.Itoa(pg.Port), "--database", pg.Database,
		"--user", role, "--ca-file", pg.CAFile, "--role-prefix", p, "--password-stdin")
	var list struct {
		Connectors []struct {
			ID    string `json:"connector_id"`
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"connectors"`
	}
	h.jsonOut(&list, "connector", "list")
	if len(list.Connectors) != 1 || list.Connectors[0].Name != "prod-db" {
		t.Fatalf("connector list: %+v", list)
	}
	id := list.Connectors[0].ID

	if r := h.ok("", "connector", "test", id); !strings.HasPrefix(r.stdout, "ok: ") {
		t.Fatalf("test:\n%s", r.stdout)
	}
	h.ok("", "connector", "sync", id, "--wait")
	r := h.ok("", "connector", "grants", id)
	if !strings.Contains(r.stdout, user) || !strings.Contains(r.stdout, group) {
		t.Fatalf("grants do not show %s in %s:\n%s", user, group, r.stdout)
	}
	var grants struct {
		Grants []struct {
			Identity    string `json:"identity_name"`
			Entitlement string `json:"entitlement_name"`
		} `json:"grants"`
	}
	h.jsonOut(&grants, "connector", "grants", id)
	if len(grants.Grants) != 1 || grants.Grants[0].Identity != user || grants.Grants[0].Entitlement != group {
		t.Fatalf("grants: %+v, want %s in %s alone", grants.Grants, user, group)
	}

	// A password the server does not accept is refused, and the old one
	// stays in force.
	h.fails(cli.ExitFailure, []string{"refused the new credentials"}, "not the password\n", "connector", "rotate", id, "--password-stdin")
	h.ok("", "connector", "test", id)
	pgtest.Exec(t, admin, "ALTER ROLE "+q(role)+" PASSWORD "+pgtest.Literal(pw2))
	h.ok(pw2+"\n", "connector", "rotate", id, "--password-stdin")
	if r := h.ok("", "connector", "test", id); !strings.HasPrefix(r.stdout, "ok: ") {
		t.Fatalf("test after the rotation:\n%s", r.stdout)
	}
	h.ok("", "connector", "pause", id, "--reason", "maintenance window")
	h.fails(cli.ExitFailure, []string{"paused"}, "", "connector", "sync", id)
	h.ok("", "connector", "resume", id)
	h.ok("", "connector", "decommission", id, "--reason", "retired")
	var got struct {
		State       string `json:"state"`
		Credentials []any  `json:"credentials"`
	}
	h.jsonOut(&got, "connector", "get", id)
	if got.State != "CONNECTOR_STATE_DECOMMISSIONED" || len(got.Credentials) != 0 {
		t.Fatalf("after decommissioning: %+v", got)
	}

	// The log: every step, in order.
	var listed struct {
		Events []struct {
			Index string `json:"index"`
			Type  string `json:"type"`
		} `json:"events"`
	}
	h.jsonOut(&listed, "ledger", "list", "--limit", "0")
	var types []string
	rotation := ""
	for _, e := range listed.Events {
		if strings.HasPrefix(e.Type, "connector.") || strings.HasPrefix(e.Type, "sealing.") {
			types = append(types, e.Type)
		}
		if e.Type == "connector.rotation.completed" {
			rotation = e.Index
		}
	}
	want := []string{
		"sealing.keyring.created", "connector.created",
		"connector.credential.accessed", "connector.tested",
		"connector.sync.requested", "connector.sync.started", "connector.credential.accessed", "connector.snapshot.recorded", "connector.sync.completed",
		"connector.rotation.started", "connector.credential.accessed", "connector.rotation.failed",
		"connector.credential.accessed", "connector.tested",
		"connector.rotation.started", "connector.credential.accessed", "connector.rotation.validated", "connector.rotation.stored",
		"connector.rotation.swapped", "connector.rotation.purged", "connector.rotation.completed",
		"connector.credential.accessed", "connector.tested",
		"connector.paused", "connector.resumed", "connector.decommissioned",
	}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(types, "\n"), strings.Join(want, "\n"))
	}
	for _, secret := range []string{pw1, pw2} {
		if strings.Contains(h.output.String(), secret) {
			t.Fatal("nuxctl printed a connector password")
		}
	}

	var org struct {
		LogVerifierKey string `json:"log_verifier_key"`
	}
	h.jsonOut(&org, "org", "get")
	bundle := filepath.Join(dir, "rotation.proof.json")
	waitFor(t, "a checkpoint covering the rotation", func() bool {
		var cp jsonCheckpoint
		h.jsonOut(&cp, "ledger", "checkpoint")
		n, _ := strconv.Atoi(cp.Checkpoint.Size)
		i, _ := strconv.Atoi(rotation)
		return n > i
	})
	h.ok("", "ledger", "prove", rotation, "--out", bundle)
	r = h.ok("", "verify", bundle, "--org", "acme", "--key", org.LogVerifierKey)
	if !strings.Contains(r.stdout, "VERIFIED: event "+rotation) {
		t.Fatalf("verify:\n%s", r.stdout)
	}
}
