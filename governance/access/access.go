// Package access is the access-governance feature of the governance
// domain: policies (with CEL conditions, versioned), access requests
// decided by them, remediation plans that assigned approvers approve or
// reject, plans run through connectors on the job runner, and the
// just-in-time grants they make, revoked when they expire.
//
// Every decision is an event that carries the policy version and the
// exact input document its condition saw (Input), so that it can be
// evaluated again offline (Evaluate).
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// The state keys access owns.
const (
	prefixPolicy        = "access-policy/"   // <id>: the current Policy
	prefixPolicyVersion = "access-policy-v/" // <id>/<version>: each Policy version
	prefixRequest       = "access-request/"  // <id>: Request
	prefixPlan          = "access-plan/"     // <id>: Plan
	prefixGrant         = "access-grant/"    // <id>: Grant
)

// StateKeys lists the state keys access owns.
var StateKeys = []core.StateKey{
	{Key: prefixPolicy, Owner: "access"}, {Key: prefixPolicyVersion, Owner: "access"},
	{Key: prefixRequest, Owner: "access"}, {Key: prefixPlan, Owner: "access"}, {Key: prefixGrant, Owner: "access"},
	{Key: prefixBaseline, Owner: "access"}, {Key: prefixFinding, Owner: "access"}, {Key: prefixOpen, Owner: "access"},
	{Key: prefixChecked, Owner: "access"}, {Key: prefixReview, Owner: "access"}, {Key: prefixReviewItem, Owner: "access"},
	{Key: prefixReviewOpen, Owner: "access"}, {Key: prefixChanged, Owner: "access"},
}

// PlanJobKind is the job kind that runs an approved plan.
const PlanJobKind = "access.plan"

// planEvents are the runner's events about plan runs; a restart resumes
// a run (each action done is recorded, and connectors grant and revoke
// idempotently), so none is canceled.
var planEvents = jobs.EventsPrefix(ec.AccessPlanRunStarted, ec.AccessPlanRunCompleted, ec.AccessPlanRunFailed, ec.AccessPlanRunRequeued)

// Config configures the feature.
type Config struct {
	// RequestTTL is how long a request may wait for approval (default
	// DefaultRequestTTL).
	RequestTTL time.Duration
}

// Service is the access feature.
type Service struct {
	mu     sync.Mutex
	pruned map[string]time.Time // org: when the schedule last pruned its history

	env        *core.Env
	cfg        Config
	runner     *jobs.Runner
	connectors *connectors.Service
}

