// Package postgres is the connector to a PostgreSQL server (version 12 or
// later): its login roles are the identities, its group roles (and,
// optionally, database and schema privileges) the entitlements, and role
// memberships (and privileges held) the grants.
//
// # What is listed
//
// Identities are the login roles (rolcanlogin), kind "user", with the
// attributes superuser, create_role, create_db, replication, bypass_rls and
// inherit ("true" or "false"), connection_limit (absent when unlimited)
// and valid_until (RFC 3339, UTC; "-infinity" when the password never
// was valid; absent when it never expires).
// Every login role is listed, superusers and the connector's own role
// included: hiding an account would hide it from review. (A role prefix,
// below, is how an operator chooses which roles a connector governs.)
//
// Entitlements are the group roles (roles without LOGIN), kind "role",
// described by their comment. With Config.PrivilegeEntitlements they also
// include the CONNECT, CREATE and TEMPORARY privileges on every database
// that accepts connections (kind "database"), and the CREATE and USAGE
// privileges on every schema of the connected database (kind "schema"),
// system schemas (pg_*, information_schema) excepted.
//
// Grants are the direct memberships of login roles in group roles
// (pg_auth_members), and, with PrivilegeEntitlements, the privileges of
// login roles in the databases' and schemas' access control lists
// (including an owner's implicit privileges, as aclexplode shows them).
// Memberships inherited through other roles are not grants: a grant is
// something Revoke can take away.
//
// PostgreSQL's predefined roles (pg_*) are neither identities nor
// entitlements: the server manages them, and the connector never grants
// them.
//
// # Role prefix
//
// With Config.RolePrefix, the connector sees only the roles whose names
// start with the prefix, compared byte for byte with the names as the
// catalog stores them (case and all; "_" and "%" are characters, not
// wildcards): identities are the login roles with the prefix,
// role entitlements the group roles with it, and grants the memberships
// whose member and role both have it and, with PrivilegeEntitlements,
// the privileges of login roles with it. Database and schema privileges
// are still every database's and schema's: a prefix names roles. Every
// other role is invisible: it is not listed, Grant and Revoke do not find
// it (ErrNotFound), and a membership between a role inside and one
// outside is not a grant. A role that reaches administrator power
// through roles outside the prefix is still refused (see below). The
// prefix is matched in SQL as a range of names in byte order, which the
// role-name index serves, so a page's cost is the same as without one.
//
// IDs are built from object identifiers (OIDs), which stay the same when
// a role is renamed and change when a role is dropped and created again:
// "role:<oid>" for roles, "database:<oid>:<PRIVILEGE>" and
// "schema:<oid>:<PRIVILEGE>" for privileges. Listings are in name order
// (byte order, PostgreSQL's "C" collation), paged by key (the names of the
// last item listed), so memory is bounded by the page size. A page of
// roles or memberships costs one query that reads, through the role-name
// index, at most the page's size of roles and as many memberships of
// each, however deep the listing; a page of grants may therefore hold
// fewer grants than its size (login roles without memberships take room
// in it). A page of privileges reads the access control lists of every
// database or schema, which suits their usual numbers (hundreds, not
// millions).
//
// # What is refused
//
// The connector refuses (ErrRefused):
//
//   - to grant membership in a role that has, or through its own
//     memberships reaches, SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS,
//     a login role (which the grantee could then act as), the connector's
//     own role, or one of the predefined roles that give the server
//     account's power (pg_execute_server_program, pg_read_server_files,
//     pg_write_server_files): a member may SET ROLE to any role it belongs
//     to and use its attributes, so each of these is an administrator's
//     power, not an entitlement to hand out through a request. Revoking
//     such a membership is allowed: it only takes power away.
//   - to grant to or revoke from its own role, so that it cannot raise or
//     cut its own privileges.
//
// # Changes
//
// Grant and Revoke run in one transaction: they resolve both OIDs to
// current names, check the policy above, do nothing if the grant already
// exists (or does not), run GRANT or REVOKE with both names quoted by
// pgx.Identifier.Sanitize, and check that the catalog then shows the
// change on the same OIDs before they commit. A server that silently
// ignores the change (a privilege granted by another role, which only that
// role can revoke; a grant without the grant option) is ErrPermission. A
// change that collides with the same change in another session is tried
// again, up to three times in all.
//
// # Connection
//
// A Connector holds at most one connection and runs one call at a time on
// it; it connects when first used and again after the connection fails,
// so a listing interrupted by a lost connection (ErrUnavailable) resumes
// from its last token. Its session has search_path pg_catalog, a 60 s
// statement timeout and a 10 s lock timeout. Errors carry the SQLSTATE,
// never the server's message, and never a credential.
package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nuxari/nuxari/connector"
)

// Connector is the PostgreSQL connector. It is safe for concurrent use;
// calls run one at a time.
type Connector struct {
	cfg    Config
	scope  scope
	pgcfg  *pgx.ConnConfig
	sem    chan struct{} // holds one token while a call runs
	conn   *pgx.Conn     // guarded by sem; nil until connected
	closed bool          // guarded by sem
}

var _ connector.Connector = (*Connector)(nil)

