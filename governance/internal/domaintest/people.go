package domaintest

import (
	"errors"
	"testing"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/throttle"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/secret"
)

// The passwords People gives org owners and members.
const (
	OwnerPassword  = "owner password 1"
	MemberPassword = "member password 1"
)

// ErrUnauth is the error People.Auth passes to Authenticate for a refusal.
var ErrUnauth = errs.New(errs.Unauthenticated, "refused")

// People is the domain's orgs and sessions features wired as
// governance.New wires them, over a fresh fixture: the people of the
// tests' orgs, how they sign up, log in and authenticate. The features
// this package's importers test wire themselves beside them, on F and
// Throttle.
type People struct {
	F        *Fixture
	Throttle *throttle.Throttle
	Orgs     *orgs.Service
	Sessions *sessions.Service
}

// NewPeople returns the orgs and sessions features with configurations
// oc and sc over a new fixture.
func NewPeople(t testing.TB, oc orgs.Config, sc sessions.Config) *People {
	t.Helper()
	f := New(t)
	th := f.Throttle()
	sess := sessions.New(f.Env, sc, th)
	return &People{F: f, Throttle: th, Orgs: orgs.New(f.Env, oc, th, sess), Sessions: sess}
}

// Signup creates org id by self-service sign-up with owner email
// "owner@<id>.example" and OwnerPassword, and returns the owner's
// authenticated principal.
func (p *People) Signup(t testing.TB, id string) *core.Principal {
	t.Helper()
	email := "owner@" + id + ".example"
	if _, _, err := p.Orgs.CreateOrg(Ctx(), orgs.NewOrg{ID: id, OwnerEmail: email, OwnerPassword: secret.New(OwnerPassword)}, false); err != nil {
		t.Fatalf("CreateOrg(%s): %v", id, err)
	}
	_, pr := p.Login(t, id, email, OwnerPassword)
	return pr
}

// Login logs email in and returns the session's token and the principal
// that authenticating it gives (holding its records, as a request's does).
func (p *People) Login(t testing.TB, org, email, pw string) (secret.String, *core.Principal) {
	t.Helper()
	tok, _, err := p.Sessions.Login(Ctx(), org, email, secret.New(pw))
	if err != nil {
		t.Fatalf("Login(%s, %s): %v", org, email, err)
	}
	return tok, p.WantAccepted(t, "fresh session", tok)
}

// Auth authenticates a bearer token in the org it names, as
// governance.Authenticate does.
func (p *People) Auth(t testing.TB, tok secret.String) (*core.Principal, error) {
	t.Helper()
	kind, org, hash, err := token.Parse(tok.Reveal())
	if err != nil {
		t.Fatalf("token.Parse: %v", err)
	}
	return p.Sessions.Authenticate(Ctx(), p.F.Org(t, org), kind, hash, ErrUnauth)
}

// WantAccepted fails unless tok authenticates, and returns the principal
// it gives.
func (p *People) WantAccepted(t testing.TB, what string, tok secret.String) *core.Principal {
	t.Helper()
	pr, err := p.Auth(t, tok)
	if err != nil {
		t.Fatalf("%s does not authenticate: %v", what, err)
	}
	return pr
}

// WantRefused fails unless tok does not authenticate.
func (p *People) WantRefused(t testing.TB, what string, tok secret.String) {
	t.Helper()
	if pr, err := p.Auth(t, tok); !errors.Is(err, errs.Unauthenticated) {
		t.Fatalf("%s authenticates: %+v, %v", what, pr, err)
	}
}

// Member adds a member with role to by's org, sets their password
// (MemberPassword) with the setup token and logs them in.
func (p *People) Member(t testing.TB, by *core.Principal, email string, role rbac.Role) (orgs.Member, *core.Principal) {
	t.Helper()
	m, ps, err := p.Orgs.AddMember(Ctx(), by, orgs.NewMember{Email: email, Role: role})
	if err != nil {
		t.Fatalf("AddMember(%s): %v", email, err)
	}
	if _, _, err := p.Orgs.SetPassword(Ctx(), ps.Token, secret.New(MemberPassword)); err != nil {
		t.Fatalf("SetPassword(%s): %v", email, err)
	}
	_, pr := p.Login(t, by.Org, email, MemberPassword)
	return m, pr
}

// APIToken creates an API token of by with role and returns its ID and
// value.
func (p *People) APIToken(t testing.TB, by *core.Principal, role rbac.Role) (string, secret.String) {
	t.Helper()
	at, tok, err := p.Sessions.CreateAPIToken(Ctx(), by, "t-"+string(role), role, 0)
	if err != nil {
		t.Fatalf("CreateAPIToken(%s): %v", role, err)
	}
	return at.ID, tok
}

// CreateOrg creates org id as the operator does, with owner email
// "owner@<id>.example" and OwnerPassword, and returns a principal of its
// owner made as a tool makes one (no session).
func (p *People) CreateOrg(t testing.TB, id string) *core.Principal {
	t.Helper()
	_, owner, err := p.Orgs.CreateOrg(Ctx(), orgs.NewOrg{
		ID: id, OwnerEmail: "owner@" + id + ".example", OwnerPassword: secret.New(OwnerPassword),
	}, true)
	if err != nil {
		t.Fatalf("CreateOrg(%s): %v", id, err)
	}
	return Principal(id, owner.UserID, rbac.Owner)
}

// AddMember adds a member with role to by's org, with no password, and
// returns a principal of theirs made as a tool makes one (no session).
func (p *People) AddMember(t testing.TB, by *core.Principal, email string, role rbac.Role) *core.Principal {
	t.Helper()
	m, _, err := p.Orgs.AddMember(Ctx(), by, orgs.NewMember{Email: email, Role: role})
	if err != nil {
		t.Fatalf("AddMember(%s): %v", email, err)
	}
	return Principal(by.Org, m.UserID, role)
}

// Since returns the events of org's log from index n on, failing if it
// has fewer than n.
func (p *People) Since(t testing.TB, org string, n int) []Event {
	t.Helper()
	evs := p.F.Events(t, org)
	if len(evs) < n {
		t.Fatalf("org %s has %d events, fewer than the %d it had", org, len(evs), n)
	}
	return evs[n:]
}

// Only returns the one event of evs, failing unless there is exactly one
// and it has type typ.
func Only(t testing.TB, evs []Event, typ string) Event {
	t.Helper()
	if len(evs) != 1 || evs[0].Type != typ {
		t.Fatalf("events = %v, want one %s", Types(evs), typ)
	}
	return evs[0]
}

// Types returns the types of evs, in order.
func Types(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// WantKind fails unless err is of kind (an errs kind, or any error
// errors.Is matches).
func WantKind(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want kind %v", what, err, kind)
	}
}
