// Package fakesystem is a governed system in memory, with a connector
// driver over it, for the domain's unit tests: the passwords it accepts,
// its identities, entitlements and grants (which Grant and Revoke
// change), and failures to inject.
package fakesystem

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

// System is a governed system in memory: the passwords it accepts, its
// identities, entitlements and grants, and failures to inject.
type System struct {
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
	// validated counts Validate calls; changes the grants and revokes
	// that changed something.
	validated, changes int
}

func New(passwords ...string) *System {
	s := &System{passwords: map[string]bool{}}
	for _, p := range passwords {
		s.passwords[p] = true
	}
	return s
}

func (s *System) Accept(passwords ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passwords = map[string]bool{}
	for _, p := range passwords {
		s.passwords[p] = true
	}
}

func (s *System) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Populate gives the system n identities, m entitlements and the grants
// of identity i to entitlements i%m and (i+1)%m.
func (s *System) Populate(n, m int) {
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

func (s *System) AddGrant(g connector.Grant) {
	s.mu.Lock()
	s.grants = append(s.grants, g)
	s.mu.Unlock()
}

// Driver is a connector driver over a system: settings {"host": ...},
// credentials "password" (required) and "token" (optional).
// Driver is a connector driver over a System.
type Driver struct{ Sys *System }

// settings: a host, and a certificate whose key is the "token"
// credential ("key of <cert>"), as a client certificate goes with its
// key.
type settings struct {
	Host string `json:"host"`
	Cert string `json:"cert,omitempty"`
}

func (Driver) Kind() string { return "fake" }
func (Driver) CredentialSettings() func(a, b []byte) bool {
	return func(a, b []byte) bool {
		var sa, sb settings
		return json.Unmarshal(a, &sa) == nil && json.Unmarshal(b, &sb) == nil && sa.Cert == sb.Cert
	}
}
func (Driver) CredentialFields() []string { return []string{"password", "token"} }

func (Driver) CheckSettings(b []byte) ([]byte, error) {
	var s settings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Host == "" {
		return nil, connector.Errorf(connector.ErrInvalid, "fake: settings need a host")
	}
	return json.Marshal(s)
}

func (Driver) CheckCredentials(_ []byte, fields []string) error {
	if !slices.Contains(fields, "password") {
		return connector.Errorf(connector.ErrInvalid, "fake: a password is required")
	}
	return nil
}

func (d Driver) Open(b []byte, creds map[string]secret.String) (connector.Connector, error) {
	var st settings
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.Cert != "" && creds["token"].Reveal() != "key of "+st.Cert {
		return nil, connector.Errorf(connector.ErrInvalid, "fake: the certificate and key are not a pair")
	}
	pw := creds["password"].Reveal()
	d.Sys.mu.Lock()
	d.Sys.seen = append(d.Sys.seen, pw)
	d.Sys.mu.Unlock()
	return &conn{sys: d.Sys, password: pw}, nil
}

// conn is a connector to a system.
type conn struct {
	sys      *System
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

// Grant adds the grant (nothing if held); an unknown identity or
// entitlement is ErrNotFound.
func (c *conn) Grant(_ context.Context, identity, entitlement string) error {
	if err := c.check(false); err != nil {
		return err
	}
	c.sys.mu.Lock()
	defer c.sys.mu.Unlock()
	if err := c.sys.known(identity, entitlement); err != nil {
		return err
	}
	g := connector.Grant{IdentityID: identity, EntitlementID: entitlement}
	if !slices.Contains(c.sys.grants, g) {
		c.sys.grants = append(c.sys.grants, g)
		c.sys.changes++
	}
	return nil
}

// Revoke removes the grant (nothing if not held).
func (c *conn) Revoke(_ context.Context, identity, entitlement string) error {
	if err := c.check(false); err != nil {
		return err
	}
	c.sys.mu.Lock()
	defer c.sys.mu.Unlock()
	if err := c.sys.known(identity, entitlement); err != nil {
		return err
	}
	g := connector.Grant{IdentityID: identity, EntitlementID: entitlement}
	if i := slices.Index(c.sys.grants, g); i >= 0 {
		c.sys.grants = slices.Delete(c.sys.grants, i, i+1)
		c.sys.changes++
	}
	return nil
}

func (s *System) known(identity, entitlement string) error {
	if !slices.ContainsFunc(s.identities, func(i connector.Identity) bool { return i.ID == identity }) ||
		!slices.ContainsFunc(s.entitlements, func(e connector.Entitlement) bool { return e.ID == entitlement }) {
		return connector.Errorf(connector.ErrNotFound, "fake: no such identity or entitlement")
	}
	return nil
}

// Seen returns the passwords connectors were opened with, in order.
func (s *System) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// ResetSeen forgets them.
func (s *System) ResetSeen() {
	s.mu.Lock()
	s.seen = nil
	s.mu.Unlock()
}

// SetFlaky makes the next n listing calls fail as unavailable.
func (s *System) SetFlaky(n int) {
	s.mu.Lock()
	s.flaky = n
	s.mu.Unlock()
}

// Grants returns the system's grants.
func (s *System) Grants() []connector.Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.grants)
}

// Has reports whether identity holds entitlement.
func (s *System) Has(identity, entitlement string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.grants, connector.Grant{IdentityID: identity, EntitlementID: entitlement})
}

// Changes counts the grants and revokes that changed something.
func (s *System) Changes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changes
}

func (c *conn) Validate(context.Context) error {
	c.sys.mu.Lock()
	c.sys.validated++
	c.sys.mu.Unlock()
	return c.check(false)
}

func (c *conn) Close() error { return nil }
