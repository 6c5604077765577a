package ledger_test

import (
	"context"
	"testing"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

func TestSmoke(t *testing.T) {
	cfg := testConfig(t)
	l := openLedger(t, cfg)
	ctx := context.Background()
	rs := appendN(t, l, "acme", 10, ledger.AckCheckpoint)
	cp := rs[9].Checkpoint
	if cp == nil || cp.Size < 10 {
		t.Fatalf("checkpoint %+v", cp)
	}
	v, err := verify.NewVerifier(l.VerifierKey(), l.Origin("acme"))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := v.Checkpoint(cp.Note)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 10; i++ {
		p, err := l.InclusionProof(ctx, "acme", i, vc.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify.Inclusion(rs[i].LeafHash, i, vc.Size, p, vc.Root); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s", cp.Note)
}
