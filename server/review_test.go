package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// fakeReview is a fake system in memory whose identities user:1 … user:n
// each hold readers, and an org's connector to it, synced: what review
// tests review.
type fakeReview struct {
	sys            *servertest.FakeSystem
	name, password string // the system's name in the driver, and its password
	connector      string
	n              atomic.Int64 // connectors made, for their names
}

// newFakeReview gives the org of c a connector to a new fake system
// served by d as name, with n identities each holding readers, and syncs
// it.
func newFakeReview(t testing.TB, c servertest.Clients, d *servertest.FakeDriver, name string, n int) *fakeReview {
	t.Helper()
	f := &fakeReview{name: name, password: pgPassword("ReviewPw")}
	f.sys = servertest.NewFakeSystem(f.password)
	f.sys.AddEntitlement(fakeReaders, "readers")
	f.sys.AddEntitlement(fakeWriters, "writers")
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("user:%d", i)
		f.sys.AddIdentity(id, fmt.Sprintf("user %d", i), nil)
		f.sys.SetGrant(id, fakeReaders, true)
	}
	d.Add(name, f.sys)
	f.connector = f.another(t, c)
	return f
}

// another creates a further connector of the org of c to the same
// system, synced, and returns its ID: one without a review.
func (f *fakeReview) another(t testing.TB, c servertest.Clients) string {
	t.Helper()
	var id string
	err := retryAborted(func() error {
		res, err := c.Connectors.CreateConnector(t.Context(), req(&nuxariv1.CreateConnectorRequest{
			Name: fmt.Sprintf("review %s %d", f.name, f.n.Add(1)), Settings: servertest.FakeSettings(f.name), Credentials: pgCreds(f.password),
		}))
		if err == nil {
			id = res.Msg.Connector.ConnectorId
		}
		return err
	})
	if err != nil {
		t.Fatalf("CreateConnector to the fake system %s: %v", f.name, err)
	}
	if sy := syncNow(t, c, id); sy.State != syncSucceeded {
		t.Fatalf("sync of the fake system %s: %v", f.name, sy)
	}
	return id
}

// startReview starts a review of connector by c, reviewed by roles, and
// returns it.
func startReview(t testing.TB, c servertest.Clients, connector string, roles ...string) *nuxariv1.Review {
	t.Helper()
	var rv *nuxariv1.Review
	err := retryAborted(func() error {
		res, err := c.Access.StartReview(context.Background(), req(&nuxariv1.StartReviewRequest{
			ConnectorId: connector, Name: "review of " + connector, ReviewerRoles: roles,
		}))
		if err == nil {
			rv = res.Msg.Review
		}
		return err
	})
	if err != nil {
		t.Fatalf("StartReview %s: %v", connector, err)
	}
	return rv
}

// reviewItems lists every item of review id as c sees them.
func reviewItems(t testing.TB, c servertest.Clients, id string, mine bool) []*nuxariv1.ReviewItem {
	t.Helper()
	var out []*nuxariv1.ReviewItem
	tok := ""
	for {
		res, err := c.Access.ListReviewItems(context.Background(), req(&nuxariv1.ListReviewItemsRequest{ReviewId: id, AssignedToMe: mine, PageSize: 7, PageToken: tok}))
		if err != nil {
			t.Fatalf("ListReviewItems %s: %v", id, err)
		}
		out = append(out, res.Msg.Items...)
		if tok = res.Msg.NextPageToken; tok == "" {
			return out
		}
	}
}

