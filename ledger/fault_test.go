package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// walOp matches writes and syncs of Pebble's write-ahead log (*.log
// files). errorfs reports File.Write and WriteAt, and File.Sync, SyncData
// and SyncTo, as distinct op kinds.
type walOp struct{ write, sync bool }

func (p walOp) String() string { return fmt.Sprintf("(WAL write=%t sync=%t)", p.write, p.sync) }

func (p walOp) Evaluate(op errorfs.Op) bool {
	if filepath.Ext(op.Path) != ".log" {
		return false
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		return p.write
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return p.sync
	}
	return false
}

// sstRead matches reads of Pebble's sstables.
type sstRead struct{}

func (sstRead) String() string { return "(sstable reads)" }

func (sstRead) Evaluate(op errorfs.Op) bool {
	return filepath.Ext(op.Path) == ".sst" && (op.Kind == errorfs.OpFileRead || op.Kind == errorfs.OpFileReadAt)
}

// fault injects errorfs.ErrInjected into the operations p matches while
// it is on. err is what it injects, for errors.Is: an injector built with
// If carries its predicate, so it is not errorfs.ErrInjected itself.
type fault struct {
	*errorfs.Toggle
	err error
}

func newFault(p errorfs.Predicate) fault {
	inj := errorfs.ErrInjected.If(p)
	return fault{Toggle: &errorfs.Toggle{Injector: inj}, err: inj.(error)}
}

// walHold holds WAL writes and syncs while armed, so that the appends
// behind them stay pending; held receives once an operation is held.
type walHold struct {
	mu      sync.Mutex
	release chan struct{}
	held    chan struct{}
}

func newWALHold() *walHold { return &walHold{held: make(chan struct{}, 1)} }

func (h *walHold) arm() {
	h.mu.Lock()
	h.release = make(chan struct{})
	h.mu.Unlock()
}

func (h *walHold) open() {
	h.mu.Lock()
	if h.release != nil {
		close(h.release)
		h.release = nil
	}
	h.mu.Unlock()
}

func (h *walHold) String() string { return "wal-hold" }

func (h *walHold) MaybeError(op errorfs.Op) error {
	if !(walOp{write: true, sync: true}).Evaluate(op) {
		return nil
	}
	h.mu.Lock()
	release := h.release
	h.mu.Unlock()
	if release != nil {
		select {
		case h.held <- struct{}{}:
		default:
		}
		<-release
	}
	return nil
}

// acked is an acknowledged entry.
type acked struct {
	org   string
	index uint64
	hash  []byte
	event []byte
	key   string
}

// checkAcked checks that every acknowledged entry is stored at its index
// with its hash, and that its bytes carry the event and key appended.
func checkAcked(t *testing.T, l *ledger.Ledger, acks []acked) {
	t.Helper()
	ctx := context.Background()
	for _, a := range acks {
		lf, err := l.Leaf(ctx, a.org, a.index)
		if err != nil {
			t.Fatalf("acknowledged %s/%d: %v", a.org, a.index, err)
		}
		if !bytes.Equal(lf.Hash, a.hash) || verify.Leaf(lf.Bytes, a.hash) != nil {
			t.Fatalf("acknowledged %s/%d: stored hash %x, bytes hashing to %x; acknowledged %x", a.org, a.index, lf.Hash, verify.LeafHash(lf.Bytes), a.hash)
		}
		parsed, err := verify.LeafAt(lf.Bytes, a.org, a.index)
		if err != nil {
			t.Fatalf("acknowledged %s/%d: %v", a.org, a.index, err)
		}
		if !bytes.Equal(parsed.Event, a.event) || parsed.IdempotencyKey != a.key {
			t.Fatalf("acknowledged %s/%d holds event %s key %q; appended %s key %q", a.org, a.index, parsed.Event, parsed.IdempotencyKey, a.event, a.key)
		}
	}
}

