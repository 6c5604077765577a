package server_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/internal/pgtest"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// The identities and entitlements of a fake system (newFakeAccess).
const (
	fakeAlice   = "user:alice"
	fakeBob     = "user:bob"
	fakeReaders = "role:readers"
	fakeWriters = "role:writers"
	fakeAdmins  = "role:admins"
)

// fakeAccess is an org's connector to a fake system in memory, synced:
// what access tests without PostgreSQL request entitlements of.
type fakeAccess struct {
	sys       *servertest.FakeSystem
	connector string
}

// newFakeAccess gives the org of c a connector to a new fake system
// served by d as name: identities alice (department finance) and bob,
// entitlements readers, writers and admins, bob a writer; and syncs it.
func newFakeAccess(t testing.TB, c servertest.Clients, d *servertest.FakeDriver, name string) fakeAccess {
	t.Helper()
	pw := pgPassword("FakePw")
	sys := servertest.NewFakeSystem(pw)
	sys.AddIdentity(fakeAlice, "alice", map[string]string{"department": "finance"})
	sys.AddIdentity(fakeBob, "bob", nil)
	sys.AddEntitlement(fakeReaders, "readers")
	sys.AddEntitlement(fakeWriters, "writers")
	sys.AddEntitlement(fakeAdmins, "admins")
	sys.SetGrant(fakeBob, fakeWriters, true)
	var id string
	err := retryAborted(func() error {
		res, err := c.Connectors.CreateConnector(t.Context(), req(&nuxariv1.CreateConnectorRequest{
			Name: "fake " + name, Settings: d.Add(name, sys), Credentials: pgCreds(pw),
		}))
		if err == nil {
			id = res.Msg.Connector.ConnectorId
		}
		return err
	})
	if err != nil {
		t.Fatalf("CreateConnector to the fake system %s: %v", name, err)
	}
	if sy := syncNow(t, c, id); sy.State != syncSucceeded {
		t.Fatalf("sync of the fake system %s: %v", name, sy)
	}
	return fakeAccess{sys: sys, connector: id}
}

// accessPolicy returns a policy of connector, changed by f: one approval
// from an owner, admin or approver, no condition, no maximum duration.
func accessPolicy(connector string, f func(*nuxariv1.Policy)) *nuxariv1.Policy {
	p := &nuxariv1.Policy{
		Name: "policy " + randID(3), ConnectorId: connector, Approvals: 1,
		ApproverRoles: []string{"owner", "admin", "approver"},
	}
	if f != nil {
		f(p)
	}
	return p
}

// pgAccess is an org of a test server whose connector reads PostgreSQL:
// roles made for the test (a login role alice, groups, alice a member of
// audit), members of every role that access speaks of, the connector
// synced.
type pgAccess struct {
	ts     *servertest.Server
	org    string
	admin  *pgx.Conn
	prefix string
	// Clients of the owner, a requester, two approvers, an auditor and
	// an admin, and their user IDs.
	owner, requester, approverA, approverB, auditor, adminM servertest.Clients
	ownerID, requesterID, approverAID, approverBID, adminID string
	connector                                               string
	// alice and the groups (group, payments, audit, reports): their
	// connector IDs.
	alice, group, payments, audit, reports string
}

