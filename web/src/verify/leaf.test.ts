import { describe, expect, it } from "vitest";
import { checkLeafClaim, decodeLeaf, parseLeafTime } from "./leaf";
import { VerifyError } from "./errors";

const enc = (s: string) => new TextEncoder().encode(s);
const leaf = enc(
  '{"event":{"actor":"u-1","data":{"n":1},"type":"auth.login.succeeded"},"idempotency_key":"k-1","index":7,"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}',
);

function mismatch(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VerifyError);
    expect((e as VerifyError).kind).toBe("leaf-mismatch");
    return (e as VerifyError).message;
  }
  return expect.fail("accepted");
}

describe("leaf times", () => {
  it("converts to Unix time", () => {
    expect(parseLeafTime("1970-01-01T00:00:00.000000000Z")).toEqual({ seconds: 0n, nanos: 0, text: "1970-01-01T00:00:00.000000000Z" });
    expect(parseLeafTime("2026-01-02T03:04:05.000000006Z")?.seconds).toBe(BigInt(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000));
    expect(parseLeafTime("1969-12-31T23:59:59.999999999Z")).toMatchObject({ seconds: -1n, nanos: 999999999 });
    expect(parseLeafTime("0000-03-01T00:00:00.000000000Z")?.seconds).toBe(-62162035200n);
    expect(parseLeafTime("2000-02-29T00:00:00.000000000Z")).not.toBeNull();
  });
  it("rejects what Go's time.Parse rejects", () => {
    for (const t of ["2026-02-29T00:00:00.000000000Z", "2100-02-29T00:00:00.000000000Z", "2026-06-31T00:00:00.000000000Z", "2026-01-01T00:00:60.000000000Z", "2026-01-01T00:00:00Z", "2026-01-01 00:00:00.000000000Z"]) {
      expect(parseLeafTime(t), t).toBeNull();
    }
  });
});

describe("leaves", () => {
  it("decodes the fields", () => {
    const l = decodeLeaf(leaf);
    expect(l).toMatchObject({ org: "acme", index: 7n, idempotencyKey: "k-1", type: "auth.login.succeeded", actor: "u-1" });
    expect(l.eventJSON).toBe('{"actor":"u-1","data":{"n":1},"type":"auth.login.succeeded"}');
    expect(l.timestamp).toEqual({ seconds: 1767323045n, nanos: 6 });
    expect(l.timeText).toBe("2026-01-02T03:04:05.000000006Z");
    expect(l.time.toISOString()).toBe("2026-01-02T03:04:05.000Z");
  });

  it("checks what the server claims", () => {
    const claim = { org: "acme", index: 7n, type: "auth.login.succeeded", actor: "u-1", time: { seconds: 1767323045n, nanos: 6 } };
    expect(checkLeafClaim(leaf, claim).index).toBe(7n);
    expect(checkLeafClaim(leaf, { org: "acme", index: 7n }).type).toBe("auth.login.succeeded");
    expect(mismatch(() => checkLeafClaim(leaf, { ...claim, org: "acme2" }))).toMatch(/org/);
    expect(mismatch(() => checkLeafClaim(leaf, { ...claim, index: 8n }))).toMatch(/index/);
    expect(mismatch(() => checkLeafClaim(leaf, { ...claim, type: "auth.logout" }))).toMatch(/type/);
    expect(mismatch(() => checkLeafClaim(leaf, { ...claim, actor: "u-2" }))).toMatch(/actor/);
    expect(mismatch(() => checkLeafClaim(leaf, { ...claim, time: { seconds: 1767323045n, nanos: 7 } }))).toMatch(/time/);
    expect(mismatch(() => checkLeafClaim(leaf, { ...claim, time: { seconds: 1767323046n, nanos: 6 } }))).toMatch(/time/);
  });

  it("rejects a leaf whose event is not a single object", () => {
    for (const ev of ['{"a":1},"event":{"a":1}', "[1]", " {}", "{} ", '{"a":1}}{']) {
      mismatch(() => decodeLeaf(enc(`{"event":${ev},"index":7,"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}`)));
    }
  });
});