// awaitCheckpoint waits until org's latest checkpoint covers its whole
// tree (a reopened ledger signs what its predecessor left unsigned),
// verifies the signed note under the log's key and org's origin, and
// returns it.
func awaitCheckpoint(t *testing.T, l *ledger.Ledger, org string) ledger.Checkpoint {
	t.Helper()
	size, err := l.Size(org)
	if err != nil {
		t.Fatal(err)
	}
	var cp ledger.Checkpoint
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		cp, err = l.Checkpoint(context.Background(), org)
		if err == nil && cp.Size == size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("org %s: no checkpoint of size %d: latest %d, %v", org, size, cp.Size, err)
		}
	}
	return verifyNote(t, l, org, cp.Note, cp)
}

// verifyNote verifies a signed checkpoint note of org's log and checks
// that it says what want says.
func verifyNote(t *testing.T, l *ledger.Ledger, org string, note []byte, want ledger.Checkpoint) ledger.Checkpoint {
	t.Helper()
	v, err := verify.NewVerifier(l.VerifierKey(), l.Origin(org))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Checkpoint(note)
	if err != nil {
		t.Fatalf("org %s: checkpoint note: %v", org, err)
	}
	if got.Size != want.Size || !bytes.Equal(got.Root, want.Root) || got.Origin != want.Origin {
		t.Fatalf("org %s: note says size %d root %x origin %q; checkpoint says %d %x %q", org, got.Size, got.Root, got.Origin, want.Size, want.Root, want.Origin)
	}
	return got
}

// checkConsistent checks that the tree of checkpoint to extends the tree
// of checkpoint from, with a proof served by l.
func checkConsistent(t *testing.T, l *ledger.Ledger, org string, from, to ledger.Checkpoint) {
	t.Helper()
	p, err := l.ConsistencyProof(context.Background(), org, from.Size, to.Size)
	if err != nil {
		t.Fatalf("org %s: consistency proof %d → %d: %v", org, from.Size, to.Size, err)
	}
	if err := verify.Consistency(from.Size, to.Size, p, from.Root, to.Root); err != nil {
		t.Fatalf("org %s: checkpoint %d is not extended by checkpoint %d: %v", org, from.Size, to.Size, err)
	}
}

