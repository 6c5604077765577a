package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/client"
	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// consoleSession is a console login: its cookie, as the server set it,
// and its CSRF token.
type consoleSession struct {
	cookie    *http.Cookie
	setCookie string // the raw Set-Cookie header
	csrf      string
	principal *nuxariv1.Principal
}

// cookieLogin logs in with cookie_session, over auth, and checks what
// every console login answers: no token in the body, a CSRF token, and
// exactly one session cookie.
func cookieLogin(t *testing.T, auth nuxariv1connect.AuthServiceClient, org, email, pw string) consoleSession {
	t.Helper()
	res, err := auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: org, Email: email, Password: pw, CookieSession: true}))
	if err != nil {
		t.Fatalf("cookie login %s/%s: %v", org, email, err)
	}
	if res.Msg.SessionToken != "" {
		t.Fatal("a cookie login returned the session token in the body")
	}
	if res.Msg.CsrfToken == "" {
		t.Fatal("a cookie login returned no CSRF token")
	}
	sc := res.Header().Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("a cookie login set %d cookies: %q", len(sc), sc)
	}
	c, err := http.ParseSetCookie(sc[0])
	if err != nil || c.Name != api.SessionCookie || c.Value == "" {
		t.Fatalf("Set-Cookie %q: %v", sc[0], err)
	}
	return consoleSession{cookie: c, setCookie: sc[0], csrf: res.Msg.CsrfToken, principal: res.Msg.Principal}
}

// headers is a client interceptor that sets request headers, as a
// browser sends the cookie and the console's script the CSRF header.
type headers map[string]string

func (h headers) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
		for k, v := range h {
			r.Header().Set(k, v)
		}
		return next(ctx, r)
	}
}

func (h headers) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		for k, v := range h {
			conn.RequestHeader().Set(k, v)
		}
		return conn
	}
}

func (h headers) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// withCookie returns headers that send cookie value tok and, if csrf is
// not empty, the CSRF header.
func withCookie(tok, csrf string) headers {
	h := headers{"Cookie": api.SessionCookie + "=" + tok}
	if csrf != "" {
		h[api.CSRFHeader] = csrf
	}
	return h
}

// cookieClients returns clients of ts, in protocol p, that send h and no
// bearer token.
func cookieClients(ts *servertest.Server, h headers, p servertest.Protocol) servertest.Clients {
	opts := []connect.ClientOption{connect.WithInterceptors(h)}
	switch p {
	case servertest.GRPC:
		opts = append(opts, connect.WithGRPC())
	case servertest.GRPCWeb:
		opts = append(opts, connect.WithGRPCWeb())
	}
	return client.New(ts.URL, "", opts...)
}

func whoAmIPrincipal(c servertest.Clients) (*nuxariv1.Principal, error) {
	res, err := c.Auth.WhoAmI(context.Background(), req(&nuxariv1.WhoAmIRequest{}))
	if err != nil {
		return nil, err
	}
	return res.Msg.Principal, nil
}

// TestCookieSessionLogin: a login with cookie_session returns no token
// but a CSRF token derived from it, and sets the token as an HttpOnly,
// SameSite=Strict cookie for the whole origin that lasts as long as the
// session; not Secure over plain HTTP. A login without it is unchanged,
// and a failed login sets no cookie.
func TestCookieSessionLogin(t *testing.T) {
	ts := servertest.Start(t)
	ts.Signup(t, "ck", "o@example.com", ownerPW)
	auth := ts.Clients("").Auth
	s := cookieLogin(t, auth, "ck", "o@example.com", ownerPW)
	c := s.cookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.Secure {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/, no Domain, not Secure over plain HTTP", s.setCookie)
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(s.setCookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", s.setCookie, attr)
		}
	}
	// The default session lasts 12 hours.
	if c.MaxAge <= int((12*time.Hour-time.Minute)/time.Second) || c.MaxAge > int(12*time.Hour/time.Second) {
		t.Errorf("Max-Age %d, want the session's 12 hours", c.MaxAge)
	}
	if want := api.CSRFToken(secret.New(c.Value)); s.csrf != want {
		t.Errorf("CSRF token %q, want %q", s.csrf, want)
	}
	if strings.Contains(s.csrf, c.Value) || len(s.csrf) != 43 {
		t.Errorf("CSRF token %q is not a 43-character digest", s.csrf)
	}
	if p := s.principal; p.GetOrgId() != "ck" || p.GetEmail() != "o@example.com" {
		t.Errorf("principal %v", p)
	}

	// Without cookie_session: the token in the body, no cookie.
	res, err := auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "ck", Email: "o@example.com", Password: ownerPW}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.SessionToken == "" || res.Msg.CsrfToken != "" || len(res.Header().Values("Set-Cookie")) != 0 {
		t.Errorf("bearer login: token %t, CSRF %q, Set-Cookie %q", res.Msg.SessionToken != "", res.Msg.CsrfToken, res.Header().Values("Set-Cookie"))
	}

	// A failed login sets no cookie.
	_, err = auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "ck", Email: "o@example.com", Password: "wrong password!", CookieSession: true}))
	wantCode(t, err, connect.CodeUnauthenticated)
	var ce *connect.Error
	if errors.As(err, &ce) && len(ce.Meta().Values("Set-Cookie")) != 0 {
		t.Errorf("a failed login set a cookie: %q", ce.Meta().Values("Set-Cookie"))
	}
}

