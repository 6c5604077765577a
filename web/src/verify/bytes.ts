// Byte helpers: base64 exactly as Go's encoding/base64.StdEncoding decodes
// it, hex, UTF-8 and SHA-256 through WebCrypto.

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUE = new Map<string, number>([...B64].map((c, i) => [c, i]));

/**
 * Decodes standard, padded base64 as Go's base64.StdEncoding.DecodeString
 * does (which golang.org/x/mod/sumdb/note uses): CR and LF are ignored, the
 * padding is required, and nonzero trailing bits are tolerated. Returns
 * null on malformed input.
 */
export function base64Decode(s: string): Uint8Array | null {
  s = s.replace(/[\r\n]/g, "");
  if (s.length % 4 !== 0) return null;
  let pad = 0;
  if (s.endsWith("==")) pad = 2;
  else if (s.endsWith("=")) pad = 1;
  const body = s.slice(0, s.length - pad);
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const c of body) {
    const v = B64_VALUE.get(c);
    if (v === undefined) return null; // includes '=' inside the data
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
    acc &= 0xff; // keep only the undecoded bits (at most 6 are pending)
  }
  return out;
}

/** Canonical standard base64 with padding. */
export function base64Encode(b: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  if (i + 1 === b.length) {
    const n = b[i]! << 16;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + "==";
  } else if (i + 2 === b.length) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + "=";
  }
  return s;
}

export function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A copy backed by a plain ArrayBuffer, as WebCrypto's types want. */
export function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

/**
 * WebCrypto. Browsers offer it only in secure contexts (HTTPS, or
 * localhost): elsewhere nothing can be verified, and this says why.
 */
export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("WebCrypto (crypto.subtle) is not available: the console must be served over HTTPS or from localhost");
  return s;
}

export async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest("SHA-256", concat(...parts)));
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Decodes UTF-8 strictly (as Go's utf8.Valid judges it); null if invalid. */
export function utf8Decode(b: Uint8Array): string | null {
  try {
    return utf8Decoder.decode(b);
  } catch {
    return null;
  }
}

/** Encodes s as UTF-8; null if s holds a lone surrogate, which has none. */
export function utf8Encode(s: string): Uint8Array | null {
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) return null;
  return utf8Encoder.encode(s);
}

/** The largest uint64. */
export const MAX_UINT64 = (1n << 64n) - 1n;

export function isUint64(x: bigint): boolean {
  return typeof x === "bigint" && x >= 0n && x <= MAX_UINT64;
}
