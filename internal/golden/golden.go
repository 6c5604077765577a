// Package golden checks a generated file against what its generator
// makes now, for the documents the repository keeps generated
// (docs/rbac.md, docs/events.md): with -update a test rewrites the file;
// without, it fails when the file is stale.
package golden

import (
	"os"
	"testing"
)

// Check fails t unless the file at path holds exactly want; with update
// it first writes want there.
func Check(t testing.TB, path string, want []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale; run 'make generate'", path)
	}
}