// TestCookieSessionCSRF: the cookie authenticates a call, in each
// protocol, only with its own session's CSRF header; never without it,
// with a wrong one or another session's. An Authorization header comes
// first; a token that is not a login session does not count in the
// cookie; and a cookie tossed in beside the session's (by a sibling
// domain) neither helps nor hinders.
func TestCookieSessionCSRF(t *testing.T) {
	ts := servertest.Start(t)
	ownerTok, _ := ts.Signup(t, "csrf", "o@example.com", ownerPW)
	auth := ts.Clients("").Auth
	s1 := cookieLogin(t, auth, "csrf", "o@example.com", ownerPW)
	s2 := cookieLogin(t, auth, "csrf", "o@example.com", ownerPW)
	tok1 := s1.cookie.Value

	for _, p := range servertest.Protocols {
		pr, err := whoAmIPrincipal(cookieClients(ts, withCookie(tok1, s1.csrf), p))
		if err != nil {
			t.Fatalf("%s: WhoAmI with the cookie and its CSRF header: %v", p, err)
		}
		if pr.OrgId != "csrf" || pr.Email != "o@example.com" {
			t.Fatalf("%s: WhoAmI: %v", p, pr)
		}
	}
	apiTok, err := ts.Clients(ownerTok).Auth.CreateAPIToken(context.Background(), req(&nuxariv1.CreateAPITokenRequest{Name: "bot", Role: nuxariv1.Role_ROLE_READONLY, Ttl: durationpb.New(time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		h    headers
		msg  string
	}{
		{"no CSRF header", withCookie(tok1, ""), "Nuxari-CSRF"},
		{"a wrong CSRF header", withCookie(tok1, "not-the-token"), "Nuxari-CSRF"},
		{"another session's CSRF header", withCookie(tok1, s2.csrf), "Nuxari-CSRF"},
		{"the token itself as CSRF header", withCookie(tok1, tok1), "Nuxari-CSRF"},
		{"the CSRF header without the cookie", headers{api.CSRFHeader: s1.csrf}, "missing credentials"},
		{"a bad bearer token beside the cookie", headers{"Cookie": api.SessionCookie + "=" + tok1, api.CSRFHeader: s1.csrf, "Authorization": "Bearer nxs.csrf.bad"}, "token"},
		{"an API token in the cookie", withCookie(apiTok.Msg.Secret, api.CSRFToken(secret.New(apiTok.Msg.Secret))), "invalid credentials"},
		{"a made-up session in the cookie", withCookie("nxs.csrf.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", api.CSRFToken(secret.New("nxs.csrf.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))), "token"},
	}
	for _, r := range refused {
		for _, p := range servertest.Protocols {
			_, err := whoAmIPrincipal(cookieClients(ts, r.h, p))
			wantCodeMsg(t, string(p)+": "+r.name, err, connect.CodeUnauthenticated, r.msg)
		}
	}
	// The API token and the other session still work as bearer tokens:
	// the refusals are the cookie's.
	if _, err := whoAmIPrincipal(ts.Clients(apiTok.Msg.Secret)); err != nil {
		t.Fatalf("the API token as a bearer token: %v", err)
	}
	// A tossed cookie first, the session's second: the CSRF header picks
	// the session's.
	tossed := headers{"Cookie": api.SessionCookie + "=" + s2.cookie.Value + "; " + api.SessionCookie + "=" + tok1, api.CSRFHeader: s1.csrf}
	if _, err := whoAmIPrincipal(cookieClients(ts, tossed, servertest.Connect)); err != nil {
		t.Fatalf("two session cookies, the CSRF header of the second: %v", err)
	}
	// A bearer token wins over a cookie.
	both := headers{"Cookie": api.SessionCookie + "=" + tok1, "Authorization": "Bearer " + apiTok.Msg.Secret}
	if pr, err := whoAmIPrincipal(cookieClients(ts, both, servertest.Connect)); err != nil || pr.Role != nuxariv1.Role_ROLE_READONLY {
		t.Fatalf("bearer and cookie: %v, %v; want the bearer token's readonly principal", pr, err)
	}
}

// TestCookieSessionIsolation: a cookie session is exactly its
// principal: scoped to its org (another org's data is not found, its
// tlog routes answer 404), and held to its role (an auditor's cookie is
// denied an owner's call).
func TestCookieSessionIsolation(t *testing.T) {
	ts := servertest.Start(t)
	ownerA, _ := ts.Signup(t, "orga", "o@example.com", ownerPW)
	ts.Signup(t, "orgb", "o@example.com", ownerPW)
	ts.AddMember(t, ownerA, "orga", "aud@example.com", memberPW, nuxariv1.Role_ROLE_AUDITOR)
	auth := ts.Clients("").Auth
	sa := cookieLogin(t, auth, "orga", "o@example.com", ownerPW)
	a := cookieClients(ts, withCookie(sa.cookie.Value, sa.csrf), servertest.Connect)
	ctx := context.Background()

	if _, err := a.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: "orga"})); err != nil {
		t.Fatalf("GetOrg of its own org: %v", err)
	}
	_, err := a.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: "orgb"}))
	wantCode(t, err, connect.CodeNotFound)
	lm, err := a.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{PageSize: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	if len(lm.Msg.Members) != 2 {
		t.Fatalf("ListMembers: %d members, want org A's 2", len(lm.Msg.Members))
	}
	for _, m := range lm.Msg.Members {
		if m.Email != "o@example.com" && m.Email != "aud@example.com" {
			t.Fatalf("ListMembers lists %s, not a member of org A", m.Email)
		}
	}
	waitCheckpoint(t, ts.Clients(ownerA), 1)
	get := func(org string, h headers) (int, string) {
		t.Helper()
		r, err := http.NewRequest(http.MethodGet, ts.URL+"/orgs/"+org+"/tlog/checkpoint", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		res, err := servertest.HTTPClient().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	if code, body := get("orga", withCookie(sa.cookie.Value, sa.csrf)); code != http.StatusOK || !strings.HasPrefix(body, "nuxari/orgs/orga\n") {
		t.Fatalf("tlog checkpoint of its org with the cookie and CSRF header: %d %q", code, body)
	}
	if code, body := get("orgb", withCookie(sa.cookie.Value, sa.csrf)); code != http.StatusNotFound {
		t.Fatalf("tlog checkpoint of org B with org A's cookie: %d %q, want 404", code, body)
	}
	if code, body := get("orga", withCookie(sa.cookie.Value, "")); code != http.StatusUnauthorized || !strings.Contains(body, "Nuxari-CSRF") {
		t.Fatalf("tlog checkpoint with the cookie and no CSRF header: %d %q, want 401", code, body)
	}

	sAud := cookieLogin(t, auth, "orga", "aud@example.com", memberPW)
	aud := cookieClients(ts, withCookie(sAud.cookie.Value, sAud.csrf), servertest.Connect)
	if _, err := aud.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{})); err != nil {
		t.Fatalf("an auditor's cookie reads the ledger: %v", err)
	}
	_, err = aud.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "x@example.com", Role: nuxariv1.Role_ROLE_READONLY}))
	wantCode(t, err, connect.CodePermissionDenied)
}

