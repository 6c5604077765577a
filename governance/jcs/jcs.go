// Package jcs implements the JSON Canonicalization Scheme of RFC 8785.
//
// Canonicalize turns one JSON text into the unique byte sequence RFC 8785
// assigns to its value: no whitespace, object members sorted by their names
// as UTF-16 code unit sequences, strings escaped as section 3.2.2.2 says and
// numbers written as ECMAScript's Number.prototype.toString writes them
// (section 3.2.2.3). Two JSON texts with the same data canonicalize to the
// same bytes, so the result can be hashed or signed.
//
// Input MUST be I-JSON (RFC 7493) as far as RFC 8785 depends on it, and
// anything else is rejected with an error wrapping [ErrInvalid]:
//   - invalid UTF-8, and \u escapes that leave a surrogate unpaired;
//   - duplicate member names in one object (compared after unescaping);
//   - numbers beyond the range of an IEEE 754 double (numbers too small
//     for a double round to zero, as in ECMAScript);
//   - anything other than exactly one JSON value, with optional whitespace;
//   - arrays and objects nested more than 200 deep.
//
// Unicode noncharacters are accepted and written literally; the text is
// never normalized.
package jcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error this package returns for input it
// cannot canonicalize.
var ErrInvalid = errors.New("jcs: invalid input")

// maxDepth is how deeply arrays and objects may nest; the outermost
// container is at depth 1.
const maxDepth = 200

// Canonicalize parses data, which MUST hold exactly one JSON value, and
// returns its RFC 8785 canonical form. Errors wrap [ErrInvalid] and say
// what is wrong and, where known, at which byte offset of data.
func Canonicalize(data []byte) ([]byte, error) {
	if off := invalidUTF8(data); off >= 0 {
		return nil, fmt.Errorf("%w: invalid UTF-8 at byte offset %d", ErrInvalid, off)
	}
	p := &parser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()

	tok, off, err := p.next()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: no JSON value in input", ErrInvalid)
	}
	if err != nil {
		return nil, p.syntaxError(err)
	}
	v, err := p.value(tok, off, 0)
	if err != nil {
		return nil, err
	}
	if _, off, err := p.next(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON value at byte offset %d", ErrInvalid, off)
	}
	return v.appendTo(make([]byte, 0, len(data))), nil
}

// Marshal returns the RFC 8785 canonical form of v's JSON encoding, as
// [encoding/json] produces it without HTML escaping. Like json.Marshal it
// replaces invalid UTF-8 in Go strings with U+FFFD. Errors wrap
// [ErrInvalid], and also the encoding/json error when there is one (for
// example a NaN, which JSON cannot represent).
func Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case Canonical:
		return bytes.Clone(m), nil
	case Marshaler:
		return m.MarshalCanonicalJSON()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Canonicalize(buf.Bytes())
}

// Canonical is JSON text already in canonical form, as Marshal or
// Canonicalize returned it. Marshal copies it as it is, and encoding/json
// embeds it verbatim (like json.RawMessage), so a value canonicalized once
// is not parsed again.
type Canonical []byte

// MarshalJSON returns c.
func (c Canonical) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return c, nil
}

// Marshaler is a value that writes its own canonical form, with
// AppendString for its strings, rather than have Marshal encode it and
// parse the result again. Its output MUST equal what Marshal would
// produce for the value's JSON encoding: a type implementing it tests
// that.
type Marshaler interface {
	MarshalCanonicalJSON() ([]byte, error)
}

// AppendString appends s to b as a JSON string in canonical form. s MUST
// be valid UTF-8 (utf8.ValidString): Marshal would replace invalid bytes,
// which AppendString does not.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// A node is one parsed JSON value. Scalars are kept as their canonical
// text; arrays and objects keep their children.
type node struct {
	kind    kind
	text    []byte   // canonical text of a scalar
	elems   []node   // elements of an array
	members []member // members of an object
}

type kind uint8

const (
	scalar kind = iota
	array
	object
)

type member struct {
	name string
	key  []uint16 // name as UTF-16 code units, the sort key
	off  int64    // byte offset of the name in the input
	val  node
}

type parser struct {
	data []byte
	dec  *json.Decoder
}

// next returns the next token and the byte offset where it starts.
func (p *parser) next() (json.Token, int64, error) {
	off := p.dec.InputOffset()
	// The decoder consumes whitespace and the ',' or ':' before a token
	// lazily; skip them so that off points at the token itself.
	for off < int64(len(p.data)) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	tok, err := p.dec.Token()
	return tok, off, err
}

// value parses the value that starts with tok at byte offset off, nested
// inside depth arrays and objects.
func (p *parser) value(tok json.Token, off int64, depth int) (node, error) {
	switch t := tok.(type) {
	case nil:
		return node{text: []byte("null")}, nil
	case bool:
		return node{text: strconv.AppendBool(nil, t)}, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return node{}, fmt.Errorf("%w: number out of IEEE 754 double range at byte offset %d", ErrInvalid, off)
		}
		return node{text: appendNumber(nil, f)}, nil
	case string:
		if err := p.checkSurrogates(off); err != nil {
			return node{}, err
		}
		return node{text: appendString(nil, t)}, nil
	case json.Delim:
		if depth+1 > maxDepth {
			return node{}, fmt.Errorf("%w: nesting deeper than %d at byte offset %d", ErrInvalid, maxDepth, off)
		}
		switch t {
		case '[':
			return p.array(depth + 1)
		case '{':
			return p.object(depth + 1)
		}
	}
	// The decoder returns only the token types handled above, and
	// closing delimiters only where they close something.
	return node{}, fmt.Errorf("%w: unexpected token %v at byte offset %d", ErrInvalid, tok, off)
}

