// Package rbac defines the per-org roles and what each may do (DESIGN.md,
// promise 2). Which permission each RPC needs is declared next to the
// handlers, in one table; this package holds the roles and permissions the
// table speaks of. Anything not granted is denied.
package rbac

import (
	"fmt"
	"slices"
)

// Role is a member's role in one org.
type Role string

// The roles, from most to least powerful.
const (
	Owner     Role = "owner"
	Admin     Role = "admin"
	Approver  Role = "approver"
	Requester Role = "requester"
	Auditor   Role = "auditor"
	Readonly  Role = "readonly"
)

// Roles lists every role, in the order above.
var Roles = []Role{Owner, Admin, Approver, Requester, Auditor, Readonly}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("unknown role %q", s)
	}
	return r, nil
}

// Permission is what an RPC needs.
type Permission string

// The permissions. Public and Authenticated are not granted by roles:
// Public needs no credentials; Authenticated needs any valid credentials.
const (
	Public        Permission = "public"
	Authenticated Permission = "authenticated"

	OrgRead       Permission = "org.read"
	OrgManage     Permission = "org.manage"
	MembersRead   Permission = "members.read"
	MembersManage Permission = "members.manage"
	RolesManage   Permission = "roles.manage"
	TokensManage  Permission = "tokens.manage"
	LedgerRead    Permission = "ledger.read"
	LedgerAppend  Permission = "ledger.append"
	// EvidenceRead sees exports and the manifest signing key;
	// EvidenceExport starts exports and downloads packages.
	EvidenceRead   Permission = "evidence.read"
	EvidenceExport Permission = "evidence.export"
	// AgentsRead sees agents and tasks; AgentsManage enrols, tasks and
	// decommissions them.
	AgentsRead   Permission = "agents.read"
	AgentsManage Permission = "agents.manage"
	// ConnectorsRead sees connectors, their syncs and snapshots, and the
	// org's sealing keys (never a credential); ConnectorsManage creates,
	// changes, tests, syncs, rotates and decommissions them, and rotates
	// the sealing keys.
	ConnectorsRead   Permission = "connectors.read"
	ConnectorsManage Permission = "connectors.manage"
	// PoliciesManage creates and changes access policies; AccessRead sees
	// policies, every request, plan and access grant; AccessRequest asks
	// for access and sees one's own requests; AccessApprove decides the
	// plans one is assigned.
	PoliciesManage Permission = "policies.manage"
	AccessRead     Permission = "access.read"
	AccessRequest  Permission = "access.request"
	AccessApprove  Permission = "access.approve"
	// AgentChannel is the edge agents' own: their task channel and
	// evidence intake. Only the Agent role holds it, and it holds nothing
	// else.
	AgentChannel Permission = "agent.channel"
)

// Agent is the role of an authenticated edge agent. It is not a member
// role: no person can be given it.
const Agent Role = "agent"

// Permissions lists every permission a role can grant, for documentation.
var Permissions = []Permission{OrgRead, OrgManage, MembersRead, MembersManage, RolesManage, TokensManage, LedgerRead, LedgerAppend, EvidenceRead, EvidenceExport, AgentsRead, AgentsManage, ConnectorsRead, ConnectorsManage, PoliciesManage, AccessRead, AccessRequest, AccessApprove}

var grants = map[Role][]Permission{
	Owner:     Permissions,
	Admin:     {OrgRead, MembersRead, TokensManage, LedgerRead, LedgerAppend, AgentsRead, AgentsManage, ConnectorsRead, ConnectorsManage, PoliciesManage, AccessRead, AccessRequest, AccessApprove},
	Approver:  {OrgRead, MembersRead, AccessRead, AccessRequest, AccessApprove},
	Requester: {OrgRead, AccessRequest},
	Auditor:   {OrgRead, MembersRead, LedgerRead, EvidenceRead, EvidenceExport, AgentsRead, ConnectorsRead, AccessRead},
	Readonly:  {OrgRead, MembersRead, ConnectorsRead},
}

// Allows reports whether role may use permission p.
func Allows(role Role, p Permission) bool {
	switch {
	case p == Public:
		return true
	case p == AgentChannel || role == Agent:
		return p == AgentChannel && role == Agent
	}
	switch p {
	case Authenticated:
		return slices.Contains(Roles, role)
	}
	return slices.Contains(grants[role], p)
}

// Covers reports whether role a holds every permission of role b: a
// principal with role a may hand out b (for example to an API token).
func Covers(a, b Role) bool {
	if !slices.Contains(Roles, a) || !slices.Contains(Roles, b) {
		return false
	}
	for _, p := range grants[b] {
		if !Allows(a, p) {
			return false
		}
	}
	return true
}
