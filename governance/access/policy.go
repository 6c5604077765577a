package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nuxari/nuxari/accesspolicy"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// The policy's text, its input and its decision are package
// accesspolicy's, which the offline verifier shares.
type (
	Policy           = accesspolicy.Policy
	Duration         = accesspolicy.Duration
	Input            = accesspolicy.Input
	InputRequest     = accesspolicy.InputRequest
	InputRequester   = accesspolicy.InputRequester
	InputIdentity    = accesspolicy.InputIdentity
	InputEntitlement = accesspolicy.InputEntitlement
)

// Evaluate runs a condition on an input (accesspolicy.Evaluate).
func Evaluate(src string, in Input) (bool, string) { return accesspolicy.Evaluate(src, in) }

// Policy limits.
const (
	MaxPolicyName       = 64
	MaxConditionLen     = 4096
	MaxPolicyList       = 256 // entitlements, roles, approvers, conflict sets
	MaxApprovals        = 10
	DefaultRequestTTL   = 7 * 24 * time.Hour
	maxJustificationLen = 1000
	maxCommentLen       = 1000
)

// checkPolicy validates a policy's text and normalizes it.
// approvingRoles refuses a role, named to approve or review, that may not
// (rbac.AccessApprove): what only it could decide would wait forever.
func approvingRoles(field string, roles []string) error {
	for _, r := range roles {
		if !rbac.Allows(rbac.Role(r), rbac.AccessApprove) {
			return core.Invalid("%s: %s members may not approve (%s)", field, r, rbac.AccessApprove)
		}
	}
	return nil
}

// approvingMembers refuses a member, named to approve or review, who is
// not a member of o or whose role may not approve (rbac.AccessApprove).
func approvingMembers(ctx context.Context, o store.Org, field string, ids []string) error {
	for _, id := range ids {
		role, err := orgs.MemberRole(ctx, o, id)
		if errors.Is(err, errs.NotFound) {
			return core.Invalid("%s: %s is not a member of the org", field, id)
		}
		if err != nil {
			return err
		}
		if !rbac.Allows(role, rbac.AccessApprove) {
			return core.Invalid("%s: %s is a %s, who may not approve (%s)", field, id, role, rbac.AccessApprove)
		}
	}
	return nil
}

func checkPolicy(p *Policy) error {
	if err := core.ValidateText("name", p.Name, MaxPolicyName, true); err != nil {
		return err
	}
	if err := core.ValidateID("connector_id", p.ConnectorID); err != nil {
		return err
	}
	for what, list := range map[string][]string{
		"entitlements": p.Entitlements, "requester_roles": p.RequesterRoles,
		"approver_ids": p.ApproverIDs, "approver_roles": p.ApproverRoles,
	} {
		if len(list) > MaxPolicyList {
			return core.Invalid("%s: at most %d", what, MaxPolicyList)
		}
		for _, v := range list {
			if err := core.ValidateText(what, v, 256, true); err != nil {
				return err
			}
		}
	}
	for what, list := range map[string][]string{"requester_roles": p.RequesterRoles, "approver_roles": p.ApproverRoles} {
		for _, r := range list {
			if err := core.ValidateRole(what, rbac.Role(r)); err != nil {
				return err
			}
		}
	}
	if err := approvingRoles("approver_roles", p.ApproverRoles); err != nil {
		return err
	}
	for _, id := range p.ApproverIDs {
		if err := core.ValidateID("approver_ids", id); err != nil {
			return err
		}
	}
	if len(p.Condition) > MaxConditionLen {
		return core.Invalid("condition: at most %d bytes", MaxConditionLen)
	}
	if p.Condition != "" {
		if _, err := accesspolicy.Compile(p.Condition); err != nil {
			return core.Invalid("%v", err)
		}
	}
	if p.MaxDuration < 0 || time.Duration(p.MaxDuration)%time.Second != 0 {
		return core.Invalid("max_duration must be whole seconds, not negative")
	}
	switch {
	case p.Approvals < 0 || p.Approvals > MaxApprovals:
		return core.Invalid("approvals: 0 to %d", MaxApprovals)
	case p.Approvals > 0 && len(p.ApproverIDs) == 0 && len(p.ApproverRoles) == 0:
		return core.Invalid("approvals: %d required, but no approver_ids or approver_roles", p.Approvals)
	case p.ApproveExpiry && p.Approvals == 0:
		return core.Invalid("approve_expiry needs approvals")
	}
	if len(p.Conflicts) > MaxPolicyList {
		return core.Invalid("conflicts: at most %d sets", MaxPolicyList)
	}
	for _, set := range p.Conflicts {
		if len(set) < 2 || len(set) > MaxPolicyList {
			return core.Invalid("conflicts: each set holds 2 to %d entitlement IDs", MaxPolicyList)
		}
		for _, v := range set {
			if err := core.ValidateText("conflicts", v, 256, true); err != nil {
				return err
			}
		}
	}
	for _, l := range []*[]string{&p.Entitlements, &p.RequesterRoles, &p.ApproverIDs, &p.ApproverRoles} {
		if *l == nil {
			*l = []string{}
		}
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	if p.Conflicts == nil {
		p.Conflicts = [][]string{}
	}
	return nil
}

func policyKey(id string) string { return prefixPolicy + id }
func policyVersionKey(id string, v int64) string {
	return fmt.Sprintf("%s%s/%010d", prefixPolicyVersion, id, v)
}

// CreatePolicy saves a new policy at version 1 ("access.policy.created",
// with its full text).
func (s *Service) CreatePolicy(ctx context.Context, pr *core.Principal, p Policy) (Policy, error) {
	p.ID, p.Version, p.Created, p.CreatedBy = core.NewID("p"), 1, s.env.Now(), pr.Actor()
	if err := checkPolicy(&p); err != nil {
		return Policy{}, err
	}
	o := s.env.OrgOf(pr)
	if err := approvingMembers(ctx, o, "approver_ids", p.ApproverIDs); err != nil {
		return Policy{}, err
	}
	_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AccessPolicyCreated, pr.Actor(), "policy:"+p.ID, map[string]any{"version": p.Version, "policy": p}),
		Require: map[string][]byte{policyKey(p.ID): nil},
		Put:     map[string]any{policyKey(p.ID): p, policyVersionKey(p.ID, 1): p},
	})
	if err != nil {
		return Policy{}, core.Conflict(err)
	}
	return p, nil
}

