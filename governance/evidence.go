package governance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"io"
	"iter"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Evidence export limits.
const (
	// MaxScopeFilters bounds the types and subjects of a scope.
	MaxScopeFilters = 64
	// PresignExpiry is how long a download URL works.
	PresignExpiry = 5 * time.Minute
	// maxConsistencyCheckpoints bounds the earlier exports' checkpoints a
	// package proves consistency from.
	maxConsistencyCheckpoints = 8
	prefixExport              = "export/"
)

// EvidenceConfig is where packages go and what signs them.
type EvidenceConfig struct {
	// Store keeps packages write-once.
	Store objstore.Store
	// Signer signs manifests; PublicKeyPEM is its public key.
	Signer       signature.Signer
	PublicKeyPEM []byte
	// TempDir holds packages while they are built (default os.TempDir()).
	TempDir string
}

// Export states.
const (
	ExportRunning   = "running"
	ExportSucceeded = "succeeded"
	ExportFailed    = "failed"
)

// Scope selects the events of a package; zero fields select all. It is
// the scope the package's manifest states and its verifier checks.
type Scope = archive.Scope

// Export is an export job and its package.
type Export struct {
	ID             string    `json:"id"`
	State          string    `json:"state"`
	Scope          Scope     `json:"scope"`
	RequestedBy    string    `json:"requested_by"`
	Created        time.Time `json:"created"`
	Completed      time.Time `json:"completed,omitzero"`
	EntriesScanned uint64    `json:"entries_scanned,omitempty"`
	EntriesTotal   uint64    `json:"entries_total,omitempty"`
	EventCount     uint64    `json:"event_count,omitempty"`
	TreeSize       uint64    `json:"tree_size,omitempty"`
	Checkpoint     []byte    `json:"checkpoint,omitempty"`
	ObjectKey      string    `json:"object_key,omitempty"`
	SHA256         string    `json:"sha256,omitempty"`
	Size           int64     `json:"size,omitempty"`
	Error          string    `json:"error,omitempty"`
	RetainUntil    time.Time `json:"retain_until,omitzero"`
	WORM           bool      `json:"worm,omitempty"`
}

// exporter runs export jobs in the background: ExportWorkers at once,
// each org's in order, shared fairly across orgs (see fairQueue for the
// bound on how long one org's export waits behind others').
type exporter struct {
	cfg      EvidenceConfig
	queue    *fairQueue[exportJob]
	progress sync.Map // export ID → *exportProgress
	wg       sync.WaitGroup
	stop     context.CancelFunc
	ctx      context.Context
}

type exportJob struct {
	o  store.Org
	id string
}

type exportProgress struct{ scanned, total atomic.Uint64 }

func (s *Service) startExporter() {
	if s.cfg.Evidence.Store == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &exporter{cfg: s.cfg.Evidence, queue: newFairQueue[exportJob](s.cfg.ExportsPerOrg), ctx: ctx, stop: cancel}
	if e.cfg.TempDir == "" {
		e.cfg.TempDir = os.TempDir()
	}
	s.exports = e
	for range s.cfg.ExportWorkers {
		e.wg.Go(func() {
			for {
				org, j, ok := e.queue.next(ctx)
				if !ok {
					return
				}
				s.runExport(ctx, j)
				e.queue.done(org)
			}
		})
	}
}

// Close stops the sweeper and the export workers; a running export
// fails, and one still queued is recorded as failed on the next start.
func (s *Service) Close() {
	if s.sweepStop != nil {
		s.sweepStop()
	}
	s.bg.Wait()
	if s.exports != nil {
		s.exports.stop()
		s.exports.wg.Wait()
		if c, ok := s.exports.cfg.Store.(io.Closer); ok {
			c.Close()
		}
	}
}

var errNoEvidence = errorf(ErrPrecondition, "evidence export is not configured on this server")

