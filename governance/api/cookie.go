package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/internal/secret"
)

// Console sessions. The web console logs in with
// LoginRequest.cookie_session: the session token is then set as an
// HttpOnly cookie, out of reach of any script the page runs, and never
// returned in the body. A request authenticated by the cookie must also
// carry the session's CSRF token in a header: a page of another site
// that makes the browser send the cookie cannot know it. A request with
// an Authorization header is authenticated by that header alone.
const (
	// SessionCookie names the cookie of a console session.
	SessionCookie = "nuxari_session"
	// CSRFHeader carries the CSRF token of a cookie session.
	CSRFHeader = "Nuxari-CSRF"
	// csrfDomain separates the CSRF token's hash from every other hash
	// of a token.
	csrfDomain = "nuxari console csrf\x00"
	// maxSessionCookies bounds the cookies of that name a request's CSRF
	// token is checked against (a browser may send several, one set by
	// a sibling domain among them).
	maxSessionCookies = 4
)

// errCSRF refuses a cookie session without its CSRF header, or with
// another session's.
var errCSRF = connect.NewError(connect.CodeUnauthenticated, errors.New("cookie session needs the Nuxari-CSRF header: the csrf_token its Login returned"))

// CSRFToken returns the CSRF token of a console session:
// base64url (unpadded) of SHA-256("nuxari console csrf\x00" || token).
// It is derived, so the server keeps no state for it, and one-way, so it
// reveals nothing of the token.
func CSRFToken(session secret.String) string {
	h := sha256.New()
	h.Write([]byte(csrfDomain))
	h.Write([]byte(session.Reveal()))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// credential returns the token a request with headers h authenticates
// with, and whether it came from the session cookie. The Authorization
// header comes first; without one, a session cookie counts only with
// the CSRF header of its session.
func credential(h http.Header) (secret.String, bool, error) {
	auth := h.Get("Authorization")
	var cookies []*http.Cookie
	if auth == "" {
		cookies = sessionCookies(h)
	}
	if len(cookies) == 0 {
		bearer, found := strings.CutPrefix(auth, "Bearer ")
		if !found || bearer == "" {
			return secret.String{}, false, connect.NewError(connect.CodeUnauthenticated, errors.New("missing credentials: send Authorization: Bearer <token>"))
		}
		return secret.New(bearer), false, nil
	}
	csrf := h.Get(CSRFHeader)
	if csrf == "" {
		return secret.String{}, true, errCSRF
	}
	for _, c := range cookies[:min(len(cookies), maxSessionCookies)] {
		tok := secret.New(c.Value)
		if subtle.ConstantTimeCompare([]byte(CSRFToken(tok)), []byte(csrf)) == 1 {
			return tok, true, nil
		}
	}
	return secret.String{}, true, errCSRF
}

// sessionCookies returns the non-empty session cookies of a request.
func sessionCookies(h http.Header) []*http.Cookie {
	if len(h.Values("Cookie")) == 0 {
		return nil
	}
	cs := (&http.Request{Header: h}).CookiesNamed(SessionCookie)
	out := cs[:0]
	for _, c := range cs {
		if c.Value != "" {
			out = append(out, c)
		}
	}
	return out
}

// cookieSession reports whether a request is authenticated by its
// session cookie rather than an Authorization header.
func cookieSession(h http.Header) bool {
	return h.Get("Authorization") == "" && len(sessionCookies(h)) > 0
}

type secureKey struct{}

// WithSecureTransport returns ctx marking whether its request reached
// the server over TLS, directly or through a proxy that terminated it:
// the session cookie is then Secure.
func WithSecureTransport(ctx context.Context, secure bool) context.Context {
	return context.WithValue(ctx, secureKey{}, secure)
}

func secureTransport(ctx context.Context) bool {
	s, _ := ctx.Value(secureKey{}).(bool)
	return s
}

// newSessionCookie returns the cookie that holds session token tok until
// expires (when the time left is known; otherwise until the browser
// closes, and the server still ends the session at its expiry).
func newSessionCookie(ctx context.Context, tok secret.String, expires time.Time) *http.Cookie {
	c := sessionCookieAttrs(ctx)
	c.Value = tok.Reveal()
	if left := time.Until(expires); left >= time.Second {
		c.MaxAge = int(left / time.Second)
	}
	return c
}

// clearedSessionCookie returns the cookie that makes a browser drop the
// session cookie.
func clearedSessionCookie(ctx context.Context) *http.Cookie {
	c := sessionCookieAttrs(ctx)
	c.MaxAge = -1 // Max-Age=0
	return c
}

func sessionCookieAttrs(ctx context.Context) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   secureTransport(ctx),
	}
}
