package eventcatalog_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/internal/eventcatalog"
)

// scanned are the trees, from the module root, whose code appends events.
var scanned = []string{"governance", "agentgw"}

const importPath = "github.com/nuxari/nuxari/internal/eventcatalog"

// use is one place the code names an event type.
type use struct {
	pos     string
	typ     string // the literal's value, or the constant's type
	appends bool   // builds an event, rather than reading one
}

// scan is what the scanner found in some Go source.
type scan struct {
	uses []use
	// calls counts the calls of an event constructor (newEvent, NewEvent,
	// in any package), whatever their arguments.
	calls int
	// typeArg is, by constructor name in lower case, the position of the
	// parameter named for the type in the constructor's declaration.
	typeArg map[string]int
}

// declare finds the event constructors declared in files and the position
// of their type parameter.
func (sc *scan) declare(files []*ast.File) {
	if sc.typeArg == nil {
		sc.typeArg = map[string]int{}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !strings.EqualFold(fd.Name.Name, "newEvent") {
				continue
			}
			i := 0
			for _, field := range fd.Type.Params.List {
				for _, name := range field.Names {
					if typeNamed(name) {
						sc.typeArg[strings.ToLower(fd.Name.Name)] = i
					}
					i++
				}
			}
		}
	}
}

// typeNamed reports whether an identifier names an event type: "typ",
// "type", "eventType", the field "Type" and so on.
func typeNamed(e ast.Expr) bool {
	var name string
	switch e := e.(type) {
	case *ast.Ident:
		name = e.Name
	case *ast.SelectorExpr:
		name = e.Sel.Name
	default:
		return false
	}
	n := strings.ToLower(name)
	return n == "typ" || strings.HasSuffix(n, "type")
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// scanFile records the event types one file names. The argument of an
// event constructor in the position of its type parameter, when a string
// literal, is a type whatever its shape, so that a misspelt one is
// caught; for a constructor whose declaration was not seen, any argument
// shaped like a type (lower-case, dotted) is one. Elsewhere, a literal
// shaped like a type is one when it is assigned to, keyed as, compared
// with or switched on something named for a type. A reference to a
// constant of this package is a use of its type.
func (sc *scan) scanFile(fset *token.FileSet, f *ast.File, constants map[string]string) {
	local := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == importPath {
			local = "eventcatalog"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	add := func(e ast.Expr, appends, strict bool) {
		s, ok := stringLit(e)
		if !ok || !strict && !typeName.MatchString(s) {
			return
		}
		sc.uses = append(sc.uses, use{pos: fset.Position(e.Pos()).String(), typ: s, appends: appends})
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			var name string
			switch fn := n.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			if strings.EqualFold(name, "newEvent") {
				sc.calls++
				if i, ok := sc.typeArg[strings.ToLower(name)]; ok {
					if i < len(n.Args) {
						add(n.Args[i], true, true)
					}
				} else {
					for _, a := range n.Args {
						add(a, true, false)
					}
				}
			}
		case *ast.AssignStmt:
			if len(n.Lhs) == len(n.Rhs) {
				for i := range n.Lhs {
					if typeNamed(n.Lhs[i]) {
						add(n.Rhs[i], true, false)
					}
				}
			}
		case *ast.ValueSpec:
			if len(n.Names) == len(n.Values) {
				for i := range n.Names {
					if typeNamed(n.Names[i]) {
						add(n.Values[i], true, false)
					}
				}
			}
		case *ast.KeyValueExpr:
			if typeNamed(n.Key) {
				add(n.Value, true, false)
			}
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				if typeNamed(n.X) {
					add(n.Y, false, false)
				}
				if typeNamed(n.Y) {
					add(n.X, false, false)
				}
			}
		case *ast.SwitchStmt:
			if n.Tag != nil && typeNamed(n.Tag) {
				for _, c := range n.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						add(e, false, false)
					}
				}
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && local != "" && x.Name == local {
				if typ, ok := constants[n.Sel.Name]; ok {
					sc.uses = append(sc.uses, use{pos: fset.Position(n.Pos()).String(), typ: typ, appends: true})
				}
			}
		}
		return true
	})
}