func validateScope(sc *Scope) error {
	if len(sc.Types) > MaxScopeFilters || len(sc.Subjects) > MaxScopeFilters {
		return invalid("scope: at most %d types and %d subjects", MaxScopeFilters, MaxScopeFilters)
	}
	for _, t := range sc.Types {
		if err := validateText("scope.types", t, 128, true); err != nil {
			return err
		}
		if err := validateKnownType("scope.types", t); err != nil {
			return err
		}
	}
	for _, t := range sc.Subjects {
		if err := validateText("scope.subjects", t, 128, true); err != nil {
			return err
		}
	}
	if !sc.StartTime.IsZero() && !sc.EndTime.IsZero() && !sc.StartTime.Before(sc.EndTime) {
		return invalid("scope: start_time must be before end_time")
	}
	return nil
}

// ExportPackage starts exporting the principal's org's events in scope
// ("evidence.export.requested", before the answer).
func (s *Service) ExportPackage(ctx context.Context, p *Principal, sc Scope) (Export, error) {
	if s.exports == nil {
		return Export{}, errNoEvidence
	}
	if err := validateScope(&sc); err != nil {
		return Export{}, err
	}
	// A place in the org's queue is taken before anything is recorded: an
	// export refused for capacity leaves nothing in the log.
	if !s.exports.queue.reserve(p.Org) {
		return Export{}, errorf(ErrRateLimited, "the org has %d exports queued or running, the most it may have; export again when one ends", s.cfg.ExportsPerOrg)
	}
	x := Export{ID: newID("x"), State: ExportRunning, Scope: sc, RequestedBy: p.Actor(), Created: s.cfg.Clock().UTC()}
	// Acknowledged once a checkpoint covers the request, so that the
	// package covers everything before it.
	if _, err := s.orgOf(p).Commit(ctx, ledger.AckCheckpoint, store.Change{
		Event:   newEvent(ctx, ec.EvidenceExportRequested, p.Actor(), "export:"+x.ID, map[string]any{"scope": sc}),
		Require: map[string][]byte{prefixExport + x.ID: nil},
		Put:     map[string]any{prefixExport + x.ID: x},
	}); err != nil {
		s.exports.queue.unreserve(p.Org)
		return Export{}, conflict(err)
	}
	s.exports.progress.Store(x.ID, &exportProgress{})
	s.exports.queue.push(p.Org, exportJob{o: s.orgOf(p), id: x.ID})
	return x, nil
}

func (s *Service) export(ctx context.Context, o store.Org, id string) (Export, []byte, error) {
	if err := validateID("export_id", id); err != nil {
		return Export{}, nil, err
	}
	var x Export
	raw, err := o.GetJSON(ctx, prefixExport+id, &x)
	if err != nil {
		return Export{}, nil, notFoundAs(err, errorf(ErrNotFound, "export"))
	}
	if x.State == ExportRunning && s.exports != nil {
		if pr, ok := s.exports.progress.Load(id); ok {
			x.EntriesScanned, x.EntriesTotal = pr.(*exportProgress).scanned.Load(), pr.(*exportProgress).total.Load()
		}
	}
	return x, raw, nil
}

// GetExport returns an export of the principal's org.
func (s *Service) GetExport(ctx context.Context, p *Principal, id string) (Export, error) {
	x, _, err := s.export(ctx, s.orgOf(p), id)
	return x, err
}

// ListExports lists the org's exports in ID order.
func (s *Service) ListExports(ctx context.Context, p *Principal, size int32, pageToken string) ([]Export, string, error) {
	return listPage(ctx, s, s.orgOf(p), prefixExport, size, pageToken, func(x *Export) Export { return *x })
}

// SigningKey returns the PEM public key that signs manifests.
func (s *Service) SigningKey() ([]byte, error) {
	if s.exports == nil {
		return nil, errNoEvidence
	}
	return s.cfg.Evidence.PublicKeyPEM, nil
}

func (s *Service) downloadable(ctx context.Context, p *Principal, id, via string) (Export, error) {
	if s.exports == nil {
		return Export{}, errNoEvidence
	}
	o := s.orgOf(p)
	x, _, err := s.export(ctx, o, id)
	if err != nil {
		return Export{}, err
	}
	if x.State != ExportSucceeded {
		return Export{}, errorf(ErrPrecondition, "export %s is %s", x.ID, x.State)
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: newEvent(ctx, ec.EvidencePackageDownloaded, p.Actor(), "export:"+x.ID, map[string]any{"via": via, "sha256": x.SHA256}),
	})
	return x, err
}

