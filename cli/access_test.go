package cli_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/cli"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// fakeAccess is an AccessService that records its requests and answers
// from a few fixed policies, requests and plans. IDs ending in "-missing"
// are not found and those ending in "-forbidden" are denied, for every
// method.
type fakeAccess struct {
	nuxariv1connect.UnimplementedAccessServiceHandler
	t *testing.T

	callLog
	mu        sync.Mutex
	policies  map[string]*nuxariv1.Policy
	planPolls map[string]int // GetPlan calls by plan ID
}

func newFakeAccess(t *testing.T) *fakeAccess {
	return &fakeAccess{t: t, policies: map[string]*nuxariv1.Policy{}, planPolls: map[string]int{}}
}

// serve serves f on loopback and points h at it.
func (f *fakeAccess) serve(h *harness) {
	path, handler := nuxariv1connect.NewAccessServiceHandler(f, fakeTokenCheck())
	serveFake(f.t, h, path, handler)
}

// record records a request and fails it as its ID asks.
func (f *fakeAccess) record(method, id string, msg proto.Message) error {
	f.add(method, msg)
	switch {
	case strings.HasSuffix(id, "-missing"):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("%s not found", id))
	case strings.HasSuffix(id, "-forbidden"):
		return connect.NewError(connect.CodePermissionDenied, errors.New("the role requester may not manage access policies"))
	}
	return nil
}

func (f *fakeAccess) put(p *nuxariv1.Policy) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policies[p.GetPolicyId()] = proto.Clone(p).(*nuxariv1.Policy)
}

func (f *fakeAccess) policy(id string) (*nuxariv1.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.policies[id]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("policy %s not found", id))
	}
	return proto.Clone(p).(*nuxariv1.Policy), nil
}

// page returns the items [from, to) of page token (prefix-N) of n items,
// size a page, and the next token.
func page(token, prefix string, n, size int) (from, to int, next string) {
	p, _ := strconv.Atoi(strings.TrimPrefix(token, prefix+"-"))
	from, to = p*size, min(p*size+size, n)
	if to < n {
		next = fmt.Sprintf("%s-%d", prefix, p+1)
	}
	return from, to, next
}

var fakeLater = timestamppb.New(fakeTime.AsTime().Add(4 * time.Hour))

func (f *fakeAccess) CreatePolicy(_ context.Context, req *connect.Request[nuxariv1.CreatePolicyRequest]) (*connect.Response[nuxariv1.CreatePolicyResponse], error) {
	if err := f.record("CreatePolicy", req.Msg.GetPolicy().GetName(), req.Msg); err != nil {
		return nil, err
	}
	p := proto.Clone(req.Msg.GetPolicy()).(*nuxariv1.Policy)
	p.PolicyId, p.Version, p.CreateTime, p.CreatedBy = "pol-1", 1, fakeTime, "u-admin"
	f.put(p)
	return connect.NewResponse(&nuxariv1.CreatePolicyResponse{Policy: p}), nil
}

// GetPolicy returns the current version, or the one asked for (the
// current text, numbered so).
func (f *fakeAccess) GetPolicy(_ context.Context, req *connect.Request[nuxariv1.GetPolicyRequest]) (*connect.Response[nuxariv1.GetPolicyResponse], error) {
	if err := f.record("GetPolicy", req.Msg.GetPolicyId(), req.Msg); err != nil {
		return nil, err
	}
	p, err := f.policy(req.Msg.GetPolicyId())
	if err != nil {
		return nil, err
	}
	if v := req.Msg.GetVersion(); v != 0 {
		p.Version = v
	}
	return connect.NewResponse(&nuxariv1.GetPolicyResponse{Policy: p}), nil
}

// UpdatePolicy saves the next version if the version sent is the current
// one; a policy whose ID ends in "-stale" changes meanwhile, always.
func (f *fakeAccess) UpdatePolicy(_ context.Context, req *connect.Request[nuxariv1.UpdatePolicyRequest]) (*connect.Response[nuxariv1.UpdatePolicyResponse], error) {
	p := req.Msg.GetPolicy()
	if err := f.record("UpdatePolicy", p.GetPolicyId(), req.Msg); err != nil {
		return nil, err
	}
	cur, err := f.policy(p.GetPolicyId())
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(p.GetPolicyId(), "-stale") || p.GetVersion() != cur.GetVersion() {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("policy %s is at version %d, not %d", p.GetPolicyId(), cur.GetVersion()+1, p.GetVersion()))
	}
	next := proto.Clone(p).(*nuxariv1.Policy)
	next.Version, next.CreateTime, next.CreatedBy = cur.GetVersion()+1, fakeLater, "u-admin2"
	f.put(next)
	return connect.NewResponse(&nuxariv1.UpdatePolicyResponse{Policy: next}), nil
}

// ListPolicies hands out policies pol-0…pol-4, two a page.
func (f *fakeAccess) ListPolicies(_ context.Context, req *connect.Request[nuxariv1.ListPoliciesRequest]) (*connect.Response[nuxariv1.ListPoliciesResponse], error) {
	if err := f.record("ListPolicies", "", req.Msg); err != nil {
		return nil, err
	}
	from, to, next := page(req.Msg.GetPageToken(), "policies", 5, 2)
	res := &nuxariv1.ListPoliciesResponse{NextPageToken: next}
	for i := from; i < to; i++ {
		res.Policies = append(res.Policies, &nuxariv1.Policy{PolicyId: fmt.Sprintf("pol-%d", i), Version: int64(i + 1), Name: fmt.Sprintf("policy%d", i),
			ConnectorId: "c1", Approvals: int32(i % 3), MaxDuration: durationpb.New(time.Duration(i) * time.Hour), CreateTime: fakeTime})
	}
	return connect.NewResponse(res), nil
}

func fakeRequest(id string) *nuxariv1.AccessRequest {
	return &nuxariv1.AccessRequest{RequestId: id, Requester: "u-bob", ConnectorId: "c1", IdentityId: "role:bob", EntitlementId: "ent:read",
		Duration: durationpb.New(4 * time.Hour), Justification: "incident 4711", State: nuxariv1.RequestState_REQUEST_STATE_PENDING,
		PolicyId: "pol-1", PolicyVersion: 3, PlanId: "plan-" + id, CreateTime: fakeTime, ExpireTime: fakeLater}
}