// newPGAccess sets up a pgAccess; the server runs the access schedule
// every 50 ms, so that grants expire on time.
func newPGAccess(t *testing.T, pg pgtest.Server, org string) *pgAccess {
	t.Helper()
	a := &pgAccess{org: org, admin: pg.Admin(t, pg.Database), prefix: pgtest.NewPrefix(t)}
	pgtest.DropRoles(t, a.admin, a.prefix)
	connPW := pgPassword("AccessConnPw")
	pgLoginRole(t, a.admin, a.prefix+"connector", connPW)
	pgtest.Exec(t, a.admin, "CREATE ROLE "+pgtest.Ident(a.prefix+"alice")+" LOGIN")
	for _, g := range []string{"group", "payments", "audit", "reports"} {
		pgtest.Exec(t, a.admin, "CREATE ROLE "+pgtest.Ident(a.prefix+g)+" NOLOGIN")
	}
	pgtest.Exec(t, a.admin, "GRANT "+pgtest.Ident(a.prefix+"audit")+" TO "+pgtest.Ident(a.prefix+"alice"))
	a.alice, a.group, a.payments = pgRoleID(t, a.admin, a.prefix+"alice"), pgRoleID(t, a.admin, a.prefix+"group"), pgRoleID(t, a.admin, a.prefix+"payments")
	a.audit, a.reports = pgRoleID(t, a.admin, a.prefix+"audit"), pgRoleID(t, a.admin, a.prefix+"reports")

	a.ts = servertest.Start(t, func(c *server.Config) { c.Governance.ScheduleInterval = 50 * time.Millisecond })
	ownerTok, ownerID := a.ts.Signup(t, org, "owner@example.com", ownerPW)
	a.owner, a.ownerID = a.ts.Clients(ownerTok), ownerID
	member := func(name string, role nuxariv1.Role) (servertest.Clients, string) {
		tok, id := a.ts.AddMember(t, ownerTok, org, name+"@example.com", name+" password 1", role)
		return a.ts.Clients(tok), id
	}
	a.requester, a.requesterID = member("requester", nuxariv1.Role_ROLE_REQUESTER)
	a.approverA, a.approverAID = member("approver-a", nuxariv1.Role_ROLE_APPROVER)
	a.approverB, a.approverBID = member("approver-b", nuxariv1.Role_ROLE_APPROVER)
	a.auditor, _ = member("auditor", nuxariv1.Role_ROLE_AUDITOR)
	a.adminM, a.adminID = member("admin", nuxariv1.Role_ROLE_ADMIN)
	a.connector = must(a.owner.Connectors.CreateConnector(t.Context(), req(&nuxariv1.CreateConnectorRequest{
		Name: "warehouse", Settings: pgSettings(pg, a.prefix, a.prefix+"connector"), Credentials: pgCreds(connPW),
	})))(t).Msg.Connector.ConnectorId
	if sy := syncNow(t, a.owner, a.connector); sy.State != syncSucceeded {
		t.Fatalf("sync: %v", sy)
	}
	return a
}

