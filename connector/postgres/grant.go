package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nuxari/nuxari/connector"
)

// Grant gives the login role identityID the entitlement: membership in a
// group role, or a database or schema privilege. See the package
// documentation for what it refuses.
func (c *Connector) Grant(ctx context.Context, identityID, entitlementID string) error {
	return c.change(ctx, "grant", identityID, entitlementID, true)
}

// Revoke takes the entitlement from the login role identityID.
func (c *Connector) Revoke(ctx context.Context, identityID, entitlementID string) error {
	return c.change(ctx, "revoke", identityID, entitlementID, false)
}

// maxAttempts bounds the tries of a change that collides with a
// concurrent change of the same catalog rows.
const maxAttempts = 3

func (c *Connector) change(ctx context.Context, op, identityID, entitlementID string, grant bool) error {
	member, ok := parseRoleID(identityID)
	if !ok {
		return notFound("identity", identityID)
	}
	ent, ok := c.parseEntitlementID(entitlementID)
	if !ok {
		return notFound("entitlement", entitlementID)
	}
	return c.do(ctx, op, func(conn *pgx.Conn) error {
		for attempt := 1; ; attempt++ {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if ent.kind == KindRole {
					return c.changeMembership(ctx, tx, identityID, entitlementID, member, ent.oid, grant)
				}
				return c.changePrivilege(ctx, tx, identityID, entitlementID, member, ent, grant)
			})
			if err == nil || attempt == maxAttempts || conn.IsClosed() || ctx.Err() != nil || !conflict(err) {
				return err
			}
		}
	})
}

// conflict reports whether err is a collision with a concurrent change of
// the same catalog rows, which a new attempt resolves.
func conflict(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "23505", "40001", "40P01":
		return true
	case "XX000":
		// "tuple concurrently updated" or "... deleted": two sessions
		// changed the same catalog row.
		return strings.Contains(pgErr.Message, "concurrently")
	}
	return false
}

func notFound(what, id string) error {
	return connector.Errorf(connector.ErrNotFound, "postgres: %s %q not found", what, connector.Text(id, 80))
}

// roleNotFound is notFound for a role, which may exist outside the
// connector's scope: the connector does not tell.
func (c *Connector) roleNotFound(what, id string) error {
	if c.scope.all() {
		return notFound(what, id)
	}
	return connector.Errorf(connector.ErrNotFound, "postgres: %s %q not found among the roles whose names start with %q",
		what, connector.Text(id, 80), connector.Text(c.scope.prefix, MaxRolePrefix))
}

// changeMembership grants or revokes membership in a group role, in tx.
// Both roles are in the connector's scope, or are not found.
func (c *Connector) changeMembership(ctx context.Context, tx pgx.Tx, identityID, entitlementID string, member, role uint32, grant bool) error {
	var memberName, roleName *string
	var self, held, privileged bool
	err := tx.QueryRow(ctx, `
		WITH RECURSIVE up(oid) AS (
			SELECT $2::oid
			UNION
			SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN up ON a.member = up.oid
		)
		SELECT (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = $1 AND rolcanlogin AND rolname !~ '^pg_'`+c.scope.where("rolname", 3)+`),
		       $1::oid IS NOT DISTINCT FROM (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user),
		       (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = $2 AND NOT rolcanlogin AND rolname !~ '^pg_'`+c.scope.where("rolname", 3)+`),
		       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members WHERE roleid = $2 AND member = $1),
		       EXISTS (SELECT 1 FROM up JOIN pg_catalog.pg_roles r ON r.oid = up.oid
		                WHERE r.rolsuper OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls OR r.rolcanlogin
		                   OR r.rolname = session_user
		                   OR r.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'))`,
		append([]any{member, role}, c.scope.args()...)...).Scan(&memberName, &self, &roleName, &held, &privileged)
	switch {
	case err != nil:
		return err
	case memberName == nil || !c.scope.has(*memberName):
		return c.roleNotFound("identity", identityID)
	case roleName == nil || !c.scope.has(*roleName):
		return c.roleNotFound("entitlement", entitlementID)
	case self:
		return connector.Errorf(connector.ErrRefused, "postgres: the connector does not change its own role's memberships")
	case grant && privileged:
		return connector.Errorf(connector.ErrRefused,
			"postgres: role %q gives administrator power (superuser, createrole, replication, bypassrls, server files or programs, or another login role), so it is not granted", *roleName)
	case grant == held:
		return nil // already as asked
	}
	stmt := "GRANT " + pgx.Identifier{*roleName}.Sanitize() + " TO " + pgx.Identifier{*memberName}.Sanitize()
	if !grant {
		stmt = "REVOKE " + pgx.Identifier{*roleName}.Sanitize() + " FROM " + pgx.Identifier{*memberName}.Sanitize()
	}
	if _, err := tx.Exec(ctx, stmt, pgx.QueryExecModeExec); err != nil {
		return err
	}
	// The names were resolved before the statement: check that they still
	// name the same roles and that the change is there.
	var same bool
	err = tx.QueryRow(ctx, `
		SELECT coalesce((SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1::name) = $3::oid
		            AND (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $2::name) = $4::oid, false),
		       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members WHERE roleid = $4 AND member = $3)`,
		*memberName, *roleName, member, role).Scan(&same, &held)
	switch {
	case err != nil:
		return err
	case !same:
		return connector.Errorf(connector.ErrUnavailable, "postgres: the roles were renamed during the %s; try again", verb(grant))
	case held != grant:
		return connector.Errorf(connector.ErrPermission, "postgres: the server did not %s the membership", verb(grant))
	}
	return nil
}

