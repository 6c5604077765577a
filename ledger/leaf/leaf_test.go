package leaf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nuxari/nuxari/ledger/leaf"
)

// golden is the canonical encoding of goldenLeaf, written out by hand.
const golden = `{"event":{"a":1},"idempotency_key":"req-1","index":7,"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}`

var goldenLeaf = leaf.Leaf{
	Org:            "acme",
	Index:          7,
	Time:           time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	IdempotencyKey: "req-1",
	Event:          json.RawMessage(`{"a":1}`),
}

// roundTripCases are valid leaves of varied shape.
func roundTripCases() []struct {
	name string
	l    leaf.Leaf
} {
	base := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return []struct {
		name string
		l    leaf.Leaf
	}{
		{"golden", goldenLeaf},
		{"no idempotency key", leaf.Leaf{Org: "acme", Index: 1, Time: base, Event: json.RawMessage(`{"type":"login"}`)}},
		{"index 0", leaf.Leaf{Org: "a", Index: 0, Time: base, Event: json.RawMessage(`{}`)}},
		{"index MaxIndex", leaf.Leaf{Org: "a", Index: leaf.MaxIndex, Time: base, IdempotencyKey: "k", Event: json.RawMessage(`{}`)}},
		{"zero nanoseconds", leaf.Leaf{Org: "acme", Index: 9, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Event: json.RawMessage(`{"n":0}`)}},
		{"whole day", leaf.Leaf{Org: "acme", Index: 10, Time: time.Date(2030, 12, 31, 0, 0, 0, 0, time.UTC), Event: json.RawMessage(`{}`)}},
		{"unix epoch", leaf.Leaf{Org: "acme", Index: 11, Time: time.Unix(0, 0).UTC(), Event: json.RawMessage(`{}`)}},
		{"last nanosecond of a second", leaf.Leaf{Org: "acme", Index: 12, Time: time.Date(2026, 6, 30, 23, 59, 59, 999999999, time.UTC), Event: json.RawMessage(`{}`)}},
		{"non-UTC time is stored in UTC", leaf.Leaf{Org: "acme", Index: 13, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -7*3600)), Event: json.RawMessage(`{}`)}},
		{"longest org and key", leaf.Leaf{Org: strings.Repeat("o", leaf.MaxOrgLen), Index: 14, Time: base, IdempotencyKey: strings.Repeat("k", leaf.MaxIdempotencyKeyLen), Event: json.RawMessage(`{}`)}},
		{"key with every punctuation", leaf.Leaf{Org: "Org_1-x", Index: 15, Time: base, IdempotencyKey: "a.b:c_d-E9", Event: json.RawMessage(`{}`)}},
		{"nested event", leaf.Leaf{Org: "acme", Index: 16, Time: base, Event: json.RawMessage(`{"a":[1,2,{"b":null,"c":true}],"d":{"e":"f"}}`)}},
		{"unicode and escapes in event", leaf.Leaf{Org: "acme", Index: 17, Time: base, Event: json.RawMessage(`{"name":"Zoë ✓","s":"\"q\"\n\u0000"}`)}},
		{"event with inner whitespace is verbatim", leaf.Leaf{Org: "acme", Index: 18, Time: base, Event: json.RawMessage(`{ "a" : [ 1 , 2 ] }`)}},
	}
}

func sameLeaf(a, b leaf.Leaf) bool {
	return a.Org == b.Org && a.Index == b.Index && a.Time.Equal(b.Time) &&
		a.IdempotencyKey == b.IdempotencyKey && bytes.Equal(a.Event, b.Event)
}

func TestAppendMatchesGolden(t *testing.T) {
	if got := string(leaf.Append(nil, &goldenLeaf)); got != golden {
		t.Fatalf("Append = %s\nwant     %s", got, golden)
	}
	// Append extends dst and leaves its prefix alone.
	got := leaf.Append([]byte("prefix"), &goldenLeaf)
	if string(got) != "prefix"+golden {
		t.Fatalf("Append to a non-empty slice = %s", got)
	}
}

