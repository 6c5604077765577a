// Package console serves the web console: the TypeScript app of web/,
// built by `make web` into dist/app and embedded in the binary, as
// static files at the server's root URL.
//
// Every answer carries a strict Content-Security-Policy (CSP) and the
// headers that keep the console out of frames and other origins. The app
// routes by the URL's fragment, so only files that exist are served: no
// fallback page, no directory listing. index.html and the other files of
// fixed name are revalidated by a strong ETag (their SHA-256); Vite's
// content-hashed files under assets/ are cached for a year. Text and
// WebAssembly are gzipped once, on first demand, and served compressed
// to clients that accept gzip.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed all:dist
var dist embed.FS

// Embedded returns the console built into this binary: dist/app, with
// index.html at its root. Without `make web` before the build it holds
// nothing, and Handler serves a page that says so.
func Embedded() fs.FS {
	app, err := fs.Sub(dist, "dist/app")
	if err != nil { // only for an invalid path
		panic(err)
	}
	return app
}

// CSP is the Content-Security-Policy of every answer. Everything the
// console loads comes from its own origin: no inline script or style, no
// eval (WebAssembly compilation only, for the evidence verifier), no
// plugin, frame, form or base URL; calls go to its own origin only; and
// scripts may not build HTML from strings (Trusted Types with no policy
// allowed), so that a string from the API can never become markup.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Cache-Control of files that keep their name across builds (revalidated
// by ETag), of Vite's content-hashed ones, and of the page shown when no
// console is built in.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheNone       = "no-store"
)

// hashedDir holds Vite's content-hashed files: a file there never
// changes under its name.
const hashedDir = "assets/"

// gzipMin is the smallest file worth compressing.
const gzipMin = 1024

// contentTypes are the Content-Types served, by extension; any other
// file is application/octet-stream.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".wasm":        "application/wasm",
	".svg":         "image/svg+xml",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".woff2":       "font/woff2",
	".txt":         "text/plain; charset=utf-8",
}

// compressible are the extensions worth gzipping.
var compressible = map[string]bool{
	".html": true, ".js": true, ".mjs": true, ".css": true, ".wasm": true, ".svg": true,
	".json": true, ".webmanifest": true, ".ico": true, ".txt": true,
}

// Handler returns the handler of the console in fsys, whose root holds
// index.html (as Embedded's does). fsys MUST NOT change afterwards: its
// files are listed once, and each is read, hashed and compressed at most
// once. It answers GET and HEAD; "/" is index.html.
func Handler(fsys fs.FS) http.Handler {
	h := &handler{fsys: fsys, files: map[string]*file{}}
	// Only regular files, none hidden, are served.
	_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // what cannot be listed is not served
		}
		if name != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			h.files[name] = newFile(name)
		}
		return nil
	})
	return h
}

type handler struct {
	fsys fs.FS
	// files are the files served, by name; read-only once made.
	files map[string]*file
}

// file is one file served, read on first demand.
type file struct {
	name        string
	contentType string
	cache       string
	compress    bool

	load sync.Once
	body []byte
	etag string
	err  error

	zip    sync.Once
	gz     []byte // nil when gzip does not pay
	gzETag string
}

func newFile(name string) *file {
	ext := path.Ext(name)
	f := &file{name: name, contentType: contentTypes[ext], cache: cacheRevalidate, compress: compressible[ext]}
	if f.contentType == "" {
		f.contentType = "application/octet-stream"
	}
	if strings.HasPrefix(name, hashedDir) {
		f.cache = cacheImmutable
	}
	return f
}

// read loads the file and its ETag, once.
func (f *file) read(fsys fs.FS) error {
	f.load.Do(func() {
		f.body, f.err = fs.ReadFile(fsys, f.name)
		if f.err == nil {
			sum := sha256.Sum256(f.body)
			f.etag = `"` + hex.EncodeToString(sum[:]) + `"`
		}
	})
	return f.err
}

// gzipped returns the file gzipped and its ETag, compressing it once;
// nil when it is not worth it.
func (f *file) gzipped() ([]byte, string) {
	if !f.compress || len(f.body) < gzipMin {
		return nil, ""
	}
	f.zip.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := zw.Write(f.body); err != nil || zw.Close() != nil {
			return
		}
		if b.Len() < len(f.body) {
			f.gz = b.Bytes()
			// A strong ETag names one representation: the gzipped one
			// has its own.
			f.gzETag = strings.TrimSuffix(f.etag, `"`) + `-gzip"`
		}
	})
	return f.gz, f.gzETag
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	securityHeaders(hd)
	index := r.URL.Path == "/" || r.URL.Path == "/index.html"
	name := "index.html"
	if !index {
		name = strings.TrimPrefix(r.URL.Path, "/")
	}
	f := h.files[name]
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Only the console's own paths say what they allow: any other
		// path is not found, whatever the method, as an RPC path not
		// served is.
		if f == nil && !index {
			notFound(w)
			return
		}
		hd.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	if f == nil || f.read(h.fsys) != nil {
		if index {
			notBuilt(w, r)
			return
		}
		notFound(w)
		return
	}
	body, etag := f.body, f.etag
	hd.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if gz, gzTag := f.gzipped(); gz != nil {
			body, etag = gz, gzTag
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("Cache-Control", f.cache)
	hd.Set("ETag", etag)
	if matches(r.Header.Get("If-None-Match"), etag) {
		hd.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// securityHeaders sets the headers of every answer.
func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func notFound(w http.ResponseWriter) { plain(w, http.StatusNotFound, "404 page not found") }

func plain(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", cacheNone)
	body := msg + "\n"
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// notBuiltPage is the root URL of a binary built without the console.
const notBuiltPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Nuxari: no console in this build</title>
</head>
<body>
<h1>The Nuxari console is not built into this binary</h1>
<p>This nuxarid was built without its web console. Build it with
<code>make web</code>, then rebuild nuxarid (<code>make build</code>), or
run <code>make run</code>, which does both.</p>
<p>The API on this address works as usual.</p>
</body>
</html>
`

func notBuilt(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", cacheNone)
	hd.Set("Content-Length", strconv.Itoa(len(notBuiltPage)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(notBuiltPage))
	}
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip: by
// name, or by "*", with a non-zero weight.
func acceptsGzip(v string) bool {
	star := false
	for part := range strings.SplitSeq(v, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		ok := true
		for p := range strings.SplitSeq(params, ";") {
			if q, found := strings.CutPrefix(strings.ReplaceAll(p, " ", ""), "q="); found {
				f, err := strconv.ParseFloat(q, 64)
				ok = err == nil && f > 0
			}
		}
		if name == "gzip" {
			return ok // gzip named: its own weight decides
		}
		star = ok
	}
	return star
}

// matches reports whether an If-None-Match value matches etag: "*", or
// one of its entity tags by the weak comparison (RFC 9110, 13.1.2).
func matches(inm, etag string) bool {
	for t := range strings.SplitSeq(inm, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
