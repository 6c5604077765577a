package servertest

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
)

// FakeHost is the host of the PostgreSQL settings that a FakeDriver
// serves from memory instead of connecting: tests that need a connector
// with a snapshot, whose grants and revokes succeed, without a
// PostgreSQL server.
const FakeHost = "fake-system.invalid"

// FakeSystem is a governed system in memory: the password it accepts,
// its identities, entitlements and grants, which Grant and Revoke change.
type FakeSystem struct {
	mu           sync.Mutex
	password     string
	identities   []connector.Identity
	entitlements []connector.Entitlement
	grants       map[connector.Grant]bool
	// changes counts the grants and revokes that changed something.
	changes int
}

// NewFakeSystem returns an empty system that accepts password.
func NewFakeSystem(password string) *FakeSystem {
	return &FakeSystem{password: password, grants: map[connector.Grant]bool{}}
}

// AddIdentity adds a user identity.
func (f *FakeSystem) AddIdentity(id, name string, attributes map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.identities = append(f.identities, connector.Identity{ID: id, Name: name, Kind: "user", Attributes: attributes})
	slices.SortFunc(f.identities, func(a, b connector.Identity) int { return cmp.Compare(a.ID, b.ID) })
}

// AddEntitlement adds a role entitlement.
func (f *FakeSystem) AddEntitlement(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entitlements = append(f.entitlements, connector.Entitlement{ID: id, Name: name, Kind: "role"})
	slices.SortFunc(f.entitlements, func(a, b connector.Entitlement) int { return cmp.Compare(a.ID, b.ID) })
}

// SetGrant gives the identity the entitlement (held) or takes it.
func (f *FakeSystem) SetGrant(identityID, entitlementID string, held bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := connector.Grant{IdentityID: identityID, EntitlementID: entitlementID}
	if held {
		f.grants[g] = true
	} else {
		delete(f.grants, g)
	}
}

// Holds reports whether the identity holds the entitlement.
func (f *FakeSystem) Holds(identityID, entitlementID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants[connector.Grant{IdentityID: identityID, EntitlementID: entitlementID}]
}

// Changes returns how many grants and revokes changed something.
func (f *FakeSystem) Changes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes
}

// FakeDriver is the PostgreSQL connector driver, except that it opens
// settings whose host is FakeHost on the fake system their database
// names, in memory. Settings and credentials are checked as PostgreSQL's
// are.
type FakeDriver struct {
	postgres.Driver
	mu      sync.Mutex
	systems map[string]*FakeSystem
}

// NewFakeDriver returns a driver without systems.
func NewFakeDriver() *FakeDriver { return &FakeDriver{systems: map[string]*FakeSystem{}} }

// Add serves sys as name and returns the settings of a connector to it.
func (d *FakeDriver) Add(name string, sys *FakeSystem) *nuxariv1.ConnectorSettings {
	d.mu.Lock()
	d.systems[name] = sys
	d.mu.Unlock()
	return FakeSettings(name)
}

// FakeSettings are the settings of a connector to the fake system name.
func FakeSettings(name string) *nuxariv1.ConnectorSettings {
	return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{
		Host: FakeHost, Database: name, User: "nuxari", TlsMode: "disable",
	}}}
}

// WithFakeDriver is an Option that offers d as the server's PostgreSQL
// driver.
func WithFakeDriver(d *FakeDriver) Option {
	return func(c *server.Config) { c.Governance.Connectors.Drivers = []connectors.Driver{d} }
}

// Open implements connectors.Driver.
func (d *FakeDriver) Open(settings []byte, creds map[string]secret.String) (connector.Connector, error) {
	var s struct{ Host, Database string }
	if err := json.Unmarshal(settings, &s); err != nil {
		return nil, connector.Errorf(connector.ErrInvalid, "fake: settings are not valid")
	}
	if s.Host != FakeHost {
		return d.Driver.Open(settings, creds)
	}
	d.mu.Lock()
	sys := d.systems[s.Database]
	d.mu.Unlock()
	return &fakeConn{sys: sys, password: creds[postgres.FieldPassword].Reveal()}, nil
}

// fakeConn is a connector to a fake system.
type fakeConn struct {
	sys      *FakeSystem
	password string
}

func (c *fakeConn) check() error {
	switch {
	case c.sys == nil:
		return connector.Errorf(connector.ErrUnavailable, "fake: no such system")
	case c.password != c.sys.password:
		return connector.Errorf(connector.ErrUnauthenticated, "fake: the system refused the credentials")
	}
	return nil
}

func fakePage[T any](c *fakeConn, p connector.Page, items func() []T) ([]T, string, error) {
	if err := c.check(); err != nil {
		return nil, "", err
	}
	n, err := p.Limit()
	if err != nil {
		return nil, "", err
	}
	off := 0
	if p.Token != "" {
		if off, err = strconv.Atoi(p.Token); err != nil || off < 0 {
			return nil, "", connector.Errorf(connector.ErrInvalid, "fake: bad page token")
		}
	}
	c.sys.mu.Lock()
	all := items()
	c.sys.mu.Unlock()
	off = min(off, len(all))
	end := min(off+n, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return slices.Clone(all[off:end]), next, nil
}

func (c *fakeConn) ListIdentities(_ context.Context, p connector.Page) ([]connector.Identity, string, error) {
	return fakePage(c, p, func() []connector.Identity { return c.sys.identities })
}

func (c *fakeConn) ListEntitlements(_ context.Context, p connector.Page) ([]connector.Entitlement, string, error) {
	return fakePage(c, p, func() []connector.Entitlement { return c.sys.entitlements })
}

func (c *fakeConn) ListGrants(_ context.Context, p connector.Page) ([]connector.Grant, string, error) {
	return fakePage(c, p, func() []connector.Grant {
		var gs []connector.Grant
		for g := range c.sys.grants {
			gs = append(gs, g)
		}
		slices.SortFunc(gs, func(a, b connector.Grant) int {
			return cmp.Or(cmp.Compare(a.IdentityID, b.IdentityID), cmp.Compare(a.EntitlementID, b.EntitlementID))
		})
		return gs
	})
}

func (c *fakeConn) change(identityID, entitlementID string, held bool) error {
	if err := c.check(); err != nil {
		return err
	}
	c.sys.mu.Lock()
	defer c.sys.mu.Unlock()
	if !slices.ContainsFunc(c.sys.identities, func(i connector.Identity) bool { return i.ID == identityID }) ||
		!slices.ContainsFunc(c.sys.entitlements, func(e connector.Entitlement) bool { return e.ID == entitlementID }) {
		return connector.Errorf(connector.ErrNotFound, "fake: no such identity or entitlement")
	}
	g := connector.Grant{IdentityID: identityID, EntitlementID: entitlementID}
	if c.sys.grants[g] != held {
		c.sys.changes++
	}
	if held {
		c.sys.grants[g] = true
	} else {
		delete(c.sys.grants, g)
	}
	return nil
}

func (c *fakeConn) Grant(_ context.Context, identityID, entitlementID string) error {
	return c.change(identityID, entitlementID, true)
}

func (c *fakeConn) Revoke(_ context.Context, identityID, entitlementID string) error {
	return c.change(identityID, entitlementID, false)
}

func (c *fakeConn) Validate(context.Context) error { return c.check() }

func (c *fakeConn) Close() error { return nil }