// New returns the feature, registering its job kind with runner.
func New(env *core.Env, cfg Config, runner *jobs.Runner, cs *connectors.Service) (*Service, error) {
	if cfg.RequestTTL <= 0 {
		cfg.RequestTTL = DefaultRequestTTL
	}
	s := &Service{env: env, cfg: cfg, runner: runner, connectors: cs}
	if err := runner.Register(jobs.Kind{
		Name: PlanJobKind, Run: s.runPlan, Restart: jobs.RestartResume, MaxAttempts: 5,
		Events: planEvents, Subject: "plan:",
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Request states.
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestRejected = "rejected"
	RequestCanceled = "canceled"
	RequestExpired  = "expired"
)

// Request is an access request.
type Request struct {
	ID            string    `json:"id"`
	Requester     string    `json:"requester"`
	ConnectorID   string    `json:"connector_id"`
	IdentityID    string    `json:"identity_id"`
	EntitlementID string    `json:"entitlement_id"`
	Duration      Duration  `json:"duration_seconds"`
	Justification string    `json:"justification"`
	State         string    `json:"state"`
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int64     `json:"policy_version"`
	PlanID        string    `json:"plan_id"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires"`
}

// Plan states.
const (
	PlanPending   = "pending"
	PlanApproved  = "approved"
	PlanRejected  = "rejected"
	PlanExecuting = "executing"
	PlanDone      = "done"
	PlanFailed    = "failed"
	PlanExpired   = "expired"
	PlanCanceled  = "canceled"
)

// Action is one change a plan makes.
type Action struct {
	Kind          string `json:"kind"` // "grant" or "revoke"
	ConnectorID   string `json:"connector_id"`
	IdentityID    string `json:"identity_id"`
	EntitlementID string `json:"entitlement_id"`
	State         string `json:"state"` // "pending", "done", "failed"
	Error         string `json:"error,omitempty"`
	// GrantID is the access grant the action makes or ends.
	GrantID string `json:"grant_id"`
}

// Approval is an approver's decision.
type Approval struct {
	Approver string    `json:"approver"`
	Approved bool      `json:"approved"`
	Comment  string    `json:"comment"`
	Time     time.Time `json:"time"`
}

// Plan is a remediation plan.
type Plan struct {
	ID            string     `json:"id"`
	Reason        string     `json:"reason"` // "request", "expiry", "drift", "review"
	RequestID     string     `json:"request_id,omitempty"`
	FindingID     string     `json:"finding_id,omitempty"`
	ReviewID      string     `json:"review_id,omitempty"`
	RequestedBy   string     `json:"requested_by"`
	Actions       []Action   `json:"actions"`
	State         string     `json:"state"`
	PolicyID      string     `json:"policy_id"`
	PolicyVersion int64      `json:"policy_version"`
	Required      int        `json:"approvals_required"`
	ApproverIDs   []string   `json:"approver_ids"`
	ApproverRoles []string   `json:"approver_roles"`
	SelfApproval  bool       `json:"allow_self_approval"`
	Approvals     []Approval `json:"approvals"`
	// Duration is the access a grant action gives, from when it runs.
	Duration  Duration  `json:"duration_seconds"`
	Created   time.Time `json:"created"`
	Completed time.Time `json:"completed,omitzero"`
}

// Grant states.
const (
	GrantActive       = "active"
	GrantRevoking     = "revoking"
	GrantRevoked      = "revoked"
	GrantRevokeFailed = "revoke_failed"
)

// Grant is access given through a plan.
type Grant struct {
	ID            string    `json:"id"`
	ConnectorID   string    `json:"connector_id"`
	IdentityID    string    `json:"identity_id"`
	EntitlementID string    `json:"entitlement_id"`
	RequestID     string    `json:"request_id"`
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int64     `json:"policy_version"`
	Granted       time.Time `json:"granted"`
	Expires       time.Time `json:"expires,omitzero"`
	State         string    `json:"state"`
	// Ended is when it was revoked.
	Ended time.Time `json:"ended,omitzero"`
	// RevokePlan is the plan that revokes it, once one is made.
	RevokePlan string `json:"revoke_plan,omitempty"`
}

// SubmitRequest is what a requester asks for.
type SubmitRequest struct {
	ConnectorID, IdentityID, EntitlementID string
	Duration                               time.Duration
	Justification                          string
}

// Decision is what the policies decided of a request, as its event
// records it.
type Decision struct {
	Allowed       bool      `json:"allowed"`
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int64     `json:"policy_version"`
	Input         Input     `json:"input"`
	Evaluated     []Verdict `json:"evaluated"`
}

// Verdict is one policy version's answer.
type Verdict struct {
	PolicyID      string   `json:"policy_id"`
	PolicyVersion int64    `json:"policy_version"`
	Allowed       bool     `json:"allowed"`
	Reasons       []string `json:"reasons"`
}

// Submit decides a request by the policies of its connector. Allowed, it
// is recorded with its plan ("access.request.submitted"); a plan that
// needs no approval starts at once. Refused, the decision is recorded
// ("access.request.denied") and the error (Precondition) gives the
// reasons.
func (s *Service) Submit(ctx context.Context, pr *core.Principal, req SubmitRequest) (Request, Plan, error) {
	for f, v := range map[string]string{"connector_id": req.ConnectorID} {
		if err := core.ValidateID(f, v); err != nil {
			return Request{}, Plan{}, err
		}
	}
	for f, v := range map[string]string{"identity_id": req.IdentityID, "entitlement_id": req.EntitlementID} {
		if err := core.ValidateText(f, v, 256, true); err != nil {
			return Request{}, Plan{}, err
		}
	}
	if err := core.ValidateText("justification", req.Justification, maxJustificationLen, true); err != nil {
		return Request{}, Plan{}, err
	}
	if req.Duration < 0 || req.Duration%time.Second != 0 {
		return Request{}, Plan{}, core.Invalid("duration must be whole seconds, not negative")
	}
	if pr.UserID == "" {
		return Request{}, Plan{}, errs.New(errs.Permission, "access is requested by a member")
	}
	o := s.env.OrgOf(pr)
	facts, err := connectors.Lookup(ctx, o, req.ConnectorID, req.IdentityID, req.EntitlementID)
	if err != nil {
		return Request{}, Plan{}, err
	}
	held, err := s.held(ctx, o, req.ConnectorID, facts.Identity.ID, facts.Held)
	if err != nil {
		return Request{}, Plan{}, err
	}
	in := Input{
		Request:     InputRequest{ConnectorID: req.ConnectorID, DurationSeconds: int64(req.Duration / time.Second), Justification: req.Justification, Held: held},
		Requester:   InputRequester{UserID: pr.UserID, Email: pr.Email, Role: string(pr.Role)},
		Identity:    InputIdentity{ID: facts.Identity.ID, Name: facts.Identity.Name, Kind: facts.Identity.Kind, Attributes: facts.Identity.Attributes},
		Entitlement: InputEntitlement{ID: facts.Entitlement.ID, Name: facts.Entitlement.Name, Kind: facts.Entitlement.Kind, Description: facts.Entitlement.Description},
	}
	if in.Identity.Attributes == nil {
		in.Identity.Attributes = map[string]string{}
	}
	if in.Request.Held == nil {
		in.Request.Held = []string{}
	}
	policies, err := policiesFor(ctx, o, req.ConnectorID)
	if err != nil {
		return Request{}, Plan{}, err
	}
	d := Decision{Input: in, Evaluated: []Verdict{}}
	var pol *Policy
	for i := range policies {
		ok, why := policies[i].Decide(in)
		if why == nil {
			why = []string{}
		}
		d.Evaluated = append(d.Evaluated, Verdict{PolicyID: policies[i].ID, PolicyVersion: policies[i].Version, Allowed: ok, Reasons: why})
		if ok && pol == nil {
			pol = &policies[i]
			d.Allowed, d.PolicyID, d.PolicyVersion = true, pol.ID, pol.Version
		}
	}
	if pol == nil {
		reason := "no policy covers this connector"
		if len(d.Evaluated) > 0 {
			reason = fmt.Sprintf("no policy allows it: %v", reasonsOf(d.Evaluated))
		}
		if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
			Event: core.NewEvent(ctx, ec.AccessRequestDenied, pr.Actor(), "connector:"+req.ConnectorID, map[string]any{"decision": d, "reason": reason}),
		}); err != nil {
			return Request{}, Plan{}, core.Conflict(err)
		}
		return Request{}, Plan{}, errs.New(errs.Precondition, "the request is refused: %s", reason)
	}
	now := s.env.Now()
	r := Request{
		ID: core.NewID("q"), Requester: pr.UserID, ConnectorID: req.ConnectorID, IdentityID: facts.Identity.ID,
		EntitlementID: facts.Entitlement.ID, Duration: Duration(req.Duration), Justification: req.Justification,
		State: RequestPending, PolicyID: pol.ID, PolicyVersion: pol.Version, Created: now, Expires: now.Add(s.cfg.RequestTTL),
	}
	pl := Plan{
		ID: core.NewID("l"), Reason: "request", RequestID: r.ID, RequestedBy: pr.UserID, State: PlanPending,
		Actions:  []Action{{Kind: "grant", ConnectorID: r.ConnectorID, IdentityID: r.IdentityID, EntitlementID: r.EntitlementID, State: "pending", GrantID: core.NewID("g")}},
		PolicyID: pol.ID, PolicyVersion: pol.Version, Required: pol.Approvals, ApproverIDs: pol.ApproverIDs, ApproverRoles: pol.ApproverRoles,
		SelfApproval: pol.AllowSelfApproval, Approvals: []Approval{}, Duration: r.Duration, Created: now,
	}
	r.PlanID = pl.ID
	data := map[string]any{
		"decision": d, "request": r, "plan": pl,
	}
	c := store.Change{
		Event: core.NewEvent(ctx, ec.AccessRequestSubmitted, pr.Actor(), "request:"+r.ID, data),
		Put:   map[string]any{prefixRequest + r.ID: r},
	}
	if pl.Required == 0 {
		// Approved as it is made: its run starts with it.
		pl.State, r.State = PlanExecuting, RequestApproved
		data["request"], data["plan"] = r, pl
		c.Put[prefixRequest+r.ID], c.Put[prefixPlan+pl.ID] = r, pl
		if err := s.startPlan(ctx, o, pl.ID, c); err != nil {
			return Request{}, Plan{}, err
		}
		return r, pl, nil
	}
	c.Put[prefixPlan+pl.ID] = pl
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return Request{}, Plan{}, core.Conflict(err)
	}
	return r, pl, nil
}

