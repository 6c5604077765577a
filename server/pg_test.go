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
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// pgEnv is the PostgreSQL server scripts/test-services.sh starts (see
// connector/postgres/env_test.go, whose conventions these helpers share).
type pgEnv struct {
	host, user, password, database string
	port                           int
	// caPEM signed the server's certificate, which is for "localhost".
	caPEM string
}

// pgVars are the variables the server tests read.
var pgVars = []string{
	"NUXARI_TEST_PG_HOST", "NUXARI_TEST_PG_PORT", "NUXARI_TEST_PG_USER", "NUXARI_TEST_PG_PASSWORD",
	"NUXARI_TEST_PG_DATABASE", "NUXARI_TEST_PG_TLS_CA",
}

// lookupPG returns the server from the environment, and whether there is
// one. Without one it fails the test under CI=true, where a missing
// server is an error.
func lookupPG(t *testing.T) (pgEnv, bool) {
	t.Helper()
	vars := map[string]string{}
	var missing []string
	for _, name := range pgVars {
		vars[name] = os.Getenv(name)
		if vars[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL: %s not set; run the tests with scripts/test-services.sh", strings.Join(missing, ", "))
		}
		return pgEnv{}, false
	}
	port, err := strconv.Atoi(vars["NUXARI_TEST_PG_PORT"])
	if err != nil {
		t.Fatalf("NUXARI_TEST_PG_PORT: %v", err)
	}
	ca, err := os.ReadFile(vars["NUXARI_TEST_PG_TLS_CA"])
	if err != nil {
		t.Fatalf("NUXARI_TEST_PG_TLS_CA: %v", err)
	}
	return pgEnv{
		host: vars["NUXARI_TEST_PG_HOST"], port: port,
		user: vars["NUXARI_TEST_PG_USER"], password: vars["NUXARI_TEST_PG_PASSWORD"],
		database: vars["NUXARI_TEST_PG_DATABASE"], caPEM: string(ca),
	}, true
}

// needPG returns the server from the environment. Without it the test is
// skipped, or fails under CI=true.
func needPG(t *testing.T) pgEnv {
	t.Helper()
	e, ok := lookupPG(t)
	if !ok {
		t.Skipf("no PostgreSQL: %s not set; run the tests with scripts/test-services.sh", strings.Join(pgVars, ", "))
	}
	return e
}

// admin returns a superuser connection, closed when the test ends: the
// tests' own access to the server, beside the connectors'.
func (e pgEnv) admin(t *testing.T) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = e.host, uint16(e.port), e.user, e.password, e.database
	cfg.TLSConfig, cfg.Fallbacks = nil, nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// settings are a connector's settings for role user: TLS verified
// against the test CA, as a production connector would connect.
func (e pgEnv) settings(user string) *nuxariv1.ConnectorSettings {
	return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{
		Host: "localhost", Port: uint32(e.port), Database: e.database, User: user,
		TlsMode: "verify-full", CaPem: e.caPEM, ConnectTimeoutSeconds: 10,
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

// pgPrefix returns a prefix for the names of the roles a test creates:
// unique, lower case, short enough to leave room in PostgreSQL's 63
// bytes.
func pgPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "nxs" + hex.EncodeToString(b[:]) + "_"
}

// pgPassword returns a random password starting with label, so that
// canaries and logs say whose it is.
func pgPassword(label string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return label + hex.EncodeToString(b[:])
}

// pgExec runs SQL statements as the admin, failing the test on an error.
func pgExec(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// pgIdent quotes a name for the tests' own SQL.
func pgIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// pgLiteral quotes a string literal for the tests' own SQL (utility
// statements such as ALTER ROLE … PASSWORD take no parameters).
func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// pgSetPassword sets role's password on the server.
func pgSetPassword(t *testing.T, admin *pgx.Conn, role, password string) {
	t.Helper()
	pgExec(t, admin, "ALTER ROLE "+pgIdent(role)+" PASSWORD "+pgLiteral(password))
}

// pgLoginRole creates a login role that may create roles (the role a
// connector logs in as), with password.
func pgLoginRole(t *testing.T, admin *pgx.Conn, name, password string) {
	t.Helper()
	pgExec(t, admin, "CREATE ROLE "+pgIdent(name)+" LOGIN CREATEROLE PASSWORD "+pgLiteral(password))
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

// dropPGRoles registers the removal, when the test ends, of every role
// whose name starts with prefix, with what they own.
func dropPGRoles(t *testing.T, admin *pgx.Conn, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tx, err := admin.Begin(ctx)
		if err != nil {
			t.Errorf("cleanup of roles %s*: %v", prefix, err)
			return
		}
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, `SELECT set_config('nuxari.prefix', $1, true)`, prefix)
		if err == nil {
			_, err = tx.Exec(ctx, `DO $$
				DECLARE r name;
				BEGIN
					FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, current_setting('nuxari.prefix'))
					         AND EXISTS (SELECT 1 FROM pg_shdepend WHERE refobjid = pg_roles.oid) LOOP
						EXECUTE format('DROP OWNED BY %I', r);
					END LOOP;
					FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, current_setting('nuxari.prefix')) LOOP
						EXECUTE format('DROP ROLE %I', r);
					END LOOP;
				END $$`)
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			t.Errorf("cleanup of roles %s*: %v", prefix, err)
		}
	})
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
