package ledger_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger"
)

// testKey is one signer key per test binary run.
var testKey = sync.OnceValues(func() (string, error) {
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "nuxari-test")
	return skey, err
})

// testConfig returns a Config on a fresh temporary directory.
func testConfig(t testing.TB) ledger.Config {
	t.Helper()
	skey, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Config{Dir: t.TempDir(), LogName: "nuxari-test", Signer: s, VerifierKey: vkey, CacheSize: 32 << 20}
}

// openLedger opens a ledger with cfg and closes it when the test ends.
func openLedger(t testing.TB, cfg ledger.Config) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// event returns a small JSON event.
func event(format string, args ...any) []byte {
	return fmt.Appendf(nil, `{"type":"test","n":%q}`, fmt.Sprintf(format, args...))
}

// appendN appends n single-entry events to org and returns their receipts.
func appendN(t testing.TB, l *ledger.Ledger, org string, n int, ack ledger.Ack) []ledger.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	entries := make([]ledger.Entry, n)
	for i := range entries {
		entries[i] = ledger.Entry{Event: event("%s-%d", org, i)}
	}
	rs, err := l.Append(ctx, org, entries, ack)
	if err != nil {
		t.Fatalf("Append(%q, %d entries): %v", org, n, err)
	}
	return rs
}

// rootFromInclusion computes the root a valid inclusion proof implies.
func rootFromInclusion(leafHash []byte, index, size uint64, p [][]byte) ([]byte, error) {
	return proof.RootFromInclusionProof(rfc6962.DefaultHasher, index, size, leafHash, p)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