// SubmitRequest refuses a justification that says "refuse"; otherwise
// the request is pending and its plan needs two approvals.
func (f *fakeAccess) SubmitRequest(_ context.Context, req *connect.Request[nuxariv1.SubmitRequestRequest]) (*connect.Response[nuxariv1.SubmitRequestResponse], error) {
	m := req.Msg
	if err := f.record("SubmitRequest", m.GetConnectorId(), m); err != nil {
		return nil, err
	}
	if strings.Contains(m.GetJustification(), "refuse") {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("no policy allows this request: pol-1: ent:admin is not among its entitlements; pol-2: its condition is false"))
	}
	r := &nuxariv1.AccessRequest{RequestId: "r-1", Requester: "u-bob", ConnectorId: m.GetConnectorId(), IdentityId: m.GetIdentityId(),
		EntitlementId: m.GetEntitlementId(), Duration: m.GetDuration(), Justification: m.GetJustification(),
		State: nuxariv1.RequestState_REQUEST_STATE_PENDING, PolicyId: "pol-1", PolicyVersion: 3, PlanId: "plan-r-1", CreateTime: fakeTime, ExpireTime: fakeLater}
	p := &nuxariv1.Plan{PlanId: "plan-r-1", Reason: "request", RequestId: "r-1", State: nuxariv1.PlanState_PLAN_STATE_PENDING,
		PolicyId: "pol-1", PolicyVersion: 3, ApprovalsRequired: 2, RequestedBy: "u-bob", CreateTime: fakeTime}
	return connect.NewResponse(&nuxariv1.SubmitRequestResponse{Request: r, Plan: p}), nil
}

// ListRequests hands out requests r0…r4, two a page.
func (f *fakeAccess) ListRequests(_ context.Context, req *connect.Request[nuxariv1.ListRequestsRequest]) (*connect.Response[nuxariv1.ListRequestsResponse], error) {
	if err := f.record("ListRequests", "", req.Msg); err != nil {
		return nil, err
	}
	from, to, next := page(req.Msg.GetPageToken(), "requests", 5, 2)
	res := &nuxariv1.ListRequestsResponse{NextPageToken: next}
	for i := from; i < to; i++ {
		r := fakeRequest(fmt.Sprintf("r%d", i))
		if i == 4 {
			r.Duration = nil
		}
		res.Requests = append(res.Requests, r)
	}
	return connect.NewResponse(res), nil
}

func (f *fakeAccess) GetRequest(_ context.Context, req *connect.Request[nuxariv1.GetRequestRequest]) (*connect.Response[nuxariv1.GetRequestResponse], error) {
	if err := f.record("GetRequest", req.Msg.GetRequestId(), req.Msg); err != nil {
		return nil, err
	}
	return connect.NewResponse(&nuxariv1.GetRequestResponse{Request: fakeRequest(req.Msg.GetRequestId())}), nil
}

func (f *fakeAccess) CancelRequest(_ context.Context, req *connect.Request[nuxariv1.CancelRequestRequest]) (*connect.Response[nuxariv1.CancelRequestResponse], error) {
	if err := f.record("CancelRequest", req.Msg.GetRequestId(), req.Msg); err != nil {
		return nil, err
	}
	r := fakeRequest(req.Msg.GetRequestId())
	r.State = nuxariv1.RequestState_REQUEST_STATE_CANCELED
	return connect.NewResponse(&nuxariv1.CancelRequestResponse{Request: r}), nil
}

// ListPlans hands out plans p0…p4, two a page.
func (f *fakeAccess) ListPlans(_ context.Context, req *connect.Request[nuxariv1.ListPlansRequest]) (*connect.Response[nuxariv1.ListPlansResponse], error) {
	if err := f.record("ListPlans", "", req.Msg); err != nil {
		return nil, err
	}
	from, to, next := page(req.Msg.GetPageToken(), "plans", 5, 2)
	res := &nuxariv1.ListPlansResponse{NextPageToken: next}
	for i := from; i < to; i++ {
		p := fakePlan(fmt.Sprintf("p%d", i), nuxariv1.PlanState_PLAN_STATE_PENDING)
		p.Approvals = p.Approvals[:i%2]
		res.Plans = append(res.Plans, p)
	}
	return connect.NewResponse(res), nil
}

// fakePlan is a plan to grant ent:read to role:bob, approved once, with a
// comment, of the two approvals it needs.
func fakePlan(id string, state nuxariv1.PlanState) *nuxariv1.Plan {
	return &nuxariv1.Plan{PlanId: id, Reason: "request", RequestId: "r-" + id, State: state, PolicyId: "pol-1", PolicyVersion: 3,
		ApprovalsRequired: 2, ApproverIds: []string{"u-alice", "u-carol"}, ApproverRoles: []string{"admin"}, RequestedBy: "u-bob", CreateTime: fakeTime,
		Actions:   []*nuxariv1.PlanAction{{Kind: "grant", ConnectorId: "c1", IdentityId: "role:bob", EntitlementId: "ent:read", State: "pending"}},
		Approvals: []*nuxariv1.Approval{{Approver: "u-alice", Approved: true, Comment: "fine for the incident", Time: fakeTime}},
	}
}

// GetPlan answers for plan IDs "<outcome>-…": pending at the first call,
// executing at the second, then the outcome (done, failed, rejected,
// expired or canceled), at once if the ID ends in "-now"; any other plan
// stays pending.
func (f *fakeAccess) GetPlan(_ context.Context, req *connect.Request[nuxariv1.GetPlanRequest]) (*connect.Response[nuxariv1.GetPlanResponse], error) {
	id := req.Msg.GetPlanId()
	if err := f.record("GetPlan", id, req.Msg); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.planPolls[id]++
	n := f.planPolls[id]
	f.mu.Unlock()
	outcome, _, _ := strings.Cut(id, "-")
	end, ok := nuxariv1.PlanState_value["PLAN_STATE_"+strings.ToUpper(outcome)]
	p := fakePlan(id, nuxariv1.PlanState_PLAN_STATE_PENDING)
	switch {
	case !ok:
	case n >= 3 || strings.HasSuffix(id, "-now"):
		p.State, p.CompleteTime = nuxariv1.PlanState(end), fakeLater
		switch p.State {
		case nuxariv1.PlanState_PLAN_STATE_DONE:
			p.Actions[0].State = "done"
			p.Approvals = append(p.Approvals, &nuxariv1.Approval{Approver: "u-carol", Approved: true, Time: fakeTime})
		case nuxariv1.PlanState_PLAN_STATE_FAILED:
			p.Actions[0].State, p.Actions[0].Error = "failed", "granting ent:read: permission denied"
		case nuxariv1.PlanState_PLAN_STATE_REJECTED:
			p.Approvals = append(p.Approvals, &nuxariv1.Approval{Approver: "u-carol", Approved: false, Comment: "not needed", Time: fakeTime})
		}
	case n == 2 && (p.State == nuxariv1.PlanState_PLAN_STATE_PENDING && (outcome == "done" || outcome == "failed")):
		p.State = nuxariv1.PlanState_PLAN_STATE_EXECUTING
	}
	return connect.NewResponse(&nuxariv1.GetPlanResponse{Plan: p}), nil
}

