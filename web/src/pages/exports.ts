import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { api, describe, procedure, services } from "../api";
import { banner, button, bytesSize, field, h, hex, link, localInput, replace, table, time } from "../dom";
import { ExportState, type Export } from "../gen/nuxari/v1/evidence_pb";
import { can, org } from "../session";
import { getPin, pinSigningKey } from "../trust";
import { fingerprint } from "../verify";
import { base64Decode, sha256 } from "../verify/bytes";
import { verifyPackage } from "../wasm";

// Packages up to this size are verified in the browser; larger ones are
// downloaded for `nuxctl verify`.
const verifyLimit = 256 * 1024 * 1024;

// pemFingerprint is the fingerprint of a PEM key's DER bytes.
async function pemFingerprint(pem: string): Promise<string> {
  const der = base64Decode(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
  if (!der) throw new Error("the server's signing key is not PEM");
  return fingerprint(der);
}

const stateName: Record<number, string> = {
  [ExportState.RUNNING]: "running",
  [ExportState.SUCCEEDED]: "succeeded",
  [ExportState.FAILED]: "failed",
};

// exportsPage starts evidence exports, shows their progress, and
// downloads a finished package and verifies it in the browser against
// the pinned log key and signing key.
export async function exportsPage(main: HTMLElement): Promise<void> {
  const o = org();
  const pins = h("section", { "aria-labelledby": "pins-title" });
  const list = h("section", { "aria-labelledby": "list-title", "aria-live": "polite" });
  const result = h("section", { "aria-live": "polite" });
  replace(main, h("h1", null, "Evidence packages"), pins, startForm(() => void refresh()), result, list);

  const p = getPin(o);
  if (!p) {
    replace(pins, banner("warn", "Pin your org's log key before verifying packages. ", link("#/pin", "Pin the log key")));
  } else if (!p.signingKey) {
    const { publicKeyPem } = await api.evidence.getSigningKey({});
    const fp = await pemFingerprint(publicKeyPem);
    replace(
      pins,
      h("h2", { id: "pins-title" }, "Pin the manifest signing key"),
      h("p", null, "Packages' manifests are signed with this key. Compare its fingerprint with the one you got out of band, then pin it."),
      h("p", null, "Fingerprint: ", h("code", { class: "fingerprint" }, fp)),
      h("details", null, h("summary", null, "Public key (PEM)"), h("pre", null, publicKeyPem)),
      button("Pin this signing key", () => {
        pinSigningKey(o, publicKeyPem, fp);
        void exportsPage(main);
      }),
    );
  } else {
    replace(pins, h("p", { class: "muted", id: "pins-title" }, `Packages are verified against the pinned log key ${p.fingerprint} and signing key ${p.signingFingerprint}.`));
  }

  let timer: number | undefined;
  const refresh = async () => {
    clearTimeout(timer);
    if (!main.isConnected) return;
    try {
      const res = await api.evidence.listExports({ pageSize: 100 });
      replace(
        list,
        h("h2", { id: "list-title" }, "Exports"),
        table(
          ["Started", "State", "Progress", "Events", "Size", "Requested by", ""],
          res.exports.map((x) => [
            time(x.createTime),
            x.state === ExportState.FAILED ? h("span", { class: "fail" }, `failed: ${x.error}`) : stateName[x.state] ?? "unknown",
            progress(x),
            String(x.eventCount),
            x.sizeBytes ? bytesSize(x.sizeBytes) : "",
            h("code", null, x.requestedBy),
            x.state === ExportState.SUCCEEDED && can(procedure(services.EvidenceService, "DownloadPackage"))
              ? button("Download and verify", () => download(x, result), { "data-export": x.exportId })
              : "",
          ]),
          "No exports yet.",
        ),
      );
      if (res.exports.some((x) => x.state === ExportState.RUNNING)) timer = window.setTimeout(() => void refresh(), 1000);
    } catch (e) {
      replace(list, banner("fail", describe(e)));
    }
  };
  await refresh();
}

function progress(x: Export): HTMLElement | string {
  if (x.state !== ExportState.RUNNING) return x.state === ExportState.SUCCEEDED ? "done" : "";
  const total = Number(x.entriesTotal) || 1;
  return h("progress", { max: total, value: Number(x.entriesScanned), "aria-label": `${x.entriesScanned} of ${x.entriesTotal} entries read` });
}

function startForm(started: () => void): HTMLElement {
  if (!can(procedure(services.EvidenceService, "ExportPackage"))) return h("span");
  const start = h("input", { type: "datetime-local", name: "start" });
  const end = h("input", { type: "datetime-local", name: "end" });
  const types = h("input", { name: "types", placeholder: "all types" });
  const subjects = h("input", { name: "subjects", placeholder: "all subjects" });
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", "aria-labelledby": "start-title" },
    h("h2", { id: "start-title" }, "New export"),
    field("From (your time)", start),
    field("Before (your time)", end),
    field("Types", types, "Comma-separated, exact"),
    field("Subjects", subjects, "User IDs or token:<id>, comma-separated"),
    h("button", { type: "submit" }, "Start export"),
    status,
  );
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const s = localInput(start), en = localInput(end);
      await api.evidence.exportPackage({
        scope: {
          startTime: s ? timestampFromDate(s) : undefined,
          endTime: en ? timestampFromDate(en) : undefined,
          types: list(types.value),
          subjects: list(subjects.value),
        },
      });
      replace(status, banner("ok", "Export started."));
      started();
    } catch (err) {
      replace(status, banner("fail", describe(err)));
    }
  });
  return form;
}

