import { describe, expect, it } from "vitest";
import { EMPTY_ROOT_HEX, leafHash, nodeHash, verifyConsistency, verifyInclusion } from "./merkle";
import { hex, MAX_UINT64, sha256 } from "./bytes";
import { VerifyError } from "./errors";

// A reference tree built by the recursive definitions of RFC 9162 2.1.1
// (MTH), 2.1.3.1 (PATH) and 2.1.4.1 (PROOF), independent of the
// iterative verifiers under test.
class RefTree {
  private memo = new Map<string, Uint8Array>();
  constructor(readonly leaves: Uint8Array[]) {}

  static async of(n: number): Promise<RefTree> {
    return new RefTree(Array.from({ length: n }, (_, i) => new TextEncoder().encode(`leaf ${i}`)));
  }

  /** MTH(D[a:b]). */
  async mth(a: number, b: number): Promise<Uint8Array> {
    const key = `${a}:${b}`;
    let h = this.memo.get(key);
    if (h) return h;
    if (b - a === 0) h = await sha256();
    else if (b - a === 1) h = await leafHash(this.leaves[a]!);
    else {
      const k = split(b - a);
      h = await nodeHash(await this.mth(a, a + k), await this.mth(a + k, b));
    }
    this.memo.set(key, h);
    return h;
  }

  /** PATH(m, D[a:b]), with each hash's level and side. */
  async path(m: number, a: number, b: number): Promise<{ hash: Uint8Array; level: number; side: "left" | "right" }[]> {
    const n = b - a;
    if (n <= 1) return [];
    const k = split(n);
    const level = Math.log2(k);
    if (m < k) return [...(await this.path(m, a, a + k)), { hash: await this.mth(a + k, b), level, side: "right" }];
    return [...(await this.path(m - k, a + k, b)), { hash: await this.mth(a, a + k), level, side: "left" }];
  }

  /** PROOF(m, D[0:n]). */
  proof(m: number, n: number): Promise<Uint8Array[]> {
    return this.subproof(m, 0, n, true);
  }

  private async subproof(m: number, a: number, b: number, first: boolean): Promise<Uint8Array[]> {
    const n = b - a;
    if (m === n) return first ? [] : [await this.mth(a, b)];
    const k = split(n);
    if (m <= k) return [...(await this.subproof(m, a, a + k, first)), await this.mth(a + k, b)];
    return [...(await this.subproof(m - k, a + k, b, false)), await this.mth(a, a + k)];
  }
}

/** The largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

async function fails(kind: string, p: Promise<unknown>, why: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(e, why).toBeInstanceOf(VerifyError);
    expect((e as VerifyError).kind, why).toBe(kind);
    return;
  }
  expect.fail(`accepted: ${why}`);
}

function flipped(b: Uint8Array, i: number): Uint8Array {
  const c = b.slice();
  c[i % c.length]! ^= 1 << i % 8;
  return c;
}

const N = 33;

/** Which proof hashes to flip: all in small trees, one (varying) beyond. */
function tamperAt(len: number, seed: number): number[] {
  if (len === 0) return [];
  return len <= 4 ? [...Array(len).keys()] : [seed % len];
}

