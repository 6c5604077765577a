package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/internal/strictjson"
)

type inner struct {
	A uint64 `json:"a"`
	B []byte `json:"b,omitempty"`
}

type doc struct {
	Version int       `json:"version"`
	Name    string    `json:"name"`
	When    time.Time `json:"when"`
	Opt     time.Time `json:"opt,omitzero"`
	List    []string  `json:"list,omitempty"`
	Items   []inner   `json:"items"`
	Ptr     *inner    `json:"ptr,omitempty"`
	Flag    bool      `json:"flag,omitempty"`
}

const valid = `{"version":1,"name":"n","when":"2026-03-01T12:00:00.25Z","list":["x"],"items":[{"a":3,"b":"AAE="}],"ptr":{"a":0}}`

func TestUnmarshalValid(t *testing.T) {
	var d doc
	if err := strictjson.Unmarshal([]byte(valid+"\n"), &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || d.Name != "n" || d.Items[0].A != 3 || !bytes.Equal(d.Items[0].B, []byte{0, 1}) || d.Ptr == nil ||
		!d.When.Equal(time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)) {
		t.Fatalf("%+v", d)
	}
	for _, ok := range []string{
		`{"version":0,"name":"","when":"2026-03-01T12:00:00Z","items":[]}`,
		` { "items" : [ ] , "when" : "2026-03-01T12:00:00Z" , "name" : "\u00e9\ud83d\ude00", "version" : 9007199254740991 } `,
	} {
		if err := strictjson.Unmarshal([]byte(ok), &d); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestUnmarshalRefuses: each document is one that encoding/json reads
// (into some value) but a strict reader of the same format refuses.
func TestUnmarshalRefuses(t *testing.T) {
	base := `"when":"2026-03-01T12:00:00Z","items":[]`
	for _, c := range []struct {
		name, doc string
		want      error
		path      string
	}{
		{"case variant", `{"Version":1,"name":"n",` + base + `}`, strictjson.ErrCase, "Version"},
		{"duplicate", `{"version":1,"version":2,"name":"n",` + base + `}`, strictjson.ErrDuplicate, "version"},
		{"duplicate in a nested object", `{"version":1,"name":"n",` + base + `,"ptr":{"a":1,"a":2}}`, strictjson.ErrDuplicate, "ptr.a"},
		{"case variant in a list", `{"version":1,"name":"n","when":"2026-03-01T12:00:00Z","items":[{"A":1}]}`, strictjson.ErrCase, "items[0].A"},
		{"unknown member", `{"version":1,"name":"n",` + base + `,"x":1}`, strictjson.ErrUnknown, "x"},
		{"unknown nested member", `{"version":1,"name":"n",` + base + `,"ptr":{"a":1,"c":2}}`, strictjson.ErrUnknown, "ptr.c"},
		{"missing member", `{"version":1,` + base + `}`, strictjson.ErrMissing, "name"},
		{"missing nested member", `{"version":1,"name":"n",` + base + `,"ptr":{}}`, strictjson.ErrMissing, "ptr.a"},
		{"empty optional list", `{"version":1,"name":"n",` + base + `,"list":[]}`, strictjson.ErrEmpty, "list"},
		{"zero optional time", `{"version":1,"name":"n",` + base + `,"opt":"0001-01-01T00:00:00Z"}`, strictjson.ErrEmpty, "opt"},
		{"empty optional bytes", `{"version":1,"name":"n",` + base + `,"ptr":{"a":1,"b":""}}`, strictjson.ErrEmpty, "ptr.b"},
		{"false optional flag", `{"version":1,"name":"n",` + base + `,"flag":false}`, strictjson.ErrEmpty, "flag"},
		{"null", `{"version":1,"name":null,` + base + `}`, strictjson.ErrType, "name"},
		{"null list", `{"version":1,"name":"n","when":"2026-03-01T12:00:00Z","items":null}`, strictjson.ErrType, "items"},
		{"string for a number", `{"version":"1","name":"n",` + base + `}`, strictjson.ErrType, "version"},
		{"negative", `{"version":-1,"name":"n",` + base + `}`, strictjson.ErrNumber, "version"},
		{"fraction", `{"version":1.0,"name":"n",` + base + `}`, strictjson.ErrNumber, "version"},
		{"exponent", `{"version":1e0,"name":"n",` + base + `}`, strictjson.ErrNumber, "version"},
		{"above 2^53-1", `{"version":9007199254740992,"name":"n",` + base + `}`, strictjson.ErrNumber, "version"},
		{"base64 with a line break", `{"version":1,"name":"n",` + base + `,"ptr":{"a":1,"b":"AA\nE="}}`, strictjson.ErrBase64, "ptr.b"},
		{"base64 with padding bits", `{"version":1,"name":"n",` + base + `,"ptr":{"a":1,"b":"AAF="}}`, strictjson.ErrBase64, "ptr.b"},
		{"base64 unpadded", `{"version":1,"name":"n",` + base + `,"ptr":{"a":1,"b":"AAE"}}`, strictjson.ErrBase64, "ptr.b"},
		{"time with an offset", `{"version":1,"name":"n","when":"2026-03-01T13:00:00+01:00","items":[]}`, strictjson.ErrTime, "when"},
		{"time with trailing zeros", `{"version":1,"name":"n","when":"2026-03-01T12:00:00.500Z","items":[]}`, strictjson.ErrTime, "when"},
		{"time lower-case", `{"version":1,"name":"n","when":"2026-03-01t12:00:00z","items":[]}`, strictjson.ErrTime, "when"},
		{"trailing data", `{"version":1,"name":"n",` + base + `}{}`, strictjson.ErrTrailing, ""},
		{"trailing garbage", `{"version":1,"name":"n",` + base + `} x`, strictjson.ErrTrailing, ""},
		{"not UTF-8", `{"version":1,"name":"` + "\xff" + `",` + base + `}`, strictjson.ErrSyntax, ""},
		{"lone surrogate", `{"version":1,"name":"\udc00",` + base + `}`, strictjson.ErrSyntax, ""},
		{"unpaired high surrogate", `{"version":1,"name":"\ud800x",` + base + `}`, strictjson.ErrSyntax, ""},
		{"not an object", `[1]`, strictjson.ErrType, ""},
		{"truncated", `{"version":1`, strictjson.ErrSyntax, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d doc
			err := strictjson.Unmarshal([]byte(c.doc), &d)
			if !errors.Is(err, c.want) {
				t.Fatalf("%s: err = %v, want %v", c.doc, err, c.want)
			}
			var se *strictjson.Error
			if !errors.As(err, &se) || se.Path != c.path {
				t.Fatalf("%s: err = %v, want path %q", c.doc, err, c.path)
			}
		})
	}
}

func TestDecoder(t *testing.T) {
	read := func(s string) error {
		d := strictjson.NewDecoder(strings.NewReader(s))
		if err := d.Delim("", '{'); err != nil {
			return err
		}
		if err := d.Key("", "n"); err != nil {
			return err
		}
		if _, err := d.Uint("n"); err != nil {
			return err
		}
		if err := d.Key("", "h", "n"); err != nil {
			return err
		}
		if _, err := d.Bytes("h"); err != nil {
			return err
		}
		if err := d.EndObject("", "n", "h"); err != nil {
			return err
		}
		return d.End()
	}
	if err := read(`{"n":1,"h":"AA=="}` + "\n"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		doc  string
		want error
	}{
		{`{"N":1,"h":"AA=="}`, strictjson.ErrCase},
		{`{"n":1,"n":1,"h":"AA=="}`, strictjson.ErrDuplicate},
		{`{"n":1,"H":"AA=="}`, strictjson.ErrCase},
		{`{"h":"AA==","n":1}`, strictjson.ErrOrder},
		{`{"n":1,"h":"AA==","x":1}`, strictjson.ErrUnknown},
		{`{"n":1,"h":"AA==","h":"AA=="}`, strictjson.ErrDuplicate},
		{`{"n":1,"h":"AA==","N":1}`, strictjson.ErrCase},
		{`{"n":1,"h":"AA==",1}`, strictjson.ErrSyntax},
		{`{"n":-1,"h":"AA=="}`, strictjson.ErrNumber},
		{`{"n":null,"h":"AA=="}`, strictjson.ErrType},
		{`{"n":1,"h":"AB=="}`, strictjson.ErrBase64},
		{`{"n":1,"h":"AA=="} 1`, strictjson.ErrTrailing},
		{`{"n":1,"h":"AA=="`, strictjson.ErrSyntax},
	} {
		if err := read(c.doc); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.doc, err, c.want)
		}
	}
}

// FuzzUnmarshal: whatever Unmarshal accepts, encoding/json reads the same
// way, and a case-insensitive or last-wins reading never differs from it.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`{"version":1,"version":2}`))
	f.Add([]byte(`{"Version":1,"name":"n","when":"2026-03-01T12:00:00Z","items":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d doc
		if err := strictjson.Unmarshal(b, &d); err != nil {
			var se *strictjson.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *strictjson.Error", err, err)
			}
			return
		}
		// Accepted: re-encoding and reading again gives the same value.
		out, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		var d2 doc
		if err := strictjson.Unmarshal(out, &d2); err != nil {
			t.Fatalf("re-encoded %s: %v", out, err)
		}
		out2, _ := json.Marshal(&d2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("%s read as %s, then %s", b, out, out2)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		var any1 map[string]any
		if err := dec.Decode(&any1); err != nil {
			t.Fatalf("encoding/json refuses what strictjson accepts: %v", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatal("trailing data accepted")
		}
	})
}
