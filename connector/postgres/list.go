package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nuxari/nuxari/connector"
)

// A phase of a listing: a query that returns rows in key order after a
// position, up to a limit.
type phase[T any] struct {
	// keyLens are the numbers of elements a position's key may have in
	// this phase, beside none (the phase's start).
	keyLens []int
	query   string
	// args returns the query's arguments for the position after key (nil
	// for the phase's start) and the limit.
	args func(key []string, limit int) []any
	// scan reads one row: its key and, if ok, an item. A row without an
	// item only moves the position on.
	scan func(pgx.Rows) (item T, ok bool, key []string, err error)
}

// keyPhase is a phase whose key has n elements, passed as the query's
// first n arguments (empty strings at the start, before every name), the
// limit next, then the parameters of s.where: the first element of the
// key is a role name, and a row whose role is outside s is not an item.
// A phase whose key does not start with a role name has the scope of
// every role.
func keyPhase[T any](n int, query string, s scope, scan func(pgx.Rows) (T, []string, error)) phase[T] {
	return phase[T]{
		keyLens: []int{n},
		query:   query,
		args: func(key []string, limit int) []any {
			args := make([]any, n, n+3)
			for i := range args {
				args[i] = ""
				if key != nil {
					args[i] = key[i]
				}
			}
			return append(append(args, limit), s.args()...)
		},
		scan: func(rows pgx.Rows) (T, bool, []string, error) {
			item, key, err := scan(rows)
			return item, err == nil && s.has(key[0]), key, err
		},
	}
}

