package sessions_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/token"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
)

// TestCreateAPIToken: a token holds a role its creator may hand out, is
// audited without its value, and authenticates as the creator with the
// token's role. A role above the creator's, a token making a token and
// out-of-bounds input are refused and write nothing.
func TestCreateAPIToken(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	_, admin := h.Member(t, owner, "bob@acme.example", rbac.Admin)

	n := len(h.F.Events(t, "acme"))
	at, tok, err := h.Sessions.CreateAPIToken(ctx, admin, "ci", rbac.Requester, 0)
	if err != nil {
		t.Fatal(err)
	}
	exp := domaintest.Start.Add(sessions.DefaultAPITokenTTL)
	if at.ID == "" || at.Name != "ci" || at.Role != rbac.Requester || at.CreatedBy != admin.UserID ||
		!at.Created.Equal(domaintest.Start) || !at.Expires.Equal(exp) {
		t.Errorf("token = %+v", at)
	}
	kind, org, hash, err := token.Parse(tok.Reveal())
	if err != nil || kind != token.API || org != "acme" || token.ID(hash) != at.ID {
		t.Fatalf("token: kind %q, org %q, ID %s, %v", kind, org, token.ID(hash), err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.AuthAPITokenCreated)
	if ev.Actor != admin.UserID || ev.Subject != "token:"+at.ID || ev.Data["name"] != "ci" || ev.Data["role"] != "requester" ||
		ev.Data["expires"] != exp.Format(time.RFC3339Nano) || len(ev.Data) != 3 {
		t.Errorf("event = %+v", ev)
	}
	p := h.WantAccepted(t, "API token", tok)
	if p.Org != "acme" || p.UserID != admin.UserID || p.Role != rbac.Requester || p.TokenID != at.ID ||
		p.Actor() != "token:"+at.ID || p.SessionKey() != "" || !p.Expires.Equal(exp) {
		t.Errorf("token's principal = %+v", p)
	}

	n = len(h.F.Events(t, "acme"))
	for _, role := range []rbac.Role{rbac.Owner, rbac.Auditor} {
		_, _, err := h.Sessions.CreateAPIToken(ctx, admin, "up", role, 0)
		domaintest.WantKind(t, "admin's token with role "+string(role), err, errs.Permission)
	}
	_, _, err = h.Sessions.CreateAPIToken(ctx, p, "child", rbac.Requester, 0)
	domaintest.WantKind(t, "a token made with a token", err, errs.Permission)
	for name, c := range map[string]struct {
		name string
		role rbac.Role
		ttl  time.Duration
	}{
		"empty name":      {"", rbac.Readonly, 0},
		"long name":       {strings.Repeat("n", core.MaxTokenNameLen+1), rbac.Readonly, 0},
		"unknown role":    {"x", "root", 0},
		"agent role":      {"x", rbac.Agent, 0},
		"ttl under 1m":    {"x", rbac.Readonly, 59 * time.Second},
		"ttl over a year": {"x", rbac.Readonly, sessions.MaxAPITokenTTL + time.Second},
		"negative ttl":    {"x", rbac.Readonly, -time.Hour},
	} {
		_, _, err := h.Sessions.CreateAPIToken(ctx, admin, c.name, c.role, c.ttl)
		domaintest.WantKind(t, name, err, errs.InvalidArgument)
	}
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Errorf("refused tokens wrote %v", domaintest.Types(evs))
	}
	// An owner may hand out any role.
	if at, _, err := h.Sessions.CreateAPIToken(ctx, owner, "audit", rbac.Auditor, sessions.MaxAPITokenTTL); err != nil || at.Role != rbac.Auditor {
		t.Fatalf("owner's auditor token = %+v, %v", at, err)
	}
}

// TestAPITokenExpires: a token authenticates until its TTL has passed,
// and not from then on.
func TestAPITokenExpires(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{SessionTTL: 24 * time.Hour})
	owner := h.Signup(t, "acme")
	at, tok, err := h.Sessions.CreateAPIToken(domaintest.Ctx(), owner, "short", rbac.Readonly, time.Hour)
	if err != nil || !at.Expires.Equal(domaintest.Start.Add(time.Hour)) {
		t.Fatalf("CreateAPIToken = %+v, %v", at, err)
	}
	h.F.Clock.Advance(time.Hour - time.Nanosecond)
	h.WantAccepted(t, "token a nanosecond before its expiry", tok)
	h.F.Clock.Advance(time.Nanosecond)
	h.WantRefused(t, "token at its expiry", tok)
}

