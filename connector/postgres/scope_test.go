package postgres

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"", ""},
		{"app_", "app`"},
		{"a%", "a&"},
		{"a\x7f", "a\u0080"},
		{"a\u07ff", "a\u0800"},
		{"a\ud7ff", "a\ue000"}, // past the surrogates
		{"a\uffff", "a\U00010000"},
		{"a\U0010ffff", "b"},
		{"\U0010ffff\U0010ffff", ""},
	} {
		if got := prefixEnd(tc.prefix); got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

// TestScopeRange checks, for every string of up to three characters
// from an alphabet of characters at the bounds of UTF-8's encoded
// lengths, that the range of each prefix of up to two characters holds
// exactly the strings that start with it.
func TestScopeRange(t *testing.T) {
	alphabet := []rune{0x1, '%', '_', '`', 'a', 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, utf8.MaxRune}
	strs, level := []string{""}, []string{""}
	for range 3 {
		var next []string
		for _, s := range level {
			for _, r := range alphabet {
				next = append(next, s+string(r))
			}
		}
		strs = append(strs, next...)
		level = next
	}
	for _, p := range strs {
		if utf8.RuneCountInString(p) > 2 {
			continue
		}
		s := newScope(p)
		for _, name := range strs {
			inRange := name >= s.prefix && (s.end == "" || name < s.end)
			if want := strings.HasPrefix(name, p); inRange != want || s.has(name) != want {
				t.Fatalf("prefix %q (end %q), name %q: in range %v, has %v, want %v", p, s.end, name, inRange, s.has(name), want)
			}
		}
	}
}

func TestScopeSQL(t *testing.T) {
	if w, a := newScope("").where("rolname", 3), newScope("").args(); w != "" || a != nil {
		t.Errorf("every role: where %q, args %v", w, a)
	}
	s := newScope("app_")
	if w := s.where("m.rolname", 5); w != ` AND m.rolname >= $5::text COLLATE "C" AND m.rolname < $6::text COLLATE "C"` {
		t.Errorf("where = %q", w)
	}
	if a := s.args(); len(a) != 2 || a[0] != "app_" || a[1] != "app`" {
		t.Errorf("args = %q", a)
	}
	s = newScope("\U0010ffff")
	if w, a := s.where("rolname", 3), s.args(); w != ` AND rolname >= $3::text COLLATE "C"` || len(a) != 1 {
		t.Errorf("prefix without an end: where %q, args %q", w, a)
	}
}
