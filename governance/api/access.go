package api

import (
	"context"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/core"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

var _ nuxariv1connect.AccessServiceHandler = (*Handlers)(nil)

func policyIn(p *nuxariv1.Policy) (access.Policy, error) {
	if p == nil {
		return access.Policy{}, core.Invalid("policy is required")
	}
	d, err := optDurationIn("max_duration", p.MaxDuration)
	if err != nil {
		return access.Policy{}, err
	}
	out := access.Policy{
		ID: p.PolicyId, Version: p.Version, Name: p.Name, ConnectorID: p.ConnectorId, Entitlements: p.Entitlements,
		RequesterRoles: p.RequesterRoles, Condition: p.Condition, MaxDuration: access.Duration(d),
		Approvals: int(p.Approvals), ApproverIDs: p.ApproverIds, ApproverRoles: p.ApproverRoles,
		AllowSelfApproval: p.AllowSelfApproval, ApproveExpiry: p.ApproveExpiry, RemediateDrift: p.RemediateDrift,
	}
	for _, set := range p.Conflicts {
		out.Conflicts = append(out.Conflicts, set.GetEntitlements())
	}
	return out, nil
}

func policyOut(p access.Policy) *nuxariv1.Policy {
	out := &nuxariv1.Policy{
		PolicyId: p.ID, Version: p.Version, Name: p.Name, ConnectorId: p.ConnectorID, Entitlements: p.Entitlements,
		RequesterRoles: p.RequesterRoles, Condition: p.Condition, Approvals: int32(p.Approvals),
		ApproverIds: p.ApproverIDs, ApproverRoles: p.ApproverRoles, AllowSelfApproval: p.AllowSelfApproval,
		ApproveExpiry: p.ApproveExpiry, CreateTime: ts(p.Created), CreatedBy: p.CreatedBy, RemediateDrift: p.RemediateDrift,
	}
	if p.MaxDuration > 0 {
		out.MaxDuration = durationpb.New(time.Duration(p.MaxDuration))
	}
	for _, set := range p.Conflicts {
		out.Conflicts = append(out.Conflicts, &nuxariv1.EntitlementSet{Entitlements: set})
	}
	return out
}

func enumOf[E ~int32](values map[string]int32, s, prefix string) E {
	return E(values[prefix+strings.ToUpper(s)])
}

func requestOut(r access.Request) *nuxariv1.AccessRequest {
	out := &nuxariv1.AccessRequest{
		RequestId: r.ID, Requester: r.Requester, ConnectorId: r.ConnectorID, IdentityId: r.IdentityID,
		EntitlementId: r.EntitlementID, Justification: r.Justification,
		State:    enumOf[nuxariv1.RequestState](nuxariv1.RequestState_value, r.State, "REQUEST_STATE_"),
		PolicyId: r.PolicyID, PolicyVersion: r.PolicyVersion, PlanId: r.PlanID, CreateTime: ts(r.Created), ExpireTime: ts(r.Expires),
	}
	if r.Duration > 0 {
		out.Duration = durationpb.New(time.Duration(r.Duration))
	}
	return out
}

func planOut(p access.Plan) *nuxariv1.Plan {
	out := &nuxariv1.Plan{
		PlanId: p.ID, Reason: p.Reason, RequestId: p.RequestID,
		State:    enumOf[nuxariv1.PlanState](nuxariv1.PlanState_value, p.State, "PLAN_STATE_"),
		PolicyId: p.PolicyID, PolicyVersion: p.PolicyVersion, ApprovalsRequired: int32(p.Required),
		ApproverIds: p.ApproverIDs, ApproverRoles: p.ApproverRoles, CreateTime: ts(p.Created), CompleteTime: ts(p.Completed),
		RequestedBy: p.RequestedBy, ReviewId: p.ReviewID, FindingId: p.FindingID,
	}
	if p.Duration > 0 {
		out.Duration = durationpb.New(time.Duration(p.Duration))
	}
	for _, a := range p.Actions {
		out.Actions = append(out.Actions, &nuxariv1.PlanAction{Kind: a.Kind, ConnectorId: a.ConnectorID, IdentityId: a.IdentityID, EntitlementId: a.EntitlementID, State: a.State, Error: a.Error})
	}
	for _, a := range p.Approvals {
		out.Approvals = append(out.Approvals, &nuxariv1.Approval{Approver: a.Approver, Approved: a.Approved, Comment: a.Comment, Time: ts(a.Time)})
	}
	return out
}

func accessGrantOut(g access.Grant) *nuxariv1.AccessGrant {
	return &nuxariv1.AccessGrant{
		GrantId: g.ID, ConnectorId: g.ConnectorID, IdentityId: g.IdentityID, EntitlementId: g.EntitlementID,
		RequestId: g.RequestID, GrantTime: ts(g.Granted), ExpireTime: ts(g.Expires), State: g.State,
	}
}

// CreatePolicy implements AccessService.CreatePolicy.
func (h *Handlers) CreatePolicy(ctx context.Context, req *connect.Request[nuxariv1.CreatePolicyRequest]) (*connect.Response[nuxariv1.CreatePolicyResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CreatePolicyRequest) (*nuxariv1.CreatePolicyResponse, error) {
		in, err := policyIn(m.Policy)
		if err != nil {
			return nil, err
		}
		out, err := h.svc.Access.CreatePolicy(ctx, p, in)
		return &nuxariv1.CreatePolicyResponse{Policy: policyOut(out)}, err
	})
}

