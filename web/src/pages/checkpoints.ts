import { api, describe } from "../api";
import { banner, button, field, h, link, replace, table, time } from "../dom";
import { org } from "../session";
import { getPin, latest, NotPinned, offered, pin, proveConsistent, rootHex, trusted, unpin } from "../trust";
import { verifyCheckpoint, VerifyError, type Checkpoint } from "../verify";

function failure(e: unknown): HTMLElement {
  if (e instanceof NotPinned) return banner("warn", "Not verified: pin your org's log key first. ", link("#/pin", "Pin the log key"));
  if (e instanceof VerifyError) return banner("fail", h("strong", null, "✗ VERIFICATION FAILED. "), e.message);
  return banner("fail", describe(e));
}

// checkpointsPage shows the latest checkpoint, proved consistent with
// the one this browser trusted before, the checkpoints verified over
// time, and checks any earlier checkpoint the log kept against the
// latest.
export async function checkpointsPage(main: HTMLElement): Promise<void> {
  const status = h("div", { "aria-live": "polite" });
  const history = h("section", { "aria-labelledby": "hist-title" });
  const size = h("input", { name: "size", inputmode: "numeric", pattern: "[0-9]+", placeholder: "tree size" });
  const earlier = h("div", { "aria-live": "polite" });
  const check = h("form", { class: "inline" }, field("Check an earlier checkpoint", size, "A size the log kept: every checkpoint of the last day, those handed out, the last of each hour"), h("button", { type: "submit" }, "Check"));
  replace(main, h("h1", null, "Checkpoints"), status, history, h("section", null, h("h2", null, "Earlier checkpoints"), check, earlier));
  let cp: Checkpoint | undefined;
  try {
    const r = await latest(org());
    cp = r.cp;
    replace(
      status,
      banner(
        "ok",
        h("strong", null, "✓ Verified in your browser. "),
        `The latest checkpoint (size ${r.cp.size}) is signed by the pinned key ${r.pin.fingerprint}` +
          (r.from.size === r.cp.size ? ", and is the one you trusted before." : `, and extends the checkpoint of size ${r.from.size} you trusted before (consistency proof verified).`),
      ),
      h("details", null, h("summary", null, "Signed checkpoint"), h("pre", null, r.cp.note)),
    );
  } catch (e) {
    replace(status, failure(e));
  }
  const p = getPin(org());
  if (p) {
    replace(
      history,
      h("h2", { id: "hist-title" }, "Verified in this browser"),
      table(
        ["Size", "Root", "Seen", "Check"],
        p.history.map((s) => [s.size, h("code", { class: "hash" }, s.rootHex), time(new Date(s.seenAt)), s.check === "pinned" ? "pinned (first use)" : "✓ consistent with the one before"]),
        "None yet.",
      ),
    );
  }
  check.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(earlier, h("p", { class: "muted" }, "Verifying…"));
    try {
      if (!/^[0-9]+$/.test(size.value)) throw new Error("Enter a tree size: a whole number.");
      const n = BigInt(size.value);
      const { pin: pinned } = await trusted(org());
      if (!cp) throw new Error("The latest checkpoint did not verify; nothing to check against.");
      if (n > cp.size) throw new Error(`The log has ${cp.size} entries; there is no checkpoint of size ${n} yet.`);
      const res = await api.ledger.getCheckpoint({ size: n });
      const old = await verifyCheckpoint(res.checkpoint?.note ?? "", pinned);
      if (old.size !== n) throw new VerifyError("checkpoint", `Asked for size ${n}, got a checkpoint of size ${old.size}.`);
      await proveConsistent(old, cp);
      replace(
        earlier,
        banner("ok", h("strong", null, "✓ Verified. "), `The checkpoint of size ${n} (root ${rootHex(old)}) is signed by the pinned key, and the latest checkpoint extends it.`),
        h("details", null, h("summary", null, "Signed checkpoint"), h("pre", null, old.note)),
      );
    } catch (err) {
      replace(earlier, failure(err));
    }
  });
}

// pinPage pins the org's log key and origin on first use, shows them
// with the key's fingerprint, and changes them only when asked.
export async function pinPage(main: HTMLElement): Promise<void> {
  const o = org();
  const p = getPin(o);
  if (p) {
    replace(
      main,
      h("h1", null, "Log key"),
      banner("ok", "This browser has pinned your org's log key. Every checkpoint and proof is verified against it."),
      h(
        "dl",
        null,
        h("dt", null, "Fingerprint"),
        h("dd", null, h("code", null, p.fingerprint)),
        h("dt", null, "Verifier key"),
        h("dd", null, h("code", null, p.vkey)),
        h("dt", null, "Origin"),
        h("dd", null, h("code", null, p.origin)),
        h("dt", null, "Pinned"),
        h("dd", null, time(new Date(p.pinnedAt))),
        h("dt", null, "Evidence signing key"),
        h("dd", null, p.signingFingerprint ? h("code", null, p.signingFingerprint) : "not pinned yet (pinned on the Evidence page)"),
      ),
      h("h2", null, "Change the pin"),
      h("p", null, "Only when the log's key really changed, and you checked the new one out of band: everything verified so far was verified against this one."),
      button("Forget this pin", () => {
        if (confirm(`Forget the pinned log key ${p.fingerprint} for ${o}? The next page will offer the server's key to pin.`)) {
          unpin(o);
          void pinPage(main);
        }
      }, { class: "danger" }),
    );
    return;
  }
  const off = await offered();
  const expected = off.origin.endsWith(`/orgs/${o}`);
  replace(
    main,
    h("h1", null, "Pin your org's log key"),
    h("p", null, "Compare this fingerprint with one you got out of band: ", h("code", null, "nuxctl org get"), " and ", h("code", null, "nuxctl ledger checkpoint"), " print it, as \"Key fingerprint\". Once pinned, this browser verifies every checkpoint and proof against it, and fails loudly if the server ever presents another key."),
    h(
      "dl",
      null,
      h("dt", null, "Fingerprint"),
      h("dd", null, h("code", { class: "fingerprint" }, off.fingerprint)),
      h("dt", null, "Verifier key"),
      h("dd", null, h("code", null, off.vkey)),
      h("dt", null, "Origin"),
      h("dd", null, h("code", null, off.origin)),
      h("dt", null, "Latest checkpoint"),
      h("dd", null, `size ${off.cp.size}`),
    ),
    expected ? null : banner("fail", `The origin ${off.origin} does not name your org ${o}: do not pin it.`),
    button("Pin this key", () => {
      pin(o, off);
      location.hash = "#/checkpoints";
    }),
  );
}
