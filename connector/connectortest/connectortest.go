// Package connectortest is the conformance suite for connector.Connector:
// every implementation runs [Run] in its tests, against a real system.
package connectortest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/nuxari/nuxari/connector"
)

// Fixture is what a test system holds when a Run subtest starts: items
// the suite knows, among whatever else the system holds.
type Fixture struct {
	// Identities that exist, at least 3, as the connector must list them
	// (ID, Name and Kind compared; every attribute given here must be
	// listed with the same value).
	Identities []connector.Identity
	// Entitlements that exist, at least 3, as the connector must list them
	// (every field compared). The suite grants and revokes each of them, so
	// none may be one the connector refuses to grant.
	Entitlements []connector.Entitlement
	// Grants are all the grants between Identities and Entitlements, at
	// least 3, and not every pair: the suite grants the others.
	Grants []connector.Grant
	// UnknownIdentityID and UnknownEntitlementID are well-formed IDs that
	// name nothing (for example those of deleted items).
	UnknownIdentityID    string
	UnknownEntitlementID string
}

// New returns a connector to a system that holds the fixture. It is called
// once per subtest, with the subtest's t, and MUST clean up (close the
// connector, remove what it created) through t.Cleanup. Changes to the
// system made while a subtest runs, other than the suite's own, must not
// touch the fixture's items.
type New func(t *testing.T) (connector.Connector, Fixture)

// pageSizes are the page sizes every listing is read with: small ones, so
// that the fixture spans several pages, the default and the largest.
var pageSizes = []int{1, 2, 3, 7, 0, connector.MaxPageSize}

// maxItems bounds a listing the suite reads, so that a connector whose
// tokens never end fails instead of looping.
const maxItems = 1_000_000

