package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

const ownerPW = "owner password 1"

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

// must(v, err)(t) returns v, failing t on err.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
}

// waitCheckpoint polls until the org's latest checkpoint covers size.
func waitCheckpoint(t *testing.T, c servertest.Clients, size uint64) *nuxariv1.GetCheckpointResponse {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.Ledger.GetCheckpoint(context.Background(), req(&nuxariv1.GetCheckpointRequest{}))
		if err == nil && res.Msg.Checkpoint.Size >= size {
			return res.Msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size ≥ %d: %v", size, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEveryRPC drives every RPC of every nuxari.v1 service over a real
// HTTP/2 listener, as a new org's owner would.
func TestEveryRPC(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	anon := ts.Clients("")

	created := must(anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{
		OrgId: "acme", DisplayName: "Acme Corp", OwnerEmail: "Ada@Example.com", OwnerDisplayName: "Ada", OwnerPassword: ownerPW,
	})))(t)
	if created.Msg.Org.OrgId != "acme" || created.Msg.Owner.Role != nuxariv1.Role_ROLE_OWNER || created.Msg.Owner.Email != "ada@example.com" {
		t.Fatalf("CreateOrg: %v", created.Msg)
	}
	_, err := anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{OrgId: "acme", OwnerEmail: "x@example.com", OwnerPassword: ownerPW}))
	wantCode(t, err, connect.CodeAlreadyExists)

	login := must(anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "acme", Email: "ada@example.com", Password: ownerPW})))(t)
	if !strings.HasPrefix(login.Msg.SessionToken, "nxs.acme.") || login.Msg.Principal.UserId != created.Msg.Owner.UserId {
		t.Fatalf("Login: %v", login.Msg.Principal)
	}
	owner := ts.Clients(login.Msg.SessionToken)

	who := must(owner.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})))(t)
	if who.Msg.Principal.OrgId != "acme" || who.Msg.Principal.Role != nuxariv1.Role_ROLE_OWNER {
		t.Fatalf("WhoAmI: %v", who.Msg.Principal)
	}
	org := must(owner.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{})))(t)
	if org.Msg.Org.DisplayName != "Acme Corp" || org.Msg.Org.LogOrigin != "nuxari/orgs/acme" || org.Msg.Org.Retention.AsDuration() != 7*365*24*time.Hour {
		t.Fatalf("GetOrg: %v", org.Msg.Org)
	}
	upd := must(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{
		DisplayName: new("Acme Inc"), Retention: durationpb.New(10 * 365 * 24 * time.Hour),
	})))(t)
	if upd.Msg.Org.DisplayName != "Acme Inc" || upd.Msg.Org.Retention.AsDuration() != 10*365*24*time.Hour {
		t.Fatalf("UpdateOrgSettings: %v", upd.Msg.Org)
	}

	added := must(owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{
		Email: "bob@example.com", DisplayName: "Bob", Role: nuxariv1.Role_ROLE_AUDITOR,
	})))(t)
	bob := added.Msg.Member.UserId
	if _, err := ts.Clients("").Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "acme", Email: "bob@example.com", Password: "bob password 1"})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("login before the member set a password: %v", err)
	}
	ts.SetPassword(t, added.Msg.GetSetup().GetSetupToken(), "bob password 1")
	_, err = owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "BOB@example.com", Role: nuxariv1.Role_ROLE_READONLY}))
	wantCode(t, err, connect.CodeAlreadyExists)
	role := must(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: bob, Role: nuxariv1.Role_ROLE_ADMIN})))(t)
	if role.Msg.Member.Role != nuxariv1.Role_ROLE_ADMIN {
		t.Fatalf("SetMemberRole: %v", role.Msg.Member)
	}
	_, err = owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: who.Msg.Principal.UserId, Role: nuxariv1.Role_ROLE_ADMIN}))
	wantCode(t, err, connect.CodePermissionDenied)

	members := must(owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1})))(t)
	if len(members.Msg.Members) != 1 || members.Msg.NextPageToken == "" {
		t.Fatalf("ListMembers page 1: %v", members.Msg)
	}
	page2 := must(owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1, PageToken: members.Msg.NextPageToken})))(t)
	if len(page2.Msg.Members) != 1 || page2.Msg.NextPageToken != "" || page2.Msg.Members[0].UserId == members.Msg.Members[0].UserId {
		t.Fatalf("ListMembers page 2: %v", page2.Msg)
	}

	tok := must(owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "ci", Role: nuxariv1.Role_ROLE_ADMIN})))(t)
	if !strings.HasPrefix(tok.Msg.Secret, "nxa.acme.") || tok.Msg.Token.TokenId == "" {
		t.Fatalf("CreateAPIToken: %v", tok.Msg.Token)
	}
	tokens := must(owner.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{})))(t)
	if len(tokens.Msg.Tokens) != 1 || tokens.Msg.Tokens[0].TokenId != tok.Msg.Token.TokenId {
		t.Fatalf("ListAPITokens: %v", tokens.Msg)
	}
	bot := ts.Clients(tok.Msg.Secret)
	botWho := must(bot.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})))(t)
	if botWho.Msg.Principal.ApiTokenId != tok.Msg.Token.TokenId || botWho.Msg.Principal.Role != nuxariv1.Role_ROLE_ADMIN {
		t.Fatalf("WhoAmI as token: %v", botWho.Msg.Principal)
	}

	data := must(structpb.NewStruct(map[string]any{"service": "api", "version": "1.2.3", "replicas": 3}))(t)
	app := must(bot.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{
		{Type: "custom.deploy", Data: data, IdempotencyKey: "deploy-1"},
		{Type: "custom.deploy.verified"},
	}})))(t)
	if len(app.Msg.Events) != 2 || app.Msg.Checkpoint == nil || app.Msg.Checkpoint.Size <= app.Msg.Events[1].Index {
		t.Fatalf("AppendEvents: %v", app.Msg)
	}
	again := must(bot.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{
		{Type: "custom.deploy", Data: data, IdempotencyKey: "deploy-1"},
	}})))(t)
	if !again.Msg.Events[0].Duplicate || again.Msg.Events[0].Index != app.Msg.Events[0].Index {
		t.Fatalf("idempotent retry: %v", again.Msg)
	}
	idx := app.Msg.Events[0].Index

	cp := waitCheckpoint(t, owner, idx+2)
	v := must(verify.NewVerifier(cp.VerifierKey, org.Msg.Org.LogOrigin))(t)
	checkpoint := must(v.Checkpoint([]byte(cp.Checkpoint.Note)))(t)

	ev := must(owner.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: idx})))(t)
	if ev.Msg.Event.Type != "custom.deploy" || ev.Msg.Event.Actor != "token:"+tok.Msg.Token.TokenId {
		t.Fatalf("GetEvent: %v", ev.Msg.Event)
	}
	lf := must(verify.LeafAt(ev.Msg.Event.Leaf, "acme", idx))(t)
	if !bytes.Contains(lf.Event, []byte(`"data":{"replicas":3,"service":"api","version":"1.2.3"}`)) {
		t.Fatalf("leaf event: %s", lf.Event)
	}
	incl := must(owner.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: idx})))(t)
	if err := verify.Inclusion(verify.LeafHash(ev.Msg.Event.Leaf), idx, incl.Msg.TreeSize, incl.Msg.Hashes, checkpoint.Root); err != nil || incl.Msg.TreeSize != checkpoint.Size {
		t.Fatalf("inclusion proof: %v (tree size %d, checkpoint %d)", err, incl.Msg.TreeSize, checkpoint.Size)
	}
	first := must(owner.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{Size: app.Msg.Checkpoint.Size})))(t)
	older := must(v.Checkpoint([]byte(first.Msg.Checkpoint.Note)))(t)
	cons := must(owner.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: older.Size})))(t)
	if err := verify.Consistency(older.Size, cons.Msg.Size2, cons.Msg.Hashes, older.Root, must(v.Checkpoint([]byte(cons.Msg.Checkpoint2.Note)))(t).Root); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}

	// Every event so far, then filtered by type, actor and time.
	all := must(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1000})))(t)
	var types []string
	for _, e := range all.Msg.Events {
		types = append(types, e.Type)
	}
	want := "org.created auth.login.succeeded org.settings_changed member.added auth.login.failed member.password_set member.role_changed auth.api_token.created custom.deploy custom.deploy.verified"
	if got := strings.Join(types, " "); !strings.HasPrefix(got, want) {
		t.Fatalf("events:\n got %s\nwant %s…", got, want)
	}
	deploys := must(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{Types: []string{"custom.deploy"}, Actor: "token:" + tok.Msg.Token.TokenId})))(t)
	if len(deploys.Msg.Events) != 1 || deploys.Msg.Events[0].Index != idx {
		t.Fatalf("filtered events: %v", deploys.Msg.Events)
	}
	at := all.Msg.Events[idx].Time
	window := must(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{
		StartTime: at, EndTime: timestamppb.New(at.AsTime().Add(time.Nanosecond)),
	})))(t)
	if len(window.Msg.Events) == 0 || window.Msg.Events[0].Index != idx {
		t.Fatalf("time window: %v", window.Msg.Events)
	}
	paged := must(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 2})))(t)
	next := must(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 2, PageToken: paged.Msg.NextPageToken})))(t)
	if len(next.Msg.Events) != 2 || next.Msg.Events[0].Index != 2 {
		t.Fatalf("events page 2: %v", next.Msg.Events)
	}
	_, err = owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 2, Actor: "x", PageToken: paged.Msg.NextPageToken}))
	wantCode(t, err, connect.CodeInvalidArgument)

	must(owner.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: tok.Msg.Token.TokenId})))(t)
	_, err = bot.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	bobTok := ts.Login(t, "acme", "bob@example.com", "bob password 1")
	must(owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: bob})))(t)
	_, err = ts.Clients(bobTok).Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: who.Msg.Principal.UserId}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	must(owner.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{})))(t)
	_, err = owner.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