// TestFaultWALErrorFailsAppendsAndRecovers fails the write-ahead log while
// appends from several orgs are pending on it: each of them fails with
// ErrFailed and no receipt, later appends are refused, reads keep serving
// what was acknowledged, Close reports the WAL error, and the directory
// reopens on a healthy file system with every acknowledged entry, a tree
// that extends its checkpoints, and appends that continue it.
func TestFaultWALErrorFailsAppendsAndRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   walOp
		// exact: no byte of a failed commit reaches the file, so the
		// reopened trees hold exactly the acknowledged entries.
		exact bool
	}{
		{"write", walOp{write: true}, true},
		{"sync", walOp{sync: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hold := newWALHold()
			flt := newFault(tc.op)
			cfg := testConfig(t)
			cfg.FS = errorfs.Wrap(vfs.Default, errorfs.Any(hold, flt))
			cfg.CheckpointInterval = time.Hour // sign only for waiters and at Close
			l, err := ledger.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}

			// Fault off: appends succeed. The last append of each org
			// waits for a checkpoint, which covers all of them.
			orgs := []string{"acme", "globex"}
			var acks []acked
			before := map[string]ledger.Checkpoint{}
			for i := range 12 {
				for _, org := range orgs {
					e := ledger.Entry{Event: event("%s-before-%d", org, i)}
					if i%3 == 0 {
						e.IdempotencyKey = fmt.Sprintf("before-%d", i)
					}
					ack := ledger.AckDurable
					if i%4 == 1 || i == 11 {
						ack = ledger.AckCheckpoint
					}
					rs, err := l.Append(ctx, org, []ledger.Entry{e}, ack)
					if err != nil {
						t.Fatalf("append before the fault: %v", err)
					}
					acks = append(acks, acked{org, rs[0].Index, rs[0].LeafHash, e.Event, e.IdempotencyKey})
					if rs[0].Checkpoint != nil {
						before[org] = *rs[0].Checkpoint
					}
				}
			}

			// Hold the WAL, queue appends behind it from three orgs (one
			// of them new), then fail the held operation.
			hold.arm()
			type result struct {
				rs  []ledger.Receipt
				err error
			}
			const pending = 32
			results := make(chan result, pending)
			attempted := map[string]map[string]bool{}
			for i := range pending {
				org := []string{"acme", "globex", "initech"}[i%3]
				e := ledger.Entry{Event: event("%s-during-%d", org, i)}
				if i%4 == 0 {
					e.IdempotencyKey = fmt.Sprintf("during-%d", i)
				}
				if attempted[org] == nil {
					attempted[org] = map[string]bool{}
				}
				attempted[org][string(e.Event)] = true
				ack := []ledger.Ack{ledger.AckDurable, ledger.AckCheckpoint}[i%2]
				go func() {
					rs, err := l.Append(ctx, org, []ledger.Entry{e}, ack)
					results <- result{rs, err}
				}()
			}
			select {
			case <-hold.held:
			case <-time.After(10 * time.Second):
				t.Fatal("no WAL write or sync reached the file system")
			}
			flt.On()
			hold.open()
			timeout := time.After(10 * time.Second)
			for range pending {
				select {
				case r := <-results:
					if r.rs != nil || !errors.Is(r.err, ledger.ErrFailed) || !errors.Is(r.err, flt.err) {
						t.Errorf("append pending on a failing WAL: receipts %v, error %v; want no receipt and ErrFailed wrapping the WAL error", r.rs, r.err)
					}
				case <-timeout:
					t.Fatal("appends pending on a failing WAL neither failed nor succeeded")
				}
			}

			// Later appends are refused, whatever they ask for.
			for _, e := range []ledger.Entry{
				{Event: event("after")},
				{Event: acks[0].event, IdempotencyKey: acks[0].key}, // a retry of an acknowledged entry
			} {
				for _, ack := range []ledger.Ack{ledger.AckDurable, ledger.AckCheckpoint} {
					rs, err := l.Append(ctx, "acme", []ledger.Entry{e}, ack)
					if rs != nil || !errors.Is(err, ledger.ErrFailed) {
						t.Fatalf("append after the failure: %v, %v; want ErrFailed", rs, err)
					}
				}
			}

			// Reads serve what was acknowledged, and nothing else.
			for _, org := range orgs {
				size, err := l.Size(org)
				if err != nil || size != before[org].Size {
					t.Fatalf("org %s: size %d, %v after the failure; want the acknowledged %d", org, size, err, before[org].Size)
				}
				cp, err := l.Checkpoint(ctx, org)
				if err != nil || !bytes.Equal(cp.Note, before[org].Note) {
					t.Fatalf("org %s: latest checkpoint after the failure is size %d, %v; want %d", org, cp.Size, err, before[org].Size)
				}
			}
			if _, err := l.Size("initech"); !errors.Is(err, ledger.ErrUnknownOrg) {
				t.Fatalf("org created by a failed commit: %v; want ErrUnknownOrg", err)
			}
			checkAcked(t, l, acks)
			for _, a := range acks {
				cp := before[a.org]
				p, err := l.InclusionProof(ctx, a.org, a.index, cp.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := verify.Inclusion(a.hash, a.index, cp.Size, p, cp.Root); err != nil {
					t.Fatalf("inclusion of %s/%d after the failure: %v", a.org, a.index, err)
				}
			}

			// Close reports the WAL's sticky error, once.
			flt.Off()
			if err := l.Close(); !errors.Is(err, flt.err) {
				t.Fatalf("Close after a WAL failure: %v; want the WAL error", err)
			}
			if err := l.Close(); !errors.Is(err, ledger.ErrClosed) {
				t.Fatalf("second Close: %v; want ErrClosed", err)
			}

			// Reopen on the healthy file system: Open checks every tree
			// against its latest checkpoint, and what is left unsigned is
			// signed within the (default) interval.
			cfg.FS = nil
			cfg.CheckpointInterval = 0
			l2 := openLedger(t, cfg)
			checkAcked(t, l2, acks)
			for _, org := range l2.Orgs() {
				base := before[org].Size // 0 for an org created by a failed commit
				size, err := l2.Size(org)
				if err != nil {
					t.Fatalf("org %s: size after reopening: %v", org, err)
				}
				if tc.exact && size != base {
					t.Fatalf("org %s: size %d after reopening; want the acknowledged %d", org, size, base)
				}
				// Entries whose commit failed after they reached the file
				// may be there, each at most once and intact.
				seen := map[string]bool{}
				err = l2.Leaves(ctx, org, base, size, func(lf ledger.Leaf) error {
					parsed, err := verify.LeafAt(lf.Bytes, org, lf.Index)
					if err != nil {
						return err
					}
					if !attempted[org][string(parsed.Event)] || seen[string(parsed.Event)] {
						return fmt.Errorf("unexpected leaf %d: %s", lf.Index, parsed.Event)
					}
					seen[string(parsed.Event)] = true
					return nil
				})
				if err != nil {
					t.Fatalf("org %s: leaves past the acknowledged ones: %v", org, err)
				}
				latest := awaitCheckpoint(t, l2, org)
				if b, ok := before[org]; ok {
					checkConsistent(t, l2, org, b, latest)
				}
				for _, a := range acks {
					if a.org != org {
						continue
					}
					p, err := l2.InclusionProof(ctx, org, a.index, latest.Size)
					if err != nil || verify.Inclusion(a.hash, a.index, latest.Size, p, latest.Root) != nil {
						t.Fatalf("inclusion of %s/%d in the recovered tree: %v", org, a.index, err)
					}
				}

				// Appends continue the tree.
				rs := appendN(t, l2, org, 3, ledger.AckCheckpoint)
				if rs[0].Index != size || rs[2].Index != size+2 {
					t.Fatalf("org %s: appends after recovery at %d…%d; want %d…", org, rs[0].Index, rs[2].Index, size)
				}
				next := verifyNote(t, l2, org, rs[2].Checkpoint.Note, *rs[2].Checkpoint)
				if next.Size < size+3 {
					t.Fatalf("org %s: receipt checkpoint of size %d does not cover index %d", org, next.Size, rs[2].Index)
				}
				checkConsistent(t, l2, org, latest, next)
			}
			for _, org := range orgs {
				if _, err := l2.Size(org); err != nil {
					t.Fatalf("org %s after reopening: %v", org, err)
				}
			}
		})
	}
}

