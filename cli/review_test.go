package cli_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/cli"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// The fake AccessService's reviews: review IDs follow the same "-missing"
// and "-forbidden" rules as the rest of it; a DecideReview batch of
// review "rv-partial" that holds item 150 is refused.

func fakeReview(id string) *nuxariv1.Review {
	return &nuxariv1.Review{
		ReviewId: id, ConnectorId: "c1", Name: "Q3 warehouse", State: nuxariv1.ReviewState_REVIEW_STATE_OPEN,
		SyncId: "s1", GrantsDigest: "ab12", StartedBy: "u-admin", ReviewerIds: []string{"u-ann"}, ReviewerRoles: []string{"admin"},
		Items: 250, Decided: 10, Kept: 7, Revoked: 3, CreateTime: fakeTime,
	}
}

func (f *fakeAccess) StartReview(_ context.Context, req *connect.Request[nuxariv1.StartReviewRequest]) (*connect.Response[nuxariv1.StartReviewResponse], error) {
	if err := f.record("StartReview", req.Msg.GetConnectorId(), req.Msg); err != nil {
		return nil, err
	}
	r := fakeReview("rv-1")
	r.ConnectorId, r.Name, r.ReviewerIds, r.ReviewerRoles, r.Decided, r.Kept, r.Revoked = req.Msg.GetConnectorId(), req.Msg.GetName(), req.Msg.GetReviewerIds(), req.Msg.GetReviewerRoles(), 0, 0, 0
	return connect.NewResponse(&nuxariv1.StartReviewResponse{Review: r}), nil
}

func (f *fakeAccess) GetReview(_ context.Context, req *connect.Request[nuxariv1.GetReviewRequest]) (*connect.Response[nuxariv1.GetReviewResponse], error) {
	if err := f.record("GetReview", req.Msg.GetReviewId(), req.Msg); err != nil {
		return nil, err
	}
	return connect.NewResponse(&nuxariv1.GetReviewResponse{Review: fakeReview(req.Msg.GetReviewId())}), nil
}

func (f *fakeAccess) ListReviews(_ context.Context, req *connect.Request[nuxariv1.ListReviewsRequest]) (*connect.Response[nuxariv1.ListReviewsResponse], error) {
	if err := f.record("ListReviews", "", req.Msg); err != nil {
		return nil, err
	}
	from, to, next := page(req.Msg.GetPageToken(), "reviews", 3, 2)
	res := &nuxariv1.ListReviewsResponse{NextPageToken: next}
	for i := from; i < to; i++ {
		res.Reviews = append(res.Reviews, fakeReview(fmt.Sprintf("rv-%d", i)))
	}
	return connect.NewResponse(res), nil
}

func (f *fakeAccess) ListReviewItems(_ context.Context, req *connect.Request[nuxariv1.ListReviewItemsRequest]) (*connect.Response[nuxariv1.ListReviewItemsResponse], error) {
	if err := f.record("ListReviewItems", req.Msg.GetReviewId(), req.Msg); err != nil {
		return nil, err
	}
	from, to, next := page(req.Msg.GetPageToken(), "items", 3, 2)
	res := &nuxariv1.ListReviewItemsResponse{NextPageToken: next}
	for i := from; i < to; i++ {
		it := &nuxariv1.ReviewItem{
			ReviewId: req.Msg.GetReviewId(), Item: uint32(i + 1), IdentityId: fmt.Sprintf("role:%d", i+1), IdentityName: fmt.Sprintf("user%d", i+1),
			EntitlementId: "role:readers", EntitlementName: "readers", ReviewerRoles: []string{"admin", "owner"},
		}
		switch i {
		case 1:
			it.IdentityName, it.Decision, it.DecidedBy, it.DecideTime = "", "revoke", "u-ann", fakeTime
			it.ReviewerIds, it.ReviewerRoles, it.PolicyId, it.PolicyVersion = []string{"u-ann"}, nil, "pol-1", 2
		case 2:
			it.Decision = "keep"
		}
		res.Items = append(res.Items, it)
	}
	return connect.NewResponse(res), nil
}