// TestCookieSessionLogout: Logout by the cookie ends the session and
// clears the cookie with the same attributes; the cookie then counts for
// nothing. Logout by a bearer token sets no cookie.
func TestCookieSessionLogout(t *testing.T) {
	ts := servertest.Start(t)
	ts.Signup(t, "out", "o@example.com", ownerPW)
	s := cookieLogin(t, ts.Clients("").Auth, "out", "o@example.com", ownerPW)
	c := cookieClients(ts, withCookie(s.cookie.Value, s.csrf), servertest.Connect)
	res, err := c.Auth.Logout(context.Background(), req(&nuxariv1.LogoutRequest{}))
	if err != nil {
		t.Fatalf("Logout by the cookie: %v", err)
	}
	sc := res.Header().Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("Logout set %d cookies: %q", len(sc), sc)
	}
	cleared, err := http.ParseSetCookie(sc[0])
	if err != nil {
		t.Fatal(err)
	}
	if cleared.Name != api.SessionCookie || cleared.Value != "" || cleared.MaxAge >= 0 || !strings.Contains(sc[0], "Max-Age=0") ||
		!cleared.HttpOnly || cleared.SameSite != http.SameSiteStrictMode || cleared.Path != "/" {
		t.Fatalf("Logout's Set-Cookie %q does not clear the session cookie", sc[0])
	}
	_, err = whoAmIPrincipal(c)
	wantCode(t, err, connect.CodeUnauthenticated)

	tok := ts.Login(t, "out", "o@example.com", ownerPW)
	res, err = ts.Clients(tok).Auth.Logout(context.Background(), req(&nuxariv1.LogoutRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Header().Values("Set-Cookie"); len(v) != 0 {
		t.Fatalf("Logout by a bearer token set %q", v)
	}
}

// TestCookieSessionSecure: the cookie is Secure when the login came over
// TLS, or through a proxy that says it terminated TLS.
func TestCookieSessionSecure(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	tlsSrv := servertest.Start(t, func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	org := nuxariv1connect.NewOrgServiceClient(hc, tlsSrv.URL)
	if _, err := org.CreateOrg(context.Background(), req(&nuxariv1.CreateOrgRequest{OrgId: "sec", OwnerEmail: "o@example.com", OwnerPassword: ownerPW})); err != nil {
		t.Fatal(err)
	}
	if s := cookieLogin(t, nuxariv1connect.NewAuthServiceClient(hc, tlsSrv.URL), "sec", "o@example.com", ownerPW); !s.cookie.Secure {
		t.Errorf("over TLS: Set-Cookie %q is not Secure", s.setCookie)
	}

	ts := servertest.Start(t)
	ts.Signup(t, "prx", "o@example.com", ownerPW)
	proxied := nuxariv1connect.NewAuthServiceClient(servertest.HTTPClient(), ts.URL, connect.WithInterceptors(headers{"X-Forwarded-Proto": "https"}))
	if s := cookieLogin(t, proxied, "prx", "o@example.com", ownerPW); !s.cookie.Secure {
		t.Errorf("behind a TLS proxy: Set-Cookie %q is not Secure", s.setCookie)
	}
}

// TestCookieSessionSecretsStayOut: neither the session token of a cookie
// session nor its CSRF token reaches the server's log or the org's
// events, through logins, calls, refusals and logout.
func TestCookieSessionSecretsStayOut(t *testing.T) {
	ts := servertest.Start(t)
	owner, _ := ts.Signup(t, "quiet", "o@example.com", ownerPW)
	s := cookieLogin(t, ts.Clients("").Auth, "quiet", "o@example.com", ownerPW)
	tok := s.cookie.Value
	for _, h := range []headers{withCookie(tok, s.csrf), withCookie(tok, ""), withCookie(tok, "wrong"), withCookie(tok, tok)} {
		c := cookieClients(ts, h, servertest.Connect)
		_, _ = whoAmIPrincipal(c)
		_, _ = c.Org.AddMember(context.Background(), req(&nuxariv1.AddMemberRequest{Email: "m@example.com", Role: nuxariv1.Role_ROLE_READONLY}))
	}
	if _, err := cookieClients(ts, withCookie(tok, s.csrf), servertest.Connect).Auth.Logout(context.Background(), req(&nuxariv1.LogoutRequest{})); err != nil {
		t.Fatal(err)
	}
	_, _ = whoAmIPrincipal(cookieClients(ts, withCookie(tok, s.csrf), servertest.Connect))
	secretPart := tok[strings.LastIndexByte(tok, '.')+1:]
	logs := ts.Logs.String()
	if !strings.Contains(logs, `"procedure":"/nuxari.v1.AuthService/WhoAmI"`) {
		t.Fatalf("the calls were not logged: %s", logs)
	}
	if strings.Contains(logs, secretPart) || strings.Contains(logs, s.csrf) {
		t.Fatalf("the server log holds the session token or its CSRF token")
	}
	for _, e := range orgLog(t, ts.Clients(owner), "quiet") {
		if strings.Contains(string(e.leaf), secretPart) || strings.Contains(string(e.leaf), s.csrf) {
			t.Fatalf("event %d (%s) holds the session token or its CSRF token", e.index, e.Type)
		}
	}
}
