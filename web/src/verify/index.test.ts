import { describe, expect, it, vi } from "vitest";
import {
  keyFingerprint,
  parseVerifierKey,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifyLeafHashInclusion,
  VerifyError,
  type Checkpoint,
} from "./index";
import { base64Encode, hex, sha256 } from "./bytes";
import { leafHash, nodeHash } from "./merkle";
import { newTestKey, signNote } from "./testkeys";

async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof VerifyError) return e.kind;
    throw e;
  }
}

describe("API", () => {
  it("fingerprints the public key as 16 groups of 4 hex digits", async () => {
    const k = await newTestKey("log.example");
    const pub = (await parseVerifierKey(k.vkey)).publicKey;
    const fp = await keyFingerprint(k.vkey);
    expect(fp).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
    expect(fp.replaceAll(" ", "")).toBe(hex(await sha256(pub)));
    expect(await kind(keyFingerprint("log.example+00000000+AAAA"))).toBe("verifier-key");
  });

  it("says why when WebCrypto is missing (not a secure context), rather than failing verification", async () => {
    const k = await newTestKey("log.example");
    const note = await signNote("log.example/orgs/a\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", k);
    vi.stubGlobal("crypto", {});
    try {
      await expect(verifyCheckpoint(note, { vkey: k.vkey, origin: "log.example/orgs/a" })).rejects.toThrow(/secure|HTTPS/);
      await expect(verifyCheckpoint(note, { vkey: k.vkey, origin: "log.example/orgs/a" })).rejects.not.toBeInstanceOf(VerifyError);
    } finally {
      vi.unstubAllGlobals();
    }
    expect((await verifyCheckpoint(note, { vkey: k.vkey, origin: "log.example/orgs/a" })).size).toBe(0n);
  });

  it("verifies a checkpoint, then proofs against it", async () => {
    const k = await newTestKey("nuxari");
    const origin = "nuxari/orgs/acme";
    const leaves = ["a", "b", "c"].map((s) => new TextEncoder().encode(s));
    const [h0, h1, h2] = await Promise.all(leaves.map(leafHash));
    const root2 = await nodeHash(h0!, h1!);
    const root3 = await nodeHash(root2, h2!);
    const cp2 = await verifyCheckpoint(await signNote(`${origin}\n2\n${base64Encode(root2)}\n`, k), { vkey: k.vkey, origin });
    const cp3 = await verifyCheckpoint(await signNote(`${origin}\n3\n${base64Encode(root3)}\n`, k), { vkey: k.vkey, origin });
    expect(cp3).toMatchObject({ origin, size: 3n });

    const incl = await verifyInclusion(leaves[2]!, 2n, [root2], cp3, h2);
    expect(hex(incl.leafHash)).toBe(hex(h2!));
    expect(incl.path).toEqual([{ level: 1, side: "left", hash: root2, parent: root3 }]);
    expect(await kind(verifyInclusion(leaves[1]!, 2n, [root2], cp3))).toBe("inclusion");
    expect(await kind(verifyInclusion(leaves[2]!, 2n, [root2], cp3, h1))).toBe("leaf-hash");
    expect((await verifyLeafHashInclusion(h0!, 0n, [h1!, h2!], cp3)).path.map((s) => s.side)).toEqual(["right", "right"]);

    await verifyConsistency(cp2, cp3, [h2!]);
    expect(await kind(verifyConsistency(cp3, cp2, [h2!]))).toBe("consistency");
    const elsewhere: Checkpoint = { ...cp3, origin: "nuxari/orgs/other" };
    expect(await kind(verifyConsistency(cp2, elsewhere, [h2!]))).toBe("consistency");

    expect(await kind(verifyCheckpoint(cp3.note, { vkey: k.vkey, origin: "" }))).toBe("verifier-key");
    expect(await kind(verifyCheckpoint(cp3.note, { vkey: k.vkey, origin: "nuxari/orgs/acme2" }))).toBe("origin");
  });
});
