package servertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Layout1 is a data directory whose ledger is in the first storage
// layout (leaf and node records), as the first releases wrote it: the
// ledger's fixture (ledger/testdata/layout1), with the fixture's signing
// key as the data directory's log key. The other key files are made at
// its first start, as for any data directory.
type Layout1 struct {
	DataDir string
	// LogName is the log's name; the server must be configured with it
	// (--log-name), since the key signs for it.
	LogName     string
	VerifierKey string
	// Sizes is each org's tree size.
	Sizes map[string]uint64
	// Checkpoints are the notes the layout-1 ledger issued, by org,
	// oldest first; the last covers the whole tree.
	Checkpoints map[string][]string
}

// Layout1DataDir makes a data directory (in a temporary directory) whose
// ledger is in layout 1.
func Layout1DataDir(t testing.TB) Layout1 {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("servertest: no source path for the layout-1 fixture")
	}
	fixture := filepath.Join(filepath.Dir(file), "..", "..", "ledger", "testdata", "layout1")
	raw, err := os.ReadFile(filepath.Join(fixture, "served.json"))
	if err != nil {
		t.Fatal(err)
	}
	var served struct {
		SignerKey   string `json:"signer_key"`
		VerifierKey string `json:"verifier_key"`
		LogName     string `json:"log_name"`
		Orgs        map[string]struct {
			Checkpoints []string `json:"checkpoints"`
			LeafHashes  []string `json:"leaf_hashes"`
		} `json:"orgs"`
	}
	if err := json.Unmarshal(raw, &served); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "ledger"), os.DirFS(filepath.Join(fixture, "ledger"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.key"), []byte(served.SignerKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fx := Layout1{DataDir: dir, LogName: served.LogName, VerifierKey: served.VerifierKey, Sizes: map[string]uint64{}, Checkpoints: map[string][]string{}}
	for org, o := range served.Orgs {
		fx.Sizes[org] = uint64(len(o.LeafHashes))
		fx.Checkpoints[org] = o.Checkpoints
		if n := len(o.Checkpoints); n == 0 || checkpointSize(t, o.Checkpoints[n-1]) != fx.Sizes[org] {
			t.Fatalf("servertest: the fixture's latest checkpoint of %s does not cover its tree", org)
		}
	}
	return fx
}

// checkpointSize returns the tree size a checkpoint note states.
func checkpointSize(t testing.TB, note string) uint64 {
	lines := strings.SplitN(note, "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("servertest: malformed checkpoint %q", note)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
