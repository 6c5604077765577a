package access_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
)

// items returns every item of review id.
func (e *env) items(t *testing.T, by *core.Principal, id string, mine bool) []access.ReviewItem {
	t.Helper()
	var out []access.ReviewItem
	token := ""
	for {
		page, next, err := e.svc.ListReviewItems(domaintest.Ctx(), by, id, mine, 7, token)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		token = next
	}
}

func (e *env) waitReview(t *testing.T, id string) access.Review {
	t.Helper()
	var rv access.Review
	waitFor(t, "review "+id, func() bool {
		e.svc.RunSchedule(domaintest.Ctx())
		var err error
		rv, err = e.svc.GetReview(domaintest.Ctx(), e.auditor, id)
		return err == nil && rv.State != access.ReviewOpen
	})
	return rv
}

// TestReview: each grant of the snapshot is an item reviewed by the
// approvers of the policy that covers it, or by the review's reviewers;
// each item is decided once, by one of its reviewers; the revoked ones
// are revoked through a plan, leave the baseline, and the review
// completes with every decision an event of its subject.
func TestReview(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	// A policy whose plans need no approval names no approvers: its
	// entitlements' items go to the review's reviewers.
	e.policy(t, func(p *access.Policy) {
		p.Entitlements, p.ApproverIDs, p.ApproverRoles, p.Approvals = []string{"r0002"}, nil, nil, 0
	})
	pol := e.policy(t, func(p *access.Policy) {
		p.Entitlements, p.ApproverIDs, p.ApproverRoles, p.Approvals = []string{"r0000", "r0001"}, []string{e.approverA.UserID}, nil, 1
	})
	if _, err := e.svc.AcceptBaseline(ctx, e.admin, e.connector); err != nil {
		t.Fatal(err)
	}
	for what, req := range map[string]access.StartReview{
		"no name":                      {ConnectorID: e.connector},
		"bad connector":                {ConnectorID: "C/1", Name: "q"},
		"unknown role":                 {ConnectorID: e.connector, Name: "q", ReviewerRoles: []string{"root"}},
		"bad reviewer":                 {ConnectorID: e.connector, Name: "q", ReviewerIDs: []string{"U 1"}},
		"name with a NUL":              {ConnectorID: e.connector, Name: "q\x00"},
		"too many viewers":             {ConnectorID: e.connector, Name: "q", ReviewerIDs: slices.Repeat([]string{"u1"}, 65)},
		"a role that may not approve":  {ConnectorID: e.connector, Name: "q", ReviewerRoles: []string{"auditor"}},
		"a member who may not approve": {ConnectorID: e.connector, Name: "q", ReviewerIDs: []string{e.requester.UserID}},
		"not a member":                 {ConnectorID: e.connector, Name: "q", ReviewerIDs: []string{"unone"}},
	} {
		_, err := e.svc.StartReview(ctx, e.admin, req)
		domaintest.WantKind(t, what, err, errs.InvalidArgument)
	}
	_, err := e.svc.StartReview(ctx, e.admin, access.StartReview{ConnectorID: "cnone", Name: "q"})
	domaintest.WantKind(t, "an unknown connector", err, errs.NotFound)

	rv, err := e.svc.StartReview(ctx, e.admin, access.StartReview{ConnectorID: e.connector, Name: "Q4 review", ReviewerIDs: []string{e.approverB.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if rv.Items != 20 || rv.State != access.ReviewOpen || rv.GrantsDigest == "" {
		t.Fatalf("review %+v", rv)
	}
	_, err = e.svc.StartReview(ctx, e.admin, access.StartReview{ConnectorID: e.connector, Name: "again"})
	domaintest.WantKind(t, "a second open review of the connector", err, errs.Precondition)

	all := e.items(t, e.auditor, rv.ID, false)
	if len(all) != 20 {
		t.Fatalf("%d items", len(all))
	}
	var mineA, mineB []access.ReviewItem
	for _, it := range all {
		covered := it.EntitlementID == "r0000" || it.EntitlementID == "r0001"
		switch {
		case covered && it.PolicyID == pol.ID && slices.Equal(it.ReviewerIDs, []string{e.approverA.UserID}):
			mineA = append(mineA, it)
		case !covered && it.PolicyID == "" && slices.Equal(it.ReviewerIDs, []string{e.approverB.UserID}):
			mineB = append(mineB, it)
		default:
			t.Fatalf("item %+v has the wrong reviewers", it)
		}
		if it.IdentityName == "" || it.EntitlementName == "" {
			t.Fatalf("item %+v has no names", it)
		}
	}
	if got := e.items(t, e.approverA, rv.ID, true); len(got) != len(mineA) {
		t.Fatalf("approver A is assigned %d items, want %d", len(got), len(mineA))
	}
	if got := e.items(t, e.requester, rv.ID, true); len(got) != 0 {
		t.Fatalf("a requester is assigned %d items", len(got))
	}

	// Bad decisions.
	for what, ds := range map[string][]access.ItemDecision{
		"none":               nil,
		"101":                slices.Repeat([]access.ItemDecision{{Item: 1}}, 101),
		"item 0":             {{Item: 0}},
		"an item twice":      {{Item: mineA[0].Item}, {Item: mineA[0].Item}},
		"a comment too long": {{Item: mineA[0].Item, Comment: string(make([]byte, 1001))}},
	} {
		_, err := e.svc.DecideReview(ctx, e.approverA, rv.ID, ds)
		domaintest.WantKind(t, what, err, errs.InvalidArgument)
	}
	_, err = e.svc.DecideReview(ctx, e.approverA, rv.ID, []access.ItemDecision{{Item: 21}})
	domaintest.WantKind(t, "an item the review has not", err, errs.NotFound)
	_, err = e.svc.DecideReview(ctx, e.approverB, rv.ID, []access.ItemDecision{{Item: mineA[0].Item}})
	domaintest.WantKind(t, "an item of another reviewer", err, errs.Permission)
	_, err = e.svc.DecideReview(ctx, e.approverA, rv.ID, []access.ItemDecision{{Item: mineA[0].Item}, {Item: mineB[0].Item}})
	domaintest.WantKind(t, "a call with one item of another reviewer", err, errs.Permission)
	if got, _ := e.svc.GetReview(ctx, e.auditor, rv.ID); got.Decided != 0 {
		t.Fatalf("a refused call decided %d items", got.Decided)
	}

	// A revokes the first of theirs and keeps the rest.
	revoked := mineA[0]
	ds := []access.ItemDecision{{Item: revoked.Item, Revoke: true, Comment: "left the team"}}
	for _, it := range mineA[1:] {
		ds = append(ds, access.ItemDecision{Item: it.Item, Comment: "needed"})
	}
	got, err := e.svc.DecideReview(ctx, e.approverA, rv.ID, ds)
	if err != nil || got.Decided != len(mineA) || got.Revoked != 1 || got.Kept != len(mineA)-1 {
		t.Fatalf("after A: %+v, %v", got, err)
	}
	_, err = e.svc.DecideReview(ctx, e.approverA, rv.ID, []access.ItemDecision{{Item: mineA[1].Item, Revoke: true}})
	domaintest.WantKind(t, "an item decided twice", err, errs.Precondition)
	it := e.items(t, e.auditor, rv.ID, false)[revoked.Item-1]
	if it.Decision != access.DecisionRevoke || it.DecidedBy != e.approverA.UserID || it.PlanID == "" {
		t.Fatalf("revoked item %+v", it)
	}
	if pl := e.waitPlan(t, it.PlanID); pl.State != access.PlanDone || pl.Reason != "review" || pl.ReviewID != rv.ID {
		t.Fatalf("its plan %+v", pl)
	}
	if e.sys.Has(revoked.IdentityID, revoked.EntitlementID) {
		t.Fatal("the revoked grant is still in the system")
	}
	if got, _ := e.svc.GetReview(ctx, e.auditor, rv.ID); got.State != access.ReviewOpen {
		t.Fatalf("the review is %s with items undecided", got.State)
	}

	// B keeps the rest: the review completes.
	ds = nil
	for _, it := range mineB {
		ds = append(ds, access.ItemDecision{Item: it.Item})
	}
	if _, err := e.svc.DecideReview(ctx, e.approverB, rv.ID, ds); err != nil {
		t.Fatal(err)
	}
	done := e.waitReview(t, rv.ID)
	if done.State != access.ReviewCompleted || done.Decided != 20 || done.Kept != 19 || done.Revoked != 1 || done.RevokeFailed != 0 || done.Completed.IsZero() {
		t.Fatalf("completed review %+v", done)
	}
	_, err = e.svc.DecideReview(ctx, e.approverB, rv.ID, ds[:1])
	domaintest.WantKind(t, "a decision on a completed review", err, errs.Precondition)

	// The revoked access left the baseline: the next sync finds no drift.
	e.sync(t)
	e.svc.RunSchedule(ctx)
	if fs, _, _ := e.svc.ListFindings(ctx, e.auditor, e.connector, true, 0, ""); len(fs) != 0 {
		t.Fatalf("findings after the review: %+v", fs)
	}

	// Every decision is an event of the review's subject.
	var decided int
	for _, ev := range e.events(t, "access.review.") {
		if ev.Subject != "review:"+rv.ID {
			t.Errorf("%s has subject %q", ev.Type, ev.Subject)
		}
		if ev.Type == ec.AccessReviewDecided {
			decided += len(ev.Data["decisions"].([]any))
		}
	}
	if decided != 20 {
		t.Fatalf("the events hold %d decisions, want 20", decided)
	}
	if evs := e.events(t, ec.AccessReviewCompleted); len(evs) != 1 {
		t.Fatalf("%d completions", len(evs))
	}

	// A new review may start; canceled, it takes no decision.
	rv2, err := e.svc.StartReview(ctx, e.admin, access.StartReview{ConnectorID: e.connector, Name: "again"})
	if err != nil || rv2.Items != 19 {
		t.Fatalf("second review %+v, %v", rv2, err)
	}
	if c, err := e.svc.CancelReview(ctx, e.admin, rv2.ID); err != nil || c.State != access.ReviewCanceled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	_, err = e.svc.CancelReview(ctx, e.admin, rv2.ID)
	domaintest.WantKind(t, "a review canceled twice", err, errs.Precondition)
	_, err = e.svc.DecideReview(ctx, e.admin, rv2.ID, []access.ItemDecision{{Item: 1}})
	domaintest.WantKind(t, "a decision on a canceled review", err, errs.Precondition)
	if rs, _, err := e.svc.ListReviews(ctx, e.auditor, 0, ""); err != nil || len(rs) != 2 {
		t.Fatalf("reviews %+v, %v", rs, err)
	}
	_, err = e.svc.GetReview(ctx, e.auditor, "vnone")
	domaintest.WantKind(t, "an unknown review", err, errs.NotFound)
}

// TestReviewRevokeFails: a revocation the system refuses is counted as
// failed, with its reason in the completion event.
func TestReviewRevokeFails(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	rv, err := e.svc.StartReview(ctx, e.admin, access.StartReview{ConnectorID: e.connector, Name: "q", ReviewerRoles: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	var ds []access.ItemDecision
	for i := 1; i <= rv.Items; i++ {
		ds = append(ds, access.ItemDecision{Item: i, Revoke: i == 2})
	}
	e.sys.SetDown(true)
	if _, err := e.svc.DecideReview(ctx, e.admin, rv.ID, ds); err != nil {
		t.Fatal(err)
	}
	done := e.waitReview(t, rv.ID)
	if done.State != access.ReviewCompleted || done.Revoked != 1 || done.RevokeFailed != 1 {
		t.Fatalf("review %+v", done)
	}
	evs := e.events(t, ec.AccessReviewCompleted)
	plans := evs[0].Data["plans"].([]any)
	if len(plans) != 1 || plans[0].(map[string]any)["failed"] != float64(1) || len(plans[0].(map[string]any)["errors"].([]any)) != 1 {
		t.Fatalf("completion plans %v", plans)
	}
}

// TestPruneHistory: records that ended before the org's retention window
// leave the state, in audited events; what is still going on stays.
func TestPruneHistory(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	e.policy(t, func(p *access.Policy) { p.Approvals = 1; p.RemediateDrift = true })
	// A grant that expires and is revoked, a request left pending, a
	// rejected one, a resolved finding and a completed review.
	_, granted, err := e.submit(t, e.requester, "u000001", "r0003", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decide(ctx, e.approverA, granted.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	e.waitPlan(t, granted.ID)
	pending, _, err := e.submit(t, e.requester, "u000002", "r0001", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, rejected, err := e.submit(t, e.requester, "u000002", "r0003", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decide(ctx, e.approverA, rejected.ID, false, "no"); err != nil {
		t.Fatal(err)
	}
	rv, err := e.svc.StartReview(ctx, e.admin, access.StartReview{ConnectorID: e.connector, Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	var ds []access.ItemDecision
	for i := 1; i <= rv.Items; i++ {
		ds = append(ds, access.ItemDecision{Item: i})
	}
	if _, err := e.svc.DecideReview(ctx, e.approverA, rv.ID, ds); err != nil {
		t.Fatal(err)
	}
	e.waitReview(t, rv.ID)
	e.people.F.Clock.Advance(2 * time.Minute)
	e.svc.RunSchedule(ctx) // the grant expires
	gs, _, _ := e.svc.ListGrants(ctx, e.auditor, 0, "")
	e.waitPlan(t, gs[0].RevokePlan)

	o, err := e.people.F.Store.Org(org)
	if err != nil {
		t.Fatal(err)
	}
	// Within the window, nothing goes.
	if err := e.svc.PruneHistory(ctx, o); err != nil {
		t.Fatal(err)
	}
	if evs := e.events(t, ec.AccessHistoryPruned); len(evs) != 0 {
		t.Fatalf("pruned within the window: %v", evs[0].Data)
	}
	// Past it, the ended records go; the pending request stays (and
	// expires only by the schedule, not the prune).
	ret, err := o.Log().Retention(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.people.F.Clock.Advance(ret.Window + time.Hour)
	if err := e.svc.PruneHistory(ctx, o); err != nil {
		t.Fatal(err)
	}
	evs := e.events(t, ec.AccessHistoryPruned)
	if len(evs) != 2 {
		t.Fatalf("%d prune events, want 2 (the records, the review)", len(evs))
	}
	if d := evs[0].Data; d["requests"] != float64(2) || d["plans"] != float64(3) || d["grants"] != float64(1) || d["reviews"] != float64(0) {
		t.Fatalf("pruned %v", d)
	}
	if d := evs[1].Data; d["reviews"] != float64(1) {
		t.Fatalf("pruned %v", d)
	}
	rs, _, _ := e.svc.ListRequests(ctx, e.auditor, true, 0, "")
	if len(rs) != 1 || rs[0].ID != pending.ID {
		t.Fatalf("requests left %+v", rs)
	}
	if gs, _, _ := e.svc.ListGrants(ctx, e.auditor, 0, ""); len(gs) != 0 {
		t.Fatalf("grants left %+v", gs)
	}
	if rvs, _, _ := e.svc.ListReviews(ctx, e.auditor, 0, ""); len(rvs) != 0 {
		t.Fatalf("reviews left %+v", rvs)
	}
	_, _, err = e.svc.ListReviewItems(ctx, e.auditor, rv.ID, false, 0, "")
	domaintest.WantKind(t, "a pruned review's items", err, errs.NotFound)
}
