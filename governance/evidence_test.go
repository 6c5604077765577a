package governance_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/evidence"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

var fastPasswords = domaintest.FastPasswords

// exportFixture returns a ledger in a temp dir (closed when the test
// ends), a manifest signer and a local package store.
func exportFixture(t *testing.T) (*ledger.Ledger, signature.Signer, objstore.Store) {
	t.Helper()
	l := domaintest.OpenLedger(t, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l, signer, local
}

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
	l, signer, local := exportFixture(t)
	stuck := &stuckStore{Store: local, entered: make(chan struct{}), release: make(chan struct{})}
	cfg := governance.Config{PasswordParams: &fastPasswords, Evidence: evidence.Config{Store: stuck, Signer: signer, TempDir: t.TempDir()}}
	first := mustNew(t, l, cfg)
	_, owner, err := first.Orgs.CreateOrg(ctx, orgs.NewOrg{ID: "acme", OwnerEmail: "o@example.com", OwnerPassword: secret.New("owner password 1")}, true)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := first.Sessions.Login(ctx, "acme", "o@example.com", secret.New("owner password 1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := first.Authenticate(ctx, tok)
	if err != nil || p.UserID != owner.UserID || p.Role != rbac.Owner {
		t.Fatalf("authenticate the owner: %+v %v", p, err)
	}
	x, err := first.Evidence.ExportPackage(ctx, p, evidence.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	<-stuck.entered // the first server is stuck storing the package

	cfg.Evidence.Store = local
	second := mustNew(t, l, cfg)
	defer second.Close()
	if err := second.RecoverJobs(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := second.Evidence.GetExport(ctx, p, x.ID)
	if err != nil || got.State != evidence.ExportFailed || got.Error == "" {
		t.Fatalf("export after recovery: %+v %v", got, err)
	}
	evs, _, err := second.Log.ListEvents(ctx, p, logapi.EventFilter{Types: []string{"evidence.export.failed"}}, 0, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("failure events: %v %v", evs, err)
	}
	close(stuck.release)
	first.Close()
	// The stuck job's own ending must not overwrite the recorded failure.
	if got, _ := second.Evidence.GetExport(ctx, p, x.ID); got.State != evidence.ExportFailed {
		t.Fatalf("state after the stuck job ended: %s", got.State)
	}
	if evs, _, _ := second.Log.ListEvents(ctx, p, logapi.EventFilter{Types: []string{"evidence.export.failed"}}, 0, ""); len(evs) != 1 {
		t.Fatalf("%d failure events, want 1", len(evs))
	}
}

// TestEarlierExportRecordsStayReadable: exports an earlier version
// recorded under export/<id> are listed with the export jobs in ID order,
// page by page; a finished one downloads, and one left running is failed
// once, with its event, at start.
func TestEarlierExportRecordsStayReadable(t *testing.T) {
	ctx := context.Background()
	l, signer, local := exportFixture(t)
	svc := mustNew(t, l, governance.Config{PasswordParams: &fastPasswords, Evidence: evidence.Config{Store: local, Signer: signer, TempDir: t.TempDir()}})
	defer svc.Close()
	if _, _, err := svc.Orgs.CreateOrg(ctx, orgs.NewOrg{ID: "acme", OwnerEmail: "o@example.com", OwnerPassword: secret.New("owner password 1")}, true); err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.Sessions.Login(ctx, "acme", "o@example.com", secret.New("owner password 1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}

	// An earlier version's records: one finished, with its package, and
	// one left running. "x0..." sorts before every new ID, "xz..." after.
	const doneID, runningID = "xzzzzzzzzzzzzzzzz", "x0000000000000000"
	pkg := []byte("an earlier package")
	obj, err := local.Put(ctx, "orgs/acme/exports/"+doneID+".zip", bytes.NewReader(pkg), int64(len(pkg)), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	o, err := store.New(l).Org("acme")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().UTC()
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: map[string]any{"type": "evidence.export.requested", "actor": "system", "subject": "export:" + runningID},
		Put: map[string]any{
			"export/" + doneID:    evidence.Export{ID: doneID, State: evidence.ExportSucceeded, Created: created, ObjectKey: obj.Key, SHA256: "00", Size: int64(len(pkg))},
			"export/" + runningID: evidence.Export{ID: runningID, State: evidence.ExportRunning, Created: created},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.RecoverJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.RecoverJobs(ctx); err != nil { // a second start changes nothing
		t.Fatal(err)
	}
	got, err := svc.Evidence.GetExport(ctx, p, runningID)
	if err != nil || got.State != evidence.ExportFailed || got.Error == "" {
		t.Fatalf("earlier export left running, after recovery: %+v %v", got, err)
	}
	evs, _, err := svc.Log.ListEvents(ctx, p, logapi.EventFilter{Types: []string{"evidence.export.failed"}}, 0, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("failure events: %v %v", evs, err)
	}

	x, err := svc.Evidence.ExportPackage(ctx, p, evidence.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for x.State == evidence.ExportRunning {
		if time.Now().After(deadline) {
			t.Fatalf("export %s still running after a minute", x.ID)
		}
		time.Sleep(10 * time.Millisecond)
		if x, err = svc.Evidence.GetExport(ctx, p, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	if x.State != evidence.ExportSucceeded || x.EventCount == 0 || x.EntriesScanned == 0 || x.RequestedBy != p.Actor() {
		t.Fatalf("new export: %+v", x)
	}

	var ids []string
	page := ""
	for {
		xs, next, err := svc.Evidence.ListExports(ctx, p, 1, page)
		if err != nil || len(xs) != 1 {
			t.Fatalf("list page %q: %v %v", page, xs, err)
		}
		ids = append(ids, xs[0].ID)
		if next == "" {
			break
		}
		page = next
	}
	if want := []string{runningID, x.ID, doneID}; !slices.Equal(ids, want) {
		t.Fatalf("listed %v, want %v", ids, want)
	}

	r, got, err := svc.Evidence.OpenPackage(ctx, p, doneID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || !bytes.Equal(b, pkg) || got.ID != doneID {
		t.Fatalf("earlier package: %q %+v %v", b, got, err)
	}
}

// mustNew returns a Service over l, or fails the test.
func mustNew(t *testing.T, l *ledger.Ledger, cfg governance.Config) *governance.Service {
	t.Helper()
	s, err := governance.New(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