func (f *fakeAccess) ApprovePlan(_ context.Context, req *connect.Request[nuxariv1.ApprovePlanRequest]) (*connect.Response[nuxariv1.ApprovePlanResponse], error) {
	if err := f.record("ApprovePlan", req.Msg.GetPlanId(), req.Msg); err != nil {
		return nil, err
	}
	p := fakePlan(req.Msg.GetPlanId(), nuxariv1.PlanState_PLAN_STATE_APPROVED)
	p.Approvals = append(p.Approvals, &nuxariv1.Approval{Approver: "u-carol", Approved: true, Comment: req.Msg.GetComment(), Time: fakeLater})
	return connect.NewResponse(&nuxariv1.ApprovePlanResponse{Plan: p}), nil
}

func (f *fakeAccess) RejectPlan(_ context.Context, req *connect.Request[nuxariv1.RejectPlanRequest]) (*connect.Response[nuxariv1.RejectPlanResponse], error) {
	if err := f.record("RejectPlan", req.Msg.GetPlanId(), req.Msg); err != nil {
		return nil, err
	}
	p := fakePlan(req.Msg.GetPlanId(), nuxariv1.PlanState_PLAN_STATE_REJECTED)
	p.Approvals = append(p.Approvals, &nuxariv1.Approval{Approver: "u-carol", Approved: false, Comment: req.Msg.GetComment(), Time: fakeLater})
	return connect.NewResponse(&nuxariv1.RejectPlanResponse{Plan: p}), nil
}

// ListAccessGrants hands out grants g0…g6, three a page; g6 has no end.
func (f *fakeAccess) ListAccessGrants(_ context.Context, req *connect.Request[nuxariv1.ListAccessGrantsRequest]) (*connect.Response[nuxariv1.ListAccessGrantsResponse], error) {
	if err := f.record("ListAccessGrants", "", req.Msg); err != nil {
		return nil, err
	}
	from, to, next := page(req.Msg.GetPageToken(), "grants", 7, 3)
	res := &nuxariv1.ListAccessGrantsResponse{NextPageToken: next}
	for i := from; i < to; i++ {
		g := &nuxariv1.AccessGrant{GrantId: fmt.Sprintf("g%d", i), ConnectorId: "c1", IdentityId: fmt.Sprintf("role:%d", i),
			EntitlementId: fmt.Sprintf("ent:%d", i), RequestId: fmt.Sprintf("r%d", i), GrantTime: fakeTime, ExpireTime: fakeLater, State: "active"}
		if i == 6 {
			g.ExpireTime, g.State = nil, "revoke_failed"
		}
		res.Grants = append(res.Grants, g)
	}
	return connect.NewResponse(res), nil
}

// accessHarness returns a harness that talks to a new fake
// AccessService, and the fake.
func accessHarness(t *testing.T) (*harness, *fakeAccess) {
	t.Helper()
	h := newHarness(t)
	f := newFakeAccess(t)
	f.serve(h)
	return h, f
}

// contains fails for each of want that out does not contain.
func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output does not contain %q:\n%s", what, w, out)
		}
	}
}

