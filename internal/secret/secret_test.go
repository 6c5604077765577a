package secret_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/internal/secret"
)

// raw is the secret every test hides. It is distinctive enough that a
// substring search finds any leak, in any of the encodings below.
const raw = "hunter2-Zq9xW"

const redacted = "[REDACTED]"

// assertHidden fails if out shows raw in any spelling fmt could give it.
func assertHidden(t *testing.T, what, out string) {
	t.Helper()
	for _, form := range []string{
		raw,
		hex.EncodeToString([]byte(raw)),
		strings.ToUpper(hex.EncodeToString([]byte(raw))),
		"hunter2",
		"Zq9xW",
		fmt.Sprint([]byte(raw)), // [104 117 ...]
	} {
		if strings.Contains(out, form) {
			t.Errorf("%s leaks the secret as %q: %s", what, form, out)
		}
	}
}

func TestRevealAndIsZero(t *testing.T) {
	tests := []struct {
		name     string
		s        secret.String
		want     string
		wantZero bool
	}{
		{"zero value", secret.String{}, "", true},
		{"empty", secret.New(""), "", true},
		{"value", secret.New(raw), raw, false},
		{"space", secret.New(" "), " ", false},
		{"non-ascii", secret.New("pässwörd😀"), "pässwörd😀", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Reveal(); got != tt.want {
				t.Errorf("Reveal() = %q, want %q", got, tt.want)
			}
			if got := tt.s.IsZero(); got != tt.wantZero {
				t.Errorf("IsZero() = %v, want %v", got, tt.wantZero)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b secret.String
		want bool
	}{
		{"same value", secret.New(raw), secret.New(raw), true},
		{"same short value", secret.New("x"), secret.New("x"), true},
		{"zero and zero", secret.String{}, secret.String{}, true},
		{"zero and empty", secret.String{}, secret.New(""), true},
		{"different, same length", secret.New("abc"), secret.New("abd"), false},
		{"prefix", secret.New("abc"), secret.New("abcd"), false},
		{"empty and value", secret.New(""), secret.New("a"), false},
		{"case differs", secret.New("Secret"), secret.New("secret"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := secret.Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(a, b) = %v, want %v", got, tt.want)
			}
			if got := secret.Equal(tt.b, tt.a); got != tt.want {
				t.Errorf("Equal(b, a) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	s := secret.New(raw)
	if got := s.String(); got != redacted {
		t.Errorf("String() = %q", got)
	}
	if got := s.GoString(); got != redacted {
		t.Errorf("GoString() = %q", got)
	}
	if got, err := s.MarshalJSON(); err != nil || string(got) != `"[REDACTED]"` {
		t.Errorf("MarshalJSON() = %s, %v", got, err)
	}
	if got, err := s.MarshalText(); err != nil || string(got) != redacted {
		t.Errorf("MarshalText() = %s, %v", got, err)
	}
	if got := s.LogValue(); got.Kind() != slog.KindString || got.String() != redacted {
		t.Errorf("LogValue() = %v (%v)", got, got.Kind())
	}
}

// verbs lists every fmt directive the tests try.
var verbs = []string{
	"%v", "%+v", "%#v", "%s", "%q", "%#q", "%+q", "%x", "%X", "% x", "%#x",
	"%d", "%c", "%U", "%t", "%p", "%e", "%g", "%b", "%o", "%O",
	"%10s", "%-20v", "%.3s", "%.100q", "%08x", "%[1]v", "%!", "%z",
}

func TestFormatVerbs(t *testing.T) {
	s := secret.New(raw)
	for _, verb := range verbs {
		t.Run(verb, func(t *testing.T) {
			got := fmt.Sprintf(verb, s)
			assertHidden(t, verb, got)
			// %p of a non-pointer is a bad verb, which fmt prints by
			// reflection without calling Format; it must still hide.
			if verb != "%!" && verb != "%p" && got != redacted {
				t.Errorf("Sprintf(%q) = %q, want %q", verb, got, redacted)
			}
			gotPtr := fmt.Sprintf(verb, &s)
			assertHidden(t, verb+" of a pointer", gotPtr)
			if verb != "%!" && verb != "%p" && gotPtr != redacted {
				t.Errorf("Sprintf(%q, &s) = %q, want %q", verb, gotPtr, redacted)
			}
		})
	}
}

func TestPrintFunctions(t *testing.T) {
	s := secret.New(raw)
	tests := []struct {
		name, got, want string
	}{
		{"Sprint", fmt.Sprint(s), redacted},
		{"Sprintln", fmt.Sprintln(s, s), redacted + " " + redacted + "\n"},
		{"Sprint pointer", fmt.Sprint(&s), redacted},
		{"Sprint slice", fmt.Sprint([]secret.String{s, s}), "[" + redacted + " " + redacted + "]"},
		{"Sprint map", fmt.Sprint(map[string]secret.String{"k": s}), "map[k:" + redacted + "]"},
		{"Sprint any", fmt.Sprint([]any{s}), "[" + redacted + "]"},
		{"strconv.Quote of String()", strconv.Quote(s.String()), `"[REDACTED]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertHidden(t, tt.name, tt.got)
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// config holds the secret in the places a caller's struct might: exported
// fields (fmt calls the methods) and unexported ones (fmt uses reflection
// and cannot).
type config struct {
	User     string
	Password secret.String
	Token    *secret.String
	Keys     []secret.String
	ByName   map[string]secret.String
	Nested   struct{ Inner secret.String }
	apiKey   secret.String
	keys     []secret.String
	byName   map[string]secret.String
	ptr      *secret.String
}

func newConfig() config {
	s := secret.New(raw)
	c := config{
		User:     "alice",
		Password: s,
		Token:    &s,
		Keys:     []secret.String{s},
		ByName:   map[string]secret.String{"a": s},
		apiKey:   s,
		keys:     []secret.String{s},
		byName:   map[string]secret.String{"a": s},
		ptr:      &s,
	}
	c.Nested.Inner = s
	return c
}

func TestFormatStruct(t *testing.T) {
	c := newConfig()
	for _, verb := range verbs {
		t.Run(verb, func(t *testing.T) {
			assertHidden(t, verb+" of a struct", fmt.Sprintf(verb, c))
			assertHidden(t, verb+" of a struct pointer", fmt.Sprintf(verb, &c))
		})
	}
	// Exported fields go through Format.
	if got := fmt.Sprintf("%+v", c); !strings.Contains(got, "Password:"+redacted) {
		t.Errorf("%%+v = %s, want Password:%s", got, redacted)
	}
}

func TestJSON(t *testing.T) {
	c := newConfig()
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"User":"alice","Password":"[REDACTED]","Token":"[REDACTED]","Keys":["[REDACTED]"],` +
		`"ByName":{"a":"[REDACTED]"},"Nested":{"Inner":"[REDACTED]"}}`
	if string(got) != want {
		t.Errorf("json.Marshal = %s\nwant %s", got, want)
	}
	assertHidden(t, "json.Marshal", string(got))

	indented, err := json.MarshalIndent(map[string]any{"s": secret.New(raw)}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	assertHidden(t, "json.MarshalIndent", string(indented))

	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(secret.New(raw)); err != nil {
		t.Fatal(err)
	}
	if buf.String() != `"[REDACTED]"`+"\n" {
		t.Errorf("Encoder.Encode = %q", buf.String())
	}
}

func TestXML(t *testing.T) {
	type doc struct {
		Attr secret.String `xml:"attr,attr"`
		Elem secret.String `xml:"elem"`
	}
	got, err := xml.Marshal(doc{Attr: secret.New(raw), Elem: secret.New(raw)})
	if err != nil {
		t.Fatal(err)
	}
	assertHidden(t, "xml.Marshal", string(got))
	want := `<doc attr="[REDACTED]"><elem>[REDACTED]</elem></doc>`
	if string(got) != want {
		t.Errorf("xml.Marshal = %s, want %s", got, want)
	}
}

func TestSlog(t *testing.T) {
	handlers := []struct {
		name string
		new  func(io.Writer) slog.Handler
	}{
		{"json", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
		{"text", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
	}
	s := secret.New(raw)
	logs := []struct {
		name string
		log  func(*slog.Logger)
		want string // must appear in the output
	}{
		{"direct attr", func(l *slog.Logger) { l.Info("login", "password", s) }, redacted},
		{"slog.Any", func(l *slog.Logger) { l.Info("login", slog.Any("password", s)) }, redacted},
		{"pointer attr", func(l *slog.Logger) { l.Info("login", "password", &s) }, redacted},
		{"LogAttrs", func(l *slog.Logger) {
			l.LogAttrs(t.Context(), slog.LevelWarn, "login", slog.Any("password", s))
		}, redacted},
		{"With", func(l *slog.Logger) { l.With("password", s).Info("login") }, redacted},
		{"group", func(l *slog.Logger) { l.Info("login", slog.Group("creds", "password", s)) }, redacted},
		{"WithGroup", func(l *slog.Logger) { l.WithGroup("g").Info("login", "password", s) }, redacted},
		{"struct field", func(l *slog.Logger) { l.Info("config", "config", newConfig()) }, redacted},
		{"struct pointer", func(l *slog.Logger) { c := newConfig(); l.Info("config", "config", &c) }, redacted},
		{"slice", func(l *slog.Logger) { l.Info("keys", "keys", []secret.String{s}) }, redacted},
		{"message", func(l *slog.Logger) { l.Info(fmt.Sprintf("password is %v", s)) }, redacted},
		{"error attr", func(l *slog.Logger) {
			l.Error("failed", "err", fmt.Errorf("open %+v: %w", newConfig(), io.EOF))
		}, redacted},
	}
	for _, h := range handlers {
		for _, lg := range logs {
			t.Run(h.name+"/"+lg.name, func(t *testing.T) {
				var buf bytes.Buffer
				lg.log(slog.New(h.new(&buf)))
				out := buf.String()
				assertHidden(t, "log output", out)
				if !strings.Contains(out, lg.want) {
					t.Errorf("log output does not contain %q: %s", lg.want, out)
				}
			})
		}
	}
}

func TestErrors(t *testing.T) {
	c := newConfig()
	s := secret.New(raw)
	base := fmt.Errorf("connect with %v: %w", c, io.ErrUnexpectedEOF)
	tests := []struct {
		name string
		err  error
	}{
		{"struct %v", base},
		{"struct %+v", fmt.Errorf("connect with %+v: %w", c, io.EOF)},
		{"struct %#v", fmt.Errorf("connect with %#v: %w", c, io.EOF)},
		{"pointer %v", fmt.Errorf("connect with %v: %w", &c, io.EOF)},
		{"wrapped twice", fmt.Errorf("outer: %w", fmt.Errorf("middle: %w", base))},
		{"joined", errors.Join(base, fmt.Errorf("secret %s %q %x", s, s, s))},
		{"direct", fmt.Errorf("bad password %v", s)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, form := range []string{
				tt.err.Error(),
				fmt.Sprintf("%v", tt.err),
				fmt.Sprintf("%+v", tt.err),
				fmt.Sprintf("%#v", tt.err),
				fmt.Sprintf("%q", tt.err),
				fmt.Sprintf("%x", tt.err),
			} {
				assertHidden(t, "error", form)
			}
			if !strings.Contains(tt.err.Error(), redacted) {
				t.Errorf("error does not show %s: %v", redacted, tt.err)
			}
		})
	}
	if !errors.Is(base, io.ErrUnexpectedEOF) {
		t.Error("wrapping lost the cause")
	}
}

func ExampleString() {
	password := secret.New("hunter2")
	fmt.Printf("%v %s %q %x\n", password, password, password, password)
	b, _ := json.Marshal(struct{ Password secret.String }{password})
	fmt.Println(string(b))
	fmt.Println(password.Reveal())
	// Output:
	// [REDACTED] [REDACTED] [REDACTED] [REDACTED]
	// {"Password":"[REDACTED]"}
	// hunter2
}