// UpdatePolicy implements AccessService.UpdatePolicy.
func (h *Handlers) UpdatePolicy(ctx context.Context, req *connect.Request[nuxariv1.UpdatePolicyRequest]) (*connect.Response[nuxariv1.UpdatePolicyResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.UpdatePolicyRequest) (*nuxariv1.UpdatePolicyResponse, error) {
		in, err := policyIn(m.Policy)
		if err != nil {
			return nil, err
		}
		out, err := h.svc.Access.UpdatePolicy(ctx, p, in)
		return &nuxariv1.UpdatePolicyResponse{Policy: policyOut(out)}, err
	})
}

// GetPolicy implements AccessService.GetPolicy.
func (h *Handlers) GetPolicy(ctx context.Context, req *connect.Request[nuxariv1.GetPolicyRequest]) (*connect.Response[nuxariv1.GetPolicyResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetPolicyRequest) (*nuxariv1.GetPolicyResponse, error) {
		out, err := h.svc.Access.GetPolicy(ctx, p, m.PolicyId, m.Version)
		return &nuxariv1.GetPolicyResponse{Policy: policyOut(out)}, err
	})
}

// ListPolicies implements AccessService.ListPolicies.
func (h *Handlers) ListPolicies(ctx context.Context, req *connect.Request[nuxariv1.ListPoliciesRequest]) (*connect.Response[nuxariv1.ListPoliciesResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListPoliciesRequest) (*nuxariv1.ListPoliciesResponse, error) {
		ps, next, err := h.svc.Access.ListPolicies(ctx, p, m.PageSize, m.PageToken)
		out := &nuxariv1.ListPoliciesResponse{NextPageToken: next}
		for _, x := range ps {
			out.Policies = append(out.Policies, policyOut(x))
		}
		return out, err
	})
}

// SubmitRequest implements AccessService.SubmitRequest.
func (h *Handlers) SubmitRequest(ctx context.Context, req *connect.Request[nuxariv1.SubmitRequestRequest]) (*connect.Response[nuxariv1.SubmitRequestResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.SubmitRequestRequest) (*nuxariv1.SubmitRequestResponse, error) {
		d, err := optDurationIn("duration", m.Duration)
		if err != nil {
			return nil, err
		}
		r, pl, err := h.svc.Access.Submit(ctx, p, access.SubmitRequest{
			ConnectorID: m.ConnectorId, IdentityID: m.IdentityId, EntitlementID: m.EntitlementId, Duration: d, Justification: m.Justification,
		})
		return &nuxariv1.SubmitRequestResponse{Request: requestOut(r), Plan: planOut(pl)}, err
	})
}

