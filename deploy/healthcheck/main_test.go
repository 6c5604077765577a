package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

func TestHealthcheck(t *testing.T) {
	ts := servertest.Start(t)
	for _, svc := range append([]string{""}, server.APIServices...) {
		if err := run([]string{"-url", ts.URL, "-service", svc}, io.Discard); err != nil {
			t.Errorf("service %q: %v", svc, err)
		}
	}
	if err := run([]string{"-url", ts.URL, "-service", "nuxari.v1.NoSuchService"}, io.Discard); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("unknown service: %v, want not_found", err)
	}
	url := ts.URL
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-url", url, "-timeout", "2s"}, io.Discard); err == nil {
		t.Error("stopped server: no error")
	}
	if err := run([]string{"-url", url, "extra"}, io.Discard); err == nil {
		t.Error("extra argument: no error")
	}
}

func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key, "nuxari.test")
	ts := servertest.Start(t, func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	if !strings.HasPrefix(ts.URL, "https://") {
		t.Fatalf("server URL %s", ts.URL)
	}
	if err := run([]string{"-url", ts.URL, "-ca", cert, "-server-name", "nuxari.test"}, io.Discard); err != nil {
		t.Errorf("with the CA and server name: %v", err)
	}
	if err := run([]string{"-url", ts.URL, "-ca", cert}, io.Discard); err == nil {
		t.Error("certificate for another name: no error")
	}
	if err := run([]string{"-url", ts.URL}, io.Discard); err == nil {
		t.Error("certificate from no system authority: no error")
	}
}

// writeCert writes a self-signed certificate for name and its key.
func writeCert(t *testing.T, certFile, keyFile, name string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestServing(t *testing.T) {
	for s, want := range map[string]bool{
		"SERVING_STATUS_SERVING": true, "SERVING": true, "1": true,
		"SERVING_STATUS_NOT_SERVING": false, "NOT_SERVING": false, "2": false, "UNKNOWN": false, "": false,
	} {
		if serving(s) != want {
			t.Errorf("serving(%q) = %v", s, !want)
		}
	}
}
