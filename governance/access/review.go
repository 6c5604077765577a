package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// Access reviews (certification): an admin starts a review of a
// connector's current grants, as its latest snapshot lists them; each
// grant is an item with its reviewers (the approvers of the first policy,
// in ID order, that covers its entitlement and names approvers; else the
// review's own). A
// reviewer keeps or revokes each of theirs; the revocations of one
// decision call are one plan, run at once (the reviewer's decision is its
// approval). A review is completed once every item is decided and every
// plan it made has run. Its events all have the subject "review:<ID>",
// so that an evidence package of that subject holds the whole review.

// The state keys of reviews.
const (
	prefixReview     = "access-review/"      // <id>: Review
	prefixReviewItem = "access-review-item/" // <id>/<item, 6 digits>: ReviewItem
	prefixReviewOpen = "access-review-open/" // <connector>: the open review's ID
)

// Review bounds.
const (
	// MaxReviewItems bounds the grants one review covers.
	MaxReviewItems = 20_000
	// MaxReviewDecisions bounds the decisions of one DecideReview call.
	MaxReviewDecisions = 100
	maxReviewNameLen   = 200
	maxReviewers       = 64
)

// Review states.
const (
	ReviewOpen      = "open"
	ReviewCompleted = "completed"
	ReviewCanceled  = "canceled"
)

// Review decisions.
const (
	DecisionKeep   = "keep"
	DecisionRevoke = "revoke"
)

// Review is an access review.
type Review struct {
	ID           string `json:"id"`
	ConnectorID  string `json:"connector_id"`
	Name         string `json:"name"`
	State        string `json:"state"`
	SyncID       string `json:"sync_id"`
	GrantsDigest string `json:"grants_digest"`
	StartedBy    string `json:"started_by"`
	// ReviewerIDs and ReviewerRoles review the items no policy covers.
	ReviewerIDs   []string  `json:"reviewer_ids"`
	ReviewerRoles []string  `json:"reviewer_roles"`
	Items         int       `json:"items"`
	Decided       int       `json:"decided"`
	Kept          int       `json:"kept"`
	Revoked       int       `json:"revoked"`
	RevokeFailed  int       `json:"revoke_failed"`
	Created       time.Time `json:"created"`
	Completed     time.Time `json:"completed,omitzero"`
}