func TestAppendParseRoundTrip(t *testing.T) {
	type tc struct {
		name string
		l    leaf.Leaf
	}
	cases := []tc{}
	for _, c := range roundTripCases() {
		cases = append(cases, tc{c.name, c.l})
	}
	// Random leaves over the whole alphabet and index range.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		cases = append(cases, tc{fmt.Sprintf("random %d", i), randomLeaf(rng)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := leaf.Append(nil, &c.l)
			if got := leaf.Size(&c.l); got != len(b) {
				t.Fatalf("Size = %d, len(Append) = %d", got, len(b))
			}
			p, err := leaf.Parse(b)
			if err != nil {
				t.Fatalf("Parse(%s): %v", b, err)
			}
			if !sameLeaf(p, c.l) {
				t.Fatalf("Parse(Append(l)) = %+v, want %+v", p, c.l)
			}
			if p.Time.Location() != time.UTC {
				t.Fatalf("parsed time in %v, want UTC", p.Time.Location())
			}
			if again := leaf.Append(nil, &p); !bytes.Equal(again, b) {
				t.Fatalf("Append(Parse(b)) = %s, want %s", again, b)
			}
			tm, err := leaf.TimeOf(b)
			if err != nil || !tm.Equal(p.Time) {
				t.Fatalf("TimeOf = %v, %v; Parse says %v", tm, err, p.Time)
			}
		})
	}
}

