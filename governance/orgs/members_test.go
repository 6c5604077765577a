package orgs_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
)

// TestAddMemberSetupToken: a new member has no password until they set
// one with the setup token AddMember returns; the token works once.
func TestAddMemberSetupToken(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	n := len(h.F.Events(t, "acme"))
	m, ps, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "Bob@Acme.example", DisplayName: "Bob", Role: rbac.Auditor})
	if err != nil {
		t.Fatal(err)
	}
	if m.Email != "bob@acme.example" || m.Role != rbac.Auditor || m.DisplayName != "Bob" || m.UserID == "" {
		t.Errorf("member = %+v", m)
	}
	if ps.Token.IsZero() || !ps.Expires.Equal(domaintest.Start.Add(orgs.DefaultSetupTTL)) {
		t.Errorf("setup = expires %s, token zero %v", ps.Expires, ps.Token.IsZero())
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.MemberAdded)
	if ev.Actor != owner.UserID || ev.Subject != m.UserID || ev.Data["email"] != m.Email || ev.Data["role"] != "auditor" ||
		ev.Data["setup_expires"] != ps.Expires.Format(time.RFC3339Nano) {
		t.Errorf("event = %+v", ev)
	}

	// No password yet: the login fails, audited.
	n = len(h.F.Events(t, "acme"))
	_, _, err = h.Sessions.Login(ctx, "acme", m.Email, secret.New(domaintest.MemberPassword))
	domaintest.WantKind(t, "login before the password is set", err, errs.Unauthenticated)
	if ev := domaintest.Only(t, h.Since(t, "acme", n), ec.AuthLoginFailed); ev.Data["reason"] != "password_not_set" || ev.Subject != m.UserID {
		t.Errorf("event = %+v", ev)
	}

	// A password against the rules is refused and leaves the token usable.
	_, _, err = h.Orgs.SetPassword(ctx, ps.Token, secret.New("short"))
	domaintest.WantKind(t, "short password", err, errs.InvalidArgument)

	n = len(h.F.Events(t, "acme"))
	org, email, err := h.Orgs.SetPassword(ctx, ps.Token, secret.New(domaintest.MemberPassword))
	if err != nil || org != "acme" || email != m.Email {
		t.Fatalf("SetPassword = %q, %q, %v", org, email, err)
	}
	ev = domaintest.Only(t, h.Since(t, "acme", n), ec.MemberPasswordSet)
	if ev.Actor != m.UserID || ev.Subject != m.UserID || ev.Data["via"] != "setup_token" || ev.Data["sessions_ended"] != float64(0) {
		t.Errorf("event = %+v", ev)
	}
	_, p := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	if p.UserID != m.UserID || p.Role != rbac.Auditor {
		t.Errorf("member's principal = %+v", p)
	}

	// Used up: a second use is refused and changes nothing.
	n = len(h.F.Events(t, "acme"))
	_, _, err = h.Orgs.SetPassword(ctx, ps.Token, secret.New("another password 2"))
	domaintest.WantKind(t, "second use of the setup token", err, errs.Unauthenticated)
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Fatalf("refused setup wrote %s", domaintest.Types(evs))
	}
	h.Login(t, "acme", m.Email, domaintest.MemberPassword)

	// The same email again, in any case, is taken.
	_, _, err = h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "BOB@acme.example", Role: rbac.Readonly})
	domaintest.WantKind(t, "adding the email again", err, errs.AlreadyExists)
}

// TestSetupTokenExpires: a setup token is refused from its expiry on, and
// works until then.
func TestSetupTokenExpires(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	_, short, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "a@acme.example", Role: rbac.Readonly, SetupTTL: orgs.MinSetupTTL})
	if err != nil {
		t.Fatal(err)
	}
	_, long, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "b@acme.example", Role: rbac.Readonly, SetupTTL: orgs.MinSetupTTL + time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.F.Clock.Advance(orgs.MinSetupTTL)
	_, _, err = h.Orgs.SetPassword(ctx, short.Token, secret.New(domaintest.MemberPassword))
	domaintest.WantKind(t, "expired setup token", err, errs.Unauthenticated)
	if _, _, err := h.Orgs.SetPassword(ctx, long.Token, secret.New(domaintest.MemberPassword)); err != nil {
		t.Fatalf("setup token a second before its expiry: %v", err)
	}
	for _, ttl := range []time.Duration{orgs.MinSetupTTL - time.Second, orgs.MaxSetupTTL + time.Second, -time.Hour} {
		_, _, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "c@acme.example", Role: rbac.Readonly, SetupTTL: ttl})
		domaintest.WantKind(t, "setup TTL "+ttl.String(), err, errs.InvalidArgument)
	}
}

