package eventcatalog_test

import (
	"flag"
	"testing"

	"github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/golden"
)

var update = flag.Bool("update", false, "rewrite docs/events.md from the catalog")

func TestEventsDoc(t *testing.T) {
	golden.Check(t, "../../docs/events.md", eventcatalog.Markdown(), *update)
}
