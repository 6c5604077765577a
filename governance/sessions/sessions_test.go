package sessions_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/token"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// TestLogin: a login starts a session of SessionTTL, audited with the
// source; its token authenticates as the member, in its org only.
func TestLogin(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{SessionTTL: time.Hour})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	h.Signup(t, "other")
	n := len(h.F.Events(t, "acme"))
	tok, p, err := h.Sessions.Login(ctx, "acme", "OWNER@acme.example", secret.New(domaintest.OwnerPassword))
	if err != nil {
		t.Fatal(err)
	}
	exp := domaintest.Start.Add(time.Hour)
	if p.Org != "acme" || p.UserID != owner.UserID || p.Email != "owner@acme.example" || p.Role != rbac.Owner ||
		!p.Expires.Equal(exp) || p.TokenID != "" || p.SessionKey() == "" || p.Actor() != owner.UserID {
		t.Errorf("principal = %+v", p)
	}
	kind, org, hash, err := token.Parse(tok.Reveal())
	if err != nil || kind != token.Session || org != "acme" {
		t.Fatalf("token: kind %q, org %q, %v", kind, org, err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.AuthLoginSucceeded)
	if ev.Actor != owner.UserID || ev.Subject != owner.UserID || ev.RequestID != "req-1" || ev.Data["session_id"] != token.ID(hash) ||
		ev.Data["source"] != "192.0.2.1" || ev.Data["expires"] != exp.Format(time.RFC3339Nano) {
		t.Errorf("event = %+v", ev)
	}
	got := h.WantAccepted(t, "session", tok)
	if got.UserID != p.UserID || got.Role != rbac.Owner || got.SessionKey() != p.SessionKey() || !got.Expires.Equal(exp) {
		t.Errorf("authenticated principal = %+v, want %+v", got, p)
	}
	// The token names nothing in another org, and is no API token.
	if p, err := h.Sessions.Authenticate(ctx, h.F.Org(t, "other"), token.Session, hash, domaintest.ErrUnauth); !errors.Is(err, errs.Unauthenticated) {
		t.Errorf("session in another org: %+v, %v", p, err)
	}
	if p, err := h.Sessions.Authenticate(ctx, h.F.Org(t, "acme"), token.API, hash, domaintest.ErrUnauth); !errors.Is(err, errs.Unauthenticated) {
		t.Errorf("session as an API token: %+v, %v", p, err)
	}
}

// TestLoginFailures: a wrong password, an unknown email, a member without
// a password and an unknown org all get the same Unauthenticated answer.
// Each is audited in an existing org, without the attempted password; an
// unknown org gets no log.
func TestLoginFailures(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	m, _, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "new@acme.example", Role: rbac.Readonly})
	if err != nil {
		t.Fatal(err)
	}
	const guess = "guessed password 7"
	var msg string
	for _, c := range []struct {
		name, org, email, reason, subject string
	}{
		{"wrong password", "acme", "owner@acme.example", "wrong_password", owner.UserID},
		{"unknown email", "acme", "nobody@acme.example", "unknown_email", ""},
		{"password not set", "acme", m.Email, "password_not_set", m.UserID},
		{"unknown org", "nosuch", "owner@acme.example", "", ""},
	} {
		n := len(h.F.Events(t, "acme"))
		tok, p, err := h.Sessions.Login(ctx, c.org, c.email, secret.New(guess))
		domaintest.WantKind(t, c.name, err, errs.Unauthenticated)
		if !tok.IsZero() || p != nil {
			t.Errorf("%s: a token or principal with the error", c.name)
		}
		de, _ := errs.As(err)
		if msg == "" {
			msg = de.Message()
		} else if de.Message() != msg {
			t.Errorf("%s: message %q, unlike the others' %q", c.name, de.Message(), msg)
		}
		evs := h.Since(t, "acme", n)
		if c.org != "acme" {
			if len(evs) != 0 {
				t.Errorf("%s: wrote %v to another org", c.name, domaintest.Types(evs))
			}
			continue
		}
		ev := domaintest.Only(t, evs, ec.AuthLoginFailed)
		if ev.Actor != ec.Anonymous || ev.Subject != c.subject || ev.Data["reason"] != c.reason ||
			ev.Data["email"] != c.email || ev.Data["source"] != "192.0.2.1" {
			t.Errorf("%s: event = %+v", c.name, ev)
		}
		if b, _ := json.Marshal(ev.Data); strings.Contains(string(b), guess) {
			t.Errorf("%s: the event holds the attempted password: %s", c.name, b)
		}
	}
	if evs := h.F.Events(t, "nosuch"); len(evs) != 0 {
		t.Errorf("login to an unknown org wrote %v", domaintest.Types(evs))
	}
	if err := orgs.Exists(ctx, h.F.Org(t, "nosuch")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("login to an unknown org created it: %v", err)
	}

	// Malformed input is refused before any lookup, and not audited.
	n := len(h.F.Events(t, "acme"))
	for name, c := range map[string][3]string{
		"bad org ID":     {"ac.me", "owner@acme.example", domaintest.OwnerPassword},
		"bad email":      {"acme", "owner", domaintest.OwnerPassword},
		"empty password": {"acme", "owner@acme.example", ""},
	} {
		_, _, err := h.Sessions.Login(ctx, c[0], c[1], secret.New(c[2]))
		domaintest.WantKind(t, name, err, errs.InvalidArgument)
	}
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Errorf("malformed logins wrote %v", domaintest.Types(evs))
	}
	// The right password still works.
	h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
}