// TestRevokeAPIToken: a revoked token is refused at once, audited; the
// org's other tokens go on. A token of another org cannot be revoked.
func TestRevokeAPIToken(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	_, admin := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	at, tok, err := h.Sessions.CreateAPIToken(ctx, owner, "ci", rbac.Readonly, 0)
	if err != nil {
		t.Fatal(err)
	}
	keep, keepTok, err := h.Sessions.CreateAPIToken(ctx, owner, "keep", rbac.Readonly, 0)
	if err != nil {
		t.Fatal(err)
	}
	other := h.Signup(t, "other")
	ot, otherTok, err := h.Sessions.CreateAPIToken(ctx, other, "theirs", rbac.Readonly, 0)
	if err != nil {
		t.Fatal(err)
	}

	n := len(h.F.Events(t, "acme"))
	// Any member the API lets manage tokens revokes any of the org's.
	if err := h.Sessions.RevokeAPIToken(ctx, admin, at.ID); err != nil {
		t.Fatal(err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.AuthAPITokenRevoked)
	if ev.Actor != admin.UserID || ev.Subject != "token:"+at.ID || ev.Data["name"] != "ci" {
		t.Errorf("event = %+v", ev)
	}
	h.WantRefused(t, "revoked token", tok)
	h.WantAccepted(t, "the org's other token", keepTok)
	ts, _, err := h.Sessions.ListAPITokens(ctx, owner, 0, "")
	if err != nil || len(ts) != 1 || ts[0].ID != keep.ID {
		t.Fatalf("ListAPITokens = %+v, %v", ts, err)
	}

	n = len(h.F.Events(t, "acme"))
	m := len(h.F.Events(t, "other"))
	err = h.Sessions.RevokeAPIToken(ctx, owner, at.ID)
	domaintest.WantKind(t, "revoking again", err, errs.NotFound)
	err = h.Sessions.RevokeAPIToken(ctx, owner, ot.ID)
	domaintest.WantKind(t, "revoking another org's token", err, errs.NotFound)
	err = h.Sessions.RevokeAPIToken(ctx, owner, "Not-An-ID")
	domaintest.WantKind(t, "malformed ID", err, errs.InvalidArgument)
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Errorf("refused revocations wrote %v", domaintest.Types(evs))
	}
	if evs := h.Since(t, "other", m); len(evs) != 0 {
		t.Errorf("refused revocation wrote %v to the other org", domaintest.Types(evs))
	}
	h.WantAccepted(t, "other org's token", otherTok)
}

// TestAPITokenEndsWithMembership: a token is refused once its creator
// is removed, and its record goes with them.
func TestAPITokenEndsWithMembership(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	_, admin := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	_, tok, err := h.Sessions.CreateAPIToken(ctx, admin, "ci", rbac.Admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.WantAccepted(t, "token", tok)
	if err := h.Orgs.RemoveMember(ctx, owner, admin.UserID); err != nil {
		t.Fatal(err)
	}
	h.WantRefused(t, "removed member's token", tok)
	if ts, _, err := h.Sessions.ListAPITokens(ctx, owner, 0, ""); err != nil || len(ts) != 0 {
		t.Fatalf("ListAPITokens = %+v, %v", ts, err)
	}
}

// TestListAPITokensPaging: pages cover every token of the org once, in ID
// order; a page token of another org or another listing is refused.
func TestListAPITokensPaging(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	var want []string
	for range 5 {
		at, _, err := h.Sessions.CreateAPIToken(ctx, owner, "t", rbac.Readonly, 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, at.ID)
	}
	slices.Sort(want)
	var got []string
	var firstTok, tok string
	for pages := 0; ; pages++ {
		ts, next, err := h.Sessions.ListAPITokens(ctx, owner, 2, tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) > 2 || pages > 3 {
			t.Fatalf("page %d has %d tokens", pages, len(ts))
		}
		if pages == 0 {
			firstTok = next
		}
		for _, x := range ts {
			got = append(got, x.ID)
		}
		if next == "" {
			break
		}
		tok = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}

	other := h.Signup(t, "other")
	for range 2 {
		if _, _, err := h.Sessions.CreateAPIToken(ctx, other, "t", rbac.Readonly, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, otherTok, err := h.Sessions.ListAPITokens(ctx, other, 1, "")
	if err != nil || otherTok == "" {
		t.Fatalf("other org's first page: %q, %v", otherTok, err)
	}
	_, _, err = h.Sessions.ListAPITokens(ctx, owner, 2, otherTok)
	domaintest.WantKind(t, "another org's page token", err, errs.InvalidArgument)
	_, _, err = h.Sessions.ListAPITokens(ctx, other, 2, firstTok)
	domaintest.WantKind(t, "page token used in another org", err, errs.InvalidArgument)
	for _, e := range []string{"a@acme.example", "b@acme.example"} {
		if _, _, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: e, Role: rbac.Readonly}); err != nil {
			t.Fatal(err)
		}
	}
	_, membersTok, err := h.Orgs.ListMembers(ctx, owner, 1, "")
	if err != nil || membersTok == "" {
		t.Fatalf("first page of members: %q, %v", membersTok, err)
	}
	_, _, err = h.Sessions.ListAPITokens(ctx, owner, 2, membersTok)
	domaintest.WantKind(t, "members' page token", err, errs.InvalidArgument)
	if ts, _, err := h.Sessions.ListAPITokens(ctx, owner, 2, firstTok); err != nil || len(ts) != 2 || ts[0].ID != want[2] {
		t.Fatalf("ListAPITokens(first page token) = %+v, %v", ts, err)
	}
	// Each org lists its own tokens only.
	if ts, _, err := h.Sessions.ListAPITokens(ctx, other, 0, ""); err != nil || len(ts) != 2 || slices.ContainsFunc(ts, func(x sessions.APIToken) bool {
		return slices.Contains(want, x.ID)
	}) {
		t.Fatalf("other org's tokens = %+v, %v", ts, err)
	}
}
