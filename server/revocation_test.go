package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/internal/fakeclock"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

func wantAuthCode(t *testing.T, what string, err error, code connect.Code) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
}

func whoAmI(c servertest.Clients) error {
	_, err := c.Auth.WhoAmI(context.Background(), req(&nuxariv1.WhoAmIRequest{}))
	return err
}

// TestPasswordSetup: a member an owner adds has no password until they
// set one with their one-time setup token; the token works once, not
// after it expires or is replaced, and the log's actor is the member.
func TestPasswordSetup(t *testing.T) {
	ctx := context.Background()
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.Clock = clk.Now })
	ownerTok, _ := ts.Signup(t, "setup", "o@example.com", "owner password 1")
	owner, anon := ts.Clients(ownerTok), ts.Clients("")

	added, err := owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "m@example.com", Role: nuxariv1.Role_ROLE_AUDITOR, SetupTtl: durationpb.New(time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	setup, uid := added.Msg.GetSetup(), added.Msg.Member.UserId
	if setup.GetSetupToken() == "" || !setup.GetExpireTime().AsTime().Equal(clk.Now().Add(time.Hour).UTC()) {
		t.Fatalf("setup: %v", setup)
	}
	login := func(pw string) error {
		_, err := anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "setup", Email: "m@example.com", Password: pw}))
		return err
	}
	set := func(tok, pw string) error {
		_, err := anon.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: tok, NewPassword: pw}))
		return err
	}
	wantAuthCode(t, "login before a password is set", login(""), connect.CodeInvalidArgument)
	wantAuthCode(t, "login before a password is set", login("any password at all"), connect.CodeUnauthenticated)

	// Replaced: the first token stops working.
	again, err := owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: uid}))
	if err != nil {
		t.Fatal(err)
	}
	wantAuthCode(t, "replaced setup token", set(setup.GetSetupToken(), "member password 1"), connect.CodeUnauthenticated)
	// Another org's setup token kind, a session token and garbage are refused.
	wantAuthCode(t, "session token as setup token", set(ownerTok, "member password 1"), connect.CodeUnauthenticated)
	wantAuthCode(t, "garbage", set("nxp.setup.notatoken", "member password 1"), connect.CodeUnauthenticated)

	size := logSize(t, ts, "setup")
	res, err := anon.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: again.Msg.GetSetup().GetSetupToken(), NewPassword: "member password 1"}))
	if err != nil || res.Msg.OrgId != "setup" || res.Msg.Email != "m@example.com" {
		t.Fatalf("SetPassword: %v %v", res, err)
	}
	evs := newEvents(t, ts, "setup", size)
	if len(evs) != 1 || evs[0].Type != "member.password_set" || evs[0].Actor != uid || evs[0].Subject != uid {
		t.Fatalf("events of SetPassword: %+v", evs)
	}
	if err := login("member password 1"); err != nil {
		t.Fatalf("login with the password set: %v", err)
	}
	wantAuthCode(t, "setup token used twice", set(again.Msg.GetSetup().GetSetupToken(), "member password 2"), connect.CodeUnauthenticated)

	// Expired.
	late, err := owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: uid, SetupTtl: durationpb.New(10 * time.Minute)}))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	wantAuthCode(t, "expired setup token", set(late.Msg.GetSetup().GetSetupToken(), "member password 2"), connect.CodeUnauthenticated)
	if err := login("member password 1"); err != nil {
		t.Fatalf("an unused setup token ended the password: %v", err)
	}

	// Nobody resets their own password this way, and an owner's only by an owner.
	_, err = owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: who(t, owner)}))
	wantAuthCode(t, "own setup token", err, connect.CodePermissionDenied)
}

