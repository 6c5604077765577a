package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/ledger"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// BenchmarkExportMillion exports a package of 1,000,000 events through
// the server (two passes over the log, the batch proof, the signed
// manifest, the local store) and verifies it offline. It reports the
// export and verification rates and the package size.
func BenchmarkExportMillion(b *testing.B) {
	const events = 1_000_000
	ts := servertest.Start(b)
	tok, _ := ts.Signup(b, "big", "b@example.com", "bench password")
	c := ts.Clients(tok)
	ctx := context.Background()
	start := time.Now()
	batch := make([]ledger.Entry, 1000)
	for i := range batch {
		batch[i] = ledger.Entry{Event: []byte(`{"actor":"bench","data":{"host":"db-01","ok":true},"type":"custom.bench"}`)}
	}
	for n := 0; n < events; n += len(batch) {
		if _, err := ts.Ledger().Append(ctx, "big", batch, ledger.AckDurable); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("appended %d events in %v", events, time.Since(start))
	size, _ := ts.Ledger().Size("big")
	for {
		cp, err := c.Ledger.GetCheckpoint(ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{}))
		if err == nil && cp.Msg.Checkpoint.Size >= size {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for b.Loop() {
		t0 := time.Now()
		res, err := c.Evidence.ExportPackage(ctx, connect.NewRequest(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: []string{"custom.bench"}}}))
		if err != nil {
			b.Fatal(err)
		}
		var x *nuxariv1.Export
		for {
			g, err := c.Evidence.GetExport(ctx, connect.NewRequest(&nuxariv1.GetExportRequest{ExportId: res.Msg.Export.ExportId}))
			if err != nil {
				b.Fatal(err)
			}
			if x = g.Msg.Export; x.State != nuxariv1.ExportState_EXPORT_STATE_RUNNING {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if x.State != nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED || x.EventCount != events {
			b.Fatalf("export: %v", x)
		}
		exportTime := time.Since(t0)
		key, err := c.Evidence.GetSigningKey(ctx, connect.NewRequest(&nuxariv1.GetSigningKeyRequest{}))
		if err != nil {
			b.Fatal(err)
		}
		cp, _ := c.Ledger.GetCheckpoint(ctx, connect.NewRequest(&nuxariv1.GetCheckpointRequest{}))
		path := filepath.Join(ts.DataDir, "evidence", "orgs", "big", "exports", x.ExportId+".zip")
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		rep, err := archive.Verify(f, x.SizeBytes, archive.Pins{LogKey: cp.Msg.VerifierKey, Origin: "nuxari/orgs/big", SigningKey: bytes.Clone([]byte(key.Msg.PublicKeyPem))})
		verifyTime := time.Since(t1)
		f.Close()
		if err != nil || rep.Events.Count != events {
			b.Fatalf("verify: %v", err)
		}
		b.ReportMetric(events/exportTime.Seconds(), "export-events/s")
		b.ReportMetric(events/verifyTime.Seconds(), "verify-events/s")
		b.ReportMetric(float64(x.SizeBytes)/events, "package-B/event")
		b.Logf("package %d MB, export %v, verify %v", x.SizeBytes>>20, exportTime, verifyTime)
	}
}