// member reports whether PostgreSQL has role user a member of group.
func (a *pgAccess) member(t *testing.T, user, group string) bool {
	t.Helper()
	var ok bool
	err := a.admin.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_auth_members m
		JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
		WHERE g.rolname = $1 AND u.rolname = $2)`, a.prefix+group, a.prefix+user).Scan(&ok)
	if err != nil {
		t.Fatalf("pg_auth_members: %v", err)
	}
	return ok
}

// policy creates a policy of the connector as the owner.
func (a *pgAccess) policy(t *testing.T, f func(*nuxariv1.Policy)) *nuxariv1.Policy {
	t.Helper()
	return must(a.owner.Access.CreatePolicy(t.Context(), req(&nuxariv1.CreatePolicyRequest{Policy: accessPolicy(a.connector, f)})))(t).Msg.Policy
}

// submit asks, as c, for entitlement for alice.
func (a *pgAccess) submit(c servertest.Clients, entitlement string, d time.Duration, justification string) (*nuxariv1.SubmitRequestResponse, error) {
	m := &nuxariv1.SubmitRequestRequest{ConnectorId: a.connector, IdentityId: a.alice, EntitlementId: entitlement, Justification: justification}
	if d != 0 {
		m.Duration = durationpb.New(d)
	}
	res, err := c.Access.SubmitRequest(context.Background(), req(m))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// Plan states, short.
const (
	planPending   = nuxariv1.PlanState_PLAN_STATE_PENDING
	planExecuting = nuxariv1.PlanState_PLAN_STATE_EXECUTING
	planDone      = nuxariv1.PlanState_PLAN_STATE_DONE
)

// waitPlan polls plan id until its run has ended, and returns it.
func waitPlan(t testing.TB, c servertest.Clients, id string) *nuxariv1.Plan {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Access.GetPlan(context.Background(), req(&nuxariv1.GetPlanRequest{PlanId: id}))
		if err != nil {
			t.Fatalf("GetPlan %s: %v", id, err)
		}
		if s := res.Msg.Plan.State; s != planExecuting && s != nuxariv1.PlanState_PLAN_STATE_APPROVED {
			return res.Msg.Plan
		}
		if time.Now().After(deadline) {
			t.Fatalf("plan %s still running after 60 s: %v", id, res.Msg.Plan)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logWith reads org's log until it holds an event of type typ about
// subject, and returns it: a job's end can be read (GetPlan) a moment
// before its event is listed.
func logWith(t testing.TB, c servertest.Clients, org, subject, typ string) []logEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := orgLog(t, c, org)
		if slices.ContainsFunc(evs, func(e logEvent) bool { return e.Subject == subject && e.Type == typ }) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event about %s in the log after 30 s: %v", typ, subject, logTypes(ofSubject(evs, subject)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// accessGrants lists every access grant of the org, of request (all
// without one).
func accessGrants(t testing.TB, c servertest.Clients, request string) []*nuxariv1.AccessGrant {
	t.Helper()
	var out []*nuxariv1.AccessGrant
	tok := ""
	for {
		res, err := c.Access.ListAccessGrants(context.Background(), req(&nuxariv1.ListAccessGrantsRequest{PageSize: 100, PageToken: tok}))
		if err != nil {
			t.Fatalf("ListAccessGrants: %v", err)
		}
		for _, g := range res.Msg.Grants {
			if request == "" || g.RequestId == request {
				out = append(out, g)
			}
		}
		if tok = res.Msg.NextPageToken; tok == "" {
			return out
		}
	}
}

// planEvents returns, in order, the events of org's log about the plans
// and subjects given: those whose subject is one of subjects or
// "plan:<plan>", and the credential uses of those plans' runs.
func planEvents(evs []logEvent, plans []string, subjects ...string) []logEvent {
	var out []logEvent
	for _, e := range evs {
		pid, _ := e.Data["plan_id"].(string)
		switch {
		case slices.Contains(subjects, e.Subject),
			strings.HasPrefix(e.Subject, "plan:") && slices.Contains(plans, strings.TrimPrefix(e.Subject, "plan:")),
			e.Type == "connector.credential.accessed" && e.Data["purpose"] == "plan" && slices.Contains(plans, pid):
			out = append(out, e)
		}
	}
	return out
}

// TestAccessAgainstPostgres drives an access request over the API to
// PostgreSQL and back: a policy (two approvals from approvers, a maximum
// duration, a CEL condition); a requester asks for a group for alice for
// 2 s; neither the requester, an auditor nor an unassigned admin may
// approve, nor an approver their own request; approver A's approval
// leaves the plan pending and A cannot approve twice; approver B's runs
// it: alice is a member of the group in PostgreSQL and the access grant
// is active with its expiry; at the expiry the schedule's revoke plan
// runs: the membership is gone and the grant revoked. Every step is an
// event of the org's log, in order, each in a signed checkpoint.
func TestAccessAgainstPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Need(t)
	ctx := context.Background()
	a := newPGAccess(t, pg, "pgaccess")

	pol := a.policy(t, func(p *nuxariv1.Policy) {
		p.Name, p.Entitlements = "warehouse groups", []string{a.group, a.payments}
		p.MaxDuration, p.Approvals, p.ApproverRoles = durationpb.New(time.Hour), 2, []string{"approver"}
		p.Condition = `request.justification.size() > 5`
	})
	if pol.Version != 1 || pol.CreatedBy != a.ownerID || pol.PolicyId == "" || pol.MaxDuration.AsDuration() != time.Hour ||
		pol.Approvals != 2 || !slices.Equal(pol.ApproverRoles, []string{"approver"}) || pol.CreateTime == nil {
		t.Fatalf("CreatePolicy: %v", pol)
	}
	if got := must(a.auditor.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: pol.PolicyId})))(t).Msg.Policy; !proto.Equal(got, pol) {
		t.Errorf("GetPolicy as the auditor: %v, CreatePolicy said %v", got, pol)
	}

	// The request: allowed by the policy, pending two approvals.
	sub := must(a.submit(a.requester, a.group, 2*time.Second, "quarterly report"))(t)
	r, pl := sub.Request, sub.Plan
	if r.State != nuxariv1.RequestState_REQUEST_STATE_PENDING || r.Requester != a.requesterID || r.PolicyId != pol.PolicyId ||
		r.PolicyVersion != 1 || r.PlanId != pl.PlanId || r.Duration.AsDuration() != 2*time.Second || r.ExpireTime == nil ||
		r.IdentityId != a.alice || r.EntitlementId != a.group {
		t.Fatalf("SubmitRequest's request: %v", r)
	}
	if pl.State != planPending || pl.Reason != "request" || pl.RequestId != r.RequestId || pl.ApprovalsRequired != 2 ||
		pl.PolicyVersion != 1 || pl.RequestedBy != a.requesterID || !slices.Equal(pl.ApproverRoles, []string{"approver"}) ||
		len(pl.Actions) != 1 || pl.Actions[0].Kind != "grant" || pl.Actions[0].State != "pending" ||
		pl.Actions[0].IdentityId != a.alice || pl.Actions[0].EntitlementId != a.group {
		t.Fatalf("SubmitRequest's plan: %v", pl)
	}
	if a.member(t, "alice", "group") {
		t.Fatal("alice is a member of the group before any approval")
	}
	mine := must(a.requester.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{})))(t).Msg.Requests
	if len(mine) != 1 || mine[0].RequestId != r.RequestId {
		t.Errorf("the requester's ListRequests: %v", mine)
	}
	_, err := a.requester.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{All: true}))
	wantCodeMsg(t, "the requester lists every request", err, connect.CodePermissionDenied)

	// Who may not decide.
	approve := func(c servertest.Clients, id string) (*nuxariv1.Plan, error) {
		res, err := c.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: id, Comment: "ok"}))
		if err != nil {
			return nil, err
		}
		return res.Msg.Plan, nil
	}
	_, err = approve(a.requester, pl.PlanId)
	wantCodeMsg(t, "the requester approves", err, connect.CodePermissionDenied)
	_, err = approve(a.auditor, pl.PlanId)
	wantCodeMsg(t, "the auditor approves", err, connect.CodePermissionDenied)
	_, err = approve(a.adminM, pl.PlanId)
	wantCodeMsg(t, "an admin, not an assigned approver, approves", err, connect.CodePermissionDenied, "not an approver")
	_, err = a.adminM.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: pl.PlanId}))
	wantCodeMsg(t, "an admin, not an assigned approver, rejects", err, connect.CodePermissionDenied, "not an approver")
	own := must(a.submit(a.approverA, a.group, time.Minute, "approver A's own need"))(t)
	_, err = approve(a.approverA, own.Plan.PlanId)
	wantCodeMsg(t, "approver A approves their own request", err, connect.CodePermissionDenied, "own request")
	must(a.approverA.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: own.Request.RequestId})))(t)
	_, err = a.approverB.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: r.RequestId}))
	wantCodeMsg(t, "approver B cancels the requester's request", err, connect.CodeNotFound)

	assigned := func(c servertest.Clients) []string {
		var ids []string
		for _, p := range must(c.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{AssignedToMe: true})))(t).Msg.Plans {
			ids = append(ids, p.PlanId)
		}
		return ids
	}
	if got := assigned(a.approverB); !slices.Equal(got, []string{pl.PlanId}) {
		t.Errorf("approver B's plans to decide: %v, want [%s]", got, pl.PlanId)
	}

	// A approves: one of two; A again is refused.
	p1 := must(approve(a.approverA, pl.PlanId))(t)
	if p1.State != planPending || len(p1.Approvals) != 1 || p1.Approvals[0].Approver != a.approverAID || !p1.Approvals[0].Approved {
		t.Fatalf("the plan after A's approval: %v", p1)
	}
	_, err = approve(a.approverA, pl.PlanId)
	wantCodeMsg(t, "A approves twice", err, connect.CodeFailedPrecondition, "already decided")
	if got := assigned(a.approverA); len(got) != 0 {
		t.Errorf("approver A's plans to decide after deciding: %v", got)
	}
	if a.member(t, "alice", "group") {
		t.Fatal("alice is a member of the group after one approval of two")
	}

	// B approves: the plan runs and alice is a member.
	p2 := must(approve(a.approverB, pl.PlanId))(t)
	if len(p2.Approvals) != 2 || p2.State == planPending {
		t.Fatalf("the plan after B's approval: %v", p2)
	}
	done := waitPlan(t, a.owner, pl.PlanId)
	if done.State != planDone || done.Actions[0].State != "done" || done.Actions[0].Error != "" || done.CompleteTime == nil {
		t.Fatalf("the plan's run: %v", done)
	}
	if !a.member(t, "alice", "group") {
		t.Fatal("the plan is done, but alice is not a member of the group in PostgreSQL")
	}
	gs := accessGrants(t, a.auditor, r.RequestId)
	if len(gs) != 1 {
		t.Fatalf("access grants of the request: %v", gs)
	}
	g := gs[0]
	if g.State != "active" || g.IdentityId != a.alice || g.EntitlementId != a.group || g.ConnectorId != a.connector ||
		g.GrantTime == nil || g.ExpireTime == nil || g.ExpireTime.AsTime().Sub(g.GrantTime.AsTime()) != 2*time.Second {
		t.Fatalf("the access grant: %v", g)
	}
	if got := must(a.requester.Access.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: r.RequestId})))(t).Msg.Request; got.State != nuxariv1.RequestState_REQUEST_STATE_APPROVED {
		t.Errorf("the request after its plan ran: %v", got)
	}

	// The expiry: the schedule revokes it.
	expire := g.ExpireTime.AsTime()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs = accessGrants(t, a.owner, r.RequestId)
		if len(gs) == 1 && gs[0].State == "revoked" {
			break
		}
		if len(gs) != 1 || (gs[0].State != "active" && gs[0].State != "revoking") || time.Now().After(deadline) {
			t.Fatalf("the access grant, waiting for its revocation: %v", gs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now := time.Now(); now.Before(expire) {
		t.Errorf("the grant was revoked at %v, before its expiry %v", now, expire)
	}
	if a.member(t, "alice", "group") {
		t.Fatal("the grant is revoked, but alice is still a member of the group in PostgreSQL")
	}
	if !a.member(t, "alice", "audit") {
		t.Error("alice lost her membership of audit, which no plan touched")
	}

	// The log.
	evs := logWith(t, a.owner, a.org, "grant:"+g.GrantId, "access.grant.expired")
	var revokePlan string
	for _, e := range ofSubject(evs, "grant:"+g.GrantId) {
		if e.Type == "access.grant.expired" {
			p, _ := e.Data["plan"].(map[string]any)
			revokePlan, _ = p["id"].(string)
		}
	}
	if revokePlan == "" {
		t.Fatalf("no access.grant.expired event of grant %s with its plan: %v", g.GrantId, logTypes(ofSubject(evs, "grant:"+g.GrantId)))
	}
	rp := waitPlan(t, a.owner, revokePlan)
	evs = logWith(t, a.owner, a.org, "plan:"+revokePlan, "access.plan.run.completed")
	if rp.State != planDone || rp.Reason != "expiry" || rp.RequestedBy != "system" || len(rp.Actions) != 1 ||
		rp.Actions[0].Kind != "revoke" || rp.Actions[0].State != "done" || rp.RequestId != r.RequestId {
		t.Errorf("the revoke plan: %v", rp)
	}
	aevs := planEvents(evs, []string{pl.PlanId, revokePlan}, "request:"+r.RequestId, "grant:"+g.GrantId)
	type ev struct{ typ, actor string }
	want := []ev{
		{"access.request.submitted", a.requesterID},
		{"access.plan.approval", a.approverAID},
		{"access.plan.approved", a.approverBID},
		{"access.plan.run.started", "system"},
		{"connector.credential.accessed", "system"},
		{"access.action.executed", "system"},
		{"access.plan.run.completed", "system"},
		{"access.grant.expired", "system"},
		{"access.plan.run.started", "system"},
		{"connector.credential.accessed", "system"},
		{"access.action.executed", "system"},
		{"access.plan.run.completed", "system"},
	}
	var got []ev
	for _, e := range aevs {
		got = append(got, ev{e.Type, e.Actor})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the request's events:\n got %v\nwant %v", got, want)
	}
	dec, _ := aevs[0].Data["decision"].(map[string]any)
	in, _ := dec["input"].(map[string]any)
	inReq, _ := in["request"].(map[string]any)
	if dec["allowed"] != true || dec["policy_id"] != pol.PolicyId || dec["policy_version"] != 1.0 ||
		inReq["justification"] != "quarterly report" || inReq["duration_seconds"] != 2.0 {
		t.Errorf("access.request.submitted's decision: %v", dec)
	}
	if d := aevs[1].Data; d["approvals"] != 1.0 || d["required"] != 2.0 {
		t.Errorf("access.plan.approval: %v", d)
	}
	for i, kind := range map[int]string{5: "grant", 10: "revoke"} {
		d := aevs[i].Data
		if d["kind"] != kind || d["ok"] != true || d["grant_id"] != g.GrantId || d["identity_id"] != a.alice || d["entitlement_id"] != a.group {
			t.Errorf("access.action.executed (%s): %v", kind, d)
		}
	}
	if aevs[4].Subject != "connector:"+a.connector || aevs[9].Subject != "connector:"+a.connector {
		t.Errorf("credential uses about %s and %s, want the connector", aevs[4].Subject, aevs[9].Subject)
	}
	verifyInLog(t, a.owner, a.org, aevs)
	t.Logf("%d events of the request, its plans and grant, each in a signed checkpoint", len(aevs))
}

// TestAccessDenials: a request no policy allows is refused with
// FailedPrecondition and the reasons, recorded as one
// access.request.denied event with the decision, and nothing else: no
// policy of the connector; a separation-of-duties conflict with what the
// identity holds in PostgreSQL; a duration over the maximum, or none
// where there is a maximum; a condition that is false; a condition that
// fails when evaluated. An identity the snapshot does not list is
// NotFound, decided by nothing.
func TestAccessDenials(t *testing.T) {
	t.Parallel()
	pg := pgtest.Need(t)
	ctx := context.Background()
	a := newPGAccess(t, pg, "pgdeny")

	var denied []logEvent
	deny := func(name, entitlement string, d time.Duration, justification string, words ...string) {
		t.Helper()
		before := logSize(t, a.ts, a.org)
		_, err := a.submit(a.requester, entitlement, d, justification)
		wantCodeMsg(t, name, err, connect.CodeFailedPrecondition, words...)
		// The connector's sync may still be recording its end.
		var evs []logEvent
		for _, e := range orgLog(t, a.owner, a.org)[before:] {
			if !strings.HasPrefix(e.Type, "connector.sync.") {
				evs = append(evs, e)
			}
		}
		if len(evs) != 1 || evs[0].Type != "access.request.denied" || evs[0].Actor != a.requesterID || evs[0].Subject != "connector:"+a.connector {
			t.Fatalf("%s: the log gained %v, want one access.request.denied by the requester", name, logTypes(evs))
		}
		dec, _ := evs[0].Data["decision"].(map[string]any)
		in, _ := dec["input"].(map[string]any)
		ent, _ := in["entitlement"].(map[string]any)
		reason, _ := evs[0].Data["reason"].(string)
		if dec["allowed"] != false || ent["id"] != entitlement || !strings.Contains(reason, words[0]) {
			t.Errorf("%s: access.request.denied %v", name, evs[0].Data)
		}
		denied = append(denied, evs[0])
	}
	deny("no policy", a.group, time.Minute, "quarterly report", "no policy covers this connector")

	a.policy(t, func(p *nuxariv1.Policy) {
		p.Name, p.Entitlements = "groups", []string{a.group, a.payments}
		p.MaxDuration, p.Approvals, p.ApproverRoles = durationpb.New(time.Hour), 2, []string{"approver"}
		p.Condition = `request.justification.size() > 5`
		p.Conflicts = []*nuxariv1.EntitlementSet{{Entitlements: []string{a.audit, a.payments}}}
	})
	a.policy(t, func(p *nuxariv1.Policy) {
		p.Name, p.Entitlements = "reports", []string{a.reports}
		p.Condition = `identity.attributes["missing"] == "x"`
	})
	deny("separation of duties", a.payments, time.Minute, "quarterly report", "separation of duties", a.audit)
	deny("duration over the maximum", a.group, 2*time.Hour, "quarterly report", "duration")
	deny("no duration under a maximum", a.group, 0, "quarterly report", "duration")
	deny("condition false", a.group, time.Minute, "short", "condition is false")
	deny("condition failing at run time", a.reports, time.Minute, "quarterly report", "condition failed", "missing")

	// Not decided at all: an identity the snapshot does not list.
	before := logSize(t, a.ts, a.org)
	_, err := a.requester.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
		ConnectorId: a.connector, IdentityId: "role:4294967295", EntitlementId: a.group, Duration: durationpb.New(time.Minute), Justification: "quarterly report",
	}))
	wantCodeMsg(t, "an identity not in the snapshot", err, connect.CodeNotFound, "identity")
	if n := logSize(t, a.ts, a.org); n != before {
		t.Errorf("a request naming no identity appended %d events", n-before)
	}
	// And what is allowed still is: the policies are not stuck.
	if _, err := a.submit(a.requester, a.group, time.Minute, "quarterly report"); err != nil {
		t.Fatalf("an allowed request after the denials: %v", err)
	}
	if rs := must(a.owner.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{All: true})))(t).Msg.Requests; len(rs) != 1 {
		t.Errorf("%d requests recorded, want the one allowed: %v", len(rs), rs)
	}
	verifyInLog(t, a.owner, a.org, denied)
}

// TestAccessPolicyUpdatedWhilePending: a policy's new version applies to
// new requests; a plan made before keeps the version it was decided
// under, with its approvals and approvers. An update naming a version
// that is no longer current is Aborted. Every version stays readable.
func TestAccessPolicyUpdatedWhilePending(t *testing.T) {
	t.Parallel()
	pg := pgtest.Need(t)
	ctx := context.Background()
	a := newPGAccess(t, pg, "pgversion")
	v1 := a.policy(t, func(p *nuxariv1.Policy) {
		p.Name, p.Approvals, p.ApproverRoles = "groups", 2, []string{"approver"}
		p.Condition = `request.justification.size() > 5`
	})
	old := must(a.submit(a.requester, a.group, time.Minute, "quarterly report"))(t)

	next := proto.Clone(v1).(*nuxariv1.Policy)
	next.Approvals, next.ApproverRoles, next.ApproverIds = 1, nil, []string{a.approverAID}
	next.Condition = `request.justification.size() > 10`
	v2 := must(a.owner.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{Policy: next})))(t).Msg.Policy
	if v2.Version != 2 || v2.PolicyId != v1.PolicyId || v2.Approvals != 1 || !slices.Equal(v2.ApproverIds, []string{a.approverAID}) || len(v2.ApproverRoles) != 0 {
		t.Fatalf("UpdatePolicy: %v", v2)
	}
	_, err := a.owner.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{Policy: next}))
	wantCodeMsg(t, "UpdatePolicy naming version 1 again", err, connect.CodeAborted)
	got1 := must(a.auditor.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: v1.PolicyId, Version: 1})))(t).Msg.Policy
	if !proto.Equal(got1, v1) {
		t.Errorf("GetPolicy version 1: %v, want %v", got1, v1)
	}
	if cur := must(a.auditor.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: v1.PolicyId})))(t).Msg.Policy; !proto.Equal(cur, v2) {
		t.Errorf("GetPolicy: %v, want version 2 %v", cur, v2)
	}
	_, err = a.auditor.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: v1.PolicyId, Version: 3}))
	wantCodeMsg(t, "GetPolicy version 3", err, connect.CodeNotFound)
	if ps := must(a.auditor.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{})))(t).Msg.Policies; len(ps) != 1 || ps[0].Version != 2 {
		t.Errorf("ListPolicies: %v, want the policy at version 2", ps)
	}

	// The pending plan and request keep version 1.
	pl := must(a.owner.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: old.Plan.PlanId})))(t).Msg.Plan
	if pl.PolicyVersion != 1 || pl.ApprovalsRequired != 2 || !slices.Equal(pl.ApproverRoles, []string{"approver"}) || len(pl.ApproverIds) != 0 {
		t.Errorf("the pending plan after the update: %v", pl)
	}
	if r := must(a.requester.Access.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: old.Request.RequestId})))(t).Msg.Request; r.PolicyVersion != 1 {
		t.Errorf("the pending request after the update: %v", r)
	}
	// A new request is decided by version 2: its condition, then its
	// approvals and approvers.
	_, err = a.submit(a.requester, a.group, time.Minute, "quarterly")
	wantCodeMsg(t, "a justification version 1 took, under version 2", err, connect.CodeFailedPrecondition, "condition is false")
	nw := must(a.submit(a.requester, a.group, time.Minute, "quarterly report, again"))(t)
	if nw.Request.PolicyVersion != 2 || nw.Plan.PolicyVersion != 2 || nw.Plan.ApprovalsRequired != 1 || !slices.Equal(nw.Plan.ApproverIds, []string{a.approverAID}) {
		t.Errorf("a request under version 2: %v %v", nw.Request, nw.Plan)
	}
	_, err = a.approverB.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: nw.Plan.PlanId}))
	wantCodeMsg(t, "approver B approves a plan of version 2, which names approver A alone", err, connect.CodePermissionDenied)

	// The old plan needs two approvals from approvers, as version 1 said.
	p := must(a.approverA.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: old.Plan.PlanId})))(t).Msg.Plan
	if p.State != planPending {
		t.Fatalf("the old plan after one approval: %v, want pending (version 1 needs two)", p)
	}
	must(a.approverB.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: old.Plan.PlanId})))(t)
	if done := waitPlan(t, a.owner, old.Plan.PlanId); done.State != planDone {
		t.Fatalf("the old plan's run: %v", done)
	}
	if !a.member(t, "alice", "group") {
		t.Error("the old plan is done, but alice is not a member of the group")
	}
	gs := accessGrants(t, a.owner, old.Request.RequestId)
	if len(gs) != 1 || gs[0].State != "active" {
		t.Errorf("the old request's grant: %v", gs)
	}

	// The log: both versions' full text.
	pevs := ofSubject(orgLog(t, a.owner, a.org), "policy:"+v1.PolicyId)
	if got := logTypes(pevs); !slices.Equal(got, []string{"access.policy.created", "access.policy.updated"}) {
		t.Fatalf("the policy's events: %v", got)
	}
	for i, e := range pevs {
		text, _ := e.Data["policy"].(map[string]any)
		if e.Data["version"] != float64(i+1) || text["approvals"] != float64([]int{2, 1}[i]) || text["condition"] != []string{v1.Condition, v2.Condition}[i] || e.Actor != a.ownerID {
			t.Errorf("%s: %v", e.Type, e.Data)
		}
	}
	verifyInLog(t, a.owner, a.org, pevs)
}

// TestAccessConcurrentApprovals: approvers racing to decide the same
// plan run it exactly once. With one approval needed, one approver wins
// and the other is told the plan is no longer pending; with two, both
// count. Either way the plan has one access.plan.approved, one run and
// one access.action.executed.
func TestAccessConcurrentApprovals(t *testing.T) {
	t.Parallel()
	pg := pgtest.Need(t)
	ctx := context.Background()
	a := newPGAccess(t, pg, "pgrace")
	a.policy(t, func(p *nuxariv1.Policy) {
		p.Name, p.Entitlements, p.Approvals, p.ApproverRoles = "one", []string{a.group}, 1, []string{"approver"}
	})
	a.policy(t, func(p *nuxariv1.Policy) {
		p.Name, p.Entitlements, p.Approvals, p.ApproverRoles = "two", []string{a.reports}, 2, []string{"approver"}
	})
	const rounds = 5
	var plans []string
	wantApproved := map[string]int{}
	for i := range 2 * rounds {
		quorum, ent := 1, a.group
		if i%2 == 1 {
			quorum, ent = 2, a.reports
		}
		sub := must(a.submit(a.requester, ent, 0, fmt.Sprintf("race %d", i)))(t)
		id := sub.Plan.PlanId
		if sub.Plan.ApprovalsRequired != int32(quorum) {
			t.Fatalf("round %d: the plan needs %d approvals, want %d", i, sub.Plan.ApprovalsRequired, quorum)
		}
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j, c := range []servertest.Clients{a.approverA, a.approverB} {
			wg.Go(func() {
				<-start
				_, errs[j] = c.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: id, Comment: fmt.Sprintf("racer %d", j)}))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case quorum == 1:
				wantCodeMsg(t, fmt.Sprintf("round %d: the losing approval", i), err, connect.CodeFailedPrecondition, "not pending")
			default:
				t.Errorf("round %d (two needed): an approval failed: %v", i, err)
			}
		}
		if ok != quorum {
			t.Fatalf("round %d: %d approvals succeeded, want %d: %v", i, ok, quorum, errs)
		}
		done := waitPlan(t, a.owner, id)
		if done.State != planDone || len(done.Approvals) != quorum {
			t.Fatalf("round %d: the plan after the race: %v", i, done)
		}
		if gs := accessGrants(t, a.owner, sub.Request.RequestId); len(gs) != 1 || gs[0].State != "active" || gs[0].ExpireTime != nil {
			t.Errorf("round %d: the request's grants: %v", i, gs)
		}
		plans = append(plans, id)
		wantApproved[id] = quorum
	}
	if !a.member(t, "alice", "group") || !a.member(t, "alice", "reports") {
		t.Error("alice is not a member of both groups after the plans ran")
	}
	evs := logWith(t, a.owner, a.org, "plan:"+plans[len(plans)-1], "access.plan.run.completed")
	for _, id := range plans {
		n := map[string]int{}
		for _, e := range ofSubject(evs, "plan:"+id) {
			n[e.Type]++
		}
		want := map[string]int{"access.plan.approved": 1, "access.plan.run.started": 1, "access.action.executed": 1, "access.plan.run.completed": 1}
		if wantApproved[id] == 2 {
			want["access.plan.approval"] = 1
		}
		if !maps.Equal(n, want) {
			t.Errorf("plan %s (%d needed): events %v, want %v", id, wantApproved[id], n, want)
		}
	}
	verifyInLog(t, a.owner, a.org, planEvents(evs, plans))
}