// Run checks the behaviour every connector.Connector MUST have.
func Run(t *testing.T, newConnector New) {
	t.Helper()
	setup := func(t *testing.T) (connector.Connector, Fixture) {
		t.Helper()
		c, fx := newConnector(t)
		checkFixture(t, fx)
		return c, fx
	}

	t.Run("Validate", func(t *testing.T) {
		c, _ := setup(t)
		if err := c.Validate(t.Context()); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		// Validation is repeatable and leaves the connector usable.
		if err := c.Validate(t.Context()); err != nil {
			t.Fatalf("second Validate: %v", err)
		}
		if _, _, err := c.ListIdentities(t.Context(), connector.Page{Size: 1}); err != nil {
			t.Fatalf("ListIdentities after Validate: %v", err)
		}
	})

	t.Run("ListIdentities", func(t *testing.T) {
		c, fx := setup(t)
		var first map[string]connector.Identity
		for i, size := range pageSizes {
			if i%2 == 1 {
				// IDs stay the same across connections.
				if err := c.Validate(t.Context()); err != nil {
					t.Fatalf("Validate: %v", err)
				}
			}
			got := listAll(t, "ListIdentities", size, c.ListIdentities, func(i connector.Identity) string { return i.ID })
			for _, id := range got {
				if err := connector.CheckIdentity(id); err != nil {
					t.Errorf("ListIdentities(size %d): %v", size, err)
				}
			}
			for _, want := range fx.Identities {
				have, ok := got[want.ID]
				switch {
				case !ok:
					t.Errorf("ListIdentities(size %d) lacks fixture identity %q (%s)", size, want.ID, want.Name)
					continue
				case have.Name != want.Name || have.Kind != want.Kind:
					t.Errorf("ListIdentities(size %d): %q is %q (%s), want %q (%s)", size, want.ID, have.Name, have.Kind, want.Name, want.Kind)
				}
				for k, v := range want.Attributes {
					if have.Attributes[k] != v {
						t.Errorf("ListIdentities(size %d): %q has attribute %s=%q, want %q", size, want.ID, k, have.Attributes[k], v)
					}
				}
			}
			first = compareStable(t, "ListIdentities", size, first, got, identityEqual)
		}
	})

	t.Run("ListEntitlements", func(t *testing.T) {
		c, fx := setup(t)
		var first map[string]connector.Entitlement
		for _, size := range pageSizes {
			got := listAll(t, "ListEntitlements", size, c.ListEntitlements, func(e connector.Entitlement) string { return e.ID })
			for _, e := range got {
				if err := connector.CheckEntitlement(e); err != nil {
					t.Errorf("ListEntitlements(size %d): %v", size, err)
				}
			}
			for _, want := range fx.Entitlements {
				have, ok := got[want.ID]
				switch {
				case !ok:
					t.Errorf("ListEntitlements(size %d) lacks fixture entitlement %q (%s)", size, want.ID, want.Name)
				case have != want:
					t.Errorf("ListEntitlements(size %d): %q is %+v, want %+v", size, want.ID, have, want)
				}
			}
			first = compareStable(t, "ListEntitlements", size, first, got, func(a, b connector.Entitlement) bool { return a == b })
		}
	})

	t.Run("ListGrants", func(t *testing.T) {
		c, fx := setup(t)
		identities := listAll(t, "ListIdentities", 0, c.ListIdentities, func(i connector.Identity) string { return i.ID })
		entitlements := listAll(t, "ListEntitlements", 0, c.ListEntitlements, func(e connector.Entitlement) string { return e.ID })
		var first map[connector.Grant]connector.Grant
		for _, size := range pageSizes {
			got := listAll(t, "ListGrants", size, c.ListGrants, func(g connector.Grant) connector.Grant { return g })
			for g := range got {
				if err := connector.CheckGrant(g); err != nil {
					t.Errorf("ListGrants(size %d): %v", size, err)
				}
			}
			checkFixtureGrants(t, fmt.Sprintf("ListGrants(size %d)", size), fx, got, fx.Grants)
			// A grant of a fixture identity names a listed entitlement, and
			// one of a fixture entitlement a listed identity.
			for g := range got {
				if hasIdentity(fx, g.IdentityID) {
					if _, ok := entitlements[g.EntitlementID]; !ok {
						t.Errorf("ListGrants(size %d): %+v names an entitlement ListEntitlements does not list", size, g)
					}
				}
				if hasEntitlement(fx, g.EntitlementID) {
					if _, ok := identities[g.IdentityID]; !ok {
						t.Errorf("ListGrants(size %d): %+v names an identity ListIdentities does not list", size, g)
					}
				}
			}
			first = compareStable(t, "ListGrants", size, first, got, func(a, b connector.Grant) bool { return a == b })
		}
	})

	t.Run("PageBounds", func(t *testing.T) {
		c, _ := setup(t)
		ctx := t.Context()
		listers := map[string]func(connector.Page) (int, string, error){
			"ListIdentities": func(p connector.Page) (int, string, error) {
				items, next, err := c.ListIdentities(ctx, p)
				return len(items), next, err
			},
			"ListEntitlements": func(p connector.Page) (int, string, error) {
				items, next, err := c.ListEntitlements(ctx, p)
				return len(items), next, err
			},
			"ListGrants": func(p connector.Page) (int, string, error) {
				items, next, err := c.ListGrants(ctx, p)
				return len(items), next, err
			},
		}
		for name, list := range listers {
			for _, size := range []int{-1, connector.MaxPageSize + 1, -connector.MaxPageSize} {
				if _, _, err := list(connector.Page{Size: size}); !errors.Is(err, connector.ErrInvalid) {
					t.Errorf("%s(size %d): err = %v, want ErrInvalid", name, size, err)
				}
			}
			for _, token := range []string{"!", "not a token", "\x00", "AAAA", randomID()} {
				if _, _, err := list(connector.Page{Token: token, Size: 1}); !errors.Is(err, connector.ErrInvalid) {
					t.Errorf("%s(token %q): err = %v, want ErrInvalid", name, token, err)
				}
			}
			// The fixture holds at least 3 items, so the first page of 1
			// is not the last.
			n, next, err := list(connector.Page{Size: 1})
			if err != nil || n > 1 || next == "" {
				t.Fatalf("%s(size 1) = %d items, next %q, %v; want at most 1 item and a next token", name, n, next, err)
			}
			// A token belongs to the listing that issued it.
			for other, list := range listers {
				if other == name {
					continue
				}
				if _, _, err := list(connector.Page{Token: next, Size: 1}); !errors.Is(err, connector.ErrInvalid) {
					t.Errorf("%s with a token of %s: err = %v, want ErrInvalid", other, name, err)
				}
			}
			// A token is a position, not a page size: it may be used with
			// another size.
			if n, _, err := list(connector.Page{Token: next, Size: 2}); err != nil || n > 2 {
				t.Errorf("%s(size 2 after a page of 1) = %d items, %v; want at most 2", name, n, err)
			}
		}
	})

	t.Run("GrantRevoke", func(t *testing.T) {
		c, fx := setup(t)
		ctx := t.Context()
		for _, g := range ungranted(fx) {
			if err := c.Grant(ctx, g.IdentityID, g.EntitlementID); err != nil {
				t.Fatalf("Grant(%q, %q): %v", g.IdentityID, g.EntitlementID, err)
			}
			want := append(slices.Clone(fx.Grants), g)
			checkFixtureGrants(t, "after Grant", fx, listGrants(t, c), want)

			// Granting again changes nothing.
			if err := c.Grant(ctx, g.IdentityID, g.EntitlementID); err != nil {
				t.Fatalf("second Grant(%q, %q): %v, want nil", g.IdentityID, g.EntitlementID, err)
			}
			checkFixtureGrants(t, "after a second Grant", fx, listGrants(t, c), want)

			if err := c.Revoke(ctx, g.IdentityID, g.EntitlementID); err != nil {
				t.Fatalf("Revoke(%q, %q): %v", g.IdentityID, g.EntitlementID, err)
			}
			checkFixtureGrants(t, "after Revoke", fx, listGrants(t, c), fx.Grants)

			// Revoking again changes nothing.
			if err := c.Revoke(ctx, g.IdentityID, g.EntitlementID); err != nil {
				t.Fatalf("second Revoke(%q, %q): %v, want nil", g.IdentityID, g.EntitlementID, err)
			}
			checkFixtureGrants(t, "after a second Revoke", fx, listGrants(t, c), fx.Grants)
		}
		// Revoking a fixture grant, then granting it back.
		g := fx.Grants[0]
		if err := c.Revoke(ctx, g.IdentityID, g.EntitlementID); err != nil {
			t.Fatalf("Revoke of fixture grant %+v: %v", g, err)
		}
		checkFixtureGrants(t, "after revoking a fixture grant", fx, listGrants(t, c), fx.Grants[1:])
		if err := c.Grant(ctx, g.IdentityID, g.EntitlementID); err != nil {
			t.Fatalf("Grant of fixture grant %+v: %v", g, err)
		}
		checkFixtureGrants(t, "after granting it back", fx, listGrants(t, c), fx.Grants)
	})

	t.Run("ConcurrentGrantRevoke", func(t *testing.T) {
		c, fx := setup(t)
		g := ungranted(fx)[0]
		const n = 8
		run := func(op string, f func(context.Context, string, string) error) {
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() { errs[i] = f(t.Context(), g.IdentityID, g.EntitlementID) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("concurrent %s %d of %+v: %v", op, i, g, err)
				}
			}
		}
		run("Grant", c.Grant)
		checkFixtureGrants(t, "after concurrent Grants", fx, listGrants(t, c), append(slices.Clone(fx.Grants), g))
		run("Revoke", c.Revoke)
		checkFixtureGrants(t, "after concurrent Revokes", fx, listGrants(t, c), fx.Grants)
	})

	t.Run("UnknownIDs", func(t *testing.T) {
		c, fx := setup(t)
		ctx := t.Context()
		identity, entitlement := fx.Identities[0].ID, fx.Entitlements[0].ID
		for _, unknown := range []string{fx.UnknownIdentityID, "", randomID(), identity + "x", " " + identity} {
			for op, f := range map[string]func(context.Context, string, string) error{"Grant": c.Grant, "Revoke": c.Revoke} {
				if err := f(ctx, unknown, entitlement); !errors.Is(err, connector.ErrNotFound) {
					t.Errorf("%s(identity %q, %q): err = %v, want ErrNotFound", op, unknown, entitlement, err)
				}
			}
		}
		for _, unknown := range []string{fx.UnknownEntitlementID, "", randomID(), entitlement + "x", " " + entitlement} {
			for op, f := range map[string]func(context.Context, string, string) error{"Grant": c.Grant, "Revoke": c.Revoke} {
				if err := f(ctx, identity, unknown); !errors.Is(err, connector.ErrNotFound) {
					t.Errorf("%s(%q, entitlement %q): err = %v, want ErrNotFound", op, identity, unknown, err)
				}
			}
		}
		checkFixtureGrants(t, "after grants and revokes of unknown IDs", fx, listGrants(t, c), fx.Grants)
	})

	t.Run("Close", func(t *testing.T) {
		c, _ := setup(t)
		if _, _, err := c.ListIdentities(t.Context(), connector.Page{Size: 1}); err != nil {
			t.Fatalf("ListIdentities: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v, want nil", err)
		}
		if _, _, err := c.ListIdentities(t.Context(), connector.Page{Size: 1}); err == nil {
			t.Error("ListIdentities after Close succeeded")
		}
		if err := c.Validate(t.Context()); err == nil {
			t.Error("Validate after Close succeeded")
		}
	})
}

