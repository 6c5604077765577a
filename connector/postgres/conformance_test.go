package postgres_test

import (
	"fmt"
	"testing"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/connectortest"
	"github.com/nuxari/nuxari/internal/pgtest"
)

// TestConformance runs the conformance suite on group roles, with the
// connector logged in as a CREATEROLE role (not a superuser).
func TestConformance(t *testing.T) { conformance(t, false) }

// TestConformanceRolePrefix runs it with the connector's role prefix
// the test's prefix, which every role of the fixture has.
func TestConformanceRolePrefix(t *testing.T) { conformance(t, true) }

func conformance(t *testing.T, scoped bool) {
	env := needPG(t)
	connectortest.Run(t, func(t *testing.T) (connector.Connector, connectortest.Fixture) {
		admin := env.Admin(t, env.Database)
		p := pgtest.NewPrefix(t)
		pgtest.DropRoles(t, admin, p)
		user, password := connectorRole(t, admin, p)
		pgtest.Exec(t, admin,
			"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"bob")+" LOGIN CREATEDB CONNECTION LIMIT 5 VALID UNTIL '2030-01-02 03:04:05+00'",
			"CREATE ROLE "+pgtest.Ident(p+"carol")+" LOGIN NOINHERIT",
			"CREATE ROLE "+pgtest.Ident(p+"readers")+" NOLOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"writers")+" NOLOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"auditors")+" NOLOGIN",
			"COMMENT ON ROLE "+pgtest.Ident(p+"readers")+" IS 'Read access to the sales data'",
			"GRANT "+pgtest.Ident(p+"readers")+" TO "+pgtest.Ident(p+"alice")+", "+pgtest.Ident(p+"bob"),
			"GRANT "+pgtest.Ident(p+"writers")+" TO "+pgtest.Ident(p+"bob"),
			"GRANT "+pgtest.Ident(p+"auditors")+" TO "+pgtest.Ident(p+"carol"),
			"CREATE ROLE "+pgtest.Ident(p+"gone")+" LOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"gone_group")+" NOLOGIN",
		)
		id := func(name string) string { return roleID(t, admin, p+name) }
		fx := connectortest.Fixture{
			Identities: []connector.Identity{
				{ID: id("alice"), Name: p + "alice", Kind: "user", Attributes: map[string]string{
					"superuser": "false", "create_role": "false", "create_db": "false", "replication": "false",
					"bypass_rls": "false", "inherit": "true",
				}},
				{ID: id("bob"), Name: p + "bob", Kind: "user", Attributes: map[string]string{
					"create_db": "true", "connection_limit": "5", "valid_until": "2030-01-02T03:04:05Z",
				}},
				{ID: id("carol"), Name: p + "carol", Kind: "user", Attributes: map[string]string{"inherit": "false"}},
			},
			Entitlements: []connector.Entitlement{
				{ID: id("readers"), Name: p + "readers", Kind: "role", Description: "Read access to the sales data"},
				{ID: id("writers"), Name: p + "writers", Kind: "role"},
				{ID: id("auditors"), Name: p + "auditors", Kind: "role"},
			},
			Grants: []connector.Grant{
				{IdentityID: id("alice"), EntitlementID: id("readers")},
				{IdentityID: id("bob"), EntitlementID: id("readers")},
				{IdentityID: id("bob"), EntitlementID: id("writers")},
				{IdentityID: id("carol"), EntitlementID: id("auditors")},
			},
			UnknownIdentityID:    id("gone"),
			UnknownEntitlementID: id("gone_group"),
		}
		pgtest.Exec(t, admin, "DROP ROLE "+pgtest.Ident(p+"gone"), "DROP ROLE "+pgtest.Ident(p+"gone_group"))
		cfg := env.config(user, password, env.Database)
		if scoped {
			cfg.RolePrefix = p
		}
		return newConnector(t, cfg), fx
	})
}

// TestConformancePrivileges runs the conformance suite on database and
// schema privileges beside group roles, in a database and schemas that the
// connector's role owns (so it holds the grant option).
func TestConformancePrivileges(t *testing.T) {
	env := needPG(t)
	connectortest.Run(t, func(t *testing.T) (connector.Connector, connectortest.Fixture) {
		admin := env.Admin(t, env.Database)
		p := pgtest.NewPrefix(t)
		pgtest.DropRoles(t, admin, p)
		user, password := connectorRole(t, admin, p)
		pgtest.Exec(t, admin,
			"CREATE ROLE "+pgtest.Ident(p+"alice")+" LOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"bob")+" LOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"carol")+" LOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"readers")+" NOLOGIN",
			"CREATE ROLE "+pgtest.Ident(p+"gone")+" LOGIN",
		)
		dbName := p + "db"
		db := createDatabase(t, env, admin, dbName, user)
		pgtest.Exec(t, db,
			"CREATE SCHEMA "+pgtest.Ident(p+"sales")+" AUTHORIZATION "+pgtest.Ident(user),
			"CREATE SCHEMA "+pgtest.Ident(p+"hr")+" AUTHORIZATION "+pgtest.Ident(user),
			"CREATE SCHEMA "+pgtest.Ident(p+"gone")+" AUTHORIZATION "+pgtest.Ident(user),
			"GRANT "+pgtest.Ident(p+"readers")+" TO "+pgtest.Ident(p+"alice"),
			"GRANT CONNECT ON DATABASE "+pgtest.Ident(dbName)+" TO "+pgtest.Ident(p+"alice"),
			"GRANT USAGE ON SCHEMA "+pgtest.Ident(p+"sales")+" TO "+pgtest.Ident(p+"bob"),
		)
		dbOID := oidOf(t, admin, "database", dbName)
		schema := func(name, priv string) string {
			return fmt.Sprintf("schema:%d:%s", oidOf(t, db, "schema", p+name), priv)
		}
		id := func(name string) string { return roleID(t, admin, p+name) }
		connect := fmt.Sprintf("database:%d:CONNECT", dbOID)
		fx := connectortest.Fixture{
			Identities: []connector.Identity{
				{ID: id("alice"), Name: p + "alice", Kind: "user"},
				{ID: id("bob"), Name: p + "bob", Kind: "user"},
				{ID: id("carol"), Name: p + "carol", Kind: "user"},
			},
			Entitlements: []connector.Entitlement{
				{ID: id("readers"), Name: p + "readers", Kind: "role"},
				{ID: connect, Name: `CONNECT on database "` + dbName + `"`, Kind: "database", Description: "connect to the database"},
				{ID: schema("sales", "USAGE"), Name: `USAGE on schema "` + p + `sales"`, Kind: "schema", Description: "look up objects in the schema"},
				{ID: schema("hr", "CREATE"), Name: `CREATE on schema "` + p + `hr"`, Kind: "schema", Description: "create objects in the schema"},
			},
			Grants: []connector.Grant{
				{IdentityID: id("alice"), EntitlementID: id("readers")},
				{IdentityID: id("alice"), EntitlementID: connect},
				{IdentityID: id("bob"), EntitlementID: schema("sales", "USAGE")},
			},
			UnknownIdentityID:    id("gone"),
			UnknownEntitlementID: schema("gone", "USAGE"),
		}
		pgtest.Exec(t, db, "DROP SCHEMA "+pgtest.Ident(p+"gone"))
		pgtest.Exec(t, admin, "DROP ROLE "+pgtest.Ident(p+"gone"))
		cfg := env.config(user, password, dbName)
		cfg.PrivilegeEntitlements = true
		return newConnector(t, cfg), fx
	})
}
