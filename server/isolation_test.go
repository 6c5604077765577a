package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/internal/agentsig"
	"github.com/nuxari/nuxari/internal/pgtest"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server/servertest"
)

// isoMember is a member of a test org.
type isoMember struct {
	role          rbac.Role
	token, userID string
	email         string
}

// isoToken is an API token of a test org.
type isoToken struct {
	role       rbac.Role
	secret, id string
}

// isoOrg is one org of the isolation test, with a member and an API
// token of every role, edge agents with tasks and evidence, events,
// exports and page tokens of every listing.
type isoOrg struct {
	id       string
	owner    servertest.Clients
	members  []isoMember
	tokens   []isoToken
	exports  []string
	cpSizes  []uint64 // sizes with a checkpoint
	size     uint64   // log size after setup
	pageToks map[string]string
	// agents: two enrolled agents; agentTok is an access token of the
	// first. tasks are the first's: tasks[0] open, tasks[1] completed
	// with evidence (hash evidence). joinToken is unused;
	// joinTokenIDs are the IDs of it and of one more unused one.
	agents       []*testAgent
	agentTok     string
	tasks        []string
	evidence     string
	joinToken    string
	joinTokenIDs []string
	// connectors: connectors[0] synced (syncs[0]) against PostgreSQL when
	// the tests have it, against nothing otherwise; connectors[1] paused.
	// connSecret is their password.
	connectors []string
	syncs      []string
	connSecret string
	// Access, on connectors[2], a connector to a fake system: policies
	// (readers: one approval by an owner; admins: none); requests by the
	// admin: requests[0] pending (plans[0]), requests[1] and [2] run at
	// once (plans[1] and [2], making grants[0] and [1]), requests[3]
	// rejected (plans[3]). reviews of that connector, after a sync that
	// shows the grants the plans made: reviews[0] canceled, reviews[1]
	// open.
	policies, requests, plans, grants []string
	reviews                           []string
}

// newIsoOrg creates an org. marker, if set, is planted in every name and
// every custom event; events custom events are appended. pg, if set, is
// the PostgreSQL server the org's first connector syncs from.
func newIsoOrg(t *testing.T, ts *servertest.Server, fake *servertest.FakeDriver, id, marker string, events int, pg *pgtest.Server) *isoOrg {
	t.Helper()
	ctx := context.Background()
	label := func(s string) string {
		if marker == "" {
			return s
		}
		return marker + " " + s
	}
	emailOf := func(r rbac.Role) string {
		if marker == "" {
			return fmt.Sprintf("%s-%s@example.com", id, r)
		}
		return fmt.Sprintf("%s-%s@example.com", strings.ToLower(marker), r)
	}
	o := &isoOrg{id: id, pageToks: map[string]string{}}
	anon := ts.Clients("")
	pw := "iso password 01"
	created, err := anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{
		OrgId: id, DisplayName: label("org"), OwnerEmail: emailOf(rbac.Owner), OwnerDisplayName: label("owner"), OwnerPassword: pw,
	}))
	if err != nil {
		t.Fatalf("CreateOrg %s: %v", id, err)
	}
	ownerTok := ts.Login(t, id, emailOf(rbac.Owner), pw)
	o.owner = ts.Clients(ownerTok)
	o.members = append(o.members, isoMember{rbac.Owner, ownerTok, created.Msg.Owner.UserId, emailOf(rbac.Owner)})
	for _, r := range rbacRoleOrder[1:] {
		res, err := o.owner.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{
			Email: emailOf(r), DisplayName: label(string(r)), Role: rbacProtoRoles[r],
		}))
		if err != nil {
			t.Fatalf("AddMember %s: %v", r, err)
		}
		ts.SetPassword(t, res.Msg.GetSetup().GetSetupToken(), pw)
		o.members = append(o.members, isoMember{r, ts.Login(t, id, emailOf(r), pw), res.Msg.Member.UserId, emailOf(r)})
	}
	for _, r := range rbacRoleOrder {
		res, err := o.owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: label("token " + string(r)), Role: rbacProtoRoles[r]}))
		if err != nil {
			t.Fatalf("CreateAPIToken %s: %v", r, err)
		}
		o.tokens = append(o.tokens, isoToken{r, res.Msg.Secret, res.Msg.Token.TokenId})
	}
	for i := range 2 {
		o.agents = append(o.agents, enrollAgent(t, ts, o.owner, label(fmt.Sprintf("host-%d", i))))
	}
	o.agentTok = o.agents[0].token(t, ts)
	ag := ts.Clients(o.agentTok)
	o.tasks = append(o.tasks, createTask(t, o.owner, o.agents[0].id, "users", "").TaskId)
	done := createTask(t, o.owner, o.agents[0].id, "file", "/etc/hosts").TaskId
	o.tasks = append(o.tasks, done)
	content := []byte(label("127.0.0.1 localhost"))
	if _, err := ag.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: done, Items: []*nuxariv1.EvidenceItem{
		o.agents[0].evidence(done, "file", "/etc/hosts", content),
	}})); err != nil {
		t.Fatalf("SubmitEvidence: %v", err)
	}
	if _, err := ag.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: done, Ok: true, Detail: label("done")})); err != nil {
		t.Fatalf("CompleteTask: %v", err)
	}
	o.evidence = hexSHA(content)
	for range 2 {
		res, err := o.owner.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{}))
		if err != nil {
			t.Fatalf("CreateJoinToken: %v", err)
		}
		o.joinToken = res.Msg.JoinToken
		o.joinTokenIDs = append(o.joinTokenIDs, res.Msg.JoinTokenId)
	}
	for i := 0; i < events; i += 100 {
		var evs []*nuxariv1.NewEvent
		for j := i; j < min(i+100, events); j++ {
			data, err := structpb.NewStruct(map[string]any{"note": label(fmt.Sprintf("event %d", j)), "n": j})
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, &nuxariv1.NewEvent{Type: "custom.iso", Data: data, IdempotencyKey: fmt.Sprintf("iso-%d", j)})
		}
		res, err := o.owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: evs}))
		if err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
		o.cpSizes = append(o.cpSizes, res.Msg.Checkpoint.GetSize())
	}
	for range 2 {
		x, err := o.owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: []string{"custom.iso"}}}))
		if err != nil {
			t.Fatalf("ExportPackage: %v", err)
		}
		waitExport(t, o.owner, x.Msg.Export.ExportId)
		o.exports = append(o.exports, x.Msg.Export.ExportId)
	}
	newIsoConnectors(t, o, pg, label)
	newIsoAccess(t, ts, o, fake, label)
	sz, err := ts.Ledger().Size(id)
	if err != nil {
		t.Fatal(err)
	}
	o.size = waitCheckpointAt(t, o.owner, sz)
	o.cpSizes = append(o.cpSizes, o.size)

	// A page token of each listing.
	lm, err := o.owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	lt, err := o.owner.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	le, err := o.owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	lx, err := o.owner.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	la, err := o.owner.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	o.pageToks["members"], o.pageToks["tokens"] = lm.Msg.NextPageToken, lt.Msg.NextPageToken
	o.pageToks["events"], o.pageToks["exports"] = le.Msg.NextPageToken, lx.Msg.NextPageToken
	lj, err := o.owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	o.pageToks["agents"], o.pageToks["jointokens"] = la.Msg.NextPageToken, lj.Msg.NextPageToken
	lc, err := o.owner.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	o.pageToks["connectors"] = lc.Msg.NextPageToken
	lp := must(o.owner.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{PageSize: 1})))(t)
	lr := must(o.owner.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{PageSize: 1, All: true})))(t)
	lpl := must(o.owner.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{PageSize: 1})))(t)
	lag := must(o.owner.Access.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{PageSize: 1})))(t)
	o.pageToks["policies"], o.pageToks["requests"] = lp.Msg.NextPageToken, lr.Msg.NextPageToken
	o.pageToks["plans"], o.pageToks["accessgrants"] = lpl.Msg.NextPageToken, lag.Msg.NextPageToken
	lrv := must(o.owner.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{PageSize: 1})))(t)
	lri := must(o.owner.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: o.reviews[1], PageSize: 1})))(t)
	o.pageToks["reviews"], o.pageToks["reviewitems"] = lrv.Msg.NextPageToken, lri.Msg.NextPageToken
	if pg != nil {
		lg, err := o.owner.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: o.connectors[0], PageSize: 1}))
		if err != nil {
			t.Fatal(err)
		}
		o.pageToks["grants"] = lg.Msg.NextPageToken
	}
	for k, v := range o.pageToks {
		if v == "" {
			t.Fatalf("no page token for %s", k)
		}
	}
	return o
}

