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
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	ts := servertest.Start(t)
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
		{"ListJoinTokens", func(size int32, tok string) (int, string, error) {
			r, err := owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: size, PageToken: tok}))
			if err != nil {
				return 0, "", err
			}
			return len(r.Msg.JoinTokens), r.Msg.NextPageToken, nil
		}},
	}
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
		gz := servertest.NewClients(ts.URL, ownerTok, connect.WithSendGzip())
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
