// RFC 6962 Merkle trees as RFC 9162 section 2.1 defines them: leaf and node
// hashes, and the verification of inclusion proofs (2.1.3.2) and
// consistency proofs (2.1.4.2).

import { VerifyError } from "./errors";
import { bytesEqual, hex, isUint64, sha256 } from "./bytes";

/** The size of every hash in the log (SHA-256). */
export const HASH_SIZE = 32;

/** The root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Promise<Uint8Array> {
  return sha256(LEAF_PREFIX, leaf);
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(NODE_PREFIX, left, right);
}

/** One step up an inclusion path, from the leaf to the root. */
export interface PathStep {
  /** The height of the sibling subtree: 0 is a leaf, 1 a pair of leaves. */
  level: number;
  /** Which side of the path the sibling (the proof hash) is on. */
  side: "left" | "right";
  /** The proof hash: the sibling. */
  hash: Uint8Array;
  /** The hash this step computes: the parent of the path's node and the sibling. */
  parent: Uint8Array;
}

function checkHashes(kind: "inclusion" | "consistency", proof: Uint8Array[], ...hs: Uint8Array[]): void {
  for (const h of hs) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new VerifyError(kind, `hash is ${h?.length} bytes, want ${HASH_SIZE}`);
    }
  }
  if (!Array.isArray(proof)) throw new VerifyError(kind, "proof is not a list of hashes");
  proof.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new VerifyError(kind, `proof node ${i} is ${h?.length} bytes, want ${HASH_SIZE}`);
    }
  });
}

/**
 * Verifies that leafHash is the leaf at index in the tree of the given
 * size and root (RFC 9162, 2.1.3.2), and returns the path it computed,
 * bottom up. Throws VerifyError "inclusion".
 */
export async function verifyInclusion(
  index: bigint,
  size: bigint,
  leafHash: Uint8Array,
  proof: Uint8Array[],
  root: Uint8Array,
): Promise<PathStep[]> {
  const fail = (why: string) => new VerifyError("inclusion", `index ${index}, size ${size}: ${why}`);
  checkHashes("inclusion", proof, leafHash, root);
  if (!isUint64(index) || !isUint64(size)) throw fail("index and size must be uint64s");
  if (index >= size) throw fail("index is beyond the tree");
  let fn = index;
  let sn = size - 1n;
  let r = leafHash;
  let level = 0;
  const path: PathStep[] = [];
  for (const p of proof) {
    if (sn === 0n) throw fail(`proof has more than ${path.length} hashes`);
    let side: "left" | "right";
    if ((fn & 1n) === 1n || fn === sn) {
      // The sibling is on the left. A node on the right edge with no
      // sibling (fn === sn, even) first moves up unchanged: RFC 9162 does
      // this shift after hashing, which gives the same hash; doing it
      // first gives the sibling's level.
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
        level++;
      }
      r = await nodeHash(p, r);
      side = "left";
    } else {
      r = await nodeHash(r, p);
      side = "right";
    }
    path.push({ level, side, hash: p, parent: r });
    fn >>= 1n;
    sn >>= 1n;
    level++;
  }
  if (sn !== 0n) throw fail(`proof has ${proof.length} hashes, too few`);
  if (!bytesEqual(r, root)) throw fail(`computed root ${hex(r)} is not the tree's root ${hex(root)}`);
  return path;
}

/**
 * Verifies that the tree of size2 and root2 extends the tree of size1 and
 * root1 (RFC 9162, 2.1.4.2, for 0 < size1 < size2). Equal sizes need an
 * empty proof and equal roots; size1 = 0 needs an empty proof and root1
 * the empty tree's root (every tree extends the empty tree, which has one
 * root), as in the Go verifier. Throws VerifyError "consistency".
 */
export async function verifyConsistency(
  size1: bigint,
  size2: bigint,
  proof: Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): Promise<void> {
  const fail = (why: string) => new VerifyError("consistency", `sizes ${size1} to ${size2}: ${why}`);
  checkHashes("consistency", proof, root1, root2);
  if (!isUint64(size1) || !isUint64(size2)) throw fail("sizes must be uint64s");
  if (size1 === 0n && hex(root1) !== EMPTY_ROOT_HEX) throw fail("tree of size 0 with a non-empty root");
  if (size1 > size2) throw fail("the second tree is smaller");
  if (size1 === size2) {
    if (proof.length !== 0) throw fail("equal sizes need an empty proof");
    if (!bytesEqual(root1, root2)) throw fail("equal sizes with different roots");
    return;
  }
  if (size1 === 0n) {
    if (proof.length !== 0) throw fail("a proof from the empty tree must be empty");
    return;
  }

  // 1. An empty path fails.
  if (proof.length === 0) throw fail("empty proof");
  // 2. If size1 is an exact power of 2, prepend root1 to the path.
  const path = (size1 & (size1 - 1n)) === 0n ? [root1, ...proof] : proof;
  // 3.-4.
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // 6.
  for (const c of path.slice(1)) {
    if (sn === 0n) throw fail("proof too long");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  // 7.
  if (sn !== 0n) throw fail("proof too short");
  if (!bytesEqual(fr, root1)) throw fail(`computed first root ${hex(fr)} is not ${hex(root1)}`);
  if (!bytesEqual(sr, root2)) throw fail(`computed second root ${hex(sr)} is not ${hex(root2)}`);
}
