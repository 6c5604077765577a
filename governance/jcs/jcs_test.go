package jcs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/governance/jcs"
)

// canon canonicalizes in and fails the test on error.
func canon(t *testing.T, in string) string {
	t.Helper()
	out, err := jcs.Canonicalize([]byte(in))
	if err != nil {
		t.Fatalf("Canonicalize(%q): %v", in, err)
	}
	return string(out)
}

func TestCanonicalizeRFC8785Examples(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			// RFC 8785 section 3.2.2.
			name: "section 3.2.2 primitives",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],` +
				`"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			// RFC 8785 section 3.2.3.
			name: "section 3.2.3 sorting",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: `{"\r":"Carriage Return","1":"One","` + "\u0080" + `":"Control",` +
				`"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign",` +
				"\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{
			// RFC 8785 section 3.2.4, UTF-8 generation: "€" as E2 82 AC.
			name: "section 3.2.4 utf-8",
			in:   `{"a":"\u20ac"}`,
			want: "{\"a\":\"\xe2\x82\xac\"}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canon(t, tt.in); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestNumbersAppendixB feeds the IEEE 754 values of RFC 8785 Appendix B
// (all rows but NaN and Infinity, which JSON cannot carry) as JSON numbers.
func TestNumbersAppendixB(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
		// Not in the appendix: the nearest double to 1e22.
		{0x4480f0cf064dd592, "1e+22"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatUint(tt.bits, 16), func(t *testing.T) {
			f := math.Float64frombits(tt.bits)
			in := strconv.FormatFloat(f, 'g', -1, 64)
			if got := canon(t, in); got != tt.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", in, got, tt.want)
			}
			// The same value spelled with every digit strconv can give.
			in = strconv.FormatFloat(f, 'e', 40, 64)
			if got := canon(t, in); got != tt.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", in, got, tt.want)
			}
			got, err := jcs.Marshal(f)
			if err != nil {
				t.Fatalf("Marshal(%v): %v", f, err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%v) = %s, want %s", f, got, tt.want)
			}
		})
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0", "0"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"0e10", "0"},
		{"-0e-10", "0"},
		{"1", "1"},
		{"-1", "-1"},
		{"1.0", "1"},
		{"1.50", "1.5"},
		{"1E2", "100"},
		{"1e+2", "100"},
		{"0.1", "0.1"},
		{"-0.5", "-0.5"},
		{"0.000001", "0.000001"},
		{"0.0000015", "0.0000015"},
		{"1.5e-6", "0.0000015"},
		{"1e-7", "1e-7"},
		{"1.5e-7", "1.5e-7"},
		{"123e-20", "1.23e-18"},
		{"1e20", "100000000000000000000"},
		{"123456789012345678901", "123456789012345680000"},
		{"1e21", "1e+21"},
		{"1.5e21", "1.5e+21"},
		{"-1.5e300", "-1.5e+300"},
		{"12345678901234567890", "12345678901234567000"},
		{"9007199254740993", "9007199254740992"},
		{"123.456", "123.456"},
		{"1e-400", "0"}, // underflows to zero, as in ECMAScript
		{"-1e-400", "0"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := canon(t, tt.in); got != tt.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", tt.in, got, tt.want)
			}
			arr := "[" + tt.in + "]"
			if got := canon(t, arr); got != "["+tt.want+"]" {
				t.Errorf("Canonicalize(%s) = %s, want [%s]", arr, got, tt.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", `""`, `""`},
		{"ascii", `"abc"`, `"abc"`},
		{"short escapes", `"\b\t\n\f\r\"\\"`, `"\b\t\n\f\r\"\\"`},
		{"short escapes spelled as \\u", `"\u0008\u0009\u000A\u000c\u000D\u0022\u005C"`, `"\b\t\n\f\r\"\\"`},
		{"nul", `"\u0000"`, `"\u0000"`},
		{"control lowercase hex", `"\u001F\u001e\u000B\u0001"`, `"\u001f\u001e\u000b\u0001"`},
		{"solidus", `"\/ /"`, `"/ /"`},
		{"del literal", `"\u007f"`, "\"\x7f\""},
		{"html literal", `"\u003c\u003e\u0026<>&"`, `"<>&<>&"`},
		{"line separators literal", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"latin-1 literal", `"\u00e9\u0080"`, "\"é\u0080\""},
		{"raw non-ascii kept", `"ö€😀"`, `"ö€😀"`},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
		{"uppercase surrogate pair", `"\uD83D\uDE00"`, `"😀"`},
		{"noncharacter", `"\uffff\ufdd0"`, "\"\uffff\ufdd0\""},
		{"replacement char", `"\ufffd"`, "\"\ufffd\""},
		{"bmp private use", `"\ue000"`, "\"\ue000\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canon(t, tt.in); got != tt.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestStringsAllControls checks every character below U+0020 both raw in a
// Go value (through Marshal) and escaped in JSON text.
func TestStringsAllControls(t *testing.T) {
	short := map[rune]string{'\b': `\b`, '\t': `\t`, '\n': `\n`, '\f': `\f`, '\r': `\r`}
	for r := rune(0); r < 0x20; r++ {
		want, ok := short[r]
		if !ok {
			want = fmt.Sprintf(`\u%04x`, r)
		}
		want = `"` + want + `"`
		t.Run(strconv.Itoa(int(r)), func(t *testing.T) {
			in := fmt.Sprintf(`"\u%04X"`, r)
			if got := canon(t, in); got != want {
				t.Errorf("Canonicalize(%s) = %s, want %s", in, got, want)
			}
			got, err := jcs.Marshal(string(r))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("Marshal(%q) = %s, want %s", string(r), got, want)
			}
		})
	}
}

// TestSortUTF16 uses names whose UTF-16 order differs from their UTF-8
// byte order: characters above U+FFFF are surrogate pairs (D800–DBFF
// first) and so sort before U+E000–U+FFFF, while their UTF-8 (F0…) sorts
// after (EE…, EF…).
func TestSortUTF16(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "emoji before private use",
			in:   `{"\ue000":1,"\ud83d\ude00":2}`,
			want: "{\"\U0001F600\":2,\"\ue000\":1}",
		},
		{
			name: "U+10000 before U+FFFF",
			in:   "{\"\uffff\":1,\"\U00010000\":2}",
			want: "{\"\U00010000\":2,\"\uffff\":1}",
		},
		{
			name: "U+10FFFF before U+FB33 and U+E000",
			in:   "{\"\ufb33\":1,\"\ue000\":2,\"\U0010FFFF\":3}",
			want: "{\"\U0010FFFF\":3,\"\ue000\":2,\"\ufb33\":1}",
		},
		{
			name: "BMP below surrogates before supplementary",
			in:   "{\"\U0001F600\":1,\"\ud7ff\":2}",
			want: "{\"\ud7ff\":2,\"\U0001F600\":1}",
		},
		{
			name: "prefix first, empty name first",
			in:   `{"ab":1,"a":2,"":3,"b":4,"A":5}`,
			want: `{"":3,"A":5,"a":2,"ab":1,"b":4}`,
		},
		{
			name: "sorting uses unescaped names",
			in:   `{"\u0062":1,"a":2,"\n":3}`,
			want: `{"\n":3,"a":2,"b":1}`,
		},
		{
			name: "nested objects sorted, arrays keep order",
			in:   `{"z":[{"b":1,"a":2},{"d":[3,2,1],"c":null}],"y":{"y":{"b":true,"a":false}}}`,
			want: `{"y":{"y":{"a":false,"b":true}},"z":[{"a":2,"b":1},{"c":null,"d":[3,2,1]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canon(t, tt.in); got != tt.want {
				t.Errorf("got  %+q\nwant %+q", got, tt.want)
			}
		})
	}
}

func TestWhitespaceAndLiterals(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"null", " null ", "null"},
		{"true", "\ttrue\n", "true"},
		{"false", "\r\nfalse", "false"},
		{"empty array", "[ ]", "[]"},
		{"empty object", "{ \n }", "{}"},
		{"pretty", "{\n  \"a\" : [ 1 , 2 ] ,\n  \"b\" : { }\n}\n", `{"a":[1,2],"b":{}}`},
		{"top-level string", ` "x" `, `"x"`},
		{"top-level number", "\n-12.50\n", "-12.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canon(t, tt.in); got != tt.want {
				t.Errorf("Canonicalize(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // substring of the error message
	}{
		{"empty", "", "no JSON value"},
		{"only whitespace", " \n\t ", "no JSON value"},
		{"duplicate name", `{"a":1,"a":2}`, "duplicate object member name at byte offset 7"},
		{"duplicate name escaped", `{"a":1,"\u0061":2}`, "duplicate object member name at byte offset 7"},
		{"duplicate name nested", `[{"x":{"b":1,"c":2,"b":3}}]`, "duplicate object member name at byte offset 19"},
		{"duplicate surrogate pair", `{"😀":1,"\ud83d\ude00":2}`, "duplicate object member name"},
		{"invalid utf-8 in string", "\"a\xffb\"", "invalid UTF-8 at byte offset 2"},
		{"invalid utf-8 outside string", "[1,\xc3]", "invalid UTF-8 at byte offset 3"},
		{"utf-8 encoded surrogate", "\"\xed\xa0\x80\"", "invalid UTF-8 at byte offset 1"},
		{"overlong utf-8", "\"\xc0\xaf\"", "invalid UTF-8 at byte offset 1"},
		{"truncated utf-8", "\"\xe2\x82\"", "invalid UTF-8 at byte offset 1"},
		{"lone high surrogate", `"\ud800"`, "unpaired UTF-16 surrogate escape at byte offset 1"},
		{"lone low surrogate", `["x\udc00"]`, "unpaired UTF-16 surrogate escape at byte offset 3"},
		{"high surrogate then letter", `"\ud800\u0041"`, "unpaired UTF-16 surrogate"},
		{"high surrogate then high", `"\ud800\ud800"`, "unpaired UTF-16 surrogate"},
		{"swapped pair", `"\ude00\ud83d"`, "unpaired UTF-16 surrogate"},
		{"lone surrogate in name", `{"\udfff":1}`, "unpaired UTF-16 surrogate escape at byte offset 2"},
		{"trailing value", `1 2`, "trailing data after the JSON value at byte offset 2"},
		{"trailing garbage", `{} x`, "trailing data after the JSON value at byte offset 3"},
		{"trailing close", `[]]`, "trailing data after the JSON value at byte offset 2"},
		{"two objects", `{}{}`, "trailing data"},
		{"leading zero", `01`, "trailing data"},
		{"trailing comma array", `[1,]`, "syntax error at byte offset 3"},
		{"trailing comma object", `{"a":1,}`, "syntax error"},
		{"missing value", `{"a"}`, "syntax error"},
		{"missing colon", `{"a" 1}`, "syntax error"},
		{"missing comma", `[1 2]`, "syntax error"},
		{"unquoted name", `{a:1}`, "syntax error"},
		{"single quotes", `'a'`, "syntax error"},
		{"bad escape", `"\x"`, "syntax error"},
		{"raw control in string", "\"a\nb\"", "syntax error"},
		{"NaN", `NaN`, "syntax error"},
		{"Infinity", `[Infinity]`, "syntax error"},
		{"plus sign", `+1`, "syntax error"},
		{"hex", `[0x10]`, "syntax error"},
		{"leading dot", `.5`, "syntax error"},
		{"bare minus", `-`, "end of input"},
		{"byte order mark", "\ufeff{}", "syntax error"},
		{"unclosed array", `[1`, "end of input"},
		{"unclosed object", `{"a":`, "end of input"},
		{"unclosed string", `"abc`, "end of input"},
		{"overflow", `1e400`, "number out of IEEE 754 double range at byte offset 0"},
		{"negative overflow", `[-1e400]`, "number out of IEEE 754 double range at byte offset 1"},
		{"overflow just above max", `1.7976931348623159e308`, "out of IEEE 754 double range"},
		{"too deep arrays", strings.Repeat("[", 201) + strings.Repeat("]", 201), "nesting deeper than 200 at byte offset 200"},
		{"too deep objects", strings.Repeat(`{"a":`, 201) + "1" + strings.Repeat("}", 201), "nesting deeper than 200 at byte offset 1000"},
		{"very deep", strings.Repeat("[", 1_000_000), "nesting deeper than 200"},
		{"very deep mixed", strings.Repeat(`[{"a":`, 200_000), "nesting deeper than 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := jcs.Canonicalize([]byte(tt.in))
			if err == nil {
				t.Fatalf("Canonicalize(%.40q) = %s, want error", tt.in, out)
			}
			if !errors.Is(err, jcs.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if out != nil {
				t.Errorf("output %q returned with an error", out)
			}
		})
	}
}

func TestSyntaxErrorWrapsDecoderError(t *testing.T) {
	_, err := jcs.Canonicalize([]byte(`[1,]`))
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v does not wrap *json.SyntaxError", err)
	}
}

func TestDepthLimit(t *testing.T) {
	tests := []struct {
		name  string
		depth int
		ok    bool
	}{
		{"1", 1, true},
		{"199", 199, true},
		{"200", 200, true},
		{"201", 201, false},
		{"5000", 5000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrays := strings.Repeat("[", tt.depth) + strings.Repeat("]", tt.depth)
			objects := strings.Repeat(`{"k":`, tt.depth) + "0" + strings.Repeat("}", tt.depth)
			for _, in := range []string{arrays, objects} {
				out, err := jcs.Canonicalize([]byte(in))
				if tt.ok {
					if err != nil {
						t.Fatalf("depth %d: %v", tt.depth, err)
					}
					if string(out) != in {
						t.Fatalf("depth %d: output differs from canonical input", tt.depth)
					}
				} else if !errors.Is(err, jcs.ErrInvalid) {
					t.Fatalf("depth %d: err = %v, want ErrInvalid", tt.depth, err)
				}
			}
		})
	}
}