// TestSessionExpires: a session authenticates until SessionTTL has
// passed, and not from then on.
func TestSessionExpires(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{SessionTTL: time.Hour})
	h.Signup(t, "acme")
	tok, _ := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
	h.F.Clock.Advance(time.Hour - time.Nanosecond)
	h.WantAccepted(t, "session a nanosecond before its expiry", tok)
	h.F.Clock.Advance(time.Nanosecond)
	h.WantRefused(t, "session at its expiry", tok)
}

// TestSessionDefaultTTL: without SessionTTL a session lasts 12 hours.
func TestSessionDefaultTTL(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	h.Signup(t, "acme")
	tok, p := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
	if !p.Expires.Equal(domaintest.Start.Add(12 * time.Hour)) {
		t.Errorf("default session expires %s", p.Expires)
	}
	h.F.Clock.Advance(12*time.Hour - time.Nanosecond)
	h.WantAccepted(t, "session before the default TTL", tok)
	h.F.Clock.Advance(time.Nanosecond)
	h.WantRefused(t, "session after the default TTL", tok)
}

// TestSessionOfPreviousEpoch: a session record that survives its member's
// sessions being ended (as one a concurrent login began would) is refused
// for its epoch alone: the same record moved to the current epoch is
// accepted.
func TestSessionOfPreviousEpoch(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	_, mp := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	tok, p := h.Login(t, "acme", "bob@acme.example", domaintest.MemberPassword)
	o := h.F.Org(t, "acme")
	raw, err := o.Get(ctx, p.SessionKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Orgs.EndMemberSessions(ctx, owner, mp.UserID, false); err != nil {
		t.Fatal(err)
	}
	h.WantRefused(t, "ended session", tok)

	restore := func(v []byte) {
		t.Helper()
		if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
			Event: core.NewEvent(ctx, "test.restore", "test", "", nil),
			Put:   map[string]any{p.SessionKey(): v},
		}); err != nil {
			t.Fatal(err)
		}
	}
	restore(raw)
	h.WantRefused(t, "session of the previous epoch", tok)

	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	u, _, err := orgs.LoadUser(ctx, o, mp.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if rec["epoch"] == float64(u.SessionEpoch) {
		t.Fatalf("the restored session's epoch %v is the member's current one", rec["epoch"])
	}
	rec["epoch"] = u.SessionEpoch
	cur, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	restore(cur)
	if got := h.WantAccepted(t, "the same session in the current epoch", tok); got.UserID != mp.UserID {
		t.Fatalf("principal = %+v", got)
	}
}

// TestLogout: logging out ends that session only, audited; a second
// logout, or a logout with an API token, is refused and writes nothing.
func TestLogout(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	tok1, p1 := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
	tok2, _ := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
	n := len(h.F.Events(t, "acme"))
	if err := h.Sessions.Logout(ctx, p1); err != nil {
		t.Fatal(err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.AuthLogout)
	if ev.Actor != owner.UserID || ev.Subject != owner.UserID || ev.Data != nil {
		t.Errorf("event = %+v", ev)
	}
	h.WantRefused(t, "logged-out session", tok1)
	h.WantAccepted(t, "another session", tok2)

	n++
	err := h.Sessions.Logout(ctx, p1)
	domaintest.WantKind(t, "second logout", err, errs.Unauthenticated)
	_, at, err := h.Sessions.CreateAPIToken(ctx, owner, "ci", rbac.Readonly, 0)
	if err != nil {
		t.Fatal(err)
	}
	n++
	ap := h.WantAccepted(t, "API token", at)
	err = h.Sessions.Logout(ctx, ap)
	domaintest.WantKind(t, "logout with an API token", err, errs.Precondition)
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Errorf("refused logouts wrote %v", domaintest.Types(evs))
	}
	h.WantAccepted(t, "API token after the refused logout", at)
}
