package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/client"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// rawResult is the answer to a hand-made Connect unary request.
type rawResult struct {
	status  int
	code    string
	message string
	body    []byte
}

// postRaw sends body to a Connect unary procedure as contentType
// ("application/json" or "application/proto"), over h2c.
func postRaw(t *testing.T, ts *servertest.Server, proc, contentType, token string, body []byte, header map[string]string) rawResult {
	t.Helper()
	r, err := http.NewRequest("POST", ts.URL+proc, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", contentType)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	res, err := servertest.HTTPClient().Do(r)
	if err != nil {
		t.Fatalf("POST %s: %v", proc, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("POST %s: reading answer: %v", proc, err)
	}
	out := rawResult{status: res.StatusCode, body: b}
	if res.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("POST %s: HTTP %d with a body that is no Connect error: %q", proc, res.StatusCode, b)
		}
		out.code, out.message = e.Code, e.Message
	}
	return out
}

// protoMsg builds binary protobuf by hand, so that it can hold what the
// Go runtime refuses to marshal (invalid UTF-8 in a string).
type protoMsg []byte

func (m protoMsg) str(field protowire.Number, s string) protoMsg {
	m = protowire.AppendTag(m, field, protowire.BytesType)
	return protowire.AppendString(m, s)
}

func (m protoMsg) msg(field protowire.Number, sub protoMsg) protoMsg {
	m = protowire.AppendTag(m, field, protowire.BytesType)
	return protowire.AppendBytes(m, sub)
}

func (m protoMsg) varint(field protowire.Number, v uint64) protoMsg {
	m = protowire.AppendTag(m, field, protowire.VarintType)
	return protowire.AppendVarint(m, v)
}

const badUTF8 = "bad\xff\xfeutf8"

