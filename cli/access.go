package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// Access governance (AccessService): policies say who may request which
// entitlements of a connector and who approves; a request a policy allows
// becomes a remediation plan that its approvers approve or reject; an
// approved plan grants the access, and a time-bound grant is revoked when
// it expires.

func requestStateName(s nuxariv1.RequestState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "REQUEST_STATE_"))
}

func planStateName(s nuxariv1.PlanState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "PLAN_STATE_"))
}

// planEnded reports whether a plan is in a state it never leaves. A state
// this nuxctl does not know is waited on, as running.
func planEnded(p *nuxariv1.Plan) bool {
	switch p.GetState() {
	case nuxariv1.PlanState_PLAN_STATE_DONE, nuxariv1.PlanState_PLAN_STATE_FAILED, nuxariv1.PlanState_PLAN_STATE_REJECTED,
		nuxariv1.PlanState_PLAN_STATE_EXPIRED, nuxariv1.PlanState_PLAN_STATE_CANCELED:
		return true
	}
	return false
}

// completeRoles registers the role names as the completions of flag.
func completeRoles(cmd *cobra.Command, flag string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return roleCompletions(), cobra.ShellCompDirectiveNoFileComp
	})
}

// policyFlags are the flags that set a policy's text.
type policyFlags struct {
	name, connector          string
	entitlements             []string
	requesterRoles           []string
	condition, conditionFile string
	maxDuration              time.Duration
	approvals                int32
	approvers, approverRoles []string
	allowSelfApproval        bool
	conflicts                []string
	approveExpiry            bool
	remediateDrift           bool

	conflictSets  []*nuxariv1.EntitlementSet // what check parsed from conflicts
	conditionText string                     // what load read: --condition or the file's text
}

// policyFlagNames are the flags of policyFlags.
var policyFlagNames = []string{"name", "connector", "entitlement", "requester-role", "condition", "condition-file", "max-duration",
	"approvals", "approver", "approver-role", "allow-self-approval", "conflict", "approve-expiry", "remediate-drift"}

func addPolicyFlags(cmd *cobra.Command) *policyFlags {
	p := &policyFlags{}
	f := cmd.Flags()
	f.StringVar(&p.name, "name", "", "the policy's `NAME` (1 to 64 characters)")
	f.StringVar(&p.connector, "connector", "", "the `CONNECTOR_ID` whose entitlements it covers")
	f.StringArrayVar(&p.entitlements, "entitlement", nil, "an entitlement `ID` it covers (repeatable; none: every entitlement of the connector)")
	f.StringArrayVar(&p.requesterRoles, "requester-role", nil, "a `ROLE` that may request under it (repeatable; none: requester, approver, admin and owner)")
	f.StringVar(&p.condition, "condition", "", "a CEL `EXPRESSION` over request, requester, identity and entitlement that must be true (none: always)")
	f.StringVar(&p.conditionFile, "condition-file", "", "read the condition from `FILE`, as is (- for standard input)")
	f.DurationVar(&p.maxDuration, "max-duration", 0, "the longest access it grants, e.g. 8h (0: access without an end is allowed)")
	f.Int32Var(&p.approvals, "approvals", 0, "approvals needed: from `N` different approvers (0: a plan is approved when made)")
	f.StringArrayVar(&p.approvers, "approver", nil, "a `USER_ID` who may approve (repeatable)")
	f.StringArrayVar(&p.approverRoles, "approver-role", nil, "members with this `ROLE` may approve (repeatable)")
	f.BoolVar(&p.allowSelfApproval, "allow-self-approval", false, "a requester may approve their own request")
	f.StringArrayVar(&p.conflicts, "conflict", nil, "entitlement IDs no identity may hold together, as `ID,ID[,ID...]` (repeatable)")
	f.BoolVar(&p.approveExpiry, "approve-expiry", false, "the revocation when a grant expires needs approval (default: it runs at once)")
	f.BoolVar(&p.remediateDrift, "remediate-drift", false, "drift in the entitlements it covers gets a remediation plan, approved as --approvals says")
	completeRoles(cmd, "requester-role")
	completeRoles(cmd, "approver-role")
	return p
}