// TestFaultCheckpointWriteFails fails the write of a signed checkpoint:
// nothing is half acknowledged (an appender waiting for the checkpoint
// gets ErrFailed and no receipt, and the checkpoint is not served), the
// process survives, and after reopening the entry is signed.
func TestFaultCheckpointWriteFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		// waiter: an appender waits for the checkpoint; else the final
		// checkpoint of Close is the one that fails.
		waiter bool
	}{
		{"appender waiting for it", true},
		{"final checkpoint at close", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			flt := newFault(walOp{write: true, sync: true})
			cfg := testConfig(t)
			cfg.FS = errorfs.Wrap(vfs.Default, flt)
			cfg.CheckpointInterval = time.Hour // sign only for waiters and at Close
			l, err := ledger.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			signed := appendN(t, l, "acme", 5, ledger.AckCheckpoint)
			cp5 := *signed[4].Checkpoint
			e := ledger.Entry{Event: event("unsigned"), IdempotencyKey: "unsigned-1"}
			rs, err := l.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckDurable)
			if err != nil || rs[0].Index != 5 {
				t.Fatalf("durable append: %v, %v", rs, err)
			}
			unsigned := acked{"acme", 5, rs[0].LeafHash, e.Event, e.IdempotencyKey}
			var unstored *ledger.Checkpoint

			flt.On()
			if tc.waiter {
				// A retry of the durable entry adds no leaf: the only
				// write is the checkpoint it waits for.
				rs, err := l.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckCheckpoint)
				if rs != nil || !errors.Is(err, ledger.ErrFailed) || !errors.Is(err, flt.err) {
					t.Fatalf("append waiting for a checkpoint that cannot be stored: %v, %v; want no receipt and ErrFailed wrapping the WAL error", rs, err)
				}
				if cp, err := l.Checkpoint(ctx, "acme"); err != nil || !bytes.Equal(cp.Note, cp5.Note) {
					t.Fatalf("latest checkpoint after a failed checkpoint write: size %d, %v; want %d", cp.Size, err, cp5.Size)
				}
				// The failed write may still be readable from Pebble's
				// memtable; it signs durable leaves, so it must be
				// consistent with what the recovered ledger signs.
				if cp, err := l.CheckpointAt(ctx, "acme", 6); err == nil {
					unstored = &cp
				} else if !errors.Is(err, ledger.ErrNotFound) {
					t.Fatalf("checkpoint 6 after its write failed: %v", err)
				}
				if rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: event("after")}}, ledger.AckDurable); rs != nil || !errors.Is(err, ledger.ErrFailed) {
					t.Fatalf("append after the failure: %v, %v; want ErrFailed", rs, err)
				}
				flt.Off()
			}
			err = l.Close()
			flt.Off()
			if !errors.Is(err, flt.err) {
				t.Fatalf("Close: %v; want the WAL error", err)
			}

			cfg.FS = nil
			cfg.CheckpointInterval = 0
			l2 := openLedger(t, cfg)
			checkAcked(t, l2, append(ackedOf("acme", signed), unsigned))
			latest := awaitCheckpoint(t, l2, "acme")
			if latest.Size != 6 {
				t.Fatalf("recovered tree of size %d; want 6", latest.Size)
			}
			checkConsistent(t, l2, "acme", cp5, latest)
			if unstored != nil {
				checkConsistent(t, l2, "acme", verifyNote(t, l2, "acme", unstored.Note, *unstored), latest)
			}
			if old, err := l2.CheckpointAt(ctx, "acme", 5); err != nil || !bytes.Equal(old.Note, cp5.Note) {
				t.Fatalf("checkpoint 5 after reopening: %v", err)
			}
			rs, err = l2.Append(ctx, "acme", []ledger.Entry{e}, ledger.AckCheckpoint)
			if err != nil || !rs[0].Duplicate || rs[0].Index != 5 || rs[0].Checkpoint == nil || rs[0].Checkpoint.Size < 6 {
				t.Fatalf("retry after reopening: %+v, %v; want the duplicate of index 5 with a checkpoint covering it", rs, err)
			}
			verifyNote(t, l2, "acme", rs[0].Checkpoint.Note, *rs[0].Checkpoint)
		})
	}
}

