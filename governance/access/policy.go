package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// Policy is one version of a policy: which entitlements of which
// connector may be requested, by whom, for how long, approved by whom.
// Its JSON is its full text, as the version's event records it.
type Policy struct {
	ID                string     `json:"id"`
	Version           int64      `json:"version"`
	Name              string     `json:"name"`
	ConnectorID       string     `json:"connector_id"`
	Entitlements      []string   `json:"entitlements"`
	RequesterRoles    []string   `json:"requester_roles"`
	Condition         string     `json:"condition"`
	MaxDuration       Duration   `json:"max_duration_seconds"`
	Approvals         int        `json:"approvals"`
	ApproverIDs       []string   `json:"approver_ids"`
	ApproverRoles     []string   `json:"approver_roles"`
	AllowSelfApproval bool       `json:"allow_self_approval"`
	Conflicts         [][]string `json:"conflicts"`
	ApproveExpiry     bool       `json:"approve_expiry"`
	Created           time.Time  `json:"created"`
	CreatedBy         string     `json:"created_by"`
}

// Duration is a time.Duration that JSON spells in whole seconds.
type Duration time.Duration

// MarshalJSON writes whole seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(int64(time.Duration(d) / time.Second))
}

// UnmarshalJSON reads whole seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s int64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(time.Duration(s) * time.Second)
	return nil
}

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

// defaultRequesterRoles may request under a policy that names none.
var defaultRequesterRoles = []string{string(rbac.Requester), string(rbac.Approver), string(rbac.Admin), string(rbac.Owner)}

// Input is the document a policy's condition sees, recorded in every
// decision so that it can be evaluated again offline (docs/access.md).
type Input struct {
	Request     InputRequest     `json:"request" cel:"request"`
	Requester   InputRequester   `json:"requester" cel:"requester"`
	Identity    InputIdentity    `json:"identity" cel:"identity"`
	Entitlement InputEntitlement `json:"entitlement" cel:"entitlement"`
}

// InputRequest is the request as a condition sees it.
type InputRequest struct {
	ConnectorID     string `json:"connector_id" cel:"connector_id"`
	DurationSeconds int64  `json:"duration_seconds" cel:"duration_seconds"`
	Justification   string `json:"justification" cel:"justification"`
	// Held are the entitlement IDs the identity holds now.
	Held []string `json:"held" cel:"held"`
}

// InputRequester is the member who asks.
type InputRequester struct {
	UserID string `json:"user_id" cel:"user_id"`
	Email  string `json:"email" cel:"email"`
	Role   string `json:"role" cel:"role"`
}

// InputIdentity is the identity access is asked for, from the
// connector's snapshot.
type InputIdentity struct {
	ID         string            `json:"id" cel:"id"`
	Name       string            `json:"name" cel:"name"`
	Kind       string            `json:"kind" cel:"kind"`
	Attributes map[string]string `json:"attributes" cel:"attributes"`
}

// InputEntitlement is the entitlement asked for, from the snapshot.
type InputEntitlement struct {
	ID          string `json:"id" cel:"id"`
	Name        string `json:"name" cel:"name"`
	Kind        string `json:"kind" cel:"kind"`
	Description string `json:"description" cel:"description"`
}

// celEnv is the environment every condition is checked and run in.
var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		ext.NativeTypes(ext.ParseStructTags(true),
			reflect.TypeOf(InputRequest{}), reflect.TypeOf(InputRequester{}),
			reflect.TypeOf(InputIdentity{}), reflect.TypeOf(InputEntitlement{})),
		cel.Variable("request", cel.ObjectType("access.InputRequest")),
		cel.Variable("requester", cel.ObjectType("access.InputRequester")),
		cel.Variable("identity", cel.ObjectType("access.InputIdentity")),
		cel.Variable("entitlement", cel.ObjectType("access.InputEntitlement")),
		ext.Strings(),
	)
	if err != nil {
		panic(err)
	}
	return env
}()

