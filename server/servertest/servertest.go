// Package servertest starts a real nuxarid on loopback for tests: the
// server package's wiring over a temporary data directory, served over
// HTTP/2 without TLS, with generated Connect clients in each protocol.
package servertest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/client"
	"github.com/nuxari/nuxari/governance/password"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
)

// FastPasswords are argon2id parameters cheap enough for tests.
var FastPasswords = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// DefaultPasswords is an Option that keeps the production argon2id
// parameters.
func DefaultPasswords(c *server.Config) { c.Governance.PasswordParams = nil }

// Server is a running test server.
type Server struct {
	*server.Server
	URL     string
	DataDir string
	// Logs holds every log line the server wrote.
	Logs    *SyncBuffer
	stop    func() error
	stopped bool
	done    chan error
}

// Option adjusts the server's configuration before it opens.
type Option func(*server.Config)

// Start opens a server on a fresh data directory (or cfg.DataDir if an
// option sets it) and serves it on a loopback port until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	logs := &SyncBuffer{}
	cfg := server.Config{
		DataDir: t.TempDir(),
		Logger:  server.NewLogger(logs, slog.LevelDebug),
	}
	cfg.Governance.PasswordParams = &FastPasswords
	cfg.Governance.LoginRate = rate.Inf
	cfg.Governance.SignupRate, cfg.Governance.SignupGlobalRate = rate.Inf, rate.Inf
	// Every test client dials from loopback, each with its own
	// connections.
	cfg.Limits.MaxConnsPerSource = 4096
	// A sync retries a page its system failed to answer after this wait,
	// doubling (1 s by default): tests whose connectors reach nothing
	// need not wait seconds for their syncs to fail.
	cfg.Governance.Connectors.RetryWait = 10 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	s, err := server.Open(cfg)
	if err != nil {
		t.Fatalf("open server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	scheme := "http://"
	if cfg.TLSCertFile != "" {
		scheme = "https://"
	}
	ts := &Server{Server: s, URL: scheme + ln.Addr().String(), DataDir: cfg.DataDir, Logs: logs, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var stopErr error
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = errors.Join(<-ts.done, s.Close())
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil && !ts.stopped {
			t.Errorf("stop server: %v", err)
		}
	})
	return ts
}

// Stop shuts the server down gracefully, closes it and returns what
// failed; the test's cleanup then reports nothing more.
func (s *Server) Stop() error {
	s.stopped = true
	return s.stop()
}

// HTTPClient speaks HTTP/2 without TLS to the server.
func HTTPClient() *http.Client { return client.HTTPClient("http://") }

// Clients are the generated clients of every service.
type Clients = client.Clients

// Protocol selects the wire protocol of a client.
type Protocol string

// The protocols served.
const (
	Connect Protocol = "connect"
	GRPC    Protocol = "grpc"
	GRPCWeb Protocol = "grpcweb"
)

// Protocols lists them.
var Protocols = []Protocol{Connect, GRPC, GRPCWeb}

// ClientsFor returns clients that send token (if any) in protocol p.
func (s *Server) ClientsFor(token string, p Protocol) Clients {
	var opts []connect.ClientOption
	switch p {
	case GRPC:
		opts = append(opts, connect.WithGRPC())
	case GRPCWeb:
		opts = append(opts, connect.WithGRPCWeb())
	}
	return client.New(s.URL, token, opts...)
}

// Clients returns Connect-protocol clients that send token (if any).
func (s *Server) Clients(token string) Clients { return s.ClientsFor(token, Connect) }

// Signup creates an org with an owner and returns the owner's session
// token and user ID.
func (s *Server) Signup(t testing.TB, org, email, pw string) (token, userID string) {
	t.Helper()
	ctx := context.Background()
	c := s.Clients("")
	res, err := c.Org.CreateOrg(ctx, connect.NewRequest(&nuxariv1.CreateOrgRequest{OrgId: org, OwnerEmail: email, OwnerPassword: pw}))
	if err != nil {
		t.Fatalf("CreateOrg %s: %v", org, err)
	}
	return s.Login(t, org, email, pw), res.Msg.Owner.UserId
}

// Login logs in and returns the session token.
func (s *Server) Login(t testing.TB, org, email, pw string) string {
	t.Helper()
	res, err := s.Clients("").Auth.Login(context.Background(), connect.NewRequest(&nuxariv1.LoginRequest{OrgId: org, Email: email, Password: pw}))
	if err != nil {
		t.Fatalf("Login %s/%s: %v", org, email, err)
	}
	return res.Msg.SessionToken
}

// AddMember adds a member with role, sets their password pw with the
// setup token, and returns their session token and user ID.
func (s *Server) AddMember(t testing.TB, ownerToken, org, email, pw string, role nuxariv1.Role) (token, userID string) {
	t.Helper()
	res, err := s.Clients(ownerToken).Org.AddMember(context.Background(), connect.NewRequest(&nuxariv1.AddMemberRequest{Email: email, Role: role}))
	if err != nil {
		t.Fatalf("AddMember %s: %v", email, err)
	}
	s.SetPassword(t, res.Msg.GetSetup().GetSetupToken(), pw)
	return s.Login(t, org, email, pw), res.Msg.Member.UserId
}

// SetPassword sets a member's password with their setup token.
func (s *Server) SetPassword(t testing.TB, setupToken, pw string) {
	t.Helper()
	if _, err := s.Clients("").Auth.SetPassword(context.Background(), connect.NewRequest(&nuxariv1.SetPasswordRequest{SetupToken: setupToken, NewPassword: pw})); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
