package server_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/ledger/leaf"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

type auditEvent struct {
	Type    string         `json:"type"`
	Actor   string         `json:"actor"`
	Subject string         `json:"subject"`
	Data    map[string]any `json:"data"`
}

// newEvents returns the events org's log gained since size.
func newEvents(t *testing.T, ts *servertest.Server, org string, since uint64) []auditEvent {
	t.Helper()
	size, err := ts.Ledger().Size(org)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditEvent
	for i := since; i < size; i++ {
		lf, err := ts.Ledger().Leaf(context.Background(), org, i)
		if err != nil {
			t.Fatal(err)
		}
		l, err := leaf.Parse(lf.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		var e auditEvent
		if err := json.Unmarshal(l.Event, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestAuditBeforeRespond: each security-relevant action has exactly its
// event in the org's log by the time its response arrives.
func TestAuditBeforeRespond(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	ownerTok, ownerID := ts.Signup(t, "audit", "o@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	anon := ts.Clients("")
	var memberID, tokenID string

	steps := []struct {
		name   string
		do     func() error
		typ    string
		actor  string
		verify func(e auditEvent) bool
	}{
		{"login succeeded", func() error {
			_, err := anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "audit", Email: "o@example.com", Password: ownerPW}))
			return err
		}, "auth.login.succeeded", ownerID, func(e auditEvent) bool { return e.Data["session_id"] != nil && e.Data["source"] == "127.0.0.1" }},
		{"login failed: wrong password", func() error {
			_, err := anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "audit", Email: "o@example.com", Password: "not the password"}))
			wantCode(t, err, connect.CodeUnauthenticated)
			return nil
		}, "auth.login.failed", "anonymous", func(e auditEvent) bool { return e.Data["reason"] == "wrong_password" && e.Subject == ownerID }},
		{"login failed: unknown email", func() error {
			_, err := anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "audit", Email: "nobody@example.com", Password: "not the password"}))
			wantCode(t, err, connect.CodeUnauthenticated)
			return nil
		}, "auth.login.failed", "anonymous", func(e auditEvent) bool {
			return e.Data["reason"] == "unknown_email" && e.Data["email"] == "nobody@example.com"
		}},
		{"member added", func() error {
			res, err := owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "m@example.com", Role: nuxariv1.Role_ROLE_READONLY}))
			if err == nil {
				memberID = res.Msg.Member.UserId
			}
			return err
		}, "member.added", ownerID, func(e auditEvent) bool { return e.Subject == memberID && e.Data["role"] == "readonly" }},
		{"role changed", func() error {
			_, err := owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: memberID, Role: nuxariv1.Role_ROLE_APPROVER}))
			return err
		}, "member.role_changed", ownerID, func(e auditEvent) bool { return e.Data["from"] == "readonly" && e.Data["to"] == "approver" }},
		{"settings changed", func() error {
			_, err := owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{Retention: durationpb.New(2 * 365 * 24 * time.Hour)}))
			return err
		}, "org.settings_changed", ownerID, func(e auditEvent) bool { return e.Data["retention_seconds"] != nil }},
		{"token created", func() error {
			res, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "bot", Role: nuxariv1.Role_ROLE_AUDITOR}))
			if err == nil {
				tokenID = res.Msg.Token.TokenId
			}
			return err
		}, "auth.api_token.created", ownerID, func(e auditEvent) bool { return e.Subject == "token:"+tokenID && e.Data["role"] == "auditor" }},
		{"token revoked", func() error {
			_, err := owner.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: tokenID}))
			return err
		}, "auth.api_token.revoked", ownerID, func(e auditEvent) bool { return e.Subject == "token:"+tokenID }},
		{"member removed", func() error {
			_, err := owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: memberID}))
			return err
		}, "member.removed", ownerID, func(e auditEvent) bool { return e.Subject == memberID }},
		{"logout", func() error {
			_, err := owner.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))
			return err
		}, "auth.logout", ownerID, func(e auditEvent) bool { return true }},
	}
	for _, st := range steps {
		before := ledgerSize(t, ts, "audit")
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		evs := newEvents(t, ts, "audit", before)
		if len(evs) != 1 {
			t.Fatalf("%s: %d new events, want exactly 1: %+v", st.name, len(evs), evs)
		}
		e := evs[0]
		if e.Type != st.typ || e.Actor != st.actor || !st.verify(e) {
			t.Fatalf("%s: event %+v, want type %s by %s", st.name, e, st.typ, st.actor)
		}
	}
	// Reads and refused calls change nothing and append nothing.
	before := ledgerSize(t, ts, "audit")
	readonly := ts.Clients(ts.Login(t, "audit", "o@example.com", ownerPW))
	before++ // the login itself
	if _, err := readonly.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{})); err != nil {
		t.Fatal(err)
	}
	if _, err := readonly.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: ownerID, Role: nuxariv1.Role_ROLE_ADMIN})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("own role change: %v", err)
	}
	if after := ledgerSize(t, ts, "audit"); after != before {
		t.Fatalf("reads and refusals appended %d events", after-before)
	}
}

