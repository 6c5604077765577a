// Package connector is the interface between Nuxari and a governed system
// (a database, a directory, a SaaS application): what identities it has,
// what entitlements it offers, who holds which, and the two changes Nuxari
// makes there, granting and revoking.
//
// A connector reports normalized facts only: the types below, with bounded
// fields, never a server's raw response. Its errors are one of the kinds
// below, with a message written for the person reading it, and never carry
// a credential or a server's text.
//
// Every implementation runs the conformance suite in
// [github.com/nuxari/nuxari/connector/connectortest] in its tests.
//
// # Paging
//
// A governed system may hold hundreds of thousands of identities and more
// grants, so every listing is paged. The first call passes a Page with an
// empty Token; each call returns up to Page.Size items and a next token;
// the caller passes the next token back, with any size, until it is empty.
// Memory use is bounded by the page size, on both sides.
//
// A page may hold fewer items than its size, even none, and still not be the
// last: only an empty next token ends a listing. Tokens are opaque, belong
// to the connector and the listing that issued them, and stay valid across
// reconnections and after errors, so a listing that fails (ErrUnavailable)
// resumes from the last token it got. On a system that does not change
// while it is listed, a listing returns every item exactly once, whatever
// the page sizes; items added or removed meanwhile may or may not be
// returned, but no item is ever returned twice.
//
// # Identifiers
//
// IDs are chosen by the connector, are stable (the same item has the same
// ID in every listing and across connections, as long as it exists), and are
// what Grant and Revoke take. An ID that names nothing the connector would
// list (unknown, deleted, malformed, or an identity's ID given as an
// entitlement) is not found.
package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Connector is a governed system, as Nuxari sees it. Implementations are
// safe for concurrent use.
type Connector interface {
	// ListIdentities returns a page of the system's identities (accounts
	// that can be given entitlements) and the token of the next page, empty
	// after the last.
	ListIdentities(ctx context.Context, page Page) (items []Identity, next string, err error)
	// ListEntitlements returns a page of what can be granted to an
	// identity, and the token of the next page.
	ListEntitlements(ctx context.Context, page Page) (items []Entitlement, next string, err error)
	// ListGrants returns a page of the entitlements identities hold directly
	// (between a listed identity and a listed entitlement), and the token of
	// the next page.
	ListGrants(ctx context.Context, page Page) (items []Grant, next string, err error)

	// Grant gives the identity the entitlement. Granting what the identity
	// already holds succeeds and changes nothing. An unknown identity or
	// entitlement is ErrNotFound; a grant the connector will not make
	// (see the implementation's documentation) is ErrRefused.
	Grant(ctx context.Context, identityID, entitlementID string) error
	// Revoke takes the entitlement from the identity. Revoking what the
	// identity does not hold succeeds and changes nothing. An unknown
	// identity or entitlement is ErrNotFound.
	Revoke(ctx context.Context, identityID, entitlementID string) error

	// Validate checks that the system is reachable and accepts the
	// connector's credentials, by authenticating anew.
	Validate(ctx context.Context) error
	// Close releases the connector's connections. It may be called more than
	// once; every call after the first returns nil. Other methods fail after
	// Close.
	Close() error
}

// Identity is an account on the governed system.
type Identity struct {
	// ID is the identity's stable identifier (see the package
	// documentation); at most MaxIDLen bytes.
	ID string
	// Name is what the system calls the identity; at most MaxNameLen bytes.
	Name string
	// Kind says what sort of identity this is, in the connector's words
	// (e.g. "user", "service_account"); at most MaxKindLen bytes of
	// [a-z0-9_].
	Kind string
	// Attributes are normalized facts about the identity (e.g.
	// "superuser": "true"), chosen by the connector: at most MaxAttributes
	// of them, keys of 1 to MaxAttributeKeyLen bytes of [a-z0-9_], values
	// of at most MaxAttributeValueLen bytes of UTF-8 text. Nil if none.
	Attributes map[string]string
}

// Entitlement is something that can be granted to an identity: a group, a
// role, a privilege.
type Entitlement struct {
	// ID is the entitlement's stable identifier; at most MaxIDLen bytes.
	ID string
	// Name is a short name for people; at most MaxNameLen bytes.
	Name string
	// Kind says what sort of entitlement this is, in the connector's words
	// (e.g. "role", "group"); at most MaxKindLen bytes of [a-z0-9_].
	Kind string
	// Description says what the entitlement gives; at most
	// MaxDescriptionLen bytes, possibly empty.
	Description string
}

// Grant records that an identity holds an entitlement.
type Grant struct {
	IdentityID    string
	EntitlementID string
}

// Page asks for one page of a listing.
type Page struct {
	// Token is empty for the first page and the previous call's next token
	// after that. A token the connector did not issue for this listing is
	// ErrInvalid.
	Token string
	// Size is the most items the page may hold: 1 to MaxPageSize, or 0 for
	// DefaultPageSize. Anything else is ErrInvalid.
	Size int
}

// Bounds of a page and of what a connector returns.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000

	MaxIDLen             = 256
	MaxNameLen           = 256
	MaxKindLen           = 32
	MaxDescriptionLen    = 1024
	MaxAttributes        = 32
	MaxAttributeKeyLen   = 64
	MaxAttributeValueLen = 256
)

// Limit returns the number of items the page may hold: Size, or
// DefaultPageSize for 0. A size out of range is ErrInvalid.
func (p Page) Limit() (int, error) {
	switch {
	case p.Size == 0:
		return DefaultPageSize, nil
	case p.Size < 0 || p.Size > MaxPageSize:
		return 0, Errorf(ErrInvalid, "page size %d is not between 1 and %d", p.Size, MaxPageSize)
	}
	return p.Size, nil
}