var idempotenceDocs = []string{
	`null`,
	`{"b":[1,2.50,-0,1e21,1E-7],"a":{"d":"\u00e9\n","c":"\ud83d\ude00"}}`,
	`[{"\ue000":1,"\ud83d\ude00":2},{"":{"":[]}}]`,
	"{\n \"x\" : \"\\u001f\\/\\u2028\" ,\"\\t\":[true,false,null]}",
	`[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]`,
	`{"numbers":[1e-6,1e-7,1e20,1e21,123456789.123456789e10]}`,
}

func TestIdempotent(t *testing.T) {
	for i, doc := range idempotenceDocs {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			once := canon(t, doc)
			if twice := canon(t, once); twice != once {
				t.Errorf("not idempotent:\nonce  %s\ntwice %s", once, twice)
			}
			if !json.Valid([]byte(once)) {
				t.Errorf("output is not valid JSON: %s", once)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	type inner struct {
		Z string  `json:"z"`
		A float64 `json:"a"`
	}
	type outer struct {
		Name  string          `json:"name"`
		HTML  string          `json:"html"`
		Inner inner           `json:"inner"`
		Map   map[string]int  `json:"map"`
		Raw   json.RawMessage `json:"raw"`
		Skip  string          `json:"-"`
		Empty []int           `json:"empty,omitempty"`
	}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "null"},
		{"string with html and U+2028", "<a href=\"x\">&\u2028</a>", "\"<a href=\\\"x\\\">&\u2028</a>\""},
		{"float", 1e21, "1e+21"},
		{"negative zero", math.Copysign(0, -1), "0"},
		{"int", int64(1) << 53, "9007199254740992"},
		{"map sorted", map[string]any{"\ue000": 1, "\U0001F600": 2, "b": []any{}}, "{\"b\":[],\"\U0001F600\":2,\"\ue000\":1}"},
		{
			"struct",
			outer{
				Name:  "n",
				HTML:  "<&>",
				Inner: inner{Z: "z", A: 0.1},
				Map:   map[string]int{"y": 2, "x": 1},
				Raw:   json.RawMessage(`{ "q" : 1.0 , "p" : [ 2E1 ] }`),
				Skip:  "never",
			},
			`{"html":"<&>","inner":{"a":0.1,"z":"z"},"map":{"x":1,"y":2},"name":"n","raw":{"p":[20],"q":1}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jcs.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestMarshalInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"NaN", math.NaN(), "unsupported value"},
		{"Inf", []float64{math.Inf(1)}, "unsupported value"},
		{"channel", make(chan int), "unsupported type"},
		{"duplicate in raw message", json.RawMessage(`{"a":1,"a":2}`), "duplicate object member name"},
		{"lone surrogate in raw message", json.RawMessage(`"\udead"`), "unpaired UTF-16 surrogate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := jcs.Marshal(tt.in)
			if err == nil {
				t.Fatalf("Marshal = %s, want error", out)
			}
			if !errors.Is(err, jcs.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestMarshalWrapsJSONError(t *testing.T) {
	_, err := jcs.Marshal(math.NaN())
	var uv *json.UnsupportedValueError
	if !errors.As(err, &uv) {
		t.Fatalf("error %v does not wrap *json.UnsupportedValueError", err)
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	doc := []byte(`{"org":"acme","leaf":12345,"time":"2026-01-02T03:04:05Z","type":"approval.granted",` +
		`"actor":{"id":"u_1","roles":["approver","auditor"]},"subject":"req_9",` +
		`"data":{"amount":1234.5,"currency":"EUR","note":"caf\u00e9 \ud83d\ude00","ok":true}}`)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := jcs.Canonicalize(doc); err != nil {
			b.Fatal(err)
		}
	}
}