func (f *fakeAccess) DecideReview(_ context.Context, req *connect.Request[nuxariv1.DecideReviewRequest]) (*connect.Response[nuxariv1.DecideReviewResponse], error) {
	id := req.Msg.GetReviewId()
	if err := f.record("DecideReview", id, req.Msg); err != nil {
		return nil, err
	}
	if id == "rv-partial" && slices.ContainsFunc(req.Msg.GetDecisions(), func(d *nuxariv1.ReviewDecision) bool { return d.GetItem() == 150 }) {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("item 150 is decided already (keep)"))
	}
	decided := uint32(0)
	for _, m := range f.requests("DecideReview") {
		decided += uint32(len(m.(*nuxariv1.DecideReviewRequest).GetDecisions()))
	}
	r := fakeReview(id)
	r.Decided = decided
	return connect.NewResponse(&nuxariv1.DecideReviewResponse{Review: r}), nil
}

func (f *fakeAccess) CancelReview(_ context.Context, req *connect.Request[nuxariv1.CancelReviewRequest]) (*connect.Response[nuxariv1.CancelReviewResponse], error) {
	if err := f.record("CancelReview", req.Msg.GetReviewId(), req.Msg); err != nil {
		return nil, err
	}
	r := fakeReview(req.Msg.GetReviewId())
	r.State, r.CompleteTime = nuxariv1.ReviewState_REVIEW_STATE_CANCELED, fakeLater
	return connect.NewResponse(&nuxariv1.CancelReviewResponse{Review: r}), nil
}