func reasonsOf(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		for _, r := range v.Reasons {
			out = append(out, fmt.Sprintf("policy %s v%d: %s", v.PolicyID, v.PolicyVersion, r))
		}
	}
	return out
}

// held returns the entitlements the identity holds: in the snapshot, and
// through active access grants the snapshot may not show yet.
func (s *Service) held(ctx context.Context, o store.Org, connectorID, identityID string, snap []string) ([]string, error) {
	held := slices.Clone(snap)
	err := core.ScanJSON(ctx, o, prefixGrant, func(g *Grant) bool {
		if g.ConnectorID == connectorID && g.IdentityID == identityID && (g.State == GrantActive || g.State == GrantRevoking) {
			held = append(held, g.EntitlementID)
		}
		return true
	})
	slices.Sort(held)
	return slices.Compact(held), err
}

// startPlan commits c with the plan's run submitted (a job of the same
// ID as the plan, so a plan runs once).
func (s *Service) startPlan(ctx context.Context, o store.Org, planID string, c store.Change) error {
	_, err := s.runner.Submit(ctx, o, jobs.Request{Kind: PlanJobKind, ID: planID, Args: map[string]string{"plan_id": planID}, Change: c})
	switch {
	case errors.Is(err, jobs.ErrBusy):
		return errs.New(errs.RateLimited, "the org has as many jobs queued or running as it may have; try again when one ends")
	case err != nil:
		return core.Conflict(err)
	}
	return nil
}