// field returns the value of the "Key:" line of fields output, or "" if
// there is none.
func field(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// tableRows returns a table's lines as their space-separated columns.
func tableRows(out string) []string {
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	return rows
}

// A condition over several lines, with a tab, quotes and non-ASCII text,
// and no final newline.
const condition = "request.duration <= duration(\"8h\") &&\n\t\"on-call\" in requester.groups // Bereitschaft für Störungen"

// TestPolicyCreate: every flag reaches its field of the policy, the
// condition from a file as it is; flags not given leave the fields zero.
func TestPolicyCreate(t *testing.T) {
	h, f := accessHarness(t)
	r := h.ok("", "policy", "create", "--name", "db-read", "--connector", "c1", "--entitlement", "ent:read", "--entitlement", "ent:write",
		"--requester-role", "requester", "--requester-role", "admin", "--condition-file", writeFile(t, "cond.cel", condition),
		"--max-duration", "8h", "--approvals", "2", "--approver", "u-alice", "--approver", "u-carol", "--approver-role", "approver",
		"--allow-self-approval", "--conflict", "ent:read,ent:admin", "--conflict", "ent:a,ent:b,ent:c", "--approve-expiry")
	want := &nuxariv1.Policy{Name: "db-read", ConnectorId: "c1", Entitlements: []string{"ent:read", "ent:write"},
		RequesterRoles: []string{"requester", "admin"}, Condition: condition, MaxDuration: durationpb.New(8 * time.Hour), Approvals: 2,
		ApproverIds: []string{"u-alice", "u-carol"}, ApproverRoles: []string{"approver"}, AllowSelfApproval: true,
		Conflicts:     []*nuxariv1.EntitlementSet{{Entitlements: []string{"ent:read", "ent:admin"}}, {Entitlements: []string{"ent:a", "ent:b", "ent:c"}}},
		ApproveExpiry: true}
	if got := f.last(t, "CreatePolicy").(*nuxariv1.CreatePolicyRequest).GetPolicy(); !proto.Equal(got, want) {
		t.Errorf("policy sent:\n got %v\nwant %v", got, want)
	}
	for key, value := range map[string]string{
		"Policy": "pol-1", "Version": "1", "Name": "db-read", "Connector": "c1", "Entitlements": "ent:read, ent:write",
		"Requester roles": "requester, admin", "Max duration": "8h0m0s", "Approvals": "2", "Approvers": "u-alice, u-carol",
		"Approver roles": "approver", "Self-approval": "yes", "Conflicts": "ent:read,ent:admin; ent:a,ent:b,ent:c", "Approve expiry": "yes",
		"Created": "2026-12-01T09:30:00Z", "Created by": "u-admin",
	} {
		if got := field(r.stdout, key); got != value {
			t.Errorf("create: %s: %q, want %q\n%s", key, got, value, r.stdout)
		}
	}
	if !strings.HasSuffix(r.stdout, "\nCondition:\n"+condition+"\n") {
		t.Errorf("create: the condition is not printed as it is, last:\n%s", r.stdout)
	}

	// The least a policy needs; the condition as a flag or from standard
	// input.
	h.ok("", "policy", "create", "--name", "any", "--connector", "c2")
	if got := f.last(t, "CreatePolicy").(*nuxariv1.CreatePolicyRequest).GetPolicy(); !proto.Equal(got, &nuxariv1.Policy{Name: "any", ConnectorId: "c2"}) {
		t.Errorf("minimal create sent %v", got)
	}
	h.ok("", "policy", "create", "--name", "n", "--connector", "c2", "--condition", `identity.name.startsWith("svc_")`, "--max-duration", "0", "--approvals", "0")
	if got := f.last(t, "CreatePolicy").(*nuxariv1.CreatePolicyRequest).GetPolicy(); !proto.Equal(got, &nuxariv1.Policy{Name: "n", ConnectorId: "c2", Condition: `identity.name.startsWith("svc_")`}) {
		t.Errorf("create --condition sent %v", got)
	}
	h.ok(condition+"\r\n", "policy", "create", "--name", "n", "--connector", "c2", "--condition-file", "-")
	if got := f.last(t, "CreatePolicy").(*nuxariv1.CreatePolicyRequest).GetPolicy().GetCondition(); got != condition+"\r\n" {
		t.Errorf("create --condition-file - sent %q", got)
	}

	// --json: the policy in snake_case.
	r = h.ok("", "--json", "policy", "create", "--name", "n", "--connector", "c2", "--max-duration", "90m", "--conflict", "a,b")
	checkNames(t, "policy create --json", []byte(r.stdout))
	var got struct {
		PolicyID    string `json:"policy_id"`
		MaxDuration string `json:"max_duration"`
		Conflicts   []struct {
			Entitlements []string `json:"entitlements"`
		} `json:"conflicts"`
	}
	if err := jsonUnmarshal(r.stdout, &got); err != nil || got.PolicyID != "pol-1" || got.MaxDuration != "5400s" || len(got.Conflicts) != 1 {
		t.Errorf("create --json: %v %+v\n%s", err, got, r.stdout)
	}
}

// currentPolicy is policy pol-7 at version 3, every field set.
func currentPolicy() *nuxariv1.Policy {
	return &nuxariv1.Policy{PolicyId: "pol-7", Version: 3, Name: "db-admin", ConnectorId: "c1", Entitlements: []string{"ent:admin"},
		RequesterRoles: []string{"admin"}, Condition: condition, MaxDuration: durationpb.New(2 * time.Hour), Approvals: 2,
		ApproverIds: []string{"u-alice"}, ApproverRoles: []string{"owner"}, AllowSelfApproval: true,
		Conflicts: []*nuxariv1.EntitlementSet{{Entitlements: []string{"ent:admin", "ent:audit"}}}, ApproveExpiry: true,
		CreateTime: fakeTime, CreatedBy: "u-admin"}
}

// TestPolicyUpdate: the flags apply over the current version, which goes
// back whole with its version number; a version conflict is a clear
// failure.
func TestPolicyUpdate(t *testing.T) {
	h, f := accessHarness(t)
	f.put(currentPolicy())
	r := h.ok("", "policy", "update", "pol-7", "--approvals", "1", "--entitlement", "", "--requester-role", "requester", "--requester-role", "approver",
		"--max-duration", "0", "--allow-self-approval=false", "--conflict", "ent:x,ent:y", "--condition", "")
	if m := f.methods(); strings.Join(m, " ") != "GetPolicy UpdatePolicy" {
		t.Fatalf("update called %v, want GetPolicy then UpdatePolicy", m)
	}
	if get := f.last(t, "GetPolicy").(*nuxariv1.GetPolicyRequest); get.GetPolicyId() != "pol-7" || get.GetVersion() != 0 {
		t.Errorf("update read %v, want the current version", get)
	}
	want := currentPolicy()
	want.CreateTime, want.CreatedBy = nil, ""
	want.Approvals, want.Entitlements, want.RequesterRoles, want.MaxDuration, want.AllowSelfApproval = 1, nil, []string{"requester", "approver"}, nil, false
	want.Conflicts, want.Condition = []*nuxariv1.EntitlementSet{{Entitlements: []string{"ent:x", "ent:y"}}}, ""
	if got := f.last(t, "UpdatePolicy").(*nuxariv1.UpdatePolicyRequest).GetPolicy(); !proto.Equal(got, want) {
		t.Errorf("update sent:\n got %v\nwant %v", got, want)
	}
	for key, value := range map[string]string{
		"Version": "4", "Approvals": "1", "Entitlements": "- (every entitlement of the connector)", "Max duration": "- (access without an end is allowed)",
		"Self-approval": "no", "Approve expiry": "yes", "Condition": "- (none: always true)", "Created by": "u-admin2",
	} {
		if got := field(r.stdout, key); got != value {
			t.Errorf("update: %s: %q, want %q\n%s", key, got, value, r.stdout)
		}
	}

	// One flag: everything else as it is, at the new current version.
	f.reset()
	h.ok("", "policy", "update", "pol-7", "--condition-file", writeFile(t, "c.cel", condition+"\n"), "--approve-expiry=false", "--name", "db-admin-2", "--connector", "c9")
	cur, _ := f.policy("pol-7")
	got := f.last(t, "UpdatePolicy").(*nuxariv1.UpdatePolicyRequest).GetPolicy()
	if got.GetVersion() != 4 || got.GetCondition() != condition+"\n" || got.GetApproveExpiry() || got.GetName() != "db-admin-2" || got.GetConnectorId() != "c9" || got.GetApprovals() != 1 || cur.GetVersion() != 5 {
		t.Errorf("second update sent %v", got)
	}

	// The policy changed in between: nothing saved, exit 1, say so.
	stale := currentPolicy()
	stale.PolicyId = "pol-stale"
	f.put(stale)
	r = h.fails(cli.ExitFailure, []string{"nuxctl: policy pol-stale changed after nuxctl read its version 3, so nothing was saved: run the command again",
		"policy pol-stale is at version 4, not 3"}, "", "policy", "update", "pol-stale", "--approvals", "3")
	if r.stdout != "" {
		t.Errorf("update conflict: stdout %q", r.stdout)
	}

	// Not found before anything is sent.
	f.reset()
	h.fails(cli.ExitNotFound, []string{"nuxctl: not_found: pol-missing not found"}, "", "policy", "update", "pol-missing", "--approvals", "3")
	if m := f.methods(); strings.Join(m, " ") != "GetPolicy" {
		t.Errorf("update of a missing policy called %v", m)
	}
}

// TestPolicyGetAndList: get shows every field and the condition as it
// is; list follows the pages to the end.
func TestPolicyGetAndList(t *testing.T) {
	h, f := accessHarness(t)
	f.put(currentPolicy())
	r := h.ok("", "policy", "get", "pol-7")
	for key, value := range map[string]string{
		"Policy": "pol-7", "Version": "3", "Name": "db-admin", "Connector": "c1", "Entitlements": "ent:admin", "Requester roles": "admin",
		"Max duration": "2h0m0s", "Approvals": "2", "Approvers": "u-alice", "Approver roles": "owner", "Self-approval": "yes",
		"Conflicts": "ent:admin,ent:audit", "Approve expiry": "yes", "Created": "2026-12-01T09:30:00Z", "Created by": "u-admin",
	} {
		if got := field(r.stdout, key); got != value {
			t.Errorf("get: %s: %q, want %q\n%s", key, got, value, r.stdout)
		}
	}
	if !strings.HasSuffix(r.stdout, "\nCondition:\n"+condition+"\n") {
		t.Errorf("get: the condition is not printed as it is, last:\n%s", r.stdout)
	}
	if req := f.last(t, "GetPolicy").(*nuxariv1.GetPolicyRequest); req.GetVersion() != 0 || req.GetPolicyId() != "pol-7" {
		t.Errorf("get asked for %v", req)
	}
	r = h.ok("", "policy", "get", "pol-7", "--version", "2")
	if req := f.last(t, "GetPolicy").(*nuxariv1.GetPolicyRequest); req.GetVersion() != 2 || field(r.stdout, "Version") != "2" {
		t.Errorf("get --version 2 asked for %v", req)
	}

	// Control characters are not sent to the terminal; line ends and tabs
	// are.
	p := currentPolicy()
	p.PolicyId, p.Condition = "pol-esc", "true &&\r\n\t\x1b[2Jfalse\r"
	f.put(p)
	if r := h.ok("", "policy", "get", "pol-esc"); !strings.HasSuffix(r.stdout, "\nCondition:\ntrue &&\r\n\t?[2Jfalse?\n") {
		t.Errorf("get of a condition with control characters:\n%q", r.stdout)
	}
	var js struct {
		Condition string `json:"condition"`
		Version   string `json:"version"`
	}
	h.jsonOut(&js, "policy", "get", "pol-esc")
	if js.Condition != p.Condition || js.Version != "3" {
		t.Errorf("get --json: %+v", js)
	}

	r = h.ok("", "policy", "list")
	rows := tableRows(r.stdout)
	if len(rows) != 6 || rows[0] != "POLICY ID VERSION NAME CONNECTOR APPROVALS MAX DURATION SAVED" ||
		rows[1] != "pol-0 1 policy0 c1 0 - 2026-12-01T09:30:00Z" || rows[5] != "pol-4 5 policy4 c1 1 4h0m0s 2026-12-01T09:30:00Z" {
		t.Errorf("list:\n%s", r.stdout)
	}
	var tokens []string
	for _, m := range f.requests("ListPolicies") {
		tokens = append(tokens, m.(*nuxariv1.ListPoliciesRequest).GetPageToken())
	}
	if strings.Join(tokens, ",") != ",policies-1,policies-2" {
		t.Errorf("list asked for pages %q", tokens)
	}
	r = h.ok("", "--json", "policy", "list")
	checkNames(t, "policy list --json", []byte(r.stdout))
	var list struct {
		Policies      []struct{ Name string } `json:"policies"`
		NextPageToken string                  `json:"next_page_token"`
	}
	if err := jsonUnmarshal(r.stdout, &list); err != nil || len(list.Policies) != 5 || list.NextPageToken != "" {
		t.Errorf("list --json: %v %+v", err, list)
	}
}

// TestRequestCommands: submit sends what it is given and names the plan;
// a refusal shows the server's reasons; list, get and cancel.
func TestRequestCommands(t *testing.T) {
	h, f := accessHarness(t)
	r := h.ok("", "request", "submit", "--connector", "c1", "--identity", "role:bob", "--entitlement", "ent:read", "--duration", "4h", "--justification", "incident 4711")
	want := &nuxariv1.SubmitRequestRequest{ConnectorId: "c1", IdentityId: "role:bob", EntitlementId: "ent:read", Duration: durationpb.New(4 * time.Hour), Justification: "incident 4711"}
	if got := f.last(t, "SubmitRequest"); !proto.Equal(got, want) {
		t.Errorf("submit sent:\n got %v\nwant %v", got, want)
	}
	contains(t, "submit stderr", r.stderr, "Request r-1 is pending; its plan plan-r-1 is pending, 0 of 2 approvals. Follow it with 'nuxctl plan wait plan-r-1'.")
	for key, value := range map[string]string{
		"Request": "r-1", "Requester": "u-bob", "Connector": "c1", "Identity": "role:bob", "Entitlement": "ent:read", "Duration": "4h0m0s",
		"Justification": "incident 4711", "State": "pending", "Policy": "pol-1 (version 3)", "Plan": "plan-r-1",
		"Created": "2026-12-01T09:30:00Z", "Expires if pending": "2026-12-01T13:30:00Z",
	} {
		if got := field(r.stdout, key); got != value {
			t.Errorf("submit: %s: %q, want %q\n%s", key, got, value, r.stdout)
		}
	}

	// Without --duration (or 0): access without an end.
	r = h.ok("", "request", "submit", "--connector", "c1", "--identity", "role:bob", "--entitlement", "ent:read", "--justification", "standing access")
	if got := f.last(t, "SubmitRequest").(*nuxariv1.SubmitRequestRequest); got.Duration != nil || field(r.stdout, "Duration") != "- (no end)" {
		t.Errorf("submit without --duration sent %v", got)
	}
	h.ok("", "request", "submit", "--connector", "c1", "--identity", "role:bob", "--entitlement", "ent:read", "--justification", "x", "--duration", "0")
	if got := f.last(t, "SubmitRequest").(*nuxariv1.SubmitRequestRequest); got.Duration != nil {
		t.Errorf("submit --duration 0 sent %v", got)
	}

	// --json: the request and its plan.
	r = h.ok("", "--json", "request", "submit", "--connector", "c1", "--identity", "role:bob", "--entitlement", "ent:read", "--justification", "x")
	checkNames(t, "request submit --json", []byte(r.stdout))
	var sub struct {
		Request struct {
			RequestID string `json:"request_id"`
		} `json:"request"`
		Plan struct {
			PlanID string `json:"plan_id"`
			State  string `json:"state"`
		} `json:"plan"`
	}
	if err := jsonUnmarshal(r.stdout, &sub); err != nil || sub.Request.RequestID != "r-1" || sub.Plan.PlanID != "plan-r-1" || sub.Plan.State != "PLAN_STATE_PENDING" || r.stderr != "" {
		t.Errorf("submit --json: %v %+v, stderr %q", err, sub, r.stderr)
	}

	// Refused: exit 1 with the server's reasons.
	r = h.fails(cli.ExitFailure, []string{"nuxctl: failed_precondition: no policy allows this request: pol-1: ent:admin is not among its entitlements; pol-2: its condition is false"},
		"", "request", "submit", "--connector", "c1", "--identity", "role:bob", "--entitlement", "ent:admin", "--justification", "please refuse")
	if r.stdout != "" {
		t.Errorf("refused submit: stdout %q", r.stdout)
	}

	// list: the caller's, or with --all everyone's, every page.
	r = h.ok("", "request", "list")
	rows := tableRows(r.stdout)
	if len(rows) != 6 || rows[0] != "REQUEST ID REQUESTER CONNECTOR IDENTITY ENTITLEMENT DURATION STATE CREATED" ||
		rows[1] != "r0 u-bob c1 role:bob ent:read 4h0m0s pending 2026-12-01T09:30:00Z" || rows[5] != "r4 u-bob c1 role:bob ent:read - pending 2026-12-01T09:30:00Z" {
		t.Errorf("request list:\n%s", r.stdout)
	}
	var tokens []string
	for _, m := range f.requests("ListRequests") {
		req := m.(*nuxariv1.ListRequestsRequest)
		tokens = append(tokens, req.GetPageToken())
		if req.GetAll() {
			t.Errorf("request list sent all")
		}
	}
	if strings.Join(tokens, ",") != ",requests-1,requests-2" {
		t.Errorf("request list asked for pages %q", tokens)
	}
	f.reset()
	var list struct {
		Requests []struct {
			RequestID string `json:"request_id"`
		} `json:"requests"`
	}
	h.jsonOut(&list, "request", "list", "--all")
	reqs := f.requests("ListRequests")
	if len(list.Requests) != 5 || len(reqs) != 3 || !reqs[0].(*nuxariv1.ListRequestsRequest).GetAll() || !reqs[2].(*nuxariv1.ListRequestsRequest).GetAll() {
		t.Errorf("request list --all: %+v, requests %v", list, reqs)
	}

	r = h.ok("", "request", "get", "r-9")
	if req := f.last(t, "GetRequest").(*nuxariv1.GetRequestRequest); req.GetRequestId() != "r-9" || field(r.stdout, "Request") != "r-9" || field(r.stdout, "Plan") != "plan-r-9" {
		t.Errorf("request get: %v\n%s", req, r.stdout)
	}
	r = h.ok("", "request", "cancel", "r-9")
	if req := f.last(t, "CancelRequest").(*nuxariv1.CancelRequestRequest); req.GetRequestId() != "r-9" || field(r.stdout, "State") != "canceled" {
		t.Errorf("request cancel: %v\n%s", req, r.stdout)
	}
	var canceled struct {
		State string `json:"state"`
	}
	h.jsonOut(&canceled, "request", "cancel", "r-9")
	if canceled.State != "REQUEST_STATE_CANCELED" {
		t.Errorf("request cancel --json: %+v", canceled)
	}
}

// TestPlanCommands: list (--mine is assigned_to_me), get with actions and
// decisions, approve and reject with their comments.
func TestPlanCommands(t *testing.T) {
	h, f := accessHarness(t)
	r := h.ok("", "plan", "list")
	rows := tableRows(r.stdout)
	if len(rows) != 6 || rows[0] != "PLAN ID REASON REQUEST STATE APPROVALS REQUESTED BY CREATED" ||
		rows[1] != "p0 request r-p0 pending 0/2 u-bob 2026-12-01T09:30:00Z" || rows[2] != "p1 request r-p1 pending 1/2 u-bob 2026-12-01T09:30:00Z" {
		t.Errorf("plan list:\n%s", r.stdout)
	}
	var tokens []string
	for _, m := range f.requests("ListPlans") {
		req := m.(*nuxariv1.ListPlansRequest)
		tokens = append(tokens, req.GetPageToken())
		if req.GetAssignedToMe() {
			t.Errorf("plan list sent assigned_to_me")
		}
	}
	if strings.Join(tokens, ",") != ",plans-1,plans-2" {
		t.Errorf("plan list asked for pages %q", tokens)
	}
	f.reset()
	h.ok("", "plan", "list", "--mine")
	for _, m := range f.requests("ListPlans") {
		if !m.(*nuxariv1.ListPlansRequest).GetAssignedToMe() {
			t.Errorf("plan list --mine did not send assigned_to_me: %v", m)
		}
	}
	var list struct {
		Plans []struct {
			PlanID string `json:"plan_id"`
		} `json:"plans"`
	}
	h.jsonOut(&list, "plan", "list", "--mine")
	if len(list.Plans) != 5 {
		t.Errorf("plan list --json: %+v", list)
	}

	r = h.ok("", "plan", "get", "p-3")
	for key, value := range map[string]string{
		"Plan": "p-3", "Reason": "request", "Request": "r-p-3", "State": "pending", "Policy": "pol-1 (version 3)", "Approvals": "1 of 2",
		"Approvers": "u-alice, u-carol", "Approver roles": "admin", "Requested by": "u-bob", "Completed": "-",
	} {
		if got := field(r.stdout, key); got != value {
			t.Errorf("plan get: %s: %q, want %q\n%s", key, got, value, r.stdout)
		}
	}
	contains(t, "plan get", strings.Join(tableRows(r.stdout), "\n"),
		"Actions:\nKIND CONNECTOR IDENTITY ENTITLEMENT STATE ERROR\ngrant c1 role:bob ent:read pending -\n",
		"Decisions:\nAPPROVER DECISION TIME COMMENT\nu-alice approved 2026-12-01T09:30:00Z fine for the incident")

	r = h.ok("", "plan", "approve", "p-4", "--comment", "ok for 4h")
	if req := f.last(t, "ApprovePlan").(*nuxariv1.ApprovePlanRequest); req.GetPlanId() != "p-4" || req.GetComment() != "ok for 4h" {
		t.Errorf("approve sent %v", req)
	}
	contains(t, "plan approve", strings.Join(tableRows(r.stdout), "\n"), "u-carol approved 2026-12-01T13:30:00Z ok for 4h")
	if field(r.stdout, "State") != "approved" || field(r.stdout, "Approvals") != "2 of 2" {
		t.Errorf("plan approve:\n%s", r.stdout)
	}
	h.ok("", "plan", "approve", "p-5")
	if req := f.last(t, "ApprovePlan").(*nuxariv1.ApprovePlanRequest); req.GetPlanId() != "p-5" || req.GetComment() != "" {
		t.Errorf("approve without a comment sent %v", req)
	}
	var rejected struct {
		State     string `json:"state"`
		Approvals []struct {
			Approved bool   `json:"approved"`
			Comment  string `json:"comment"`
		} `json:"approvals"`
	}
	h.jsonOut(&rejected, "plan", "reject", "p-6", "--comment", "not needed")
	if req := f.last(t, "RejectPlan").(*nuxariv1.RejectPlanRequest); req.GetPlanId() != "p-6" || req.GetComment() != "not needed" {
		t.Errorf("reject sent %v", req)
	}
	if rejected.State != "PLAN_STATE_REJECTED" || len(rejected.Approvals) != 2 || rejected.Approvals[1].Approved || rejected.Approvals[1].Comment != "not needed" {
		t.Errorf("reject --json: %+v", rejected)
	}
}

// TestPlanWait: exit 0 when the plan is done, 6 when it ends otherwise, 7
// on --timeout.
func TestPlanWait(t *testing.T) {
	h, f := accessHarness(t)
	r := h.ok("", "plan", "wait", "done-1", "--timeout", "30s")
	contains(t, "wait stderr", r.stderr, "waiting for plan done-1 (pending, 1 of 2 approvals) to end, up to 30s…\n", "plan done-1: executing\n", "plan done-1: done\n")
	if field(r.stdout, "State") != "done" || !strings.Contains(strings.Join(tableRows(r.stdout), "\n"), "grant c1 role:bob ent:read done -") {
		t.Errorf("wait for a plan that gets done:\n%s", r.stdout)
	}
	if n := len(f.requests("GetPlan")); n != 3 {
		t.Errorf("wait called GetPlan %d times, want 3", n)
	}

	r = h.ok("", "plan", "wait", "done-now")
	if r.stderr != "" || field(r.stdout, "State") != "done" {
		t.Errorf("wait for a plan already done: stderr %q\n%s", r.stderr, r.stdout)
	}

	tests := []struct{ id, want string }{
		{"failed-1", "nuxctl: plan failed-1 failed: granting ent:read: permission denied"},
		{"rejected-1", "nuxctl: plan rejected-1 was rejected by u-carol: not needed"},
		{"expired-1", "nuxctl: plan expired-1 expired before it was decided"},
		{"canceled-1", "nuxctl: plan canceled-1 was canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			h.t = t
			r := h.fails(cli.ExitFailed, []string{tt.want}, "", "plan", "wait", tt.id)
			if want := strings.TrimSuffix(tt.id, "-1"); field(r.stdout, "State") != want {
				t.Errorf("wait: the plan printed is not %s:\n%s", want, r.stdout)
			}
		})
	}
	h.t = t
	r = h.fails(cli.ExitFailed, []string{"plan failed-now failed"}, "", "--json", "plan", "wait", "failed-now")
	var p struct {
		State string `json:"state"`
	}
	if err := jsonUnmarshal(r.stdout, &p); err != nil || p.State != "PLAN_STATE_FAILED" {
		t.Errorf("wait --json for a failed plan: %v %+v", err, p)
	}

	start := time.Now()
	r = h.fails(cli.ExitTimeout, []string{"nuxctl: gave up after 300ms (--timeout) waiting for plan slow-1 (still pending, 1 of 2 approvals); it carries on: follow it with 'nuxctl plan get slow-1'"},
		"", "plan", "wait", "slow-1", "--timeout", "300ms")
	if time.Since(start) > 10*time.Second || r.stdout != "" {
		t.Errorf("wait --timeout 300ms: %s, stdout %q", time.Since(start), r.stdout)
	}
	h.fails(cli.ExitNotFound, []string{"nuxctl: not_found: p-missing not found"}, "", "plan", "wait", "p-missing")
}