// TestReviewCommands: start, list, get, items and cancel send what their
// flags say and print the review or the table; --json names are
// snake_case.
func TestReviewCommands(t *testing.T) {
	h, f := accessHarness(t)

	r := h.ok("", "review", "start", "c7", "--name", "Q3 warehouse", "--reviewer", "u-ann", "--reviewer", "u-ben", "--reviewer-role", "auditor")
	got := f.last(t, "StartReview").(*nuxariv1.StartReviewRequest)
	if got.GetConnectorId() != "c7" || got.GetName() != "Q3 warehouse" || !slices.Equal(got.GetReviewerIds(), []string{"u-ann", "u-ben"}) || !slices.Equal(got.GetReviewerRoles(), []string{"auditor"}) {
		t.Errorf("StartReview request: %v", got)
	}
	contains(t, "start stderr", r.stderr, "Review rv-1 has 250 items. Reviewers see theirs with 'nuxctl review items rv-1 --mine'.")
	if field(r.stdout, "Review") != "rv-1" || field(r.stdout, "State") != "open" || field(r.stdout, "Connector") != "c7" ||
		field(r.stdout, "Reviewers") != "u-ann, u-ben, role:auditor (of the items no policy covers)" || field(r.stdout, "Decided") != "0 of 250" {
		t.Errorf("start output:\n%s", r.stdout)
	}
	h.ok("", "review", "start", "c7", "--name", "defaults")
	if got := f.last(t, "StartReview").(*nuxariv1.StartReviewRequest); len(got.GetReviewerIds())+len(got.GetReviewerRoles()) != 0 {
		t.Errorf("StartReview without reviewers: %v", got)
	}

	r = h.ok("", "review", "list")
	if rows := tableRows(r.stdout); len(rows) != 4 || rows[0] != "REVIEW ID NAME CONNECTOR STATE DECIDED KEPT REVOKED CREATED" ||
		rows[3] != "rv-2 Q3 warehouse c1 open 10 of 250 7 3 "+timeText(fakeTime) {
		t.Errorf("review list (every page):\n%s", r.stdout)
	}

	r = h.ok("", "review", "get", "rv-9")
	if field(r.stdout, "Review") != "rv-9" || field(r.stdout, "Kept") != "7" || field(r.stdout, "Revoked") != "3" || field(r.stdout, "Ended") != "-" ||
		field(r.stdout, "Sync reviewed") != "s1" || field(r.stdout, "Grants digest") != "ab12" || field(r.stdout, "Started by") != "u-admin" {
		t.Errorf("review get:\n%s", r.stdout)
	}

	r = h.ok("", "review", "items", "rv-9")
	want := []string{
		"ITEM IDENTITY ENTITLEMENT REVIEWERS DECISION",
		"1 user1 readers role:admin, role:owner -",
		"2 role:2 readers u-ann revoke",
		"3 user3 readers role:admin, role:owner keep",
	}
	if rows := tableRows(r.stdout); !slices.Equal(rows, want) {
		t.Errorf("review items:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}
	if got := f.last(t, "ListReviewItems").(*nuxariv1.ListReviewItemsRequest); got.GetAssignedToMe() || got.GetReviewId() != "rv-9" {
		t.Errorf("ListReviewItems: %v", got)
	}
	h.ok("", "review", "items", "rv-9", "--mine")
	if got := f.last(t, "ListReviewItems").(*nuxariv1.ListReviewItemsRequest); !got.GetAssignedToMe() {
		t.Errorf("review items --mine: %v", got)
	}

	r = h.ok("", "review", "cancel", "rv-9")
	if field(r.stdout, "State") != "canceled" || field(r.stdout, "Ended") != timeText(fakeLater) {
		t.Errorf("review cancel:\n%s", r.stdout)
	}

	for _, args := range [][]string{
		{"review", "start", "c7", "--name", "n"}, {"review", "list"}, {"review", "get", "rv-9"}, {"review", "items", "rv-9"},
		{"review", "decide", "rv-9", "--keep", "1"}, {"review", "cancel", "rv-9"},
	} {
		r := h.ok("", append([]string{"--json"}, args...)...)
		checkNames(t, "nuxctl "+strings.Join(args, " "), []byte(r.stdout))
	}
	var items struct {
		Items []struct {
			Item     int    `json:"item"`
			Decision string `json:"decision"`
		} `json:"items"`
	}
	h.jsonOut(&items, "review", "items", "rv-9")
	if len(items.Items) != 3 || items.Items[1].Item != 2 || items.Items[1].Decision != "revoke" {
		t.Errorf("review items --json: %+v", items)
	}
}

// timeText is how nuxctl prints a time.
func timeText(ts *timestamppb.Timestamp) string { return ts.AsTime().UTC().Format(time.RFC3339) }

// itemList is items from to to, as --keep takes them.
func itemList(from, to int) string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return strings.Join(s, ",")
}

// TestReviewDecideBatches: --keep and --revoke, in one or many values,
// become decisions in item order, each with the comment, sent 100 to a
// call; a refused batch stops the rest and says what was recorded.
func TestReviewDecideBatches(t *testing.T) {
	h, f := accessHarness(t)
	r := h.ok("", "review", "decide", "rv-9", "--keep", itemList(1, 120), "--revoke", "250,"+itemList(121, 200), "--keep", itemList(201, 249), "--comment", "Q3")
	reqs := f.requests("DecideReview")
	if len(reqs) != 3 {
		t.Fatalf("%d DecideReview calls, want 3", len(reqs))
	}
	next := uint32(1)
	for i, m := range reqs {
		d := m.(*nuxariv1.DecideReviewRequest)
		if want := []int{100, 100, 50}[i]; d.GetReviewId() != "rv-9" || len(d.GetDecisions()) != want {
			t.Fatalf("call %d: %d decisions of %s, want %d", i, len(d.GetDecisions()), d.GetReviewId(), want)
		}
		for _, x := range d.GetDecisions() {
			revoke := x.GetItem() > 120 && x.GetItem() <= 200 || x.GetItem() == 250
			if x.GetItem() != next || x.GetRevoke() != revoke || x.GetComment() != "Q3" {
				t.Fatalf("call %d: decision %v, want item %d revoke %v", i, x, next, revoke)
			}
			next++
		}
	}
	contains(t, "decide stderr", r.stderr, "100 of 250 decisions recorded", "200 of 250 decisions recorded", "250 of 250 decisions recorded")
	if field(r.stdout, "Decided") != "250 of 250" {
		t.Errorf("decide output:\n%s", r.stdout)
	}

	// One call, no progress, for 100 or fewer.
	f.reset()
	r = h.ok("", "review", "decide", "rv-9", "--revoke", "3", "--keep", "2,1")
	reqs = f.requests("DecideReview")
	if len(reqs) != 1 || r.stderr != "" {
		t.Fatalf("a small decision: %d calls, stderr %q", len(reqs), r.stderr)
	}
	ds := reqs[0].(*nuxariv1.DecideReviewRequest).GetDecisions()
	if len(ds) != 3 || ds[0].GetItem() != 1 || ds[0].GetRevoke() || ds[2].GetItem() != 3 || !ds[2].GetRevoke() || ds[0].GetComment() != "" {
		t.Errorf("decisions: %v", ds)
	}

	// The second batch is refused: the first stands, the third is not
	// sent.
	f.reset()
	h.fails(cli.ExitFailure, []string{
		"100 of the 250 decisions were recorded (items up to 100); the batch from item 101 was refused, and the rest were not sent.",
		"nuxctl: failed_precondition: item 150 is decided already (keep)",
	}, "", "review", "decide", "rv-partial", "--revoke", itemList(1, 250))
	if n := len(f.requests("DecideReview")); n != 2 {
		t.Errorf("%d DecideReview calls after a refused batch, want 2", n)
	}
}

// TestReviewExitCodes: the server's refusals keep their exit codes.
func TestReviewExitCodes(t *testing.T) {
	h, _ := accessHarness(t)
	tests := []struct {
		code int
		args []string
	}{
		{cli.ExitNotFound, []string{"review", "get", "rv-missing"}},
		{cli.ExitNotFound, []string{"review", "items", "rv-missing"}},
		{cli.ExitNotFound, []string{"review", "decide", "rv-missing", "--keep", "1"}},
		{cli.ExitNotFound, []string{"review", "start", "c-missing", "--name", "n"}},
		{cli.ExitNotFound, []string{"review", "export", "rv-missing", "--out", t.TempDir() + "/r.zip"}},
		{cli.ExitPermissionDenied, []string{"review", "cancel", "rv-forbidden"}},
		{cli.ExitPermissionDenied, []string{"review", "decide", "rv-forbidden", "--revoke", "1"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h.t = t
			if r := h.fails(tt.code, nil, "", tt.args...); r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
		})
	}
}

// TestReviewBadInput: a bad command line is a usage error (exit 2), found
// before any call to the server.
func TestReviewBadInput(t *testing.T) {
	h, f := accessHarness(t)
	out := writeFile(t, "there.zip", "in the way")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"start no connector", []string{"review", "start", "--name", "n"}, "missing arguments: want CONNECTOR_ID"},
		{"start no name", []string{"review", "start", "c1"}, "--name is required"},
		{"start unknown role", []string{"review", "start", "c1", "--name", "n", "--reviewer-role", "boss"}, `unknown role "boss"`},
		{"start empty reviewer among others", []string{"review", "start", "c1", "--name", "n", "--reviewer", "u1", "--reviewer", ""}, "--reviewer: an empty value"},
		{"decide nothing", []string{"review", "decide", "rv-1"}, "nothing to decide: give --keep or --revoke"},
		{"decide empty list", []string{"review", "decide", "rv-1", "--keep", ""}, `--keep "": "" is not an item number`},
		{"decide item 0", []string{"review", "decide", "rv-1", "--revoke", "0"}, `"0" is not an item number`},
		{"decide negative item", []string{"review", "decide", "rv-1", "--keep", "-3"}, `"-3" is not an item number`},
		{"decide a word", []string{"review", "decide", "rv-1", "--keep", "1,two"}, `--keep "1,two": "two" is not an item number`},
		{"decide a range", []string{"review", "decide", "rv-1", "--keep", "1-5"}, `"1-5" is not an item number`},
		{"decide 2^32", []string{"review", "decide", "rv-1", "--revoke", "4294967296"}, `"4294967296" is not an item number`},
		{"decide trailing comma", []string{"review", "decide", "rv-1", "--keep", "1,"}, `"" is not an item number`},
		{"decide an item twice", []string{"review", "decide", "rv-1", "--keep", "1,2", "--revoke", "2"}, "item 2 is named twice"},
		{"decide no ID", []string{"review", "decide", "--keep", "1"}, "missing arguments: want REVIEW_ID"},
		{"items two IDs", []string{"review", "items", "rv-1", "rv-2"}, `unexpected argument "rv-2"`},
		{"list argument", []string{"review", "list", "x"}, `unexpected argument "x"`},
		{"export no out", []string{"review", "export", "rv-1"}, "--out is required"},
		{"export zero timeout", []string{"review", "export", "rv-1", "--out", out + ".new", "--timeout", "0s"}, "--timeout must be positive"},
		{"export --wait", []string{"review", "export", "rv-1", "--out", out + ".new", "--wait"}, "unknown flag: --wait"},
		{"unknown command", []string{"review", "approve", "rv-1"}, `unknown command "review approve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			r := h.fails(cli.ExitUsage, []string{tt.want}, "", tt.args...)
			if r.stdout != "" {
				t.Errorf("stdout on a usage error: %q", r.stdout)
			}
		})
	}
	h.t = t
	// A file in the way is refused before any call too.
	h.fails(cli.ExitFailure, []string{out + " exists: pass --force to replace it"}, "", "review", "export", "rv-1", "--out", out)
	if m := f.methods(); len(m) != 0 {
		t.Errorf("bad command lines called the server: %v", m)
	}
}
