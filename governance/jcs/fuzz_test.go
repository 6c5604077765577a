package jcs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/nuxari/nuxari/governance/jcs"
)

// FuzzCanonicalize checks, for any input: no panic; a rejection wraps
// ErrInvalid; an accepted input is valid JSON; the output is valid UTF-8
// JSON, canonicalizes to itself and holds the same data as the input.
func FuzzCanonicalize(f *testing.F) {
	for _, doc := range idempotenceDocs {
		f.Add([]byte(doc))
	}
	for _, doc := range []string{
		`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"x","1":"One","\ud83d\ude00":"y","\u0080":"z","\u00f6":"w"}`,
		`{"a":1,"a":2}`,
		`"\ud800"`,
		`[1e400, -0.0, 5e-324, 1.7976931348623157e308]`,
		"\"\xff\"",
		`[[[[[[[[[[]]]]]]]]]]`,
		` {"z" : [ true , false , null ] } `,
	} {
		f.Add([]byte(doc))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := jcs.Canonicalize(data)
		if err != nil {
			if !errors.Is(err, jcs.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if out != nil {
				t.Fatalf("output %q returned with error %v", out, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("output %q is not valid UTF-8 JSON", out)
		}
		again, err := jcs.Canonicalize(out)
		if err != nil {
			t.Fatalf("output %q does not canonicalize: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\nonce  %q\ntwice %q", out, again)
		}
		want, err := decode(data)
		if err != nil {
			t.Fatalf("decoding accepted input %q: %v", data, err)
		}
		got, err := decode(out)
		if err != nil {
			t.Fatalf("decoding output %q: %v", out, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("data changed:\ninput  %q\noutput %q", data, out)
		}
	})
}

// decode parses one JSON value, turning every number into a float64.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return toFloats(v)
}

func toFloats(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return strconv.ParseFloat(string(v), 64)
	case []any:
		for i, e := range v {
			f, err := toFloats(e)
			if err != nil {
				return nil, err
			}
			v[i] = f
		}
	case map[string]any:
		for k, e := range v {
			f, err := toFloats(e)
			if err != nil {
				return nil, err
			}
			v[k] = f
		}
	}
	return v, nil
}