// TestIssuePasswordSetup: a new setup token replaces the member's earlier
// one, and their password works until they use it; nobody issues one to
// themselves, and only owners to an owner.
func TestIssuePasswordSetup(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	m, _ := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	oldTok, _ := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	first, err := h.Orgs.IssuePasswordSetup(ctx, owner, m.UserID, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(h.F.Events(t, "acme"))
	second, err := h.Orgs.IssuePasswordSetup(ctx, owner, m.UserID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.MemberPasswordSetupIssued)
	if ev.Actor != owner.UserID || ev.Subject != m.UserID || ev.Data["expires"] != domaintest.Start.Add(time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("event = %+v", ev)
	}
	h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	_, _, err = h.Orgs.SetPassword(ctx, first.Token, secret.New("new password 22"))
	domaintest.WantKind(t, "replaced setup token", err, errs.Unauthenticated)
	n = len(h.F.Events(t, "acme"))
	if _, _, err := h.Orgs.SetPassword(ctx, second.Token, secret.New("new password 22")); err != nil {
		t.Fatal(err)
	}
	// Setting the password ends every session of the member.
	if ev := domaintest.Only(t, h.Since(t, "acme", n), ec.MemberPasswordSet); ev.Data["sessions_ended"] != float64(3) {
		t.Errorf("sessions_ended = %v, want 3", ev.Data["sessions_ended"])
	}
	h.WantRefused(t, "session from before the password was set", oldTok)
	h.Login(t, "acme", m.Email, "new password 22")

	_, err = h.Orgs.IssuePasswordSetup(ctx, owner, owner.UserID, 0)
	domaintest.WantKind(t, "setup for oneself", err, errs.Permission)
	// The admin's principal was authenticated before the password was
	// set; log in again.
	_, mp := h.Login(t, "acme", m.Email, "new password 22")
	_, err = h.Orgs.IssuePasswordSetup(ctx, mp, owner.UserID, 0)
	domaintest.WantKind(t, "admin resetting an owner", err, errs.Permission)
}

// TestChangePassword: a wrong current password is refused and audited and
// changes nothing; the right one changes the password and ends every
// other session of the member, keeping the one it was made in. An API
// token has no password to change.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	m, _ := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	tok1, p1 := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	tok2, _ := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	ownerTok, _ := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
	next := secret.New("next password 3")

	n := len(h.F.Events(t, "acme"))
	_, err := h.Orgs.ChangePassword(ctx, p1, secret.New("wrong password 9"), next)
	domaintest.WantKind(t, "wrong current password", err, errs.Permission)
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.AuthPasswordChangeFailed)
	if ev.Actor != m.UserID || ev.Subject != m.UserID || ev.Data["reason"] != "wrong_password" {
		t.Errorf("event = %+v", ev)
	}
	h.WantAccepted(t, "other session after a wrong current password", tok2)
	h.Login(t, "acme", m.Email, domaintest.MemberPassword)

	_, err = h.Orgs.ChangePassword(ctx, p1, secret.String{}, next)
	domaintest.WantKind(t, "no current password", err, errs.InvalidArgument)
	_, err = h.Orgs.ChangePassword(ctx, p1, secret.New(domaintest.MemberPassword), secret.New("short"))
	domaintest.WantKind(t, "short new password", err, errs.InvalidArgument)

	// Four sessions of the member exist: member's, tok1, tok2 and the
	// check's; all but tok1 end.
	n = len(h.F.Events(t, "acme"))
	ended, err := h.Orgs.ChangePassword(ctx, p1, secret.New(domaintest.MemberPassword), next)
	if err != nil || ended != 3 {
		t.Fatalf("ChangePassword = %d, %v; want 3 sessions ended", ended, err)
	}
	ev = domaintest.Only(t, h.Since(t, "acme", n), ec.AuthPasswordChanged)
	if ev.Actor != m.UserID || ev.Subject != m.UserID || ev.Data["sessions_ended"] != float64(3) {
		t.Errorf("event = %+v", ev)
	}
	h.WantAccepted(t, "the session the password was changed in", tok1)
	h.WantRefused(t, "another session of the member", tok2)
	h.WantAccepted(t, "another member's session", ownerTok)
	_, _, err = h.Sessions.Login(ctx, "acme", m.Email, secret.New(domaintest.MemberPassword))
	domaintest.WantKind(t, "login with the old password", err, errs.Unauthenticated)
	h.Login(t, "acme", m.Email, next.Reveal())

	_, at := h.APIToken(t, h.WantAccepted(t, "session", tok1), rbac.Readonly)
	ap := h.WantAccepted(t, "API token", at)
	_, err = h.Orgs.ChangePassword(ctx, ap, next, secret.New("third password 4"))
	domaintest.WantKind(t, "ChangePassword with an API token", err, errs.Precondition)
}

