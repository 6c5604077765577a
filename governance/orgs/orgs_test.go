package orgs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
)

const year = 365 * 24 * time.Hour

// TestCreateOrg: a sign-up creates the org with its first owner, whose
// email is lower-cased, and its first event states who, how and the
// retention window, which the log holds too.
func TestCreateOrg(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{DefaultRetention: 2 * year}, sessions.Config{})
	ctx := domaintest.Ctx()
	org, owner, err := h.Orgs.CreateOrg(ctx, orgs.NewOrg{
		ID: "acme", OwnerEmail: "Owner@Acme.example", OwnerDisplayName: "Ada", OwnerPassword: secret.New(domaintest.OwnerPassword),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if org.ID != "acme" || org.DisplayName != "acme" || org.Retention != 2*year || !org.Created.Equal(domaintest.Start) ||
		org.LogOrigin == "" || org.VerifierKey == "" {
		t.Errorf("org = %+v", org)
	}
	if owner.Email != "owner@acme.example" || owner.Role != rbac.Owner || owner.DisplayName != "Ada" || owner.UserID == "" {
		t.Errorf("owner = %+v", owner)
	}
	ev := domaintest.Only(t, h.F.Events(t, "acme"), ec.OrgCreated)
	if ev.Actor != owner.UserID || ev.Subject != "acme" || ev.RequestID != "req-1" || ev.Data["via"] != "signup" ||
		ev.Data["display_name"] != "acme" || ev.Data["retention_seconds"] != float64(2*year/time.Second) {
		t.Errorf("event = %+v", ev)
	}
	if o, _ := ev.Data["owner"].(map[string]any); o["user_id"] != owner.UserID || o["email"] != "owner@acme.example" {
		t.Errorf("event's owner = %v", ev.Data["owner"])
	}
	ret, err := h.F.Org(t, "acme").Log().Retention(ctx)
	if err != nil || ret.Window != 2*year {
		t.Errorf("log's retention = %+v, %v; want a window of 2 years", ret, err)
	}
	// The owner logs in with the lower-cased email as with the one given.
	_, p := h.Login(t, "acme", "OWNER@acme.example", domaintest.OwnerPassword)
	if p.UserID != owner.UserID || p.Role != rbac.Owner {
		t.Errorf("owner's principal = %+v", p)
	}
	got, err := h.Orgs.GetOrg(ctx, p, "acme")
	if err != nil || got != org {
		t.Errorf("GetOrg = %+v, %v; want %+v", got, err, org)
	}
}

// TestCreateOrgValidation: each bad field is refused as InvalidArgument
// before anything is written.
func TestCreateOrgValidation(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	good := orgs.NewOrg{ID: "acme", DisplayName: "Acme", OwnerEmail: "o@acme.example", OwnerDisplayName: "Ada", OwnerPassword: secret.New(domaintest.OwnerPassword)}
	for name, change := range map[string]func(*orgs.NewOrg){
		"empty org_id":               func(n *orgs.NewOrg) { n.ID = "" },
		"org_id with a dot":          func(n *orgs.NewOrg) { n.ID = "ac.me" },
		"org_id too long":            func(n *orgs.NewOrg) { n.ID = strings.Repeat("a", 65) },
		"display_name control":       func(n *orgs.NewOrg) { n.DisplayName = "Ac\nme" },
		"display_name too long":      func(n *orgs.NewOrg) { n.DisplayName = strings.Repeat("é", 201) },
		"no owner_email":             func(n *orgs.NewOrg) { n.OwnerEmail = "" },
		"owner_email with a name":    func(n *orgs.NewOrg) { n.OwnerEmail = "Ada <o@acme.example>" },
		"owner_email not an address": func(n *orgs.NewOrg) { n.OwnerEmail = "o-at-acme" },
		"owner_display_name control": func(n *orgs.NewOrg) { n.OwnerDisplayName = "A\x00da" },
		"short password":             func(n *orgs.NewOrg) { n.OwnerPassword = secret.New("short") },
	} {
		n := good
		change(&n)
		_, _, err := h.Orgs.CreateOrg(domaintest.Ctx(), n, false)
		if !errors.Is(err, errs.InvalidArgument) {
			t.Errorf("%s: err = %v, want InvalidArgument", name, err)
		}
	}
	if evs := h.F.Events(t, "acme"); len(evs) != 0 {
		t.Fatalf("refused sign-ups wrote %s", domaintest.Types(evs))
	}
	if err := orgs.Exists(domaintest.Ctx(), h.F.Org(t, "acme")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("org exists after refused sign-ups: %v", err)
	}
	// The same input with every field good is accepted.
	if _, _, err := h.Orgs.CreateOrg(domaintest.Ctx(), good, false); err != nil {
		t.Fatalf("good sign-up: %v", err)
	}
}

// TestCreateOrgTaken: an org ID is taken once, whoever asks; the second
// sign-up writes nothing.
func TestCreateOrgTaken(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	n := orgs.NewOrg{ID: "acme", OwnerEmail: "o@acme.example", OwnerPassword: secret.New(domaintest.OwnerPassword)}
	if _, _, err := h.Orgs.CreateOrg(ctx, n, false); err != nil {
		t.Fatal(err)
	}
	n.OwnerEmail = "mallory@acme.example"
	_, _, err := h.Orgs.CreateOrg(ctx, n, false)
	domaintest.WantKind(t, "second sign-up", err, errs.AlreadyExists)
	_, _, err = h.Orgs.CreateOrg(ctx, n, true)
	domaintest.WantKind(t, "operator's create of a taken ID", err, errs.AlreadyExists)
	domaintest.Only(t, h.F.Events(t, "acme"), ec.OrgCreated)
	if _, _, err := h.Sessions.Login(ctx, "acme", "mallory@acme.example", secret.New(domaintest.OwnerPassword)); !errors.Is(err, errs.Unauthenticated) {
		t.Fatalf("the refused sign-up's owner logs in: %v", err)
	}
}

// TestCreateOrgSignupDisabled: with sign-up turned off, self-service
// CreateOrg is refused as Disabled and writes nothing; the operator's
// still works, and its event says so.
func TestCreateOrgSignupDisabled(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{SignupDisabled: true}, sessions.Config{})
	ctx := domaintest.Ctx()
	if h.Orgs.SignupEnabled() {
		t.Error("SignupEnabled with SignupDisabled set")
	}
	n := orgs.NewOrg{ID: "acme", OwnerEmail: "o@acme.example", OwnerPassword: secret.New(domaintest.OwnerPassword)}
	_, _, err := h.Orgs.CreateOrg(ctx, n, false)
	domaintest.WantKind(t, "sign-up", err, errs.Disabled)
	if evs := h.F.Events(t, "acme"); len(evs) != 0 {
		t.Fatalf("refused sign-up wrote %s", domaintest.Types(evs))
	}
	if _, _, err := h.Orgs.CreateOrg(ctx, n, true); err != nil {
		t.Fatalf("operator's create: %v", err)
	}
	if ev := domaintest.Only(t, h.F.Events(t, "acme"), ec.OrgCreated); ev.Data["via"] != "operator" {
		t.Errorf("via = %v, want operator", ev.Data["via"])
	}
}

