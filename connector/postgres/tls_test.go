package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/internal/secret"
)

func secretOf(s string) secret.String { return secret.New(s) }

// testCAPEM returns a self-signed CA certificate (PEM) that signed nothing
// the server holds.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sslOf reports whether user's one connection to the server uses TLS.
func sslOf(t *testing.T, admin *pgx.Conn, user string) bool {
	t.Helper()
	rows, err := admin.Query(context.Background(), `
		SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1`, user)
	if err != nil {
		t.Fatal(err)
	}
	ssl, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		t.Fatal(err)
	}
	if len(ssl) != 1 {
		t.Fatalf("%s has %d connections, want 1", user, len(ssl))
	}
	return ssl[0]
}

func TestTLS(t *testing.T) {
	env := needPG(t)
	admin := env.Admin(t, env.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	user, password := connectorRole(t, admin, p)
	ca := env.CAPEM
	tests := []struct {
		name    string
		host    string
		mode    postgres.TLSMode
		ca      string
		wantErr string // in the message of an ErrUnavailable; "" for success
		wantSSL bool
	}{
		{"verify-full", "localhost", postgres.TLSVerifyFull, ca, "", true},
		{"default mode is verify-full", "localhost", "", ca, "", true},
		{"verify-full, host not in the certificate", "127.0.0.1", postgres.TLSVerifyFull, ca, "not valid for host", false},
		{"verify-full, system roots", "localhost", postgres.TLSVerifyFull, "", "not trusted", false},
		{"verify-full, another CA", "localhost", postgres.TLSVerifyFull, testCAPEM(t), "not trusted", false},
		{"require does not verify", "127.0.0.1", postgres.TLSRequire, "", "", true},
		{"disable", "127.0.0.1", postgres.TLSDisable, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.config(user, password, env.Database)
			cfg.Host, cfg.TLSMode, cfg.CAPEM = tc.host, tc.mode, tc.ca
			c := newConnector(t, cfg)
			err := c.Validate(t.Context())
			if tc.wantErr != "" {
				if !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate: err = %v, want ErrUnavailable saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := sslOf(t, admin, user); got != tc.wantSSL {
				t.Errorf("connection uses TLS: %v, want %v", got, tc.wantSSL)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			// Close ends the backend; wait for it to leave the view, so
			// that the next case sees only its own.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				var n int
				if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, user).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					return
				}
			}
			t.Fatal("the connector's backend did not end after Close")
		})
	}
}

// TestTLSServerWithoutTLS checks that no TLS mode falls back to a plain
// connection: a server that declines TLS (it answers the SSL request with
// "N", as a server with ssl = off does) never gets a startup message, so
// never a user name or password in the clear.
func TestTLSServerWithoutTLS(t *testing.T) {
	env := needPG(t)
	srv := newNoTLSServer(t)
	for _, mode := range []postgres.TLSMode{postgres.TLSRequire, postgres.TLSVerifyFull} {
		cfg := env.config(env.User, env.Password, env.Database)
		cfg.Host, cfg.Port, cfg.TLSMode = "localhost", srv.port, mode
		c := newConnector(t, cfg)
		if err := c.Validate(t.Context()); !errors.Is(err, connector.ErrUnavailable) {
			t.Errorf("TLS %s against a server without TLS: err = %v, want ErrUnavailable", mode, err)
		}
	}
	sslRequests, plain := srv.stats()
	if sslRequests != 2 || plain != 0 {
		t.Errorf("the server got %d TLS requests and %d other first messages; want 2 and 0", sslRequests, plain)
	}

	// The same server, with TLS disabled, does get a startup message: the
	// check above can see one.
	cfg := env.config(env.User, env.Password, env.Database)
	cfg.Port = srv.port
	_ = newConnector(t, cfg).Validate(t.Context())
	if _, plain := srv.stats(); plain != 1 {
		t.Errorf("with TLS disabled, the server got %d plain first messages, want 1", plain)
	}
}

// noTLSServer reads each connection's first message and, if it is an SSL
// request, declines; it then closes the connection only when the client
// does (or after a second).
type noTLSServer struct {
	port int
	mu   sync.Mutex
	ssl  int // SSL requests
	// plain counts first messages that are not SSL requests (a startup
	// message), and messages sent after a declined SSL request.
	plain int
}

func newNoTLSServer(t *testing.T) *noTLSServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &noTLSServer{port: l.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(conn) })
		}
	})
	return s
}

func (s *noTLSServer) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	var msg [8]byte
	if _, err := io.ReadFull(conn, msg[:]); err != nil {
		return
	}
	// An SSL request: length 8, code 80877103.
	if binary.BigEndian.Uint32(msg[:4]) != 8 || binary.BigEndian.Uint32(msg[4:]) != 80877103 {
		s.count(false)
		return
	}
	s.count(true)
	if _, err := conn.Write([]byte{'N'}); err != nil {
		return
	}
	var b [1]byte
	if n, _ := conn.Read(b[:]); n > 0 {
		s.count(false)
	}
}

func (s *noTLSServer) count(ssl bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ssl {
		s.ssl++
	} else {
		s.plain++
	}
}

func (s *noTLSServer) stats() (ssl, plain int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ssl, s.plain
}

func TestTLSClientCertificate(t *testing.T) {
	env := needPG(t)
	admin := env.Admin(t, env.Database)
	pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(env.ClientUser)+" LOGIN")
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgtest.Ident(env.ClientUser)); err != nil {
			t.Errorf("drop role %s: %v", env.ClientUser, err)
		}
	})
	key := readFile(t, env.ClientKeyFile)
	cfg := postgres.Config{
		Host: "localhost", Port: env.Port, Database: env.Database, User: env.ClientUser,
		TLSMode: postgres.TLSVerifyFull, CAPEM: env.CAPEM,
		ClientCertPEM: readFile(t, env.ClientCertFile), ClientKeyPEM: secretOf(key),
	}
	c := newConnector(t, cfg)
	if err := c.Validate(t.Context()); err != nil {
		t.Fatalf("Validate with the client certificate: %v", err)
	}
	if _, _, err := c.ListIdentities(t.Context(), connector.Page{Size: 1}); err != nil {
		t.Fatalf("ListIdentities: %v", err)
	}
	keyBody := strings.Split(strings.TrimSpace(key), "\n")[1]
	assertNoSecret(t, "config", cfg, keyBody)
	assertNoSecret(t, "connector", c, keyBody)

	noCert := cfg
	noCert.ClientCertPEM, noCert.ClientKeyPEM = "", secret.String{}
	err := newConnector(t, noCert).Validate(t.Context())
	if !errors.Is(err, connector.ErrUnauthenticated) {
		t.Errorf("Validate without the client certificate: err = %v, want ErrUnauthenticated", err)
	}
}
