package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestLoginRateLimit: with the default limits, a burst of wrong passwords
// for one account is cut off, and so is the right password until the
// bucket refills; another account from another source is unaffected by
// the account limit.
func TestLoginRateLimit(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.LoginRate = 0 })
	ts.Signup(t, "rl", "o@example.com", ownerPW)
	anon := ts.Clients("")
	ctx := context.Background()
	login := func(email, pw string) error {
		_, err := anon.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "rl", Email: email, Password: pw}))
		return err
	}
	// Signup's own login used one attempt of the burst of 10.
	limited := 0
	for range 12 {
		if connect.CodeOf(login("o@example.com", "wrong password!")) == connect.CodeResourceExhausted {
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 12 rapid attempts were rate limited, want at least 2", limited)
	}
	err := login("o@example.com", ownerPW)
	wantCode(t, err, connect.CodeResourceExhausted)
	size, _ := ts.Ledger().Size("rl")
	if err := login("o@example.com", "wrong password!"); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("after the burst: %v", err)
	}
	if after, _ := ts.Ledger().Size("rl"); after != size {
		t.Fatalf("a refused attempt appended %d events", after-size)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestTokensExpire: sessions and API tokens stop working at their expiry.
func TestTokensExpire(t *testing.T) {
	clk := &clock{now: time.Now()}
	ts := servertest.Start(t, func(c *server.Config) {
		c.Governance.Clock = clk.Now
		c.Governance.SessionTTL = time.Hour
		c.Governance.LoginRate = rate.Inf
	})
	ctx := context.Background()
	tok, _ := ts.Signup(t, "exp", "o@example.com", ownerPW)
	owner := ts.Clients(tok)
	api, err := owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "short", Role: nuxariv1.Role_ROLE_READONLY, Ttl: durationpb.New(2 * time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	bot := ts.Clients(api.Msg.Secret)
	whoami := func(c servertest.Clients) error {
		_, err := c.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))
		return err
	}
	clk.Advance(time.Hour - time.Second)
	if err := whoami(owner); err != nil {
		t.Fatalf("session before expiry: %v", err)
	}
	clk.Advance(time.Second)
	wantCode(t, whoami(owner), connect.CodeUnauthenticated)
	if err := whoami(bot); err != nil {
		t.Fatalf("API token before expiry: %v", err)
	}
	clk.Advance(time.Hour)
	wantCode(t, whoami(bot), connect.CodeUnauthenticated)
}

// TestTLS serves HTTP/2 over TLS when a certificate is configured.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ts := servertest.Start(t, func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	c := nuxariv1connect.NewOrgServiceClient(hc, ts.URL, connect.WithGRPC())
	_, err := c.CreateOrg(context.Background(), req(&nuxariv1.CreateOrgRequest{OrgId: "tls", OwnerEmail: "t@example.com", OwnerPassword: ownerPW}))
	if err != nil {
		t.Fatalf("CreateOrg over gRPC and TLS: %v", err)
	}
	res, err := hc.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Proto != "HTTP/2.0" {
		t.Fatalf("protocol %s over TLS, want HTTP/2.0", res.Proto)
	}
	// Plain HTTP to a TLS listener gets nowhere.
	if _, err := servertest.HTTPClient().Get("http://" + ts.URL[len("https://"):] + "/metrics"); err == nil {
		t.Fatal("plaintext request to the TLS listener succeeded")
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nuxarid test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
