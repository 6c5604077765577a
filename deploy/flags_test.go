package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// serverFlags reads cmd/nuxarid/serve.go, where the serve command's
// flags are registered, and returns them mapped to their environment
// variables as nuxarid derives them: --data-dir is NUXARI_DATA_DIR.
func serverFlags(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../cmd/nuxarid/serve.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		ast.Inspect(fd, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "fs" {
				return true
			}
			// fs.String("name", …) or fs.StringVar(&v, "name", …).
			i := 0
			if strings.HasSuffix(sel.Sel.Name, "Var") {
				i = 1
			}
			if len(call.Args) <= i {
				return true
			}
			lit, ok := call.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			name, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			flags[name] = "NUXARI_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			return true
		})
	}
	// The parse found the flags it must: if these are missing, serve.go
	// changed shape and the test must follow it.
	for _, want := range []string{"data-dir", "addr", "s3-secret-key", "evidence-signing-key"} {
		if _, ok := flags[want]; !ok {
			t.Fatalf("found no --%s flag in cmd/nuxarid/serve.go (found %v)", want, flags)
		}
	}
	return flags
}

// serverEnv returns the set of environment variables nuxarid reads.
func serverEnv(t *testing.T) map[string]bool {
	env := map[string]bool{}
	for _, e := range serverFlags(t) {
		env[e] = true
	}
	return env
}

// checkServerEnv reports every NUXARI_ variable in names that nuxarid
// does not read.
func checkServerEnv(t *testing.T, where string, names []string) {
	t.Helper()
	env := serverEnv(t)
	for _, n := range names {
		if strings.HasPrefix(n, "NUXARI_") && !env[n] {
			t.Errorf("%s sets %s, which nuxarid does not read", where, n)
		}
	}
}

// checkServerArgs reports every --flag in args that nuxarid lacks.
func checkServerArgs(t *testing.T, where string, args []string) {
	t.Helper()
	flags := serverFlags(t)
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, ok := flags[name]; !ok {
			t.Errorf("%s passes %s, which nuxarid lacks", where, a)
		}
	}
}

// TestServerFlags checks the parse against flags nuxarid has for sure
// and one it has not.
func TestServerFlags(t *testing.T) {
	f := serverFlags(t)
	if f["s3-secret-key"] != "NUXARI_S3_SECRET_KEY" || f["max-conns-per-source"] != "NUXARI_MAX_CONNS_PER_SOURCE" {
		t.Errorf("environment names: %v", f)
	}
	if _, ok := f["owner-email"]; ok {
		t.Error("a bootstrap flag counted as the server's")
	}
}