// TestAccessGrants: every page, as a table or one JSON document.
func TestAccessGrants(t *testing.T) {
	h, f := accessHarness(t)
	r := h.ok("", "access", "grants")
	rows := tableRows(r.stdout)
	if len(rows) != 8 || rows[0] != "GRANT ID CONNECTOR IDENTITY ENTITLEMENT GRANTED EXPIRES STATE" ||
		rows[1] != "g0 c1 role:0 ent:0 2026-12-01T09:30:00Z 2026-12-01T13:30:00Z active" ||
		rows[7] != "g6 c1 role:6 ent:6 2026-12-01T09:30:00Z - revoke_failed" {
		t.Errorf("access grants:\n%s", r.stdout)
	}
	var tokens []string
	for _, m := range f.requests("ListAccessGrants") {
		tokens = append(tokens, m.(*nuxariv1.ListAccessGrantsRequest).GetPageToken())
	}
	if strings.Join(tokens, ",") != ",grants-1,grants-2" {
		t.Errorf("access grants asked for pages %q", tokens)
	}
	r = h.ok("", "--json", "access", "grants")
	checkNames(t, "access grants --json", []byte(r.stdout))
	var grants struct {
		Grants []struct {
			GrantID   string `json:"grant_id"`
			RequestID string `json:"request_id"`
		} `json:"grants"`
		NextPageToken string `json:"next_page_token"`
	}
	if err := jsonUnmarshal(r.stdout, &grants); err != nil || len(grants.Grants) != 7 || grants.Grants[6].RequestID != "r6" || grants.NextPageToken != "" {
		t.Errorf("access grants --json: %v %+v", err, grants)
	}
}