// TestBadInput: malformed and out-of-bounds requests are InvalidArgument
// with a message that names the field, never Internal or Unknown, and
// never a panic.
func TestBadInput(t *testing.T) {
	fake := servertest.NewFakeDriver()
	ts := servertest.Start(t, servertest.WithFakeDriver(fake))
	ctx := context.Background()
	const org = "bad"
	ownerTok, ownerID := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	_, memberID := ts.AddMember(t, ownerTok, org, "member@example.com", "member password", nuxariv1.Role_ROLE_READONLY)
	tokRes, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "one", Role: nuxariv1.Role_ROLE_READONLY}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "two", Role: nuxariv1.Role_ROLE_READONLY})); err != nil {
		t.Fatal(err)
	}
	createJoinToken(t, owner, 0)
	// 150 events, so that a default page (100) is not the whole log.
	for range 2 {
		var evs []*nuxariv1.NewEvent
		for range 75 {
			evs = append(evs, &nuxariv1.NewEvent{Type: "custom.bad.filler"})
		}
		if _, err := owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: evs})); err != nil {
			t.Fatal(err)
		}
	}
	size, err := ts.Ledger().Size(org)
	if err != nil {
		t.Fatal(err)
	}
	cpSize := waitCheckpointAt(t, owner, size)
	for range 2 {
		if _, err := owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: []string{"custom.none"}}})); err != nil {
			t.Fatal(err)
		}
	}
	membersPage, err := owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1}))
	if err != nil || membersPage.Msg.NextPageToken == "" {
		t.Fatalf("ListMembers: %v %v", membersPage, err)
	}
	eventsPage, err := owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1}))
	if err != nil || eventsPage.Msg.NextPageToken == "" {
		t.Fatalf("ListEvents: %v %v", eventsPage, err)
	}
	memberTok, eventTok := membersPage.Msg.NextPageToken, eventsPage.Msg.NextPageToken
	// A real token with one byte changed.
	flipped := []byte(memberTok)
	flipped[len(flipped)/2] ^= 'A' ^ 'B'
	if flipped[len(flipped)/2] == memberTok[len(flipped)/2] {
		flipped[len(flipped)/2] = 'C'
	}

	long := func(n int) string { return strings.Repeat("x", n) }
	email300 := strings.Repeat("a", 300-len("@example.com")) + "@example.com"
	pw2k := strings.Repeat("p", 2048)
	bigData, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("d", 70_000)})
	if err != nil {
		t.Fatal(err)
	}
	deep := map[string]any{"leaf": true}
	for range 300 {
		deep = map[string]any{"n": deep}
	}
	deepData, err := structpb.NewStruct(deep)
	if err != nil {
		t.Fatal(err)
	}
	var manyEvents []*nuxariv1.NewEvent
	for range 101 {
		manyEvents = append(manyEvents, &nuxariv1.NewEvent{Type: "custom.many"})
	}
	now := time.Now()
	later, earlier := timestamppb.New(now), timestamppb.New(now.Add(-time.Hour))
	badTime := &timestamppb.Timestamp{Seconds: math.MaxInt64}
	var types33 []string
	for i := range 33 {
		types33 = append(types33, fmt.Sprintf("custom.t%d", i))
	}
	var types65 []string
	for i := range 65 {
		types65 = append(types65, fmt.Sprintf("custom.t%d", i))
	}

	anon := ts.Clients("")
	createOrg := func(m *nuxariv1.CreateOrgRequest) error {
		if m.OrgId == "" && m.OwnerEmail == "" && m.OwnerPassword == "" {
			return fmt.Errorf("bad test case")
		}
		return ignoreRes(anon.Org.CreateOrg(ctx, req(m)))
	}
	okOrg := func(f func(*nuxariv1.CreateOrgRequest)) *nuxariv1.CreateOrgRequest {
		m := &nuxariv1.CreateOrgRequest{OrgId: "new-" + randID(4), OwnerEmail: "new@example.com", OwnerPassword: ownerPW}
		f(m)
		return m
	}
	addMember := func(f func(*nuxariv1.AddMemberRequest)) error {
		m := &nuxariv1.AddMemberRequest{Email: randID(4) + "@example.com", Role: nuxariv1.Role_ROLE_READONLY}
		f(m)
		return ignoreRes(owner.Org.AddMember(ctx, req(m)))
	}
	createToken := func(f func(*nuxariv1.CreateAPITokenRequest)) error {
		m := &nuxariv1.CreateAPITokenRequest{Name: "t-" + randID(4), Role: nuxariv1.Role_ROLE_READONLY}
		f(m)
		return ignoreRes(owner.Auth.CreateAPIToken(ctx, req(m)))
	}
	appendEvents := func(evs ...*nuxariv1.NewEvent) error {
		return ignoreRes(owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: evs})))
	}
	listEvents := func(m *nuxariv1.ListEventsRequest) error {
		return ignoreRes(owner.Ledger.ListEvents(ctx, req(m)))
	}
	login := func(orgID, email, pw string) error {
		return ignoreRes(anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: orgID, Email: email, Password: pw})))
	}

	// Connectors: one to act on, settings and credentials to spoil.
	certPEM, keyPEM := clientCertPEM(t, "badinput")
	pgSet := func(f func(*nuxariv1.PostgresSettings)) *nuxariv1.ConnectorSettings {
		p := &nuxariv1.PostgresSettings{Host: "db.example.com", Port: 5432, Database: "postgres", User: "nuxari", TlsMode: "require"}
		f(p)
		return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: p}}
	}
	okSettings := pgSet(func(*nuxariv1.PostgresSettings) {})
	// Every password below holds badPW, which no error message may quote.
	const badPW = "BadInputPw"
	pw100k := badPW + strings.Repeat("p", 100<<10)
	keyCreds := func(pw, key string) *nuxariv1.ConnectorCredentials {
		return &nuxariv1.ConnectorCredentials{Kind: &nuxariv1.ConnectorCredentials_Postgres{Postgres: &nuxariv1.PostgresCredentials{Password: pw, ClientKeyPem: key}}}
	}
	conn, err := owner.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{Name: "target", Settings: okSettings, Credentials: pgCreds(badPW + " ok")}))
	if err != nil {
		t.Fatal(err)
	}
	connID := conn.Msg.Connector.ConnectorId
	if _, err := owner.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{Name: "second", Settings: okSettings, Credentials: pgCreds(badPW + " ok")})); err != nil {
		t.Fatal(err)
	}
	createConn := func(f func(*nuxariv1.CreateConnectorRequest)) error {
		m := &nuxariv1.CreateConnectorRequest{Name: "c-" + randID(4), Settings: okSettings, Credentials: pgCreds(badPW + " ok")}
		f(m)
		return ignoreRes(owner.Connectors.CreateConnector(ctx, req(m)))
	}
	createWith := func(f func(*nuxariv1.PostgresSettings)) error {
		return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Settings = pgSet(f) })
	}
	updateConn := func(m *nuxariv1.UpdateConnectorRequest) error {
		if m.ConnectorId == "" {
			m.ConnectorId = connID
		}
		return ignoreRes(owner.Connectors.UpdateConnector(ctx, req(m)))
	}
	rotate := func(c *nuxariv1.ConnectorCredentials) error {
		return ignoreRes(owner.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: connID, Credentials: c})))
	}

	cases := []struct {
		name  string
		field string // the message must name it
		call  func() error
	}{
		// CreateOrg.
		{"CreateOrg/org_id empty", "org_id", func() error { return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OrgId = "" })) }},
		{"CreateOrg/org_id 65", "org_id", func() error { return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OrgId = long(65) })) }},
		{"CreateOrg/org_id slash", "org_id", func() error { return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OrgId = "a/b" })) }},
		{"CreateOrg/org_id dot", "org_id", func() error { return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OrgId = "a.b" })) }},
		{"CreateOrg/org_id non-ASCII", "org_id", func() error { return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OrgId = "örg" })) }},
		{"CreateOrg/owner_email empty", "owner_email", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerEmail = "" }))
		}},
		{"CreateOrg/owner_email 300", "owner_email", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerEmail = email300 }))
		}},
		{"CreateOrg/owner_email with name", "owner_email", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerEmail = "Ada <ada@example.com>" }))
		}},
		{"CreateOrg/display_name 10k", "display_name", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.DisplayName = long(10_000) }))
		}},
		{"CreateOrg/display_name control", "display_name", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.DisplayName = "a\x00b" }))
		}},
		{"CreateOrg/owner_display_name 10k", "owner_display_name", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerDisplayName = long(10_000) }))
		}},
		{"CreateOrg/owner_password empty", "owner_password", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerPassword = "" }))
		}},
		{"CreateOrg/owner_password 11 bytes", "owner_password", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerPassword = "elevenbytes" }))
		}},
		{"CreateOrg/owner_password 2KiB", "owner_password", func() error {
			return createOrg(okOrg(func(m *nuxariv1.CreateOrgRequest) { m.OwnerPassword = pw2k }))
		}},

		// Login.
		{"Login/org_id empty", "org_id", func() error { return login("", "owner@example.com", ownerPW) }},
		{"Login/org_id 65", "org_id", func() error { return login(long(65), "owner@example.com", ownerPW) }},
		{"Login/email empty", "email", func() error { return login(org, "", ownerPW) }},
		{"Login/email 300", "email", func() error { return login(org, email300, ownerPW) }},
		{"Login/password empty", "password", func() error { return login(org, "owner@example.com", "") }},

		// UpdateOrgSettings.
		{"UpdateOrgSettings/display_name 10k", "display_name", func() error {
			return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{DisplayName: new(long(10_000))})))
		}},
		{"UpdateOrgSettings/display_name empty", "display_name", func() error {
			return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{DisplayName: new("")})))
		}},
		{"UpdateOrgSettings/nothing", "display_name", func() error {
			return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{})))
		}},
		{"UpdateOrgSettings/retention 1h", "retention", func() error {
			return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{Retention: durationpb.New(time.Hour)})))
		}},
		{"UpdateOrgSettings/retention negative", "retention", func() error {
			return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{Retention: durationpb.New(-400 * 24 * time.Hour)})))
		}},
		{"UpdateOrgSettings/retention malformed", "retention", func() error {
			return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{Retention: &durationpb.Duration{Seconds: 400 * 86400, Nanos: -1}})))
		}},

		// AddMember.
		{"AddMember/email empty", "email", func() error { return addMember(func(m *nuxariv1.AddMemberRequest) { m.Email = "" }) }},
		{"AddMember/email 300", "email", func() error { return addMember(func(m *nuxariv1.AddMemberRequest) { m.Email = email300 }) }},
		{"AddMember/email NUL", "email", func() error { return addMember(func(m *nuxariv1.AddMemberRequest) { m.Email = "a\x00b@example.com" }) }},
		{"AddMember/display_name 10k", "display_name", func() error {
			return addMember(func(m *nuxariv1.AddMemberRequest) { m.DisplayName = long(10_000) })
		}},
		{"AddMember/setup_ttl 1m", "setup_ttl", func() error {
			return addMember(func(m *nuxariv1.AddMemberRequest) { m.SetupTtl = durationpb.New(time.Minute) })
		}},
		{"AddMember/setup_ttl 31d", "setup_ttl", func() error {
			return addMember(func(m *nuxariv1.AddMemberRequest) { m.SetupTtl = durationpb.New(31 * 24 * time.Hour) })
		}},
		{"AddMember/setup_ttl negative", "setup_ttl", func() error {
			return addMember(func(m *nuxariv1.AddMemberRequest) { m.SetupTtl = durationpb.New(-time.Hour) })
		}},

		// IssuePasswordSetup, EndMemberSessions, SetPassword, ChangePassword.
		{"IssuePasswordSetup/user_id empty", "user_id", func() error {
			return ignoreRes(owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{})))
		}},
		{"IssuePasswordSetup/user_id path", "user_id", func() error {
			return ignoreRes(owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: "../" + memberID})))
		}},
		{"IssuePasswordSetup/setup_ttl 1s", "setup_ttl", func() error {
			return ignoreRes(owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: memberID, SetupTtl: durationpb.New(time.Second)})))
		}},
		{"IssuePasswordSetup/setup_ttl invalid", "setup_ttl", func() error {
			return ignoreRes(owner.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: memberID, SetupTtl: &durationpb.Duration{Seconds: 1, Nanos: -1}})))
		}},
		{"EndMemberSessions/user_id empty", "user_id", func() error {
			return ignoreRes(owner.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{})))
		}},
		{"EndMemberSessions/user_id 300", "user_id", func() error {
			return ignoreRes(owner.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{UserId: long(300)})))
		}},
		{"SetPassword/new_password short", "new_password", func() error {
			return ignoreRes(anon.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: "nxp.badinput.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NewPassword: "short"})))
		}},
		{"SetPassword/new_password 2KiB", "new_password", func() error {
			return ignoreRes(anon.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: "nxp.badinput.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NewPassword: pw2k})))
		}},
		{"ChangePassword/current_password empty", "current_password", func() error {
			return ignoreRes(owner.Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{NewPassword: "a new long password"})))
		}},
		{"ChangePassword/new_password short", "new_password", func() error {
			return ignoreRes(owner.Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{CurrentPassword: ownerPW, NewPassword: "short"})))
		}},
		{"ChangePassword/new_password 2KiB", "new_password", func() error {
			return ignoreRes(owner.Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{CurrentPassword: ownerPW, NewPassword: pw2k})))
		}},
		{"AddMember/role 99", "role", func() error { return addMember(func(m *nuxariv1.AddMemberRequest) { m.Role = 99 }) }},
		{"AddMember/role -1", "role", func() error { return addMember(func(m *nuxariv1.AddMemberRequest) { m.Role = -1 }) }},
		{"AddMember/role unspecified", "role", func() error {
			return addMember(func(m *nuxariv1.AddMemberRequest) { m.Role = nuxariv1.Role_ROLE_UNSPECIFIED })
		}},

		// RemoveMember, SetMemberRole.
		{"RemoveMember/user_id empty", "user_id", func() error {
			return ignoreRes(owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{})))
		}},
		{"RemoveMember/user_id 65", "user_id", func() error {
			return ignoreRes(owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: long(65)})))
		}},
		{"SetMemberRole/role 99", "role", func() error {
			return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: memberID, Role: 99})))
		}},
		{"SetMemberRole/role unspecified", "role", func() error {
			return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: memberID})))
		}},
		{"SetMemberRole/user_id empty", "user_id", func() error {
			return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{Role: nuxariv1.Role_ROLE_ADMIN})))
		}},
		{"SetMemberRole/user_id path", "user_id", func() error {
			return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: "../" + ownerID, Role: nuxariv1.Role_ROLE_ADMIN})))
		}},

		// CreateAPIToken, RevokeAPIToken.
		{"CreateAPIToken/name empty", "name", func() error { return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Name = "" }) }},
		{"CreateAPIToken/name 101", "name", func() error { return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Name = long(101) }) }},
		{"CreateAPIToken/name control", "name", func() error {
			return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Name = "tab\there" })
		}},
		{"CreateAPIToken/role 99", "role", func() error { return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Role = 99 }) }},
		{"CreateAPIToken/role unspecified", "role", func() error {
			return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Role = nuxariv1.Role_ROLE_UNSPECIFIED })
		}},
		{"CreateAPIToken/ttl 30s", "ttl", func() error {
			return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Ttl = durationpb.New(30 * time.Second) })
		}},
		{"CreateAPIToken/ttl 400d", "ttl", func() error {
			return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Ttl = durationpb.New(400 * 24 * time.Hour) })
		}},
		{"CreateAPIToken/ttl negative", "ttl", func() error {
			return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Ttl = durationpb.New(-time.Hour) })
		}},
		{"CreateAPIToken/ttl malformed", "ttl", func() error {
			return createToken(func(m *nuxariv1.CreateAPITokenRequest) { m.Ttl = &durationpb.Duration{Seconds: 3600, Nanos: -1} })
		}},
		{"RevokeAPIToken/token_id empty", "token_id", func() error {
			return ignoreRes(owner.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{})))
		}},
		{"RevokeAPIToken/token_id long", "token_id", func() error {
			return ignoreRes(owner.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: tokRes.Msg.Token.TokenId + long(100)})))
		}},

		// AppendEvents.
		{"AppendEvents/none", "events", func() error { return appendEvents() }},
		{"AppendEvents/101", "events", func() error { return appendEvents(manyEvents...) }},
		{"AppendEvents/type not custom", "type", func() error { return appendEvents(&nuxariv1.NewEvent{Type: "member.added"}) }},
		{"AppendEvents/type empty", "type", func() error { return appendEvents(&nuxariv1.NewEvent{}) }},
		{"AppendEvents/type custom only", "type", func() error { return appendEvents(&nuxariv1.NewEvent{Type: "custom."}) }},
		{"AppendEvents/type space", "type", func() error { return appendEvents(&nuxariv1.NewEvent{Type: "custom.a b"}) }},
		{"AppendEvents/type 121", "type", func() error { return appendEvents(&nuxariv1.NewEvent{Type: "custom." + long(121)}) }},
		{"AppendEvents/second type bad", "events[1]", func() error {
			return appendEvents(&nuxariv1.NewEvent{Type: "custom.ok"}, &nuxariv1.NewEvent{Type: "auth.login.succeeded"})
		}},
		{"AppendEvents/data 70k", "data", func() error { return appendEvents(&nuxariv1.NewEvent{Type: "custom.big", Data: bigData}) }},
		{"AppendEvents/data 300 deep", "data", func() error { return appendEvents(&nuxariv1.NewEvent{Type: "custom.deep", Data: deepData}) }},
		{"AppendEvents/idempotency_key bad", "idempotency_key", func() error {
			return appendEvents(&nuxariv1.NewEvent{Type: "custom.k", IdempotencyKey: "a key"})
		}},
		{"AppendEvents/idempotency_key repeated", "idempotency_key", func() error {
			return appendEvents(&nuxariv1.NewEvent{Type: "custom.k", IdempotencyKey: "k1"}, &nuxariv1.NewEvent{Type: "custom.k", IdempotencyKey: "k1"})
		}},

		// ListEvents.
		{"ListEvents/page_size -1", "page_size", func() error { return listEvents(&nuxariv1.ListEventsRequest{PageSize: -1}) }},
		{"ListEvents/page_size MaxInt32", "page_size", func() error { return listEvents(&nuxariv1.ListEventsRequest{PageSize: math.MaxInt32}) }},
		{"ListEvents/reversed times", "start_time", func() error {
			return listEvents(&nuxariv1.ListEventsRequest{StartTime: later, EndTime: earlier})
		}},
		{"ListEvents/empty time range", "start_time", func() error {
			return listEvents(&nuxariv1.ListEventsRequest{StartTime: later, EndTime: later})
		}},
		{"ListEvents/start_time invalid", "start_time", func() error { return listEvents(&nuxariv1.ListEventsRequest{StartTime: badTime}) }},
		{"ListEvents/end_time invalid", "end_time", func() error { return listEvents(&nuxariv1.ListEventsRequest{EndTime: badTime}) }},
		{"ListEvents/33 types", "types", func() error { return listEvents(&nuxariv1.ListEventsRequest{Types: types33}) }},
		{"ListEvents/empty type", "types", func() error { return listEvents(&nuxariv1.ListEventsRequest{Types: []string{""}}) }},
		{"ListEvents/actor 129", "actor", func() error { return listEvents(&nuxariv1.ListEventsRequest{Actor: long(129)}) }},
		{"ListEvents/page token of other filter", "page_token", func() error {
			return listEvents(&nuxariv1.ListEventsRequest{PageSize: 1, PageToken: eventTok, Types: []string{"custom.x"}})
		}},
		{"ListEvents/page token of other listing", "page_token", func() error {
			return listEvents(&nuxariv1.ListEventsRequest{PageSize: 1, PageToken: memberTok})
		}},

		// GetConsistencyProof.
		{"GetConsistencyProof/size1 > size2", "size1", func() error {
			return ignoreRes(owner.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: cpSize + 1, Size2: cpSize})))
		}},
		{"GetConsistencyProof/size1 > latest", "size1", func() error {
			return ignoreRes(owner.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: math.MaxUint64})))
		}},

		// Evidence.
		{"ExportPackage/reversed scope", "start_time", func() error {
			return ignoreRes(owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{StartTime: later, EndTime: earlier}})))
		}},
		{"ExportPackage/invalid time", "start_time", func() error {
			return ignoreRes(owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{StartTime: badTime}})))
		}},
		{"ExportPackage/65 types", "types", func() error {
			return ignoreRes(owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: types65}})))
		}},
		{"ExportPackage/type not in the catalog", "scope.types", func() error {
			return ignoreRes(owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: []string{"member.addded"}}})))
		}},
		{"ExportPackage/type in another case", "scope.types", func() error {
			return ignoreRes(owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: []string{"Member.Added"}}})))
		}},
		{"ListEvents/type not in the catalog", "types", func() error {
			return ignoreRes(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{Types: []string{"nonexistent.type"}})))
		}},
		{"GetExport/export_id empty", "export_id", func() error {
			return ignoreRes(owner.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{})))
		}},
		{"DownloadPackage/export_id path", "export_id", func() error {
			return drain(owner.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: "../x"})))
		}},

		// CreateConnector: name.
		{"CreateConnector/name empty", "name", func() error { return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Name = "" }) }},
		{"CreateConnector/name 65", "name", func() error { return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Name = long(65) }) }},
		{"CreateConnector/name 65 non-ASCII", "name", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Name = strings.Repeat("ü", 65) })
		}},
		{"CreateConnector/name control", "name", func() error { return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Name = "a\x01b" }) }},
		{"CreateConnector/name newline", "name", func() error { return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Name = "a\nb" }) }},
		{"CreateConnector/name leading space", "name", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Name = " padded" })
		}},
		// Settings.
		{"CreateConnector/settings missing", "settings", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Settings = nil })
		}},
		{"CreateConnector/settings of no kind", "settings", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Settings = &nuxariv1.ConnectorSettings{} })
		}},
		{"CreateConnector/postgres settings empty", "host", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{}}
			})
		}},
		{"CreateConnector/unknown TLS mode", "TLS mode", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.TlsMode = "verify-sometimes" })
		}},
		{"CreateConnector/TLS mode in capitals", "TLS mode", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.TlsMode = "DISABLE" })
		}},
		{"CreateConnector/host with a space", "host", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Host = "db host" }) }},
		{"CreateConnector/host with a port", "host", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.Host = "db.example.com:5432" })
		}},
		{"CreateConnector/host a URL", "host", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.Host = "postgres://db.example.com/" })
		}},
		{"CreateConnector/host 300", "host", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Host = long(300) }) }},
		{"CreateConnector/host NUL", "host", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Host = "db\x00.example.com" }) }},
		{"CreateConnector/port 65536", "port", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Port = 65536 }) }},
		{"CreateConnector/port max", "port", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Port = math.MaxUint32 }) }},
		{"CreateConnector/database empty", "database", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Database = "" }) }},
		{"CreateConnector/database 64", "database", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.Database = long(64) }) }},
		{"CreateConnector/user empty", "user", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.User = "" }) }},
		{"CreateConnector/user 64", "user", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.User = long(64) }) }},
		{"CreateConnector/user control", "user", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.User = "a\x07b" }) }},
		{"CreateConnector/role prefix 64", "role prefix", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.RolePrefix = long(64) }) }},
		{"CreateConnector/role prefix NUL", "role prefix", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.RolePrefix = "app_\x00" }) }},
		{"CreateConnector/role prefix control", "role prefix", func() error { return createWith(func(p *nuxariv1.PostgresSettings) { p.RolePrefix = "app_\n" }) }},
		{"CreateConnector/connect timeout 301", "connect timeout", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.ConnectTimeoutSeconds = 301 })
		}},
		{"CreateConnector/connect timeout max", "connect timeout", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.ConnectTimeoutSeconds = math.MaxUint32 })
		}},
		{"CreateConnector/CA not PEM", "CA", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.TlsMode, p.CaPem = "verify-full", "not a certificate" })
		}},
		{"CreateConnector/CA with TLS require", "CA", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.CaPem = certPEM })
		}},
		{"CreateConnector/CA with TLS disabled", "CA", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) { p.TlsMode, p.CaPem = "disable", certPEM })
		}},
		{"CreateConnector/CA 65 KiB", "CA", func() error {
			return createWith(func(p *nuxariv1.PostgresSettings) {
				p.TlsMode, p.CaPem = "verify-full", strings.Repeat(certPEM, 65<<10/len(certPEM)+1)
			})
		}},
		{"CreateConnector/client certificate not PEM", "client certificate", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = pgSet(func(p *nuxariv1.PostgresSettings) { p.ClientCertPem = "not a certificate" })
				m.Credentials = keyCreds("", keyPEM)
			})
		}},
		{"CreateConnector/client certificate a key", "client certificate", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = pgSet(func(p *nuxariv1.PostgresSettings) { p.ClientCertPem = keyPEM })
				m.Credentials = keyCreds("", keyPEM)
			})
		}},
		{"CreateConnector/client certificate with TLS disabled", "client certificate", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = pgSet(func(p *nuxariv1.PostgresSettings) { p.TlsMode, p.ClientCertPem = "disable", certPEM })
				m.Credentials = keyCreds("", keyPEM)
			})
		}},
		// Credentials.
		{"CreateConnector/credentials missing", "credentials", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Credentials = nil })
		}},
		{"CreateConnector/credentials of no kind", "credentials", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Credentials = &nuxariv1.ConnectorCredentials{} })
		}},
		{"CreateConnector/credentials empty", "credentials", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Credentials = keyCreds("", "") })
		}},
		{"CreateConnector/password 100 KiB", "password", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Credentials = pgCreds(pw100k) })
		}},
		{"CreateConnector/password NUL", "password", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Credentials = pgCreds(badPW + "\x00x") })
		}},
		{"CreateConnector/client key without a certificate", "client key", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.Credentials = keyCreds(badPW, keyPEM) })
		}},
		{"CreateConnector/certificate without its key", "client_key_pem", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = pgSet(func(p *nuxariv1.PostgresSettings) { p.ClientCertPem = certPEM })
			})
		}},
		{"CreateConnector/client key not PEM", "client certificate and key", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = pgSet(func(p *nuxariv1.PostgresSettings) { p.ClientCertPem = certPEM })
				m.Credentials = keyCreds("", badPW+" is no key")
			})
		}},
		{"CreateConnector/client key of another certificate", "client certificate and key", func() error {
			_, otherKey := clientCertPEM(t, "other")
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.Settings = pgSet(func(p *nuxariv1.PostgresSettings) { p.ClientCertPem = certPEM })
				m.Credentials = keyCreds("", otherKey)
			})
		}},
		// Sync interval.
		{"CreateConnector/sync_interval 1m", "sync_interval", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.SyncInterval = durationpb.New(time.Minute) })
		}},
		{"CreateConnector/sync_interval 8d", "sync_interval", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.SyncInterval = durationpb.New(8 * 24 * time.Hour) })
		}},
		{"CreateConnector/sync_interval negative", "sync_interval", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) { m.SyncInterval = durationpb.New(-time.Hour) })
		}},
		{"CreateConnector/sync_interval malformed", "sync_interval", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.SyncInterval = &durationpb.Duration{Seconds: 3600, Nanos: -1}
			})
		}},
		{"CreateConnector/sync_interval beyond time.Duration", "sync_interval", func() error {
			return createConn(func(m *nuxariv1.CreateConnectorRequest) {
				m.SyncInterval = &durationpb.Duration{Seconds: 315_576_000_000}
			})
		}},

		// UpdateConnector.
		{"UpdateConnector/name empty", "name", func() error { return updateConn(&nuxariv1.UpdateConnectorRequest{Name: new("")}) }},
		{"UpdateConnector/name 65", "name", func() error { return updateConn(&nuxariv1.UpdateConnectorRequest{Name: new(long(65))}) }},
		{"UpdateConnector/name control", "name", func() error { return updateConn(&nuxariv1.UpdateConnectorRequest{Name: new("a\tb")}) }},
		{"UpdateConnector/settings of no kind", "settings", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{Settings: &nuxariv1.ConnectorSettings{}})
		}},
		{"UpdateConnector/unknown TLS mode", "TLS mode", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{Settings: pgSet(func(p *nuxariv1.PostgresSettings) { p.TlsMode = "prefer" })})
		}},
		{"UpdateConnector/host bad", "host", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{Settings: pgSet(func(p *nuxariv1.PostgresSettings) { p.Host = "-db-" })})
		}},
		{"UpdateConnector/port 70000", "port", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{Settings: pgSet(func(p *nuxariv1.PostgresSettings) { p.Port = 70000 })})
		}},
		{"UpdateConnector/settings needing a key the connector lacks", "client_key_pem", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{Settings: pgSet(func(p *nuxariv1.PostgresSettings) { p.ClientCertPem = certPEM })})
		}},
		{"UpdateConnector/sync_interval 1m", "sync_interval", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{SyncInterval: durationpb.New(time.Minute)})
		}},
		{"UpdateConnector/sync_interval 8d", "sync_interval", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{SyncInterval: durationpb.New(8 * 24 * time.Hour)})
		}},
		{"UpdateConnector/sync_interval malformed", "sync_interval", func() error {
			return updateConn(&nuxariv1.UpdateConnectorRequest{SyncInterval: &durationpb.Duration{Seconds: -1, Nanos: 1}})
		}},

		// RotateCredentials.
		{"RotateCredentials/credentials missing", "credentials", func() error { return rotate(nil) }},
		{"RotateCredentials/credentials of no kind", "credentials", func() error { return rotate(&nuxariv1.ConnectorCredentials{}) }},
		{"RotateCredentials/credentials empty", "credentials", func() error { return rotate(keyCreds("", "")) }},
		{"RotateCredentials/password 100 KiB", "password", func() error { return rotate(pgCreds(pw100k)) }},
		{"RotateCredentials/password NUL", "password", func() error { return rotate(pgCreds(badPW + "\x00")) }},
		{"RotateCredentials/client key without a certificate", "client key", func() error { return rotate(keyCreds(badPW, keyPEM)) }},
		{"RotateCredentials/client key alone", "client key", func() error { return rotate(keyCreds("", keyPEM)) }},

		// Reasons.
		{"PauseConnector/reason 257", "reason", func() error {
			return ignoreRes(owner.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: connID, Reason: long(257)})))
		}},
		{"PauseConnector/reason control", "reason", func() error {
			return ignoreRes(owner.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: connID, Reason: "a\x1bb"})))
		}},
		{"DecommissionConnector/reason 257", "reason", func() error {
			return ignoreRes(owner.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: connID, Reason: long(257)})))
		}},
		{"DecommissionConnector/reason control", "reason", func() error {
			return ignoreRes(owner.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: connID, Reason: "a\x00b"})))
		}},
	}
	// Access: a connector to a fake system, synced; a policy of one
	// approval by the owner, who may approve their own requests, over
	// readers; one needing none over admins, so that a request of it
	// runs at once and makes an access grant.
	fa := newFakeAccess(t, owner, fake, "badinput")
	selfPolicy := func(f func(*nuxariv1.Policy)) *nuxariv1.Policy {
		return accessPolicy(fa.connector, func(p *nuxariv1.Policy) {
			p.Entitlements, p.ApproverRoles, p.AllowSelfApproval = []string{fakeReaders}, []string{"owner"}, true
			if f != nil {
				f(p)
			}
		})
	}
	accessPol := must(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: selfPolicy(nil)})))(t).Msg.Policy
	must(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: accessPolicy(fa.connector, func(p *nuxariv1.Policy) {
		p.Entitlements, p.Approvals, p.ApproverRoles = []string{fakeAdmins}, 0, nil
	})})))(t)
	okSubmit := func(f func(*nuxariv1.SubmitRequestRequest)) *nuxariv1.SubmitRequestRequest {
		m := &nuxariv1.SubmitRequestRequest{ConnectorId: fa.connector, IdentityId: fakeAlice, EntitlementId: fakeReaders, Justification: "bad input"}
		if f != nil {
			f(m)
		}
		return m
	}
	submitted := must(owner.Access.SubmitRequest(ctx, req(okSubmit(nil))))(t).Msg
	ran := must(owner.Access.SubmitRequest(ctx, req(okSubmit(func(m *nuxariv1.SubmitRequestRequest) { m.EntitlementId = fakeAdmins }))))(t).Msg
	if waitPlan(t, owner, ran.Plan.PlanId).State != planDone {
		t.Fatalf("a plan needing no approval did not run: %v", ran.Plan)
	}
	must(owner.Access.SubmitRequest(ctx, req(okSubmit(nil))))(t)
	pendingPlan := submitted.Plan.PlanId
	createPolicy := func(f func(*nuxariv1.Policy)) error {
		return ignoreRes(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: selfPolicy(f)})))
	}
	updatePolicy := func(f func(*nuxariv1.Policy)) error {
		p := proto.Clone(accessPol).(*nuxariv1.Policy)
		f(p)
		return ignoreRes(owner.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{Policy: p})))
	}
	submit := func(f func(*nuxariv1.SubmitRequestRequest)) error {
		return ignoreRes(owner.Access.SubmitRequest(ctx, req(okSubmit(f))))
	}
	// An open review of the connector's one grant, reviewed by the owner.
	openReview := must(owner.Access.StartReview(ctx, req(&nuxariv1.StartReviewRequest{
		ConnectorId: fa.connector, Name: "bad input", ReviewerRoles: []string{"owner"},
	})))(t).Msg.Review.ReviewId
	startReview := func(f func(*nuxariv1.StartReviewRequest)) error {
		m := &nuxariv1.StartReviewRequest{ConnectorId: fa.connector, Name: "review"}
		f(m)
		return ignoreRes(owner.Access.StartReview(ctx, req(m)))
	}
	decideReview := func(ds ...*nuxariv1.ReviewDecision) error {
		return ignoreRes(owner.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: openReview, Decisions: ds})))
	}
	var decisions101 []*nuxariv1.ReviewDecision
	for i := range 101 {
		decisions101 = append(decisions101, &nuxariv1.ReviewDecision{Item: uint32(i + 1)})
	}
	var roles65 []string
	for range 65 {
		roles65 = append(roles65, "owner")
	}
	var ents257 []string
	for i := range 257 {
		ents257 = append(ents257, fmt.Sprintf("role:%d", i))
	}
	type badCase = struct {
		name, field string
		call        func() error
	}
	// Conditions that do not compile name the position ("1:<column>").
	badConditions := map[string]string{
		"unfinished":        `request.justification.size() >`,
		"undeclared":        `requestor.role == "admin"`,
		"no such field":     `request.reason == "x"`,
		"string and number": `request.justification > 5`,
		"unbalanced":        `(identity.name == "alice"`,
	}
	for name, cond := range badConditions {
		cases = append(cases,
			badCase{"CreatePolicy/condition " + name, "condition", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Condition = cond }) }},
			badCase{"CreatePolicy/condition " + name + " (position)", "1:", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Condition = cond }) }},
			badCase{"UpdatePolicy/condition " + name, "condition", func() error { return updatePolicy(func(p *nuxariv1.Policy) { p.Condition = cond }) }},
		)
	}
	cases = append(cases, []badCase{
		{"CreatePolicy/policy missing", "policy", func() error {
			return ignoreRes(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{})))
		}},
		{"CreatePolicy/name empty", "name", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Name = "" }) }},
		{"CreatePolicy/name 65", "name", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Name = long(65) }) }},
		{"CreatePolicy/name control", "name", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Name = "a\nb" }) }},
		{"CreatePolicy/connector_id empty", "connector_id", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.ConnectorId = "" }) }},
		{"CreatePolicy/connector_id path", "connector_id", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.ConnectorId = "../" + fa.connector }) }},
		{"CreatePolicy/condition not bool", "condition", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.Condition = `request.duration_seconds + 1` })
		}},
		{"CreatePolicy/condition a string", "condition", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Condition = `"true"` }) }},
		{"CreatePolicy/condition 4097 bytes", "condition", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.Condition = "true" + strings.Repeat(" ", 4093) })
		}},
		{"CreatePolicy/approvals -1", "approvals", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Approvals = -1 }) }},
		{"CreatePolicy/approvals 11", "approvals", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Approvals = 11 }) }},
		{"CreatePolicy/approvals without approvers", "approvals", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.Approvals, p.ApproverRoles, p.ApproverIds = 2, nil, nil })
		}},
		{"CreatePolicy/approver_roles unknown", "approver_roles", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.ApproverRoles = []string{"superuser"} })
		}},
		{"CreatePolicy/approver_roles agent", "approver_roles", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.ApproverRoles = []string{"agent"} })
		}},
		{"CreatePolicy/requester_roles unknown", "requester_roles", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.RequesterRoles = []string{"OWNER"} })
		}},
		{"CreatePolicy/approver_ids malformed", "approver_ids", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.ApproverIds = []string{"U-1"} })
		}},
		{"CreatePolicy/entitlements empty ID", "entitlements", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.Entitlements = []string{""} })
		}},
		{"CreatePolicy/entitlements 257", "entitlements", func() error { return createPolicy(func(p *nuxariv1.Policy) { p.Entitlements = ents257 }) }},
		{"CreatePolicy/max_duration negative", "max_duration", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.MaxDuration = durationpb.New(-time.Hour) })
		}},
		{"CreatePolicy/max_duration fractional", "max_duration", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.MaxDuration = durationpb.New(1500 * time.Millisecond) })
		}},
		{"CreatePolicy/max_duration malformed", "max_duration", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.MaxDuration = &durationpb.Duration{Seconds: 60, Nanos: -1} })
		}},
		{"CreatePolicy/approve_expiry without approvals", "approve_expiry", func() error {
			return createPolicy(func(p *nuxariv1.Policy) { p.ApproveExpiry, p.Approvals = true, 0 })
		}},
		{"CreatePolicy/conflicts set of one", "conflicts", func() error {
			return createPolicy(func(p *nuxariv1.Policy) {
				p.Conflicts = []*nuxariv1.EntitlementSet{{Entitlements: []string{fakeReaders}}}
			})
		}},
		{"UpdatePolicy/policy missing", "policy", func() error {
			return ignoreRes(owner.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{})))
		}},
		{"UpdatePolicy/name empty", "name", func() error { return updatePolicy(func(p *nuxariv1.Policy) { p.Name = "" }) }},
		{"UpdatePolicy/approvals 11", "approvals", func() error { return updatePolicy(func(p *nuxariv1.Policy) { p.Approvals = 11 }) }},
		{"UpdatePolicy/condition not bool", "condition", func() error {
			return updatePolicy(func(p *nuxariv1.Policy) { p.Condition = `identity.name` })
		}},
		{"UpdatePolicy/max_duration negative", "max_duration", func() error {
			return updatePolicy(func(p *nuxariv1.Policy) { p.MaxDuration = durationpb.New(-time.Second) })
		}},
		{"GetPolicy/version -1", "version", func() error {
			return ignoreRes(owner.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: accessPol.PolicyId, Version: -1})))
		}},

		{"SubmitRequest/identity_id empty", "identity_id", func() error { return submit(func(m *nuxariv1.SubmitRequestRequest) { m.IdentityId = "" }) }},
		{"SubmitRequest/identity_id 257", "identity_id", func() error { return submit(func(m *nuxariv1.SubmitRequestRequest) { m.IdentityId = long(257) }) }},
		{"SubmitRequest/identity_id control", "identity_id", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.IdentityId = fakeAlice + "\x00" })
		}},
		{"SubmitRequest/entitlement_id empty", "entitlement_id", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.EntitlementId = "" })
		}},
		{"SubmitRequest/entitlement_id 257", "entitlement_id", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.EntitlementId = long(257) })
		}},
		{"SubmitRequest/justification empty", "justification", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Justification = "" })
		}},
		{"SubmitRequest/justification 1001", "justification", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Justification = long(1001) })
		}},
		{"SubmitRequest/justification control", "justification", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Justification = "a\x1bb" })
		}},
		{"SubmitRequest/duration negative", "duration", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Duration = durationpb.New(-time.Minute) })
		}},
		{"SubmitRequest/duration fractional", "duration", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Duration = durationpb.New(1500 * time.Millisecond) })
		}},
		{"SubmitRequest/duration below a second", "duration", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Duration = durationpb.New(time.Millisecond) })
		}},
		{"SubmitRequest/duration malformed", "duration", func() error {
			return submit(func(m *nuxariv1.SubmitRequestRequest) { m.Duration = &durationpb.Duration{Seconds: -1, Nanos: 1} })
		}},
		{"ApprovePlan/comment 1001", "comment", func() error {
			return ignoreRes(owner.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: pendingPlan, Comment: long(1001)})))
		}},
		{"ApprovePlan/comment control", "comment", func() error {
			return ignoreRes(owner.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: pendingPlan, Comment: "a\x00b"})))
		}},
		{"RejectPlan/comment 1001", "comment", func() error {
			return ignoreRes(owner.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: pendingPlan, Comment: long(1001)})))
		}},

		{"StartReview/name empty", "name", func() error { return startReview(func(m *nuxariv1.StartReviewRequest) { m.Name = "" }) }},
		{"StartReview/name 201", "name", func() error { return startReview(func(m *nuxariv1.StartReviewRequest) { m.Name = long(201) }) }},
		{"StartReview/name control", "name", func() error { return startReview(func(m *nuxariv1.StartReviewRequest) { m.Name = "a\nb" }) }},
		{"StartReview/reviewer_roles unknown", "reviewer_roles", func() error {
			return startReview(func(m *nuxariv1.StartReviewRequest) { m.ReviewerRoles = []string{"superuser"} })
		}},
		{"StartReview/reviewer_roles agent", "reviewer_roles", func() error {
			return startReview(func(m *nuxariv1.StartReviewRequest) { m.ReviewerRoles = []string{"agent"} })
		}},
		{"StartReview/reviewer_roles 65", "reviewer_roles", func() error {
			return startReview(func(m *nuxariv1.StartReviewRequest) { m.ReviewerRoles = roles65 })
		}},
		{"StartReview/reviewer_ids malformed", "reviewer_ids", func() error {
			return startReview(func(m *nuxariv1.StartReviewRequest) { m.ReviewerIds = []string{"U-1"} })
		}},
		{"DecideReview/decisions empty", "decisions", func() error { return decideReview() }},
		{"DecideReview/decisions 101", "decisions", func() error { return decideReview(decisions101...) }},
		{"DecideReview/item 0", "item", func() error { return decideReview(&nuxariv1.ReviewDecision{Item: 0}) }},
		{"DecideReview/item 2^31", "item", func() error { return decideReview(&nuxariv1.ReviewDecision{Item: 1 << 31}) }},
		{"DecideReview/item 2^32-1", "item", func() error { return decideReview(&nuxariv1.ReviewDecision{Item: math.MaxUint32}) }},
		{"DecideReview/item twice", "item", func() error {
			return decideReview(&nuxariv1.ReviewDecision{Item: 1}, &nuxariv1.ReviewDecision{Item: 1, Revoke: true})
		}},
		{"DecideReview/comment 1001", "comment", func() error {
			return decideReview(&nuxariv1.ReviewDecision{Item: 1, Comment: long(1001)})
		}},
		{"DecideReview/comment control", "comment", func() error {
			return decideReview(&nuxariv1.ReviewDecision{Item: 1, Comment: "a\x1bb"})
		}},
	}...)
	// Every access ID field, malformed.
	for name, id := range map[string]string{
		"empty": "", "path": "../" + accessPol.PolicyId, "upper case": strings.ToUpper(accessPol.PolicyId), "65 bytes": "p" + strings.Repeat("a", 64),
		"NUL": accessPol.PolicyId + "\x00", "non-ASCII": "pölicy", "space": accessPol.PolicyId + " ", "100k": "p" + long(100_000),
	} {
		for proc, c := range map[string]struct {
			field string
			call  func() error
		}{
			"GetPolicy": {"policy_id", func() error {
				return ignoreRes(owner.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: id})))
			}},
			"UpdatePolicy": {"policy_id", func() error { return updatePolicy(func(p *nuxariv1.Policy) { p.PolicyId = id }) }},
			"SubmitRequest connector_id": {"connector_id", func() error {
				return submit(func(m *nuxariv1.SubmitRequestRequest) { m.ConnectorId = id })
			}},
			"GetRequest": {"request_id", func() error {
				return ignoreRes(owner.Access.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: id})))
			}},
			"CancelRequest": {"request_id", func() error {
				return ignoreRes(owner.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: id})))
			}},
			"GetPlan": {"plan_id", func() error { return ignoreRes(owner.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: id}))) }},
			"ApprovePlan": {"plan_id", func() error {
				return ignoreRes(owner.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: id})))
			}},
			"RejectPlan": {"plan_id", func() error {
				return ignoreRes(owner.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: id})))
			}},
			"StartReview connector_id": {"connector_id", func() error {
				return startReview(func(m *nuxariv1.StartReviewRequest) { m.ConnectorId = id })
			}},
			"GetReview": {"review_id", func() error {
				return ignoreRes(owner.Access.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: id})))
			}},
			"ListReviewItems": {"review_id", func() error {
				return ignoreRes(owner.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: id})))
			}},
			"DecideReview": {"review_id", func() error {
				return ignoreRes(owner.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: id, Decisions: []*nuxariv1.ReviewDecision{{Item: 1}}})))
			}},
			"CancelReview": {"review_id", func() error {
				return ignoreRes(owner.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: id})))
			}},
		} {
			cases = append(cases, badCase{proc + "/" + c.field + " " + name, c.field, c.call})
		}
	}

	// Every connector and sync ID field, malformed.
	for name, id := range map[string]string{
		"empty": "", "path": "../" + connID, "upper case": strings.ToUpper(connID), "65 bytes": "c" + strings.Repeat("a", 64),
		"NUL": connID + "\x00", "non-ASCII": "cönnector", "space": connID + " ", "100k": "c" + long(100_000),
	} {
		for proc, call := range map[string]func() error{
			"GetConnector": func() error {
				return ignoreRes(owner.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id})))
			},
			"UpdateConnector": func() error {
				return ignoreRes(owner.Connectors.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id, Name: new("renamed")})))
			},
			"UpdateConnector settings": func() error {
				return ignoreRes(owner.Connectors.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id, Settings: okSettings})))
			},
			"TestConnector": func() error {
				return ignoreRes(owner.Connectors.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))
			},
			"PauseConnector": func() error {
				return ignoreRes(owner.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id})))
			},
			"ResumeConnector": func() error {
				return ignoreRes(owner.Connectors.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: id})))
			},
			"RotateCredentials": func() error {
				return ignoreRes(owner.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds(badPW)})))
			},
			"DecommissionConnector": func() error {
				return ignoreRes(owner.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id})))
			},
			"SyncConnector": func() error {
				return ignoreRes(owner.Connectors.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: id})))
			},
			"ListGrants": func() error {
				return ignoreRes(owner.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id})))
			},
		} {
			cases = append(cases, struct {
				name, field string
				call        func() error
			}{proc + "/connector_id " + name, "connector_id", call})
		}
		cases = append(cases, struct {
			name, field string
			call        func() error
		}{"GetSync/sync_id " + name, "sync_id", func() error {
			sid := id // the same faults in a sync ID
			if rest, ok := strings.CutPrefix(id, "c"); ok {
				sid = "s" + rest
			}
			return ignoreRes(owner.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: sid})))
		}})
	}
	for name, id := range map[string]string{
		"empty": "", "path": "../x", "upper case": strings.ToUpper(randID(12)), "65 bytes": strings.Repeat("a", 65),
		"NUL": "a\x00b", "non-ASCII": "jöin", "a whole join token": "nxj.bad." + strings.Repeat("A", 43),
	} {
		cases = append(cases, struct {
			name, field string
			call        func() error
		}{"RevokeJoinToken/join_token_id " + name, "join_token_id", func() error {
			return ignoreRes(owner.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: id})))
		}})
	}

	// Page sizes and garbage page tokens of every listing.
	listings := []struct {
		name string
		list func(size int32, tok string) (int, string, error)
	}{
		{"ListMembers", func(size int32, tok string) (int, string, error) {
			r, err := owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Members), r.Msg.NextPageToken, nil
		}},
		{"ListAPITokens", func(size int32, tok string) (int, string, error) {
			r, err := owner.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Tokens), r.Msg.NextPageToken, nil
		}},
		{"ListEvents", func(size int32, tok string) (int, string, error) {
			r, err := owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Events), r.Msg.NextPageToken, nil
		}},
		{"ListExports", func(size int32, tok string) (int, string, error) {
			r, err := owner.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Exports), r.Msg.NextPageToken, nil
		}},
		{"ListConnectors", func(size int32, tok string) (int, string, error) {
			r, err := owner.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Connectors), r.Msg.NextPageToken, nil
		}},
		{"ListJoinTokens", func(size int32, tok string) (int, string, error) {
			r, err := owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.JoinTokens), r.Msg.NextPageToken, nil
		}},
	}
	listings = append(listings, []struct {
		name string
		list func(size int32, tok string) (int, string, error)
	}{
		{"ListPolicies", func(size int32, tok string) (int, string, error) {
			r, err := owner.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Policies), r.Msg.NextPageToken, nil
		}},
		{"ListRequests", func(size int32, tok string) (int, string, error) {
			r, err := owner.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{PageSize: size, PageToken: tok, All: true}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Requests), r.Msg.NextPageToken, nil
		}},
		{"ListPlans", func(size int32, tok string) (int, string, error) {
			r, err := owner.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Plans), r.Msg.NextPageToken, nil
		}},
		{"ListAccessGrants", func(size int32, tok string) (int, string, error) {
			r, err := owner.Access.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Grants), r.Msg.NextPageToken, nil
		}},
		{"ListReviews", func(size int32, tok string) (int, string, error) {
			r, err := owner.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Reviews), r.Msg.NextPageToken, nil
		}},
		{"ListReviewItems", func(size int32, tok string) (int, string, error) {
			r, err := owner.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: openReview, PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.Items), r.Msg.NextPageToken, nil
		}},
	}...)
	garbage := map[string]string{
		"word":          "garbage",
		"not base64":    "!!!***",
		"zero tag":      base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"short":         "AAAA",
		"padded base64": base64.URLEncoding.EncodeToString(make([]byte, 20)),
		"5000 chars":    strings.Repeat("A", 5000),
		"flipped byte":  string(flipped),
		"NUL":           "\x00",
	}
	for _, l := range listings {
		for _, size := range []int32{-1, math.MinInt32, 1001, math.MaxInt32} {
			cases = append(cases, struct {
				name, field string
				call        func() error
			}{fmt.Sprintf("%s/page_size %d", l.name, size), "page_size", func() error { _, _, err := l.list(size, ""); return err }})
		}
		for name, tok := range garbage {
			cases = append(cases, struct {
				name, field string
				call        func() error
			}{l.name + "/page_token " + name, "page_token", func() error { _, _, err := l.list(1, tok); return err }})
		}
		if l.name != "ListMembers" {
			cases = append(cases, struct {
				name, field string
				call        func() error
			}{l.name + "/page_token of ListMembers", "page_token", func() error { _, _, err := l.list(1, memberTok); return err }})
		}
	}

	// ListGrants: the same, on a connector without a snapshot, whose
	// listing is empty.
	listGrants := func(size int32, tok string) error {
		return ignoreRes(owner.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: connID, PageSize: size, PageToken: tok})))
	}
	for _, size := range []int32{-1, math.MinInt32, 1001, math.MaxInt32} {
		cases = append(cases, struct {
			name, field string
			call        func() error
		}{fmt.Sprintf("ListGrants/page_size %d", size), "page_size", func() error { return listGrants(size, "") }})
	}
	connTok := must(owner.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{PageSize: 1})))(t).Msg.NextPageToken
	for name, tok := range garbage {
		cases = append(cases, struct {
			name, field string
			call        func() error
		}{"ListGrants/page_token " + name, "page_token", func() error { return listGrants(1, tok) }})
	}
	for name, tok := range map[string]string{"of ListMembers": memberTok, "of ListConnectors": connTok} {
		cases = append(cases, struct {
			name, field string
			call        func() error
		}{"ListGrants/page_token " + name, "page_token", func() error { return listGrants(1, tok) }})
	}

	t.Run("InvalidArgument", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				err := c.call()
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Fatalf("got %v, want InvalidArgument naming %s", err, c.field)
				}
				var ce *connect.Error
				if !errors.As(err, &ce) || !strings.Contains(ce.Message(), c.field) {
					t.Errorf("message %q does not name the field %s", ce.Message(), c.field)
				}
				if strings.Contains(ce.Message(), badPW) || strings.Contains(ce.Message(), "PRIVATE KEY") {
					t.Errorf("message %q quotes a credential", ce.Message())
				}
			})
		}
	})

	t.Run("page_size 0 means 100", func(t *testing.T) {
		for _, l := range listings {
			n, next, err := l.list(0, "")
			if err != nil {
				t.Errorf("%s page_size 0: %v", l.name, err)
				continue
			}
			if n == 0 || n > 100 {
				t.Errorf("%s page_size 0: %d items", l.name, n)
			}
			if l.name == "ListEvents" && (n != 100 || next == "") {
				t.Errorf("ListEvents page_size 0 of %d events: %d events, next %q; want 100 and a next page", size, n, next)
			}
		}
	})

	// Bytes the Go runtime refuses to marshal, sent by hand in each codec.
	// The codec refuses them before any handler runs, so the message says
	// what is wrong (UTF-8) but cannot name the field.
	// A connector's valid settings, in JSON and binary protobuf.
	connJSON := `"settings":{"postgres":{"host":"db.example.com","port":5432,"database":"postgres","user":"nuxari","tlsMode":"require"}}`
	connProto := protoMsg{}.msg(1, protoMsg{}.str(1, "db.example.com").varint(2, 5432).str(3, "postgres").str(4, "nuxari").str(5, "require"))
	t.Run("invalid UTF-8", func(t *testing.T) {
		jsonStr := func(s string) string {
			// A JSON string literal holding s's bytes verbatim.
			return `"` + s + `"`
		}
		raw := []struct {
			name, proc, token string
			json              string
			proto             protoMsg
		}{
			{"CreateOrg display_name", "/nuxari.v1.OrgService/CreateOrg", "",
				`{"orgId":"utf","displayName":` + jsonStr(badUTF8) + `,"ownerEmail":"u@example.com","ownerPassword":"` + ownerPW + `"}`,
				protoMsg{}.str(1, "utf").str(2, badUTF8).str(3, "u@example.com").str(5, ownerPW)},
			{"CreateOrg owner_password", "/nuxari.v1.OrgService/CreateOrg", "",
				`{"orgId":"utf","ownerEmail":"u@example.com","ownerPassword":` + jsonStr(badUTF8+"0123456789") + `}`,
				protoMsg{}.str(1, "utf").str(3, "u@example.com").str(5, badUTF8+"0123456789")},
			{"Login password", "/nuxari.v1.AuthService/Login", "",
				`{"orgId":"` + org + `","email":"owner@example.com","password":` + jsonStr(badUTF8) + `}`,
				protoMsg{}.str(1, org).str(2, "owner@example.com").str(3, badUTF8)},
			{"Login email", "/nuxari.v1.AuthService/Login", "",
				`{"orgId":"` + org + `","email":` + jsonStr("a\xff@example.com") + `,"password":"` + ownerPW + `"}`,
				protoMsg{}.str(1, org).str(2, "a\xff@example.com").str(3, ownerPW)},
			{"AddMember display_name", "/nuxari.v1.OrgService/AddMember", ownerTok,
				`{"email":"utf@example.com","displayName":` + jsonStr(badUTF8) + `,"role":"ROLE_READONLY"}`,
				protoMsg{}.str(1, "utf@example.com").str(2, badUTF8).varint(3, 6).str(4, "initial password")},
			{"CreateAPIToken name", "/nuxari.v1.AuthService/CreateAPIToken", ownerTok,
				`{"name":` + jsonStr(badUTF8) + `,"role":"ROLE_READONLY"}`,
				protoMsg{}.str(1, badUTF8).varint(2, 6)},
			{"ListEvents types", "/nuxari.v1.LedgerService/ListEvents", ownerTok,
				`{"types":[` + jsonStr(badUTF8) + `]}`,
				protoMsg{}.str(1, badUTF8)},
			{"AppendEvents type", "/nuxari.v1.LedgerService/AppendEvents", ownerTok,
				`{"events":[{"type":` + jsonStr("custom.\xff") + `}]}`,
				protoMsg{}.msg(1, protoMsg{}.str(1, "custom.\xff"))},
			{"AppendEvents data string", "/nuxari.v1.LedgerService/AppendEvents", ownerTok,
				`{"events":[{"type":"custom.utf","data":{"k":` + jsonStr(badUTF8) + `}}]}`,
				// NewEvent{type, data: Struct{fields: {"k": Value{string_value}}}}
				protoMsg{}.msg(1, protoMsg{}.str(1, "custom.utf").msg(2, protoMsg{}.msg(1, protoMsg{}.str(1, "k").msg(2, protoMsg{}.str(3, badUTF8)))))},
			{"AppendEvents data key", "/nuxari.v1.LedgerService/AppendEvents", ownerTok,
				`{"events":[{"type":"custom.utf","data":{` + jsonStr(badUTF8) + `:1}}]}`,
				protoMsg{}.msg(1, protoMsg{}.str(1, "custom.utf").msg(2, protoMsg{}.msg(1, protoMsg{}.str(1, badUTF8).msg(2, protoMsg{}.varint(4, 1)))))},
			{"CreateConnector name", "/nuxari.v1.ConnectorService/CreateConnector", ownerTok,
				`{"name":` + jsonStr(badUTF8) + `,` + connJSON + `,"credentials":{"postgres":{"password":"` + badPW + `"}}}`,
				protoMsg{}.str(1, badUTF8).msg(2, connProto).msg(3, protoMsg{}.msg(1, protoMsg{}.str(1, badPW)))},
			{"CreateConnector host", "/nuxari.v1.ConnectorService/CreateConnector", ownerTok,
				`{"name":"utf","settings":{"postgres":{"host":` + jsonStr(badUTF8) + `,"database":"postgres","user":"nuxari"}},"credentials":{"postgres":{"password":"` + badPW + `"}}}`,
				protoMsg{}.str(1, "utf").msg(2, protoMsg{}.msg(1, protoMsg{}.str(1, badUTF8).str(3, "postgres").str(4, "nuxari"))).msg(3, protoMsg{}.msg(1, protoMsg{}.str(1, badPW)))},
			{"CreateConnector password", "/nuxari.v1.ConnectorService/CreateConnector", ownerTok,
				`{"name":"utf",` + connJSON + `,"credentials":{"postgres":{"password":` + jsonStr(badPW+badUTF8) + `}}}`,
				protoMsg{}.str(1, "utf").msg(2, connProto).msg(3, protoMsg{}.msg(1, protoMsg{}.str(1, badPW+badUTF8)))},
			{"RotateCredentials client key", "/nuxari.v1.ConnectorService/RotateCredentials", ownerTok,
				`{"connectorId":"` + connID + `","credentials":{"postgres":{"clientKeyPem":` + jsonStr(badPW+badUTF8) + `}}}`,
				protoMsg{}.str(1, connID).msg(2, protoMsg{}.msg(1, protoMsg{}.str(2, badPW+badUTF8)))},
			{"PauseConnector reason", "/nuxari.v1.ConnectorService/PauseConnector", ownerTok,
				`{"connectorId":"` + connID + `","reason":` + jsonStr(badUTF8) + `}`,
				protoMsg{}.str(1, connID).str(2, badUTF8)},
		}
		for _, r := range raw {
			for _, enc := range []struct {
				ct   string
				body []byte
			}{{"application/json", []byte(r.json)}, {"application/proto", r.proto}} {
				t.Run(r.name+"/"+enc.ct, func(t *testing.T) {
					t.Parallel()
					res := postRaw(t, ts, r.proc, enc.ct, r.token, enc.body, nil)
					if res.code != "invalid_argument" || !strings.Contains(res.message, "UTF-8") {
						t.Errorf("HTTP %d %q %q, want invalid_argument about UTF-8", res.status, res.code, res.message)
					}
					if strings.Contains(res.message, badPW) {
						t.Errorf("the message quotes a credential: %q", res.message)
					}
				})
			}
		}
		// The same requests, well-formed, succeed: the bytes above are
		// the only fault.
		ok := postRaw(t, ts, "/nuxari.v1.AuthService/CreateAPIToken", "application/proto", ownerTok, protoMsg{}.str(1, "utf-ok").varint(2, 6), nil)
		if ok.status != http.StatusOK {
			t.Errorf("well-formed hand-built CreateAPIToken: HTTP %d %s", ok.status, ok.message)
		}
	})

	t.Run("connector kinds the server does not know", func(t *testing.T) {
		// A client built from a newer API may send settings or
		// credentials of a kind this server does not offer: a oneof
		// member it cannot decode, which it must refuse, naming the
		// field, without quoting the credential.
		unknownKind := protoMsg{}.msg(9, protoMsg{}.str(1, badPW+" of another kind"))
		for name, body := range map[string]protoMsg{
			"settings":    protoMsg{}.str(1, "kinds").msg(2, unknownKind).msg(3, protoMsg{}.msg(1, protoMsg{}.str(1, badPW))),
			"credentials": protoMsg{}.str(1, "kinds").msg(2, connProto).msg(3, unknownKind),
		} {
			t.Run(name, func(t *testing.T) {
				res := postRaw(t, ts, "/nuxari.v1.ConnectorService/CreateConnector", "application/proto", ownerTok, body, nil)
				if res.code != "invalid_argument" || !strings.Contains(res.message, name) || strings.Contains(res.message, badPW) {
					t.Errorf("HTTP %d %q %q, want invalid_argument naming %s", res.status, res.code, res.message, name)
				}
			})
		}
		res := postRaw(t, ts, "/nuxari.v1.ConnectorService/RotateCredentials", "application/proto", ownerTok, protoMsg{}.str(1, connID).msg(2, unknownKind), nil)
		if res.code != "invalid_argument" || !strings.Contains(res.message, "credentials") || strings.Contains(res.message, badPW) {
			t.Errorf("RotateCredentials: HTTP %d %q %q, want invalid_argument naming credentials", res.status, res.code, res.message)
		}
		res = postRaw(t, ts, "/nuxari.v1.ConnectorService/CreateConnector", "application/json", ownerTok,
			[]byte(`{"name":"kinds",`+connJSON+`,"credentials":{"ldap":{"password":"`+badPW+`"}}}`), nil)
		if res.code != "invalid_argument" || strings.Contains(res.message, badPW) {
			t.Errorf("JSON credentials of an unknown kind: HTTP %d %q %q, want invalid_argument", res.status, res.code, res.message)
		}
		for name, body := range map[string]string{
			"port negative":     `{"name":"json","settings":{"postgres":{"host":"h","port":-1,"database":"d","user":"u"}},"credentials":{"postgres":{"password":"p"}}}`,
			"port a word":       `{"name":"json","settings":{"postgres":{"host":"h","port":"many","database":"d","user":"u"}},"credentials":{"postgres":{"password":"p"}}}`,
			"port 2^32":         `{"name":"json","settings":{"postgres":{"host":"h","port":4294967296,"database":"d","user":"u"}},"credentials":{"postgres":{"password":"p"}}}`,
			"password a number": `{"name":"json",` + connJSON + `,"credentials":{"postgres":{"password":12345678}}}`,
			"interval a number": `{"name":"json",` + connJSON + `,"credentials":{"postgres":{"password":"p"}},"syncInterval":3600}`,
			"interval in hours": `{"name":"json",` + connJSON + `,"credentials":{"postgres":{"password":"p"}},"syncInterval":"1h"}`,
		} {
			res := postRaw(t, ts, "/nuxari.v1.ConnectorService/CreateConnector", "application/json", ownerTok, []byte(body), nil)
			if res.code != "invalid_argument" {
				t.Errorf("%s: HTTP %d %q %q, want invalid_argument", name, res.status, res.code, res.message)
			}
		}
	})

	t.Run("malformed ConnectorService and AccessService bodies", func(t *testing.T) {
		// Every procedure, the one without fields too, refuses a body its
		// codec cannot read.
		var procs []string
		for _, m := range nuxariMethods(t) {
			if strings.HasPrefix(m, "/nuxari.v1.ConnectorService/") || strings.HasPrefix(m, "/nuxari.v1.AccessService/") {
				procs = append(procs, m)
			}
		}
		if len(procs) != 14+21 {
			t.Fatalf("%d ConnectorService and AccessService procedures, want 14 + 21", len(procs))
		}
		for _, proc := range procs {
			for _, enc := range []struct {
				ct   string
				body []byte
			}{
				{"application/json", []byte(`{"connectorId":`)},
				{"application/json", []byte(`[]`)},
				{"application/proto", []byte{0x0a, 0x05, 'c'}},        // a field longer than the body
				{"application/proto", []byte{0xff, 0xff, 0xff, 0xff}}, // a tag that is no tag
			} {
				res := postRaw(t, ts, proc, enc.ct, ownerTok, enc.body, nil)
				if res.code != "invalid_argument" {
					t.Errorf("%s %s %q: HTTP %d %q %q, want invalid_argument", proc, enc.ct, enc.body, res.status, res.code, res.message)
				}
			}
		}
	})

	t.Run("JSON enums and escapes", func(t *testing.T) {
		for name, body := range map[string]string{
			"role 99":        `{"email":"e1@example.com","role":99}`,
			"role name":      `{"email":"e2@example.com","role":"ROLE_SUPERUSER"}`,
			"role null":      `{"email":"e3@example.com","role":null}`,
			"lone surrogate": `{"email":"e4@example.com","displayName":"\ud800","role":"ROLE_READONLY"}`,
			"role as string": `{"email":"e5@example.com","role":"6x"}`,
		} {
			t.Run(name, func(t *testing.T) {
				res := postRaw(t, ts, "/nuxari.v1.OrgService/AddMember", "application/json", ownerTok, []byte(body), nil)
				if res.code != "invalid_argument" || res.message == "" {
					t.Errorf("HTTP %d %q %q, want invalid_argument", res.status, res.code, res.message)
				}
				if strings.HasPrefix(name, "role") && !strings.Contains(res.message, "role") {
					t.Errorf("message %q does not name role", res.message)
				}
			})
		}
	})

	t.Run("bad credentials", func(t *testing.T) {
		for name, auth := range map[string]string{
			"empty bearer":  "Bearer ",
			"basic":         "Basic " + base64.StdEncoding.EncodeToString([]byte("owner@example.com:"+ownerPW)),
			"bearer lower":  "bearer " + ownerTok,
			"invalid UTF-8": "Bearer " + badUTF8,
			"too long":      "Bearer " + ownerTok + strings.Repeat("A", 10_000),
			"agent kind":    "Bearer nxg." + org + ownerTok[len("nxs."+org):],
		} {
			t.Run(name, func(t *testing.T) {
				res := postRaw(t, ts, "/nuxari.v1.AuthService/WhoAmI", "application/json", "", []byte("{}"), map[string]string{"Authorization": auth})
				if res.code != "unauthenticated" {
					t.Errorf("HTTP %d %q %q, want unauthenticated", res.status, res.code, res.message)
				}
			})
		}
	})

	t.Run("over 4 MiB", func(t *testing.T) {
		big := strings.Repeat("b", 5<<20)
		check := func(what string, err error) {
			t.Helper()
			switch connect.CodeOf(err) {
			case connect.CodeResourceExhausted, connect.CodeInvalidArgument:
			default:
				t.Errorf("%s: got %v, want ResourceExhausted or InvalidArgument", what, err)
			}
		}
		for _, p := range servertest.Protocols {
			c := ts.ClientsFor(ownerTok, p)
			_, err := c.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "big@example.com", DisplayName: big, Role: nuxariv1.Role_ROLE_READONLY}))
			check(string(p), err)
		}
		// Compressed, the request is small; inflated, it is 5 MiB.
		gz := client.New(ts.URL, ownerTok, connect.WithSendGzip())
		_, err := gz.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "big@example.com", DisplayName: big, Role: nuxariv1.Role_ROLE_READONLY}))
		check("gzip", err)
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		fmt.Fprintf(zw, `{"email":"big@example.com","displayName":"%s","role":"ROLE_READONLY"}`, strings.Repeat("z", 64<<20))
		zw.Close()
		res := postRaw(t, ts, "/nuxari.v1.OrgService/AddMember", "application/json", ownerTok, zb.Bytes(), map[string]string{"Content-Encoding": "gzip"})
		if res.code != "resource_exhausted" && res.code != "invalid_argument" {
			t.Errorf("64 MiB gzip bomb: HTTP %d %q %q", res.status, res.code, res.message)
		}
		res = postRaw(t, ts, "/nuxari.v1.OrgService/AddMember", "application/json", ownerTok, []byte(`{"displayName":"`+big+`"}`), nil)
		if res.code != "resource_exhausted" && res.code != "invalid_argument" {
			t.Errorf("raw 5 MiB JSON: HTTP %d %q %q", res.status, res.code, res.message)
		}
		// The server still answers, and nothing was added.
		if _, err := owner.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})); err != nil {
			t.Fatalf("after oversized requests: %v", err)
		}
		members, err := owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1000}))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range members.Msg.Members {
			if m.Email == "big@example.com" {
				t.Errorf("an oversized AddMember added %s", m.UserId)
			}
		}
	})

	logs := ts.Logs.String()
	for _, bad := range []string{"panic", `"internal error"`, "code\":\"internal", "code\":\"unknown"} {
		if strings.Contains(logs, bad) {
			t.Errorf("server log contains %s", bad)
		}
	}
	if _, err := owner.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})); err != nil {
		t.Fatalf("server no longer answers: %v", err)
	}
	t.Logf("%d InvalidArgument cases", len(cases))
}

// TestMalformedJSONQuotesNothing: a password sent unquoted is not echoed
// back in the error.
func TestMalformedJSONQuotesNothing(t *testing.T) {
	ts := servertest.Start(t)
	r, err := http.Post(ts.URL+"/nuxari.v1.AuthService/Login", "application/json",
		strings.NewReader(`{"orgId":"ex","email":"o@example.com","password":BarePassword123}`))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "BarePassword123") || !strings.Contains(string(b), "nuxari.v1.LoginRequest") {
		t.Fatalf("HTTP %d: %s", r.StatusCode, b)
	}
}