// randomLeaf returns a valid leaf with random members.
func randomLeaf(rng *rand.Rand) leaf.Leaf {
	const orgChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	const keyChars = orgChars + ".:"
	pick := func(chars string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	l := leaf.Leaf{
		Org:   pick(orgChars, 1+rng.IntN(leaf.MaxOrgLen)),
		Index: rng.Uint64N(leaf.MaxIndex + 1),
		// Between 1970 and about 2255.
		Time:  time.Unix(0, rng.Int64N(9e18)).UTC(),
		Event: json.RawMessage(`{"v":"` + pick(orgChars, rng.IntN(40)) + `"}`),
	}
	if rng.IntN(2) == 0 {
		l.IdempotencyKey = pick(keyChars, 1+rng.IntN(leaf.MaxIdempotencyKeyLen))
	}
	switch rng.IntN(4) {
	case 0:
		l.Index = 0
	case 1:
		l.Index = leaf.MaxIndex - rng.Uint64N(10)
	}
	if rng.IntN(3) == 0 {
		l.Time = l.Time.Truncate(time.Second)
	}
	return l
}

func TestHashIsRFC6962Leaf(t *testing.T) {
	for _, b := range [][]byte{nil, []byte(golden), []byte("x")} {
		want := sha256.Sum256(append([]byte{0}, b...))
		if got := leaf.Hash(b); !bytes.Equal(got, want[:]) {
			t.Fatalf("Hash(%q) = %x, want %x", b, got, want)
		}
	}
}

// nonCanonical lists byte forms Parse must refuse: each is a small
// change to golden, or a leaf whose members are out of range.
var nonCanonical = []struct {
	name string
	in   string
}{
	{"empty", ``},
	{"null", `null`},
	{"empty object", `{}`},
	{"array", `[` + golden + `]`},
	{"truncated", golden[:len(golden)-1]},
	{"leading space", ` ` + golden},
	{"trailing space", golden + ` `},
	{"trailing newline", golden + "\n"},
	{"trailing object", golden + `{}`},
	{"trailing bracket", golden + `]`},
	{"trailing garbage", golden + `x`},
	{"space after colon", strings.Replace(golden, `"index":7`, `"index": 7`, 1)},
	{"space after comma", strings.Replace(golden, `,"org"`, `, "org"`, 1)},
	{"space before event", strings.Replace(golden, `"event":{`, `"event": {`, 1)},
	{"reordered members", `{"event":{"a":1},"idempotency_key":"req-1","org":"acme","index":7,"time":"2026-01-02T03:04:05.000000006Z"}`},
	{"time first", `{"time":"2026-01-02T03:04:05.000000006Z","event":{"a":1},"idempotency_key":"req-1","index":7,"org":"acme"}`},
	{"duplicate index", strings.Replace(golden, `"index":7`, `"index":7,"index":7`, 1)},
	{"duplicate org, last wins", strings.Replace(golden, `"org":"acme"`, `"org":"evil","org":"acme"`, 1)},
	{"duplicate event", strings.Replace(golden, `{"event":{"a":1}`, `{"event":{"a":2},"event":{"a":1}`, 1)},
	{"unknown member", strings.Replace(golden, `"org":"acme"`, `"org":"acme","other":1`, 1)},
	{"member name in other case", strings.Replace(golden, `"index"`, `"Index"`, 1)},
	{"escaped org", strings.Replace(golden, `"org":"acme"`, `"org":"\u0061cme"`, 1)},
	{"escaped member name", strings.Replace(golden, `"org"`, `"\u006frg"`, 1)},
	{"empty idempotency key present", `{"event":{"a":1},"idempotency_key":"","index":7,"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}`},
	{"missing index", `{"event":{"a":1},"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}`},
	{"missing org", `{"event":{"a":1},"index":7,"time":"2026-01-02T03:04:05.000000006Z"}`},
	{"missing time", `{"event":{"a":1},"index":7,"org":"acme"}`},
	{"missing event", `{"index":7,"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}`},
	{"index above MaxIndex", strings.Replace(golden, `"index":7`, `"index":9007199254740992`, 1)},
	{"index overflows uint64", strings.Replace(golden, `"index":7`, `"index":18446744073709551616`, 1)},
	{"negative index", strings.Replace(golden, `"index":7`, `"index":-7`, 1)},
	{"negative zero index", strings.Replace(golden, `"index":7`, `"index":-0`, 1)},
	{"float index", strings.Replace(golden, `"index":7`, `"index":7.0`, 1)},
	{"exponent index", strings.Replace(golden, `"index":7`, `"index":7e0`, 1)},
	{"leading zero index", strings.Replace(golden, `"index":7`, `"index":07`, 1)},
	{"string index", strings.Replace(golden, `"index":7`, `"index":"7"`, 1)},
	{"null index", strings.Replace(golden, `"index":7`, `"index":null`, 1)},
	{"time without fraction", strings.Replace(golden, `05.000000006Z`, `05Z`, 1)},
	{"time with eight fraction digits", strings.Replace(golden, `05.000000006Z`, `05.00000006Z`, 1)},
	{"time with comma", strings.Replace(golden, `05.000000006Z`, `05,000000006Z`, 1)},
	{"time with offset", strings.Replace(golden, `05.000000006Z`, `05.000000006+00:00`, 1)},
	{"time lowercase z", strings.Replace(golden, `05.000000006Z`, `05.000000006z`, 1)},
	{"time lowercase t", strings.Replace(golden, `02T03`, `02t03`, 1)},
	{"time month 13", strings.Replace(golden, `2026-01-02`, `2026-13-02`, 1)},
	{"time February 30", strings.Replace(golden, `2026-01-02`, `2026-02-30`, 1)},
	{"time hour 24", strings.Replace(golden, `T03:04:05`, `T24:04:05`, 1)},
	{"time leap second", strings.Replace(golden, `T03:04:05`, `T23:59:60`, 1)},
	{"time as number", strings.Replace(golden, `"2026-01-02T03:04:05.000000006Z"`, `1767323045`, 1)},
	{"time empty", strings.Replace(golden, `"2026-01-02T03:04:05.000000006Z"`, `""`, 1)},
	{"event array", strings.Replace(golden, `{"a":1}`, `[1]`, 1)},
	{"event string", strings.Replace(golden, `{"a":1}`, `"a"`, 1)},
	{"event number", strings.Replace(golden, `{"a":1}`, `1`, 1)},
	{"event null", strings.Replace(golden, `{"a":1}`, `null`, 1)},
	{"event true", strings.Replace(golden, `{"a":1}`, `true`, 1)},
	{"org empty", strings.Replace(golden, `"org":"acme"`, `"org":""`, 1)},
	{"org with slash", strings.Replace(golden, `"org":"acme"`, `"org":"a/b"`, 1)},
	{"org with dot dot", strings.Replace(golden, `"org":"acme"`, `"org":"../x"`, 1)},
	{"org with NUL", strings.Replace(golden, `"org":"acme"`, `"org":"a\u0000b"`, 1)},
	{"org too long", strings.Replace(golden, `"org":"acme"`, `"org":"`+strings.Repeat("a", leaf.MaxOrgLen+1)+`"`, 1)},
	{"org number", strings.Replace(golden, `"org":"acme"`, `"org":1`, 1)},
	{"key with space", strings.Replace(golden, `"req-1"`, `"req 1"`, 1)},
	{"key too long", strings.Replace(golden, `"req-1"`, `"`+strings.Repeat("k", leaf.MaxIdempotencyKeyLen+1)+`"`, 1)},
	{"invalid UTF-8 in org", strings.Replace(golden, `"org":"acme"`, "\"org\":\"ac\xffme\"", 1)},
	{"invalid UTF-8 in event", strings.Replace(golden, `{"a":1}`, "{\"a\":\"\xff\"}", 1)},
}

func TestParseRejectsNonCanonical(t *testing.T) {
	for _, c := range nonCanonical {
		t.Run(c.name, func(t *testing.T) {
			l, err := leaf.Parse([]byte(c.in))
			if !errors.Is(err, leaf.ErrMalformed) {
				t.Fatalf("Parse(%q) = %+v, %v; want ErrMalformed", c.in, l, err)
			}
		})
	}
}

func TestParseWrapsMemberErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"org", strings.Replace(golden, `"org":"acme"`, `"org":"a b"`, 1), leaf.ErrInvalidOrg},
		{"idempotency key", strings.Replace(golden, `"req-1"`, `"req/1"`, 1), leaf.ErrInvalidIdempotencyKey},
		{"event", strings.Replace(golden, `{"a":1}`, `[]`, 1), leaf.ErrInvalidEvent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := leaf.Parse([]byte(c.in))
			if !errors.Is(err, leaf.ErrMalformed) || !errors.Is(err, c.want) {
				t.Fatalf("Parse: %v; want ErrMalformed wrapping %v", err, c.want)
			}
		})
	}
}