// DownloadURL returns a presigned URL of a finished package
// ("evidence.package.downloaded").
func (s *Service) DownloadURL(ctx context.Context, p *Principal, id string) (string, time.Time, error) {
	if s.exports == nil {
		return "", time.Time{}, errNoEvidence
	}
	// Checked before the audit event: nothing is handed out. The export
	// must exist first, so that another org's ID is NotFound whatever the
	// storage.
	if _, _, err := s.export(ctx, s.orgOf(p), id); err != nil {
		return "", time.Time{}, err
	}
	if !s.exports.cfg.Store.WORM() {
		return "", time.Time{}, errorf(ErrPrecondition, "this server keeps packages in a local directory, which has no download URLs; use DownloadPackage")
	}
	x, err := s.downloadable(ctx, p, id, "presigned_url")
	if err != nil {
		return "", time.Time{}, err
	}
	u, err := s.exports.cfg.Store.PresignGet(ctx, x.ObjectKey, PresignExpiry)
	if err != nil {
		return "", time.Time{}, err
	}
	return u, s.cfg.Clock().Add(PresignExpiry), nil
}

// OpenPackage opens a finished package for streaming
// ("evidence.package.downloaded").
func (s *Service) OpenPackage(ctx context.Context, p *Principal, id string) (io.ReadCloser, Export, error) {
	x, err := s.downloadable(ctx, p, id, "stream")
	if err != nil {
		return nil, Export{}, err
	}
	r, _, err := s.exports.cfg.Store.Open(ctx, x.ObjectKey)
	return r, x, err
}

// RecoverExports marks exports that a stopped server left running as
// failed ("evidence.export.failed").
func (s *Service) RecoverExports(ctx context.Context) error {
	for _, o := range s.store.Orgs() {
		var stale []Export
		err := o.Scan(ctx, prefixExport, "", func(_ string, v []byte) bool {
			var x Export
			if json.Unmarshal(v, &x) == nil && x.State == ExportRunning {
				stale = append(stale, x)
			}
			return true
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, x := range stale {
			if err := s.finishExport(ctx, o, x, nil, failedRestart); err != nil {
				return err
			}
		}
	}
	return nil
}

// Why an export failed, as its record and its "evidence.export.failed"
// event say. These are fixed texts: a path, an internal error or a
// dependency's message never reaches the org's permanent log or a
// response; the detail is in the server log under the export ID.
const (
	failedRestart  = "interrupted by a server restart; export again"
	failedShutdown = "interrupted by a server shutdown; export again"
)

func failedInternal(id string) string {
	return "export failed; the server log has details under export ID " + id
}

// finishExport records the end of an export: its package (done), or
// failure, a caller-safe reason why it failed.
func (s *Service) finishExport(ctx context.Context, o store.Org, x Export, done *Export, failure string) error {
	var cur Export
	raw, err := o.GetJSON(ctx, prefixExport+x.ID, &cur)
	if err != nil {
		return err
	}
	if cur.State != ExportRunning {
		return nil // already ended, e.g. failed by a restart's recovery
	}
	typ, data := ec.EvidenceExportCompleted, map[string]any{}
	if done == nil {
		cur.State, cur.Error = ExportFailed, failure
		typ, data["error"] = ec.EvidenceExportFailed, cur.Error
	} else {
		cur = *done
		cur.State = ExportSucceeded
		data["sha256"], data["size"], data["event_count"], data["tree_size"] = cur.SHA256, cur.Size, cur.EventCount, cur.TreeSize
		data["retain_until"], data["worm"] = cur.RetainUntil, cur.WORM
	}
	cur.Completed = s.cfg.Clock().UTC()
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   newEvent(ctx, typ, ec.System, "export:"+x.ID, data),
		Require: map[string][]byte{prefixExport + x.ID: raw},
		Put:     map[string]any{prefixExport + x.ID: cur},
	})
	if s.exports != nil {
		s.exports.progress.Delete(x.ID)
	}
	return err
}

