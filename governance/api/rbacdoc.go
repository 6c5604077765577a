package api

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/nuxari/nuxari/governance/rbac"
)

// RBACMarkdown renders Procedures and the roles' grants as the Markdown of
// docs/rbac.md.
func RBACMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Roles and permissions\n\n")
	b.WriteString("<!-- Generated from governance/api/procedures.go and governance/rbac by `make generate`; do not edit. -->\n\n")
	b.WriteString("Roles are per org. Every RPC needs one permission; a procedure missing from the table is denied. ")
	b.WriteString("`public` needs no credentials; `authenticated` needs any valid session or API token of the org. ")
	b.WriteString("An API token holds one role, never more than its creator may hand out, and stops working when its creator leaves the org. ")
	b.WriteString("Credentials are a bearer token (`Authorization: Bearer`) or, from the web console, a session's cookie with its `Nuxari-CSRF` header ([security.md](security.md)): the same principal, the same permissions.\n\n")
	b.WriteString("## Procedures\n\n| procedure | permission | " + strings.Join(roleNames(), " | ") + " |\n|---|---|" + strings.Repeat("---|", len(rbac.Roles)) + "\n")
	procs := make([]string, 0, len(Procedures))
	for p := range Procedures {
		procs = append(procs, p)
	}
	slices.Sort(procs)
	row := func(name string, perm rbac.Permission) {
		fmt.Fprintf(&b, "| `%s` | `%s` |", name, perm)
		for _, r := range rbac.Roles {
			mark := " "
			if rbac.Allows(r, perm) {
				mark = "✓"
			}
			fmt.Fprintf(&b, " %s |", mark)
		}
		b.WriteString("\n")
	}
	for _, p := range procs {
		row(p, Procedures[p])
	}
	b.WriteString("\n## HTTP routes\n\nPlain HTTP beside the RPCs, with the same credentials ([tlog.md](tlog.md)). ")
	b.WriteString("A path naming another org than the caller's answers 404, like a missing tile.\n\n")
	b.WriteString("| route | permission | " + strings.Join(roleNames(), " | ") + " |\n|---|---|" + strings.Repeat("---|", len(rbac.Roles)) + "\n")
	routes := make([]string, 0, len(Routes))
	for r := range Routes {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	for _, r := range routes {
		row(r, Routes[r])
	}
	b.WriteString("\n## Permissions by role\n\n| role | permissions |\n|---|---|\n")
	for _, r := range rbac.Roles {
		var ps []string
		for _, p := range rbac.Permissions {
			if rbac.Allows(r, p) {
				ps = append(ps, "`"+string(p)+"`")
			}
		}
		fmt.Fprintf(&b, "| %s | %s |\n", r, strings.Join(ps, ", "))
	}
	return b.Bytes()
}

func roleNames() []string {
	var out []string
	for _, r := range rbac.Roles {
		out = append(out, string(r))
	}
	return out
}

// RBACTypeScript renders the procedure table for the web console, which
// hides what the caller's role cannot do (the server still enforces
// it): for each procedure, the roles allowed to call it.
func RBACTypeScript() []byte {
	var b bytes.Buffer
	b.WriteString("// Generated from governance/api/procedures.go and governance/rbac by `make generate`; do not edit.\n\n")
	b.WriteString("// The roles allowed to call each procedure, as the server enforces them.\n")
	b.WriteString("export const procedureRoles: Readonly<Record<string, readonly string[]>> = {\n")
	procs := make([]string, 0, len(Procedures))
	for p := range Procedures {
		procs = append(procs, p)
	}
	slices.Sort(procs)
	for _, p := range procs {
		var roles []string
		for _, r := range rbac.Roles {
			if rbac.Allows(r, Procedures[p]) {
				roles = append(roles, fmt.Sprintf("%q", r))
			}
		}
		fmt.Fprintf(&b, "  %q: [%s],\n", p, strings.Join(roles, ", "))
	}
	b.WriteString("};\n")
	return b.Bytes()
}
