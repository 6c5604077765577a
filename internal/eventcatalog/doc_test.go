package eventcatalog_test

import (
	"flag"
	"os"
	"testing"

	"github.com/nuxari/nuxari/internal/eventcatalog"
)

var update = flag.Bool("update", false, "rewrite docs/events.md from the catalog")

func TestEventsDoc(t *testing.T) {
	const path = "../../docs/events.md"
	want := eventcatalog.Markdown()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("docs/events.md does not match the catalog; run 'make generate'")
	}
}
