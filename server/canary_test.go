package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server/servertest"
)

// canary is a secret whose every spelling a test looks for.
type canary struct {
	name  string
	forms [][]byte
}

// newCanary returns the forms of secret s: raw, hex (either case), and
// base64 in the standard and URL alphabets, padded and not, including the
// part of the encoding that is the same wherever s sits in a longer
// encoded string (each of the three alignments).
func newCanary(name, s string) canary {
	c := canary{name: name}
	add := func(f string) {
		if len(f) >= 8 {
			c.forms = append(c.forms, []byte(f))
		}
	}
	add(s)
	add(hex.EncodeToString([]byte(s)))
	add(strings.ToUpper(hex.EncodeToString([]byte(s))))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(s)))
		for k := range 3 {
			e := base64.RawStdEncoding.EncodeToString(append(make([]byte, k), s...))
			if enc == base64.URLEncoding || enc == base64.RawURLEncoding {
				e = base64.RawURLEncoding.EncodeToString(append(make([]byte, k), s...))
			}
			lo := 0
			if k > 0 {
				lo = 4
			}
			if len(e)-4 > lo {
				add(e[lo : len(e)-4])
			}
		}
	}
	return c
}

// tokenCanaries returns canaries of a bearer token and of its secret
// body alone (the part after the org), raw and decoded.
func tokenCanaries(name, tok string) []canary {
	out := []canary{newCanary(name, tok)}
	if i := strings.LastIndexByte(tok, '.'); i >= 0 {
		body := tok[i+1:]
		out = append(out, newCanary(name+" body", body))
		if raw, err := base64.RawURLEncoding.DecodeString(body); err == nil {
			out = append(out, canary{name: name + " body bytes", forms: [][]byte{raw}})
		}
	}
	return out
}

// leaks returns the canaries found in b.
func leaks(b []byte, cs []canary) []string {
	var out []string
	for _, c := range cs {
		for _, f := range c.forms {
			if bytes.Contains(b, f) {
				out = append(out, c.name+" as "+string(f))
				break
			}
		}
	}
	return out
}