// loadRecord reads the record of what (its ID the caller's field) under
// prefix+id.
func loadRecord[T any](ctx context.Context, o store.Org, field, what, prefix, id string) (T, []byte, error) {
	var x T
	if err := core.ValidateID(field, id); err != nil {
		return x, nil, err
	}
	raw, err := o.GetJSON(ctx, prefix+id, &x)
	if err != nil {
		return x, nil, core.NotFoundAs(err, errs.New(errs.NotFound, "%s", what))
	}
	return x, raw, nil
}

func loadRequest(ctx context.Context, o store.Org, id string) (Request, []byte, error) {
	return loadRecord[Request](ctx, o, "request_id", "request", prefixRequest, id)
}

func loadPlan(ctx context.Context, o store.Org, id string) (Plan, []byte, error) {
	return loadRecord[Plan](ctx, o, "plan_id", "plan", prefixPlan, id)
}

// canRead reports whether the principal may see every request and plan.
func canRead(pr *core.Principal) bool { return rbac.Allows(pr.Role, rbac.AccessRead) }

// GetRequest returns a request: the caller's own, or any for those who
// may read access.
func (s *Service) GetRequest(ctx context.Context, pr *core.Principal, id string) (Request, error) {
	r, _, err := loadRequest(ctx, s.env.OrgOf(pr), id)
	if err != nil {
		return Request{}, err
	}
	if r.Requester != pr.UserID && !canRead(pr) {
		return Request{}, errs.New(errs.NotFound, "request")
	}
	return r, nil
}