// ackedOf returns the entries acknowledged by one appendN(t, l, org, …).
func ackedOf(org string, rs []ledger.Receipt) []acked {
	out := make([]acked, len(rs))
	for i, r := range rs {
		out[i] = acked{org, r.Index, r.LeafHash, event("%s-%d", org, i), ""}
	}
	return out
}

// TestFaultRetentionWriteFails: a retention write the WAL refuses returns
// ErrFailed, changes nothing, and leaves the process running.
func TestFaultRetentionWriteFails(t *testing.T) {
	ctx := context.Background()
	flt := newFault(walOp{write: true, sync: true})
	cfg := testConfig(t)
	cfg.FS = errorfs.Wrap(vfs.Default, flt)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acme", 3, ledger.AckCheckpoint)
	flt.On()
	if err := l.SetRetention(ctx, "acme", time.Hour); !errors.Is(err, ledger.ErrFailed) || !errors.Is(err, flt.err) {
		t.Fatalf("SetRetention on a failing WAL: %v; want ErrFailed wrapping the WAL error", err)
	}
	flt.Off()
	if err := l.SetRetention(ctx, "acme", time.Hour); !errors.Is(err, ledger.ErrFailed) {
		t.Fatalf("SetRetention after the failure: %v; want ErrFailed", err)
	}
	if err := l.Close(); !errors.Is(err, flt.err) {
		t.Fatalf("Close: %v; want the WAL error", err)
	}
	cfg.FS = nil
	l2 := openLedger(t, cfg)
	r, err := l2.Retention(ctx, "acme")
	if err != nil || r.Window != 7*365*24*time.Hour {
		t.Fatalf("retention after a failed write: %+v, %v; want the default", r, err)
	}
	if err := l2.SetRetention(ctx, "acme", time.Hour); err != nil {
		t.Fatal(err)
	}
}

