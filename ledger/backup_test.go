package ledger_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nuxari/nuxari/ledger"
)

// TestBackupWhileAppending: a backup taken while appends go on opens as
// a ledger whose every org verifies against its latest checkpoint and
// holds a prefix of what the live ledger holds, leaf for leaf; its latest
// checkpoints are ones the live ledger signed.
func TestBackupWhileAppending(t *testing.T) {
	cfg := testConfig(t)
	l := openLedger(t, cfg)
	ctx := context.Background()
	appendN(t, l, "acme", 50, ledger.AckCheckpoint)
	appendN(t, l, "beta", 20, ledger.AckCheckpoint)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				// Not appendN: t.Fatal belongs to the test's goroutine.
				if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("more")}}, ledger.AckCheckpoint); err != nil {
					t.Errorf("append during the backup: %v", err)
					return
				}
			}
		}
	})
	dir := filepath.Join(t.TempDir(), "backup")
	err := l.Backup(dir)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Backup(dir); err == nil {
		t.Fatal("a backup over an existing directory")
	}

	bcfg := cfg
	bcfg.Dir = dir
	b := openLedger(t, bcfg) // Open verifies every tree against its checkpoint
	for _, org := range []string{"acme", "beta"} {
		bs, err := b.Size(org)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := l.Size(org)
		if bs == 0 || bs > ls {
			t.Fatalf("%s: backup holds %d entries, live %d", org, bs, ls)
		}
		for _, i := range []uint64{0, bs / 2, bs - 1} {
			bl, err := b.Leaf(ctx, org, i)
			if err != nil {
				t.Fatal(err)
			}
			ll, _ := l.Leaf(ctx, org, i)
			if !bytes.Equal(bl.Bytes, ll.Bytes) {
				t.Fatalf("%s leaf %d differs in the backup", org, i)
			}
		}
	}
	latest, err := b.LatestCheckpoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[0].Org != "acme" || latest[1].Org != "beta" {
		t.Fatalf("latest checkpoints of the backup: %+v", latest)
	}
	for _, oc := range latest {
		live, err := l.CheckpointAt(ctx, oc.Org, oc.Checkpoint.Size)
		if err != nil || !bytes.Equal(live.Note, oc.Checkpoint.Note) {
			t.Fatalf("%s: the backup's checkpoint at %d is not the live one: %v", oc.Org, oc.Checkpoint.Size, err)
		}
	}
}
