package pgstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/storage"
	"github.com/nuxari/nuxari/ledger/storage/pgstore"
	"github.com/nuxari/nuxari/ledger/storage/storagetest"
	"github.com/nuxari/nuxari/ledger/verify"
)

// tableFor names the table of a conformance suite directory, so that
// reopening the directory reopens the table; it is dropped when the test
// ends.
func tableFor(t *testing.T, pool *pgxpool.Pool, dir string) string {
	sum := sha256.Sum256([]byte(dir))
	name := "ledger_test_" + hex.EncodeToString(sum[:8])
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	return name
}

func TestConformance(t *testing.T) {
	pool := pgtest.Need(t).AdminPool(t, "postgres")
	storagetest.Run(t, func(t *testing.T, dir string) storage.Store {
		s, err := pgstore.Open(context.Background(), pool, tableFor(t, pool, dir))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestLedgerOnPostgres runs the ledger, unchanged, on PostgreSQL:
// appends to several orgs with governance state, checkpoints, proofs that
// verify, hash tiles, and a reopen that recovers every org from the
// table.
func TestLedgerOnPostgres(t *testing.T) {
	pool := pgtest.Need(t).AdminPool(t, "postgres")
	table := tableFor(t, pool, t.Name())
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "nuxari-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	open := func() *ledger.Ledger {
		s, err := pgstore.Open(context.Background(), pool, table)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ledger.Open(ledger.Config{Store: s, LogName: "nuxari-test", Signer: signer, VerifierKey: vkey, CheckpointInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ctx := context.Background()
	l := open()
	orgs := []string{"acme", "globex", "initech"}
	var wg sync.WaitGroup
	for i, org := range orgs {
		wg.Go(func() {
			for round := range 5 {
				entries := make([]ledger.Entry, 60*(i+1))
				for j := range entries {
					entries[j] = ledger.Entry{Event: fmt.Appendf(nil, `{"n":%d,"round":%d}`, j, round)}
				}
				entries[0].Writes = []ledger.Write{{Key: []byte("round"), Value: fmt.Appendf(nil, "%d", round)}}
				entries[0].IdempotencyKey = fmt.Sprintf("round-%d", round)
				if _, err := l.Append(ctx, org, entries, ledger.AckCheckpoint); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	check := func(l *ledger.Ledger) {
		t.Helper()
		for i, org := range orgs {
			cp, err := l.Checkpoint(ctx, org)
			if err != nil || cp.Size != uint64(300*(i+1)) {
				t.Fatalf("%s: checkpoint %+v, %v", org, cp, err)
			}
			for _, index := range []uint64{0, 255, 256, cp.Size - 1} {
				lf, err := l.Leaf(ctx, org, index)
				if err != nil {
					t.Fatal(err)
				}
				p, err := l.InclusionProof(ctx, org, index, cp.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := verify.Inclusion(lf.Hash, index, cp.Size, p, cp.Root); err != nil {
					t.Fatalf("%s: leaf %d: %v", org, index, err)
				}
			}
			p, err := l.ConsistencyProof(ctx, org, 100, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			root100, err := l.SubtreeHash(ctx, org, 0, 64)
			if err != nil || len(root100) != 32 || len(p) == 0 {
				t.Fatalf("%s: subtree %x, proof %d, %v", org, root100, len(p), err)
			}
			if v, err := l.State(ctx, org, []byte("round")); err != nil || string(v) != "4" {
				t.Fatalf("%s: state %q, %v", org, v, err)
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	defer l.Close()
	check(l)
	rs, err := l.Append(ctx, "acme", []ledger.Entry{{Event: []byte(`{"n":0,"round":0}`), IdempotencyKey: "round-0"}}, ledger.AckDurable)
	if err != nil || !rs[0].Duplicate {
		t.Fatalf("idempotent retry after reopening: %+v, %v", rs, err)
	}
}