func who(t *testing.T, c servertest.Clients) string {
	t.Helper()
	res, err := c.Auth.WhoAmI(context.Background(), req(&nuxariv1.WhoAmIRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.Principal.UserId
}

// TestChangePassword: a member changes their own password with the
// current one; every other session of theirs ends, the one used stays,
// the old password stops working; a wrong current password is refused
// and audited; an API token cannot change a password.
func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	ts := servertest.Start(t)
	ownerTok, _ := ts.Signup(t, "chpw", "o@example.com", "owner password 1")
	a, uid := ts.AddMember(t, ownerTok, "chpw", "a@example.com", "first password", nuxariv1.Role_ROLE_ADMIN)
	b := ts.Login(t, "chpw", "a@example.com", "first password")
	other, _ := ts.AddMember(t, ownerTok, "chpw", "x@example.com", "other password", nuxariv1.Role_ROLE_ADMIN)
	ca := ts.Clients(a)

	size := logSize(t, ts, "chpw")
	_, err := ca.Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{CurrentPassword: "not the password", NewPassword: "second password"}))
	wantAuthCode(t, "wrong current password", err, connect.CodePermissionDenied)
	if evs := newEvents(t, ts, "chpw", size); len(evs) != 1 || evs[0].Type != "auth.password_change.failed" || evs[0].Actor != uid {
		t.Fatalf("events of a failed change: %+v", evs)
	}

	res, err := ca.Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{CurrentPassword: "first password", NewPassword: "second password"}))
	if err != nil || res.Msg.SessionsEnded != 1 {
		t.Fatalf("ChangePassword: %v %v", res, err)
	}
	if err := whoAmI(ca); err != nil {
		t.Fatalf("the session that changed the password ended: %v", err)
	}
	wantAuthCode(t, "the member's other session", whoAmI(ts.Clients(b)), connect.CodeUnauthenticated)
	if err := whoAmI(ts.Clients(other)); err != nil {
		t.Fatalf("another member's session ended: %v", err)
	}
	_, err = ts.Clients("").Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "chpw", Email: "a@example.com", Password: "first password"}))
	wantAuthCode(t, "old password", err, connect.CodeUnauthenticated)
	ts.Login(t, "chpw", "a@example.com", "second password")

	tok, err := ca.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "ci", Role: nuxariv1.Role_ROLE_ADMIN}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Clients(tok.Msg.Secret).Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{CurrentPassword: "second password", NewPassword: "third password"}))
	wantAuthCode(t, "API token", err, connect.CodeFailedPrecondition)
}

// TestRevocationIsComplete: ending a member's sessions, removing them and
// demoting them end every credential they hold in the same batch, for
// good.
func TestRevocationIsComplete(t *testing.T) {
	ctx := context.Background()
	ts := servertest.Start(t)
	const org = "revoke"
	ownerTok, _ := ts.Signup(t, org, "o@example.com", "owner password 1")
	owner := ts.Clients(ownerTok)
	apiToken := func(c servertest.Clients, role nuxariv1.Role) (servertest.Clients, string) {
		t.Helper()
		res, err := c.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "t", Role: role}))
		if err != nil {
			t.Fatal(err)
		}
		return ts.Clients(res.Msg.Secret), res.Msg.Token.TokenId
	}
	listTokens := func() []string {
		res, err := owner.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tk := range res.Msg.Tokens {
			ids = append(ids, tk.TokenId)
		}
		return ids
	}

	t.Run("end sessions", func(t *testing.T) {
		s1, uid := ts.AddMember(t, ownerTok, org, "e@example.com", "member password", nuxariv1.Role_ROLE_ADMIN)
		s2 := ts.Login(t, org, "e@example.com", "member password")
		api, _ := apiToken(ts.Clients(s1), nuxariv1.Role_ROLE_READONLY)
		res, err := owner.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{UserId: uid}))
		if err != nil || res.Msg.SessionsEnded != 2 || res.Msg.ApiTokensRevoked != 0 {
			t.Fatalf("EndMemberSessions: %v %v", res, err)
		}
		for i, s := range []string{s1, s2} {
			wantAuthCode(t, fmt.Sprint("session ", i), whoAmI(ts.Clients(s)), connect.CodeUnauthenticated)
		}
		if err := whoAmI(api); err != nil {
			t.Fatalf("API token ended without revoke_api_tokens: %v", err)
		}
		s3 := ts.Login(t, org, "e@example.com", "member password")
		if err := whoAmI(ts.Clients(s3)); err != nil {
			t.Fatalf("a login after the end: %v", err)
		}
		res, err = owner.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{UserId: uid, RevokeApiTokens: true}))
		if err != nil || res.Msg.SessionsEnded != 1 || res.Msg.ApiTokensRevoked != 1 {
			t.Fatalf("EndMemberSessions with tokens: %v %v", res, err)
		}
		wantAuthCode(t, "API token after revoke_api_tokens", whoAmI(api), connect.CodeUnauthenticated)
	})

	t.Run("remove", func(t *testing.T) {
		s, uid := ts.AddMember(t, ownerTok, org, "r@example.com", "member password", nuxariv1.Role_ROLE_ADMIN)
		api, id := apiToken(ts.Clients(s), nuxariv1.Role_ROLE_ADMIN)
		size := logSize(t, ts, org)
		if _, err := owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: uid})); err != nil {
			t.Fatal(err)
		}
		evs := newEvents(t, ts, org, size)
		if len(evs) != 1 || evs[0].Data["sessions_ended"] != float64(1) || fmt.Sprint(evs[0].Data["api_tokens_revoked"]) != "["+id+"]" {
			t.Fatalf("member.removed: %+v", evs)
		}
		if slices.Contains(listTokens(), id) {
			t.Fatal("a removed member's API token is still listed")
		}
		// Added again, the same email is a new member: nothing comes back.
		ts.AddMember(t, ownerTok, org, "r@example.com", "member password", nuxariv1.Role_ROLE_ADMIN)
		wantAuthCode(t, "old session", whoAmI(ts.Clients(s)), connect.CodeUnauthenticated)
		wantAuthCode(t, "old API token", whoAmI(api), connect.CodeUnauthenticated)
	})

	t.Run("demotion revokes for good", func(t *testing.T) {
		s, uid := ts.AddMember(t, ownerTok, org, "d@example.com", "member password", nuxariv1.Role_ROLE_ADMIN)
		adminAPI, adminID := apiToken(ts.Clients(s), nuxariv1.Role_ROLE_ADMIN)
		roAPI, roID := apiToken(ts.Clients(s), nuxariv1.Role_ROLE_READONLY)
		set := func(role nuxariv1.Role) {
			t.Helper()
			if _, err := owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: uid, Role: role})); err != nil {
				t.Fatal(err)
			}
		}
		set(nuxariv1.Role_ROLE_READONLY)
		wantAuthCode(t, "admin token of a demoted creator", whoAmI(adminAPI), connect.CodeUnauthenticated)
		if err := whoAmI(roAPI); err != nil {
			t.Fatalf("a token the new role covers: %v", err)
		}
		set(nuxariv1.Role_ROLE_ADMIN)
		wantAuthCode(t, "admin token after re-promotion", whoAmI(adminAPI), connect.CodeUnauthenticated)
		ids := listTokens()
		if slices.Contains(ids, adminID) || !slices.Contains(ids, roID) {
			t.Fatalf("tokens after demotion: %v (revoked %s, kept %s)", ids, adminID, roID)
		}
	})
}