// ReviewItem is one grant of a review and its decision.
type ReviewItem struct {
	ReviewID        string `json:"review_id"`
	Item            int    `json:"item"` // 1 to Items
	IdentityID      string `json:"identity_id"`
	IdentityName    string `json:"identity_name,omitempty"`
	EntitlementID   string `json:"entitlement_id"`
	EntitlementName string `json:"entitlement_name,omitempty"`
	EntitlementKind string `json:"entitlement_kind,omitempty"`
	// The reviewers: from PolicyID's version PolicyVersion, or (none)
	// the review's.
	ReviewerIDs   []string `json:"reviewer_ids"`
	ReviewerRoles []string `json:"reviewer_roles"`
	PolicyID      string   `json:"policy_id,omitempty"`
	PolicyVersion int64    `json:"policy_version,omitempty"`
	// GrantID is the access grant that gives it, if a plan did.
	GrantID   string    `json:"grant_id,omitempty"`
	Decision  string    `json:"decision,omitempty"` // "", "keep", "revoke"
	DecidedBy string    `json:"decided_by,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	Decided   time.Time `json:"decided,omitzero"`
	PlanID    string    `json:"plan_id,omitempty"`
}

// StartReview is what a review covers and who reviews what no policy
// covers.
type StartReview struct {
	ConnectorID, Name          string
	ReviewerIDs, ReviewerRoles []string
}

// ItemDecision is a reviewer's decision on one item.
type ItemDecision struct {
	Item    int
	Revoke  bool
	Comment string
}

func reviewItemKey(id string, item int) string {
	return fmt.Sprintf("%s%s/%06d", prefixReviewItem, id, item)
}

func (it *ReviewItem) assigned(pr *core.Principal) bool {
	return pr.UserID != "" && (slices.Contains(it.ReviewerIDs, pr.UserID) || slices.Contains(it.ReviewerRoles, string(pr.Role)))
}

func loadReview(ctx context.Context, o store.Org, id string) (Review, []byte, error) {
	return loadRecord[Review](ctx, o, "review_id", "review", prefixReview, id)
}

func validateReviewers(ids, roles []string) error {
	if len(ids) > maxReviewers || len(roles) > maxReviewers {
		return core.Invalid("at most %d reviewer_ids and %d reviewer_roles", maxReviewers, maxReviewers)
	}
	for _, id := range ids {
		if err := core.ValidateID("reviewer_ids", id); err != nil {
			return err
		}
	}
	for _, r := range roles {
		if err := core.ValidateRole("reviewer_roles", rbac.Role(r)); err != nil {
			return err
		}
	}
	return approvingRoles("reviewer_roles", roles)
}

// StartReview starts a review of connector req.ConnectorID's grants in
// its latest snapshot ("access.review.started"); a connector has one open
// review at a time.
func (s *Service) StartReview(ctx context.Context, pr *core.Principal, req StartReview) (Review, error) {
	if err := core.ValidateID("connector_id", req.ConnectorID); err != nil {
		return Review{}, err
	}
	if err := core.ValidateText("name", req.Name, maxReviewNameLen, true); err != nil {
		return Review{}, err
	}
	if err := validateReviewers(req.ReviewerIDs, req.ReviewerRoles); err != nil {
		return Review{}, err
	}
	if len(req.ReviewerIDs) == 0 && len(req.ReviewerRoles) == 0 {
		req.ReviewerRoles = []string{string(rbac.Admin), string(rbac.Owner)}
	}
	o := s.env.OrgOf(pr)
	if err := approvingMembers(ctx, o, "reviewer_ids", req.ReviewerIDs); err != nil {
		return Review{}, err
	}
	var views []connectors.GrantView
	snap, err := connectors.SnapshotGrants(ctx, o, req.ConnectorID, func(g connectors.GrantView) bool {
		views = append(views, g)
		return len(views) <= MaxReviewItems
	})
	if err != nil {
		return Review{}, err
	}
	if len(views) > MaxReviewItems {
		return Review{}, errs.New(errs.LimitExceeded, "the snapshot has more than %d grants, the most a review covers", MaxReviewItems)
	}
	if len(views) == 0 {
		return Review{}, errs.New(errs.Precondition, "the connector's latest snapshot has no grants to review")
	}
	policies, err := policiesFor(ctx, o, req.ConnectorID)
	if err != nil {
		return Review{}, err
	}
	grants := map[[2]string]string{}
	if err := core.ScanJSON(ctx, o, prefixGrant, func(g *Grant) bool {
		if g.ConnectorID == req.ConnectorID && g.State == GrantActive {
			grants[[2]string{g.IdentityID, g.EntitlementID}] = g.ID
		}
		return true
	}); err != nil {
		return Review{}, err
	}
	rv := Review{
		ID: core.NewID("v"), ConnectorID: req.ConnectorID, Name: req.Name, State: ReviewOpen, SyncID: snap.SyncID,
		GrantsDigest: snap.GrantsDigest, StartedBy: pr.Actor(), ReviewerIDs: nonNil(req.ReviewerIDs),
		ReviewerRoles: nonNil(req.ReviewerRoles), Items: len(views), Created: s.env.Now(),
	}
	openKey := prefixReviewOpen + req.ConnectorID
	c := store.Change{
		Require: map[string][]byte{openKey: nil},
		Put:     map[string]any{prefixReview + rv.ID: rv, openKey: []byte(rv.ID)},
	}
	byPolicy := map[string]int{}
	for i, g := range views {
		it := ReviewItem{
			ReviewID: rv.ID, Item: i + 1, IdentityID: g.IdentityID, IdentityName: g.IdentityName,
			EntitlementID: g.EntitlementID, EntitlementName: g.EntitlementName, EntitlementKind: g.EntitlementKind,
			ReviewerIDs: rv.ReviewerIDs, ReviewerRoles: rv.ReviewerRoles, GrantID: grants[[2]string{g.IdentityID, g.EntitlementID}],
		}
		if pol := covering(policies, g.EntitlementID); pol != nil {
			it.PolicyID, it.PolicyVersion = pol.ID, pol.Version
			it.ReviewerIDs, it.ReviewerRoles = nonNil(pol.ApproverIDs), nonNil(pol.ApproverRoles)
			byPolicy[pol.ID]++
		}
		c.Put[reviewItemKey(rv.ID, it.Item)] = it
	}
	c.Event = core.NewEvent(ctx, ec.AccessReviewStarted, pr.Actor(), "review:"+rv.ID, map[string]any{
		"review": rv, "items_by_policy": byPolicy,
	})
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Review{}, errs.New(errs.Precondition, "connector %s has a review open already; complete or cancel it first", req.ConnectorID)
		}
		return Review{}, core.Conflict(err)
	}
	return rv, nil
}

// covering returns the first policy that covers entitlement and names
// approvers (a policy whose plans need no approval names none).
func covering(ps []Policy, entitlement string) *Policy {
	for i := range ps {
		p := &ps[i]
		if (len(p.Entitlements) == 0 || slices.Contains(p.Entitlements, entitlement)) && len(p.ApproverIDs)+len(p.ApproverRoles) > 0 {
			return p
		}
	}
	return nil
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// GetReview returns a review.
func (s *Service) GetReview(ctx context.Context, pr *core.Principal, id string) (Review, error) {
	r, _, err := loadReview(ctx, s.env.OrgOf(pr), id)
	return r, err
}

// ListReviews lists the org's reviews in ID order.
func (s *Service) ListReviews(ctx context.Context, pr *core.Principal, size int32, token string) ([]Review, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(pr), prefixReview, size, token, func(r *Review) Review { return *r })
}

// ListReviewItems lists review id's items in order: with mine, those the
// caller may decide and nobody has.
func (s *Service) ListReviewItems(ctx context.Context, pr *core.Principal, id string, mine bool, size int32, token string) ([]ReviewItem, string, error) {
	o := s.env.OrgOf(pr)
	if _, _, err := loadReview(ctx, o, id); err != nil {
		return nil, "", err
	}
	return core.ListFiltered(ctx, o, prefixReviewItem+id+"/", size, token, func(it *ReviewItem) bool {
		return !mine || (it.Decision == "" && it.assigned(pr))
	})
}

// DecideReview records a reviewer's decisions on items of an open review
// ("access.review.decided", one event for the call); the items revoked
// are one plan, run at once. Each item is decided once, by one of its
// reviewers.
func (s *Service) DecideReview(ctx context.Context, pr *core.Principal, id string, ds []ItemDecision) (Review, error) {
	if len(ds) == 0 {
		return Review{}, core.Invalid("decisions: at least one is required")
	}
	if len(ds) > MaxReviewDecisions {
		return Review{}, core.Invalid("decisions: at most %d in one call", MaxReviewDecisions)
	}
	seen := map[int]bool{}
	for _, d := range ds {
		if err := core.ValidateText("comment", d.Comment, maxCommentLen, false); err != nil {
			return Review{}, err
		}
		if d.Item < 1 {
			return Review{}, core.Invalid("decisions: item must be 1 or more")
		}
		if seen[d.Item] {
			return Review{}, core.Invalid("decisions: item %d is named twice", d.Item)
		}
		seen[d.Item] = true
	}
	if pr.UserID == "" {
		return Review{}, errs.New(errs.Permission, "a review is decided by a member")
	}
	o := s.env.OrgOf(pr)
	for attempt := 0; ; attempt++ {
		rv, err := s.decideOnce(ctx, o, pr, id, ds)
		if errors.Is(err, errs.Conflict) && attempt < 9 {
			continue
		}
		if err != nil {
			return Review{}, err
		}
		if rv.Decided == rv.Items {
			if done, err := s.completeReview(ctx, o, id); err == nil && done != nil {
				rv = *done
			}
		}
		return rv, nil
	}
}

func (s *Service) decideOnce(ctx context.Context, o store.Org, pr *core.Principal, id string, ds []ItemDecision) (Review, error) {
	rv, raw, err := loadReview(ctx, o, id)
	if err != nil {
		return Review{}, err
	}
	if rv.State != ReviewOpen {
		return Review{}, errs.New(errs.Precondition, "review %s is %s, not open", id, rv.State)
	}
	now := s.env.Now()
	c := store.Change{Require: map[string][]byte{prefixReview + id: raw}, Put: map[string]any{}}
	var revoke []*ReviewItem
	decided := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		if d.Item > rv.Items {
			return Review{}, errs.New(errs.NotFound, "review %s has no item %d", id, d.Item)
		}
		var it ReviewItem
		key := reviewItemKey(id, d.Item)
		iraw, err := o.GetJSON(ctx, key, &it)
		if err != nil {
			return Review{}, err
		}
		switch {
		case !it.assigned(pr):
			return Review{}, errs.New(errs.Permission, "you are not a reviewer of item %d", d.Item)
		case it.Decision != "":
			return Review{}, errs.New(errs.Precondition, "item %d is decided already (%s)", d.Item, it.Decision)
		}
		it.Decision, it.DecidedBy, it.Comment, it.Decided = DecisionKeep, pr.UserID, d.Comment, now
		if d.Revoke {
			it.Decision = DecisionRevoke
			rv.Revoked++
		} else {
			rv.Kept++
		}
		rv.Decided++
		c.Require[key] = iraw
		c.Put[key] = &it
		if d.Revoke {
			revoke = append(revoke, &it)
		}
		decided = append(decided, map[string]any{
			"item": it.Item, "identity_id": it.IdentityID, "entitlement_id": it.EntitlementID,
			"decision": it.Decision, "comment": it.Comment,
		})
	}
	data := map[string]any{"reviewer": pr.UserID, "decisions": decided, "decided": rv.Decided, "items": rv.Items}
	var pl *Plan
	if len(revoke) > 0 {
		pl = &Plan{
			ID: core.NewID("l"), Reason: "review", ReviewID: id, RequestedBy: pr.UserID, State: PlanExecuting,
			ApproverIDs: []string{}, ApproverRoles: []string{}, Approvals: []Approval{}, Created: now,
		}
		for _, it := range revoke {
			it.PlanID = pl.ID
			pl.Actions = append(pl.Actions, Action{
				Kind: "revoke", ConnectorID: rv.ConnectorID, IdentityID: it.IdentityID, EntitlementID: it.EntitlementID,
				State: "pending", GrantID: it.GrantID,
			})
		}
		c.Put[prefixPlan+pl.ID] = *pl
		data["plan"] = *pl
	}
	c.Put[prefixReview+id] = rv
	c.Event = core.NewEvent(ctx, ec.AccessReviewDecided, pr.Actor(), "review:"+id, data)
	if pl != nil {
		err = s.startPlan(ctx, o, pl.ID, c)
	} else {
		_, err = o.Commit(ctx, ledger.AckDurable, c)
		err = core.Conflict(err)
	}
	return rv, err
}

// completeReview completes review id if every item is decided and every
// plan it made has run ("access.review.completed", with each plan's
// outcome); it returns nil while it is not complete.
func (s *Service) completeReview(ctx context.Context, o store.Org, id string) (*Review, error) {
	rv, raw, err := loadReview(ctx, o, id)
	if err != nil {
		return nil, err
	}
	if rv.State != ReviewOpen || rv.Decided < rv.Items {
		return nil, nil
	}
	plans := map[string]bool{}
	if err := core.ScanJSON(ctx, o, prefixReviewItem+id+"/", func(it *ReviewItem) bool {
		if it.PlanID != "" {
			plans[it.PlanID] = true
		}
		return true
	}); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(plans))
	for p := range plans {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	outcomes := make([]map[string]any, 0, len(ids))
	failed := 0
	for _, pid := range ids {
		pl, _, err := loadPlan(ctx, o, pid)
		if err != nil {
			return nil, err
		}
		// A run that ended with actions left pending could not use the
		// connector: they failed.
		ended := ""
		if slices.ContainsFunc(pl.Actions, func(a Action) bool { return a.State == "pending" }) {
			j, err := s.runner.Get(ctx, o, PlanJobKind, pid)
			if err != nil || !j.State.Ended() {
				return nil, nil // still running
			}
			ended = j.Reason
		}
		var why []string
		for _, a := range pl.Actions {
			switch {
			case a.State == "failed":
				why = append(why, fmt.Sprintf("%s %s: %s", a.IdentityID, a.EntitlementID, a.Error))
			case a.State == "pending":
				why = append(why, fmt.Sprintf("%s %s: not run: %s", a.IdentityID, a.EntitlementID, ended))
			}
		}
		failed += len(why)
		outcomes = append(outcomes, map[string]any{"plan_id": pid, "actions": len(pl.Actions), "failed": len(why), "errors": nonNil(why)})
	}
	rv.State, rv.Completed, rv.RevokeFailed = ReviewCompleted, s.env.Now(), failed
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AccessReviewCompleted, ec.System, "review:"+id, map[string]any{
			"items": rv.Items, "kept": rv.Kept, "revoked": rv.Revoked, "revoke_failed": failed, "plans": outcomes,
		}),
		Require: map[string][]byte{prefixReview + id: raw, prefixReviewOpen + rv.ConnectorID: []byte(id)},
		Put:     map[string]any{prefixReview + id: rv},
		Delete:  []string{prefixReviewOpen + rv.ConnectorID},
	})
	if err != nil {
		return nil, core.Conflict(err)
	}
	return &rv, nil
}

// CancelReview ends an open review ("access.review.canceled"); items
// left undecided stay so, and plans it made run on.
func (s *Service) CancelReview(ctx context.Context, pr *core.Principal, id string) (Review, error) {
	o := s.env.OrgOf(pr)
	rv, raw, err := loadReview(ctx, o, id)
	if err != nil {
		return Review{}, err
	}
	if rv.State != ReviewOpen {
		return Review{}, errs.New(errs.Precondition, "review %s is %s, not open", id, rv.State)
	}
	rv.State, rv.Completed = ReviewCanceled, s.env.Now()
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AccessReviewCanceled, pr.Actor(), "review:"+id, map[string]any{
			"decided": rv.Decided, "items": rv.Items,
		}),
		Require: map[string][]byte{prefixReview + id: raw},
		Put:     map[string]any{prefixReview + id: rv},
		Delete:  []string{prefixReviewOpen + rv.ConnectorID},
	})
	if err != nil {
		return Review{}, core.Conflict(err)
	}
	return rv, nil
}

// completeReviews completes the open reviews of o whose last plans have
// run (a restart, or a plan that ended after the last decision).
func (s *Service) completeReviews(ctx context.Context, o store.Org) error {
	var ids []string
	if err := o.Scan(ctx, prefixReviewOpen, "", func(_ string, v []byte) bool {
		ids = append(ids, string(v))
		return true
	}); err != nil && !isNotFound(err) {
		return err
	}
	var errs []error
	for _, id := range ids {
		if _, err := s.completeReview(ctx, o, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
