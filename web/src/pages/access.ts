import { api, describe, procedure, services } from "../api";
import { banner, field, h, replace, table, time } from "../dom";
import { PlanState, RequestState, ReviewState, type Plan } from "../gen/nuxari/v1/access_pb";
import { can } from "../session";

const planState: Record<number, string> = {
  [PlanState.PENDING]: "pending",
  [PlanState.APPROVED]: "approved",
  [PlanState.REJECTED]: "rejected",
  [PlanState.EXECUTING]: "running",
  [PlanState.DONE]: "done",
  [PlanState.FAILED]: "failed",
  [PlanState.EXPIRED]: "expired",
  [PlanState.CANCELED]: "canceled",
};

function actions(p: Plan): HTMLElement {
  return h(
    "ul",
    { class: "actions" },
    p.actions.map((a) => h("li", null, h("strong", null, a.kind), " ", h("code", null, a.entitlementId), " for ", h("code", null, a.identityId), " on ", h("code", null, a.connectorId), a.state !== "pending" ? ` (${a.state}${a.error ? `: ${a.error}` : ""})` : "")),
  );
}

// inboxPage lists the plans assigned to the caller and lets them
// approve or reject each, with a comment: the same audited RPCs as
// nuxctl plan approve and reject.
export async function inboxPage(main: HTMLElement): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const list = h("section", { "aria-labelledby": "inbox-title" });
  replace(main, h("h1", null, "Approvals"), status, list);
  const refresh = async () => {
    const res = await api.access.listPlans({ assignedToMe: true, pageSize: 200 });
    const pending = res.plans.filter((p) => p.state === PlanState.PENDING);
    replace(
      list,
      h("h2", { id: "inbox-title" }, `Waiting for you (${pending.length})`),
      pending.length === 0 ? h("p", { class: "empty" }, "Nothing waits for your decision.") : h("div", { class: "cards" }, pending.map((p) => card(p))),
    );
  };
  const card = (p: Plan): HTMLElement => {
    const comment = h("textarea", { name: "comment", maxlength: 1000, rows: 2 });
    const decide = async (approve: boolean) => {
      try {
        const req = { planId: p.planId, comment: comment.value };
        const res = approve ? await api.access.approvePlan(req) : await api.access.rejectPlan(req);
        replace(status, banner("ok", `Plan ${p.planId} ${approve ? "approved" : "rejected"}; it is now ${planState[res.plan?.state ?? 0] ?? "unknown"}.`));
        await refresh();
      } catch (e) {
        replace(status, banner("fail", describe(e)));
      }
    };
    const approve = h("button", { type: "button", "data-plan": p.planId }, "Approve");
    approve.addEventListener("click", () => void decide(true));
    const reject = h("button", { type: "button", class: "danger", "data-plan": p.planId }, "Reject");
    reject.addEventListener("click", () => void decide(false));
    return h(
      "article",
      { class: "card", "aria-label": `Plan ${p.planId}` },
      h("h3", null, "Plan ", h("code", null, p.planId)),
      h("p", null, `${p.reason} by `, h("code", null, p.requestedBy), ", ", time(p.createTime), `; ${p.approvals.length} of ${p.approvalsRequired} approvals`),
      actions(p),
      field("Comment", comment, "Recorded in the log with your decision"),
      h("div", { class: "buttons" }, approve, reject),
    );
  };
  await refresh();
}

const requestState: Record<number, string> = Object.fromEntries(
  Object.entries(RequestState)
    .filter(([, v]) => typeof v === "number" && v !== 0)
    .map(([k, v]) => [v as number, k.toLowerCase()]),
);

export async function requestsPage(main: HTMLElement, _p: string[], q: URLSearchParams): Promise<void> {
  const all = q.get("all") === "1" && can(procedure(services.AccessService, "ListPlans"));
  const res = await api.access.listRequests({ pageSize: 500, all });
  replace(
    main,
    h("h1", null, all ? "Every request" : "My requests"),
    can(procedure(services.AccessService, "ListPlans")) ? h("p", null, h("a", { href: all ? "#/requests" : "#/requests?all=1" }, all ? "Show mine only" : "Show every request")) : null,
    table(
      ["Request", "Requester", "Entitlement", "Identity", "Connector", "State", "Justification", "Created"],
      res.requests.map((r) => [h("code", null, r.requestId), h("code", null, r.requester), h("code", null, r.entitlementId), h("code", null, r.identityId), h("code", null, r.connectorId), requestState[r.state] ?? "unknown", r.justification, time(r.createTime)]),
      "No requests.",
    ),
  );
}

export async function drifts(main: HTMLElement, _p: string[], q: URLSearchParams): Promise<void> {
  const resolved = q.get("resolved") === "1";
  const res = await api.access.listDriftFindings({ includeResolved: resolved, pageSize: 500 });
  replace(
    main,
    h("h1", null, "Drift findings"),
    h("p", null, h("a", { href: resolved ? "#/drift" : "#/drift?resolved=1" }, resolved ? "Open findings only" : "Include resolved findings")),
    table(
      ["Finding", "Kind", "Entitlement", "Identity", "Connector", "State", "Detected", "Plan"],
      res.findings.map((f) => [h("code", null, f.findingId), f.kind, h("code", null, f.entitlementId), h("code", null, f.identityId), h("code", null, f.connectorId), f.state + (f.resolution ? ` (${f.resolution})` : ""), time(f.detectTime), f.planId ? h("code", null, f.planId) : ""]),
      resolved ? "No drift found." : "No open drift: every connector's access matches its desired state.",
    ),
  );
}

const reviewState: Record<number, string> = {
  [ReviewState.OPEN]: "open",
  [ReviewState.COMPLETED]: "completed",
  [ReviewState.CANCELED]: "canceled",
};

export async function reviewsPage(main: HTMLElement): Promise<void> {
  const res = await api.access.listReviews({ pageSize: 500 });
  replace(
    main,
    h("h1", null, "Access reviews"),
    table(
      ["Review", "Name", "Connector", "State", "Decided", "Kept", "Revoked", "Started"],
      res.reviews.map((r) => [h("code", null, r.reviewId), r.name, h("code", null, r.connectorId), reviewState[r.state] ?? "unknown", `${r.decided} of ${r.items}`, String(r.kept), String(r.revoked) + (r.revokeFailed ? ` (${r.revokeFailed} failed)` : ""), time(r.createTime)]),
      "No access reviews yet.",
    ),
  );
}