// waitReview polls review id until it is no longer open, and returns it.
func waitReview(t testing.TB, c servertest.Clients, id string) *nuxariv1.Review {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Access.GetReview(context.Background(), req(&nuxariv1.GetReviewRequest{ReviewId: id}))
		if err != nil {
			t.Fatalf("GetReview %s: %v", id, err)
		}
		if res.Msg.Review.State != nuxariv1.ReviewState_REVIEW_STATE_OPEN {
			return res.Msg.Review
		}
		if time.Now().After(deadline) {
			t.Fatalf("review %s still open after 60 s: %v", id, res.Msg.Review)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAccessReview walks a review through the API against a fake
// system: an admin starts it, the item a policy covers goes to the
// policy's approvers and the rest to the review's reviewers, each
// reviewer's inbox holds theirs, nobody decides another's item or one
// twice, revocations run through the connector, and the review completes
// with every event about it under its subject; a canceled review takes
// no decision.
func TestAccessReview(t *testing.T) {
	fake := servertest.NewFakeDriver()
	ts := servertest.Start(t, servertest.WithFakeDriver(fake))
	ctx := context.Background()
	const org = "review"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	adminTok, adminID := ts.AddMember(t, ownerTok, org, "admin@example.com", "admin password 1", nuxariv1.Role_ROLE_ADMIN)
	apprTok, apprID := ts.AddMember(t, ownerTok, org, "approver@example.com", "approver password 1", nuxariv1.Role_ROLE_APPROVER)
	admin, appr := ts.Clients(adminTok), ts.Clients(apprTok)

	f := newFakeReview(t, owner, fake, "review", 3)
	f.sys.SetGrant("user:1", fakeWriters, true)
	if sy := syncNow(t, owner, f.connector); sy.State != syncSucceeded {
		t.Fatalf("sync: %v", sy)
	}
	pol := must(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: accessPolicy(f.connector, func(p *nuxariv1.Policy) {
		p.Entitlements, p.ApproverRoles = []string{fakeWriters}, []string{"approver"}
	})})))(t).Msg.Policy

	rv := startReview(t, admin, f.connector, "admin")
	if rv.State != nuxariv1.ReviewState_REVIEW_STATE_OPEN || rv.Items != 4 || rv.StartedBy != adminID || rv.SyncId == "" || rv.GrantsDigest == "" {
		t.Fatalf("started review: %v", rv)
	}
	_, err := owner.Access.StartReview(ctx, req(&nuxariv1.StartReviewRequest{ConnectorId: f.connector, Name: "again"}))
	wantCodeIn(t, "a second open review of the connector", err, connect.CodeFailedPrecondition)

	items := reviewItems(t, owner, rv.ReviewId, false)
	if len(items) != 4 {
		t.Fatalf("items: %v", items)
	}
	byGrant := map[string]*nuxariv1.ReviewItem{}
	for i, it := range items {
		if it.Item != uint32(i+1) || it.ReviewId != rv.ReviewId || it.Decision != "" {
			t.Errorf("item %d: %v", i+1, it)
		}
		byGrant[it.IdentityId+" "+it.EntitlementId] = it
	}
	writers, r1, r2, r3 := byGrant["user:1 "+fakeWriters], byGrant["user:1 "+fakeReaders], byGrant["user:2 "+fakeReaders], byGrant["user:3 "+fakeReaders]
	if writers == nil || r1 == nil || r2 == nil || r3 == nil {
		t.Fatalf("items: %v", items)
	}
	if writers.PolicyId != pol.PolicyId || writers.PolicyVersion != 1 || !slices.Equal(writers.ReviewerRoles, []string{"approver"}) || writers.EntitlementName != "writers" {
		t.Errorf("the item the policy covers: %v", writers)
	}
	if r1.PolicyId != "" || !slices.Equal(r1.ReviewerRoles, []string{"admin"}) || r1.IdentityName != "user 1" {
		t.Errorf("an item no policy covers: %v", r1)
	}
	ids := func(its []*nuxariv1.ReviewItem) []uint32 {
		var out []uint32
		for _, it := range its {
			out = append(out, it.Item)
		}
		return out
	}
	if got := ids(reviewItems(t, appr, rv.ReviewId, true)); !slices.Equal(got, []uint32{writers.Item}) {
		t.Errorf("the approver's inbox: %v, want [%d]", got, writers.Item)
	}
	if got := ids(reviewItems(t, admin, rv.ReviewId, true)); len(got) != 3 || slices.Contains(got, writers.Item) {
		t.Errorf("the admin's inbox: %v", got)
	}
	if got := reviewItems(t, owner, rv.ReviewId, true); len(got) != 0 {
		t.Errorf("the owner reviews nothing here, but their inbox holds %v", got)
	}

	decide := func(c servertest.Clients, ds ...*nuxariv1.ReviewDecision) (*nuxariv1.Review, error) {
		return reviewOf(c.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: rv.ReviewId, Decisions: ds})))
	}
	_, err = decide(appr, &nuxariv1.ReviewDecision{Item: r1.Item})
	wantCodeIn(t, "the approver decides an admin's item", err, connect.CodePermissionDenied)
	_, err = decide(admin, &nuxariv1.ReviewDecision{Item: r1.Item}, &nuxariv1.ReviewDecision{Item: writers.Item, Revoke: true})
	wantCodeIn(t, "the admin decides the approver's item with one of theirs", err, connect.CodePermissionDenied)
	_, err = decide(admin, &nuxariv1.ReviewDecision{Item: 5})
	wantCodeIn(t, "an item beyond the review", err, connect.CodeNotFound)

	got, err := decide(appr, &nuxariv1.ReviewDecision{Item: writers.Item, Revoke: true, Comment: "no longer on the team"})
	if err != nil || got.Decided != 1 || got.Revoked != 1 || got.State != nuxariv1.ReviewState_REVIEW_STATE_OPEN {
		t.Fatalf("the approver revokes: %v %v", got, err)
	}
	got, err = decide(admin, &nuxariv1.ReviewDecision{Item: r1.Item}, &nuxariv1.ReviewDecision{Item: r2.Item, Comment: "still needed"})
	if err != nil || got.Decided != 3 || got.Kept != 2 {
		t.Fatalf("the admin keeps two: %v %v", got, err)
	}
	_, err = decide(admin, &nuxariv1.ReviewDecision{Item: r1.Item, Revoke: true})
	wantCodeIn(t, "an item decided already", err, connect.CodeFailedPrecondition)
	if _, err := decide(admin, &nuxariv1.ReviewDecision{Item: r3.Item, Revoke: true}); err != nil {
		t.Fatalf("the admin revokes the last: %v", err)
	}

	done := waitReview(t, owner, rv.ReviewId)
	if done.State != nuxariv1.ReviewState_REVIEW_STATE_COMPLETED || done.Decided != 4 || done.Kept != 2 || done.Revoked != 2 || done.RevokeFailed != 0 || done.CompleteTime == nil {
		t.Fatalf("completed review: %v", done)
	}
	if f.sys.Holds("user:1", fakeWriters) || f.sys.Holds("user:3", fakeReaders) || !f.sys.Holds("user:1", fakeReaders) || !f.sys.Holds("user:2", fakeReaders) {
		t.Error("the system does not hold what the review decided")
	}
	items = reviewItems(t, owner, rv.ReviewId, false)
	for _, it := range items {
		want := "keep"
		if it.Item == writers.Item || it.Item == r3.Item {
			want = "revoke"
			pl := waitPlan(t, owner, it.PlanId)
			if pl.Reason != "review" || pl.ReviewId != rv.ReviewId || pl.State != planDone {
				t.Errorf("the plan of item %d: %v", it.Item, pl)
			}
		}
		if it.Decision != want || it.DecideTime == nil || it.DecidedBy == "" {
			t.Errorf("item %d: %v, want %s", it.Item, it, want)
		}
	}
	if items[writers.Item-1].DecidedBy != apprID || items[writers.Item-1].Comment != "no longer on the team" {
		t.Errorf("the approver's decision: %v", items[writers.Item-1])
	}

	evs := ofSubject(logWith(t, owner, org, "review:"+rv.ReviewId, "access.review.completed"), "review:"+rv.ReviewId)
	want := []string{"access.review.started", "access.review.decided", "access.review.decided", "access.review.decided", "access.review.completed"}
	if got := logTypes(evs); !slices.Equal(got, want) {
		t.Errorf("the review's events: %v, want %v", got, want)
	}

	// A canceled review takes no decision; its connector may have a new
	// review at once.
	other := f.another(t, owner)
	cr := startReview(t, owner, other)
	if !slices.Equal(cr.ReviewerRoles, []string{"admin", "owner"}) {
		t.Errorf("a review without reviewers: %v, want admins and owners", cr)
	}
	canceled, err := reviewOf(admin.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: cr.ReviewId})))
	if err != nil || canceled.State != nuxariv1.ReviewState_REVIEW_STATE_CANCELED || canceled.CompleteTime == nil {
		t.Fatalf("CancelReview: %v %v", canceled, err)
	}
	_, err = reviewOf(admin.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: cr.ReviewId, Decisions: []*nuxariv1.ReviewDecision{{Item: 1}}})))
	wantCodeIn(t, "a decision on a canceled review", err, connect.CodeFailedPrecondition)
	_, err = reviewOf(admin.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: cr.ReviewId})))
	wantCodeIn(t, "a canceled review canceled again", err, connect.CodeFailedPrecondition)
	startReview(t, owner, other)

	var listed []string
	for _, r := range must(appr.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{})))(t).Msg.Reviews {
		listed = append(listed, r.ReviewId+" "+r.State.String())
	}
	if len(listed) != 3 {
		t.Errorf("ListReviews: %v", listed)
	}
}

// reviewOf returns a response's review, or the call's error.
func reviewOf[T any, PT interface {
	*T
	GetReview() *nuxariv1.Review
}](res *connect.Response[T], err error) (*nuxariv1.Review, error) {
	if err != nil {
		return nil, err
	}
	return PT(res.Msg).GetReview(), nil
}
