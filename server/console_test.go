package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/internal/console"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

var consoleApp = fstest.MapFS{
	"index.html":       {Data: []byte("<!doctype html><html><title>Nuxari</title></html>")},
	"assets/app-X1.js": {Data: []byte("console.log('nuxari')")},
	"verify.wasm":      {Data: []byte("\x00asm\x01\x00\x00\x00")},
}

type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	hc := servertest.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

// TestConsoleServed: the console is at the root URL by default, with its
// CSP and caching; unbuilt, "/" says how to build it in; turned off,
// the root URL is 404 as on an API-only server.
func TestConsoleServed(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) { c.ConsoleFS = consoleApp })
	a := send(t, "GET", ts.URL+"/", "")
	if a.status != 200 || a.body != string(consoleApp["index.html"].Data) || a.header.Get("Content-Security-Policy") != console.CSP ||
		a.header.Get("Content-Type") != "text/html; charset=utf-8" || a.header.Get("ETag") == "" {
		t.Fatalf("GET /: %d %v %q", a.status, a.header, a.body)
	}
	if a.header.Get("Request-Id") == "" {
		t.Error("GET /: no Request-Id")
	}
	if a := send(t, "GET", ts.URL+"/assets/app-X1.js", ""); a.status != 200 || a.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("GET an asset: %d %v", a.status, a.header)
	}
	if a := send(t, "GET", ts.URL+"/verify.wasm", ""); a.status != 200 || a.header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("GET /verify.wasm: %d %v", a.status, a.header)
	}
	if a := send(t, "POST", ts.URL+"/", "x"); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /: %d %v", a.status, a.header)
	}
	if a := send(t, "GET", ts.URL+"/no/such/file", ""); a.status != 404 || a.header.Get("Content-Security-Policy") != console.CSP {
		t.Fatalf("GET a missing file: %d %v", a.status, a.header)
	}

	unbuilt := servertest.Start(t, func(c *server.Config) { c.ConsoleFS = fstest.MapFS{} })
	if a := send(t, "GET", unbuilt.URL+"/", ""); a.status != 200 || !strings.Contains(a.body, "make web") || a.header.Get("Content-Security-Policy") != console.CSP {
		t.Fatalf("GET / without a console built in: %d %q", a.status, a.body)
	}

	off := servertest.Start(t, func(c *server.Config) { c.ConsoleFS, c.DisableConsole = consoleApp, true })
	for _, p := range []string{"/", "/index.html", "/assets/app-X1.js", "/verify.wasm"} {
		if a := send(t, "GET", off.URL+p, ""); a.status != 404 || a.header.Get("Content-Security-Policy") != "" {
			t.Fatalf("console off: GET %s: %d %v", p, a.status, a.header)
		}
	}
}

// TestConsoleLeavesTheAPIAlone: with the console at the root URL, every
// route of the API answers exactly as on a server without it: RPCs in
// each protocol (unknown ones still Unimplemented), health, metrics and
// the tlog routes, and the paths that name nothing.
func TestConsoleLeavesTheAPIAlone(t *testing.T) {
	on := servertest.Start(t, func(c *server.Config) { c.ConsoleFS = consoleApp })
	off := servertest.Start(t, func(c *server.Config) { c.DisableConsole = true })
	ctx := context.Background()
	tokens := map[*servertest.Server]string{}
	for _, ts := range []*servertest.Server{on, off} {
		tok, _ := ts.Signup(t, "api", "o@example.com", ownerPW)
		tokens[ts] = tok
		for _, p := range servertest.Protocols {
			if _, err := ts.ClientsFor(tok, p).Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})); err != nil {
				t.Fatalf("%s: WhoAmI: %v", p, err)
			}
			// A service this server does not have.
			opts := []connect.ClientOption{}
			switch p {
			case servertest.GRPC:
				opts = append(opts, connect.WithGRPC())
			case servertest.GRPCWeb:
				opts = append(opts, connect.WithGRPCWeb())
			}
			c := connect.NewClient[nuxariv1.WhoAmIRequest, nuxariv1.WhoAmIResponse](servertest.HTTPClient(), ts.URL+"/nuxari.v9.NoService/WhoAmI", opts...)
			_, err := c.CallUnary(ctx, req(&nuxariv1.WhoAmIRequest{}))
			wantCode(t, err, connect.CodeUnimplemented)
		}
		waitCheckpoint(t, ts.Clients(tok), 1)
	}
	auth := func(ts *servertest.Server) []string { return []string{"Authorization", "Bearer " + tokens[ts]} }
	none := func(*servertest.Server) []string { return nil }
	whoami := "/" + nuxariv1connect.AuthServiceName + "/WhoAmI"
	json := []string{"Content-Type", "application/json"}
	for _, c := range []struct {
		method, path, body string
		hdr                func(*servertest.Server) []string
		extra              []string
	}{
		{"POST", whoami, "{}", auth, json},
		{"POST", whoami, "{}", none, json},
		{"GET", whoami, "", auth, nil},
		{"POST", "/" + nuxariv1connect.AuthServiceName + "/NoSuchMethod", "{}", auth, json},
		{"POST", "/nuxari.v9.NoService/Call", "{}", none, json},
		{"GET", "/nuxari.v9.NoService/Call", "", none, nil},
		{"GET", "/" + nuxariv1connect.AuthServiceName, "", none, nil},
		{"POST", "/grpc.health.v1.Health/Check", "{}", none, json},
		{"GET", "/metrics", "", none, nil},
		{"GET", "/orgs/api/tlog/checkpoint", "", auth, nil},
		{"GET", "/orgs/api/tlog/checkpoint", "", none, nil},
		{"GET", "/orgs/other/tlog/checkpoint", "", auth, nil},
		{"GET", "/orgs/api/tlog/tile/0/000", "", auth, nil},
		{"POST", "/orgs/api/tlog/checkpoint", "", auth, nil},
		{"GET", "/orgs/", "", none, nil},
		{"GET", "/orgs", "", none, nil},
		{"GET", "/favicon.ico", "", none, nil},
		{"PUT", "/anything", "x", none, nil},
	} {
		var got [2]answer
		for i, ts := range []*servertest.Server{on, off} {
			got[i] = send(t, c.method, ts.URL+c.path, c.body, append(c.hdr(ts), c.extra...)...)
		}
		if got[0].status != got[1].status || got[0].header.Get("Content-Type") != got[1].header.Get("Content-Type") {
			t.Errorf("%s %s: with the console %d %q, without %d %q", c.method, c.path,
				got[0].status, got[0].header.Get("Content-Type"), got[1].status, got[1].header.Get("Content-Type"))
		}
		if strings.HasPrefix(c.path, "/orgs/api/") || c.path == "/metrics" || strings.HasPrefix(c.path, "/grpc.") || c.path == whoami {
			if got[0].header.Get("Content-Security-Policy") != "" {
				t.Errorf("%s %s: an API answer carries the console's CSP", c.method, c.path)
			}
		}
	}
}
