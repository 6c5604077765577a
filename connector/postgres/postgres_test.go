package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/internal/pgtest"
)

// listAll reads a whole listing with pages of size.
func listAll[T any](t *testing.T, size int, list func(context.Context, connector.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	token := ""
	for {
		items, next, err := list(t.Context(), connector.Page{Token: token, Size: size})
		if err != nil {
			t.Fatalf("listing after %d items: %v", len(all), err)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		token = next
	}
}

// setup creates a prefix, the connector's role and a connector to the
// admin's database.
func setup(t *testing.T) (env pgEnv, admin *pgx.Conn, p string, c *postgres.Connector) {
	t.Helper()
	env = needPG(t)
	admin = env.Admin(t, env.Database)
	p = pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	user, password := connectorRole(t, admin, p)
	return env, admin, p, newConnector(t, env.config(user, password, env.Database))
}

// Names that need quoting, and one that would be an injection if it were
// not quoted.
var oddNames = []string{
	`a"b`,
	`role with space`,
	`rôle_ü`,
	`MiXeD`,
	`x"; DROP ROLE postgres; --`,
	`back\slash`,
	`semi;colon`,
	`'quote'`,
	`ドメイン`,
}

func TestQuotedIdentifiers(t *testing.T) {
	_, admin, p, c := setup(t)
	ctx := t.Context()
	for _, name := range oddNames {
		pgtest.Exec(t, admin,
			"CREATE ROLE "+pgtest.Ident(p+"u "+name)+" LOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"g "+name)+" NOLOGIN")
	}
	identities := map[string]string{}
	for _, id := range listAll(t, 3, c.ListIdentities) {
		identities[id.Name] = id.ID
	}
	entitlements := map[string]string{}
	for _, e := range listAll(t, 3, c.ListEntitlements) {
		entitlements[e.Name] = e.ID
	}
	for _, name := range oddNames {
		user, group := p+"u "+name, p+"g "+name
		uid, gid := identities[user], entitlements[group]
		if uid != roleID(t, admin, user) || gid != roleID(t, admin, group) {
			t.Fatalf("%q: listed as %q and %q, want the roles' IDs", name, uid, gid)
		}
		if err := c.Grant(ctx, uid, gid); err != nil {
			t.Fatalf("Grant(%q, %q): %v", user, group, err)
		}
		if !isMember(t, admin, user, group) {
			t.Errorf("after Grant, %q is not a member of %q", user, group)
		}
		if !slices.Contains(listAll(t, 0, c.ListGrants), connector.Grant{IdentityID: uid, EntitlementID: gid}) {
			t.Errorf("grant of %q to %q is not listed", group, user)
		}
		if err := c.Revoke(ctx, uid, gid); err != nil {
			t.Fatalf("Revoke(%q, %q): %v", user, group, err)
		}
		if isMember(t, admin, user, group) {
			t.Errorf("after Revoke, %q is still a member of %q", user, group)
		}
	}
	// Nothing else was touched: the roles the injection names are there.
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)`, p).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := 2*len(oddNames) + 1; n != want {
		t.Errorf("%d roles with the prefix, want %d", n, want)
	}
}

func TestListingScope(t *testing.T) {
	_, admin, p, c := setup(t)
	pgtest.Exec(t, admin,
		"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"team")+" NOLOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"dept")+" NOLOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"nested")+" NOLOGIN",
		"GRANT "+pgtest.Ident(p+"team")+" TO "+pgtest.Ident(p+"alice"),
		"GRANT "+pgtest.Ident(p+"dept")+" TO "+pgtest.Ident(p+"team"), // alice holds dept only through team
		"GRANT "+pgtest.Ident(p+"nested")+" TO "+pgtest.Ident(p+"dept"),
		"GRANT pg_monitor TO "+pgtest.Ident(p+"alice"),
		"COMMENT ON ROLE "+pgtest.Ident(p+"team")+" IS E'line one\\nline two\\ttab'",
	)
	identities := listAll(t, 0, c.ListIdentities)
	entitlements := listAll(t, 0, c.ListEntitlements)
	grants := listAll(t, 0, c.ListGrants)

	// Names are listed in byte order, and predefined roles not at all.
	var names []string
	for _, id := range identities {
		names = append(names, id.Name)
		if id.Kind != "user" || strings.HasPrefix(id.Name, "pg_") {
			t.Errorf("identity %+v", id)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("identities are not in name order: %q", names)
	}
	names = nil
	for _, e := range entitlements {
		names = append(names, e.Name)
		if e.Kind != "role" || strings.HasPrefix(e.Name, "pg_") {
			t.Errorf("entitlement %+v", e)
		}
		if e.Name == p+"team" && e.Description != "line oneline twotab" {
			t.Errorf("description %q: want the comment without control characters", e.Description)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entitlements are not in name order: %q", names)
	}
	alice := roleID(t, admin, p+"alice")
	var aliceHolds []string
	for _, g := range grants {
		if g.IdentityID == alice {
			aliceHolds = append(aliceHolds, g.EntitlementID)
		}
		for _, id := range []string{g.IdentityID, g.EntitlementID} {
			if id == roleID(t, admin, "pg_monitor") {
				t.Errorf("grant %+v names a predefined role", g)
			}
		}
	}
	if want := []string{roleID(t, admin, p+"team")}; !slices.Equal(aliceHolds, want) {
		t.Errorf("alice's grants = %q, want only her direct membership %q", aliceHolds, want)
	}

	// Renaming keeps the ID.
	team := roleID(t, admin, p+"team")
	pgtest.Exec(t, admin, "ALTER ROLE "+pgtest.Ident(p+"team")+" RENAME TO "+pgtest.Ident(p+"squad"))
	found := false
	for _, e := range listAll(t, 0, c.ListEntitlements) {
		if e.ID == team {
			found = e.Name == p+"squad"
		}
	}
	if !found {
		t.Errorf("after a rename, %s is not listed with its new name", team)
	}
}

func TestRefusals(t *testing.T) {
	env, admin, p, c := setup(t)
	ctx := t.Context()
	pgtest.Exec(t, admin,
		"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"bob")+" LOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"dba")+" NOLOGIN SUPERUSER",
		"CREATE ROLE "+pgtest.Ident(p+"admins")+" NOLOGIN CREATEROLE",
		"CREATE ROLE "+pgtest.Ident(p+"replicas")+" NOLOGIN REPLICATION",
		"CREATE ROLE "+pgtest.Ident(p+"norls")+" NOLOGIN BYPASSRLS",
		"CREATE ROLE "+pgtest.Ident(p+"ops")+" NOLOGIN",
		"GRANT "+pgtest.Ident(p+"dba")+" TO "+pgtest.Ident(p+"ops"), // ops reaches superuser through dba
		"CREATE ROLE "+pgtest.Ident(p+"files")+" NOLOGIN",
		"GRANT pg_write_server_files TO "+pgtest.Ident(p+"files"),
		"CREATE ROLE "+pgtest.Ident(p+"as_bob")+" NOLOGIN",
		"GRANT "+pgtest.Ident(p+"bob")+" TO "+pgtest.Ident(p+"as_bob"), // a member of as_bob may act as bob
		"CREATE ROLE "+pgtest.Ident(p+"as_connector")+" NOLOGIN",
		"GRANT "+pgtest.Ident(p+"connector")+" TO "+pgtest.Ident(p+"as_connector"),
		"CREATE ROLE "+pgtest.Ident(p+"plain")+" NOLOGIN",
	)
	alice := roleID(t, admin, p+"alice")
	for _, group := range []string{"dba", "admins", "replicas", "norls", "ops", "files", "as_bob", "as_connector"} {
		err := c.Grant(ctx, alice, roleID(t, admin, p+group))
		if !errors.Is(err, connector.ErrRefused) {
			t.Errorf("Grant of %s: err = %v, want ErrRefused", group, err)
		}
		if isMember(t, admin, p+"alice", p+group) {
			t.Errorf("alice became a member of %s", group)
		}
	}

	// Revoking administrator power is allowed.
	pgtest.Exec(t, admin, "GRANT "+pgtest.Ident(p+"dba")+" TO "+pgtest.Ident(p+"alice"))
	// The connector's role lacks the privilege to revoke a superuser role:
	// a superuser connector may.
	super := newConnector(t, env.config(env.User, env.Password, env.Database))
	if err := super.Revoke(ctx, alice, roleID(t, admin, p+"dba")); err != nil {
		t.Fatalf("Revoke of a superuser role: %v", err)
	}
	if isMember(t, admin, p+"alice", p+"dba") {
		t.Error("alice is still a member of dba")
	}
	// Even a superuser connector does not grant it.
	if err := super.Grant(ctx, alice, roleID(t, admin, p+"dba")); !errors.Is(err, connector.ErrRefused) {
		t.Errorf("Grant of a superuser role by a superuser connector: err = %v, want ErrRefused", err)
	}

	// The connector's own role is not changed.
	self := roleID(t, admin, p+"connector")
	for op, f := range map[string]func(context.Context, string, string) error{"Grant": c.Grant, "Revoke": c.Revoke} {
		if err := f(ctx, self, roleID(t, admin, p+"plain")); !errors.Is(err, connector.ErrRefused) {
			t.Errorf("%s to the connector's own role: err = %v, want ErrRefused", op, err)
		}
	}

	// Wrong kinds and predefined roles are not found.
	plain := roleID(t, admin, p+"plain")
	for _, tc := range []struct{ identity, entitlement string }{
		{plain, plain},                                         // a group role as identity
		{alice, roleID(t, admin, p+"bob")},                     // a login role as entitlement
		{alice, roleID(t, admin, "pg_monitor")},                // a predefined role
		{alice, "role:0"},                                      // not an OID
		{alice, "role:+" + strings.TrimPrefix(plain, "role:")}, // not canonical
		{alice, "role:0" + strings.TrimPrefix(plain, "role:")},
		{alice, "database:1:CONNECT"}, // privileges are not entitlements here
		{"user:" + strings.TrimPrefix(alice, "role:"), plain},
	} {
		if err := c.Grant(ctx, tc.identity, tc.entitlement); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("Grant(%q, %q): err = %v, want ErrNotFound", tc.identity, tc.entitlement, err)
		}
	}
	if isMember(t, admin, p+"alice", "pg_monitor") {
		t.Error("alice became a member of pg_monitor")
	}
}

func TestPermissionDenied(t *testing.T) {
	env := needPG(t)
	admin := env.Admin(t, env.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	password := randomPassword()
	pgtest.Exec(t, admin,
		"CREATE ROLE "+pgtest.Ident(p+"weak")+" LOGIN PASSWORD '"+password+"'", // no CREATEROLE
		"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"team")+" NOLOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"old")+" NOLOGIN",
		"GRANT "+pgtest.Ident(p+"old")+" TO "+pgtest.Ident(p+"alice"),
	)
	c := newConnector(t, env.config(p+"weak", password, env.Database))
	if err := c.Validate(t.Context()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	alice := roleID(t, admin, p+"alice")
	if err := c.Grant(t.Context(), alice, roleID(t, admin, p+"team")); !errors.Is(err, connector.ErrPermission) {
		t.Errorf("Grant without CREATEROLE: err = %v, want ErrPermission", err)
	}
	if err := c.Revoke(t.Context(), alice, roleID(t, admin, p+"old")); !errors.Is(err, connector.ErrPermission) {
		t.Errorf("Revoke without CREATEROLE: err = %v, want ErrPermission", err)
	}
	if !isMember(t, admin, p+"alice", p+"old") || isMember(t, admin, p+"alice", p+"team") {
		t.Error("memberships changed")
	}
}

// TestPrivilegeGrantors checks that a change the server silently skips
// (no grant option; a privilege granted by another role) is an error.
func TestPrivilegeGrantors(t *testing.T) {
	env := needPG(t)
	admin := env.Admin(t, env.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	user, password := connectorRole(t, admin, p)
	pgtest.Exec(t, admin,
		"CREATE ROLE "+pgtest.Ident(p+"owner")+" LOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
	)
	dbName := p + "db"
	db := createDatabase(t, env, admin, dbName, user)
	pgtest.Exec(t, db,
		"CREATE SCHEMA "+pgtest.Ident(p+"theirs")+" AUTHORIZATION "+pgtest.Ident(p+"owner"),
		"CREATE SCHEMA "+pgtest.Ident(p+"ours")+" AUTHORIZATION "+pgtest.Ident(user),
		"GRANT USAGE ON SCHEMA "+pgtest.Ident(p+"ours")+" TO "+pgtest.Ident(p+"owner")+" WITH GRANT OPTION",
		"SET ROLE "+pgtest.Ident(p+"owner"),
		"GRANT USAGE ON SCHEMA "+pgtest.Ident(p+"ours")+" TO "+pgtest.Ident(p+"alice"), // granted by owner, not the connector
		"RESET ROLE",
	)
	cfg := env.config(user, password, dbName)
	cfg.PrivilegeEntitlements = true
	c := newConnector(t, cfg)
	alice := roleID(t, admin, p+"alice")
	theirs := fmt.Sprintf("schema:%d:CREATE", oidOf(t, db, "schema", p+"theirs"))
	if err := c.Grant(t.Context(), alice, theirs); !errors.Is(err, connector.ErrPermission) {
		t.Errorf("Grant on a schema the connector does not own: err = %v, want ErrPermission", err)
	}
	ours := fmt.Sprintf("schema:%d:USAGE", oidOf(t, db, "schema", p+"ours"))
	if err := c.Revoke(t.Context(), alice, ours); !errors.Is(err, connector.ErrPermission) {
		t.Errorf("Revoke of a privilege another role granted: err = %v, want ErrPermission", err)
	}
	if !slices.Contains(listAll(t, 0, c.ListGrants), connector.Grant{IdentityID: alice, EntitlementID: ours}) {
		t.Error("the privilege another role granted is not listed")
	}
}

func TestBadCredentials(t *testing.T) {
	env := needPG(t)
	const canary = "Canary-pw-7f3e9a1c"
	tests := []struct{ name, user string }{
		{"wrong password", env.User},
		{"unknown user", "nuxari_no_such_role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.config(tc.user, canary, env.Database)
			c := newConnector(t, cfg)
			errs := map[string]error{"Validate": c.Validate(t.Context())}
			_, _, errs["ListIdentities"] = c.ListIdentities(t.Context(), connector.Page{})
			errs["Grant"] = c.Grant(t.Context(), "role:10", "role:10")
			for op, err := range errs {
				if !errors.Is(err, connector.ErrUnauthenticated) {
					t.Errorf("%s: err = %v, want ErrUnauthenticated", op, err)
				}
				assertNoSecret(t, op+" error", err, canary)
				assertNormalized(t, op+" error", err)
			}
			assertNoSecret(t, "connector", c, canary)
			assertNoSecret(t, "config", cfg, canary)
		})
	}
}

// assertNormalized fails if err carries a driver's or server's error: the
// driver's connection error holds the whole configuration, password
// included, and the server's error its own text.
func assertNormalized(t *testing.T, what string, err error) {
	t.Helper()
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	if errors.As(err, &connectErr) || errors.As(err, &pgErr) {
		t.Errorf("%s carries the driver's error: %#v", what, err)
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Errorf("%s is not a connector error: %v", what, err)
	}
}

// assertNoSecret fails if any printed form of v, or of any error it wraps,
// shows the secret.
func assertNoSecret(t *testing.T, what string, v any, secret string) {
	t.Helper()
	values := []any{v}
	if err, ok := v.(error); ok {
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			values = append(values, e)
		}
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
				t.Errorf("%s printed with %s shows the secret: %s", what, verb, out)
			}
		}
	}
}

func TestUnavailable(t *testing.T) {
	env := needPG(t)

	t.Run("nobody listens", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cfg := env.config(env.User, env.Password, env.Database)
		cfg.Port = port
		c := newConnector(t, cfg)
		if err := c.Validate(t.Context()); !errors.Is(err, connector.ErrUnavailable) {
			t.Errorf("Validate: err = %v, want ErrUnavailable", err)
		}
		if _, _, err := c.ListGrants(t.Context(), connector.Page{}); !errors.Is(err, connector.ErrUnavailable) {
			t.Errorf("ListGrants: err = %v, want ErrUnavailable", err)
		}
		err = c.Validate(t.Context())
		assertNoSecret(t, "error", err, env.Password)
		assertNormalized(t, "error", err)
	})

	t.Run("server never answers", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// The listener accepts and holds connections, and never answers.
		var mu sync.Mutex
		var held []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, conn)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			<-done
			for _, conn := range held {
				_ = conn.Close()
			}
		})
		cfg := env.config(env.User, env.Password, env.Database)
		cfg.Port = l.Addr().(*net.TCPAddr).Port
		cfg.ConnectTimeout = 300 * time.Millisecond
		c := newConnector(t, cfg)
		start := time.Now()
		err = c.Validate(t.Context())
		if !errors.Is(err, connector.ErrUnavailable) {
			t.Errorf("Validate: err = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Validate took %v with a connect timeout of %v", d, cfg.ConnectTimeout)
		}
	})

	t.Run("context canceled", func(t *testing.T) {
		c := newConnector(t, env.config(env.User, env.Password, env.Database))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := c.ListIdentities(ctx, connector.Page{})
		if !errors.Is(err, connector.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("ListIdentities with a canceled context: err = %v, want ErrUnavailable and context.Canceled", err)
		}
	})
}

// TestConnectionKilledMidListing ends the connector's backend between two
// pages: the next page fails with ErrUnavailable, and the listing resumes
// from the same token on a new connection, listing every role once.
func TestConnectionKilledMidListing(t *testing.T) {
	_, admin, p, c := setup(t)
	ctx := t.Context()
	const n = 30
	for i := range n {
		pgtest.Exec(t, admin, fmt.Sprintf("CREATE ROLE %s LOGIN", pgtest.Ident(fmt.Sprintf("%su%02d", p, i))))
	}
	var got []string
	collect := func(items []connector.Identity) {
		for _, id := range items {
			if strings.HasPrefix(id.Name, p+"u") {
				got = append(got, id.Name)
			}
		}
	}
	items, token, err := c.ListIdentities(ctx, connector.Page{Size: 7})
	if err != nil || token == "" {
		t.Fatalf("first page: %v (next %q)", err, token)
	}
	collect(items)

	rows, err := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE usename = $1`, p+"connector")
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 1 {
		t.Fatalf("the connector has %d backends, want 1", len(pids))
	}
	var terminated bool
	// With a timeout, pg_terminate_backend waits until the backend is gone.
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pids[0]).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("pg_terminate_backend: %v, %v", terminated, err)
	}
	_, _, err = c.ListIdentities(ctx, connector.Page{Token: token, Size: 7})
	if !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("page after the backend was terminated: err = %v, want ErrUnavailable", err)
	}
	assertNormalized(t, "error", err)
	for token != "" {
		items, token, err = c.ListIdentities(ctx, connector.Page{Token: token, Size: 7})
		if err != nil {
			t.Fatalf("resumed listing: %v", err)
		}
		collect(items)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("%su%02d", p, i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
}

func TestConfigInvalid(t *testing.T) {
	const canary = "Canary-key-3b8d"
	keyPEM := "-----BEGIN PRIVATE KEY-----\n" + canary + "\n-----END PRIVATE KEY-----\n"
	good := postgres.Config{Host: "db.example.com", Database: "app", User: "nuxari"}
	tests := []struct {
		name string
		edit func(*postgres.Config)
	}{
		{"no host", func(c *postgres.Config) { c.Host = "" }},
		{"host with a path", func(c *postgres.Config) { c.Host = "/var/run/postgresql" }},
		{"host with a space", func(c *postgres.Config) { c.Host = "db example" }},
		{"port", func(c *postgres.Config) { c.Port = 70000 }},
		{"no database", func(c *postgres.Config) { c.Database = "" }},
		{"no user", func(c *postgres.Config) { c.User = "" }},
		{"negative timeout", func(c *postgres.Config) { c.ConnectTimeout = -time.Second }},
		{"TLS mode", func(c *postgres.Config) { c.TLSMode = "prefer" }},
		{"CA with require", func(c *postgres.Config) { c.TLSMode = postgres.TLSRequire; c.CAPEM = testCAPEM(t) }},
		{"CA with disable", func(c *postgres.Config) { c.TLSMode = postgres.TLSDisable; c.CAPEM = testCAPEM(t) }},
		{"CA not PEM", func(c *postgres.Config) { c.CAPEM = "not a certificate" }},
		{"key without certificate", func(c *postgres.Config) { c.ClientKeyPEM = secretOf(keyPEM) }},
		{"bad key", func(c *postgres.Config) { c.ClientCertPEM = testCAPEM(t); c.ClientKeyPEM = secretOf(keyPEM) }},
		{"role prefix too long", func(c *postgres.Config) { c.RolePrefix = strings.Repeat("a", postgres.MaxRolePrefix+1) }},
		{"role prefix with NUL", func(c *postgres.Config) { c.RolePrefix = "app_\x00" }},
		{"role prefix with newline", func(c *postgres.Config) { c.RolePrefix = "app_\n" }},
		{"role prefix not UTF-8", func(c *postgres.Config) { c.RolePrefix = "app_\xff" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := postgres.New(cfg)
			if !errors.Is(err, connector.ErrInvalid) {
				t.Errorf("New: err = %v, want ErrInvalid", err)
			}
			assertNoSecret(t, "error", err, canary)
			assertNoSecret(t, "config", cfg, canary)
		})
	}
	if _, err := postgres.New(good); err != nil {
		t.Errorf("New(%v): %v", good, err)
	}
}

// TestConcurrentConnectors makes the same change through several
// connectors (sessions) at once: each succeeds, and the change is made
// once.
func TestConcurrentConnectors(t *testing.T) {
	env, admin, p, _ := setup(t)
	pgtest.Exec(t, admin,
		"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
		"CREATE ROLE "+pgtest.Ident(p+"team")+" NOLOGIN",
	)
	alice, team := roleID(t, admin, p+"alice"), roleID(t, admin, p+"team")
	var cs []*postgres.Connector
	for range 6 {
		c := newConnector(t, env.config(env.User, env.Password, env.Database))
		if err := c.Validate(t.Context()); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for round := range 5 {
		for _, grant := range []bool{true, false} {
			var wg sync.WaitGroup
			errs := make([]error, len(cs))
			for i, c := range cs {
				wg.Go(func() {
					if grant {
						errs[i] = c.Grant(t.Context(), alice, team)
					} else {
						errs[i] = c.Revoke(t.Context(), alice, team)
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d, connector %d, grant %v: %v", round, i, grant, err)
				}
			}
			if got := isMember(t, admin, p+"alice", p+"team"); got != grant {
				t.Fatalf("round %d: member after grant %v: %v", round, grant, got)
			}
		}
	}
}

// TestRolePrefix checks a connector whose role prefix holds "_" and "%"
// (wildcards to LIKE): it lists, grants and revokes the roles whose names
// start with the prefix, and no other, not even those that a LIKE
// pattern, a comparison without case or a range of names cut at the
// wrong place would take in.
func TestRolePrefix(t *testing.T) {
	env := needPG(t)
	admin := env.Admin(t, env.Database)
	p := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, p)
	user, password := connectorRole(t, admin, p) // outside the scope
	ctx := t.Context()
	scope := p + "app_%"
	in := func(name string) string { return scope + name }
	logins := map[string]bool{ // name: inside the scope
		scope:             true, // the prefix itself
		in("alice"):       true,
		in("bob"):         true,
		in("ü"):           true,
		in("x\U0010ffff"): true,
		p + "appXYalice":  false, // LIKE 'app_%%' takes it
		p + "app_x":       false, // so does LIKE 'app_%%', and starts_with on "app_"
		p + "app_":        false, // the prefix, cut short
		p + "APP_%alice":  false,
		in("&"):           true, // the character that ends the scope's range
	}
	groups := map[string]bool{
		in("team"):       true,
		in("ops"):        true,
		p + "app_$":      false, // just below the scope's names
		p + "app_&":      false, // the first name after them
		p + "appXYgroup": false,
	}
	for name := range logins {
		pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(name)+" LOGIN")
	}
	for name := range groups {
		pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(name)+" NOLOGIN")
	}
	grant := func(role, member string) string { return "GRANT " + pgtest.Ident(role) + " TO " + pgtest.Ident(member) }
	pgtest.Exec(t, admin,
		grant(in("team"), in("alice")), // inside
		grant(in("ops"), scope),
		grant(in("ops"), in("x\U0010ffff")),
		grant(p+"app_&", in("alice")), // to a role outside
		grant(p+"appXYgroup", in("bob")),
		grant(in("team"), p+"app_x"), // from a role outside
		grant(in("team"), p+"appXYalice"),
		grant(p+"appXYgroup", p+"APP_%alice"), // both outside
	)
	dbName := p + "db"
	createDatabase(t, env, admin, dbName, user)
	pgtest.Exec(t, admin,
		"GRANT CONNECT ON DATABASE "+pgtest.Ident(dbName)+" TO "+pgtest.Ident(in("alice")),
		"GRANT CONNECT ON DATABASE "+pgtest.Ident(dbName)+" TO "+pgtest.Ident(p+"app_x"),
	)
	id := func(name string) string { return roleID(t, admin, name) }
	dbPriv := func(priv string) string {
		return fmt.Sprintf("database:%d:%s", oidOf(t, admin, "database", dbName), priv)
	}

	cfg := env.config(user, password, dbName)
	cfg.PrivilegeEntitlements = true
	all := newConnector(t, cfg)
	cfg.RolePrefix = scope
	c := newConnector(t, cfg)

	inside := func(names map[string]bool) []string {
		var in []string
		for name, ok := range names {
			if ok {
				in = append(in, name)
			}
		}
		slices.Sort(in) // byte order
		return in
	}
	wantIdentities, wantGroups := inside(logins), inside(groups)
	wantGrants := []connector.Grant{ // members in name order, then privileges
		{IdentityID: id(scope), EntitlementID: id(in("ops"))},
		{IdentityID: id(in("alice")), EntitlementID: id(in("team"))},
		{IdentityID: id(in("x\U0010ffff")), EntitlementID: id(in("ops"))},
		{IdentityID: id(in("alice")), EntitlementID: dbPriv("CONNECT")},
	}
	for _, size := range []int{0, 1, 2, 3} {
		var names []string
		for _, it := range listAll(t, size, c.ListIdentities) {
			names = append(names, it.Name)
		}
		if !slices.Equal(names, wantIdentities) {
			t.Errorf("identities (pages of %d) = %q, want %q", size, names, wantIdentities)
		}
		names = nil
		privileges := 0
		for _, e := range listAll(t, size, c.ListEntitlements) {
			if e.Kind == postgres.KindRole {
				names = append(names, e.Name)
			} else if e.ID == dbPriv("CONNECT") {
				privileges++
			}
		}
		if !slices.Equal(names, wantGroups) || privileges != 1 {
			t.Errorf("role entitlements (pages of %d) = %q, want %q; the database's CONNECT listed %d times, want once", size, names, wantGroups, privileges)
		}
		if got := listAll(t, size, c.ListGrants); !slices.Equal(got, wantGrants) {
			t.Errorf("grants (pages of %d) = %v, want %v", size, got, wantGrants)
		}
	}
	// The roles outside are there: a connector without a prefix lists them.
	listed := map[string]bool{}
	for _, it := range listAll(t, 0, all.ListIdentities) {
		listed[it.Name] = true
	}
	for _, e := range listAll(t, 0, all.ListEntitlements) {
		listed[e.Name] = true
	}
	for name := range logins {
		if !listed[name] {
			t.Errorf("%q is not listed without a prefix", name)
		}
	}
	for name := range groups {
		if !listed[name] {
			t.Errorf("%q is not listed without a prefix", name)
		}
	}

	// Inside the scope, Grant and Revoke work.
	if err := c.Grant(ctx, id(in("bob")), id(in("team"))); err != nil || !isMember(t, admin, in("bob"), in("team")) {
		t.Fatalf("Grant inside the scope: %v", err)
	}
	if err := c.Revoke(ctx, id(in("bob")), id(in("team"))); err != nil || isMember(t, admin, in("bob"), in("team")) {
		t.Fatalf("Revoke inside the scope: %v", err)
	}
	if err := c.Grant(ctx, id(in("bob")), dbPriv("TEMPORARY")); err != nil {
		t.Fatalf("Grant of a privilege inside the scope: %v", err)
	}

	// Across the scope's bounds, they find nothing and change nothing.
	for _, tc := range []struct {
		revoke       bool
		member, role string
	}{
		{false, in("bob"), p + "app_&"},
		{false, in("bob"), p + "app_$"},
		{false, p + "app_x", in("ops")},
		{false, p + "app_", in("ops")},
		{false, p + "APP_%alice", in("ops")},
		{false, p + "appXYalice", in("ops")},
		{true, in("alice"), p + "app_&"},
		{true, in("bob"), p + "appXYgroup"},
		{true, p + "app_x", in("team")},
		{true, p + "APP_%alice", p + "appXYgroup"},
	} {
		op, f := "Grant", c.Grant
		if tc.revoke {
			op, f = "Revoke", c.Revoke
		}
		err := f(ctx, id(tc.member), id(tc.role))
		if !errors.Is(err, connector.ErrNotFound) || !strings.Contains(err.Error(), "start with") {
			t.Errorf("%s(%q, %q): err = %v, want ErrNotFound naming the prefix", op, tc.member, tc.role, err)
		}
		if isMember(t, admin, tc.member, tc.role) != tc.revoke {
			t.Errorf("%s(%q, %q) changed the membership", op, tc.member, tc.role)
		}
	}
	for _, priv := range []string{"CONNECT", "TEMPORARY"} {
		if err := c.Grant(ctx, id(p+"appXYalice"), dbPriv(priv)); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("Grant of %s to a role outside: err = %v, want ErrNotFound", priv, err)
		}
	}
	if err := c.Revoke(ctx, id(p+"app_x"), dbPriv("CONNECT")); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Revoke of a privilege from a role outside: err = %v, want ErrNotFound", err)
	}
	want := []connector.Grant{
		{IdentityID: id(in("bob")), EntitlementID: dbPriv("TEMPORARY")},
		{IdentityID: id(p + "app_x"), EntitlementID: dbPriv("CONNECT")},
	}
	got := listAll(t, 0, all.ListGrants)
	for _, g := range want {
		if !slices.Contains(got, g) {
			t.Errorf("privilege %v is not held", g)
		}
	}
	for _, g := range got {
		if g.IdentityID == id(p+"appXYalice") && strings.HasPrefix(g.EntitlementID, "database:") {
			t.Errorf("a role outside the scope was granted %v", g)
		}
	}
}
