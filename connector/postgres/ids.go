package postgres

import (
	"encoding/base64"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nuxari/nuxari/connector"
)

// The kinds of identities and entitlements.
const (
	KindUser     = "user"     // a login role
	KindRole     = "role"     // a group role
	KindDatabase = "database" // a privilege on a database
	KindSchema   = "schema"   // a privilege on a schema
)

// The privileges that are entitlements, by kind, in name order.
var privileges = map[string][]string{
	KindDatabase: {"CONNECT", "CREATE", "TEMPORARY"},
	KindSchema:   {"CREATE", "USAGE"},
}

// privilegeDescriptions say what each privilege gives.
var privilegeDescriptions = map[string]string{
	KindDatabase + ":CONNECT":   "connect to the database",
	KindDatabase + ":CREATE":    "create schemas in the database",
	KindDatabase + ":TEMPORARY": "create temporary tables in the database",
	KindSchema + ":CREATE":      "create objects in the schema",
	KindSchema + ":USAGE":       "look up objects in the schema",
}

// roleID returns the ID of the role with oid.
func roleID(oid uint32) string { return "role:" + strconv.FormatUint(uint64(oid), 10) }

// privilegeID returns the ID of privilege on the database or schema oid.
func privilegeID(kind string, oid uint32, privilege string) string {
	return kind + ":" + strconv.FormatUint(uint64(oid), 10) + ":" + privilege
}

// parseOID parses an OID in canonical decimal (no sign, no leading zero).
func parseOID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	return uint32(n), true
}

// parseRoleID parses a role ID.
func parseRoleID(id string) (uint32, bool) {
	rest, ok := strings.CutPrefix(id, "role:")
	if !ok {
		return 0, false
	}
	return parseOID(rest)
}

// entitlementRef is a parsed entitlement ID.
type entitlementRef struct {
	kind      string
	oid       uint32
	privilege string // for KindDatabase and KindSchema
}

// parseEntitlementID parses an entitlement ID; privilege IDs only when
// they are entitlements.
func (c *Connector) parseEntitlementID(id string) (entitlementRef, bool) {
	if oid, ok := parseRoleID(id); ok {
		return entitlementRef{kind: KindRole, oid: oid}, true
	}
	if !c.cfg.PrivilegeEntitlements {
		return entitlementRef{}, false
	}
	kind, rest, ok := strings.Cut(id, ":")
	if !ok || privileges[kind] == nil {
		return entitlementRef{}, false
	}
	num, priv, ok := strings.Cut(rest, ":")
	if !ok {
		return entitlementRef{}, false
	}
	oid, ok := parseOID(num)
	if !ok || !slices.Contains(privileges[kind], priv) {
		return entitlementRef{}, false
	}
	return entitlementRef{kind: kind, oid: oid, privilege: priv}, true
}

// A position in a listing: the phase (roles, then database privileges,
// then schema privileges) and the key of the last item listed in it, or
// no key for the phase's start.
type position struct {
	phase int
	key   []string
}

// The listings, as tokens name them.
const (
	listIdentities   = 'i'
	listEntitlements = 'e'
	listGrants       = 'g'
)

const tokenVersion = 1

// maxKeyLen bounds a key element in a token. PostgreSQL names are at most
// 63 bytes.
const maxKeyLen = 64

// encodeToken returns the token of pos in listing: base64url of version,
// listing, phase, and the key's elements, each prefixed by its length.
func encodeToken(listing byte, pos position) string {
	b := []byte{tokenVersion, listing, byte(pos.phase)}
	for _, k := range pos.key {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken parses a token of listing. phases gives, for each phase the
// connector lists, the numbers of elements its keys may have (beside none,
// the phase's start).
func decodeToken(listing byte, token string, phases [][]int) (position, error) {
	if token == "" {
		return position{}, nil
	}
	bad := connector.Errorf(connector.ErrInvalid, "postgres: the page token is not one this listing issued")
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < 3 || b[0] != tokenVersion || b[1] != listing || int(b[2]) >= len(phases) {
		return position{}, bad
	}
	pos := position{phase: int(b[2])}
	b = b[3:]
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n == 0 || n > maxKeyLen || uint64(len(b)-w) < n {
			return position{}, bad
		}
		k := string(b[w : w+int(n)])
		if strings.ContainsRune(k, 0) || !utf8.ValidString(k) {
			return position{}, bad
		}
		pos.key = append(pos.key, k)
		b = b[w+int(n):]
	}
	if len(pos.key) != 0 && !slices.Contains(phases[pos.phase], len(pos.key)) {
		return position{}, bad
	}
	if encodeToken(listing, pos) != token {
		return position{}, bad
	}
	return pos, nil
}