// ledgerSize returns the size of org's log, failing the test when it
// cannot be read: a "nothing changed" check must not pass on an error.
func ledgerSize(t testing.TB, ts *servertest.Server, org string) uint64 {
	t.Helper()
	n, err := ts.Ledger().Size(org)
	if err != nil {
		t.Fatalf("size of %s's log: %v", org, err)
	}
	return n
}

// walWrites matches writes of Pebble's write-ahead log.
type walWrites struct{}

func (walWrites) String() string { return "(WAL writes)" }

func (walWrites) Evaluate(op errorfs.Op) bool {
	return filepath.Ext(op.Path) == ".log" && (op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileWriteAt)
}

// TestLedgerFailureFailsTheAction: when the audit append cannot be made
// durable, the action fails, and after a restart neither its state nor its
// event exists.
func TestLedgerFailureFailsTheAction(t *testing.T) {
	toggle := &errorfs.Toggle{Injector: errorfs.ErrInjected.If(walWrites{})}
	dir := t.TempDir()
	ts := servertest.Start(t, func(c *server.Config) {
		c.DataDir = dir
		c.Ledger.FS = errorfs.Wrap(vfs.Default, toggle)
	})
	ctx := context.Background()
	ownerTok, _ := ts.Signup(t, "fail", "o@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	size := ledgerSize(t, ts, "fail")

	toggle.On()
	_, err := owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "lost@example.com", Role: nuxariv1.Role_ROLE_ADMIN}))
	if err == nil {
		t.Fatal("AddMember succeeded with a failing ledger")
	}
	if c := connect.CodeOf(err); c != connect.CodeUnavailable {
		t.Fatalf("AddMember: %v (%v), want Unavailable", err, c)
	}
	_, err = owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "lost", Role: nuxariv1.Role_ROLE_READONLY}))
	if err == nil {
		t.Fatal("CreateAPIToken succeeded with a failing ledger")
	}
	if c := connect.CodeOf(err); c != connect.CodeUnavailable {
		t.Fatalf("CreateAPIToken: %v (%v), want Unavailable", err, c)
	}
	toggle.Off()
	ts.Stop()

	ts2 := servertest.Start(t, func(c *server.Config) { c.DataDir = dir })
	if got := ledgerSize(t, ts2, "fail"); got != size {
		t.Fatalf("log size %d after the failed actions, want %d", got, size)
	}
	tok := ts2.Login(t, "fail", "o@example.com", ownerPW)
	c := ts2.Clients(tok)
	ms, err := c.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{}))
	if err != nil || len(ms.Msg.Members) != 1 {
		t.Fatalf("members after the failed add: %v %v", ms, err)
	}
	toks, err := c.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{}))
	if err != nil || len(toks.Msg.Tokens) != 0 {
		t.Fatalf("tokens after the failed create: %v %v", toks, err)
	}
}