// TestAccessExitCodes: not found exits 3, permission denied 4, a refusal
// 1 with the server's message; stdout stays empty.
func TestAccessExitCodes(t *testing.T) {
	h, _ := accessHarness(t)
	tests := []struct {
		code int
		want string
		args []string
	}{
		{cli.ExitNotFound, "nuxctl: not_found: pol-missing not found", []string{"policy", "get", "pol-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"request", "get", "r-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"request", "cancel", "r-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"plan", "get", "p-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"plan", "approve", "p-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"request", "submit", "--connector", "c-missing", "--identity", "i", "--entitlement", "e", "--justification", "j"}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: the role requester may not manage access policies", []string{"policy", "create", "--name", "p-forbidden", "--connector", "c1"}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: ", []string{"policy", "update", "pol-forbidden", "--approvals", "1"}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: ", []string{"plan", "reject", "p-forbidden", "--comment", "no"}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: ", []string{"plan", "wait", "p-forbidden"}},
		{cli.ExitFailure, "nuxctl: failed_precondition: no policy allows this request: pol-1: ent:admin is not among its entitlements",
			[]string{"request", "submit", "--connector", "c1", "--identity", "i", "--entitlement", "ent:admin", "--justification", "refuse me"}},
		{cli.ExitUnauthenticated, "nuxctl: unauthenticated: ", []string{"--token", "wrong", "access", "grants"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h.t = t
			if r := h.fails(tt.code, []string{tt.want}, "", tt.args...); r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
		})
	}
}

// TestAccessBadInput: a bad command line is a usage error (exit 2), found
// before any call to the server.
func TestAccessBadInput(t *testing.T) {
	h, f := accessHarness(t)
	submit := func(more ...string) []string {
		return append([]string{"request", "submit"}, more...)
	}
	create := func(more ...string) []string {
		return append([]string{"policy", "create", "--name", "n", "--connector", "c1"}, more...)
	}
	cond := writeFile(t, "cond.cel", "true")
	notText := writeFile(t, "cond.bin", "\xff\xfe")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"submit no connector", submit("--identity", "i", "--entitlement", "e", "--justification", "j"), "--connector is required"},
		{"submit no identity", submit("--connector", "c", "--entitlement", "e", "--justification", "j"), "--identity is required"},
		{"submit no entitlement", submit("--connector", "c", "--identity", "i", "--justification", "j"), "--entitlement is required"},
		{"submit no justification", submit("--connector", "c", "--identity", "i", "--entitlement", "e"), "--justification is required"},
		{"submit empty justification", submit("--connector", "c", "--identity", "i", "--entitlement", "e", "--justification", " \t"), "--justification is required"},
		{"submit negative duration", submit("--connector", "c", "--identity", "i", "--entitlement", "e", "--justification", "j", "--duration", "-4h"), "--duration must not be negative"},
		{"submit bad duration", submit("--connector", "c", "--identity", "i", "--entitlement", "e", "--justification", "j", "--duration", "4 hours"), `invalid argument "4 hours" for "--duration"`},
		{"submit extra argument", submit("--connector", "c", "--identity", "i", "--entitlement", "e", "--justification", "j", "extra"), `unexpected argument "extra"`},
		{"create no name", []string{"policy", "create", "--connector", "c1"}, "--name is required"},
		{"create no connector", []string{"policy", "create", "--name", "n"}, "--connector is required"},
		{"create negative approvals", create("--approvals", "-1"), "--approvals must not be negative"},
		{"create approvals not a number", create("--approvals", "two"), `invalid argument "two" for "--approvals"`},
		{"create negative max duration", create("--max-duration", "-1h"), "--max-duration must not be negative"},
		{"create both conditions", create("--condition", "true", "--condition-file", cond), "give one of --condition and --condition-file, not both"},
		{"create empty condition file flag", create("--condition-file="), "--condition-file needs a FILE"},
		{"create condition file missing", create("--condition-file", cond+".none"), "--condition-file: open "},
		{"create condition file not text", create("--condition-file", notText), "is not UTF-8 text"},
		{"create conflict of one", create("--conflict", "ent:a"), `--conflict "ent:a": give two or more entitlement IDs`},
		{"create conflict with an empty ID", create("--conflict", "ent:a,,ent:b"), `--conflict "ent:a,,ent:b": an empty entitlement ID`},
		{"create conflict ending in a comma", create("--conflict", "ent:a,"), "an empty entitlement ID"},
		{"create conflict naming one twice", create("--conflict", "ent:a,ent:a"), `names "ent:a" twice`},
		{"create empty conflict among others", create("--conflict", "a,b", "--conflict", ""), "--conflict: an empty value"},
		{"create empty entitlement among others", create("--entitlement", "e1", "--entitlement", ""), "--entitlement: an empty value"},
		{"create unknown requester role", create("--requester-role", "Admin"), `unknown role "Admin"`},
		{"create unknown approver role", create("--approver-role", "boss"), `unknown role "boss"`},
		{"create unknown flag", create("--approver-group", "ops"), "unknown flag: --approver-group"},
		{"create argument", create("pol-1"), `unexpected argument "pol-1"`},
		{"update nothing", []string{"policy", "update", "pol-7"}, "nothing to change"},
		{"update no ID", []string{"policy", "update"}, "missing arguments: want POLICY_ID"},
		{"update empty name", []string{"policy", "update", "pol-7", "--name", ""}, "--name must not be empty"},
		{"update empty connector", []string{"policy", "update", "pol-7", "--connector="}, "--connector must not be empty"},
		{"update negative approvals", []string{"policy", "update", "pol-7", "--approvals", "-3"}, "--approvals must not be negative"},
		{"update both conditions", []string{"policy", "update", "pol-7", "--condition", "", "--condition-file", cond}, "give one of --condition and --condition-file"},
		{"update malformed conflict", []string{"policy", "update", "pol-7", "--conflict", ",ent:b"}, "an empty entitlement ID"},
		{"get negative version", []string{"policy", "get", "pol-7", "--version", "-1"}, "--version must not be negative"},
		{"get two IDs", []string{"policy", "get", "pol-7", "pol-8"}, `unexpected argument "pol-8"`},
		{"list argument", []string{"policy", "list", "x"}, `unexpected argument "x"`},
		{"request list unknown flag", []string{"request", "list", "--mine"}, "unknown flag: --mine"},
		{"request get no ID", []string{"request", "get"}, "missing arguments: want REQUEST_ID"},
		{"request cancel unknown flag", []string{"request", "cancel", "r1", "--reason", "x"}, "unknown flag: --reason"},
		{"plan list unknown flag", []string{"plan", "list", "--all"}, "unknown flag: --all"},
		{"plan approve no ID", []string{"plan", "approve", "--comment", "ok"}, "missing arguments: want PLAN_ID"},
		{"plan reject unknown flag", []string{"plan", "reject", "p1", "--reason", "no"}, "unknown flag: --reason"},
		{"plan wait zero timeout", []string{"plan", "wait", "p1", "--timeout", "0s"}, "--timeout must be positive"},
		{"plan wait negative timeout", []string{"plan", "wait", "p1", "--timeout", "-1m"}, "--timeout must be positive"},
		{"plan wait --wait", []string{"plan", "wait", "p1", "--wait"}, "unknown flag: --wait"},
		{"access grants argument", []string{"access", "grants", "c1"}, `unexpected argument "c1"`},
		{"access unknown command", []string{"access", "revoke", "g1"}, `unknown command "access revoke"`},
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
	if m := f.methods(); len(m) != 0 {
		t.Errorf("bad command lines called the server: %v", m)
	}
}
