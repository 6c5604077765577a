package postgres_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/internal/secret"
)

// clientPair returns a self-signed client certificate and its key (PEM).
func clientPair(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nuxari"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func settingsJSON(t *testing.T, s postgres.Settings) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDriverSettings(t *testing.T) {
	var d postgres.Driver
	base := postgres.Settings{Host: "db.example", Database: "app", User: "nuxari"}
	norm, err := d.CheckSettings(settingsJSON(t, base))
	if err != nil {
		t.Fatal(err)
	}
	var got postgres.Settings
	if err := json.Unmarshal(norm, &got); err != nil || got.TLSMode != postgres.TLSVerifyFull || got.Host != "db.example" {
		t.Fatalf("normalized %s, %v", norm, err)
	}
	// A role prefix is kept as given, up to a role name's 63 bytes, and
	// absent when empty.
	for _, prefix := range []string{"app_", "a_%", "Rôle ", strings.Repeat("é", 31) + "a", ""} {
		norm, err := d.CheckSettings(settingsJSON(t, postgres.Settings{Host: "h", Database: "d", User: "u", RolePrefix: prefix}))
		if err != nil {
			t.Fatalf("role prefix %q: %v", prefix, err)
		}
		var got postgres.Settings
		if err := json.Unmarshal(norm, &got); err != nil || got.RolePrefix != prefix || (prefix == "") == strings.Contains(string(norm), "role_prefix") {
			t.Errorf("role prefix %q: normalized %s, %v", prefix, norm, err)
		}
	}
	cert, _ := clientPair(t)
	for what, s := range map[string]postgres.Settings{
		"no host":           {Database: "app", User: "u"},
		"bad host":          {Host: "db example", Database: "app", User: "u"},
		"port":              {Host: "h", Port: 70000, Database: "app", User: "u"},
		"no database":       {Host: "h", User: "u"},
		"no user":           {Host: "h", Database: "app"},
		"TLS mode":          {Host: "h", Database: "app", User: "u", TLSMode: "prefer"},
		"CA with require":   {Host: "h", Database: "app", User: "u", TLSMode: postgres.TLSRequire, CAPEM: cert},
		"CA not PEM":        {Host: "h", Database: "app", User: "u", CAPEM: "not a certificate"},
		"cert without TLS":  {Host: "h", Database: "app", User: "u", TLSMode: postgres.TLSDisable, ClientCertPEM: cert},
		"cert not PEM":      {Host: "h", Database: "app", User: "u", ClientCertPEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		"negative timeout":  {Host: "h", Database: "app", User: "u", ConnectTimeoutSeconds: -1},
		"timeout too long":  {Host: "h", Database: "app", User: "u", ConnectTimeoutSeconds: 301},
		"huge certificate":  {Host: "h", Database: "app", User: "u", CAPEM: strings.Repeat("A", postgres.MaxPEM+1)},
		"control character": {Host: "h", Database: "app\n", User: "u"},
		"long role prefix":  {Host: "h", Database: "app", User: "u", RolePrefix: strings.Repeat("a", 64)},
		"NUL in prefix":     {Host: "h", Database: "app", User: "u", RolePrefix: "app\x00"},
		"tab in prefix":     {Host: "h", Database: "app", User: "u", RolePrefix: "app\t"},
		"DEL in prefix":     {Host: "h", Database: "app", User: "u", RolePrefix: "app\x7f"},
		"C1 in prefix":      {Host: "h", Database: "app", User: "u", RolePrefix: "app\u0085"},
	} {
		if _, err := d.CheckSettings(settingsJSON(t, s)); !errors.Is(err, connector.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", what, err)
		}
	}
	for _, raw := range []string{``, `[]`, `{"host":"h","database":"d","user":"u","role_prefix":7}`, `{"host":"h","database":"d","user":"u","password":"p"}`, `{"host":"h","database":"d","user":"u"} {}`} {
		if _, err := d.CheckSettings([]byte(raw)); !errors.Is(err, connector.ErrInvalid) {
			t.Errorf("settings %q: err = %v, want ErrInvalid", raw, err)
		}
	}
}

func TestDriverCredentials(t *testing.T) {
	var d postgres.Driver
	cert, key := clientPair(t)
	pw := settingsJSON(t, postgres.Settings{Host: "h", Database: "d", User: "u"})
	withCert := settingsJSON(t, postgres.Settings{Host: "h", Database: "d", User: "u", ClientCertPEM: cert})
	for _, tc := range []struct {
		what     string
		settings []byte
		fields   []string
		ok       bool
	}{
		{"password", pw, []string{"password"}, true},
		{"nothing", pw, nil, false},
		{"key without certificate", pw, []string{"password", "client_key_pem"}, false},
		{"certificate and key", withCert, []string{"client_key_pem"}, true},
		{"certificate, key and password", withCert, []string{"client_key_pem", "password"}, true},
		{"certificate without key", withCert, []string{"password"}, false},
		{"unknown field", pw, []string{"password", "token"}, false},
	} {
		err := d.CheckCredentials(tc.settings, tc.fields)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, connector.ErrInvalid)) {
			t.Errorf("%s: err = %v", tc.what, err)
		}
	}
	// Open checks the pair, without connecting; a key that does not match
	// is refused without saying what it holds.
	c, err := d.Open(withCert, map[string]secret.String{"client_key_pem": secret.New(key)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, other := clientPair(t)
	_, err = d.Open(withCert, map[string]secret.String{"client_key_pem": secret.New(other)})
	if !errors.Is(err, connector.ErrInvalid) || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("mismatched key: %v", err)
	}
}

func TestDriverCredentialSettings(t *testing.T) {
	same := postgres.Driver{}.CredentialSettings()
	certA, _ := clientPair(t)
	certB, _ := clientPair(t)
	a := settingsJSON(t, postgres.Settings{Host: "h", Database: "d", User: "u", ClientCertPEM: certA})
	a2 := settingsJSON(t, postgres.Settings{Host: "other", Database: "d", User: "u", ClientCertPEM: certA})
	b := settingsJSON(t, postgres.Settings{Host: "h", Database: "d", User: "u", ClientCertPEM: certB})
	none := settingsJSON(t, postgres.Settings{Host: "h", Database: "d", User: "u"})
	if !same(a, a2) || same(a, b) || same(a, none) || !same(none, none) {
		t.Fatal("CredentialSettings does not compare the client certificate alone")
	}
}