func (s *Service) runExport(ctx context.Context, j exportJob) {
	if s.cfg.OnExportStart != nil {
		s.cfg.OnExportStart(j.o.ID(), j.id)
	}
	o := j.o
	x, _, err := s.export(ctx, o, j.id)
	if err != nil {
		s.cfg.Logger.Error("export vanished", "org", o.ID(), "export", j.id, "error", err)
		return
	}
	done, err := s.buildPackage(ctx, o, x)
	failure := ""
	if err != nil {
		// The detail stays here, in the server log; the record says only
		// where to find it.
		s.cfg.Logger.Error("export failed", "org", o.ID(), "export", j.id, "error", err)
		done, failure = nil, failedInternal(j.id)
		if ctx.Err() != nil {
			failure = failedShutdown
		}
	}
	if ferr := s.finishExport(context.WithoutCancel(ctx), o, x, done, failure); ferr != nil {
		s.cfg.Logger.Error("record export end", "org", o.ID(), "export", j.id, "error", ferr)
	}
}

// selector decides which leaves of a scope go into a package.
type selector struct{ sc Scope }

func newSelector(sc Scope) *selector { return &selector{sc: sc} }

// match reports whether the leaf is in scope and whether it ends the
// scope (time at or past its end: times never decrease).
func (sel *selector) match(b []byte) (in, end bool, err error) {
	if b == nil {
		return false, false, nil // purged
	}
	l, err := leaf.Parse(b)
	if err != nil {
		return false, false, err
	}
	if !sel.sc.EndTime.IsZero() && !l.Time.Before(sel.sc.EndTime) {
		return false, true, nil
	}
	return sel.sc.Match(&l), false, nil
}

// recordedEvidence returns the SHA-256 (hex) of the evidence an
// "evidence.recorded" leaf records, or "".
func recordedEvidence(b []byte) string {
	l, err := leaf.Parse(b)
	if err != nil {
		return ""
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			SHA256 string `json:"sha256"`
		} `json:"data"`
	}
	if json.Unmarshal(l.Event, &ev) != nil || ev.Type != ec.EvidenceRecorded || len(ev.Data.SHA256) != 64 {
		return ""
	}
	return ev.Data.SHA256
}

// scan calls fn for each leaf of [lo, hi) in scope, in order, until the
// scope ends.
func (s *Service) scan(ctx context.Context, o store.Org, lo, hi uint64, sel *selector, pr *exportProgress, fn func(ledger.Leaf) error) error {
	errEnd := errors.New("end of scope")
	err := o.Log().Leaves(ctx, lo, hi, func(lf ledger.Leaf) error {
		if pr != nil {
			pr.scanned.Add(1)
		}
		in, end, err := sel.match(lf.Bytes)
		switch {
		case err != nil:
			return fmt.Errorf("leaf %d: %w", lf.Index, err)
		case end:
			return errEnd
		case in:
			return fn(lf)
		}
		return nil
	})
	if err == errEnd {
		return nil
	}
	return err
}