func (p *parser) array(depth int) (node, error) {
	n := node{kind: array}
	for {
		tok, off, err := p.next()
		if err != nil {
			return node{}, p.syntaxError(err)
		}
		if tok == json.Delim(']') {
			return n, nil
		}
		v, err := p.value(tok, off, depth)
		if err != nil {
			return node{}, err
		}
		n.elems = append(n.elems, v)
	}
}

func (p *parser) object(depth int) (node, error) {
	n := node{kind: object}
	for {
		tok, off, err := p.next()
		if err != nil {
			return node{}, p.syntaxError(err)
		}
		if tok == json.Delim('}') {
			break
		}
		name, ok := tok.(string)
		if !ok {
			return node{}, fmt.Errorf("%w: object member name is not a string at byte offset %d", ErrInvalid, off)
		}
		if err := p.checkSurrogates(off); err != nil {
			return node{}, err
		}
		tok, voff, err := p.next()
		if err != nil {
			return node{}, p.syntaxError(err)
		}
		v, err := p.value(tok, voff, depth)
		if err != nil {
			return node{}, err
		}
		n.members = append(n.members, member{
			name: name,
			key:  utf16.Encode([]rune(name)),
			off:  off,
			val:  v,
		})
	}
	slices.SortFunc(n.members, func(a, b member) int { return slices.Compare(a.key, b.key) })
	for i := 1; i < len(n.members); i++ {
		a, b := n.members[i-1], n.members[i]
		if a.name == b.name {
			return node{}, fmt.Errorf("%w: duplicate object member name at byte offset %d (first at byte offset %d)",
				ErrInvalid, max(a.off, b.off), min(a.off, b.off))
		}
	}
	return n, nil
}

// syntaxError converts an error of the decoder into one wrapping
// ErrInvalid.
func (p *parser) syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: syntax error at byte offset %d: %w", ErrInvalid, se.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: unexpected end of input at byte offset %d", ErrInvalid, len(p.data))
	default:
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
}

// checkSurrogates rejects the string literal at byte offset off if one of
// its \u escapes is a surrogate not paired as UTF-16 requires. The decoder
// would silently replace such an escape with U+FFFD, changing the data.
// The literal was already validated by the decoder, which consumed it.
func (p *parser) checkSurrogates(off int64) error {
	end := p.dec.InputOffset()
	if off < 0 || end > int64(len(p.data)) || off >= end {
		return nil
	}
	s := p.data[off:end]
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		if i >= len(s) || s[i] != 'u' {
			continue
		}
		r, ok := hex4(s[i+1:])
		if !ok {
			continue
		}
		if !utf16.IsSurrogate(r) {
			i += 4
			continue
		}
		if r < 0xdc00 && len(s) > i+10 && s[i+5] == '\\' && s[i+6] == 'u' {
			if r2, ok := hex4(s[i+7:]); ok && 0xdc00 <= r2 && r2 < 0xe000 {
				i += 10
				continue
			}
		}
		return fmt.Errorf("%w: unpaired UTF-16 surrogate escape at byte offset %d", ErrInvalid, off+int64(i)-1)
	}
	return nil
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(v), err == nil
}

// invalidUTF8 returns the offset of the first byte of data that is not
// valid UTF-8, or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func (n *node) appendTo(b []byte) []byte {
	switch n.kind {
	case array:
		b = append(b, '[')
		for i := range n.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = n.elems[i].appendTo(b)
		}
		return append(b, ']')
	case object:
		b = append(b, '{')
		for i := range n.members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, n.members[i].name)
			b = append(b, ':')
			b = n.members[i].val.appendTo(b)
		}
		return append(b, '}')
	default:
		return append(b, n.text...)
	}
}

// appendString appends s as a JSON string as RFC 8785 section 3.2.2.2
// requires: the short escapes \b \t \n \f \r \" \\, \u00xx with lowercase
// hex for the other control characters, and every other character
// literally. s MUST be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '\b':
			b = append(b, `\b`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendNumber appends f as ECMAScript's Number.prototype.toString writes
// it (ECMA-262 Number::toString, RFC 8785 section 3.2.2.3). f MUST be
// finite. The shortest round-trip digits come from strconv; only their
// layout is done here.
func appendNumber(b []byte, f float64) []byte {
	if f == 0 { // both +0 and -0
		return append(b, '0')
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// "d.ddde±xx": digits d1…dk and exponent with f = 0.d1…dk × 10^n.
	var buf [32]byte
	mant, exp, _ := bytes.Cut(strconv.AppendFloat(buf[:0], f, 'e', -1, 64), []byte{'e'})
	x, _ := strconv.Atoi(string(exp))
	digits := slices.DeleteFunc(mant, func(c byte) bool { return c == '.' })
	k, n := len(digits), x+1

	switch {
	case k <= n && n <= 21: // integer: digits then n-k zeros
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21: // decimal point inside the digits
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0: // 0.000ddd
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default: // exponent form: d[.ddd]e±x
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}