// constantNames maps each type constant's name to its type.
func constantNames() map[string]string {
	m := map[string]string{}
	for _, e := range eventcatalog.Entries() {
		m[goName(e.Type)] = e.Type
	}
	return m
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package")
		}
		dir = parent
	}
}

// parseTree parses every non-test Go file under dir, whatever its depth,
// so that code moving into sub-packages stays covered.
func parseTree(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	var files []*ast.File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != dir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestCatalogComplete requires every event type the code names to be
// catalogued, so that a new type without an entry fails the build, and
// every catalogued type to be appended somewhere, so that an entry does
// not outlive its event.
func TestCatalogComplete(t *testing.T) {
	root := moduleRoot(t)
	constants := constantNames()
	fset := token.NewFileSet()
	var files []*ast.File
	for _, dir := range scanned {
		parsed := parseTree(t, fset, filepath.Join(root, dir))
		if len(parsed) == 0 {
			t.Fatalf("found no Go source under %s/", dir)
		}
		files = append(files, parsed...)
	}
	var sc scan
	sc.declare(files)
	if len(sc.typeArg) == 0 {
		t.Fatal("found no declaration of an event constructor (newEvent) with a parameter named for the type")
	}
	for _, f := range files {
		sc.scanFile(fset, f, constants)
	}
	if sc.calls == 0 {
		t.Fatal("found no call of an event constructor (newEvent): the scan no longer sees how events are built; teach it the new way")
	}
	appended := map[string]bool{}
	for _, u := range sc.uses {
		if _, ok := eventcatalog.Lookup(u.typ); !ok {
			t.Errorf("%s: event type %q is not in the catalog: add an entry to internal/eventcatalog/catalog.go and run 'make generate'", strings.TrimPrefix(u.pos, root+string(filepath.Separator)), u.typ)
		}
		if u.appends {
			appended[u.typ] = true
		}
	}
	for _, e := range eventcatalog.Entries() {
		if !appended[e.Type] {
			t.Errorf("%s is catalogued but nothing under %v appends it", e.Type, scanned)
		}
	}
}

// TestScanner checks that the scanner sees each way of naming a type, and
// nothing else.
func TestScanner(t *testing.T) {
	const src = `package x

import cat "github.com/nuxari/nuxari/internal/eventcatalog"

func newEvent(ctx context.Context, typ, actor, subject string, data any) event {
	return event{Type: typ}
}

func f(ctx context.Context, x event) {
	_ = newEvent(ctx, "a.by_call", "system", "", nil)
	_ = newEvent(ctx, "Not.Shaped ", "anonymous", "org.not_a_type", nil)
	_ = core.NewEvent(ctx, "b.by_selector_call", actor, "", nil)
	_ = newEvent(ctx, cat.MemberAdded, actor, "", nil)
	typ, data := "c.by_assign", map[string]any{}
	typ, data["k"] = "d.by_reassign", 1
	var eventType = "e.by_var"
	_ = event{Type: "f.by_key", Actor: "g.not_a_type"}
	_ = x.Type == "h.by_compare"
	_ = "i.by_compare_left" != typ
	switch x.Type {
	case "j.by_switch", "k.by_switch":
	}
	other := "l.not_a_type"
	_ = other == "m.not_a_type"
	_ = mapping["n.not_a_type"]
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var sc scan
	sc.declare([]*ast.File{f})
	sc.scanFile(fset, f, constantNames())
	var got []string
	for _, u := range sc.uses {
		if u.appends {
			got = append(got, u.typ)
		} else {
			got = append(got, u.typ+" (read)")
		}
	}
	slices.Sort(got)
	want := []string{
		"Not.Shaped ", "a.by_call", "b.by_selector_call", "c.by_assign", "d.by_reassign", "e.by_var", "f.by_key",
		"h.by_compare (read)", "i.by_compare_left (read)", "j.by_switch (read)", "k.by_switch (read)", eventcatalog.MemberAdded,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the scanner found\n%q\nwant\n%q", got, want)
	}
	if sc.calls != 4 {
		t.Errorf("the scanner counted %d constructor calls, want 4", sc.calls)
	}
}
