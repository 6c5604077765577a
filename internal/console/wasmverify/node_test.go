package wasmverify_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/internal/console/wasmverify"
)

// nodeScript loads verify.wasm with Go's wasm_exec.js as a page does and
// calls the verifier on each package: argv is wasm_exec.js, verify.wasm,
// the pins (JSON) and the packages.
const nodeScript = `
const fs = require("node:fs");
const [execJS, wasm, pinsFile, ...pkgs] = process.argv.slice(1); // node -e: no script path
require(execJS);
(async () => {
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasm), go.importObject);
  go.run(instance);
  if (globalThis.nuxariVerifierReady !== true) throw new Error("nuxariVerifierReady is not set");
  const pins = JSON.parse(fs.readFileSync(pinsFile, "utf8"));
  const out = pkgs.map((p) => globalThis.nuxariVerifyPackage(new Uint8Array(fs.readFileSync(p)), pins));
  out.push(globalThis.nuxariVerifyPackage("not bytes", pins));
  out.push(globalThis.nuxariVerifyPackage(new Uint8Array(fs.readFileSync(pkgs[0])), { logKey: 1 }));
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`

// TestWasmInNode builds cmd/nuxari-verify-wasm as the Makefile does and
// runs it in Node.js, as the console runs it in the browser: the
// function it defines answers exactly what Verify answers, for a good
// package and a tampered one, and refuses bad arguments.
func TestWasmInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not found")
		}
		t.Skip("node not found: the WebAssembly build is not run here")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found")
	}
	dir := t.TempDir()
	wasm := filepath.Join(dir, "verify.wasm")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s", "-o", wasm, "github.com/nuxari/nuxari/cmd/nuxari-verify-wasm")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build: %v\n%s", err, out)
	}
	goroot, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execJS := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")

	fx := newFixture(t, 50, func(i uint64) bool { return i%5 != 0 }, archive.Scope{Types: []string{"org.member.added", "auth.login.succeeded"}})
	tampered := bytes.Clone(fx.pkg)
	i := bytes.Index(tampered, []byte(`"subject":"s7"`))
	if i < 0 {
		t.Fatal("event 7 not found")
	}
	tampered[i+len(`"subject":"s`)] = '9'
	pkgs := [][]byte{fx.pkg, tampered}
	args := []string{"-e", nodeScript, execJS, wasm, filepath.Join(dir, "pins.json")}
	pins, _ := json.Marshal(fx.pins)
	if err := os.WriteFile(args[4], pins, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkgs {
		name := filepath.Join(dir, "pkg"+string(rune('0'+i))+".zip")
		if err := os.WriteFile(name, p, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command(node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var got []json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(pkgs)+2 {
		t.Fatalf("node's output %s: %v", out, err)
	}
	for i, p := range pkgs {
		want, _ := json.Marshal(wasmverify.Verify(p, fx.pins))
		var g, w any
		_ = json.Unmarshal(got[i], &g)
		_ = json.Unmarshal(want, &w)
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("package %d: in WebAssembly %s\nin Go %s", i, gj, wj)
		}
	}
	if !bytes.HasPrefix(got[0], []byte(`{"ok":true,`)) || !bytes.Contains(got[1], []byte(`"check":"files"`)) {
		t.Errorf("good and tampered: %s, %s", got[0], got[1])
	}
	if !bytes.Contains(got[2], []byte(`"ok":false`)) || !bytes.Contains(got[2], []byte("usage")) {
		t.Errorf("bytes that are not a Uint8Array: %s", got[2])
	}
	if !bytes.Contains(got[3], []byte(`"check":"pins"`)) {
		t.Errorf("pins that are not strings: %s", got[3])
	}
}