// ListRequests implements AccessService.ListRequests.
func (h *Handlers) ListRequests(ctx context.Context, req *connect.Request[nuxariv1.ListRequestsRequest]) (*connect.Response[nuxariv1.ListRequestsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListRequestsRequest) (*nuxariv1.ListRequestsResponse, error) {
		rs, next, err := h.svc.Access.ListRequests(ctx, p, m.All, m.PageSize, m.PageToken)
		out := &nuxariv1.ListRequestsResponse{NextPageToken: next}
		for _, r := range rs {
			out.Requests = append(out.Requests, requestOut(r))
		}
		return out, err
	})
}

// GetRequest implements AccessService.GetRequest.
func (h *Handlers) GetRequest(ctx context.Context, req *connect.Request[nuxariv1.GetRequestRequest]) (*connect.Response[nuxariv1.GetRequestResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetRequestRequest) (*nuxariv1.GetRequestResponse, error) {
		r, err := h.svc.Access.GetRequest(ctx, p, m.RequestId)
		return &nuxariv1.GetRequestResponse{Request: requestOut(r)}, err
	})
}

// CancelRequest implements AccessService.CancelRequest.
func (h *Handlers) CancelRequest(ctx context.Context, req *connect.Request[nuxariv1.CancelRequestRequest]) (*connect.Response[nuxariv1.CancelRequestResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CancelRequestRequest) (*nuxariv1.CancelRequestResponse, error) {
		r, err := h.svc.Access.CancelRequest(ctx, p, m.RequestId)
		return &nuxariv1.CancelRequestResponse{Request: requestOut(r)}, err
	})
}

// ListPlans implements AccessService.ListPlans.
func (h *Handlers) ListPlans(ctx context.Context, req *connect.Request[nuxariv1.ListPlansRequest]) (*connect.Response[nuxariv1.ListPlansResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListPlansRequest) (*nuxariv1.ListPlansResponse, error) {
		ps, next, err := h.svc.Access.ListPlans(ctx, p, m.AssignedToMe, m.PageSize, m.PageToken)
		out := &nuxariv1.ListPlansResponse{NextPageToken: next}
		for _, x := range ps {
			out.Plans = append(out.Plans, planOut(x))
		}
		return out, err
	})
}

// GetPlan implements AccessService.GetPlan.
func (h *Handlers) GetPlan(ctx context.Context, req *connect.Request[nuxariv1.GetPlanRequest]) (*connect.Response[nuxariv1.GetPlanResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetPlanRequest) (*nuxariv1.GetPlanResponse, error) {
		pl, err := h.svc.Access.GetPlan(ctx, p, m.PlanId)
		return &nuxariv1.GetPlanResponse{Plan: planOut(pl)}, err
	})
}

// ApprovePlan implements AccessService.ApprovePlan.
func (h *Handlers) ApprovePlan(ctx context.Context, req *connect.Request[nuxariv1.ApprovePlanRequest]) (*connect.Response[nuxariv1.ApprovePlanResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ApprovePlanRequest) (*nuxariv1.ApprovePlanResponse, error) {
		pl, err := h.svc.Access.Decide(ctx, p, m.PlanId, true, m.Comment)
		return &nuxariv1.ApprovePlanResponse{Plan: planOut(pl)}, err
	})
}

// RejectPlan implements AccessService.RejectPlan.
func (h *Handlers) RejectPlan(ctx context.Context, req *connect.Request[nuxariv1.RejectPlanRequest]) (*connect.Response[nuxariv1.RejectPlanResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.RejectPlanRequest) (*nuxariv1.RejectPlanResponse, error) {
		pl, err := h.svc.Access.Decide(ctx, p, m.PlanId, false, m.Comment)
		return &nuxariv1.RejectPlanResponse{Plan: planOut(pl)}, err
	})
}

// ListAccessGrants implements AccessService.ListAccessGrants.
func (h *Handlers) ListAccessGrants(ctx context.Context, req *connect.Request[nuxariv1.ListAccessGrantsRequest]) (*connect.Response[nuxariv1.ListAccessGrantsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListAccessGrantsRequest) (*nuxariv1.ListAccessGrantsResponse, error) {
		gs, next, err := h.svc.Access.ListGrants(ctx, p, m.PageSize, m.PageToken)
		out := &nuxariv1.ListAccessGrantsResponse{NextPageToken: next}
		for _, g := range gs {
			out.Grants = append(out.Grants, accessGrantOut(g))
		}
		return out, err
	})
}

