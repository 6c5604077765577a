/// <reference types="vite/client" />
// The shared test vectors (ledger/verify/testdata/vectors.json), written
// and checked by the Go verifier's TestVectors: the browser verifier must
// reach the same outcome, and fail with the same kind, on every one.

import { describe, expect, it } from "vitest";
import raw from "../../../ledger/verify/testdata/vectors.json?raw";
import {
  keyFingerprint,
  verifyCheckpoint,
  verifyConsistency,
  verifyEvent,
  verifyInclusion,
  VerifyError,
  type Checkpoint,
  type VerifyErrorKind,
} from "./index";
import { base64Decode, hex } from "./bytes";

interface Outcome {
  name: string;
  ok: boolean;
  error?: VerifyErrorKind;
}
interface KeyVector {
  name: string;
  vkey: string;
  fingerprint: string;
}
interface CheckpointVector extends Outcome {
  vkey: string;
  origin: string;
  note: string;
  size?: string;
  root?: string;
}
interface InclusionVector extends Outcome {
  leaf: string;
  claimed_leaf_hash?: string;
  index: string;
  size: string;
  proof: string[];
  root: string;
  leaf_hash?: string;
  path?: { level: number; side: "left" | "right" }[];
}
interface ConsistencyVector extends Outcome {
  size1: string;
  size2: string;
  root1: string;
  root2: string;
  proof: string[];
}
interface DecodedLeaf {
  org: string;
  index: string;
  time: string;
  unix_seconds: string;
  nanos: number;
  idempotency_key: string;
  event: string;
  type?: string;
  actor?: string;
}
interface LeafVector extends Outcome {
  leaf: string;
  org: string;
  index: string;
  type?: string;
  actor?: string;
  time?: { seconds: string; nanos: number };
  decoded?: DecodedLeaf;
}
interface Vectors {
  keys: KeyVector[];
  checkpoints: CheckpointVector[];
  inclusion: InclusionVector[];
  consistency: ConsistencyVector[];
  leaves: LeafVector[];
}

const vectors = JSON.parse(raw) as Vectors;

function b64(s: string): Uint8Array {
  const b = base64Decode(s);
  if (b === null) throw new Error(`bad base64 in the vectors: ${s}`);
  return b;
}

/** Runs f and checks it succeeds or fails as the vector says. */
async function expectOutcome<T>(v: Outcome, f: () => Promise<T>): Promise<T | undefined> {
  let result: T;
  try {
    result = await f();
  } catch (e) {
    if (!(e instanceof VerifyError)) throw e;
    expect(v.ok, `rejected with ${e.kind}: ${e.message}`).toBe(false);
    expect(e.kind, e.message).toBe(v.error);
    return undefined;
  }
  expect(v.ok, `accepted; the vector says it fails with ${v.error}`).toBe(true);
  return result;
}

/** A checkpoint of the given size and root, as the vectors give them. */
function cp(size: string, root: string): Checkpoint {
  return { origin: "nuxari-test/orgs/acme", size: BigInt(size), root: b64(root), note: "" };
}

describe("vectors file", () => {
  it("has every section", () => {
    for (const s of ["keys", "checkpoints", "inclusion", "consistency", "leaves"] as const) {
      expect(vectors[s].length, s).toBeGreaterThan(0);
    }
    for (const s of ["checkpoints", "inclusion", "consistency", "leaves"] as const) {
      expect(vectors[s].some((v) => v.ok), s).toBe(true);
      expect(vectors[s].some((v) => !v.ok), s).toBe(true);
    }
  });
});

describe("keys", () => {
  it.each(vectors.keys.map((v) => [v.name, v] as const))("%s", async (_, v) => {
    expect(await keyFingerprint(v.vkey)).toBe(v.fingerprint);
  });
});

describe("checkpoints", () => {
  it.each(vectors.checkpoints.map((v) => [v.name, v] as const))("%s", async (_, v) => {
    const note = b64(v.note);
    const got = await expectOutcome(v, () => verifyCheckpoint(note, { vkey: v.vkey, origin: v.origin }));
    if (got) {
      expect(got.origin).toBe(v.origin);
      expect(got.size).toBe(BigInt(v.size!));
      expect(hex(got.root)).toBe(hex(b64(v.root!)));
      // The same note as a string verifies the same.
      const again = await verifyCheckpoint(new TextDecoder().decode(note), { vkey: v.vkey, origin: v.origin });
      expect(again.note).toBe(got.note);
    }
  });
});

describe("inclusion", () => {
  it.each(vectors.inclusion.map((v) => [v.name, v] as const))("%s", async (_, v) => {
    const claimed = v.claimed_leaf_hash === undefined ? undefined : b64(v.claimed_leaf_hash);
    const got = await expectOutcome(v, () =>
      verifyInclusion(b64(v.leaf), BigInt(v.index), v.proof.map(b64), cp(v.size, v.root), claimed),
    );
    if (got) {
      expect(hex(got.leafHash)).toBe(hex(b64(v.leaf_hash!)));
      expect(got.path.map(({ level, side }) => ({ level, side }))).toEqual(v.path ?? []);
      expect(got.path.map((s) => hex(s.hash))).toEqual(v.proof.map((p) => hex(b64(p))));
      expect(hex(got.path.at(-1)?.parent ?? got.leafHash)).toBe(hex(b64(v.root)));
    }
  });
});

describe("consistency", () => {
  it.each(vectors.consistency.map((v) => [v.name, v] as const))("%s", async (_, v) => {
    await expectOutcome(v, () => verifyConsistency(cp(v.size1, v.root1), cp(v.size2, v.root2), v.proof.map(b64)));
  });
});

describe("leaves", () => {
  it.each(vectors.leaves.map((v) => [v.name, v] as const))("%s", async (_, v) => {
    const claim = {
      org: v.org,
      index: BigInt(v.index),
      type: v.type,
      actor: v.actor,
      time: v.time && { seconds: BigInt(v.time.seconds), nanos: v.time.nanos },
    };
    const got = await expectOutcome(v, () => verifyEvent(b64(v.leaf), claim));
    if (got) {
      const d = v.decoded!;
      expect({
        org: got.org,
        index: got.index.toString(),
        time: got.timeText,
        unix_seconds: got.timestamp.seconds.toString(),
        nanos: got.timestamp.nanos,
        idempotency_key: got.idempotencyKey,
        event: got.eventJSON,
        type: got.type,
        actor: got.actor,
      }).toEqual({ ...d, type: d.type, actor: d.actor });
      expect(got.time.toISOString().slice(0, 23)).toBe(d.time.slice(0, 23));
    }
  });
});