// TestRemoveMember: removing a member ends their sessions and revokes
// their API tokens in the batch of the one event that says so; another
// member's are untouched. The last owner cannot be removed.
func TestRemoveMember(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	m, mp := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	mTok, _ := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	id1, at1 := h.APIToken(t, mp, rbac.Admin)
	id2, at2 := h.APIToken(t, mp, rbac.Readonly)
	_, ownerAT := h.APIToken(t, owner, rbac.Readonly)
	_, _, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: "carol@acme.example", Role: rbac.Readonly})
	if err != nil {
		t.Fatal(err)
	}

	n := len(h.F.Events(t, "acme"))
	if err := h.Orgs.RemoveMember(ctx, owner, m.UserID); err != nil {
		t.Fatal(err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.MemberRemoved)
	if ev.Actor != owner.UserID || ev.Subject != m.UserID || ev.Data["email"] != m.Email || ev.Data["role"] != "admin" ||
		ev.Data["sessions_ended"] != float64(2) || !slices.Equal(strs(t, ev.Data["api_tokens_revoked"]), sorted(id1, id2)) {
		t.Errorf("event = %+v", ev)
	}
	h.WantRefused(t, "removed member's session", mTok)
	h.WantRefused(t, "removed member's admin token", at1)
	h.WantRefused(t, "removed member's readonly token", at2)
	h.WantAccepted(t, "owner's token", ownerAT)
	// The principal authenticated before the removal acts no more.
	_, _, err = h.Sessions.CreateAPIToken(ctx, mp, "late", rbac.Readonly, 0)
	domaintest.WantKind(t, "removed member's earlier principal", err, errs.Unauthenticated)
	_, _, err = h.Sessions.Login(ctx, "acme", m.Email, secret.New(domaintest.MemberPassword))
	domaintest.WantKind(t, "removed member's login", err, errs.Unauthenticated)
	ms, _, err := h.Orgs.ListMembers(ctx, owner, 0, "")
	if err != nil || len(ms) != 2 || slices.ContainsFunc(ms, func(x orgs.Member) bool { return x.UserID == m.UserID }) {
		t.Fatalf("ListMembers = %+v, %v", ms, err)
	}
	// The email is free again.
	if _, _, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: m.Email, Role: rbac.Readonly}); err != nil {
		t.Fatalf("re-adding the removed email: %v", err)
	}
	err = h.Orgs.RemoveMember(ctx, owner, m.UserID)
	domaintest.WantKind(t, "removing again", err, errs.NotFound)

	// The last owner stays, even at their own hand.
	n = len(h.F.Events(t, "acme"))
	err = h.Orgs.RemoveMember(ctx, owner, owner.UserID)
	domaintest.WantKind(t, "removing the last owner", err, errs.Precondition)
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Fatalf("refused removal wrote %s", domaintest.Types(evs))
	}
	h.WantAccepted(t, "last owner's token", ownerAT)

	// With a second owner, the first may go.
	o2, o2p := h.Member(t, owner, "dora@acme.example", rbac.Owner)
	if err := h.Orgs.RemoveMember(ctx, o2p, owner.UserID); err != nil {
		t.Fatalf("removing an owner who is not the last: %v", err)
	}
	err = h.Orgs.RemoveMember(ctx, o2p, o2.UserID)
	domaintest.WantKind(t, "removing the new last owner", err, errs.Precondition)
}

