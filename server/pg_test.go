package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/internal/pgtest"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// pgSettings are a connector's settings for role user on the server of
// scripts/test-services.sh: TLS verified against the test CA, as a
// production connector would connect, and the roles whose names start
// with prefix (the test's pgtest.NewPrefix) its scope: the server is
// shared by tests running in parallel, and a connector sees none of the
// others' roles.
func pgSettings(pg pgtest.Server, prefix, user string) *nuxariv1.ConnectorSettings {
	return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{
		Host: "localhost", Port: uint32(pg.Port), Database: pg.Database, User: user,
		TlsMode: "verify-full", CaPem: pg.CAPEM, ConnectTimeoutSeconds: 10, RolePrefix: prefix,
	}}}
}

// pgCreds are a PostgreSQL connector's credentials: a password.
func pgCreds(password string) *nuxariv1.ConnectorCredentials {
	return &nuxariv1.ConnectorCredentials{Kind: &nuxariv1.ConnectorCredentials_Postgres{Postgres: &nuxariv1.PostgresCredentials{Password: password}}}
}

// unreachableSettings are settings of a PostgreSQL server that is not
// there: a loopback port nothing listens on, so every use fails at once.
func unreachableSettings(t *testing.T) *nuxariv1.ConnectorSettings {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{
		Host: "127.0.0.1", Port: uint32(port), Database: "postgres", User: "nobody",
		TlsMode: "disable", ConnectTimeoutSeconds: 2,
	}}}
}

// pgPassword returns a random password starting with label, so that
// canaries and logs say whose it is.
func pgPassword(label string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return label + hex.EncodeToString(b[:])
}

// pgSetPassword sets role's password on the server.
func pgSetPassword(t *testing.T, admin *pgx.Conn, role, password string) {
	t.Helper()
	pgtest.Exec(t, admin, "ALTER ROLE "+pgtest.Ident(role)+" PASSWORD "+pgtest.Literal(password))
}

// pgLoginRole creates a login role that may create roles (the role a
// connector logs in as), with password.
func pgLoginRole(t *testing.T, admin *pgx.Conn, name, password string) {
	t.Helper()
	pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(name)+" LOGIN CREATEROLE PASSWORD "+pgtest.Literal(password))
}

// pgRoleID returns the connector's ID of a role: "role:<oid>".
func pgRoleID(t *testing.T, admin *pgx.Conn, name string) string {
	t.Helper()
	var oid uint32
	if err := admin.QueryRow(context.Background(), `SELECT oid FROM pg_roles WHERE rolname = $1`, name).Scan(&oid); err != nil {
		t.Fatalf("OID of role %q: %v", name, err)
	}
	return fmt.Sprintf("role:%d", oid)
}

// clientCertPEM returns a self-signed client certificate for cn and its
// private key, both PEM: a client key a connector can be given, which no
// server trusts.
func clientCertPEM(t testing.TB, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}
