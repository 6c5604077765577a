// Package accesspolicy is what an access policy says and how it decides
// a request: the policy's text, the input document its CEL condition
// sees, and Decide. The server decides with it, and so does an offline
// verifier replaying decisions from an evidence package; it depends on
// no server code.
package accesspolicy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
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
	// RemediateDrift makes a remediation plan for each drift finding in
	// the entitlements it covers.
	RemediateDrift bool      `json:"remediate_drift,omitempty"`
	Created        time.Time `json:"created"`
	CreatedBy      string    `json:"created_by"`
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

// DefaultRequesterRoles may request under a policy that names none.
var DefaultRequesterRoles = []string{"requester", "approver", "admin", "owner"}

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
		cel.Variable("request", cel.ObjectType("accesspolicy.InputRequest")),
		cel.Variable("requester", cel.ObjectType("accesspolicy.InputRequester")),
		cel.Variable("identity", cel.ObjectType("accesspolicy.InputIdentity")),
		cel.Variable("entitlement", cel.ObjectType("accesspolicy.InputEntitlement")),
		ext.Strings(),
	)
	if err != nil {
		panic(err)
	}
	return env
}()

// Compile type-checks a condition: it must be a boolean expression over
// the input. Its error names the position ("<input>:1:27: …").
func Compile(src string) (cel.Program, error) {
	ast, iss := celEnv.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("condition: %s", strings.TrimSpace(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("condition: the expression is of type %s, not bool", ast.OutputType())
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(100_000))
	if err != nil {
		return nil, fmt.Errorf("condition: %v", err)
	}
	return prg, nil
}

// programs caches compiled conditions by their text, so that deciding
// many requests (or replaying many decisions) compiles each once. It is
// emptied when it reaches maxPrograms.
var (
	programsMu sync.Mutex
	programs   = map[string]cel.Program{}
)

const maxPrograms = 1024

func compiled(src string) (cel.Program, error) {
	programsMu.Lock()
	prg, ok := programs[src]
	programsMu.Unlock()
	if ok {
		return prg, nil
	}
	prg, err := Compile(src)
	if err != nil {
		return nil, err
	}
	programsMu.Lock()
	if len(programs) >= maxPrograms {
		clear(programs)
	}
	programs[src] = prg
	programsMu.Unlock()
	return prg, nil
}

// Evaluate runs condition src on in: true allows; false, or an error at
// run time, denies (with why). It is what the server runs and what an
// offline replay runs.
func Evaluate(src string, in Input) (bool, string) {
	if src == "" {
		return true, ""
	}
	prg, err := compiled(src)
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

// Decide evaluates the policy for a request: allowed, or the reasons it
// is not.
func (p *Policy) Decide(in Input) (bool, []string) {
	var why []string
	if in.Request.ConnectorID != p.ConnectorID {
		return false, []string{"the policy covers another connector"}
	}
	if len(p.Entitlements) > 0 && !slices.Contains(p.Entitlements, in.Entitlement.ID) {
		return false, []string{"the policy does not cover entitlement " + in.Entitlement.ID}
	}
	roles := p.RequesterRoles
	if len(roles) == 0 {
		roles = DefaultRequesterRoles
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