// TestSetMemberRole: a demotion revokes, in the batch of its event, the
// member's API tokens the new role does not cover, for good; nobody
// changes their own role; the last owner stays an owner.
func TestSetMemberRole(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	m, mp := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	mTok, _ := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	adminID, adminAT := h.APIToken(t, mp, rbac.Admin)
	approverID, approverAT := h.APIToken(t, mp, rbac.Approver)
	_, requesterAT := h.APIToken(t, mp, rbac.Requester)
	_, ownerAT := h.APIToken(t, owner, rbac.Auditor)

	n := len(h.F.Events(t, "acme"))
	got, err := h.Orgs.SetMemberRole(ctx, owner, m.UserID, rbac.Requester)
	if err != nil || got.Role != rbac.Requester || got.UserID != m.UserID {
		t.Fatalf("SetMemberRole = %+v, %v", got, err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.MemberRoleChanged)
	if ev.Actor != owner.UserID || ev.Subject != m.UserID || ev.Data["from"] != "admin" || ev.Data["to"] != "requester" ||
		!slices.Equal(strs(t, ev.Data["api_tokens_revoked"]), sorted(adminID, approverID)) {
		t.Errorf("event = %+v", ev)
	}
	h.WantRefused(t, "admin token of a demoted member", adminAT)
	h.WantRefused(t, "approver token of a demoted member", approverAT)
	h.WantAccepted(t, "requester token of a demoted member", requesterAT)
	h.WantAccepted(t, "owner's auditor token", ownerAT)
	// The member's session goes on, with the new role.
	if p := h.WantAccepted(t, "demoted member's session", mTok); p.Role != rbac.Requester {
		t.Errorf("demoted member's role = %s", p.Role)
	}
	// Promotion does not bring revoked tokens back.
	if _, err := h.Orgs.SetMemberRole(ctx, owner, m.UserID, rbac.Admin); err != nil {
		t.Fatal(err)
	}
	h.WantRefused(t, "admin token after re-promotion", adminAT)

	// The same role again is no change, and writes nothing.
	n = len(h.F.Events(t, "acme"))
	if got, err := h.Orgs.SetMemberRole(ctx, owner, m.UserID, rbac.Admin); err != nil || got.Role != rbac.Admin {
		t.Fatalf("SetMemberRole to the same role = %+v, %v", got, err)
	}
	_, err = h.Orgs.SetMemberRole(ctx, owner, owner.UserID, rbac.Admin)
	domaintest.WantKind(t, "owner changing their own role", err, errs.Permission)
	_, err = h.Orgs.SetMemberRole(ctx, owner, m.UserID, rbac.Role("root"))
	domaintest.WantKind(t, "unknown role", err, errs.InvalidArgument)
	// The domain leaves who may change roles to the API's table; the
	// last owner stays one whoever asks.
	mp = h.WantAccepted(t, "member's session", mTok)
	_, err = h.Orgs.SetMemberRole(ctx, mp, owner.UserID, rbac.Admin)
	domaintest.WantKind(t, "demoting the last owner", err, errs.Precondition)
	if evs := h.Since(t, "acme", n); len(evs) != 0 {
		t.Fatalf("refused or empty changes wrote %s", domaintest.Types(evs))
	}

	// Promoted to owner, the member may demote the first owner, who is
	// then the one who cannot demote the last.
	if _, err := h.Orgs.SetMemberRole(ctx, owner, m.UserID, rbac.Owner); err != nil {
		t.Fatal(err)
	}
	mp = h.WantAccepted(t, "member's session", mTok)
	if _, err := h.Orgs.SetMemberRole(ctx, mp, owner.UserID, rbac.Readonly); err != nil {
		t.Fatalf("demoting an owner who is not the last: %v", err)
	}
	h.WantRefused(t, "demoted owner's auditor token", ownerAT)
	_, p := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)
	_, err = h.Orgs.SetMemberRole(ctx, p, m.UserID, rbac.Readonly)
	domaintest.WantKind(t, "demoting the new last owner", err, errs.Precondition)
}

