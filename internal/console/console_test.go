package console_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/nuxari/nuxari/internal/console"
)

const wantCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

var (
	indexHTML = []byte(`<!doctype html><html><head><script type="module" src="./assets/index-Bx1.js"></script></head><body></body></html>`)
	// appJS is large and compressible.
	appJS = bytes.Repeat([]byte("export const x = 'the console';\n"), 200)
	// wasm stands for verify.wasm: compressible, un-hashed.
	wasm = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{1, 2, 3, 4}, 1024)...)
)

func app() fstest.MapFS {
	return fstest.MapFS{
		"index.html":          {Data: indexHTML},
		"assets/index-Bx1.js": {Data: appJS},
		"assets/index-C2.css": {Data: []byte("body{margin:0}")},
		"assets/logo-D3.svg":  {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
		"assets/icon-E4.png":  {Data: bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1024)},
		"verify.wasm":         {Data: wasm},
		"wasm_exec.js":        {Data: []byte("globalThis.Go = class {};")},
		"manifest.json":       {Data: []byte(`{"name":"Nuxari"}`)},
		"data.bin":            {Data: []byte{1, 2, 3}},
		".hidden":             {Data: []byte("secret")},
		".vite/manifest.json": {Data: []byte("{}")},
	}
}

func do(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func etag(b []byte) string {
	s := sha256.Sum256(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// TestSecurityHeaders: every answer, whatever it is, carries the CSP and
// the headers that keep the console out of frames, other origins and
// content sniffing.
func TestSecurityHeaders(t *testing.T) {
	if console.CSP != wantCSP {
		t.Fatalf("CSP = %q", console.CSP)
	}
	want := map[string]string{
		"Content-Security-Policy":      wantCSP,
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"X-Frame-Options":              "DENY",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	built, unbuilt := console.Handler(app()), console.Handler(fstest.MapFS{})
	for _, c := range []struct {
		h            http.Handler
		method, path string
		status       int
	}{
		{built, "GET", "/", 200},
		{built, "HEAD", "/", 200},
		{built, "GET", "/assets/index-Bx1.js", 200},
		{built, "GET", "/verify.wasm", 200},
		{built, "GET", "/missing", 404},
		{built, "POST", "/", 405},
		{unbuilt, "GET", "/", 200},
	} {
		res := do(t, c.h, c.method, c.path)
		if res.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.status)
		}
		for k, v := range want {
			if got := res.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s %s: %s = %q, want %q", c.method, c.path, k, got, v)
			}
		}
	}
}

// TestIndex: "/" and "/index.html" are index.html, revalidated by a
// strong ETag of its SHA-256; HEAD has the headers and no body.
func TestIndex(t *testing.T) {
	h := console.Handler(app())
	for _, p := range []string{"/", "/index.html"} {
		res := do(t, h, "GET", p)
		if b := body(t, res); res.StatusCode != 200 || !bytes.Equal(b, indexHTML) {
			t.Fatalf("GET %s: %d %q", p, res.StatusCode, b)
		}
		hd := res.Header
		if hd.Get("Content-Type") != "text/html; charset=utf-8" || hd.Get("Cache-Control") != "no-cache" || hd.Get("ETag") != etag(indexHTML) {
			t.Errorf("GET %s: Content-Type %q, Cache-Control %q, ETag %q", p, hd.Get("Content-Type"), hd.Get("Cache-Control"), hd.Get("ETag"))
		}
		if hd.Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s: Vary %q", p, hd.Get("Vary"))
		}
	}
	res := do(t, h, "HEAD", "/")
	if b := body(t, res); res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Length") != strconv.Itoa(len(indexHTML)) || res.Header.Get("ETag") != etag(indexHTML) {
		t.Fatalf("HEAD /: %d, body %q, headers %v", res.StatusCode, b, res.Header)
	}
}

