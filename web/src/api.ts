// The console's clients: the same Connect RPCs, on the same origin, as
// nuxctl calls. The session lives in an HttpOnly cookie that scripts
// cannot read; each call carries the session's CSRF token, which the
// server derives from the session and checks.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { AccessService } from "./gen/nuxari/v1/access_pb";
import { AgentAdminService } from "./gen/nuxari/v1/agent_pb";
import { AuthService } from "./gen/nuxari/v1/auth_pb";
import { EvidenceService } from "./gen/nuxari/v1/evidence_pb";
import { LedgerService } from "./gen/nuxari/v1/ledger_pb";
import { OrgService } from "./gen/nuxari/v1/org_pb";

const csrfKey = "nuxari.csrf";

export function setCSRF(token: string | undefined): void {
  if (token) sessionStorage.setItem(csrfKey, token);
  else sessionStorage.removeItem(csrfKey);
}

export function hasCSRF(): boolean {
  return sessionStorage.getItem(csrfKey) !== null;
}

let onUnauthenticated: () => void = () => {};

// whenSignedOut sets what happens when the server no longer accepts the
// session (expired, ended, or revoked).
export function whenSignedOut(f: () => void): void {
  onUnauthenticated = f;
}

const csrf: Interceptor = (next) => async (req) => {
  const t = sessionStorage.getItem(csrfKey);
  if (t) req.header.set("Nuxari-CSRF", t);
  try {
    return await next(req);
  } catch (e) {
    if (ConnectError.from(e).code === Code.Unauthenticated && !req.url.endsWith("/Login")) onUnauthenticated();
    throw e;
  }
};

const transport = createConnectTransport({
  baseUrl: new URL(".", location.href).href.replace(/\/$/, ""),
  // JSON on the wire: what the browser shows in its tools is readable.
  useBinaryFormat: false,
  interceptors: [csrf],
  fetch: (input, init) => fetch(input, { ...init, credentials: "same-origin" }),
});

function client<T extends DescService>(s: T): Client<T> {
  return createClient(s, transport);
}

export const api = {
  auth: client(AuthService),
  org: client(OrgService),
  ledger: client(LedgerService),
  evidence: client(EvidenceService),
  agents: client(AgentAdminService),
  access: client(AccessService),
};

// procedure names a service method as the RBAC table does.
export function procedure(s: DescService, method: string): string {
  return `/${s.typeName}/${method}`;
}

export const services = { AuthService, OrgService, LedgerService, EvidenceService, AgentAdminService, AccessService };

// describe turns an RPC failure into a sentence for the page.
export function describe(e: unknown): string {
  const ce = ConnectError.from(e);
  switch (ce.code) {
    case Code.PermissionDenied:
      return `Refused by the server: ${ce.rawMessage}`;
    case Code.Unauthenticated:
      return `Not signed in: ${ce.rawMessage}`;
    case Code.NotFound:
      return `Not found: ${ce.rawMessage}`;
    case Code.InvalidArgument:
      return `Invalid input: ${ce.rawMessage}`;
    case Code.Unavailable:
      return `The server is unavailable: ${ce.rawMessage}`;
    default:
      return ce.rawMessage || String(e);
  }
}

export { Code, ConnectError };