// changed reports whether a policy flag is given.
func (p *policyFlags) changed(cmd *cobra.Command) bool {
	for _, n := range policyFlagNames {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// listFlag is the value of a repeatable flag: one empty value alone is
// none (it empties the list in 'policy update'); an empty value among
// others is refused.
func listFlag(cmd *cobra.Command, name string, values []string) ([]string, error) {
	if len(values) == 1 && values[0] == "" {
		return nil, nil
	}
	for _, v := range values {
		if v == "" {
			return nil, usagef(pathOf(cmd), "--%s: an empty value (give --%s \"\" alone for none)", name, name)
		}
	}
	return values, nil
}

// parseConflict parses a --conflict value: two or more different,
// non-empty entitlement IDs separated by commas.
func parseConflict(cmd *cobra.Command, v string) (*nuxariv1.EntitlementSet, error) {
	ids := strings.Split(v, ",")
	if len(ids) < 2 {
		return nil, usagef(pathOf(cmd), "--conflict %q: give two or more entitlement IDs, as ID,ID[,ID...]", v)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		switch {
		case id == "":
			return nil, usagef(pathOf(cmd), "--conflict %q: an empty entitlement ID; give ID,ID[,ID...]", v)
		case seen[id]:
			return nil, usagef(pathOf(cmd), "--conflict %q names %q twice", v, id)
		}
		seen[id] = true
	}
	return &nuxariv1.EntitlementSet{Entitlements: ids}, nil
}

// check refuses bad values of the given flags, before anything is read
// or sent, and parses the lists.
func (p *policyFlags) check(cmd *cobra.Command) error {
	path, f := pathOf(cmd), cmd.Flags()
	for _, n := range []string{"name", "connector"} {
		if f.Changed(n) && f.Lookup(n).Value.String() == "" {
			return usagef(path, "--%s must not be empty", n)
		}
	}
	switch {
	case f.Changed("condition") && f.Changed("condition-file"):
		return usagef(path, "give one of --condition and --condition-file, not both")
	case f.Changed("condition-file") && p.conditionFile == "":
		return usagef(path, "--condition-file needs a FILE (- for standard input)")
	case p.maxDuration < 0:
		return usagef(path, "--max-duration must not be negative")
	case p.approvals < 0:
		return usagef(path, "--approvals must not be negative")
	}
	var err error
	for _, l := range []struct {
		name   string
		values *[]string
	}{{"entitlement", &p.entitlements}, {"requester-role", &p.requesterRoles}, {"approver", &p.approvers}, {"approver-role", &p.approverRoles}, {"conflict", &p.conflicts}} {
		if *l.values, err = listFlag(cmd, l.name, *l.values); err != nil {
			return err
		}
	}
	for _, r := range append(append([]string(nil), p.requesterRoles...), p.approverRoles...) {
		if _, err := parseRole(path, r); err != nil {
			return err
		}
	}
	p.conflictSets = nil
	for _, v := range p.conflicts {
		set, err := parseConflict(cmd, v)
		if err != nil {
			return err
		}
		p.conflictSets = append(p.conflictSets, set)
	}
	return nil
}

// load reads the condition: --condition, or --condition-file's text as
// is.
func (p *policyFlags) load(e *env, cmd *cobra.Command) error {
	p.conditionText = p.condition
	if !cmd.Flags().Changed("condition-file") {
		return nil
	}
	b, err := e.readFlagFile(cmd, "condition-file", p.conditionFile)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return usagef(pathOf(cmd), "--condition-file %s is not UTF-8 text", p.conditionFile)
	}
	p.conditionText = string(b)
	return nil
}

// apply sets the fields of pol whose flags are given (after check and
// load).
func (p *policyFlags) apply(cmd *cobra.Command, pol *nuxariv1.Policy) {
	f := cmd.Flags()
	if f.Changed("name") {
		pol.Name = p.name
	}
	if f.Changed("connector") {
		pol.ConnectorId = p.connector
	}
	if f.Changed("entitlement") {
		pol.Entitlements = p.entitlements
	}
	if f.Changed("requester-role") {
		pol.RequesterRoles = p.requesterRoles
	}
	if f.Changed("condition") || f.Changed("condition-file") {
		pol.Condition = p.conditionText
	}
	if f.Changed("max-duration") {
		pol.MaxDuration = nil
		if p.maxDuration > 0 {
			pol.MaxDuration = durationpb.New(p.maxDuration)
		}
	}
	if f.Changed("approvals") {
		pol.Approvals = p.approvals
	}
	if f.Changed("approver") {
		pol.ApproverIds = p.approvers
	}
	if f.Changed("approver-role") {
		pol.ApproverRoles = p.approverRoles
	}
	if f.Changed("allow-self-approval") {
		pol.AllowSelfApproval = p.allowSelfApproval
	}
	if f.Changed("conflict") {
		pol.Conflicts = p.conflictSets
	}
	if f.Changed("approve-expiry") {
		pol.ApproveExpiry = p.approveExpiry
	}
	if f.Changed("remediate-drift") {
		pol.RemediateDrift = p.remediateDrift
	}
}

// listText is values joined by ", ", or none when there are none.
func listText(values []string, none string) string {
	if len(values) == 0 {
		return none
	}
	return strings.Join(values, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// accessDurationText is how long access lasts: "-" when it has no end.
func accessDurationText(d *durationpb.Duration) string {
	if d.AsDuration() == 0 {
		return "-"
	}
	return durationText(d)
}

// policyVersionText names a version of a policy.
func policyVersionText(id string, version int64) string {
	if id == "" {
		return "-"
	}
	return fmt.Sprintf("%s (version %d)", id, version)
}

// conflictsText shows sets of entitlements as --conflict takes them.
func conflictsText(sets []*nuxariv1.EntitlementSet) string {
	if len(sets) == 0 {
		return "-"
	}
	var s []string
	for _, set := range sets {
		s = append(s, strings.Join(set.GetEntitlements(), ","))
	}
	return strings.Join(s, "; ")
}

// conditionText is a condition as it is, but for control characters
// other than tabs and line ends (which could drive the terminal).
func conditionText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\n' || r == '\t' || (r == '\r' && strings.HasPrefix(s[i+1:], "\n")):
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// printPolicy prints every field of a policy version; a condition comes
// last, on the lines after "Condition:", as it is.
func printPolicy(e *env, p *nuxariv1.Policy) error {
	maxDuration := durationText(p.GetMaxDuration())
	if p.GetMaxDuration().AsDuration() == 0 {
		maxDuration = "- (access without an end is allowed)"
	}
	approvals := strconv.Itoa(int(p.GetApprovals()))
	if p.GetApprovals() == 0 {
		approvals = "0 (a plan is approved when made)"
	}
	expiry := "no (revoked at once)"
	if p.GetApproveExpiry() {
		expiry = "yes"
	}
	kv := []string{
		"Policy", p.GetPolicyId(),
		"Version", strconv.FormatInt(p.GetVersion(), 10),
		"Name", p.GetName(),
		"Connector", p.GetConnectorId(),
		"Entitlements", listText(p.GetEntitlements(), "- (every entitlement of the connector)"),
		"Requester roles", listText(p.GetRequesterRoles(), "- (requester, approver, admin and owner)"),
		"Max duration", maxDuration,
		"Approvals", approvals,
		"Approvers", listText(p.GetApproverIds(), "-"),
		"Approver roles", listText(p.GetApproverRoles(), "-"),
		"Self-approval", yesNo(p.GetAllowSelfApproval()),
		"Conflicts", conflictsText(p.GetConflicts()),
		"Approve expiry", expiry,
		"Remediate drift", yesNo(p.GetRemediateDrift()),
		"Created", timeText(p.GetCreateTime()),
		"Created by", orDash(p.GetCreatedBy()),
	}
	if p.GetCondition() == "" {
		return fields(e.stdout, append(kv, "Condition", "- (none: always true)")...)
	}
	if err := fields(e.stdout, kv...); err != nil {
		return err
	}
	text := conditionText(p.GetCondition())
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	_, err := fmt.Fprintf(e.stdout, "Condition:\n%s", text)
	return err
}

// getPolicy calls GetPolicy (version 0: the current one).
func (e *env) getPolicy(c *clients, id string, version int64) (*nuxariv1.Policy, error) {
	res, err := c.Access.GetPolicy(e.ctx, connect.NewRequest(&nuxariv1.GetPolicyRequest{PolicyId: id, Version: version}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetPolicy(), nil
}

const policyFlagsHelp = `Lists (--entitlement, --requester-role, --approver, --approver-role,
--conflict) are repeated flags, one value each; --conflict takes a set of
two or more entitlement IDs separated by commas. Roles:
` + roleList + `. The condition is a CEL
expression over request, requester, identity and entitlement,
type-checked by the server when the policy is saved.`

func (e *env) policyCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --name N --connector ID [--entitlement ID]... [policy flags]",
		Short: "create an access policy",
		Long: `Create an access policy, at version 1: who may request which entitlements
of a connector, under which condition, for how long, and who approves.
Admins and owners create policies.

` + policyFlagsHelp,
		Args: nargs(0, 0),
	}
	pf := addPolicyFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := required(cmd, "name", "connector"); err != nil {
			return err
		}
		if err := pf.check(cmd); err != nil {
			return err
		}
		if err := pf.load(e, cmd); err != nil {
			return err
		}
		pol := &nuxariv1.Policy{}
		pf.apply(cmd, pol)
		c, err := e.connect()
		if err != nil {
			return err
		}
		res, err := c.Access.CreatePolicy(e.ctx, connect.NewRequest(&nuxariv1.CreatePolicyRequest{Policy: pol}))
		if err != nil {
			return err
		}
		if e.json {
			return e.printProto(res.Msg.GetPolicy())
		}
		return printPolicy(e, res.Msg.GetPolicy())
	}
	return cmd
}

func (e *env) policyUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update POLICY_ID [policy flags]",
		Short: "change an access policy, as its next version",
		Long: `Change an access policy; it is saved as its next version, and pending
requests keep the version they were decided under. What no flag names
stays as it is: nuxctl reads the current version, applies the flags over
it and sends it back whole with that version number. If the policy
changed in between, nothing is saved and the command fails (exit 1): run
it again. A list flag replaces the whole list; given once as "" it
empties it (--entitlement "": every entitlement of the connector).
--condition "" removes the condition, --max-duration 0 the limit,
--allow-self-approval=false and --approve-expiry=false turn those off.

` + policyFlagsHelp,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	pf := addPolicyFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !pf.changed(cmd) {
			return usagef(pathOf(cmd), "nothing to change: give a policy flag, such as --approvals or --condition")
		}
		if err := pf.check(cmd); err != nil {
			return err
		}
		if err := pf.load(e, cmd); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		cur, err := e.getPolicy(c, args[0], 0)
		if err != nil {
			return err
		}
		next := proto.Clone(cur).(*nuxariv1.Policy)
		next.CreateTime, next.CreatedBy = nil, ""
		pf.apply(cmd, next)
		res, err := c.Access.UpdatePolicy(e.ctx, connect.NewRequest(&nuxariv1.UpdatePolicyRequest{Policy: next}))
		var ce *connect.Error
		if errors.As(err, &ce) && ce.Code() == connect.CodeAborted {
			return &exitError{code: ExitFailure, err: fmt.Errorf("policy %s changed after nuxctl read its version %d, so nothing was saved: run the command again to apply the flags over the new version (the server said: %s)",
				printable(args[0]), cur.GetVersion(), printable(ce.Message()))}
		}
		if err != nil {
			return err
		}
		if e.json {
			return e.printProto(res.Msg.GetPolicy())
		}
		return printPolicy(e, res.Msg.GetPolicy())
	}
	return cmd
}

