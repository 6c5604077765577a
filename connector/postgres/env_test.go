package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/internal/secret"
)

// pgEnv is the PostgreSQL server scripts/test-services.sh starts.
type pgEnv struct {
	host, user, password, database string
	port                           int
	// TLS: the CA that signed the server's certificate (for "localhost"),
	// and a client certificate for clientUser (certificate authentication).
	caFile, clientUser, clientCertFile, clientKeyFile string
}

// needPG returns the server from the environment. Without it the test is
// skipped, or fails under CI=true.
func needPG(t *testing.T) pgEnv {
	t.Helper()
	vars := map[string]string{}
	var missing []string
	for _, name := range []string{
		"NUXARI_TEST_PG_HOST", "NUXARI_TEST_PG_PORT", "NUXARI_TEST_PG_USER", "NUXARI_TEST_PG_PASSWORD",
		"NUXARI_TEST_PG_DATABASE", "NUXARI_TEST_PG_TLS_CA", "NUXARI_TEST_PG_TLS_CLIENT_USER",
		"NUXARI_TEST_PG_TLS_CLIENT_CERT", "NUXARI_TEST_PG_TLS_CLIENT_KEY",
	} {
		vars[name] = os.Getenv(name)
		if vars[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("no PostgreSQL: %s not set; run the tests with scripts/test-services.sh", strings.Join(missing, ", "))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	port, err := strconv.Atoi(vars["NUXARI_TEST_PG_PORT"])
	if err != nil {
		t.Fatalf("NUXARI_TEST_PG_PORT: %v", err)
	}
	return pgEnv{
		host: vars["NUXARI_TEST_PG_HOST"], port: port,
		user: vars["NUXARI_TEST_PG_USER"], password: vars["NUXARI_TEST_PG_PASSWORD"],
		database:       vars["NUXARI_TEST_PG_DATABASE"],
		caFile:         vars["NUXARI_TEST_PG_TLS_CA"],
		clientUser:     vars["NUXARI_TEST_PG_TLS_CLIENT_USER"],
		clientCertFile: vars["NUXARI_TEST_PG_TLS_CLIENT_CERT"],
		clientKeyFile:  vars["NUXARI_TEST_PG_TLS_CLIENT_KEY"],
	}
}

// admin returns a superuser connection to database, closed when the test
// ends. It is the tests' own access, beside the connector's.
func (e pgEnv) admin(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = e.host, uint16(e.port), e.user, e.password, database
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

// config is the connector's configuration for role user (password
// given) in database, without TLS.
func (e pgEnv) config(user, password, database string) postgres.Config {
	return postgres.Config{
		Host: e.host, Port: e.port, Database: database,
		User: user, Password: secret.New(password),
		TLSMode: postgres.TLSDisable,
	}
}

// newPrefix returns a prefix for the names of the roles (and databases)
// a test creates: unique, lower case, and short enough to leave room in
// PostgreSQL's 63 bytes.
func newPrefix(t *testing.T) string {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "nxt" + hex.EncodeToString(b[:]) + "_"
}

func randomPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// exec runs SQL statements as the admin, failing the test on an error.
func exec(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// ident quotes a name for the tests' own SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// dropRoles registers the removal, when the test ends, of every role
// whose name starts with prefix, with what they own and the privileges
// granted to them in the admin's database and on shared objects.
func dropRoles(t *testing.T, admin *pgx.Conn, prefix string) {
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

// createDatabase creates a database owned by owner, dropped when the test
// ends, and returns an admin connection to it.
func createDatabase(t *testing.T, e pgEnv, admin *pgx.Conn, name, owner string) *pgx.Conn {
	t.Helper()
	exec(t, admin, "CREATE DATABASE "+ident(name)+" OWNER "+ident(owner))
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return e.admin(t, name)
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
	exec(t, admin, "CREATE ROLE "+ident(name)+" LOGIN CREATEROLE PASSWORD '"+password+"'")
	return name, password
}
