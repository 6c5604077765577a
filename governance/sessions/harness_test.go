package sessions_test

import (
	"errors"
	"testing"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/secret"
)

const (
	ownerPW  = "owner password 1"
	memberPW = "member password 1"
)

var errUnauth = errs.New(errs.Unauthenticated, "refused")

// harness is the domain's orgs and sessions features wired as
// governance.New wires them, over a fixture.
type harness struct {
	f    *domaintest.Fixture
	orgs *orgs.Service
	sess *sessions.Service
}

func newHarness(t *testing.T, cfg sessions.Config) *harness {
	t.Helper()
	t.Parallel()
	f := domaintest.New(t)
	th := f.Throttle()
	sess := sessions.New(f.Env, cfg, th)
	return &harness{f: f, orgs: orgs.New(f.Env, orgs.Config{}, th, sess), sess: sess}
}

// signup creates org id with owner email "owner@<id>.example" and returns
// the owner's authenticated principal.
func (h *harness) signup(t *testing.T, id string) *core.Principal {
	t.Helper()
	email := "owner@" + id + ".example"
	if _, _, err := h.orgs.CreateOrg(domaintest.Ctx(), orgs.NewOrg{ID: id, OwnerEmail: email, OwnerPassword: secret.New(ownerPW)}, false); err != nil {
		t.Fatalf("CreateOrg(%s): %v", id, err)
	}
	_, p := h.login(t, id, email, ownerPW)
	return p
}

// login logs email in and returns the session's token and the principal
// that authenticating it gives.
func (h *harness) login(t *testing.T, org, email, pw string) (secret.String, *core.Principal) {
	t.Helper()
	tok, _, err := h.sess.Login(domaintest.Ctx(), org, email, secret.New(pw))
	if err != nil {
		t.Fatalf("Login(%s, %s): %v", org, email, err)
	}
	return tok, h.wantAccepted(t, "fresh session", tok)
}

// member adds a member with role, sets their password and logs them in.
func (h *harness) member(t *testing.T, by *core.Principal, email string, role rbac.Role) *core.Principal {
	t.Helper()
	_, ps, err := h.orgs.AddMember(domaintest.Ctx(), by, orgs.NewMember{Email: email, Role: role})
	if err != nil {
		t.Fatalf("AddMember(%s): %v", email, err)
	}
	if _, _, err := h.orgs.SetPassword(domaintest.Ctx(), ps.Token, secret.New(memberPW)); err != nil {
		t.Fatalf("SetPassword(%s): %v", email, err)
	}
	_, p := h.login(t, by.Org, email, memberPW)
	return p
}

// auth authenticates a bearer token in the org it names, as
// governance.Authenticate does.
func (h *harness) auth(t *testing.T, tok secret.String) (*core.Principal, error) {
	t.Helper()
	kind, org, hash, err := token.Parse(tok.Reveal())
	if err != nil {
		t.Fatalf("token.Parse: %v", err)
	}
	return h.sess.Authenticate(domaintest.Ctx(), h.f.Org(t, org), kind, hash, errUnauth)
}

func (h *harness) wantRefused(t *testing.T, what string, tok secret.String) {
	t.Helper()
	if p, err := h.auth(t, tok); !errors.Is(err, errs.Unauthenticated) {
		t.Fatalf("%s authenticates: %+v, %v", what, p, err)
	}
}

func (h *harness) wantAccepted(t *testing.T, what string, tok secret.String) *core.Principal {
	t.Helper()
	p, err := h.auth(t, tok)
	if err != nil {
		t.Fatalf("%s does not authenticate: %v", what, err)
	}
	return p
}

func (h *harness) events(t *testing.T, org string) []domaintest.Event {
	t.Helper()
	return domaintest.Events(t, h.f.Org(t, org))
}

// since returns the events of org from index n on.
func (h *harness) since(t *testing.T, org string, n int) []domaintest.Event {
	t.Helper()
	evs := h.events(t, org)
	if len(evs) < n {
		t.Fatalf("org %s has %d events, fewer than the %d it had", org, len(evs), n)
	}
	return evs[n:]
}

// only returns the one event of evs, failing unless there is exactly one
// and it has type typ.
func only(t *testing.T, evs []domaintest.Event, typ string) domaintest.Event {
	t.Helper()
	if len(evs) != 1 || evs[0].Type != typ {
		t.Fatalf("events = %v, want one %s", types(evs), typ)
	}
	return evs[0]
}

func types(evs []domaintest.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want kind %v", what, err, kind)
	}
}
