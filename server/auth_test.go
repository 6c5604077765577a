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
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/internal/fakeclock"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

const memberPW = "member password 1"

// sourceClients returns an Auth client whose connections come from the
// loopback address local (127.0.0.0/8 is all loopback), so that the
// server sees local as the request's source.
func sourceClients(t *testing.T, ts *servertest.Server, local string) nuxariv1connect.AuthServiceClient {
	t.Helper()
	hc := servertest.HTTPClient()
	tr := hc.Transport.(*http.Transport)
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}).DialContext
	return nuxariv1connect.NewAuthServiceClient(hc, ts.URL)
}

// TestLoginRateLimit: with the default limits and a clock that does not
// move, ten wrong passwords for one account from one source spend its
// budget, and the right password from that source is refused too until
// the bucket refills; refused attempts append nothing. Another account
// from another source is unaffected; the same source is refused for other
// accounts as well, having spent its budget across accounts.
func TestLoginRateLimit(t *testing.T) {
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) {
		c.Governance.LoginRate = 0 // the default
		c.Governance.Clock = clk.Now
	})
	owner, _ := ts.Signup(t, "rl", "o@example.com", ownerPW)
	ts.AddMember(t, owner, "rl", "b@example.com", memberPW, nuxariv1.Role_ROLE_READONLY)
	ctx := context.Background()
	s1, s2 := sourceClients(t, ts, "127.0.0.2"), sourceClients(t, ts, "127.0.0.3")
	login := func(c nuxariv1connect.AuthServiceClient, email, pw string) error {
		_, err := c.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "rl", Email: email, Password: pw}))
		return err
	}
	for i := range 10 {
		if err := login(s1, "o@example.com", "wrong password!"); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("wrong password #%d: %v; want Unauthenticated", i+1, err)
		}
	}
	size := logSize(t, ts, "rl")
	wantCode(t, login(s1, "o@example.com", "wrong password!"), connect.CodeResourceExhausted)
	wantCode(t, login(s1, "o@example.com", ownerPW), connect.CodeResourceExhausted)
	wantCode(t, login(s1, "b@example.com", memberPW), connect.CodeResourceExhausted)
	if after := logSize(t, ts, "rl"); after != size {
		t.Fatalf("refused attempts appended %d events", after-size)
	}
	if err := login(s2, "b@example.com", memberPW); err != nil {
		t.Fatalf("another account from another source: %v", err)
	}
	// One interval refills one attempt of each bucket.
	clk.Advance(6 * time.Second)
	if err := login(s1, "o@example.com", ownerPW); err != nil {
		t.Fatalf("the right password after a refill: %v", err)
	}
}

// TestTokensExpire: sessions and API tokens stop working at their expiry.
func TestTokensExpire(t *testing.T) {
	clk := fakeclock.New(time.Now())
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
