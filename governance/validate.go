package governance

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nuxari/nuxari/governance/rbac"
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

func invalid(format string, args ...any) error {
	return errorf(ErrInvalidArgument, "%s", fmt.Sprintf(format, args...))
}

func validateOrgID(id string) error {
	if err := leaf.ValidateOrg(id); err != nil {
		return invalid("org_id must be 1 to %d of [A-Za-z0-9_-]", leaf.MaxOrgLen)
	}
	return nil
}

// normalizeEmail checks an email address and returns its lower-cased form.
func normalizeEmail(field, e string) (string, error) {
	if e == "" {
		return "", invalid("%s is required", field)
	}
	if len(e) > MaxEmailLen || !utf8.ValidString(e) {
		return "", invalid("%s must be valid UTF-8 of at most %d bytes", field, MaxEmailLen)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || strings.ContainsAny(e, "/\x00") {
		return "", invalid("%s is not a plain email address (name@example.com)", field)
	}
	return strings.ToLower(e), nil
}

// validateText checks a free-text field: valid UTF-8, no control
// characters, at most max runes, and present if required.
func validateText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s has %d characters, at most %d allowed", field, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s contains a control character", field)
		}
	}
	return nil
}

// validateID checks an opaque ID given by a caller: any malformed ID is
// simply one that names nothing, but it is refused before any lookup.
func validateID(field, id string) error {
	if id == "" {
		return invalid("%s is required", field)
	}
	if len(id) > maxIDLen {
		return invalid("%s is longer than %d bytes", field, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return invalid("%s must be lower-case letters and digits", field)
		}
	}
	return nil
}

func validateRole(field string, r rbac.Role) error {
	if _, err := rbac.ParseRole(string(r)); err != nil {
		return invalid("%s: %v", field, err)
	}
	return nil
}

// pageSize returns the page size to use for a request's page_size.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("page_size must not be negative")
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return 0, invalid("page_size %d is above the limit of %d", n, MaxPageSize)
	}
	return int(n), nil
}