// ListRequests lists the caller's requests, or (all) every request for
// those who may read access, in ID order.
func (s *Service) ListRequests(ctx context.Context, pr *core.Principal, all bool, size int32, token string) ([]Request, string, error) {
	if all && !canRead(pr) {
		return nil, "", errs.New(errs.Permission, "listing every request needs %s", rbac.AccessRead)
	}
	return core.ListFiltered(ctx, s.env.OrgOf(pr), prefixRequest, size, token, func(r *Request) bool { return all || r.Requester == pr.UserID })
}

// CancelRequest cancels the caller's pending request and its plan
// ("access.request.canceled").
func (s *Service) CancelRequest(ctx context.Context, pr *core.Principal, id string) (Request, error) {
	o := s.env.OrgOf(pr)
	r, raw, err := loadRequest(ctx, o, id)
	if err != nil {
		return Request{}, err
	}
	if r.Requester != pr.UserID {
		return Request{}, errs.New(errs.NotFound, "request")
	}
	if r.State != RequestPending {
		return Request{}, errs.New(errs.Precondition, "request %s is %s, not pending", id, r.State)
	}
	return s.endRequest(ctx, o, r, raw, pr.Actor(), RequestCanceled, PlanCanceled, ec.AccessRequestCanceled)
}

// endRequest ends a pending request and its plan with event typ.
func (s *Service) endRequest(ctx context.Context, o store.Org, r Request, raw []byte, actor, rstate, pstate, typ string) (Request, error) {
	pl, praw, err := loadPlan(ctx, o, r.PlanID)
	if err != nil {
		return Request{}, err
	}
	if pl.State != PlanPending {
		return Request{}, errs.New(errs.Precondition, "its plan is %s", pl.State)
	}
	r.State = rstate
	pl.State, pl.Completed = pstate, s.env.Now()
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, typ, actor, "request:"+r.ID, map[string]any{"plan_id": pl.ID}),
		Require: map[string][]byte{prefixRequest + r.ID: raw, prefixPlan + pl.ID: praw},
		Put:     map[string]any{prefixRequest + r.ID: r, prefixPlan + pl.ID: pl},
	})
	return r, core.Conflict(err)
}

// GetPlan returns a plan, with its state as its run has it.
func (s *Service) GetPlan(ctx context.Context, pr *core.Principal, id string) (Plan, error) {
	o := s.env.OrgOf(pr)
	pl, _, err := loadPlan(ctx, o, id)
	if err != nil {
		return Plan{}, err
	}
	return s.planView(ctx, o, pl), nil
}

// planView sets an executing plan's state from its run.
func (s *Service) planView(ctx context.Context, o store.Org, pl Plan) Plan {
	if pl.State != PlanExecuting {
		return pl
	}
	j, err := s.runner.Get(ctx, o, PlanJobKind, pl.ID)
	if err != nil {
		return pl
	}
	if j.State.Ended() {
		// Read again: the run may have ended after the plan was read,
		// and its actions' results are in the plan.
		if again, _, err := loadPlan(ctx, o, pl.ID); err == nil {
			pl = again
		}
	}
	switch j.State {
	case jobs.Succeeded:
		pl.State, pl.Completed = PlanDone, j.Ended
	case jobs.Failed, jobs.Canceled:
		pl.State, pl.Completed = PlanFailed, j.Ended
	}
	return pl
}

// ListPlans lists plans in ID order: with mine, the pending plans the
// caller may decide and has not.
func (s *Service) ListPlans(ctx context.Context, pr *core.Principal, mine bool, size int32, token string) ([]Plan, string, error) {
	o := s.env.OrgOf(pr)
	if !mine && !canRead(pr) {
		return nil, "", errs.New(errs.Permission, "listing every plan needs %s", rbac.AccessRead)
	}
	pls, next, err := core.ListFiltered(ctx, o, prefixPlan, size, token, func(p *Plan) bool {
		return !mine || (p.State == PlanPending && p.assigned(pr) && !p.decidedBy(pr.UserID))
	})
	for i := range pls {
		pls[i] = s.planView(ctx, o, pls[i])
	}
	return pls, next, err
}

