package evidence_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/evidence"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/internal/agentsig"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// env is one test's domain: evidence export on a job runner with a local
// package store and an ECDSA manifest key, and the features that make
// orgs and agents.
type env struct {
	*domaintest.People
	evidence *evidence.Service
	agents   *agents.Service
	key      *ecdsa.PrivateKey
	packages objstore.Store

	// held, when set, holds every export before it starts, until
	// releaseHeld; started gets each held export's ID.
	held     atomic.Bool
	started  chan string
	release  chan struct{}
	released sync.Once
}

// releaseHeld lets the held exports start.
func (e *env) releaseHeld() { e.released.Do(func() { close(e.release) }) }

type options struct {
	perOrg int
	held   bool
	// wrap, if set, wraps the package store.
	wrap func(objstore.Store) objstore.Store
}

func newEnv(t *testing.T, opt options) *env {
	t.Helper()
	people := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	f := people.F
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
	var packages objstore.Store = local
	if opt.wrap != nil {
		packages = opt.wrap(local)
	}
	e := &env{
		People: people, agents: agents.New(f.Env, people.Throttle), key: key, packages: packages,
		started: make(chan string, 16), release: make(chan struct{}),
	}
	e.held.Store(opt.held)
	runner := jobs.New(f.Store, jobs.Config{PerOrg: opt.perOrg, Clock: f.Clock.Now, BeforeStart: func(org, kind, id string) {
		if e.held.Load() && kind == evidence.JobKind {
			e.started <- id
			<-e.release
		}
	}})
	t.Cleanup(func() {
		runner.Close()
		e.evidence.Close()
	})
	t.Cleanup(e.releaseHeld) // before the runner closes
	e.evidence, err = evidence.New(f.Env, evidence.Config{Store: packages, Signer: signer, TempDir: t.TempDir(), PerOrg: opt.perOrg}, runner)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// commit appends events of typ and subject to org's log directly.
func (e *env) commit(t *testing.T, org, typ, subject string, n int) {
	t.Helper()
	cs := make([]store.Change, n)
	for i := range cs {
		cs[i] = store.Change{Event: core.NewEvent(domaintest.Ctx(), typ, "uintegration", subject, map[string]any{"i": i})}
	}
	if _, err := e.F.Org(t, org).Commit(domaintest.Ctx(), ledger.AckDurable, cs...); err != nil {
		t.Fatal(err)
	}
}

// recordEvidence has an agent of p's org submit content as evidence.
func (e *env) recordEvidence(t *testing.T, p *core.Principal, content []byte) string {
	t.Helper()
	ctx := domaintest.Ctx()
	join, _, err := e.agents.CreateJoinToken(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, id, err := e.agents.Enroll(ctx, join, pub, "host.example")
	if err != nil {
		t.Fatal(err)
	}
	task, err := e.agents.CreateTask(ctx, p, id, "users", "")
	if err != nil {
		t.Fatal(err)
	}
	now := e.F.Clock.Now()
	sum := sha256.Sum256(content)
	agent := &core.Principal{Org: p.Org, AgentID: id, Role: rbac.Agent}
	if _, err := e.agents.SubmitEvidence(ctx, agent, task.ID, []agents.EvidenceItem{{
		Collector: "users", Content: content, SHA256: sum[:], Collected: now,
		Signature: ed25519.Sign(key, agentsig.Evidence(p.Org, id, task.ID, "users", "", now, sum[:], nil)),
	}}); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sum[:])
}

// wait returns export id once it has ended and its end's event is
// durable: state is readable once applied, which may be just before the
// log's durable size includes its event (ledger.Org.State).
func (e *env) wait(t *testing.T, p *core.Principal, id string) evidence.Export {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		x, err := e.evidence.GetExport(domaintest.Ctx(), p, id)
		if err != nil {
			t.Fatal(err)
		}
		if x.State != evidence.ExportRunning && e.ended(t, p.Org, id) {
			return x
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still running", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// ended reports whether org's log holds the end of export id.
func (e *env) ended(t *testing.T, org, id string) bool {
	t.Helper()
	for _, ev := range e.F.Events(t, org) {
		if ev.Subject == "export:"+id && (ev.Type == ec.EvidenceExportCompleted || ev.Type == ec.EvidenceExportFailed) {
			return true
		}
	}
	return false
}

// export exports sc as p and waits for it to succeed.
func (e *env) export(t *testing.T, p *core.Principal, sc evidence.Scope) evidence.Export {
	t.Helper()
	x, err := e.evidence.ExportPackage(domaintest.Ctx(), p, sc)
	if err != nil {
		t.Fatal(err)
	}
	if x = e.wait(t, p, x.ID); x.State != evidence.ExportSucceeded {
		t.Fatalf("export %s: %+v", x.ID, x)
	}
	return x
}

// download opens export x's package as p and returns its bytes.
func (e *env) download(t *testing.T, p *core.Principal, id string) []byte {
	t.Helper()
	r, _, err := e.evidence.OpenPackage(domaintest.Ctx(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) pins(org string) archive.Pins {
	return archive.Pins{LogKey: e.F.Store.VerifierKey(), Origin: verify.Origin("test", org), SigningKey: &e.key.PublicKey}
}

// TestExportPackage: an export runs to success on the job runner with
// its events; its package downloads (recorded) and verifies offline
// against the pinned keys, holding every event in scope, the blobs they
// record, and consistency with the org's earlier package.
func TestExportPackage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ctx := domaintest.Ctx()
	p := e.CreateOrg(t, "acme")
	e.F.Clock.Advance(time.Second)
	e.commit(t, "acme", "custom.deploy", "svc:api", 3)
	e.F.Clock.Advance(time.Second)
	scopeStart := e.F.Clock.Now()
	e.commit(t, "acme", "custom.deploy", "svc:web", 2)
	e.commit(t, "acme", "custom.note", "svc:api", 1)
	blob := e.recordEvidence(t, p, []byte("alice:x:1000:1000::/home/alice:/bin/sh\n"))

	x, err := e.evidence.ExportPackage(ctx, p, evidence.Scope{})
	if err != nil || x.State != evidence.ExportRunning || x.RequestedBy != p.Actor() || core.ValidateID("export_id", x.ID) != nil {
		t.Fatalf("export: %+v %v", x, err)
	}
	// The request is acknowledged once a checkpoint covers it.
	req := e.F.EventsOfType(t, "acme", ec.EvidenceExportRequested)
	cp, err := e.F.Org(t, "acme").Log().Checkpoint(ctx)
	if err != nil || len(req) != 1 || req[0].Subject != "export:"+x.ID || req[0].Actor != p.Actor() || cp.Size <= req[0].Index {
		t.Fatalf("requested event %+v, checkpoint size %d, %v", req, cp.Size, err)
	}
	x = e.wait(t, p, x.ID)
	if x.State != evidence.ExportSucceeded || x.Error != "" || x.TreeSize <= req[0].Index || x.EventCount != x.TreeSize ||
		x.EntriesScanned != x.TreeSize || x.EntriesTotal != x.TreeSize || x.WORM || x.ObjectKey == "" ||
		!x.RetainUntil.Equal(e.F.Clock.Now().Add(ledger.DefaultRetention).Truncate(time.Second)) {
		t.Fatalf("export: %+v", x)
	}
	for _, typ := range []string{ec.EvidenceExportStarted, ec.EvidenceExportCompleted} {
		if evs := e.F.EventsOfType(t, "acme", typ); len(evs) != 1 || evs[0].Subject != "export:"+x.ID || evs[0].Actor != ec.System {
			t.Fatalf("%s events: %+v", typ, evs)
		}
	}
	var done struct {
		SHA256     string `json:"sha256"`
		Size       int64  `json:"size"`
		EventCount uint64 `json:"event_count"`
	}
	if err := json.Unmarshal(e.F.EventsOfType(t, "acme", ec.EvidenceExportCompleted)[0].Raw, &done); err != nil ||
		done.SHA256 != x.SHA256 || done.Size != x.Size || done.EventCount != x.EventCount {
		t.Fatalf("completed event %+v, export %+v (%v)", done, x, err)
	}

	if n := len(e.F.EventsOfType(t, "acme", ec.EvidencePackageDownloaded)); n != 0 {
		t.Fatalf("%d downloads before any", n)
	}
	pkg := e.download(t, p, x.ID)
	if sum := sha256.Sum256(pkg); hex.EncodeToString(sum[:]) != x.SHA256 || int64(len(pkg)) != x.Size {
		t.Fatalf("package of %d bytes, SHA-256 %x; the export says %d, %s", len(pkg), sum, x.Size, x.SHA256)
	}
	dl := e.F.EventsOfType(t, "acme", ec.EvidencePackageDownloaded)
	if len(dl) != 1 || dl[0].Actor != p.Actor() || dl[0].Subject != "export:"+x.ID ||
		!strings.Contains(string(dl[0].Raw), `"via":"stream"`) || !strings.Contains(string(dl[0].Raw), x.SHA256) {
		t.Fatalf("downloaded events: %+v", dl)
	}
	rep, err := archive.Verify(bytes.NewReader(pkg), int64(len(pkg)), e.pins("acme"))
	if err != nil {
		t.Fatalf("verify the package: %v", err)
	}
	if rep.Org != "acme" || rep.TreeSize != x.TreeSize || rep.Events.Count != x.EventCount || rep.Events.FirstIndex != 0 ||
		rep.Events.LastIndex != x.TreeSize-1 || rep.Gaps != 0 || rep.Blobs != 1 || rep.Types["custom.deploy"] != 5 ||
		rep.Types[ec.EvidenceRecorded] != 1 || len(rep.Consistency) != 0 || !bytes.Equal(rep.Checkpoint, x.Checkpoint) {
		t.Fatalf("package report: %+v", rep)
	}
	// The verifier is not satisfied by any key.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pins := e.pins("acme")
	pins.SigningKey = &other.PublicKey
	if _, err := archive.Verify(bytes.NewReader(pkg), int64(len(pkg)), pins); !errors.Is(err, archive.ErrPackage) {
		t.Fatalf("verified under another signing key: %v", err)
	}
	if _, err := archive.Verify(bytes.NewReader(pkg), int64(len(pkg)), e.pins("globex")); err == nil {
		t.Fatal("verified for another org's origin")
	}

	// A scoped export holds only its scope, and proves its checkpoint
	// consistent with the first package's.
	e.F.Clock.Advance(time.Second)
	sc := evidence.Scope{Types: []string{"custom.deploy", ec.EvidenceRecorded}, StartTime: scopeStart}
	x2 := e.export(t, p, sc)
	if x2.TreeSize <= x.TreeSize || x2.EventCount != 3 {
		t.Fatalf("scoped export: %+v", x2)
	}
	pkg2 := e.download(t, p, x2.ID)
	rep2, err := archive.Verify(bytes.NewReader(pkg2), int64(len(pkg2)), e.pins("acme"))
	if err != nil {
		t.Fatalf("verify the scoped package: %v", err)
	}
	if rep2.Events.Count != 3 || rep2.Types["custom.deploy"] != 2 || rep2.Types[ec.EvidenceRecorded] != 1 || len(rep2.Types) != 2 ||
		rep2.Blobs != 1 || len(rep2.Consistency) != 1 || rep2.Consistency[0] != x.TreeSize ||
		!rep2.Scope.StartTime.Equal(scopeStart) || len(rep2.Scope.Types) != 2 {
		t.Fatalf("scoped package report: %+v", rep2)
	}
	stored, err := agents.LoadEvidence(ctx, e.F.Org(t, "acme"), blob)
	if err != nil || len(stored) == 0 {
		t.Fatalf("evidence %s: %v", blob, err)
	}
	if n := len(e.F.EventsOfType(t, "acme", ec.EvidencePackageDownloaded)); n != 2 {
		t.Fatalf("%d downloads recorded, want 2", n)
	}

	xs, next, err := e.evidence.ListExports(ctx, p, 0, "")
	if err != nil || len(xs) != 2 || next != "" {
		t.Fatalf("exports: %+v %q %v", xs, next, err)
	}
}

// TestExportPackageRefusesBadScopes before recording anything.
func TestExportPackageRefusesBadScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	p := e.CreateOrg(t, "acme")
	many := make([]string, evidence.MaxScopeFilters+1)
	for i := range many {
		many[i] = fmt.Sprintf("custom.t%d", i)
	}
	now := e.F.Clock.Now()
	before := e.F.LogSize(t, "acme")
	for _, c := range []struct {
		name string
		sc   evidence.Scope
	}{
		{"unknown type", evidence.Scope{Types: []string{"nosuch.event"}}},
		{"unknown type beside a known one", evidence.Scope{Types: []string{"org.created", "custom.a b"}}},
		{"empty type", evidence.Scope{Types: []string{""}}},
		{"too many types", evidence.Scope{Types: many}},
		{"too many subjects", evidence.Scope{Subjects: many}},
		{"empty subject", evidence.Scope{Subjects: []string{""}}},
		{"control character in subject", evidence.Scope{Subjects: []string{"svc\n"}}},
		{"start equals end", evidence.Scope{StartTime: now, EndTime: now}},
		{"start after end", evidence.Scope{StartTime: now.Add(time.Second), EndTime: now}},
	} {
		_, err := e.evidence.ExportPackage(domaintest.Ctx(), p, c.sc)
		domaintest.WantKind(t, c.name, err, errs.InvalidArgument)
	}
	if after := e.F.LogSize(t, "acme"); after != before {
		t.Fatalf("refused exports appended %d events", after-before)
	}
	if xs, _, err := e.evidence.ListExports(domaintest.Ctx(), p, 0, ""); err != nil || len(xs) != 0 {
		t.Fatalf("exports: %+v %v", xs, err)
	}
}

// TestExportsPerOrg: an org at its cap of exports is refused before
// anything is written, while another org's export goes ahead; a package
// not yet built is not downloadable.
func TestExportsPerOrg(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{perOrg: 1, held: true})
	ctx := domaintest.Ctx()
	p := e.CreateOrg(t, "acme")
	q := e.CreateOrg(t, "globex")
	x1, err := e.evidence.ExportPackage(ctx, p, evidence.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if id := <-e.started; id != x1.ID {
		t.Fatalf("started %s, want %s", id, x1.ID)
	}
	before := e.F.LogSize(t, "acme")
	_, err = e.evidence.ExportPackage(ctx, p, evidence.Scope{})
	domaintest.WantKind(t, "a second export of an org with a cap of 1", err, errs.RateLimited)
	if after := e.F.LogSize(t, "acme"); after != before {
		t.Fatalf("the refused export appended %d events", after-before)
	}
	// Another org has its own cap.
	y, err := e.evidence.ExportPackage(ctx, q, evidence.Scope{})
	if err != nil {
		t.Fatalf("another org's export: %v", err)
	}
	// Not downloadable while it runs, and nothing is recorded.
	if got, err := e.evidence.GetExport(ctx, p, x1.ID); err != nil || got.State != evidence.ExportRunning {
		t.Fatalf("held export: %+v %v", got, err)
	}
	_, _, err = e.evidence.OpenPackage(ctx, p, x1.ID)
	domaintest.WantKind(t, "download of a running export", err, errs.Precondition)
	_, _, err = e.evidence.DownloadURL(ctx, p, x1.ID)
	domaintest.WantKind(t, "download URL of a running export", err, errs.Precondition)
	if n := len(e.F.EventsOfType(t, "acme", ec.EvidencePackageDownloaded)); n != 0 {
		t.Fatalf("%d downloads of a running export recorded", n)
	}

	e.releaseHeld()
	if x := e.wait(t, p, x1.ID); x.State != evidence.ExportSucceeded {
		t.Fatalf("held export: %+v", x)
	}
	if x := e.wait(t, q, y.ID); x.State != evidence.ExportSucceeded {
		t.Fatalf("globex's export: %+v", x)
	}
	// Once it has ended, the org may export again.
	e.held.Store(false)
	e.export(t, p, evidence.Scope{})
	// A local store hands out no URLs, and that is said before anything
	// is recorded.
	_, _, err = e.evidence.DownloadURL(ctx, p, x1.ID)
	domaintest.WantKind(t, "download URL from a local store", err, errs.Precondition)
	if n := len(e.F.EventsOfType(t, "acme", ec.EvidencePackageDownloaded)); n != 0 {
		t.Fatalf("%d downloads recorded without one", n)
	}
}

// TestExportsOfAnotherOrg are NotFound, for reading and downloading.
func TestExportsOfAnotherOrg(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ctx := domaintest.Ctx()
	p := e.CreateOrg(t, "acme")
	q := e.CreateOrg(t, "globex")
	x := e.export(t, p, evidence.Scope{})

	_, err := e.evidence.GetExport(ctx, q, x.ID)
	domaintest.WantKind(t, "GetExport of another org's export", err, errs.NotFound)
	_, _, err = e.evidence.OpenPackage(ctx, q, x.ID)
	domaintest.WantKind(t, "OpenPackage of another org's export", err, errs.NotFound)
	_, _, err = e.evidence.DownloadURL(ctx, q, x.ID)
	domaintest.WantKind(t, "DownloadURL of another org's export", err, errs.NotFound)
	if xs, _, err := e.evidence.ListExports(ctx, q, 0, ""); err != nil || len(xs) != 0 {
		t.Fatalf("globex's exports: %+v %v", xs, err)
	}
	for _, org := range []string{"acme", "globex"} {
		if n := len(e.F.EventsOfType(t, org, ec.EvidencePackageDownloaded)); n != 0 {
			t.Fatalf("%d downloads recorded in %s", n, org)
		}
	}
	_, err = e.evidence.GetExport(ctx, p, "xnosuchexport000")
	domaintest.WantKind(t, "an unknown export", err, errs.NotFound)
	_, err = e.evidence.GetExport(ctx, p, "../"+x.ID)
	domaintest.WantKind(t, "a malformed export ID", err, errs.InvalidArgument)
}

// failingStore fails every Put with an error naming a path.
type failingStore struct{ objstore.Store }

func (failingStore) Put(context.Context, string, io.Reader, int64, time.Time) (objstore.Object, error) {
	return objstore.Object{}, errors.New("open /var/lib/nuxari/secret-path: permission denied")
}

// TestExportFailure is recorded with a fixed reason, never the error's
// text, and leaves nothing to download.
func TestExportFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{wrap: func(s objstore.Store) objstore.Store { return failingStore{s} }})
	ctx := domaintest.Ctx()
	p := e.CreateOrg(t, "acme")
	x, err := e.evidence.ExportPackage(ctx, p, evidence.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	x = e.wait(t, p, x.ID)
	if x.State != evidence.ExportFailed || !strings.Contains(x.Error, x.ID) || strings.Contains(x.Error, "secret-path") || x.SHA256 != "" {
		t.Fatalf("failed export: %+v", x)
	}
	failed := e.F.EventsOfType(t, "acme", ec.EvidenceExportFailed)
	if len(failed) != 1 || failed[0].Subject != "export:"+x.ID || strings.Contains(string(failed[0].Raw), "secret-path") {
		t.Fatalf("failed events: %+v", failed)
	}
	_, _, err = e.evidence.OpenPackage(ctx, p, x.ID)
	domaintest.WantKind(t, "download of a failed export", err, errs.Precondition)
}

// TestNoPackageStore: a server with no package store has a nil Service,
// which refuses every call.
func TestNoPackageStore(t *testing.T) {
	t.Parallel()
	f := domaintest.New(t)
	runner := jobs.New(f.Store, jobs.Config{Clock: f.Clock.Now})
	defer runner.Close()
	if s, err := evidence.New(f.Env, evidence.Config{}, runner); err == nil || s != nil {
		t.Fatalf("a Service with no package store: %v %v", s, err)
	}
	var s *evidence.Service
	ctx := domaintest.Ctx()
	p := domaintest.Principal("acme", "u1", rbac.Owner)
	_, err := s.ExportPackage(ctx, p, evidence.Scope{})
	domaintest.WantKind(t, "ExportPackage", err, errs.Precondition)
	_, err = s.GetExport(ctx, p, "x1")
	domaintest.WantKind(t, "GetExport", err, errs.Precondition)
	_, _, err = s.ListExports(ctx, p, 0, "")
	domaintest.WantKind(t, "ListExports", err, errs.Precondition)
	_, _, err = s.OpenPackage(ctx, p, "x1")
	domaintest.WantKind(t, "OpenPackage", err, errs.Precondition)
	_, _, err = s.DownloadURL(ctx, p, "x1")
	domaintest.WantKind(t, "DownloadURL", err, errs.Precondition)
	_, err = s.SigningKey()
	domaintest.WantKind(t, "SigningKey", err, errs.Precondition)
}