// newIsoConnectors gives o two connectors, the first synced, the second
// paused. With pg, the first reads PostgreSQL, where the org has a login
// role of its own and two more roles members of a group; without, it
// reaches nothing and its sync fails.
func newIsoConnectors(t *testing.T, o *isoOrg, pg *pgtest.Server, label func(string) string) {
	t.Helper()
	ctx := context.Background()
	o.connSecret = pgPassword("IsoConnPw")
	settings := unreachableSettings(t)
	if pg != nil {
		admin := pg.Admin(t, pg.Database)
		prefix := pgtest.NewPrefix(t)
		pgtest.DropRoles(t, admin, prefix)
		pgLoginRole(t, admin, prefix+"conn", o.connSecret)
		pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(prefix+"group")+" NOLOGIN")
		for _, u := range []string{prefix + "u1", prefix + "u2"} {
			pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(u)+" LOGIN", "GRANT "+pgtest.Ident(prefix+"group")+" TO "+pgtest.Ident(u))
		}
		settings = pgSettings(*pg, prefix, prefix+"conn")
	}
	for _, name := range []string{"warehouse", "paused"} {
		res, err := o.owner.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
			Name: label(name), Settings: settings, Credentials: pgCreds(o.connSecret),
		}))
		if err != nil {
			t.Fatalf("CreateConnector: %v", err)
		}
		o.connectors = append(o.connectors, res.Msg.Connector.ConnectorId)
	}
	sy := syncNow(t, o.owner, o.connectors[0])
	if pg != nil && (sy.State != syncSucceeded || sy.Summary.GetGrants() < 2) {
		t.Fatalf("sync: %v", sy)
	}
	o.syncs = append(o.syncs, sy.SyncId)
	if _, err := o.owner.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: o.connectors[1], Reason: label("paused")})); err != nil {
		t.Fatalf("PauseConnector: %v", err)
	}
}

// newIsoAccess gives o a connector to a fake system, synced, with
// policies, requests in every state, plans and access grants.
func newIsoAccess(t *testing.T, ts *servertest.Server, o *isoOrg, fake *servertest.FakeDriver, label func(string) string) {
	t.Helper()
	ctx := context.Background()
	fa := newFakeAccess(t, o.owner, fake, o.id)
	o.connectors = append(o.connectors, fa.connector)
	for _, p := range []*nuxariv1.Policy{
		accessPolicy(fa.connector, func(p *nuxariv1.Policy) {
			p.Name, p.Entitlements, p.ApproverRoles = label("readers"), []string{fakeReaders}, []string{"owner"}
		}),
		accessPolicy(fa.connector, func(p *nuxariv1.Policy) {
			p.Name, p.Entitlements, p.Approvals, p.ApproverRoles = label("admins"), []string{fakeAdmins}, 0, nil
		}),
	} {
		o.policies = append(o.policies, must(o.owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: p})))(t).Msg.Policy.PolicyId)
	}
	var admin servertest.Clients
	for _, m := range o.members {
		if m.role == rbac.Admin {
			admin = ts.Clients(m.token)
		}
	}
	submit := func(identity, entitlement string) *nuxariv1.SubmitRequestResponse {
		t.Helper()
		res := must(admin.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
			ConnectorId: fa.connector, IdentityId: identity, EntitlementId: entitlement, Justification: label("need"),
		})))(t).Msg
		o.requests, o.plans = append(o.requests, res.Request.RequestId), append(o.plans, res.Plan.PlanId)
		return res
	}
	submit(fakeAlice, fakeReaders)
	for _, id := range []string{fakeAlice, fakeBob} {
		res := submit(id, fakeAdmins)
		if pl := waitPlan(t, o.owner, res.Plan.PlanId); pl.State != planDone {
			t.Fatalf("a plan needing no approval: %v", pl)
		}
	}
	rej := submit(fakeBob, fakeReaders)
	must(o.owner.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: rej.Plan.PlanId, Comment: label("no")})))(t)
	for _, g := range accessGrants(t, o.owner, "") {
		o.grants = append(o.grants, g.GrantId)
	}
	if len(o.grants) != 2 {
		t.Fatalf("%s's access grants: %v", o.id, o.grants)
	}
	if sy := syncNow(t, o.owner, fa.connector); sy.State != syncSucceeded {
		t.Fatalf("sync of %s's fake system: %v", o.id, sy)
	}
	for i := range 2 {
		rv := must(o.owner.Access.StartReview(ctx, req(&nuxariv1.StartReviewRequest{
			ConnectorId: fa.connector, Name: label(fmt.Sprintf("review %d", i)), ReviewerRoles: []string{"owner", "admin"},
		})))(t).Msg.Review
		if rv.Items < 2 {
			t.Fatalf("%s's review: %v", o.id, rv)
		}
		o.reviews = append(o.reviews, rv.ReviewId)
		if i == 0 {
			must(o.owner.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: rv.ReviewId})))(t)
		}
	}
}

// isoState is what must not change in an org: its members, tokens,
// settings, exports, agents, tasks, join tokens and log.
type isoState struct {
	members, tokens, org, exports, agents, tasks, joinTokens []byte
	connectors, syncs, grants, keys                          []byte
	policies, requests, plans, accessGrants                  []byte
	reviews                                                  []byte
	size                                                     uint64
	root                                                     []byte
}