// checkFixture fails the test if fx does not give the suite enough to
// work with.
func checkFixture(t *testing.T, fx Fixture) {
	t.Helper()
	switch {
	case len(fx.Identities) < 3 || len(fx.Entitlements) < 3 || len(fx.Grants) < 3:
		t.Fatalf("fixture has %d identities, %d entitlements and %d grants; want at least 3 of each",
			len(fx.Identities), len(fx.Entitlements), len(fx.Grants))
	case fx.UnknownIdentityID == "" || fx.UnknownEntitlementID == "":
		t.Fatal("fixture lacks unknown IDs")
	case len(ungranted(fx)) == 0:
		t.Fatal("fixture grants every pair: the suite needs pairs to grant")
	}
	for _, g := range fx.Grants {
		if !hasIdentity(fx, g.IdentityID) || !hasEntitlement(fx, g.EntitlementID) {
			t.Fatalf("fixture grant %+v is not between fixture items", g)
		}
	}
}

// listAll reads a whole listing with pages of size, checks that no page
// is larger than asked and no item is listed twice, and returns the items
// by key.
func listAll[T any, K comparable](t *testing.T, name string, size int,
	list func(context.Context, connector.Page) ([]T, string, error), key func(T) K,
) map[K]T {
	t.Helper()
	limit := size
	if limit == 0 {
		limit = connector.DefaultPageSize
	}
	all := map[K]T{}
	seenTokens := map[string]bool{}
	token := ""
	for {
		items, next, err := list(t.Context(), connector.Page{Token: token, Size: size})
		if err != nil {
			t.Fatalf("%s(size %d) after %d items: %v", name, size, len(all), err)
		}
		if len(items) > limit {
			t.Fatalf("%s(size %d) returned a page of %d items", name, size, len(items))
		}
		for _, item := range items {
			k := key(item)
			if _, dup := all[k]; dup {
				t.Fatalf("%s(size %d) listed %v twice", name, size, k)
			}
			all[k] = item
		}
		if next == "" {
			return all
		}
		if seenTokens[next] || len(all) > maxItems {
			t.Fatalf("%s(size %d) does not end: token %q again after %d items", name, size, next, len(all))
		}
		seenTokens[next] = true
		token = next
	}
}