// AcceptBaseline implements AccessService.AcceptBaseline.
func (h *Handlers) AcceptBaseline(ctx context.Context, req *connect.Request[nuxariv1.AcceptBaselineRequest]) (*connect.Response[nuxariv1.AcceptBaselineResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.AcceptBaselineRequest) (*nuxariv1.AcceptBaselineResponse, error) {
		if err := core.ValidateID("connector_id", m.ConnectorId); err != nil {
			return nil, err
		}
		b, err := h.svc.Access.AcceptBaseline(ctx, p, m.ConnectorId)
		return &nuxariv1.AcceptBaselineResponse{ConnectorId: b.ConnectorID, SyncId: b.SyncID, Grants: uint64(b.Grants), GrantsDigest: b.Digest}, err
	})
}

// ListDriftFindings implements AccessService.ListDriftFindings.
func (h *Handlers) ListDriftFindings(ctx context.Context, req *connect.Request[nuxariv1.ListDriftFindingsRequest]) (*connect.Response[nuxariv1.ListDriftFindingsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListDriftFindingsRequest) (*nuxariv1.ListDriftFindingsResponse, error) {
		fs, next, err := h.svc.Access.ListFindings(ctx, p, m.ConnectorId, m.IncludeResolved, m.PageSize, m.PageToken)
		out := &nuxariv1.ListDriftFindingsResponse{NextPageToken: next}
		for _, f := range fs {
			out.Findings = append(out.Findings, &nuxariv1.DriftFinding{
				FindingId: f.ID, ConnectorId: f.ConnectorID, IdentityId: f.IdentityID, EntitlementId: f.EntitlementID,
				Kind: f.Kind, State: f.State, SyncId: f.SyncID, DetectTime: ts(f.Detected), ResolveTime: ts(f.Resolved),
				Resolution: f.Resolution, PlanId: f.PlanID,
			})
		}
		return out, err
	})
}

func reviewOut(r access.Review) *nuxariv1.Review {
	return &nuxariv1.Review{
		ReviewId: r.ID, ConnectorId: r.ConnectorID, Name: r.Name,
		State:  enumOf[nuxariv1.ReviewState](nuxariv1.ReviewState_value, r.State, "REVIEW_STATE_"),
		SyncId: r.SyncID, GrantsDigest: r.GrantsDigest, StartedBy: r.StartedBy,
		ReviewerIds: r.ReviewerIDs, ReviewerRoles: r.ReviewerRoles,
		Items: uint32(r.Items), Decided: uint32(r.Decided), Kept: uint32(r.Kept), Revoked: uint32(r.Revoked), RevokeFailed: uint32(r.RevokeFailed),
		CreateTime: ts(r.Created), CompleteTime: ts(r.Completed),
	}
}

func reviewItemOut(it access.ReviewItem) *nuxariv1.ReviewItem {
	return &nuxariv1.ReviewItem{
		ReviewId: it.ReviewID, Item: uint32(it.Item), IdentityId: it.IdentityID, IdentityName: it.IdentityName,
		EntitlementId: it.EntitlementID, EntitlementName: it.EntitlementName, EntitlementKind: it.EntitlementKind,
		ReviewerIds: it.ReviewerIDs, ReviewerRoles: it.ReviewerRoles, PolicyId: it.PolicyID, PolicyVersion: it.PolicyVersion,
		GrantId: it.GrantID, Decision: it.Decision, DecidedBy: it.DecidedBy, Comment: it.Comment,
		DecideTime: ts(it.Decided), PlanId: it.PlanID,
	}
}

