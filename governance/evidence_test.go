package governance_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
	"github.com/sigstore/sigstore/pkg/signature"
)

// stuckStore holds every Put until released, like a store that hangs.
type stuckStore struct {
	objstore.Store
	entered, release chan struct{}
}

func (s *stuckStore) Put(ctx context.Context, key string, r io.Reader, size int64, until time.Time) (objstore.Object, error) {
	close(s.entered)
	<-s.release
	return objstore.Object{}, context.Canceled
}

// TestExportsLeftRunningAreFailedOnStart: an export whose server stopped
// mid-way is recorded as failed, with its event, when a server starts.
func TestExportsLeftRunningAreFailedOnStart(t *testing.T) {
	ctx := context.Background()
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Dir: t.TempDir(), LogName: "test", Signer: s, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := signature.LoadSigner(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stuck := &stuckStore{Store: local, entered: make(chan struct{}), release: make(chan struct{})}
	fast := password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg := governance.Config{PasswordParams: &fast, Evidence: governance.EvidenceConfig{Store: stuck, Signer: signer, TempDir: t.TempDir()}}
	first := governance.New(l, cfg)
	_, owner, err := first.CreateOrg(ctx, governance.NewOrg{ID: "acme", OwnerEmail: "o@example.com", OwnerPassword: secret.New("owner password 1")}, true)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := first.Login(ctx, "acme", "o@example.com", secret.New("owner password 1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := first.Authenticate(ctx, tok)
	if err != nil || p.UserID != owner.UserID || p.Role != rbac.Owner {
		t.Fatalf("authenticate the owner: %+v %v", p, err)
	}
	x, err := first.ExportPackage(ctx, p, governance.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	<-stuck.entered // the first server is stuck storing the package

	cfg.Evidence.Store = local
	second := governance.New(l, cfg)
	defer second.Close()
	if err := second.RecoverExports(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := second.GetExport(ctx, p, x.ID)
	if err != nil || got.State != governance.ExportFailed || got.Error == "" {
		t.Fatalf("export after recovery: %+v %v", got, err)
	}
	evs, _, err := second.ListEvents(ctx, p, governance.EventFilter{Types: []string{"evidence.export.failed"}}, 0, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("failure events: %v %v", evs, err)
	}
	close(stuck.release)
	first.Close()
	// The stuck job's own ending must not overwrite the recorded failure.
	if got, _ := second.GetExport(ctx, p, x.ID); got.State != governance.ExportFailed {
		t.Fatalf("state after the stuck job ended: %s", got.State)
	}
	if evs, _, _ := second.ListEvents(ctx, p, governance.EventFilter{Types: []string{"evidence.export.failed"}}, 0, ""); len(evs) != 1 {
		t.Fatalf("%d failure events, want 1", len(evs))
	}
}