func TestValidateOrg(t *testing.T) {
	cases := []struct {
		org string
		ok  bool
	}{
		{"", false},
		{"a", true},
		{"acme", true},
		{"ACME_corp-01", true},
		{"-", true},
		{"_", true},
		{strings.Repeat("a", leaf.MaxOrgLen), true},
		{strings.Repeat("a", leaf.MaxOrgLen+1), false},
		{"../", false},
		{"..", false},
		{".", false},
		{"a/b", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"\x00", false},
		{"a b", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a.b", false},
		{"a:b", false},
		{"a+b", false},
		{`a"b`, false},
		{"acmé", false},
		{"組織", false},
		{"\xff", false},
		{"a\u200bb", false},
	}
	for _, c := range cases {
		t.Run(c.org, func(t *testing.T) {
			err := leaf.ValidateOrg(c.org)
			if c.ok && err != nil {
				t.Fatalf("ValidateOrg(%q) = %v, want nil", c.org, err)
			}
			if !c.ok && !errors.Is(err, leaf.ErrInvalidOrg) {
				t.Fatalf("ValidateOrg(%q) = %v, want ErrInvalidOrg", c.org, err)
			}
		})
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	cases := []struct {
		key string
		ok  bool
	}{
		{"", true},
		{"k", true},
		{"req-1", true},
		{"a.b:c_d-E9", true},
		{"2026-01-02T03:04:05Z", true},
		{"...", true},
		{strings.Repeat("k", leaf.MaxIdempotencyKeyLen), true},
		{strings.Repeat("k", leaf.MaxIdempotencyKeyLen+1), false},
		{"a b", false},
		{"a/b", false},
		{`a\b`, false},
		{`a"b`, false},
		{"a\x00", false},
		{"a\n", false},
		{"é", false},
		{"\xff", false},
		{"a+b", false},
		{"a=b", false},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			err := leaf.ValidateIdempotencyKey(c.key)
			if c.ok && err != nil {
				t.Fatalf("ValidateIdempotencyKey(%q) = %v, want nil", c.key, err)
			}
			if !c.ok && !errors.Is(err, leaf.ErrInvalidIdempotencyKey) {
				t.Fatalf("ValidateIdempotencyKey(%q) = %v, want ErrInvalidIdempotencyKey", c.key, err)
			}
		})
	}
}