// objectSQL is, for each kind of privilege, the catalog query of the
// object's name (if it is one the connector lists) and of whether the
// member holds the privilege, and the object type in GRANT. In a lookup,
// scopeMark stands for the condition that the member is in the
// connector's scope, whose parameters follow the lookup's three.
var objectSQL = map[string]struct{ lookup, verify, keyword string }{
	KindDatabase: {
		lookup: `
			SELECT (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = $1 AND rolcanlogin AND rolname !~ '^pg_' /*scope*/),
			       $1::oid IS NOT DISTINCT FROM (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user),
			       (SELECT datname FROM pg_catalog.pg_database WHERE oid = $2 AND NOT datistemplate AND datallowconn),
			       EXISTS (SELECT 1 FROM pg_catalog.pg_database d,
			                      pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
			                WHERE d.oid = $2 AND a.grantee = $1 AND a.privilege_type = $3::text)`,
		verify: `
			SELECT coalesce((SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1::name) = $3::oid
			            AND (SELECT oid FROM pg_catalog.pg_database WHERE datname = $2::name) = $4::oid, false),
			       EXISTS (SELECT 1 FROM pg_catalog.pg_database d,
			                      pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
			                WHERE d.oid = $4 AND a.grantee = $3 AND a.privilege_type = $5::text)`,
		keyword: "DATABASE",
	},
	KindSchema: {
		lookup: `
			SELECT (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = $1 AND rolcanlogin AND rolname !~ '^pg_' /*scope*/),
			       $1::oid IS NOT DISTINCT FROM (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user),
			       (SELECT nspname FROM pg_catalog.pg_namespace
			         WHERE oid = $2 AND nspname !~ '^pg_' AND nspname <> 'information_schema'),
			       EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n,
			                      pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
			                WHERE n.oid = $2 AND a.grantee = $1 AND a.privilege_type = $3::text)`,
		verify: `
			SELECT coalesce((SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1::name) = $3::oid
			            AND (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $2::name) = $4::oid, false),
			       EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n,
			                      pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
			                WHERE n.oid = $4 AND a.grantee = $3 AND a.privilege_type = $5::text)`,
		keyword: "SCHEMA",
	},
}

// scopeMark marks where a lookup of objectSQL takes the scope's
// condition.
const scopeMark = "/*scope*/"

// changePrivilege grants or revokes a database or schema privilege, in
// tx. The member is in the connector's scope, or is not found.
func (c *Connector) changePrivilege(ctx context.Context, tx pgx.Tx, identityID, entitlementID string, member uint32, ent entitlementRef, grant bool) error {
	q := objectSQL[ent.kind]
	var memberName, objectName *string
	var self, held bool
	lookup := strings.Replace(q.lookup, scopeMark, c.scope.where("rolname", 4), 1)
	err := tx.QueryRow(ctx, lookup, append([]any{member, ent.oid, ent.privilege}, c.scope.args()...)...).
		Scan(&memberName, &self, &objectName, &held)
	switch {
	case err != nil:
		return err
	case memberName == nil || !c.scope.has(*memberName):
		return c.roleNotFound("identity", identityID)
	case objectName == nil:
		return notFound("entitlement", entitlementID)
	case self:
		return connector.Errorf(connector.ErrRefused, "postgres: the connector does not change its own role's privileges")
	case grant == held:
		return nil
	}
	// ent.privilege is one of the fixed privilege names (parseEntitlementID).
	object := q.keyword + " " + pgx.Identifier{*objectName}.Sanitize()
	stmt := "GRANT " + ent.privilege + " ON " + object + " TO " + pgx.Identifier{*memberName}.Sanitize()
	if !grant {
		stmt = "REVOKE " + ent.privilege + " ON " + object + " FROM " + pgx.Identifier{*memberName}.Sanitize()
	}
	if _, err := tx.Exec(ctx, stmt, pgx.QueryExecModeExec); err != nil {
		return err
	}
	var same bool
	if err := tx.QueryRow(ctx, q.verify, *memberName, *objectName, member, ent.oid, ent.privilege).Scan(&same, &held); err != nil {
		return err
	}
	switch {
	case !same:
		return connector.Errorf(connector.ErrUnavailable, "postgres: the role or %s was renamed during the %s; try again", ent.kind, verb(grant))
	case held != grant && grant:
		return connector.Errorf(connector.ErrPermission, "postgres: the server did not grant the privilege: the connector's role lacks the grant option on the %s", ent.kind)
	case held != grant:
		return connector.Errorf(connector.ErrPermission, "postgres: the privilege is still held: it was granted by another role, which alone can revoke it")
	}
	return nil
}

func verb(grant bool) string {
	if grant {
		return "grant"
	}
	return "revoke"
}