// TestEndMemberSessions: every session of the member ends; their API
// tokens only when asked. An admin cannot end an owner's sessions.
func TestEndMemberSessions(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	m, mp := h.Member(t, owner, "bob@acme.example", rbac.Admin)
	s1, _ := h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	id, at := h.APIToken(t, mp, rbac.Readonly)
	ownerTok, _ := h.Login(t, "acme", "owner@acme.example", domaintest.OwnerPassword)

	n := len(h.F.Events(t, "acme"))
	sessions, revoked, err := h.Orgs.EndMemberSessions(ctx, owner, m.UserID, false)
	if err != nil || sessions != 2 || revoked != 0 {
		t.Fatalf("EndMemberSessions = %d, %d, %v; want 2, 0", sessions, revoked, err)
	}
	ev := domaintest.Only(t, h.Since(t, "acme", n), ec.MemberSessionsEnded)
	if _, ok := ev.Data["api_tokens_revoked"]; ev.Actor != owner.UserID || ev.Subject != m.UserID || ev.Data["sessions_ended"] != float64(2) || ok {
		t.Errorf("event = %+v", ev)
	}
	h.WantRefused(t, "ended session", s1)
	h.WantAccepted(t, "API token kept", at)
	h.WantAccepted(t, "owner's session", ownerTok)
	// A session begun after the end is good.
	s3, _ := h.Login(t, "acme", m.Email, domaintest.MemberPassword)

	n = len(h.F.Events(t, "acme"))
	sessions, revoked, err = h.Orgs.EndMemberSessions(ctx, owner, m.UserID, true)
	if err != nil || sessions != 1 || revoked != 1 {
		t.Fatalf("EndMemberSessions(tokens) = %d, %d, %v; want 1, 1", sessions, revoked, err)
	}
	ev = domaintest.Only(t, h.Since(t, "acme", n), ec.MemberSessionsEnded)
	if ev.Data["sessions_ended"] != float64(1) || !slices.Equal(strs(t, ev.Data["api_tokens_revoked"]), []string{id}) {
		t.Errorf("event = %+v", ev)
	}
	h.WantRefused(t, "session ended with tokens", s3)
	h.WantRefused(t, "revoked API token", at)

	_, mp = h.Login(t, "acme", m.Email, domaintest.MemberPassword)
	_, _, err = h.Orgs.EndMemberSessions(ctx, mp, owner.UserID, false)
	domaintest.WantKind(t, "admin ending an owner's sessions", err, errs.Permission)
	h.WantAccepted(t, "owner's session", ownerTok)
	_, _, err = h.Orgs.EndMemberSessions(ctx, owner, "unosuchmember", false)
	domaintest.WantKind(t, "unknown member", err, errs.NotFound)
}