describe("merkle", () => {
  it("has the empty tree's root", async () => {
    expect(hex(await sha256())).toBe(EMPTY_ROOT_HEX);
  });

  it("verifies every inclusion proof up to size 33, and no tampered one", async () => {
    const t = await RefTree.of(N);
    for (let n = 1; n <= N; n++) {
      const root = await t.mth(0, n);
      for (let m = 0; m < n; m++) {
        const ref = await t.path(m, 0, n);
        const proof = ref.map((s) => s.hash);
        const lh = await t.mth(m, m + 1);
        const path = await verifyInclusion(BigInt(m), BigInt(n), lh, proof, root);
        expect(path.map(({ level, side }) => ({ level, side }))).toEqual(ref.map(({ level, side }) => ({ level, side })));
        expect(hex(path.at(-1)?.parent ?? lh)).toBe(hex(root));

        const why = `index ${m}, size ${n}`;
        for (const i of tamperAt(proof.length, m + n)) {
          await fails("inclusion", verifyInclusion(BigInt(m), BigInt(n), lh, proof.map((p, j) => (j === i ? flipped(p, i * 37) : p)), root), `${why}, hash ${i} flipped`);
        }
        await fails("inclusion", verifyInclusion(BigInt(m), BigInt(n), flipped(lh, m), proof, root), `${why}, leaf hash flipped`);
        await fails("inclusion", verifyInclusion(BigInt(m), BigInt(n), lh, proof, flipped(root, n)), `${why}, root flipped`);
        await fails("inclusion", verifyInclusion(BigInt(m), BigInt(n), lh, [...proof, root], root), `${why}, too long`);
        if (proof.length > 0) {
          await fails("inclusion", verifyInclusion(BigInt(m), BigInt(n), lh, proof.slice(0, -1), root), `${why}, too short`);
        }
        if (m + 1 < n) await fails("inclusion", verifyInclusion(BigInt(m + 1), BigInt(n), lh, proof, root), `${why}, next index`);
        // (The same proof and root with another size can verify: sizes 3
        // and 4 have the same path shape for index 0. The signed checkpoint
        // binds the size to the root.)
      }
      await fails("inclusion", verifyInclusion(BigInt(n), BigInt(n), await t.mth(0, 1), [], root), `index ${n} of size ${n}`);
    }
  });

  it("verifies every consistency proof up to size 33, and no tampered one", async () => {
    const t = await RefTree.of(N);
    const empty = await sha256();
    for (let n = 1; n <= N; n++) {
      const root2 = await t.mth(0, n);
      await verifyConsistency(0n, BigInt(n), [], empty, root2);
      for (let m = 1; m <= n; m++) {
        const root1 = await t.mth(0, m);
        const proof = await t.proof(m, n);
        await verifyConsistency(BigInt(m), BigInt(n), proof, root1, root2);

        const why = `sizes ${m} to ${n}`;
        for (const i of tamperAt(proof.length, m + n)) {
          await fails("consistency", verifyConsistency(BigInt(m), BigInt(n), proof.map((p, j) => (j === i ? flipped(p, i) : p)), root1, root2), `${why}, hash ${i} flipped`);
        }
        await fails("consistency", verifyConsistency(BigInt(m), BigInt(n), proof, flipped(root1, 3), root2), `${why}, root1 flipped`);
        await fails("consistency", verifyConsistency(BigInt(m), BigInt(n), proof, root1, flipped(root2, 3)), `${why}, root2 flipped`);
        await fails("consistency", verifyConsistency(BigInt(m), BigInt(n), [...proof, root2], root1, root2), `${why}, too long`);
        if (proof.length > 0) {
          await fails("consistency", verifyConsistency(BigInt(m), BigInt(n), proof.slice(0, -1), root1, root2), `${why}, too short`);
          await fails("consistency", verifyConsistency(BigInt(n), BigInt(m), proof, root2, root1), `${why}, swapped`);
        }
      }
    }
  });

  it("rejects sizes and indexes outside uint64", async () => {
    const h = await sha256();
    await fails("inclusion", verifyInclusion(-1n, 5n, h, [], h), "negative index");
    await fails("inclusion", verifyInclusion(0n, MAX_UINT64 + 1n, h, [], h), "size 2^64");
    await fails("consistency", verifyConsistency(-1n, 5n, [], h, h), "negative size1");
    await fails("consistency", verifyConsistency(MAX_UINT64, MAX_UINT64 + 1n, [], h, h), "size2 2^64");
    await fails("consistency", verifyConsistency(MAX_UINT64 + 1n, MAX_UINT64 + 1n, [], h, h), "equal sizes 2^64");
  });
});
