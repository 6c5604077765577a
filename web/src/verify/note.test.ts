import { describe, expect, it } from "vitest";
import { parseNoteVerifierKey, openNote, isValidName } from "./note";
import { base64Decode, base64Encode, utf8Encode } from "./bytes";
import { VerifyError, type VerifyErrorKind } from "./errors";
import { newTestKey, signNote, vkeyOf } from "./testkeys";

async function kindOf(p: Promise<unknown>): Promise<VerifyErrorKind | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof VerifyError) return e.kind;
    throw e;
  }
}

const text = "example.com/log\n42\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n";

describe("verifier keys", () => {
  it("parses a key whose base64 holds '+'", async () => {
    const vkey = "other-log+6af8c31e+AZZB18AupYoobUi++orjEXTQXs5hADlr2qmWSEF1QF03";
    const k = await parseNoteVerifierKey(vkey);
    expect(k.name).toBe("other-log");
    expect(k.keyHash).toBe(0x6af8c31e);
    expect(k.publicKey.length).toBe(32);
    expect(base64Encode(k.publicKey)).toBe(base64Encode(base64Decode("AZZB18AupYoobUi++orjEXTQXs5hADlr2qmWSEF1QF03")!.slice(1)));
  });

  it("checks the key hash over name, newline, algorithm and key", async () => {
    const k = await newTestKey("log.example");
    expect((await parseNoteVerifierKey(k.vkey)).keyHash).toBe(k.keyHash);
    const [name, hash, key] = k.vkey.split("+") as [string, string, string];
    const other = ((parseInt(hash, 16) ^ 0x80000000) >>> 0).toString(16).padStart(8, "0");
    expect(await kindOf(parseNoteVerifierKey(`${name}+${other}+${key}`))).toBe("verifier-key");
  });

  it("rejects names with any Unicode space, as Go's unicode.IsSpace, but not U+FEFF", async () => {
    const key = base64Decode("AZZB18AupYoobUi++orjEXTQXs5hADlr2qmWSEF1QF03")!;
    for (const sp of ["\t", "\v", "\f", "\r", " ", "\u0085", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]) {
      const name = `a${sp}b`;
      expect(isValidName(name), JSON.stringify(name)).toBe(false);
      expect(await kindOf(parseNoteVerifierKey(await vkeyOf(name, key))), JSON.stringify(name)).toBe("verifier-key");
    }
    for (const name of ["a\ufeffb", "a\u200bb", "a\u180eb", "ünï", "a/b:c"]) {
      expect(isValidName(name), JSON.stringify(name)).toBe(true);
      expect(await kindOf(parseNoteVerifierKey(await vkeyOf(name, key))), JSON.stringify(name)).toBe("ok");
    }
    expect(isValidName("")).toBe(false);
    expect(isValidName("a+b")).toBe(false);
    expect(isValidName("a\ud800b")).toBe(false);
  });

  it("rejects malformed keys", async () => {
    const k = await newTestKey("log.example");
    for (const bad of [
      "",
      "+",
      "++",
      k.vkey.replace("+", "++"),
      k.vkey + "=",
      k.vkey.slice(0, -1),
      k.vkey.replace(/\+([0-9a-f]{8})\+/, "+-$1+"),
      k.vkey.replace(/\+([0-9a-f]{8})\+/, (_, h: string) => `+${h.slice(0, 7)}g+`),
    ]) {
      expect(await kindOf(parseNoteVerifierKey(bad)), JSON.stringify(bad)).toBe("verifier-key");
    }
  });
});