// TestSweepExpired: expired sessions, API tokens and setup tokens are
// deleted by the sweep, with one audited event per org that counts them;
// live ones stay.
func TestSweepExpired(t *testing.T) {
	ctx := context.Background()
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) {
		c.Governance.Clock = clk.Now
		c.Governance.SessionTTL = time.Hour
	})
	const org = "sweep"
	ownerTok, _ := ts.Signup(t, org, "o@example.com", "owner password 1")
	owner := ts.Clients(ownerTok)
	if _, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "short", Role: nuxariv1.Role_ROLE_READONLY, Ttl: durationpb.New(30 * time.Minute)})); err != nil {
		t.Fatal(err)
	}
	long, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "long", Role: nuxariv1.Role_ROLE_READONLY}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "m@example.com", Role: nuxariv1.Role_ROLE_READONLY, SetupTtl: durationpb.New(10 * time.Minute)})); err != nil {
		t.Fatal(err)
	}
	size := logSize(t, ts, org)
	if err := ts.Service().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := newEvents(t, ts, org, size); len(evs) != 0 {
		t.Fatalf("a sweep with nothing expired wrote %+v", evs)
	}
	clk.Advance(2 * time.Hour)
	if err := ts.Service().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	evs := newEvents(t, ts, org, size)
	if len(evs) != 1 || evs[0].Type != "auth.expired_swept" || evs[0].Actor != "system" ||
		evs[0].Data["sessions"] != float64(1) || evs[0].Data["api_tokens"] != float64(1) || evs[0].Data["setup_tokens"] != float64(1) {
		t.Fatalf("sweep events: %+v", evs)
	}
	res, err := ts.Clients(long.Msg.Secret).Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		// The readonly token may not list tokens; it is still valid.
		t.Fatalf("the live token: %v %v", res, err)
	}
	if err := whoAmI(ts.Clients(long.Msg.Secret)); err != nil {
		t.Fatalf("the sweep ended a live token: %v", err)
	}
	size = logSize(t, ts, org)
	if err := ts.Service().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := newEvents(t, ts, org, size); len(evs) != 0 {
		t.Fatalf("a second sweep wrote %+v", evs)
	}
}
