package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestCORS: with an origin allowed, a browser's preflight for a Connect
// call that carries a bearer token is answered before any credentials are
// checked, and the call itself carries the headers a browser needs to
// read the answer; another origin gets no CORS headers; and with no
// origins configured (the default) nothing is allowed.
func TestCORS(t *testing.T) {
	const allowed, other = "https://console.example.com", "https://evil.example.net"
	proc := "/" + nuxariv1connect.OrgServiceName + "/GetOrg"
	preflight := func(t *testing.T, url, origin string) *http.Response {
		req, err := http.NewRequest(http.MethodOptions, url+proc, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		// As browsers send it: lower-case, sorted.
		req.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type")
		resp, err := servertest.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	ts := servertest.Start(t, func(c *server.Config) { c.CORSOrigins = []string{allowed} })
	resp := preflight(t, ts.URL, allowed)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("preflight from the allowed origin: %s", resp.Status)
	}
	h := resp.Header
	if h.Get("Access-Control-Allow-Origin") != allowed {
		t.Fatalf("Access-Control-Allow-Origin = %q", h.Get("Access-Control-Allow-Origin"))
	}
	for _, want := range []string{"authorization", "content-type", "connect-protocol-version"} {
		if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), want) {
			t.Errorf("allowed headers %q lack %s", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("allowed methods %q lack POST", h.Get("Access-Control-Allow-Methods"))
	}

	// The call itself, as a browser sends it: the answer (here an
	// authentication failure, as the token is bad) is readable by the
	// page, with the request ID exposed.
	req, err := http.NewRequest(http.MethodPost, ts.URL+proc, bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", allowed)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer not-a-token")
	call, err := servertest.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	call.Body.Close()
	if call.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a call with a bad token: %s", call.Status)
	}
	if call.Header.Get("Access-Control-Allow-Origin") != allowed || !strings.Contains(strings.ToLower(call.Header.Get("Access-Control-Expose-Headers")), "request-id") {
		t.Fatalf("call's CORS headers: %v", call.Header)
	}

	if h := preflight(t, ts.URL, other).Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Fatalf("another origin was allowed: %q", h)
	}
	off := servertest.Start(t)
	if h := preflight(t, off.URL, allowed).Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Fatalf("CORS answered with no origins configured: %q", h)
	}
}

// TestCORSOriginsChecked: an origin a browser would never send is refused
// at start rather than silently never matching.
func TestCORSOriginsChecked(t *testing.T) {
	for _, o := range []string{"console.example.com", "https://console.example.com/", "ftp://x", "https://", "https://a.example/path"} {
		if _, err := server.Open(server.Config{DataDir: t.TempDir(), CORSOrigins: []string{o}}); err == nil {
			t.Errorf("origin %q accepted", o)
		}
	}
}

// TestCORSNeverAllowsCredentials: a console session's cookie is never
// honoured cross-origin. Whatever origins are allowed, "*" included, no
// answer allows credentials, so a browser neither sends the cookie on a
// cross-origin call nor lets the page read the answer; and a preflight
// for the Nuxari-CSRF header is not granted, so a cross-origin page
// cannot send it either.
func TestCORSNeverAllowsCredentials(t *testing.T) {
	const origin = "https://console.example.com"
	proc := "/" + nuxariv1connect.AuthServiceName + "/WhoAmI"
	for _, origins := range [][]string{{origin}, {"*"}} {
		ts := servertest.Start(t, func(c *server.Config) { c.CORSOrigins = origins })
		do := func(r *http.Request) *http.Response {
			t.Helper()
			r.Header.Set("Origin", origin)
			resp, err := servertest.HTTPClient().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		for _, hdrs := range []string{"authorization,connect-protocol-version,content-type", "connect-protocol-version,content-type,nuxari-csrf"} {
			pre, err := http.NewRequest(http.MethodOptions, ts.URL+proc, nil)
			if err != nil {
				t.Fatal(err)
			}
			pre.Header.Set("Access-Control-Request-Method", "POST")
			pre.Header.Set("Access-Control-Request-Headers", hdrs)
			h := do(pre).Header
			if v := h.Values("Access-Control-Allow-Credentials"); len(v) != 0 {
				t.Errorf("%v: preflight for %s allows credentials: %q", origins, hdrs, v)
			}
			if strings.Contains(hdrs, "nuxari-csrf") && (h.Get("Access-Control-Allow-Origin") != "" || strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "nuxari-csrf")) {
				t.Errorf("%v: a cross-origin preflight for Nuxari-CSRF was granted: %v", origins, h)
			}
		}
		call, err := http.NewRequest(http.MethodPost, ts.URL+proc, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		call.Header.Set("Content-Type", "application/json")
		call.Header.Set("Cookie", "nuxari_session=nxs.x.y")
		if v := do(call).Header.Values("Access-Control-Allow-Credentials"); len(v) != 0 {
			t.Errorf("%v: a cross-origin call with a cookie allows credentials: %q", origins, v)
		}
	}
}