func (e *env) policyGetCmd() *cobra.Command {
	var version int64
	cmd := &cobra.Command{
		Use:   "get POLICY_ID [--version N]",
		Short: "show an access policy",
		Long: `Show an access policy's current version, or with --version an earlier
one: every field, and the condition as it is, on the lines after
"Condition:".`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if version < 0 {
				return usagef(pathOf(cmd), "--version must not be negative")
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			p, err := e.getPolicy(c, args[0], version)
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(p)
			}
			return printPolicy(e, p)
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "show version `N` (0: the current one)")
	return cmd
}

func (e *env) policyListCmd() *cobra.Command {
	all := &nuxariv1.ListPoliciesResponse{}
	return e.listCmd("list", "list the org's access policies", "List the org's access policies, each at its current version.", all, func(c *clients, token string) (string, error) {
		res, err := c.Access.ListPolicies(e.ctx, connect.NewRequest(&nuxariv1.ListPoliciesRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Policies = append(all.Policies, res.Msg.GetPolicies()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("POLICY ID", "VERSION", "NAME", "CONNECTOR", "APPROVALS", "MAX DURATION", "SAVED")
		for _, p := range all.Policies {
			t.row(p.GetPolicyId(), strconv.FormatInt(p.GetVersion(), 10), p.GetName(), p.GetConnectorId(),
				strconv.Itoa(int(p.GetApprovals())), accessDurationText(p.GetMaxDuration()), timeText(p.GetCreateTime()))
		}
	})
}

func printRequest(e *env, r *nuxariv1.AccessRequest) error {
	duration := durationText(r.GetDuration())
	if r.GetDuration().AsDuration() == 0 {
		duration = "- (no end)"
	}
	return fields(e.stdout,
		"Request", r.GetRequestId(),
		"Requester", orDash(r.GetRequester()),
		"Connector", r.GetConnectorId(),
		"Identity", r.GetIdentityId(),
		"Entitlement", r.GetEntitlementId(),
		"Duration", duration,
		"Justification", orDash(r.GetJustification()),
		"State", requestStateName(r.GetState()),
		"Policy", policyVersionText(r.GetPolicyId(), r.GetPolicyVersion()),
		"Plan", orDash(r.GetPlanId()),
		"Created", timeText(r.GetCreateTime()),
		"Expires if pending", timeText(r.GetExpireTime()),
	)
}

// requestOf returns a response's request, or the call's error.
func requestOf[T any, PT interface {
	*T
	GetRequest() *nuxariv1.AccessRequest
}](res *connect.Response[T], err error) (*nuxariv1.AccessRequest, error) {
	if err != nil {
		return nil, err
	}
	return PT(res.Msg).GetRequest(), nil
}

// planOf returns a response's plan, or the call's error.
func planOf[T any, PT interface {
	*T
	GetPlan() *nuxariv1.Plan
}](res *connect.Response[T], err error) (*nuxariv1.Plan, error) {
	if err != nil {
		return nil, err
	}
	return PT(res.Msg).GetPlan(), nil
}

func (e *env) requestSubmitCmd() *cobra.Command {
	var connector, identity, entitlement, justification string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "submit --connector ID --identity ID --entitlement ID [--duration D] --justification TEXT",
		Short: "request an entitlement for an identity of a connector",
		Long: `Request an entitlement for an identity of a connector, for --duration
(none or 0: access without an end, if a policy allows it). A request no
policy allows is refused: the command exits 1 with the server's reasons,
and the refusal is recorded. An allowed request becomes a plan that its
approvers approve or reject; the request is printed, and standard error
names the plan (follow it with 'plan wait').`,
		Args: nargs(0, 0),
	}
	f := cmd.Flags()
	f.StringVar(&connector, "connector", "", "the `CONNECTOR_ID` of the system")
	f.StringVar(&identity, "identity", "", "the `IDENTITY_ID` (of the connector's snapshot) to grant it to")
	f.StringVar(&entitlement, "entitlement", "", "the `ENTITLEMENT_ID` (of the connector's snapshot) asked for")
	f.DurationVar(&duration, "duration", 0, "how long the access lasts, e.g. 4h (0: no end)")
	f.StringVar(&justification, "justification", "", "why the access is needed, 1 to 1000 characters")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := required(cmd, "connector", "identity", "entitlement"); err != nil {
			return err
		}
		if strings.TrimSpace(justification) == "" {
			return usagef(pathOf(cmd), "--justification is required: say why the access is needed")
		}
		if duration < 0 {
			return usagef(pathOf(cmd), "--duration must not be negative")
		}
		req := &nuxariv1.SubmitRequestRequest{ConnectorId: connector, IdentityId: identity, EntitlementId: entitlement, Justification: justification}
		if duration > 0 {
			req.Duration = durationpb.New(duration)
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		res, err := c.Access.SubmitRequest(e.ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		if e.json {
			return e.printProto(res.Msg)
		}
		r, p := res.Msg.GetRequest(), res.Msg.GetPlan()
		if p != nil {
			id := printable(p.GetPlanId())
			fmt.Fprintf(e.stderr, "Request %s is %s; its plan %s is %s. Follow it with 'nuxctl plan wait %s'.\n",
				printable(r.GetRequestId()), requestStateName(r.GetState()), id, planProgress(p), id)
		}
		return printRequest(e, r)
	}
	return cmd
}

func (e *env) requestListCmd() *cobra.Command {
	var everyone bool
	all := &nuxariv1.ListRequestsResponse{}
	cmd := e.listCmd("list [--all]", "list your access requests",
		"List your access requests; with --all every request of the org (for those who may read access).", all, func(c *clients, token string) (string, error) {
			res, err := c.Access.ListRequests(e.ctx, connect.NewRequest(&nuxariv1.ListRequestsRequest{PageSize: 1000, PageToken: token, All: everyone}))
			if err != nil {
				return "", err
			}
			all.Requests = append(all.Requests, res.Msg.GetRequests()...)
			return res.Msg.GetNextPageToken(), nil
		}, func(t *table) {
			t.header("REQUEST ID", "REQUESTER", "CONNECTOR", "IDENTITY", "ENTITLEMENT", "DURATION", "STATE", "CREATED")
			for _, r := range all.Requests {
				t.row(r.GetRequestId(), orDash(r.GetRequester()), r.GetConnectorId(), r.GetIdentityId(), r.GetEntitlementId(),
					accessDurationText(r.GetDuration()), requestStateName(r.GetState()), timeText(r.GetCreateTime()))
			}
		})
	cmd.Flags().BoolVar(&everyone, "all", false, "every request of the org, not only yours")
	return cmd
}

// requestCmd is a command that acts on one request and prints it.
func (e *env) requestCmd(use, short, long string, call func(c *clients, id string) (*nuxariv1.AccessRequest, error)) *cobra.Command {
	return oneCmd(e, use, short, long, call, func(r *nuxariv1.AccessRequest) error { return printRequest(e, r) })
}

func (e *env) requestGetCmd() *cobra.Command {
	return e.requestCmd("get REQUEST_ID", "show an access request", "Show an access request: what it asks for, its state, the policy version it was decided under and its plan.",
		func(c *clients, id string) (*nuxariv1.AccessRequest, error) {
			return requestOf(c.Access.GetRequest(e.ctx, connect.NewRequest(&nuxariv1.GetRequestRequest{RequestId: id})))
		})
}

func (e *env) requestCancelCmd() *cobra.Command {
	return e.requestCmd("cancel REQUEST_ID", "cancel your pending access request", "Cancel your own pending access request, and its plan.",
		func(c *clients, id string) (*nuxariv1.AccessRequest, error) {
			return requestOf(c.Access.CancelRequest(e.ctx, connect.NewRequest(&nuxariv1.CancelRequestRequest{RequestId: id})))
		})
}

// approvalsGiven counts a plan's approvals (not its rejections).
func approvalsGiven(p *nuxariv1.Plan) int {
	n := 0
	for _, a := range p.GetApprovals() {
		if a.GetApproved() {
			n++
		}
	}
	return n
}

// planProgress is a plan's state, with its approvals while it is pending.
func planProgress(p *nuxariv1.Plan) string {
	s := planStateName(p.GetState())
	if p.GetState() == nuxariv1.PlanState_PLAN_STATE_PENDING && p.GetApprovalsRequired() > 0 {
		s += fmt.Sprintf(", %d of %d approvals", approvalsGiven(p), p.GetApprovalsRequired())
	}
	return s
}

func decisionName(a *nuxariv1.Approval) string {
	if a.GetApproved() {
		return "approved"
	}
	return "rejected"
}

// printPlan prints a plan, its actions and its approvers' decisions.
func printPlan(e *env, p *nuxariv1.Plan) error {
	approvals := fmt.Sprintf("%d of %d", approvalsGiven(p), p.GetApprovalsRequired())
	if p.GetApprovalsRequired() == 0 {
		approvals = "none needed"
	}
	err := fields(e.stdout,
		"Plan", p.GetPlanId(),
		"Reason", orDash(p.GetReason()),
		"Request", orDash(p.GetRequestId()),
		"Finding", orDash(p.GetFindingId()),
		"Review", orDash(p.GetReviewId()),
		"Duration", accessDurationText(p.GetDuration()),
		"State", planStateName(p.GetState()),
		"Policy", policyVersionText(p.GetPolicyId(), p.GetPolicyVersion()),
		"Approvals", approvals,
		"Approvers", listText(p.GetApproverIds(), "-"),
		"Approver roles", listText(p.GetApproverRoles(), "-"),
		"Requested by", orDash(p.GetRequestedBy()),
		"Created", timeText(p.GetCreateTime()),
		"Completed", timeText(p.GetCompleteTime()),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nActions:")
	t := newTable(e.stdout)
	t.header("KIND", "CONNECTOR", "IDENTITY", "ENTITLEMENT", "STATE", "ERROR")
	for _, a := range p.GetActions() {
		t.row(orDash(a.GetKind()), a.GetConnectorId(), a.GetIdentityId(), a.GetEntitlementId(), orDash(a.GetState()), orDash(a.GetError()))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(p.GetApprovals()) == 0 {
		_, err := fmt.Fprintln(e.stdout, "\nDecisions: none yet.")
		return err
	}
	fmt.Fprintln(e.stdout, "\nDecisions:")
	t = newTable(e.stdout)
	t.header("APPROVER", "DECISION", "TIME", "COMMENT")
	for _, a := range p.GetApprovals() {
		t.row(a.GetApprover(), decisionName(a), timeText(a.GetTime()), orDash(a.GetComment()))
	}
	return t.flush()
}

func (e *env) planListCmd() *cobra.Command {
	var mine bool
	all := &nuxariv1.ListPlansResponse{}
	cmd := e.listCmd("list [--mine]", "list remediation plans",
		"List the org's remediation plans; with --mine only those awaiting your decision (an approver's inbox).", all, func(c *clients, token string) (string, error) {
			res, err := c.Access.ListPlans(e.ctx, connect.NewRequest(&nuxariv1.ListPlansRequest{PageSize: 1000, PageToken: token, AssignedToMe: mine}))
			if err != nil {
				return "", err
			}
			all.Plans = append(all.Plans, res.Msg.GetPlans()...)
			return res.Msg.GetNextPageToken(), nil
		}, func(t *table) {
			t.header("PLAN ID", "REASON", "REQUEST", "STATE", "APPROVALS", "REQUESTED BY", "CREATED")
			for _, p := range all.Plans {
				t.row(p.GetPlanId(), orDash(p.GetReason()), orDash(p.GetRequestId()), planStateName(p.GetState()),
					fmt.Sprintf("%d/%d", approvalsGiven(p), p.GetApprovalsRequired()), orDash(p.GetRequestedBy()), timeText(p.GetCreateTime()))
			}
		})
	cmd.Flags().BoolVar(&mine, "mine", false, "only the plans awaiting your decision")
	return cmd
}

// planCmd is a command that acts on one plan and prints it.
func (e *env) planCmd(use, short, long string, call func(c *clients, id string) (*nuxariv1.Plan, error)) *cobra.Command {
	return oneCmd(e, use, short, long, call, func(p *nuxariv1.Plan) error { return printPlan(e, p) })
}

func (e *env) planGetCmd() *cobra.Command {
	return e.planCmd("get PLAN_ID", "show a remediation plan", "Show a remediation plan: its state, its actions with theirs, and its approvers' decisions with their comments.",
		func(c *clients, id string) (*nuxariv1.Plan, error) {
			return planOf(c.Access.GetPlan(e.ctx, connect.NewRequest(&nuxariv1.GetPlanRequest{PlanId: id})))
		})
}

const commentUsage = "a comment recorded with the decision (up to 1000 characters)"

func (e *env) planApproveCmd() *cobra.Command {
	var comment string
	cmd := e.planCmd("approve PLAN_ID [--comment TEXT]", "approve a pending plan assigned to you",
		"Approve a pending plan as one of its assigned approvers. Once it has the approvals its policy needs, it runs.",
		func(c *clients, id string) (*nuxariv1.Plan, error) {
			return planOf(c.Access.ApprovePlan(e.ctx, connect.NewRequest(&nuxariv1.ApprovePlanRequest{PlanId: id, Comment: comment})))
		})
	cmd.Flags().StringVar(&comment, "comment", "", commentUsage)
	return cmd
}

func (e *env) planRejectCmd() *cobra.Command {
	var comment string
	cmd := e.planCmd("reject PLAN_ID [--comment TEXT]", "reject a pending plan assigned to you",
		"Reject a pending plan as one of its assigned approvers.",
		func(c *clients, id string) (*nuxariv1.Plan, error) {
			return planOf(c.Access.RejectPlan(e.ctx, connect.NewRequest(&nuxariv1.RejectPlanRequest{PlanId: id, Comment: comment})))
		})
	cmd.Flags().StringVar(&comment, "comment", "", commentUsage)
	return cmd
}

func (e *env) planWaitCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait PLAN_ID [--timeout D]",
		Short: "wait until a plan has ended, then show it",
		Long: `Wait until a plan has ended: say on standard error what it waits for and
each change of the plan's state, then print the plan. Exits 0 when the
plan is done, 6 when it failed or was rejected, expired or canceled, and
7 if it has not ended within --timeout (the plan carries on).`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef(pathOf(cmd), "--timeout must be positive")
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			p, err := e.waitPlan(c, args[0], timeout)
			if err != nil {
				return err
			}
			if e.json {
				err = e.printProto(p)
			} else {
				err = printPlan(e, p)
			}
			if err != nil {
				return err
			}
			if p.GetState() != nuxariv1.PlanState_PLAN_STATE_DONE {
				return &exitError{code: ExitFailed, err: planEndError(p)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultWaitTimeout, fmt.Sprintf("give up after this long (exit %d)", ExitTimeout))
	return cmd
}

// planEndError says how a plan ended that is not done.
func planEndError(p *nuxariv1.Plan) error {
	id := printable(p.GetPlanId())
	switch p.GetState() {
	case nuxariv1.PlanState_PLAN_STATE_FAILED:
		var why []string
		for _, a := range p.GetActions() {
			if a.GetError() != "" {
				why = append(why, printable(a.GetError()))
			}
		}
		return fmt.Errorf("plan %s failed: %s", id, listText(why, "-"))
	case nuxariv1.PlanState_PLAN_STATE_REJECTED:
		for _, a := range p.GetApprovals() {
			if !a.GetApproved() {
				return fmt.Errorf("plan %s was rejected by %s: %s", id, printable(a.GetApprover()), orDash(printable(a.GetComment())))
			}
		}
		return fmt.Errorf("plan %s was rejected", id)
	case nuxariv1.PlanState_PLAN_STATE_EXPIRED:
		return fmt.Errorf("plan %s expired before it was decided", id)
	case nuxariv1.PlanState_PLAN_STATE_CANCELED:
		return fmt.Errorf("plan %s was canceled", id)
	}
	return fmt.Errorf("plan %s ended %s", id, planStateName(p.GetState()))
}

// waitPlan polls plan id until it has ended or timeout passes, saying on
// standard error what it waits for and each change of the plan's state.
func (e *env) waitPlan(c *clients, id string, timeout time.Duration) (*nuxariv1.Plan, error) {
	get := func(ctx context.Context) (*nuxariv1.Plan, error) {
		return planOf(c.Access.GetPlan(ctx, connect.NewRequest(&nuxariv1.GetPlanRequest{PlanId: id})))
	}
	p, err := get(e.ctx)
	if err != nil || planEnded(p) {
		return p, err
	}
	pid := printable(id)
	fmt.Fprintf(e.stderr, "waiting for plan %s (%s) to end, up to %s…\n", pid, planProgress(p), timeout)
	err = e.poll(timeout, func() string {
		return fmt.Sprintf("plan %s (still %s); it carries on: follow it with 'nuxctl plan get %s'", pid, planProgress(p), pid)
	}, func(ctx context.Context) (bool, error) {
		next, err := get(ctx)
		if err != nil {
			return false, err
		}
		if next.GetState() != p.GetState() || approvalsGiven(next) != approvalsGiven(p) {
			fmt.Fprintf(e.stderr, "plan %s: %s\n", pid, planProgress(next))
		}
		p = next
		return planEnded(p), nil
	})
	return p, err
}

func (e *env) accessGrantsCmd() *cobra.Command {
	all := &nuxariv1.ListAccessGrantsResponse{}
	return e.listCmd("grants", "list the access granted through plans",
		`List the access granted through plans, current and ended; EXPIRES is "-"
for access without an end. STATE is active, revoking, revoked or
revoke_failed.`, all, func(c *clients, token string) (string, error) {
			res, err := c.Access.ListAccessGrants(e.ctx, connect.NewRequest(&nuxariv1.ListAccessGrantsRequest{PageSize: 1000, PageToken: token}))
			if err != nil {
				return "", err
			}
			all.Grants = append(all.Grants, res.Msg.GetGrants()...)
			return res.Msg.GetNextPageToken(), nil
		}, func(t *table) {
			t.header("GRANT ID", "CONNECTOR", "IDENTITY", "ENTITLEMENT", "GRANTED", "EXPIRES", "STATE")
			for _, g := range all.Grants {
				t.row(g.GetGrantId(), g.GetConnectorId(), g.GetIdentityId(), g.GetEntitlementId(), timeText(g.GetGrantTime()), timeText(g.GetExpireTime()), orDash(g.GetState()))
			}
		})
}
