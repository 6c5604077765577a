// Checkpoint bodies (https://c2sp.org/tlog-checkpoint): the text of a
// signed note.

import { VerifyError } from "./errors";
import { base64Decode, base64Encode, MAX_UINT64 } from "./bytes";
import { HASH_SIZE } from "./merkle";

export interface CheckpointBody {
  /** The log's origin line. */
  origin: string;
  /** The tree size, a uint64. */
  size: bigint;
  /** The 32-byte root hash. */
  root: Uint8Array;
  /** Any lines after the root, each without its newline. */
  extensions: string[];
}

/**
 * Parses a checkpoint body: the origin line (not empty), the tree size in
 * decimal without leading zeros, the root hash in canonical standard
 * base64 (32 bytes), then optional extension lines; every line ends in
 * "\n". One checkpoint has one spelling, so any other form is rejected.
 * Throws VerifyError "checkpoint".
 */
export function parseCheckpointBody(text: string): CheckpointBody {
  const fail = (why: string) => new VerifyError("checkpoint", why);
  if (!text.endsWith("\n")) throw fail("text does not end in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw fail("fewer than three lines");
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin === "") throw fail("empty origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) {
    throw fail(`tree size ${JSON.stringify(sizeText)} is not a decimal number without leading zeros`);
  }
  const size = BigInt(sizeText);
  if (size > MAX_UINT64) throw fail(`tree size ${sizeText} does not fit in 64 bits`);
  const root = base64Decode(rootText);
  if (root === null || base64Encode(root) !== rootText) {
    throw fail(`root hash ${JSON.stringify(rootText)} is not canonical standard base64`);
  }
  if (root.length !== HASH_SIZE) throw fail(`root hash is ${root.length} bytes, want ${HASH_SIZE}`);
  return { origin, size, root, extensions: lines.slice(3) };
}
