package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/connector"
)

func TestParseIDs(t *testing.T) {
	c := &Connector{cfg: Config{PrivilegeEntitlements: true}}
	for _, tc := range []struct {
		id   string
		want entitlementRef
		ok   bool
	}{
		{"role:16384", entitlementRef{kind: KindRole, oid: 16384}, true},
		{"role:4294967295", entitlementRef{kind: KindRole, oid: 4294967295}, true},
		{"database:5:CONNECT", entitlementRef{kind: KindDatabase, oid: 5, privilege: "CONNECT"}, true},
		{"database:5:TEMPORARY", entitlementRef{kind: KindDatabase, oid: 5, privilege: "TEMPORARY"}, true},
		{"schema:2200:USAGE", entitlementRef{kind: KindSchema, oid: 2200, privilege: "USAGE"}, true},
		{"schema:2200:CREATE", entitlementRef{kind: KindSchema, oid: 2200, privilege: "CREATE"}, true},
		{"role:0", entitlementRef{}, false},
		{"role:016384", entitlementRef{}, false},
		{"role:+16384", entitlementRef{}, false},
		{"role:-1", entitlementRef{}, false},
		{"role:4294967296", entitlementRef{}, false},
		{"role: 16384", entitlementRef{}, false},
		{"role:16384 ", entitlementRef{}, false},
		{"ROLE:16384", entitlementRef{}, false},
		{"role:", entitlementRef{}, false},
		{"16384", entitlementRef{}, false},
		{"", entitlementRef{}, false},
		{"database:5:connect", entitlementRef{}, false},
		{"database:5:USAGE", entitlementRef{}, false}, // a schema privilege
		{"schema:5:CONNECT", entitlementRef{}, false},
		{"schema:5:USAGE:x", entitlementRef{}, false},
		{"schema:5", entitlementRef{}, false},
		{"table:5:SELECT", entitlementRef{}, false},
	} {
		got, ok := c.parseEntitlementID(tc.id)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseEntitlementID(%q) = %+v, %v; want %+v, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
	// Without PrivilegeEntitlements, privileges are not entitlements.
	c.cfg.PrivilegeEntitlements = false
	if _, ok := c.parseEntitlementID("database:5:CONNECT"); ok {
		t.Error("a privilege parsed as an entitlement without PrivilegeEntitlements")
	}
}

func TestTokens(t *testing.T) {
	phases := [][]int{{2, 1}, {3}}
	for _, pos := range []position{
		{phase: 0},
		{phase: 0, key: []string{"alice"}},
		{phase: 0, key: []string{"a\"b", "rôle with space"}},
		{phase: 1},
		{phase: 1, key: []string{"a", "x", strings.Repeat("n", 63)}},
	} {
		token := encodeToken(listGrants, pos)
		got, err := decodeToken(listGrants, token, phases)
		if err != nil {
			t.Errorf("decodeToken(encodeToken(%+v)): %v", pos, err)
			continue
		}
		if got.phase != pos.phase || strings.Join(got.key, "\x00") != strings.Join(pos.key, "\x00") || len(got.key) != len(pos.key) {
			t.Errorf("decodeToken(encodeToken(%+v)) = %+v", pos, got)
		}
		// A token belongs to its listing.
		if _, err := decodeToken(listIdentities, token, phases); !errors.Is(err, connector.ErrInvalid) {
			t.Errorf("token of grants accepted by identities: %v", err)
		}
		// Every other spelling of it is refused.
		for _, bad := range []string{token + "A", token[:len(token)-1], token + "=", strings.ToUpper(token)} {
			if bad == token {
				continue
			}
			if p, err := decodeToken(listGrants, bad, phases); err == nil && encodeToken(listGrants, p) != bad {
				t.Errorf("decodeToken(%q) accepted a non-canonical token", bad)
			}
		}
	}
	for _, pos := range []position{
		{phase: 2},                               // no such phase
		{phase: 0, key: []string{"a", "b", "c"}}, // a key of 3 in phase 0
		{phase: 1, key: []string{"a"}},           // a key of 1 in phase 1
		{phase: 0, key: []string{"nul\x00"}},     // a NUL in a name
		{phase: 0, key: []string{"\xff"}},        // not UTF-8
		{phase: 0, key: []string{"", "b"}},       // an empty name
		{phase: 0, key: []string{strings.Repeat("n", maxKeyLen+1)}},
	} {
		if _, err := decodeToken(listGrants, encodeToken(listGrants, pos), phases); !errors.Is(err, connector.ErrInvalid) {
			t.Errorf("decodeToken of %+v: err = %v, want ErrInvalid", pos, err)
		}
	}
	for _, bad := range []string{"!", "AAAA", "AQ", "AWc", "AmcA", "AWcAAA", "AWcAAQ"} {
		if _, err := decodeToken(listGrants, bad, phases); !errors.Is(err, connector.ErrInvalid) {
			t.Errorf("decodeToken(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}
