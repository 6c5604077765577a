// Package strictjson reads the JSON files of Nuxari's verifiable formats
// (evidence package manifests and proofs, proof bundles) so that two
// conforming readers can never read one document differently.
//
// encoding/json is lenient where a format must not be: it matches member
// names without regard to letter case, lets a repeated member overwrite
// the first, skips unknown members inside nested objects unless told,
// accepts null for any value, decodes base64 with line breaks and non-zero
// padding bits, and accepts numbers that other readers round. A document
// that passes this package has exactly one reading under RFC 8259
// (I-JSON, RFC 7493) with these rules, which docs/evidence-package.md and
// docs/proof-bundle.md state for their formats:
//
//   - the text is UTF-8 without unpaired surrogate escapes, and holds one
//     value with nothing but whitespace after it;
//   - every object member is a known member of its Go struct, spelled
//     exactly as its json tag (case-sensitive); no member occurs twice;
//   - every member without omitempty or omitzero is present; one with
//     them, when present, does not hold its empty value (an empty list, an
//     empty string, 0, the zero time): absent is the only way to say empty;
//   - no value is null;
//   - integers are written in plain decimal digits (no sign, fraction or
//     exponent) and are at most 2^53-1, the largest integer every JSON
//     reader holds exactly;
//   - byte strings are canonical standard base64 with padding: decoding
//     and encoding again gives the same text;
//   - times are RFC 3339 in UTC ("Z") with no trailing zero in the
//     fraction, exactly as Go's time.RFC3339Nano writes them, so that one
//     instant has one spelling.
package strictjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxInt is the largest integer this package accepts: 2^53-1.
const MaxInt = 1<<53 - 1

// Errors returned by this package; every failure wraps one of them.
var (
	ErrSyntax    = errors.New("malformed JSON")
	ErrTrailing  = errors.New("data after the JSON value")
	ErrDuplicate = errors.New("member occurs twice")
	ErrCase      = errors.New("member name differs in letter case from a known member")
	ErrUnknown   = errors.New("unknown member")
	ErrMissing   = errors.New("required member missing")
	ErrEmpty     = errors.New("optional member present with an empty value (omit it instead)")
	ErrType      = errors.New("value of the wrong type")
	ErrNumber    = errors.New("not a plain decimal integer of at most 2^53-1")
	ErrBase64    = errors.New("not canonical standard base64")
	ErrTime      = errors.New("not an RFC 3339 UTC time as time.RFC3339Nano writes it")
	ErrOrder     = errors.New("member out of order")
)

// Error is a failure at a path in the document ("scope.types[2]").
type Error struct {
	Path string
	Err  error
	// Detail says more, or is "".
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func fail(path string, err error, format string, args ...any) *Error {
	return &Error{Path: path, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// Unmarshal checks that data is one strict JSON document of the shape of
// v, which MUST be a pointer to a struct whose fields are structs,
// pointers to structs, slices, strings, bools, integers, []byte or
// time.Time, and then decodes it into v.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: Unmarshal needs a non-nil pointer, not %T", v)
	}
	if err := checkText(data); err != nil {
		return err
	}
	d := NewDecoder(bytes.NewReader(data))
	if _, err := d.walk(rv.Type().Elem(), ""); err != nil {
		return err
	}
	if err := d.End(); err != nil {
		return err
	}
	// The walk has checked every name, type and value, so the lenient
	// decoder now reads exactly what the walk saw.
	if err := json.Unmarshal(data, v); err != nil {
		return &Error{Err: ErrSyntax, Detail: err.Error()}
	}
	return nil
}

// checkText checks that data is UTF-8 and that every \u escape of a
// surrogate is half of a pair; encoding/json would replace either with
// U+FFFD, where another reader refuses it.
func checkText(data []byte) error {
	if !utf8.Valid(data) {
		return &Error{Err: ErrSyntax, Detail: "not UTF-8"}
	}
	inStr := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !inStr {
			if c == '"' {
				inStr = true
			}
			continue
		}
		switch c {
		case '"':
			inStr = false
		case '\\':
			if i+1 < len(data) && data[i+1] == 'u' {
				r, ok := hex4(data, i+2)
				switch {
				case ok && r >= 0xD800 && r < 0xDC00:
					lo, ok2 := hex4(data, i+8)
					if !ok2 || data[i+6] != '\\' || data[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
						return &Error{Err: ErrSyntax, Detail: "unpaired surrogate escape"}
					}
					i += 11
					continue
				case ok && r >= 0xDC00 && r <= 0xDFFF:
					return &Error{Err: ErrSyntax, Detail: "unpaired surrogate escape"}
				}
			}
			i++
		}
	}
	return nil
}

