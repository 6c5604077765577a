import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { api } from "../api";
import { banner, field, h, link, localInput, replace, table, time } from "../dom";
import type { Event } from "../gen/nuxari/v1/types_pb";
import { leafHash } from "../verify";

// eventsPage lists the org's events with filters by type, actor and
// time, and pages through them. Each row's leaf is hashed here and
// checked against the leaf hash the server gave; the event's own page
// proves it in the log.
export async function eventsPage(main: HTMLElement, _p: string[], q: URLSearchParams): Promise<void> {
  const types = h("input", { name: "types", value: q.get("types") ?? "", placeholder: "auth.login.succeeded, custom.deploy" });
  const actor = h("input", { name: "actor", value: q.get("actor") ?? "", placeholder: "user ID or token:<id>" });
  const start = h("input", { name: "start", type: "datetime-local", value: q.get("start") ?? "" });
  const end = h("input", { name: "end", type: "datetime-local", value: q.get("end") ?? "" });
  const size = h("select", { name: "size" }, ["25", "50", "100", "250"].map((n) => h("option", { value: n, selected: (q.get("size") ?? "50") === n }, n)));
  const form = h(
    "form",
    { class: "filters", role: "search" },
    field("Types", types, "Comma-separated, exact"),
    field("Actor", actor),
    field("From (your time)", start),
    field("Before (your time)", end),
    field("Per page", size),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const n = new URLSearchParams();
    for (const [k, el] of [["types", types], ["actor", actor], ["start", start], ["end", end]] as const) if (el.value) n.set(k, el.value);
    n.set("size", size.value);
    location.hash = `#/events?${n}`;
  });
  const results = h("div", { "aria-live": "polite" });
  replace(main, h("h1", null, "Events"), form, results);

  const tokens: string[] = [""];
  const load = async (pageToken: string) => {
    replace(results, h("p", { class: "muted" }, "Loading…"));
    const res = await api.ledger.listEvents({
      types: types.value.split(",").map((s) => s.trim()).filter(Boolean),
      actor: actor.value.trim(),
      startTime: localInput(start) ? timestampFromDate(localInput(start)!) : undefined,
      endTime: localInput(end) ? timestampFromDate(localInput(end)!) : undefined,
      pageSize: Number(size.value),
      pageToken,
    });
    const rows = await Promise.all(res.events.map(row));
    const prev = tokens.length > 1 ? h("button", { type: "button" }, "Previous page") : null;
    prev?.addEventListener("click", () => {
      tokens.pop();
      void load(tokens[tokens.length - 1]);
    });
    const next = res.nextPageToken ? h("button", { type: "button" }, "Next page") : null;
    next?.addEventListener("click", () => {
      tokens.push(res.nextPageToken);
      void load(res.nextPageToken);
    });
    replace(
      results,
      table(["Index", "Time", "Type", "Actor", "Leaf hash", "Data"], rows, "No events match these filters.", `Events, page ${tokens.length}`),
      h("div", { class: "pager" }, prev, next),
    );
  };
  await load(tokens[0]);
}

async function row(e: Event): Promise<(Node | string)[]> {
  let check: Node;
  if (e.purged) {
    check = h("span", { class: "muted", title: "The payload was purged after the org's retention window" }, "purged");
  } else {
    const got = await leafHash(e.leaf);
    const ok = got.length === e.leafHash.length && got.every((b, i) => b === e.leafHash[i]);
    check = ok
      ? h("span", { class: "ok", title: "The leaf bytes hash to the leaf hash; open the event to prove it in the log" }, "✓ matches")
      : h("strong", { class: "fail", role: "alert" }, "✗ leaf does not match its hash");
  }
  return [
    link(`#/events/${e.index}`, String(e.index)),
    time(e.time),
    h("code", null, e.type),
    h("code", null, e.actor),
    check,
    e.purged ? "" : json(e.leaf),
  ];
}

// json shows a leaf's JSON, collapsed.
export function json(leaf: Uint8Array): HTMLElement {
  let text: string;
  try {
    text = JSON.stringify(JSON.parse(new TextDecoder().decode(leaf)), null, 2);
  } catch {
    return banner("fail", "The leaf is not JSON.");
  }
  return h("details", null, h("summary", null, "JSON"), h("pre", null, text));
}
