// Signed notes (https://c2sp.org/signed-note) with Ed25519 signatures,
// verified as golang.org/x/mod/sumdb/note.Open verifies them: the Go
// verifier (ledger/verify) uses that package, and the two must accept
// and reject the same notes.

import { VerifyError } from "./errors";
import { base64Decode, own, sha256, subtle, utf8Decode, utf8Encode } from "./bytes";

/** The signature algorithm byte of an Ed25519 note key. */
const ALG_ED25519 = 0x01;

/** Signatures beyond this many make a note malformed (as in Go). */
const MAX_SIGNATURES = 100;

/** A parsed note verifier key "<name>+<hash>+<base64(0x01 || key)>". */
export interface NoteVerifierKey {
  /** The key name, e.g. "nuxari". */
  name: string;
  /** The key hash: the first 4 bytes of SHA-256(name || "\n" || 0x01 || key), big-endian. */
  keyHash: number;
  /** The 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** The key as given. */
  vkey: string;
}

/** One signature line of a note. */
export interface NoteSignature {
  name: string;
  keyHash: number;
  /** The signature bytes after the key hash, base64 as written. */
  base64: string;
}

/** A note with at least one valid signature by the pinned key. */
export interface OpenedNote {
  /** The signed text, ending in "\n". */
  text: string;
  /** The signatures by the pinned key (one). */
  verified: NoteSignature[];
  /** Signatures by keys other than the pinned one, never checked. */
  unverified: NoteSignature[];
}

// Go's unicode.IsSpace: the ASCII spaces, U+0085, U+00A0 and the other
// White_Space characters. (JavaScript's \s also has U+FEFF; Go's does not.)
const SPACE = /[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/;

/** A valid key or signer name: non-empty, no Unicode space, no "+". */
export function isValidName(name: string): boolean {
  return name !== "" && utf8Encode(name) !== null && !SPACE.test(name) && !name.includes("+");
}

/** The key hash of an encoded key (algorithm byte first) under name. */
export async function noteKeyHash(name: string, key: Uint8Array): Promise<number> {
  const sum = await sha256(utf8Encode(name + "\n")!, key);
  return ((sum[0]! << 24) | (sum[1]! << 16) | (sum[2]! << 8) | sum[3]!) >>> 0;
}

/**
 * Parses a note verifier key. Throws VerifyError "verifier-key" when it is
 * malformed, its hash does not match its name and key, or it is not an
 * Ed25519 key.
 */
export async function parseNoteVerifierKey(vkey: string): Promise<NoteVerifierKey> {
  const fail = (why: string) => new VerifyError("verifier-key", why);
  if (typeof vkey !== "string") throw fail("not a string");
  // name "+" hash "+" key: the key's base64 may itself hold "+".
  const i = vkey.indexOf("+");
  const name = i < 0 ? vkey : vkey.slice(0, i);
  const rest = i < 0 ? "" : vkey.slice(i + 1);
  const j = rest.indexOf("+");
  const hash16 = j < 0 ? rest : rest.slice(0, j);
  const key64 = j < 0 ? "" : rest.slice(j + 1);
  const key = base64Decode(key64);
  if (!/^[0-9A-Fa-f]{8}$/.test(hash16) || key === null || !isValidName(name) || key.length === 0) {
    throw fail(`malformed verifier key ${JSON.stringify(vkey)}: want <name>+<8 hex digits>+<base64 key>`);
  }
  const hash = parseInt(hash16, 16) >>> 0;
  if (hash !== (await noteKeyHash(name, key))) throw fail(`key hash ${hash16} does not match the name and key`);
  if (key[0] !== ALG_ED25519) throw fail(`unknown key algorithm ${key[0]}, want 1 (Ed25519)`);
  if (key.length !== 1 + 32) throw fail(`Ed25519 key is ${key.length - 1} bytes, want 32`);
  return { name, keyHash: hash, publicKey: key.slice(1), vkey };
}

async function ed25519Verify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (sig.length !== 64) return false;
  const s = subtle();
  try {
    const k = await s.importKey("raw", own(publicKey), { name: "Ed25519" }, false, ["verify"]);
    return await s.verify({ name: "Ed25519" }, k, own(sig), own(msg));
  } catch {
    // A key that is not a curve point verifies nothing.
    return false;
  }
}