// hex4 reads the four hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// Decoder reads one strict JSON document token by token, for documents
// too large to hold (a proof of many nodes). It applies the rules of
// [Unmarshal] to what it reads; the caller says which member comes next.
type Decoder struct {
	dec *json.Decoder
}

// NewDecoder returns a Decoder reading r.
func NewDecoder(r io.Reader) *Decoder {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &Decoder{dec: dec}
}

func (d *Decoder) token(path string) (json.Token, error) {
	t, err := d.dec.Token()
	if err == io.EOF {
		return nil, fail(path, ErrSyntax, "unexpected end of the document")
	}
	if err != nil {
		return nil, &Error{Path: path, Err: ErrSyntax, Detail: err.Error()}
	}
	if t == nil {
		return nil, &Error{Path: path, Err: ErrType, Detail: "null"}
	}
	return t, nil
}

// Delim reads the delimiter want.
func (d *Decoder) Delim(path string, want json.Delim) error {
	t, err := d.token(path)
	if err != nil {
		return err
	}
	if got, ok := t.(json.Delim); !ok || got != want {
		return fail(path, ErrType, "%s where %q is expected", describe(t), want)
	}
	return nil
}

// EndObject reads the "}" that ends an object whose members, in a fixed
// order, are members; another member there is a duplicate, a case
// variant or unknown.
func (d *Decoder) EndObject(path string, members ...string) error {
	t, err := d.token(path)
	if err != nil {
		return err
	}
	if got, ok := t.(json.Delim); ok && got == '}' {
		return nil
	}
	name, ok := t.(string)
	if !ok {
		return fail(path, ErrType, "%s where \"}\" is expected", describe(t))
	}
	for _, m := range members {
		if name == m {
			return fail(path, ErrDuplicate, "%q", name)
		}
		if strings.EqualFold(name, m) {
			return fail(path, ErrCase, "%q is not %q", name, m)
		}
	}
	return fail(path, ErrUnknown, "%q", name)
}

// More reports whether the current array or object has another element.
func (d *Decoder) More() bool { return d.dec.More() }

// Key reads the member name want of an object whose members come in a
// fixed order; seen are the members already read in it, to name a
// duplicate as such.
func (d *Decoder) Key(path, want string, seen ...string) error {
	t, err := d.token(path)
	if err != nil {
		return err
	}
	switch got, ok := t.(string); {
	case !ok:
		return fail(path, ErrType, "%s where member %q is expected", describe(t), want)
	case got == want:
		return nil
	case strings.EqualFold(got, want):
		return fail(path, ErrCase, "%q is not %q", got, want)
	default:
		for _, s := range seen {
			if got == s {
				return fail(path, ErrDuplicate, "%q", got)
			}
			if strings.EqualFold(got, s) {
				return fail(path, ErrCase, "%q is not %q", got, s)
			}
		}
		return fail(path, ErrOrder, "%q where member %q is expected", got, want)
	}
}

// Uint reads an integer.
func (d *Decoder) Uint(path string) (uint64, error) {
	t, err := d.token(path)
	if err != nil {
		return 0, err
	}
	return number(path, t)
}

// Bytes reads a byte string.
func (d *Decoder) Bytes(path string) ([]byte, error) {
	t, err := d.token(path)
	if err != nil {
		return nil, err
	}
	s, ok := t.(string)
	if !ok {
		return nil, fail(path, ErrType, "%s where a base64 string is expected", describe(t))
	}
	return decodeBase64(path, s)
}

// End checks that nothing but whitespace follows the document.
func (d *Decoder) End() error {
	if _, err := d.dec.Token(); err != io.EOF {
		return &Error{Err: ErrTrailing}
	}
	return nil
}

