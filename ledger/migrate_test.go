package ledger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// layout1 is testdata/layout1: a store written by the first layout, and
// what that ledger served.
type layout1 struct {
	SignerKey   string `json:"signer_key"`
	VerifierKey string `json:"verifier_key"`
	LogName     string `json:"log_name"`
	Orgs        map[string]struct {
		Checkpoints []string            `json:"checkpoints"`
		Inclusion   map[string][]string `json:"inclusion"`
		Consistency map[string][]string `json:"consistency"`
		LeafHashes  []string            `json:"leaf_hashes"`
	} `json:"orgs"`
}

// layout1Store copies the layout-1 fixture into a temporary directory and
// returns the Config that opens it.
func layout1Store(t *testing.T) (ledger.Config, layout1) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "layout1", "served.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx layout1
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ledger")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "layout1", "ledger"))); err != nil {
		t.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(fx.SignerKey)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Config{Dir: dir, LogName: fx.LogName, Signer: s, VerifierKey: vkey, CacheSize: 8 << 20}, fx
}

func b64s(t *testing.T, ss []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// checkServedAsBefore checks that the migrated ledger serves what the
// layout-1 ledger served: every checkpoint, verifying against today's
// tree, the same leaf hashes and byte-identical proofs.
func checkServedAsBefore(t *testing.T, l *ledger.Ledger, fx layout1) {
	t.Helper()
	ctx := context.Background()
	for org, want := range fx.Orgs {
		latest, err := l.Checkpoint(ctx, org)
		if err != nil {
			t.Fatalf("%s: %v", org, err)
		}
		for _, note := range want.Checkpoints {
			v, err := verify.NewVerifier(fx.VerifierKey, l.Origin(org))
			if err != nil {
				t.Fatal(err)
			}
			cp, err := v.Checkpoint([]byte(note))
			if err != nil {
				t.Fatalf("%s: checkpoint issued before: %v", org, err)
			}
			got, err := l.CheckpointAt(ctx, org, cp.Size)
			if err != nil || !bytes.Equal(got.Note, cp.Note) {
				t.Fatalf("%s: checkpoint at %d after migration: %v", org, cp.Size, err)
			}
			p, err := l.ConsistencyProof(ctx, org, cp.Size, latest.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := verify.Consistency(cp.Size, latest.Size, p, cp.Root, latest.Root); err != nil {
				t.Fatalf("%s: checkpoint at %d does not verify against the migrated log: %v", org, cp.Size, err)
			}
		}
		hashes := b64s(t, want.LeafHashes)
		size := uint64(len(hashes))
		if got, _ := l.Size(org); got < size {
			t.Fatalf("%s: size %d, was %d", org, got, size)
		}
		i := 0
		if err := l.Leaves(ctx, org, 0, size, func(lf ledger.Leaf) error {
			if !bytes.Equal(lf.Hash, hashes[i]) {
				return fmt.Errorf("leaf %d hash differs", i)
			}
			i++
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", org, err)
		}
		for k, p := range want.Inclusion {
			var index, n uint64
			fmt.Sscanf(k, "%d/%d", &index, &n)
			got, err := l.InclusionProof(ctx, org, index, n)
			if err != nil || !slices.EqualFunc(got, b64s(t, p), bytes.Equal) {
				t.Fatalf("%s: inclusion proof %s differs: %v", org, k, err)
			}
		}
		for k, p := range want.Consistency {
			var m, n uint64
			fmt.Sscanf(k, "%d/%d", &m, &n)
			got, err := l.ConsistencyProof(ctx, org, m, n)
			if err != nil || !slices.EqualFunc(got, b64s(t, p), bytes.Equal) {
				t.Fatalf("%s: consistency proof %s differs: %v", org, k, err)
			}
		}
		if len(want.Inclusion) == 0 || len(want.Consistency) == 0 && len(want.Checkpoints) > 1 {
			t.Fatalf("%s: the fixture holds no proofs", org)
		}
	}
}

// TestMigrateLayout1 migrates a store written by the first layout: Open
// refuses it until then; afterwards every checkpoint issued before
// verifies against the migrated log, proofs are the same bytes, state
// and idempotency keys are kept, the node records are gone, and appends
// go on.
func TestMigrateLayout1(t *testing.T) {
	cfg, fx := layout1Store(t)
	ctx := context.Background()
	if _, err := ledger.Open(cfg); !errors.Is(err, ledger.ErrOldLayout) {
		t.Fatalf("Open of a layout-1 store: %v, want ErrOldLayout", err)
	}
	var calls int
	report, err := ledger.Migrate(ctx, cfg, func(org string, done, size uint64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(report) != len(fx.Orgs) || calls < len(fx.Orgs) {
		t.Fatalf("report %+v after %d progress calls", report, calls)
	}
	for _, m := range report {
		if m.ResumedAt != 0 || m.Size != uint64(len(fx.Orgs[m.Org].LeafHashes)) || len(m.Root) != 32 {
			t.Fatalf("report %+v", m)
		}
	}
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		for org := range fx.Orgs {
			lo, hi := rawKey(org, 'n'), rawKey(org, 'o')
			it, _ := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
			if it.First() {
				t.Errorf("%s: node record %q left after migration", org, it.Key())
			}
			it.Close()
		}
	})
	l := openLedger(t, cfg)
	checkServedAsBefore(t, l, fx)

	if v, err := l.State(ctx, "acme", []byte("state/acme")); err != nil || string(v) != "3002" {
		t.Fatalf("state after migration: %q, %v", v, err)
	}
	// The fixture's first entry had key k-0: the same event is a duplicate.
	rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: []byte(`{"n":0,"org":"acme","type":"fixture"}`), IdempotencyKey: "k-0"}}, ledger.AckDurable)
	if err != nil || !rs[0].Duplicate || rs[0].Index != 0 {
		t.Fatalf("idempotent retry after migration: %+v, %v", rs, err)
	}
	for org := range fx.Orgs {
		appendN(t, l, org, 300, ledger.AckCheckpoint)
	}
	if _, err := l.Leaf(ctx, "delta", 5); !errors.Is(err, ledger.ErrPurged) {
		t.Fatalf("purged leaf after migration: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Migrating again changes nothing; the grown log opens and serves
	// what it served before.
	if report, err := ledger.Migrate(ctx, cfg, nil); err != nil || report != nil {
		t.Fatalf("second Migrate: %+v, %v", report, err)
	}
	l = openLedger(t, cfg)
	checkServedAsBefore(t, l, fx)
}

// TestMigrateResumes stops a migration after some batches, as a crash
// would: the store stays in layout 1 and the next Migrate resumes from
// where the first stopped, to the same result.
func TestMigrateResumes(t *testing.T) {
	cfg, fx := layout1Store(t)
	ctx := context.Background()
	defer ledger.SetMigrateChunk(300)()
	stop := errors.New("stopped")
	batches := 0
	restore := ledger.SetMigrateHook(func(org string, done uint64) error {
		if batches++; org == "acme" && done == 1200 {
			return stop
		}
		return nil
	})
	if _, err := ledger.Migrate(ctx, cfg, nil); !errors.Is(err, stop) {
		t.Fatalf("interrupted Migrate: %v", err)
	}
	restore()
	if _, err := ledger.Open(cfg); !errors.Is(err, ledger.ErrOldLayout) {
		t.Fatalf("Open after an interrupted migration: %v, want ErrOldLayout", err)
	}
	report, err := ledger.Migrate(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report[0].Org != "acme" || report[0].ResumedAt != 1200 {
		t.Fatalf("resumed report %+v", report)
	}
	l := openLedger(t, cfg)
	checkServedAsBefore(t, l, fx)
}

// TestMigrateKilled kills a process while it migrates (SIGKILL, between
// and during batches) and migrates again: the result serves what the
// layout-1 ledger served.
func TestMigrateKilled(t *testing.T) {
	if dir := os.Getenv("NUXARI_MIGRATE_DIR"); dir != "" {
		migrateChild(t, dir)
		return
	}
	cfg, fx := layout1Store(t)
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateKilled$", "-test.v")
		cmd.Env = append(os.Environ(), "NUXARI_MIGRATE_DIR="+cfg.Dir, "NUXARI_MIGRATE_KEY="+fx.SignerKey)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the child has written a few batches, the later
		// rounds while it sleeps between batches or writes one.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "batch "+strconv.Itoa(3*(round+1))+" ") {
				if round == 1 {
					time.Sleep(2 * time.Millisecond)
				}
				break
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	report, err := ledger.Migrate(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	resumed := false
	for _, m := range report {
		resumed = resumed || m.ResumedAt > 0
	}
	if !resumed {
		t.Fatalf("no org resumed: %+v", report)
	}
	checkServedAsBefore(t, openLedger(t, cfg), fx)
}

// migrateChild migrates in small batches, slowly, until killed.
func migrateChild(t *testing.T, dir string) {
	s, vkey, err := ledger.ParseSignerKey(os.Getenv("NUXARI_MIGRATE_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.SetMigrateChunk(100)()
	n := 0
	defer ledger.SetMigrateHook(func(org string, done uint64) error {
		n++
		fmt.Printf("batch %d %s %d\n", n, org, done)
		time.Sleep(5 * time.Millisecond)
		return nil
	})()
	_, err = ledger.Migrate(context.Background(), ledger.Config{Dir: dir, LogName: "nuxari-fixture", Signer: s, VerifierKey: vkey}, nil)
	t.Logf("migrate: %v", err)
}

// TestMigrateWithoutDirectory migrates a store written before the org
// directory: the orgs are found by walking their key spaces.
func TestMigrateWithoutDirectory(t *testing.T) {
	cfg, fx := layout1Store(t)
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		if err := db.DeleteRange([]byte("d"), []byte("e"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	report, err := ledger.Migrate(context.Background(), cfg, nil)
	if err != nil || len(report) != len(fx.Orgs) {
		t.Fatalf("Migrate: %+v, %v", report, err)
	}
	l := openLedger(t, cfg)
	orgs := l.Orgs()
	slices.Sort(orgs)
	if !slices.Equal(orgs, []string{"acme", "beta", "delta", "gamma"}) {
		t.Fatalf("orgs %v", orgs)
	}
	checkServedAsBefore(t, l, fx)
}

// TestMigrateDetectsTampering: leaves that do not hash to the layout-1
// nodes, or a tree that does not extend its checkpoint, stop the
// migration with a *CorruptionError naming the org, and the store stays
// in layout 1.
func TestMigrateDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB)
	}{
		{"a leaf's bytes", func(t *testing.T, db *pebble.DB) { flipByte(t, db, rawKey("gamma", 'l', 100), 20) }},
		{"a node record", func(t *testing.T, db *pebble.DB) {
			flipByte(t, db, rawKey("gamma", 'n', 255), 7*32) // node (8, 0)
		}},
		{"the latest checkpoint", func(t *testing.T, db *pebble.DB) {
			flipByte(t, db, rawKey("gamma", 'c', 257), 40)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := layout1Store(t)
			tamper(t, cfg.Dir, func(db *pebble.DB) { tc.tamper(t, db) })
			_, err := ledger.Migrate(context.Background(), cfg, nil)
			var ce *ledger.CorruptionError
			if !errors.As(err, &ce) || ce.Org != "gamma" {
				t.Fatalf("Migrate: %v, want a *CorruptionError of gamma", err)
			}
			if _, err := ledger.Open(cfg); !errors.Is(err, ledger.ErrOldLayout) {
				t.Fatalf("Open after a failed migration: %v", err)
			}
		})
	}
}

// TestMigratedCheckpointsAreKept: layout 1 did not record which
// checkpoints it handed out, so none a migrated store issued before is
// ever thinned; those issued after the migration are. The store here is
// one whose layout record is gone, which Migrate converts as layout 1.
func TestMigratedCheckpointsAreKept(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := testConfig(t)
	cfg.Clock, cfg.CheckpointInterval = clock.Now, 5*time.Millisecond
	ctx := context.Background()
	// Three checkpoints of entries of the same hour, none handed out:
	// thinned to the last two days on, but for the migration.
	l := openLedgerNoCleanup(t, cfg)
	for i := range 3 {
		appendN(t, l, "acme", 1, ledger.AckDurable)
		clock.Advance(time.Minute)
		waitCheckpointSize(t, l, "acme", uint64(i+1))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		if err := db.DeleteRange([]byte("d"), []byte("e"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := ledger.Migrate(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, cfg)
	for i := range 3 {
		appendN(t, l, "acme", 1, ledger.AckDurable)
		clock.Advance(time.Minute)
		waitCheckpointSize(t, l, "acme", uint64(i+4))
	}
	clock.Advance(48 * time.Hour)
	h, _ := l.Org("acme")
	if n, _, err := h.ThinCheckpoints(ctx); err != nil || n != 2 {
		var all []uint64
		_ = l.CheckpointSizes(ctx, "acme", func(s uint64) bool { all = append(all, s); return true })
		t.Fatalf("ThinCheckpoints: %d dropped, %v; want the first two issued after the migration; left %v", n, err, all)
	}
	var kept []uint64
	if err := l.CheckpointSizes(ctx, "acme", func(s uint64) bool { kept = append(kept, s); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kept, []uint64{1, 2, 3, 6}) {
		t.Fatalf("kept %v, want [1 2 3 6]", kept)
	}
}
