package governance_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/nuxari/nuxari/"

// features are the domain's feature packages and the other features
// each may import: the whole graph, so a new edge is a decision made
// here. The core and the shared packages import no feature, no feature
// imports the wiring package, and no import runs back up this list.
var features = map[string][]string{
	"governance/orgs":       nil,
	"governance/logapi":     nil,
	"governance/sessions":   {"governance/orgs"},
	"governance/agents":     {"governance/orgs", "governance/sessions"},
	"governance/evidence":   {"governance/agents"},
	"governance/connectors": nil,
	"governance/access":     {"governance/connectors", "governance/orgs"},
}

// shared are the domain packages below the features.
var shared = []string{
	"governance/core", "governance/errs", "governance/store", "governance/jobs", "governance/throttle",
	"governance/rbac", "governance/token", "governance/password", "governance/ratelimit", "governance/jcs",
	"governance/sealing",
}

// TestFeatureLayering checks the imports of the domain's packages (test
// files aside) against the graph above.
func TestFeatureLayering(t *testing.T) {
	for pkg, allowed := range features {
		for _, imp := range imports(t, pkg) {
			if imp == "governance" || imp == "governance/api" {
				t.Errorf("%s imports the layer above it, %s", pkg, imp)
			}
			if _, isFeature := features[imp]; isFeature && !slices.Contains(allowed, imp) {
				t.Errorf("%s imports feature %s, which the graph does not allow", pkg, imp)
			}
		}
	}
	for _, pkg := range shared {
		for _, imp := range imports(t, pkg) {
			if _, isFeature := features[imp]; isFeature || imp == "governance" || imp == "governance/api" {
				t.Errorf("shared package %s imports %s", pkg, imp)
			}
		}
	}
	// Every package of the domain is placed in the graph.
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pkg := "governance/" + e.Name()
		if !e.IsDir() || e.Name() == "api" || e.Name() == "internal" {
			continue
		}
		if _, ok := features[pkg]; !ok && !slices.Contains(shared, pkg) {
			t.Errorf("%s is neither a feature nor a shared package in the layering graph", pkg)
		}
	}
}

// imports returns the module-local imports of pkg's non-test files,
// relative to the module.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	dir := strings.TrimPrefix(pkg, "governance/")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", pkg, err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range af.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			if rel, ok := strings.CutPrefix(p, module); ok {
				out = append(out, rel)
			}
		}
	}
	return out
}