// reviewDecisionsIn converts a call's decisions; an item no review can
// have (a review has at most access.MaxReviewItems) is refused here, as
// is any number too large for the domain's int.
func reviewDecisionsIn(ds []*nuxariv1.ReviewDecision) ([]access.ItemDecision, error) {
	if len(ds) > access.MaxReviewDecisions {
		return nil, core.Invalid("decisions: at most %d in one call", access.MaxReviewDecisions)
	}
	out := make([]access.ItemDecision, 0, len(ds))
	for _, d := range ds {
		if d.GetItem() > access.MaxReviewItems {
			return nil, core.Invalid("decisions: item %d is more than any review has (at most %d items)", d.GetItem(), access.MaxReviewItems)
		}
		out = append(out, access.ItemDecision{Item: int(d.GetItem()), Revoke: d.GetRevoke(), Comment: d.GetComment()})
	}
	return out, nil
}

// StartReview implements AccessService.StartReview.
func (h *Handlers) StartReview(ctx context.Context, req *connect.Request[nuxariv1.StartReviewRequest]) (*connect.Response[nuxariv1.StartReviewResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.StartReviewRequest) (*nuxariv1.StartReviewResponse, error) {
		r, err := h.svc.Access.StartReview(ctx, p, access.StartReview{
			ConnectorID: m.ConnectorId, Name: m.Name, ReviewerIDs: m.ReviewerIds, ReviewerRoles: m.ReviewerRoles,
		})
		return &nuxariv1.StartReviewResponse{Review: reviewOut(r)}, err
	})
}

// GetReview implements AccessService.GetReview.
func (h *Handlers) GetReview(ctx context.Context, req *connect.Request[nuxariv1.GetReviewRequest]) (*connect.Response[nuxariv1.GetReviewResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetReviewRequest) (*nuxariv1.GetReviewResponse, error) {
		r, err := h.svc.Access.GetReview(ctx, p, m.ReviewId)
		return &nuxariv1.GetReviewResponse{Review: reviewOut(r)}, err
	})
}

// ListReviews implements AccessService.ListReviews.
func (h *Handlers) ListReviews(ctx context.Context, req *connect.Request[nuxariv1.ListReviewsRequest]) (*connect.Response[nuxariv1.ListReviewsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListReviewsRequest) (*nuxariv1.ListReviewsResponse, error) {
		rs, next, err := h.svc.Access.ListReviews(ctx, p, m.PageSize, m.PageToken)
		out := &nuxariv1.ListReviewsResponse{NextPageToken: next}
		for _, r := range rs {
			out.Reviews = append(out.Reviews, reviewOut(r))
		}
		return out, err
	})
}

// ListReviewItems implements AccessService.ListReviewItems.
func (h *Handlers) ListReviewItems(ctx context.Context, req *connect.Request[nuxariv1.ListReviewItemsRequest]) (*connect.Response[nuxariv1.ListReviewItemsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListReviewItemsRequest) (*nuxariv1.ListReviewItemsResponse, error) {
		its, next, err := h.svc.Access.ListReviewItems(ctx, p, m.ReviewId, m.AssignedToMe, m.PageSize, m.PageToken)
		out := &nuxariv1.ListReviewItemsResponse{NextPageToken: next}
		for _, it := range its {
			out.Items = append(out.Items, reviewItemOut(it))
		}
		return out, err
	})
}

// DecideReview implements AccessService.DecideReview.
func (h *Handlers) DecideReview(ctx context.Context, req *connect.Request[nuxariv1.DecideReviewRequest]) (*connect.Response[nuxariv1.DecideReviewResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.DecideReviewRequest) (*nuxariv1.DecideReviewResponse, error) {
		ds, err := reviewDecisionsIn(m.Decisions)
		if err != nil {
			return nil, err
		}
		r, err := h.svc.Access.DecideReview(ctx, p, m.ReviewId, ds)
		return &nuxariv1.DecideReviewResponse{Review: reviewOut(r)}, err
	})
}

// CancelReview implements AccessService.CancelReview.
func (h *Handlers) CancelReview(ctx context.Context, req *connect.Request[nuxariv1.CancelReviewRequest]) (*connect.Response[nuxariv1.CancelReviewResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CancelReviewRequest) (*nuxariv1.CancelReviewResponse, error) {
		r, err := h.svc.Access.CancelReview(ctx, p, m.ReviewId)
		return &nuxariv1.CancelReviewResponse{Review: reviewOut(r)}, err
	})
}
