// The browser verifier: checks what the server hands the console (signed
// checkpoints, inclusion and consistency proofs, leaves) against the log's
// key and origin that the user pinned, and never trusts the server. It
// mirrors the Go verifier (ledger/verify), and both are tested against the
// same vectors (ledger/verify/testdata/vectors.json).
//
// Every function is async and throws VerifyError on any failure.

import { VerifyError } from "./errors";
import { bytesEqual, hex, sha256, utf8Decode } from "./bytes";
import { parseNoteVerifierKey, openNote, type NoteVerifierKey } from "./note";
import { parseCheckpointBody } from "./checkpoint";
import * as merkle from "./merkle";
import { checkLeafClaim, type EventClaim, type Leaf } from "./leaf";

export { VerifyError, VERIFY_ERROR_KINDS, type VerifyErrorKind } from "./errors";
export type { NoteVerifierKey } from "./note";
export type { PathStep } from "./merkle";
export type { EventClaim, Leaf, LeafTime } from "./leaf";
export { decodeLeaf } from "./leaf";
export { leafHash } from "./merkle";

/** A verified checkpoint. */
export interface Checkpoint {
  origin: string;
  /** The tree size, a uint64. */
  size: bigint;
  /** The 32-byte root hash. */
  root: Uint8Array;
  /** The signed note, verbatim. */
  note: string;
}

/** What the user pinned: the log's note verifier key and its origin line. */
export interface Pin {
  vkey: string;
  origin: string;
}

/** The result of an inclusion proof. */
export interface Inclusion {
  /** The leaf hash that was proved: SHA-256(0x00 || leaf). */
  leafHash: Uint8Array;
  /** The path from the leaf to the root, for display. */
  path: merkle.PathStep[];
}

/**
 * Parses a note verifier key "<name>+<hash>+<base64(0x01 || Ed25519 key)>",
 * checking its key hash. Throws VerifyError "verifier-key".
 */
export function parseVerifierKey(vkey: string): Promise<NoteVerifierKey> {
  return parseNoteVerifierKey(vkey);
}

/**
 * The fingerprint of a verifier key's Ed25519 public key, for the user to
 * compare out of band: the SHA-256 of the 32 key bytes in hex, in groups
 * of four ("1a2b 3c4d …"). It is the digest the agent's
 * agent.Fingerprint writes as "sha256:<hex>".
 */
export async function keyFingerprint(vkey: string): Promise<string> {
  return fingerprint((await parseNoteVerifierKey(vkey)).publicKey);
}

/**
 * The fingerprint of key bytes: their SHA-256 in hex, in groups of four.
 * keyFingerprint is this of the Ed25519 public key; the console shows the
 * evidence signing key as this of its DER bytes.
 */
export async function fingerprint(key: Uint8Array): Promise<string> {
  return hex(await sha256(key)).replace(/(.{4})(?!$)/g, "$1 ");
}

/**
 * Verifies a checkpoint: a signed note that carries a valid signature by
 * the pinned key (others, such as witnesses', are ignored) and whose text
 * is exactly origin, size and root hash, with the pinned origin. Throws
 * VerifyError "verifier-key", "checkpoint", "signature" or "origin".
 */
export async function verifyCheckpoint(note: string | Uint8Array, pin: Pin): Promise<Checkpoint> {
  const key = await parseNoteVerifierKey(pin.vkey);
  if (typeof pin.origin !== "string" || pin.origin === "") throw new VerifyError("verifier-key", "empty origin");
  const n = await openNote(note, key);
  const body = parseCheckpointBody(n.text);
  if (body.extensions.length > 0) throw new VerifyError("checkpoint", "unexpected extension lines");
  if (body.origin !== pin.origin) {
    throw new VerifyError("origin", `got ${JSON.stringify(body.origin)}, want ${JSON.stringify(pin.origin)}`);
  }
  if (body.size === 0n && hex(body.root) !== merkle.EMPTY_ROOT_HEX) {
    throw new VerifyError("checkpoint", "empty tree with non-empty root");
  }
  const text = typeof note === "string" ? note : utf8Decode(note)!;
  return { origin: body.origin, size: body.size, root: body.root, note: text };
}

/**
 * Verifies that leaf is at index in the checkpoint's tree, given the
 * inclusion proof hashes. When claimedLeafHash is given (the hash the
 * server sent), the leaf must hash to it (else "leaf-hash"). Throws
 * VerifyError "leaf-hash" or "inclusion". It proves the bytes, not what
 * they say: see verifyEvent.
 */
export async function verifyInclusion(
  leaf: Uint8Array,
  index: bigint,
  hashes: Uint8Array[],
  cp: Checkpoint,
  claimedLeafHash?: Uint8Array,
): Promise<Inclusion> {
  if (!(leaf instanceof Uint8Array)) throw new VerifyError("leaf-hash", "no leaf bytes");
  const lh = await merkle.leafHash(leaf);
  if (claimedLeafHash !== undefined && !bytesEqual(lh, claimedLeafHash)) {
    throw new VerifyError("leaf-hash", `leaf hashes to ${hex(lh)}, claimed ${hex(claimedLeafHash)}`);
  }
  return verifyLeafHashInclusion(lh, index, hashes, cp);
}

/**
 * Verifies that leafHash is at index in the checkpoint's tree: for a leaf
 * whose bytes were purged, only its hash can be proved. Throws VerifyError
 * "inclusion".
 */
export async function verifyLeafHashInclusion(
  leafHash: Uint8Array,
  index: bigint,
  hashes: Uint8Array[],
  cp: Checkpoint,
): Promise<Inclusion> {
  const path = await merkle.verifyInclusion(index, cp.size, leafHash, hashes, cp.root);
  return { leafHash, path };
}

/**
 * Verifies that cp2's tree extends cp1's, given the consistency proof
 * hashes. Both must be checkpoints of one log. Throws VerifyError
 * "consistency".
 */
export async function verifyConsistency(cp1: Checkpoint, cp2: Checkpoint, hashes: Uint8Array[]): Promise<void> {
  if (cp1.origin !== cp2.origin) {
    throw new VerifyError("consistency", `checkpoints of different logs ${JSON.stringify(cp1.origin)} and ${JSON.stringify(cp2.origin)}`);
  }
  await merkle.verifyConsistency(cp1.size, cp2.size, hashes, cp1.root, cp2.root);
}

/**
 * Decodes leaf bytes and checks them against what the server says about
 * the event: org and index always; type, actor and time when the claim has
 * them. Throws VerifyError "leaf-mismatch". Show the returned leaf's
 * fields, not the claim's; prove the leaf with verifyInclusion.
 */
export async function verifyEvent(leaf: Uint8Array, claim: EventClaim): Promise<Leaf> {
  return checkLeafClaim(leaf, claim);
}
