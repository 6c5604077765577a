package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// requestTimeout bounds one RPC, including connection set-up.
const requestTimeout = time.Minute

// clients are the generated Connect clients of every service, all sending
// the same bearer token (if any).
type clients struct {
	server string
	org    nuxariv1connect.OrgServiceClient
	auth   nuxariv1connect.AuthServiceClient
	ledger nuxariv1connect.LedgerServiceClient
}

// serverURL returns the server to talk to: --server, else $NUXARI_SERVER,
// else the stored credentials' server (if stored is not nil), else
// DefaultServer.
func (e *env) serverURL(stored *Credentials) (string, error) {
	s := e.server
	if s == "" {
		s = e.getenv(EnvServer)
	}
	if s == "" && stored != nil {
		s = stored.Server
	}
	if s == "" {
		s = DefaultServer
	}
	return normalizeServer(s)
}

// normalizeServer checks that s is an http:// or https:// URL and drops a
// trailing slash.
func normalizeServer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", &usageError{msg: fmt.Sprintf("server %q is not an http:// or https:// URL", s)}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// connect returns clients for the resolved server, authenticated with the
// resolved token: --token, else $NUXARI_TOKEN, else the stored session,
// which is only ever sent to the server it was issued by. Without any
// token it fails before any call.
func (e *env) connect() (*clients, error) {
	stored, err := e.loadCredentials()
	if err != nil && !errors.Is(err, errNoCredentials) {
		return nil, err
	}
	server, err := e.serverURL(stored)
	if err != nil {
		return nil, err
	}
	token := e.token
	if token == "" {
		token = e.getenv(EnvToken)
	}
	if token == "" && stored != nil && stored.Server == server {
		token = stored.SessionToken
	}
	if token == "" {
		if stored != nil {
			return nil, fmt.Errorf("the stored session is for %s, not %s: log in to %s or pass --token", stored.Server, server, server)
		}
		return nil, errNoCredentials
	}
	return e.clientsFor(server, token), nil
}

// clientsFor returns clients for server sending token (if not empty).
func (e *env) clientsFor(server, token string) *clients {
	if token != "" {
		e.warnPlaintext(server)
	}
	hc := httpClient(server)
	opts := connect.WithInterceptors(bearer(token))
	return &clients{
		server: server,
		org:    nuxariv1connect.NewOrgServiceClient(hc, server, opts),
		auth:   nuxariv1connect.NewAuthServiceClient(hc, server, opts),
		ledger: nuxariv1connect.NewLedgerServiceClient(hc, server, opts),
	}
}

// warnPlaintext warns before credentials go over unencrypted HTTP to
// another machine.
func (e *env) warnPlaintext(server string) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" {
		return
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return
	}
	fmt.Fprintf(e.stderr, "nuxctl: warning: sending credentials to %s without TLS\n", host)
}

// httpClient speaks HTTP/2 without TLS (h2c) to http:// servers, as
// nuxarid does without a certificate, and HTTP/2 or HTTP/1.1 over TLS to
// https:// servers.
func httpClient(server string) *http.Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	tr.Protocols = new(http.Protocols)
	if strings.HasPrefix(server, "https://") {
		tr.Protocols.SetHTTP1(true)
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// bearer is a client interceptor that sends "Authorization: Bearer
// <token>" when the token is not empty.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if b != "" {
			req.Header().Set("Authorization", "Bearer "+string(b))
		}
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if b != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		}
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// maxPages bounds how many pages a list follows, against a server that
// never stops handing out page tokens.
const maxPages = 100_000

// eachPage calls fetch with "" and then with each next page token it
// returns, until it returns "".
func eachPage(fetch func(token string) (next string, err error)) error {
	token := ""
	for range maxPages {
		next, err := fetch(token)
		if err != nil || next == "" {
			return err
		}
		if next == token {
			return errors.New("the server returned the same page token twice")
		}
		token = next
	}
	return fmt.Errorf("the list has more than %d pages", maxPages)
}

// readPassword reads a password: the first line of standard input. When
// standard input is a terminal it prompts on standard error first.
// (golang.org/x/term is not a dependency, so the terminal echoes it.)
func (e *env) readPassword(prompt string) (string, error) {
	if e.stdinFile != nil {
		if fi, err := e.stdinFile.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(e.stderr, "%s (input is echoed): ", prompt)
		}
	}
	line, err := e.stdin.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", fmt.Errorf("write the %s on the first line of standard input", strings.ToLower(prompt))
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("the %s on standard input is empty", strings.ToLower(prompt))
	}
	return pw, nil
}
