package eventcatalog_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/internal/eventcatalog"
)

var (
	typeName  = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	kinds     = []eventcatalog.Kind{eventcatalog.String, eventcatalog.Integer, eventcatalog.Boolean, eventcatalog.Time, eventcatalog.Object, eventcatalog.Strings, eventcatalog.Integers, eventcatalog.Objects}
	actors    = []eventcatalog.Actor{eventcatalog.ActorMember, eventcatalog.ActorToken, eventcatalog.ActorAgent, eventcatalog.ActorAnonymous, eventcatalog.ActorSystem}
)

// emptyStrings returns the names of the empty string fields of a struct, so
// that a field added to Entry or Field is covered without editing this
// test.
func emptyStrings(v any, except ...string) []string {
	var out []string
	rv := reflect.ValueOf(v)
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Type().Field(i)
		if f.Type.Kind() == reflect.String && rv.Field(i).String() == "" && !slices.Contains(except, f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

func TestEntries(t *testing.T) {
	entries := eventcatalog.Entries()
	if len(entries) == 0 {
		t.Fatal("the catalog is empty")
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if seen[e.Type] {
			t.Errorf("%s is catalogued twice", e.Type)
		}
		seen[e.Type] = true
		if i > 0 && entries[i-1].Type >= e.Type {
			t.Errorf("Entries is not sorted at %s", e.Type)
		}
		if !typeName.MatchString(e.Type) {
			t.Errorf("%q is not lower-case and dotted", e.Type)
		}
		if strings.HasPrefix(e.Type, eventcatalog.CustomPrefix) {
			t.Errorf("%s is in the custom namespace, which integrations own", e.Type)
		}
		if empty := emptyStrings(e, "Subject"); len(empty) > 0 {
			t.Errorf("%s: empty %v", e.Type, empty)
		}
		checkText(t, e.Type, e.Meaning+e.Subject)
		if !strings.HasSuffix(e.Meaning, ".") || strings.Count(e.Meaning, ". ") > 0 {
			t.Errorf("%s: the meaning is not one sentence: %q", e.Type, e.Meaning)
		}
		if len(e.Actors) == 0 {
			t.Errorf("%s names no actor", e.Type)
		}
		for _, a := range e.Actors {
			if !slices.Contains(actors, a) {
				t.Errorf("%s: unknown actor kind %q", e.Type, a)
			}
		}
		fields := map[string]eventcatalog.Field{}
		for _, f := range e.Fields {
			where := e.Type + " " + f.Name
			if _, ok := fields[f.Name]; ok {
				t.Errorf("%s is documented twice", where)
			}
			if !fieldName.MatchString(f.Name) {
				t.Errorf("%s: not a lower-case member path", where)
			}
			if !slices.Contains(kinds, f.Kind) {
				t.Errorf("%s: unknown kind %q", where, f.Kind)
			}
			if empty := emptyStrings(f); len(empty) > 0 {
				t.Errorf("%s: empty %v", where, empty)
			}
			if !strings.HasSuffix(f.Meaning, ".") {
				t.Errorf("%s: the meaning does not end a sentence", where)
			}
			checkText(t, where, f.Meaning)
			if i := strings.LastIndexByte(f.Name, '.'); i >= 0 {
				if p, ok := fields[f.Name[:i]]; !ok || p.Kind != eventcatalog.Object {
					t.Errorf("%s: its object %s is not documented before it", where, f.Name[:i])
				}
			}
			fields[f.Name] = f
		}
	}
}

// checkText refuses text that would break a row of the Markdown tables.
func checkText(t *testing.T, where, s string) {
	t.Helper()
	if strings.ContainsAny(s, "|\n") {
		t.Errorf("%s: text holds '|' or a newline: %q", where, s)
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	e, ok := eventcatalog.Lookup(eventcatalog.MemberAdded)
	if !ok || e.Type != eventcatalog.MemberAdded {
		t.Fatalf("Lookup(%q) = %+v, %v", eventcatalog.MemberAdded, e, ok)
	}
	e.Fields[0].Name, e.Actors[0] = "changed", "changed"
	again, _ := eventcatalog.Lookup(eventcatalog.MemberAdded)
	if again.Fields[0].Name == "changed" || again.Actors[0] == "changed" {
		t.Error("changing what Lookup returned changed the catalog")
	}
	for i, e := range eventcatalog.Entries() {
		if len(e.Fields) == 0 {
			continue
		}
		e.Fields[0].Name = "changed"
		if eventcatalog.Entries()[i].Fields[0].Name == "changed" {
			t.Error("changing what Entries returned changed the catalog")
		}
		break
	}
	if _, ok := eventcatalog.Lookup("custom.x"); ok {
		t.Error("Lookup found a custom type")
	}
}

// TestConstants checks that the package's event type constants and the
// catalog name the same types, and that each constant is named for its
// type. Constants cannot be listed by reflection, so the package's source
// is read.
func TestConstants(t *testing.T) {
	consts := map[string]string{} // value → name
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Type != nil {
					continue // a Kind or an Actor
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING || !name.IsExported() {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					if !typeName.MatchString(v) {
						continue // CustomPrefix, Anonymous, System
					}
					if prev, ok := consts[v]; ok {
						t.Errorf("%s and %s are both %q", prev, name.Name, v)
					}
					consts[v] = name.Name
					if want := goName(v); name.Name != want {
						t.Errorf("the constant of %q is %s, want %s", v, name.Name, want)
					}
				}
			}
		}
	}
	if len(consts) == 0 {
		t.Fatal("found no event type constants in the package's source")
	}
	for _, e := range eventcatalog.Entries() {
		if _, ok := consts[e.Type]; !ok {
			t.Errorf("%s is catalogued but has no constant", e.Type)
		}
		delete(consts, e.Type)
	}
	for v, name := range consts {
		t.Errorf("%s = %q has no catalog entry", name, v)
	}
}

// goName is the Go name of an event type: each part of it, split at '.'
// and '_', capitalized, with Go's initialisms in capitals.
func goName(typ string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(typ, func(r rune) bool { return r == '.' || r == '_' }) {
		switch part {
		case "api", "id", "url", "json", "http":
			b.WriteString(strings.ToUpper(part))
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func TestKnown(t *testing.T) {
	for _, e := range eventcatalog.Entries() {
		if !eventcatalog.Known(e.Type) {
			t.Errorf("Known(%q) = false for a catalogued type", e.Type)
		}
	}
	for _, tc := range []struct {
		typ  string
		want bool
	}{
		{eventcatalog.OrgCreated, true},
		{"custom.deploy", true},
		{"custom.Deploy.Finished_ok-1", true},
		{"custom." + strings.Repeat("a", eventcatalog.MaxCustomNameLen), true},
		{"custom." + strings.Repeat("a", eventcatalog.MaxCustomNameLen+1), false},
		{"custom.", false},
		{"custom", false},
		{"Custom.deploy", false},
		{"custom.de ploy", false},
		{"custom.deploy/x", false},
		{"custom.déploy", false},
		{"member.added ", false},
		{" member.added", false},
		{"Member.Added", false},
		{"MEMBER.ADDED", false},
		{"member", false},
		{"member.", false},
		{"nonexistent.type", false},
		{"", false},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if got := eventcatalog.Known(tc.typ); got != tc.want {
				t.Errorf("Known(%q) = %v, want %v", tc.typ, got, tc.want)
			}
			custom := strings.HasPrefix(tc.typ, eventcatalog.CustomPrefix) && tc.want
			if got := eventcatalog.IsCustom(tc.typ); got != custom {
				t.Errorf("IsCustom(%q) = %v, want %v", tc.typ, got, custom)
			}
		})
	}
}

func TestActorForms(t *testing.T) {
	forms := map[string]eventcatalog.Actor{}
	for _, a := range actors {
		f := a.Form()
		if prev, ok := forms[f]; ok || f == "" {
			t.Errorf("actors %q and %q have the same form %q", prev, a, f)
		}
		forms[f] = a
	}
	for a, want := range map[eventcatalog.Actor]string{
		eventcatalog.ActorSystem:    "`" + eventcatalog.System + "`",
		eventcatalog.ActorAnonymous: "`" + eventcatalog.Anonymous + "`",
		eventcatalog.ActorToken:     "an API token (`token:<ID>`)",
		eventcatalog.ActorAgent:     "an agent (`agent:<ID>`)",
	} {
		if got := a.Form(); got != want {
			t.Errorf("%q.Form() = %q, want %q", a, got, want)
		}
	}
}

// TestStandardLibraryOnly keeps the package importable by the domain and
// the CLI alike: it imports nothing but the standard library.
func TestStandardLibraryOnly(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s, outside the standard library", path, p)
			}
		}
	}
}
