// What the user pinned for their org's log, and the checkpoints verified
// since. Pins live in this browser's localStorage, per org: the log's
// note verifier key and origin, pinned on first use and changed only
// explicitly, the evidence signing key likewise, and the latest
// checkpoint that verified, from which every newer one must be proved
// consistent.

import { api } from "./api";
import { hex } from "./verify/bytes";
import { keyFingerprint, verifyCheckpoint, verifyConsistency, VerifyError, type Checkpoint } from "./verify";

export interface SeenCheckpoint {
  size: string;
  rootHex: string;
  seenAt: string;
  // How it was checked against the one before: "pinned" for the first,
  // "consistent" when proved, "same" when equal.
  check: "pinned" | "consistent" | "same";
}

export interface Pin {
  vkey: string;
  origin: string;
  fingerprint: string;
  pinnedAt: string;
  // The newest verified checkpoint (signed note, verbatim).
  trustedNote: string;
  history: SeenCheckpoint[];
  signingKey?: string;
  signingFingerprint?: string;
}

const key = (org: string) => `nuxari.pin.${org}`;
const historyLimit = 100;

export function getPin(org: string): Pin | undefined {
  const s = localStorage.getItem(key(org));
  if (!s) return undefined;
  try {
    return JSON.parse(s) as Pin;
  } catch {
    return undefined;
  }
}

function savePin(org: string, p: Pin): void {
  localStorage.setItem(key(org), JSON.stringify(p));
}

export function unpin(org: string): void {
  localStorage.removeItem(key(org));
}

export class NotPinned extends Error {
  constructor() {
    super("This browser has not pinned the org's log key yet.");
  }
}

export function rootHex(cp: Checkpoint): string {
  return hex(cp.root);
}

// offered returns what the server presents as the log's key, origin and
// latest checkpoint, verified against that same key: what a user is
// asked to pin.
export async function offered(): Promise<{ vkey: string; origin: string; fingerprint: string; cp: Checkpoint }> {
  const res = await api.ledger.getCheckpoint({ size: 0n });
  const note = res.checkpoint?.note ?? "";
  const origin = res.checkpoint?.origin ?? "";
  const cp = await verifyCheckpoint(note, { vkey: res.verifierKey, origin });
  return { vkey: res.verifierKey, origin, fingerprint: await keyFingerprint(res.verifierKey), cp };
}

// pin pins the offered key and origin for org, with the offered
// checkpoint as the first trusted one.
export function pin(org: string, o: { vkey: string; origin: string; fingerprint: string; cp: Checkpoint }): Pin {
  const now = new Date().toISOString();
  const p: Pin = {
    vkey: o.vkey,
    origin: o.origin,
    fingerprint: o.fingerprint,
    pinnedAt: now,
    trustedNote: o.cp.note,
    history: [{ size: o.cp.size.toString(), rootHex: rootHex(o.cp), seenAt: now, check: "pinned" }],
  };
  savePin(org, p);
  return p;
}

export function pinSigningKey(org: string, pem: string, fingerprint: string): void {
  const p = getPin(org);
  if (!p) throw new NotPinned();
  p.signingKey = pem;
  p.signingFingerprint = fingerprint;
  savePin(org, p);
}

// trusted returns the pinned org's newest verified checkpoint, verified
// again from its stored note.
export async function trusted(org: string): Promise<{ pin: Pin; cp: Checkpoint }> {
  const p = getPin(org);
  if (!p) throw new NotPinned();
  return { pin: p, cp: await verifyCheckpoint(p.trustedNote, p) };
}

// latest fetches the org's latest checkpoint, verifies its signature
// against the pinned key and origin, and proves it consistent with the
// newest checkpoint this browser verified before; then it becomes the
// trusted one. A log that shrank, forked or changed key fails loudly.
export async function latest(org: string): Promise<{ pin: Pin; cp: Checkpoint; from: Checkpoint }> {
  const { pin: p, cp: from } = await trusted(org);
  const res = await api.ledger.getCheckpoint({ size: 0n });
  if (res.verifierKey !== p.vkey) {
    throw new VerifyError(
      "verifier-key",
      `The server presents log key ${res.verifierKey}, not the pinned ${p.vkey}. Nothing it says can be trusted until you find out why.`,
    );
  }
  const cp = await verifyCheckpoint(res.checkpoint?.note ?? "", p);
  await proveConsistent(from, cp);
  if (cp.size !== from.size) {
    p.trustedNote = cp.note;
    p.history.unshift({ size: cp.size.toString(), rootHex: rootHex(cp), seenAt: new Date().toISOString(), check: "consistent" });
    p.history.length = Math.min(p.history.length, historyLimit);
    savePin(org, p);
  }
  return { pin: p, cp, from };
}

// proveConsistent checks that newer extends older: with a consistency
// proof from the server, or, for equal sizes, equal roots.
export async function proveConsistent(older: Checkpoint, newer: Checkpoint): Promise<void> {
  if (newer.size < older.size) {
    throw new VerifyError(
      "consistency",
      `The log went back from size ${older.size} to ${newer.size}: the server is not showing the log it showed before.`,
    );
  }
  if (older.size === 0n) return; // every tree extends the empty one
  if (newer.size === older.size) {
    if (rootHex(newer) !== rootHex(older)) {
      throw new VerifyError("consistency", `Two different trees of size ${newer.size}: the log forked.`);
    }
    return;
  }
  const proof = await api.ledger.getConsistencyProof({ size1: older.size, size2: newer.size });
  await verifyConsistency(older, newer, proof.hashes);
}