// UpdatePolicy saves p as its policy's next version; p.Version must be
// the current one ("access.policy.updated", with the full text).
func (s *Service) UpdatePolicy(ctx context.Context, pr *core.Principal, p Policy) (Policy, error) {
	o := s.env.OrgOf(pr)
	cur, raw, err := loadPolicy(ctx, o, p.ID, 0)
	if err != nil {
		return Policy{}, err
	}
	if p.Version != cur.Version {
		return Policy{}, errs.New(errs.Conflict, "policy %s is at version %d, not %d: read it again", p.ID, cur.Version, p.Version)
	}
	p.Version, p.Created, p.CreatedBy = cur.Version+1, s.env.Now(), pr.Actor()
	if err := checkPolicy(&p); err != nil {
		return Policy{}, err
	}
	if err := approvingMembers(ctx, o, "approver_ids", p.ApproverIDs); err != nil {
		return Policy{}, err
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AccessPolicyUpdated, pr.Actor(), "policy:"+p.ID, map[string]any{"version": p.Version, "policy": p}),
		Require: map[string][]byte{policyKey(p.ID): raw},
		Put:     map[string]any{policyKey(p.ID): p, policyVersionKey(p.ID, p.Version): p},
	})
	if err != nil {
		return Policy{}, core.Conflict(err)
	}
	return p, nil
}

// loadPolicy reads policy id at version v (0: the current one).
func loadPolicy(ctx context.Context, o store.Org, id string, v int64) (Policy, []byte, error) {
	if err := core.ValidateID("policy_id", id); err != nil {
		return Policy{}, nil, err
	}
	key := policyKey(id)
	if v > 0 {
		key = policyVersionKey(id, v)
	} else if v < 0 {
		return Policy{}, nil, core.Invalid("version must not be negative")
	}
	var p Policy
	raw, err := o.GetJSON(ctx, key, &p)
	if err != nil {
		return Policy{}, nil, core.NotFoundAs(err, errs.New(errs.NotFound, "policy"))
	}
	return p, raw, nil
}

// GetPolicy returns policy id at version v (0: the current one).
func (s *Service) GetPolicy(ctx context.Context, pr *core.Principal, id string, v int64) (Policy, error) {
	p, _, err := loadPolicy(ctx, s.env.OrgOf(pr), id, v)
	return p, err
}

// ListPolicies lists the current versions of the org's policies.
func (s *Service) ListPolicies(ctx context.Context, pr *core.Principal, size int32, token string) ([]Policy, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(pr), prefixPolicy, size, token, func(p *Policy) Policy { return *p })
}

// policiesFor returns the current policies covering connector id, in ID
// order.
func policiesFor(ctx context.Context, o store.Org, connectorID string) ([]Policy, error) {
	var out []Policy
	err := core.ScanJSON(ctx, o, prefixPolicy, func(p *Policy) bool {
		if p.ConnectorID == connectorID {
			out = append(out, *p)
		}
		return true
	})
	return out, err
}
