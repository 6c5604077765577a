package postgres

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// scope is the set of roles a connector sees: those whose names start
// with prefix, or every role when prefix is empty.
//
// In SQL a scope is a range of names, prefix <= name < end in byte order
// (the "C" collation), which holds exactly the names that start with the
// prefix. Unlike starts_with, whose selectivity the planner does not know
// (it assumes a fraction of a percent, and then prefers reading and
// sorting every role of the scope to an index scan that stops after a
// page), a range is an index condition on the role name whose
// selectivity the planner reads from the catalog's statistics: a page
// reads the role-name index from its position on, a page's worth of
// rows, as it does without a scope. Names are checked again in Go
// (has), so a name outside the scope is never listed or changed, whatever
// the server's encoding.
type scope struct {
	prefix string
	// end is the least valid UTF-8 string above every string that starts
	// with prefix; "" when there is none (every character of prefix is
	// U+10FFFF), and then every name >= prefix starts with it.
	end string
}

func newScope(prefix string) scope {
	return scope{prefix: prefix, end: prefixEnd(prefix)}
}

// prefixEnd returns the least valid UTF-8 string greater, in byte order,
// than every valid UTF-8 string that starts with p: p cut after its last
// character below U+10FFFF, that character replaced by the next one (the
// byte order of UTF-8 is the order of code points). It returns "" when
// there is none: p is empty or only U+10FFFF.
func prefixEnd(p string) string {
	r := []rune(p)
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] < utf8.MaxRune {
			r[i]++
			if r[i] == 0xD800 { // surrogates are not characters
				r[i] = 0xE000
			}
			return string(r[:i+1])
		}
	}
	return ""
}

// all reports whether the scope is every role.
func (s scope) all() bool { return s.prefix == "" }

// has reports whether the role named name is in the scope.
func (s scope) has(name string) bool { return strings.HasPrefix(name, s.prefix) }

// where returns the SQL condition that the role name col is in the
// scope, beginning with " AND ", its parameters ($n, and $n+1 with an
// end) those of args; "" for every role.
func (s scope) where(col string, n int) string {
	if s.all() {
		return ""
	}
	c := " AND " + col + " >= $" + strconv.Itoa(n) + `::text COLLATE "C"`
	if s.end != "" {
		c += " AND " + col + " < $" + strconv.Itoa(n+1) + `::text COLLATE "C"`
	}
	return c
}

// args returns the parameters of where's condition.
func (s scope) args() []any {
	switch {
	case s.all():
		return nil
	case s.end == "":
		return []any{s.prefix}
	}
	return []any{s.prefix, s.end}
}
