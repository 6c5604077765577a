package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/internal/secret"
)

// pgEnv is the PostgreSQL server scripts/test-services.sh starts.
type pgEnv struct{ pgtest.Server }

// needPG returns the server from the environment, with its client
// certificate. Without it the test is skipped, or fails under CI=true.
func needPG(t *testing.T) pgEnv {
	t.Helper()
	return pgEnv{pgtest.NeedClientCert(t)}
}

// config is the connector's configuration for role user (password
// given) in database, without TLS.
func (e pgEnv) config(user, password, database string) postgres.Config {
	return postgres.Config{
		Host: e.Host, Port: e.Port, Database: database,
		User: user, Password: secret.New(password),
		TLSMode: postgres.TLSDisable,
	}
}

func randomPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createDatabase creates a database owned by owner, dropped when the test
// ends, and returns an admin connection to it.
func createDatabase(t *testing.T, e pgEnv, admin *pgx.Conn, name, owner string) *pgx.Conn {
	t.Helper()
	pgtest.Exec(t, admin, "CREATE DATABASE "+pgtest.Ident(name)+" OWNER "+pgtest.Ident(owner))
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgtest.Ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return e.Admin(t, name)
}

// oidOf returns the OID of a role, database or schema by name.
func oidOf(t *testing.T, conn *pgx.Conn, catalog, name string) uint32 {
	t.Helper()
	var q string
	switch catalog {
	case "role":
		q = `SELECT oid FROM pg_roles WHERE rolname = $1`
	case "database":
		q = `SELECT oid FROM pg_database WHERE datname = $1`
	case "schema":
		q = `SELECT oid FROM pg_namespace WHERE nspname = $1`
	}
	var oid uint32
	if err := conn.QueryRow(context.Background(), q, name).Scan(&oid); err != nil {
		t.Fatalf("OID of %s %q: %v", catalog, name, err)
	}
	return oid
}

func roleID(t *testing.T, conn *pgx.Conn, name string) string {
	t.Helper()
	return fmt.Sprintf("role:%d", oidOf(t, conn, "role", name))
}

// isMember reports whether member is directly a member of role.
func isMember(t *testing.T, conn *pgx.Conn, member, role string) bool {
	t.Helper()
	var ok bool
	err := conn.QueryRow(context.Background(), `
		SELECT EXISTS (SELECT 1 FROM pg_auth_members a
		                 JOIN pg_roles m ON m.oid = a.member JOIN pg_roles r ON r.oid = a.roleid
		                WHERE m.rolname = $1 AND r.rolname = $2)`, member, role).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// newConnector returns a connector for cfg, closed when the test ends.
func newConnector(t *testing.T, cfg postgres.Config) *postgres.Connector {
	t.Helper()
	c, err := postgres.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// connectorRole creates the login role the connector uses: CREATEROLE,
// not superuser. It returns its name and password.
func connectorRole(t *testing.T, admin *pgx.Conn, prefix string) (string, string) {
	t.Helper()
	name, password := prefix+"connector", randomPassword()
	pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(name)+" LOGIN CREATEROLE PASSWORD "+pgtest.Literal(password))
	return name, password
}