// compile type-checks a condition: it must be a boolean expression over
// the input. Its error names the position.
func compile(src string) (cel.Program, error) {
	ast, iss := celEnv.Compile(src)
	if iss.Err() != nil {
		return nil, core.Invalid("condition: %s", strings.TrimSpace(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, core.Invalid("condition: the expression is of type %s, not bool", ast.OutputType())
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(100_000))
	if err != nil {
		return nil, core.Invalid("condition: %v", err)
	}
	return prg, nil
}

// Evaluate runs condition src on in: true allows; false, or an error at
// run time, denies (with why). It is what the server runs and what an
// offline replay runs.
func Evaluate(src string, in Input) (bool, string) {
	if src == "" {
		return true, ""
	}
	prg, err := compile(src)
	if err != nil {
		return false, err.Error()
	}
	out, _, err := prg.Eval(map[string]any{"request": in.Request, "requester": in.Requester, "identity": in.Identity, "entitlement": in.Entitlement})
	if err != nil {
		return false, "condition failed: " + err.Error()
	}
	if b, ok := out.Value().(bool); ok && b {
		return true, ""
	}
	return false, "condition is false"
}

// check validates a policy's text and normalizes it.
func (p *Policy) check() error {
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
	for _, r := range slices.Concat(p.RequesterRoles, p.ApproverRoles) {
		if err := core.ValidateRole("roles", rbac.Role(r)); err != nil {
			return err
		}
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
		if _, err := compile(p.Condition); err != nil {
			return err
		}
	}
	if p.MaxDuration < 0 {
		return core.Invalid("max_duration must not be negative")
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

// decide evaluates the policy for a request: allowed, or the reasons it
// is not.
func (p *Policy) decide(in Input) (bool, []string) {
	var why []string
	if in.Request.ConnectorID != p.ConnectorID {
		return false, []string{"the policy covers another connector"}
	}
	if len(p.Entitlements) > 0 && !slices.Contains(p.Entitlements, in.Entitlement.ID) {
		return false, []string{"the policy does not cover entitlement " + in.Entitlement.ID}
	}
	roles := p.RequesterRoles
	if len(roles) == 0 {
		roles = defaultRequesterRoles
	}
	if !slices.Contains(roles, in.Requester.Role) {
		why = append(why, fmt.Sprintf("role %s may not request under this policy", in.Requester.Role))
	}
	d := time.Duration(in.Request.DurationSeconds) * time.Second
	if p.MaxDuration > 0 && (d == 0 || d > time.Duration(p.MaxDuration)) {
		why = append(why, fmt.Sprintf("the duration must be between 1s and %v", time.Duration(p.MaxDuration)))
	}
	for _, set := range p.Conflicts {
		if !slices.Contains(set, in.Entitlement.ID) {
			continue
		}
		for _, e := range set {
			if e != in.Entitlement.ID && slices.Contains(in.Request.Held, e) {
				why = append(why, fmt.Sprintf("separation of duties: the identity holds %s, which conflicts with %s", e, in.Entitlement.ID))
			}
		}
	}
	if ok, reason := Evaluate(p.Condition, in); !ok {
		why = append(why, reason)
	}
	return len(why) == 0, why
}

func policyKey(id string) string { return prefixPolicy + id }
func policyVersionKey(id string, v int64) string {
	return fmt.Sprintf("%s%s/%010d", prefixPolicyVersion, id, v)
}

// CreatePolicy saves a new policy at version 1 ("access.policy.created",
// with its full text).
func (s *Service) CreatePolicy(ctx context.Context, pr *core.Principal, p Policy) (Policy, error) {
	p.ID, p.Version, p.Created, p.CreatedBy = core.NewID("p"), 1, s.env.Now(), pr.Actor()
	if err := p.check(); err != nil {
		return Policy{}, err
	}
	o := s.env.OrgOf(pr)
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
	if err := p.check(); err != nil {
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
	var derr error
	err := o.Scan(ctx, prefixPolicy, "", func(k string, v []byte) bool {
		var p Policy
		if derr = json.Unmarshal(v, &p); derr != nil {
			return false
		}
		if p.ConnectorID == connectorID {
			out = append(out, p)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return out, err
}
