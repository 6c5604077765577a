//go:build js && wasm

// Command nuxari-verify-wasm is the evidence package verifier
// (evidence/archive, docs/evidence-package.md) compiled to WebAssembly
// for the web console, which checks a package in the browser against the
// keys it pinned, with no network access:
//
//	GOOS=js GOARCH=wasm go build -trimpath -ldflags=-s -o web/public/verify.wasm ./cmd/nuxari-verify-wasm
//
// Run with Go's wasm_exec.js, it defines one global function,
//
//	nuxariVerifyPackage(bytes: Uint8Array, pins: {logKey: string, origin: string, signingKey: string /* PEM */})
//	  → {ok: true, report: {...}} | {ok: false, error: string, check?: string, file?: string, line?: number, index?: number, reason?: string}
//
// whose answer is the JSON of internal/console/wasmverify's Result as a
// plain object, then sets globalThis.nuxariVerifierReady to true. It
// runs synchronously: call it from a worker to keep a page responsive.
package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/nuxari/nuxari/internal/console/wasmverify"
)

const usage = "usage: nuxariVerifyPackage(bytes: Uint8Array, pins: {logKey: string, origin: string, signingKey: string})"

func main() {
	js.Global().Set("nuxariVerifyPackage", js.FuncOf(verifyPackage))
	js.Global().Set("nuxariVerifierReady", true)
	select {}
}

// verifyPackage converts the arguments from JavaScript and the result
// back; wasmverify does the rest.
func verifyPackage(_ js.Value, args []js.Value) (res any) {
	defer func() {
		if r := recover(); r != nil {
			res = toJS(wasmverify.Result{Error: fmt.Sprint("verifier failed: ", r)})
		}
	}()
	if len(args) != 2 || !args[0].InstanceOf(js.Global().Get("Uint8Array")) || args[1].Type() != js.TypeObject {
		return toJS(wasmverify.Result{Error: usage})
	}
	pkg := make([]byte, args[0].Length())
	js.CopyBytesToGo(pkg, args[0])
	pins := wasmverify.Pins{
		LogKey:     stringField(args[1], "logKey"),
		Origin:     stringField(args[1], "origin"),
		SigningKey: stringField(args[1], "signingKey"),
	}
	return toJS(wasmverify.Verify(pkg, pins))
}

// stringField is o[name] if it is a string, else "" (which the verifier
// refuses as a pin).
func stringField(o js.Value, name string) string {
	v := o.Get(name)
	if v.Type() != js.TypeString {
		return ""
	}
	return v.String()
}

// toJS is r as a plain JavaScript object.
func toJS(r wasmverify.Result) js.Value {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(wasmverify.Result{Error: "verifier failed: " + err.Error()})
	}
	return js.Global().Get("JSON").Call("parse", string(b))
}
