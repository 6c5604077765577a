package cli_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/internal/pgtest"
)

// reviewItemsJSON is 'review items --json'.
type reviewItemsJSON struct {
	Items []struct {
		Item            int    `json:"item"`
		IdentityName    string `json:"identity_name"`
		EntitlementName string `json:"entitlement_name"`
		Decision        string `json:"decision"`
		PlanID          string `json:"plan_id"`
	} `json:"items"`
}

// TestReviewWalkthrough follows the README's access review walk-through
// with nuxctl against a real nuxarid and a real PostgreSQL: two roles
// granted directly, before Nuxari reads the system, beside alice's grant
// of the connector walk-through; a review of the connector's grants; one
// kept, one revoked, and the REVOKE in PostgreSQL; the rest (alice's)
// kept, the review completed; and its evidence package exported and
// verified offline, holding the review's every event with its proof.
// The connector's role prefix is the test's, as in
// TestConnectorWalkthrough: it sees the test's roles alone, so the review
// holds exactly these three grants.
func TestReviewWalkthrough(t *testing.T) {
	pg := pgtest.Need(t)
	admin := pg.Admin(t, pg.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	role, reports, payments, dave, erin := p+"nuxari", p+"reports", p+"payments", p+"dave", p+"erin"
	readers, alice := p+"app_readers", p+"alice"
	pw := "connector password " + p
	q := pgtest.Ident
	pgtest.Exec(t, admin,
		"CREATE ROLE "+q(role)+" LOGIN CREATEROLE PASSWORD "+pgtest.Literal(pw),
		"CREATE ROLE "+q(readers)+" NOLOGIN", "CREATE ROLE "+q(alice)+" LOGIN", "GRANT "+q(readers)+" TO "+q(alice),
		"CREATE ROLE "+q(reports)+" NOLOGIN", "CREATE ROLE "+q(payments)+" NOLOGIN",
		"CREATE ROLE "+q(dave)+" LOGIN", "CREATE ROLE "+q(erin)+" LOGIN",
		"GRANT "+q(reports)+" TO "+q(dave), "GRANT "+q(payments)+" TO "+q(erin))

	_, h, id := startPostgresWalkthrough(t, pg, role, pw, p)

	// js runs nuxctl --json, checks its member names and decodes it.
	js := func(v any, args ...string) {
		t.Helper()
		r := h.ok("", append([]string{"--json"}, args...)...)
		checkNames(t, "nuxctl "+strings.Join(args, " "), []byte(r.stdout))
		if err := jsonUnmarshal(r.stdout, v); err != nil {
			t.Fatalf("nuxctl --json %s: %v\n%s", strings.Join(args, " "), err, r.stdout)
		}
	}
	var rv struct {
		ID           string `json:"review_id"`
		State        string `json:"state"`
		Items        int    `json:"items"`
		Kept         int    `json:"kept"`
		Revoked      int    `json:"revoked"`
		RevokeFailed int    `json:"revoke_failed"`
	}
	js(&rv, "review", "start", id, "--name", "Q3 app-db access")
	review := rv.ID
	if rv.State != "REVIEW_STATE_OPEN" || rv.Items != 3 {
		t.Fatalf("review start: %+v", rv)
	}
	r := h.ok("", "review", "items", review)
	if !strings.Contains(r.stdout, dave) || !strings.Contains(r.stdout, erin) || !strings.Contains(r.stdout, "role:admin, role:owner") {
		t.Fatalf("review items:\n%s", r.stdout)
	}
	var items reviewItemsJSON
	js(&items, "review", "items", review)
	if len(items.Items) != rv.Items {
		t.Fatalf("%d items listed of the review's %d", len(items.Items), rv.Items)
	}
	find := func(identity, entitlement string) string {
		t.Helper()
		for _, it := range items.Items {
			if it.IdentityName == identity && it.EntitlementName == entitlement {
				return strconv.Itoa(it.Item)
			}
		}
		t.Fatalf("no item of %s in %s: %+v", identity, entitlement, items.Items)
		return ""
	}
	keep, revoke := find(dave, reports), find(erin, payments)

	// One kept, one revoked: the REVOKE runs at once.
	h.ok("", "review", "decide", review, "--keep", keep, "--revoke", revoke, "--comment", "Q3: erin left payments")
	waitFor(t, "the REVOKE in PostgreSQL", func() bool { return !pgMember(t, admin, erin, payments) })
	if !pgMember(t, admin, dave, reports) {
		t.Fatal("the grant kept is gone from PostgreSQL")
	}
	// Decided once: the item again is refused.
	h.fails(cli.ExitFailure, []string{"nuxctl: failed_precondition: "}, "", "review", "decide", review, "--keep", revoke)

	// The rest of the owner's items (alice's) are kept; then the review
	// completes.
	var mine reviewItemsJSON
	js(&mine, "review", "items", review, "--mine")
	if len(mine.Items) != 1 || mine.Items[0].IdentityName != alice || mine.Items[0].EntitlementName != readers {
		t.Fatalf("the owner's inbox after two decisions: %+v, want alice's item alone", mine.Items)
	}
	h.ok("", "review", "decide", review, "--keep", strconv.Itoa(mine.Items[0].Item))
	waitFor(t, "the review completed", func() bool {
		js(&rv, "review", "get", review)
		return rv.State == "REVIEW_STATE_COMPLETED"
	})
	if rv.Revoked != 1 || rv.RevokeFailed != 0 || rv.Kept != rv.Items-1 {
		t.Fatalf("completed review: %+v", rv)
	}
	if r := h.ok("", "review", "list"); !strings.Contains(r.stdout, review) || !strings.Contains(r.stdout, "completed") {
		t.Errorf("review list:\n%s", r.stdout)
	}

	// The whole review as one evidence package, verified offline.
	var org struct {
		LogVerifierKey string `json:"log_verifier_key"`
	}
	h.jsonOut(&org, "org", "get")
	dir := t.TempDir()
	keyFile, pkg := filepath.Join(dir, "manifest-key.pem"), filepath.Join(dir, "review.zip")
	h.ok("", "evidence", "signing-key", "--out", keyFile)
	r = h.ok("", "review", "export", review, "--out", pkg)
	if !strings.Contains(r.stdout, "Wrote export ") || !strings.Contains(r.stderr, "waiting for export") {
		t.Errorf("review export:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	h.fails(cli.ExitFailure, []string{"exists: pass --force"}, "", "review", "export", review, "--out", pkg)
	var v struct {
		Verified bool `json:"verified"`
		Report   struct {
			Scope struct {
				Subjects []string `json:"subjects"`
			} `json:"scope"`
			Types []struct {
				Type   string `json:"type"`
				Events int    `json:"events"`
			} `json:"types"`
		} `json:"report"`
	}
	js(&v, "verify", pkg, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	if !v.Verified || len(v.Report.Scope.Subjects) != 1 || v.Report.Scope.Subjects[0] != "review:"+review {
		t.Fatalf("verify: %+v", v)
	}
	types := map[string]int{}
	for _, c := range v.Report.Types {
		types[c.Type] = c.Events
	}
	if len(types) != 3 || types["access.review.started"] != 1 || types["access.review.decided"] != 2 || types["access.review.completed"] != 1 {
		t.Fatalf("the package's events: %v", types)
	}
	r = h.ok("", "verify", pkg, "--org", "acme", "--key", org.LogVerifierKey, "--signing-key", keyFile)
	if !strings.Contains(r.stdout, "access.review.completed") {
		t.Errorf("verify:\n%s", r.stdout)
	}
}