// New checks cfg and returns a connector. It does not connect: Validate
// does, and so does the first call.
func New(cfg Config) (*Connector, error) {
	pgcfg, err := cfg.connConfig()
	if err != nil {
		return nil, err
	}
	return &Connector{cfg: cfg, scope: newScope(cfg.RolePrefix), pgcfg: pgcfg, sem: make(chan struct{}, 1)}, nil
}

// String describes the connector without its secrets.
func (c *Connector) String() string { return "postgres connector " + c.cfg.String() }

// GoString is String, for %#v.
func (c *Connector) GoString() string { return c.String() }

// Validate connects anew (replacing the connection the connector held),
// so that the credentials are checked by the server now, and reads the
// connector's own role from the catalog.
func (c *Connector) Validate(ctx context.Context) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	c.dropConn()
	return c.run(ctx, "validate", func(conn *pgx.Conn) error {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = session_user)`).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return connector.Errorf(connector.ErrPermission, "postgres: the connector's role cannot read the role catalog")
		}
		return nil
	})
}

// Close closes the connection. It waits for a running call to end.
func (c *Connector) Close() error {
	c.sem <- struct{}{}
	defer c.release()
	c.closed = true
	c.dropConn()
	return nil
}

// acquire waits for the connector's turn, or for ctx.
func (c *Connector) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return connector.ContextError(ctx, "postgres: waiting for the connection")
	}
	if c.closed {
		c.release()
		return connector.Errorf(connector.ErrInvalid, "postgres: the connector is closed")
	}
	return nil
}

func (c *Connector) release() { <-c.sem }

// dropConn closes the connection, if any. The caller holds sem.
func (c *Connector) dropConn() {
	if c.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.conn.Close(ctx)
	c.conn = nil
}

// do runs f on the connection, in turn with other calls.
func (c *Connector) do(ctx context.Context, op string, f func(*pgx.Conn) error) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.run(ctx, op, f)
}

// run connects if needed and runs f, mapping its error. The caller holds
// sem.
func (c *Connector) run(ctx context.Context, op string, f func(*pgx.Conn) error) error {
	if c.conn != nil && c.conn.IsClosed() {
		c.conn = nil
	}
	if c.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, c.pgcfg)
		if err != nil {
			return c.mapError(ctx, "connect", err)
		}
		c.conn = conn
	}
	err := f(c.conn)
	if c.conn.IsClosed() {
		c.conn = nil
	}
	return c.mapError(ctx, op, err)
}

// mapError turns a driver's error into a connector error whose message
// holds only facts the connector chose: what failed, the address, the
// SQLSTATE. The driver's error is dropped: its text may quote the server,
// and its connection errors hold the whole configuration, password
// included.
func (c *Connector) mapError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		return err
	}
	if ctx.Err() != nil {
		return connector.ContextError(ctx, "postgres: "+op)
	}
	kindf := func(kind *connector.Error, format string, args ...any) error {
		return connector.Errorf(kind, "postgres: %s: %s", op, fmt.Sprintf(format, args...))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case code == "28P01" || code == "28000":
			return kindf(connector.ErrUnauthenticated, "the server at %s refused the credentials of role %q (SQLSTATE %s)", c.cfg.address(), c.cfg.User, code)
		case code == "3D000":
			return kindf(connector.ErrInvalid, "database %q does not exist (SQLSTATE %s)", c.cfg.Database, code)
		case code == "42501":
			return kindf(connector.ErrPermission, "the connector's role lacks a privilege (SQLSTATE %s)", code)
		case code == "42704":
			return kindf(connector.ErrNotFound, "the object no longer exists (SQLSTATE %s)", code)
		case code == "2BP01":
			return kindf(connector.ErrRefused, "other roles hold privileges through this grant (SQLSTATE %s)", code)
		case code == "25006":
			return kindf(connector.ErrInvalid, "the server is read-only (SQLSTATE %s)", code)
		case strings.HasPrefix(code, "22") || strings.HasPrefix(code, "0L") || strings.HasPrefix(code, "42"):
			return kindf(connector.ErrInvalid, "the server refused the request (SQLSTATE %s)", code)
		default:
			// Connection exceptions (08), shutdown and cancellation (57),
			// resources (53), system errors (58), conflicts (40, 23505,
			// concurrent catalog updates) and the rest: the call may work
			// when tried again.
			return kindf(connector.ErrUnavailable, "the server reported an error (SQLSTATE %s)", code)
		}
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &hostErr):
		return kindf(connector.ErrUnavailable, "the TLS certificate of %s is not valid for host %q", c.cfg.address(), c.cfg.Host)
	case errors.As(err, &authErr), errors.As(err, &certErr):
		return kindf(connector.ErrUnavailable, "the TLS certificate of %s is not trusted", c.cfg.address())
	case errors.As(err, &dnsErr):
		return kindf(connector.ErrUnavailable, "cannot resolve host %q", c.cfg.Host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindf(connector.ErrUnavailable, "connection to %s refused", c.cfg.address())
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err):
		return kindf(connector.ErrUnavailable, "%s did not answer in time", c.cfg.address())
	case op == "connect":
		mode := c.cfg.TLSMode
		if mode == "" {
			mode = TLSVerifyFull
		}
		return kindf(connector.ErrUnavailable, "cannot connect to %s (TLS %s)", c.cfg.address(), mode)
	}
	return kindf(connector.ErrUnavailable, "the connection to %s failed", c.cfg.address())
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
