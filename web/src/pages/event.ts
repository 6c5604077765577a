import { api } from "../api";
import { banner, h, hex, link, replace, time } from "../dom";
import { org } from "../session";
import { latest, NotPinned, rootHex } from "../trust";
import { verifyEvent, verifyInclusion, verifyLeafHashInclusion, VerifyError, type Leaf } from "../verify";
import { json } from "./events";

// eventPage shows one event and proves it in the browser: the latest
// checkpoint's signature against the pinned key, its consistency with
// the checkpoint this browser trusted before, and the event's inclusion
// proof against it. Only fields read from the proved leaf are shown as
// verified.
export async function eventPage(main: HTMLElement, params: string[]): Promise<void> {
  const index = BigInt(params[0]);
  const { event } = await api.ledger.getEvent({ index });
  if (!event) throw new Error("the server returned no event");
  const status = h("section", { "aria-labelledby": "verify-title" }, h("h2", { id: "verify-title" }, "Verification"), h("p", { class: "muted", role: "status" }, "Verifying in your browser…"));
  replace(
    main,
    h("p", null, link("#/events", "← Events")),
    h("h1", null, `Event ${index}`),
    status,
  );
  if (event.purged) {
    status.append(banner("warn", "This event's payload was purged after the org's retention window: its leaf hash is still in the log, but there is nothing to show."));
  }
  try {
    const { pin, cp } = await latest(org());
    const proof = await api.ledger.getInclusionProof({ index, treeSize: cp.size });
    // A purged event proves only its leaf hash; otherwise the leaf's
    // bytes are proved, and must be the event the server describes, of
    // this org at this index.
    const res = event.purged
      ? await verifyLeafHashInclusion(event.leafHash, index, proof.hashes, cp)
      : await verifyInclusion(event.leaf, index, proof.hashes, cp, event.leafHash);
    const leaf = event.purged ? undefined : await verifyEvent(event.leaf, { org: org(), index, type: event.type, actor: event.actor, time: event.time });
    replace(
      status,
      h("h2", { id: "verify-title" }, "Verification"),
      banner(
        "ok",
        h("strong", null, "✓ Verified in your browser. "),
        `Event ${index} is in the log of ${cp.origin}, in the tree of size ${cp.size} whose checkpoint is signed by the key you pinned (${pin.fingerprint}).`,
      ),
      h(
        "dl",
        null,
        h("dt", null, "Leaf hash"),
        h("dd", null, h("code", null, hex(res.leafHash))),
        h("dt", null, "Checkpoint"),
        h("dd", null, `size ${cp.size}, root `, h("code", null, rootHex(cp))),
      ),
      h(
        "details",
        { open: true },
        h("summary", null, `Inclusion proof (${proof.hashes.length} hashes)`),
        h(
          "ol",
          { class: "path" },
          res.path.map((s) => h("li", null, `level ${s.level}, ${s.side} sibling: `, h("code", null, hex(s.hash)))),
        ),
      ),
      h("details", null, h("summary", null, "Signed checkpoint"), h("pre", null, cp.note)),
    );
    if (leaf) main.append(verified(leaf, event.leaf));
  } catch (e) {
    if (e instanceof NotPinned) {
      replace(status, h("h2", { id: "verify-title" }, "Verification"), banner("warn", "Not verified: pin your org's log key first. ", link("#/pin", "Pin the log key")));
    } else if (e instanceof VerifyError) {
      replace(
        status,
        h("h2", { id: "verify-title" }, "Verification"),
        banner("fail", h("strong", null, "✗ VERIFICATION FAILED. "), e.message, " Do not rely on what this server shows for this event."),
      );
    } else {
      throw e;
    }
    main.append(h("section", null, h("h2", null, "Unverified event, as the server sent it"), h("p", null, h("code", null, event.type), " by ", h("code", null, event.actor), " at ", time(event.time)), event.purged ? null : json(event.leaf)));
  }
}

// verified renders the fields read from the proved leaf bytes.
function verified(l: Leaf, bytes: Uint8Array): HTMLElement {
  return h(
    "section",
    { "aria-labelledby": "leaf-title" },
    h("h2", { id: "leaf-title" }, "Event (from the verified leaf)"),
    h(
      "dl",
      null,
      h("dt", null, "Org"),
      h("dd", null, h("code", null, l.org)),
      h("dt", null, "Index"),
      h("dd", null, String(l.index)),
      h("dt", null, "Type"),
      h("dd", null, h("code", null, l.type ?? "")),
      h("dt", null, "Actor"),
      h("dd", null, h("code", null, l.actor ?? "")),
      h("dt", null, "Time"),
      h("dd", null, time(l.time)),
      l.idempotencyKey ? [h("dt", null, "Idempotency key"), h("dd", null, h("code", null, l.idempotencyKey))] : null,
    ),
    json(bytes),
  );
}
