// The evidence package verifier: Nuxari's own Go verifier
// (evidence/archive), compiled to WebAssembly and loaded on first use.

export interface PackagePins {
  logKey: string;
  origin: string;
  signingKey: string;
}

export interface PackageResult {
  ok: boolean;
  report?: Record<string, unknown>;
  error?: string;
  check?: string;
  file?: string;
  line?: number;
  index?: number;
  reason?: string;
}

interface GoRuntime {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}

declare global {
  // eslint-disable-next-line no-var
  var Go: { new (): GoRuntime };
  // eslint-disable-next-line no-var
  var nuxariVerifyPackage: ((b: Uint8Array, pins: PackagePins) => PackageResult) | undefined;
  // eslint-disable-next-line no-var
  var nuxariVerifierReady: boolean | undefined;
}

let loading: Promise<void> | undefined;

function load(): Promise<void> {
  loading ??= (async () => {
    await import("./wasm_exec.js");
    const go = new globalThis.Go();
    const res = await fetch("verify.wasm");
    if (!res.ok) throw new Error(`loading the package verifier: HTTP ${res.status}`);
    const { instance } = await WebAssembly.instantiateStreaming(res, go.importObject);
    void go.run(instance);
    for (let i = 0; !globalThis.nuxariVerifierReady; i++) {
      if (i > 200) throw new Error("the package verifier did not start");
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  loading.catch(() => (loading = undefined));
  return loading;
}

// verifyPackage checks an evidence package offline, in this browser,
// against the pinned keys.
export async function verifyPackage(b: Uint8Array, pins: PackagePins): Promise<PackageResult> {
  await load();
  // Let the page show that it is verifying before the work blocks it.
  await new Promise((r) => setTimeout(r, 0));
  return globalThis.nuxariVerifyPackage!(b, pins);
}