// TestProtocols calls the same RPCs in each protocol served on the one
// listener.
func TestProtocols(t *testing.T) {
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "proto", "p@example.com", ownerPW)
	for _, p := range servertest.Protocols {
		t.Run(string(p), func(t *testing.T) {
			c := ts.ClientsFor(tok, p)
			who, err := c.Auth.WhoAmI(context.Background(), req(&nuxariv1.WhoAmIRequest{}))
			if err != nil || who.Msg.Principal.OrgId != "proto" {
				t.Fatalf("WhoAmI over %s: %v", p, err)
			}
			_, err = c.Org.SetMemberRole(context.Background(), req(&nuxariv1.SetMemberRoleRequest{UserId: "nosuchuser", Role: nuxariv1.Role_ROLE_ADMIN}))
			wantCode(t, err, connect.CodeNotFound)
			_, err = ts.ClientsFor("", p).Auth.WhoAmI(context.Background(), req(&nuxariv1.WhoAmIRequest{}))
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
}

// TestConnectJSONWithCurlShape posts plain JSON as curl would.
func TestConnectJSONWithCurlShape(t *testing.T) {
	ts := servertest.Start(t)
	post := func(path, token, body string) (int, map[string]any) {
		r, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %s", path, b)
		}
		if res.Header.Get("Request-Id") == "" {
			t.Errorf("%s: no Request-Id header", path)
		}
		return res.StatusCode, m
	}
	code, _ := post("/nuxari.v1.OrgService/CreateOrg", "", `{"orgId":"curl","ownerEmail":"c@example.com","ownerPassword":"`+ownerPW+`"}`)
	if code != 200 {
		t.Fatalf("CreateOrg: HTTP %d", code)
	}
	_, m := post("/nuxari.v1.AuthService/Login", "", `{"orgId":"curl","email":"c@example.com","password":"`+ownerPW+`"}`)
	tok, _ := m["sessionToken"].(string)
	code, m = post("/nuxari.v1.AuthService/WhoAmI", tok, `{}`)
	if code != 200 || m["principal"].(map[string]any)["orgId"] != "curl" {
		t.Fatalf("WhoAmI: %d %v", code, m)
	}
	code, m = post("/nuxari.v1.AuthService/WhoAmI", "", `{}`)
	if code != 401 || m["code"] != "unauthenticated" {
		t.Fatalf("WhoAmI without token: %d %v", code, m)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ts := servertest.Start(t)
	hc := grpchealth.NewClient(servertest.HTTPClient(), ts.URL, connect.WithGRPC())
	res, err := hc.Check(context.Background(), &grpchealth.CheckRequest{})
	if err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("health: %v %v", res, err)
	}
	ts.Signup(t, "metrics", "m@example.com", ownerPW)
	r, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	for _, want := range []string{
		`nuxari_rpc_requests_total{code="ok",procedure="/nuxari.v1.AuthService/Login"} 1`,
		`nuxari_rpc_duration_seconds_bucket{code="ok",procedure="/nuxari.v1.OrgService/CreateOrg"`,
		"nuxari_ledger_",
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if bytes.Contains(b, []byte(`"metrics"`)) {
		t.Errorf("an org ID is a metric label")
	}
}

// TestSignupDisabled: with sign-up off, only the operator creates orgs.
func TestSignupDisabled(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.SignupDisabled = true })
	_, err := ts.Clients("").Org.CreateOrg(context.Background(), req(&nuxariv1.CreateOrgRequest{OrgId: "x", OwnerEmail: "x@example.com", OwnerPassword: ownerPW}))
	wantCode(t, err, connect.CodePermissionDenied)
	if !strings.Contains(err.Error(), "sign-up is turned off") {
		t.Fatalf("unhelpful message: %v", err)
	}
}