// TestUpdateSettings: an owner changes the display name and the retention
// window within its bounds; each event states the changed settings' old
// and new values, and the log's window follows. Values out of bounds, or
// nothing to change, are refused and write nothing.
func TestUpdateSettings(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{DefaultRetention: 3 * year, MinRetention: 2 * year, MaxRetention: 10 * year}, sessions.Config{})
	ctx := domaintest.Ctx()
	p := h.Signup(t, "acme")
	n := len(h.F.Events(t, "acme"))
	name := "Acme Corp"
	org, err := h.Orgs.UpdateSettings(ctx, p, orgs.Settings{DisplayName: &name})
	if err != nil || org.DisplayName != name || org.Retention != 3*year {
		t.Fatalf("UpdateSettings(name) = %+v, %v", org, err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.OrgSettingsChanged)
	if ev.Actor != p.UserID || ev.Subject != "acme" {
		t.Errorf("event = %+v", ev)
	}
	if d, _ := ev.Data["display_name"].(map[string]any); d["from"] != "acme" || d["to"] != name || len(ev.Data) != 1 {
		t.Errorf("event's data = %v", ev.Data)
	}

	for _, r := range []time.Duration{2*year - time.Second, 10*year + time.Second, 0, -year} {
		_, err := h.Orgs.UpdateSettings(ctx, p, orgs.Settings{Retention: &r})
		domaintest.WantKind(t, "retention "+r.String(), err, errs.InvalidArgument)
	}
	empty := ""
	_, err = h.Orgs.UpdateSettings(ctx, p, orgs.Settings{DisplayName: &empty})
	domaintest.WantKind(t, "empty display name", err, errs.InvalidArgument)
	_, err = h.Orgs.UpdateSettings(ctx, p, orgs.Settings{})
	domaintest.WantKind(t, "nothing to change", err, errs.InvalidArgument)
	if evs := h.Since(t, "acme", n+1); len(evs) != 0 {
		t.Fatalf("refused changes wrote %s", domaintest.Types(evs))
	}

	// The bounds themselves are allowed; each event's "from" is the
	// window the one before set.
	for i, r := range []time.Duration{10 * year, 2 * year} {
		from := []time.Duration{3 * year, 10 * year}[i]
		org, err := h.Orgs.UpdateSettings(ctx, p, orgs.Settings{Retention: &r})
		if err != nil || org.Retention != r || org.DisplayName != name {
			t.Fatalf("UpdateSettings(retention %s) = %+v, %v", r, org, err)
		}
		ev := domaintest.Only(t, h.Since(t, "acme", n+1+i), ec.OrgSettingsChanged)
		d, _ := ev.Data["retention_seconds"].(map[string]any)
		if d["from"] != float64(from/time.Second) || d["to"] != float64(r/time.Second) || len(ev.Data) != 1 {
			t.Errorf("event's data = %v, want retention_seconds from %d to %d", ev.Data, from/time.Second, r/time.Second)
		}
		ret, err := h.F.Org(t, "acme").Log().Retention(ctx)
		if err != nil || ret.Window != r {
			t.Errorf("log's retention = %+v, %v; want %s", ret, err, r)
		}
	}
	// Both at once: one event with both changes.
	name2, r := "Acme", 5*year
	if _, err := h.Orgs.UpdateSettings(ctx, p, orgs.Settings{DisplayName: &name2, Retention: &r}); err != nil {
		t.Fatal(err)
	}
	ev = domaintest.Only(t, h.Since(t, "acme", n+3), ec.OrgSettingsChanged)
	dn, _ := ev.Data["display_name"].(map[string]any)
	rs, _ := ev.Data["retention_seconds"].(map[string]any)
	if dn["from"] != name || dn["to"] != name2 || rs["from"] != float64(2*year/time.Second) || rs["to"] != float64(5*year/time.Second) {
		t.Errorf("event's data = %v", ev.Data)
	}
}

// TestGetOrgOtherID: asking for another org, existing or not, is
// NotFound, exactly as a missing one.
func TestGetOrgOtherID(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	p := h.Signup(t, "acme")
	h.Signup(t, "other")
	for _, id := range []string{"other", "nosuch"} {
		_, err := h.Orgs.GetOrg(domaintest.Ctx(), p, id)
		domaintest.WantKind(t, "GetOrg("+id+")", err, errs.NotFound)
	}
	if org, err := h.Orgs.GetOrg(domaintest.Ctx(), p, ""); err != nil || org.ID != "acme" {
		t.Fatalf("GetOrg(\"\") = %+v, %v", org, err)
	}
}