func (p *Plan) assigned(pr *core.Principal) bool {
	return pr.UserID != "" && (slices.Contains(p.ApproverIDs, pr.UserID) || slices.Contains(p.ApproverRoles, string(pr.Role)))
}

func (p *Plan) decidedBy(user string) bool {
	return slices.ContainsFunc(p.Approvals, func(a Approval) bool { return a.Approver == user })
}

// Decide records an assigned approver's approval or rejection of a
// pending plan: "access.plan.approval" until the policy's number is met,
// then "access.plan.approved" with the plan's run; a rejection
// ("access.plan.rejected") ends it. Nobody decides their own request
// (unless the policy allows), nor twice.
func (s *Service) Decide(ctx context.Context, pr *core.Principal, id string, approve bool, comment string) (Plan, error) {
	if err := core.ValidateText("comment", comment, maxCommentLen, false); err != nil {
		return Plan{}, err
	}
	o := s.env.OrgOf(pr)
	for attempt := 0; ; attempt++ {
		pl, raw, err := loadPlan(ctx, o, id)
		if err != nil {
			return Plan{}, err
		}
		switch {
		case pl.State != PlanPending:
			return Plan{}, errs.New(errs.Precondition, "plan %s is %s, not pending", id, pl.State)
		case !pl.assigned(pr):
			return Plan{}, errs.New(errs.Permission, "you are not an approver of plan %s", id)
		case pl.RequestedBy == pr.UserID && !pl.SelfApproval:
			return Plan{}, errs.New(errs.Permission, "nobody decides their own request")
		case pl.decidedBy(pr.UserID):
			return Plan{}, errs.New(errs.Precondition, "you have already decided plan %s", id)
		}
		pl.Approvals = append(pl.Approvals, Approval{Approver: pr.UserID, Approved: approve, Comment: comment, Time: s.env.Now()})
		n := 0
		for _, a := range pl.Approvals {
			if a.Approved {
				n++
			}
		}
		typ := ec.AccessPlanApproval
		data := map[string]any{"approver": pr.UserID, "comment": comment, "approvals": n, "required": pl.Required}
		var r Request
		var rraw []byte
		if pl.Reason == "request" {
			// The request follows its plan; an expiry's revoke plan names
			// the request too, which stays as it is.
			if r, rraw, err = loadRequest(ctx, o, pl.RequestID); err != nil {
				return Plan{}, err
			}
		}
		c := store.Change{Require: map[string][]byte{prefixPlan + id: raw}, Put: map[string]any{}}
		switch {
		case !approve:
			typ, pl.State, pl.Completed = ec.AccessPlanRejected, PlanRejected, s.env.Now()
			r.State = RequestRejected
		case n >= pl.Required:
			typ, pl.State = ec.AccessPlanApproved, PlanExecuting
			r.State = RequestApproved
		}
		c.Event = core.NewEvent(ctx, typ, pr.Actor(), "plan:"+id, data)
		c.Put[prefixPlan+id] = pl
		if rraw != nil && r.State != RequestPending {
			c.Require[prefixRequest+r.ID] = rraw
			c.Put[prefixRequest+r.ID] = r
		}
		if typ == ec.AccessPlanApproved {
			err = s.startPlan(ctx, o, id, c)
		} else {
			_, err = o.Commit(ctx, ledger.AckDurable, c)
			err = core.Conflict(err)
		}
		if errors.Is(err, errs.Conflict) && attempt < 4 {
			continue
		}
		if err != nil {
			return Plan{}, err
		}
		return s.planView(ctx, o, pl), nil
	}
}

// ListGrants lists the access grants plans made, in ID order.
func (s *Service) ListGrants(ctx context.Context, pr *core.Principal, size int32, token string) ([]Grant, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(pr), prefixGrant, size, token, func(g *Grant) Grant { return *g })
}
