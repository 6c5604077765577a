package cli_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// member adds a member with role and returns a harness logged in as
// them.
func member(t *testing.T, owner *harness, url, email, role, password string) *harness {
	t.Helper()
	r := owner.ok("", "member", "add", "--email", email, "--role", role)
	setup := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "nxp.acme.") {
			setup = l
		}
	}
	h := newHarness(t)
	h.ok(setup+"\n"+password+"\n", "--server", url, "password", "set")
	h.ok(password+"\n", "--server", url, "login", "--org", "acme", "--email", email)
	return h
}

// member reports whether role member belongs to role group in PostgreSQL.
func pgMember(t *testing.T, admin *pgx.Conn, member, group string) bool {
	t.Helper()
	var ok bool
	err := admin.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2)`, group, member).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestAccessWalkthrough follows the README's access walk-through with
// nuxctl against a real nuxarid and a real PostgreSQL: a policy, a
// request, two approvals, the GRANT in PostgreSQL, its expiry and the
// REVOKE; then drift: a grant made behind Nuxari's back found by the next
// sync, its revoke plan approved, and the grant gone. The connector's
// role prefix is the test's, as in TestConnectorWalkthrough: it sees the
// test's roles alone.
func TestAccessWalkthrough(t *testing.T) {
	pg := pgtest.Need(t)
	admin := pg.Admin(t, pg.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	role, writers, bob, carol := p+"nuxari", p+"app_writers", p+"bob", p+"carol"
	pw := "connector password " + p
	q := pgtest.Ident
	pgtest.Exec(t, admin,
		"CREATE ROLE "+q(role)+" LOGIN CREATEROLE PASSWORD "+pgtest.Literal(pw),
		"CREATE ROLE "+q(writers)+" NOLOGIN", "CREATE ROLE "+q(bob)+" LOGIN", "CREATE ROLE "+q(carol)+" LOGIN")

	srv, h, id := startPostgresWalkthrough(t, pg, role, pw, p)
	h.ok("", "drift", "baseline", id)

	h.ok("", "policy", "create", "--name", "app writers", "--connector", id,
		"--max-duration", "8h", "--approvals", "2", "--approver-role", "approver",
		"--condition", `request.justification.startsWith("OPS-")`, "--remediate-drift")
	requester := member(t, h, srv.URL, "rita@acme.test", "requester", "requester password 1")
	ann := member(t, h, srv.URL, "ann@acme.test", "approver", "approver password 1")
	ben := member(t, h, srv.URL, "ben@acme.test", "approver", "approver password 2")

	// A request the condition refuses, then one it allows.
	requester.fails(1, []string{"condition is false"}, "", "request", "submit", "--connector", id, "--identity", bob, "--entitlement", writers, "--duration", "2s", "--justification", "please")
	var sub struct {
		Plan struct {
			ID string `json:"plan_id"`
		} `json:"plan"`
	}
	requester.jsonOut(&sub, "request", "submit", "--connector", id, "--identity", bob, "--entitlement", writers, "--duration", "2s", "--justification", "OPS-42 deploy")
	plan := sub.Plan.ID
	requester.fails(4, nil, "", "plan", "approve", plan)
	if r := ann.ok("", "plan", "list", "--mine"); !strings.Contains(r.stdout, plan) {
		t.Fatalf("ann's inbox:\n%s", r.stdout)
	}
	ann.ok("", "plan", "approve", plan, "--comment", "ok")
	ann.fails(1, []string{"already decided"}, "", "plan", "approve", plan)
	ben.ok("", "plan", "approve", plan, "--comment", "ok too")
	ben.ok("", "plan", "wait", plan, "--timeout", "30s")
	if !pgMember(t, admin, bob, writers) {
		t.Fatal("the GRANT is not in PostgreSQL")
	}
	// The 2 s grant expires; the schedule revokes it.
	waitFor(t, "the REVOKE in PostgreSQL", func() bool { return !pgMember(t, admin, bob, writers) })
	var grants struct {
		Grants []struct {
			State string `json:"state"`
		} `json:"grants"`
	}
	waitFor(t, "the grant revoked", func() bool {
		h.jsonOut(&grants, "access", "grants")
		return len(grants.Grants) == 1 && grants.Grants[0].State == "revoked"
	})

	// Drift: carol gets the role behind Nuxari's back.
	pgtest.Exec(t, admin, "GRANT "+q(writers)+" TO "+q(carol))
	h.ok("", "connector", "sync", id, "--wait")
	var findings struct {
		Findings []struct {
			Identity string `json:"identity_id"`
			Kind     string `json:"kind"`
			Plan     string `json:"plan_id"`
		} `json:"findings"`
	}
	waitFor(t, "the drift finding", func() bool {
		h.jsonOut(&findings, "drift", "list", "--connector", id)
		return len(findings.Findings) == 1
	})
	if f := findings.Findings[0]; f.Kind != "unexpected" || f.Plan == "" {
		t.Fatalf("finding %+v", f)
	}
	ann.ok("", "plan", "approve", findings.Findings[0].Plan, "--comment", "not approved access")
	ben.ok("", "plan", "approve", findings.Findings[0].Plan)
	ben.ok("", "plan", "wait", findings.Findings[0].Plan, "--timeout", "30s")
	if pgMember(t, admin, carol, writers) {
		t.Fatal("the unexpected grant is still in PostgreSQL")
	}

	// Every step is in the log, in order.
	var listed struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	h.jsonOut(&listed, "ledger", "list", "--limit", "0")
	var types []string
	for _, e := range listed.Events {
		if strings.HasPrefix(e.Type, "access.") && e.Type != "access.drift.checked" {
			types = append(types, e.Type)
		}
	}
	want := []string{
		"access.baseline.accepted", "access.policy.created", "access.request.denied", "access.request.submitted",
		"access.plan.approval", "access.plan.approved", "access.plan.run.started", "access.action.executed", "access.plan.run.completed",
		"access.grant.expired", "access.plan.run.started", "access.action.executed", "access.plan.run.completed",
		"access.drift.found", "access.plan.approval", "access.plan.approved", "access.plan.run.started", "access.action.executed",
		"access.drift.resolved", "access.plan.run.completed",
	}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(types, "\n"), strings.Join(want, "\n"))
	}
}

// startPostgresWalkthrough starts a server (its schedule every 50 ms),
// signs up org acme as its owner, and makes and syncs a PostgreSQL
// connector "app-db" logging in as role with password pw, scoped to the
// roles starting with prefix. It returns the server, the owner's nuxctl
// and the connector's ID.
func startPostgresWalkthrough(t *testing.T, pg pgtest.Server, role, pw, prefix string) (*servertest.Server, *harness, string) {
	t.Helper()
	srv := servertest.Start(t, func(c *server.Config) { c.Governance.ScheduleInterval = 50 * time.Millisecond })
	h := newHarness(t)
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	h.ok(pw+"\n", "connector", "create", "--name", "app-db", "--kind", "postgres",
		"--host", "localhost", "--port", strconv.Itoa(pg.Port), "--database", pg.Database,
		"--user", role, "--ca-file", pg.CAFile, "--role-prefix", prefix, "--password-stdin")
	var list struct {
		Connectors []struct {
			ID string `json:"connector_id"`
		} `json:"connectors"`
	}
	h.jsonOut(&list, "connector", "list")
	id := list.Connectors[0].ID
	h.ok("", "connector", "sync", id, "--wait")
	return srv, h, id
}
