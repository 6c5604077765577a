package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/internal/secret"
)

// TLSMode says whether and how the connection is encrypted.
type TLSMode string

// The TLS modes. They mean what libpq's sslmode values of the same names
// mean, except that Require never verifies (a CA is refused with it) and
// that no mode falls back to an unencrypted connection.
const (
	// TLSVerifyFull encrypts the connection and verifies the server's
	// certificate against CAPEM (or the system's roots without it) and
	// Host. It is the default.
	TLSVerifyFull TLSMode = "verify-full"
	// TLSRequire encrypts the connection but does not verify the server's
	// certificate: it protects against eavesdropping, not against an
	// impostor.
	TLSRequire TLSMode = "require"
	// TLSDisable connects without TLS.
	TLSDisable TLSMode = "disable"
)

// DefaultConnectTimeout bounds connecting (TCP, TLS and authentication)
// when Config.ConnectTimeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// MaxConnectTimeout is the longest Config.ConnectTimeout accepted.
const MaxConnectTimeout = 5 * time.Minute

// Server-side bounds the connector sets on its session, so that no call
// holds the server (or waits on it) without end.
const (
	statementTimeout = "60s"
	lockTimeout      = "10s"
	idleTxTimeout    = "60s"
	applicationName  = "nuxari-connector"
)

// Config is how to reach and authenticate to a PostgreSQL server. Its
// secrets (Password, ClientKeyPEM) print as [REDACTED] in every form.
type Config struct {
	// Host is the server's host name or IP address.
	Host string
	// Port is the server's TCP port; 0 means 5432.
	Port int
	// Database is the database to connect to. Roles are the cluster's,
	// whatever the database; schema privileges are those of this database.
	Database string
	// User is the role the connector logs in as. It needs CREATEROLE (or
	// ADMIN OPTION on the roles it grants) to grant and revoke role
	// memberships, and the grant option (or ownership) on the databases and
	// schemas whose privileges it grants.
	User string
	// Password is the role's password; empty for certificate
	// authentication.
	Password secret.String

	// TLSMode is how the connection is encrypted; empty means
	// TLSVerifyFull.
	TLSMode TLSMode
	// CAPEM holds the certificates (PEM) that the server's certificate
	// must chain to in TLSVerifyFull mode; empty for the system's roots.
	CAPEM string
	// ClientCertPEM and ClientKeyPEM are the connector's certificate chain
	// and private key (PEM), for servers that authenticate clients by
	// certificate; both or neither.
	ClientCertPEM string
	ClientKeyPEM  secret.String

	// ConnectTimeout bounds connecting; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// PrivilegeEntitlements adds database and schema privileges to the
	// entitlements (kinds "database" and "schema"), beside group roles.
	PrivilegeEntitlements bool

	// RolePrefix, when not empty, limits the connector to the roles whose
	// names start with it (byte for byte, as the catalog stores them):
	// other roles are neither listed nor granted or revoked. At most
	// MaxRolePrefix bytes of text.
	RolePrefix string
}

// MaxRolePrefix bounds Config.RolePrefix: a role name's length.
const MaxRolePrefix = 63