// TestListMembersPaging: pages of the asked size cover every member once
// in user ID order; a page token works only in the org and listing it was
// issued for.
func TestListMembersPaging(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	owner := h.Signup(t, "acme")
	want := []string{owner.UserID}
	for _, e := range []string{"a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example"} {
		m, _, err := h.Orgs.AddMember(ctx, owner, orgs.NewMember{Email: e, Role: rbac.Readonly})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.UserID)
	}
	slices.Sort(want)
	var got []string
	var firstTok string
	tok := ""
	for pages := 0; ; pages++ {
		ms, next, err := h.Orgs.ListMembers(ctx, owner, 2, tok)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 {
			firstTok = next
		}
		if len(ms) > 2 || pages > 3 {
			t.Fatalf("page %d has %d members", pages, len(ms))
		}
		for _, m := range ms {
			got = append(got, m.UserID)
		}
		if next == "" {
			break
		}
		tok = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	all, next, err := h.Orgs.ListMembers(ctx, owner, 0, "")
	if err != nil || len(all) != 5 || next != "" {
		t.Fatalf("ListMembers(default size) = %d members, %q, %v", len(all), next, err)
	}

	// Another org's page token, for the same position, is refused.
	other := h.Signup(t, "other")
	for _, e := range []string{"x@other.example", "y@other.example"} {
		if _, _, err := h.Orgs.AddMember(ctx, other, orgs.NewMember{Email: e, Role: rbac.Readonly}); err != nil {
			t.Fatal(err)
		}
	}
	_, otherTok, err := h.Orgs.ListMembers(ctx, other, 1, "")
	if err != nil || otherTok == "" {
		t.Fatalf("other org's first page: %q, %v", otherTok, err)
	}
	_, _, err = h.Orgs.ListMembers(ctx, owner, 2, otherTok)
	domaintest.WantKind(t, "another org's page token", err, errs.InvalidArgument)
	_, _, err = h.Orgs.ListMembers(ctx, other, 2, firstTok)
	domaintest.WantKind(t, "page token used in another org", err, errs.InvalidArgument)
	// Another listing's page token, in the same org, is refused.
	for range 2 {
		h.APIToken(t, owner, rbac.Readonly)
	}
	_, tokensTok, err := h.Sessions.ListAPITokens(ctx, owner, 1, "")
	if err != nil || tokensTok == "" {
		t.Fatalf("first page of API tokens: %q, %v", tokensTok, err)
	}
	_, _, err = h.Orgs.ListMembers(ctx, owner, 2, tokensTok)
	domaintest.WantKind(t, "API tokens' page token", err, errs.InvalidArgument)
	for _, bad := range []string{firstTok[:len(firstTok)-1] + flip(firstTok[len(firstTok)-1]), "x", "!!"} {
		_, _, err = h.Orgs.ListMembers(ctx, owner, 2, bad)
		domaintest.WantKind(t, "altered page token "+bad, err, errs.InvalidArgument)
	}
	for _, size := range []int32{-1, core.MaxPageSize + 1} {
		_, _, err = h.Orgs.ListMembers(ctx, owner, size, "")
		domaintest.WantKind(t, "page size", err, errs.InvalidArgument)
	}
	// The genuine token still works.
	if ms, _, err := h.Orgs.ListMembers(ctx, owner, 2, firstTok); err != nil || len(ms) != 2 || ms[0].UserID != want[2] {
		t.Fatalf("ListMembers(first page token) = %+v, %v", ms, err)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestCrossOrg: a principal of one org reaches no member of another:
// every call naming one is NotFound, as for a member that does not
// exist, and the other org is unchanged.
func TestCrossOrg(t *testing.T) {
	t.Parallel()
	h := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	ctx := domaintest.Ctx()
	a := h.Signup(t, "acme")
	b := h.Signup(t, "other")
	bm, _ := h.Member(t, b, "bob@other.example", rbac.Admin)
	bTok, _ := h.Login(t, "other", bm.Email, domaintest.MemberPassword)
	n := len(h.F.Events(t, "other"))

	for name, call := range map[string]func(id string) error{
		"RemoveMember":       func(id string) error { return h.Orgs.RemoveMember(ctx, a, id) },
		"SetMemberRole":      func(id string) error { _, err := h.Orgs.SetMemberRole(ctx, a, id, rbac.Readonly); return err },
		"EndMemberSessions":  func(id string) error { _, _, err := h.Orgs.EndMemberSessions(ctx, a, id, true); return err },
		"IssuePasswordSetup": func(id string) error { _, err := h.Orgs.IssuePasswordSetup(ctx, a, id, 0); return err },
	} {
		for _, id := range []string{bm.UserID, b.UserID} {
			domaintest.WantKind(t, name+" of another org's member", call(id), errs.NotFound)
		}
	}
	ms, _, err := h.Orgs.ListMembers(ctx, a, 0, "")
	if err != nil || len(ms) != 1 || ms[0].UserID != a.UserID {
		t.Fatalf("ListMembers = %+v, %v; want only the org's own owner", ms, err)
	}
	_, err = h.Orgs.GetOrg(ctx, a, "other")
	domaintest.WantKind(t, "GetOrg of another org", err, errs.NotFound)
	if evs := h.Since(t, "other", n); len(evs) != 0 {
		t.Fatalf("calls from another org wrote %s", domaintest.Types(evs))
	}
	if p := h.WantAccepted(t, "other org's member's session", bTok); p.Role != rbac.Admin {
		t.Fatalf("other org's member's role = %s", p.Role)
	}
	// A principal made outside authentication, naming a user of another
	// org, is still confined to its own org.
	tool := domaintest.Principal("acme", bm.UserID, rbac.Owner)
	_, err = h.Orgs.SetMemberRole(ctx, tool, b.UserID, rbac.Readonly)
	domaintest.WantKind(t, "tool principal naming another org's member", err, errs.NotFound)
}

// strs returns a JSON array of strings, decoded, as a sorted []string.
func strs(t *testing.T, v any) []string {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%#v is not a JSON array", v)
	}
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = fmt.Sprint(x)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