func snapshotOrg(t *testing.T, ts *servertest.Server, o *isoOrg) isoState {
	t.Helper()
	ctx := context.Background()
	m := func(msg proto.Message, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("snapshot %s: %v", o.id, err)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var s isoState
	lm, err := o.owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1000}))
	s.members = m(lm.Msg, err)
	lt, err := o.owner.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{PageSize: 1000}))
	s.tokens = m(lt.Msg, err)
	g, err := o.owner.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))
	s.org = m(g.Msg, err)
	lx, err := o.owner.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{PageSize: 1000}))
	s.exports = m(lx.Msg, err)
	la, err := o.owner.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{PageSize: 1000}))
	if err == nil {
		// When an agent was last seen moves with the agent's own calls.
		for _, ag := range la.Msg.Agents {
			ag.LastSeenTime = nil
		}
	}
	s.agents = m(la.Msg, err)
	lj, err := o.owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: 1000}))
	s.joinTokens = m(lj.Msg, err)
	for _, id := range o.tasks {
		gt, err := o.owner.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: id}))
		s.tasks = append(s.tasks, m(gt.Msg, err)...)
	}
	lc, err := o.owner.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{PageSize: 1000}))
	s.connectors = m(lc.Msg, err)
	for _, id := range o.syncs {
		gs, err := o.owner.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: id}))
		s.syncs = append(s.syncs, m(gs.Msg, err)...)
	}
	lg, err := o.owner.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: o.connectors[0], PageSize: 1000}))
	s.grants = m(lg.Msg, err)
	gk, err := o.owner.Connectors.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{}))
	s.keys = m(gk.Msg, err)
	lp, err := o.owner.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{PageSize: 1000}))
	s.policies = m(lp.Msg, err)
	lr, err := o.owner.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{PageSize: 1000, All: true}))
	s.requests = m(lr.Msg, err)
	lpl, err := o.owner.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{PageSize: 1000}))
	s.plans = m(lpl.Msg, err)
	lag, err := o.owner.Access.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{PageSize: 1000}))
	s.accessGrants = m(lag.Msg, err)
	lrv, err := o.owner.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{PageSize: 1000}))
	s.reviews = m(lrv.Msg, err)
	for _, id := range o.reviews {
		li, err := o.owner.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: id, PageSize: 1000}))
		s.reviews = append(s.reviews, m(li.Msg, err)...)
	}
	if s.size, err = ts.Ledger().Size(o.id); err != nil {
		t.Fatal(err)
	}
	// The root of a checkpoint of the whole log: a signed checkpoint
	// may trail the log's size by a moment under load.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cp, err := ts.Ledger().Checkpoint(ctx, o.id)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size >= s.size {
			s.root = cp.Root
			if cp.Size > s.size {
				t.Fatalf("%s's log grew from %d to %d while being snapshot", o.id, s.size, cp.Size)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of %s's log at its size %d after 30 s (latest %d)", o.id, s.size, cp.Size)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

// isoProbe is one request of an org A principal naming org B's things.
type isoProbe struct {
	name string
	proc string
	call func(ctx context.Context, c servertest.Clients) error
	// want: the codes a principal allowed to call proc may get.
	want []connect.Code
}

// TestTenantIsolation: every role of org A, with a session or an API
// token, asks for org B's things by ID, index, size and page token, and
// for missing and malformed IDs. Every answer is NotFound or
// PermissionDenied, except:
//
//   - page tokens of B's listings are InvalidArgument: a page token is
//     MACed under its org's own key, so B's fails A's check as any
//     forged token would;
//   - malformed user, token and export IDs are InvalidArgument: they
//     are refused before any lookup; a malformed org_id in GetOrg is
//     NotFound, as any org_id other than the caller's;
//   - GetConsistencyProof with size1 only B has and size2 = A's latest
//     is InvalidArgument (size1 > size2, both A's numbers);
//   - GetDownloadURL is FailedPrecondition: the test server's local
//     package store has no URLs, checked before any lookup.
//
// No error message or response holds any of B's data, and B's state is
// unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	fake := servertest.NewFakeDriver()
	ts := servertest.Start(t, servertest.WithFakeDriver(fake))
	ctx := context.Background()
	hexMark := randID(8)
	marker := "B-MARKER-" + hexMark
	// A's ID is a prefix of B's, so that any key or origin built by
	// concatenation without a separator would collide.
	aID := "iso-" + randID(4)
	var pg *pgtest.Server
	if e, ok := pgtest.Lookup(t); ok {
		pg = &e
	}
	a := newIsoOrg(t, ts, fake, aID, "", 3, pg)
	b := newIsoOrg(t, ts, fake, aID+"-"+hexMark, marker, 300, pg)
	if b.size <= a.size+100 {
		t.Fatalf("B's log (%d) should be much longer than A's (%d)", b.size, a.size)
	}
	before := snapshotOrg(t, ts, b)

	// Everything of B's that A must never see.
	secrets := []string{hexMark, strings.ToUpper(hexMark), b.id}
	for _, m := range b.members {
		secrets = append(secrets, m.userID, m.email, m.token)
	}
	for _, tk := range b.tokens {
		secrets = append(secrets, tk.id, tk.secret)
	}
	secrets = append(secrets, b.exports...)
	for _, ag := range b.agents {
		secrets = append(secrets, ag.id, string(ag.pub), base64.StdEncoding.EncodeToString(ag.pub))
	}
	secrets = append(secrets, b.tasks...)
	secrets = append(secrets, b.agentTok, b.joinToken, b.evidence)
	secrets = append(secrets, b.joinTokenIDs...)
	secrets = append(secrets, b.connectors...)
	secrets = append(secrets, b.syncs...)
	secrets = append(secrets, b.connSecret)
	for _, ids := range [][]string{b.policies, b.requests, b.plans, b.grants, b.reviews} {
		secrets = append(secrets, ids...)
	}
	for _, p := range b.pageToks {
		secrets = append(secrets, p)
	}
	bRoot := before.root
	forbidden := [][]byte{bRoot, []byte(base64.StdEncoding.EncodeToString(bRoot))}
	for _, s := range secrets {
		forbidden = append(forbidden, []byte(s))
	}
	for i := b.size - 5; i < b.size; i++ {
		lf, err := ts.Ledger().Leaf(ctx, b.id, i)
		if err != nil {
			t.Fatal(err)
		}
		forbidden = append(forbidden, lf.Hash, []byte(base64.StdEncoding.EncodeToString(lf.Hash)))
	}

	// A's log grows a little during the test (downloads are audited), so
	// B-only indexes and sizes keep a margin above A's size.
	const margin = 50
	var bOnlySizes []uint64
	for _, s := range b.cpSizes {
		if s > a.size+margin {
			bOnlySizes = append(bOnlySizes, s)
		}
	}
	if len(bOnlySizes) < 2 {
		t.Fatalf("B has too few checkpoint sizes beyond A's log: %v (A %d)", b.cpSizes, a.size)
	}

	nf, pd, ia, fp := connect.CodeNotFound, connect.CodePermissionDenied, connect.CodeInvalidArgument, connect.CodeFailedPrecondition
	var probes []isoProbe
	add := func(name, proc string, want []connect.Code, call func(context.Context, servertest.Clients) error) {
		probes = append(probes, isoProbe{name, proc, call, want})
	}
	add("GetOrg(B)", nuxariv1connect.OrgServiceGetOrgProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: b.id})))
	})
	add("GetOrg(missing)", nuxariv1connect.OrgServiceGetOrgProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: "no-such-org-" + randID(4)})))
	})
	for _, m := range b.members {
		add("RemoveMember(B "+string(m.role)+")", nuxariv1connect.OrgServiceRemoveMemberProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: m.userID})))
		})
		add("SetMemberRole(B "+string(m.role)+")", nuxariv1connect.OrgServiceSetMemberRoleProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: m.userID, Role: nuxariv1.Role_ROLE_OWNER})))
		})
		add("IssuePasswordSetup(B "+string(m.role)+")", nuxariv1connect.OrgServiceIssuePasswordSetupProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: m.userID})))
		})
		add("EndMemberSessions(B "+string(m.role)+")", nuxariv1connect.OrgServiceEndMemberSessionsProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{UserId: m.userID, RevokeApiTokens: true})))
		})
	}
	for _, tk := range b.tokens {
		add("RevokeAPIToken(B "+string(tk.role)+")", nuxariv1connect.AuthServiceRevokeAPITokenProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: tk.id})))
		})
	}
	for _, idx := range []uint64{a.size + margin, a.size + 2*margin, b.size - 1} {
		add(fmt.Sprintf("GetEvent(%d)", idx), nuxariv1connect.LedgerServiceGetEventProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: idx})))
		})
		add(fmt.Sprintf("GetInclusionProof(%d)", idx), nuxariv1connect.LedgerServiceGetInclusionProofProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: idx})))
		})
	}
	for _, s := range bOnlySizes {
		add(fmt.Sprintf("GetCheckpoint(%d)", s), nuxariv1connect.LedgerServiceGetCheckpointProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{Size: s})))
		})
		add(fmt.Sprintf("GetInclusionProof(0 in %d)", s), nuxariv1connect.LedgerServiceGetInclusionProofProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: 0, TreeSize: s})))
		})
		add(fmt.Sprintf("GetConsistencyProof(1, %d)", s), nuxariv1connect.LedgerServiceGetConsistencyProofProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: 1, Size2: s})))
		})
		add(fmt.Sprintf("GetConsistencyProof(%d, latest)", s), nuxariv1connect.LedgerServiceGetConsistencyProofProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: s})))
		})
	}
	add("ListMembers(B page token)", nuxariv1connect.OrgServiceListMembersProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1, PageToken: b.pageToks["members"]})))
	})
	add("ListAPITokens(B page token)", nuxariv1connect.AuthServiceListAPITokensProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{PageSize: 1, PageToken: b.pageToks["tokens"]})))
	})
	add("ListEvents(B page token)", nuxariv1connect.LedgerServiceListEventsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1, PageToken: b.pageToks["events"]})))
	})
	add("ListExports(B page token)", nuxariv1connect.EvidenceServiceListExportsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{PageSize: 1, PageToken: b.pageToks["exports"]})))
	})
	for _, x := range b.exports {
		add("GetExport(B)", nuxariv1connect.EvidenceServiceGetExportProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: x})))
		})
		add("GetDownloadURL(B)", nuxariv1connect.EvidenceServiceGetDownloadURLProcedure, []connect.Code{nf, fp}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Evidence.GetDownloadURL(ctx, req(&nuxariv1.GetDownloadURLRequest{ExportId: x})))
		})
		add("DownloadPackage(B)", nuxariv1connect.EvidenceServiceDownloadPackageProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return drain(c.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: x})))
		})
	}
	// B's agents, tasks and join token.
	ua := connect.CodeUnauthenticated
	editOrg := func(tok, to string) string {
		kind, rest, _ := strings.Cut(tok, ".")
		_, body, _ := strings.Cut(rest, ".")
		return kind + "." + to + "." + body
	}
	aAgent := a.agents[0]
	for i, ag := range b.agents {
		add(fmt.Sprintf("GetAgent(B %d)", i), nuxariv1connect.AgentAdminServiceGetAgentProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: ag.id})))
		})
		add(fmt.Sprintf("DecommissionAgent(B %d)", i), nuxariv1connect.AgentAdminServiceDecommissionAgentProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: ag.id})))
		})
		add(fmt.Sprintf("CreateTask(B %d)", i), nuxariv1connect.AgentAdminServiceCreateTaskProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.CreateTask(ctx, req(&nuxariv1.CreateTaskRequest{AgentId: ag.id, Collector: "users"})))
		})
		add(fmt.Sprintf("GetChallenge(A, B %d)", i), nuxariv1connect.AgentGatewayServiceGetChallengeProcedure, []connect.Code{ua}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: a.id, AgentId: ag.id})))
		})
		add(fmt.Sprintf("GetAccessToken(B %d, signed by A's agent)", i), nuxariv1connect.AgentGatewayServiceGetAccessTokenProcedure, []connect.Code{ua}, func(ctx context.Context, c servertest.Clients) error {
			ch := make([]byte, 32)
			return ignoreRes(c.Gateway.GetAccessToken(ctx, req(&nuxariv1.GetAccessTokenRequest{
				OrgId: b.id, AgentId: ag.id, Challenge: ch, Signature: ed25519.Sign(aAgent.key, agentsig.TokenRequest(b.id, ag.id, ch)),
			})))
		})
	}
	add("GetChallenge(B, A's agent)", nuxariv1connect.AgentGatewayServiceGetChallengeProcedure, []connect.Code{ua}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: b.id, AgentId: aAgent.id})))
	})
	for i, task := range b.tasks {
		add(fmt.Sprintf("GetTask(B %d)", i), nuxariv1connect.AgentAdminServiceGetTaskProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: task})))
		})
		add(fmt.Sprintf("SubmitEvidence(B %d)", i), nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task, Items: []*nuxariv1.EvidenceItem{
				aAgent.evidence(task, "users", "", []byte("not B's")),
			}})))
		})
		add(fmt.Sprintf("CompleteTask(B %d)", i), nuxariv1connect.AgentGatewayServiceCompleteTaskProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task, Ok: false, Detail: "by A"})))
		})
	}
	add("ListAgents(B page token)", nuxariv1connect.AgentAdminServiceListAgentsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{PageSize: 1, PageToken: b.pageToks["agents"]})))
	})
	for i, id := range b.joinTokenIDs {
		add(fmt.Sprintf("RevokeJoinToken(B %d)", i), nuxariv1connect.AgentAdminServiceRevokeJoinTokenProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: id})))
		})
	}
	add("ListJoinTokens(B page token)", nuxariv1connect.AgentAdminServiceListJoinTokensProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: 1, PageToken: b.pageToks["jointokens"]})))
	})
	add("Enroll(B's join token, edited to A)", nuxariv1connect.AgentGatewayServiceEnrollProcedure, []connect.Code{ua}, func(ctx context.Context, c servertest.Clients) error {
		pub, _ := newAgentKey(t)
		return ignoreRes(c.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: editOrg(b.joinToken, a.id), PublicKey: pub, Hostname: "h"})))
	})

	// B's connectors, syncs and grants.
	for i, id := range b.connectors {
		name := fmt.Sprintf("(B %d)", i)
		add("GetConnector"+name, nuxariv1connect.ConnectorServiceGetConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id})))
		})
		add("UpdateConnector"+name, nuxariv1connect.ConnectorServiceUpdateConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id, Name: new("taken by A")})))
		})
		add("UpdateConnector settings"+name, nuxariv1connect.ConnectorServiceUpdateConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id, Settings: unreachableSettings(t)})))
		})
		add("TestConnector"+name, nuxariv1connect.ConnectorServiceTestConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))
		})
		add("PauseConnector"+name, nuxariv1connect.ConnectorServicePauseConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id, Reason: "by A"})))
		})
		add("ResumeConnector"+name, nuxariv1connect.ConnectorServiceResumeConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: id})))
		})
		add("RotateCredentials"+name, nuxariv1connect.ConnectorServiceRotateCredentialsProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds("set by A")})))
		})
		add("DecommissionConnector"+name, nuxariv1connect.ConnectorServiceDecommissionConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id, Reason: "by A"})))
		})
		add("SyncConnector"+name, nuxariv1connect.ConnectorServiceSyncConnectorProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: id})))
		})
		add("ListGrants"+name, nuxariv1connect.ConnectorServiceListGrantsProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id})))
		})
	}
	for i, id := range b.syncs {
		add(fmt.Sprintf("GetSync(B %d)", i), nuxariv1connect.ConnectorServiceGetSyncProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: id})))
		})
	}
	add("ListConnectors(B page token)", nuxariv1connect.ConnectorServiceListConnectorsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{PageSize: 1, PageToken: b.pageToks["connectors"]})))
	})
	if tok := b.pageToks["grants"]; tok != "" {
		add("ListGrants(A's connector, B page token)", nuxariv1connect.ConnectorServiceListGrantsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: a.connectors[0], PageSize: 1, PageToken: tok})))
		})
	}

	// B's access policies, requests, plans and grants.
	bAccess, aAccess := b.connectors[2], a.connectors[2]
	for i, id := range b.policies {
		add(fmt.Sprintf("GetPolicy(B %d)", i), nuxariv1connect.AccessServiceGetPolicyProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: id})))
		})
		add(fmt.Sprintf("GetPolicy(B %d, version 1)", i), nuxariv1connect.AccessServiceGetPolicyProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: id, Version: 1})))
		})
		add(fmt.Sprintf("UpdatePolicy(B %d)", i), nuxariv1connect.AccessServiceUpdatePolicyProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{Policy: accessPolicy(aAccess, func(p *nuxariv1.Policy) {
				p.PolicyId, p.Version, p.Name = id, 1, "taken by A"
			})})))
		})
	}
	for i, id := range b.requests {
		add(fmt.Sprintf("GetRequest(B %d)", i), nuxariv1connect.AccessServiceGetRequestProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: id})))
		})
		add(fmt.Sprintf("CancelRequest(B %d)", i), nuxariv1connect.AccessServiceCancelRequestProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: id})))
		})
	}
	for i, id := range b.plans {
		add(fmt.Sprintf("GetPlan(B %d)", i), nuxariv1connect.AccessServiceGetPlanProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: id})))
		})
		add(fmt.Sprintf("ApprovePlan(B %d)", i), nuxariv1connect.AccessServiceApprovePlanProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: id, Comment: "by A"})))
		})
		add(fmt.Sprintf("RejectPlan(B %d)", i), nuxariv1connect.AccessServiceRejectPlanProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: id, Comment: "by A"})))
		})
	}
	add("SubmitRequest(B's connector)", nuxariv1connect.AccessServiceSubmitRequestProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
			ConnectorId: bAccess, IdentityId: fakeAlice, EntitlementId: fakeReaders, Justification: "by A",
		})))
	})
	add("AcceptBaseline(B's connector)", nuxariv1connect.AccessServiceAcceptBaselineProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.AcceptBaseline(ctx, req(&nuxariv1.AcceptBaselineRequest{ConnectorId: bAccess})))
	})
	// B's access reviews.
	for i, id := range b.reviews {
		add(fmt.Sprintf("GetReview(B %d)", i), nuxariv1connect.AccessServiceGetReviewProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: id})))
		})
		add(fmt.Sprintf("ListReviewItems(B %d)", i), nuxariv1connect.AccessServiceListReviewItemsProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: id})))
		})
		add(fmt.Sprintf("ListReviewItems(B %d, assigned to me)", i), nuxariv1connect.AccessServiceListReviewItemsProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: id, AssignedToMe: true})))
		})
		add(fmt.Sprintf("DecideReview(B %d)", i), nuxariv1connect.AccessServiceDecideReviewProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: id, Decisions: []*nuxariv1.ReviewDecision{
				{Item: 1, Revoke: true, Comment: "by A"}, {Item: 2},
			}})))
		})
		add(fmt.Sprintf("CancelReview(B %d)", i), nuxariv1connect.AccessServiceCancelReviewProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: id})))
		})
	}
	add("StartReview(B's connector)", nuxariv1connect.AccessServiceStartReviewProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.StartReview(ctx, req(&nuxariv1.StartReviewRequest{ConnectorId: bAccess, Name: "by A"})))
	})
	add("ListReviews(B page token)", nuxariv1connect.AccessServiceListReviewsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{PageSize: 1, PageToken: b.pageToks["reviews"]})))
	})
	add("ListReviewItems(A's review, B page token)", nuxariv1connect.AccessServiceListReviewItemsProcedure, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: a.reviews[1], PageSize: 1, PageToken: b.pageToks["reviewitems"]})))
	})
	for _, l := range []struct{ name, proc string }{
		{"policies", nuxariv1connect.AccessServiceListPoliciesProcedure}, {"requests", nuxariv1connect.AccessServiceListRequestsProcedure},
		{"plans", nuxariv1connect.AccessServiceListPlansProcedure}, {"accessgrants", nuxariv1connect.AccessServiceListAccessGrantsProcedure},
	} {
		tok := b.pageToks[l.name]
		add("List "+l.name+"(B page token)", l.proc, []connect.Code{ia}, func(ctx context.Context, c servertest.Clients) error {
			switch l.name {
			case "policies":
				return ignoreRes(c.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{PageSize: 1, PageToken: tok})))
			case "requests":
				return ignoreRes(c.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{PageSize: 1, PageToken: tok})))
			case "plans":
				return ignoreRes(c.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{PageSize: 1, PageToken: tok, AssignedToMe: true})))
			}
			return ignoreRes(c.Access.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{PageSize: 1, PageToken: tok})))
		})
	}

	// IDs that name nothing: well-formed but missing, and malformed.
	missing := map[string]string{"user": "u" + randID(8), "token": randID(12), "export": "x" + randID(8), "connector": "c" + randID(8), "sync": "s" + randID(8)}
	ids := []struct {
		name, id string
		want     connect.Code
	}{
		{"missing user", missing["user"], nf},
		{"missing token", missing["token"], nf},
		{"missing export", missing["export"], nf},
		{"missing connector", missing["connector"], nf},
		{"missing sync", missing["sync"], nf},
		{"dotdot", "../x", ia},
		{"dotdot to B", "../../" + b.id + "/user/" + b.members[0].userID, ia},
		{"NUL", "u\x00" + b.members[0].userID, ia},
		{"slash", "/", ia},
		{"very long", "u" + strings.Repeat("a", 100_000), ia},
		{"non-ASCII", "üser-ñ-日本", ia},
		{"upper case", strings.ToUpper(b.members[0].userID), ia},
		{"empty", "", ia},
	}
	for _, id := range ids {
		add("RemoveMember("+id.name+")", nuxariv1connect.OrgServiceRemoveMemberProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: id.id})))
		})
		add("SetMemberRole("+id.name+")", nuxariv1connect.OrgServiceSetMemberRoleProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: id.id, Role: nuxariv1.Role_ROLE_READONLY})))
		})
		add("RevokeAPIToken("+id.name+")", nuxariv1connect.AuthServiceRevokeAPITokenProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: id.id})))
		})
		add("GetExport("+id.name+")", nuxariv1connect.EvidenceServiceGetExportProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: id.id})))
		})
		add("DownloadPackage("+id.name+")", nuxariv1connect.EvidenceServiceDownloadPackageProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return drain(c.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: id.id})))
		})
		add("GetAgent("+id.name+")", nuxariv1connect.AgentAdminServiceGetAgentProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: id.id})))
		})
		add("DecommissionAgent("+id.name+")", nuxariv1connect.AgentAdminServiceDecommissionAgentProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: id.id})))
		})
		add("GetTask("+id.name+")", nuxariv1connect.AgentAdminServiceGetTaskProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: id.id})))
		})
		add("CompleteTask("+id.name+")", nuxariv1connect.AgentGatewayServiceCompleteTaskProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: id.id})))
		})
		add("RevokeJoinToken("+id.name+")", nuxariv1connect.AgentAdminServiceRevokeJoinTokenProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: id.id})))
		})
		add("GetConnector("+id.name+")", nuxariv1connect.ConnectorServiceGetConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id.id})))
		})
		add("UpdateConnector("+id.name+")", nuxariv1connect.ConnectorServiceUpdateConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id.id, Name: new("renamed")})))
		})
		add("TestConnector("+id.name+")", nuxariv1connect.ConnectorServiceTestConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id.id})))
		})
		add("PauseConnector("+id.name+")", nuxariv1connect.ConnectorServicePauseConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id.id})))
		})
		add("ResumeConnector("+id.name+")", nuxariv1connect.ConnectorServiceResumeConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: id.id})))
		})
		add("RotateCredentials("+id.name+")", nuxariv1connect.ConnectorServiceRotateCredentialsProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id.id, Credentials: pgCreds("x")})))
		})
		add("DecommissionConnector("+id.name+")", nuxariv1connect.ConnectorServiceDecommissionConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id.id})))
		})
		add("SyncConnector("+id.name+")", nuxariv1connect.ConnectorServiceSyncConnectorProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: id.id})))
		})
		add("GetSync("+id.name+")", nuxariv1connect.ConnectorServiceGetSyncProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: id.id})))
		})
		add("ListGrants("+id.name+")", nuxariv1connect.ConnectorServiceListGrantsProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id.id})))
		})
		add("GetPolicy("+id.name+")", nuxariv1connect.AccessServiceGetPolicyProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: id.id})))
		})
		add("UpdatePolicy("+id.name+")", nuxariv1connect.AccessServiceUpdatePolicyProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{Policy: accessPolicy(aAccess, func(p *nuxariv1.Policy) {
				p.PolicyId, p.Version = id.id, 1
			})})))
		})
		add("GetRequest("+id.name+")", nuxariv1connect.AccessServiceGetRequestProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: id.id})))
		})
		add("CancelRequest("+id.name+")", nuxariv1connect.AccessServiceCancelRequestProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: id.id})))
		})
		add("GetPlan("+id.name+")", nuxariv1connect.AccessServiceGetPlanProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: id.id})))
		})
		add("ApprovePlan("+id.name+")", nuxariv1connect.AccessServiceApprovePlanProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: id.id})))
		})
		add("RejectPlan("+id.name+")", nuxariv1connect.AccessServiceRejectPlanProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: id.id})))
		})
		add("SubmitRequest("+id.name+")", nuxariv1connect.AccessServiceSubmitRequestProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
				ConnectorId: id.id, IdentityId: fakeAlice, EntitlementId: fakeReaders, Justification: "by A",
			})))
		})
		add("AcceptBaseline("+id.name+")", nuxariv1connect.AccessServiceAcceptBaselineProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.AcceptBaseline(ctx, req(&nuxariv1.AcceptBaselineRequest{ConnectorId: id.id})))
		})
		add("StartReview("+id.name+")", nuxariv1connect.AccessServiceStartReviewProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.StartReview(ctx, req(&nuxariv1.StartReviewRequest{ConnectorId: id.id, Name: "by A"})))
		})
		add("GetReview("+id.name+")", nuxariv1connect.AccessServiceGetReviewProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: id.id})))
		})
		add("ListReviewItems("+id.name+")", nuxariv1connect.AccessServiceListReviewItemsProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: id.id})))
		})
		add("DecideReview("+id.name+")", nuxariv1connect.AccessServiceDecideReviewProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: id.id, Decisions: []*nuxariv1.ReviewDecision{{Item: 1}}})))
		})
		add("CancelReview("+id.name+")", nuxariv1connect.AccessServiceCancelReviewProcedure, []connect.Code{id.want}, func(ctx context.Context, c servertest.Clients) error {
			return ignoreRes(c.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: id.id})))
		})
		if id.id != "" {
			// Any org_id but the caller's is NotFound, malformed or not.
			add("GetOrg("+id.name+")", nuxariv1connect.OrgServiceGetOrgProcedure, []connect.Code{nf}, func(ctx context.Context, c servertest.Clients) error {
				return ignoreRes(c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: id.id})))
			})
		}
	}

	// A's own reads, which must succeed where allowed and show nothing
	// of B's.
	var reads []isoProbe
	read := func(name, proc string, call func(context.Context, servertest.Clients) error) {
		reads = append(reads, isoProbe{name, proc, call, nil})
	}
	read("GetOrg", nuxariv1connect.OrgServiceGetOrgProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: a.id})))
	})
	read("WhoAmI", nuxariv1connect.AuthServiceWhoAmIProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})))
	})
	read("ListMembers", nuxariv1connect.OrgServiceListMembersProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1000})))
	})
	read("ListAPITokens", nuxariv1connect.AuthServiceListAPITokensProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{PageSize: 1000})))
	})
	read("ListEvents", nuxariv1connect.LedgerServiceListEventsProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1000})))
	})
	read("ListExports", nuxariv1connect.EvidenceServiceListExportsProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{PageSize: 1000})))
	})
	read("GetCheckpoint", nuxariv1connect.LedgerServiceGetCheckpointProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{})))
	})
	read("GetConsistencyProof", nuxariv1connect.LedgerServiceGetConsistencyProofProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: a.cpSizes[0]})))
	})
	read("GetEvent(all)", nuxariv1connect.LedgerServiceGetEventProcedure, func(ctx context.Context, c servertest.Clients) error {
		for i := range a.size {
			if _, err := c.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: i})); err != nil {
				return err
			}
			if _, err := c.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: i})); err != nil {
				return err
			}
		}
		return nil
	})
	read("GetExport", nuxariv1connect.EvidenceServiceGetExportProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: a.exports[0]})))
	})
	read("DownloadPackage", nuxariv1connect.EvidenceServiceDownloadPackageProcedure, func(ctx context.Context, c servertest.Clients) error {
		return drain(c.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: a.exports[0]})))
	})
	read("ListAgents", nuxariv1connect.AgentAdminServiceListAgentsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{PageSize: 1000}))
		if err == nil && len(res.Msg.Agents) != len(a.agents) {
			return fmt.Errorf("ListAgents lists %d agents, A has %d", len(res.Msg.Agents), len(a.agents))
		}
		return err
	})
	read("GetAgent", nuxariv1connect.AgentAdminServiceGetAgentProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: aAgent.id})))
	})
	read("GetTask", nuxariv1connect.AgentAdminServiceGetTaskProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: a.tasks[1]})))
	})
	read("ListJoinTokens", nuxariv1connect.AgentAdminServiceListJoinTokensProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: 1000}))
		if err == nil && len(res.Msg.JoinTokens) != len(a.joinTokenIDs) {
			return fmt.Errorf("ListJoinTokens lists %d join tokens, A has %d", len(res.Msg.JoinTokens), len(a.joinTokenIDs))
		}
		return err
	})
	read("ListConnectors", nuxariv1connect.ConnectorServiceListConnectorsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{PageSize: 1000}))
		if err == nil && len(res.Msg.Connectors) != len(a.connectors) {
			return fmt.Errorf("ListConnectors lists %d connectors, A has %d", len(res.Msg.Connectors), len(a.connectors))
		}
		return err
	})
	read("GetConnector", nuxariv1connect.ConnectorServiceGetConnectorProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: a.connectors[0]})))
	})
	read("GetSync", nuxariv1connect.ConnectorServiceGetSyncProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: a.syncs[0]})))
	})
	read("ListGrants", nuxariv1connect.ConnectorServiceListGrantsProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: a.connectors[0], PageSize: 1000})))
	})
	read("GetSealingKeys", nuxariv1connect.ConnectorServiceGetSealingKeysProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Connectors.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{}))
		if err == nil && (len(res.Msg.Keys) != 1 || res.Msg.Keys[0].Credentials != uint32(len(a.connectors))) {
			return fmt.Errorf("GetSealingKeys: %v, want A's one key sealing its %d passwords", res.Msg, len(a.connectors))
		}
		return err
	})
	only := func(what string, got, own []string) error {
		for _, id := range got {
			if !slices.Contains(own, id) {
				return fmt.Errorf("%s lists %s, not one of A's %v", what, id, own)
			}
		}
		return nil
	}
	read("ListPolicies", nuxariv1connect.AccessServiceListPoliciesProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{PageSize: 1000}))
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range res.Msg.Policies {
			ids = append(ids, p.PolicyId)
		}
		if len(ids) != len(a.policies) {
			return fmt.Errorf("ListPolicies lists %d policies, A has %d", len(ids), len(a.policies))
		}
		return only("ListPolicies", ids, a.policies)
	})
	read("ListRequests", nuxariv1connect.AccessServiceListRequestsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{PageSize: 1000}))
		if err != nil {
			return err
		}
		var ids []string
		for _, r := range res.Msg.Requests {
			ids = append(ids, r.RequestId)
		}
		return only("ListRequests", ids, a.requests)
	})
	read("ListPlans", nuxariv1connect.AccessServiceListPlansProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{PageSize: 1000, AssignedToMe: true}))
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range res.Msg.Plans {
			ids = append(ids, p.PlanId)
		}
		return only("ListPlans", ids, a.plans)
	})
	read("ListAccessGrants", nuxariv1connect.AccessServiceListAccessGrantsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{PageSize: 1000}))
		if err != nil {
			return err
		}
		var ids []string
		for _, g := range res.Msg.Grants {
			ids = append(ids, g.GrantId)
		}
		if len(ids) != len(a.grants) {
			return fmt.Errorf("ListAccessGrants lists %d grants, A has %d", len(ids), len(a.grants))
		}
		return only("ListAccessGrants", ids, a.grants)
	})
	read("ListDriftFindings(B's connector)", nuxariv1connect.AccessServiceListDriftFindingsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListDriftFindings(ctx, req(&nuxariv1.ListDriftFindingsRequest{ConnectorId: bAccess, IncludeResolved: true}))
		if err == nil && len(res.Msg.Findings) != 0 {
			return fmt.Errorf("ListDriftFindings of B's connector: %v", res.Msg.Findings)
		}
		return err
	})
	read("ListReviews", nuxariv1connect.AccessServiceListReviewsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{PageSize: 1000}))
		if err != nil {
			return err
		}
		var ids []string
		for _, r := range res.Msg.Reviews {
			ids = append(ids, r.ReviewId)
		}
		if len(ids) != len(a.reviews) {
			return fmt.Errorf("ListReviews lists %d reviews, A has %d", len(ids), len(a.reviews))
		}
		return only("ListReviews", ids, a.reviews)
	})
	read("ListReviewItems", nuxariv1connect.AccessServiceListReviewItemsProcedure, func(ctx context.Context, c servertest.Clients) error {
		res, err := c.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: a.reviews[1], PageSize: 1000}))
		if err != nil {
			return err
		}
		for _, it := range res.Msg.Items {
			if it.ReviewId != a.reviews[1] {
				return fmt.Errorf("ListReviewItems of A's review %s lists an item of %s", a.reviews[1], it.ReviewId)
			}
		}
		return nil
	})
	read("GetReview", nuxariv1connect.AccessServiceGetReviewProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: a.reviews[1]})))
	})
	read("GetPolicy", nuxariv1connect.AccessServiceGetPolicyProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: a.policies[0]})))
	})
	read("GetPlan", nuxariv1connect.AccessServiceGetPlanProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: a.plans[0]})))
	})
	read("Heartbeat", nuxariv1connect.AgentGatewayServiceHeartbeatProcedure, func(ctx context.Context, c servertest.Clients) error {
		return ignoreRes(c.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{})))
	})
	read("ReceiveTasks", nuxariv1connect.AgentGatewayServiceReceiveTasksProcedure, func(ctx context.Context, c servertest.Clients) error {
		// The heartbeat interval, then A's one open task, never B's.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.Gateway.ReceiveTasks(ctx, req(&nuxariv1.ReceiveTasksRequest{}))
		if err != nil {
			return err
		}
		defer s.Close()
		for i := range 2 {
			if !s.Receive() {
				return s.Err()
			}
			if task := s.Msg().GetTask(); i == 1 && (task.GetTaskId() != a.tasks[0] || task.GetAgentId() != aAgent.id) {
				return fmt.Errorf("A's agent was sent %v, want its open task %s", s.Msg(), a.tasks[0])
			}
		}
		return nil
	})

	type principal struct {
		name  string
		role  rbac.Role
		token string
	}
	var principals []principal
	for _, m := range a.members {
		principals = append(principals, principal{"session/" + string(m.role), m.role, m.token})
	}
	for _, tk := range a.tokens {
		principals = append(principals, principal{"apitoken/" + string(tk.role), tk.role, tk.secret})
	}
	principals = append(principals, principal{"agent", rbac.Agent, a.agentTok})

	rec := &respRecorder{}
	n := 0
	// How many cross-org probes got past the permission check to the
	// org's own lookup (allowed by the role), and how many the role
	// stopped first.
	var reachedLookup, stoppedByRole atomic.Int64
	t.Run("A asks for B", func(t *testing.T) {
		for i, p := range principals {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				c := recordingClients(ts, rec, p.token, servertest.Protocols[i%len(servertest.Protocols)])
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				for _, pr := range probes {
					err := pr.call(ctx, c)
					code := connect.CodeOf(err)
					want := pr.want
					if !rbacExpectAllowed(p.role, rbacProcedures[pr.proc]) {
						want = []connect.Code{pd}
						stoppedByRole.Add(1)
					} else {
						reachedLookup.Add(1)
					}
					if err == nil || !containsCode(want, code) {
						t.Errorf("%s: got %v, want one of %v", pr.name, err, want)
					}
				}
				for _, rd := range reads {
					err := rd.call(ctx, c)
					if allowed := rbacExpectAllowed(p.role, rbacProcedures[rd.proc]); allowed && err != nil {
						t.Errorf("own %s: %v", rd.name, err)
					} else if !allowed && connect.CodeOf(err) != pd {
						t.Errorf("own %s without permission: got %v, want PermissionDenied", rd.name, err)
					}
				}
			})
		}
		n = len(principals) * (len(probes) + len(reads))
	})
	t.Logf("%d principals × (%d probes + %d own reads) = %d calls; of the cross-org probes, %d reached the org lookup, %d were stopped by the role first",
		len(principals), len(probes), len(reads), n, reachedLookup.Load(), stoppedByRole.Load())
	if reachedLookup.Load() == 0 {
		t.Error("no cross-org probe reached the org lookup: the suite tests only the RBAC table")
	}

	t.Run("B's credentials name A", func(t *testing.T) {
		var creds []string
		for _, m := range b.members {
			creds = append(creds, m.token)
		}
		for _, tk := range b.tokens {
			creds = append(creds, tk.secret)
		}
		for _, tok := range creds {
			c := ts.Clients(tok)
			_, err := c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: a.id}))
			wantCodeIn(t, "B's token: GetOrg(A)", err, connect.CodeNotFound)
			for _, m := range a.members {
				_, err := c.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: m.userID}))
				wantCodeIn(t, "B's token: RemoveMember(A)", err, connect.CodeNotFound, pd)
			}
			for _, ag := range a.agents {
				_, err := c.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: ag.id}))
				wantCodeIn(t, "B's token: DecommissionAgent(A)", err, connect.CodeNotFound, pd)
			}
			for _, task := range a.tasks {
				_, err := c.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: task}))
				wantCodeIn(t, "B's token: GetTask(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.joinTokenIDs {
				_, err := c.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: id}))
				wantCodeIn(t, "B's token: RevokeJoinToken(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.connectors {
				_, err := c.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id}))
				wantCodeIn(t, "B's token: GetConnector(A)", err, connect.CodeNotFound, pd)
				_, err = c.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds("set by B")}))
				wantCodeIn(t, "B's token: RotateCredentials(A)", err, connect.CodeNotFound, pd)
				_, err = c.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id}))
				wantCodeIn(t, "B's token: DecommissionConnector(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.syncs {
				_, err := c.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: id}))
				wantCodeIn(t, "B's token: GetSync(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.policies {
				_, err := c.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: id}))
				wantCodeIn(t, "B's token: GetPolicy(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.requests {
				_, err := c.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: id}))
				wantCodeIn(t, "B's token: CancelRequest(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.plans {
				_, err := c.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: id}))
				wantCodeIn(t, "B's token: ApprovePlan(A)", err, connect.CodeNotFound, pd)
			}
			for _, id := range a.reviews {
				_, err := c.Access.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: id}))
				wantCodeIn(t, "B's token: GetReview(A)", err, connect.CodeNotFound, pd)
				_, err = c.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: id, Decisions: []*nuxariv1.ReviewDecision{{Item: 1, Revoke: true}}}))
				wantCodeIn(t, "B's token: DecideReview(A)", err, connect.CodeNotFound, pd)
				_, err = c.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: id}))
				wantCodeIn(t, "B's token: CancelReview(A)", err, connect.CodeNotFound, pd)
			}
		}
		// B's agent cannot see, feed or complete A's tasks.
		bAgent := ts.Clients(b.agentTok)
		for _, task := range a.tasks {
			_, err := bAgent.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: task}))
			wantCodeIn(t, "B's agent: GetTask(A)", err, pd)
			_, err = bAgent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task, Items: []*nuxariv1.EvidenceItem{
				b.agents[0].evidence(task, "users", "", []byte("from B")),
			}}))
			wantCodeIn(t, "B's agent: SubmitEvidence(A)", err, connect.CodeNotFound)
			_, err = bAgent.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task, Ok: true}))
			wantCodeIn(t, "B's agent: CompleteTask(A)", err, connect.CodeNotFound)
		}
		if got := getTask(t, a.owner, a.tasks[0]); got.State == nuxariv1.TaskState_TASK_STATE_SUCCEEDED || len(got.Evidence) != 0 {
			t.Errorf("A's open task after B's agent: %v", got)
		}
	})

	t.Run("edited tokens", func(t *testing.T) {
		// A token names its org, but the org part is not a claim: the
		// server looks the whole token up in that org, so an edited
		// token names nothing.
		edit := func(tok, from, to string) string {
			kind, rest, _ := strings.Cut(tok, ".")
			org, body, _ := strings.Cut(rest, ".")
			if org != from {
				t.Fatalf("token %q… is not of org %s", kind, from)
			}
			return kind + "." + to + "." + body
		}
		var edited []string
		for _, m := range b.members {
			edited = append(edited, edit(m.token, b.id, a.id))
		}
		for _, tk := range b.tokens {
			edited = append(edited, edit(tk.secret, b.id, a.id))
		}
		for _, m := range a.members {
			edited = append(edited, edit(m.token, a.id, b.id))
		}
		edited = append(edited, edit(b.agentTok, b.id, a.id), edit(a.agentTok, a.id, b.id))
		for _, tok := range edited {
			c := recordingClients(ts, rec, tok, servertest.Connect)
			_, err := c.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
			wantCodeIn(t, "edited token: WhoAmI", err, connect.CodeUnauthenticated)
			_, err = c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))
			wantCodeIn(t, "edited token: GetOrg", err, connect.CodeUnauthenticated)
			_, err = c.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{}))
			wantCodeIn(t, "edited token: ListMembers", err, connect.CodeUnauthenticated)
			_, err = c.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{}))
			wantCodeIn(t, "edited token: Heartbeat", err, connect.CodeUnauthenticated)
		}
	})

	t.Run("no B data in answers", func(t *testing.T) {
		entries := rec.all()
		if len(entries) < n {
			t.Fatalf("recorded %d responses for %d calls", len(entries), n)
		}
		for _, e := range entries {
			for _, f := range forbidden {
				if bytes.Contains(e.data, f) {
					t.Errorf("%s answered with B's data %q in: %q", e.procedure, f, e.data)
				}
			}
		}
	})

	t.Run("idempotency keys are per org", func(t *testing.T) {
		// B appended with keys iso-0 … iso-299; A's append with one of
		// them is a new event of A's, not a duplicate of B's.
		res, err := a.owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{
			{Type: "custom.iso", IdempotencyKey: "iso-299"},
		}}))
		if err != nil {
			t.Fatalf("A appends with a key of B's: %v", err)
		}
		if ev := res.Msg.Events[0]; ev.Duplicate || ev.Index < a.size {
			t.Errorf("A's append with B's idempotency key: %v", ev)
		}
	})

	t.Run("sealing keys are per org", func(t *testing.T) {
		// A rotates its sealing key and reseals its credentials: B's keys
		// are not A's, and B's stay as they were (checked below).
		bKeys := must(b.owner.Connectors.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{})))(t).Msg
		rot := must(a.owner.Connectors.RotateSealingKey(ctx, req(&nuxariv1.RotateSealingKeyRequest{})))(t).Msg
		aKeys := waitReseal(t, a.owner, rot.ResealJobId)
		if aKeys.ResealState != "succeeded" || len(aKeys.Keys) != 2 {
			t.Fatalf("A's keys after the reseal: %v", aKeys)
		}
		for _, ak := range aKeys.Keys {
			for _, bk := range bKeys.Keys {
				if ak.KeyId == bk.KeyId {
					t.Errorf("A and B share the sealing key ID %d", ak.KeyId)
				}
			}
		}
		if bKeys.ResealJobId != "" {
			t.Errorf("B, which never rotated its key, has a reseal job: %v", bKeys)
		}
		_, err := b.owner.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: rot.ResealJobId}))
		wantCodeIn(t, "B: GetSync(A's reseal job)", err, connect.CodeNotFound)
	})

	t.Run("B unchanged", func(t *testing.T) {
		after := snapshotOrg(t, ts, b)
		if after.size != before.size || !bytes.Equal(after.root, before.root) {
			t.Errorf("B's log changed: size %d → %d", before.size, after.size)
		}
		for name, pair := range map[string][2][]byte{
			"members": {before.members, after.members}, "tokens": {before.tokens, after.tokens},
			"org": {before.org, after.org}, "exports": {before.exports, after.exports},
			"agents": {before.agents, after.agents}, "tasks": {before.tasks, after.tasks},
			"join tokens": {before.joinTokens, after.joinTokens}, "connectors": {before.connectors, after.connectors},
			"syncs": {before.syncs, after.syncs}, "grants": {before.grants, after.grants}, "sealing keys": {before.keys, after.keys},
			"policies": {before.policies, after.policies}, "requests": {before.requests, after.requests},
			"plans": {before.plans, after.plans}, "access grants": {before.accessGrants, after.accessGrants},
			"reviews": {before.reviews, after.reviews},
		} {
			if !bytes.Equal(pair[0], pair[1]) {
				t.Errorf("B's %s changed", name)
			}
		}
		// And every credential of B's still works.
		for _, m := range b.members {
			if _, err := ts.Clients(m.token).Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})); err != nil {
				t.Errorf("B's %s session: %v", m.role, err)
			}
		}
		for _, tk := range b.tokens {
			if _, err := ts.Clients(tk.secret).Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})); err != nil {
				t.Errorf("B's %s token: %v", tk.role, err)
			}
		}
		if _, err := ts.Clients(b.agentTok).Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{})); err != nil {
			t.Errorf("B's agent token: %v", err)
		}
		// The edited copies of B's join token did not burn it.
		pub, _ := newAgentKey(t)
		if _, err := ts.Clients("").Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: b.joinToken, PublicKey: pub, Hostname: "late"})); err != nil {
			t.Errorf("B's join token: %v", err)
		}
	})
}

func containsCode(codes []connect.Code, c connect.Code) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// wantCodeIn fails t unless err has one of codes.
func wantCodeIn(t *testing.T, what string, err error, codes ...connect.Code) {
	t.Helper()
	if err == nil || !containsCode(codes, connect.CodeOf(err)) {
		t.Errorf("%s: got %v, want one of %v", what, err, codes)
	}
}