func TestValidateEvent(t *testing.T) {
	cases := []struct {
		event string
		ok    bool
	}{
		{`{}`, true},
		{`{"a":1}`, true},
		{`{"a":[1,2,{"b":null}],"c":"}"}`, true},
		{`{ "a" : 1 }`, true},
		{`{"s":"\u00e9\n"}`, true},
		{``, false},
		{`{`, false},
		{`}`, false},
		{`{}{}`, false},
		{`{"a":1}{"b":2}`, false},
		{` {}`, false},
		{`{} `, false},
		{"{}\n", false},
		{`[]`, false},
		{`[{}]`, false},
		{`null`, false},
		{`"x"`, false},
		{`1`, false},
		{`true`, false},
		{`{"a":}`, false},
		{`{"a":1,}`, false},
		{`{'a':1}`, false},
		{`{a:1}`, false},
		{`{"a":1 x}`, false},
		{"{\"a\":\"\xff\"}", false},
		{"{\"a\xff\":1}", false},
		{"{\"a\":\"\xed\xa0\x80\"}", false},
		{"{\"a\":\"\xc3\"}", false},
	}
	for _, c := range cases {
		t.Run(c.event, func(t *testing.T) {
			err := leaf.ValidateEvent([]byte(c.event))
			if c.ok && err != nil {
				t.Fatalf("ValidateEvent(%q) = %v, want nil", c.event, err)
			}
			if !c.ok && !errors.Is(err, leaf.ErrInvalidEvent) {
				t.Fatalf("ValidateEvent(%q) = %v, want ErrInvalidEvent", c.event, err)
			}
		})
	}
	if err := leaf.ValidateEvent(nil); !errors.Is(err, leaf.ErrInvalidEvent) {
		t.Fatalf("ValidateEvent(nil) = %v, want ErrInvalidEvent", err)
	}
}

func TestTimeOf(t *testing.T) {
	for _, c := range roundTripCases() {
		t.Run(c.name, func(t *testing.T) {
			b := leaf.Append(nil, &c.l)
			p, err := leaf.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := leaf.TimeOf(b)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(p.Time) || !got.Equal(c.l.Time) {
				t.Fatalf("TimeOf = %v, Parse = %v, leaf = %v", got, p.Time, c.l.Time)
			}
		})
	}
	bad := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"short", `"}`},
		{"no closing brace", golden[:len(golden)-1]},
		{"no closing quote", golden[:len(golden)-2] + `}}`},
		{"garbage time", strings.Replace(golden, `2026-01-02T03:04:05.000000006Z`, `2026-01-02T03:04:05.00000000xZ`, 1)},
		{"time month 13", strings.Replace(golden, `2026-01-02`, `2026-13-02`, 1)},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if tm, err := leaf.TimeOf([]byte(c.in)); !errors.Is(err, leaf.ErrMalformed) {
				t.Fatalf("TimeOf(%q) = %v, %v; want ErrMalformed", c.in, tm, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range roundTripCases() {
		f.Add(leaf.Append(nil, &c.l))
	}
	for _, c := range nonCanonical {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := leaf.Parse(b)
		if err != nil {
			if !errors.Is(err, leaf.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if got := leaf.Append(nil, &l); !bytes.Equal(got, b) {
			t.Fatalf("Parse accepted a non-canonical form:\n in  %q\n out %q", b, got)
		}
		if leaf.Size(&l) != len(b) {
			t.Fatalf("Size = %d, want %d", leaf.Size(&l), len(b))
		}
		if l.Index > leaf.MaxIndex || leaf.ValidateOrg(l.Org) != nil ||
			leaf.ValidateIdempotencyKey(l.IdempotencyKey) != nil || leaf.ValidateEvent(l.Event) != nil {
			t.Fatalf("Parse accepted an invalid leaf %+v", l)
		}
		if tm, err := leaf.TimeOf(b); err != nil || !tm.Equal(l.Time) {
			t.Fatalf("TimeOf = %v, %v; Parse says %v", tm, err, l.Time)
		}
		if !utf8.Valid(b) || !json.Valid(b) {
			t.Fatalf("Parse accepted bytes that are not UTF-8 JSON: %q", b)
		}
	})
}