// TestCaching: Vite's hashed assets are immutable for a year; files of
// fixed name (the verifier and its loader) are revalidated; a matching
// If-None-Match answers 304 without a body, another tag the file.
func TestCaching(t *testing.T) {
	h := console.Handler(app())
	for path, want := range map[string]string{
		"/assets/index-Bx1.js": "public, max-age=31536000, immutable",
		"/assets/index-C2.css": "public, max-age=31536000, immutable",
		"/verify.wasm":         "no-cache",
		"/wasm_exec.js":        "no-cache",
		"/":                    "no-cache",
	} {
		if got := do(t, h, "GET", path).Header.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
	}
	tag := etag(wasm)
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		res := do(t, h, "GET", "/verify.wasm", "If-None-Match", inm)
		if b := body(t, res); res.StatusCode != http.StatusNotModified || len(b) != 0 || res.Header.Get("ETag") != tag {
			t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q", inm, res.StatusCode, len(b), res.Header.Get("ETag"))
		}
		if res.Header.Get("Content-Security-Policy") != wantCSP || res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("If-None-Match %s: 304 without its headers: %v", inm, res.Header)
		}
	}
	res := do(t, h, "GET", "/verify.wasm", "If-None-Match", etag(indexHTML))
	if b := body(t, res); res.StatusCode != 200 || !bytes.Equal(b, wasm) {
		t.Errorf("If-None-Match of another file: %d", res.StatusCode)
	}
}

// TestContentTypes: each kind of file has its type; an unknown one is
// octet-stream, never sniffed.
func TestContentTypes(t *testing.T) {
	h := console.Handler(app())
	for path, want := range map[string]string{
		"/":                    "text/html; charset=utf-8",
		"/assets/index-Bx1.js": "text/javascript; charset=utf-8",
		"/wasm_exec.js":        "text/javascript; charset=utf-8",
		"/assets/index-C2.css": "text/css; charset=utf-8",
		"/verify.wasm":         "application/wasm",
		"/assets/logo-D3.svg":  "image/svg+xml",
		"/manifest.json":       "application/json",
		"/assets/icon-E4.png":  "image/png",
		"/data.bin":            "application/octet-stream",
	} {
		if got := do(t, h, "GET", path).Header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGzip: a compressible file over 1 KiB is gzipped for a client that
// accepts gzip, with its own strong ETag; small files, images and
// clients that refuse gzip get the file as is; every file varies by
// Accept-Encoding.
func TestGzip(t *testing.T) {
	h := console.Handler(app())
	for _, c := range []struct {
		path, ae string
		gz       bool
		want     []byte
	}{
		{"/assets/index-Bx1.js", "gzip, deflate, br", true, appJS},
		{"/verify.wasm", "gzip", true, wasm},
		{"/verify.wasm", "br;q=1.0, gzip;q=0.8", true, wasm},
		{"/verify.wasm", "*", true, wasm},
		{"/verify.wasm", "", false, wasm},
		{"/verify.wasm", "br", false, wasm},
		{"/verify.wasm", "gzip;q=0", false, wasm},
		{"/verify.wasm", "*;q=0.5, gzip;q=0", false, wasm},
		{"/", "gzip", false, indexHTML},             // under 1 KiB
		{"/assets/icon-E4.png", "gzip", false, nil}, // an image
		{"/assets/index-C2.css", "gzip", false, []byte("body{margin:0}")},
	} {
		res := do(t, h, "GET", c.path, "Accept-Encoding", c.ae)
		b := body(t, res)
		if res.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s (%q): Vary %q", c.path, c.ae, res.Header.Get("Vary"))
		}
		gz := res.Header.Get("Content-Encoding") == "gzip"
		if gz != c.gz {
			t.Errorf("%s (%q): gzipped %t, want %t", c.path, c.ae, gz, c.gz)
			continue
		}
		if gz {
			if len(b) >= len(c.want) {
				t.Errorf("%s: gzipped to %d bytes from %d", c.path, len(b), len(c.want))
			}
			if res.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
				t.Errorf("%s: Content-Length %s for %d bytes", c.path, res.Header.Get("Content-Length"), len(b))
			}
			b = gunzip(t, b)
			if tag := res.Header.Get("ETag"); tag == etag(c.want) || !strings.HasPrefix(tag, `"`) || strings.HasPrefix(tag, "W/") {
				t.Errorf("%s: the gzipped file has ETag %q: want a strong tag of its own", c.path, tag)
			}
			// Its tag revalidates it.
			if r := do(t, h, "GET", c.path, "Accept-Encoding", c.ae, "If-None-Match", res.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
				t.Errorf("%s: If-None-Match of the gzipped file: %d", c.path, r.StatusCode)
			}
		}
		if c.want != nil && !bytes.Equal(b, c.want) {
			t.Errorf("%s (%q): wrong content", c.path, c.ae)
		}
	}
}