// compareStable checks that every item both in got and in first (an
// earlier listing of the same connector, nil for the first) is the same in
// both: IDs are stable, and an ID names the same item every time. It
// returns the listing to compare the next one with.
func compareStable[K comparable, T any](t *testing.T, name string, size int, first, got map[K]T, equal func(a, b T) bool) map[K]T {
	t.Helper()
	if first == nil {
		return got
	}
	for k, a := range first {
		if b, ok := got[k]; ok && !equal(a, b) {
			t.Errorf("%s(size %d): %v is %+v, was %+v in an earlier listing", name, size, k, b, a)
		}
	}
	return first
}

func identityEqual(a, b connector.Identity) bool {
	if a.ID != b.ID || a.Name != b.Name || a.Kind != b.Kind || len(a.Attributes) != len(b.Attributes) {
		return false
	}
	for k, v := range a.Attributes {
		if w, ok := b.Attributes[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkFixtureGrants checks that the grants between fixture items in got
// are exactly want.
func checkFixtureGrants(t *testing.T, when string, fx Fixture, got map[connector.Grant]connector.Grant, want []connector.Grant) {
	t.Helper()
	have := map[connector.Grant]bool{}
	for g := range got {
		if hasIdentity(fx, g.IdentityID) && hasEntitlement(fx, g.EntitlementID) {
			have[g] = true
		}
	}
	wantSet := map[connector.Grant]bool{}
	for _, g := range want {
		wantSet[g] = true
		if !have[g] {
			t.Errorf("%s: grant %+v is not listed", when, g)
		}
	}
	for g := range have {
		if !wantSet[g] {
			t.Errorf("%s: grant %+v is listed, but should not exist", when, g)
		}
	}
}

func listGrants(t *testing.T, c connector.Connector) map[connector.Grant]connector.Grant {
	t.Helper()
	return listAll(t, "ListGrants", 0, c.ListGrants, func(g connector.Grant) connector.Grant { return g })
}

// ungranted returns the pairs of fixture items that are not fixture grants.
func ungranted(fx Fixture) []connector.Grant {
	var out []connector.Grant
	for _, i := range fx.Identities {
		for _, e := range fx.Entitlements {
			g := connector.Grant{IdentityID: i.ID, EntitlementID: e.ID}
			if !slices.Contains(fx.Grants, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

func hasIdentity(fx Fixture, id string) bool {
	return slices.ContainsFunc(fx.Identities, func(i connector.Identity) bool { return i.ID == id })
}

func hasEntitlement(fx Fixture, id string) bool {
	return slices.ContainsFunc(fx.Entitlements, func(e connector.Entitlement) bool { return e.ID == id })
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "no-such-" + hex.EncodeToString(b[:])
}
