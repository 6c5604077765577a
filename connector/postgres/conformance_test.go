package postgres_test

import (
	"fmt"
	"testing"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/connectortest"
)

// TestConformance runs the conformance suite on group roles, with the
// connector logged in as a CREATEROLE role (not a superuser).
func TestConformance(t *testing.T) {
	env := needPG(t)
	connectortest.Run(t, func(t *testing.T) (connector.Connector, connectortest.Fixture) {
		admin := env.admin(t, env.database)
		p := newPrefix(t)
		dropRoles(t, admin, p)
		user, password := connectorRole(t, admin, p)
		exec(t, admin,
			"CREATE ROLE "+ident(p+"alice")+" LOGIN",
			"CREATE ROLE "+ident(p+"bob")+" LOGIN CREATEDB CONNECTION LIMIT 5 VALID UNTIL '2030-01-02 03:04:05+00'",
			"CREATE ROLE "+ident(p+"carol")+" LOGIN NOINHERIT",
			"CREATE ROLE "+ident(p+"readers")+" NOLOGIN",
			"CREATE ROLE "+ident(p+"writers")+" NOLOGIN",
			"CREATE ROLE "+ident(p+"auditors")+" NOLOGIN",
			"COMMENT ON ROLE "+ident(p+"readers")+" IS 'Read access to the sales data'",
			"GRANT "+ident(p+"readers")+" TO "+ident(p+"alice")+", "+ident(p+"bob"),
			"GRANT "+ident(p+"writers")+" TO "+ident(p+"bob"),
			"GRANT "+ident(p+"auditors")+" TO "+ident(p+"carol"),
			"CREATE ROLE "+ident(p+"gone")+" LOGIN",
			"CREATE ROLE "+ident(p+"gone_group")+" NOLOGIN",
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
		exec(t, admin, "DROP ROLE "+ident(p+"gone"), "DROP ROLE "+ident(p+"gone_group"))
		return newConnector(t, env.config(user, password, env.database)), fx
	})
}

// TestConformancePrivileges runs the conformance suite on database and
// schema privileges beside group roles, in a database and schemas that the
// connector's role owns (so it holds the grant option).
func TestConformancePrivileges(t *testing.T) {
	env := needPG(t)
	connectortest.Run(t, func(t *testing.T) (connector.Connector, connectortest.Fixture) {
		admin := env.admin(t, env.database)
		p := newPrefix(t)
		dropRoles(t, admin, p)
		user, password := connectorRole(t, admin, p)
		exec(t, admin,
			"CREATE ROLE "+ident(p+"alice")+" LOGIN",
			"CREATE ROLE "+ident(p+"bob")+" LOGIN",
			"CREATE ROLE "+ident(p+"carol")+" LOGIN",
			"CREATE ROLE "+ident(p+"readers")+" NOLOGIN",
			"CREATE ROLE "+ident(p+"gone")+" LOGIN",
		)
		dbName := p + "db"
		db := createDatabase(t, env, admin, dbName, user)
		exec(t, db,
			"CREATE SCHEMA "+ident(p+"sales")+" AUTHORIZATION "+ident(user),
			"CREATE SCHEMA "+ident(p+"hr")+" AUTHORIZATION "+ident(user),
			"CREATE SCHEMA "+ident(p+"gone")+" AUTHORIZATION "+ident(user),
			"GRANT "+ident(p+"readers")+" TO "+ident(p+"alice"),
			"GRANT CONNECT ON DATABASE "+ident(dbName)+" TO "+ident(p+"alice"),
			"GRANT USAGE ON SCHEMA "+ident(p+"sales")+" TO "+ident(p+"bob"),
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
		exec(t, db, "DROP SCHEMA "+ident(p+"gone"))
		exec(t, admin, "DROP ROLE "+ident(p+"gone"))
		cfg := env.config(user, password, dbName)
		cfg.PrivilegeEntitlements = true
		return newConnector(t, cfg), fx
	})
}
