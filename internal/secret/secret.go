// Package secret holds values that must never be printed, logged or
// serialized.
//
// A [String] prints, logs and marshals as [REDACTED] in every form the
// standard library knows: fmt (every verb, including %#v, %x and %q),
// fmt.Stringer and fmt.GoStringer, encoding/json, encoding.TextMarshaler
// (and so encoding/xml) and log/slog. Only [String.Reveal] returns the
// value, so every place a secret leaves its box is a call that can be
// searched for and reviewed.
//
// The value is held behind a pointer, so even where fmt cannot call the
// methods (a String in an unexported struct field, which fmt prints by
// reflection) it shows an address and not the text. A String is not
// comparable with ==; compare with [Equal], which takes constant time.
package secret

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
)

// redacted is what every form of a String shows instead of its value.
const redacted = "[REDACTED]"

// String is a string that must not be shown. Its zero value is the empty
// secret. Code MUST NOT convert it with Reveal except where the value is
// used (to authenticate, to encrypt), never to print or log it.
type String struct {
	_ [0]func() // not comparable: use Equal
	v *string
}

// New returns a String holding s.
func New(s string) String {
	if s == "" {
		return String{}
	}
	return String{v: &s}
}

// Reveal returns the secret value.
func (s String) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether s holds the empty string. It tells whether a
// secret was set without showing it.
func (s String) IsZero() bool {
	return s.v == nil || *s.v == ""
}

// Equal reports whether a and b hold the same value, in time that depends
// on their lengths but not on their contents.
func Equal(a, b String) bool {
	return subtle.ConstantTimeCompare([]byte(a.Reveal()), []byte(b.Reveal())) == 1
}

// String returns "[REDACTED]".
func (String) String() string { return redacted }

// GoString returns "[REDACTED]", for %#v.
func (String) GoString() string { return redacted }

// Format writes "[REDACTED]" for every verb, ignoring flags, width and
// precision, so that no verb (%x, %q, %v ...) can show the value.
func (String) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, redacted)
}

// MarshalJSON returns the JSON string "[REDACTED]".
func (String) MarshalJSON() ([]byte, error) {
	return []byte(`"` + redacted + `"`), nil
}

// MarshalText returns "[REDACTED]".
func (String) MarshalText() ([]byte, error) {
	return []byte(redacted), nil
}

// LogValue returns "[REDACTED]" for log/slog.
func (String) LogValue() slog.Value {
	return slog.StringValue(redacted)
}

var (
	_ fmt.Stringer   = String{}
	_ fmt.GoStringer = String{}
	_ fmt.Formatter  = String{}
	_ slog.LogValuer = String{}
)
