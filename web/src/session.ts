// Who is signed in, and what their role may call. The console hides
// what the role cannot do; the server enforces it either way.

import { Role, type Principal } from "./gen/nuxari/v1/types_pb";
import { procedureRoles } from "./rbac.gen";

let current: Principal | undefined;

export function setPrincipal(p: Principal | undefined): void {
  current = p;
}

export function principal(): Principal | undefined {
  return current;
}

export function org(): string {
  return current?.orgId ?? "";
}

export function roleName(r: Role | undefined): string {
  switch (r) {
    case Role.OWNER:
      return "owner";
    case Role.ADMIN:
      return "admin";
    case Role.APPROVER:
      return "approver";
    case Role.REQUESTER:
      return "requester";
    case Role.AUDITOR:
      return "auditor";
    case Role.READONLY:
      return "readonly";
    default:
      return "unknown";
  }
}

// can reports whether the signed-in role may call procedure, e.g.
// "/nuxari.v1.OrgService/AddMember".
export function can(procedure: string): boolean {
  const roles = procedureRoles[procedure];
  return roles !== undefined && current !== undefined && roles.includes(roleName(current.role));
}
