// Package token makes and parses the bearer tokens of sessions, API tokens
// and agents: opaque strings sent as RFC 6750 bearer tokens, of the form
//
//	nx<kind>.<org>.<body>
//
// where kind is one letter naming what the token is for, org is the ID of
// the org it belongs to ([A-Za-z0-9_-]{1,64}; '.' cannot occur in it, so it
// separates the fields), and body is 32 bytes from crypto/rand in base64url
// without padding (RFC 4648, Section 5): 43 characters.
//
// Servers store only a token's SHA-256 Hash, never the token, and look
// tokens up by it; ID gives a public name for a token that can be shown and
// logged. The prefix, kind and org let a token be routed, and recognised by
// secret scanners, before any lookup.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/nuxari/nuxari/ledger/leaf"
	"strings"
)

// Kind says what a token is for.
type Kind string

// The kinds of token.
const (
	Session Kind = "s" // a signed-in user's session
	API     Kind = "a" // an API token made by a user
	Agent   Kind = "g" // an agent's access token
	Join    Kind = "j" // a one-use agent join token
	Setup   Kind = "p" // a one-use token with which a member sets a password
)

// ErrMalformed: a token, or the kind or org given to New, is not in the
// format. Its messages never contain the token or any part of it.
var ErrMalformed = errors.New("token: malformed")

const (
	// MaxLen is the longest input Parse looks at; anything longer is
	// rejected before other work. The longest valid token is 112 bytes.
	MaxLen = 200

	prefix    = "nx"
	sep       = '.'
	bodyBytes = 32
	bodyLen   = 43 // base64url, unpadded, of bodyBytes

	idDomain = "nuxari token id"
)

// New returns a new token of kind for org, and its Hash. It fails, with
// ErrMalformed, only if kind is not one of the Kind constants or org is not
// a valid org ID.
func New(kind Kind, org string) (tok string, hash [32]byte, err error) {
	if !kind.known() {
		return "", hash, fmt.Errorf("%w: unknown kind", ErrMalformed)
	}
	if !validOrg(org) {
		return "", hash, fmt.Errorf("%w: org ID must be 1 to %d of [A-Za-z0-9_-]", ErrMalformed, leaf.MaxOrgLen)
	}
	var body [bodyBytes]byte
	if _, err := rand.Read(body[:]); err != nil {
		return "", hash, fmt.Errorf("token: reading random body: %w", err)
	}
	tok = prefix + string(kind) + string(sep) + org + string(sep) +
		base64.RawURLEncoding.EncodeToString(body[:])
	return tok, Hash(tok), nil
}

// Parse checks that tok is in the format and returns its kind, its org and
// its Hash. It checks only the format: whether the token exists, and
// belongs to that org, is for the caller to find out by looking up hash.
// Anything else is rejected with an error wrapping ErrMalformed that
// carries no part of tok.
func Parse(tok string) (kind Kind, org string, hash [32]byte, err error) {
	malformed := func(why string) (Kind, string, [32]byte, error) {
		return "", "", [32]byte{}, fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	if len(tok) > MaxLen {
		return malformed("too long")
	}
	rest, ok := strings.CutPrefix(tok, prefix)
	if !ok {
		return malformed("missing prefix")
	}
	k, rest, ok := strings.Cut(rest, string(sep))
	if !ok {
		return malformed("missing separator")
	}
	if kind = Kind(k); !kind.known() {
		return malformed("unknown kind")
	}
	org, body, ok := strings.Cut(rest, string(sep))
	if !ok {
		return malformed("missing separator")
	}
	if !validOrg(org) {
		return malformed("invalid org ID")
	}
	if len(body) != bodyLen {
		return malformed("body has the wrong length")
	}
	for i := 0; i < len(body); i++ {
		if !isBase64URL(body[i]) {
			return malformed("body is not base64url")
		}
	}
	// Strict refuses non-zero trailing bits, so each body has one spelling.
	if b, err := base64.RawURLEncoding.Strict().DecodeString(body); err != nil || len(b) != bodyBytes {
		return malformed("body is not base64url")
	}
	return kind, org, Hash(tok), nil
}

// Hash returns the SHA-256 of the whole token: what a server stores and
// looks tokens up by.
func Hash(tok string) [32]byte {
	return sha256.Sum256([]byte(tok))
}

// Equal reports whether two hashes are equal, in time independent of their
// contents.
func Equal(a, b [32]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// ID returns a public identifier for the token whose Hash is hash: 24 hex
// digits, the first 12 bytes of SHA-256("nuxari token id" || hash). It names
// a token in lists, audit events and logs; it cannot be used as the token,
// nor turned back into the token or its hash.
func ID(hash [32]byte) string {
	h := sha256.New()
	h.Write([]byte(idDomain))
	h.Write(hash[:])
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func (k Kind) known() bool {
	switch k {
	case Session, API, Agent, Join, Setup:
		return true
	}
	return false
}

// validOrg is the one definition of an org ID (leaf.ValidateOrg).
func validOrg(org string) bool { return leaf.ValidateOrg(org) == nil }

func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
