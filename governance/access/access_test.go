package access_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/internal/fakesystem"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
)

const org = "acme"

// env is one test's domain: an org with its people, a connector over a
// system in memory (10 identities u000000…, 4 entitlements r0000…; each
// identity i holds r(i%4) and r((i+1)%4)), synced, and access.
type env struct {
	people    *domaintest.People
	sys       *fakesystem.System
	cs        *connectors.Service
	svc       *access.Service
	runner    *jobs.Runner
	connector string

	owner, admin, approverA, approverB, requester, auditor *core.Principal
}

func newEnv(t *testing.T) *env {
	t.Helper()
	people := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	f := people.F
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	kek, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{people: people, sys: fakesystem.New("pw")}
	e.sys.Populate(10, 4)
	e.runner = jobs.New(f.Store, jobs.Config{Clock: f.Clock.Now})
	t.Cleanup(e.runner.Close)
	if e.cs, err = connectors.New(f.Env, connectors.Config{KEK: kek, Drivers: []connectors.Driver{fakesystem.Driver{Sys: e.sys}}}, e.runner); err != nil {
		t.Fatal(err)
	}
	if e.svc, err = access.New(f.Env, access.Config{RequestTTL: 24 * time.Hour}, e.runner, e.cs); err != nil {
		t.Fatal(err)
	}
	e.owner = people.CreateOrg(t, org)
	e.admin = people.AddMember(t, e.owner, "admin@acme.example", rbac.Admin)
	e.approverA = people.AddMember(t, e.owner, "a@acme.example", rbac.Approver)
	e.approverB = people.AddMember(t, e.owner, "b@acme.example", rbac.Approver)
	e.requester = people.AddMember(t, e.owner, "r@acme.example", rbac.Requester)
	e.auditor = people.AddMember(t, e.owner, "au@acme.example", rbac.Auditor)
	ctx := domaintest.Ctx()
	c, err := e.cs.Create(ctx, e.admin, connectors.CreateRequest{
		Name: "db", Kind: "fake", Settings: []byte(`{"host":"h"}`), Credentials: map[string]secret.String{"password": secret.New("pw")},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.connector = c.ID
	e.sync(t)
	return e
}

func (e *env) sync(t *testing.T) {
	t.Helper()
	s, err := e.cs.StartSync(domaintest.Ctx(), e.admin, e.connector)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sync", func() bool {
		s, err = e.cs.GetSync(domaintest.Ctx(), e.admin, s.ID)
		return err == nil && s.State != "running"
	})
	if s.State != "succeeded" {
		t.Fatalf("sync %+v", s)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// policy returns a policy of the connector needing n approvals from
// approvers, for at most max.
func (e *env) policy(t *testing.T, edit func(*access.Policy)) access.Policy {
	t.Helper()
	p := access.Policy{
		Name: "db access", ConnectorID: e.connector, MaxDuration: access.Duration(time.Hour),
		Approvals: 2, ApproverRoles: []string{"approver"},
	}
	if edit != nil {
		edit(&p)
	}
	out, err := e.svc.CreatePolicy(domaintest.Ctx(), e.admin, p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) submit(t *testing.T, by *core.Principal, identity, entitlement string, d time.Duration) (access.Request, access.Plan, error) {
	t.Helper()
	return e.svc.Submit(domaintest.Ctx(), by, access.SubmitRequest{
		ConnectorID: e.connector, IdentityID: identity, EntitlementID: entitlement, Duration: d, Justification: "ticket OPS-1234",
	})
}

func (e *env) waitPlan(t *testing.T, id string) access.Plan {
	t.Helper()
	var pl access.Plan
	waitFor(t, "plan "+id, func() bool {
		var err error
		pl, err = e.svc.GetPlan(domaintest.Ctx(), e.admin, id)
		return err == nil && pl.State != access.PlanExecuting
	})
	return pl
}

func (e *env) events(t *testing.T, prefix string) []domaintest.Event {
	t.Helper()
	evs := e.people.F.Events(t, org)
	domaintest.CheckCatalog(t, evs)
	var out []domaintest.Event
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

func TestPolicies(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	for what, edit := range map[string]func(*access.Policy){
		"malformed CEL":            func(p *access.Policy) { p.Condition = "request.duration_seconds >" },
		"unknown field":            func(p *access.Policy) { p.Condition = "request.durations > 1" },
		"not bool":                 func(p *access.Policy) { p.Condition = "request.justification" },
		"approvals, no approvers":  func(p *access.Policy) { p.ApproverRoles = nil },
		"too many approvals":       func(p *access.Policy) { p.Approvals = 11 },
		"unknown role":             func(p *access.Policy) { p.RequesterRoles = []string{"root"} },
		"approvers who may not":    func(p *access.Policy) { p.ApproverRoles = []string{"approver", "requester"} },
		"an approver who may not":  func(p *access.Policy) { p.ApproverIDs = []string{e.requester.UserID} },
		"an approver not a member": func(p *access.Policy) { p.ApproverIDs = []string{"unone"} },
		"negative duration":        func(p *access.Policy) { p.MaxDuration = -1 },
		"conflict of one":          func(p *access.Policy) { p.Conflicts = [][]string{{"r0000"}} },
		"no name":                  func(p *access.Policy) { p.Name = "" },
		"bad connector":            func(p *access.Policy) { p.ConnectorID = "C/1" },
	} {
		p := access.Policy{Name: "p", ConnectorID: e.connector, Approvals: 1, ApproverRoles: []string{"approver"}}
		edit(&p)
		_, err := e.svc.CreatePolicy(ctx, e.admin, p)
		domaintest.WantKind(t, what, err, errs.InvalidArgument)
	}
	_, err := e.svc.CreatePolicy(ctx, e.admin, access.Policy{Name: "p", ConnectorID: e.connector, Condition: "request.duration_seconds >"})
	if err == nil || !strings.Contains(err.Error(), "1:27") {
		t.Fatalf("a malformed condition's error does not give its position: %v", err)
	}

	p := e.policy(t, func(p *access.Policy) { p.Condition = `request.justification.startsWith("ticket")` })
	if p.Version != 1 || p.ID == "" {
		t.Fatalf("created %+v", p)
	}
	p2 := p
	p2.Approvals = 1
	p2, err = e.svc.UpdatePolicy(ctx, e.admin, p2)
	if err != nil || p2.Version != 2 {
		t.Fatalf("update: %+v, %v", p2, err)
	}
	stale := p // version 1
	_, err = e.svc.UpdatePolicy(ctx, e.admin, stale)
	domaintest.WantKind(t, "update of a stale version", err, errs.Conflict)
	v1, err := e.svc.GetPolicy(ctx, e.auditor, p.ID, 1)
	if err != nil || v1.Approvals != 2 || v1.Version != 1 {
		t.Fatalf("version 1: %+v, %v", v1, err)
	}
	evs := e.events(t, "access.policy.")
	if len(evs) != 2 || evs[0].Type != ec.AccessPolicyCreated || evs[1].Type != ec.AccessPolicyUpdated {
		t.Fatalf("events %v", domaintest.Types(evs))
	}
	if text := evs[0].Data["policy"].(map[string]any); text["condition"] != p.Condition || text["approvals"] != float64(2) {
		t.Fatalf("the created event does not hold the full text: %v", text)
	}
}

// TestRequestCycle: request, two approvals, the grant made in the
// system, its expiry, the revoke.
func TestRequestCycle(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	pol := e.policy(t, nil)
	// u000002 holds r0002 and r0003; it asks for r0000.
	r, pl, err := e.submit(t, e.requester, "u000002", "r0000", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != access.RequestPending || pl.State != access.PlanPending || pl.Required != 2 || r.PolicyVersion != 1 || r.PolicyID != pol.ID {
		t.Fatalf("request %+v plan %+v", r, pl)
	}
	_, err = e.svc.Decide(ctx, e.requester, pl.ID, true, "")
	domaintest.WantKind(t, "a requester approving", err, errs.Permission)
	_, err = e.svc.Decide(ctx, e.auditor, pl.ID, true, "")
	domaintest.WantKind(t, "an unassigned member approving", err, errs.Permission)
	mine, _, err := e.svc.ListPlans(ctx, e.approverA, true, 0, "")
	if err != nil || len(mine) != 1 || mine[0].ID != pl.ID {
		t.Fatalf("approver A's inbox: %v, %v", mine, err)
	}
	got, err := e.svc.Decide(ctx, e.approverA, pl.ID, true, "ok by me")
	if err != nil || got.State != access.PlanPending {
		t.Fatalf("first approval: %+v, %v", got, err)
	}
	_, err = e.svc.Decide(ctx, e.approverA, pl.ID, true, "")
	domaintest.WantKind(t, "approving twice", err, errs.Precondition)
	if mine, _, _ := e.svc.ListPlans(ctx, e.approverA, true, 0, ""); len(mine) != 0 {
		t.Fatal("a decided plan stays in the approver's inbox")
	}
	if e.sys.Has("u000002", "r0000") {
		t.Fatal("granted before the approvals")
	}
	e.people.F.Clock.Advance(time.Minute)
	if _, err := e.svc.Decide(ctx, e.approverB, pl.ID, true, "ok"); err != nil {
		t.Fatal(err)
	}
	if done := e.waitPlan(t, pl.ID); done.State != access.PlanDone || done.Actions[0].State != "done" {
		t.Fatalf("plan %+v", done)
	}
	if !e.sys.Has("u000002", "r0000") {
		t.Fatal("the grant is not in the system")
	}
	gs, _, err := e.svc.ListGrants(ctx, e.auditor, 0, "")
	if err != nil || len(gs) != 1 || gs[0].State != access.GrantActive {
		t.Fatalf("grants %+v, %v", gs, err)
	}
	// Access time starts when the grant is made, not when it was asked.
	if want := domaintest.Start.Add(time.Minute + 30*time.Minute); !gs[0].Expires.Equal(want) {
		t.Fatalf("expires %v, want %v", gs[0].Expires, want)
	}
	if r, _ := e.svc.GetRequest(ctx, e.requester, r.ID); r.State != access.RequestApproved {
		t.Fatalf("request state %s", r.State)
	}

	// Not yet; then past the expiry.
	e.people.F.Clock.Advance(29 * time.Minute)
	e.svc.RunSchedule(ctx)
	if !e.sys.Has("u000002", "r0000") {
		t.Fatal("revoked before the expiry")
	}
	e.people.F.Clock.Advance(time.Minute)
	e.svc.RunSchedule(ctx)
	gs, _, err = e.svc.ListGrants(ctx, e.auditor, 0, "")
	if err != nil || len(gs) != 1 || gs[0].RevokePlan == "" {
		t.Fatalf("grants after the expiry: %+v, %v", gs, err)
	}
	if done := e.waitPlan(t, gs[0].RevokePlan); done.State != access.PlanDone || done.Reason != "expiry" {
		t.Fatalf("revoke plan %+v", done)
	}
	if gs, _, _ = e.svc.ListGrants(ctx, e.auditor, 0, ""); gs[0].State != access.GrantRevoked {
		t.Fatalf("grant after the revoke: %+v", gs[0])
	}
	if e.sys.Has("u000002", "r0000") {
		t.Fatal("the grant is still in the system")
	}
	// A job's end is readable a moment before its event is in the log.
	waitFor(t, "the revoke's end in the log", func() bool {
		return len(e.people.F.EventsOfType(t, org, ec.AccessPlanRunCompleted)) == 2
	})
	types := domaintest.Types(e.events(t, "access."))
	want := []string{
		ec.AccessPolicyCreated, ec.AccessRequestSubmitted, ec.AccessPlanApproval, ec.AccessPlanApproved,
		ec.AccessPlanRunStarted, ec.AccessActionExecuted, ec.AccessPlanRunCompleted,
		// The snapshot from before the grant, compared: the grant is in
		// flux there, not missing.
		ec.AccessDriftChecked,
		ec.AccessGrantExpired, ec.AccessPlanRunStarted, ec.AccessActionExecuted, ec.AccessPlanRunCompleted,
	}
	if !slices.Equal(types, want) {
		t.Fatalf("events\n%v\nwant\n%v", types, want)
	}
	sub := e.events(t, ec.AccessRequestSubmitted)[0]
	d := sub.Data["decision"].(map[string]any)
	in := d["input"].(map[string]any)
	if d["policy_version"] != float64(1) || in["identity"].(map[string]any)["id"] != "u000002" || !slices.Equal(toStrings(in["request"].(map[string]any)["held"]), []string{"r0002", "r0003"}) {
		t.Fatalf("decision %v", d)
	}
	if e.sys.Changes() != 2 {
		t.Fatalf("%d changes in the system, want a grant and a revoke", e.sys.Changes())
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestDenials(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	_, _, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	domaintest.WantKind(t, "no policy", err, errs.Precondition)
	e.policy(t, func(p *access.Policy) {
		p.Conflicts = [][]string{{"r0001", "r0003"}}
		p.Condition = `identity.attributes["team"] == "ops" || request.duration_seconds <= 600`
	})
	for _, tc := range []struct {
		what, identity, entitlement string
		d                           time.Duration
		by                          *core.Principal
		reason                      string
	}{
		{"over the maximum", "u000002", "r0000", 2 * time.Hour, e.requester, "duration must be between"},
		{"without an end", "u000002", "r0000", 0, e.requester, "duration must be between"},
		{"separation of duties", "u000002", "r0001", time.Minute, e.requester, "separation of duties"},
		{"a condition that fails at run time", "u000002", "r0000", 20 * time.Minute, e.requester, "condition failed"},
		{"a role not allowed", "u000002", "r0000", time.Minute, e.auditor, "may not request"},
	} {
		_, _, err := e.submit(t, tc.by, tc.identity, tc.entitlement, tc.d)
		if !errors.Is(err, errs.Precondition) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want a refusal saying %q", tc.what, err, tc.reason)
		}
	}
	_, _, err = e.submit(t, e.requester, "u999999", "r0000", time.Minute)
	domaintest.WantKind(t, "an identity not in the snapshot", err, errs.NotFound)
	if _, _, err := e.submit(t, e.requester, "u000002", "r0000", 5*time.Minute); err != nil {
		t.Fatalf("an allowed request: %v", err)
	}
	denied := e.events(t, ec.AccessRequestDenied)
	if len(denied) != 6 {
		t.Fatalf("%d denials recorded, want 6", len(denied))
	}
	// A denial's input and policy version evaluate again to the same
	// verdict.
	for _, ev := range denied[1:] {
		d := ev.Data["decision"].(map[string]any)
		if d["allowed"] != false || len(d["evaluated"].([]any)) != 1 {
			t.Fatalf("decision %v", d)
		}
	}
	_, err = e.svc.Decide(ctx, e.approverA, "lnothere", true, "")
	domaintest.WantKind(t, "unknown plan", err, errs.NotFound)
}

func TestEvaluate(t *testing.T) {
	in := access.Input{
		Request:  access.InputRequest{DurationSeconds: 600, Justification: "ticket", Held: []string{"r1"}},
		Identity: access.InputIdentity{ID: "u1", Attributes: map[string]string{"team": "ops"}},
	}
	for src, want := range map[string]bool{
		"":                                     true,
		`request.duration_seconds <= 600`:      true,
		`request.duration_seconds < 600`:       false,
		`"r1" in request.held`:                 true,
		`identity.attributes["team"] == "ops"`: true,
		`identity.attributes["x"] == "y"`:      false, // no such key: denies
		`1/0 == 1`:                             false,
	} {
		if got, why := access.Evaluate(src, in); got != want {
			t.Errorf("%q = %v (%s), want %v", src, got, why, want)
		}
	}
}

func TestSelfApproval(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals, p.ApproverRoles = 1, []string{"approver", "admin"} })
	_, pl, err := e.submit(t, e.approverA, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decide(ctx, e.approverA, pl.ID, true, "mine")
	domaintest.WantKind(t, "approving one's own request", err, errs.Permission)
	if _, err := e.svc.Decide(ctx, e.approverB, pl.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	e.waitPlan(t, pl.ID)

	e2 := newEnv(t)
	e2.policy(t, func(p *access.Policy) {
		p.Approvals, p.ApproverRoles, p.AllowSelfApproval = 1, []string{"approver"}, true
	})
	_, pl, err = e2.submit(t, e2.approverA, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e2.svc.Decide(ctx, e2.approverA, pl.ID, true, "allowed"); err != nil {
		t.Fatalf("self-approval a policy allows: %v", err)
	}
}

func TestRejectCancelExpire(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals = 1 })
	_, pl, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rej, err := e.svc.Decide(ctx, e.approverA, pl.ID, false, "no ticket")
	if err != nil || rej.State != access.PlanRejected {
		t.Fatalf("reject: %+v, %v", rej, err)
	}
	_, err = e.svc.Decide(ctx, e.approverB, pl.ID, true, "")
	domaintest.WantKind(t, "approving a rejected plan", err, errs.Precondition)

	r2, _, err := e.submit(t, e.requester, "u000003", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CancelRequest(ctx, e.approverA, r2.ID)
	domaintest.WantKind(t, "canceling another's request", err, errs.NotFound)
	if c, err := e.svc.CancelRequest(ctx, e.requester, r2.ID); err != nil || c.State != access.RequestCanceled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	r3, pl3, err := e.submit(t, e.requester, "u000004", "r0001", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.people.F.Clock.Advance(25 * time.Hour)
	e.svc.RunSchedule(ctx)
	if r, _ := e.svc.GetRequest(ctx, e.requester, r3.ID); r.State != access.RequestExpired {
		t.Fatalf("request after its TTL: %s", r.State)
	}
	_, err = e.svc.Decide(ctx, e.approverA, pl3.ID, true, "")
	domaintest.WantKind(t, "approving an expired plan", err, errs.Precondition)
	own, _, err := e.svc.ListRequests(ctx, e.requester, false, 0, "")
	if err != nil || len(own) != 3 {
		t.Fatalf("own requests: %d, %v", len(own), err)
	}
	_, _, err = e.svc.ListRequests(ctx, e.requester, true, 0, "")
	domaintest.WantKind(t, "a requester listing every request", err, errs.Permission)
	if e.sys.Changes() != 0 {
		t.Fatal("the system changed")
	}
	e.events(t, "")
}

// TestPolicyChangedWhilePending: a pending request keeps the version it
// was decided under.
func TestPolicyChangedWhilePending(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	p := e.policy(t, nil)
	_, pl, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.Approvals = 1
	if _, err := e.svc.UpdatePolicy(ctx, e.admin, p); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Decide(ctx, e.approverA, pl.ID, true, "")
	if err != nil || got.State != access.PlanPending || got.PolicyVersion != 1 || got.Required != 2 {
		t.Fatalf("after the policy changed: %+v, %v", got, err)
	}
}

// TestConcurrentApprovals: approvers deciding at once run the plan once.
func TestConcurrentApprovals(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals = 1 })
	_, pl, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errsOf := make([]error, 2)
	for i, p := range []*core.Principal{e.approverA, e.approverB} {
		wg.Go(func() { _, errsOf[i] = e.svc.Decide(ctx, p, pl.ID, true, "") })
	}
	wg.Wait()
	if (errsOf[0] == nil) == (errsOf[1] == nil) {
		t.Fatalf("approvals at once: %v, %v; want one to win", errsOf[0], errsOf[1])
	}
	e.waitPlan(t, pl.ID)
	if n := len(e.events(t, ec.AccessPlanApproved)); n != 1 {
		t.Fatalf("%d approvals completed the plan", n)
	}
	if n := len(e.events(t, ec.AccessActionExecuted)); n != 1 || e.sys.Changes() != 1 {
		t.Fatalf("%d actions run, %d changes", n, e.sys.Changes())
	}
}

// TestAutoApproved: a policy needing no approval runs the plan at once.
func TestAutoApproved(t *testing.T) {
	e := newEnv(t)
	e.policy(t, func(p *access.Policy) { p.Approvals, p.ApproverRoles = 0, nil })
	_, pl, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if done := e.waitPlan(t, pl.ID); done.State != access.PlanDone || !e.sys.Has("u000002", "r0000") {
		t.Fatalf("plan %+v", done)
	}
}

// TestDrift: a grant made behind Nuxari's back is found by the next
// sync, becomes a finding and a revoke plan, and after approval it is
// gone; a difference that goes away by itself is resolved by the sync.
func TestDrift(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals, p.RemediateDrift = 1, true })
	_, err := e.svc.AcceptBaseline(ctx, e.requester, e.connector)
	if err != nil {
		// The RBAC table keeps requesters out; the domain does not check
		// roles, so this only shows the call works for anyone let in.
		t.Fatal(err)
	}
	e.svc.RunSchedule(ctx)
	if fs, _, _ := e.svc.ListFindings(ctx, e.auditor, "", true, 0, ""); len(fs) != 0 {
		t.Fatalf("findings against the baseline itself: %+v", fs)
	}
	// Behind Nuxari's back: u000005 gets r0000, and u000006 loses r0002.
	e.sys.AddGrant(connectorGrant("u000005", "r0000"))
	e.revokeBehind(t, "u000006", "r0002")
	e.sync(t)
	e.svc.RunSchedule(ctx)
	fs, _, err := e.svc.ListFindings(ctx, e.auditor, e.connector, false, 0, "")
	if err != nil || len(fs) != 2 {
		t.Fatalf("findings: %+v, %v", fs, err)
	}
	var unexpected, missing access.Finding
	for _, f := range fs {
		switch f.Kind {
		case access.DriftUnexpected:
			unexpected = f
		case access.DriftMissing:
			missing = f
		}
	}
	if unexpected.IdentityID != "u000005" || unexpected.PlanID == "" || missing.IdentityID != "u000006" || missing.PlanID == "" {
		t.Fatalf("findings %+v %+v", unexpected, missing)
	}
	// The same differences at the next check are not found again.
	e.sync(t)
	e.svc.RunSchedule(ctx)
	if n := len(e.events(t, ec.AccessDriftFound)); n != 2 {
		t.Fatalf("%d findings recorded, want 2", n)
	}
	if _, err := e.svc.Decide(ctx, e.approverA, unexpected.PlanID, true, "revoke it"); err != nil {
		t.Fatal(err)
	}
	if pl := e.waitPlan(t, unexpected.PlanID); pl.State != access.PlanDone {
		t.Fatalf("plan %+v", pl)
	}
	if e.sys.Has("u000005", "r0000") {
		t.Fatal("the unexpected grant is still in the system")
	}
	// The missing one comes back by itself; the next sync resolves it.
	e.sys.AddGrant(connectorGrant("u000006", "r0002"))
	e.sync(t)
	e.svc.RunSchedule(ctx)
	all, _, _ := e.svc.ListFindings(ctx, e.auditor, e.connector, true, 0, "")
	got := map[string]string{}
	for _, f := range all {
		got[f.IdentityID] = f.State + "/" + f.Resolution
	}
	if got["u000005"] != "resolved/remediated" || got["u000006"] != "resolved/synced" {
		t.Fatalf("findings after: %v", got)
	}
	if open, _, _ := e.svc.ListFindings(ctx, e.auditor, e.connector, false, 0, ""); len(open) != 0 {
		t.Fatalf("open findings %+v", open)
	}
	if pl, _ := e.svc.GetPlan(ctx, e.admin, missing.PlanID); pl.State != access.PlanCanceled {
		t.Fatalf("the plan of a finding resolved by a sync is %s", pl.State)
	}
	// An access grant is desired: no finding for it.
	e.policy(t, func(p *access.Policy) { p.Approvals, p.ApproverRoles = 0, nil })
	_, pl, err := e.submit(t, e.requester, "u000007", "r0002", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.waitPlan(t, pl.ID)
	e.sync(t)
	e.svc.RunSchedule(ctx)
	if open, _, _ := e.svc.ListFindings(ctx, e.auditor, e.connector, false, 0, ""); len(open) != 0 {
		t.Fatalf("a granted request found as drift: %+v", open)
	}
	e.events(t, "")
}

func connectorGrant(i, e string) connector.Grant {
	return connector.Grant{IdentityID: i, EntitlementID: e}
}

// revokeBehind takes a grant away in the system, as someone outside
// Nuxari would.
func (e *env) revokeBehind(t *testing.T, identity, entitlement string) {
	t.Helper()
	c, err := fakesystem.Driver{Sys: e.sys}.Open([]byte(`{"host":"h"}`), map[string]secret.String{"password": secret.New("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(domaintest.Ctx(), identity, entitlement); err != nil {
		t.Fatal(err)
	}
}

// TestRequestByName: identities and entitlements may be named by their
// names; the request records their IDs.
func TestRequestByName(t *testing.T) {
	e := newEnv(t)
	e.policy(t, nil)
	r, _, err := e.submit(t, e.requester, "user 3", "role 1", time.Minute)
	if err != nil || r.IdentityID != "u000003" || r.EntitlementID != "r0001" {
		t.Fatalf("request by names: %+v, %v", r, err)
	}
	_, _, err = e.submit(t, e.requester, "nobody", "role 1", time.Minute)
	domaintest.WantKind(t, "an unknown name", err, errs.NotFound)
}

// TestApproveExpiry: a policy that has the revoke at expiry approved
// sends it to its approvers; the request it ends stays approved.
func TestApproveExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals, p.ApproveExpiry = 1, true })
	r, pl, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decide(ctx, e.approverA, pl.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	e.waitPlan(t, pl.ID)
	e.people.F.Clock.Advance(2 * time.Minute)
	e.svc.RunSchedule(ctx)
	gs, _, _ := e.svc.ListGrants(ctx, e.auditor, 0, "")
	if len(gs) != 1 || gs[0].State != access.GrantRevoking {
		t.Fatalf("grant %+v", gs)
	}
	revoke, err := e.svc.GetPlan(ctx, e.admin, gs[0].RevokePlan)
	if err != nil || revoke.State != access.PlanPending || revoke.Reason != "expiry" || !e.sys.Has("u000002", "r0000") {
		t.Fatalf("revoke plan %+v, %v", revoke, err)
	}
	if _, err := e.svc.Decide(ctx, e.approverB, revoke.ID, true, "expired"); err != nil {
		t.Fatal(err)
	}
	if done := e.waitPlan(t, revoke.ID); done.State != access.PlanDone || e.sys.Has("u000002", "r0000") {
		t.Fatalf("revoke plan %+v", done)
	}
	if got, _ := e.svc.GetRequest(ctx, e.requester, r.ID); got.State != access.RequestApproved {
		t.Fatalf("the request is %s after its grant's revoke", got.State)
	}
}

// TestRevokeFailedIsDrift: a grant whose revoke at expiry failed is a
// drift finding at the next sync, with no baseline accepted; its
// remediation, approved, ends the grant.
func TestRevokeFailedIsDrift(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals, p.ApproverRoles = 0, nil })
	_, pl, err := e.submit(t, e.requester, "u000002", "r0000", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.waitPlan(t, pl.ID)
	e.sys.SetDown(true)
	e.people.F.Clock.Advance(2 * time.Minute)
	e.svc.RunSchedule(ctx)
	gs, _, _ := e.svc.ListGrants(ctx, e.auditor, 0, "")
	if revoke := e.waitPlan(t, gs[0].RevokePlan); revoke.State != access.PlanFailed {
		t.Fatalf("revoke plan %+v", revoke)
	}
	if gs, _, _ = e.svc.ListGrants(ctx, e.auditor, 0, ""); gs[0].State != access.GrantRevokeFailed {
		t.Fatalf("grant %+v", gs[0])
	}
	e.sys.SetDown(false)
	e.policy(t, func(p *access.Policy) { p.Approvals, p.RemediateDrift = 1, true })
	e.people.F.Clock.Advance(time.Minute)
	e.sync(t)
	e.svc.RunSchedule(ctx)
	fs, _, err := e.svc.ListFindings(ctx, e.auditor, e.connector, false, 0, "")
	if err != nil || len(fs) != 1 || fs[0].Kind != access.DriftUnexpected || fs[0].IdentityID != "u000002" || fs[0].PlanID == "" {
		t.Fatalf("findings %+v, %v", fs, err)
	}
	if _, err := e.svc.Decide(ctx, e.approverA, fs[0].PlanID, true, "revoke it"); err != nil {
		t.Fatal(err)
	}
	if done := e.waitPlan(t, fs[0].PlanID); done.State != access.PlanDone || e.sys.Has("u000002", "r0000") {
		t.Fatalf("remediation %+v", done)
	}
	if gs, _, _ = e.svc.ListGrants(ctx, e.auditor, 0, ""); gs[0].State != access.GrantRevoked {
		t.Fatalf("grant after remediation %+v", gs[0])
	}
	if open, _, _ := e.svc.ListFindings(ctx, e.auditor, e.connector, false, 0, ""); len(open) != 0 {
		t.Fatalf("open findings %+v", open)
	}
}