async function download(x: Export, out: HTMLElement): Promise<void> {
  const o = org();
  const got = h("span", null, "0 B");
  replace(out, h("h2", null, "Package ", h("code", null, x.exportId)), h("p", { role: "status" }, "Downloading… ", got, ` of ${bytesSize(x.sizeBytes)}`));
  try {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const m of api.evidence.downloadPackage({ exportId: x.exportId })) {
      chunks.push(m.chunk);
      n += m.chunk.length;
      got.textContent = bytesSize(n);
    }
    const b = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) {
      b.set(c, off);
      off += c.length;
    }
    const save = h("a", { href: URL.createObjectURL(new Blob([b as BlobPart], { type: "application/zip" })), download: `${o}-${x.exportId}.zip` }, "Save the package");
    const sum = hex(await sha256(b));
    if (sum !== x.sha256) {
      replace(out, banner("fail", h("strong", null, "✗ VERIFICATION FAILED. "), `The download's SHA-256 ${sum} is not the export's ${x.sha256}.`));
      return;
    }
    const p = getPin(o);
    if (!p?.signingKey) {
      replace(out, banner("warn", "Downloaded, not verified: pin the log key and the signing key first."), save);
      return;
    }
    if (n > verifyLimit) {
      replace(out, banner("info", `Downloaded (${bytesSize(n)}); too large to verify in the browser: run nuxctl verify on it.`), save);
      return;
    }
    replace(out, h("p", { role: "status" }, `Verifying ${bytesSize(n)} in your browser…`));
    const r = await verifyPackage(b, { logKey: p.vkey, origin: p.origin, signingKey: p.signingKey });
    if (!r.ok) {
      replace(
        out,
        h("h2", null, "Package ", h("code", null, x.exportId)),
        banner("fail", h("strong", null, "✗ VERIFICATION FAILED. "), r.error ?? "the package does not verify"),
        save,
      );
      return;
    }
    replace(
      out,
      h("h2", null, "Package ", h("code", null, x.exportId)),
      banner("ok", h("strong", null, "✓ Verified in your browser. "), `The package's ${x.eventCount} events are proved against a checkpoint signed by the pinned log key, and its manifest by the pinned signing key.`),
      h("details", null, h("summary", null, "Report"), h("pre", null, JSON.stringify(r.report, null, 2))),
      h("p", null, save, ` (${bytesSize(n)}, SHA-256 `, h("code", null, sum), ")"),
    );
  } catch (e) {
    replace(out, banner("fail", describe(e)));
  }
}
