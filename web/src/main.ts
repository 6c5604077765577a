// The Nuxari console: one page, routed by the URL's fragment.

import "./style.css";
import { api, describe, hasCSRF, setCSRF, whenSignedOut, procedure, services } from "./api";
import { banner, h, replace } from "./dom";
import { can, principal, roleName, setPrincipal } from "./session";
import { signIn } from "./pages/signin";
import { eventsPage } from "./pages/events";
import { eventPage } from "./pages/event";
import { checkpointsPage, pinPage } from "./pages/checkpoints";
import { exportsPage } from "./pages/exports";
import { agentPage, agentsPage } from "./pages/agents";
import { membersPage, tokensPage } from "./pages/members";
import { drifts, inboxPage, requestsPage, reviewsPage } from "./pages/access";

export type Page = (main: HTMLElement, params: string[], query: URLSearchParams) => Promise<void>;

interface Route {
  pattern: RegExp;
  page: Page;
  title: string;
}

const routes: Route[] = [
  { pattern: /^events$/, page: eventsPage, title: "Events" },
  { pattern: /^events\/(\d+)$/, page: eventPage, title: "Event" },
  { pattern: /^checkpoints$/, page: checkpointsPage, title: "Checkpoints" },
  { pattern: /^pin$/, page: pinPage, title: "Log key" },
  { pattern: /^exports$/, page: exportsPage, title: "Evidence" },
  { pattern: /^agents$/, page: agentsPage, title: "Agents" },
  { pattern: /^agents\/([^/]+)$/, page: agentPage, title: "Agent" },
  { pattern: /^members$/, page: membersPage, title: "Members" },
  { pattern: /^tokens$/, page: tokensPage, title: "API tokens" },
  { pattern: /^inbox$/, page: inboxPage, title: "Approvals" },
  { pattern: /^requests$/, page: requestsPage, title: "Requests" },
  { pattern: /^drift$/, page: drifts, title: "Drift" },
  { pattern: /^reviews$/, page: reviewsPage, title: "Reviews" },
  { pattern: /^account$/, page: accountPage, title: "Account" },
];

// accountPage says who is signed in and with which role.
async function accountPage(main: HTMLElement): Promise<void> {
  const p = principal()!;
  replace(
    main,
    h("h1", null, "Account"),
    h("dl", null, h("dt", null, "Email"), h("dd", null, p.email), h("dt", null, "User ID"), h("dd", null, h("code", null, p.userId)), h("dt", null, "Org"), h("dd", null, p.orgId), h("dt", null, "Role"), h("dd", null, roleName(p.role))),
  );
}

// The navigation: each entry shows only when the role may call the
// procedure the page is built on.
const nav: { href: string; label: string; proc: string }[] = [
  { href: "#/events", label: "Events", proc: procedure(services.LedgerService, "ListEvents") },
  { href: "#/checkpoints", label: "Checkpoints", proc: procedure(services.LedgerService, "GetCheckpoint") },
  { href: "#/exports", label: "Evidence", proc: procedure(services.EvidenceService, "ListExports") },
  { href: "#/agents", label: "Agents", proc: procedure(services.AgentAdminService, "ListAgents") },
  { href: "#/inbox", label: "Approvals", proc: procedure(services.AccessService, "ApprovePlan") },
  { href: "#/requests", label: "Requests", proc: procedure(services.AccessService, "ListRequests") },
  { href: "#/drift", label: "Drift", proc: procedure(services.AccessService, "ListDriftFindings") },
  { href: "#/reviews", label: "Reviews", proc: procedure(services.AccessService, "ListReviews") },
  { href: "#/members", label: "Members", proc: procedure(services.OrgService, "ListMembers") },
  { href: "#/tokens", label: "API tokens", proc: procedure(services.AuthService, "CreateAPIToken") },
];

const app = document.getElementById("app")!;

function shell(): HTMLElement {
  const p = principal()!;
  const current = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  const main = h("main", { id: "main", tabindex: -1 });
  replace(
    app,
    h("a", { class: "skip", href: "#main", onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h(
      "header",
      null,
      h("span", { class: "brand" }, "Nuxari"),
      h(
        "nav",
        { "aria-label": "Main" },
        h(
          "ul",
          null,
          nav.filter((n) => can(n.proc)).map((n) =>
            h("li", null, h("a", { href: n.href, "aria-current": n.href === `#/${current}` ? "page" : undefined }, n.label)),
          ),
        ),
      ),
      h(
        "div",
        { class: "who" },
        h("a", { href: "#/account" }, `${p.email || p.userId} · ${p.orgId}`),
        h("span", { class: "role" }, roleName(p.role)),
        h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
      ),
    ),
    main,
  );
  return main;
}

async function signOut(): Promise<void> {
  try {
    await api.auth.logout({});
  } catch {
    // Signed out already, or the server is away: the cookie goes anyway
    // when the session ends.
  }
  setCSRF(undefined);
  setPrincipal(undefined);
  location.hash = "#/signin";
}

async function render(): Promise<void> {
  const path = location.hash.replace(/^#\/?/, "");
  const [route, qs] = path.split("?", 2);
  if (route === "signin" || !principal()) {
    if (route !== "signin" && hasCSRF()) {
      try {
        setPrincipal((await api.auth.whoAmI({})).principal);
      } catch {
        setCSRF(undefined);
      }
    }
    if (!principal()) {
      document.title = "Sign in · Nuxari";
      signIn(app, () => {
        // Render once: by the hash change, or here when there is none.
        const target = route && route !== "signin" ? `#/${path}` : "#/";
        if (location.hash === target) void render();
        else location.hash = target;
      });
      return;
    }
  }
  if (!route) {
    // The first page the role may see.
    location.replace(nav.find((n) => can(n.proc))?.href ?? "#/account");
    return;
  }
  const main = shell();
  for (const r of routes) {
    const m = route.match(r.pattern);
    if (!m) continue;
    document.title = `${r.title} · Nuxari`;
    main.append(h("p", { class: "muted", role: "status" }, "Loading…"));
    try {
      await r.page(main, m.slice(1), new URLSearchParams(qs ?? ""));
    } catch (e) {
      replace(main, h("h1", null, r.title), banner("fail", describe(e)));
    }
    main.querySelector("p.muted[role=status]")?.remove();
    return;
  }
  document.title = "Not found · Nuxari";
  replace(main, h("h1", null, "Not found"), h("p", null, "No page here. ", h("a", { href: "#/events" }, "Go to the events.")));
}

whenSignedOut(() => {
  setCSRF(undefined);
  setPrincipal(undefined);
  if (!location.hash.startsWith("#/signin")) location.hash = "#/signin";
});
window.addEventListener("hashchange", () => void render());
void render();
