package core

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/rbac"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// Input limits.
const (
	MaxEmailLen       = 254
	MaxDisplayNameLen = 200
	MaxTokenNameLen   = 100
	MaxPageSize       = 1000
	DefaultPageSize   = 100
	maxIDLen          = 64
)

// ValidateOrgID is the one check of an org ID a caller gives (the ledger's
// rule, leaf.ValidateOrg), with the domain's message.
func ValidateOrgID(id string) error {
	if err := leaf.ValidateOrg(id); err != nil {
		return Invalid("org_id must be 1 to %d of [A-Za-z0-9_-]", leaf.MaxOrgLen)
	}
	return nil
}

// NormalizeEmail checks an email address and returns its lower-cased form.
func NormalizeEmail(field, e string) (string, error) {
	if e == "" {
		return "", Invalid("%s is required", field)
	}
	if len(e) > MaxEmailLen || !utf8.ValidString(e) {
		return "", Invalid("%s must be valid UTF-8 of at most %d bytes", field, MaxEmailLen)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || strings.ContainsAny(e, "/\x00") {
		return "", Invalid("%s is not a plain email address (name@example.com)", field)
	}
	return strings.ToLower(e), nil
}

// ValidateText checks a free-text field: valid UTF-8, no control
// characters, at most max runes, and present if required.
func ValidateText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return Invalid("%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return Invalid("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Invalid("%s has %d characters, at most %d allowed", field, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalid("%s contains a control character", field)
		}
	}
	return nil
}

// ValidateID checks an opaque ID given by a caller: any malformed ID is
// simply one that names nothing, but it is refused before any lookup.
func ValidateID(field, id string) error {
	if id == "" {
		return Invalid("%s is required", field)
	}
	if len(id) > maxIDLen {
		return Invalid("%s is longer than %d bytes", field, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return Invalid("%s must be lower-case letters and digits", field)
		}
	}
	return nil
}

// ValidateRole checks a role given by a caller.
func ValidateRole(field string, r rbac.Role) error {
	if _, err := rbac.ParseRole(string(r)); err != nil {
		return Invalid("%s: %v", field, err)
	}
	return nil
}

// ValidatePassword checks a new password against the password rules.
func ValidatePassword(field string, p secret.String) error {
	if err := password.Validate(p.Reveal()); err != nil {
		return Invalid("%s: %v", field, err)
	}
	return nil
}

// ValidateKnownType refuses an event type that names no event: neither in
// the catalog nor a custom one.
func ValidateKnownType(field, t string) error {
	if !ec.Known(t) {
		return Invalid("%s: %q is neither an event type (docs/events.md) nor %s<name>", field, t, ec.CustomPrefix)
	}
	return nil
}

// PageSize returns the page size to use for a request's page_size.
func PageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, Invalid("page_size must not be negative")
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return 0, Invalid("page_size %d is above the limit of %d", n, MaxPageSize)
	}
	return int(n), nil
}