// CheckIdentity returns nil if id is within the bounds documented on
// Identity, or an error saying which bound it breaks.
func CheckIdentity(id Identity) error {
	if err := checkCommon(id.ID, id.Name, id.Kind); err != nil {
		return err
	}
	if len(id.Attributes) > MaxAttributes {
		return fmt.Errorf("identity %q has %d attributes, more than %d", id.ID, len(id.Attributes), MaxAttributes)
	}
	for k, v := range id.Attributes {
		if k == "" || len(k) > MaxAttributeKeyLen || !isToken(k) {
			return fmt.Errorf("identity %q has attribute key %q: want 1 to %d bytes of [a-z0-9_]", id.ID, k, MaxAttributeKeyLen)
		}
		if len(v) > MaxAttributeValueLen || !ValidText(v) {
			return fmt.Errorf("identity %q has attribute %s of %d bytes: want at most %d bytes of UTF-8 text", id.ID, k, len(v), MaxAttributeValueLen)
		}
	}
	return nil
}

// CheckEntitlement returns nil if e is within the bounds documented on
// Entitlement, or an error saying which bound it breaks.
func CheckEntitlement(e Entitlement) error {
	if err := checkCommon(e.ID, e.Name, e.Kind); err != nil {
		return err
	}
	if len(e.Description) > MaxDescriptionLen || !ValidText(e.Description) {
		return fmt.Errorf("entitlement %q has a description of %d bytes: want at most %d bytes of UTF-8 text", e.ID, len(e.Description), MaxDescriptionLen)
	}
	return nil
}

// CheckGrant returns nil if g's IDs are within bounds.
func CheckGrant(g Grant) error {
	for _, id := range []string{g.IdentityID, g.EntitlementID} {
		if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) {
			return fmt.Errorf("grant %q → %q: IDs must be 1 to %d bytes of UTF-8", g.IdentityID, g.EntitlementID, MaxIDLen)
		}
	}
	return nil
}

func checkCommon(id, name, kind string) error {
	switch {
	case id == "" || len(id) > MaxIDLen || !utf8.ValidString(id):
		return fmt.Errorf("ID %q: want 1 to %d bytes of UTF-8", id, MaxIDLen)
	case name == "" || len(name) > MaxNameLen || !ValidText(name):
		return fmt.Errorf("%q has name %q: want 1 to %d bytes of UTF-8 text", id, name, MaxNameLen)
	case kind == "" || len(kind) > MaxKindLen || !isToken(kind):
		return fmt.Errorf("%q has kind %q: want 1 to %d bytes of [a-z0-9_]", id, kind, MaxKindLen)
	}
	return nil
}

// isToken reports whether s is made of [a-z0-9_].
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidText reports whether s is valid UTF-8 without control characters,
// as names, descriptions and attribute values must be.
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}

// Text returns s as text within the bounds of a name, description or
// attribute value: invalid UTF-8 replaced, control characters dropped, cut
// to at most max bytes on a character boundary. Connectors use it on
// free-form text they take from the system (descriptions, comments).
func Text(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Error is a connector's error: a kind (one of the Err values below) and a
// message that is safe to show (no credential, no server text). For errors
// caused by the end of a context, Unwrap returns the context's error, so
// errors.Is(err, context.DeadlineExceeded) holds; it never returns a
// driver's or server's error, whose text could carry what must not be shown.
type Error struct {
	kind  *Error // nil for a kind itself
	msg   string
	cause error
}

// The kinds of connector error. errors.Is(err, ErrNotFound) holds for every
// error of that kind.
var (
	// ErrNotFound: the identity or entitlement does not exist (or is not
	// one the connector lists).
	ErrNotFound = newKind("not found")
	// ErrUnauthenticated: the system refused the connector's credentials.
	ErrUnauthenticated = newKind("unauthenticated")
	// ErrUnavailable: the system could not be reached, or the connection
	// failed; the call may be retried.
	ErrUnavailable = newKind("unavailable")
	// ErrInvalid: the request or the connector's configuration is invalid
	// (bad page size or token, bad settings); retrying will not help.
	ErrInvalid = newKind("invalid")
	// ErrPermission: the system refused the change because the connector's
	// account lacks the privilege to make it.
	ErrPermission = newKind("permission denied")
	// ErrRefused: the connector will not make the change, by its own
	// policy (e.g. a grant that would give administrator power).
	ErrRefused = newKind("refused")
)

func newKind(msg string) *Error { return &Error{msg: msg} }

// Errorf returns an error of kind whose message is the format's. The
// arguments MUST be safe to show.
func Errorf(kind *Error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// ContextError returns an ErrUnavailable error for a call ended by its
// context, which unwraps to ctx.Err(). what says what was interrupted.
func ContextError(ctx context.Context, what string) error {
	cause := ctx.Err()
	msg := what + ": canceled"
	if errors.Is(cause, context.DeadlineExceeded) {
		msg = what + ": deadline exceeded"
	}
	return &Error{kind: ErrUnavailable, msg: msg, cause: cause}
}

// Kind returns the error's kind.
func (e *Error) Kind() *Error {
	if e.kind == nil {
		return e
	}
	return e.kind
}

// Message is the error's message without its kind.
func (e *Error) Message() string { return e.msg }

// Error returns "connector: kind: message".
func (e *Error) Error() string {
	if e.kind == nil {
		return "connector: " + e.msg
	}
	return "connector: " + e.kind.msg + ": " + e.msg
}

// Is reports whether target is e's kind.
func (e *Error) Is(target error) bool { return target == error(e.Kind()) }

// Unwrap returns the context error that ended the call, if that is what
// happened.
func (e *Error) Unwrap() error { return e.cause }
