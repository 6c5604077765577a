// Package leaf defines the exact bytes of one ledger leaf and its hash.
//
// A leaf is an RFC 8785 (JCS) canonical JSON object with these members, in
// this order:
//
//	{"event":<event>,"idempotency_key":"<key>","index":<n>,"org":"<org>","time":"<RFC 3339>"}
//
// "event" is the caller's event, a JSON object, stored verbatim (callers
// SHOULD pass it in RFC 8785 canonical form). "idempotency_key" is omitted
// when empty. "index" is the leaf's position in the org's log (below 2^53 so
// that it is exact as an RFC 8785 number). "time" is the server time in UTC
// with exactly nine fractional digits, so that the lexical order of times is
// their chronological order.
//
// The leaf hash is RFC 6962: SHA-256(0x00 || leaf bytes). Verifiers hash the
// stored bytes; they never re-serialize.
//
// Org IDs and idempotency keys are restricted to a small ASCII alphabet, so
// they need no JSON escaping and can never contain a storage key separator.
package leaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Limits of the leaf format.
const (
	// MaxOrgLen is the longest org ID.
	MaxOrgLen = 64
	// MaxIdempotencyKeyLen is the longest idempotency key.
	MaxIdempotencyKeyLen = 128
	// MaxIndex is the largest leaf index: 2^53-1, the largest integer an
	// RFC 8785 number represents exactly.
	MaxIndex = 1<<53 - 1
	// TimeLayout is the layout of the "time" member.
	TimeLayout = "2006-01-02T15:04:05.000000000Z"
)

// Errors returned by this package.
var (
	// ErrInvalidOrg: the org ID is empty, too long or uses a character
	// outside [A-Za-z0-9_-].
	ErrInvalidOrg = errors.New("invalid org ID")
	// ErrInvalidIdempotencyKey: the key is too long or uses a character
	// outside [A-Za-z0-9._:-].
	ErrInvalidIdempotencyKey = errors.New("invalid idempotency key")
	// ErrInvalidEvent: the event is not a JSON object.
	ErrInvalidEvent = errors.New("event is not a JSON object")
	// ErrMalformed: bytes that are not a canonical leaf.
	ErrMalformed = errors.New("malformed leaf")
)

// Leaf is the decoded form of a leaf.
type Leaf struct {
	Org            string
	Index          uint64
	Time           time.Time
	IdempotencyKey string
	// Event is the caller's event, verbatim.
	Event json.RawMessage
}

// ValidateOrg reports whether org is a valid org ID: 1 to MaxOrgLen bytes
// of [A-Za-z0-9_-]. It is the one definition of an org ID: the ledger's
// handles, the leaf format, evidence packages, tokens and the domain all
// accept exactly the IDs it accepts, so code that checks an org ID MUST
// call it rather than restate the rule. Its errors wrap ErrInvalidOrg.
func ValidateOrg(org string) error {
	if org == "" {
		return fmt.Errorf("%w: empty", ErrInvalidOrg)
	}
	if len(org) > MaxOrgLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidOrg, MaxOrgLen)
	}
	for i := 0; i < len(org); i++ {
		c := org[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return fmt.Errorf("%w: character %q at offset %d is not in [A-Za-z0-9_-]", ErrInvalidOrg, c, i)
		}
	}
	return nil
}

// ValidateIdempotencyKey reports whether key is a valid idempotency key.
// The empty key means "no key" and is valid.
func ValidateIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidIdempotencyKey, MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != ':' {
			return fmt.Errorf("%w: character %q at offset %d is not in [A-Za-z0-9._:-]", ErrInvalidIdempotencyKey, c, i)
		}
	}
	return nil
}

// ValidateEvent reports whether event is a single, valid JSON object.
// JSON text is UTF-8 (RFC 8259, section 8.1); json.Valid does not check it.
func ValidateEvent(event []byte) error {
	if len(event) < 2 || event[0] != '{' || event[len(event)-1] != '}' || !utf8.Valid(event) || !json.Valid(event) {
		return ErrInvalidEvent
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Size returns the exact length of the encoding of l.
func Size(l *Leaf) int {
	n := len(`{"event":`) + len(l.Event) +
		len(`,"index":`) + decimalLen(l.Index) +
		len(`,"org":""`) + len(l.Org) +
		len(`,"time":""}`) + len(TimeLayout)
	if l.IdempotencyKey != "" {
		n += len(`,"idempotency_key":""`) + len(l.IdempotencyKey)
	}
	return n
}

func decimalLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// Append appends the canonical encoding of l to dst. The caller MUST have
// validated l's org, idempotency key and event and kept Index ≤ MaxIndex.
func Append(dst []byte, l *Leaf) []byte {
	dst = append(dst, `{"event":`...)
	dst = append(dst, l.Event...)
	if l.IdempotencyKey != "" {
		dst = append(dst, `,"idempotency_key":"`...)
		dst = append(dst, l.IdempotencyKey...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendUint(dst, l.Index, 10)
	dst = append(dst, `,"org":"`...)
	dst = append(dst, l.Org...)
	dst = append(dst, `","time":"`...)
	dst = l.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, `"}`...)
	return dst
}

// Hash returns the RFC 6962 leaf hash of b.
func Hash(b []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(b)
}

type wire struct {
	Event          json.RawMessage `json:"event"`
	IdempotencyKey string          `json:"idempotency_key"`
	Index          *uint64         `json:"index"`
	Org            string          `json:"org"`
	Time           string          `json:"time"`
}

// Parse decodes b. It accepts only the exact canonical encoding: b must
// equal Append(nil, &result), so one leaf has exactly one byte form.
func Parse(b []byte) (Leaf, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Leaf{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() {
		return Leaf{}, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if w.Index == nil || *w.Index > MaxIndex {
		return Leaf{}, fmt.Errorf("%w: missing or out-of-range index", ErrMalformed)
	}
	if err := ValidateOrg(w.Org); err != nil {
		return Leaf{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := ValidateIdempotencyKey(w.IdempotencyKey); err != nil {
		return Leaf{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := ValidateEvent(w.Event); err != nil {
		return Leaf{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	t, err := time.Parse(TimeLayout, w.Time)
	if err != nil {
		return Leaf{}, fmt.Errorf("%w: time: %w", ErrMalformed, err)
	}
	l := Leaf{Org: w.Org, Index: *w.Index, Time: t, IdempotencyKey: w.IdempotencyKey, Event: w.Event}
	if !bytes.Equal(Append(make([]byte, 0, len(b)), &l), b) {
		return Leaf{}, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return l, nil
}

// TimeOf returns the "time" member of canonical leaf bytes b without
// parsing the rest: it is always the last member.
func TimeOf(b []byte) (time.Time, error) {
	const tail = len(`","time":"`) + len(TimeLayout) + len(`"}`)
	if len(b) < tail || string(b[len(b)-2:]) != `"}` {
		return time.Time{}, ErrMalformed
	}
	t, err := time.Parse(TimeLayout, string(b[len(b)-2-len(TimeLayout):len(b)-2]))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time: %w", ErrMalformed, err)
	}
	return t, nil
}
