// DOM helpers. Every string reaches the page as text, never as markup:
// the console sets no innerHTML, so the Trusted Types policy of its CSP
// ('require-trusted-types-for script') holds with no policy at all.

import type { Timestamp } from "@bufbuild/protobuf/wkt";

type Child = Node | string | number | bigint | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | undefined>;

// h builds an element: props starting with "on" are event listeners,
// booleans toggle attributes, everything else is set as an attribute.
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, ...children);
}

// time shows a timestamp in the user's zone, with UTC on hover and in
// the machine-readable datetime attribute.
export function time(ts: Timestamp | Date | undefined): HTMLElement {
  if (!ts) return h("span", { class: "muted" }, "—");
  const d = ts instanceof Date ? ts : new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6));
  const utc = d.toISOString();
  return h("time", { datetime: utc, title: utc.replace("T", " ").replace(/\.\d+Z$/, " UTC") }, d.toLocaleString());
}

export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

export { hex } from "./verify/bytes";

export function bytesSize(n: number | bigint): string {
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  if (v < 1024 * 1024 * 1024) return `${(v / 1024 / 1024).toFixed(1)} MiB`;
  return `${(v / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

// table renders rows, or the empty state when there are none. The
// wrapper scrolls a wide table on its own, so that the page never
// scrolls sideways (at 200% zoom, say).
export function table(head: string[], rows: Child[][], empty: string, caption?: string): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  const t = h(
    "table",
    null,
    caption ? h("caption", null, caption) : null,
    h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c))))),
  );
  return h("div", { class: "table-scroll" }, t);
}

// banner is a status line; role=alert for failures, so that screen
// readers announce them.
export function banner(kind: "ok" | "fail" | "warn" | "info", ...children: Child[]): HTMLElement {
  return h("div", { class: `banner ${kind}`, role: kind === "fail" ? "alert" : "status" }, ...children);
}

export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", null, hint) : null);
}

export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h("a", { href }, ...children);
}

export function button(label: string, onClick: () => void | Promise<void>, props: Props = {}): HTMLButtonElement {
  const b = h("button", { type: "button", ...props }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await onClick();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// localInput returns the Date of a datetime-local input (the user's
// zone), or undefined when empty.
export function localInput(el: HTMLInputElement): Date | undefined {
  return el.value ? new Date(el.value) : undefined;
}
