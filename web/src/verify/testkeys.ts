// Test helpers: Ed25519 note keys made with WebCrypto. Not part of the
// verifier; only tests import this file.

import { base64Encode, concat, own, utf8Encode } from "./bytes";
import { noteKeyHash } from "./note";

export interface TestKey {
  name: string;
  vkey: string;
  keyHash: number;
  /** Signs msg (any bytes) and returns a note signature line. */
  line(msg: string | Uint8Array): Promise<string>;
}

export async function newTestKey(name: string): Promise<TestKey> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const enc = concat(new Uint8Array([1]), pub);
  const keyHash = await noteKeyHash(name, enc);
  const hash = new Uint8Array([keyHash >>> 24, (keyHash >>> 16) & 0xff, (keyHash >>> 8) & 0xff, keyHash & 0xff]);
  return {
    name,
    keyHash,
    vkey: `${name}+${keyHash.toString(16).padStart(8, "0")}+${base64Encode(enc)}`,
    async line(msg) {
      const m = typeof msg === "string" ? utf8Encode(msg)! : msg;
      const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, own(m)));
      return `\u2014 ${name} ${base64Encode(concat(hash, sig))}\n`;
    },
  };
}

/** A signed note: text, a blank line, and a signature line by each key. */
export async function signNote(text: string, ...keys: TestKey[]): Promise<string> {
  let sigs = "";
  for (const k of keys) sigs += await k.line(text);
  return `${text}\n${sigs}`;
}

/** A verifier key from its parts, with the right key hash. */
export async function vkeyOf(name: string, key: Uint8Array): Promise<string> {
  const h = await noteKeyHash(name, key);
  return `${name}+${h.toString(16).padStart(8, "0")}+${base64Encode(key)}`;
}
