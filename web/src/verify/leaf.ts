// Ledger leaves as ledger/leaf defines them: RFC 8785 canonical JSON
//
//	{"event":<event>,"idempotency_key":"<key>","index":<n>,"org":"<org>","time":"<RFC 3339>"}
//
// with "idempotency_key" omitted when empty and "time" in UTC with exactly
// nine fractional digits. One leaf has one byte form: anything else is
// rejected, as leaf.Parse rejects it.

import { VerifyError } from "./errors";
import { utf8Decode } from "./bytes";

/** The longest org ID. */
export const MAX_ORG_LEN = 64;
/** The longest idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LEN = 128;
/** The largest leaf index: 2^53-1, exact as an RFC 8785 number. */
export const MAX_INDEX = 2n ** 53n - 1n;

/** A leaf's time: the Unix time in seconds and nanoseconds, and its text. */
export interface LeafTime {
  /** Seconds since 1970-01-01T00:00:00Z (negative before). */
  seconds: bigint;
  /** 0 to 999,999,999. */
  nanos: number;
  /** As the leaf writes it, e.g. "2026-01-02T03:04:05.000000006Z". */
  text: string;
}

/** A decoded leaf. */
export interface Leaf {
  org: string;
  index: bigint;
  /** The leaf's time, to the millisecond: for display. */
  time: Date;
  /** The leaf's time exactly as it holds it, e.g. "2026-01-02T03:04:05.000000006Z". */
  timeText: string;
  /** The leaf's time to the nanosecond, as a protobuf Timestamp's fields. */
  timestamp: { seconds: bigint; nanos: number };
  /** "" when the leaf has none. */
  idempotencyKey: string;
  /** The event object, parsed. */
  event: Record<string, unknown>;
  /** The event object exactly as the leaf holds it. */
  eventJSON: string;
  /** The event's "type", when it is a string. */
  type: string | undefined;
  /** The event's "actor", when it is a string. */
  actor: string | undefined;
}

const ORG = /^[A-Za-z0-9_-]+$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]*$/;
const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{9})Z$/;

export function isValidOrg(org: string): boolean {
  return typeof org === "string" && org.length <= MAX_ORG_LEN && ORG.test(org);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
function daysFromCivil(y: number, m: number, d: number): number {
  // H. Hinnant's days_from_civil.
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses a leaf time ("2006-01-02T15:04:05.000000000Z", as Go's time.Parse
 * with that layout accepts it: years 0000 to 9999, real calendar dates, no
 * leap seconds). Returns null when it is not one.
 */
export function parseLeafTime(text: string): LeafTime | null {
  const m = TIME.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const monthDays = [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > monthDays[mo - 1]! || h > 23 || mi > 59 || s > 59) return null;
  const seconds = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + s);
  return { seconds, nanos: Number(m[7]), text };
}

/**
 * Decodes leaf bytes. Throws VerifyError "leaf-mismatch" unless they are
 * exactly the canonical encoding of a leaf.
 */
export function decodeLeaf(leaf: Uint8Array): Leaf {
  const fail = (why: string) => new VerifyError("leaf-mismatch", `malformed leaf: ${why}`);
  const text = leaf instanceof Uint8Array ? utf8Decode(leaf) : null;
  if (text === null) throw fail("not UTF-8");
  let w: unknown;
  try {
    w = JSON.parse(text);
  } catch {
    throw fail("not JSON");
  }
  if (typeof w !== "object" || w === null || Array.isArray(w)) throw fail("not a JSON object");
  const o = w as Record<string, unknown>;
  const { index, org, time } = o;
  const key = o["idempotency_key"] ?? "";
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) throw fail("missing or out-of-range index");
  if (typeof org !== "string" || !isValidOrg(org)) throw fail("invalid org ID");
  if (typeof key !== "string" || key.length > MAX_IDEMPOTENCY_KEY_LEN || !IDEMPOTENCY_KEY.test(key)) {
    throw fail("invalid idempotency key");
  }
  const t = typeof time === "string" ? parseLeafTime(time) : null;
  if (t === null) throw fail("invalid time");

  // The bytes must be exactly the canonical encoding of these members:
  // the event first, verbatim, then the rest in a fixed form.
  const head = '{"event":';
  const tail =
    (key !== "" ? `,"idempotency_key":"${key}"` : "") + `,"index":${index},"org":"${org}","time":"${t.text}"}`;
  if (!text.startsWith(head) || !text.endsWith(tail) || text.length < head.length + tail.length) {
    throw fail("not in canonical form");
  }
  const eventJSON = text.slice(head.length, text.length - tail.length);
  let event: unknown;
  try {
    event = JSON.parse(eventJSON);
  } catch {
    throw fail("not in canonical form");
  }
  if (!eventJSON.startsWith("{") || !eventJSON.endsWith("}") || typeof event !== "object" || event === null || Array.isArray(event)) {
    throw fail("event is not a JSON object");
  }
  const ev = event as Record<string, unknown>;
  return {
    org,
    index: BigInt(index),
    time: new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)),
    timeText: t.text,
    timestamp: { seconds: t.seconds, nanos: t.nanos },
    idempotencyKey: key,
    event: ev,
    eventJSON,
    type: typeof ev["type"] === "string" ? ev["type"] : undefined,
    actor: typeof ev["actor"] === "string" ? ev["actor"] : undefined,
  };
}

/** What the server says about an event, to be checked against its leaf. */
export interface EventClaim {
  /** The org whose log the leaf is in. */
  org: string;
  /** The leaf's index in that log. */
  index: bigint;
  /** The event type; not compared when undefined. */
  type?: string | undefined;
  /** The actor; not compared when undefined. */
  actor?: string | undefined;
  /** The time (a protobuf Timestamp's fields); not compared when undefined. */
  time?: { seconds: bigint; nanos: number } | undefined;
}

/**
 * Decodes leaf bytes and checks that they are the event claimed: the org
 * and index always, the type, actor and time when claimed. Throws
 * VerifyError "leaf-mismatch". The UI shows the returned leaf's fields,
 * never the claim's.
 */
export function checkLeafClaim(leaf: Uint8Array, claim: EventClaim): Leaf {
  const l = decodeLeaf(leaf);
  const fail = (why: string) => new VerifyError("leaf-mismatch", why);
  if (l.org !== claim.org) throw fail(`leaf names org ${JSON.stringify(l.org)}, want ${JSON.stringify(claim.org)}`);
  if (l.index !== claim.index) throw fail(`leaf names index ${l.index}, want ${claim.index}`);
  if (claim.type !== undefined && l.type !== claim.type) {
    throw fail(`leaf's event type is ${JSON.stringify(l.type)}, claimed ${JSON.stringify(claim.type)}`);
  }
  if (claim.actor !== undefined && l.actor !== claim.actor) {
    throw fail(`leaf's actor is ${JSON.stringify(l.actor)}, claimed ${JSON.stringify(claim.actor)}`);
  }
  if (claim.time !== undefined && (l.timestamp.seconds !== BigInt(claim.time.seconds) || l.timestamp.nanos !== claim.time.nanos)) {
    throw fail(`leaf's time is ${l.timeText}, claimed ${claim.time.seconds}s ${claim.time.nanos}ns`);
  }
  return l;
}
