package connectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/internal/secret"
)

// system is a governed system in memory: the passwords it accepts, its
// identities, entitlements and grants, and failures to inject.
type system struct {
	mu           sync.Mutex
	passwords    map[string]bool
	identities   []connector.Identity
	entitlements []connector.Entitlement
	grants       []connector.Grant
	// down makes every call fail as unavailable; flaky fails the next n
	// listing calls as unavailable.
	down  bool
	flaky int
	// seen records the passwords connectors were opened with.
	seen []string
	// validated counts Validate calls.
	validated int
}

func newSystem(passwords ...string) *system {
	s := &system{passwords: map[string]bool{}}
	for _, p := range passwords {
		s.passwords[p] = true
	}
	return s
}

func (s *system) accept(passwords ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passwords = map[string]bool{}
	for _, p := range passwords {
		s.passwords[p] = true
	}
}

func (s *system) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// populate gives the system n identities, m entitlements and the grants
// of identity i to entitlements i%m and (i+1)%m.
func (s *system) populate(n, m int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities, s.entitlements, s.grants = nil, nil, nil
	for i := range n {
		s.identities = append(s.identities, connector.Identity{ID: fmt.Sprintf("u%06d", i), Name: fmt.Sprintf("user %d", i), Kind: "user"})
	}
	for j := range m {
		s.entitlements = append(s.entitlements, connector.Entitlement{ID: fmt.Sprintf("r%04d", j), Name: fmt.Sprintf("role %d", j), Kind: "role"})
	}
	for i := range n {
		s.grants = append(s.grants,
			connector.Grant{IdentityID: fmt.Sprintf("u%06d", i), EntitlementID: fmt.Sprintf("r%04d", i%m)},
			connector.Grant{IdentityID: fmt.Sprintf("u%06d", i), EntitlementID: fmt.Sprintf("r%04d", (i+1)%m)})
	}
}

func (s *system) addGrant(g connector.Grant) {
	s.mu.Lock()
	s.grants = append(s.grants, g)
	s.mu.Unlock()
}

// driver is a connector driver over a system: settings {"host": ...},
// credentials "password" (required) and "token" (optional).
type driver struct{ sys *system }

// settings: a host, and a certificate whose key is the "token"
// credential ("key of <cert>"), as a client certificate goes with its
// key.
type settings struct {
	Host string `json:"host"`
	Cert string `json:"cert,omitempty"`
}

func (driver) Kind() string { return "fake" }
func (driver) CredentialSettings() func(a, b []byte) bool {
	return func(a, b []byte) bool {
		var sa, sb settings
		return json.Unmarshal(a, &sa) == nil && json.Unmarshal(b, &sb) == nil && sa.Cert == sb.Cert
	}
}
func (driver) CredentialFields() []string { return []string{"password", "token"} }

func (driver) CheckSettings(b []byte) ([]byte, error) {
	var s settings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Host == "" {
		return nil, connector.Errorf(connector.ErrInvalid, "fake: settings need a host")
	}
	return json.Marshal(s)
}

func (driver) CheckCredentials(_ []byte, fields []string) error {
	if !slices.Contains(fields, "password") {
		return connector.Errorf(connector.ErrInvalid, "fake: a password is required")
	}
	return nil
}

func (d driver) Open(b []byte, creds map[string]secret.String) (connector.Connector, error) {
	var st settings
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.Cert != "" && creds["token"].Reveal() != "key of "+st.Cert {
		return nil, connector.Errorf(connector.ErrInvalid, "fake: the certificate and key are not a pair")
	}
	pw := creds["password"].Reveal()
	d.sys.mu.Lock()
	d.sys.seen = append(d.sys.seen, pw)
	d.sys.mu.Unlock()
	return &conn{sys: d.sys, password: pw}, nil
}

// conn is a connector to a system.
type conn struct {
	sys      *system
	password string
}

func (c *conn) check(listing bool) error {
	c.sys.mu.Lock()
	defer c.sys.mu.Unlock()
	switch {
	case c.sys.down:
		return connector.Errorf(connector.ErrUnavailable, "fake: the system is down")
	case listing && c.sys.flaky > 0:
		c.sys.flaky--
		return connector.Errorf(connector.ErrUnavailable, "fake: the connection was lost")
	case !c.sys.passwords[c.password]:
		return connector.Errorf(connector.ErrUnauthenticated, "fake: the system refused the credentials")
	}
	return nil
}

func page[T any](c *conn, items func() []T, p connector.Page) ([]T, string, error) {
	if err := c.check(true); err != nil {
		return nil, "", err
	}
	n, err := p.Limit()
	if err != nil {
		return nil, "", err
	}
	off := 0
	if p.Token != "" {
		if off, err = strconv.Atoi(p.Token); err != nil {
			return nil, "", connector.Errorf(connector.ErrInvalid, "fake: bad token")
		}
	}
	c.sys.mu.Lock()
	all := items()
	c.sys.mu.Unlock()
	end := min(off+n, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return slices.Clone(all[off:end]), next, nil
}

func (c *conn) ListIdentities(_ context.Context, p connector.Page) ([]connector.Identity, string, error) {
	return page(c, func() []connector.Identity { return c.sys.identities }, p)
}

func (c *conn) ListEntitlements(_ context.Context, p connector.Page) ([]connector.Entitlement, string, error) {
	return page(c, func() []connector.Entitlement { return c.sys.entitlements }, p)
}

func (c *conn) ListGrants(_ context.Context, p connector.Page) ([]connector.Grant, string, error) {
	return page(c, func() []connector.Grant { return c.sys.grants }, p)
}

func (c *conn) Grant(context.Context, string, string) error  { return c.check(false) }
func (c *conn) Revoke(context.Context, string, string) error { return c.check(false) }

func (c *conn) Validate(context.Context) error {
	c.sys.mu.Lock()
	c.sys.validated++
	c.sys.mu.Unlock()
	return c.check(false)
}

func (c *conn) Close() error { return nil }