// buildPackage writes the package of x to a temporary file, then stores
// it write-once, retained for the org's retention window.
func (s *Service) buildPackage(ctx context.Context, o store.Org, x Export) (*Export, error) {
	org, log := o.ID(), o.Log()
	e := s.exports
	cp, err := log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	n := cp.Size
	lo := uint64(0)
	if !x.Scope.StartTime.IsZero() {
		if lo, err = s.firstAtOrAfter(ctx, log, n, x.Scope.StartTime); err != nil {
			return nil, err
		}
	}
	pr := &exportProgress{}
	if v, ok := e.progress.Load(x.ID); ok {
		pr = v.(*exportProgress)
	}
	pr.total.Store(n - lo)
	sel := newSelector(x.Scope)

	f, err := os.CreateTemp(e.cfg.TempDir, "export-*.zip")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	w, err := archive.NewWriter(io.MultiWriter(f, h), e.cfg.Signer, archive.Meta{
		Org: org, LogOrigin: log.Origin(), LogKey: log.VerifierKey(), Created: s.cfg.Clock().UTC(),
		Scope:    x.Scope,
		TreeSize: n, Checkpoint: cp.Note,
	})
	if err != nil {
		return nil, err
	}
	var count uint64
	var blobs []string // evidence the package's events recorded, in order
	seen := map[string]bool{}
	if err := s.scan(ctx, o, lo, n, sel, pr, func(lf ledger.Leaf) error {
		count++
		if h := recordedEvidence(lf.Bytes); h != "" && !seen[h] {
			seen[h] = true
			blobs = append(blobs, h)
		}
		return w.AddEvent(lf.Bytes)
	}); err != nil {
		return nil, err
	}
	// The proof: a second pass over the scope yields the indices again,
	// so that memory does not grow with the package.
	var scanErr error
	selected := func(yield func(uint64) bool) {
		scanErr = s.scan(ctx, o, lo, n, sel, nil, func(lf ledger.Leaf) error {
			if !yield(lf.Index) {
				return errors.New("stopped")
			}
			return nil
		})
	}
	nodes, err := archive.Nodes(n, iter.Seq[uint64](selected), func(a, b uint64) ([]byte, error) {
		return log.SubtreeHash(ctx, a, b)
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	if err := w.SetProof(nodes); err != nil {
		return nil, err
	}
	if err := s.addConsistency(ctx, o, x.ID, w, n); err != nil {
		return nil, err
	}
	for _, h := range blobs {
		b, err := o.Get(ctx, prefixEvidenceB+h)
		if err != nil {
			return nil, fmt.Errorf("evidence %s: %w", h, err)
		}
		if _, err := w.AddBlob(bytes.NewReader(b)); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ret, err := log.Retention(ctx)
	if err != nil {
		return nil, err
	}
	done := x
	done.RetainUntil = s.cfg.Clock().Add(ret.Window).UTC().Truncate(time.Second)
	done.ObjectKey = "orgs/" + org + "/exports/" + x.ID + ".zip"
	obj, err := e.cfg.Store.Put(ctx, done.ObjectKey, f, size, done.RetainUntil)
	if err != nil {
		return nil, fmt.Errorf("store package: %w", err)
	}
	done.ObjectKey = obj.Key
	done.SHA256, done.Size = hex.EncodeToString(h.Sum(nil)), size
	done.EventCount, done.TreeSize, done.Checkpoint = count, n, cp.Note
	done.EntriesScanned, done.EntriesTotal = pr.scanned.Load(), pr.total.Load()
	done.WORM = e.cfg.Store.WORM()
	return &done, nil
}

// addConsistency adds consistency proofs from the checkpoints of the org's
// most recent earlier packages, so that a chain of packages shows one
// unbroken log.
func (s *Service) addConsistency(ctx context.Context, o store.Org, self string, w *archive.Writer, n uint64) error {
	var sizes []uint64
	seen := map[uint64]bool{}
	var earlier []Export
	err := o.Scan(ctx, prefixExport, "", func(_ string, v []byte) bool {
		var x Export
		if json.Unmarshal(v, &x) == nil && x.ID != self && x.State == ExportSucceeded && x.TreeSize > 0 && x.TreeSize < n {
			earlier = append(earlier, x)
		}
		return true
	})
	if err != nil {
		return err
	}
	slices.SortFunc(earlier, func(a, b Export) int { return b.Completed.Compare(a.Completed) })
	for _, x := range earlier {
		if len(sizes) == maxConsistencyCheckpoints {
			break
		}
		if seen[x.TreeSize] {
			continue
		}
		seen[x.TreeSize] = true
		sizes = append(sizes, x.TreeSize)
		p, err := o.Log().ConsistencyProof(ctx, x.TreeSize, n)
		if err != nil {
			return err
		}
		if err := w.AddConsistency(x.TreeSize, x.Checkpoint, p); err != nil {
			return err
		}
	}
	return nil
}
