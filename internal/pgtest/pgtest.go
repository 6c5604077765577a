// Package pgtest finds the PostgreSQL server scripts/test-services.sh
// starts and gives the tests their own superuser access to it: the
// server's address and TLS files from the environment, an admin
// connection, statements, quoting, and role names made for one test and
// dropped when it ends. It is imported only by tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Server is the PostgreSQL server scripts/test-services.sh starts.
type Server struct {
	Host     string
	Port     int
	User     string // a superuser
	Password string // User's password
	Database string // a database to connect to
	// CAFile is the path of the CA that signed the server's certificate
	// (which is for "localhost"); CAPEM is its content.
	CAFile, CAPEM string
	// ClientUser is a role name (not created) that may log in over TLS
	// with the client certificate and key in ClientCertFile and
	// ClientKeyFile alone. Set by NeedClientCert; Lookup and Need fill
	// them when the environment has them.
	ClientUser, ClientCertFile, ClientKeyFile string
}

// serverVars locate the server; clientCertVars give its certificate
// login.
var (
	serverVars = []string{
		"NUXARI_TEST_PG_HOST", "NUXARI_TEST_PG_PORT", "NUXARI_TEST_PG_USER", "NUXARI_TEST_PG_PASSWORD",
		"NUXARI_TEST_PG_DATABASE", "NUXARI_TEST_PG_TLS_CA",
	}
	clientCertVars = []string{
		"NUXARI_TEST_PG_TLS_CLIENT_USER", "NUXARI_TEST_PG_TLS_CLIENT_CERT", "NUXARI_TEST_PG_TLS_CLIENT_KEY",
	}
)

// Lookup returns the server from the environment, and whether there is
// one. Without one it fails the test under CI=true, where a missing
// server is an error.
func Lookup(t testing.TB) (Server, bool) {
	t.Helper()
	s, msg := lookup(t, serverVars)
	return s, msg == ""
}

// Need returns the server from the environment. Without it the test is
// skipped, or fails under CI=true.
func Need(t testing.TB) Server {
	t.Helper()
	return need(t, serverVars)
}

// NeedClientCert is Need for the tests that also log in with the client
// certificate: without its variables the test is skipped, or fails
// under CI=true.
func NeedClientCert(t testing.TB) Server {
	t.Helper()
	return need(t, slices.Concat(serverVars, clientCertVars))
}

func need(t testing.TB, required []string) Server {
	t.Helper()
	s, msg := lookup(t, required)
	if msg != "" {
		t.Skip(msg)
	}
	return s
}

// lookup reads the server from the environment. When a required
// variable is missing it fails the test under CI=true, and otherwise
// returns why there is no server.
func lookup(t testing.TB, required []string) (Server, string) {
	t.Helper()
	var missing []string
	for _, name := range required {
		if os.Getenv(name) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("no PostgreSQL: %s not set; run the tests with scripts/test-services.sh", strings.Join(missing, ", "))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		return Server{}, msg
	}
	port, err := strconv.Atoi(os.Getenv("NUXARI_TEST_PG_PORT"))
	if err != nil {
		t.Fatalf("NUXARI_TEST_PG_PORT: %v", err)
	}
	caFile := os.Getenv("NUXARI_TEST_PG_TLS_CA")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("NUXARI_TEST_PG_TLS_CA: %v", err)
	}
	return Server{
		Host: os.Getenv("NUXARI_TEST_PG_HOST"), Port: port,
		User: os.Getenv("NUXARI_TEST_PG_USER"), Password: os.Getenv("NUXARI_TEST_PG_PASSWORD"),
		Database: os.Getenv("NUXARI_TEST_PG_DATABASE"),
		CAFile:   caFile, CAPEM: string(ca),
		ClientUser:     os.Getenv("NUXARI_TEST_PG_TLS_CLIENT_USER"),
		ClientCertFile: os.Getenv("NUXARI_TEST_PG_TLS_CLIENT_CERT"),
		ClientKeyFile:  os.Getenv("NUXARI_TEST_PG_TLS_CLIENT_KEY"),
	}, ""
}

// Admin returns a superuser connection to database, closed when the test
// ends: the tests' own access to the server, beside the connectors'. It
// uses TLS, with the server's certificate checked against the CA (it is
// for "localhost"), and ignores the PG* variables of libpq.
func (s Server) Admin(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.connConfig(t, database))
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// AdminPool is Admin as a connection pool, closed when the test ends.
func (s Server) AdminPool(t testing.TB, database string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig = s.connConfig(t, database)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("admin pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// connConfig is the superuser's connection to database over TLS.
func (s Server) connConfig(t testing.TB, database string) *pgx.ConnConfig {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(s.CAPEM)) {
		t.Fatalf("no certificate in the CA file %s", s.CAFile)
	}
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = s.Host, uint16(s.Port), s.User, s.Password, database
	cfg.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	cfg.Fallbacks = nil
	return cfg
}

// Exec runs SQL statements, failing the test on an error.
func Exec(t testing.TB, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Ident quotes a name for the tests' own SQL.
func Ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Literal quotes a string literal for the tests' own SQL (utility
// statements such as ALTER ROLE … PASSWORD take no parameters).
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// NewPrefix returns a prefix for the names of the roles (and databases)
// a test creates: random, so unique to the test, lower case, and short
// enough to leave room in PostgreSQL's 63 bytes.
func NewPrefix(t testing.TB) string {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "nxt" + hex.EncodeToString(b[:]) + "_"
}

// DropRoles registers the removal, when the test ends, of every role
// whose name starts with prefix, with what they own and the privileges
// granted to them in admin's database and on shared objects, in one
// transaction.
func DropRoles(t testing.TB, admin *pgx.Conn, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