// list reads one page of a listing made of phases, in order. A query asks
// for one row more than the page needs, to know whether the listing goes
// on.
func list[T any](ctx context.Context, c *Connector, op string, listing byte, page connector.Page, phases []phase[T]) ([]T, string, error) {
	limit, err := page.Limit()
	if err != nil {
		return nil, "", err
	}
	keyLens := make([][]int, len(phases))
	for i, p := range phases {
		keyLens[i] = p.keyLens
	}
	start, err := decodeToken(listing, page.Token, keyLens)
	if err != nil {
		return nil, "", err
	}
	var out []T
	next := ""
	err = c.do(ctx, op, func(conn *pgx.Conn) error {
		out, next = make([]T, 0, min(limit, 64)), ""
		rowsRead := 0 // rows count against the page, with or without an item
		for p := start.phase; p < len(phases); p++ {
			ph := phases[p]
			var key []string
			if p == start.phase {
				key = start.key
			}
			need := limit - rowsRead
			more, last, err := func() (bool, []string, error) {
				rows, err := conn.Query(ctx, ph.query, ph.args(key, need+1)...)
				if err != nil {
					return false, nil, err
				}
				defer rows.Close()
				last := key
				n := 0
				for rows.Next() {
					if n == need {
						return true, last, nil
					}
					item, ok, k, err := ph.scan(rows)
					if err != nil {
						return false, nil, err
					}
					if ok {
						out = append(out, item)
					}
					last = k
					n++
				}
				rowsRead += n
				return false, nil, rows.Err()
			}()
			if err != nil {
				return err
			}
			if more {
				next = encodeToken(listing, position{phase: p, key: last})
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ListIdentities lists the login roles (of the scope) in name order. See
// the package documentation.
func (c *Connector) ListIdentities(ctx context.Context, page connector.Page) ([]connector.Identity, string, error) {
	return list(ctx, c, "list identities", listIdentities, page, []phase[connector.Identity]{keyPhase(1, `
		SELECT oid, rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
		       rolinherit, rolconnlimit, rolvaliduntil
		  FROM pg_catalog.pg_roles
		 WHERE rolcanlogin AND rolname !~ '^pg_' AND rolname > $1::name`+c.scope.where("rolname", 3)+`
		 ORDER BY rolname
		 LIMIT $2`, c.scope, scanIdentity)})
}

func scanIdentity(rows pgx.Rows) (connector.Identity, []string, error) {
	var (
		oid                                                      uint32
		name                                                     string
		super, createRole, createDB, replication, bypass, inheri bool
		connLimit                                                int32
		validUntil                                               pgtype.Timestamptz
	)
	if err := rows.Scan(&oid, &name, &super, &createRole, &createDB, &replication, &bypass, &inheri, &connLimit, &validUntil); err != nil {
		return connector.Identity{}, nil, err
	}
	attrs := map[string]string{
		"superuser":   strconv.FormatBool(super),
		"create_role": strconv.FormatBool(createRole),
		"create_db":   strconv.FormatBool(createDB),
		"replication": strconv.FormatBool(replication),
		"bypass_rls":  strconv.FormatBool(bypass),
		"inherit":     strconv.FormatBool(inheri),
	}
	if connLimit >= 0 {
		attrs["connection_limit"] = strconv.Itoa(int(connLimit))
	}
	if validUntil.Valid {
		switch validUntil.InfinityModifier {
		case pgtype.Finite:
			attrs["valid_until"] = validUntil.Time.UTC().Format(time.RFC3339)
		case pgtype.NegativeInfinity:
			attrs["valid_until"] = "-infinity"
		}
	}
	return connector.Identity{
		ID:         roleID(oid),
		Name:       connector.Text(name, connector.MaxNameLen),
		Kind:       KindUser,
		Attributes: attrs,
	}, []string{name}, nil
}

// ListEntitlements lists the group roles (of the scope) in name order,
// then, with Config.PrivilegeEntitlements, the database privileges and
// the schema privileges, each in name order.
func (c *Connector) ListEntitlements(ctx context.Context, page connector.Page) ([]connector.Entitlement, string, error) {
	phases := []phase[connector.Entitlement]{keyPhase(1, `
		SELECT oid, rolname, coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '')
		  FROM pg_catalog.pg_roles
		 WHERE NOT rolcanlogin AND rolname !~ '^pg_' AND rolname > $1::name`+c.scope.where("rolname", 3)+`
		 ORDER BY rolname
		 LIMIT $2`, c.scope,
		func(rows pgx.Rows) (connector.Entitlement, []string, error) {
			var oid uint32
			var name, comment string
			if err := rows.Scan(&oid, &name, &comment); err != nil {
				return connector.Entitlement{}, nil, err
			}
			return connector.Entitlement{
				ID:          roleID(oid),
				Name:        connector.Text(name, connector.MaxNameLen),
				Kind:        KindRole,
				Description: connector.Text(comment, connector.MaxDescriptionLen),
			}, []string{name}, nil
		})}
	if c.cfg.PrivilegeEntitlements {
		phases = append(phases,
			privilegePhase(KindDatabase, `
				SELECT d.oid, d.datname, p.priv
				  FROM pg_catalog.pg_database d
				 CROSS JOIN (VALUES ('CONNECT'), ('CREATE'), ('TEMPORARY')) p(priv)
				 WHERE NOT d.datistemplate AND d.datallowconn
				   AND (d.datname, p.priv) > ($1::name, $2::text)
				 ORDER BY d.datname, p.priv
				 LIMIT $3`),
			privilegePhase(KindSchema, `
				SELECT n.oid, n.nspname, p.priv
				  FROM pg_catalog.pg_namespace n
				 CROSS JOIN (VALUES ('CREATE'), ('USAGE')) p(priv)
				 WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
				   AND (n.nspname, p.priv) > ($1::name, $2::text)
				 ORDER BY n.nspname, p.priv
				 LIMIT $3`))
	}
	return list(ctx, c, "list entitlements", listEntitlements, page, phases)
}

func privilegePhase(kind, query string) phase[connector.Entitlement] {
	return keyPhase(2, query, scope{}, func(rows pgx.Rows) (connector.Entitlement, []string, error) {
		var oid uint32
		var name, priv string
		if err := rows.Scan(&oid, &name, &priv); err != nil {
			return connector.Entitlement{}, nil, err
		}
		return connector.Entitlement{
			ID:          privilegeID(kind, oid, priv),
			Name:        connector.Text(priv+" on "+kind+" "+pgx.Identifier{name}.Sanitize(), connector.MaxNameLen),
			Kind:        kind,
			Description: privilegeDescriptions[kind+":"+priv],
		}, []string{name, priv}, nil
	})
}

// ListGrants lists the memberships of login roles in group roles (both
// of the scope), in order of member then role name, then, with
// Config.PrivilegeEntitlements, the database privileges and the schema
// privileges of login roles (of the scope), in order of role, object and
// privilege name.
func (c *Connector) ListGrants(ctx context.Context, page connector.Page) ([]connector.Grant, string, error) {
	phases := []phase[connector.Grant]{membershipPhase(c.scope)}
	if c.cfg.PrivilegeEntitlements {
		phases = append(phases,
			privilegeGrantPhase(KindDatabase, c.scope, `
				SELECT DISTINCT m.rolname, d.datname, a.privilege_type, m.oid, d.oid
				  FROM pg_catalog.pg_database d
				 CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
				  JOIN pg_catalog.pg_roles m ON m.oid = a.grantee
				 WHERE NOT d.datistemplate AND d.datallowconn
				   AND m.rolcanlogin AND m.rolname !~ '^pg_'
				   AND a.privilege_type IN ('CONNECT', 'CREATE', 'TEMPORARY')
				   AND (m.rolname, d.datname, a.privilege_type) > ($1::name, $2::name, $3::text)`+c.scope.where("m.rolname", 5)+`
				 ORDER BY 1, 2, 3
				 LIMIT $4`),
			privilegeGrantPhase(KindSchema, c.scope, `
				SELECT DISTINCT m.rolname, n.nspname, a.privilege_type, m.oid, n.oid
				  FROM pg_catalog.pg_namespace n
				 CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
				  JOIN pg_catalog.pg_roles m ON m.oid = a.grantee
				 WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
				   AND m.rolcanlogin AND m.rolname !~ '^pg_'
				   AND a.privilege_type IN ('CREATE', 'USAGE')
				   AND (m.rolname, n.nspname, a.privilege_type) > ($1::name, $2::name, $3::text)`+c.scope.where("m.rolname", 5)+`
				 ORDER BY 1, 2, 3
				 LIMIT $4`))
	}
	return list(ctx, c, "list grants", listGrants, page, phases)
}

func privilegeGrantPhase(kind string, s scope, query string) phase[connector.Grant] {
	return keyPhase(3, query, s, func(rows pgx.Rows) (connector.Grant, []string, error) {
		var member, object, priv string
		var memberOID, objectOID uint32
		if err := rows.Scan(&member, &object, &priv, &memberOID, &objectOID); err != nil {
			return connector.Grant{}, nil, err
		}
		return connector.Grant{IdentityID: roleID(memberOID), EntitlementID: privilegeID(kind, objectOID, priv)},
			[]string{member, object, priv}, nil
	})
}

// membershipPhase lists memberships member by member: a page reads at most
// its limit of login roles, in name order (an index range scan), and at
// most its limit of memberships of each, so its cost does not grow with
// the listing's position or length. A login role without memberships
// (left) counts against the page without an item, so a page may list
// fewer grants than its size. A key is the member and the role of the
// last membership listed, or a member alone when all of its memberships
// have been listed. Members and roles are those of s.
func membershipPhase(s scope) phase[connector.Grant] {
	return phase[connector.Grant]{
		keyLens: []int{1, 2},
		// DISTINCT: from PostgreSQL 16 on, one membership may be granted by
		// several grantors.
		query: `
			SELECT m.rolname, g.rolname, m.oid, g.oid
			  FROM (SELECT oid, rolname FROM pg_catalog.pg_roles
			         WHERE rolcanlogin AND rolname !~ '^pg_'
			           AND rolname >= $1::name AND (rolname > $1::name OR $4::bool)` + s.where("rolname", 5) + `
			         ORDER BY rolname
			         LIMIT $3) m
			  LEFT JOIN LATERAL (
			        SELECT DISTINCT r.oid, r.rolname
			          FROM pg_catalog.pg_auth_members a
			          JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
			         WHERE a.member = m.oid AND NOT r.rolcanlogin AND r.rolname !~ '^pg_'
			           AND (m.rolname > $1::name OR r.rolname > $2::name)` + s.where("r.rolname", 5) + `
			         ORDER BY r.rolname
			         LIMIT $3) g ON true
			 ORDER BY m.rolname, g.rolname
			 LIMIT $3`,
		args: func(key []string, limit int) []any {
			member, role := "", ""
			if len(key) > 0 {
				member = key[0]
			}
			if len(key) > 1 {
				role = key[1]
			}
			// With a role in the key, the member's memberships after that
			// role come first; with the member alone, the next member.
			return append([]any{member, role, limit, len(key) == 2}, s.args()...)
		},
		scan: func(rows pgx.Rows) (connector.Grant, bool, []string, error) {
			var member string
			var role *string
			var memberOID uint32
			var roleOID *uint32
			if err := rows.Scan(&member, &role, &memberOID, &roleOID); err != nil {
				return connector.Grant{}, false, nil, err
			}
			if role == nil {
				return connector.Grant{}, false, []string{member}, nil
			}
			key := []string{member, *role}
			if !s.has(member) || !s.has(*role) {
				return connector.Grant{}, false, key, nil
			}
			return connector.Grant{IdentityID: roleID(memberOID), EntitlementID: roleID(*roleOID)}, true, key, nil
		},
	}
}