// TestFaultReadErrorFailsProof fails Pebble's reads of stored records
// while proofs and leaves are requested: each request returns the read
// error, never a proof, and never reports the read as corruption; once
// reads work again the same requests verify and appends continue. The
// tile cache is off: proofs from it read nothing that could fail.
func TestFaultReadErrorFailsProof(t *testing.T) {
	ctx := context.Background()
	flt := newFault(sstRead{})
	cfg := testConfig(t)
	cfg.FS = errorfs.Wrap(vfs.Default, flt)
	cfg.TileCacheSize = -1
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var rs []ledger.Receipt
	for range 6 {
		rs = append(rs, appendN(t, l, "acme", 500, ledger.AckDurable)...)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Open replays the WAL into an sstable and starts with an empty block
	// cache: the records of leaves and tiles in the middle of the log,
	// which neither Open nor recovery reads (Open reads the org's first
	// block, with its checkpoints and first leaves, and the block of its
	// tree state and first tile, and recovery its last tiles), come from
	// the file.
	l = openLedger(t, cfg)
	cp := awaitCheckpoint(t, l, "acme")

	flt.On()
	for _, read := range []struct {
		name string
		// do returns whether the request returned anything beside its
		// error.
		do func() (bool, error)
	}{
		{"inclusion proof", func() (bool, error) {
			p, err := l.InclusionProof(ctx, "acme", 1500, cp.Size)
			return p != nil, err
		}},
		{"consistency proof", func() (bool, error) {
			p, err := l.ConsistencyProof(ctx, "acme", 1400, cp.Size)
			return p != nil, err
		}},
		{"leaf", func() (bool, error) {
			lf, err := l.Leaf(ctx, "acme", 1500)
			return lf.Hash != nil || lf.Bytes != nil, err
		}},
	} {
		got, err := read.do()
		if !errors.Is(err, flt.err) || errors.Is(err, ledger.ErrCorrupt) {
			t.Errorf("%s while reads fail: %v; want the read error", read.name, err)
		}
		if got {
			t.Errorf("%s while reads fail: returned a result with the error", read.name)
		}
	}
	flt.Off()

	p, err := l.InclusionProof(ctx, "acme", 1, cp.Size)
	if err != nil || verify.Inclusion(rs[1].LeafHash, 1, cp.Size, p, cp.Root) != nil {
		t.Fatalf("inclusion proof once reads work: %v", err)
	}
	h := rfc6962.DefaultHasher
	root3 := h.HashChildren(h.HashChildren(rs[0].LeafHash, rs[1].LeafHash), rs[2].LeafHash)
	c, err := l.ConsistencyProof(ctx, "acme", 3, cp.Size)
	if err != nil || verify.Consistency(3, cp.Size, c, root3, cp.Root) != nil {
		t.Fatalf("consistency proof once reads work: %v", err)
	}
	checkAcked(t, l, ackedOf("acme", rs[:500]))
	more := appendN(t, l, "acme", 2, ledger.AckCheckpoint)
	if more[0].Index != cp.Size {
		t.Fatalf("append after read errors at %d; want %d", more[0].Index, cp.Size)
	}
}