describe("notes", () => {
  it("verifies a note signed by the pinned key and ignores others", async () => {
    const k = await newTestKey("log.example");
    const w = await newTestKey("witness.example");
    const key = await parseNoteVerifierKey(k.vkey);
    const n = await openNote(await signNote(text, w, k, w), key);
    expect(n.text).toBe(text);
    expect(n.verified.map((s) => s.name)).toEqual(["log.example"]);
    // An identical unknown line is listed once.
    expect(n.unverified.map((s) => s.name)).toEqual(["witness.example"]);
  });

  it("signs the text with its final newline", async () => {
    const k = await newTestKey("log.example");
    const key = await parseNoteVerifierKey(k.vkey);
    expect(await kindOf(openNote(`${text}\n${await k.line(text)}`, key))).toBe("ok");
    expect(await kindOf(openNote(`${text}\n${await k.line(text.slice(0, -1))}`, key))).toBe("signature");
    expect(await kindOf(openNote(`${text}\n${await k.line(text + "\n")}`, key))).toBe("signature");
  });

  it("accepts bytes and strings alike", async () => {
    const k = await newTestKey("log.example");
    const key = await parseNoteVerifierKey(k.vkey);
    const n = await signNote(text, k);
    expect((await openNote(utf8Encode(n)!, key)).text).toBe(text);
    expect((await openNote(n, key)).text).toBe(text);
  });

  it("keeps a byte order mark and DEL as text, and rejects other control characters", async () => {
    const k = await newTestKey("log.example");
    const key = await parseNoteVerifierKey(k.vkey);
    for (const t of ["\ufeff" + text, "a\u007fb\n", "a\u0085b\n", "a\u2028b\n"]) {
      expect((await openNote(await signNote(t, k), key)).text).toBe(t);
    }
    for (const c of ["\u0000", "\u0001", "\t", "\r", "\u001b", "\u001f"]) {
      expect(await kindOf(openNote(await signNote(`a${c}b\n`, k), key)), JSON.stringify(c)).toBe("checkpoint");
    }
  });

  it("rejects malformed notes as 'checkpoint'", async () => {
    const k = await newTestKey("log.example");
    const key = await parseNoteVerifierKey(k.vkey);
    const good = await signNote(text, k);
    const line = await k.line(text);
    const sig = line.slice(line.lastIndexOf(" ") + 1, -1);
    for (const [why, n] of [
      ["lone surrogate", good.replace("example", "ex\ud800ample")],
      ["no blank line", text + line],
      ["no signature", text + "\n"],
      ["no final newline", good.slice(0, -1)],
      ["hyphen for em dash", good.replace("\u2014", "-")],
      ["no space after the em dash", good.replace("\u2014 ", "\u2014")],
      ["two spaces after the name", good.replace(`log.example ${sig}`, `log.example  ${sig}`)],
      ["unpadded signature", good.replace(sig, sig.replace(/=+$/, ""))],
      ["empty signature", `${text}\n\u2014 log.example \n`],
      ["four-byte signature", `${text}\n${line}\u2014 other AAAAAA==\n`],
      ["unknown signer with bad base64", `${text}\n${line}\u2014 other !!!!!!!!\n`],
      ["trailing text line", `${good}x`],
      ["101 signatures", `${text}\n${line}${"\u2014 other AAAAAAAA\n".repeat(100)}`],
    ] as const) {
      expect(await kindOf(openNote(n, key)), why).toBe("checkpoint");
    }
    // 100 signatures are fine.
    expect(await kindOf(openNote(`${text}\n${line}${"\u2014 other AAAAAAAA\n".repeat(99)}`, key))).toBe("ok");
  });

  it("fails with 'signature' when the pinned key's signature is missing or bad", async () => {
    const k = await newTestKey("log.example");
    const sameName = await newTestKey("log.example");
    const key = await parseNoteVerifierKey(k.vkey);
    const line = await k.line(text);
    const sig = base64Decode(line.slice(line.lastIndexOf(" ") + 1, -1))!;
    const mutate = (f: (b: Uint8Array) => void) => {
      const b = sig.slice();
      f(b);
      return `${text}\n\u2014 log.example ${base64Encode(b)}\n`;
    };
    for (const [why, n] of [
      ["same-name key only", await signNote(text, sameName)],
      ["flipped bit", mutate((b) => (b[10]! ^= 1))],
      ["short signature", `${text}\n\u2014 log.example ${base64Encode(sig.slice(0, 40))}\n`],
      ["long signature", `${text}\n\u2014 log.example ${base64Encode(new Uint8Array([...sig, 0]))}\n`],
      ["bad first, good second", mutate((b) => (b[10]! ^= 1)) + line],
      ["S not reduced", mutate((b) => (b[67]! |= 0xe0))],
    ] as const) {
      expect(await kindOf(openNote(n, key)), why).toBe("signature");
    }
    // Only the first signature by the pinned key is checked.
    const badLine = mutate((b) => (b[10]! ^= 1)).slice(text.length + 1);
    expect(await kindOf(openNote(`${text}\n${line}${badLine}`, key))).toBe("ok");
  });
});
