package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// walFault fails writes and syncs of the write-ahead log while on.
type walFault struct{ on atomic.Bool }

func (f *walFault) MaybeError(op errorfs.Op) error {
	if !f.on.Load() || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return errorfs.ErrInjected
	}
	return nil
}

func (f *walFault) String() string { return "wal-fault" }

// TestCommitIOErrorFailsAppendsAndRecovers injects an I/O error into the
// WAL during a commit: the append in flight fails without a receipt, every
// later append is refused, reads keep working, and reopening the store on
// a healthy file system recovers every acknowledged entry and continues.
func TestCommitIOErrorFailsAppendsAndRecovers(t *testing.T) {
	mem := vfs.NewMem()
	fault := &walFault{}
	cfg := testConfig(t)
	cfg.Dir = "ledger"
	cfg.FS = errorfs.Wrap(mem, fault)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acked := appendN(t, l, "acme", 20, ledger.AckCheckpoint)
	cp := acked[19].Checkpoint

	fault.on.Store(true)
	rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("lost")}}, ledger.AckDurable)
	if !errors.Is(err, ledger.ErrFailed) || rs != nil {
		t.Fatalf("append during a WAL fault: %v, %v; want ErrFailed and no receipt", rs, err)
	}
	// Appends after the failure are refused before they reach storage,
	// from many callers at once.
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("late-%d", i)}}, ledger.AckCheckpoint); !errors.Is(err, ledger.ErrFailed) {
				t.Errorf("append after the failure: %v", err)
			}
		}()
	}
	wg.Wait()
	// Reads still serve what was acknowledged.
	if n, _ := l.Size("acme"); n != 20 {
		t.Fatalf("durable size %d after a failed commit, want 20", n)
	}
	p, err := l.InclusionProof(ctx, "acme", 7, cp.Size)
	if err != nil || verify.Inclusion(acked[7].LeafHash, 7, cp.Size, p, cp.Root) != nil {
		t.Fatalf("proof after the failure: %v", err)
	}
	fault.on.Store(false)
	_ = l.Close() // the WAL writer's error may surface here; nothing to keep

	// Reopen on the healthy file system.
	cfg.FS = mem
	l2 := openLedger(t, cfg)
	for _, r := range acked {
		lf, err := l2.Leaf(ctx, "acme", r.Index)
		if err != nil || !bytes.Equal(lf.Hash, r.LeafHash) {
			t.Fatalf("acknowledged leaf %d after recovery: %v", r.Index, err)
		}
	}
	latest, err := l2.Checkpoint(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier(l2.VerifierKey(), l2.Origin("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Checkpoint(latest.Note); err != nil {
		t.Fatal(err)
	}
	c, err := l2.ConsistencyProof(ctx, "acme", cp.Size, latest.Size)
	if err != nil || verify.Consistency(cp.Size, latest.Size, c, cp.Root, latest.Root) != nil {
		t.Fatalf("recovered tree does not extend the acknowledged checkpoint: %v", err)
	}
	more := appendN(t, l2, "acme", 5, ledger.AckCheckpoint)
	if more[0].Index < 20 || more[4].Checkpoint.Size != more[4].Index+1 {
		t.Fatalf("appends after recovery: %+v", more[4])
	}
}

// TestCheckpointWaitersFailOnIOError: an appender waiting for a checkpoint
// when storage fails gets ErrFailed, never a receipt without a checkpoint.
func TestCheckpointWaitersFailOnIOError(t *testing.T) {
	mem := vfs.NewMem()
	fault := &walFault{}
	cfg := testConfig(t)
	cfg.Dir = "ledger"
	cfg.FS = errorfs.Wrap(mem, fault)
	cfg.CheckpointInterval = time.Hour // sign only for waiters
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	appendN(t, l, "acme", 3, ledger.AckCheckpoint)
	fault.on.Store(true)
	rs, err := l.Append(context.Background(), "acme", []ledger.Entry{{Event: event("x")}}, ledger.AckCheckpoint)
	if err == nil || rs != nil {
		t.Fatalf("append whose commit or checkpoint cannot be stored: %v, %v", rs, err)
	}
	if !errors.Is(err, ledger.ErrFailed) {
		t.Fatalf("got %v, want ErrFailed", err)
	}
	fault.on.Store(false)
}