// TestSecretsNeverLeak runs sign-up, logins (good and failed), a member
// who sets a password with a setup token, an API token made and used, appends and
// reads, connectors whose passwords and client keys are canaries through
// their whole life (against PostgreSQL when the tests have it), and
// logouts, all with unique canary secrets, then looks for any
// spelling of any of them in every server log line, the metrics, every
// leaf of the org's log, the data directory, an evidence package, and
// every RPC response — except the session token in its own Login
// response, the API token in its own CreateAPIToken response and the
// member's setup token in its own AddMember response.
func TestSecretsNeverLeak(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	org := "canary-" + randID(4)
	ownerEmail, memberEmail := "owner@example.com", "member@example.com"
	ownerPW := "CanaryOwnerPw" + randID(12)
	wrongPW := "CanaryWrongPw" + randID(12)
	initPW := "CanaryInitPw" + randID(12)
	// A well-formed API token of the org that was never issued.
	forged := "nxa." + org + "." + base64.RawURLEncoding.EncodeToString([]byte(randID(16))[:32])

	rec := &respRecorder{redact: func(m proto.Message) proto.Message {
		// The one place each token may appear: its own response.
		switch r := m.(type) {
		case *nuxariv1.LoginResponse:
			c := proto.Clone(r).(*nuxariv1.LoginResponse)
			c.SessionToken = ""
			return c
		case *nuxariv1.CreateAPITokenResponse:
			c := proto.Clone(r).(*nuxariv1.CreateAPITokenResponse)
			c.Secret = ""
			return c
		case *nuxariv1.AddMemberResponse:
			c := proto.Clone(r).(*nuxariv1.AddMemberResponse)
			c.Setup.SetupToken = ""
			return c
		}
		return m
	}}
	clients := func(tok string, p servertest.Protocol) servertest.Clients { return recordingClients(ts, rec, tok, p) }
	anon := clients("", servertest.Connect)
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wantUnauth := func(what string, err error) {
		t.Helper()
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("%s: got %v, want Unauthenticated", what, err)
		}
	}
	var sessions []string
	login := func(email, pw string, p servertest.Protocol) string {
		t.Helper()
		res, err := clients("", p).Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: email, Password: pw}))
		check("Login "+email, err)
		sessions = append(sessions, res.Msg.SessionToken)
		return res.Msg.SessionToken
	}

	created, err := anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{OrgId: org, DisplayName: "Canary Org", OwnerEmail: ownerEmail, OwnerPassword: ownerPW}))
	check("CreateOrg", err)
	ownerID := created.Msg.Owner.UserId
	ownerSess := login(ownerEmail, ownerPW, servertest.Connect)
	owner := clients(ownerSess, servertest.Connect)

	// Failed logins, in every protocol: wrong password, unknown email,
	// unknown org.
	for _, p := range servertest.Protocols {
		_, err := clients("", p).Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: ownerEmail, Password: wrongPW}))
		wantUnauth("wrong password over "+string(p), err)
	}
	_, err = anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: "nobody@example.com", Password: wrongPW}))
	wantUnauth("unknown email", err)
	_, err = anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "no-such-org", Email: ownerEmail, Password: ownerPW}))
	wantUnauth("unknown org", err)
	// Refused before any lookup, with the password in the request.
	_, err = anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: "not an email", Password: ownerPW}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("login with a malformed email: %v", err)
	}
	_, err = anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{OrgId: org, OwnerEmail: "x@example.com", OwnerPassword: ownerPW}))
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("CreateOrg again: %v", err)
	}

	addedMember, err := owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: memberEmail, DisplayName: "Member", Role: nuxariv1.Role_ROLE_ADMIN}))
	check("AddMember", err)
	setupTok := addedMember.Msg.GetSetup().GetSetupToken()
	_, err = anon.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: setupTok, NewPassword: initPW}))
	check("SetPassword", err)
	_, err = anon.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: setupTok, NewPassword: initPW}))
	wantUnauth("setup token used twice", err)
	_, err = owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: memberEmail, Role: nuxariv1.Role_ROLE_ADMIN}))
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("AddMember again: %v", err)
	}
	_, err = anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: memberEmail, Password: wrongPW}))
	wantUnauth("member, wrong password", err)
	memberSess := login(memberEmail, initPW, servertest.GRPC)
	member := clients(memberSess, servertest.GRPC)

	made, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "ci", Role: nuxariv1.Role_ROLE_ADMIN}))
	check("CreateAPIToken", err)
	apiTok := made.Msg.Secret
	if apiTok == "" || made.Msg.Token.TokenId == "" || strings.Contains(apiTok, made.Msg.Token.TokenId) {
		t.Fatalf("CreateAPIToken: %v", made.Msg.Token)
	}

	// The token in use, in every protocol.
	for _, p := range servertest.Protocols {
		bot := clients(apiTok, p)
		_, err := bot.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
		check("WhoAmI as token", err)
		data, err := structpb.NewStruct(map[string]any{"release": "v1." + string(p), "ok": true})
		check("struct", err)
		app, err := bot.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.deploy", Data: data, IdempotencyKey: "deploy-" + string(p)}}}))
		check("AppendEvents", err)
		_, err = bot.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: app.Msg.Events[0].Index}))
		check("GetEvent", err)
		_, err = bot.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1000}))
		check("ListEvents", err)
		_, err = bot.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: app.Msg.Events[0].Index, TreeSize: app.Msg.Checkpoint.GetSize()}))
		check("GetInclusionProof", err)
		// API tokens have no session: Logout is refused.
		_, err = bot.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))
		if connect.CodeOf(err) != connect.CodeFailedPrecondition {
			t.Fatalf("Logout with an API token: %v", err)
		}
		_, err = bot.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "nope", Role: nuxariv1.Role_ROLE_READONLY}))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("CreateAPIToken with an API token: %v", err)
		}
	}
	_, err = clients(forged, servertest.Connect).Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
	wantUnauth("forged token", err)
	_, err = clients(apiTok+"x", servertest.GRPC).Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
	wantUnauth("token with a byte more", err)

	// Everything a member or owner can read.
	size, err := ts.Ledger().Size(org)
	check("Size", err)
	waitCheckpointAt(t, owner, size)
	for _, c := range []servertest.Clients{owner, member} {
		_, err = c.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
		check("WhoAmI", err)
		_, err = c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))
		check("GetOrg", err)
		_, err = c.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{}))
		check("ListMembers", err)
		_, err = c.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{}))
		check("ListAPITokens", err)
		_, err = c.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1000}))
		check("ListEvents", err)
		for i := range size {
			_, err = c.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: i}))
			check("GetEvent", err)
		}
		_, err = c.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{}))
		check("GetCheckpoint", err)
	}
	_, err = owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{Types: []string{"auth.login.failed"}}))
	check("ListEvents failed logins", err)

	// Connectors, each credential a canary: a password connector tested,
	// synced, rotated (to a second canary, then to a third the system
	// refuses), paused, resumed, listed, its grants listed, the org's
	// sealing key rotated and every credential resealed, tested again;
	// and a client-certificate connector whose key is a canary, rotated to
	// another key and decommissioned. With PostgreSQL the password
	// connector logs in as a role whose password is the canary; without,
	// it reaches nothing, and its failures must leak as little.
	connPW := "CanaryConnPw" + randID(12)
	connPW2 := "CanaryConnRotatedPw" + randID(12)
	connPWBad := "CanaryConnRefusedPw" + randID(12)
	certPEM, keyPEM := clientCertPEM(t, "canary")
	certPEM2, keyPEM2 := clientCertPEM(t, "canary")
	pg, havePG := pgtest.Lookup(t)
	settings := unreachableSettings(t)
	setPW := func(string) {}
	var identity, group string // with PostgreSQL: a login role and a group role it may request
	if havePG {
		admin := pg.Admin(t, pg.Database)
		prefix := pgtest.NewPrefix(t)
		pgtest.DropRoles(t, admin, prefix)
		role := prefix + "canary"
		pgLoginRole(t, admin, role, connPW)
		identity, group = prefix+"canary_user", prefix+"canary_group"
		pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(identity)+" LOGIN", "CREATE ROLE "+pgtest.Ident(group)+" NOLOGIN")
		settings = pgSettings(pg, prefix, role)
		setPW = func(pw string) { pgSetPassword(t, admin, role, pw) }
	} else {
		t.Log("no PostgreSQL: the connector reaches nothing, and every use of its credentials fails")
	}
	cc, mc := owner.Connectors, member.Connectors
	connMade, err := cc.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{Name: "canary db", Settings: settings, Credentials: pgCreds(connPW)}))
	check("CreateConnector", err)
	connID := connMade.Msg.Connector.ConnectorId
	testConn := func(c nuxariv1connect.ConnectorServiceClient, id string, want bool) {
		t.Helper()
		res, err := c.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id}))
		check("TestConnector", err)
		if res.Msg.Ok != want {
			t.Fatalf("TestConnector: %v, want ok %v", res.Msg, want)
		}
	}
	testConn(cc, connID, havePG)
	sy := syncNow(t, owner, connID)
	if (sy.State == syncSucceeded) != havePG {
		t.Fatalf("sync: %v", sy)
	}
	setPW(connPW2)
	_, err = mc.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: connID, Credentials: pgCreds(connPW2)}))
	if havePG {
		check("RotateCredentials", err)
	} else if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("RotateCredentials against nothing: %v", err)
	}
	testConn(mc, connID, havePG)
	_, err = cc.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: connID, Credentials: pgCreds(connPWBad)}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("RotateCredentials to a refused password: %v", err)
	}
	_, err = mc.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: connID, Reason: "canary pause"}))
	check("PauseConnector", err)
	_, err = mc.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: connID}))
	check("ResumeConnector", err)
	_, err = cc.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: connID, Name: new("canary db renamed")}))
	check("UpdateConnector", err)

	keySettings := unreachableSettings(t)
	keySettings.GetPostgres().TlsMode, keySettings.GetPostgres().ClientCertPem = "require", certPEM
	keyCreds := func(key string) *nuxariv1.ConnectorCredentials {
		return &nuxariv1.ConnectorCredentials{Kind: &nuxariv1.ConnectorCredentials_Postgres{Postgres: &nuxariv1.PostgresCredentials{ClientKeyPem: key}}}
	}
	keyMade, err := mc.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{Name: "canary cert", Settings: keySettings, Credentials: keyCreds(keyPEM)}))
	check("CreateConnector with a client key", err)
	keyConnID := keyMade.Msg.Connector.ConnectorId
	testConn(mc, keyConnID, false)
	// A new key comes with its certificate, in one rotation; an update
	// of the certificate alone is refused.
	keySettings.GetPostgres().ClientCertPem = certPEM2
	_, err = cc.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: keyConnID, Settings: keySettings}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("UpdateConnector with a certificate the stored key does not pair with: %v", err)
	}
	_, err = cc.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: keyConnID, Credentials: keyCreds(keyPEM2), Settings: keySettings}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("RotateCredentials of the client key against nothing: %v", err)
	}

	rot, err := cc.RotateSealingKey(ctx, req(&nuxariv1.RotateSealingKeyRequest{}))
	check("RotateSealingKey", err)
	if keys := waitReseal(t, owner, rot.Msg.ResealJobId); keys.ResealState != "succeeded" || len(keys.Keys) != 2 {
		t.Fatalf("reseal: %v", keys)
	}
	testConn(cc, connID, havePG)
	testConn(cc, keyConnID, false)
	for _, c := range []nuxariv1connect.ConnectorServiceClient{cc, mc} {
		_, err = c.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{}))
		check("ListConnectors", err)
		for _, id := range []string{connID, keyConnID} {
			_, err = c.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id}))
			check("GetConnector", err)
			_, err = c.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id}))
			check("ListGrants", err)
		}
		_, err = c.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: sy.SyncId}))
		check("GetSync", err)
		_, err = c.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{}))
		check("GetSealingKeys", err)
	}
	_, err = mc.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: keyConnID, Reason: "canary"}))
	check("DecommissionConnector", err)

	// Access through the password connector: a policy, and with
	// PostgreSQL a request the owner approves, its plan run with the
	// canary credential, a baseline, drift, and a review that revokes.
	ac, am := owner.Access, member.Access
	pol, err := ac.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: &nuxariv1.Policy{
		Name: "canary policy", ConnectorId: connID, Approvals: 1, ApproverRoles: []string{"owner"}, RemediateDrift: true,
	}}))
	check("CreatePolicy", err)
	if havePG {
		if sy := syncNow(t, owner, connID); sy.State != syncSucceeded {
			t.Fatalf("sync: %v", sy)
		}
		sub, err := am.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{ConnectorId: connID, IdentityId: identity, EntitlementId: group, Justification: "canary access"}))
		check("SubmitRequest", err)
		planID := sub.Msg.Plan.PlanId
		_, err = ac.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: planID, Comment: "canary ok"}))
		check("ApprovePlan", err)
		if pl := waitPlan(t, owner, planID); pl.State != planDone {
			t.Fatalf("plan %v", pl)
		}
		if sy := syncNow(t, owner, connID); sy.State != syncSucceeded {
			t.Fatalf("sync: %v", sy)
		}
		_, err = ac.AcceptBaseline(ctx, req(&nuxariv1.AcceptBaselineRequest{ConnectorId: connID}))
		check("AcceptBaseline", err)
		rv, err := ac.StartReview(ctx, req(&nuxariv1.StartReviewRequest{ConnectorId: connID, Name: "canary review", ReviewerRoles: []string{"owner"}}))
		check("StartReview", err)
		items, err := ac.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: rv.Msg.Review.ReviewId}))
		check("ListReviewItems", err)
		var ds []*nuxariv1.ReviewDecision
		for _, it := range items.Msg.Items {
			ds = append(ds, &nuxariv1.ReviewDecision{Item: it.Item, Revoke: it.EntitlementName == group})
		}
		_, err = ac.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: rv.Msg.Review.ReviewId, Decisions: ds}))
		check("DecideReview", err)
		for _, c := range []nuxariv1connect.AccessServiceClient{ac, am} {
			_, err = c.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: sub.Msg.Request.RequestId}))
			check("GetRequest", err)
			_, err = c.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: rv.Msg.Review.ReviewId}))
			check("GetReview", err)
		}
	}
	for _, c := range []nuxariv1connect.AccessServiceClient{ac, am} {
		_, err = c.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: pol.Msg.Policy.PolicyId}))
		check("GetPolicy", err)
		_, err = c.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{}))
		check("ListPolicies", err)
		_, err = c.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{All: true}))
		check("ListRequests", err)
		_, err = c.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{}))
		check("ListPlans", err)
		_, err = c.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{}))
		check("ListAccessGrants", err)
		_, err = c.ListDriftFindings(ctx, req(&nuxariv1.ListDriftFindingsRequest{IncludeResolved: true}))
		check("ListDriftFindings", err)
		_, err = c.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{}))
		check("ListReviews", err)
	}
	// Every event about them, through the API.
	size, err = ts.Ledger().Size(org)
	check("Size", err)
	for i := range size {
		_, err = owner.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: i}))
		check("GetEvent", err)
	}

	// An evidence package of the whole log, downloaded.
	x, err := owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
	check("ExportPackage", err)
	if got := waitExport(t, owner, x.Msg.Export.ExportId); got.State != nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED {
		t.Fatalf("export: %v", got)
	}
	var pkg bytes.Buffer
	stream, err := owner.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: x.Msg.Export.ExportId}))
	check("DownloadPackage", err)
	for stream.Receive() {
		pkg.Write(stream.Msg().Chunk)
	}
	check("DownloadPackage stream", stream.Err())
	stream.Close()

	// Logouts end the sessions.
	_, err = member.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))
	check("Logout member", err)
	_, err = owner.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))
	check("Logout owner", err)
	_, err = owner.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
	wantUnauth("WhoAmI after logout", err)
	_, err = clients(memberSess, servertest.GRPCWeb).Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))
	wantUnauth("Logout twice", err)

	// Which secrets to look for.
	canaries := []canary{
		newCanary("owner password", ownerPW),
		newCanary("wrong password", wrongPW),
		newCanary("initial password", initPW),
	}
	for i, pw := range []string{connPW, connPW2, connPWBad} {
		canaries = append(canaries, newCanary(fmt.Sprintf("connector password %d", i+1), pw))
	}
	for i, k := range []string{keyPEM, keyPEM2} {
		name := fmt.Sprintf("client key %d", i+1)
		canaries = append(canaries, newCanary(name, k))
		if b, _ := pem.Decode([]byte(k)); b != nil {
			canaries = append(canaries, newCanary(name+" (DER)", string(b.Bytes)))
		}
	}
	canaries = append(canaries, tokenCanaries("API token", apiTok)...)
	canaries = append(canaries, tokenCanaries("setup token", setupTok)...)
	canaries = append(canaries, tokenCanaries("forged token", forged)...)
	for i, s := range sessions {
		canaries = append(canaries, tokenCanaries("session token "+string(rune('A'+i)), s)...)
	}

	t.Run("server log", func(t *testing.T) {
		logs := ts.Logs.String()
		if !strings.Contains(logs, "auth.Login") && !strings.Contains(logs, "AuthService/Login") {
			t.Fatalf("the log has no line about logins; is it the server's log?")
		}
		for i, line := range strings.Split(logs, "\n") {
			if l := leaks([]byte(line), canaries); len(l) > 0 {
				t.Errorf("log line %d holds %v: %s", i+1, l, line)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		res, err := servertest.HTTPClient().Get(ts.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("nuxari_rpc_requests_total")) {
			t.Fatalf("metrics: HTTP %d %v", res.StatusCode, err)
		}
		if l := leaks(b, canaries); len(l) > 0 {
			t.Errorf("/metrics holds %v", l)
		}
	})

	t.Run("ledger", func(t *testing.T) {
		type body struct {
			Type    string         `json:"type"`
			Subject string         `json:"subject"`
			Data    map[string]any `json:"data"`
		}
		var failed []body
		n := 0
		size, err := ts.Ledger().Size(org)
		if err != nil {
			t.Fatal(err)
		}
		err = ts.Ledger().Leaves(ctx, org, 0, size, func(lf ledger.Leaf) error {
			n++
			if l := leaks(lf.Bytes, canaries); len(l) > 0 {
				t.Errorf("leaf %d holds %v: %s", lf.Index, l, lf.Bytes)
			}
			l, err := leaf.Parse(lf.Bytes)
			if err != nil {
				return err
			}
			var e body
			if err := json.Unmarshal(l.Event, &e); err != nil {
				return err
			}
			if e.Type == "auth.login.failed" {
				failed = append(failed, e)
				for k := range e.Data {
					if k := strings.ToLower(k); strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "credential") {
						t.Errorf("failed-login event %d has a member %q: %s", lf.Index, k, l.Event)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Three wrong passwords for the owner, one for the member, one
		// unknown email; the unknown org has no log to write to.
		wrong := 0
		for _, e := range failed {
			if e.Subject == ownerID && e.Data["reason"] == "wrong_password" && e.Data["email"] == ownerEmail {
				wrong++
			}
		}
		if len(failed) != 5 || wrong != 3 {
			t.Errorf("%d failed-login events (%d wrong owner passwords), want 5 (3): %v", len(failed), wrong, failed)
		}
		t.Logf("%d leaves, %d failed logins", n, len(failed))
	})

	t.Run("data directory", func(t *testing.T) {
		files := 0
		err := filepath.WalkDir(ts.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err // directories, and the admin socket
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if l := leaks(b, canaries); len(l) > 0 {
				t.Errorf("%s holds %v", path, l)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files == 0 {
			t.Fatal("no files in the data directory")
		}
	})

	t.Run("evidence package", func(t *testing.T) {
		if pkg.Len() == 0 {
			t.Fatal("empty package")
		}
		if l := leaks(pkg.Bytes(), canaries); len(l) > 0 {
			t.Errorf("package holds %v", l)
		}
		zr, err := zip.NewReader(bytes.NewReader(pkg.Bytes()), int64(pkg.Len()))
		if err != nil {
			t.Skipf("package is not a zip file (%v); only its raw bytes were searched", err)
		}
		for _, f := range zr.File {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(b, canaries); len(l) > 0 {
				t.Errorf("package file %s holds %v", f.Name, l)
			}
		}
	})

	t.Run("responses", func(t *testing.T) {
		entries := rec.all()
		if len(entries) < 100 {
			t.Fatalf("only %d responses recorded", len(entries))
		}
		procs := map[string]bool{}
		for _, e := range entries {
			procs[e.procedure] = true
			if l := leaks(e.data, canaries); len(l) > 0 {
				t.Errorf("a %s response holds %v: %q", e.procedure, l, e.data)
			}
		}
		t.Logf("%d response parts of %d procedures searched", len(entries), len(procs))
	})
}
