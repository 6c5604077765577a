package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger"
)

// TestMakeLayout1Fixture writes testdata/layout1: a ledger in the storage
// layout of the first release (leaf records and per-leaf node records),
// with what it served, for the migration tests. It runs only with
// NUXARI_MAKE_LAYOUT1=1, on the code of that layout.
func TestMakeLayout1Fixture(t *testing.T) {
	if os.Getenv("NUXARI_MAKE_LAYOUT1") != "1" {
		t.Skip("set NUXARI_MAKE_LAYOUT1=1 to rewrite testdata/layout1")
	}
	out := filepath.Join("testdata", "layout1")
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "nuxari-fixture")
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := ledger.Config{Dir: filepath.Join(out, "ledger"), LogName: "nuxari-fixture", Signer: s, VerifierKey: vkey, Clock: clock, CheckpointInterval: time.Millisecond}
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Org sizes cover one leaf, a tile and one more, several tiles with a
	// partial one, and a purged prefix.
	sizes := map[string][]int{"acme": {1, 300, 700, 1, 2000, 333}, "beta": {1}, "gamma": {256, 1}, "delta": {100, 500}}
	for org, batches := range sizes {
		n := 0
		for bi, b := range batches {
			es := make([]ledger.Entry, b)
			for i := range es {
				es[i] = ledger.Entry{Event: fmt.Appendf(nil, `{"n":%d,"org":%q,"type":"fixture"}`, n, org)}
				if i == 0 {
					es[i].IdempotencyKey = fmt.Sprintf("k-%d", bi)
					es[i].Writes = []ledger.Write{{Key: []byte("state/" + org), Value: fmt.Appendf(nil, "%d", n)}}
				}
				n++
			}
			if _, err := l.Append(ctx, org, es, ledger.AckCheckpoint); err != nil {
				t.Fatal(err)
			}
			now = now.Add(24 * time.Hour)
		}
	}
	// delta's first 100 leaves are past a 2-day window.
	if err := l.SetRetention(ctx, "delta", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := l.Purge(ctx, "delta"); err != nil {
		t.Fatal(err)
	}
	// What it served: every checkpoint, and proofs between them.
	type proofs struct {
		Checkpoints []string            `json:"checkpoints"`
		Inclusion   map[string][]string `json:"inclusion"`   // "index/size"
		Consistency map[string][]string `json:"consistency"` // "size1/size2"
		LeafHashes  []string            `json:"leaf_hashes"`
	}
	fx := struct {
		SignerKey   string             `json:"signer_key"`
		VerifierKey string             `json:"verifier_key"`
		LogName     string             `json:"log_name"`
		Orgs        map[string]*proofs `json:"orgs"`
	}{skey, vkey, cfg.LogName, map[string]*proofs{}}
	b64 := func(hs [][]byte) []string {
		var s []string
		for _, h := range hs {
			s = append(s, base64.StdEncoding.EncodeToString(h))
		}
		return s
	}
	for org := range sizes {
		p := &proofs{Inclusion: map[string][]string{}, Consistency: map[string][]string{}}
		fx.Orgs[org] = p
		var cps []uint64
		if err := l.CheckpointSizes(ctx, org, func(n uint64) bool { cps = append(cps, n); return true }); err != nil {
			t.Fatal(err)
		}
		for _, n := range cps {
			cp, err := l.CheckpointAt(ctx, org, n)
			if err != nil {
				t.Fatal(err)
			}
			p.Checkpoints = append(p.Checkpoints, string(cp.Note))
		}
		size, _ := l.Size(org)
		if err := l.Leaves(ctx, org, 0, size, func(lf ledger.Leaf) error {
			p.LeafHashes = append(p.LeafHashes, base64.StdEncoding.EncodeToString(lf.Hash))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, n := range cps {
			for _, i := range []uint64{0, n / 3, n / 2, n - 1} {
				pr, err := l.InclusionProof(ctx, org, i, n)
				if err != nil {
					t.Fatal(err)
				}
				p.Inclusion[fmt.Sprintf("%d/%d", i, n)] = b64(pr)
			}
			for _, m := range cps {
				if m < n {
					pr, err := l.ConsistencyProof(ctx, org, m, n)
					if err != nil {
						t.Fatal(err)
					}
					p.Consistency[fmt.Sprintf("%d/%d", m, n)] = b64(pr)
				}
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := json.MarshalIndent(fx, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "served.json"), j, 0o644); err != nil {
		t.Fatal(err)
	}
}