const SIG_PREFIX = utf8Encode("\u2014 ")!; // "— "
const NL = 0x0a;

function lastBlankLine(msg: Uint8Array): number {
  for (let i = msg.length - 2; i >= 0; i--) {
    if (msg[i] === NL && msg[i + 1] === NL) return i;
  }
  return -1;
}

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/**
 * Verifies a signed note against one pinned key: the note's text, a blank
 * line, then signature lines "— <name> <base64(key hash || signature)>".
 * Signatures by other keys are ignored (they may be witnesses'); at least
 * one by the pinned key must verify, and every one by it that is checked
 * must verify. Throws VerifyError "checkpoint" for a malformed note and
 * "signature" when the pinned key's signature is missing or invalid.
 */
export async function openNote(note: string | Uint8Array, key: NoteVerifierKey): Promise<OpenedNote> {
  const malformed = (why: string) => new VerifyError("checkpoint", `malformed note: ${why}`);
  const msg = typeof note === "string" ? utf8Encode(note) : note;
  if (!(msg instanceof Uint8Array)) throw malformed("not valid Unicode");
  // Valid UTF-8, and no ASCII control characters but newline.
  const all = utf8Decode(msg);
  if (all === null) throw malformed("not valid UTF-8");
  if (/[\u0000-\u0009\u000B-\u001F]/.test(all)) throw malformed("control character");

  // The text, a blank line, then the signature lines, each ending in "\n".
  const split = lastBlankLine(msg);
  if (split < 0) throw malformed("no blank line before the signatures");
  const text = msg.subarray(0, split + 1);
  let sigs = msg.subarray(split + 2);
  if (sigs.length === 0 || sigs[sigs.length - 1] !== NL) throw malformed("no signatures, or no newline after the last");

  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenUnverified = new Set<string>();
  let seenPinned = false;
  let numSig = 0;
  while (sigs.length > 0) {
    const nl = sigs.indexOf(NL);
    let line = sigs.subarray(0, nl);
    sigs = sigs.subarray(nl + 1);
    if (!startsWith(line, SIG_PREFIX)) throw malformed("signature line does not start with an em dash and a space");
    line = line.subarray(SIG_PREFIX.length);
    const lineText = utf8Decode(line)!;
    const sp = lineText.indexOf(" ");
    const name = sp < 0 ? lineText : lineText.slice(0, sp);
    const b64 = sp < 0 ? "" : lineText.slice(sp + 1);
    const sig = base64Decode(b64);
    if (sig === null || !isValidName(name) || b64 === "" || sig.length < 5) throw malformed("bad signature line");
    const hash = ((sig[0]! << 24) | (sig[1]! << 16) | (sig[2]! << 8) | sig[3]!) >>> 0;
    if (++numSig > MAX_SIGNATURES) throw malformed(`more than ${MAX_SIGNATURES} signatures`);

    const s: NoteSignature = { name, keyHash: hash, base64: b64 };
    if (name !== key.name || hash !== key.keyHash) {
      // Another key's: ignored (once per identical line).
      if (!seenUnverified.has(lineText)) {
        seenUnverified.add(lineText);
        unverified.push(s);
      }
      continue;
    }
    // Only the first signature by the pinned key counts, as in Go.
    if (seenPinned) continue;
    seenPinned = true;
    if (!(await ed25519Verify(key.publicKey, text, sig.subarray(4)))) {
      throw new VerifyError("signature", `invalid signature for key ${key.name}+${hash.toString(16).padStart(8, "0")}`);
    }
    verified.push(s);
  }
  if (verified.length === 0) {
    throw new VerifyError("signature", `no signature by the pinned key ${key.name}+${key.keyHash.toString(16).padStart(8, "0")}`);
  }
  return { text: utf8Decode(text)!, verified, unverified };
}