// connConfig checks cfg and returns the driver's configuration for it.
func (cfg Config) connConfig() (*pgx.ConnConfig, error) {
	invalid := func(format string, args ...any) error {
		return connector.Errorf(connector.ErrInvalid, "postgres: "+format, args...)
	}
	switch {
	case cfg.Host == "":
		return nil, invalid("no host")
	case len(cfg.Host) > 253 || !validHost(cfg.Host):
		return nil, invalid("host %q is not a host name or IP address", connector.Text(cfg.Host, 64))
	case cfg.Port < 0 || cfg.Port > 65535:
		return nil, invalid("port %d is out of range", cfg.Port)
	case cfg.Database == "" || len(cfg.Database) > 63 || !connector.ValidText(cfg.Database):
		return nil, invalid("database name must be 1 to 63 bytes of text")
	case cfg.User == "" || len(cfg.User) > 63 || !connector.ValidText(cfg.User):
		return nil, invalid("user name must be 1 to 63 bytes of text")
	case len(cfg.RolePrefix) > MaxRolePrefix:
		return nil, invalid("role prefix is %d bytes: a role name has at most %d", len(cfg.RolePrefix), MaxRolePrefix)
	case !connector.ValidText(cfg.RolePrefix):
		return nil, invalid("role prefix must be text without control characters")
	case cfg.ConnectTimeout < 0 || cfg.ConnectTimeout > MaxConnectTimeout:
		return nil, invalid("connect timeout %v is not between 0 and %v", cfg.ConnectTimeout, MaxConnectTimeout)
	case (cfg.ClientCertPEM == "") != cfg.ClientKeyPEM.IsZero():
		return nil, invalid("a client certificate and its key go together: give both or neither")
	}
	port := cfg.Port
	if port == 0 {
		port = 5432
	}
	timeout := cfg.ConnectTimeout
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}

	var tlsConfig *tls.Config
	switch cfg.TLSMode {
	case TLSDisable:
		if cfg.CAPEM != "" || cfg.ClientCertPEM != "" {
			return nil, invalid("TLS is disabled, but a CA or client certificate is given")
		}
	case TLSRequire, TLSVerifyFull, "":
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSMode == TLSRequire {
			if cfg.CAPEM != "" {
				return nil, invalid("TLS mode require does not verify the server, so a CA is not used: choose verify-full")
			}
			tlsConfig.InsecureSkipVerify = true
		} else {
			tlsConfig.ServerName = cfg.Host
			if cfg.CAPEM != "" {
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM([]byte(cfg.CAPEM)) {
					return nil, invalid("the CA holds no PEM certificate")
				}
				tlsConfig.RootCAs = pool
			}
		}
		if cfg.ClientCertPEM != "" {
			// The error of X509KeyPair says what is wrong with the PEM,
			// never what it holds; it is still not passed on.
			cert, err := tls.X509KeyPair([]byte(cfg.ClientCertPEM), []byte(cfg.ClientKeyPEM.Reveal()))
			if err != nil {
				return nil, invalid("the client certificate and key are not a valid PEM pair")
			}
			tlsConfig.Certificates = []tls.Certificate{cert}
		}
	default:
		return nil, invalid("unknown TLS mode %q (want disable, require or verify-full)", connector.Text(string(cfg.TLSMode), 32))
	}

	// ParseConfig is the only way to build a driver configuration. It reads
	// PG* environment variables and files (~/.pgpass, certificates) for
	// the settings the string does not give, so the string gives every
	// one of them; the fields are then set from cfg. The placeholder
	// password keeps it from reading a password file; the real one is set
	// below.
	pc, err := pgx.ParseConfig("host=localhost port=5432 dbname=x user=x password=x " +
		"sslmode=disable sslcertmode=allow sslrootcert='' sslcert='' sslkey='' sslpassword='' sslsni=1 " +
		"target_session_attrs=any channel_binding=prefer require_auth='' " +
		"min_protocol_version=3.0 max_protocol_version=3.0 connect_timeout=0")
	if err != nil {
		return nil, invalid("cannot build the connection settings")
	}
	pc.Host = cfg.Host
	pc.Port = uint16(port)
	pc.Database = cfg.Database
	pc.User = cfg.User
	pc.Password = cfg.Password.Reveal()
	pc.TLSConfig = tlsConfig
	pc.Fallbacks = nil
	pc.ConnectTimeout = timeout
	pc.DialFunc = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	pc.KerberosSrvName, pc.KerberosSpn = "", ""
	pc.ValidateConnect, pc.AfterConnect, pc.OnNotice, pc.OnNotification = nil, nil, nil, nil
	pc.RuntimeParams = map[string]string{
		"application_name": applicationName,
		// Every name the connector uses is resolved in the system catalog,
		// whatever the role's or database's search_path.
		"search_path":                         "pg_catalog",
		"statement_timeout":                   statementTimeout,
		"lock_timeout":                        lockTimeout,
		"idle_in_transaction_session_timeout": idleTxTimeout,
		// Every query is planned for its arguments: a generic plan made on
		// the catalogs' statistics (rarely analyzed) can turn a page's
		// index scan into a scan of every role.
		"plan_cache_mode": "force_custom_plan",
		"client_encoding": "UTF8",
	}
	return pc, nil
}

// validHost reports whether h is an IP address or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// address is host:port for messages.
func (cfg Config) address() string {
	port := cfg.Port
	if port == 0 {
		port = 5432
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(port))
}

// String describes the configuration without its secrets.
func (cfg Config) String() string {
	mode := cfg.TLSMode
	if mode == "" {
		mode = TLSVerifyFull
	}
	return fmt.Sprintf("postgres://%s@%s/%s (TLS %s)", cfg.User, cfg.address(), cfg.Database, mode)
}