func describe(t json.Token) string {
	switch t := t.(type) {
	case json.Delim:
		return strconv.Quote(string(t))
	case string:
		return "string " + strconv.Quote(t)
	case json.Number:
		return "number " + t.String()
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%v", t)
}

func number(path string, t json.Token) (uint64, error) {
	n, ok := t.(json.Number)
	if !ok {
		return 0, fail(path, ErrType, "%s where an integer is expected", describe(t))
	}
	s := n.String()
	if strings.Trim(s, "0123456789") != "" {
		return 0, fail(path, ErrNumber, "%s", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > MaxInt {
		return 0, fail(path, ErrNumber, "%s", s)
	}
	return v, nil
}

func decodeBase64(path, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, fail(path, ErrBase64, "%q", s)
	}
	return b, nil
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

// field is a member of a struct type.
type field struct {
	name     string
	typ      reflect.Type
	optional bool
}

func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		optional := false
		for o := range strings.SplitSeq(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		out = append(out, field{name: name, typ: f.Type, optional: optional})
	}
	return out
}

// walk checks the next value against type t and reports whether it is
// empty (an empty list or string, 0, the zero time).
func (d *Decoder) walk(t reflect.Type, path string) (empty bool, err error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := d.token(path)
	if err != nil {
		return false, err
	}
	switch {
	case t == timeType:
		s, ok := tok.(string)
		if !ok {
			return false, fail(path, ErrType, "%s where a time is expected", describe(tok))
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || tm.UTC().Format(time.RFC3339Nano) != s {
			return false, fail(path, ErrTime, "%q", s)
		}
		return tm.IsZero(), nil
	case t == bytesType:
		s, ok := tok.(string)
		if !ok {
			return false, fail(path, ErrType, "%s where a base64 string is expected", describe(tok))
		}
		b, err := decodeBase64(path, s)
		return len(b) == 0, err
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return false, fail(path, ErrType, "%s where a string is expected", describe(tok))
		}
		return s == "", nil
	case reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return false, fail(path, ErrType, "%s where a boolean is expected", describe(tok))
		}
		return !b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v, err := number(path, tok)
		if err != nil {
			return false, err
		}
		z := reflect.Zero(t)
		if t.Kind() <= reflect.Int64 && z.OverflowInt(int64(v)) || t.Kind() >= reflect.Uint && z.OverflowUint(v) {
			return false, fail(path, ErrNumber, "%d is out of range", v)
		}
		return v == 0, nil
	case reflect.Slice:
		if dl, ok := tok.(json.Delim); !ok || dl != '[' {
			return false, fail(path, ErrType, "%s where a list is expected", describe(tok))
		}
		n := 0
		for d.More() {
			if _, err := d.walk(t.Elem(), path+"["+strconv.Itoa(n)+"]"); err != nil {
				return false, err
			}
			n++
		}
		return n == 0, d.Delim(path, ']')
	case reflect.Struct:
		if dl, ok := tok.(json.Delim); !ok || dl != '{' {
			return false, fail(path, ErrType, "%s where an object is expected", describe(tok))
		}
		return false, d.object(t, path)
	}
	return false, fmt.Errorf("strictjson: unsupported type %v", t)
}

// object checks the members of an object of struct type t, after its "{".
func (d *Decoder) object(t reflect.Type, path string) error {
	fields := fieldsOf(t)
	seen := make([]bool, len(fields))
	prefix := path
	if prefix != "" {
		prefix += "."
	}
	for d.More() {
		tok, err := d.token(path)
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return fail(path, ErrSyntax, "%s where a member name is expected", describe(tok))
		}
		i := -1
		for j, f := range fields {
			if f.name == name {
				i = j
				break
			}
		}
		if i < 0 {
			for _, f := range fields {
				if strings.EqualFold(f.name, name) {
					return fail(prefix+name, ErrCase, "%q is not %q", name, f.name)
				}
			}
			return fail(prefix+name, ErrUnknown, "%q", name)
		}
		if seen[i] {
			return fail(prefix+name, ErrDuplicate, "%q", name)
		}
		seen[i] = true
		empty, err := d.walk(fields[i].typ, prefix+name)
		if err != nil {
			return err
		}
		if empty && fields[i].optional {
			return fail(prefix+name, ErrEmpty, "")
		}
	}
	if err := d.Delim(path, '}'); err != nil {
		return err
	}
	for i, f := range fields {
		if !seen[i] && !f.optional {
			return fail(prefix+f.name, ErrMissing, "")
		}
	}
	return nil
}