// countingFS counts the files opened.
type countingFS struct {
	fs.FS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	return c.FS.Open(name)
}

// TestReadAndGzipOnce: many clients at once, gzip or not, get the same
// bytes, and each file is read (and so hashed and gzipped) once.
func TestReadAndGzipOnce(t *testing.T) {
	cfs := &countingFS{FS: app()}
	h := console.Handler(cfs)
	listed := cfs.opens.Load()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			ae := ""
			if i%2 == 0 {
				ae = "gzip"
			}
			res := do(t, h, "GET", "/verify.wasm", "Accept-Encoding", ae)
			b := body(t, res)
			if res.Header.Get("Content-Encoding") == "gzip" {
				b = gunzip(t, b)
			}
			if !bytes.Equal(b, wasm) {
				t.Error("wrong content")
			}
		})
	}
	wg.Wait()
	if n := cfs.opens.Load() - listed; n != 1 {
		t.Fatalf("verify.wasm was opened %d times for 32 requests", n)
	}
}

// TestNotFound: a path that names no file is 404: no fallback page, no
// directory listing, no hidden file, no way out of the app's directory.
func TestNotFound(t *testing.T) {
	h := console.Handler(app())
	for _, p := range []string{"/missing", "/assets", "/assets/", "/assets/missing.js", "/.hidden", "/.vite/manifest.json",
		"/../index.html", "/assets/../index.html", "//index.html", "/index.html/", "/some/route", "/orgs/acme"} {
		res := do(t, h, "GET", p)
		if b := body(t, res); res.StatusCode != http.StatusNotFound || bytes.Contains(b, []byte("<")) {
			t.Errorf("GET %s: %d %q, want 404", p, res.StatusCode, b)
		}
	}
}

// TestMethods: the console's paths answer GET and HEAD only, and say so;
// a path that is not the console's is 404 whatever the method (as an
// unknown RPC path is).
func TestMethods(t *testing.T) {
	h := console.Handler(app())
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		for _, p := range []string{"/", "/index.html", "/assets/index-Bx1.js"} {
			res := do(t, h, m, p)
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q; want 405, GET, HEAD", m, p, res.StatusCode, res.Header.Get("Allow"))
			}
		}
		if res := do(t, h, m, "/nuxari.v1.NoService/Call"); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s of a path not the console's: %d, want 404", m, res.StatusCode)
		}
	}
	// Unbuilt, "/" is still the console's.
	if res := do(t, console.Handler(fstest.MapFS{}), "POST", "/"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / unbuilt: %d", res.StatusCode)
	}
}

// TestNotBuilt: without index.html, "/" is a page that says how to build
// the console in, never cached; everything else is 404.
func TestNotBuilt(t *testing.T) {
	h := console.Handler(fstest.MapFS{})
	for _, p := range []string{"/", "/index.html"} {
		res := do(t, h, "GET", p)
		b := body(t, res)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s unbuilt: %d %v", p, res.StatusCode, res.Header)
		}
		for _, w := range []string{"not built into this binary", "make web", "make run"} {
			if !bytes.Contains(b, []byte(w)) {
				t.Errorf("GET %s unbuilt: the page does not say %q", p, w)
			}
		}
		if bytes.Contains(b, []byte("<script")) || bytes.Contains(b, []byte("style=")) {
			t.Errorf("the page has inline script or style, which its own CSP refuses")
		}
	}
	if res := do(t, h, "GET", "/assets/index.js"); res.StatusCode != 404 {
		t.Errorf("an asset unbuilt: %d", res.StatusCode)
	}
}

// TestEmbedded: the console built into this binary (or the page saying
// there is none) is served at "/".
func TestEmbedded(t *testing.T) {
	res := do(t, console.Handler(console.Embedded()), "GET", "/")
	if b := body(t, res); res.StatusCode != 200 || !bytes.Contains(b, []byte("<html")) {
		t.Fatalf("GET / of the embedded console: %d %q", res.StatusCode, b)
	}
}
