package postgres

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"time"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/internal/secret"
)

// Kind is the name of this connector's kind.
const Kind = "postgres"

// The credential fields of a PostgreSQL connector.
const (
	FieldPassword  = "password"
	FieldClientKey = "client_key_pem"
)

// MaxPEM bounds the CA and client certificate PEM of Settings.
const MaxPEM = 64 << 10

// Settings are a connector's settings without its credentials, as they
// are stored and shown (JSON): Config without Password and ClientKeyPEM.
type Settings struct {
	Host                  string  `json:"host"`
	Port                  int     `json:"port,omitempty"`
	Database              string  `json:"database"`
	User                  string  `json:"user"`
	TLSMode               TLSMode `json:"tls_mode,omitempty"`
	CAPEM                 string  `json:"ca_pem,omitempty"`
	ClientCertPEM         string  `json:"client_cert_pem,omitempty"`
	ConnectTimeoutSeconds int     `json:"connect_timeout_seconds,omitempty"`
	PrivilegeEntitlements bool    `json:"privilege_entitlements,omitempty"`
	RolePrefix            string  `json:"role_prefix,omitempty"`
}

// Config returns the connector's configuration for the settings and
// credentials (by field name).
func (s Settings) Config(creds map[string]secret.String) Config {
	return Config{
		Host: s.Host, Port: s.Port, Database: s.Database, User: s.User, Password: creds[FieldPassword],
		TLSMode: s.TLSMode, CAPEM: s.CAPEM, ClientCertPEM: s.ClientCertPEM, ClientKeyPEM: creds[FieldClientKey],
		ConnectTimeout:        time.Duration(s.ConnectTimeoutSeconds) * time.Second,
		PrivilegeEntitlements: s.PrivilegeEntitlements,
		RolePrefix:            s.RolePrefix,
	}
}

// Driver builds PostgreSQL connectors from stored settings and
// credentials. Its errors are connector errors of kind ErrInvalid, safe
// to show.
type Driver struct{}

// Kind returns "postgres".
func (Driver) Kind() string { return Kind }

// CredentialFields lists the credential fields a connector may have.
func (Driver) CredentialFields() []string { return []string{FieldPassword, FieldClientKey} }

func decodeSettings(b []byte) (Settings, error) {
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || dec.More() {
		return Settings{}, connector.Errorf(connector.ErrInvalid, "postgres: settings are not valid")
	}
	return s, nil
}

// CheckSettings checks settings (JSON of Settings) and returns them
// normalized: the default TLS mode spelled out, PEM checked.
func (Driver) CheckSettings(b []byte) ([]byte, error) {
	s, err := decodeSettings(b)
	if err != nil {
		return nil, err
	}
	if s.TLSMode == "" {
		s.TLSMode = TLSVerifyFull
	}
	if len(s.CAPEM) > MaxPEM || len(s.ClientCertPEM) > MaxPEM {
		return nil, connector.Errorf(connector.ErrInvalid, "postgres: a CA or client certificate is larger than %d KiB", MaxPEM>>10)
	}
	if s.ConnectTimeoutSeconds < 0 || time.Duration(s.ConnectTimeoutSeconds)*time.Second > MaxConnectTimeout {
		return nil, connector.Errorf(connector.ErrInvalid, "postgres: connect timeout %ds is not between 0 and %v", s.ConnectTimeoutSeconds, MaxConnectTimeout)
	}
	// The client certificate is checked here on its own; with its key,
	// when credentials are given.
	cert := s.ClientCertPEM
	s.ClientCertPEM = ""
	if _, err := s.Config(nil).connConfig(); err != nil {
		return nil, err
	}
	if cert != "" {
		if s.TLSMode == TLSDisable {
			return nil, connector.Errorf(connector.ErrInvalid, "postgres: TLS is disabled, but a client certificate is given")
		}
		if !validCertPEM(cert) {
			return nil, connector.Errorf(connector.ErrInvalid, "postgres: the client certificate is not a PEM certificate")
		}
	}
	s.ClientCertPEM = cert
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// validCertPEM reports whether s holds PEM certificates only, at least
// one, each parsing.
func validCertPEM(s string) bool {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return false
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return false
		}
		n++
	}
	return n > 0 && len(bytes.TrimSpace(rest)) == 0
}

// CheckCredentials checks which credential fields are given, for the
// settings: a client key exactly when the settings have a client
// certificate; a password, unless they do (it may then be given too).
func (Driver) CheckCredentials(settings []byte, fields []string) error {
	s, err := decodeSettings(settings)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if f != FieldPassword && f != FieldClientKey {
			return connector.Errorf(connector.ErrInvalid, "postgres: unknown credential field %q", connector.Text(f, 64))
		}
	}
	hasKey, hasPassword := slices.Contains(fields, FieldClientKey), slices.Contains(fields, FieldPassword)
	switch {
	case s.ClientCertPEM != "" && !hasKey:
		return connector.Errorf(connector.ErrInvalid, "postgres: the settings have a client certificate, so its key (client_key_pem) is required")
	case s.ClientCertPEM == "" && hasKey:
		return connector.Errorf(connector.ErrInvalid, "postgres: a client key is given, but the settings have no client certificate")
	case s.ClientCertPEM == "" && !hasPassword:
		return connector.Errorf(connector.ErrInvalid, "postgres: a password is required (or a client certificate in the settings and its key)")
	}
	return nil
}

// CredentialSettings reports whether two settings have the same client
// certificate, which goes with the client key: a new one is given with
// its key, in a rotation.
func (Driver) CredentialSettings() func(a, b []byte) bool {
	return func(a, b []byte) bool {
		sa, erra := decodeSettings(a)
		sb, errb := decodeSettings(b)
		return erra == nil && errb == nil && sa.ClientCertPEM == sb.ClientCertPEM
	}
}

// Open returns a connector for the settings and credentials. It does not
// connect.
func (Driver) Open(settings []byte, creds map[string]secret.String) (connector.Connector, error) {
	s, err := decodeSettings(settings)
	if err != nil {
		return nil, err
	}
	c, err := New(s.Config(creds))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// String names the driver.
func (Driver) String() string { return fmt.Sprintf("%s connector driver", Kind) }
